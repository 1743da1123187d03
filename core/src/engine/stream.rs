//! One streaming socket: the WebSocket upgrade, RFC 7395 framing and the XMPP login (open,
//! features, SASL, restart, bind, legacy session) up to "session started".
//!
//! Owns the byte-level state of one connection attempt. Does not decide about reconnects, pings or
//! service discovery; it reports [`StreamEvent`]s and the engine decides.

use crate::redact::Secret;
use crate::wire::http::{HttpResponse, Method, ResponseDecoder};
use crate::wire::websocket::{self, FrameDecoder, Message, Opcode, Role, WsError};
use crate::wire::xml::{self, Element, XmlError, XmlLimits};
use crate::xmpp::sasl::{self, Mechanism};
use crate::xmpp::{ns, stanza};

/// The WebSocket subprotocol for XMPP.
pub(crate) const SUBPROTOCOL: &str = "xmpp";

/// How this socket authenticates.
#[derive(Clone)]
pub(crate) enum Auth {
    /// Token mode.
    Plain { bare_jid: String, token: Secret },
    /// JWT mode (the URL carries the JWT).
    Anonymous,
}

/// Why an attempt failed inside the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LoginFailure {
    /// The HTTP upgrade was refused or malformed.
    Handshake { status: Option<u16>, reason: String },
    /// WebSocket framing error.
    Framing(String),
    /// The server's XML could not be parsed.
    InvalidXml(String),
    /// The server sent something out of order.
    Unexpected(String),
    /// The mechanism we need is not offered (local `policy-violation`).
    NoMechanism { offered: Vec<String> },
    /// `<failure>` with this condition.
    Sasl(String),
    /// Bind or session was refused.
    Bind(String),
    /// The server sent a stream error.
    StreamError(String),
    /// The server closed the stream.
    Closed,
}

/// What the socket reports to the engine.
#[derive(Debug)]
pub(crate) enum StreamEvent {
    /// Bytes to write to the socket.
    Send(Vec<u8>),
    /// XMPP session started with this full JID.
    LoggedIn { full_jid: String },
    /// A stanza after login.
    Stanza(Element),
    /// The server closed the stream (`<close/>` or WebSocket close) after login.
    ServerClosed,
    /// The server sent a stream error after login.
    StreamError(String),
    /// Unparseable XML after login: the engine sends `invalid-xml` and drops the socket.
    InvalidXml(XmlError),
    /// The attempt failed before login.
    Failed(LoginFailure),
}

#[derive(Debug)]
enum Phase {
    Tcp,
    Upgrading,
    AwaitOpen { restarted: bool },
    AwaitFeatures { restarted: bool },
    AwaitAuth,
    AwaitBind { id: String },
    AwaitSession { id: String, full_jid: String },
    Ready,
    Dead,
}

/// One streaming socket.
pub(crate) struct StreamSocket {
    phase: Phase,
    http: ResponseDecoder,
    ws: FrameDecoder,
    ws_key: String,
    host: String,
    path: String,
    domain: String,
    auth: Auth,
    resource: Option<String>,
    pending_session: bool,
    limits: XmlLimits,
}

impl StreamSocket {
    pub(crate) fn new(
        host: String,
        path: String,
        domain: String,
        auth: Auth,
        resource: Option<String>,
    ) -> Self {
        StreamSocket {
            phase: Phase::Tcp,
            http: ResponseDecoder::new(Method::Get),
            ws: FrameDecoder::new(Role::Client),
            ws_key: String::new(),
            host,
            path,
            domain,
            auth,
            resource,
            pending_session: false,
            limits: XmlLimits::default(),
        }
    }

    /// The XMPP domain (`<open to>`).
    pub(crate) fn domain(&self) -> &str {
        &self.domain
    }

    /// Whether login finished.
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    /// The TCP/TLS connection is up: returns the upgrade request.
    pub(crate) fn on_connected(&mut self, rng: &mut fastrand::Rng) -> Vec<u8> {
        let mut key = [0u8; 16];
        rng.fill(&mut key);
        let (req, key_b64) =
            websocket::client_handshake(&self.host, &self.path, SUBPROTOCOL, key, &[]);
        self.ws_key = key_b64;
        self.phase = Phase::Upgrading;
        req.encode()
    }

    /// Serializes `el` into one masked WebSocket text frame.
    pub(crate) fn frame(&self, el: &Element, rng: &mut fastrand::Rng) -> Vec<u8> {
        tracing::trace!(stanza = %crate::redact::stanza_for_log(el), "xmpp out");
        let mut mask = [0u8; 4];
        rng.fill(&mut mask);
        websocket::encode_frame(Role::Client, Opcode::Text, el.to_xml().as_bytes(), mask)
    }

    /// Bytes from the socket.
    pub(crate) fn on_data(&mut self, data: &[u8], rng: &mut fastrand::Rng) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        let mut data = data.to_vec();
        if matches!(self.phase, Phase::Upgrading) {
            match self.http.push(&data) {
                Ok(None) => return out,
                Ok(Some(resp)) => {
                    if let Err(f) = self.check_upgrade(&resp) {
                        self.phase = Phase::Dead;
                        out.push(StreamEvent::Failed(f));
                        return out;
                    }
                    data = self.http.take_remaining();
                    self.phase = Phase::AwaitOpen { restarted: false };
                    let open = stanza::open(&self.domain);
                    out.push(StreamEvent::Send(self.frame(&open, rng)));
                }
                Err(e) => {
                    self.phase = Phase::Dead;
                    out.push(StreamEvent::Failed(LoginFailure::Handshake {
                        status: None,
                        reason: e.to_string(),
                    }));
                    return out;
                }
            }
        }
        if matches!(self.phase, Phase::Tcp | Phase::Dead) {
            return out;
        }
        self.ws.push(&data);
        loop {
            match self.ws.next_message() {
                Ok(None) => break,
                Ok(Some(Message::Text(text))) => {
                    self.on_frame(&text, rng, &mut out);
                    if matches!(self.phase, Phase::Dead) {
                        break;
                    }
                }
                Ok(Some(Message::Ping(payload))) => {
                    let mut mask = [0u8; 4];
                    rng.fill(&mut mask);
                    out.push(StreamEvent::Send(websocket::encode_frame(
                        Role::Client,
                        Opcode::Pong,
                        &payload,
                        mask,
                    )));
                }
                Ok(Some(Message::Pong(_))) => {}
                Ok(Some(Message::Binary(_))) => {
                    self.fail_or_report(
                        LoginFailure::Framing("binary frame on an XMPP socket".into()),
                        &mut out,
                    );
                    break;
                }
                Ok(Some(Message::Close(_))) => {
                    self.closed_by_server(&mut out);
                    break;
                }
                Err(e) => {
                    self.fail_or_report(LoginFailure::Framing(ws_error(&e)), &mut out);
                    break;
                }
            }
        }
        out
    }

    fn check_upgrade(&self, resp: &HttpResponse) -> Result<(), LoginFailure> {
        websocket::verify_server_handshake(resp, &self.ws_key, SUBPROTOCOL).map_err(|e| {
            LoginFailure::Handshake {
                status: Some(resp.status),
                reason: ws_error(&e),
            }
        })
    }

    fn closed_by_server(&mut self, out: &mut Vec<StreamEvent>) {
        if matches!(self.phase, Phase::Ready) {
            out.push(StreamEvent::ServerClosed);
        } else {
            out.push(StreamEvent::Failed(LoginFailure::Closed));
        }
        self.phase = Phase::Dead;
    }

    fn fail_or_report(&mut self, f: LoginFailure, out: &mut Vec<StreamEvent>) {
        if matches!(self.phase, Phase::Ready) {
            out.push(StreamEvent::StreamError(match f {
                LoginFailure::Framing(s) => s,
                other => format!("{other:?}"),
            }));
        } else {
            out.push(StreamEvent::Failed(f));
        }
        self.phase = Phase::Dead;
    }

    fn on_frame(&mut self, text: &str, rng: &mut fastrand::Rng, out: &mut Vec<StreamEvent>) {
        let el = match xml::parse(text, &self.limits) {
            Ok(el) => el,
            Err(e) => {
                if matches!(self.phase, Phase::Ready) {
                    out.push(StreamEvent::InvalidXml(e));
                } else {
                    out.push(StreamEvent::Failed(LoginFailure::InvalidXml(e.to_string())));
                }
                self.phase = Phase::Dead;
                return;
            }
        };
        tracing::trace!(stanza = %crate::redact::stanza_for_log(&el), "xmpp in");
        if el.is("close", ns::FRAMING) {
            self.closed_by_server(out);
            return;
        }
        if el.is("error", ns::STREAMS) {
            let cond = el
                .elements()
                .find(|c| c.ns == ns::STREAM_ERRORS && c.name != "text")
                .map(|c| c.name.clone())
                .unwrap_or_else(|| "undefined-condition".into());
            if matches!(self.phase, Phase::Ready) {
                out.push(StreamEvent::StreamError(cond));
            } else {
                out.push(StreamEvent::Failed(LoginFailure::StreamError(cond)));
            }
            self.phase = Phase::Dead;
            return;
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Dead);
        self.phase = match phase {
            Phase::Ready => {
                out.push(StreamEvent::Stanza(el));
                Phase::Ready
            }
            Phase::AwaitOpen { restarted } if el.is("open", ns::FRAMING) => {
                Phase::AwaitFeatures { restarted }
            }
            Phase::AwaitFeatures { restarted: false } if el.is("features", ns::STREAMS) => {
                let offered = sasl::offered(&el);
                let wanted = match self.auth {
                    Auth::Plain { .. } => Mechanism::Plain,
                    Auth::Anonymous => Mechanism::Anonymous,
                };
                tracing::debug!(
                    ?offered,
                    chosen = wanted.as_str(),
                    "SASL mechanisms offered"
                );
                if !offered.iter().any(|m| m == wanted.as_str()) {
                    out.push(StreamEvent::Send(self.frame(&stanza::close(), rng)));
                    out.push(StreamEvent::Failed(LoginFailure::NoMechanism { offered }));
                    return;
                }
                let auth = match &self.auth {
                    Auth::Plain { bare_jid, token } => stanza::auth_plain(bare_jid, token),
                    Auth::Anonymous => stanza::auth_anonymous(),
                };
                out.push(StreamEvent::Send(self.frame(&auth, rng)));
                Phase::AwaitAuth
            }
            Phase::AwaitAuth if el.is("success", ns::SASL) => {
                out.push(StreamEvent::Send(
                    self.frame(&stanza::open(&self.domain), rng),
                ));
                Phase::AwaitOpen { restarted: true }
            }
            Phase::AwaitAuth if el.is("failure", ns::SASL) => {
                out.push(StreamEvent::Failed(LoginFailure::Sasl(
                    sasl::failure_condition(&el),
                )));
                return;
            }
            Phase::AwaitFeatures { restarted: true } if el.is("features", ns::STREAMS) => {
                if el.child("bind", ns::BIND).is_none() {
                    out.push(StreamEvent::Failed(LoginFailure::Bind(
                        "server offered no resource binding".into(),
                    )));
                    return;
                }
                self.pending_session = el
                    .child("session", ns::SESSION)
                    .is_some_and(|s| s.child_named("optional").is_none());
                let id = uuid(rng);
                let bind = stanza::bind(&id, self.resource.as_deref());
                out.push(StreamEvent::Send(self.frame(&bind, rng)));
                Phase::AwaitBind { id }
            }
            Phase::AwaitBind { id } if is_reply(&el, &id) => {
                let jid = el
                    .child("bind", ns::BIND)
                    .and_then(|b| b.child("jid", ns::BIND))
                    .map(|j| j.text().trim().to_string())
                    .filter(|j| j.contains('@') && j.contains('/') && j.len() <= 3072);
                match (el.attr("type"), jid) {
                    (Some("result"), Some(full_jid)) => {
                        if self.pending_session {
                            let id = uuid(rng);
                            out.push(StreamEvent::Send(self.frame(&stanza::session(&id), rng)));
                            Phase::AwaitSession { id, full_jid }
                        } else {
                            out.push(StreamEvent::LoggedIn { full_jid });
                            Phase::Ready
                        }
                    }
                    _ => {
                        out.push(StreamEvent::Failed(LoginFailure::Bind(
                            "bind refused or without a full JID".into(),
                        )));
                        return;
                    }
                }
            }
            Phase::AwaitSession { id, full_jid } if is_reply(&el, &id) => {
                if el.attr("type") == Some("result") {
                    out.push(StreamEvent::LoggedIn { full_jid });
                    Phase::Ready
                } else {
                    out.push(StreamEvent::Failed(LoginFailure::Bind(
                        "session refused".into(),
                    )));
                    return;
                }
            }
            other => {
                out.push(StreamEvent::Failed(LoginFailure::Unexpected(format!(
                    "<{}> while {}",
                    el.name.chars().take(40).collect::<String>(),
                    phase_name(&other)
                ))));
                return;
            }
        };
    }
}

fn phase_name(p: &Phase) -> &'static str {
    match p {
        Phase::Tcp => "connecting",
        Phase::Upgrading => "upgrading",
        Phase::AwaitOpen { .. } => "awaiting <open/>",
        Phase::AwaitFeatures { .. } => "awaiting features",
        Phase::AwaitAuth => "authenticating",
        Phase::AwaitBind { .. } => "binding",
        Phase::AwaitSession { .. } => "starting session",
        Phase::Ready => "ready",
        Phase::Dead => "closed",
    }
}

fn is_reply(el: &Element, id: &str) -> bool {
    el.is("iq", ns::CLIENT)
        && el.attr("id") == Some(id)
        && matches!(el.attr("type"), Some("result" | "error"))
}

fn ws_error(e: &WsError) -> String {
    e.to_string()
}

/// A random UUID v4 string from the engine's seeded generator.
pub(crate) fn uuid(rng: &mut fastrand::Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
