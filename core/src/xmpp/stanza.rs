//! Builders for the stanzas the client sends, and a typed view of inbound IQs.
//!
//! Everything here produces [`Element`]s; the engine serializes them into WebSocket text frames.

use base64::Engine as _;

use super::ns;
use crate::redact::Secret;
use crate::wire::xml::Element;

/// `<open/>` framing element (RFC 7395) for `to` domain.
pub fn open(to: &str) -> Element {
    Element::new("open", ns::FRAMING)
        .with_attr("to", to)
        .with_attr("version", "1.0")
        .with_attr("xml:lang", "en")
}

/// `<close/>` framing element.
pub fn close() -> Element {
    Element::new("close", ns::FRAMING)
}

/// SASL PLAIN: authzid empty, authcid = bare JID, password = `authKey:` + token.
pub fn auth_plain(bare_jid: &str, token: &Secret) -> Element {
    let mut raw = Vec::with_capacity(bare_jid.len() + token.expose().len() + 10);
    raw.push(0);
    raw.extend_from_slice(bare_jid.as_bytes());
    raw.push(0);
    raw.extend_from_slice(b"authKey:");
    raw.extend_from_slice(token.expose().as_bytes());
    Element::new("auth", ns::SASL)
        .with_attr("mechanism", "PLAIN")
        .with_text(base64::engine::general_purpose::STANDARD.encode(raw))
}

/// SASL ANONYMOUS with the empty initial response (`=`).
pub fn auth_anonymous() -> Element {
    Element::new("auth", ns::SASL)
        .with_attr("mechanism", "ANONYMOUS")
        .with_text("=")
}

fn iq(kind: &str, id: &str) -> Element {
    Element::new("iq", ns::CLIENT)
        .with_attr("type", kind)
        .with_attr("id", id)
}

/// Resource binding request.
pub fn bind(id: &str, resource: Option<&str>) -> Element {
    let mut b = Element::new("bind", ns::BIND);
    if let Some(r) = resource {
        b.push_child(Element::new("resource", ns::BIND).with_text(r));
    }
    iq("set", id).with_child(b)
}

/// Legacy session request (only when advertised and not optional).
pub fn session(id: &str) -> Element {
    iq("set", id).with_child(Element::new("session", ns::SESSION))
}

/// XEP-0199 ping to the account's server: no `to` attribute.
pub fn ping(id: &str) -> Element {
    iq("get", id).with_child(Element::new("ping", ns::PING))
}

/// XEP-0215 services request for `kind` (`turn` or `stun`) to the XMPP domain.
pub fn extdisco(id: &str, to: &str, kind: &str) -> Element {
    iq("get", id)
        .with_attr("to", to)
        .with_child(Element::new("services", ns::EXTDISCO).with_attr("type", kind))
}

/// Immediate pubsub subscribe of `node` for the bare JID.
pub fn pubsub_subscribe(id: &str, to: &str, node: &str, bare_jid: &str) -> Element {
    iq("set", id).with_attr("to", to).with_child(
        Element::new("pubsub", ns::PUBSUB).with_child(
            Element::new("subscribe", ns::PUBSUB)
                .with_attr("node", node)
                .with_attr("jid", bare_jid),
        ),
    )
}

/// Empty `result` for an inbound IQ.
pub fn iq_result(to: Option<&str>, id: &str) -> Element {
    iq("result", id).with_opt_attr("to", to)
}

/// `error` reply for an inbound IQ with a stanza error condition.
pub fn iq_error(to: Option<&str>, id: &str, error_type: &str, condition: &str) -> Element {
    iq("error", id).with_opt_attr("to", to).with_child(
        Element::new("error", ns::CLIENT)
            .with_attr("type", error_type)
            .with_child(Element::new(condition, ns::STANZAS)),
    )
}

/// A stream error (`<stream:error>`) with a condition and optional text.
pub fn stream_error(condition: &str, text: Option<&str>) -> Element {
    let mut e =
        Element::new("error", ns::STREAMS).with_child(Element::new(condition, ns::STREAM_ERRORS));
    if let Some(t) = text {
        e.push_child(Element::new("text", ns::STREAM_ERRORS).with_text(t));
    }
    e
}

/// IQ types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IqType {
    /// `get`
    Get,
    /// `set`
    Set,
    /// `result`
    Result,
    /// `error`
    Error,
}

/// A typed view of an inbound `<iq>`.
#[derive(Debug, Clone, Copy)]
pub struct Iq<'a> {
    /// Type.
    pub kind: IqType,
    /// `id` (may be empty when the server omitted it).
    pub id: &'a str,
    /// `from`, if present.
    pub from: Option<&'a str>,
    /// The element.
    pub element: &'a Element,
}

impl<'a> Iq<'a> {
    /// Reads an `<iq>` in the client namespace; `None` for anything else or an unknown type.
    pub fn parse(el: &'a Element) -> Option<Iq<'a>> {
        if !el.is("iq", ns::CLIENT) {
            return None;
        }
        let kind = match el.attr("type")? {
            "get" => IqType::Get,
            "set" => IqType::Set,
            "result" => IqType::Result,
            "error" => IqType::Error,
            _ => return None,
        };
        Some(Iq {
            kind,
            id: el.attr("id").unwrap_or(""),
            from: el.attr("from"),
            element: el,
        })
    }

    /// The stanza error condition of an `error` IQ.
    pub fn error_condition(&self) -> Option<&'a str> {
        self.element
            .child_named("error")?
            .elements()
            .find(|e| e.ns == ns::STANZAS)
            .map(|e| e.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_payload_matches_protocol_example() {
        let el = auth_plain("alice@example.orgspan.com", &Secret::new("EXAMPLE-TOKEN"));
        assert_eq!(
            el.to_xml(),
            r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">AGFsaWNlQGV4YW1wbGUub3Jnc3Bhbi5jb20AYXV0aEtleTpFWEFNUExFLVRPS0VO</auth>"#
        );
    }

    #[test]
    fn framing_and_ping_shapes() {
        assert_eq!(
            open("example.orgspan.com").to_xml(),
            r#"<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.orgspan.com" version="1.0" xml:lang="en"/>"#
        );
        let p = ping("p1");
        assert_eq!(p.attr("to"), None);
        assert_eq!(
            p.to_xml(),
            r#"<iq xmlns="jabber:client" type="get" id="p1"><ping xmlns="urn:xmpp:ping"/></iq>"#
        );
        assert_eq!(
            auth_anonymous().to_xml(),
            r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="ANONYMOUS">=</auth>"#
        );
    }
}
