//! Each call's media sockets over real loopback sockets (smol backend): two concurrent calls
//! use two distinct local ports, each port is released when its call ends, and a media address
//! the system refuses to bind is reported on the session as a typed event while the call goes on
//! over the addresses that could be bound.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use genesys_webrtc::session::events::{SelectedPath, SessionEvent};
use genesys_webrtc::SdkEvent;
use genesys_webrtc_sim::cloud::{CallOptions, Negotiation, PreferredCodec};
use genesys_webrtc_tests::{answered_call, next_event, signed_in};

/// An address of TEST-NET-1 (RFC 5737): not on any interface here, so binding it fails.
const UNBINDABLE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn options(mode: Negotiation) -> CallOptions {
    CallOptions {
        mode,
        codec: PreferredCodec::Opus,
        tone_hz: 1000.0,
        ..CallOptions::default()
    }
}

/// Whether `addr` can be bound now (the SDK's socket there is closed).
fn port_free(addr: SocketAddr) -> bool {
    UdpSocket::bind(addr).is_ok()
}

#[test]
fn concurrent_calls_use_their_own_ports_and_release_them_at_hang_up() {
    let (server, sdk, thread, mut events) = signed_in(|b| b);
    let _calls = [
        answered_call(&server, &sdk, &mut events, options(Negotiation::Jingle)),
        answered_call(
            &server,
            &sdk,
            &mut events,
            options(Negotiation::SdpOverXmpp),
        ),
    ];
    // The first statistics of each call (5 s in) report its selected pair.
    let mut paths: Vec<(String, SelectedPath)> = Vec::new();
    while paths.len() < 2 {
        match next_event(&mut events, Duration::from_secs(10), |e| {
            matches!(
                e,
                SdkEvent::Session {
                    event: SessionEvent::SelectedPath(_),
                    ..
                }
            )
        }) {
            Some(SdkEvent::Session {
                session_id,
                event: SessionEvent::SelectedPath(p),
            }) => paths.push((session_id, p)),
            _ => panic!("no selected pair for both calls: {paths:?}"),
        }
    }
    let (a, b) = (paths[0].1.local, paths[1].1.local);
    assert!(!paths[0].1.relayed && !paths[1].1.relayed);
    assert_eq!(a.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_ne!(a, b, "each call has its own socket");
    assert!(!port_free(a) && !port_free(b), "both sockets are open");

    // Ending one call releases its port only.
    let (first_sid, first_local) = (paths[0].0.clone(), paths[0].1.local);
    let other_local = paths[1].1.local;
    smol::block_on(sdk.end_session(&first_sid)).unwrap();
    assert!(next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::SessionEnded { session, .. } if session.id == first_sid)
    })
    .is_some());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !port_free(first_local) {
        assert!(
            Instant::now() < deadline,
            "{first_local} still bound after hang-up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!port_free(other_local), "the other call keeps its socket");
    drop(events);
    drop(sdk);
    thread.join().unwrap();
}

#[test]
fn an_unbindable_media_address_is_reported_and_the_call_goes_on_over_the_others() {
    let (server, sdk, thread, mut events) = signed_in(|b| b.media_bind_address(UNBINDABLE));
    // A second subscription keeps the events `answered_call` reads past.
    let mut watch = sdk.events();
    let (_call, sid) = answered_call(
        &server,
        &sdk,
        &mut events,
        options(Negotiation::SdpOverXmpp),
    );
    let failure = next_event(
        &mut watch,
        Duration::from_secs(5),
        |e| matches!(e, SdkEvent::Session { session_id, event: SessionEvent::MediaSocketFailed(_) } if *session_id == sid),
    );
    let Some(SdkEvent::Session {
        event: SessionEvent::MediaSocketFailed(err),
        ..
    }) = failure
    else {
        panic!("the refused bind is not reported on the session")
    };
    assert_eq!(err.addr, SocketAddr::new(UNBINDABLE, 0));
    // The call connected over 127.0.0.1 (answered_call waited for it) and is still up.
    assert!(next_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, SdkEvent::SessionEnded { .. })
    })
    .is_none());
    smol::block_on(sdk.end_session(&sid)).unwrap();
    drop(watch);
    drop(events);
    drop(sdk);
    thread.join().unwrap();
}
