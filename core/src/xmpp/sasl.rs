//! SASL mechanism choice and failure classification (PROTOCOL.md §3.3, §3.8).

use super::ns;
use crate::wire::xml::Element;

/// The mechanism this client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// Token mode: PLAIN with `authKey:` + token.
    Plain,
    /// JWT mode (guests): ANONYMOUS; the JWT in the URL authenticates.
    Anonymous,
}

impl Mechanism {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Anonymous => "ANONYMOUS",
        }
    }
}

/// Mechanisms listed in a `<stream:features>`.
pub fn offered(features: &Element) -> Vec<String> {
    features
        .child("mechanisms", ns::SASL)
        .map(|m| {
            m.elements()
                .filter(|e| e.name == "mechanism")
                .map(|e| e.text().trim().to_string())
                .take(32)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a SASL failure condition makes the client retry with a hard reconnect (instead of
/// stopping with `invalid_token`).
pub fn is_retryable_failure(condition: &str) -> bool {
    matches!(
        condition,
        "encryption-required"
            | "incorrect-encoding"
            | "invalid-mechanism"
            | "malformed-request"
            | "mechanism-too-weak"
    )
}

/// The condition of a `<failure xmlns=SASL>` (first child element), or `not-authorized` when the
/// server sent none.
pub fn failure_condition(failure: &Element) -> String {
    failure
        .elements()
        .find(|e| e.name != "text")
        .map(|e| e.name.chars().take(64).collect())
        .unwrap_or_else(|| "not-authorized".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::xml::{parse, XmlLimits};

    #[test]
    fn reads_offer_and_failures() {
        let f = parse(r#"<stream:features xmlns:stream="http://etherx.jabber.org/streams"><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>PLAIN</mechanism></mechanisms></stream:features>"#, &XmlLimits::default()).unwrap();
        assert_eq!(offered(&f), ["PLAIN"]);
        let fail = parse(r#"<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><credentials-expired/><text>x</text></failure>"#, &XmlLimits::default()).unwrap();
        assert_eq!(failure_condition(&fail), "credentials-expired");
        assert!(!is_retryable_failure("credentials-expired"));
        assert!(is_retryable_failure("malformed-request"));
    }
}
