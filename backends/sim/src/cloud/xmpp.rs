//! The server side of one RFC 7395 XMPP stream (PROTOCOL.md section 3): stream open, SASL
//! PLAIN/ANONYMOUS, stream restart, resource binding, and the IQs a Genesys client sends after
//! login (ping, XEP-0215 extdisco, pubsub subscribe, disco#info).
//!
//! Owns the per-stream state machine ([`XmppSession`]). It takes one frame of text at a time and
//! returns [`Action`]s (elements to send, or "close the socket"); it never sees bytes or
//! WebSocket frames. Messages, and IQs addressed to a `gjoll` softphone JID, are handed to the
//! connection layer for routing ([`Action::Route`], `calls.rs`); other IQs the client addresses
//! to anyone other than the server or the notifications component are answered with
//! `service-unavailable`.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use genesys_webrtc::wire::xml::{self, Element, XmlLimits};
use genesys_webrtc::xmpp::ns;

use super::config::{CloudConfig, IceServerConfig, SERVER_SIDE_PINGS_TOPIC};
use super::rest::{Registry, StreamAuth};

/// Longest resource the server accepts from a bind request; longer ones are replaced by a
/// generated resource.
pub const MAX_RESOURCE_BYTES: usize = 1023;

/// Something the connection layer must do for the session.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Send this element as one text frame.
    Send(Element),
    /// Send a WebSocket close frame and close the connection.
    Close,
    /// A stanza for someone other than the server (a message, or an IQ to a `gjoll` softphone
    /// JID), with `from` stamped to the sender's full JID: the connection layer routes it
    /// (`calls.rs`).
    Route(Element),
}

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first `<open/>`.
    Initial,
    /// Features with SASL mechanisms sent; waiting for `<auth/>`.
    Sasl,
    /// SASL succeeded; waiting for the restart `<open/>`.
    AwaitRestart,
    /// Features with bind sent; waiting for the bind IQ.
    AwaitBind,
    /// Resource bound: the session is connected.
    Bound,
    /// A close was sent; everything else is ignored.
    Closed,
}

/// The server side of one XMPP stream.
#[derive(Debug)]
pub(crate) struct XmppSession {
    /// How the WebSocket was authorised (channel or JWT).
    pub(crate) auth: StreamAuth,
    phase: Phase,
    /// Whether an `<open/>` was sent on the current stream (stream errors need one first).
    opened: bool,
    stream_id: String,
    /// The authenticated bare JID (after SASL success).
    bare: Option<String>,
    /// The bound full JID.
    pub(crate) full_jid: Option<String>,
    /// Topics subscribed over XMPP (immediate subscriptions).
    pub(crate) topics: BTreeSet<String>,
    /// When to send the next server-side ping (only with [`SERVER_SIDE_PINGS_TOPIC`]).
    pub(crate) next_server_ping: Option<Instant>,
    next_id: u64,
}

/// Inputs shared by every session.
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a CloudConfig,
    pub(crate) registry: &'a mut Registry,
    pub(crate) now: Instant,
}

impl XmppSession {
    pub(crate) fn new(auth: StreamAuth) -> Self {
        XmppSession {
            auth,
            phase: Phase::Initial,
            opened: false,
            stream_id: String::new(),
            bare: None,
            full_jid: None,
            topics: BTreeSet::new(),
            next_server_ping: None,
            next_id: 0,
        }
    }

    /// Whether a resource is bound.
    pub(crate) fn is_bound(&self) -> bool {
        self.phase == Phase::Bound && self.full_jid.is_some()
    }

    /// A fresh id for a server-originated stanza.
    pub(crate) fn next_stanza_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    /// Marks the stream closed (the connection layer closed it).
    pub(crate) fn mark_closed(&mut self) {
        self.phase = Phase::Closed;
        self.next_server_ping = None;
    }

    /// Handles one inbound text frame.
    pub(crate) fn handle_frame(&mut self, ctx: &mut Ctx<'_>, text: &str) -> Vec<Action> {
        let mut out = Vec::new();
        if self.phase == Phase::Closed {
            return out;
        }
        let el = match xml::parse(text, &XmlLimits::default()) {
            Ok(el) => el,
            Err(_) => {
                self.stream_error(ctx, "invalid-xml", &mut out);
                return out;
            }
        };
        if el.is("close", ns::FRAMING) {
            out.push(Action::Send(Element::new("close", ns::FRAMING)));
            out.push(Action::Close);
            self.mark_closed();
            return out;
        }
        if el.is("open", ns::FRAMING) {
            self.handle_open(ctx, &el, &mut out);
            return out;
        }
        match self.phase {
            Phase::Initial => self.stream_error(ctx, "invalid-namespace", &mut out),
            Phase::Sasl => self.handle_sasl(ctx, &el, &mut out),
            Phase::AwaitRestart => self.stream_error(ctx, "not-authorized", &mut out),
            Phase::AwaitBind | Phase::Bound => self.handle_stanza(ctx, &el, &mut out),
            Phase::Closed => {}
        }
        out
    }

    /// Sends a stream error (preceded by an `<open/>` if none was sent), `<close/>`, and closes.
    pub(crate) fn stream_error(
        &mut self,
        ctx: &mut Ctx<'_>,
        condition: &str,
        out: &mut Vec<Action>,
    ) {
        if !self.opened {
            self.stream_id = new_stream_id(ctx.registry);
            out.push(Action::Send(self.open_element(ctx.config)));
            self.opened = true;
        }
        out.push(Action::Send(
            Element::new("error", ns::STREAMS)
                .with_child(Element::new(condition, ns::STREAM_ERRORS)),
        ));
        out.push(Action::Send(Element::new("close", ns::FRAMING)));
        out.push(Action::Close);
        self.mark_closed();
    }

    fn open_element(&self, config: &CloudConfig) -> Element {
        Element::new("open", ns::FRAMING)
            .with_attr("from", config.xmpp_domain.as_str())
            .with_attr("id", self.stream_id.as_str())
            .with_attr("version", "1.0")
            .with_attr("xml:lang", "en")
    }

    fn handle_open(&mut self, ctx: &mut Ctx<'_>, el: &Element, out: &mut Vec<Action>) {
        let config = ctx.config;
        if el.attr("to") != Some(config.xmpp_domain.as_str()) {
            self.stream_error(ctx, "host-unknown", out);
            return;
        }
        let features = match self.phase {
            Phase::Initial | Phase::Sasl => {
                self.phase = Phase::Sasl;
                let mechanism = match self.auth {
                    StreamAuth::Channel(_) => "PLAIN",
                    StreamAuth::Jwt(_) => "ANONYMOUS",
                };
                Element::new("features", ns::STREAMS).with_child(
                    Element::new("mechanisms", ns::SASL)
                        .with_child(Element::new("mechanism", ns::SASL).with_text(mechanism)),
                )
            }
            Phase::AwaitRestart => {
                self.phase = Phase::AwaitBind;
                Element::new("features", ns::STREAMS)
                    .with_child(Element::new("bind", ns::BIND))
                    .with_child(
                        Element::new("session", ns::SESSION)
                            .with_child(Element::new("optional", ns::SESSION)),
                    )
            }
            Phase::AwaitBind | Phase::Bound | Phase::Closed => {
                self.stream_error(ctx, "policy-violation", out);
                return;
            }
        };
        self.stream_id = new_stream_id(ctx.registry);
        self.opened = true;
        out.push(Action::Send(self.open_element(config)));
        out.push(Action::Send(features));
    }

    fn handle_sasl(&mut self, ctx: &mut Ctx<'_>, el: &Element, out: &mut Vec<Action>) {
        if el.is("abort", ns::SASL) {
            out.push(Action::Send(sasl_failure("aborted")));
            return;
        }
        if !el.is("auth", ns::SASL) {
            self.stream_error(ctx, "not-authorized", out);
            return;
        }
        if let Some(condition) = &ctx.config.faults.sasl_failure {
            out.push(Action::Send(sasl_failure(condition)));
            return;
        }
        let text = el.text();
        let text = text.trim();
        let payload = if text.is_empty() || text == "=" {
            Vec::new()
        } else {
            match STANDARD.decode(text) {
                Ok(p) => p,
                Err(_) => {
                    out.push(Action::Send(sasl_failure("incorrect-encoding")));
                    return;
                }
            }
        };
        let result = match (&self.auth, el.attr("mechanism")) {
            (StreamAuth::Channel(_), Some("PLAIN")) => check_plain(ctx.config, &payload),
            (StreamAuth::Jwt(_), Some("ANONYMOUS")) => {
                let n = ctx.registry.next_guest();
                Ok(format!("guest-{n}@{}", ctx.config.xmpp_domain))
            }
            _ => Err("invalid-mechanism"),
        };
        match result {
            Ok(bare) => {
                self.bare = Some(bare);
                self.phase = Phase::AwaitRestart;
                self.opened = false;
                out.push(Action::Send(Element::new("success", ns::SASL)));
            }
            Err(condition) => out.push(Action::Send(sasl_failure(condition))),
        }
    }

    fn handle_stanza(&mut self, ctx: &mut Ctx<'_>, el: &Element, out: &mut Vec<Action>) {
        if el.ns != ns::CLIENT && !el.ns.is_empty() {
            self.stream_error(ctx, "invalid-namespace", out);
            return;
        }
        match el.name.as_str() {
            "iq" => self.handle_iq(ctx, el, out),
            // Messages are routed (JMI to gjoll or to the user's own JIDs); presence has no
            // server-side effect here.
            "message" if self.phase == Phase::Bound => {
                if el.attr("to").is_some() {
                    out.push(Action::Route(self.stamped(el)));
                }
            }
            "presence" if self.phase == Phase::Bound => {}
            _ if self.phase == Phase::AwaitBind => self.stream_error(ctx, "not-authorized", out),
            _ => self.stream_error(ctx, "unsupported-stanza-type", out),
        }
    }

    fn handle_iq(&mut self, ctx: &mut Ctx<'_>, iq: &Element, out: &mut Vec<Action>) {
        let kind = iq.attr("type").unwrap_or("");
        if self.phase == Phase::Bound
            && iq
                .attr("to")
                .is_some_and(genesys_webrtc::signaling::jmi::is_softphone_jid)
        {
            // Call signalling (and replies to it) for the softphone gateway.
            out.push(Action::Route(self.stamped(iq)));
            return;
        }
        if kind == "result" || kind == "error" {
            // Answers to our pings / cxfr; nothing to do.
            return;
        }
        let children: Vec<&Element> = iq.elements().collect();
        if (kind != "get" && kind != "set") || iq.attr("id").is_none() || children.len() != 1 {
            out.push(Action::Send(self.iq_error(iq, "modify", "bad-request")));
            return;
        }
        let Some(&child) = children.first() else {
            return;
        };
        if self.phase == Phase::AwaitBind {
            if kind == "set" && child.is("bind", ns::BIND) {
                self.handle_bind(ctx, iq, child, out);
            } else {
                self.stream_error(ctx, "not-authorized", out);
            }
            return;
        }
        let config = ctx.config;
        let to = iq.attr("to");
        let to_server = match to {
            None => true,
            Some(t) => {
                t == config.xmpp_domain
                    || Some(t) == self.bare.as_deref()
                    || Some(t) == self.full_jid.as_deref()
            }
        };
        let to_notifications = to == Some(config.notifications_jid().as_str());
        let reply = if to_server {
            self.server_iq(ctx, iq, kind, child)
        } else if to_notifications {
            self.pubsub_iq(ctx, iq, kind, child)
        } else {
            Some(self.iq_error(iq, "cancel", "service-unavailable"))
        };
        if let Some(reply) = reply {
            out.push(Action::Send(reply));
        }
    }

    fn handle_bind(
        &mut self,
        ctx: &mut Ctx<'_>,
        iq: &Element,
        bind: &Element,
        out: &mut Vec<Action>,
    ) {
        if ctx.config.faults.bind_silent {
            return;
        }
        let requested = bind
            .child("resource", ns::BIND)
            .map(|r| r.text().trim().to_owned())
            .filter(|r| !r.is_empty() && r.len() <= MAX_RESOURCE_BYTES);
        let resource = match requested {
            Some(r) => r,
            None => {
                let h = super::splitmix64(ctx.registry.next_serial() ^ 0x7e50);
                format!("sim-{h:016x}")
            }
        };
        let bare = match &self.bare {
            Some(b) => b.clone(),
            None => ctx.config.jabber_id.clone(),
        };
        let full = format!("{bare}/{resource}");
        self.full_jid = Some(full.clone());
        self.phase = Phase::Bound;
        let mut result = Element::new("iq", ns::CLIENT)
            .with_attr("type", "result")
            .with_attr("id", iq.attr("id").unwrap_or(""));
        result.push_child(
            Element::new("bind", ns::BIND)
                .with_child(Element::new("jid", ns::BIND).with_text(full)),
        );
        out.push(Action::Send(result));
    }

    /// IQs addressed to the server itself.
    fn server_iq(
        &mut self,
        ctx: &mut Ctx<'_>,
        iq: &Element,
        kind: &str,
        child: &Element,
    ) -> Option<Element> {
        let config = ctx.config;
        if kind == "get" && child.is("ping", ns::PING) {
            if config.faults.ping_silent {
                return None;
            }
            return Some(self.iq_result(iq));
        }
        if kind == "get" && child.is("services", ns::EXTDISCO) {
            if config.faults.extdisco_silent {
                return None;
            }
            let wanted = child.attr("type");
            let mut services = Element::new("services", ns::EXTDISCO).with_opt_attr("type", wanted);
            if wanted.is_none() || wanted == Some("turn") {
                for s in &config.turn_servers {
                    services.push_child(service_element("turn", s, true));
                }
            }
            if wanted.is_none() || wanted == Some("stun") {
                for s in &config.stun_servers {
                    services.push_child(service_element("stun", s, false));
                }
            }
            return Some(self.iq_result(iq).with_child(services));
        }
        if kind == "get" && child.is("query", ns::DISCO_INFO) {
            let query = Element::new("query", ns::DISCO_INFO)
                .with_child(
                    Element::new("identity", ns::DISCO_INFO)
                        .with_attr("category", "server")
                        .with_attr("type", "im")
                        .with_attr("name", "Fake Genesys Cloud"),
                )
                .with_child(feature(ns::DISCO_INFO))
                .with_child(feature(ns::PING))
                .with_child(feature(ns::EXTDISCO));
            return Some(self.iq_result(iq).with_child(query));
        }
        if kind == "set" && child.is("session", ns::SESSION) {
            return Some(self.iq_result(iq));
        }
        if child.is("bind", ns::BIND) {
            return Some(self.iq_error(iq, "cancel", "not-allowed"));
        }
        Some(self.iq_error(iq, "cancel", "service-unavailable"))
    }

    /// IQs addressed to `notifications.{environment}`.
    fn pubsub_iq(
        &mut self,
        ctx: &mut Ctx<'_>,
        iq: &Element,
        kind: &str,
        child: &Element,
    ) -> Option<Element> {
        let config = ctx.config;
        if kind == "get" && child.is("query", ns::DISCO_INFO) {
            let query = Element::new("query", ns::DISCO_INFO)
                .with_child(
                    Element::new("identity", ns::DISCO_INFO)
                        .with_attr("category", "pubsub")
                        .with_attr("type", "service")
                        .with_attr("name", "Notifications"),
                )
                .with_child(feature(ns::PUBSUB));
            return Some(self.iq_result(iq).with_child(query));
        }
        if kind == "get" && child.is("ping", ns::PING) {
            return if config.faults.ping_silent {
                None
            } else {
                Some(self.iq_result(iq))
            };
        }
        if kind != "set" || !child.is("pubsub", ns::PUBSUB) {
            return Some(self.iq_error(iq, "cancel", "service-unavailable"));
        }
        let ops: Vec<&Element> = child.elements().collect();
        let [op] = ops.as_slice() else {
            return Some(self.iq_error(iq, "modify", "bad-request"));
        };
        let node = op.attr("node").unwrap_or("");
        if node.is_empty() {
            return Some(self.iq_error(iq, "modify", "bad-request"));
        }
        let jid = op.attr("jid").unwrap_or("");
        let own =
            jid == self.bare.as_deref().unwrap_or("") || Some(jid) == self.full_jid.as_deref();
        if !own {
            return Some(self.iq_error(iq, "modify", "bad-request"));
        }
        if op.is("subscribe", ns::PUBSUB) {
            self.topics.insert(node.to_owned());
            if node == SERVER_SIDE_PINGS_TOPIC {
                self.next_server_ping = Some(ctx.now + config.server_ping_interval);
            }
            let subscription = Element::new("subscription", ns::PUBSUB)
                .with_attr("node", node)
                .with_attr("jid", jid)
                .with_attr("subscription", "subscribed");
            return Some(
                self.iq_result(iq)
                    .with_child(Element::new("pubsub", ns::PUBSUB).with_child(subscription)),
            );
        }
        if op.is("unsubscribe", ns::PUBSUB) {
            self.topics.remove(node);
            if node == SERVER_SIDE_PINGS_TOPIC {
                self.next_server_ping = None;
            }
            return Some(self.iq_result(iq));
        }
        Some(self.iq_error(iq, "cancel", "feature-not-implemented"))
    }

    /// `el` with `from` set to the session's full JID (servers stamp the sender).
    fn stamped(&self, el: &Element) -> Element {
        let mut el = el.clone();
        if let Some(full) = &self.full_jid {
            el.set_attr("from", full.as_str());
        }
        el
    }

    /// An empty result for `iq`: same id, `from`/`to` swapped (the session's full JID when the
    /// request had no `from`).
    fn iq_result(&self, iq: &Element) -> Element {
        self.reply(iq, "result")
    }

    fn iq_error(&self, iq: &Element, error_type: &str, condition: &str) -> Element {
        self.reply(iq, "error").with_child(
            Element::new("error", ns::CLIENT)
                .with_attr("type", error_type)
                .with_child(Element::new(condition, ns::STANZAS)),
        )
    }

    fn reply(&self, iq: &Element, kind: &str) -> Element {
        let to = iq.attr("from").or(self.full_jid.as_deref());
        Element::new("iq", ns::CLIENT)
            .with_attr("type", kind)
            .with_opt_attr("id", iq.attr("id"))
            .with_opt_attr("from", iq.attr("to"))
            .with_opt_attr("to", to)
    }
}

fn new_stream_id(registry: &mut Registry) -> String {
    let h = super::splitmix64(registry.next_serial() ^ 0x57e4);
    format!("{h:016x}")
}

fn feature(var: &str) -> Element {
    Element::new("feature", ns::DISCO_INFO).with_attr("var", var)
}

fn sasl_failure(condition: &str) -> Element {
    Element::new("failure", ns::SASL).with_child(Element::new(condition, ns::SASL))
}

/// Checks a PLAIN initial response: `"" NUL bareJid NUL "authKey:" token`.
fn check_plain(config: &CloudConfig, payload: &[u8]) -> Result<String, &'static str> {
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err("incorrect-encoding");
    };
    let mut parts = text.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed-request");
    };
    let expected = format!("authKey:{}", config.access_token);
    if authzid.is_empty()
        && authcid == config.jabber_id
        && !config.access_token.is_empty()
        && password == expected
    {
        Ok(authcid.to_owned())
    } else {
        Err("not-authorized")
    }
}

fn service_element(kind: &str, server: &IceServerConfig, credentials: bool) -> Element {
    let mut el = Element::new("service", ns::EXTDISCO)
        .with_attr("type", kind)
        .with_attr("host", server.host.as_str())
        .with_opt_attr("port", server.port.map(|p| p.to_string()))
        .with_opt_attr("transport", server.transport.as_deref());
    if credentials {
        el = el
            .with_opt_attr("username", server.username.as_deref())
            .with_opt_attr("password", server.password.as_deref());
    }
    el
}

/// A pubsub event message (PROTOCOL.md 4.2) from `from` to `to` for `node`, carrying `json`.
pub(crate) fn pubsub_message(
    from: &str,
    to: &str,
    id: &str,
    node: &str,
    json: &serde_json::Value,
) -> Element {
    Element::new("message", ns::CLIENT)
        .with_attr("from", from)
        .with_attr("to", to)
        .with_attr("id", id)
        .with_child(
            Element::new("event", ns::PUBSUB_EVENT).with_child(
                Element::new("items", ns::PUBSUB_EVENT)
                    .with_attr("node", node)
                    .with_child(
                        Element::new("item", ns::PUBSUB_EVENT)
                            .with_attr("id", id)
                            .with_child(Element::new("json", ns::JSON).with_text(json.to_string())),
                    ),
            ),
        )
}
