//! What may be logged. Owns the [`Secret`] wrapper for tokens, keys, JWTs, security codes and
//! TURN passwords, and helpers that strip secrets out of URLs before they reach a log line.
//!
//! Rule: a secret is only ever formatted through [`Secret::expose`], at the one place that puts it
//! on the wire. `Debug` and `Display` print `{redacted}`.

use std::fmt;

/// A string that must never reach a log, a trace event or an error message.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for putting it on the wire. Never pass the result to a logger.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{redacted}")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{redacted}")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

/// Replaces the JWT in a `/stream/jwt/{jwt}` path (the guest WebSocket URL) with `{redacted}`.
pub fn redact_stream_path(path: &str) -> String {
    match path.find("/stream/jwt/") {
        Some(i) => format!("{}/stream/jwt/{{redacted}}", &path[..i]),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_format() {
        let s = Secret::new("tok-123");
        assert_eq!(format!("{s} {s:?}"), "{redacted} {redacted}");
        assert_eq!(s.expose(), "tok-123");
    }

    #[test]
    fn stream_paths_lose_their_jwt() {
        assert_eq!(
            redact_stream_path("/stream/jwt/eyJ.abc.def"),
            "/stream/jwt/{redacted}"
        );
        assert_eq!(
            redact_stream_path("/x/stream/channels/abc"),
            "/x/stream/channels/abc"
        );
    }
}

/// Longest stanza text written to a log line.
pub const MAX_LOGGED_STANZA: usize = 2048;

/// A stanza as it may appear in a TRACE log: SASL payloads and XEP-0215 passwords replaced by
/// `{redacted}`, and the text cut at [`MAX_LOGGED_STANZA`] characters.
pub fn stanza_for_log(el: &crate::wire::xml::Element) -> String {
    let mut copy = el.clone();
    scrub(&mut copy);
    let mut text = copy.to_xml();
    if text.len() > MAX_LOGGED_STANZA {
        let mut cut = MAX_LOGGED_STANZA;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn scrub(el: &mut crate::wire::xml::Element) {
    use crate::wire::xml::Node;
    use crate::xmpp::ns;
    if el.ns == ns::SASL
        && matches!(
            el.name.as_str(),
            "auth" | "response" | "challenge" | "success"
        )
    {
        el.children = vec![Node::Text("{redacted}".into())];
        return;
    }
    for (k, v) in el.attrs.iter_mut() {
        if matches!(k.as_str(), "password" | "credential" | "pwd") {
            *v = "{redacted}".into();
        }
    }
    for child in el.children.iter_mut() {
        match child {
            Node::Element(c) => scrub(c),
            // SDP travels as text in sdp-over-xmpp JSON: hide its ICE passwords.
            Node::Text(t) if t.contains("ice-pwd:") => *t = redact_ice_pwd(t),
            Node::Text(_) => {}
        }
    }
}

/// Replaces the value after every `ice-pwd:` (RFC 8839 ice-chars) with `{redacted}`.
pub fn redact_ice_pwd(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("ice-pwd:") {
        let (head, tail) = rest.split_at(i + "ice-pwd:".len());
        out.push_str(head);
        out.push_str("{redacted}");
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/'))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod stanza_tests {
    use super::*;
    use crate::xmpp::stanza;

    #[test]
    fn sasl_and_turn_passwords_are_scrubbed() {
        let auth = stanza::auth_plain("a@b", &Secret::new("tok"));
        let logged = stanza_for_log(&auth);
        assert!(!logged.contains("YUBi"), "{logged}");
        assert!(logged.contains("{redacted}"));
        let svc = crate::wire::xml::parse(
            r#"<iq xmlns="jabber:client" type="result" id="1"><services xmlns="urn:xmpp:extdisco:1"><service type="turn" host="h" password="pw-123"/></services></iq>"#,
            &Default::default(),
        )
        .unwrap();
        assert!(!stanza_for_log(&svc).contains("pw-123"));
    }

    #[test]
    fn ice_passwords_in_sdp_text_are_scrubbed() {
        let rpc = crate::wire::xml::Element::new("genesys-webrtc", "genesys").with_text(
            r#"{"params":{"sdp":"v=0\r\na=ice-ufrag:Zq3r\r\na=ice-pwd:pA55w0rd+/pA55w0rdpA55w0rd\r\nm=audio"}}"#,
        );
        let logged = stanza_for_log(&rpc);
        assert!(!logged.contains("pA55w0rd"), "{logged}");
        assert!(logged.contains("ice-pwd:{redacted}") && logged.contains("ice-ufrag:Zq3r"));
        assert_eq!(
            redact_ice_pwd("a=ice-pwd:abc\r\nx"),
            "a=ice-pwd:{redacted}\r\nx"
        );
    }
}
