//! The sans-IO engine: everything the SDK decides, with no I/O, no clock and no threads.
//!
//! Inputs are API calls (methods) and [`Input`]s (timeouts and socket events, each with the
//! current [`Instant`]). Outputs come from [`Engine::poll_output`]: [`Transmit`]s for the driver
//! (open a connection, write bytes, close; bind a call's media UDP socket, send a datagram,
//! close the socket), [`SdkEvent`]s for the application, and the next
//! [`Output::Timeout`]. After every input or API call, drain `poll_output` until it returns a
//! timeout. Same inputs (and seed) give the same outputs; this is what fuzzing, property tests
//! and the simulator rely on.
//!
//! The engine owns the streaming connection (PROTOCOL.md §2–§5): REST
//! initialization, channel creation, the WebSocket/XMPP login, XEP-0215 discovery, pings,
//! reconnect with back-off, and notification topics.

mod audio;
mod calls;
mod connection;
mod conversations;
mod discovery;
mod initialization;
mod media_route;
mod participant;
mod pending;
mod persistent;
mod rest_calls;
mod sizes;
mod stanzas;
mod stream;
mod udp;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use genesys_webrtc_hal::{ErrorKind, Security};

use crate::events::{SdkError, SdkErrorKind, SdkEvent};
use crate::jwt::JwtError;
use crate::notifications::TopicSet;
use crate::options::{LogLevel, SdkOptions};
use crate::redact::Secret;
use crate::rest::RestError;
use crate::xmpp::backoff::{AttemptSchedule, ReconnectPolicy};
use crate::xmpp::extdisco::IceConfig;
use crate::xmpp::ping::PingMonitor;

pub use audio::{AUDIO_RATE, FRAME_SAMPLES};
use connection::{Link, Socket};
pub use conversations::{ConversationInfo, ConversationUpdate};
pub use media_route::{
    AcceptSessionOptions, DefaultDevicesUpdate, MediaRoute, OutgoingMediaUpdate,
};
pub use participant::StartSoftphoneParams;
use rest_calls::RestCall;
pub use sizes::EngineSizes;

/// Identifies one byte-stream connection the driver opened for the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Identifies one media UDP socket the driver binds for the engine ([`Transmit::BindUdp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UdpSocketId(pub u64);

/// Something the driver must do on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Open a byte stream (TCP, with TLS when `security` says so) and report
    /// [`Input::Connected`] or [`Input::ConnectFailed`].
    Connect {
        /// Connection id chosen by the engine.
        conn: ConnId,
        /// Host name or IP literal.
        host: String,
        /// Port.
        port: u16,
        /// TLS or plain.
        security: Security,
    },
    /// Write these bytes to the connection.
    Send {
        /// Connection.
        conn: ConnId,
        /// Bytes.
        data: Vec<u8>,
    },
    /// Close the connection. The engine forgets it; no [`Input::Closed`] is needed.
    Close {
        /// Connection.
        conn: ConnId,
    },
    /// Resolve a STUN/TURN server's host name and report [`Input::HostResolved`] (an empty
    /// list when it does not resolve).
    ResolveHost {
        /// The host name.
        host: String,
    },
    /// Bind a UDP socket for one call's media to `addr` (an IP with port 0: any free port) and
    /// report [`Input::UdpBound`] with its local address, or [`Input::UdpBindFailed`]. The
    /// socket stays open until [`Transmit::CloseUdp`]; every datagram arriving on it is
    /// reported as [`Input::Datagram`] with the bound address as `destination`.
    BindUdp {
        /// Socket id chosen by the engine.
        socket: UdpSocketId,
        /// Where to bind.
        addr: std::net::SocketAddr,
    },
    /// Close a socket of [`Transmit::BindUdp`] (its call's media is gone). The engine forgets
    /// it; datagrams still arriving for it must not be reported.
    CloseUdp {
        /// Socket.
        socket: UdpSocketId,
    },
    /// Send a UDP datagram for media from our socket bound to `source`.
    Datagram {
        /// The local address of an open socket, as reported by [`Input::UdpBound`] (unique
        /// among open sockets, so it names the socket).
        source: std::net::SocketAddr,
        /// Where to.
        destination: std::net::SocketAddr,
        /// The datagram.
        data: Vec<u8>,
    },
}

/// Why the driver could not open a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectFailure {
    /// The HAL error kind.
    pub kind: ErrorKind,
    /// Short description (no secrets).
    pub detail: String,
}

/// An input to the engine.
#[derive(Debug)]
pub enum Input<'a> {
    /// Time passed.
    Timeout(Instant),
    /// A [`Transmit::Connect`] succeeded.
    Connected(Instant, ConnId),
    /// A [`Transmit::Connect`] failed.
    ConnectFailed(Instant, ConnId, ConnectFailure),
    /// Bytes arrived.
    Received(Instant, ConnId, &'a [u8]),
    /// The peer closed the connection, or reading/writing failed.
    Closed(Instant, ConnId),
    /// A [`Transmit::ResolveHost`] finished.
    HostResolved {
        /// When.
        now: Instant,
        /// The host name asked for.
        host: String,
        /// Its addresses (empty: not resolvable).
        addrs: Vec<std::net::IpAddr>,
    },
    /// A [`Transmit::BindUdp`] succeeded.
    UdpBound {
        /// When.
        now: Instant,
        /// The socket.
        socket: UdpSocketId,
        /// Its local address (the port the platform picked).
        local: std::net::SocketAddr,
    },
    /// A [`Transmit::BindUdp`] failed; the socket does not exist (no [`Transmit::CloseUdp`]
    /// follows).
    UdpBindFailed {
        /// When.
        now: Instant,
        /// The socket.
        socket: UdpSocketId,
        /// The HAL error kind.
        kind: ErrorKind,
    },
    /// A UDP datagram arrived on our socket bound to `destination`.
    Datagram {
        /// When.
        now: Instant,
        /// Sender.
        source: std::net::SocketAddr,
        /// Our socket's address.
        destination: std::net::SocketAddr,
        /// The datagram.
        data: &'a [u8],
    },
}

/// What the engine wants next.
#[derive(Debug)]
pub enum Output {
    /// Network work for the driver.
    Transmit(Transmit),
    /// An event for the application.
    Event(SdkEvent),
    /// Nothing more until this instant (or an input).
    Timeout(Instant),
}

/// `initialize()` options (JS `initialize({ securityCode })`).
#[derive(Debug, Clone, Default)]
pub struct InitializeOptions {
    /// The guest's security code (required for guests, ignored for users).
    pub security_code: Option<Secret>,
}

/// Why `initialize()` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InitializeError {
    /// `initialize` was already called.
    #[error("already initialized")]
    AlreadyInitialized,
    /// A guest must pass a security code.
    #[error("a guest must pass a security code to initialize")]
    MissingSecurityCode,
    /// The access token was refused (HTTP 401/403 or SASL not-authorized). Get a new token.
    #[error("the access token was refused")]
    InvalidToken,
    /// A REST call failed with a non-retryable status or without a response.
    #[error(transparent)]
    Http(#[from] RestError),
    /// The guest JWT could not be read.
    #[error("guest JWT unusable: {0}")]
    Jwt(#[from] JwtError),
    /// `disconnect()` was called before initialization finished.
    #[error("cancelled by disconnect()")]
    Cancelled,
    /// The SDK driver is not running (it was never run, or it stopped).
    #[error("the SDK driver is not running")]
    DriverStopped,
}

/// Why `reconnect()`/`disconnect()` could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// `initialize` has not succeeded yet.
    #[error("initialize() has not completed")]
    NotInitialized,
    /// The SDK driver is not running (it was never run, or it stopped).
    #[error("the SDK driver is not running")]
    DriverStopped,
}

/// Why a session API call could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No pending or active session has this id (or conversation id).
    #[error("no session {0}")]
    UnknownSession(String),
    /// The streaming connection is not up, so nothing can be signalled.
    #[error("not connected")]
    NotConnected,
    /// The operation does not apply to this kind of session.
    #[error("not supported for this session type: {0}")]
    NotSupported(&'static str),
    /// A parameter was refused.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which parameter.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The SDK driver is not running.
    #[error("the SDK driver is not running")]
    DriverStopped,
}

/// Who the SDK is, once REST initialization told it.
#[derive(Clone)]
pub(crate) enum Identity {
    User {
        user_id: String,
        bare_jid: String,
        station_id: Option<String>,
    },
    Guest {
        jwt: Secret,
        jid: String,
        domain: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Initializing,
    Active,
    Stopped,
}

/// The sans-IO engine. See the module docs for the loop.
pub struct Engine {
    opts: SdkOptions,
    token: Option<Secret>,
    rng: fastrand::Rng,
    now: Instant,
    queue: VecDeque<Output>,
    next_conn: u64,
    next_call: u64,
    calls: Vec<RestCall>,
    phase: Phase,
    init_result: Option<Result<(), InitializeError>>,
    init_org_done: bool,
    init_user_done: bool,
    init_waiting_station: bool,
    identity: Option<Identity>,
    link: Link,
    socket: Option<Socket>,
    policy: ReconnectPolicy,
    auto_reconnect: bool,
    hard_required: bool,
    channel_id: Option<String>,
    channel_reuses: u32,
    resource: Option<String>,
    connected_before: bool,
    topics: TopicSet,
    resubscribe_at: Option<Instant>,
    ping: PingMonitor,
    ice: Option<IceConfig>,
    refresh: Option<discovery::Discovery>,
    refresh_tries_left: u32,
    periodic_refresh_at: Option<Instant>,
    pending_subscribes: BTreeMap<String, (String, Instant)>,
    schedule: Option<AttemptSchedule>,
    attempt_n: u32,
    subscribed_channel: Option<String>,
    proposes: BTreeMap<String, pending::ProposeRecord>,
    propose_seq: u64,
    pending: BTreeMap<String, pending::PendingEntry>,
    sdp_over_xmpp_ids: BTreeMap<String, bool>,
    conversations: BTreeMap<String, crate::rest::Conversation>,
    /// Boxed: a session is ~11.6 kB (its str0m `Rtc` ~10 kB), and a B-tree leaf holds 11 values
    /// inline, so unboxed the first session alone allocated a 128 kB leaf.
    sessions: BTreeMap<String, Box<calls::CallSession>>,
    /// Closed media of ended sessions, kept while their TURN deallocations are unanswered.
    closing_media: Vec<calls::ClosingMedia>,
    /// Where each call's media sockets are bound (one per address; [`Engine::set_media_ips`]).
    media_ips: Vec<std::net::IpAddr>,
    next_udp: u64,
    route: media_route::MediaRoute,
    /// The station keeps a persistent connection with one call appearance (§9.3).
    persistent_station: bool,
    /// The station's call appearances (`webRtcCallAppearances`, 1 until known).
    call_appearances: u32,
    reinvites: crate::signaling::sdp_over_xmpp::ReinviteCache,
    early_candidates: crate::signaling::sdp_over_xmpp::EarlyCandidates,
    place_call_results: VecDeque<(u64, Result<String, crate::rest::RestError>)>,
    resolved_hosts: BTreeMap<String, Option<Vec<std::net::IpAddr>>>,
}

impl Engine {
    /// A new engine. `seed` feeds the generator for ids, WebSocket keys and masks.
    pub fn new(opts: SdkOptions, now: Instant, seed: u64) -> Self {
        let token = match &opts.credentials {
            crate::options::Credentials::AccessToken(t) => Some(t.clone()),
            crate::options::Credentials::Guest { .. } => None,
        };
        let route = media_route::MediaRoute::new(
            opts.defaults.clone(),
            opts.echo_cancellation,
            opts.audio.bandwidth,
        );
        Engine {
            policy: ReconnectPolicy::new(opts.reconnect_max_delay),
            resource: opts.jid_resource.clone(),
            opts,
            token,
            rng: fastrand::Rng::with_seed(seed),
            now,
            queue: VecDeque::new(),
            next_conn: 1,
            next_call: 1,
            calls: Vec::new(),
            phase: Phase::Idle,
            init_result: None,
            init_org_done: false,
            init_user_done: false,
            init_waiting_station: false,
            identity: None,
            link: Link::Down,
            socket: None,
            auto_reconnect: true,
            hard_required: true,
            channel_id: None,
            channel_reuses: 0,
            connected_before: false,
            topics: TopicSet::default(),
            resubscribe_at: None,
            ping: PingMonitor::default(),
            ice: None,
            refresh: None,
            refresh_tries_left: 0,
            periodic_refresh_at: None,
            pending_subscribes: BTreeMap::new(),
            schedule: None,
            attempt_n: 0,
            subscribed_channel: None,
            proposes: BTreeMap::new(),
            propose_seq: 0,
            pending: BTreeMap::new(),
            sdp_over_xmpp_ids: BTreeMap::new(),
            conversations: BTreeMap::new(),
            sessions: BTreeMap::new(),
            closing_media: Vec::new(),
            media_ips: Vec::new(),
            next_udp: 1,
            route,
            persistent_station: false,
            call_appearances: 1,
            reinvites: crate::signaling::sdp_over_xmpp::ReinviteCache::new(),
            early_candidates: crate::signaling::sdp_over_xmpp::EarlyCandidates::new(),
            place_call_results: VecDeque::new(),
            resolved_hosts: BTreeMap::new(),
        }
    }

    /// The options this engine runs with.
    pub fn options(&self) -> &SdkOptions {
        &self.opts
    }

    /// Whether the streaming connection is down and not being retried.
    pub fn is_idle(&self) -> bool {
        matches!(self.link, Link::Down)
    }

    /// The guest's conference JID (JWT `data.jid`), for guests after `initialize`.
    pub fn guest_jid(&self) -> Option<&str> {
        match &self.identity {
            Some(Identity::Guest { jid, .. }) => Some(jid),
            _ => None,
        }
    }

    /// Whether the streaming connection is up.
    pub fn is_connected(&self) -> bool {
        matches!(self.link, Link::Up)
    }

    /// The STUN/TURN servers from the last successful discovery, and the transport policy.
    pub fn ice_config(&self) -> Option<&IceConfig> {
        self.ice.as_ref()
    }

    /// The bound full JID while connected.
    pub fn full_jid(&self) -> Option<&str> {
        self.socket.as_ref().and_then(|s| s.full_jid.as_deref())
    }

    /// The result of `initialize`, once it is known (taken once).
    pub fn take_initialize_result(&mut self) -> Option<Result<(), InitializeError>> {
        self.init_result.take()
    }

    /// JS `setAccessToken`: used from the next connection attempt and REST call on.
    pub fn set_access_token(&mut self, token: Secret) {
        if self.token.is_some() {
            self.token = Some(token);
        }
    }

    /// Handles an input. Drain [`Engine::poll_output`] afterwards.
    pub fn handle_input(&mut self, input: Input<'_>) {
        match input {
            Input::Timeout(now) => {
                self.advance(now);
                self.handle_timeout(now);
            }
            Input::Connected(now, conn) => {
                self.advance(now);
                self.on_connected(now, conn);
            }
            Input::ConnectFailed(now, conn, failure) => {
                self.advance(now);
                self.on_conn_failed(now, conn, failure.detail);
            }
            Input::Received(now, conn, data) => {
                self.advance(now);
                self.on_data(now, conn, data);
            }
            Input::Closed(now, conn) => {
                self.advance(now);
                self.on_closed(now, conn);
            }
            Input::HostResolved { now, host, addrs } => {
                self.advance(now);
                self.on_host_resolved(host, addrs);
            }
            Input::UdpBound { now, socket, local } => {
                self.advance(now);
                self.on_udp_bound(now, socket, local);
            }
            Input::UdpBindFailed { now, socket, kind } => {
                self.advance(now);
                self.on_udp_bind_failed(now, socket, kind);
            }
            Input::Datagram {
                now,
                source,
                destination,
                data,
            } => {
                self.advance(now);
                self.on_datagram(now, source, destination, data);
            }
        }
    }

    /// The next output; [`Output::Timeout`] when there is nothing to do before that instant.
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.queue.pop_front() {
            return o;
        }
        Output::Timeout(
            self.poll_timeout()
                .unwrap_or(self.now + Duration::from_secs(24 * 3600)),
        )
    }

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    fn emit(&mut self, event: SdkEvent) {
        self.queue.push_back(Output::Event(event));
    }

    fn transmit(&mut self, t: Transmit) {
        self.queue.push_back(Output::Transmit(t));
    }

    fn error(&mut self, kind: SdkErrorKind, details: impl Into<String>) {
        let details = details.into();
        tracing::warn!(?kind, %details, "sdk error");
        self.emit(SdkEvent::Error(SdkError { kind, details }));
    }

    fn trace(&mut self, level: LogLevel, message: impl Into<String>) {
        let message = message.into();
        match level {
            LogLevel::Debug => tracing::debug!("{message}"),
            LogLevel::Info => tracing::info!("{message}"),
            LogLevel::Warn => tracing::warn!("{message}"),
            LogLevel::Error => tracing::error!("{message}"),
        }
        if level >= self.opts.log_level {
            self.emit(SdkEvent::Trace {
                level,
                message,
                details: None,
            });
        }
    }

    fn new_conn(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    fn uuid(&mut self) -> String {
        stream::uuid(&mut self.rng)
    }
}

#[cfg(test)]
mod tests;
