//! Stanzas after login: IQ requests (ping, disco#info, XEP-0051 connection transfer, anything else
//! refused), IQ replies (pings, discovery, subscriptions, checked against allowed responders) and
//! pubsub messages (control topics and notifications), per PROTOCOL.md §3.4, §3.9, §4.

use std::time::Instant;

use super::connection::{AttemptFailure, Link};
use super::discovery::DiscoveryStep;
use super::{Engine, Identity};
use crate::events::{SdkErrorKind, SdkEvent};
use crate::notifications;
use crate::options::LogLevel;
use crate::wire::xml::Element;
use crate::xmpp::ns;
use crate::xmpp::ping::PingAction;
use crate::xmpp::stanza::{self, Iq, IqType};

impl Engine {
    pub(crate) fn on_stanza(&mut self, now: Instant, el: Element) {
        if let Some(iq) = Iq::parse(&el) {
            match iq.kind {
                IqType::Get | IqType::Set => self.on_request_iq(now, &iq),
                IqType::Result | IqType::Error => self.on_reply_iq(now, &iq),
            }
            return;
        }
        if el.is("message", ns::CLIENT) {
            self.on_message(now, &el);
        }
    }

    pub(crate) fn allowed_responder(&self, from: Option<&str>, to: Option<&str>) -> bool {
        let Some(from) = from else { return true };
        let full = self.full_jid().unwrap_or("");
        let bare = full.split('/').next().unwrap_or("");
        let domain = bare.split_once('@').map(|(_, d)| d).unwrap_or("");
        let ok_self = from == full || from == bare || from == domain;
        let ok_to = to.is_some_and(|to| {
            let to_bare = to.split('/').next().unwrap_or("");
            let to_domain = to_bare.split_once('@').map(|(_, d)| d).unwrap_or(to_bare);
            from == to || from == to_bare || from == to_domain
        });
        ok_self || ok_to
    }

    pub(crate) fn on_reply_iq(&mut self, now: Instant, iq: &Iq<'_>) {
        if self.ping.is_outstanding(iq.id) {
            if !self.allowed_responder(iq.from, None) {
                return;
            }
            if let Some(PingAction::Drop) = self.ping.reply(iq.id, iq.kind == IqType::Result, now) {
                self.drop_for_missed_pongs(now);
            }
            return;
        }
        // Subscribe replies come from the pubsub component (`notifications.{env}`), which is
        // the request's `to`, so they are checked against that before the general rule.
        if self.pending_subscribes.contains_key(iq.id) {
            let notifications = self.opts.notifications_host();
            if !self.allowed_responder(iq.from, Some(&notifications)) {
                tracing::debug!("ignoring a subscribe reply from an unexpected sender");
                return;
            }
            if let Some((topic, _)) = self.pending_subscribes.remove(iq.id) {
                if iq.kind == IqType::Error {
                    self.error(
                        SdkErrorKind::Generic,
                        format!(
                            "subscribing to {topic} failed: {}",
                            iq.error_condition().unwrap_or("undefined-condition")
                        ),
                    );
                }
            }
            return;
        }
        if self.on_terminate_reply(now, iq.id, iq.from) {
            return;
        }
        let domain = self.socket.as_ref().map(|s| s.stream.domain().to_string());
        if !self.allowed_responder(iq.from, domain.as_deref()) {
            tracing::debug!("ignoring IQ reply from an unexpected sender");
            return;
        }
        if let Link::Discovering { disco } = &mut self.link {
            match disco.on_reply(iq) {
                DiscoveryStep::NotMine => {}
                DiscoveryStep::Pending => return,
                DiscoveryStep::Done(ice) => {
                    self.link_up(now, ice);
                    return;
                }
                DiscoveryStep::Failed(reason) => {
                    self.attempt_failed(now, AttemptFailure::Discovery(reason));
                    return;
                }
            }
        }
        if let Some(r) = self.refresh.as_mut() {
            match r.on_reply(iq) {
                DiscoveryStep::NotMine | DiscoveryStep::Pending => {}
                DiscoveryStep::Done(ice) => {
                    self.refresh = None;
                    self.refresh_tries_left = 0;
                    tracing::debug!(servers = ice.servers.len(), "ICE servers refreshed");
                    self.ice = Some(ice);
                    self.resolve_ice_hosts();
                }
                DiscoveryStep::Failed(reason) => {
                    self.refresh = None;
                    self.refresh_failed(now, reason);
                }
            }
        }
    }

    pub(crate) fn on_request_iq(&mut self, now: Instant, iq: &Iq<'_>) {
        let children: Vec<&Element> = iq.element.elements().collect();
        let reply_to = iq.from;
        let [payload] = children.as_slice() else {
            self.send_element(&stanza::iq_error(reply_to, iq.id, "modify", "bad-request"));
            return;
        };
        match (iq.kind, payload.ns.as_str(), payload.name.as_str()) {
            (IqType::Set, ns::GENESYS, "genesys-webrtc") => {
                match crate::signaling::sdp_over_xmpp::parse_genesys_iq(iq.element) {
                    Some(Ok(rpc)) => self.on_genesys_rpc(now, rpc),
                    Some(Err(e)) => {
                        self.error(
                            SdkErrorKind::Protocol,
                            format!("bad sdp-over-xmpp request: {e}"),
                        );
                        self.send_element(&stanza::iq_error(
                            reply_to,
                            iq.id,
                            "modify",
                            "bad-request",
                        ));
                    }
                    None => {}
                }
            }
            (IqType::Set, ns::JINGLE, "jingle") => {
                let from = reply_to.unwrap_or_default().to_string();
                self.on_jingle(now, iq.id, &from, payload);
            }
            (IqType::Get, ns::PING, "ping") => {
                self.send_element(&stanza::iq_result(reply_to, iq.id));
            }
            (IqType::Get, ns::DISCO_INFO, "query") => {
                let mut q = Element::new("query", ns::DISCO_INFO);
                for f in [ns::DISCO_INFO, ns::PING, ns::JINGLE, ns::JMI] {
                    q.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", f));
                }
                self.send_element(&stanza::iq_result(reply_to, iq.id).with_child(q));
            }
            (IqType::Set, ns::CXFR, "query") => {
                // XEP-0051: no result is sent; drop and reconnect hard (PROTOCOL.md §3.9).
                self.trace(LogLevel::Info, "server announced connection transfer");
                self.hard_required = true;
                self.auto_reconnect = true;
                self.close_socket();
                self.socket_lost(now, "connection transfer");
            }
            _ => {
                self.send_element(&stanza::iq_error(
                    reply_to,
                    iq.id,
                    "cancel",
                    "service-unavailable",
                ));
            }
        }
    }

    pub(crate) fn on_message(&mut self, now: Instant, el: &Element) {
        if let Some(jmi) = crate::signaling::jmi::parse_jmi(el) {
            match jmi {
                Ok(m) => self.on_jmi(now, m),
                Err(e) => self.error(SdkErrorKind::Protocol, format!("bad JMI message: {e}")),
            }
            return;
        }
        let Some(event) = notifications::parse_event(el) else {
            return;
        };
        let node = event.node.as_str();
        if node.contains("no_longer_subscribed") || node.contains("duplicate_id") {
            self.trace(
                LogLevel::Warn,
                format!("control topic {node}: hard reconnect required"),
            );
            self.hard_required = true;
            self.ping.stop();
            return;
        }
        if node == "streaming-subscriptions-expiring" {
            self.subscribed_channel = None;
            self.schedule_resubscribe(now);
            return;
        }
        if !self.topics.contains(node) {
            tracing::debug!(
                topic = node,
                "notification for a topic we did not subscribe"
            );
            return;
        }
        let json = event.json.unwrap_or(serde_json::Value::Null);
        let action = json
            .pointer("/metadata/action")
            .and_then(|a| a.as_str())
            .map(str::to_string);
        if let Some(Identity::User { user_id, .. }) = &self.identity {
            if node == format!("v2.users.{user_id}.conversations") {
                if let Some(body) = json.get("eventBody") {
                    let body = body.clone();
                    self.on_conversation_event(&body);
                }
            }
        }
        let event_body = json
            .get("eventBody")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        self.emit(SdkEvent::Notification {
            topic: node.to_string(),
            event_body,
            action,
        });
    }
}
