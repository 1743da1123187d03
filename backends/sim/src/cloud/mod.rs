//! A sans-IO fake Genesys Cloud: the server side of PROTOCOL.md sections 2–5, including its
//! failure modes, for testing the SDK's client without a real tenant.
//!
//! [`FakeCloud`] owns every TCP connection the driver hands it (TLS already terminated): HTTP/1.1
//! requests with keep-alive (`rest`), which may upgrade to RFC 7395 XMPP over WebSocket
//! (`xmpp`). It never reads a clock or touches a socket: the driver passes `now` and bytes in
//! and drains [`CloudOutput`]s with [`FakeCloud::poll_output`] after every call (and calls
//! [`FakeCloud::handle_timeout`] at [`FakeCloud::poll_timeout`]). Everything it sees and sends is
//! recorded in a [`CloudLog`] for tests to assert on. Tenant data and scripted misbehaviour live
//! in [`CloudConfig`] / [`Faults`] and may be changed between calls. Peer input never panics it:
//! malformed HTTP gets a `400` and a close, malformed frames a close, invalid XML a stream error.
//!
//! Choices where PROTOCOL.md leaves the server's behaviour open:
//! * a wrong organization or security code in `POST /api/v2/conversations/codes` is `404`
//!   (`code: "not.found"`); a malformed body is `400`;
//! * a failed WebSocket upgrade is answered and the connection closed;
//! * IQ replies echo the request `id` and swap `from`/`to` (`to` is the bound full JID when the
//!   request had no `from`); IQ `result`/`error` from the client (e.g. to cxfr) are ignored;
//! * stanzas before authentication end the stream with `not-authorized`;
//! * server-side pings (PROTOCOL.md 3.6) are sent every
//!   [`CloudConfig::server_ping_interval`] to sessions subscribed to [`SERVER_SIDE_PINGS_TOPIC`].
//!
//! Softphone calls (PROTOCOL.md 6–9) live in `calls.rs`: [`FakeCloud::place_inbound_call`],
//! outbound `POST /api/v2/conversations/calls`, negotiation in mode A (sdp-over-xmpp) or B
//! (Jingle), the REST participant operations and conversation events, each call with a real
//! str0m media peer (`media_peer.rs`) that plays a tone, records what it hears and speaks RFC
//! 4733 DTMF. Media is sans-IO too: drain [`FakeCloud::poll_datagram`] and feed
//! [`FakeCloud::on_datagram`]; [`FakeCloud::poll_timeout`] includes the media timers.
//! [`FakeCloud::send_stanza`] still lets a test push any stanza to a session.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

mod calls;
mod config;
mod external;
pub mod jwt;
mod log;
mod media_peer;
mod rest;
mod xmpp;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Instant;

use genesys_webrtc::wire::http::{HttpError, HttpRequest, HttpResponse, RequestDecoder};
use genesys_webrtc::wire::websocket::{self, CloseFrame, FrameDecoder, Message, Opcode, Role};
use genesys_webrtc::wire::xml::Element;
use genesys_webrtc::xmpp::ns;
use serde_json::{json, Value};

pub use calls::{CallDirection, CallId, CallOptions, CallState, CallSummary, Negotiation};
pub use config::{
    CloudConfig, Faults, IceServerConfig, RestFault, DEFAULT_ACCESS_TOKEN,
    DEFAULT_GUEST_CONVERSATION_ID, DEFAULT_GUEST_SOURCE_COMMUNICATION_ID, DEFAULT_JID_LOCAL,
    DEFAULT_ORGANIZATION_ID, DEFAULT_ORGANIZATION_NAME, DEFAULT_SECURITY_CODE,
    DEFAULT_SERVER_PING_INTERVAL, DEFAULT_STATION_ID, DEFAULT_TURN_PASSWORD, DEFAULT_TURN_USERNAME,
    DEFAULT_USER_ID, DEFAULT_USER_NAME, DEFAULT_XMPP_DOMAIN, SERVER_SIDE_PINGS_TOPIC,
};
pub use config::{DEFAULT_MEDIA_ADDR, DEFAULT_TONE_HZ};
pub use jwt::{decode_payload as decode_jwt_payload, GUEST_ISSUER, JWT_EXPIRY};
pub use log::{AuthKind, ClosedBy, CloudLog, ConnId, LogEntry, WsKind};
pub use media_peer::{
    MediaPeerStats, PreferredCodec, FRAME as MEDIA_FRAME, MAX_GAP_FILL, MAX_RECORDED_SECONDS,
    PT_OPUS, PT_PCMA, PT_PCMU, PT_TELE_48K, PT_TELE_8K, TONE_AMPLITUDE,
};
pub use rest::{CHANNEL_EXPIRES, MAX_SUBSCRIPTION_ENTRIES};
pub use xmpp::MAX_RESOURCE_BYTES;

use rest::{Registry, StreamAuth};
use xmpp::{Action, Ctx, XmppSession};

/// Something the driver must do on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudOutput {
    /// Write these bytes to the connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// Bytes (HTTP response or WebSocket frames).
        data: Vec<u8>,
    },
    /// Close the connection (after writing everything queued before it).
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// One connection's protocol state.
enum Conn {
    /// HTTP/1.1, keep-alive.
    Http(RequestDecoder),
    /// Upgraded: RFC 7395 XMPP over WebSocket.
    Ws(Box<WsConn>),
    /// The fake cloud closed it; input is ignored until `on_close`.
    Closed,
}

struct WsConn {
    decoder: FrameDecoder,
    session: XmppSession,
}

/// The fake Genesys Cloud. See the module docs.
pub struct FakeCloud {
    config: CloudConfig,
    registry: Registry,
    conns: BTreeMap<ConnId, Conn>,
    out: VecDeque<CloudOutput>,
    log: CloudLog,
    correlation: u64,
    /// Softphone calls (`calls.rs`).
    calls: calls::Calls,
    /// Stanzas to route once the sending connection's state is back in `conns`.
    inbox: VecDeque<(ConnId, Element)>,
}

impl fmt::Debug for FakeCloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeCloud")
            .field("environment", &self.config.environment)
            .field("connections", &self.conns.len())
            .field("channels", &self.registry.channels.len())
            .field("queued_outputs", &self.out.len())
            .finish()
    }
}

impl FakeCloud {
    /// A fake cloud serving `config`'s tenant.
    pub fn new(config: CloudConfig) -> Self {
        FakeCloud {
            config,
            registry: Registry::default(),
            conns: BTreeMap::new(),
            out: VecDeque::new(),
            log: CloudLog::new(),
            correlation: 0,
            calls: calls::Calls::default(),
            inbox: VecDeque::new(),
        }
    }

    /// The tenant configuration.
    pub fn config(&self) -> &CloudConfig {
        &self.config
    }

    /// The tenant configuration, for changing faults, tokens or ICE servers at runtime.
    pub fn config_mut(&mut self) -> &mut CloudConfig {
        &mut self.config
    }

    /// Everything seen and sent so far, oldest first.
    pub fn log(&self) -> &[LogEntry] {
        self.log.entries()
    }

    /// The log with its helper queries.
    pub fn cloud_log(&self) -> &CloudLog {
        &self.log
    }

    /// Forgets the log.
    pub fn clear_log(&mut self) {
        self.log.clear();
    }

    /// A new TCP connection.
    pub fn on_connect(&mut self, _now: Instant, conn: ConnId) {
        self.conns.insert(conn, Conn::Http(RequestDecoder::new()));
        self.log.push(LogEntry::Connected { conn });
    }

    /// Bytes from a connection. Data for an unknown connection is treated as a new connection;
    /// data after the fake cloud closed a connection is ignored.
    pub fn on_data(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        if !self.conns.contains_key(&conn) {
            self.on_connect(now, conn);
        }
        let Some(state) = self.conns.remove(&conn) else {
            return;
        };
        let state = match state {
            Conn::Http(decoder) => self.http_data(now, conn, decoder, data),
            Conn::Ws(ws) => self.ws_data(now, conn, ws, data),
            Conn::Closed => Conn::Closed,
        };
        self.conns.insert(conn, state);
        while let Some((from_conn, el)) = self.inbox.pop_front() {
            self.route_stanza(now, from_conn, el);
        }
        self.run_deferred_calls(now);
    }

    /// The connection is gone (closed by the peer or the network, or after our `Close`).
    pub fn on_close(&mut self, _now: Instant, conn: ConnId) {
        if let Some(state) = self.conns.remove(&conn) {
            if !matches!(state, Conn::Closed) {
                self.log.push(LogEntry::Closed {
                    conn,
                    by: ClosedBy::Peer,
                });
            }
        }
    }

    /// Sends server-side pings that are due and drives the calls' media (str0m timers and the
    /// 20 ms audio clock); drain [`FakeCloud::poll_datagram`] afterwards.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.calls_handle_timeout(now);
        let interval = self.config.server_ping_interval;
        let domain = self.config.xmpp_domain.clone();
        let mut pings = Vec::new();
        for (conn, state) in &mut self.conns {
            let Conn::Ws(ws) = state else { continue };
            let session = &mut ws.session;
            let Some(due) = session.next_server_ping else {
                continue;
            };
            if due > now || !session.is_bound() {
                continue;
            }
            session.next_server_ping = Some(now + interval);
            let id = session.next_stanza_id("srvping");
            let ping = Element::new("iq", ns::CLIENT)
                .with_attr("type", "get")
                .with_attr("id", id)
                .with_attr("from", domain.as_str())
                .with_opt_attr("to", session.full_jid.clone())
                .with_child(Element::new("ping", ns::PING));
            pings.push((*conn, ping));
        }
        for (conn, ping) in pings {
            self.send_element(conn, &ping);
        }
    }

    /// The next queued output.
    pub fn poll_output(&mut self) -> Option<CloudOutput> {
        self.out.pop_front()
    }

    /// When [`FakeCloud::handle_timeout`] next has work (server-side pings, media timers).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pings = self
            .conns
            .values()
            .filter_map(|c| match c {
                Conn::Ws(ws) if ws.session.is_bound() => ws.session.next_server_ping,
                _ => None,
            })
            .min();
        match (pings, self.calls_poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Server-side stream close on every XMPP connection: `<close/>`, a WebSocket close frame
    /// (1000), then [`CloudOutput::Close`].
    pub fn close_streams(&mut self, _now: Instant) {
        for conn in self.ws_conns() {
            self.send_element(conn, &Element::new("close", ns::FRAMING));
            self.close_ws(conn, Some(1000));
        }
    }

    /// Abrupt loss of every XMPP connection: [`CloudOutput::Close`] with nothing sent.
    pub fn drop_connections(&mut self, _now: Instant) {
        for conn in self.ws_conns() {
            self.close_conn(conn);
        }
    }

    /// Publishes a pubsub event (PROTOCOL.md 4.2) on `topic` to every bound session subscribed to
    /// it, either over XMPP or through its channel's REST subscriptions. The JSON document is
    /// `{"topicName", "eventBody", "metadata": {"correlationId", "action"?}}`.
    pub fn publish(&mut self, _now: Instant, topic: &str, event_body: Value, action: Option<&str>) {
        let targets: Vec<ConnId> = self
            .conns
            .iter()
            .filter_map(|(conn, state)| match state {
                Conn::Ws(ws) if ws.session.is_bound() => {
                    let s = &ws.session;
                    let via_channel = match &s.auth {
                        StreamAuth::Channel(id) => self
                            .registry
                            .channels
                            .get(id)
                            .is_some_and(|t| t.contains(topic)),
                        StreamAuth::Jwt(_) => false,
                    };
                    (via_channel || s.topics.contains(topic)).then_some(*conn)
                }
                _ => None,
            })
            .collect();
        for conn in targets {
            let serial = self.registry.next_serial();
            let mut metadata = json!({"correlationId": format!("sim-event-{serial}")});
            if let (Some(action), Some(obj)) = (action, metadata.as_object_mut()) {
                obj.insert("action".to_owned(), Value::String(action.to_owned()));
            }
            let doc = json!({"topicName": topic, "eventBody": event_body, "metadata": metadata});
            self.send_pubsub(conn, topic, &doc, serial);
        }
    }

    /// Sends a control-topic message (PROTOCOL.md 4.4), e.g. `no_longer_subscribed` or
    /// `duplicate_id`, to every bound session: a pubsub event whose items node is `node`.
    pub fn send_control_topic(&mut self, _now: Instant, node: &str) {
        for conn in self.bound_conns() {
            let serial = self.registry.next_serial();
            let doc = json!({
                "topicName": node,
                "eventBody": {"message": format!("{node} (fake cloud)")},
                "metadata": {"correlationId": format!("sim-event-{serial}")},
            });
            self.send_pubsub(conn, node, &doc, serial);
        }
    }

    /// Sends a XEP-0051 connection transfer (PROTOCOL.md 3.9) to every bound session:
    /// `<iq type="set"><query xmlns="urn:xmpp:cxfr"><domain>{xmpp_domain}</domain></query></iq>`.
    /// Any reply is ignored.
    pub fn send_connection_transfer(&mut self, _now: Instant) {
        let domain = self.config.xmpp_domain.clone();
        for conn in self.bound_conns() {
            let Some(Conn::Ws(ws)) = self.conns.get_mut(&conn) else {
                continue;
            };
            let id = ws.session.next_stanza_id("cxfr");
            let iq = Element::new("iq", ns::CLIENT)
                .with_attr("type", "set")
                .with_attr("id", id)
                .with_attr("from", domain.as_str())
                .with_opt_attr("to", ws.session.full_jid.clone())
                .with_child(
                    Element::new("query", ns::CXFR)
                        .with_child(Element::new("domain", ns::CXFR).with_text(domain.as_str())),
                );
            self.send_element(conn, &iq);
        }
    }

    /// Sends an arbitrary stanza (e.g. a JMI propose) to the session bound to `full_jid`; returns
    /// whether such a session exists. The element is sent as is (set `to`/`from` yourself).
    pub fn send_stanza(&mut self, _now: Instant, full_jid: &str, stanza: &Element) -> bool {
        let target = self.conns.iter().find_map(|(c, s)| match s {
            Conn::Ws(ws) if ws.session.full_jid.as_deref() == Some(full_jid) => Some(*c),
            _ => None,
        });
        match target {
            Some(conn) => {
                self.send_element(conn, stanza);
                true
            }
            None => false,
        }
    }

    /// Full JIDs of the bound sessions, in connection order.
    pub fn connected_jids(&self) -> Vec<String> {
        self.conns
            .values()
            .filter_map(|c| match c {
                Conn::Ws(ws) if ws.session.is_bound() => ws.session.full_jid.clone(),
                _ => None,
            })
            .collect()
    }

    /// Connections currently speaking XMPP (bound or not).
    pub fn xmpp_connections(&self) -> Vec<ConnId> {
        self.ws_conns()
    }

    /// Ids of every channel created so far, sorted by id (not by creation time).
    pub fn channel_ids(&self) -> Vec<String> {
        self.registry.channels.keys().cloned().collect()
    }

    /// The REST (bulk) topics of a channel, sorted; `None` for an unknown channel.
    pub fn channel_topics(&self, channel_id: &str) -> Option<Vec<String>> {
        self.registry
            .channels
            .get(channel_id)
            .map(|t| t.iter().cloned().collect())
    }

    /// The channel a WebSocket connection was opened on (`None` for JWT or non-XMPP
    /// connections).
    pub fn channel_of(&self, conn: ConnId) -> Option<String> {
        match self.conns.get(&conn) {
            Some(Conn::Ws(ws)) => match &ws.session.auth {
                StreamAuth::Channel(id) => Some(id.clone()),
                StreamAuth::Jwt(_) => None,
            },
            _ => None,
        }
    }

    /// The topics a connection subscribed over XMPP, sorted.
    pub fn session_topics(&self, conn: ConnId) -> Vec<String> {
        match self.conns.get(&conn) {
            Some(Conn::Ws(ws)) => ws.session.topics.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Every JWT issued by the code exchange, oldest first.
    pub fn issued_jwts(&self) -> Vec<String> {
        self.registry.jwts.iter().map(|j| j.token.clone()).collect()
    }

    /// The claims of every JWT issued by the code exchange, oldest first.
    pub fn issued_jwt_claims(&self) -> Vec<jwt::GuestClaims> {
        self.registry
            .jwts
            .iter()
            .map(|j| j.claims.clone())
            .collect()
    }

    /// The bound full JID of a connection.
    fn full_jid_of(&self, conn: ConnId) -> Option<String> {
        match self.conns.get(&conn) {
            Some(Conn::Ws(ws)) if ws.session.is_bound() => ws.session.full_jid.clone(),
            _ => None,
        }
    }

    fn ws_conns(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter_map(|(c, s)| matches!(s, Conn::Ws(_)).then_some(*c))
            .collect()
    }

    fn bound_conns(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter_map(|(c, s)| match s {
                Conn::Ws(ws) if ws.session.is_bound() => Some(*c),
                _ => None,
            })
            .collect()
    }

    fn send_pubsub(&mut self, conn: ConnId, node: &str, doc: &Value, serial: u64) {
        let from = self.config.notifications_jid();
        let Some(Conn::Ws(ws)) = self.conns.get(&conn) else {
            return;
        };
        let to = ws.session.full_jid.clone().unwrap_or_default();
        let msg = xmpp::pubsub_message(&from, &to, &format!("sim-item-{serial}"), node, doc);
        self.send_element(conn, &msg);
    }

    fn http_data(
        &mut self,
        now: Instant,
        conn: ConnId,
        mut decoder: RequestDecoder,
        data: &[u8],
    ) -> Conn {
        decoder.push(data);
        loop {
            let req = match decoder.next_request() {
                Ok(Some(req)) => req,
                Ok(None) => return Conn::Http(decoder),
                Err(e) => {
                    let status = match e {
                        HttpError::HeadTooLarge => 431,
                        HttpError::TooManyHeaders => 431,
                        HttpError::BodyTooLarge => 413,
                        HttpError::UnsupportedMethod => 405,
                        _ => 400,
                    };
                    let mut response = rest::error(status, "bad.request", "Malformed request.");
                    self.send_response(conn, &mut response, true);
                    self.close_conn(conn);
                    return Conn::Closed;
                }
            };
            let mut outcome = rest::handle(&mut self.config, &mut self.registry, &req);
            if let Some(segments) = outcome.call.take() {
                let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
                outcome.response = self.call_rest(now, req.method, &segments, &req.body);
                if let LogEntry::Rest { status, .. } = &mut outcome.log {
                    *status = outcome.response.status;
                }
            }
            self.log.push(outcome.log);
            let mut response = outcome.response;
            if let Some(auth) = outcome.upgrade {
                self.send_response(conn, &mut response, false);
                let ws = Box::new(WsConn {
                    decoder: FrameDecoder::new(Role::Server),
                    session: XmppSession::new(auth),
                });
                let rest = decoder.take_remaining();
                return self.ws_data(now, conn, ws, &rest);
            }
            let failed_upgrade = req.target.starts_with("/stream/");
            let close = failed_upgrade || wants_close(&req);
            self.send_response(conn, &mut response, close);
            if close {
                self.close_conn(conn);
                return Conn::Closed;
            }
        }
    }

    fn send_response(&mut self, conn: ConnId, response: &mut HttpResponse, close: bool) {
        self.correlation += 1;
        response.headers.push((
            "inin-correlation-id".to_owned(),
            format!("sim-{:08x}", self.correlation),
        ));
        if close {
            response
                .headers
                .push(("Connection".to_owned(), "close".to_owned()));
        }
        self.out.push_back(CloudOutput::Send {
            conn,
            data: response.encode(),
        });
    }

    fn ws_data(&mut self, now: Instant, conn: ConnId, mut ws: Box<WsConn>, data: &[u8]) -> Conn {
        ws.decoder.push(data);
        loop {
            let message = match ws.decoder.next_message() {
                Ok(Some(m)) => m,
                Ok(None) => return Conn::Ws(ws),
                Err(_) => {
                    self.close_ws(conn, Some(1002));
                    return Conn::Closed;
                }
            };
            match message {
                Message::Text(text) => {
                    self.log.push(LogEntry::XmppIn {
                        conn,
                        xml: text.clone(),
                    });
                    let mut ctx = Ctx {
                        config: &self.config,
                        registry: &mut self.registry,
                        now,
                    };
                    let actions = ws.session.handle_frame(&mut ctx, &text);
                    if self.apply(conn, actions) {
                        return Conn::Closed;
                    }
                }
                Message::Binary(_) => {
                    // RFC 7395 uses text frames only.
                    let mut ctx = Ctx {
                        config: &self.config,
                        registry: &mut self.registry,
                        now,
                    };
                    let mut actions = Vec::new();
                    ws.session
                        .stream_error(&mut ctx, "unsupported-encoding", &mut actions);
                    self.apply(conn, actions);
                    return Conn::Closed;
                }
                Message::Ping(payload) => {
                    let frame =
                        websocket::encode_frame(Role::Server, Opcode::Pong, &payload, [0; 4]);
                    self.out.push_back(CloudOutput::Send { conn, data: frame });
                }
                Message::Pong(_) => {}
                Message::Close(frame) => {
                    ws.session.mark_closed();
                    let data = websocket::encode_close(Role::Server, frame.as_ref(), [0; 4]);
                    self.out.push_back(CloudOutput::Send { conn, data });
                    self.close_conn(conn);
                    return Conn::Closed;
                }
            }
        }
    }

    /// Carries out session actions; returns whether the connection was closed.
    fn apply(&mut self, conn: ConnId, actions: Vec<Action>) -> bool {
        for action in actions {
            match action {
                Action::Send(el) => self.send_element(conn, &el),
                Action::Route(el) => self.inbox.push_back((conn, el)),
                Action::Close => {
                    self.close_ws(conn, Some(1000));
                    return true;
                }
            }
        }
        false
    }

    fn send_element(&mut self, conn: ConnId, el: &Element) {
        let xml = el.to_xml();
        let data = websocket::encode_frame(Role::Server, Opcode::Text, xml.as_bytes(), [0; 4]);
        self.log.push(LogEntry::XmppOut { conn, xml });
        self.out.push_back(CloudOutput::Send { conn, data });
    }

    /// Sends a WebSocket close frame and closes the connection.
    fn close_ws(&mut self, conn: ConnId, code: Option<u16>) {
        let frame = code.map(|code| CloseFrame {
            code,
            reason: String::new(),
        });
        let data = websocket::encode_close(Role::Server, frame.as_ref(), [0; 4]);
        self.out.push_back(CloudOutput::Send { conn, data });
        self.close_conn(conn);
    }

    fn close_conn(&mut self, conn: ConnId) {
        self.out.push_back(CloudOutput::Close { conn });
        self.log.push(LogEntry::Closed {
            conn,
            by: ClosedBy::Server,
        });
        if let Some(state) = self.conns.get_mut(&conn) {
            *state = Conn::Closed;
        }
    }
}

fn wants_close(req: &HttpRequest) -> bool {
    req.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("close"))
}

/// SplitMix64: deterministic, random-looking ids without a random source.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
