//! The fake cloud's record of everything it saw and sent, in order, for tests to assert on.
//!
//! Owns [`LogEntry`] and [`CloudLog`]. REST entries never hold the bearer token or a JWT (only
//! whether one was valid); XMPP entries hold raw stanzas, SASL included, because these are test
//! logs of test credentials.

use genesys_webrtc::wire::http::Method;

/// A connection id chosen by the driver (one per TCP connection, TLS already terminated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What `Authorization` header a REST request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// No `Authorization` header.
    None,
    /// `Bearer …`; `true` when it was the configured access token.
    Bearer(bool),
    /// Some other scheme (e.g. `Basic`).
    Other,
}

/// Which WebSocket URL form a client used (PROTOCOL.md 3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsKind {
    /// `/stream/channels/{id}`.
    Channel(String),
    /// `/stream/jwt/{jwt}` (the JWT itself is not logged).
    Jwt,
}

/// Who ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// The driver reported `on_close` (the client or the network).
    Peer,
    /// The fake cloud emitted `CloudOutput::Close`.
    Server,
}

/// One thing the fake cloud saw or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// A new TCP connection.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// A connection ended.
    Closed {
        /// The connection.
        conn: ConnId,
        /// Who ended it.
        by: ClosedBy,
    },
    /// An HTTP request that was not a WebSocket upgrade, with the status it got.
    Rest {
        /// Request method.
        method: Method,
        /// Request target without the query.
        path: String,
        /// The query (without `?`), if any.
        query: Option<String>,
        /// Kind of `Authorization` header (never the token).
        authorization: AuthKind,
        /// Response status.
        status: u16,
    },
    /// A WebSocket upgrade request (`/stream/…`), with the status it got (`101` on success).
    WsUpgrade {
        /// URL form.
        kind: WsKind,
        /// Response status.
        status: u16,
    },
    /// An inbound XMPP frame (one WebSocket text frame), raw.
    XmppIn {
        /// The connection.
        conn: ConnId,
        /// The frame text.
        xml: String,
    },
    /// An outbound XMPP frame, raw.
    XmppOut {
        /// The connection.
        conn: ConnId,
        /// The frame text.
        xml: String,
    },
}

/// The ordered list of [`LogEntry`]s.
#[derive(Debug, Clone, Default)]
pub struct CloudLog {
    entries: Vec<LogEntry>,
}

impl CloudLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an entry.
    pub fn push(&mut self, entry: LogEntry) {
        self.entries.push(entry);
    }

    /// All entries, oldest first.
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The REST entries as `(method, path, status)`.
    pub fn rest_calls(&self) -> Vec<(Method, String, u16)> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                LogEntry::Rest {
                    method,
                    path,
                    status,
                    ..
                } => Some((*method, path.clone(), *status)),
                _ => None,
            })
            .collect()
    }

    /// The XMPP frames of one connection as `(inbound, xml)`, in order.
    pub fn xmpp_exchange(&self, conn: ConnId) -> Vec<(bool, String)> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                LogEntry::XmppIn { conn: c, xml } if *c == conn => Some((true, xml.clone())),
                LogEntry::XmppOut { conn: c, xml } if *c == conn => Some((false, xml.clone())),
                _ => None,
            })
            .collect()
    }
}
