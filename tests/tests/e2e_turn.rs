//! A relay-only softphone call over real sockets on localhost, through the fake cloud's TURN
//! server (`genesys_webrtc_sim::turn::TurnServerThread`, its own UDP sockets): the cloud's
//! XEP-0215 answer has no STUN service (ICE transport policy `relay`) and one TURN entry for
//! that server, so every media datagram of the SDK goes to the TURN server and the cloud's media
//! peer only ever talks to the relayed address. Audio is checked both ways (Goertzel); ending
//! the session deletes the allocation.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::session::events::TerminateReason;
use genesys_webrtc::SdkEvent;
use genesys_webrtc_sim::cloud::{
    CallOptions, CloudConfig, IceServerConfig, Negotiation, PreferredCodec, DEFAULT_TURN_PASSWORD,
    DEFAULT_TURN_USERNAME,
};
use genesys_webrtc_sim::turn::TurnServerThread;
use genesys_webrtc_tests::{answered_call, far_end_tail, next_event, signed_in_to, tone_audio};

#[test]
fn relay_only_call_over_sockets_through_turn() {
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let turn = TurnServerThread::start(localhost, DEFAULT_TURN_USERNAME, DEFAULT_TURN_PASSWORD)
        .expect("TURN server starts");
    let mut config = CloudConfig::for_environment("fake.genesys.test").relay_only();
    config.turn_servers = vec![IceServerConfig::turn(
        "127.0.0.1",
        turn.addr().port(),
        "udp",
        DEFAULT_TURN_USERNAME,
        DEFAULT_TURN_PASSWORD,
    )];
    let (server, sdk, thread, mut events) = signed_in_to(config, |b| b);
    let (call, sid) = answered_call(
        &server,
        &sdk,
        &mut events,
        CallOptions {
            mode: Negotiation::SdpOverXmpp,
            codec: PreferredCodec::Opus,
            tone_hz: 1000.0,
            ..CallOptions::default()
        },
    );
    let (audio, recorded) = tone_audio(&sdk, 150);
    audio.join().unwrap().unwrap();

    let (rate, tail) = far_end_tail(&server, call, 1000);
    assert!(
        Goertzel::detect(&tail, 440.0, rate),
        "far end hears our 440 Hz through the relay"
    );
    let played = recorded.lock().unwrap().clone();
    let tail = &played[played.len().saturating_sub(48_000)..];
    assert!(
        Goertzel::detect(tail, 1000.0, 48_000),
        "we hear the far end's 1 kHz through the relay"
    );
    let stats = turn.stats();
    assert_eq!(stats.allocations, 1, "{stats:?}");
    assert!(stats.unauthorized >= 1, "long-term credentials: 401 first");
    // 3 s of audio each way at 50 packets/s, all relayed.
    assert!(stats.to_peers > 100, "{stats:?}");
    assert!(stats.to_clients > 100, "{stats:?}");

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
    let deadline = Instant::now() + Duration::from_secs(5);
    while turn.stats().deletions == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(turn.stats().deletions, 1, "the allocation is deleted");
    drop(events);
    drop(sdk);
    thread.join().unwrap();
}
