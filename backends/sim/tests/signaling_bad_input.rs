//! Bad call signaling from the server, in virtual time (PROTOCOL.md §7, §8.7): malformed SDP,
//! Jingle with unknown contents, unknown JSON-RPC methods, offers and candidates for unknown
//! sessions, Jingle actions for unknown sids. Each gives an error event, an XMPP error reply or
//! is ignored as the protocol says; the engine never panics and the connection stays up.

use std::time::Duration;

use genesys_webrtc::signaling::jmi::SessionId;
use genesys_webrtc::signaling::sdp_over_xmpp::{self, CandidateFragment, Method, SdpText};
use genesys_webrtc::wire::xml::{self, Element, XmlLimits};
use genesys_webrtc::{SdkErrorKind, SdkEvent};
use genesys_webrtc_sim::cloud::LogEntry;
use genesys_webrtc_sim::network::SimNetwork;

const ENV: &str = "fake.genesys.test";
const GJOLL: &str = "7d2c41@gjoll.example.orgspan.com/gjoll-1";

fn sim(seed: u64) -> SimNetwork {
    SimNetwork::ready_user(ENV, seed, |b| b)
}

fn deliver(sim: &mut SimNetwork, el: &Element) {
    let now = sim.now();
    let jid = sim.cloud().connected_jids()[0].clone();
    assert!(sim.cloud().send_stanza(now, &jid, el));
    sim.pump();
    sim.run_for(Duration::from_millis(200));
}

fn rpc(sim: &mut SimNetwork, id: &str, method: Method) -> Element {
    let to = sim.cloud().connected_jids()[0].clone();
    let mut el = sdp_over_xmpp::build_rpc_iq(id, GJOLL, &to, &format!("j-{id}"), &method);
    el.attrs.retain(|(k, _)| k != "from");
    el.set_attr("from", GJOLL);
    el
}

fn errors(sim: &SimNetwork) -> Vec<(SdkErrorKind, String)> {
    sim.events()
        .iter()
        .filter_map(|(_, e)| match e {
            SdkEvent::Error(err) => Some((err.kind, err.details.clone())),
            _ => None,
        })
        .collect()
}

fn replies(sim: &mut SimNetwork, id: &str) -> Vec<Element> {
    sim.cloud()
        .log()
        .iter()
        .filter_map(|e| match e {
            LogEntry::XmppIn { xml, .. } => xml::parse(xml, &XmlLimits::default()).ok(),
            _ => None,
        })
        .filter(|e| e.name == "iq" && e.attr("id") == Some(id))
        .collect()
}

#[test]
fn malformed_sdp_offer_fails_the_session_not_the_engine() {
    let mut sim = sim(41);
    let sid = SessionId::new("bad-sdp-1").unwrap();
    let offer = rpc(
        &mut sim,
        "o1",
        Method::Offer {
            session_id: sid,
            conversation_id: None,
            sdp: SdpText::new("v=0\r\nthis is not sdp\r\nm=audio nonsense\r\n").unwrap(),
            reinvite: false,
        },
    );
    deliver(&mut sim, &offer);
    assert!(
        errors(&sim)
            .iter()
            .any(|(k, d)| *k == SdkErrorKind::Session && d.contains("could not answer")),
        "{:?}",
        errors(&sim)
    );
    // The session sends `terminate` and ends when it is acknowledged, or after 2 s without an
    // answer (this offer came from no call the fake cloud knows, so nobody answers).
    sim.run_until_event(
        Duration::from_secs(3),
        |e| matches!(e, SdkEvent::SessionEnded { session, .. } if session.id == "bad-sdp-1"),
    )
    .expect("session ended");
    assert_eq!(
        replies(&mut sim, "o1").len(),
        1,
        "the IQ is still acknowledged"
    );
    assert!(sim.engine().is_connected());
}

#[test]
fn unknown_methods_and_early_candidates_are_ignored() {
    let mut sim = sim(42);
    let to = sim.cloud().connected_jids()[0].clone();
    let odd = Element::new("iq", "jabber:client")
        .with_attr("type", "set")
        .with_attr("id", "u1")
        .with_attr("from", GJOLL)
        .with_attr("to", to)
        .with_child(Element::new("genesys-webrtc", "genesys").with_text(
            r#"{"jsonrpc":"2.0","id":"x","method":"somethingNew","params":{"sessionId":"s"}}"#,
        ));
    deliver(&mut sim, &odd);
    let cand = rpc(
        &mut sim,
        "c1",
        Method::IceCandidate {
            session_id: SessionId::new("not-yet").unwrap(),
            candidate: CandidateFragment::new(
                "0",
                "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host",
            )
            .unwrap(),
        },
    );
    deliver(&mut sim, &cand);
    let term = rpc(
        &mut sim,
        "t1",
        Method::Terminate {
            session_id: SessionId::new("never-existed").unwrap(),
            reason: Some("success".into()),
        },
    );
    deliver(&mut sim, &term);
    assert!(errors(&sim).is_empty(), "{:?}", errors(&sim));
    assert!(!sim
        .events()
        .iter()
        .any(|(_, e)| matches!(e, SdkEvent::SessionEnded { .. })));
    // JSON that is not JSON-RPC: a protocol error event and a bad-request reply
    let broken = Element::new("iq", "jabber:client")
        .with_attr("type", "set")
        .with_attr("id", "b1")
        .with_attr("from", GJOLL)
        .with_child(Element::new("genesys-webrtc", "genesys").with_text("{not json"));
    deliver(&mut sim, &broken);
    assert!(errors(&sim)
        .iter()
        .any(|(k, _)| *k == SdkErrorKind::Protocol));
    let r = replies(&mut sim, "b1");
    assert!(r.iter().any(|e| e.attr("type") == Some("error")), "{r:?}");
    assert!(sim.engine().is_connected());
}

fn jingle(sid: &str, action: &str, contents: Vec<Element>) -> Element {
    let mut j = Element::new("jingle", "urn:xmpp:jingle:1")
        .with_attr("action", action)
        .with_attr("sid", sid)
        .with_attr("initiator", GJOLL);
    for c in contents {
        j.push_child(c);
    }
    j
}

#[test]
fn jingle_with_unknown_contents_or_sids_gets_errors() {
    let mut sim = sim(43);
    let to = sim.cloud().connected_jids()[0].clone();
    let iq = |id: &str, j: Element| {
        Element::new("iq", "jabber:client")
            .with_attr("type", "set")
            .with_attr("id", id)
            .with_attr("from", GJOLL)
            .with_attr("to", to.clone())
            .with_child(j)
    };
    // a content whose description is a file transfer
    let ft = Element::new("content", "urn:xmpp:jingle:1")
        .with_attr("creator", "initiator")
        .with_attr("name", "f")
        .with_child(Element::new(
            "description",
            "urn:xmpp:jingle:apps:file-transfer:5",
        ));
    deliver(
        &mut sim,
        &iq("j1", jingle("ft-1", "session-initiate", vec![ft])),
    );
    let r = replies(&mut sim, "j1");
    assert!(
        r.iter().any(|e| e.attr("type") == Some("error")),
        "unknown contents refused: {r:?}"
    );
    // no contents at all
    deliver(
        &mut sim,
        &iq("j2", jingle("empty-1", "session-initiate", vec![])),
    );
    assert!(replies(&mut sim, "j2")
        .iter()
        .any(|e| e.attr("type") == Some("error")));
    // transport-info for a sid we do not know: item-not-found + unknown-session
    deliver(
        &mut sim,
        &iq("j3", jingle("nope", "transport-info", vec![])),
    );
    let r = replies(&mut sim, "j3");
    let err = r
        .iter()
        .find(|e| e.attr("type") == Some("error"))
        .expect("error reply");
    let xml = err.to_xml();
    assert!(
        xml.contains("item-not-found") && xml.contains("unknown-session"),
        "{xml}"
    );
    // session-terminate for an unknown sid: plain result
    deliver(
        &mut sim,
        &iq("j4", jingle("nope", "session-terminate", vec![])),
    );
    assert!(replies(&mut sim, "j4")
        .iter()
        .any(|e| e.attr("type") == Some("result")));
    assert!(sim.engine().is_connected());
    assert_eq!(sim.engine().sessions().count(), 0);
}
