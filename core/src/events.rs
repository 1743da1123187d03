//! Events the SDK emits (the JS SDK's `ready`, `connected`, `disconnected`, `sdkError`, `trace`,
//! `station`, ...). Plain data; the engine produces them, the async facade streams them.

use crate::options::LogLevel;
use crate::session::events::{PendingSession, SessionEvent, SessionInfo, TerminateReason};

/// What went wrong, as the JS `sdkError` `type` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SdkErrorKind {
    /// Anything without a better kind (JS `generic`).
    Generic,
    /// `initialize` failed (JS `initialization`).
    Initialization,
    /// A REST request failed (JS `http`).
    Http,
    /// The credentials were refused: HTTP 401/403 or a SASL `not-authorized`. The SDK stops
    /// reconnecting; set a new token and call `reconnect` (streaming client `invalid_token`).
    InvalidToken,
    /// Options were rejected (JS `invalid_options`).
    InvalidOptions,
    /// Not available for this kind of client (JS `not_supported`).
    NotSupported,
    /// A media session failed (JS `session`).
    Session,
    /// The call reported an error (JS `call`).
    Call,
    /// A device or media error (JS `media`).
    Media,
    /// The server sent something the SDK could not understand; it was ignored or answered with
    /// an XMPP error, and the connection goes on.
    Protocol,
}

/// An error event (JS `sdkError`). `details` never contains secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkError {
    /// What kind of error.
    pub kind: SdkErrorKind,
    /// Human-readable details.
    pub details: String,
}

/// What happened to the user's station (JS `station` event `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StationAction {
    /// A station is associated.
    Associated,
    /// The station was removed.
    Disassociated,
}

/// The user's station (fields of `GET /api/v2/stations/{id}` the SDK uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Station {
    /// Station id.
    pub id: String,
    /// Station name.
    pub name: Option<String>,
    /// `inin_webrtc_softphone` or `inin_remote`.
    pub station_type: Option<String>,
    /// Persistent connection enabled.
    pub web_rtc_persistent_enabled: bool,
    /// Force TURN (logged only).
    pub web_rtc_force_turn: bool,
    /// Line appearances.
    pub web_rtc_call_appearances: u32,
}

/// An event from the SDK.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SdkEvent {
    /// `initialize` finished (JS `ready`).
    Ready,
    /// The streaming connection is up (JS `connected`); `reconnect` is true for every connect
    /// after the first.
    Connected {
        /// Whether this is a reconnect.
        reconnect: bool,
    },
    /// The streaming connection went down (JS `disconnected`). `reconnecting` tells whether the
    /// SDK is trying again; `false` means it has stopped (after `disconnect()`, or when the
    /// credentials were refused).
    Disconnected {
        /// Fixed message, as in the JS SDK.
        message: String,
        /// Whether automatic reconnection is under way.
        reconnecting: bool,
    },
    /// Something failed (JS `sdkError`).
    Error(SdkError),
    /// A log line for apps that want SDK logs as events (JS `trace`). Secrets are never in it.
    Trace {
        /// Level.
        level: LogLevel,
        /// Message.
        message: String,
        /// Optional details.
        details: Option<String>,
    },
    /// The user's station changed (JS `station`).
    Station {
        /// Associated or disassociated.
        action: StationAction,
        /// The station, when associated.
        station: Option<Station>,
    },
    /// Whether the station has more than one line appearance (JS
    /// `concurrentSoftphoneSessionsEnabled`).
    ConcurrentSoftphoneSessionsEnabled(bool),
    /// An incoming call or invitation (JS `pendingSession`).
    PendingSession(PendingSession),
    /// The proposer withdrew it (JS `cancelPendingSession`).
    CancelPendingSession {
        /// Session id.
        session_id: String,
        /// Conversation id.
        conversation_id: String,
    },
    /// Another client of this user answered or rejected it (JS `handledPendingSession`).
    HandledPendingSession {
        /// Session id.
        session_id: String,
        /// Conversation id.
        conversation_id: String,
    },
    /// A media session began (JS `sessionStarted`).
    SessionStarted(SessionInfo),
    /// A media session ended (JS `sessionEnded`).
    SessionEnded {
        /// The session.
        session: SessionInfo,
        /// Why.
        reason: TerminateReason,
    },
    /// An event of one session (JS session object events).
    Session {
        /// Session id.
        session_id: String,
        /// The event.
        event: SessionEvent,
    },
    /// The user's conversations changed (JS `conversationUpdate`).
    ConversationUpdate(crate::engine::ConversationUpdate),
    /// A pubsub notification arrived on a subscribed topic.
    Notification {
        /// The topic (pubsub node).
        topic: String,
        /// `eventBody` of the JSON payload.
        event_body: serde_json::Value,
        /// `metadata.action`, when present.
        action: Option<String>,
    },
}
