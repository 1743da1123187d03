//! Interop with a third-party TURN server: relay-only softphone calls over real loopback
//! sockets through coturn (Debian `coturn`, `/usr/bin/turnserver`, long-term credentials, UDP
//! only), started by each test on a free port. Audio is checked both ways (Goertzel) and the
//! selected candidate pair must be the relayed one. Two concurrent relayed calls each hold an
//! allocation of their own: every call has its own media socket, and coturn keys allocations by
//! 5-tuple (one socket for both would get 437 Allocation Mismatch for the second).
//!
//! Needs `/usr/bin/turnserver` (`scripts/test.sh` installs `coturn`): without it the test fails,
//! it does not skip.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::session::events::SessionEvent;
use genesys_webrtc::SdkEvent;
use genesys_webrtc_sim::cloud::{
    CallOptions, CloudConfig, IceServerConfig, Negotiation, PreferredCodec,
};
use genesys_webrtc_tests::{answered_call, far_end_tail, next_event, signed_in_to, tone_audio};

const TURNSERVER: &str = "/usr/bin/turnserver";
/// coturn's static users are `name:password`, so the user name has no colon here.
const USER: &str = "alice";
const PASSWORD: &str = "Y290dXJuLXNlY3JldA";
const REALM: &str = "fake.genesys.test";

/// The turnserver process, killed when dropped.
struct Coturn(Child);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A UDP port free right now on 127.0.0.1.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

/// Starts coturn on 127.0.0.1:`port` (UDP only, relays on 127.0.0.1, loopback peers allowed)
/// and waits until it answers a STUN Binding request.
fn start_coturn(port: u16) -> Coturn {
    let relay_min = free_udp_port().clamp(20_000, 60_000);
    let child = Command::new(TURNSERVER)
        .args([
            "-n",
            "--listening-ip=127.0.0.1",
            &format!("--listening-port={port}"),
            "--relay-ip=127.0.0.1",
            &format!("--min-port={relay_min}"),
            &format!("--max-port={}", relay_min + 200),
            "--lt-cred-mech",
            &format!("--user={USER}:{PASSWORD}"),
            &format!("--realm={REALM}"),
            "--no-tls",
            "--no-dtls",
            "--no-tcp",
            "--no-tcp-relay",
            "--allow-loopback-peers",
            "--no-cli",
            "--no-stdout-log",
            "--log-file=/dev/null",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{TURNSERVER} does not start ({e}): install coturn"));
    let coturn = Coturn(child);
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut binding = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    binding.extend_from_slice(&[5; 12]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 512];
    loop {
        assert!(Instant::now() < deadline, "coturn does not answer");
        let _ = probe.send_to(&binding, ("127.0.0.1", port));
        if let Ok((n, _)) = probe.recv_from(&mut buf) {
            if n >= 20 && buf[..2] == [0x01, 0x01] {
                return coturn;
            }
        }
    }
}

/// A relay-only fake cloud whose only TURN server is coturn on 127.0.0.1:`port`.
fn relay_only_config(port: u16) -> CloudConfig {
    let mut config = CloudConfig::for_environment(REALM).relay_only();
    config.turn_servers = vec![IceServerConfig::turn(
        "127.0.0.1",
        port,
        "udp",
        USER,
        PASSWORD,
    )];
    config
}

#[test]
fn relay_only_call_through_coturn() {
    let port = free_udp_port();
    let _coturn = start_coturn(port);
    let config = relay_only_config(port);
    let (server, sdk, thread, mut events) = signed_in_to(config, |b| b);
    let (call, sid) = answered_call(
        &server,
        &sdk,
        &mut events,
        CallOptions {
            mode: Negotiation::Jingle,
            codec: PreferredCodec::Opus,
            tone_hz: 1000.0,
            ..CallOptions::default()
        },
    );
    let (audio, recorded) = tone_audio(&sdk, 150);
    // The first statistics (5 s after the start of the media) report the selected pair.
    let path = next_event(
        &mut events,
        Duration::from_secs(10),
        |e| matches!(e, SdkEvent::Session { session_id, event: SessionEvent::SelectedPath(_) } if *session_id == sid),
    );
    audio.join().unwrap().unwrap();
    let Some(SdkEvent::Session {
        event: SessionEvent::SelectedPath(path),
        ..
    }) = path
    else {
        panic!("no selected pair reported")
    };
    assert!(path.relayed, "{path:?}");

    let (rate, tail) = far_end_tail(&server, call, 1000);
    assert!(
        Goertzel::detect(&tail, 440.0, rate),
        "far end hears our 440 Hz through coturn"
    );
    let played = recorded.lock().unwrap().clone();
    let tail = &played[played.len().saturating_sub(48_000)..];
    assert!(
        Goertzel::detect(tail, 1000.0, 48_000),
        "we hear the far end's 1 kHz through coturn"
    );

    smol::block_on(sdk.end_session(&sid)).unwrap();
    assert!(next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::SessionEnded { .. })
    })
    .is_some());
    drop(events);
    drop(sdk);
    thread.join().unwrap();
}

#[test]
fn two_concurrent_relay_only_calls_through_coturn() {
    let port = free_udp_port();
    let _coturn = start_coturn(port);
    let (server, sdk, thread, mut events) = signed_in_to(relay_only_config(port), |b| b);
    let mut calls = Vec::new();
    for (mode, tone_hz) in [
        (Negotiation::Jingle, 1000.0),
        (Negotiation::SdpOverXmpp, 1500.0),
    ] {
        calls.push(answered_call(
            &server,
            &sdk,
            &mut events,
            CallOptions {
                mode,
                codec: PreferredCodec::Opus,
                tone_hz,
                ..CallOptions::default()
            },
        ));
    }
    let (audio, recorded) = tone_audio(&sdk, 200);
    // The first statistics of each call report its selected pair.
    let mut paths = BTreeMap::new();
    while paths.len() < 2 {
        let Some(SdkEvent::Session {
            session_id,
            event: SessionEvent::SelectedPath(path),
        }) = next_event(&mut events, Duration::from_secs(10), |e| {
            matches!(
                e,
                SdkEvent::Session {
                    event: SessionEvent::SelectedPath(_),
                    ..
                }
            )
        })
        else {
            panic!("no selected pair reported for both calls: {paths:?}")
        };
        paths.insert(session_id, path);
    }
    audio.join().unwrap().unwrap();
    for (_, sid) in &calls {
        let path = paths.get(sid).expect("a pair for each call");
        assert!(path.relayed, "{sid}: {path:?}");
    }
    let locals: Vec<_> = paths.values().map(|p| p.local).collect();
    assert_ne!(locals[0], locals[1], "two relayed addresses");

    for (call, sid) in &calls {
        let (rate, tail) = far_end_tail(&server, *call, 1000);
        assert!(
            Goertzel::detect(&tail, 440.0, rate),
            "{sid}: the far end hears our 440 Hz through coturn"
        );
    }
    // Our playout mixes both calls: each far end's tone carries about half of the energy.
    let played = recorded.lock().unwrap().clone();
    let tail = &played[played.len().saturating_sub(48_000)..];
    let ratios = [1000.0, 1500.0].map(|hz| Goertzel::energy_ratio(tail, hz, 48_000));
    assert!(
        ratios.iter().all(|r| *r > 0.3) && ratios.iter().sum::<f32>() > 0.8,
        "we hear both far ends through coturn: energy ratios {ratios:?}"
    );

    for (_, sid) in &calls {
        smol::block_on(sdk.end_session(sid)).unwrap();
    }
    for _ in 0..2 {
        assert!(next_event(&mut events, Duration::from_secs(10), |e| {
            matches!(e, SdkEvent::SessionEnded { .. })
        })
        .is_some());
    }
    drop(events);
    drop(sdk);
    thread.join().unwrap();
}
