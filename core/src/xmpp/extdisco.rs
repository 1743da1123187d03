//! XEP-0215 external service discovery: STUN/TURN servers for media (PROTOCOL.md §5).
//!
//! Owns reading `<services>` results into ICE server URLs ([`parse_services`]) and the URL
//! helpers the engine uses to swap a resolved host name for its address ([`url_host_name`],
//! [`with_host_ip`]). It does not send the IQs or resolve names (the engine and the driver do).

use std::net::IpAddr;

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

/// Whether `host` can stand in a `stun:`/`turn:` URL as written here: an IP literal (IPv6
/// unbracketed, PROTOCOL.md §5.2) or a DNS name made of letters, digits, `-`, `.` and `_`.
fn is_host(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok()
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')))
}

fn service_to_ice(s: &Element) -> Option<IceServer> {
    let kind = s.attr("type")?;
    let host = s.attr("host")?;
    if !is_host(host) {
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

/// The host part of a `stun:`/`turn:` URL written by [`parse_services`], when it is a name
/// rather than an IP literal (the driver resolves those).
pub fn url_host_name(url: &str) -> Option<&str> {
    let rest = url.split_once(':')?.1;
    let rest = rest.split('?').next().unwrap_or(rest);
    // IPv6 literals are written unbracketed (PROTOCOL.md §5.2): any second ':' means one.
    if rest.matches(':').count() > 1 || rest.parse::<IpAddr>().is_ok() {
        return None;
    }
    let host = rest.split(':').next().unwrap_or(rest);
    if host.parse::<IpAddr>().is_ok() || host.is_empty() {
        return None;
    }
    Some(host)
}

/// `url` with its host name ([`url_host_name`]) replaced by `ip` (IPv6 unbracketed, as
/// discovery writes it); scheme, port and `?transport` stay. `None` when the URL has no host
/// name.
pub fn with_host_ip(url: &str, ip: IpAddr) -> Option<String> {
    let host = url_host_name(url)?;
    let (scheme, rest) = url.split_once(':')?;
    let tail = rest.strip_prefix(host)?;
    Some(format!("{scheme}:{ip}{tail}"))
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

    #[test]
    fn hosts_of_ice_urls() {
        assert_eq!(
            url_host_name("stun:stun.example.net:3478"),
            Some("stun.example.net")
        );
        assert_eq!(
            url_host_name("turn:turn1.example.net:443?transport=tcp"),
            Some("turn1.example.net")
        );
        assert_eq!(
            url_host_name("turn:turn1.example.net"),
            Some("turn1.example.net")
        );
        assert_eq!(url_host_name("stun:192.0.2.1:3478"), None);
        assert_eq!(url_host_name("stun:2001:db8::1:3478"), None);
        assert_eq!(url_host_name("garbage"), None);
    }

    /// Fuzz finding (fuzz/regressions/extdisco/host_named_like_scheme): the resolved address
    /// replaced the first occurrence of the host name anywhere in the URL, so a TURN/STUN host
    /// called `stun`, `s` or `t` had the scheme rewritten (`192.0.2.1:stun:3478`).
    #[test]
    fn resolved_address_replaces_the_host_only() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        assert_eq!(
            with_host_ip("stun:stun:3478", v4).as_deref(),
            Some("stun:192.0.2.1:3478")
        );
        assert_eq!(
            with_host_ip("stun:s", v4).as_deref(),
            Some("stun:192.0.2.1")
        );
        assert_eq!(
            with_host_ip("turns:t:443?transport=tcp", v6).as_deref(),
            Some("turns:2001:db8::7:443?transport=tcp")
        );
        assert_eq!(with_host_ip("stun:192.0.2.9:3478", v4), None);
    }

    #[test]
    fn host_must_be_an_ip_literal_or_a_dns_name() {
        let services = |host: &str| {
            let xml = format!(
                r#"<iq xmlns="jabber:client" type="result" id="d2"><services xmlns="urn:xmpp:extdisco:1"><service type="stun" host="{}" port="3478"/></services></iq>"#,
                crate::wire::xml::escape(host)
            );
            parse_services(&parse(&xml, &XmlLimits::default()).unwrap())
        };
        for ok in ["stun.example.net", "2001:db8::1", "192.0.2.1", "a_b-1"] {
            assert_eq!(services(ok).len(), 1, "{ok}");
        }
        for bad in [
            "",
            "a:5",
            "h:",
            "a b",
            "a\tb",
            "[2001:db8::1]",
            "a%20b",
            "é.example",
        ] {
            assert!(services(bad).is_empty(), "{bad:?}");
        }
    }
}
