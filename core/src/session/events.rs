//! Session-level data the SDK hands to the application: pending sessions (JS `pendingSession`),
//! sessions (JS `sessionStarted`/`sessionEnded`), per-session events (JS session `terminated`,
//! `connectionState`, `endOfCandidates`) and their reasons.

pub use crate::media::rtc::SelectedPath;
use crate::options::SessionType;

/// An incoming call or invitation waiting for the app (JS `pendingSession`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSession {
    /// Session id (the JMI propose id; JS `id`/`sessionId`).
    pub id: String,
    /// Who is calling: the propose `from` JID (JS `address`).
    pub address: String,
    /// Genesys conversation id (JS `conversationId`).
    pub conversation_id: String,
    /// The server asked for auto-answer (JS `autoAnswer`).
    pub auto_answer: bool,
    /// Kind of session (JS `sessionType`).
    pub session_type: SessionType,
    /// The original room JID (`inin-ofrom`).
    pub original_room_jid: String,
    /// The initiating user (`inin-user-id`), when given.
    pub from_user_id: Option<String>,
}

/// How the session's SDP travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegotiationMode {
    /// JSON-RPC `genesys-webrtc` IQs (PROTOCOL.md §7).
    SdpOverXmpp,
    /// Classic Jingle (PROTOCOL.md §8).
    Jingle,
}

/// A media session (the JS session object, as data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session id.
    pub id: String,
    /// Conversation id.
    pub conversation_id: String,
    /// Kind of session.
    pub session_type: SessionType,
    /// The peer's JID.
    pub peer: String,
    /// How SDP travels.
    pub mode: NegotiationMode,
    /// Whether this replaces an older session of the same conversation (a reinvite).
    pub reinvite: bool,
}

/// Why a session ended (XEP-0166 reasons, PROTOCOL.md §8.6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TerminateReason {
    /// `alternative-session`
    AlternativeSession,
    /// `busy`
    Busy,
    /// `cancel`
    Cancel,
    /// `connectivity-error`
    ConnectivityError,
    /// `decline`
    Decline,
    /// `expired`
    Expired,
    /// `failed-application`
    FailedApplication,
    /// `failed-transport`
    FailedTransport,
    /// `general-error`
    GeneralError,
    /// `gone`
    Gone,
    /// `incompatible-parameters`
    IncompatibleParameters,
    /// `media-error`
    MediaError,
    /// `security-error`
    SecurityError,
    /// `success` (the normal hang-up)
    Success,
    /// `timeout`
    Timeout,
    /// `unsupported-applications`
    UnsupportedApplications,
    /// `unsupported-transports`
    UnsupportedTransports,
    /// A condition outside the XEP-0166 list, kept as sent.
    Other(String),
}

impl TerminateReason {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            TerminateReason::AlternativeSession => "alternative-session",
            TerminateReason::Busy => "busy",
            TerminateReason::Cancel => "cancel",
            TerminateReason::ConnectivityError => "connectivity-error",
            TerminateReason::Decline => "decline",
            TerminateReason::Expired => "expired",
            TerminateReason::FailedApplication => "failed-application",
            TerminateReason::FailedTransport => "failed-transport",
            TerminateReason::GeneralError => "general-error",
            TerminateReason::Gone => "gone",
            TerminateReason::IncompatibleParameters => "incompatible-parameters",
            TerminateReason::MediaError => "media-error",
            TerminateReason::SecurityError => "security-error",
            TerminateReason::Success => "success",
            TerminateReason::Timeout => "timeout",
            TerminateReason::UnsupportedApplications => "unsupported-applications",
            TerminateReason::UnsupportedTransports => "unsupported-transports",
            TerminateReason::Other(s) => s,
        }
    }

    /// Parses a wire string (unknown ones are kept in [`TerminateReason::Other`], cut to 64
    /// characters).
    pub fn parse(s: &str) -> TerminateReason {
        match s {
            "alternative-session" => TerminateReason::AlternativeSession,
            "busy" => TerminateReason::Busy,
            "cancel" => TerminateReason::Cancel,
            "connectivity-error" => TerminateReason::ConnectivityError,
            "decline" => TerminateReason::Decline,
            "expired" => TerminateReason::Expired,
            "failed-application" => TerminateReason::FailedApplication,
            "failed-transport" => TerminateReason::FailedTransport,
            "general-error" => TerminateReason::GeneralError,
            "gone" => TerminateReason::Gone,
            "incompatible-parameters" => TerminateReason::IncompatibleParameters,
            "media-error" => TerminateReason::MediaError,
            "security-error" => TerminateReason::SecurityError,
            "success" => TerminateReason::Success,
            "timeout" => TerminateReason::Timeout,
            "unsupported-applications" => TerminateReason::UnsupportedApplications,
            "unsupported-transports" => TerminateReason::UnsupportedTransports,
            other => TerminateReason::Other(other.chars().take(64).collect()),
        }
    }
}

/// The session's connection state (JS `connectionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Before ICE starts.
    Starting,
    /// ICE checking.
    Connecting,
    /// Media connected (ICE + DTLS).
    Connected,
    /// ICE disconnected while signaling is stable (Jingle mode's `interrupted`).
    Interrupted,
    /// Disconnected.
    Disconnected,
    /// Failed.
    Failed,
    /// Closed.
    Closed,
}

/// Call statistics of a session.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct CallStats {
    /// Round-trip time in milliseconds, when known.
    pub rtt_ms: Option<f64>,
    /// Interarrival jitter of received audio in milliseconds.
    pub jitter_ms: f64,
    /// Fraction of received packets lost (0.0–1.0).
    pub loss: f64,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP packets received.
    pub packets_received: u64,
    /// Frames concealed by the jitter buffer (lost or late, and not rebuilt from FEC).
    pub concealed: u64,
    /// Lost Opus frames rebuilt from the in-band FEC of the packet after them.
    pub fec_recovered: u64,
}

/// An event of one session (the JS session object's events).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The session ended (JS `terminated`).
    Terminated {
        /// Why.
        reason: TerminateReason,
    },
    /// Connection state changed (JS `connectionState`).
    ConnectionState(ConnectionState),
    /// The peer finished sending candidates (JS `endOfCandidates`).
    EndOfCandidates,
    /// A DTMF digit arrived (RFC 4733).
    DtmfReceived(char),
    /// Periodic statistics (JS `stats`).
    Stats(CallStats),
    /// The candidate pair media flows over (local and remote address, and whether through a
    /// TURN relay), when first known and when it changes (the JS stats' selected candidate
    /// pair).
    SelectedPath(SelectedPath),
    /// A media UDP socket of this session could not be bound. When no socket of the session
    /// could be, the session fails (`terminated` with `failed-transport` follows); otherwise it
    /// goes on with the sockets that were bound.
    MediaSocketFailed(MediaSocketError),
}

/// Why a session's media socket is missing: the platform refused to bind it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not bind a media UDP socket on {addr}: {kind:?}")]
#[non_exhaustive]
pub struct MediaSocketError {
    /// The address asked for (the media IP, port 0).
    pub addr: std::net::SocketAddr,
    /// The HAL error kind the platform reported.
    pub kind: genesys_webrtc_hal::ErrorKind,
}
