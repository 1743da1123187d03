//! Classic Jingle (XEP-0166/0167/0176/0320/0338/0339/0343) as used by Genesys (PROTOCOL.md §8).
//!
//! Owns the typed model of a `<jingle xmlns="urn:xmpp:jingle:1">` element ([`Jingle`]), its
//! parser ([`Jingle::from_element`], bounded by the `MAX_*` counts) and serializer
//! ([`Jingle::to_element`], in the export order of §8.4), builders for what the client sends,
//! and the `<error>` children of §8.7. It does not track sessions, decide replies, wrap IQs
//! beyond [`iq_set`], or translate to SDP (that is `sdp_jingle`).
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::str::FromStr;

use crate::redact::Secret;
use crate::wire::xml::Element;
use crate::xmpp::ns;

/// `urn:xmpp:jingle:1`.
pub const NS_JINGLE: &str = ns::JINGLE;
/// Jingle error conditions.
pub const NS_ERRORS: &str = "urn:xmpp:jingle:errors:1";
/// RTP application (XEP-0167).
pub const NS_RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
/// RTP session-info payloads (mute, hold, active, ringing, Genesys screen-start/stop).
pub const NS_RTP_INFO: &str = "urn:xmpp:jingle:apps:rtp:info:1";
/// RTCP feedback (XEP-0293).
pub const NS_RTCP_FB: &str = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0";
/// RTP header extensions (XEP-0294).
pub const NS_HDREXT: &str = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0";
/// Source-specific media attributes (XEP-0339).
pub const NS_SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";
/// MSID `<stream>`.
pub const NS_MSID: &str = "urn:xmpp:jingle:apps:rtp:msid:0";
/// Content grouping (XEP-0338).
pub const NS_GROUPING: &str = "urn:xmpp:jingle:apps:grouping:0";
/// ICE-UDP transport (XEP-0176), used for everything we send.
pub const NS_ICE_UDP: &str = "urn:xmpp:jingle:transports:ice-udp:1";
/// Older ICE transport namespace, accepted on input.
pub const NS_ICE: &str = "urn:xmpp:jingle:transports:ice:0";
/// DTLS fingerprint (XEP-0320).
pub const NS_DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
/// SCTP over DTLS (XEP-0343).
pub const NS_SCTP: &str = "urn:xmpp:jingle:transports:dtls-sctp:1";

/// Most `<content>`s per `<jingle>`.
pub const MAX_CONTENTS: usize = 16;
/// Most `<payload-type>`s per description.
pub const MAX_PAYLOAD_TYPES: usize = 64;
/// Most `<candidate>`s per transport.
pub const MAX_CANDIDATES: usize = 64;
/// Most `<group>`s per `<jingle>`.
pub const MAX_GROUPS: usize = 16;
/// Most children of one kind in a description, payload type, source, group or transport
/// (parameters, feedback, header extensions, sources, ssrc-groups, streams, fingerprints).
pub const MAX_ITEMS: usize = 64;

/// Why a `<jingle>` element was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JingleError {
    /// The element is not `<jingle xmlns="urn:xmpp:jingle:1">`.
    #[error("not a jingle element")]
    NotJingle,
    /// A required attribute is missing.
    #[error("<{element}> lacks {attr}")]
    MissingAttribute {
        /// Element name.
        element: &'static str,
        /// Attribute name.
        attr: &'static str,
    },
    /// An attribute has a value outside its type.
    #[error("<{element}> has a bad {attr}")]
    BadAttribute {
        /// Element name.
        element: &'static str,
        /// Attribute name.
        attr: &'static str,
    },
    /// More children of one kind than the named limit allows.
    #[error("too many {0}")]
    TooMany(&'static str),
    /// `<reason>` without a condition element.
    #[error("<reason> without a condition")]
    MissingReasonCondition,
}

type Result<T> = std::result::Result<T, JingleError>;

fn req<'a>(el: &'a Element, element: &'static str, attr: &'static str) -> Result<&'a str> {
    el.attr(attr)
        .ok_or(JingleError::MissingAttribute { element, attr })
}

fn num<T: FromStr>(value: &str, element: &'static str, attr: &'static str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| JingleError::BadAttribute { element, attr })
}

fn req_num<T: FromStr>(el: &Element, element: &'static str, attr: &'static str) -> Result<T> {
    num(req(el, element, attr)?, element, attr)
}

fn opt_num<T: FromStr>(
    el: &Element,
    element: &'static str,
    attr: &'static str,
) -> Result<Option<T>> {
    el.attr(attr).map(|v| num(v, element, attr)).transpose()
}

fn opt_string(el: &Element, attr: &str) -> Option<String> {
    el.attr(attr).map(str::to_string)
}

fn push_bounded<T>(v: &mut Vec<T>, item: T, max: usize, what: &'static str) -> Result<()> {
    if v.len() >= max {
        return Err(JingleError::TooMany(what));
    }
    v.push(item);
    Ok(())
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)*
            /// Anything else, as written.
            Unknown(String),
        }

        impl $name {
            /// The wire name.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$var => $s,)*
                    $name::Unknown(s) => s,
                }
            }

            /// Parses a wire name (never fails: unknown names become `Unknown`).
            pub fn from_name(s: &str) -> Self {
                match s {
                    $($s => $name::$var,)*
                    other => $name::Unknown(other.to_string()),
                }
            }
        }
    };
}

string_enum! {
    /// The `action` of a `<jingle>` (XEP-0166 §7.2).
    Action {
        /// `content-accept`
        ContentAccept = "content-accept",
        /// `content-add`
        ContentAdd = "content-add",
        /// `content-modify`
        ContentModify = "content-modify",
        /// `content-reject`
        ContentReject = "content-reject",
        /// `content-remove`
        ContentRemove = "content-remove",
        /// `description-info`
        DescriptionInfo = "description-info",
        /// `security-info`
        SecurityInfo = "security-info",
        /// `session-accept`
        SessionAccept = "session-accept",
        /// `session-info`
        SessionInfo = "session-info",
        /// `session-initiate`
        SessionInitiate = "session-initiate",
        /// `session-terminate`
        SessionTerminate = "session-terminate",
        /// `transport-accept`
        TransportAccept = "transport-accept",
        /// `transport-info`
        TransportInfo = "transport-info",
        /// `transport-reject`
        TransportReject = "transport-reject",
        /// `transport-replace`
        TransportReplace = "transport-replace",
    }
}

string_enum! {
    /// `<reason>` conditions (§8.6).
    ReasonCondition {
        /// `alternative-session`
        AlternativeSession = "alternative-session",
        /// `busy`
        Busy = "busy",
        /// `cancel`
        Cancel = "cancel",
        /// `connectivity-error`
        ConnectivityError = "connectivity-error",
        /// `decline`
        Decline = "decline",
        /// `expired`
        Expired = "expired",
        /// `failed-application`
        FailedApplication = "failed-application",
        /// `failed-transport`
        FailedTransport = "failed-transport",
        /// `general-error`
        GeneralError = "general-error",
        /// `gone`
        Gone = "gone",
        /// `incompatible-parameters`
        IncompatibleParameters = "incompatible-parameters",
        /// `media-error`
        MediaError = "media-error",
        /// `security-error`
        SecurityError = "security-error",
        /// `success`
        Success = "success",
        /// `timeout`
        Timeout = "timeout",
        /// `unsupported-applications`
        UnsupportedApplications = "unsupported-applications",
        /// `unsupported-transports`
        UnsupportedTransports = "unsupported-transports",
    }
}

string_enum! {
    /// Jingle-specific error conditions (`urn:xmpp:jingle:errors:1`).
    JingleErrorCondition {
        /// `out-of-order`
        OutOfOrder = "out-of-order",
        /// `tie-break`
        TieBreak = "tie-break",
        /// `unknown-session`
        UnknownSession = "unknown-session",
        /// `unsupported-info`
        UnsupportedInfo = "unsupported-info",
        /// `unknown-content`
        UnknownContent = "unknown-content",
    }
}

/// A Jingle role, as in `<content creator>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Creator {
    /// `initiator` (every content the client sends; §8.2).
    #[default]
    Initiator,
    /// `responder`
    Responder,
}

impl Creator {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Creator::Initiator => "initiator",
            Creator::Responder => "responder",
        }
    }

    fn parse(s: &str) -> Option<Creator> {
        match s {
            "initiator" => Some(Creator::Initiator),
            "responder" => Some(Creator::Responder),
            _ => None,
        }
    }
}

/// Who sends media on a content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Senders {
    /// `both` (the default; omitted on output).
    #[default]
    Both,
    /// `initiator`
    Initiator,
    /// `responder`
    Responder,
    /// `none`
    None,
}

impl Senders {
    /// Every value.
    pub const ALL: [Senders; 4] = [
        Senders::Both,
        Senders::Initiator,
        Senders::Responder,
        Senders::None,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Senders::Both => "both",
            Senders::Initiator => "initiator",
            Senders::Responder => "responder",
            Senders::None => "none",
        }
    }

    /// Parses a wire name.
    pub fn from_name(s: &str) -> Option<Senders> {
        Senders::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A `<parameter name value>` (rtp or ssma namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Name.
    pub name: String,
    /// Value; `None` for a value-less fmtp token such as `0-16`.
    pub value: Option<String>,
}

impl Parameter {
    /// A name/value parameter.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Parameter {
            name: name.into(),
            value: Some(value.into()),
        }
    }

    fn from_element(el: &Element, element: &'static str) -> Result<Self> {
        Ok(Parameter {
            name: req(el, element, "name")?.to_string(),
            value: opt_string(el, "value"),
        })
    }

    fn to_element(&self, ns: &str) -> Element {
        Element::new("parameter", ns)
            .with_attr("name", &self.name)
            .with_opt_attr("value", self.value.as_deref())
    }
}

/// `<rtcp-fb type subtype>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpFb {
    /// `type`.
    pub typ: String,
    /// `subtype`.
    pub subtype: Option<String>,
}

impl RtcpFb {
    fn from_element(el: &Element) -> Result<Self> {
        Ok(RtcpFb {
            typ: req(el, "rtcp-fb", "type")?.to_string(),
            subtype: opt_string(el, "subtype"),
        })
    }

    fn to_element(&self) -> Element {
        Element::new("rtcp-fb", NS_RTCP_FB)
            .with_attr("type", &self.typ)
            .with_opt_attr("subtype", self.subtype.as_deref())
    }
}

/// `<payload-type>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PayloadType {
    /// `id` (the RTP payload type).
    pub id: u8,
    /// `name`.
    pub name: Option<String>,
    /// `clockrate`.
    pub clockrate: Option<u32>,
    /// `channels` (default 1; always written).
    pub channels: u16,
    /// `ptime`.
    pub ptime: Option<u32>,
    /// `maxptime`.
    pub maxptime: Option<u32>,
    /// `<parameter>`s (rtp namespace), in order.
    pub parameters: Vec<Parameter>,
    /// `<rtcp-fb>`s.
    pub rtcp_fbs: Vec<RtcpFb>,
    /// `<rtcp-fb-trr-int value>`.
    pub rtcp_fb_trr_int: Option<u32>,
}

impl PayloadType {
    fn from_element(el: &Element) -> Result<Self> {
        const E: &str = "payload-type";
        let mut pt = PayloadType {
            id: req_num(el, E, "id")?,
            name: opt_string(el, "name"),
            clockrate: opt_num(el, E, "clockrate")?,
            channels: opt_num(el, E, "channels")?.unwrap_or(1),
            ptime: opt_num(el, E, "ptime")?,
            maxptime: opt_num(el, E, "maxptime")?,
            ..PayloadType::default()
        };
        for c in el.elements() {
            if c.is("parameter", NS_RTP) {
                let p = Parameter::from_element(c, "parameter")?;
                push_bounded(&mut pt.parameters, p, MAX_ITEMS, "parameters")?;
            } else if c.is("rtcp-fb", NS_RTCP_FB) {
                push_bounded(
                    &mut pt.rtcp_fbs,
                    RtcpFb::from_element(c)?,
                    MAX_ITEMS,
                    "rtcp-fb",
                )?;
            } else if c.is("rtcp-fb-trr-int", NS_RTCP_FB) {
                pt.rtcp_fb_trr_int = opt_num(c, "rtcp-fb-trr-int", "value")?;
            }
        }
        Ok(pt)
    }

    fn to_element(&self) -> Element {
        let mut el = Element::new("payload-type", NS_RTP)
            .with_attr("id", self.id.to_string())
            .with_opt_attr("name", self.name.as_deref())
            .with_opt_attr("clockrate", self.clockrate.map(|c| c.to_string()))
            .with_attr("channels", self.channels.to_string())
            .with_opt_attr("ptime", self.ptime.map(|c| c.to_string()))
            .with_opt_attr("maxptime", self.maxptime.map(|c| c.to_string()));
        for p in &self.parameters {
            el.push_child(p.to_element(NS_RTP));
        }
        for fb in &self.rtcp_fbs {
            el.push_child(fb.to_element());
        }
        if let Some(v) = self.rtcp_fb_trr_int {
            el.push_child(
                Element::new("rtcp-fb-trr-int", NS_RTCP_FB).with_attr("value", v.to_string()),
            );
        }
        el
    }
}

/// `<rtp-hdrext id uri senders>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpHdrExt {
    /// `id`.
    pub id: u16,
    /// `uri`.
    pub uri: String,
    /// `senders`, when written (absent means both).
    pub senders: Option<Senders>,
}

/// `<source ssrc>` (ssma).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `ssrc`.
    pub ssrc: u32,
    /// `<parameter>`s (ssma namespace): `cname`, sometimes `msid`.
    pub parameters: Vec<Parameter>,
}

impl Source {
    /// The `cname` parameter.
    pub fn cname(&self) -> Option<&str> {
        self.parameters
            .iter()
            .find(|p| p.name == "cname")
            .and_then(|p| p.value.as_deref())
    }
}

/// `<ssrc-group semantics>` (ssma).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcGroup {
    /// `semantics` (`FID`).
    pub semantics: String,
    /// The `<source ssrc>` children, in order.
    pub sources: Vec<u32>,
}

/// `<stream id track>` (msid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// `id` (the MediaStream id).
    pub id: String,
    /// `track`.
    pub track: Option<String>,
}

/// rtp `<description>` (XEP-0167).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtpDescription {
    /// `media` (`audio`, `video`).
    pub media: String,
    /// `ssrc`.
    pub ssrc: Option<u32>,
    /// `<payload-type>`s, in preference order.
    pub payload_types: Vec<PayloadType>,
    /// `<rtp-hdrext>`s.
    pub hdrexts: Vec<RtpHdrExt>,
    /// `<rtcp-mux/>`.
    pub rtcp_mux: bool,
    /// `<rtcp-reduced-size/>`.
    pub rtcp_reduced_size: bool,
    /// Description-level `<rtcp-fb>`s.
    pub rtcp_fbs: Vec<RtcpFb>,
    /// `<source>`s.
    pub sources: Vec<Source>,
    /// `<ssrc-group>`s.
    pub ssrc_groups: Vec<SsrcGroup>,
    /// `<stream>`s.
    pub streams: Vec<Stream>,
}

impl RtpDescription {
    /// Parses an rtp `<description>`.
    pub fn from_element(el: &Element) -> Result<Self> {
        const E: &str = "description";
        let mut d = RtpDescription {
            media: el.attr("media").unwrap_or("").to_string(),
            ssrc: opt_num(el, E, "ssrc")?,
            ..RtpDescription::default()
        };
        for c in el.elements() {
            if c.is("payload-type", NS_RTP) {
                let pt = PayloadType::from_element(c)?;
                push_bounded(&mut d.payload_types, pt, MAX_PAYLOAD_TYPES, "payload types")?;
            } else if c.is("rtp-hdrext", NS_HDREXT) {
                let senders = match c.attr("senders") {
                    Some(s) => Some(Senders::from_name(s).ok_or(JingleError::BadAttribute {
                        element: "rtp-hdrext",
                        attr: "senders",
                    })?),
                    None => None,
                };
                let h = RtpHdrExt {
                    id: req_num(c, "rtp-hdrext", "id")?,
                    uri: req(c, "rtp-hdrext", "uri")?.to_string(),
                    senders,
                };
                push_bounded(&mut d.hdrexts, h, MAX_ITEMS, "header extensions")?;
            } else if c.is("rtcp-mux", NS_RTP) {
                d.rtcp_mux = true;
            } else if c.is("rtcp-reduced-size", NS_RTP) {
                d.rtcp_reduced_size = true;
            } else if c.is("rtcp-fb", NS_RTCP_FB) {
                push_bounded(
                    &mut d.rtcp_fbs,
                    RtcpFb::from_element(c)?,
                    MAX_ITEMS,
                    "rtcp-fb",
                )?;
            } else if c.is("source", NS_SSMA) {
                let mut s = Source {
                    ssrc: req_num(c, "source", "ssrc")?,
                    parameters: Vec::new(),
                };
                for p in c.elements().filter(|p| p.is("parameter", NS_SSMA)) {
                    let p = Parameter::from_element(p, "parameter")?;
                    push_bounded(&mut s.parameters, p, MAX_ITEMS, "source parameters")?;
                }
                push_bounded(&mut d.sources, s, MAX_ITEMS, "sources")?;
            } else if c.is("ssrc-group", NS_SSMA) {
                let mut g = SsrcGroup {
                    semantics: req(c, "ssrc-group", "semantics")?.to_string(),
                    sources: Vec::new(),
                };
                for s in c.elements().filter(|s| s.is("source", NS_SSMA)) {
                    let ssrc = req_num(s, "source", "ssrc")?;
                    push_bounded(&mut g.sources, ssrc, MAX_ITEMS, "group sources")?;
                }
                push_bounded(&mut d.ssrc_groups, g, MAX_ITEMS, "ssrc groups")?;
            } else if c.is("stream", NS_MSID) {
                let s = Stream {
                    id: req(c, "stream", "id")?.to_string(),
                    track: opt_string(c, "track"),
                };
                push_bounded(&mut d.streams, s, MAX_ITEMS, "streams")?;
            }
        }
        Ok(d)
    }

    /// Serializes in the §8.4 export order: rtcp-mux, rtcp-reduced-size, rtcp-fb,
    /// payload-types, hdrext, sources, ssrc-groups, streams.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("description", NS_RTP)
            .with_attr("media", &self.media)
            .with_opt_attr("ssrc", self.ssrc.map(|s| s.to_string()));
        if self.rtcp_mux {
            el.push_child(Element::new("rtcp-mux", NS_RTP));
        }
        if self.rtcp_reduced_size {
            el.push_child(Element::new("rtcp-reduced-size", NS_RTP));
        }
        for fb in &self.rtcp_fbs {
            el.push_child(fb.to_element());
        }
        for pt in &self.payload_types {
            el.push_child(pt.to_element());
        }
        for h in &self.hdrexts {
            el.push_child(
                Element::new("rtp-hdrext", NS_HDREXT)
                    .with_attr("id", h.id.to_string())
                    .with_attr("uri", &h.uri)
                    .with_opt_attr("senders", h.senders.map(Senders::as_str)),
            );
        }
        for s in &self.sources {
            let mut src = Element::new("source", NS_SSMA).with_attr("ssrc", s.ssrc.to_string());
            for p in &s.parameters {
                src.push_child(p.to_element(NS_SSMA));
            }
            el.push_child(src);
        }
        for g in &self.ssrc_groups {
            let mut ge = Element::new("ssrc-group", NS_SSMA).with_attr("semantics", &g.semantics);
            for s in &g.sources {
                ge.push_child(Element::new("source", NS_SSMA).with_attr("ssrc", s.to_string()));
            }
            el.push_child(ge);
        }
        for s in &self.streams {
            el.push_child(
                Element::new("stream", NS_MSID)
                    .with_attr("id", &s.id)
                    .with_opt_attr("track", s.track.as_deref()),
            );
        }
        el
    }
}

/// ice `<candidate>` (XEP-0176).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JingleCandidate {
    /// `component`.
    pub component: u16,
    /// `foundation`.
    pub foundation: String,
    /// `generation`.
    pub generation: Option<u32>,
    /// `id`.
    pub id: Option<String>,
    /// `ip`.
    pub ip: String,
    /// `network`.
    pub network: Option<u32>,
    /// `port`.
    pub port: u16,
    /// `priority`.
    pub priority: u32,
    /// `protocol` (`udp`, `tcp`).
    pub protocol: String,
    /// `rel-addr`.
    pub rel_addr: Option<String>,
    /// `rel-port`.
    pub rel_port: Option<u16>,
    /// `tcptype`.
    pub tcptype: Option<String>,
    /// `type` (`host`, `srflx`, `prflx`, `relay`).
    pub typ: String,
}

impl JingleCandidate {
    fn from_element(el: &Element) -> Result<Self> {
        const E: &str = "candidate";
        Ok(JingleCandidate {
            component: req_num(el, E, "component")?,
            foundation: req(el, E, "foundation")?.to_string(),
            generation: opt_num(el, E, "generation")?,
            id: opt_string(el, "id"),
            ip: req(el, E, "ip")?.to_string(),
            network: opt_num(el, E, "network")?,
            port: req_num(el, E, "port")?,
            priority: req_num(el, E, "priority")?,
            protocol: req(el, E, "protocol")?.to_string(),
            rel_addr: opt_string(el, "rel-addr"),
            rel_port: opt_num(el, E, "rel-port")?,
            tcptype: opt_string(el, "tcptype"),
            typ: req(el, E, "type")?.to_string(),
        })
    }

    /// `<candidate>` in the ice-udp namespace.
    pub fn to_element(&self) -> Element {
        Element::new("candidate", NS_ICE_UDP)
            .with_attr("component", self.component.to_string())
            .with_attr("foundation", &self.foundation)
            .with_opt_attr("generation", self.generation.map(|g| g.to_string()))
            .with_opt_attr("id", self.id.as_deref())
            .with_attr("ip", &self.ip)
            .with_opt_attr("network", self.network.map(|g| g.to_string()))
            .with_attr("port", self.port.to_string())
            .with_attr("priority", self.priority.to_string())
            .with_attr("protocol", &self.protocol)
            .with_opt_attr("rel-addr", self.rel_addr.as_deref())
            .with_opt_attr("rel-port", self.rel_port.map(|g| g.to_string()))
            .with_opt_attr("tcptype", self.tcptype.as_deref())
            .with_attr("type", &self.typ)
    }
}

/// `<remote-candidate component ip port>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCandidate {
    /// `component`.
    pub component: u16,
    /// `ip`.
    pub ip: String,
    /// `port`.
    pub port: u16,
}

/// dtls `<fingerprint hash setup>value</fingerprint>` (XEP-0320).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `hash` (`sha-256`).
    pub hash: String,
    /// `setup` (`actpass`, `active`, `passive`).
    pub setup: Option<String>,
    /// The colon-separated hex fingerprint.
    pub value: String,
}

/// `<sctpmap number protocol streams>` (XEP-0343).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SctpMap {
    /// `number` (the SCTP port).
    pub number: u16,
    /// `protocol` (`webrtc-datachannel`).
    pub protocol: String,
    /// `streams`.
    pub streams: Option<u16>,
}

/// ice `<transport>` (XEP-0176 with the DTLS and SCTP extensions).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IceUdpTransport {
    /// `ufrag`.
    pub ufrag: Option<String>,
    /// `pwd` (a credential).
    pub pwd: Option<Secret>,
    /// `<ice-lite/>`.
    pub ice_lite: bool,
    /// `<candidate>`s.
    pub candidates: Vec<JingleCandidate>,
    /// `<remote-candidate>`.
    pub remote_candidate: Option<RemoteCandidate>,
    /// `<fingerprint>`s.
    pub fingerprints: Vec<Fingerprint>,
    /// `<gathering-complete/>`.
    pub gathering_complete: bool,
    /// `<sctpmap>`.
    pub sctpmap: Option<SctpMap>,
}

impl IceUdpTransport {
    /// Whether `el` is a transport this module reads (ice-udp:1 or ice:0).
    pub fn accepts(el: &Element) -> bool {
        el.is("transport", NS_ICE_UDP) || el.is("transport", NS_ICE)
    }

    /// Parses an ice `<transport>` (either namespace; children may use the transport's own
    /// namespace or the DTLS / SCTP ones).
    pub fn from_element(el: &Element) -> Result<Self> {
        let tns = el.ns.as_str();
        let mut t = IceUdpTransport {
            ufrag: opt_string(el, "ufrag"),
            pwd: el.attr("pwd").map(Secret::from),
            ..IceUdpTransport::default()
        };
        for c in el.elements() {
            if c.is("candidate", tns) {
                let cand = JingleCandidate::from_element(c)?;
                push_bounded(&mut t.candidates, cand, MAX_CANDIDATES, "candidates")?;
            } else if c.is("remote-candidate", tns) {
                const E: &str = "remote-candidate";
                t.remote_candidate = Some(RemoteCandidate {
                    component: req_num(c, E, "component")?,
                    ip: req(c, E, "ip")?.to_string(),
                    port: req_num(c, E, "port")?,
                });
            } else if c.is("gathering-complete", tns) {
                t.gathering_complete = true;
            } else if c.is("ice-lite", tns) {
                t.ice_lite = true;
            } else if c.is("fingerprint", NS_DTLS) {
                let f = Fingerprint {
                    hash: req(c, "fingerprint", "hash")?.to_string(),
                    setup: opt_string(c, "setup"),
                    value: c.text().trim().to_string(),
                };
                push_bounded(&mut t.fingerprints, f, MAX_ITEMS, "fingerprints")?;
            } else if c.is("sctpmap", NS_SCTP) {
                const E: &str = "sctpmap";
                t.sctpmap = Some(SctpMap {
                    number: req_num(c, E, "number")?,
                    protocol: req(c, E, "protocol")?.to_string(),
                    streams: opt_num(c, E, "streams")?,
                });
            }
        }
        Ok(t)
    }

    /// Serializes in the ice-udp:1 namespace.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("transport", NS_ICE_UDP)
            .with_opt_attr("ufrag", self.ufrag.as_deref())
            .with_opt_attr("pwd", self.pwd.as_ref().map(Secret::expose));
        if self.ice_lite {
            el.push_child(Element::new("ice-lite", NS_ICE_UDP));
        }
        for f in &self.fingerprints {
            el.push_child(
                Element::new("fingerprint", NS_DTLS)
                    .with_attr("hash", &f.hash)
                    .with_opt_attr("setup", f.setup.as_deref())
                    .with_text(&f.value),
            );
        }
        if let Some(s) = &self.sctpmap {
            el.push_child(
                Element::new("sctpmap", NS_SCTP)
                    .with_attr("number", s.number.to_string())
                    .with_attr("protocol", &s.protocol)
                    .with_opt_attr("streams", s.streams.map(|n| n.to_string())),
            );
        }
        for c in &self.candidates {
            el.push_child(c.to_element());
        }
        if let Some(r) = &self.remote_candidate {
            el.push_child(
                Element::new("remote-candidate", NS_ICE_UDP)
                    .with_attr("component", r.component.to_string())
                    .with_attr("ip", &r.ip)
                    .with_attr("port", r.port.to_string()),
            );
        }
        if self.gathering_complete {
            el.push_child(Element::new("gathering-complete", NS_ICE_UDP));
        }
        el
    }
}

/// `<content>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JingleContent {
    /// `creator`.
    pub creator: Creator,
    /// `name` (the SDP mid).
    pub name: String,
    /// `senders` (default both, omitted when both).
    pub senders: Senders,
    /// `disposition` as written (absent means `session`); written back as stored.
    pub disposition: Option<String>,
    /// rtp `<description>`.
    pub description: Option<RtpDescription>,
    /// The namespace of a `<description>` that is not rtp (its attributes and children are
    /// left unparsed), so the caller can reject the content (`unsupported-applications`).
    /// Written back as an empty `<description>` in that namespace.
    pub other_description: Option<String>,
    /// ice `<transport>`.
    pub transport: Option<IceUdpTransport>,
    /// The namespace of a `<transport>` that is not ice (left unparsed), so the caller can
    /// reject the content (`unsupported-transports`). Written back as an empty `<transport>` in
    /// that namespace.
    pub other_transport: Option<String>,
}

impl JingleContent {
    /// Parses a `<content>`.
    pub fn from_element(el: &Element) -> Result<Self> {
        const E: &str = "content";
        let creator = match el.attr("creator") {
            Some(c) => Creator::parse(c).ok_or(JingleError::BadAttribute {
                element: E,
                attr: "creator",
            })?,
            None => Creator::Initiator,
        };
        let senders = match el.attr("senders") {
            Some(s) => Senders::from_name(s).ok_or(JingleError::BadAttribute {
                element: E,
                attr: "senders",
            })?,
            None => Senders::Both,
        };
        let mut c = JingleContent {
            creator,
            name: req(el, E, "name")?.to_string(),
            senders,
            disposition: opt_string(el, "disposition"),
            ..JingleContent::default()
        };
        for child in el.elements() {
            if child.is("description", NS_RTP) {
                c.description = Some(RtpDescription::from_element(child)?);
            } else if child.name == "description" {
                c.other_description = Some(child.ns.clone());
            } else if IceUdpTransport::accepts(child) {
                c.transport = Some(IceUdpTransport::from_element(child)?);
            } else if child.name == "transport" {
                c.other_transport = Some(child.ns.clone());
            }
        }
        Ok(c)
    }

    /// Serializes a `<content>`: what [`JingleContent::from_element`] reads back as the same
    /// value, including `disposition` and the namespaces of foreign descriptions/transports.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("content", NS_JINGLE)
            .with_attr("creator", self.creator.as_str())
            .with_attr("name", &self.name)
            .with_opt_attr(
                "senders",
                (self.senders != Senders::Both).then(|| self.senders.as_str()),
            )
            .with_opt_attr("disposition", self.disposition.as_deref());
        if let Some(d) = &self.description {
            el.push_child(d.to_element());
        }
        if let Some(ns) = &self.other_description {
            el.push_child(Element::new("description", ns.as_str()));
        }
        if let Some(t) = &self.transport {
            el.push_child(t.to_element());
        }
        if let Some(ns) = &self.other_transport {
            el.push_child(Element::new("transport", ns.as_str()));
        }
        el
    }
}

/// grouping `<group semantics>` with `<content name>` children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `semantics` (`BUNDLE`).
    pub semantics: String,
    /// Content names.
    pub contents: Vec<String>,
}

impl Group {
    fn from_element(el: &Element) -> Result<Self> {
        let mut g = Group {
            semantics: req(el, "group", "semantics")?.to_string(),
            contents: Vec::new(),
        };
        for c in el.elements().filter(|c| c.name == "content") {
            let name = req(c, "content", "name")?.to_string();
            push_bounded(&mut g.contents, name, MAX_CONTENTS, "group contents")?;
        }
        Ok(g)
    }

    fn to_element(&self) -> Element {
        let mut el = Element::new("group", NS_GROUPING).with_attr("semantics", &self.semantics);
        for c in &self.contents {
            el.push_child(Element::new("content", NS_GROUPING).with_attr("name", c));
        }
        el
    }
}

/// `<reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The condition element.
    pub condition: ReasonCondition,
    /// `<text>`.
    pub text: Option<String>,
    /// `<alternative-session>` text (the other sid).
    pub alternative_session: Option<String>,
}

impl Reason {
    /// A reason with only a condition.
    pub fn new(condition: ReasonCondition) -> Self {
        Reason {
            condition,
            text: None,
            alternative_session: None,
        }
    }

    fn from_element(el: &Element) -> Result<Self> {
        let mut condition = None;
        let mut condition_in_jingle_ns = false;
        let mut text = None;
        let mut alternative_session = None;
        for c in el.elements() {
            if c.name == "text" {
                text = Some(c.text());
                continue;
            }
            if c.name == "alternative-session" {
                let own = c.text();
                let sid = c.child_named("sid").map(Element::text);
                alternative_session = Some(match sid {
                    Some(sid) if own.trim().is_empty() => sid,
                    _ => own,
                });
            }
            // The first condition wins; one in the Jingle namespace beats an
            // application-specific one.
            let in_jingle_ns = c.ns == NS_JINGLE;
            if condition.is_none() || (in_jingle_ns && !condition_in_jingle_ns) {
                condition = Some(ReasonCondition::from_name(&c.name));
                condition_in_jingle_ns = in_jingle_ns;
            }
        }
        Ok(Reason {
            condition: condition.ok_or(JingleError::MissingReasonCondition)?,
            text,
            alternative_session,
        })
    }

    fn to_element(&self) -> Element {
        let mut el = Element::new("reason", NS_JINGLE);
        match (&self.condition, &self.alternative_session) {
            (ReasonCondition::AlternativeSession, Some(sid)) => {
                el.push_child(Element::new("alternative-session", NS_JINGLE).with_text(sid));
            }
            (c, _) => el.push_child(Element::new(c.as_str(), NS_JINGLE)),
        }
        if let Some(t) = &self.text {
            el.push_child(Element::new("text", NS_JINGLE).with_text(t));
        }
        el
    }
}

/// `session-info` payloads (rtp info namespace; §8.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionInfo {
    /// `<active/>`
    Active,
    /// `<ringing/>`
    Ringing,
    /// `<hold/>`
    Hold,
    /// `<unhold/>`
    Unhold,
    /// `<mute creator name/>`; Genesys puts the user id in `creator`.
    Mute {
        /// `creator`.
        creator: Option<String>,
        /// `name` (`audio`, `video`).
        name: Option<String>,
    },
    /// `<unmute creator name/>`.
    Unmute {
        /// `creator`.
        creator: Option<String>,
        /// `name`.
        name: Option<String>,
    },
    /// Genesys `<screen-start/>`.
    ScreenStart,
    /// Genesys `<screen-stop/>`.
    ScreenStop,
    /// Any other payload element.
    Unknown {
        /// Element name.
        name: String,
        /// Namespace.
        ns: String,
    },
}

impl SessionInfo {
    /// Reads one payload element.
    pub fn from_element(el: &Element) -> SessionInfo {
        if el.ns != NS_RTP_INFO {
            return SessionInfo::Unknown {
                name: el.name.clone(),
                ns: el.ns.clone(),
            };
        }
        let creator = opt_string(el, "creator");
        let name = opt_string(el, "name");
        match el.name.as_str() {
            "active" => SessionInfo::Active,
            "ringing" => SessionInfo::Ringing,
            "hold" => SessionInfo::Hold,
            "unhold" => SessionInfo::Unhold,
            "mute" => SessionInfo::Mute { creator, name },
            "unmute" => SessionInfo::Unmute { creator, name },
            "screen-start" => SessionInfo::ScreenStart,
            "screen-stop" => SessionInfo::ScreenStop,
            other => SessionInfo::Unknown {
                name: other.to_string(),
                ns: el.ns.clone(),
            },
        }
    }

    /// The payload element.
    pub fn to_element(&self) -> Element {
        let simple = |n: &str| Element::new(n, NS_RTP_INFO);
        match self {
            SessionInfo::Active => simple("active"),
            SessionInfo::Ringing => simple("ringing"),
            SessionInfo::Hold => simple("hold"),
            SessionInfo::Unhold => simple("unhold"),
            SessionInfo::Mute { creator, name } => simple("mute")
                .with_opt_attr("creator", creator.as_deref())
                .with_opt_attr("name", name.as_deref()),
            SessionInfo::Unmute { creator, name } => simple("unmute")
                .with_opt_attr("creator", creator.as_deref())
                .with_opt_attr("name", name.as_deref()),
            SessionInfo::ScreenStart => simple("screen-start"),
            SessionInfo::ScreenStop => simple("screen-stop"),
            SessionInfo::Unknown { name, ns } => Element::new(name.as_str(), ns.as_str()),
        }
    }

    /// Whether §8.7 answers it with `result` (not `unsupported-info`).
    pub fn is_known(&self) -> bool {
        !matches!(self, SessionInfo::Unknown { .. })
    }
}

/// A `<jingle>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jingle {
    /// `action`.
    pub action: Action,
    /// `sid`.
    pub sid: String,
    /// `initiator` (a JID).
    pub initiator: Option<String>,
    /// `responder` (a JID).
    pub responder: Option<String>,
    /// `<content>`s.
    pub contents: Vec<JingleContent>,
    /// `<group>`s.
    pub groups: Vec<Group>,
    /// `<reason>`.
    pub reason: Option<Reason>,
    /// The session-info payload (any child that is not content, group or reason).
    pub info: Option<SessionInfo>,
}

impl Jingle {
    /// An element with only `action` and `sid`.
    pub fn new(action: Action, sid: impl Into<String>) -> Self {
        Jingle {
            action,
            sid: sid.into(),
            initiator: None,
            responder: None,
            contents: Vec::new(),
            groups: Vec::new(),
            reason: None,
            info: None,
        }
    }

    /// Parses a `<jingle>` element.
    pub fn from_element(el: &Element) -> Result<Self> {
        const E: &str = "jingle";
        if !el.is("jingle", NS_JINGLE) {
            return Err(JingleError::NotJingle);
        }
        let mut j = Jingle::new(Action::from_name(req(el, E, "action")?), req(el, E, "sid")?);
        j.initiator = opt_string(el, "initiator");
        j.responder = opt_string(el, "responder");
        for c in el.elements() {
            if c.is("content", NS_JINGLE) {
                let content = JingleContent::from_element(c)?;
                push_bounded(&mut j.contents, content, MAX_CONTENTS, "contents")?;
            } else if c.is("group", NS_GROUPING) {
                push_bounded(&mut j.groups, Group::from_element(c)?, MAX_GROUPS, "groups")?;
            } else if c.is("reason", NS_JINGLE) {
                j.reason = Some(Reason::from_element(c)?);
            } else if j.info.is_none() {
                j.info = Some(SessionInfo::from_element(c));
            }
        }
        Ok(j)
    }

    /// Serializes the `<jingle>` element.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("jingle", NS_JINGLE)
            .with_attr("action", self.action.as_str())
            .with_opt_attr("initiator", self.initiator.as_deref())
            .with_opt_attr("responder", self.responder.as_deref())
            .with_attr("sid", &self.sid);
        for c in &self.contents {
            el.push_child(c.to_element());
        }
        for g in &self.groups {
            el.push_child(g.to_element());
        }
        if let Some(r) = &self.reason {
            el.push_child(r.to_element());
        }
        if let Some(i) = &self.info {
            el.push_child(i.to_element());
        }
        el
    }

    /// `session-accept` with our answer's contents and groups (§8.2 step 2).
    pub fn session_accept(
        sid: impl Into<String>,
        responder: Option<&str>,
        contents: Vec<JingleContent>,
        groups: Vec<Group>,
    ) -> Self {
        let mut j = Jingle::new(Action::SessionAccept, sid);
        j.responder = responder.map(str::to_string);
        j.contents = contents;
        j.groups = groups;
        j
    }

    /// `transport-info` trickling one candidate on content `content_name` (§8.3).
    pub fn transport_info_candidate(
        sid: impl Into<String>,
        content_name: impl Into<String>,
        ufrag: Option<&str>,
        candidate: JingleCandidate,
    ) -> Self {
        let mut j = Jingle::new(Action::TransportInfo, sid);
        j.contents.push(JingleContent {
            name: content_name.into(),
            transport: Some(IceUdpTransport {
                ufrag: ufrag.map(str::to_string),
                candidates: vec![candidate],
                ..IceUdpTransport::default()
            }),
            ..JingleContent::default()
        });
        j
    }

    /// End of gathering: `transport-info` on the **first** content's name whose transport has
    /// only the ufrag and `<gathering-complete/>` (§8.2 step 3).
    pub fn transport_info_gathering_complete(
        sid: impl Into<String>,
        first_content_name: impl Into<String>,
        ufrag: Option<&str>,
    ) -> Self {
        let mut j = Jingle::new(Action::TransportInfo, sid);
        j.contents.push(JingleContent {
            name: first_content_name.into(),
            transport: Some(IceUdpTransport {
                ufrag: ufrag.map(str::to_string),
                gathering_complete: true,
                ..IceUdpTransport::default()
            }),
            ..JingleContent::default()
        });
        j
    }

    /// `session-info` with one payload (§8.8).
    pub fn session_info(sid: impl Into<String>, info: SessionInfo) -> Self {
        let mut j = Jingle::new(Action::SessionInfo, sid);
        j.info = Some(info);
        j
    }

    /// `session-info` with `<active/>`, sent when ICE connects (§8.2 step 4).
    pub fn session_info_active(sid: impl Into<String>) -> Self {
        Jingle::session_info(sid, SessionInfo::Active)
    }

    /// `session-terminate` with a reason (§8.6).
    pub fn session_terminate(sid: impl Into<String>, reason: Reason) -> Self {
        let mut j = Jingle::new(Action::SessionTerminate, sid);
        j.reason = Some(reason);
        j
    }
}

/// `<iq type="set">` carrying `jingle`, for sending (`from` only for screen-start/stop, §8.8).
pub fn iq_set(id: &str, to: &str, from: Option<&str>, jingle: &Jingle) -> Element {
    Element::new("iq", ns::CLIENT)
        .with_attr("type", "set")
        .with_attr("id", id)
        .with_attr("to", to)
        .with_opt_attr("from", from)
        .with_child(jingle.to_element())
}

fn stanza_error(
    error_type: &str,
    condition: &str,
    jingle: Option<JingleErrorCondition>,
) -> Element {
    let mut el = Element::new("error", ns::CLIENT)
        .with_attr("type", error_type)
        .with_child(Element::new(condition, ns::STANZAS));
    if let Some(j) = jingle {
        el.push_child(Element::new(j.as_str(), NS_ERRORS));
    }
    el
}

/// `<error type="cancel"><item-not-found/><unknown-session/></error>` (§8.7).
pub fn error_unknown_session() -> Element {
    stanza_error(
        "cancel",
        "item-not-found",
        Some(JingleErrorCondition::UnknownSession),
    )
}

/// `<error type="cancel"><unexpected-request/><out-of-order/></error>` (§8.7).
pub fn error_out_of_order() -> Element {
    stanza_error(
        "cancel",
        "unexpected-request",
        Some(JingleErrorCondition::OutOfOrder),
    )
}

/// `<error type="cancel"><conflict/><tie-break/></error>` (§8.7).
pub fn error_tie_break() -> Element {
    stanza_error("cancel", "conflict", Some(JingleErrorCondition::TieBreak))
}

/// `<error type="modify"><feature-not-implemented/><unsupported-info/></error>` (§8.7).
pub fn error_unsupported_info() -> Element {
    stanza_error(
        "modify",
        "feature-not-implemented",
        Some(JingleErrorCondition::UnsupportedInfo),
    )
}

/// `<error type="cancel"><bad-request/></error>` (§8.7).
pub fn error_bad_request() -> Element {
    stanza_error("cancel", "bad-request", None)
}

/// The Jingle error condition inside an `<iq type="error">` (or its `<error>` child).
pub fn jingle_error_condition(el: &Element) -> Option<JingleErrorCondition> {
    let error = if el.name == "error" {
        el
    } else {
        el.child_named("error")?
    };
    error
        .elements()
        .find(|e| e.ns == NS_ERRORS)
        .map(|e| JingleErrorCondition::from_name(&e.name))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::wire::xml::{parse, XmlLimits};
    use proptest::prelude::*;

    pub(crate) const ACCEPT_EXAMPLE: &str = r#"<iq xmlns="jabber:client" type="set" id="5d1f…" to="7d2c…@gjoll.example.orgspan.com/gjoll-1">
 <jingle xmlns="urn:xmpp:jingle:1" action="session-accept" sid="9b8e2a10-…">
  <content creator="initiator" name="0">
   <description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio" ssrc="3735928559">
    <payload-type id="111" name="opus" clockrate="48000" channels="2">
     <parameter name="minptime" value="10"/>
     <parameter name="useinbandfec" value="1"/>
     <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="transport-cc"/>
    </payload-type>
    <payload-type id="0" name="PCMU" clockrate="8000" channels="1"/>
    <payload-type id="101" name="telephone-event" clockrate="8000" channels="1"/>
    <rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="1" uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"/>
    <rtcp-mux/>
    <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="3735928559">
     <parameter name="cname" value="kq8Zp0aB"/>
    </source>
    <stream xmlns="urn:xmpp:jingle:apps:rtp:msid:0" id="s-1" track="t-1"/>
   </description>
   <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="Zq3r" pwd="pA55w0rdpA55w0rdpA55w0rd">
    <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="active">6B:8B:…:1F</fingerprint>
   </transport>
  </content>
  <group xmlns="urn:xmpp:jingle:apps:grouping:0" semantics="BUNDLE"><content name="0"/></group>
 </jingle>
</iq>"#;

    const TRICKLE_EXAMPLE: &str = r#"<jingle xmlns="urn:xmpp:jingle:1" action="transport-info" sid="9b8e2a10-…">
  <content creator="initiator" name="0">
   <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="Zq3r">
    <candidate component="1" foundation="1467250027" ip="192.0.2.10" port="46243"
               priority="2122260223" protocol="udp" type="host"/>
   </transport>
  </content>
 </jingle>"#;

    fn jingle_of(xml: &str) -> Jingle {
        let el = parse(xml, &XmlLimits::default()).unwrap();
        let j = if el.name == "iq" {
            el.child("jingle", NS_JINGLE).unwrap().clone()
        } else {
            el
        };
        Jingle::from_element(&j).unwrap()
    }

    #[test]
    fn parses_session_accept_example() {
        let j = jingle_of(ACCEPT_EXAMPLE);
        assert_eq!(j.action, Action::SessionAccept);
        assert_eq!(j.sid, "9b8e2a10-…");
        assert_eq!(j.contents.len(), 1);
        let c = &j.contents[0];
        assert_eq!(
            (c.creator, c.name.as_str(), c.senders),
            (Creator::Initiator, "0", Senders::Both)
        );
        let d = c.description.as_ref().unwrap();
        assert_eq!(d.media, "audio");
        assert_eq!(d.ssrc, Some(3735928559));
        assert_eq!(d.payload_types.len(), 3);
        let opus = &d.payload_types[0];
        assert_eq!(
            (opus.id, opus.name.as_deref(), opus.clockrate, opus.channels),
            (111, Some("opus"), Some(48000), 2)
        );
        assert_eq!(
            opus.parameters,
            vec![
                Parameter::new("minptime", "10"),
                Parameter::new("useinbandfec", "1")
            ]
        );
        assert_eq!(
            opus.rtcp_fbs,
            vec![RtcpFb {
                typ: "transport-cc".into(),
                subtype: None
            }]
        );
        assert_eq!(d.hdrexts[0].id, 1);
        assert!(d.rtcp_mux && !d.rtcp_reduced_size);
        assert_eq!(d.sources[0].cname(), Some("kq8Zp0aB"));
        assert_eq!(
            d.streams,
            vec![Stream {
                id: "s-1".into(),
                track: Some("t-1".into())
            }]
        );
        let t = c.transport.as_ref().unwrap();
        assert_eq!(t.ufrag.as_deref(), Some("Zq3r"));
        assert_eq!(t.pwd.as_ref().unwrap().expose(), "pA55w0rdpA55w0rdpA55w0rd");
        assert_eq!(t.fingerprints[0].setup.as_deref(), Some("active"));
        assert_eq!(t.fingerprints[0].value, "6B:8B:…:1F");
        assert_eq!(
            j.groups,
            vec![Group {
                semantics: "BUNDLE".into(),
                contents: vec!["0".into()]
            }]
        );
        assert!(!format!("{j:?}").contains("pA55w0rd"));

        // Serialize and parse again: the same model.
        let xml = j.to_element().to_xml();
        assert_eq!(jingle_of(&xml), j);
        // §8.4 export order inside the description.
        let names: Vec<String> = j
            .to_element()
            .child("content", NS_JINGLE)
            .unwrap()
            .child("description", NS_RTP)
            .unwrap()
            .elements()
            .map(|e| e.name.clone())
            .collect();
        assert_eq!(
            names,
            [
                "rtcp-mux",
                "payload-type",
                "payload-type",
                "payload-type",
                "rtp-hdrext",
                "source",
                "stream"
            ]
        );
    }

    #[test]
    fn parses_trickle_example_and_old_ice_namespace() {
        let j = jingle_of(TRICKLE_EXAMPLE);
        let t = j.contents[0].transport.as_ref().unwrap();
        assert_eq!(t.candidates[0].port, 46243);
        assert_eq!(t.candidates[0].typ, "host");
        let old = TRICKLE_EXAMPLE.replace(NS_ICE_UDP, NS_ICE);
        let j2 = jingle_of(&old);
        assert_eq!(j2, j);
        // Re-emitted in ice-udp:1.
        assert!(j2.to_element().to_xml().contains(NS_ICE_UDP));
    }

    /// Fuzz finding (fuzz/regressions/sdp_jingle/foreign_transport_ns_dropped):
    /// `JingleContent::to_element` dropped foreign description/transport namespaces and a
    /// `disposition="session"`, so a parsed session did not come back from its element.
    #[test]
    fn foreign_namespaces_and_disposition_round_trip() {
        let xml = r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" sid="s1">
  <content creator="initiator" name="0" disposition="session">
   <description xmlns="urn:example:apps:whiteboard" media="board"><x/></description>
   <transport xmlns="urn:example:transports:carrier-pigeon" ufrag="Zq3r"/>
  </content>
  <content creator="initiator" name="1" disposition="early-session">
   <description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio">
    <payload-type id="0" name="PCMU" clockrate="8000" channels="1"/>
   </description>
   <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="Zq3r"/>
   <transport xmlns="urn:xmpp:jingle:transports:s5b:1"/>
  </content>
 </jingle>"#;
        let j = jingle_of(xml);
        let [c0, c1] = &j.contents[..] else {
            panic!("two contents expected: {j:?}")
        };
        assert_eq!(c0.disposition.as_deref(), Some("session"));
        assert_eq!(
            c0.other_description.as_deref(),
            Some("urn:example:apps:whiteboard")
        );
        assert_eq!(
            c0.other_transport.as_deref(),
            Some("urn:example:transports:carrier-pigeon")
        );
        assert!(c0.description.is_none() && c0.transport.is_none());
        assert_eq!(c1.disposition.as_deref(), Some("early-session"));
        assert!(c1.description.is_some() && c1.transport.is_some());
        assert_eq!(
            c1.other_transport.as_deref(),
            Some("urn:xmpp:jingle:transports:s5b:1")
        );

        let el = j.to_element();
        assert_eq!(Jingle::from_element(&el), Ok(j.clone()));
        let text = el.to_xml();
        assert!(text.contains(r#"disposition="session""#), "{text}");
        assert!(text.contains(r#"<transport xmlns="urn:example:transports:carrier-pigeon"/>"#));
        let again = parse(&text, &XmlLimits::default()).unwrap();
        assert_eq!(Jingle::from_element(&again), Ok(j));

        // The fuzz input: a session-accept whose transport namespace is misspelt.
        let mut found = ACCEPT_EXAMPLE.replacen(
            "urn:xmpp:jingle:transports:ice-udp:1",
            "trn:xmpp:jingle:transports:ice-udp:1",
            1,
        );
        found = found.replacen(r#"name="0">"#, r#"name="0" disposition="session">"#, 1);
        let j = jingle_of(&found);
        assert_eq!(
            j.contents[0].other_transport.as_deref(),
            Some("trn:xmpp:jingle:transports:ice-udp:1")
        );
        assert_eq!(Jingle::from_element(&j.to_element()), Ok(j));
    }

    #[test]
    fn builders() {
        let cand = JingleCandidate {
            component: 1,
            foundation: "1467250027".into(),
            ip: "192.0.2.10".into(),
            port: 46243,
            priority: 2122260223,
            protocol: "udp".into(),
            typ: "host".into(),
            ..JingleCandidate::default()
        };
        let j = Jingle::transport_info_candidate("9b8e2a10-…", "0", Some("Zq3r"), cand);
        assert_eq!(jingle_of(TRICKLE_EXAMPLE), j);

        let g = Jingle::transport_info_gathering_complete("s", "0", Some("Zq3r"));
        assert_eq!(
            g.to_element().to_xml(),
            r#"<jingle xmlns="urn:xmpp:jingle:1" action="transport-info" sid="s"><content creator="initiator" name="0"><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="Zq3r"><gathering-complete/></transport></content></jingle>"#
        );
        assert_eq!(
            Jingle::session_info_active("s").to_element().to_xml(),
            r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-info" sid="s"><active xmlns="urn:xmpp:jingle:apps:rtp:info:1"/></jingle>"#
        );
        assert_eq!(
            Jingle::session_terminate("9b8e2a10-…", Reason::new(ReasonCondition::Success))
                .to_element()
                .to_xml(),
            r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-terminate" sid="9b8e2a10-…"><reason><success/></reason></jingle>"#
        );
        let mute = Jingle::session_info(
            "s",
            SessionInfo::Mute {
                creator: Some("user-1".into()),
                name: Some("video".into()),
            },
        );
        assert_eq!(jingle_of(&mute.to_element().to_xml()), mute);
        let alt = Reason {
            condition: ReasonCondition::AlternativeSession,
            text: Some("replaced".into()),
            alternative_session: Some("other".into()),
        };
        let t = Jingle::session_terminate("s", alt);
        assert_eq!(jingle_of(&t.to_element().to_xml()), t);
        let accept = Jingle::session_accept(
            "s",
            Some("me@x/y"),
            vec![JingleContent {
                name: "0".into(),
                senders: Senders::Responder,
                ..Default::default()
            }],
            vec![],
        );
        let xml = accept.to_element().to_xml();
        assert!(xml.contains(r#"senders="responder""#) && xml.contains(r#"responder="me@x/y""#));
        assert_eq!(jingle_of(&xml), accept);
        let iq = iq_set("id1", "peer@x/r", None, &accept);
        assert_eq!(iq.attr("type"), Some("set"));
    }

    #[test]
    fn reasons_actions_info() {
        for c in [
            "alternative-session",
            "busy",
            "cancel",
            "connectivity-error",
            "decline",
            "expired",
            "failed-application",
            "failed-transport",
            "general-error",
            "gone",
            "incompatible-parameters",
            "media-error",
            "security-error",
            "success",
            "timeout",
            "unsupported-applications",
            "unsupported-transports",
        ] {
            assert!(
                !matches!(ReasonCondition::from_name(c), ReasonCondition::Unknown(_)),
                "{c}"
            );
            let xml = format!(
                r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-terminate" sid="s"><reason><{c}/><text>t</text></reason></jingle>"#
            );
            let j = jingle_of(&xml);
            assert_eq!(j.reason.as_ref().unwrap().condition.as_str(), c);
            assert_eq!(j.reason.as_ref().unwrap().text.as_deref(), Some("t"));
        }
        let j = jingle_of(
            r#"<jingle xmlns="urn:xmpp:jingle:1" action="source-add" sid="s"><reason><foo/></reason></jingle>"#,
        );
        assert_eq!(j.action, Action::Unknown("source-add".into()));
        assert_eq!(
            j.reason.unwrap().condition,
            ReasonCondition::Unknown("foo".into())
        );
        let bad = parse(r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-terminate" sid="s"><reason/></jingle>"#, &XmlLimits::default()).unwrap();
        assert_eq!(
            Jingle::from_element(&bad),
            Err(JingleError::MissingReasonCondition)
        );
        for n in [
            "active",
            "ringing",
            "hold",
            "unhold",
            "mute",
            "unmute",
            "screen-start",
            "screen-stop",
        ] {
            let xml = format!(
                r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-info" sid="s"><{n} xmlns="{NS_RTP_INFO}"/></jingle>"#
            );
            assert!(jingle_of(&xml).info.unwrap().is_known(), "{n}");
        }
        let j = jingle_of(
            r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-info" sid="s"><x xmlns="y"/></jingle>"#,
        );
        assert!(!j.info.unwrap().is_known());
        let j = jingle_of(r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-info" sid="s"/>"#);
        assert_eq!(j.info, None);
    }

    #[test]
    fn error_children() {
        let e = error_unknown_session();
        assert_eq!(e.attr("type"), Some("cancel"));
        assert!(e.child("item-not-found", ns::STANZAS).is_some());
        assert_eq!(
            jingle_error_condition(&e),
            Some(JingleErrorCondition::UnknownSession)
        );
        assert_eq!(
            jingle_error_condition(&error_out_of_order()),
            Some(JingleErrorCondition::OutOfOrder)
        );
        assert!(error_out_of_order()
            .child("unexpected-request", ns::STANZAS)
            .is_some());
        assert!(error_tie_break().child("conflict", ns::STANZAS).is_some());
        assert_eq!(error_unsupported_info().attr("type"), Some("modify"));
        assert!(error_unsupported_info()
            .child("feature-not-implemented", ns::STANZAS)
            .is_some());
        assert_eq!(jingle_error_condition(&error_bad_request()), None);
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "error")
            .with_child(error_tie_break());
        assert_eq!(
            jingle_error_condition(&iq),
            Some(JingleErrorCondition::TieBreak)
        );
    }

    #[test]
    fn limits_and_bad_attributes() {
        let many: String = (0..17)
            .map(|i| format!(r#"<content creator="initiator" name="{i}"/>"#))
            .collect();
        let xml = format!(
            r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" sid="s">{many}</jingle>"#
        );
        let el = parse(&xml, &XmlLimits::default()).unwrap();
        assert_eq!(
            Jingle::from_element(&el),
            Err(JingleError::TooMany("contents"))
        );
        let pts: String = (0..65)
            .map(|i| format!(r#"<payload-type id="{i}"/>"#))
            .collect();
        let xml = format!(
            r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" sid="s"><content name="0"><description xmlns="{NS_RTP}" media="audio">{pts}</description></content></jingle>"#
        );
        let el = parse(&xml, &XmlLimits::default()).unwrap();
        assert_eq!(
            Jingle::from_element(&el),
            Err(JingleError::TooMany("payload types"))
        );
        let xml = format!(
            r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" sid="s"><content name="0"><description xmlns="{NS_RTP}" media="audio"><payload-type id="300"/></description></content></jingle>"#
        );
        let el = parse(&xml, &XmlLimits::default()).unwrap();
        assert!(matches!(
            Jingle::from_element(&el),
            Err(JingleError::BadAttribute {
                element: "payload-type",
                attr: "id"
            })
        ));
        let el = parse(
            r#"<jingle xmlns="urn:xmpp:jingle:1" sid="s"/>"#,
            &XmlLimits::default(),
        )
        .unwrap();
        assert!(matches!(
            Jingle::from_element(&el),
            Err(JingleError::MissingAttribute { attr: "action", .. })
        ));
        let el = parse(
            r#"<jingle xmlns="urn:xmpp:jingle:2" sid="s"/>"#,
            &XmlLimits::default(),
        )
        .unwrap();
        assert_eq!(Jingle::from_element(&el), Err(JingleError::NotJingle));
    }

    #[test]
    fn every_truncation_never_panics() {
        for sample in [ACCEPT_EXAMPLE, TRICKLE_EXAMPLE] {
            for end in 0..=sample.len() {
                let Some(prefix) = sample.get(..end) else {
                    continue;
                };
                if let Ok(el) = parse(prefix, &XmlLimits::default()) {
                    let j = el.child("jingle", NS_JINGLE).cloned().unwrap_or(el);
                    if let Ok(j) = Jingle::from_element(&j) {
                        let _ = j.to_element().to_xml();
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn random_xml_never_panics(s in "\\PC{0,300}") {
            if let Ok(el) = parse(&s, &XmlLimits::default()) {
                let _ = Jingle::from_element(&el);
            }
        }

        #[test]
        fn random_attribute_values_never_panic(vals in proptest::collection::vec("[ -~]{0,12}", 12)) {
            let v: Vec<String> = vals.iter().map(|s| crate::wire::xml::escape(s).into_owned()).collect();
            let xml = format!(
                r#"<jingle xmlns="urn:xmpp:jingle:1" action="{}" sid="{}"><content creator="{}" name="{}" senders="{}"><description xmlns="{NS_RTP}" media="{}" ssrc="{}"><payload-type id="{}" channels="{}"/></description><transport xmlns="{NS_ICE_UDP}"><candidate component="{}" port="{}" foundation="f" ip="i" priority="{}" protocol="udp" type="host"/></transport></content></jingle>"#,
                v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]
            );
            if let Ok(el) = parse(&xml, &XmlLimits::default()) {
                if let Ok(j) = Jingle::from_element(&el) {
                    let again = parse(&j.to_element().to_xml(), &XmlLimits::default()).unwrap();
                    prop_assert_eq!(Jingle::from_element(&again).unwrap(), j);
                }
            }
        }
    }
}
