//! Negotiation mode A, "sdp over xmpp": the JSON-RPC carried in
//! `<iq type="set"><genesys-webrtc xmlns="genesys">{…}</genesys-webrtc></iq>` (PROTOCOL.md §7).
//!
//! Owns: the envelope codec ([`parse_genesys_iq`], [`build_rpc_iq`]), the typed methods
//! ([`Method`]), the trickle-ICE candidate fragment codec ([`CandidateFragment`]), the outbound
//! candidate filter ([`should_send_candidate`]), and two small time-bounded stores the offer
//! handling of §7.3 needs ([`ReinviteCache`], [`EarlyCandidates`]). Does not own sessions, peer
//! connections or timers: the engine does, passing `Instant`s in.
//!
//! Peer input is bounded ([`MAX_JSON_BYTES`], [`MAX_SDP_BYTES`], …), never panics, and errors
//! never echo the SDP or candidate text (which carry ICE passwords and addresses).

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

use super::jmi::{ConversationId, IdError, SessionId, MAX_ID_LEN};
use crate::wire::xml::Element;
use crate::xmpp::ns;

/// Name of the JSON container element (namespace [`ns::GENESYS`]).
pub const ELEMENT: &str = "genesys-webrtc";
/// Largest JSON text accepted, in bytes.
pub const MAX_JSON_BYTES: usize = 256 * 1024;
/// Largest `sdp` parameter (full offer or answer) accepted, in bytes.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Largest candidate fragment (`iceCandidate` `sdp`) accepted, in bytes.
pub const MAX_FRAGMENT_BYTES: usize = 4096;
/// Longest candidate line accepted, in bytes.
pub const MAX_CANDIDATE_LEN: usize = 1024;
/// Longest media id (`sdpMid`) accepted, in bytes.
pub const MAX_MID_LEN: usize = 64;
/// Longest JSON-RPC method name accepted, in bytes.
pub const MAX_METHOD_LEN: usize = 64;
/// Longest JSON-RPC `id`, IQ `id`, IQ `from`, `status` or `reason` accepted, in bytes.
pub const MAX_FIELD_LEN: usize = 3071;
/// Reinvite JSON ids remembered (§7.3 step 1).
pub const REINVITE_CACHE_SIZE: usize = 5;
/// How long a reinvite JSON id is remembered.
pub const REINVITE_CACHE_TTL: Duration = Duration::from_secs(3 * 60);
/// Most session ids with buffered early candidates (§7.4).
pub const EARLY_CANDIDATE_SESSIONS: usize = 10;
/// How long early candidates are kept after the last one for their session arrived.
pub const EARLY_CANDIDATE_TTL: Duration = Duration::from_secs(60);
/// Most early candidates kept per session id; later ones are dropped.
pub const EARLY_CANDIDATES_PER_SESSION: usize = 64;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What kind of JSON failure (mirrors `serde_json::error::Category`, without its message, which
/// may quote the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonErrorKind {
    /// Not syntactically valid JSON.
    Syntax,
    /// The text ends early.
    Eof,
    /// Valid JSON of the wrong shape.
    Data,
    /// Reader failure (not expected for in-memory text).
    Io,
}

/// Why a candidate fragment is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CandidateError {
    /// Longer than [`MAX_FRAGMENT_BYTES`] / [`MAX_CANDIDATE_LEN`].
    #[error("candidate fragment too long")]
    TooLong,
    /// No `a=` attribute in the fragment.
    #[error("candidate fragment without an a= line")]
    MissingAttribute,
    /// A candidate without an `m=` line naming the mid.
    #[error("candidate fragment without a mid")]
    MissingMid,
    /// The mid is empty, too long or contains whitespace, CR/LF or a backslash.
    #[error("bad candidate mid")]
    BadMid,
    /// The attribute is neither `candidate:…` nor `end-of-candidates`, or contains CR/LF/backslash.
    #[error("not an ICE candidate")]
    NotACandidate,
}

/// Why a `genesys-webrtc` IQ is unusable. Never carries SDP or candidate text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The IQ is not `type="set"` (e.g. an error bounce of one of ours).
    #[error("genesys-webrtc IQ is not type=set")]
    NotASet,
    /// The IQ has no `id`, or an over-long one.
    #[error("genesys-webrtc IQ without a usable id")]
    BadIqId,
    /// The IQ `from` is longer than [`MAX_FIELD_LEN`].
    #[error("genesys-webrtc IQ from is too long")]
    FromTooLong,
    /// The JSON text is larger than [`MAX_JSON_BYTES`].
    #[error("JSON body larger than {MAX_JSON_BYTES} bytes")]
    JsonTooLarge,
    /// The JSON text does not parse.
    #[error("malformed JSON ({kind:?} at line {line}, column {column})")]
    Json {
        /// Failure category.
        kind: JsonErrorKind,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
    },
    /// The JSON value (or `params`) is not an object.
    #[error("JSON-RPC body is not an object")]
    NotAnObject,
    /// A required member is absent or null.
    #[error("JSON-RPC member {field} missing")]
    MissingField {
        /// Member name (`method`, `params`, `sessionId`, `sdp`, …).
        field: &'static str,
    },
    /// A member has the wrong type or an unknown value.
    #[error("JSON-RPC member {field} has the wrong type or value")]
    InvalidField {
        /// Member name.
        field: &'static str,
    },
    /// A member is longer than its limit.
    #[error("JSON-RPC member {field} too long")]
    FieldTooLong {
        /// Member name.
        field: &'static str,
    },
    /// `sdp` is larger than [`MAX_SDP_BYTES`].
    #[error("SDP larger than {MAX_SDP_BYTES} bytes")]
    SdpTooLarge,
    /// `sessionId` is not a valid session id.
    #[error("bad sessionId: {0}")]
    SessionId(#[source] IdError),
    /// `conversationId` is not a valid conversation id.
    #[error("bad conversationId: {0}")]
    ConversationId(#[source] IdError),
    /// The `iceCandidate` fragment is unusable.
    #[error("bad ICE candidate: {0}")]
    Candidate(#[from] CandidateError),
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// A full SDP offer or answer as carried in `params.sdp`. Its `Debug` prints only the length
/// (the SDP holds the ICE password and addresses and is never logged).
#[derive(Clone, PartialEq, Eq)]
pub struct SdpText(String);

impl SdpText {
    /// Wraps `sdp`, refusing more than [`MAX_SDP_BYTES`].
    pub fn new(sdp: impl Into<String>) -> Result<Self, RpcError> {
        let sdp = sdp.into();
        if sdp.len() > MAX_SDP_BYTES {
            return Err(RpcError::SdpTooLarge);
        }
        Ok(SdpText(sdp))
    }

    /// The SDP text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SDP as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for SdpText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SdpText({} bytes)", self.0.len())
    }
}

/// Media kind of a `mute`/`unmute` (`params.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `"audio"`.
    Audio,
    /// `"video"`.
    Video,
}

impl MediaKind {
    /// The JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// One trickled ICE candidate in the sdp-over-xmpp fragment form (§7.4).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum CandidateFragment {
    /// `"m=" + mid + " 9 RTP/AVP 0\r\n" + "a=" + candidate_line + "\r\n"`.
    Candidate {
        /// The media id (`sdpMid`), **not** the media kind.
        sdp_mid: String,
        /// `candidate:…` without the leading `a=` and without line ending.
        candidate_line: String,
    },
    /// `"a=end-of-candidates\r\n"`.
    EndOfCandidates,
}

impl fmt::Debug for CandidateFragment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The line carries addresses; keep them out of logs.
            CandidateFragment::Candidate {
                sdp_mid,
                candidate_line,
            } => f
                .debug_struct("Candidate")
                .field("sdp_mid", sdp_mid)
                .field(
                    "candidate_line",
                    &format_args!("{{{} bytes}}", candidate_line.len()),
                )
                .finish(),
            CandidateFragment::EndOfCandidates => f.write_str("EndOfCandidates"),
        }
    }
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\\')
}

fn valid_mid(mid: &str) -> bool {
    !mid.is_empty()
        && mid.len() <= MAX_MID_LEN
        && !mid.chars().any(|c| c.is_whitespace() || is_line_break(c))
}

impl CandidateFragment {
    /// A candidate for `sdp_mid` from a local candidate line (`candidate:…`, a leading `a=` and
    /// trailing CR/LF are stripped). Validated so that [`to_fragment`](Self::to_fragment) and
    /// [`parse_fragment`] round-trip.
    pub fn new(sdp_mid: &str, candidate_line: &str) -> Result<Self, CandidateError> {
        let line = candidate_line.trim_end_matches(['\r', '\n']);
        let line = line.strip_prefix("a=").unwrap_or(line);
        if line.len() > MAX_CANDIDATE_LEN {
            return Err(CandidateError::TooLong);
        }
        if line == "end-of-candidates" {
            return Ok(CandidateFragment::EndOfCandidates);
        }
        if !line.starts_with("candidate:") || line.chars().any(is_line_break) {
            return Err(CandidateError::NotACandidate);
        }
        if !valid_mid(sdp_mid) {
            return Err(CandidateError::BadMid);
        }
        Ok(CandidateFragment::Candidate {
            sdp_mid: sdp_mid.to_owned(),
            candidate_line: line.to_owned(),
        })
    }

    /// The `params.sdp` text for this candidate.
    pub fn to_fragment(&self) -> String {
        match self {
            CandidateFragment::Candidate {
                sdp_mid,
                candidate_line,
            } => format!("m={sdp_mid} 9 RTP/AVP 0\r\na={candidate_line}\r\n"),
            CandidateFragment::EndOfCandidates => "a=end-of-candidates\r\n".to_owned(),
        }
    }

    /// Whether this is the end-of-candidates marker.
    pub fn is_end(&self) -> bool {
        matches!(self, CandidateFragment::EndOfCandidates)
    }
}

/// Parses an inbound `iceCandidate` `params.sdp`: `sdpMid` is the first token after `m=`, the
/// candidate is the text after `a=` up to CR, LF or a backslash. `a=end-of-candidates` (with or
/// without an m-line) is [`CandidateFragment::EndOfCandidates`].
pub fn parse_fragment(fragment: &str) -> Result<CandidateFragment, CandidateError> {
    if fragment.len() > MAX_FRAGMENT_BYTES {
        return Err(CandidateError::TooLong);
    }
    let (mid, rest) = match fragment.split_once("m=") {
        Some((_, after)) => {
            let end = after
                .find(|c: char| c.is_whitespace() || c == '\\')
                .unwrap_or(after.len());
            let (mid, rest) = after.split_at_checked(end).unwrap_or((after, ""));
            (Some(mid), rest)
        }
        None => (None, fragment),
    };
    let (_, attr) = rest
        .split_once("a=")
        .ok_or(CandidateError::MissingAttribute)?;
    let attr = attr.split(is_line_break).next().unwrap_or("");
    if attr == "end-of-candidates" {
        return Ok(CandidateFragment::EndOfCandidates);
    }
    if !attr.starts_with("candidate:") {
        return Err(CandidateError::NotACandidate);
    }
    if attr.len() > MAX_CANDIDATE_LEN {
        return Err(CandidateError::TooLong);
    }
    let mid = mid.ok_or(CandidateError::MissingMid)?;
    if !valid_mid(mid) {
        return Err(CandidateError::BadMid);
    }
    Ok(CandidateFragment::Candidate {
        sdp_mid: mid.to_owned(),
        candidate_line: attr.to_owned(),
    })
}

/// Outbound filter of §7.4: TCP candidates are never sent and IPv6 **host** candidates are
/// dropped (the SDK never sets `allowIPv6`). Lines that do not parse as candidates are not sent
/// either. Accepts the line with or without a leading `a=`.
pub fn should_send_candidate(candidate_line: &str) -> bool {
    let line = candidate_line.trim();
    let line = line.strip_prefix("a=").unwrap_or(line);
    let Some(body) = line.strip_prefix("candidate:") else {
        return false;
    };
    let mut tokens = body.split_ascii_whitespace();
    let (Some(_foundation), Some(_component), Some(transport), Some(_priority), Some(address)) = (
        tokens.next(),
        tokens.next(),
        tokens.next(),
        tokens.next(),
        tokens.next(),
    ) else {
        return false;
    };
    let (Some(_port), Some("typ"), Some(kind)) = (tokens.next(), tokens.next(), tokens.next())
    else {
        return false;
    };
    if transport.eq_ignore_ascii_case("tcp") {
        return false;
    }
    let ipv6 = address.contains(':');
    !(ipv6 && kind.eq_ignore_ascii_case("host"))
}

// ---------------------------------------------------------------------------------------------
// Envelope and methods
// ---------------------------------------------------------------------------------------------

/// A JSON-RPC method with its typed `params` (§7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `offer` (server → client).
    Offer {
        /// `sessionId`.
        session_id: SessionId,
        /// `conversationId` (absent or empty → `None`).
        conversation_id: Option<ConversationId>,
        /// `sdp`: the full offer.
        sdp: SdpText,
        /// `reinvite` (JS truthiness; absent → false).
        reinvite: bool,
    },
    /// `answer` (client → server).
    Answer {
        /// `sessionId`.
        session_id: SessionId,
        /// `sdp`: the full answer.
        sdp: SdpText,
    },
    /// `iceCandidate` (both ways).
    IceCandidate {
        /// `sessionId`.
        session_id: SessionId,
        /// `sdp`: the fragment.
        candidate: CandidateFragment,
    },
    /// `info` (client → server), `status:"active"` when ICE connects.
    Info {
        /// `sessionId`.
        session_id: SessionId,
        /// `status`.
        status: String,
    },
    /// `mute` (client → server, video sessions only).
    Mute {
        /// `sessionId`.
        session_id: SessionId,
        /// `type`.
        kind: MediaKind,
    },
    /// `unmute` (client → server, video sessions only).
    Unmute {
        /// `sessionId`.
        session_id: SessionId,
        /// `type`.
        kind: MediaKind,
    },
    /// `terminate` (both ways).
    Terminate {
        /// `sessionId`.
        session_id: SessionId,
        /// `reason` (a condition such as `"success"`; the receiver defaults it to `success`).
        reason: Option<String>,
    },
    /// Any other method; inbound ones are ignored.
    Unknown(String),
}

impl Method {
    /// The JSON-RPC method name.
    pub fn name(&self) -> &str {
        match self {
            Method::Offer { .. } => "offer",
            Method::Answer { .. } => "answer",
            Method::IceCandidate { .. } => "iceCandidate",
            Method::Info { .. } => "info",
            Method::Mute { .. } => "mute",
            Method::Unmute { .. } => "unmute",
            Method::Terminate { .. } => "terminate",
            Method::Unknown(name) => name,
        }
    }

    /// The `sessionId` parameter, for every known method.
    pub fn session_id(&self) -> Option<&SessionId> {
        match self {
            Method::Offer { session_id, .. }
            | Method::Answer { session_id, .. }
            | Method::IceCandidate { session_id, .. }
            | Method::Info { session_id, .. }
            | Method::Mute { session_id, .. }
            | Method::Unmute { session_id, .. }
            | Method::Terminate { session_id, .. } => Some(session_id),
            Method::Unknown(_) => None,
        }
    }
}

/// One inbound `genesys-webrtc` IQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesysRpc {
    /// The XMPP IQ `id`.
    pub iq_id: String,
    /// The IQ `from` (the session peer).
    pub from: Option<String>,
    /// The JSON-RPC `id` (numbers are kept in their decimal text form; absent/null → `None`).
    pub json_id: Option<String>,
    /// The method and its parameters.
    pub method: Method,
}

/// Reads the `genesys-webrtc` JSON-RPC of `iq`.
///
/// `None` when `iq` is not an `<iq>` or has no `<genesys-webrtc xmlns="genesys">` child (a
/// `<media-message xmlns="genesys">` is not one). `Some(Err)` when it has one but it is unusable.
pub fn parse_genesys_iq(iq: &Element) -> Option<Result<GenesysRpc, RpcError>> {
    if iq.name != "iq" {
        return None;
    }
    let body = iq.child(ELEMENT, ns::GENESYS)?;
    Some(parse_envelope(iq, body))
}

fn parse_envelope(iq: &Element, body: &Element) -> Result<GenesysRpc, RpcError> {
    if iq.attr("type") != Some("set") {
        return Err(RpcError::NotASet);
    }
    let iq_id = match iq.attr("id") {
        Some(id) if !id.is_empty() && id.len() <= MAX_ID_LEN => id.to_owned(),
        _ => return Err(RpcError::BadIqId),
    };
    let from = match iq.attr("from") {
        Some(f) if f.len() > MAX_FIELD_LEN => return Err(RpcError::FromTooLong),
        f => f.map(str::to_owned),
    };
    let text = body.text();
    let (json_id, method) = parse_json(&text)?;
    Ok(GenesysRpc {
        iq_id,
        from,
        json_id,
        method,
    })
}

/// Parses the JSON-RPC text of a `genesys-webrtc` element into its `id` and method.
pub fn parse_json(text: &str) -> Result<(Option<String>, Method), RpcError> {
    if text.len() > MAX_JSON_BYTES {
        return Err(RpcError::JsonTooLarge);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| RpcError::Json {
        kind: match e.classify() {
            serde_json::error::Category::Syntax => JsonErrorKind::Syntax,
            serde_json::error::Category::Eof => JsonErrorKind::Eof,
            serde_json::error::Category::Data => JsonErrorKind::Data,
            serde_json::error::Category::Io => JsonErrorKind::Io,
        },
        line: e.line(),
        column: e.column(),
    })?;
    let Value::Object(root) = value else {
        return Err(RpcError::NotAnObject);
    };
    let json_id = match root.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() > MAX_FIELD_LEN => {
            return Err(RpcError::FieldTooLong { field: "id" })
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(RpcError::InvalidField { field: "id" }),
    };
    let name = str_member(&root, "method")?.ok_or(RpcError::MissingField { field: "method" })?;
    if name.len() > MAX_METHOD_LEN {
        return Err(RpcError::FieldTooLong { field: "method" });
    }
    let known = matches!(
        name,
        "offer" | "answer" | "iceCandidate" | "info" | "mute" | "unmute" | "terminate"
    );
    if !known {
        return Ok((json_id, Method::Unknown(name.to_owned())));
    }
    let params = match root.get("params") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => return Err(RpcError::MissingField { field: "params" }),
        Some(_) => return Err(RpcError::NotAnObject),
    };
    let session_id =
        str_member(params, "sessionId")?.ok_or(RpcError::MissingField { field: "sessionId" })?;
    let session_id = SessionId::new(session_id).map_err(RpcError::SessionId)?;
    let method = match name {
        "offer" => Method::Offer {
            session_id,
            conversation_id: match str_member(params, "conversationId")? {
                None | Some("") => None,
                Some(c) => Some(ConversationId::new(c).map_err(RpcError::ConversationId)?),
            },
            sdp: sdp_member(params)?,
            reinvite: params.get("reinvite").is_some_and(js_truthy),
        },
        "answer" => Method::Answer {
            session_id,
            sdp: sdp_member(params)?,
        },
        "iceCandidate" => {
            let fragment =
                str_member(params, "sdp")?.ok_or(RpcError::MissingField { field: "sdp" })?;
            Method::IceCandidate {
                session_id,
                candidate: parse_fragment(fragment)?,
            }
        }
        "info" => Method::Info {
            session_id,
            status: bounded_member(params, "status")?
                .ok_or(RpcError::MissingField { field: "status" })?,
        },
        "mute" | "unmute" => {
            let kind = match str_member(params, "type")? {
                Some("audio") => MediaKind::Audio,
                Some("video") => MediaKind::Video,
                Some(_) => return Err(RpcError::InvalidField { field: "type" }),
                None => return Err(RpcError::MissingField { field: "type" }),
            };
            if name == "mute" {
                Method::Mute { session_id, kind }
            } else {
                Method::Unmute { session_id, kind }
            }
        }
        _ => Method::Terminate {
            session_id,
            reason: bounded_member(params, "reason")?.filter(|r| !r.is_empty()),
        },
    };
    Ok((json_id, method))
}

/// A string member: `Ok(None)` when absent or null, `Err` for another type.
fn str_member<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, RpcError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(RpcError::InvalidField { field }),
    }
}

fn bounded_member(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, RpcError> {
    match str_member(obj, field)? {
        Some(s) if s.len() > MAX_FIELD_LEN => Err(RpcError::FieldTooLong { field }),
        s => Ok(s.map(str::to_owned)),
    }
}

fn sdp_member(obj: &Map<String, Value>) -> Result<SdpText, RpcError> {
    let sdp = str_member(obj, "sdp")?.ok_or(RpcError::MissingField { field: "sdp" })?;
    if sdp.len() > MAX_SDP_BYTES {
        return Err(RpcError::SdpTooLarge);
    }
    SdpText::new(sdp)
}

/// JavaScript truthiness (the reference client tests `if (params.reinvite)`).
fn js_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

#[derive(Serialize)]
struct Envelope<'a, P: Serialize> {
    jsonrpc: &'static str,
    id: &'a str,
    method: &'a str,
    params: P,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Params<'a> {
    session_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sdp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reinvite: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl<'a> Params<'a> {
    fn session(session_id: &'a SessionId) -> Self {
        Params {
            session_id: session_id.as_str(),
            conversation_id: None,
            sdp: None,
            reinvite: None,
            status: None,
            kind: None,
            reason: None,
        }
    }
}

#[derive(Serialize)]
struct NoParams {}

/// The JSON-RPC text for `method` with JSON `id` `json_id`:
/// `{"jsonrpc":"2.0","id":…,"method":…,"params":{…}}`, params named as in §7.2.
pub fn rpc_json(json_id: &str, method: &Method) -> String {
    let fragment;
    let params = match method {
        Method::Offer {
            session_id,
            conversation_id,
            sdp,
            reinvite,
        } => Some(Params {
            conversation_id: conversation_id.as_ref().map(ConversationId::as_str),
            sdp: Some(sdp.as_str()),
            reinvite: Some(*reinvite),
            ..Params::session(session_id)
        }),
        Method::Answer { session_id, sdp } => Some(Params {
            sdp: Some(sdp.as_str()),
            ..Params::session(session_id)
        }),
        Method::IceCandidate {
            session_id,
            candidate,
        } => {
            fragment = candidate.to_fragment();
            Some(Params {
                sdp: Some(&fragment),
                ..Params::session(session_id)
            })
        }
        Method::Info { session_id, status } => Some(Params {
            status: Some(status),
            ..Params::session(session_id)
        }),
        Method::Mute { session_id, kind } | Method::Unmute { session_id, kind } => Some(Params {
            kind: Some(kind.as_str()),
            ..Params::session(session_id)
        }),
        Method::Terminate { session_id, reason } => Some(Params {
            reason: reason.as_deref(),
            ..Params::session(session_id)
        }),
        Method::Unknown(_) => None,
    };
    let result = match params {
        Some(params) => serde_json::to_string(&Envelope {
            jsonrpc: "2.0",
            id: json_id,
            method: method.name(),
            params,
        }),
        None => serde_json::to_string(&Envelope {
            jsonrpc: "2.0",
            id: json_id,
            method: method.name(),
            params: NoParams {},
        }),
    };
    // Only strings, bools and derived structs are serialized: serde_json cannot fail on them.
    result.expect("serializing plain strings and bools cannot fail")
}

/// `<iq type="set" id from to><genesys-webrtc xmlns="genesys">{JSON-RPC}</genesys-webrtc></iq>`
/// (§7.1). `iq_id` and `json_id` should be independent fresh UUIDs; `from` is our full JID and
/// `to` the session peer (the `from` of its offer).
pub fn build_rpc_iq(
    iq_id: &str,
    from_full_jid: &str,
    to: &str,
    json_id: &str,
    method: &Method,
) -> Element {
    Element::new("iq", ns::CLIENT)
        .with_attr("type", "set")
        .with_attr("id", iq_id)
        .with_attr("from", from_full_jid)
        .with_attr("to", to)
        .with_child(Element::new(ELEMENT, ns::GENESYS).with_text(rpc_json(json_id, method)))
}

// ---------------------------------------------------------------------------------------------
// Offer handling helpers (§7.3)
// ---------------------------------------------------------------------------------------------

/// The value of the first `a=<name>:` line of `sdp`.
fn first_attribute<'a>(sdp: &'a str, name: &str) -> Option<&'a str> {
    sdp.split('\n').find_map(|line| {
        line.trim_end_matches('\r')
            .strip_prefix("a=")?
            .strip_prefix(name)?
            .strip_prefix(':')
            .map(str::trim)
    })
}

/// The ICE credentials of `sdp`: the first `a=ice-ufrag` and the first `a=ice-pwd`, if both
/// are present.
pub fn ice_credentials(sdp: &str) -> Option<(&str, &str)> {
    Some((
        first_attribute(sdp, "ice-ufrag")?,
        first_attribute(sdp, "ice-pwd")?,
    ))
}

/// Whether an offer for a live session is a **renegotiation** (same first `a=ice-ufrag` and
/// `a=ice-pwd` as the current remote description → same peer connection, answer at once) rather
/// than a **reinvite** (credentials changed → new peer connection). §7.3 step 3, common mistake 9.
pub fn is_renegotiation(current_remote_sdp: &str, new_sdp: &str) -> bool {
    first_attribute(current_remote_sdp, "ice-ufrag") == first_attribute(new_sdp, "ice-ufrag")
        && first_attribute(current_remote_sdp, "ice-pwd") == first_attribute(new_sdp, "ice-pwd")
}

/// The last [`REINVITE_CACHE_SIZE`] reinvite JSON ids, each remembered for
/// [`REINVITE_CACHE_TTL`] (the gateway repeats a reinvite until it is answered).
#[derive(Debug, Clone, Default)]
pub struct ReinviteCache {
    /// Least recently used first.
    entries: VecDeque<(String, Instant)>,
}

impl ReinviteCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// `true` if `json_id` was seen within the TTL (the reinvite is a repeat: drop it);
    /// otherwise remembers it and returns `false`. A hit refreshes recency but not age.
    pub fn seen_or_insert(&mut self, json_id: &str, now: Instant) -> bool {
        self.entries
            .retain(|(_, at)| now.saturating_duration_since(*at) < REINVITE_CACHE_TTL);
        if let Some(pos) = self.entries.iter().position(|(id, _)| id == json_id) {
            if let Some(hit) = self.entries.remove(pos) {
                self.entries.push_back(hit);
            }
            return true;
        }
        self.entries.push_back((json_id.to_owned(), now));
        while self.entries.len() > REINVITE_CACHE_SIZE {
            self.entries.pop_front();
        }
        false
    }

    /// Step 1 of §7.3 for a whole RPC: `true` when it is a reinvite `offer` whose JSON id was
    /// already seen (ignore it). Non-reinvites and offers without a JSON id are never dropped.
    pub fn is_repeated_reinvite(&mut self, rpc: &GenesysRpc, now: Instant) -> bool {
        match (&rpc.method, &rpc.json_id) {
            (Method::Offer { reinvite: true, .. }, Some(id)) => self.seen_or_insert(id, now),
            _ => false,
        }
    }

    /// Ids currently remembered (expired ones may still count until the next call).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[derive(Debug, Clone)]
struct EarlyEntry {
    session_id: SessionId,
    updated: Instant,
    candidates: Vec<CandidateFragment>,
}

/// Candidates that arrived before the offer of their session (§7.4): up to
/// [`EARLY_CANDIDATE_SESSIONS`] session ids (least recently updated evicted first), each kept
/// [`EARLY_CANDIDATE_TTL`] after its last candidate, at most [`EARLY_CANDIDATES_PER_SESSION`]
/// candidates each.
#[derive(Debug, Clone, Default)]
pub struct EarlyCandidates {
    /// Least recently updated first.
    entries: VecDeque<EarlyEntry>,
}

impl EarlyCandidates {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops sessions whose TTL has run out.
    pub fn expire(&mut self, now: Instant) {
        self.entries
            .retain(|e| now.saturating_duration_since(e.updated) < EARLY_CANDIDATE_TTL);
    }

    /// Buffers `candidate` for `session_id`. Returns `false` when it was dropped because the
    /// session already holds [`EARLY_CANDIDATES_PER_SESSION`] candidates.
    pub fn push(
        &mut self,
        session_id: &SessionId,
        candidate: CandidateFragment,
        now: Instant,
    ) -> bool {
        self.expire(now);
        let mut entry = match self
            .entries
            .iter()
            .position(|e| &e.session_id == session_id)
        {
            Some(pos) => match self.entries.remove(pos) {
                Some(e) => e,
                None => return false,
            },
            None => EarlyEntry {
                session_id: session_id.clone(),
                updated: now,
                candidates: Vec::new(),
            },
        };
        let stored = entry.candidates.len() < EARLY_CANDIDATES_PER_SESSION;
        if stored {
            entry.candidates.push(candidate);
        } else {
            tracing::debug!(session = %session_id, "early ICE candidate dropped: buffer full");
        }
        entry.updated = now;
        self.entries.push_back(entry);
        while self.entries.len() > EARLY_CANDIDATE_SESSIONS {
            self.entries.pop_front();
        }
        stored
    }

    /// Removes and returns the candidates buffered for `session_id` (empty when none or expired),
    /// in arrival order.
    pub fn take(&mut self, session_id: &str, now: Instant) -> Vec<CandidateFragment> {
        self.expire(now);
        match self
            .entries
            .iter()
            .position(|e| e.session_id.as_str() == session_id)
        {
            Some(pos) => self
                .entries
                .remove(pos)
                .map(|e| e.candidates)
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// When the oldest buffered session expires, if any.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.entries
            .iter()
            .map(|e| e.updated + EARLY_CANDIDATE_TTL)
            .min()
    }

    /// Session ids currently buffered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::wire::xml::{parse, XmlLimits};

    const OFFER: &str = r#"<iq xmlns="jabber:client" type="set" id="7f3e01" from="7d2c01@gjoll.example.orgspan.com/gjoll-1" to="alice@example.orgspan.com/3f2b"><genesys-webrtc xmlns="genesys">{"jsonrpc":"2.0","id":"0b6c01","method":"offer","params":{"sessionId":"9b8e2a10-5f4c","conversationId":"c0a8017e-1111","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=ice-ufrag:Zq3r\r\na=ice-pwd:secretpwd\r\n","reinvite":false}}</genesys-webrtc></iq>"#;

    const CANDIDATE_LINE: &str = "candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0 ufrag Zq3r network-id 1";
    const CANDIDATE_FRAGMENT: &str = "m=0 9 RTP/AVP 0\r\na=candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0 ufrag Zq3r network-id 1\r\n";

    fn xml(s: &str) -> Element {
        parse(s, &XmlLimits::default()).unwrap()
    }

    fn sid(s: &str) -> SessionId {
        SessionId::new(s).unwrap()
    }

    fn json_iq(json: &str) -> Element {
        Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", "q1")
            .with_attr("from", "p@gjoll.x/r")
            .with_child(Element::new(ELEMENT, ns::GENESYS).with_text(json))
    }

    fn method_of(json: &str) -> Result<Method, RpcError> {
        parse_genesys_iq(&json_iq(json)).unwrap().map(|r| r.method)
    }

    #[test]
    fn parses_the_protocol_offer_example() {
        let rpc = parse_genesys_iq(&xml(OFFER)).unwrap().unwrap();
        assert_eq!(rpc.iq_id, "7f3e01");
        assert_eq!(
            rpc.from.as_deref(),
            Some("7d2c01@gjoll.example.orgspan.com/gjoll-1")
        );
        assert_eq!(rpc.json_id.as_deref(), Some("0b6c01"));
        let Method::Offer {
            session_id,
            conversation_id,
            sdp,
            reinvite,
        } = rpc.method
        else {
            panic!("not an offer")
        };
        assert_eq!(session_id.as_str(), "9b8e2a10-5f4c");
        assert_eq!(conversation_id.unwrap().as_str(), "c0a8017e-1111");
        assert!(sdp
            .as_str()
            .starts_with("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"));
        assert!(!reinvite);
        assert_eq!(ice_credentials(sdp.as_str()), Some(("Zq3r", "secretpwd")));
        // Debug never shows the SDP.
        assert!(!format!("{sdp:?}").contains("secretpwd"));
    }

    #[test]
    fn none_for_other_iqs() {
        assert!(parse_genesys_iq(&xml(
            r#"<iq type="set" id="1"><ping xmlns="urn:xmpp:ping"/></iq>"#
        ))
        .is_none());
        assert!(parse_genesys_iq(&xml(
            r#"<iq type="set" id="1"><media-message xmlns="genesys">{}</media-message></iq>"#
        ))
        .is_none());
        assert!(parse_genesys_iq(&xml(
            r#"<iq type="set" id="1"><genesys-webrtc xmlns="other">{}</genesys-webrtc></iq>"#
        ))
        .is_none());
        assert!(parse_genesys_iq(&xml(
            r#"<message><genesys-webrtc xmlns="genesys">{}</genesys-webrtc></message>"#
        ))
        .is_none());
    }

    #[test]
    fn envelope_errors() {
        let e = |s: &str| parse_genesys_iq(&xml(s)).unwrap().unwrap_err();
        assert_eq!(
            e(
                r#"<iq type="error" id="1"><genesys-webrtc xmlns="genesys">{}</genesys-webrtc></iq>"#
            ),
            RpcError::NotASet
        );
        assert_eq!(
            e(r#"<iq type="set"><genesys-webrtc xmlns="genesys">{}</genesys-webrtc></iq>"#),
            RpcError::BadIqId
        );
        assert!(matches!(
            method_of("{\"method\":"),
            Err(RpcError::Json {
                kind: JsonErrorKind::Eof,
                ..
            })
        ));
        assert!(matches!(
            method_of("not json"),
            Err(RpcError::Json {
                kind: JsonErrorKind::Syntax,
                ..
            })
        ));
        assert_eq!(method_of("[1]"), Err(RpcError::NotAnObject));
        assert_eq!(
            method_of(r#"{"id":"1"}"#),
            Err(RpcError::MissingField { field: "method" })
        );
        assert_eq!(
            method_of(r#"{"method":5}"#),
            Err(RpcError::InvalidField { field: "method" })
        );
        assert_eq!(
            method_of(r#"{"id":true,"method":"offer"}"#).unwrap_err(),
            RpcError::InvalidField { field: "id" }
        );
        assert_eq!(
            method_of(r#"{"method":"offer"}"#),
            Err(RpcError::MissingField { field: "params" })
        );
        assert_eq!(
            method_of(r#"{"method":"offer","params":{"sdp":"v=0"}}"#),
            Err(RpcError::MissingField { field: "sessionId" })
        );
        assert_eq!(
            method_of(r#"{"method":"offer","params":{"sessionId":"","sdp":"v=0"}}"#),
            Err(RpcError::SessionId(IdError::Empty))
        );
        assert_eq!(
            method_of(r#"{"method":"offer","params":{"sessionId":"s"}}"#),
            Err(RpcError::MissingField { field: "sdp" })
        );
        assert_eq!(
            method_of(r#"{"method":"offer","params":{"sessionId":"s","sdp":7}}"#),
            Err(RpcError::InvalidField { field: "sdp" })
        );
        // Over-long SDP is refused, and the error text does not contain it.
        let big = format!(
            r#"{{"method":"offer","params":{{"sessionId":"s","sdp":"a=ice-pwd:SECRET{}"}}}}"#,
            "x".repeat(MAX_SDP_BYTES)
        );
        let err = method_of(&big).unwrap_err();
        assert_eq!(err, RpcError::SdpTooLarge);
        assert!(!err.to_string().contains("SECRET"));
        // A type error on the SDP does not echo it either (serde's message would).
        let err = method_of(
            r#"{"method":"offer","params":{"sessionId":"s","sdp":"x","reinvite":"SECRET"}}"#,
        );
        assert!(err.is_ok());
        let err =
            parse_json(r#"{"method":"offer","params":{"sessionId":"s","sdp":"a=ice-pwd:SECRET"#)
                .unwrap_err();
        assert!(!err.to_string().contains("SECRET"));
        assert!(!format!("{err:?}").contains("SECRET"));
        let huge = "x".repeat(MAX_JSON_BYTES + 1);
        assert_eq!(parse_json(&huge), Err(RpcError::JsonTooLarge));
        assert_eq!(
            method_of(&format!(
                r#"{{"method":"{}"}}"#,
                "m".repeat(MAX_METHOD_LEN + 1)
            )),
            Err(RpcError::FieldTooLong { field: "method" })
        );
    }

    #[test]
    fn methods() {
        assert_eq!(
            method_of(
                r#"{"jsonrpc":"2.0","id":1,"method":"terminate","params":{"sessionId":"s","reason":"success"}}"#
            ),
            Ok(Method::Terminate {
                session_id: sid("s"),
                reason: Some("success".into())
            })
        );
        assert_eq!(
            method_of(r#"{"method":"terminate","params":{"sessionId":"s"}}"#),
            Ok(Method::Terminate {
                session_id: sid("s"),
                reason: None
            })
        );
        assert_eq!(
            method_of(r#"{"method":"mute","params":{"sessionId":"s","type":"video"}}"#),
            Ok(Method::Mute {
                session_id: sid("s"),
                kind: MediaKind::Video
            })
        );
        assert_eq!(
            method_of(r#"{"method":"unmute","params":{"sessionId":"s","type":"x"}}"#),
            Err(RpcError::InvalidField { field: "type" })
        );
        assert_eq!(
            method_of(r#"{"method":"info","params":{"sessionId":"s","status":"active"}}"#),
            Ok(Method::Info {
                session_id: sid("s"),
                status: "active".into()
            })
        );
        assert_eq!(
            method_of(r#"{"method":"somethingNew","params":7}"#),
            Ok(Method::Unknown("somethingNew".into()))
        );
        let rpc = parse_genesys_iq(&json_iq(r#"{"id":42,"method":"x"}"#))
            .unwrap()
            .unwrap();
        assert_eq!(rpc.json_id.as_deref(), Some("42"));
        let m = method_of(&format!(
            r#"{{"method":"iceCandidate","params":{{"sessionId":"s","sdp":{}}}}}"#,
            serde_json::to_string(CANDIDATE_FRAGMENT).unwrap()
        ))
        .unwrap();
        assert_eq!(
            m,
            Method::IceCandidate {
                session_id: sid("s"),
                candidate: CandidateFragment::Candidate {
                    sdp_mid: "0".into(),
                    candidate_line: CANDIDATE_LINE.into()
                }
            }
        );
        assert!(!format!("{m:?}").contains("192.0.2.10"));
        assert_eq!(
            method_of(
                r#"{"method":"iceCandidate","params":{"sessionId":"s","sdp":"a=end-of-candidates\r\n"}}"#
            ),
            Ok(Method::IceCandidate {
                session_id: sid("s"),
                candidate: CandidateFragment::EndOfCandidates
            })
        );
        assert_eq!(
            method_of(
                r#"{"method":"iceCandidate","params":{"sessionId":"s","sdp":"a=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n"}}"#
            ),
            Err(RpcError::Candidate(CandidateError::MissingMid))
        );
    }

    #[test]
    fn reinvite_truthiness() {
        let r = |v: &str| match method_of(&format!(
            r#"{{"method":"offer","params":{{"sessionId":"s","sdp":"v=0","reinvite":{v}}}}}"#
        ))
        .unwrap()
        {
            Method::Offer { reinvite, .. } => reinvite,
            _ => panic!(),
        };
        assert!(r("true"));
        assert!(!r("false"));
        assert!(!r("null"));
        assert!(r("1"));
        assert!(!r("0"));
        assert!(r("\"yes\""));
        assert!(!r("\"\""));
    }

    #[test]
    fn candidate_fragments_exactly() {
        let c = CandidateFragment::new("0", CANDIDATE_LINE).unwrap();
        assert_eq!(c.to_fragment(), CANDIDATE_FRAGMENT);
        assert_eq!(parse_fragment(CANDIDATE_FRAGMENT), Ok(c.clone()));
        assert_eq!(
            CandidateFragment::EndOfCandidates.to_fragment(),
            "a=end-of-candidates\r\n"
        );
        assert_eq!(
            parse_fragment("a=end-of-candidates\r\n"),
            Ok(CandidateFragment::EndOfCandidates)
        );
        assert_eq!(
            parse_fragment("m=0 9 RTP/AVP 0\r\na=end-of-candidates\r\n"),
            Ok(CandidateFragment::EndOfCandidates)
        );
        // `a=` prefix and line endings stripped from local lines.
        assert_eq!(
            CandidateFragment::new("0", &format!("a={CANDIDATE_LINE}\r\n")),
            Ok(c.clone())
        );
        // The mid is whatever token follows m=, never the media kind we might guess.
        let audio =
            parse_fragment("m=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n")
                .unwrap();
        assert!(
            matches!(audio, CandidateFragment::Candidate { ref sdp_mid, .. } if sdp_mid == "audio")
        );
        // Escaped line breaks (literal backslash sequences) end the candidate too.
        let escaped =
            parse_fragment(r"m=1 9 RTP/AVP 0\r\na=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n")
                .unwrap();
        assert_eq!(
            escaped,
            CandidateFragment::Candidate {
                sdp_mid: "1".into(),
                candidate_line: "candidate:1 1 udp 1 1.2.3.4 5 typ host".into()
            }
        );
        // LF only.
        assert!(
            parse_fragment("m=0 9 RTP/AVP 0\na=candidate:1 1 udp 1 1.2.3.4 5 typ host\n").is_ok()
        );
        assert_eq!(parse_fragment(""), Err(CandidateError::MissingAttribute));
        assert_eq!(
            parse_fragment("m=0 9 RTP/AVP 0\r\n"),
            Err(CandidateError::MissingAttribute)
        );
        assert_eq!(
            parse_fragment("m=0 9 RTP/AVP 0\r\na=mid:0\r\n"),
            Err(CandidateError::NotACandidate)
        );
        assert_eq!(
            parse_fragment("m= 9\r\na=candidate:1\r\n"),
            Err(CandidateError::BadMid)
        );
        assert_eq!(
            parse_fragment(&"x".repeat(MAX_FRAGMENT_BYTES + 1)),
            Err(CandidateError::TooLong)
        );
        assert_eq!(
            CandidateFragment::new("a b", CANDIDATE_LINE),
            Err(CandidateError::BadMid)
        );
        assert_eq!(
            CandidateFragment::new("0", "mid:0"),
            Err(CandidateError::NotACandidate)
        );
        assert_eq!(
            CandidateFragment::new("0", "candidate:1\r\nx"),
            Err(CandidateError::NotACandidate)
        );
    }

    #[test]
    fn outbound_candidate_filter() {
        // Chrome-style lines (addresses from documentation ranges).
        let keep = [
            CANDIDATE_LINE,
            "a=candidate:842163049 1 udp 1677729535 198.51.100.7 61203 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag Zq3r network-cost 999",
            "candidate:3885250869 1 udp 1677729535 2001:db8::7 52114 typ srflx raddr :: rport 0 generation 0 ufrag Zq3r network-id 2",
            "candidate:1 1 udp 41885439 203.0.113.9 3478 typ relay raddr 198.51.100.7 rport 61203 generation 0",
            "candidate:2 1 udp 2122194687 5f1b2c3d-0000-4000-8000-000000000000.local 51000 typ host generation 0",
        ];
        for line in keep {
            assert!(should_send_candidate(line), "{line}");
        }
        let drop = [
            "candidate:3021374715 1 tcp 1518280447 192.0.2.10 9 typ host tcptype active generation 0 ufrag Zq3r network-id 1",
            "candidate:1 1 TCP 1518280447 198.51.100.7 9 typ srflx raddr 0.0.0.0 rport 0 tcptype passive",
            "candidate:2999745851 1 udp 2122129151 2001:db8::10 53421 typ host generation 0 ufrag Zq3r network-id 2",
            "candidate:1 1 udp 2122129151 fe80::1 53421 typ host",
            "a=end-of-candidates",
            "candidate:1 1 udp",
            "",
            "garbage",
        ];
        for line in drop {
            assert!(!should_send_candidate(line), "{line}");
        }
    }

    #[test]
    fn builds_rpc_iqs_exactly() {
        let el = build_rpc_iq(
            "iq-1",
            "alice@example.orgspan.com/3f2b",
            "7d2c@gjoll.x/gjoll-1",
            "j-1",
            &Method::IceCandidate {
                session_id: sid("9b8e2a10"),
                candidate: CandidateFragment::new("0", CANDIDATE_LINE).unwrap(),
            },
        );
        assert_eq!(el.attr("type"), Some("set"));
        assert_eq!(el.attr("id"), Some("iq-1"));
        assert_eq!(el.attr("from"), Some("alice@example.orgspan.com/3f2b"));
        assert_eq!(el.attr("to"), Some("7d2c@gjoll.x/gjoll-1"));
        let body = el.child(ELEMENT, ns::GENESYS).unwrap().text();
        assert_eq!(
            body,
            r#"{"jsonrpc":"2.0","id":"j-1","method":"iceCandidate","params":{"sessionId":"9b8e2a10","sdp":"m=0 9 RTP/AVP 0\r\na=candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0 ufrag Zq3r network-id 1\r\n"}}"#
        );
        let s = sid("s");
        let cases = [
            (
                Method::Answer {
                    session_id: s.clone(),
                    sdp: SdpText::new("v=0\r\n").unwrap(),
                },
                r#"{"jsonrpc":"2.0","id":"j","method":"answer","params":{"sessionId":"s","sdp":"v=0\r\n"}}"#,
            ),
            (
                Method::IceCandidate {
                    session_id: s.clone(),
                    candidate: CandidateFragment::EndOfCandidates,
                },
                r#"{"jsonrpc":"2.0","id":"j","method":"iceCandidate","params":{"sessionId":"s","sdp":"a=end-of-candidates\r\n"}}"#,
            ),
            (
                Method::Info {
                    session_id: s.clone(),
                    status: "active".into(),
                },
                r#"{"jsonrpc":"2.0","id":"j","method":"info","params":{"sessionId":"s","status":"active"}}"#,
            ),
            (
                Method::Mute {
                    session_id: s.clone(),
                    kind: MediaKind::Audio,
                },
                r#"{"jsonrpc":"2.0","id":"j","method":"mute","params":{"sessionId":"s","type":"audio"}}"#,
            ),
            (
                Method::Unmute {
                    session_id: s.clone(),
                    kind: MediaKind::Video,
                },
                r#"{"jsonrpc":"2.0","id":"j","method":"unmute","params":{"sessionId":"s","type":"video"}}"#,
            ),
            (
                Method::Terminate {
                    session_id: s.clone(),
                    reason: Some("success".into()),
                },
                r#"{"jsonrpc":"2.0","id":"j","method":"terminate","params":{"sessionId":"s","reason":"success"}}"#,
            ),
            (
                Method::Offer {
                    session_id: s.clone(),
                    conversation_id: Some(ConversationId::new("c").unwrap()),
                    sdp: SdpText::new("v=0").unwrap(),
                    reinvite: false,
                },
                r#"{"jsonrpc":"2.0","id":"j","method":"offer","params":{"sessionId":"s","conversationId":"c","sdp":"v=0","reinvite":false}}"#,
            ),
            (
                Method::Unknown("ping".into()),
                r#"{"jsonrpc":"2.0","id":"j","method":"ping","params":{}}"#,
            ),
        ];
        for (method, want) in cases {
            assert_eq!(rpc_json("j", &method), want);
            // Everything we build parses back to the same method.
            let el = build_rpc_iq("i", "a@b/c", "d@e/f", "j", &method);
            let back = parse_genesys_iq(&xml(&el.to_xml())).unwrap().unwrap();
            assert_eq!(back.method, method);
            assert_eq!(back.json_id.as_deref(), Some("j"));
        }
    }

    #[test]
    fn ice_credentials_and_renegotiation() {
        let a = "v=0\r\na=ice-ufrag:u1\r\na=ice-pwd:p1\r\nm=audio\r\na=ice-ufrag:u2\r\na=ice-pwd:p2\r\n";
        assert_eq!(ice_credentials(a), Some(("u1", "p1")));
        assert_eq!(ice_credentials("v=0\na=ice-ufrag:x\n"), None);
        let same = "v=0\r\no=- 2 3 IN IP4 0.0.0.0\r\na=ice-ufrag:u1\r\na=ice-pwd:p1\r\n";
        let other = "v=0\r\na=ice-ufrag:u9\r\na=ice-pwd:p1\r\n";
        assert!(is_renegotiation(a, same));
        assert!(!is_renegotiation(a, other));
        assert!(!is_renegotiation(a, "v=0\r\n"));
    }

    #[test]
    fn reinvite_cache_limits_and_ttl() {
        let t0 = Instant::now();
        let mut c = ReinviteCache::new();
        assert!(!c.seen_or_insert("a", t0));
        assert!(c.seen_or_insert("a", t0 + Duration::from_secs(10)));
        // Age is not refreshed by hits: gone 3 minutes after the first insert.
        assert!(!c.seen_or_insert("a", t0 + REINVITE_CACHE_TTL));
        // Only the last 5 are remembered.
        let t1 = t0 + Duration::from_secs(500);
        let mut c = ReinviteCache::new();
        for i in 0..6 {
            assert!(!c.seen_or_insert(&format!("id{i}"), t1));
        }
        assert_eq!(c.len(), REINVITE_CACHE_SIZE);
        assert!(!c.seen_or_insert("id0", t1));
        assert!(c.seen_or_insert("id5", t1));
        // Whole-RPC helper: only reinvite offers with a JSON id are deduplicated.
        let mut c = ReinviteCache::new();
        let offer = |reinvite, id: Option<&str>| GenesysRpc {
            iq_id: "q".into(),
            from: None,
            json_id: id.map(Into::into),
            method: Method::Offer {
                session_id: sid("s"),
                conversation_id: None,
                sdp: SdpText::new("v=0").unwrap(),
                reinvite,
            },
        };
        assert!(!c.is_repeated_reinvite(&offer(true, Some("j")), t0));
        assert!(c.is_repeated_reinvite(&offer(true, Some("j")), t0));
        assert!(!c.is_repeated_reinvite(&offer(false, Some("k")), t0));
        assert!(!c.is_repeated_reinvite(&offer(false, Some("k")), t0));
        assert!(!c.is_repeated_reinvite(&offer(true, None), t0));
        assert!(!c.is_repeated_reinvite(&offer(true, None), t0));
    }

    #[test]
    fn early_candidates_limits_and_ttl() {
        let t0 = Instant::now();
        let cand = |i: usize| {
            CandidateFragment::new(
                "0",
                &format!("candidate:{i} 1 udp 1 192.0.2.1 {i} typ host"),
            )
            .unwrap()
        };
        let mut b = EarlyCandidates::new();
        assert!(b.push(&sid("s1"), cand(1), t0));
        assert!(b.push(&sid("s1"), CandidateFragment::EndOfCandidates, t0));
        assert_eq!(
            b.take("s1", t0 + Duration::from_secs(59)),
            vec![cand(1), CandidateFragment::EndOfCandidates]
        );
        assert!(b.take("s1", t0).is_empty());
        // TTL runs from the last push.
        b.push(&sid("s2"), cand(1), t0);
        b.push(&sid("s2"), cand(2), t0 + Duration::from_secs(30));
        assert_eq!(b.next_expiry(), Some(t0 + Duration::from_secs(90)));
        assert_eq!(b.take("s2", t0 + Duration::from_secs(89)).len(), 2);
        b.push(&sid("s3"), cand(1), t0);
        assert!(b.take("s3", t0 + EARLY_CANDIDATE_TTL).is_empty());
        // Per-session bound.
        let mut b = EarlyCandidates::new();
        for i in 0..EARLY_CANDIDATES_PER_SESSION {
            assert!(b.push(&sid("s"), cand(i), t0));
        }
        assert!(!b.push(&sid("s"), cand(999), t0));
        let got = b.take("s", t0);
        assert_eq!(got.len(), EARLY_CANDIDATES_PER_SESSION);
        assert_eq!(got[0], cand(0));
        // Session bound: the least recently updated session goes first.
        let mut b = EarlyCandidates::new();
        for i in 0..EARLY_CANDIDATE_SESSIONS {
            b.push(&sid(&format!("s{i}")), cand(i), t0);
        }
        b.push(&sid("s0"), cand(100), t0);
        b.push(&sid("new"), cand(1), t0);
        assert_eq!(b.len(), EARLY_CANDIDATE_SESSIONS);
        assert!(b.take("s1", t0).is_empty());
        assert_eq!(b.take("s0", t0).len(), 2);
        assert_eq!(b.take("new", t0).len(), 1);
        b.expire(t0 + EARLY_CANDIDATE_TTL);
        assert!(b.is_empty());
    }

    #[test]
    fn every_truncation_never_panics() {
        assert!(parse_genesys_iq(&xml(OFFER)).unwrap().is_ok());
        for cut in 0..OFFER.len() {
            let Some(prefix) = OFFER.get(..cut) else {
                continue;
            };
            if let Ok(el) = parse(prefix, &XmlLimits::default()) {
                let _ = parse_genesys_iq(&el);
            }
        }
        // Every truncation of the JSON text is an error, never a panic.
        let json = xml(OFFER).child(ELEMENT, ns::GENESYS).unwrap().text();
        for cut in 0..json.len() {
            let Some(prefix) = json.get(..cut) else {
                continue;
            };
            assert!(
                parse_genesys_iq(&json_iq(prefix)).unwrap().is_err(),
                "{cut}"
            );
        }
        for cut in 0..CANDIDATE_FRAGMENT.len() {
            let Some(prefix) = CANDIDATE_FRAGMENT.get(..cut) else {
                continue;
            };
            let _ = parse_fragment(prefix);
            let _ = should_send_candidate(prefix);
            let _ = ice_credentials(prefix);
        }
    }

    proptest::proptest! {
        #[test]
        fn random_fragments_never_panic(s in "\\PC{0,200}") {
            let _ = parse_fragment(&s);
            let _ = should_send_candidate(&s);
            let _ = ice_credentials(&s);
        }

        #[test]
        fn sdpish_fragments_never_panic(s in "[am=0-9 .:\\\\\r\nRTPAV/a-z-]{0,120}") {
            let _ = parse_fragment(&s);
            let _ = should_send_candidate(&s);
        }

        #[test]
        fn random_json_never_panics(s in "[{}\\[\\]\":,a-zA-Z0-9 .\\\\-]{0,200}") {
            let _ = parse_genesys_iq(&json_iq(&s));
        }

        #[test]
        fn random_params_never_panic(
            method in "(offer|answer|iceCandidate|info|mute|unmute|terminate|x)",
            sid in "\\PC{0,20}",
            sdp in "\\PC{0,60}",
            extra in "(true|false|null|1|\"audio\"|\"video\"|\\{\\}|\\[\\])",
        ) {
            let json = serde_json::json!({
                "jsonrpc": "2.0", "id": "j", "method": method,
                "params": {"sessionId": sid, "sdp": sdp, "reinvite": extra.clone(), "type": extra, "status": "s"}
            });
            let _ = parse_genesys_iq(&json_iq(&json.to_string()));
        }

        #[test]
        fn candidate_round_trip(
            mid in "[a-z0-9]{1,8}",
            rest in "[ -\\[\\]-~]{0,100}",
        ) {
            if let Ok(c) = CandidateFragment::new(&mid, &format!("candidate:{rest}")) {
                proptest::prop_assert_eq!(parse_fragment(&c.to_fragment()), Ok(c));
            }
        }
    }
}
