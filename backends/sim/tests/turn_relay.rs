//! TURN relay candidates end to end in virtual time: the SDK engine, the fake cloud (its str0m
//! media peer) and the simulator's TURN server (`genesys_webrtc_sim::turn`) that the cloud's
//! XEP-0215 answer points at. Relay-only calls (no STUN services discovered) carry all media
//! through the relay, with audio checked at both ends; wrong TURN credentials fail the session
//! at once with an error event; a long call keeps its allocation alive by refreshing it.

use std::time::Duration;

use genesys_webrtc::engine::Transmit;
use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::session::events::{
    ConnectionState, SelectedPath, SessionEvent, TerminateReason,
};
use genesys_webrtc::SdkEvent;
use genesys_webrtc_sim::cloud::{CallId, CallOptions, CloudConfig, Negotiation, PreferredCodec};
use genesys_webrtc_sim::network::{
    SimNetwork, ENGINE_MEDIA_ADDR, TURN_ADDR, TURN_RELAY_FIRST_PORT,
};

const ENV: &str = "fake.genesys.test";

/// Rings (Opus, far end at 1 kHz), accepts and returns its call id and session id (not waiting for media).
fn accepted_call(sim: &mut SimNetwork, mode: Negotiation) -> (CallId, String) {
    sim.ring_and_accept(CallOptions {
        mode,
        codec: PreferredCodec::Opus,
        tone_hz: 1000.0,
        ..CallOptions::default()
    })
}

fn connected(sim: &mut SimNetwork, sid: &str) -> bool {
    let sid = sid.to_string();
    let is_connected = |e: &SdkEvent| matches!(e, SdkEvent::Session { session_id, event: SessionEvent::ConnectionState(ConnectionState::Connected) } if *session_id == sid);
    sim.events().iter().any(|(_, e)| is_connected(e))
        || sim
            .run_until_event(Duration::from_secs(10), is_connected)
            .is_some()
}

fn last(samples: &[i16], rate: u32, secs: f32) -> &[i16] {
    let n = (rate as f32 * secs) as usize;
    &samples[samples.len().saturating_sub(n)..]
}

/// Our 440 Hz reaches the cloud and its 1 kHz reaches us, in the last second.
fn assert_audio_both_ways(sim: &mut SimNetwork, call: CallId) {
    let (rate, heard) = sim.cloud().received_audio(call);
    let tail = last(&heard, rate, 1.0);
    assert!(
        Goertzel::detect(tail, 440.0, rate),
        "cloud hears 440 Hz ({} dBFS)",
        Goertzel::power_dbfs(tail, 440.0, rate)
    );
    let played = last(sim.playout(), 48_000, 1.0).to_vec();
    assert!(
        Goertzel::detect(&played, 1000.0, 48_000),
        "we hear 1 kHz ({} dBFS)",
        Goertzel::power_dbfs(&played, 1000.0, 48_000)
    );
}

/// Media datagrams the engine sent, by destination: (to the TURN server, to anyone else).
fn engine_datagrams(sim: &SimNetwork) -> (usize, usize) {
    let mut turn = 0;
    let mut other = 0;
    for (_, t) in sim.transmits() {
        if let Transmit::Datagram {
            source,
            destination,
            ..
        } = t
        {
            assert_eq!(*source, ENGINE_MEDIA_ADDR);
            if *destination == TURN_ADDR {
                turn += 1;
            } else {
                other += 1;
            }
        }
    }
    (turn, other)
}

/// The last `SelectedPath` event of the session.
fn selected_path(sim: &SimNetwork, sid: &str) -> Option<SelectedPath> {
    sim.events().iter().rev().find_map(|(_, e)| match e {
        SdkEvent::Session {
            session_id,
            event: SessionEvent::SelectedPath(p),
        } if session_id == sid => Some(*p),
        _ => None,
    })
}

fn relay_only_call(mode: Negotiation, seed: u64) {
    let config = CloudConfig::for_environment(ENV).relay_only();
    let mut sim = SimNetwork::ready_user_with_turn(config, seed, |b| b);
    sim.start_audio(Some(440.0), true);
    let (call, sid) = accepted_call(&mut sim, mode);
    assert!(
        connected(&mut sim, &sid),
        "media connected through the relay"
    );
    // Past the first statistics (5 s), which report the selected pair.
    sim.run_for(Duration::from_secs(6));
    assert_audio_both_ways(&mut sim, call);
    let path = selected_path(&sim, &sid).expect("the selected pair is reported");
    assert!(path.relayed, "{path:?}");
    assert_eq!(path.local.ip(), TURN_ADDR.ip());
    assert_eq!(path.local.port(), TURN_RELAY_FIRST_PORT);

    let (to_turn, other) = engine_datagrams(&sim);
    assert_eq!(
        other, 0,
        "relay-only: every datagram goes to the TURN server"
    );
    assert!(to_turn > 50, "{to_turn} datagrams to the TURN server");
    let stats = sim.turn().unwrap().stats();
    assert_eq!(stats.allocations, 1, "{stats:?}");
    assert!(stats.unauthorized >= 1, "401 first, then credentials");
    assert!(stats.permission_requests >= 1, "{stats:?}");
    assert!(stats.channel_binds >= 1, "{stats:?}");
    assert!(stats.to_peers > 50 && stats.to_clients > 50, "{stats:?}");
    assert!(
        !sim.events()
            .iter()
            .any(|(_, e)| matches!(e, SdkEvent::Error(_))),
        "no error: {:?}",
        sim.events()
            .iter()
            .filter(|(_, e)| matches!(e, SdkEvent::Error(_)))
            .collect::<Vec<_>>()
    );

    // Ending the session deletes the allocation.
    let now = sim.now();
    sim.engine().end_session(now, &sid).unwrap();
    sim.pump();
    sim.run_until_event(Duration::from_secs(5), |e| {
        matches!(e, SdkEvent::SessionEnded { .. })
    })
    .expect("session ended");
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.turn().unwrap().stats().deletions, 1);
}

#[test]
fn relay_only_call_sdp_over_xmpp() {
    relay_only_call(Negotiation::SdpOverXmpp, 301);
}

#[test]
fn relay_only_call_classic_jingle() {
    relay_only_call(Negotiation::Jingle, 302);
}

#[test]
fn policy_all_gathers_a_relay_candidate_beside_the_host_one() {
    let mut sim = SimNetwork::ready_user_with_turn(CloudConfig::for_environment(ENV), 303, |b| b);
    sim.start_audio(Some(440.0), true);
    let (call, sid) = accepted_call(&mut sim, Negotiation::SdpOverXmpp);
    assert!(connected(&mut sim, &sid));
    sim.run_for(Duration::from_secs(6));
    assert_audio_both_ways(&mut sim, call);
    let path = selected_path(&sim, &sid).expect("the selected pair is reported");
    assert_eq!(path.local, ENGINE_MEDIA_ADDR, "the host pair wins");
    assert!(!path.relayed);
    let stats = sim.turn().unwrap().stats();
    assert_eq!(stats.allocations, 1, "{stats:?}");
    let (to_turn, other) = engine_datagrams(&sim);
    assert!(to_turn >= 3, "allocation and permission");
    assert!(other > 100, "the host pair carries the media");
}

#[test]
fn wrong_turn_credentials_fail_the_relay_only_session_with_an_error() {
    let mut config = CloudConfig::for_environment(ENV).relay_only();
    for s in &mut config.turn_servers {
        s.password = Some("d3JvbmctcGFzc3dvcmQ=".into());
    }
    let mut sim = SimNetwork::ready_user_with_turn(config, 304, |b| b);
    let (_call, sid) = accepted_call(&mut sim, Negotiation::SdpOverXmpp);
    let accepted_at = sim.now();
    let i = sim
        .run_until_event(Duration::from_secs(10), |e| {
            matches!(e, SdkEvent::SessionEnded { .. })
        })
        .expect("the session ends");
    let (ended_at, SdkEvent::SessionEnded { reason, .. }) = &sim.events()[i] else {
        unreachable!()
    };
    assert_eq!(*reason, TerminateReason::FailedTransport);
    assert!(
        *ended_at - accepted_at < Duration::from_secs(2),
        "fails at once, not after the ICE timeout: {:?}",
        *ended_at - accepted_at
    );
    let errors: Vec<String> = sim
        .events()
        .iter()
        .filter_map(|(_, e)| match e {
            SdkEvent::Error(e) => Some(e.details.clone()),
            _ => None,
        })
        .collect();
    assert!(
        errors
            .iter()
            .any(|d| d.contains(&sid) && d.contains("TURN allocation") && d.contains("401")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|d| d.contains("no TURN relay candidate")),
        "{errors:?}"
    );
    let stats = sim.turn().unwrap().stats();
    assert_eq!(stats.allocations, 0);
    assert_eq!(
        stats.unauthorized, 2,
        "first 401, then 401 to the credentials"
    );
    let (_, other) = engine_datagrams(&sim);
    assert_eq!(other, 0);
}

#[test]
fn a_long_relayed_call_refreshes_its_allocation() {
    let config = CloudConfig::for_environment(ENV).relay_only();
    let mut sim = SimNetwork::ready_user_with_turn(config, 305, |b| b);
    let (call, sid) = accepted_call(&mut sim, Negotiation::SdpOverXmpp);
    assert!(connected(&mut sim, &sid));
    // 35 minutes without the audio clock (ICE consent, RTCP and the cloud's audio keep
    // flowing): the client asks for 30-minute allocations and refreshes a minute before they
    // expire; without the refresh the relay would be gone by the end.
    sim.run_for(Duration::from_secs(35 * 60));
    let stats = sim.turn().unwrap().stats();
    assert!(stats.refreshes >= 1, "{stats:?}");
    assert_eq!(stats.allocations, 1, "the same allocation throughout");
    assert!(
        !sim.events()
            .iter()
            .any(|(_, e)| matches!(e, SdkEvent::SessionEnded { .. })),
        "still in the call"
    );
    sim.start_audio(Some(440.0), true);
    sim.run_for(Duration::from_secs(3));
    assert_audio_both_ways(&mut sim, call);
}

/// Each call has its own media socket, so each holds its own TURN allocation (a TURN server
/// keys allocations by 5-tuple; with one shared socket the second call's Allocate was refused):
/// two concurrent relay-only calls connect through the relay from two sockets, with audio both
/// ways on both (the far ends play 1 kHz and 1.5 kHz, both heard in our mix, and each far end
/// hears our 440 Hz), and both allocations are deleted and both sockets closed at hang-up.
#[test]
fn two_concurrent_relayed_calls_each_hold_their_own_allocation() {
    let config = CloudConfig::for_environment(ENV).relay_only();
    let mut sim = SimNetwork::ready_user_with_turn(config, 306, |b| b);
    sim.start_audio(Some(440.0), true);
    let (call1, sid1) = accepted_call(&mut sim, Negotiation::SdpOverXmpp);
    assert!(connected(&mut sim, &sid1));
    sim.run_for(Duration::from_secs(1));
    let (call2, sid2) = sim.ring_and_accept(CallOptions {
        mode: Negotiation::SdpOverXmpp,
        codec: PreferredCodec::Opus,
        tone_hz: 1500.0,
        ..CallOptions::default()
    });
    assert!(
        connected(&mut sim, &sid2),
        "the second relayed call connects"
    );
    // Past the first statistics (5 s), which report the selected pair.
    sim.run_for(Duration::from_secs(6));

    assert_eq!(sim.turn().unwrap().stats().allocations, 2);
    assert_eq!(sim.open_udp_sockets(), 2);
    let sources: std::collections::BTreeSet<_> = sim
        .transmits()
        .iter()
        .filter_map(|(_, t)| match t {
            Transmit::Datagram {
                source,
                destination,
                ..
            } if *destination == TURN_ADDR => Some(*source),
            _ => None,
        })
        .collect();
    assert_eq!(
        sources.len(),
        2,
        "two sockets talk to the TURN server: {sources:?}"
    );
    let paths: Vec<SelectedPath> = [&sid1, &sid2]
        .into_iter()
        .map(|sid| selected_path(&sim, sid).expect("the selected pair is reported"))
        .collect();
    assert!(paths.iter().all(|p| p.relayed), "{paths:?}");
    assert_ne!(paths[0].local, paths[1].local, "two relayed addresses");
    assert!(
        !sim.events()
            .iter()
            .any(|(_, e)| matches!(e, SdkEvent::Error(_) | SdkEvent::SessionEnded { .. })),
        "no error, no call ended"
    );
    for call in [call1, call2] {
        let (rate, heard) = sim.cloud().received_audio(call);
        let tail = last(&heard, rate, 1.0);
        assert!(
            Goertzel::detect(tail, 440.0, rate),
            "call {call:?}: the far end hears 440 Hz ({} dBFS)",
            Goertzel::power_dbfs(tail, 440.0, rate)
        );
    }
    // Our playout mixes the two calls: each tone carries about half of its energy.
    let played = last(sim.playout(), 48_000, 1.0).to_vec();
    let ratios = [1000.0, 1500.0].map(|hz| Goertzel::energy_ratio(&played, hz, 48_000));
    assert!(
        ratios.iter().all(|r| *r > 0.3) && ratios.iter().sum::<f32>() > 0.8,
        "we hear 1 kHz and 1.5 kHz: energy ratios {ratios:?}"
    );

    for sid in [&sid1, &sid2] {
        let now = sim.now();
        sim.engine().end_session(now, sid).unwrap();
    }
    sim.pump();
    sim.run_for(Duration::from_secs(6));
    assert_eq!(sim.engine().sessions().count(), 0);
    assert_eq!(sim.turn().unwrap().stats().deletions, 2);
    assert_eq!(sim.open_udp_sockets(), 0);
    assert_eq!(sim.stray_datagrams(), 0);
}

/// The deallocation is retransmitted after the session ended: with every datagram lost for a
/// moment at hang-up, the allocation is still deleted once the network is back.
#[test]
fn a_lost_deallocation_is_retransmitted_after_the_session_ended() {
    let config = CloudConfig::for_environment(ENV).relay_only();
    let mut sim = SimNetwork::ready_user_with_turn(config, 307, |b| b);
    let (_call, sid) = accepted_call(&mut sim, Negotiation::SdpOverXmpp);
    assert!(connected(&mut sim, &sid));
    sim.run_for(Duration::from_secs(1));
    sim.set_datagram_loss(1.0);
    let now = sim.now();
    sim.engine().end_session(now, &sid).unwrap();
    sim.pump();
    sim.run_until_event(Duration::from_secs(5), |e| {
        matches!(e, SdkEvent::SessionEnded { .. })
    })
    .expect("session ended");
    sim.run_for(Duration::from_millis(300));
    assert_eq!(
        sim.turn().unwrap().stats().deletions,
        0,
        "the first one was lost"
    );
    sim.set_datagram_loss(0.0);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(
        sim.turn().unwrap().stats().deletions,
        1,
        "a retransmission got through"
    );
    // And then nothing more goes to the TURN server.
    let to_turn = engine_datagrams(&sim).0;
    sim.run_for(Duration::from_secs(30));
    assert_eq!(engine_datagrams(&sim).0, to_turn);
}
