//! Jingle Message Initiation as Genesys uses it (PROTOCOL.md §6), plus the media presence of §10.3.
//!
//! Owns: the `urn:xmpp:jingle-message:0` elements (`propose`, `retract`, `accept`, `reject`,
//! `proceed`) parsed from and built into `<message>` stanzas, the session type derived from a JID
//! (§6.3), and the `upgradeMedia` presence. Does not own the pending-session records, the
//! duplicate/accepted bookkeeping of §6.4 or the events of §6.6: the engine keeps those.
//!
//! Every value read from the peer is bounded ([`MAX_ID_LEN`], [`MAX_ATTR_LEN`]) and parsing never
//! panics.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::borrow::Borrow;
use std::fmt;

use crate::options::SessionType;
use crate::wire::xml::Element;
use crate::xmpp::ns;

/// Longest session or conversation id accepted from the peer, in bytes.
pub const MAX_ID_LEN: usize = 256;
/// Longest other `propose` attribute (JIDs, user ids, …) accepted, in bytes (RFC 7622 JID limit).
pub const MAX_ATTR_LEN: usize = 3071;
/// Namespace of the media presence `<x>` and `<mediastream>` elements (§10.3).
pub const MEDIASTREAM_NS: &str = "orgspan:mediastream";

// ---------------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------------

/// Why a string is not a valid [`SessionId`] or [`ConversationId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id is empty.
    #[error("empty id")]
    Empty,
    /// The id is longer than [`MAX_ID_LEN`].
    #[error("id longer than {MAX_ID_LEN} bytes")]
    TooLong,
    /// The id contains a control character.
    #[error("id contains a control character")]
    ControlCharacter,
}

fn validate_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        Err(IdError::Empty)
    } else if s.len() > MAX_ID_LEN {
        Err(IdError::TooLong)
    } else if s.chars().any(char::is_control) {
        Err(IdError::ControlCharacter)
    } else {
        Ok(())
    }
}

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `id`: non-empty, at most [`MAX_ID_LEN`] bytes, no control characters.
            pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                validate_id(&id)?;
                Ok($name(id))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                $name::new(s)
            }
        }
    };
}

id_newtype!(
    /// A media session id: the JMI `id`, the Jingle `sid`, the sdp-over-xmpp `sessionId`.
    SessionId
);
id_newtype!(
    /// A Genesys Cloud conversation id (`inin-cid`, sdp-over-xmpp `conversationId`).
    ConversationId
);

// ---------------------------------------------------------------------------------------------
// Session type from JID (§6.3)
// ---------------------------------------------------------------------------------------------

/// Session type derived from a JID with the streaming client's rules (§6.3, SC order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JidSessionType {
    /// `softphone`: a `…@…gjoll…` JID.
    Softphone,
    /// `collaborateVideo`: a `…@conference…` JID that is not `acd-`.
    CollaborateVideo,
    /// `screenShare` (ACD screen share): an `acd-…` JID.
    ScreenShare,
    /// `screenRecording`: a `screenrecording-…` JID.
    ScreenRecording,
    /// `liveScreenMonitoring`: a `livemonitor-…` JID (no SDK handler exists for it).
    LiveScreenMonitoring,
    /// `unknown`: nothing matched.
    Unknown,
}

impl JidSessionType {
    /// The JS string value (SC `SessionTypes`).
    pub fn as_str(self) -> &'static str {
        match self {
            JidSessionType::Softphone => "softphone",
            JidSessionType::CollaborateVideo => "collaborateVideo",
            JidSessionType::ScreenShare => "screenShare",
            JidSessionType::ScreenRecording => "screenRecording",
            JidSessionType::LiveScreenMonitoring => "liveScreenMonitoring",
            JidSessionType::Unknown => "unknown",
        }
    }

    /// The public session type, when the SDK has one for this kind.
    pub fn to_session_type(self) -> Option<SessionType> {
        match self {
            JidSessionType::Softphone => Some(SessionType::Softphone),
            JidSessionType::CollaborateVideo => Some(SessionType::CollaborateVideo),
            JidSessionType::ScreenShare => Some(SessionType::ScreenShare),
            JidSessionType::ScreenRecording => Some(SessionType::ScreenRecording),
            JidSessionType::LiveScreenMonitoring | JidSessionType::Unknown => None,
        }
    }
}

impl fmt::Display for JidSessionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `jid` is a softphone JID: the JS regex `/.*@.*gjoll.*/i`, i.e. an `@` followed on the
/// same line by `gjoll` in any ASCII case (JS `.` does not cross line terminators).
pub fn is_softphone_jid(jid: &str) -> bool {
    jid.split(['\n', '\r', '\u{2028}', '\u{2029}']).any(|line| {
        line.split_once('@').is_some_and(|(_, after)| {
            after
                .as_bytes()
                .windows(5)
                .any(|w| w.eq_ignore_ascii_case(b"gjoll"))
        })
    })
}

/// Whether `jid` is a 1:1 ("peer") video JID (`peer-…`).
pub fn is_peer_video_jid(jid: &str) -> bool {
    jid.starts_with("peer-")
}

/// Session type of `jid` with the streaming client's rules, first match wins (§6.3):
/// `acd-` → screen share, `screenrecording-` → screen recording, `livemonitor-` → live screen
/// monitoring (each only when not a softphone JID), then softphone, then `@conference` → video.
pub fn session_type_from_jid(jid: &str) -> JidSessionType {
    let softphone = is_softphone_jid(jid);
    if jid.starts_with("acd-") && !softphone {
        JidSessionType::ScreenShare
    } else if jid.starts_with("screenrecording-") && !softphone {
        JidSessionType::ScreenRecording
    } else if jid.starts_with("livemonitor-") && !softphone {
        JidSessionType::LiveScreenMonitoring
    } else if softphone {
        JidSessionType::Softphone
    } else if jid.contains("@conference") && !jid.starts_with("acd-") {
        JidSessionType::CollaborateVideo
    } else {
        JidSessionType::Unknown
    }
}

/// The SDK session handler chosen for `jid` (§6.3 second paragraph): handlers are tried
/// softphone → video → screen share → screen recording. `None` means "Failed to find session
/// handler". A `livemonitor-…@conference…` JID goes to the video handler.
pub fn sdk_handler_for_jid(jid: &str) -> Option<SessionType> {
    if is_softphone_jid(jid) {
        Some(SessionType::Softphone)
    } else if jid.contains("@conference")
        && !jid.starts_with("acd-")
        && !jid.starts_with("screenrecording-")
    {
        Some(SessionType::CollaborateVideo)
    } else if jid.starts_with("acd-") {
        Some(SessionType::ScreenShare)
    } else if jid.starts_with("screenrecording-") {
        Some(SessionType::ScreenRecording)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Why a `<message>` with a JMI child is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JmiError {
    /// The JMI element has no `id` attribute.
    #[error("JMI <{element}> without an id")]
    MissingId {
        /// Element name (`propose`, `retract`, …).
        element: &'static str,
    },
    /// The `id` attribute is empty, too long or contains control characters.
    #[error("JMI <{element}> has a bad id: {source}")]
    BadId {
        /// Element name.
        element: &'static str,
        /// What is wrong with it.
        #[source]
        source: IdError,
    },
    /// A `propose` conversation id (`inin-cid`, `inin-persistent-cid`) is unusable.
    #[error("JMI propose has a bad {attribute}: {source}")]
    BadConversationId {
        /// Attribute name.
        attribute: &'static str,
        /// What is wrong with it.
        #[source]
        source: IdError,
    },
    /// Another `propose` attribute is longer than [`MAX_ATTR_LEN`].
    #[error("JMI propose attribute {attribute} is too long")]
    AttributeTooLong {
        /// Attribute name.
        attribute: &'static str,
    },
    /// The `<message>` `from`/`to` is longer than [`MAX_ATTR_LEN`].
    #[error("message {attribute} is too long")]
    AddressTooLong {
        /// `from` or `to`.
        attribute: &'static str,
    },
    /// Only JMI elements this SDK does not know (e.g. XEP-0353 `ringing`) are present.
    #[error("unknown JMI element")]
    UnknownElement,
    /// A `type="error"` message: a bounce of a JMI element, not a request.
    #[error("JMI message bounced with type=error")]
    Bounced,
}

/// The `propose` attributes of §6.2, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propose {
    /// `id`: the session id.
    pub id: SessionId,
    /// `inin-cid`: the conversation id (absent or empty → `None`).
    pub conversation_id: Option<ConversationId>,
    /// `inin-persistent-cid`: the persistent-connection conversation id.
    pub persistent_conversation_id: Option<ConversationId>,
    /// `inin-sdp-over-xmpp`: negotiation uses the `genesys-webrtc` JSON IQs (§7).
    pub sdp_over_xmpp: bool,
    /// `inin-autoanswer`.
    pub auto_answer: bool,
    /// `inin-ofrom`, defaulting to the message `from` (the room/conference JID).
    pub original_room_jid: Option<String>,
    /// `inin-user-id`: the initiating user's id.
    pub from_user_id: Option<String>,
    /// `inin-meeting-id`.
    pub meeting_id: Option<String>,
    /// `inin-priv-answer-mode` (`Auto` ⇒ private auto answer, §9.3).
    pub priv_answer_mode: Option<String>,
}

impl Propose {
    /// Whether this is a "private auto answer" propose (`inin-priv-answer-mode="Auto"`).
    pub fn is_private_auto_answer(&self) -> bool {
        self.priv_answer_mode.as_deref() == Some("Auto")
    }
}

/// What a JMI message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JmiAction {
    /// The server proposes a session.
    Propose(Propose),
    /// The proposal was cancelled.
    Retract {
        /// Session id.
        id: SessionId,
    },
    /// Some client of this user took the session.
    Accept {
        /// Session id.
        id: SessionId,
    },
    /// Some client of this user (or the peer) rejected the session.
    Reject {
        /// Session id.
        id: SessionId,
    },
    /// The peer proceeds (not handled by the reference client).
    Proceed {
        /// Session id.
        id: SessionId,
    },
}

impl JmiAction {
    /// The session id the element refers to.
    pub fn id(&self) -> &SessionId {
        match self {
            JmiAction::Propose(p) => &p.id,
            JmiAction::Retract { id }
            | JmiAction::Accept { id }
            | JmiAction::Reject { id }
            | JmiAction::Proceed { id } => id,
        }
    }
}

/// A `<message>` carrying one JMI element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JmiMessage {
    /// The message `from`.
    pub from: Option<String>,
    /// The message `to`.
    pub to: Option<String>,
    /// The JMI element.
    pub action: JmiAction,
}

impl JmiMessage {
    /// The session id the element refers to.
    pub fn id(&self) -> &SessionId {
        self.action.id()
    }

    /// Whether this is our own echo (message `from` equals our **full** JID), which §6.4/§6.7
    /// say to ignore for proposes.
    pub fn is_self_echo(&self, own_full_jid: &str) -> bool {
        self.from.as_deref() == Some(own_full_jid)
    }

    /// Session type from the message `from` with the §6.3 rules (unknown without `from`).
    pub fn session_type(&self) -> JidSessionType {
        self.from
            .as_deref()
            .map_or(JidSessionType::Unknown, session_type_from_jid)
    }
}

/// StanzaJS boolean attribute: `true`/`1` are true, anything else (including absence) is false.
pub fn parse_bool_attr(value: Option<&str>) -> bool {
    matches!(value, Some("true" | "1"))
}

const KNOWN: [&str; 5] = ["propose", "retract", "accept", "reject", "proceed"];

/// Reads the JMI element of `message`.
///
/// `None` when `message` is not a `<message>` or has no child in `urn:xmpp:jingle-message:0`;
/// `Some(Err)` when it has one but it is unusable (no or bad `id`, over-long attributes, only
/// unknown JMI elements, or a `type="error"` bounce).
pub fn parse_jmi(message: &Element) -> Option<Result<JmiMessage, JmiError>> {
    if message.name != "message" {
        return None;
    }
    let mut jmi_children = message.elements().filter(|e| e.ns == ns::JMI).peekable();
    jmi_children.peek()?;
    if message.attr("type") == Some("error") {
        return Some(Err(JmiError::Bounced));
    }
    let found = jmi_children.find_map(|e| KNOWN.iter().find(|k| **k == e.name).map(|k| (*k, e)));
    let Some((name, el)) = found else {
        return Some(Err(JmiError::UnknownElement));
    };
    Some(parse_known(message, name, el))
}

fn parse_known(
    message: &Element,
    name: &'static str,
    el: &Element,
) -> Result<JmiMessage, JmiError> {
    let from = bounded_address(message, "from")?;
    let to = bounded_address(message, "to")?;
    let id = el.attr("id").ok_or(JmiError::MissingId { element: name })?;
    let id = SessionId::new(id).map_err(|source| JmiError::BadId {
        element: name,
        source,
    })?;
    let action = match name {
        "propose" => JmiAction::Propose(parse_propose(el, id, from.as_deref())?),
        "retract" => JmiAction::Retract { id },
        "accept" => JmiAction::Accept { id },
        "reject" => JmiAction::Reject { id },
        _ => JmiAction::Proceed { id },
    };
    Ok(JmiMessage { from, to, action })
}

fn bounded_address(message: &Element, attribute: &'static str) -> Result<Option<String>, JmiError> {
    match message.attr(attribute) {
        Some(v) if v.len() > MAX_ATTR_LEN => Err(JmiError::AddressTooLong { attribute }),
        v => Ok(v.map(str::to_owned)),
    }
}

fn optional_attr(el: &Element, attribute: &'static str) -> Result<Option<String>, JmiError> {
    match el.attr(attribute) {
        None | Some("") => Ok(None),
        Some(v) if v.len() > MAX_ATTR_LEN => Err(JmiError::AttributeTooLong { attribute }),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

fn conversation_attr(
    el: &Element,
    attribute: &'static str,
) -> Result<Option<ConversationId>, JmiError> {
    match el.attr(attribute) {
        None | Some("") => Ok(None),
        Some(v) => ConversationId::new(v)
            .map(Some)
            .map_err(|source| JmiError::BadConversationId { attribute, source }),
    }
}

fn parse_propose(el: &Element, id: SessionId, from: Option<&str>) -> Result<Propose, JmiError> {
    let original_room_jid = optional_attr(el, "inin-ofrom")?.or_else(|| from.map(str::to_owned));
    Ok(Propose {
        id,
        conversation_id: conversation_attr(el, "inin-cid")?,
        persistent_conversation_id: conversation_attr(el, "inin-persistent-cid")?,
        sdp_over_xmpp: parse_bool_attr(el.attr("inin-sdp-over-xmpp")),
        auto_answer: parse_bool_attr(el.attr("inin-autoanswer")),
        original_room_jid,
        from_user_id: optional_attr(el, "inin-user-id")?,
        meeting_id: optional_attr(el, "inin-meeting-id")?,
        priv_answer_mode: optional_attr(el, "inin-priv-answer-mode")?,
    })
}

// ---------------------------------------------------------------------------------------------
// Builders (§6.5)
// ---------------------------------------------------------------------------------------------

/// `<message to=…><{name} xmlns="urn:xmpp:jingle-message:0" id=…/></message>`: no `type`, no
/// message `id` (the reference client sends these raw).
fn jmi_message(name: &str, to: &str, id: &SessionId) -> Element {
    Element::new("message", ns::CLIENT)
        .with_attr("to", to)
        .with_child(Element::new(name, ns::JMI).with_attr("id", id.as_str()))
}

/// `proceed` to the proposer's **full** JID (the propose `from`), sent when the user accepts a
/// pending session.
pub fn proceed(to_full_jid: &str, id: &SessionId) -> Element {
    if !to_full_jid.contains('/') {
        tracing::debug!("JMI proceed addressed to a JID without a resource");
    }
    jmi_message("proceed", to_full_jid, id)
}

/// `accept` to our **own bare** JID, sent when a media session is initialised so sibling
/// clients stop ringing.
pub fn accept(own_bare_jid: &str, id: &SessionId) -> Element {
    jmi_message("accept", own_bare_jid, id)
}

/// One `reject` to `to`. A rejection goes to both our own bare JID and the proposer; see
/// [`reject_both`].
pub fn reject(to: &str, id: &SessionId) -> Element {
    jmi_message("reject", to, id)
}

/// The two rejects of `rejectPendingSession`, in the reference order: own bare JID first, then
/// the proposer's full JID.
pub fn reject_both(own_bare_jid: &str, proposer_full_jid: &str, id: &SessionId) -> [Element; 2] {
    [reject(own_bare_jid, id), reject(proposer_full_jid, id)]
}

// ---------------------------------------------------------------------------------------------
// Media presence (§10.3)
// ---------------------------------------------------------------------------------------------

/// Which `<mediastream>` flags a media presence sets. Only the `true` ones are written; when none
/// is set the presence carries `listener="true"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaStreamFlags {
    /// `audio`.
    pub audio: bool,
    /// `video`.
    pub video: bool,
    /// `listener`.
    pub listener: bool,
    /// `screenShare`.
    pub screen_share: bool,
    /// `screenRecording`.
    pub screen_recording: bool,
    /// `videoGuest`.
    pub video_guest: bool,
}

impl MediaStreamFlags {
    /// The flags SC sets for purpose `collaborateVideo`: `video`, `audio`, `videoGuest`.
    pub fn collaborate_video() -> Self {
        MediaStreamFlags {
            audio: true,
            video: true,
            video_guest: true,
            ..Default::default()
        }
    }

    /// Only `screenShare` (guest ACD screen share).
    pub fn screen_share() -> Self {
        MediaStreamFlags {
            screen_share: true,
            ..Default::default()
        }
    }
}

/// `<presence type="upgradeMedia" to from id><x xmlns="orgspan:mediastream" conversationId
/// sourceCommunicationId><mediastream …/></x></presence>` (§10.3). `id` should be a fresh UUID.
pub fn upgrade_media_presence(
    to: &str,
    from: &str,
    id: &str,
    conversation_id: &ConversationId,
    source_communication_id: &str,
    flags: MediaStreamFlags,
) -> Element {
    let mut stream = Element::new("mediastream", MEDIASTREAM_NS);
    let listed = [
        ("audio", flags.audio),
        ("video", flags.video),
        ("listener", flags.listener),
        ("screenShare", flags.screen_share),
        ("screenRecording", flags.screen_recording),
        ("videoGuest", flags.video_guest),
    ];
    for (name, set) in listed {
        if set {
            stream.set_attr(name, "true");
        }
    }
    if stream.attrs.is_empty() {
        stream.set_attr("listener", "true");
    }
    Element::new("presence", ns::CLIENT)
        .with_attr("type", "upgradeMedia")
        .with_attr("to", to)
        .with_attr("from", from)
        .with_attr("id", id)
        .with_child(
            Element::new("x", MEDIASTREAM_NS)
                .with_attr("conversationId", conversation_id.as_str())
                .with_attr("sourceCommunicationId", source_communication_id)
                .with_child(stream),
        )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::wire::xml::{parse, XmlLimits};

    const PROPOSE: &str = r#"<message xmlns="jabber:client" from="7d2c01@gjoll.example.orgspan.com/gjoll-1" to="alice@example.orgspan.com"><propose xmlns="urn:xmpp:jingle-message:0" id="9b8e2a10-5f4c-4e7a-9d1b-3a2c1f0e8d7c" inin-cid="c0a8017e-1111-2222-3333-444455556666" inin-persistent-cid="c0a8017e-aaaa-bbbb-cccc-ddddeeeeffff" inin-sdp-over-xmpp="true" inin-autoanswer="false" inin-user-id="6a1d00b2" inin-ofrom="7d2c01@gjoll.example.orgspan.com"/></message>"#;

    fn xml(s: &str) -> Element {
        parse(s, &XmlLimits::default()).unwrap()
    }

    fn sid(s: &str) -> SessionId {
        SessionId::new(s).unwrap()
    }

    #[test]
    fn parses_the_protocol_propose_example() {
        let msg = parse_jmi(&xml(PROPOSE)).unwrap().unwrap();
        assert_eq!(
            msg.from.as_deref(),
            Some("7d2c01@gjoll.example.orgspan.com/gjoll-1")
        );
        assert_eq!(msg.to.as_deref(), Some("alice@example.orgspan.com"));
        assert_eq!(msg.session_type(), JidSessionType::Softphone);
        let JmiAction::Propose(p) = msg.action else {
            panic!("not a propose")
        };
        assert_eq!(p.id.as_str(), "9b8e2a10-5f4c-4e7a-9d1b-3a2c1f0e8d7c");
        assert_eq!(
            p.conversation_id.unwrap().as_str(),
            "c0a8017e-1111-2222-3333-444455556666"
        );
        assert_eq!(
            p.persistent_conversation_id.unwrap().as_str(),
            "c0a8017e-aaaa-bbbb-cccc-ddddeeeeffff"
        );
        assert!(p.sdp_over_xmpp);
        assert!(!p.auto_answer);
        assert_eq!(p.from_user_id.as_deref(), Some("6a1d00b2"));
        assert_eq!(
            p.original_room_jid.as_deref(),
            Some("7d2c01@gjoll.example.orgspan.com")
        );
        assert_eq!(p.meeting_id, None);
        assert_eq!(p.priv_answer_mode, None);
    }

    #[test]
    fn original_room_jid_defaults_to_from_and_priv_answer_mode_is_read() {
        let m = xml(
            r#"<message from="room@conference.x/y"><propose xmlns="urn:xmpp:jingle-message:0" id="s1" inin-priv-answer-mode="Auto" inin-meeting-id="m1" inin-autoanswer="1"/></message>"#,
        );
        let msg = parse_jmi(&m).unwrap().unwrap();
        let JmiAction::Propose(p) = msg.action else {
            panic!()
        };
        assert_eq!(p.original_room_jid.as_deref(), Some("room@conference.x/y"));
        assert!(p.is_private_auto_answer());
        assert!(p.auto_answer);
        assert!(!p.sdp_over_xmpp);
        assert_eq!(p.meeting_id.as_deref(), Some("m1"));
        assert_eq!(p.conversation_id, None);
    }

    #[test]
    fn booleans() {
        assert!(parse_bool_attr(Some("true")));
        assert!(parse_bool_attr(Some("1")));
        assert!(!parse_bool_attr(Some("false")));
        assert!(!parse_bool_attr(Some("0")));
        assert!(!parse_bool_attr(Some("TRUE")));
        assert!(!parse_bool_attr(Some("yes")));
        assert!(!parse_bool_attr(Some("")));
        assert!(!parse_bool_attr(None));
    }

    #[test]
    fn simple_elements() {
        for (name, check) in [("retract", 0), ("accept", 1), ("reject", 2), ("proceed", 3)] {
            let m = xml(&format!(
                r#"<message from="a@b/c" to="d@e"><{name} xmlns="urn:xmpp:jingle-message:0" id="x1"/></message>"#
            ));
            let msg = parse_jmi(&m).unwrap().unwrap();
            assert_eq!(msg.id().as_str(), "x1");
            let got = match msg.action {
                JmiAction::Retract { .. } => 0,
                JmiAction::Accept { .. } => 1,
                JmiAction::Reject { .. } => 2,
                JmiAction::Proceed { .. } => 3,
                JmiAction::Propose(_) => 9,
            };
            assert_eq!(got, check, "{name}");
            assert!(msg.is_self_echo("a@b/c"));
            assert!(!msg.is_self_echo("a@b"));
        }
    }

    #[test]
    fn none_and_errors() {
        // Not JMI at all.
        assert!(parse_jmi(&xml(r#"<message><body>hi</body></message>"#)).is_none());
        // StanzaJS / XEP-0353 namespaces are not ours.
        assert!(parse_jmi(&xml(
            r#"<message><propose xmlns="urn:xmpp:jingle:jingle-message:0" id="a"/></message>"#
        ))
        .is_none());
        assert!(parse_jmi(&xml(
            r#"<message><propose xmlns="urn:xmpp:jingle-message:1" id="a"/></message>"#
        ))
        .is_none());
        // media-message in the genesys namespace is not JMI.
        assert!(parse_jmi(&xml(
            r#"<message><media-message xmlns="genesys">{}</media-message></message>"#
        ))
        .is_none());
        // Not a message.
        assert!(parse_jmi(&xml(
            r#"<iq><propose xmlns="urn:xmpp:jingle-message:0" id="a"/></iq>"#
        ))
        .is_none());
        assert_eq!(
            parse_jmi(&xml(
                r#"<message><propose xmlns="urn:xmpp:jingle-message:0"/></message>"#
            )),
            Some(Err(JmiError::MissingId { element: "propose" }))
        );
        assert_eq!(
            parse_jmi(&xml(
                r#"<message><retract xmlns="urn:xmpp:jingle-message:0" id=""/></message>"#
            )),
            Some(Err(JmiError::BadId {
                element: "retract",
                source: IdError::Empty
            }))
        );
        let long = format!(
            r#"<message><accept xmlns="urn:xmpp:jingle-message:0" id="{}"/></message>"#,
            "a".repeat(MAX_ID_LEN + 1)
        );
        assert_eq!(
            parse_jmi(&xml(&long)),
            Some(Err(JmiError::BadId {
                element: "accept",
                source: IdError::TooLong
            }))
        );
        let ok = format!(
            r#"<message><accept xmlns="urn:xmpp:jingle-message:0" id="{}"/></message>"#,
            "a".repeat(MAX_ID_LEN)
        );
        assert!(parse_jmi(&xml(&ok)).unwrap().is_ok());
        assert_eq!(
            parse_jmi(&xml(
                r#"<message><ringing xmlns="urn:xmpp:jingle-message:0" id="a"/></message>"#
            )),
            Some(Err(JmiError::UnknownElement))
        );
        assert_eq!(
            parse_jmi(&xml(
                r#"<message type="error"><reject xmlns="urn:xmpp:jingle-message:0" id="a"/></message>"#
            )),
            Some(Err(JmiError::Bounced))
        );
        let long_cid = format!(
            r#"<message><propose xmlns="urn:xmpp:jingle-message:0" id="a" inin-cid="{}"/></message>"#,
            "c".repeat(MAX_ID_LEN + 1)
        );
        assert!(matches!(
            parse_jmi(&xml(&long_cid)),
            Some(Err(JmiError::BadConversationId {
                attribute: "inin-cid",
                ..
            }))
        ));
        let long_user = format!(
            r#"<message><propose xmlns="urn:xmpp:jingle-message:0" id="a" inin-user-id="{}"/></message>"#,
            "u".repeat(MAX_ATTR_LEN + 1)
        );
        assert_eq!(
            parse_jmi(&xml(&long_user)),
            Some(Err(JmiError::AttributeTooLong {
                attribute: "inin-user-id"
            }))
        );
        // An unknown JMI element before a known one is skipped.
        let mixed = xml(
            r#"<message><ringing xmlns="urn:xmpp:jingle-message:0"/><retract xmlns="urn:xmpp:jingle-message:0" id="r"/></message>"#,
        );
        assert_eq!(parse_jmi(&mixed).unwrap().unwrap().id().as_str(), "r");
    }

    #[test]
    fn session_types_from_jids() {
        use JidSessionType::*;
        let cases = [
            ("7d2c@gjoll.example.orgspan.com/gjoll-1", Softphone),
            ("x@GJOLL.example.com", Softphone),
            ("acd-5e1f@conference.example.orgspan.com", ScreenShare),
            ("acd-5e1f@gjoll.example.com", Softphone),
            ("screenrecording-1@conference.example.com", ScreenRecording),
            ("screenrecording-1@gjoll.example.com", Softphone),
            ("livemonitor-1@conference.example.com", LiveScreenMonitoring),
            ("livemonitor-1@gjoll.example.com", Softphone),
            ("room-1@conference.example.com/x", CollaborateVideo),
            ("peer-1@conference.example.com", CollaborateVideo),
            ("gjoll@example.com", Unknown),
            ("alice@example.com", Unknown),
            ("", Unknown),
            ("a@x\ngjoll", Unknown),
        ];
        for (jid, want) in cases {
            assert_eq!(session_type_from_jid(jid), want, "{jid:?}");
        }
        assert_eq!(Softphone.to_session_type(), Some(SessionType::Softphone));
        assert_eq!(LiveScreenMonitoring.to_session_type(), None);
        assert_eq!(Unknown.to_session_type(), None);
        assert_eq!(ScreenShare.as_str(), "screenShare");
    }

    #[test]
    fn sdk_handlers_from_jids() {
        let cases = [
            (
                "7d2c@gjoll.example.com/gjoll-1",
                Some(SessionType::Softphone),
            ),
            ("acd-1@gjoll.example.com", Some(SessionType::Softphone)),
            (
                "room@conference.example.com",
                Some(SessionType::CollaborateVideo),
            ),
            (
                "livemonitor-1@conference.example.com",
                Some(SessionType::CollaborateVideo),
            ),
            (
                "acd-1@conference.example.com",
                Some(SessionType::ScreenShare),
            ),
            ("acd-1@example.com", Some(SessionType::ScreenShare)),
            (
                "screenrecording-1@conference.example.com",
                Some(SessionType::ScreenRecording),
            ),
            ("livemonitor-1@example.com", None),
            ("alice@example.com", None),
        ];
        for (jid, want) in cases {
            assert_eq!(sdk_handler_for_jid(jid), want, "{jid}");
        }
        assert!(is_peer_video_jid("peer-1@conference.x"));
    }

    #[test]
    fn outgoing_stanzas_exactly() {
        let id = sid("9b8e2a10-5f4c");
        assert_eq!(
            proceed("7d2c@gjoll.example.orgspan.com/gjoll-1", &id).to_xml(),
            r#"<message xmlns="jabber:client" to="7d2c@gjoll.example.orgspan.com/gjoll-1"><proceed xmlns="urn:xmpp:jingle-message:0" id="9b8e2a10-5f4c"/></message>"#
        );
        assert_eq!(
            accept("alice@example.orgspan.com", &id).to_xml(),
            r#"<message xmlns="jabber:client" to="alice@example.orgspan.com"><accept xmlns="urn:xmpp:jingle-message:0" id="9b8e2a10-5f4c"/></message>"#
        );
        let [own, peer] = reject_both("alice@example.orgspan.com", "p@gjoll.x/r", &id);
        assert_eq!(
            own.to_xml(),
            r#"<message xmlns="jabber:client" to="alice@example.orgspan.com"><reject xmlns="urn:xmpp:jingle-message:0" id="9b8e2a10-5f4c"/></message>"#
        );
        assert_eq!(peer.attr("to"), Some("p@gjoll.x/r"));
        for el in [proceed("a@b/c", &id), accept("a@b", &id), own, peer] {
            assert_eq!(el.attr("type"), None);
            assert_eq!(el.attr("id"), None);
            let child = el.elements().next().unwrap();
            assert_eq!(child.ns, "urn:xmpp:jingle-message:0");
            assert_eq!(child.attrs, vec![("id".to_string(), id.to_string())]);
            assert!(child.children.is_empty());
            // What we send parses back to the same thing.
            let back = parse_jmi(&xml(&el.to_xml())).unwrap().unwrap();
            assert_eq!(back.id(), &id);
        }
    }

    #[test]
    fn media_presence() {
        let cid = ConversationId::new("c0a8017e").unwrap();
        let el = upgrade_media_presence(
            "acd-5e1f@conference.example.orgspan.com",
            "guest-1@example.orgspan.com/ab12",
            "e3b0c442",
            &cid,
            "src-77",
            MediaStreamFlags::screen_share(),
        );
        assert_eq!(
            el.to_xml(),
            r#"<presence xmlns="jabber:client" type="upgradeMedia" to="acd-5e1f@conference.example.orgspan.com" from="guest-1@example.orgspan.com/ab12" id="e3b0c442"><x xmlns="orgspan:mediastream" conversationId="c0a8017e" sourceCommunicationId="src-77"><mediastream screenShare="true"/></x></presence>"#
        );
        let none = upgrade_media_presence("a", "b", "c", &cid, "d", MediaStreamFlags::default());
        let stream = none.elements().next().unwrap().elements().next().unwrap();
        assert_eq!(
            stream.attrs,
            vec![("listener".to_string(), "true".to_string())]
        );
        let video = upgrade_media_presence(
            "a",
            "b",
            "c",
            &cid,
            "d",
            MediaStreamFlags::collaborate_video(),
        );
        let stream = video.elements().next().unwrap().elements().next().unwrap();
        let names: Vec<&str> = stream.attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["audio", "video", "videoGuest"]);
    }

    #[test]
    fn every_truncation_never_panics() {
        assert!(parse_jmi(&xml(PROPOSE)).unwrap().is_ok());
        for cut in 0..PROPOSE.len() {
            let Some(prefix) = PROPOSE.get(..cut) else {
                continue;
            };
            if let Ok(el) = parse(prefix, &XmlLimits::default()) {
                let _ = parse_jmi(&el);
            }
        }
        // Attribute values truncated one by one: still no panic, booleans degrade to false.
        let el = xml(PROPOSE);
        let child = el.elements().next().unwrap();
        for (i, (_, v)) in child.attrs.iter().enumerate() {
            for cut in 0..=v.len() {
                let mut c = child.clone();
                c.attrs[i].1 = v.get(..cut).unwrap_or("").to_string();
                let m = Element::new("message", ns::CLIENT)
                    .with_attr("from", "a@b/c")
                    .with_child(c);
                let _ = parse_jmi(&m);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn random_jids_never_panic(jid in "\\PC{0,80}") {
            let _ = session_type_from_jid(&jid);
            let _ = sdk_handler_for_jid(&jid);
        }

        #[test]
        fn random_propose_attributes_never_panic(
            name in "(propose|retract|accept|reject|proceed|ringing)",
            id in proptest::option::of("\\PC{0,300}"),
            b1 in "\\PC{0,6}",
            b2 in "(true|false|1|0|\\PC{0,4})",
            ofrom in proptest::option::of("\\PC{0,40}"),
            from in proptest::option::of("\\PC{0,40}"),
        ) {
            let mut child = Element::new(name, ns::JMI)
                .with_attr("inin-sdp-over-xmpp", b1)
                .with_attr("inin-autoanswer", b2.clone());
            if let Some(id) = id { child.set_attr("id", id); }
            if let Some(o) = ofrom { child.set_attr("inin-ofrom", o); }
            let m = Element::new("message", ns::CLIENT)
                .with_opt_attr("from", from)
                .with_child(child);
            if let Some(Ok(JmiMessage { action: JmiAction::Propose(p), .. })) = parse_jmi(&m) {
                proptest::prop_assert_eq!(p.auto_answer, b2 == "true" || b2 == "1");
            }
        }

        #[test]
        fn random_xml_never_panics(s in "[<>/=\"a-z: &;#0-9-]{0,160}") {
            if let Ok(el) = parse(&s, &XmlLimits::default()) {
                let _ = parse_jmi(&el);
            }
        }
    }
}
