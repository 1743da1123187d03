//! XEP-0215 external service discovery: STUN/TURN servers for media (PROTOCOL.md §5).

use super::ns;
use crate::options::IceServer;
use crate::redact::Secret;
use crate::wire::xml::Element;

/// Most services read from one response.
pub const MAX_SERVICES: usize = 32;

/// Whether media may use every candidate or only relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceTransportPolicy {
    /// All candidates.
    All,
    /// TURN relays only (the server returned no STUN services).
    Relay,
}

/// The discovered servers and policy.
#[derive(Debug, Clone, PartialEq)]
pub struct IceConfig {
    /// TURN servers first, then STUN.
    pub servers: Vec<IceServer>,
    /// Policy derived from the STUN list.
    pub policy: IceTransportPolicy,
}

/// Parses one `<services>` result into ICE servers of the requested `kind`.
pub fn parse_services(iq: &Element) -> Vec<IceServer> {
    let Some(services) = iq.child("services", ns::EXTDISCO) else {
        return Vec::new();
    };
    services
        .elements()
        .filter(|e| e.name == "service")
        .take(MAX_SERVICES)
        .filter_map(service_to_ice)
        .collect()
}

fn service_to_ice(s: &Element) -> Option<IceServer> {
    let kind = s.attr("type")?;
    let host = s.attr("host")?;
    if host.is_empty() || host.contains(['?', '/', ' ', '@']) {
        return None;
    }
    let mut url = format!("{kind}:{host}");
    if let Some(port) = s.attr("port") {
        let port: u16 = port.trim().parse().ok()?;
        url.push_str(&format!(":{port}"));
    }
    let is_turn = matches!(kind, "turn" | "turns");
    if !is_turn && kind != "stun" && kind != "stuns" {
        return None;
    }
    if is_turn {
        if let Some(t) = s.attr("transport") {
            if t != "udp" && t.bytes().all(|b| b.is_ascii_alphanumeric()) {
                url.push_str(&format!("?transport={t}"));
            }
        }
    }
    Some(IceServer {
        url,
        username: if is_turn {
            s.attr("username").map(str::to_string)
        } else {
            None
        },
        credential: if is_turn {
            s.attr("password").map(Secret::new)
        } else {
            None
        },
    })
}

/// Combines the TURN and STUN answers (TURN first); no STUN services means relay-only.
pub fn combine(turn: Vec<IceServer>, stun: Vec<IceServer>) -> IceConfig {
    let policy = if stun.is_empty() {
        IceTransportPolicy::Relay
    } else {
        IceTransportPolicy::All
    };
    let mut servers = turn;
    servers.extend(stun);
    IceConfig { servers, policy }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::xml::{parse, XmlLimits};

    #[test]
    fn protocol_example_converts() {
        let iq = parse(r#"<iq xmlns="jabber:client" type="result" from="example.orgspan.com" id="d1"><services xmlns="urn:xmpp:extdisco:1"><service type="turn" host="turn1.example.net" port="3478" transport="udp" username="1700000000:alice" password="c2VjcmV0" expires="2024-01-01T12:00:00Z"/><service type="turn" host="turn1.example.net" port="443" transport="tcp" username="1700000000:alice" password="c2VjcmV0"/></services></iq>"#, &XmlLimits::default()).unwrap();
        let turn = parse_services(&iq);
        assert_eq!(turn.len(), 2);
        assert_eq!(turn[0].url, "turn:turn1.example.net:3478");
        assert_eq!(turn[1].url, "turn:turn1.example.net:443?transport=tcp");
        assert_eq!(turn[0].username.as_deref(), Some("1700000000:alice"));
        assert_eq!(turn[0].credential.as_ref().unwrap().expose(), "c2VjcmV0");
        let stun_iq = parse(r#"<iq xmlns="jabber:client" type="result" id="d2"><services xmlns="urn:xmpp:extdisco:1"><service type="stun" host="2001:db8::1" port="3478" username="x" password="y"/></services></iq>"#, &XmlLimits::default()).unwrap();
        let stun = parse_services(&stun_iq);
        assert_eq!(stun[0].url, "stun:2001:db8::1:3478");
        assert!(stun[0].credential.is_none());
        let cfg = combine(turn.clone(), stun);
        assert_eq!(cfg.policy, IceTransportPolicy::All);
        assert_eq!(combine(turn, Vec::new()).policy, IceTransportPolicy::Relay);
    }

    #[test]
    fn missing_list_is_empty_and_bad_entries_are_skipped() {
        let iq = parse(
            r#"<iq xmlns="jabber:client" type="result" id="d2"/>"#,
            &XmlLimits::default(),
        )
        .unwrap();
        assert!(parse_services(&iq).is_empty());
        let iq = parse(r#"<iq xmlns="jabber:client" type="result" id="d2"><services xmlns="urn:xmpp:extdisco:1"><service type="turn" host="h" port="x"/><service host="h"/><service type="ftp" host="h"/></services></iq>"#, &XmlLimits::default()).unwrap();
        assert!(parse_services(&iq).is_empty());
    }
}
