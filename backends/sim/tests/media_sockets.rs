//! Each call's media has its own UDP sockets, in virtual time: the engine asks for them when
//! it answers (`Transmit::BindUdp`) and closes them when the media is gone for good; the
//! simulated network counts the open ones. Calls get distinct ports, nothing leaks over many
//! calls, a relayed call's socket outlives its session just long enough for the TURN
//! deallocation, a bind the platform refuses fails that one call with a typed event while
//! another call goes on, and a session that ends while its bind is outstanding leaves no socket.

use std::time::Duration;

use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::session::events::{ConnectionState, SessionEvent, TerminateReason};
use genesys_webrtc::{SdkErrorKind, SdkEvent};
use genesys_webrtc_hal::ErrorKind;
use genesys_webrtc_sim::cloud::{CallOptions, CloudConfig, Negotiation, PreferredCodec};
use genesys_webrtc_sim::network::{SimNetwork, ENGINE_MEDIA_ADDR};

const ENV: &str = "fake.genesys.test";

fn ring(sim: &mut SimNetwork, mode: Negotiation, tone_hz: f32) -> String {
    sim.ring_and_accept(CallOptions {
        mode,
        codec: PreferredCodec::Opus,
        tone_hz,
        ..CallOptions::default()
    })
    .1
}

fn wait_connected(sim: &mut SimNetwork, sid: &str) {
    let is_connected = |e: &SdkEvent| matches!(e, SdkEvent::Session { session_id, event: SessionEvent::ConnectionState(ConnectionState::Connected) } if session_id == sid);
    if !sim.events().iter().any(|(_, e)| is_connected(e)) {
        sim.run_until_event(Duration::from_secs(10), is_connected)
            .unwrap_or_else(|| panic!("{sid} did not connect"));
    }
}

/// Ends `sid` and waits for its `sessionEnded`; returns the reason.
fn end(sim: &mut SimNetwork, sid: &str) -> TerminateReason {
    let now = sim.now();
    sim.engine().end_session(now, sid).unwrap();
    sim.pump();
    ended(sim, sid).unwrap_or_else(|| panic!("{sid} did not end"))
}

/// The reason of `sid`'s `sessionEnded`, waiting up to 5 s of virtual time for it.
fn ended(sim: &mut SimNetwork, sid: &str) -> Option<TerminateReason> {
    let is_ended =
        |e: &SdkEvent| matches!(e, SdkEvent::SessionEnded { session, .. } if session.id == sid);
    let i = match sim.events().iter().position(|(_, e)| is_ended(e)) {
        Some(i) => i,
        None => sim.run_until_event(Duration::from_secs(5), is_ended)?,
    };
    match &sim.events()[i].1 {
        SdkEvent::SessionEnded { reason, .. } => Some(reason.clone()),
        _ => None,
    }
}

fn last(samples: &[i16], rate: u32, secs: f32) -> &[i16] {
    let n = (rate as f32 * secs) as usize;
    &samples[samples.len().saturating_sub(n)..]
}

#[test]
fn concurrent_calls_get_distinct_sockets_and_ended_calls_close_theirs() {
    let mut sim = SimNetwork::ready_user(ENV, 71, |b| b);
    assert_eq!(sim.open_udp_sockets(), 0, "no socket before the first call");
    let sids: Vec<String> = (0..3)
        .map(|_| ring(&mut sim, Negotiation::SdpOverXmpp, 1000.0))
        .collect();
    for sid in &sids {
        wait_connected(&mut sim, sid);
    }
    assert_eq!(sim.open_udp_sockets(), 3);
    assert_eq!(sim.engine().sizes().udp_sockets, 3);
    let addrs = sim.udp_socket_addrs();
    assert!(addrs.contains(&ENGINE_MEDIA_ADDR), "{addrs:?}");
    assert_eq!(addrs.len(), 3, "three distinct addresses: {addrs:?}");

    assert_eq!(end(&mut sim, &sids[1]), TerminateReason::Success);
    assert_eq!(sim.open_udp_sockets(), 2);
    assert_eq!(sim.engine().sizes().udp_sockets, 2);
    // The two others keep theirs and stay up.
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.engine().sessions().count(), 2);
    for sid in [&sids[0], &sids[2]] {
        end(&mut sim, sid);
    }
    assert_eq!(sim.open_udp_sockets(), 0);
    assert_eq!(sim.engine().sizes().udp_sockets, 0);
    assert_eq!(sim.udp_sockets_bound(), 3);
    assert_eq!(sim.stray_datagrams(), 0);
}

#[test]
fn no_socket_leaks_over_many_calls() {
    let mut sim = SimNetwork::ready_user(ENV, 72, |b| b);
    const CALLS: u64 = 40;
    for n in 0..CALLS {
        let mode = if n % 2 == 0 {
            Negotiation::SdpOverXmpp
        } else {
            Negotiation::Jingle
        };
        let sid = ring(&mut sim, mode, 1000.0);
        wait_connected(&mut sim, &sid);
        assert_eq!(sim.open_udp_sockets(), 1, "call {n}");
        if n % 3 == 0 {
            // The far end hangs up.
            let call = sim
                .cloud()
                .calls()
                .into_iter()
                .find(|c| c.session_id == sid)
                .expect("the cloud's call")
                .id;
            let now = sim.now();
            sim.cloud().hang_up(now, call, "success");
            sim.pump();
            assert!(ended(&mut sim, &sid).is_some(), "call {n} ended");
        } else {
            end(&mut sim, &sid);
        }
        sim.run_for(Duration::from_millis(100));
        assert_eq!(sim.open_udp_sockets(), 0, "after call {n}");
        assert_eq!(sim.engine().sizes().udp_sockets, 0, "after call {n}");
    }
    assert_eq!(sim.udp_sockets_bound(), CALLS);
    assert_eq!(sim.stray_datagrams(), 0);
}

/// A relayed call's socket stays open after the session ended until its TURN deallocation is
/// answered (the deallocation must leave from the allocation's 5-tuple), then closes; when the
/// answer never comes it closes at the end of the 5 s grace anyway.
#[test]
fn a_relayed_calls_socket_outlives_the_session_for_the_deallocation_only() {
    let config = CloudConfig::for_environment(ENV).relay_only();
    let mut sim = SimNetwork::ready_user_with_turn(config, 73, |b| b);
    let sid = ring(&mut sim, Negotiation::SdpOverXmpp, 1000.0);
    wait_connected(&mut sim, &sid);
    sim.run_for(Duration::from_secs(1));
    end(&mut sim, &sid);
    assert_eq!(sim.engine().sessions().count(), 0);
    assert_eq!(sim.open_udp_sockets(), 1, "kept for the deallocation");
    assert_eq!(sim.engine().sizes().closing_media, 1);
    sim.run_for(Duration::from_millis(500));
    assert_eq!(sim.turn().unwrap().stats().deletions, 1);
    assert_eq!(sim.open_udp_sockets(), 0, "closed once it was answered");
    assert_eq!(sim.engine().sizes().closing_media, 0);

    // The same with the deallocation never answered: closed after the grace.
    let sid = ring(&mut sim, Negotiation::SdpOverXmpp, 1000.0);
    wait_connected(&mut sim, &sid);
    sim.run_for(Duration::from_secs(1));
    sim.set_datagram_loss(1.0);
    end(&mut sim, &sid);
    sim.run_for(Duration::from_secs(4));
    assert_eq!(
        sim.open_udp_sockets(),
        1,
        "still retransmitting the deallocation"
    );
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.open_udp_sockets(), 0, "given up after the grace");
    assert_eq!(sim.engine().sizes().udp_sockets, 0);
    assert_eq!(sim.engine().sizes().closing_media, 0);
    assert_eq!(sim.stray_datagrams(), 0);
}

#[test]
fn a_refused_bind_fails_that_call_with_a_typed_event_while_another_goes_on() {
    let mut sim = SimNetwork::ready_user(ENV, 74, |b| b);
    sim.start_audio(Some(440.0), true);
    let first = ring(&mut sim, Negotiation::SdpOverXmpp, 1000.0);
    wait_connected(&mut sim, &first);
    let first_call = sim.cloud().calls()[0].id;

    sim.fail_udp_binds(1, ErrorKind::Other);
    let second = ring(&mut sim, Negotiation::SdpOverXmpp, 1500.0);
    assert_eq!(
        ended(&mut sim, &second),
        Some(TerminateReason::FailedTransport)
    );
    let failure = sim.events().iter().find_map(|(_, e)| match e {
        SdkEvent::Session {
            session_id,
            event: SessionEvent::MediaSocketFailed(err),
        } if *session_id == second => Some(err.clone()),
        _ => None,
    });
    let failure = failure.expect("the failed bind is reported on the session");
    assert_eq!(failure.kind, ErrorKind::Other);
    assert_eq!(failure.addr.ip(), ENGINE_MEDIA_ADDR.ip());
    assert_eq!(failure.addr.port(), 0);
    assert!(sim.events().iter().any(|(_, e)| matches!(
        e,
        SdkEvent::Error(err) if err.kind == SdkErrorKind::Media && err.details.contains(&second)
    )));
    // The cloud was told (terminate) and the failed call holds no socket.
    sim.run_for(Duration::from_millis(500));
    let second_call = sim
        .cloud()
        .calls()
        .into_iter()
        .find(|c| c.session_id == second)
        .expect("the cloud's second call");
    assert!(second_call.state.is_over(), "{:?}", second_call.state);
    assert_eq!(sim.open_udp_sockets(), 1);

    // The first call goes on with audio both ways.
    sim.clear_playout();
    let heard_before = sim.cloud().received_audio(first_call).1.len();
    sim.run_for(Duration::from_secs(3));
    let (rate, heard) = sim.cloud().received_audio(first_call);
    assert!(Goertzel::detect(&heard[heard_before..], 440.0, rate));
    assert!(Goertzel::detect(
        last(sim.playout(), 48_000, 1.0),
        1000.0,
        48_000
    ));
    assert!(!sim
        .events()
        .iter()
        .any(|(_, e)| matches!(e, SdkEvent::SessionEnded { session, .. } if session.id == first)));

    // Binds work again for the next call.
    let third = ring(&mut sim, Negotiation::Jingle, 1500.0);
    wait_connected(&mut sim, &third);
    assert_eq!(sim.open_udp_sockets(), 2);
}

/// With binds answered 50 ms late (a slow platform), the answer waits for them, and a session
/// that ends while its socket is still being bound leaves no socket behind: the engine closes
/// the socket as soon as the bind is answered.
#[test]
fn a_session_ended_while_its_socket_is_bound_leaves_no_socket() {
    let mut sim = SimNetwork::ready_user(ENV, 75, |b| b);
    sim.set_udp_bind_latency(Duration::from_millis(50));
    // A slow bind still connects the call.
    let sid = ring(&mut sim, Negotiation::SdpOverXmpp, 1000.0);
    wait_connected(&mut sim, &sid);
    assert_eq!(sim.open_udp_sockets(), 1);
    end(&mut sim, &sid);
    assert_eq!(sim.open_udp_sockets(), 0);

    // The far end hangs up while the bind is outstanding.
    let (call, sid) = sim.ring_and_accept(CallOptions {
        mode: Negotiation::SdpOverXmpp,
        codec: PreferredCodec::Opus,
        tone_hz: 1000.0,
        ..CallOptions::default()
    });
    let binds = |sim: &SimNetwork| {
        sim.transmits()
            .iter()
            .filter(|(_, t)| matches!(t, genesys_webrtc::engine::Transmit::BindUdp { .. }))
            .count()
    };
    let before = binds(&sim);
    let limit = sim.now() + Duration::from_secs(5);
    while binds(&sim) == before {
        assert!(sim.now() < limit, "no bind asked for");
        sim.step(limit);
    }
    assert_eq!(sim.open_udp_sockets(), 1, "the port is taken");
    let now = sim.now();
    sim.cloud().hang_up(now, call, "success");
    sim.pump();
    assert!(ended(&mut sim, &sid).is_some());
    sim.run_for(Duration::from_millis(200));
    assert_eq!(sim.engine().sessions().count(), 0);
    assert_eq!(
        sim.open_udp_sockets(),
        0,
        "closed once its bind was answered"
    );
    assert_eq!(sim.engine().sizes().udp_sockets, 0);
    assert_eq!(sim.stray_datagrams(), 0);
}
