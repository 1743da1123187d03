//! The streaming connection's life: connection attempts (hard with a new channel, soft reusing
//! it), liveness pings, reconnect with back-off, app `disconnect()`/`reconnect()`, and the
//! engine's timers (PROTOCOL.md §3).
//!
//! Owns the link decisions. The REST bootstrap is in `initialization`, REST plumbing in
//! `rest_calls`, discovery in `discovery`, inbound stanzas in `stanzas`, and the bytes of one
//! socket in `stream`.

use std::time::{Duration, Instant};

use super::discovery::Discovery;
use super::rest_calls::RestPurpose;
use super::stream::{Auth, LoginFailure, StreamEvent, StreamSocket};
use super::{ConnId, ConnectionError, Engine, Identity, InitializeError, Phase, Transmit};
use crate::events::{SdkErrorKind, SdkEvent};
use crate::notifications::SubscriptionPath;
use crate::options::LogLevel;
use crate::redact::{self};
use crate::rest::{RestError, RestRequest};
use crate::wire::xml::Element;
use crate::xmpp::backoff::AttemptSchedule;
use crate::xmpp::extdisco::IceConfig;
use crate::xmpp::ping::PingAction;
use crate::xmpp::stanza::{self};
use genesys_webrtc_hal::Security;

/// Socket open → session started, and discovery, each get this long.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// ICE discovery timeout.
pub(crate) const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// Periodic ICE refresh.
pub(crate) const ICE_REFRESH_PERIOD: Duration = Duration::from_secs(6 * 3600);
/// Tries of the post-connect refresh (one plus two immediate retries).
pub(crate) const POST_CONNECT_REFRESH_TRIES: u32 = 3;
/// Soft reconnects before a hard one is forced.
pub(crate) const MAX_CHANNEL_REUSES: u32 = 10;
/// How long `disconnect()` waits for the server's `<close/>`.
pub(crate) const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bulk subscription debounce.
pub(crate) const SUBSCRIPTION_DEBOUNCE: Duration = Duration::from_millis(100);
/// IQ reply timeout (StanzaJS default).
pub(crate) const IQ_TIMEOUT: Duration = Duration::from_secs(15);
/// The fixed `disconnected` message of the JS SDK.
pub(crate) const DISCONNECTED_MESSAGE: &str = "Streaming API connection disconnected";

/// Where the streaming connection is.
#[derive(Debug)]
pub(crate) enum Link {
    /// Not connected and not trying.
    Down,
    /// Waiting for the next attempt.
    Waiting { at: Instant },
    /// Creating a channel (hard attempt).
    CreatingChannel { call: u64 },
    /// Socket open → XMPP session started.
    Connecting { deadline: Instant },
    /// Session started; waiting for XEP-0215 discovery.
    Discovering { disco: Discovery },
    /// Connected.
    Up,
    /// `disconnect()` sent `<close/>`; waiting for the server's.
    Closing { deadline: Instant },
}

/// The streaming socket of the current attempt or connection.
pub(crate) struct Socket {
    pub(crate) conn: ConnId,
    pub(crate) stream: StreamSocket,
    pub(crate) full_jid: Option<String>,
}

/// Why a connection attempt failed.
#[derive(Debug)]
pub(crate) enum AttemptFailure {
    Rest(RestError),
    Login(LoginFailure),
    Network(String),
    Timeout(&'static str),
    Discovery(String),
}

impl Engine {
    /// JS `disconnect()`: stops reconnecting, sends `<close/>` and closes the socket when the
    /// server answers (or after 5 s). Ends with `Disconnected { reconnecting: false }`.
    pub fn disconnect(&mut self, now: Instant) {
        self.advance(now);
        self.auto_reconnect = false;
        self.hard_required = true;
        self.schedule = None;
        self.stop_connection_timers();
        let ids: Vec<u64> = self.calls.iter().map(|c| c.id).collect();
        for id in ids {
            self.cancel_call(id);
        }
        if self.phase == Phase::Initializing {
            self.fail_init(InitializeError::Cancelled);
        }
        let ready = self.socket.as_ref().is_some_and(|s| s.stream.is_ready());
        if ready {
            self.send_element(&stanza::close());
            self.link = super::Link::Closing {
                deadline: now + DISCONNECT_TIMEOUT,
            };
            self.trace(LogLevel::Info, "disconnecting: sent <close/>");
        } else {
            let was_trying = !matches!(self.link, Link::Down);
            self.close_socket();
            self.link = Link::Down;
            if was_trying {
                self.emit(SdkEvent::Disconnected {
                    message: DISCONNECTED_MESSAGE.into(),
                    reconnecting: false,
                });
            }
        }
    }

    /// JS `reconnect()`: drops the current socket and connects again at once with a new channel
    /// (hard reconnect), re-enabling automatic reconnection.
    pub fn reconnect(&mut self, now: Instant) -> Result<(), ConnectionError> {
        self.advance(now);
        if self.phase != Phase::Active {
            return Err(ConnectionError::NotInitialized);
        }
        self.trace(LogLevel::Info, "reconnect requested");
        let was_up = matches!(self.link, Link::Up);
        if self.socket.as_ref().is_some_and(|s| s.stream.is_ready()) {
            self.send_element(&stanza::close());
        }
        self.close_socket();
        self.stop_connection_timers();
        if let Link::CreatingChannel { call } = self.link {
            self.cancel_call(call);
        }
        self.auto_reconnect = true;
        self.hard_required = true;
        if was_up {
            self.emit(SdkEvent::Disconnected {
                message: DISCONNECTED_MESSAGE.into(),
                reconnecting: true,
            });
        }
        self.begin_connect(now, true);
        Ok(())
    }

    // ---------------------------------------------------------------- timers

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for c in &self.calls {
            consider(c.poll_timeout());
        }
        consider(self.media_poll_timeout());
        consider(match &self.link {
            Link::Waiting { at } => Some(*at),
            Link::Connecting { deadline } | Link::Closing { deadline } => Some(*deadline),
            Link::Discovering { disco } => Some(disco.deadline),
            Link::Down | Link::CreatingChannel { .. } | Link::Up => None,
        });
        if matches!(self.link, Link::Up) {
            consider(self.ping.poll_timeout());
            consider(self.refresh.as_ref().map(|r| r.deadline));
            consider(self.periodic_refresh_at);
            consider(self.resubscribe_at);
            for (_, (_, d)) in self.pending_subscribes.iter() {
                consider(Some(*d));
            }
        }
        t
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<(u64, bool)> = self
            .calls
            .iter()
            .filter_map(|c| {
                if c.deadline.is_some_and(|d| now >= d) {
                    Some((c.id, true))
                } else if c.retry_at.is_some_and(|r| now >= r) {
                    Some((c.id, false))
                } else {
                    None
                }
            })
            .collect();
        for (id, timed_out) in due {
            if timed_out {
                self.finish_try(now, id, Err("timed out after 30 s".into()));
            } else {
                self.try_call(now, id);
            }
        }
        match self.link {
            Link::Waiting { at } if now >= at => self.start_attempt(now),
            Link::Connecting { deadline } if now >= deadline => {
                self.attempt_failed(now, AttemptFailure::Timeout("login took longer than 15 s"))
            }
            Link::Discovering { ref disco } if now >= disco.deadline => self.attempt_failed(
                now,
                AttemptFailure::Timeout("ICE server discovery took longer than 15 s"),
            ),
            Link::Closing { deadline } if now >= deadline => self.finish_disconnect(),
            _ => {}
        }
        self.media_timeouts(now);
        if !matches!(self.link, Link::Up) {
            return;
        }
        match self.ping.handle_timeout(now) {
            Some(PingAction::Send) => {
                let id = self.uuid();
                self.send_element(&stanza::ping(&id));
                self.ping.sent(id, now);
            }
            Some(PingAction::Drop) => {
                self.drop_for_missed_pongs(now);
                return;
            }
            None => {}
        }
        if self.refresh.as_ref().is_some_and(|r| now >= r.deadline) {
            self.refresh = None;
            self.refresh_failed(now, "ICE server refresh timed out".into());
        }
        if self.periodic_refresh_at.is_some_and(|t| now >= t) {
            self.periodic_refresh_at = Some(now + ICE_REFRESH_PERIOD);
            self.refresh_tries_left = 1;
            self.start_refresh(now);
        }
        if self.resubscribe_at.is_some_and(|t| now >= t) {
            self.resubscribe_at = None;
            if let Some(channel) = self.channel_id.clone() {
                let body = self.topics.bulk_body();
                self.start_call(
                    now,
                    RestPurpose::Resubscribe,
                    RestRequest::replace_subscriptions(&channel, body),
                );
            }
        }
        let expired: Vec<String> = self
            .pending_subscribes
            .iter()
            .filter(|(_, (_, d))| now >= *d)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some((topic, _)) = self.pending_subscribes.remove(&id) {
                self.error(
                    SdkErrorKind::Generic,
                    format!("subscribing to {topic} timed out"),
                );
            }
        }
    }

    pub(crate) fn stop_connection_timers(&mut self) {
        self.ping.stop();
        self.refresh = None;
        self.periodic_refresh_at = None;
        self.resubscribe_at = None;
        self.pending_subscribes.clear();
    }

    // ---------------------------------------------------------------- attempts

    pub(crate) fn begin_connect(&mut self, now: Instant, immediate: bool) {
        let starting = self.policy.starting_delay(now);
        let max = self.policy.max_delay();
        let schedule = if immediate {
            AttemptSchedule::immediate(starting, max)
        } else {
            AttemptSchedule::delayed(starting, max)
        };
        self.schedule = Some(schedule);
        self.attempt_n = 0;
        let delay = schedule.delay(0);
        if delay.is_zero() {
            self.start_attempt(now);
        } else {
            self.trace(LogLevel::Info, format!("reconnecting in {delay:?}"));
            self.link = Link::Waiting { at: now + delay };
        }
    }

    pub(crate) fn start_attempt(&mut self, now: Instant) {
        match &self.identity {
            Some(Identity::User { .. }) => {
                if !self.hard_required && self.channel_id.is_some() {
                    self.channel_reuses += 1;
                    if self.channel_reuses >= MAX_CHANNEL_REUSES {
                        self.hard_required = true;
                        self.channel_reuses = 0;
                    }
                }
                if self.resource.is_none() {
                    self.resource = Some(self.uuid());
                }
                if self.hard_required || self.channel_id.is_none() {
                    let call = self.start_call(
                        now,
                        RestPurpose::CreateChannel,
                        RestRequest::create_channel(),
                    );
                    self.link = Link::CreatingChannel { call };
                } else {
                    self.open_socket(now);
                }
            }
            Some(Identity::Guest { .. }) => self.open_socket(now),
            None => self.link = Link::Down,
        }
    }

    pub(crate) fn open_socket(&mut self, now: Instant) {
        let ws = self.opts.ws_base();
        let (path, domain, auth, resource) = match &self.identity {
            Some(Identity::User { bare_jid, .. }) => {
                let Some(channel) = &self.channel_id else {
                    return;
                };
                let Some(token) = self.token.clone() else {
                    return;
                };
                (
                    format!("{}/stream/channels/{}", ws.path, channel),
                    bare_jid
                        .split_once('@')
                        .map(|(_, d)| d)
                        .unwrap_or("")
                        .to_string(),
                    Auth::Plain {
                        bare_jid: bare_jid.clone(),
                        token,
                    },
                    self.resource.clone(),
                )
            }
            Some(Identity::Guest { jwt, domain, .. }) => (
                format!("{}/stream/jwt/{}", ws.path, jwt.expose()),
                domain.clone(),
                Auth::Anonymous,
                self.opts.jid_resource.clone(),
            ),
            None => return,
        };
        self.close_socket();
        let conn = self.new_conn();
        self.trace(
            LogLevel::Debug,
            format!(
                "opening streaming socket to {}{}",
                ws.authority(),
                redact::redact_stream_path(&path)
            ),
        );
        self.socket = Some(Socket {
            conn,
            stream: StreamSocket::new(ws.authority(), path, domain, auth, resource),
            full_jid: None,
        });
        self.transmit(Transmit::Connect {
            conn,
            host: ws.host.clone(),
            port: ws.port,
            security: if ws.tls {
                Security::Tls
            } else {
                Security::Plain
            },
        });
        self.link = Link::Connecting {
            deadline: now + ATTEMPT_TIMEOUT,
        };
    }

    pub(crate) fn attempt_failed(&mut self, now: Instant, failure: AttemptFailure) {
        self.close_socket();
        if let Link::CreatingChannel { call } = self.link {
            self.cancel_call(call);
        }
        let mut retry_after = None;
        let mut fatal = false;
        match &failure {
            AttemptFailure::Rest(e) => match e.status() {
                Some(401 | 403) => fatal = true,
                _ => {
                    if let RestError::Status {
                        retry_after: Some(d),
                        ..
                    } = e
                    {
                        retry_after = Some(*d);
                    }
                }
            },
            AttemptFailure::Login(LoginFailure::Sasl(cond)) => {
                if crate::xmpp::sasl::is_retryable_failure(cond) {
                    self.hard_required = true;
                } else {
                    fatal = true;
                }
            }
            _ => {}
        }
        let reason = describe_failure(&failure);
        if fatal {
            self.trace(
                LogLevel::Error,
                format!("connection refused: {reason}; not retrying"),
            );
            self.stop_trying(reason);
            return;
        }
        if !self.auto_reconnect {
            self.link = Link::Down;
            return;
        }
        self.policy.record_failure(now);
        self.attempt_n += 1;
        let schedule = self.schedule.unwrap_or_else(|| {
            AttemptSchedule::delayed(self.policy.starting_delay(now), self.policy.max_delay())
        });
        let delay = retry_after.unwrap_or_else(|| schedule.delay(self.attempt_n));
        self.trace(
            LogLevel::Warn,
            format!("connection attempt failed: {reason}; retrying in {delay:?}"),
        );
        self.link = Link::Waiting { at: now + delay };
    }

    pub(crate) fn stop_trying(&mut self, reason: String) {
        self.link = Link::Down;
        self.auto_reconnect = false;
        self.hard_required = true;
        if self.phase == Phase::Initializing {
            self.fail_init(InitializeError::InvalidToken);
        } else {
            self.error(SdkErrorKind::InvalidToken, reason);
            self.emit(SdkEvent::Disconnected {
                message: DISCONNECTED_MESSAGE.into(),
                reconnecting: false,
            });
        }
    }

    pub(crate) fn link_up(&mut self, now: Instant, ice: IceConfig) {
        self.trace(
            LogLevel::Info,
            format!(
                "connected; {} ICE servers, policy {:?}",
                ice.servers.len(),
                ice.policy
            ),
        );
        self.ice = Some(ice);
        self.resolve_ice_hosts();
        self.link = Link::Up;
        let reconnect = self.connected_before;
        self.connected_before = true;
        self.ping.start(now);
        self.emit(SdkEvent::Connected { reconnect });
        self.refresh_tries_left = POST_CONNECT_REFRESH_TRIES;
        self.start_refresh(now);
        self.periodic_refresh_at = Some(now + ICE_REFRESH_PERIOD);
        if !self.topics.is_empty()
            && self.channel_id.is_some()
            && self.channel_id != self.subscribed_channel
        {
            self.schedule_resubscribe(now);
        }
        if self.phase == Phase::Initializing {
            match self.identity.clone() {
                Some(Identity::User {
                    user_id,
                    bare_jid,
                    station_id,
                }) => {
                    let topic = format!("v2.users.{user_id}.conversations");
                    self.topics.add(&topic, SubscriptionPath::Immediate);
                    self.subscribe_immediate(now, &topic, &bare_jid);
                    match station_id {
                        Some(id) => {
                            self.init_waiting_station = true;
                            self.start_call(now, RestPurpose::Station, RestRequest::station(&id));
                        }
                        None => {
                            self.error(
                                SdkErrorKind::Generic,
                                "User does not have an effective station",
                            );
                            self.finish_init_ok();
                        }
                    }
                }
                Some(Identity::Guest { .. }) | None => self.finish_init_ok(),
            }
        }
    }

    pub(crate) fn subscribe_immediate(&mut self, now: Instant, topic: &str, bare_jid: &str) {
        let id = self.uuid();
        let to = self.opts.notifications_host();
        self.send_element(&stanza::pubsub_subscribe(&id, &to, topic, bare_jid));
        self.pending_subscribes
            .insert(id, (topic.to_string(), now + IQ_TIMEOUT));
    }

    pub(crate) fn schedule_resubscribe(&mut self, now: Instant) {
        if self
            .identity
            .as_ref()
            .is_some_and(|i| matches!(i, Identity::User { .. }))
            && self.resubscribe_at.is_none()
        {
            self.resubscribe_at = Some(now + SUBSCRIPTION_DEBOUNCE);
        }
    }

    // ---------------------------------------------------------------- sockets

    pub(crate) fn on_connected(&mut self, _now: Instant, conn: ConnId) {
        if let Some(s) = self.socket.as_mut().filter(|s| s.conn == conn) {
            let bytes = s.stream.on_connected(&mut self.rng);
            self.transmit(Transmit::Send { conn, data: bytes });
            return;
        }
        let base = self.opts.api_base();
        let token = self.token.clone();
        let headers = self.opts.custom_headers.clone();
        if let Some(call) = self.calls.iter().find(|c| c.conn == Some(conn)) {
            let data = call
                .request
                .to_http(&base, token.as_ref(), &headers)
                .encode();
            self.transmit(Transmit::Send { conn, data });
        }
    }

    pub(crate) fn on_conn_failed(&mut self, now: Instant, conn: ConnId, detail: String) {
        if self.socket.as_ref().is_some_and(|s| s.conn == conn) {
            self.socket = None;
            self.handle_socket_gone(now, format!("could not connect: {detail}"));
            return;
        }
        if let Some(id) = self
            .calls
            .iter()
            .find(|c| c.conn == Some(conn))
            .map(|c| c.id)
        {
            self.finish_try(now, id, Err(format!("could not connect: {detail}")));
        }
    }

    pub(crate) fn on_closed(&mut self, now: Instant, conn: ConnId) {
        if self.socket.as_ref().is_some_and(|s| s.conn == conn) {
            self.socket = None;
            self.handle_socket_gone(now, "socket closed".into());
            return;
        }
        if let Some(pos) = self.calls.iter().position(|c| c.conn == Some(conn)) {
            let id = self.calls[pos].id;
            let result = self.calls[pos]
                .decoder
                .finish()
                .map_err(|e| format!("connection closed: {e}"));
            self.finish_try(now, id, result);
        }
    }

    pub(crate) fn on_data(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        if self.socket.as_ref().is_some_and(|s| s.conn == conn) {
            let events = match self.socket.as_mut() {
                Some(s) => s.stream.on_data(data, &mut self.rng),
                None => return,
            };
            for ev in events {
                if self.socket.as_ref().is_none_or(|s| s.conn != conn) {
                    break;
                }
                self.on_stream_event(now, ev);
            }
            return;
        }
        if let Some(pos) = self.calls.iter().position(|c| c.conn == Some(conn)) {
            let id = self.calls[pos].id;
            match self.calls[pos].decoder.push(data) {
                Ok(None) => {}
                Ok(Some(resp)) => self.finish_try(now, id, Ok(resp)),
                Err(e) => self.finish_try(now, id, Err(format!("bad HTTP response: {e}"))),
            }
        }
    }

    /// The socket is gone (closed, failed, or broken); decide by link state.
    pub(crate) fn handle_socket_gone(&mut self, now: Instant, reason: String) {
        match self.link {
            Link::Connecting { .. } | Link::Discovering { .. } => {
                self.attempt_failed(now, AttemptFailure::Network(reason))
            }
            Link::Up => self.socket_lost(now, &reason),
            Link::Closing { .. } => self.finish_disconnect(),
            _ => {}
        }
    }

    pub(crate) fn on_stream_event(&mut self, now: Instant, ev: StreamEvent) {
        match ev {
            StreamEvent::Send(data) => {
                if let Some(s) = &self.socket {
                    let conn = s.conn;
                    self.transmit(Transmit::Send { conn, data });
                }
            }
            StreamEvent::LoggedIn { full_jid } => {
                tracing::debug!("XMPP session started");
                if let Some(s) = self.socket.as_mut() {
                    s.full_jid = Some(full_jid);
                }
                if let Some(disco) = self.start_discovery(now) {
                    self.link = Link::Discovering { disco };
                }
            }
            StreamEvent::Stanza(el) => self.on_stanza(now, el),
            StreamEvent::ServerClosed => {
                if matches!(self.link, Link::Closing { .. }) {
                    self.finish_disconnect();
                } else {
                    self.trace(LogLevel::Warn, "server closed the stream");
                    self.close_socket();
                    self.socket_lost(now, "server closed the stream");
                }
            }
            StreamEvent::StreamError(cond) => {
                self.trace(LogLevel::Warn, format!("stream error from server: {cond}"));
                self.close_socket();
                self.handle_socket_gone_after_close(now, format!("stream error {cond}"));
            }
            StreamEvent::InvalidXml(e) => {
                self.error(
                    SdkErrorKind::Protocol,
                    format!("invalid XML from server: {e}"),
                );
                self.send_element(&stanza::stream_error("invalid-xml", None));
                self.close_socket();
                self.handle_socket_gone_after_close(now, "invalid XML".into());
            }
            StreamEvent::Failed(f) => {
                if matches!(self.link, Link::Closing { .. }) {
                    self.finish_disconnect();
                } else {
                    self.attempt_failed(now, AttemptFailure::Login(f));
                }
            }
        }
    }

    pub(crate) fn handle_socket_gone_after_close(&mut self, now: Instant, reason: String) {
        match self.link {
            Link::Up => self.socket_lost(now, &reason),
            Link::Closing { .. } => self.finish_disconnect(),
            Link::Connecting { .. } | Link::Discovering { .. } => {
                self.attempt_failed(now, AttemptFailure::Network(reason))
            }
            _ => {}
        }
    }

    pub(crate) fn socket_lost(&mut self, now: Instant, reason: &str) {
        self.close_socket();
        self.stop_connection_timers();
        self.trace(
            LogLevel::Warn,
            format!("streaming connection lost: {reason}"),
        );
        self.link = Link::Down;
        self.emit(SdkEvent::Disconnected {
            message: DISCONNECTED_MESSAGE.into(),
            reconnecting: self.auto_reconnect,
        });
        self.end_sessions_on_disconnect(now);
        if self.auto_reconnect {
            self.begin_connect(now, false);
        }
    }

    pub(crate) fn drop_for_missed_pongs(&mut self, now: Instant) {
        self.send_element(&stanza::stream_error(
            "connection-timeout",
            Some("too many missed pongs"),
        ));
        self.socket_lost(now, "too many missed pongs");
    }

    pub(crate) fn finish_disconnect(&mut self) {
        self.close_socket();
        self.link = Link::Down;
        self.trace(LogLevel::Info, "disconnected");
        self.emit(SdkEvent::Disconnected {
            message: DISCONNECTED_MESSAGE.into(),
            reconnecting: false,
        });
    }

    pub(crate) fn close_socket(&mut self) {
        if let Some(s) = self.socket.take() {
            self.transmit(Transmit::Close { conn: s.conn });
        }
    }

    pub(crate) fn send_element(&mut self, el: &Element) {
        if let Some(s) = &self.socket {
            let data = s.stream.frame(el, &mut self.rng);
            let conn = s.conn;
            self.transmit(Transmit::Send { conn, data });
        }
    }
}

fn describe_failure(f: &AttemptFailure) -> String {
    match f {
        AttemptFailure::Rest(e) => e.to_string(),
        AttemptFailure::Login(l) => match l {
            LoginFailure::Handshake { status, reason } => {
                format!("WebSocket upgrade failed ({status:?}): {reason}")
            }
            LoginFailure::Framing(s) => format!("WebSocket framing error: {s}"),
            LoginFailure::InvalidXml(s) => format!("invalid XML during login: {s}"),
            LoginFailure::Unexpected(s) => format!("unexpected {s}"),
            LoginFailure::NoMechanism { offered } => {
                format!("policy-violation: no usable SASL mechanism in {offered:?}")
            }
            LoginFailure::Sasl(c) => format!("SASL failure {c}"),
            LoginFailure::Bind(s) => format!("bind failed: {s}"),
            LoginFailure::StreamError(c) => format!("stream error {c}"),
            LoginFailure::Closed => "server closed the stream during login".into(),
        },
        AttemptFailure::Network(s) => s.clone(),
        AttemptFailure::Timeout(s) => (*s).to_string(),
        AttemptFailure::Discovery(s) => s.clone(),
    }
}
