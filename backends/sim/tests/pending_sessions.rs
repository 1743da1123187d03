//! Jingle Message Initiation against the engine in virtual time (PROTOCOL.md §6): proposes become
//! pending sessions, retracts cancel them, accepts/rejects from other resources mark them
//! handled, disallowed session types produce nothing, and the app's accept sends `proceed` to the
//! proposer's full JID.

use std::time::Duration;

use genesys_webrtc::options::{EagerPersistentConnection, SessionType};
use genesys_webrtc::wire::xml::{self, Element, XmlLimits};
use genesys_webrtc::{SdkEvent, SessionError};
use genesys_webrtc_sim::cloud::LogEntry;
use genesys_webrtc_sim::network::SimNetwork;

const ENV: &str = "fake.genesys.test";
const GJOLL: &str = "7d2c41@gjoll.example.orgspan.com/gjoll-1";
const ACD: &str = "acd-77@conference.example.orgspan.com/acd-1";

fn sim(seed: u64, allowed: Option<Vec<SessionType>>, auto_answer: bool) -> SimNetwork {
    SimNetwork::ready_user(ENV, seed, |b| {
        let b = b.auto_answer_outbound_calls(auto_answer);
        match allowed {
            Some(a) => b.allowed_session_types(a),
            None => b,
        }
    })
}

fn jmi(from: &str, child: &str, attrs: &[(&str, &str)], to: &str) -> Element {
    let mut c = Element::new(child, "urn:xmpp:jingle-message:0");
    for (k, v) in attrs {
        c.set_attr(*k, *v);
    }
    Element::new("message", "jabber:client")
        .with_attr("from", from)
        .with_attr("to", to)
        .with_child(c)
}

fn deliver(sim: &mut SimNetwork, el: &Element) {
    let now = sim.now();
    let jid = sim.cloud().connected_jids()[0].clone();
    assert!(sim.cloud().send_stanza(now, &jid, el));
    sim.pump();
    sim.run_for(Duration::from_millis(100));
}

fn propose(sim: &mut SimNetwork, from: &str, id: &str, cid: &str, auto: bool) {
    let bare = sim.cloud().config().jabber_id.clone();
    let auto = if auto { "true" } else { "false" };
    deliver(
        sim,
        &jmi(
            from,
            "propose",
            &[
                ("id", id),
                ("inin-cid", cid),
                ("inin-autoanswer", auto),
                ("inin-sdp-over-xmpp", "true"),
            ],
            &bare,
        ),
    );
}

fn pending_events(sim: &SimNetwork) -> Vec<SdkEvent> {
    sim.events()
        .iter()
        .map(|(_, e)| e.clone())
        .filter(|e| {
            matches!(
                e,
                SdkEvent::PendingSession(_)
                    | SdkEvent::CancelPendingSession { .. }
                    | SdkEvent::HandledPendingSession { .. }
            )
        })
        .collect()
}

fn sent_jmi(sim: &mut SimNetwork) -> Vec<Element> {
    sim.cloud()
        .log()
        .iter()
        .filter_map(|e| match e {
            LogEntry::XmppIn { xml, .. } if xml.contains("urn:xmpp:jingle-message:0") => {
                Some(xml::parse(xml, &XmlLimits::default()).unwrap())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_propose_becomes_a_pending_session_and_accept_proceeds_to_the_full_jid() {
    let mut sim = sim(1, None, true);
    propose(&mut sim, GJOLL, "s-1", "c-1", false);
    let evs = pending_events(&sim);
    let [SdkEvent::PendingSession(p)] = evs.as_slice() else {
        panic!("{evs:?}")
    };
    assert_eq!((p.id.as_str(), p.conversation_id.as_str()), ("s-1", "c-1"));
    assert_eq!(p.session_type, SessionType::Softphone);
    assert!(!p.auto_answer);
    assert_eq!(p.address, GJOLL);
    assert!(
        sent_jmi(&mut sim).is_empty(),
        "no answer until the app decides"
    );
    let now = sim.now();
    sim.engine().accept_pending_session(now, "s-1").unwrap();
    sim.pump();
    sim.run_for(Duration::from_millis(100));
    let sent = sent_jmi(&mut sim);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].attr("to"),
        Some(GJOLL),
        "proceed goes to the proposer's full JID"
    );
    assert_eq!(sent[0].attr("type"), None);
    assert_eq!(sent[0].attr("id"), None);
    let proceed = sent[0]
        .child("proceed", "urn:xmpp:jingle-message:0")
        .unwrap();
    assert_eq!(proceed.attr("id"), Some("s-1"));
    // a duplicate propose after accepting re-sends proceed, no second event
    propose(&mut sim, GJOLL, "s-1", "c-1", false);
    assert_eq!(sent_jmi(&mut sim).len(), 2);
    assert_eq!(pending_events(&sim).len(), 1);
}

#[test]
fn outbound_calls_are_auto_answered_only_when_enabled() {
    let mut on = sim(2, None, true);
    propose(&mut on, GJOLL, "s-2", "c-2", true);
    assert!(
        matches!(pending_events(&on).as_slice(), [SdkEvent::PendingSession(p)] if p.auto_answer)
    );
    assert_eq!(sent_jmi(&mut on).len(), 1, "proceed sent without the app");
    let mut off = sim(3, None, false);
    propose(&mut off, GJOLL, "s-3", "c-3", true);
    assert!(sent_jmi(&mut off).is_empty());
}

#[test]
fn retract_cancels_and_accept_elsewhere_handles() {
    let mut sim = sim(4, None, true);
    let bare = sim.cloud().config().jabber_id.clone();
    propose(&mut sim, GJOLL, "s-4", "c-4", false);
    deliver(&mut sim, &jmi(GJOLL, "retract", &[("id", "s-4")], &bare));
    propose(&mut sim, GJOLL, "s-5", "c-5", false);
    // another resource of the same user answered
    deliver(
        &mut sim,
        &jmi(&format!("{bare}/desk-2"), "accept", &[("id", "s-5")], &bare),
    );
    propose(&mut sim, GJOLL, "s-6", "c-6", false);
    deliver(
        &mut sim,
        &jmi(&format!("{bare}/desk-2"), "reject", &[("id", "s-6")], &bare),
    );
    // a retract for an unknown or finished id is ignored
    deliver(&mut sim, &jmi(GJOLL, "retract", &[("id", "s-4")], &bare));
    let evs = pending_events(&sim);
    let kinds: Vec<String> = evs
        .iter()
        .map(|e| match e {
            SdkEvent::PendingSession(p) => format!("pending {}", p.id),
            SdkEvent::CancelPendingSession {
                session_id,
                conversation_id,
            } => {
                format!("cancel {session_id} {conversation_id}")
            }
            SdkEvent::HandledPendingSession {
                session_id,
                conversation_id,
            } => {
                format!("handled {session_id} {conversation_id}")
            }
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "pending s-4",
            "cancel s-4 c-4",
            "pending s-5",
            "handled s-5 c-5",
            "pending s-6",
            "handled s-6 c-6"
        ]
    );
    let now = sim.now();
    assert_eq!(
        sim.engine().accept_pending_session(now, "s-4"),
        Err(SessionError::UnknownSession("s-4".into()))
    );
}

#[test]
fn disallowed_session_types_produce_nothing_at_all() {
    let mut sim = sim(5, Some(vec![SessionType::ScreenShare]), true);
    propose(&mut sim, GJOLL, "s-7", "c-7", true);
    assert!(pending_events(&sim).is_empty());
    assert!(sent_jmi(&mut sim).is_empty(), "no reply either");
    assert!(!sim
        .events()
        .iter()
        .any(|(_, e)| matches!(e, SdkEvent::Error(_))));
}

#[test]
fn screen_share_proposes_proceed_at_once_and_unknown_jids_are_errors() {
    let mut sim = sim(6, None, true);
    propose(&mut sim, ACD, "s-8", "c-8", false);
    assert!(
        matches!(pending_events(&sim).as_slice(), [SdkEvent::PendingSession(p)] if p.session_type == SessionType::ScreenShare)
    );
    assert_eq!(sent_jmi(&mut sim).len(), 1);
    propose(&mut sim, "someone@elsewhere.example/x", "s-9", "c-9", false);
    assert_eq!(pending_events(&sim).len(), 1);
    assert!(sim.events().iter().any(
        |(_, e)| matches!(e, SdkEvent::Error(err) if err.details.contains("session handler"))
    ));
}

#[test]
fn rejecting_a_softphone_call_uses_rest_voicemail() {
    let mut sim = sim(7, None, true);
    propose(&mut sim, GJOLL, "s-10", "c-10", false);
    let now = sim.now();
    sim.engine().reject_pending_session(now, "s-10").unwrap();
    sim.pump();
    sim.run_for(Duration::from_millis(200));
    assert!(
        sent_jmi(&mut sim).is_empty(),
        "softphone reject never sends JMI reject"
    );
    let rest = sim.cloud().cloud_log().rest_calls();
    assert!(
        rest.iter()
            .any(|(_, p, _)| p == "/api/v2/conversations/c-10"),
        "participant lookup: {rest:?}"
    );
}

#[test]
fn a_flood_of_proposes_stays_bounded() {
    let mut sim = sim(8, None, true);
    for i in 0..300 {
        propose(
            &mut sim,
            GJOLL,
            &format!("f-{i}"),
            &format!("fc-{i}"),
            false,
        );
    }
    assert!(sim.engine().pending_sessions().count() <= 64);
    // every pending session the app saw ended with an event or is still pending
    let evs = pending_events(&sim);
    let started = evs
        .iter()
        .filter(|e| matches!(e, SdkEvent::PendingSession(_)))
        .count();
    let cancelled = evs
        .iter()
        .filter(|e| matches!(e, SdkEvent::CancelPendingSession { .. }))
        .count();
    assert_eq!(started, 300);
    assert_eq!(started - cancelled, sim.engine().pending_sessions().count());
    assert!(evs.iter().any(
        |e| matches!(e, SdkEvent::CancelPendingSession { session_id, .. } if session_id == "f-0")
    ));
}

/// A persistent-connection propose (`inin-priv-answer-mode="Auto"`, PROTOCOL.md §9.3) under each
/// `eagerPersistentConnectionEstablishment` mode: (pending events, JMI stanzas sent).
fn private_answer_propose(mode: EagerPersistentConnection, seed: u64) -> (Vec<SdkEvent>, usize) {
    let mut sim = SimNetwork::ready_user(ENV, seed, |b| b.eager_persistent_connection(mode));
    let bare = sim.cloud().config().jabber_id.clone();
    deliver(
        &mut sim,
        &jmi(
            GJOLL,
            "propose",
            &[
                ("id", "p-1"),
                ("inin-cid", "c-p"),
                ("inin-priv-answer-mode", "Auto"),
                ("inin-sdp-over-xmpp", "true"),
            ],
            &bare,
        ),
    );
    let sent = sent_jmi(&mut sim);
    if let Some(p) = sent.first() {
        assert_eq!(p.attr("to"), Some(GJOLL));
        assert!(p.child("proceed", "urn:xmpp:jingle-message:0").is_some());
    }
    (pending_events(&sim), sent.len())
}

#[test]
fn persistent_connection_proposes_follow_the_eager_option() {
    // auto (the default): proceed at once, no event.
    let (events, sent) = private_answer_propose(EagerPersistentConnection::Auto, 31);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(sent, 1, "a silent proceed");
    // event: an ordinary pending session, nothing sent until the app decides.
    let (events, sent) = private_answer_propose(EagerPersistentConnection::Event, 32);
    assert!(
        matches!(events.as_slice(), [SdkEvent::PendingSession(p)] if p.id == "p-1" && !p.auto_answer),
        "{events:?}"
    );
    assert_eq!(sent, 0);
    // none: nothing at all.
    let (events, sent) = private_answer_propose(EagerPersistentConnection::None, 33);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(sent, 0);
}
