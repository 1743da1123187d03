//! Softphone calls end to end in virtual time: the SDK engine and the fake cloud (with its str0m
//! media peer) on the in-memory network. Audio is checked in both directions with Goertzel, DTMF
//! both ways, mute, end_session, cancel and handled-elsewhere, in both negotiation modes.

use std::time::{Duration, Instant};

use genesys_webrtc::engine::StartSoftphoneParams;
use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::session::events::{ConnectionState, SessionEvent, TerminateReason};
use genesys_webrtc::{Engine, InitializeOptions, SdkEvent, SdkOptions};
use genesys_webrtc_sim::cloud::{
    CallId, CallOptions, CloudConfig, FakeCloud, Negotiation, PreferredCodec,
};
use genesys_webrtc_sim::network::SimNetwork;

const ENV: &str = "fake.genesys.test";

fn sim(seed: u64) -> SimNetwork {
    SimNetwork::ready_user(ENV, seed, |b| b)
}

fn place(sim: &mut SimNetwork, mode: Negotiation, codec: PreferredCodec) -> CallId {
    let now = sim.now();
    let call = sim.cloud().place_inbound_call(
        now,
        CallOptions {
            mode,
            codec,
            tone_hz: 1000.0,
            ..CallOptions::default()
        },
    );
    sim.pump();
    call
}

fn pending_id(sim: &mut SimNetwork) -> String {
    let i = sim
        .run_until_event(Duration::from_secs(5), |e| {
            matches!(e, SdkEvent::PendingSession(_))
        })
        .expect("pending session");
    match &sim.events()[i].1 {
        SdkEvent::PendingSession(p) => p.id.clone(),
        _ => unreachable!(),
    }
}

fn wait_connected(sim: &mut SimNetwork, sid: &str) {
    let sid = sid.to_string();
    let already = sim.events().iter().any(|(_, e)| {
        matches!(e, SdkEvent::Session { session_id, event: SessionEvent::ConnectionState(ConnectionState::Connected) } if *session_id == sid)
    });
    if already {
        return;
    }
    sim.run_until_event(Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::Session { session_id, event: SessionEvent::ConnectionState(ConnectionState::Connected) } if *session_id == sid)
    })
    .expect("media connected");
}

fn dtmf_received(sim: &SimNetwork, sid: &str) -> String {
    sim.events()
        .iter()
        .filter_map(|(_, e)| match e {
            SdkEvent::Session {
                session_id,
                event: SessionEvent::DtmfReceived(d),
            } if session_id == sid => Some(*d),
            _ => None,
        })
        .collect()
}

fn last(samples: &[i16], rate: u32, secs: f32) -> &[i16] {
    let n = (rate as f32 * secs) as usize;
    &samples[samples.len().saturating_sub(n)..]
}

fn full_call(mode: Negotiation, codec: PreferredCodec, seed: u64) {
    let mut sim = sim(seed);
    sim.start_audio(Some(440.0), true);
    let call = place(&mut sim, mode, codec);
    let sid = pending_id(&mut sim);
    let now = sim.now();
    sim.engine().accept_pending_session(now, &sid).unwrap();
    sim.pump();
    sim.run_until_event(Duration::from_secs(5), |e| {
        matches!(e, SdkEvent::SessionStarted(_))
    })
    .expect("session started");
    wait_connected(&mut sim, &sid);
    sim.run_for(Duration::from_secs(2));

    // Audio both ways: the cloud hears our 440 Hz, we hear its 1 kHz.
    let (rate, heard) = sim.cloud().received_audio(call);
    let tail = last(&heard, rate, 1.0);
    assert!(
        Goertzel::detect(tail, 440.0, rate),
        "cloud hears 440 Hz ({} dBFS)",
        Goertzel::power_dbfs(tail, 440.0, rate)
    );
    assert!(!Goertzel::detect(tail, 1000.0, rate));
    let played = last(sim.playout(), 48_000, 1.0).to_vec();
    assert!(
        Goertzel::detect(&played, 1000.0, 48_000),
        "we hear 1 kHz ({} dBFS)",
        Goertzel::power_dbfs(&played, 1000.0, 48_000)
    );
    assert!(Goertzel::level_dbfs(&played) > -30.0);

    // DTMF both ways.
    let now = sim.now();
    sim.engine().send_dtmf(now, &sid, "123").unwrap();
    sim.cloud().send_dtmf(call, "45#").unwrap();
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.cloud().received_dtmf(call), "123");
    assert_eq!(dtmf_received(&sim, &sid), "45#");

    // Mute silences what we send.
    let now = sim.now();
    sim.engine().set_audio_mute(now, &sid, true).unwrap();
    sim.run_for(Duration::from_millis(200));
    let before = sim.cloud().received_audio(call).1.len();
    sim.run_for(Duration::from_secs(1));
    let (rate, heard) = sim.cloud().received_audio(call);
    let muted_part = &heard[before.min(heard.len())..];
    assert!(
        muted_part.is_empty() || !Goertzel::detect(muted_part, 440.0, rate),
        "no tone while muted"
    );
    let now = sim.now();
    sim.engine().set_audio_mute(now, &sid, false).unwrap();
    sim.run_for(Duration::from_secs(1));
    let (rate, heard) = sim.cloud().received_audio(call);
    assert!(
        Goertzel::detect(last(&heard, rate, 0.5), 440.0, rate),
        "tone back after unmute"
    );

    // Stats flow.
    assert!(sim.events().iter().any(|(_, e)| matches!(e, SdkEvent::Session { event: SessionEvent::Stats(s), .. } if s.packets_received > 0)));

    // end_session: REST PATCH, then the server's terminate ends it.
    let now = sim.now();
    sim.engine().end_session(now, &sid).unwrap();
    sim.pump();
    let i = sim
        .run_until_event(Duration::from_secs(5), |e| {
            matches!(e, SdkEvent::SessionEnded { .. })
        })
        .expect("session ended");
    assert!(
        matches!(&sim.events()[i].1, SdkEvent::SessionEnded { session, reason: TerminateReason::Success } if session.id == sid)
    );
    assert!(sim.events().iter().any(|(_, e)| matches!(
        e,
        SdkEvent::Session {
            event: SessionEvent::Terminated {
                reason: TerminateReason::Success
            },
            ..
        }
    )));
    let patched = sim
        .cloud()
        .cloud_log()
        .rest_calls()
        .iter()
        .any(|(m, p, s)| m.as_str() == "PATCH" && p.contains("/participants/") && *s == 202);
    assert!(patched, "ended through the participant PATCH");
    assert_eq!(sim.engine().sessions().count(), 0);
}

#[test]
fn inbound_call_sdp_over_xmpp_opus() {
    full_call(Negotiation::SdpOverXmpp, PreferredCodec::Opus, 31);
}

#[test]
fn inbound_call_classic_jingle_pcmu() {
    full_call(Negotiation::Jingle, PreferredCodec::Pcmu, 32);
}

#[test]
fn inbound_call_classic_jingle_opus_and_pcma() {
    full_call(Negotiation::Jingle, PreferredCodec::Opus, 33);
    full_call(Negotiation::SdpOverXmpp, PreferredCodec::Pcma, 34);
}

#[test]
fn server_hang_up_and_cancel_and_handled_elsewhere() {
    let mut sim = sim(35);
    // cancel before answering
    let call = place(&mut sim, Negotiation::SdpOverXmpp, PreferredCodec::Opus);
    let sid = pending_id(&mut sim);
    let now = sim.now();
    assert!(sim.cloud().retract_call(now, call));
    sim.pump();
    sim.run_until_event(
        Duration::from_secs(2),
        |e| matches!(e, SdkEvent::CancelPendingSession { session_id, .. } if *session_id == sid),
    )
    .expect("cancelled");
    // answered on another device
    let call = place(&mut sim, Negotiation::Jingle, PreferredCodec::Opus);
    let sid = pending_id(&mut sim);
    let now = sim.now();
    assert!(sim.cloud().answer_elsewhere(now, call));
    sim.pump();
    sim.run_until_event(
        Duration::from_secs(2),
        |e| matches!(e, SdkEvent::HandledPendingSession { session_id, .. } if *session_id == sid),
    )
    .expect("handled");
    // the far end hangs up an answered call
    let call = place(&mut sim, Negotiation::SdpOverXmpp, PreferredCodec::Opus);
    let sid = pending_id(&mut sim);
    let now = sim.now();
    sim.engine().accept_pending_session(now, &sid).unwrap();
    sim.pump();
    wait_connected(&mut sim, &sid);
    let now = sim.now();
    assert!(sim.cloud().hang_up(now, call, "success"));
    sim.pump();
    sim.run_until_event(
        Duration::from_secs(2),
        |e| matches!(e, SdkEvent::SessionEnded { session, .. } if session.id == sid),
    )
    .expect("ended by the far end");
}

#[test]
fn outbound_call_is_auto_answered() {
    let mut sim = sim(36);
    let now = sim.now();
    let req = sim
        .engine()
        .start_softphone_session(
            now,
            &StartSoftphoneParams {
                phone_number: Some("+13175550199".into()),
                ..Default::default()
            },
        )
        .unwrap();
    sim.pump();
    let i = sim
        .run_until_event(
            Duration::from_secs(5),
            |e| matches!(e, SdkEvent::PendingSession(p) if p.auto_answer),
        )
        .expect("auto-answer propose");
    let SdkEvent::PendingSession(p) = sim.events()[i].1.clone() else {
        unreachable!()
    };
    // The REST answer and the propose travel on different connections: either may come first.
    sim.run_for(Duration::from_millis(100));
    let conv = sim
        .engine()
        .take_place_call_result(req)
        .expect("result")
        .expect("placed");
    assert_eq!(p.conversation_id, conv);
    wait_connected(&mut sim, &p.id);
}

#[test]
fn two_hundred_concurrent_calls_in_virtual_time() {
    let mut sim = sim(37);
    let wall = Instant::now();
    let mut calls = Vec::new();
    for _ in 0..200 {
        let now = sim.now();
        let call = sim.cloud().place_inbound_call(
            now,
            CallOptions {
                auto_answer: true,
                ..CallOptions::default()
            },
        );
        calls.push(call);
    }
    sim.pump();
    // inbound auto-answer proposes are answered by the app here
    sim.run_for(Duration::from_millis(200));
    let ids: Vec<String> = sim
        .engine()
        .pending_sessions()
        .map(|p| p.id.clone())
        .collect();
    let pending_total = sim
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, SdkEvent::PendingSession(_)))
        .count();
    assert_eq!(pending_total, 200);
    for id in ids {
        let now = sim.now();
        sim.engine().accept_pending_session(now, &id).unwrap();
    }
    sim.pump();
    sim.run_for(Duration::from_secs(5));
    let connected = sim
        .events()
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                SdkEvent::Session {
                    event: SessionEvent::ConnectionState(ConnectionState::Connected),
                    ..
                }
            )
        })
        .count();
    assert_eq!(connected, 200, "every call's media connected");
    assert_eq!(sim.engine().sessions().count(), 200);
    let connected_calls = sim
        .cloud()
        .calls()
        .iter()
        .filter(|c| c.media_connected)
        .count();
    assert_eq!(connected_calls, 200);
    let errors: Vec<_> = sim
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, SdkEvent::Error(_)))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // Each call has its own media socket.
    assert_eq!(sim.open_udp_sockets(), 200);
    assert_eq!(sim.engine().sizes().udp_sockets, 200);
    let sids: Vec<String> = sim.engine().sessions().map(|s| s.id.clone()).collect();
    for sid in sids {
        let now = sim.now();
        sim.engine().end_session(now, &sid).unwrap();
    }
    sim.pump();
    sim.run_for(Duration::from_secs(3));
    assert_eq!(sim.engine().sessions().count(), 0);
    let ended = sim
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, SdkEvent::SessionEnded { .. }))
        .count();
    assert_eq!(ended, 200);
    assert_eq!(sim.open_udp_sockets(), 0, "every call's socket closed");
    assert_eq!(sim.engine().sizes().udp_sockets, 0);
    assert_eq!(sim.stray_datagrams(), 0);
    println!(
        "200 calls set up and torn down in {:?} of wall time",
        wall.elapsed()
    );
}

fn answered_call(sim: &mut SimNetwork) -> (CallId, String) {
    let call = place(sim, Negotiation::SdpOverXmpp, PreferredCodec::Opus);
    let sid = pending_id(sim);
    let now = sim.now();
    sim.engine().accept_pending_session(now, &sid).unwrap();
    sim.pump();
    wait_connected(sim, &sid);
    (call, sid)
}

#[test]
fn media_sessions_survive_a_websocket_drop_by_default() {
    let mut sim = sim(38);
    sim.start_audio(Some(440.0), true);
    let (call, sid) = answered_call(&mut sim);
    sim.run_for(Duration::from_secs(1));
    sim.cut_all();
    sim.run_until_event(Duration::from_secs(30), |e| {
        matches!(e, SdkEvent::Connected { reconnect: true })
    })
    .expect("reconnected");
    assert_eq!(sim.engine().sessions().count(), 1, "the call survived");
    assert!(!sim
        .events()
        .iter()
        .any(|(_, e)| matches!(e, SdkEvent::SessionEnded { .. })));
    let before = sim.cloud().received_audio(call).1.len();
    sim.run_for(Duration::from_secs(1));
    let (rate, heard) = sim.cloud().received_audio(call);
    assert!(
        Goertzel::detect(&heard[before..], 440.0, rate),
        "audio kept flowing"
    );
    // and the session is still controllable through the new connection
    let now = sim.now();
    sim.engine().end_session(now, &sid).unwrap();
    sim.pump();
    sim.run_until_event(Duration::from_secs(5), |e| {
        matches!(e, SdkEvent::SessionEnded { .. })
    })
    .expect("ended after the reconnect");
}

#[test]
fn without_survivability_a_websocket_drop_ends_the_sessions() {
    let mut sim = SimNetwork::ready_user(ENV, 39, |b| b.session_survivability(false));
    let (_call, sid) = answered_call(&mut sim);
    sim.cut_all();
    let i = sim
        .run_until_event(Duration::from_secs(5), |e| {
            matches!(e, SdkEvent::SessionEnded { .. })
        })
        .expect("ended on the drop");
    assert!(
        matches!(&sim.events()[i].1, SdkEvent::SessionEnded { session, reason: TerminateReason::ConnectivityError } if session.id == sid)
    );
}

#[test]
fn conversation_updates_follow_the_call() {
    let mut sim = sim(44);
    let (_call, sid) = answered_call(&mut sim);
    sim.run_for(Duration::from_millis(500));
    let now = sim.now();
    sim.engine().end_session(now, &sid).unwrap();
    sim.pump();
    sim.run_until_event(Duration::from_secs(5), |e| {
        matches!(e, SdkEvent::SessionEnded { .. })
    })
    .unwrap();
    sim.run_for(Duration::from_millis(500));
    let updates: Vec<_> = sim
        .events()
        .iter()
        .filter_map(|(_, e)| match e {
            SdkEvent::ConversationUpdate(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    assert!(updates.len() >= 3, "{updates:#?}");
    let first = &updates[0];
    assert_eq!(first.added.len(), 1);
    assert_eq!(first.added[0].most_recent_call_state, "alerting");
    assert!(updates.iter().any(|u| {
        u.current.iter().any(|c| {
            c.most_recent_call_state == "connected" && c.session_id.as_deref() == Some(&sid)
        })
    }));
    let last = updates.last().unwrap();
    assert_eq!(last.removed.len(), 1);
    assert!(last.current.is_empty());
    assert_eq!(last.active_conversation_id, None);
    assert!(sim.engine().conversations().is_empty());
}

#[test]
fn end_session_falls_back_to_a_direct_terminate_when_rest_fails() {
    use genesys_webrtc_sim::cloud::RestFault;
    let mut sim = sim(45);
    let (call, sid) = answered_call(&mut sim);
    sim.cloud()
        .config_mut()
        .faults
        .rest_status
        .push(RestFault::new("/api/v2/conversations/calls/", 503));
    let now = sim.now();
    sim.engine().end_session(now, &sid).unwrap();
    sim.pump();
    let i = sim
        .run_until_event(Duration::from_secs(5), |e| {
            matches!(e, SdkEvent::SessionEnded { .. })
        })
        .expect("ended anyway");
    assert!(matches!(
        &sim.events()[i].1,
        SdkEvent::SessionEnded {
            reason: TerminateReason::Success,
            ..
        }
    ));
    sim.run_for(Duration::from_millis(200));
    // the cloud saw our own terminate (mode A JSON-RPC), not a participant PATCH
    let log = sim.cloud().call_log(call);
    assert!(log.iter().any(|l| l.contains("terminate")), "{log:?}");
}

/// The JSON-RPC method of a `genesys-webrtc` IQ frame.
fn rpc_method(frame: &str) -> Option<String> {
    use genesys_webrtc::wire::xml::{self, XmlLimits};
    let el = xml::parse(frame, &XmlLimits::default()).ok()?;
    let json: serde_json::Value =
        serde_json::from_str(&el.child("genesys-webrtc", "genesys")?.text()).ok()?;
    json.get("method")?.as_str().map(str::to_string)
}

#[test]
fn a_renegotiation_offer_is_answered_on_the_same_connection() {
    use genesys_webrtc::wire::xml::{self, XmlLimits};
    use genesys_webrtc_sim::cloud::LogEntry;
    let mut sim = sim(46);
    sim.start_audio(Some(440.0), true);
    let (call, sid) = answered_call(&mut sim);
    sim.run_for(Duration::from_millis(500));
    // the offer the cloud sent, as a stanza
    let offer_xml = sim
        .cloud()
        .log()
        .iter()
        .find_map(|e| match e {
            LogEntry::XmppOut { xml, .. } if rpc_method(xml).as_deref() == Some("offer") => {
                Some(xml.clone())
            }
            _ => None,
        })
        .expect("offer sent");
    let mut offer = xml::parse(&offer_xml, &XmlLimits::default()).unwrap();
    offer.set_attr("id", "reneg-1");
    let body = offer.child("genesys-webrtc", "genesys").unwrap().text();
    let body = body.replacen("\"id\":\"", "\"id\":\"again-", 1);
    offer
        .children
        .retain(|c| !matches!(c, xml::Node::Element(e) if e.name == "genesys-webrtc"));
    offer.push_child(xml::Element::new("genesys-webrtc", "genesys").with_text(body));
    let answers = |sim: &mut SimNetwork| {
        sim.cloud()
            .log()
            .iter()
            .filter(|e| matches!(e, LogEntry::XmppIn { xml, .. } if rpc_method(xml) == Some("answer".into())))
            .count()
    };
    assert_eq!(answers(&mut sim), 1);
    let started_before = sim
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, SdkEvent::SessionStarted(_)))
        .count();
    let now = sim.now();
    let jid = sim.cloud().connected_jids()[0].clone();
    assert!(sim.cloud().send_stanza(now, &jid, &offer));
    sim.pump();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(answers(&mut sim), 2, "answered again");
    let started_after = sim
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, SdkEvent::SessionStarted(_)))
        .count();
    assert_eq!(started_before, started_after, "no new session");
    assert_eq!(sim.engine().sessions().count(), 1);
    assert!(
        !sim.events()
            .iter()
            .any(|(_, e)| matches!(e, SdkEvent::Error(_))),
        "{:?}",
        sim.events()
            .iter()
            .filter(|(_, e)| matches!(e, SdkEvent::Error(_)))
            .collect::<Vec<_>>()
    );
    let before = sim.cloud().received_audio(call).1.len();
    sim.run_for(Duration::from_secs(1));
    let (rate, heard) = sim.cloud().received_audio(call);
    assert!(
        Goertzel::detect(&heard[before..], 440.0, rate),
        "media unaffected"
    );
    let _ = sid;
}

#[test]
fn stun_servers_given_by_name_are_resolved_for_server_reflexive_candidates() {
    use genesys_webrtc::engine::Transmit;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    let stun = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)), 3478);
    let run = |resolve: bool| {
        let config = CloudConfig::for_environment(ENV);
        let start = Instant::now();
        let opts = SdkOptions::builder()
            .environment(ENV)
            .access_token(config.access_token.clone())
            .build()
            .unwrap();
        let mut sim = SimNetwork::new(
            Engine::new(opts, start, 47),
            FakeCloud::new(config),
            start,
            47,
        );
        if resolve {
            sim.add_host(&format!("stun.{ENV}"), vec![stun.ip()]);
        }
        let now = sim.now();
        sim.engine()
            .initialize(now, InitializeOptions::default())
            .unwrap();
        sim.pump();
        sim.run_until_event(Duration::from_secs(30), |e| matches!(e, SdkEvent::Ready))
            .unwrap();
        let asked = sim.transmits().iter().any(
            |(_, t)| matches!(t, Transmit::ResolveHost { host } if *host == format!("stun.{ENV}")),
        );
        assert!(asked, "the engine asks the driver to resolve the STUN host");
        sim.run_for(Duration::from_millis(300));
        let _ = answered_call(&mut sim);
        sim.transmits()
            .iter()
            .filter(|(_, t)| matches!(t, Transmit::Datagram { destination, .. } if *destination == stun))
            .count()
    };
    assert!(
        run(true) >= 1,
        "a STUN binding request goes to the resolved address"
    );
    assert_eq!(run(false), 0, "an unresolved name is skipped");
}

#[test]
fn rejecting_a_ringing_call_replaces_the_user_with_voicemail() {
    let mut sim = sim(48);
    let call = place(&mut sim, Negotiation::SdpOverXmpp, PreferredCodec::Opus);
    let sid = pending_id(&mut sim);
    let now = sim.now();
    sim.engine().reject_pending_session(now, &sid).unwrap();
    sim.pump();
    sim.run_for(Duration::from_secs(1));
    let rest = sim.cloud().cloud_log().rest_calls();
    assert!(
        rest.iter()
            .any(|(m, p, s)| m.as_str() == "POST" && p.ends_with("/replace") && *s == 202),
        "voicemail replace: {rest:?}"
    );
    let jmi_reject = sim.cloud().log().iter().any(|e| {
        matches!(e, genesys_webrtc_sim::cloud::LogEntry::XmppIn { xml, .. } if xml.contains("<reject"))
    });
    assert!(!jmi_reject, "softphone reject never sends JMI reject");
    assert!(matches!(
        sim.cloud().call(call).map(|c| c.state),
        Some(genesys_webrtc_sim::cloud::CallState::Ended { .. })
    ));
    assert_eq!(sim.engine().pending_sessions().count(), 0);
}

/// Ends `sid` locally (REST refused, so mode A `terminate`) and returns when it was ended and
/// when `sessionEnded` arrived.
fn local_terminate(sim: &mut SimNetwork, sid: &str) -> (Instant, Instant, TerminateReason) {
    use genesys_webrtc_sim::cloud::RestFault;
    sim.cloud()
        .config_mut()
        .faults
        .rest_status
        .push(RestFault::new("/api/v2/conversations/calls/", 503));
    let ended_at = sim.now();
    sim.engine().end_session(ended_at, sid).unwrap();
    sim.pump();
    let i = sim
        .run_until_event(Duration::from_secs(10), |e| {
            matches!(e, SdkEvent::SessionEnded { .. })
        })
        .expect("session ended");
    let (at, e) = &sim.events()[i];
    let SdkEvent::SessionEnded { reason, session } = e else {
        unreachable!()
    };
    assert_eq!(session.id, sid);
    (ended_at, *at, reason.clone())
}

#[test]
fn a_local_terminate_waits_for_its_result_before_ending() {
    let mut sim = sim(46);
    let (call, sid) = answered_call(&mut sim);
    sim.set_latency(Duration::from_millis(40), Duration::ZERO);
    let (ended_at, session_ended, reason) = local_terminate(&mut sim, &sid);
    assert_eq!(reason, TerminateReason::Success);
    let waited = session_ended - ended_at;
    // The REST attempt, then the terminate IQ there and its result back: several 40 ms legs,
    // and well inside the 2 s limit.
    assert!(
        waited >= Duration::from_millis(80) && waited < Duration::from_secs(1),
        "waited {waited:?}"
    );
    // `terminated` comes with it, not earlier.
    let terminated_at = sim
        .events()
        .iter()
        .find(|(_, e)| {
            matches!(e, SdkEvent::Session { session_id, event: SessionEvent::Terminated { .. } } if *session_id == sid)
        })
        .map(|(t, _)| *t)
        .expect("terminated");
    assert_eq!(terminated_at, session_ended);
    let log = sim.cloud().call_log(call);
    assert!(
        log.iter().any(|l| l.contains("terminate from the client")),
        "{log:?}"
    );
    assert_eq!(sim.engine().sessions().count(), 0);
}

#[test]
fn a_local_terminate_without_a_result_ends_after_two_seconds() {
    let mut sim = sim(47);
    let (_call, sid) = answered_call(&mut sim);
    sim.cloud().config_mut().faults.terminate_silent = true;
    let (ended_at, session_ended, reason) = local_terminate(&mut sim, &sid);
    assert_eq!(reason, TerminateReason::Success);
    let waited = session_ended - ended_at;
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_millis(2100),
        "waited {waited:?}"
    );
    // Once over, the session is gone for the app's commands.
    let now = sim.now();
    assert!(sim.engine().end_session(now, &sid).is_err());
    assert_eq!(sim.engine().sessions().count(), 0);
}

/// When the engine sent audio RTP datagrams (by the RFC 5761 demultiplexing rules: version 2,
/// not an RTCP packet type).
fn rtp_sent_at(sim: &SimNetwork) -> Vec<Instant> {
    use genesys_webrtc::engine::Transmit;
    sim.transmits()
        .iter()
        .filter_map(|(at, t)| match t {
            Transmit::Datagram { data, .. } => match data.as_slice() {
                [b0, b1, ..] if (128..=191).contains(b0) && !(192..=223).contains(b1) => Some(*at),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn no_audio_is_sent_while_a_local_terminate_waits() {
    use genesys_webrtc_sim::cloud::RestFault;
    let mut sim = sim(48);
    // The app's audio clock runs throughout: a captured frame every 20 ms.
    sim.start_audio(Some(440.0), false);
    let (call, sid) = answered_call(&mut sim);
    // A slow link: the far end keeps its media open until the terminate has reached it, so
    // for a while only the SDK itself can keep audio off the wire.
    let latency = Duration::from_millis(250);
    sim.set_latency(latency, Duration::ZERO);
    sim.run_for(Duration::from_secs(1));

    // A local end in mode A (REST refused) whose terminate the server never answers: the
    // session waits 2 s for the result (PROTOCOL.md 7.5).
    sim.cloud().config_mut().faults.terminate_silent = true;
    sim.cloud()
        .config_mut()
        .faults
        .rest_status
        .push(RestFault::new("/api/v2/conversations/calls/", 503));
    let ended_at = sim.now();
    let flowing = rtp_sent_at(&sim)
        .iter()
        .filter(|t| **t + Duration::from_millis(500) > ended_at)
        .count();
    assert!(
        flowing >= 20,
        "audio flows before the end: {flowing} packets in 500 ms"
    );
    sim.engine().end_session(ended_at, &sid).unwrap();
    sim.pump();
    // Step until the server has the terminate: it was sent one latency before.
    let terminate_sent = loop {
        let log = sim.cloud().call_log(call);
        if log.iter().any(|l| l.contains("terminate from the client")) {
            break sim.now() - latency;
        }
        assert!(
            sim.now() < ended_at + Duration::from_secs(3),
            "no terminate: {log:?}"
        );
        sim.run_for(Duration::from_millis(2));
    };
    let i = sim
        .run_until_event(Duration::from_secs(3), |e| {
            matches!(e, SdkEvent::SessionEnded { .. })
        })
        .expect("session ended");
    let session_ended = sim.events()[i].0;
    assert!(
        session_ended >= terminate_sent + Duration::from_millis(1990),
        "the wait: {:?}",
        session_ended - terminate_sent
    );
    let during: Vec<Duration> = rtp_sent_at(&sim)
        .into_iter()
        .filter(|t| *t >= terminate_sent)
        .map(|t| t - terminate_sent)
        .collect();
    assert!(
        during.is_empty(),
        "audio RTP sent during the terminate wait (after the terminate): {during:?}"
    );
}

/// A session accepted with `options` by the engine's API (not auto-connected), its media up.
fn accepted_with(
    sim: &mut SimNetwork,
    options: genesys_webrtc::engine::AcceptSessionOptions,
) -> (CallId, String) {
    let call = place(sim, Negotiation::SdpOverXmpp, PreferredCodec::Opus);
    let sid = pending_id(sim);
    let now = sim.now();
    sim.engine().accept_pending_session(now, &sid).unwrap();
    sim.pump();
    sim.run_until_event(Duration::from_secs(5), |e| {
        matches!(e, SdkEvent::SessionStarted(_))
    })
    .expect("session started");
    let now = sim.now();
    sim.engine()
        .accept_session_with(now, &sid, options)
        .unwrap();
    sim.pump();
    wait_connected(sim, &sid);
    (call, sid)
}

#[test]
fn app_provided_audio_supersedes_device_ids() {
    use genesys_webrtc::devices::DeviceRequest;
    use genesys_webrtc::engine::{AcceptSessionOptions, DefaultDevicesUpdate, OutgoingMediaUpdate};
    let mut sim = SimNetwork::ready_user(ENV, 50, |b| {
        b.auto_connect_sessions(false)
            .default_audio_device_id("mic-sdk")
    });
    // The app feeds 440 Hz itself (as the audio loop does not, with app audio).
    sim.start_audio(Some(440.0), false);
    let (call, sid) = accepted_with(
        &mut sim,
        AcceptSessionOptions {
            audio_device_id: DeviceRequest::id("mic-2"),
            app_audio: true,
            ..AcceptSessionOptions::default()
        },
    );
    let r = sim.engine().media_route().clone();
    assert!(r.app_audio, "{r:?}");
    // The device id was not taken: the microphone request is still the initial one.
    assert_eq!(r.microphone, DeviceRequest::SdkDefault, "{r:?}");
    sim.run_for(Duration::from_secs(1));
    let (rate, heard) = sim.cloud().received_audio(call);
    assert!(
        Goertzel::detect(last(&heard, rate, 0.5), 440.0, rate),
        "the far end hears the app's audio"
    );

    // New SDK defaults moved onto the active session leave app audio alone.
    let now = sim.now();
    sim.engine().update_default_devices(
        now,
        DefaultDevicesUpdate {
            audio_device_id: Some(Some("mic-3".into())),
            update_active_sessions: true,
            ..DefaultDevicesUpdate::default()
        },
    );
    let r = sim.engine().media_route().clone();
    assert!(r.app_audio, "{r:?}");
    assert_eq!(r.microphone, DeviceRequest::SdkDefault, "{r:?}");

    // update_outgoing_media with a device id (no app media): back to a microphone.
    let now = sim.now();
    let g = sim.engine().media_route().generation;
    sim.engine()
        .update_outgoing_media(
            now,
            &sid,
            OutgoingMediaUpdate {
                audio_device_id: DeviceRequest::id("mic-4"),
                ..OutgoingMediaUpdate::default()
            },
        )
        .unwrap();
    let r = sim.engine().media_route().clone();
    assert!(!r.app_audio, "{r:?}");
    assert_eq!(r.microphone, DeviceRequest::id("mic-4"), "{r:?}");
    assert_eq!(r.generation, g + 1);

    // With app media as well, the app media wins and the device id is not taken.
    let now = sim.now();
    sim.engine()
        .update_outgoing_media(
            now,
            &sid,
            OutgoingMediaUpdate {
                audio_device_id: DeviceRequest::id("mic-5"),
                app_audio: true,
                ..OutgoingMediaUpdate::default()
            },
        )
        .unwrap();
    let r = sim.engine().media_route().clone();
    assert!(r.app_audio, "{r:?}");
    assert_eq!(r.microphone, DeviceRequest::id("mic-4"), "{r:?}");
    assert_eq!(r.generation, g + 2);
    // Unmuting onto a device id hands audio back to the microphones.
    let now = sim.now();
    sim.engine()
        .set_audio_mute_with(now, &sid, false, DeviceRequest::id("mic-6"))
        .unwrap();
    let r = sim.engine().media_route().clone();
    assert!(!r.app_audio, "{r:?}");
    assert_eq!(r.microphone, DeviceRequest::id("mic-6"), "{r:?}");
}

#[test]
fn the_camera_request_follows_the_device_id_rules() {
    use genesys_webrtc::devices::{resolve_input, DeviceRequest, DeviceTarget};
    use genesys_webrtc::engine::{AcceptSessionOptions, DefaultDevicesUpdate, OutgoingMediaUpdate};
    use genesys_webrtc_hal::{MediaDevice, MediaKind};
    let mut sim = SimNetwork::ready_user(ENV, 51, |b| {
        b.auto_connect_sessions(false)
            .default_video_device_id("cam-sdk")
    });
    let cams = |ids: &[&str]| -> Vec<MediaDevice> {
        ids.iter()
            .map(|id| MediaDevice {
                id: (*id).into(),
                label: (*id).into(),
                kind: MediaKind::VideoInput,
                is_system_default: *id == "cam-sys",
            })
            .chain(std::iter::once(MediaDevice {
                // A microphone with a camera's id is not a camera.
                id: "cam-mic".into(),
                label: "cam-mic".into(),
                kind: MediaKind::AudioInput,
                is_system_default: true,
            }))
            .collect()
    };
    let camera = |sim: &mut SimNetwork, present: &[&str]| {
        let r = sim.engine().media_route();
        resolve_input(
            &r.camera,
            r.defaults.video_device_id.as_deref(),
            MediaKind::VideoInput,
            &cams(present),
        )
    };
    let all = ["cam-sys", "cam-sdk", "cam-b", "cam-c"];
    assert_eq!(sim.engine().media_route().camera, DeviceRequest::Unchanged);

    // Accepted without a video id (JS undefined): the SDK default camera, or the system
    // default when it is not present.
    let (_call, sid) = accepted_with(
        &mut sim,
        AcceptSessionOptions {
            audio_device_id: DeviceRequest::id("mic-2"),
            ..AcceptSessionOptions::default()
        },
    );
    assert_eq!(sim.engine().media_route().camera, DeviceRequest::SdkDefault);
    assert_eq!(
        camera(&mut sim, &all),
        DeviceTarget::Device("cam-sdk".into())
    );
    assert_eq!(
        camera(&mut sim, &["cam-sys", "cam-b"]),
        DeviceTarget::SystemDefault
    );

    // update_outgoing_media with a camera id: that camera, the SDK default when it is absent;
    // the microphone is left alone.
    let now = sim.now();
    let g = sim.engine().media_route().generation;
    sim.engine()
        .update_outgoing_media(
            now,
            &sid,
            OutgoingMediaUpdate {
                video_device_id: DeviceRequest::id("cam-b"),
                ..OutgoingMediaUpdate::default()
            },
        )
        .unwrap();
    let r = sim.engine().media_route().clone();
    assert_eq!(r.camera, DeviceRequest::id("cam-b"));
    assert_eq!(r.microphone, DeviceRequest::id("mic-2"));
    assert_eq!(r.generation, g + 1);
    assert_eq!(camera(&mut sim, &all), DeviceTarget::Device("cam-b".into()));
    assert_eq!(
        camera(&mut sim, &["cam-sys", "cam-sdk"]),
        DeviceTarget::Device("cam-sdk".into())
    );
    // An id of another kind of device does not match a camera.
    let now = sim.now();
    sim.engine()
        .update_outgoing_media(
            now,
            &sid,
            OutgoingMediaUpdate {
                video_device_id: DeviceRequest::id("cam-mic"),
                ..OutgoingMediaUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(
        camera(&mut sim, &all),
        DeviceTarget::Device("cam-sdk".into())
    );

    // JS null: the system default, even with an SDK default present.
    let now = sim.now();
    sim.engine()
        .update_outgoing_media(
            now,
            &sid,
            OutgoingMediaUpdate {
                video_device_id: DeviceRequest::SystemDefault,
                ..OutgoingMediaUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(camera(&mut sim, &all), DeviceTarget::SystemDefault);

    // An audio-only update leaves the camera alone.
    let now = sim.now();
    sim.engine()
        .update_outgoing_media(
            now,
            &sid,
            OutgoingMediaUpdate {
                audio_device_id: DeviceRequest::id("mic-3"),
                ..OutgoingMediaUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(
        sim.engine().media_route().camera,
        DeviceRequest::SystemDefault
    );

    // A new default camera: kept for later sessions only, unless active sessions move too.
    let now = sim.now();
    sim.engine().update_default_devices(
        now,
        DefaultDevicesUpdate {
            video_device_id: Some(Some("cam-c".into())),
            ..DefaultDevicesUpdate::default()
        },
    );
    assert_eq!(camera(&mut sim, &all), DeviceTarget::SystemDefault);
    let now = sim.now();
    sim.engine().update_default_devices(
        now,
        DefaultDevicesUpdate {
            video_device_id: Some(Some("cam-c".into())),
            update_active_sessions: true,
            ..DefaultDevicesUpdate::default()
        },
    );
    let r = sim.engine().media_route().clone();
    assert_eq!(r.camera, DeviceRequest::SdkDefault);
    assert_eq!(r.microphone, DeviceRequest::id("mic-3"));
    assert_eq!(camera(&mut sim, &all), DeviceTarget::Device("cam-c".into()));
}
