//! Softphone calls over real sockets on localhost: the SDK on the smol backend (HTTPS + WSS to
//! the fake cloud with its test CA, UDP media on 127.0.0.1) against the fake cloud's str0m media
//! peer. Audio is checked both ways (Goertzel), DTMF both ways, then end_session.

use std::time::Duration;

use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::session::events::{ConnectionState, SessionEvent, TerminateReason};
use genesys_webrtc::SdkEvent;
use genesys_webrtc_sim::cloud::{CallOptions, Negotiation, PreferredCodec};
use genesys_webrtc_tests::{answered_call, far_end_tail, next_event, signed_in, tone_audio};

fn call_over_sockets(mode: Negotiation, codec: PreferredCodec) {
    let (server, sdk, thread, mut events) = signed_in(|b| b);

    let (call, sid) = answered_call(
        &server,
        &sdk,
        &mut events,
        CallOptions {
            mode,
            codec,
            tone_hz: 1000.0,
            ..CallOptions::default()
        },
    );

    // 3 s of audio: we send 440 Hz, the far end sends 1 kHz; DTMF both ways meanwhile.
    let (audio, recorded) = tone_audio(&sdk, 150);
    std::thread::sleep(Duration::from_millis(500));
    smol::block_on(sdk.send_dtmf(&sid, "123")).unwrap();
    server.with_cloud(|c| c.send_dtmf(call, "45#")).unwrap();
    let mut digits = String::new();
    while digits.len() < 3 {
        match next_event(&mut events, Duration::from_secs(5), |e| {
            matches!(
                e,
                SdkEvent::Session {
                    event: SessionEvent::DtmfReceived(_),
                    ..
                }
            )
        }) {
            Some(SdkEvent::Session {
                event: SessionEvent::DtmfReceived(d),
                ..
            }) => digits.push(d),
            _ => break,
        }
    }
    audio.join().unwrap().unwrap();
    assert_eq!(digits, "45#");
    assert_eq!(server.with_cloud(|c| c.received_dtmf(call)), "123");

    let (rate, tail) = far_end_tail(&server, call, 1000);
    assert!(
        Goertzel::detect(&tail, 440.0, rate),
        "far end hears our 440 Hz"
    );
    let played = recorded.lock().unwrap().clone();
    let tail = &played[played.len().saturating_sub(48_000)..];
    assert!(
        Goertzel::detect(tail, 1000.0, 48_000),
        "we hear the far end's 1 kHz"
    );

    smol::block_on(sdk.end_session(&sid)).unwrap();
    let ended = next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::SessionEnded { .. })
    });
    assert!(matches!(
        ended,
        Some(SdkEvent::SessionEnded {
            reason: TerminateReason::Success,
            ..
        })
    ));
    drop(events);
    drop(sdk);
    thread.join().unwrap();
}

#[test]
fn inbound_call_over_sockets_sdp_over_xmpp() {
    call_over_sockets(Negotiation::SdpOverXmpp, PreferredCodec::Opus);
}

#[test]
fn inbound_call_over_sockets_jingle_pcmu() {
    call_over_sockets(Negotiation::Jingle, PreferredCodec::Pcmu);
}

#[test]
fn outbound_call_over_sockets_is_auto_answered() {
    let (server, sdk, thread, mut events) = signed_in(|b| b);
    let conversation = smol::block_on(sdk.start_softphone_session(
        genesys_webrtc::engine::StartSoftphoneParams {
            phone_number: Some("+13175550142".into()),
            ..Default::default()
        },
    ))
    .unwrap();
    let Some(SdkEvent::PendingSession(p)) = next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::PendingSession(_))
    }) else {
        panic!("no pending session for the placed call")
    };
    assert!(p.auto_answer);
    assert_eq!(p.conversation_id, conversation);
    let sid = p.id.clone();
    next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::Session { session_id, event: SessionEvent::ConnectionState(ConnectionState::Connected) } if *session_id == sid)
    })
    .expect("auto-answered and connected");
    // hold and resume go through the participant PATCH
    smol::block_on(sdk.set_hold(&p.id, true)).unwrap();
    smol::block_on(sdk.set_hold(&p.id, false)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let patches = server.with_cloud(|c| {
        c.cloud_log()
            .rest_calls()
            .iter()
            .filter(|(m, path, s)| {
                m.as_str() == "PATCH" && path.contains("/participants/") && *s == 202
            })
            .count()
    });
    assert_eq!(patches, 2);
    smol::block_on(sdk.end_session(&conversation)).unwrap();
    assert!(
        next_event(&mut events, Duration::from_secs(10), |e| matches!(
            e,
            SdkEvent::SessionEnded { .. }
        ))
        .is_some()
    );
    drop(events);
    drop(sdk);
    thread.join().unwrap();
}
