//! More than one line appearance (station `webRtcCallAppearances` > 1, PROTOCOL.md §9.3/§9.4):
//! every call has its own session, and answering or resuming one holds the others through REST.
//! With one appearance nothing is held.

use std::time::Duration;

use genesys_webrtc::session::events::{ConnectionState, SessionEvent};
use genesys_webrtc::SdkEvent;
use genesys_webrtc_sim::cloud::{CallId, CallOptions, CloudConfig};
use genesys_webrtc_sim::network::SimNetwork;

const ENV: &str = "fake.genesys.test";

fn sim_with_appearances(appearances: u32, seed: u64) -> SimNetwork {
    let mut config = CloudConfig::for_environment(ENV);
    config.station_call_appearances = appearances;
    SimNetwork::ready_user_of(config, seed, |b| b)
}

/// Rings, answers and waits for media; returns the call and its session id.
fn answered(sim: &mut SimNetwork) -> (CallId, String) {
    let (call, sid) = sim.ring_and_accept(CallOptions::default());
    sim.run_until_event(Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::Session { session_id, event: SessionEvent::ConnectionState(ConnectionState::Connected) } if *session_id == sid)
    })
    .expect("connected");
    (call, sid)
}

fn held_patches(sim: &mut SimNetwork, call: CallId) -> usize {
    sim.cloud()
        .call_log(call)
        .iter()
        .filter(|l| l.contains(r#""held":true"#))
        .count()
}

#[test]
fn answering_or_resuming_a_call_holds_the_others() {
    let mut sim = sim_with_appearances(2, 81);
    let (first, first_sid) = answered(&mut sim);
    assert_eq!(held_patches(&mut sim, first), 0);
    let (second, _) = answered(&mut sim);
    sim.run_for(Duration::from_millis(300));
    assert_eq!(
        held_patches(&mut sim, first),
        1,
        "answering the second held the first"
    );
    assert_eq!(held_patches(&mut sim, second), 0);
    assert_eq!(
        sim.engine().sessions().count(),
        2,
        "both calls have a session"
    );
    // Resuming the first holds the second.
    let now = sim.now();
    sim.engine().set_hold(now, &first_sid, false).unwrap();
    sim.pump();
    sim.run_for(Duration::from_millis(300));
    assert_eq!(
        held_patches(&mut sim, second),
        1,
        "resuming the first held the second"
    );
    assert!(sim
        .cloud()
        .call_log(first)
        .iter()
        .any(|l| l.contains(r#""held":false"#)));
    assert!(!sim
        .events()
        .iter()
        .any(|(_, e)| matches!(e, SdkEvent::Error(_))));
}

#[test]
fn with_one_appearance_nothing_is_held() {
    let mut sim = sim_with_appearances(1, 82);
    let (first, _) = answered(&mut sim);
    let (_second, _) = answered(&mut sim);
    sim.run_for(Duration::from_millis(300));
    assert_eq!(held_patches(&mut sim, first), 0);
}
