//! No TURN credential (nor any other secret of the tenant) in anything logged while the SDK
//! allocates relays: everything `tracing` emits at TRACE, from every target (the SDK, str0m,
//! `turn-client-proto` and the simulator's TURN server), is captured during a relay-only call
//! and during an allocation refused for wrong credentials, and searched.
//!
//! Every test of this binary installs its capture: `tracing` caches per call site whether
//! anyone listens, so a test without one running beside them could hide log lines.

use std::time::Duration;

use genesys_webrtc::session::events::{ConnectionState, SessionEvent};
use genesys_webrtc::SdkEvent;
use genesys_webrtc_sim::cloud::{CallOptions, CloudConfig};
use genesys_webrtc_sim::network::SimNetwork;
use genesys_webrtc_sim::redaction::{LogCapture, TenantSecrets};

const ENV: &str = "fake.genesys.test";

/// Rings, answers, and runs until `until` matches (or 10 s).
fn call(sim: &mut SimNetwork, until: impl FnMut(&SdkEvent) -> bool) -> bool {
    sim.ring_and_accept(CallOptions::default());
    sim.run_until_event(Duration::from_secs(10), until)
        .is_some()
}

fn assert_no_secret(config: &CloudConfig, logs: &LogCapture, sim: &SimNetwork) {
    let text = logs.text();
    assert!(
        text.contains("TURN allocation"),
        "the capture holds the TURN logs"
    );
    assert!(text.contains("turn_client"), "and the TURN crate's own");
    let secrets = TenantSecrets::of(config);
    secrets.assert_absent("logs", &text);
    secrets.assert_absent("events", &format!("{:?}", sim.events()));
}

#[test]
fn relay_only_call_logs_no_turn_password() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let config = CloudConfig::for_environment(ENV).relay_only();
    let mut sim = SimNetwork::ready_user_with_turn(config.clone(), 401, |b| b);
    assert!(call(&mut sim, |e| matches!(
        e,
        SdkEvent::Session {
            event: SessionEvent::ConnectionState(ConnectionState::Connected),
            ..
        }
    )));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.turn().unwrap().stats().allocations, 1);
    assert_no_secret(&config, &logs, &sim);
}

#[test]
fn refused_credentials_log_no_turn_password() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let mut config = CloudConfig::for_environment(ENV).relay_only();
    for s in &mut config.turn_servers {
        s.password = Some("d3JvbmctcGFzc3dvcmQ=".into());
    }
    let mut sim = SimNetwork::ready_user_with_turn(config.clone(), 402, |b| b);
    assert!(call(&mut sim, |e| matches!(
        e,
        SdkEvent::SessionEnded { .. }
    )));
    assert_eq!(sim.turn().unwrap().stats().unauthorized, 2);
    assert_no_secret(&config, &logs, &sim);
}
