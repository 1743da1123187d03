//! Persistent connection with one line appearance (PROTOCOL.md §9.3) in virtual time: the
//! station has `webRtcPersistentEnabled`, so the first call's media session stays up after the
//! call, and later calls ride it as conversation events only (synthesized pending sessions,
//! `PATCH {"state":"connected"}` to answer, `sessionStarted`/`sessionEnded` per call while the
//! peer connection stays up).

use std::time::Duration;

use genesys_webrtc::engine::StartSoftphoneParams;
use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::session::events::{ConnectionState, SessionEvent, TerminateReason};
use genesys_webrtc::SdkEvent;
use genesys_webrtc_sim::cloud::{CallId, CallOptions, CloudConfig, LogEntry};
use genesys_webrtc_sim::network::SimNetwork;

const ENV: &str = "fake.genesys.test";

fn persistent_sim(seed: u64) -> SimNetwork {
    let mut config = CloudConfig::for_environment(ENV);
    config.station_persistent_enabled = true;
    config.station_call_appearances = 1;
    SimNetwork::ready_user_of(config, seed, |b| b)
}

fn ring(sim: &mut SimNetwork) -> CallId {
    let now = sim.now();
    let call = sim.cloud().place_inbound_call(
        now,
        CallOptions {
            tone_hz: 1000.0,
            ..CallOptions::default()
        },
    );
    sim.pump();
    call
}

/// The next event matching `pred` after event `*at` (running the simulation if it has not
/// happened yet); moves `*at` past it.
fn next(
    sim: &mut SimNetwork,
    at: &mut usize,
    what: &str,
    pred: impl Fn(&SdkEvent) -> bool,
) -> SdkEvent {
    let seen = sim.events()[*at..].iter().position(|(_, e)| pred(e));
    let i = match seen {
        Some(i) => *at + i,
        None => sim
            .run_until_event(Duration::from_secs(10), pred)
            .unwrap_or_else(|| panic!("no {what}")),
    };
    *at = i + 1;
    sim.events()[i].1.clone()
}

fn proposes_sent(sim: &mut SimNetwork) -> usize {
    sim.cloud()
        .log()
        .iter()
        .filter(|e| matches!(e, LogEntry::XmppOut { xml, .. } if xml.contains("<propose")))
        .count()
}

/// Whether the far end of `call` hears `hz` within 3 s (media start-up time varies a little
/// between runs: str0m's ICE tie-breakers and DTLS keys are random, not seeded).
fn hears(sim: &mut SimNetwork, call: CallId, hz: f32) -> bool {
    for _ in 0..=6 {
        let (rate, heard) = sim.cloud().received_audio(call);
        let tail = &heard[heard.len().saturating_sub(rate as usize / 2)..];
        if Goertzel::detect(tail, hz, rate) {
            return true;
        }
        sim.run_for(Duration::from_millis(500));
    }
    false
}

#[test]
fn calls_ride_the_persistent_connection() {
    let mut sim = persistent_sim(61);
    sim.start_audio(Some(440.0), true);
    let mut at = 0;

    // 1. The first call comes with a propose and an offer, as usual.
    let first = ring(&mut sim);
    let SdkEvent::PendingSession(p) = next(&mut sim, &mut at, "pending session", |e| {
        matches!(e, SdkEvent::PendingSession(_))
    }) else {
        unreachable!()
    };
    let sid = p.id.clone();
    let now = sim.now();
    sim.engine().accept_pending_session(now, &sid).unwrap();
    sim.pump();
    next(&mut sim, &mut at, "media connected", |e| {
        matches!(
            e,
            SdkEvent::Session {
                event: SessionEvent::ConnectionState(ConnectionState::Connected),
                ..
            }
        )
    });
    assert!(
        hears(&mut sim, first, 440.0),
        "the far end hears the first call"
    );

    // 2. Ending it ends the call, not the media session.
    let now = sim.now();
    sim.engine().end_session(now, &sid).unwrap();
    sim.pump();
    let SdkEvent::SessionEnded { session, reason } =
        next(&mut sim, &mut at, "session ended", |e| {
            matches!(e, SdkEvent::SessionEnded { .. })
        })
    else {
        unreachable!()
    };
    assert_eq!(
        (session.id.as_str(), reason),
        (sid.as_str(), TerminateReason::Success)
    );
    assert_eq!(session.conversation_id, p.conversation_id);
    sim.run_for(Duration::from_millis(500));
    assert_eq!(
        sim.engine().sessions().count(),
        1,
        "the peer connection stays"
    );
    assert!(!sim.events().iter().any(|(_, e)| matches!(
        e,
        SdkEvent::Session {
            event: SessionEvent::Terminated { .. },
            ..
        }
    )));

    // 3. The next call rides it: no propose, a synthesized pending session with the same id.
    let proposes = proposes_sent(&mut sim);
    let second = ring(&mut sim);
    let SdkEvent::PendingSession(p2) = next(
        &mut sim,
        &mut at,
        "second pending session",
        |e| matches!(e, SdkEvent::PendingSession(p) if p.conversation_id != p.id && p.id == sid && !p.auto_answer),
    ) else {
        unreachable!()
    };
    let second_conv = sim.cloud().call(second).unwrap().conversation_id;
    assert_eq!(p2.conversation_id, second_conv);
    assert_eq!(
        proposes_sent(&mut sim),
        proposes,
        "no propose for a riding call"
    );
    let now = sim.now();
    sim.engine().accept_pending_session(now, &sid).unwrap();
    sim.pump();
    next(
        &mut sim,
        &mut at,
        "handled",
        |e| matches!(e, SdkEvent::HandledPendingSession { conversation_id, .. } if *conversation_id == second_conv),
    );
    let SdkEvent::SessionStarted(s2) = next(
        &mut sim,
        &mut at,
        "second session started",
        |e| matches!(e, SdkEvent::SessionStarted(s) if s.conversation_id == second_conv),
    ) else {
        unreachable!()
    };
    assert_eq!(s2.id, sid);
    let log = sim.cloud().call_log(second);
    assert!(
        log.iter().any(|l| l.contains(r#""state":"connected""#)),
        "{log:?}"
    );
    sim.run_for(Duration::from_secs(1));
    assert!(
        hears(&mut sim, second, 440.0),
        "audio flows on the same connection"
    );

    // 4. The far end hangs up: sessionEnded, the connection stays.
    let now = sim.now();
    assert!(sim.cloud().hang_up(now, second, "success"));
    sim.pump();
    next(
        &mut sim,
        &mut at,
        "second session ended",
        |e| matches!(e, SdkEvent::SessionEnded { session, .. } if session.conversation_id == second_conv),
    );
    assert_eq!(sim.engine().sessions().count(), 1);

    // 5. An outbound call: auto-answered, ended by conversation id.
    let now = sim.now();
    let request = sim.engine().start_softphone_session(
        now,
        &StartSoftphoneParams {
            phone_number: Some("+13175550199".into()),
            ..StartSoftphoneParams::default()
        },
    );
    assert!(request.is_ok());
    sim.pump();
    let SdkEvent::PendingSession(p3) = next(
        &mut sim,
        &mut at,
        "outbound pending",
        |e| matches!(e, SdkEvent::PendingSession(p) if p.auto_answer),
    ) else {
        unreachable!()
    };
    next(
        &mut sim,
        &mut at,
        "outbound started",
        |e| matches!(e, SdkEvent::SessionStarted(s) if s.conversation_id == p3.conversation_id),
    );
    let now = sim.now();
    sim.engine().end_session(now, &p3.conversation_id).unwrap();
    sim.pump();
    next(
        &mut sim,
        &mut at,
        "outbound ended",
        |e| matches!(e, SdkEvent::SessionEnded { session, .. } if session.conversation_id == p3.conversation_id),
    );

    // 6. A riding call withdrawn while it rings: cancelPendingSession.
    let fourth = ring(&mut sim);
    next(
        &mut sim,
        &mut at,
        "fourth pending",
        |e| matches!(e, SdkEvent::PendingSession(p) if p.id == sid && !p.auto_answer && p.conversation_id != p3.conversation_id && p.conversation_id != second_conv),
    );
    let now = sim.now();
    assert!(sim.cloud().retract_call(now, fourth));
    sim.pump();
    next(
        &mut sim,
        &mut at,
        "cancelled",
        |e| matches!(e, SdkEvent::CancelPendingSession { session_id, .. } if *session_id == sid),
    );

    // Every sessionStarted has its sessionEnded; the media session is still up.
    let started = sim
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, SdkEvent::SessionStarted(_)))
        .count();
    let ended = sim
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, SdkEvent::SessionEnded { .. }))
        .count();
    assert_eq!((started, ended), (3, 3));
    assert_eq!(sim.engine().sessions().count(), 1);
    assert!(!sim
        .events()
        .iter()
        .any(|(_, e)| matches!(e, SdkEvent::Error(_))));
}
