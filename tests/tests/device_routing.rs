//! The Device ID rules in a live call over real sockets: the SDK (smol backend) runs
//! `run_audio_devices` on a device set whose microphones are tones, so the fake cloud's media
//! peer can tell from what it hears which microphone is open. Covers `accept_session` media
//! options, `update_outgoing_media`, `set_audio_mute`'s `unmute_device_id`, a microphone that
//! vanishes mid-call (error event, fallback by the rules, the call goes on),
//! `update_output_device` and `update_default_devices`, all without renegotiation; and media
//! the application feeds itself (JS `mediaStream`), which supersedes device ids in
//! `accept_session` and `update_outgoing_media`: the loop then opens no microphone. Prints the
//! audible gap of a microphone switch as the far end hears it.

use std::time::{Duration, Instant};

use genesys_webrtc::devices::DeviceRequest;
use genesys_webrtc::engine::{AcceptSessionOptions, DefaultDevicesUpdate, OutgoingMediaUpdate};
use genesys_webrtc::local_audio::run_audio_devices;
use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::session::events::{ConnectionState, SessionEvent};
use genesys_webrtc::{SdkErrorKind, SdkEvent, SessionError};
use genesys_webrtc_sim::cloud::{CallId, CallOptions};
use genesys_webrtc_sim::tls_server::FakeCloudServer;
use genesys_webrtc_smol::SmolClock;
use genesys_webrtc_tests::{far_end_tail, next_event, signed_in, RoutingDevices};

const TONES: [f32; 3] = [440.0, 700.0, 1000.0];
/// The far end's tone: none of the microphones' [`TONES`], so what the far end hears is ours.
const FAR_END_HZ: f32 = 1300.0;

/// Which of our microphone tones the far end hears in `samples`, if one clearly.
fn heard_tone(samples: &[i16], rate: u32) -> Option<f32> {
    TONES
        .into_iter()
        .find(|f| Goertzel::detect(samples, *f, rate))
}

/// Waits until the far end hears `hz` over its last 300 ms (up to 3 s), then checks it again.
fn assert_far_end_hears(server: &FakeCloudServer, call: CallId, hz: f32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (rate, tail) = far_end_tail(server, call, 300);
        if heard_tone(&tail, rate) == Some(hz) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the far end hears {:?}, not {hz} Hz (level {:.1} dBFS, strongest {:?})",
            heard_tone(&tail, rate),
            Goertzel::level_dbfs(&tail),
            Goertzel::dominant_frequency_in(&tail, &[440.0, 700.0, 1000.0, FAR_END_HZ], rate)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The longest stretch (ms) in which the far end heard none of our tones, between the last
/// 10 ms block of `from` and the first block of `to`, after sample `start`.
fn switch_gap_ms(samples: &[i16], rate: u32, start: usize, from: f32, to: f32) -> Option<u32> {
    let block = (rate / 100) as usize;
    let blocks: Vec<Option<f32>> = samples
        .get(start..)?
        .chunks(block)
        .filter(|c| c.len() == block)
        .map(|c| {
            // 10 ms is too short for `detect` at 440 Hz (4.4 periods): take the strongest of
            // our tones in any block that is not silent.
            (Goertzel::level_dbfs(c) > -40.0)
                .then(|| Goertzel::dominant_frequency_in(c, &TONES, rate))
                .flatten()
        })
        .collect();
    let first_to = blocks.iter().position(|b| *b == Some(to))?;
    let last_from = blocks[..first_to].iter().rposition(|b| *b == Some(from))?;
    Some(((first_to - last_from - 1) * 10) as u32)
}

#[test]
fn devices_follow_the_session_api_mid_call_without_renegotiation() {
    let (server, sdk, thread, mut events) = signed_in(|b| {
        b.auto_connect_sessions(false)
            .default_audio_device_id("tone-1000")
            // This test is about routing. With the echo canceller on, AEC3's suppressor turns a
            // steady microphone tone down while the speaker plays a steady tone, even with no
            // echo path at all: tone-1000 reached the far end at -54 dBFS instead of -25 with
            // the far end at 1300 Hz, and faded within a second with the far end at 1000 Hz
            // (which failed the switch-gap check 1 run in 5). Speech is not affected this way
            // (media::echo's double-talk test); tests/tests/echo_cancellation.rs covers AEC.
            .echo_cancellation(false)
    });

    let call = server.with_cloud(|c| {
        c.place_inbound_call(
            Instant::now(),
            CallOptions {
                tone_hz: FAR_END_HZ,
                ..CallOptions::default()
            },
        )
    });
    let Some(SdkEvent::PendingSession(p)) = next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::PendingSession(_))
    }) else {
        panic!("no pending session")
    };
    let sid = p.id.clone();
    smol::block_on(sdk.accept_pending_session(&sid)).unwrap();
    next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::SessionStarted(_))
    })
    .expect("session started");

    // Bad input first: a session that does not exist, an empty update, an `undefined` output.
    assert!(matches!(
        smol::block_on(sdk.update_outgoing_media("nope", OutgoingMediaUpdate::default())),
        Err(SessionError::UnknownSession(_))
    ));
    assert!(matches!(
        smol::block_on(sdk.update_outgoing_media(&sid, OutgoingMediaUpdate::default())),
        Err(SessionError::InvalidInput { .. })
    ));
    assert!(matches!(
        smol::block_on(sdk.update_output_device(DeviceRequest::Unchanged)),
        Err(SessionError::InvalidInput { .. })
    ));

    // Accept with no device ids: the SDK default microphone (tone-1000), the system default
    // speaker (speaker-a, there is no default speaker).
    smol::block_on(sdk.accept_session_with(&sid, AcceptSessionOptions::default())).unwrap();
    next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::Session { session_id, event: SessionEvent::ConnectionState(ConnectionState::Connected) } if *session_id == sid)
    })
    .expect("media connected");
    let devices = RoutingDevices::default();
    let (audio_sdk, audio_devices) = (sdk.clone(), devices.clone());
    // 10 s of audio; the phases below take about 8.
    let audio = std::thread::spawn(move || {
        smol::block_on(run_audio_devices(
            &audio_sdk,
            &SmolClock::new(),
            &audio_devices,
            Some(500),
        ))
    });
    assert_far_end_hears(&server, call, 1000.0, "accepted with the SDK default");

    // update_outgoing_media: tone-440, no renegotiation.
    let mark = server.with_cloud(|c| c.received_audio(call).1.len());
    smol::block_on(sdk.update_outgoing_media(
        &sid,
        OutgoingMediaUpdate {
            audio_device_id: DeviceRequest::id("tone-440"),
            ..OutgoingMediaUpdate::default()
        },
    ))
    .unwrap();
    assert_far_end_hears(&server, call, 440.0, "update_outgoing_media");
    std::thread::sleep(Duration::from_millis(300));
    let (rate, heard) = server.with_cloud(|c| c.received_audio(call));
    let gap = switch_gap_ms(&heard, rate, mark, 1000.0, 440.0).unwrap_or_else(|| {
        let block = (rate / 100) as usize;
        let seq: Vec<String> = heard[mark.saturating_sub(block * 20)..]
            .chunks(block)
            .map(|c| {
                format!(
                    "{:.0}/{:?}",
                    Goertzel::level_dbfs(c),
                    Goertzel::dominant_frequency_in(c, &TONES, rate)
                )
            })
            .collect();
        panic!(
            "the switch was not heard (mark {mark} of {}): {seq:?}",
            heard.len()
        )
    });
    println!("microphone switch: audible gap at the far end {gap} ms (target < 100 ms)");

    // Mute, then unmute onto tone-700.
    smol::block_on(sdk.set_audio_mute(&sid, true)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let before = server.with_cloud(|c| c.received_audio(call).1.len());
    std::thread::sleep(Duration::from_millis(500));
    let (rate, heard) = server.with_cloud(|c| c.received_audio(call));
    let muted_part = &heard[before.min(heard.len())..];
    assert_eq!(heard_tone(muted_part, rate), None, "muted: no tone");
    smol::block_on(sdk.set_audio_mute_with(&sid, false, DeviceRequest::id("tone-700"))).unwrap();
    assert_far_end_hears(&server, call, 700.0, "unmute_device_id");

    // tone-700 vanishes: an error event, and the rules fall back to the SDK default.
    devices.unplug("tone-700");
    let err = next_event(
        &mut events,
        Duration::from_secs(5),
        |e| matches!(e, SdkEvent::Error(err) if err.kind == SdkErrorKind::Media),
    );
    let Some(SdkEvent::Error(err)) = err else {
        panic!("no media error event for the vanished microphone")
    };
    assert!(err.details.contains("tone-700"), "{}", err.details);
    assert_far_end_hears(&server, call, 1000.0, "fallback to the SDK default");

    // The speaker: to speaker-b; an id that is not present leaves it there.
    smol::block_on(sdk.update_output_device(DeviceRequest::id("speaker-b"))).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let b = devices.played("speaker-b");
    assert!(
        b.len() > 48_000 / 2 && Goertzel::detect(&b[b.len() - 9600..], FAR_END_HZ, 48_000),
        "speaker-b plays the far end ({} samples)",
        b.len()
    );
    smol::block_on(sdk.update_output_device(DeviceRequest::id("speaker-zzz"))).unwrap();
    let err = next_event(
        &mut events,
        Duration::from_secs(5),
        |e| matches!(e, SdkEvent::Error(err) if err.kind == SdkErrorKind::Media),
    );
    assert!(
        matches!(&err, Some(SdkEvent::Error(e)) if e.details.contains("speaker-zzz")),
        "{err:?}"
    );
    let before = devices.played("speaker-b").len();
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        devices.played("speaker-b").len() > before,
        "speaker-b still plays"
    );

    // New defaults moved onto the active session.
    sdk.update_default_devices(DefaultDevicesUpdate {
        audio_device_id: Some(Some("tone-440".into())),
        update_active_sessions: true,
        ..DefaultDevicesUpdate::default()
    });
    assert_far_end_hears(&server, call, 440.0, "update_default_devices");

    // One offer, one answer: none of this renegotiated.
    let log = server.with_cloud(|c| c.call_log(call));
    let answers = log.iter().filter(|l| l.contains("answer received")).count();
    assert_eq!(answers, 1, "{log:#?}");
    let opened = devices.opened();
    assert_eq!(
        opened,
        [
            "tone-1000",
            "default",
            "tone-440",
            "tone-700",
            "tone-1000",
            "speaker-b",
            "tone-440"
        ],
        "devices opened, in order"
    );

    smol::block_on(sdk.end_session(&sid)).unwrap();
    next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::SessionEnded { .. })
    })
    .expect("ended");
    audio.join().unwrap().unwrap();
    drop(events);
    drop(sdk);
    thread.join().unwrap();
    server.shutdown();
}

/// The application's own audio in [`app_media_supersedes_device_ids_in_the_audio_loop`]: none
/// of the microphones' tones.
const APP_TONE: f32 = 1500.0;

/// Waits until the far end hears the app's tone over its last 300 ms (up to 3 s).
fn assert_far_end_hears_the_app(server: &FakeCloudServer, call: CallId, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (rate, tail) = far_end_tail(server, call, 300);
        if !tail.is_empty() && Goertzel::detect(&tail, APP_TONE, rate) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the far end does not hear the app's {APP_TONE} Hz (hears {:?})",
            heard_tone(&tail, rate)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the far end received in the `ms` after now (the audio loop and app keep running).
fn far_end_next(server: &FakeCloudServer, call: CallId, ms: u64) -> (u32, Vec<i16>) {
    let before = server.with_cloud(|c| c.received_audio(call).1.len());
    std::thread::sleep(Duration::from_millis(ms));
    let (rate, heard) = server.with_cloud(|c| c.received_audio(call));
    (rate, heard[before.min(heard.len())..].to_vec())
}

#[test]
fn app_media_supersedes_device_ids_in_the_audio_loop() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let (server, sdk, thread, mut events) = signed_in(|b| {
        b.auto_connect_sessions(false)
            .default_audio_device_id("tone-1000")
    });
    let call = server.with_cloud(|c| {
        c.place_inbound_call(
            Instant::now(),
            CallOptions {
                tone_hz: FAR_END_HZ,
                ..CallOptions::default()
            },
        )
    });
    let Some(SdkEvent::PendingSession(p)) = next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::PendingSession(_))
    }) else {
        panic!("no pending session")
    };
    let sid = p.id.clone();
    smol::block_on(sdk.accept_pending_session(&sid)).unwrap();
    next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::SessionStarted(_))
    })
    .expect("session started");
    // Accepted with a microphone id and the app's own media (JS mediaStream): the media wins.
    smol::block_on(sdk.accept_session_with(
        &sid,
        AcceptSessionOptions {
            audio_device_id: DeviceRequest::id("tone-700"),
            app_audio: true,
            ..AcceptSessionOptions::default()
        },
    ))
    .unwrap();
    next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::Session { session_id, event: SessionEvent::ConnectionState(ConnectionState::Connected) } if *session_id == sid)
    })
    .expect("media connected");

    let devices = RoutingDevices::default();
    let (audio_sdk, audio_devices) = (sdk.clone(), devices.clone());
    // 12 s of audio; the phases below take about 8.
    let audio = std::thread::spawn(move || {
        smol::block_on(run_audio_devices(
            &audio_sdk,
            &SmolClock::new(),
            &audio_devices,
            Some(600),
        ))
    });
    // The app: a 20 ms frame of its tone every 20 ms while `feeding`.
    let (feeding, stop) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let app = {
        let (sdk, feeding, stop) = (sdk.clone(), feeding.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut tone = genesys_webrtc::media::tone::ToneGenerator::new(APP_TONE, 0.3, 48_000);
            let start = Instant::now();
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                if feeding.load(Ordering::Relaxed) {
                    sdk.push_capture_frame(tone.next_frame(960));
                }
                n += 1;
                let next = start + Duration::from_millis(20) * n;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        })
    };

    // Before the app feeds anything the far end hears none of the microphones: none is open.
    let (rate, heard) = far_end_next(&server, call, 600);
    assert_eq!(heard_tone(&heard, rate), None, "accepted with app media");
    assert_eq!(devices.opened(), ["default"], "only the speaker opened");
    feeding.store(true, Ordering::Relaxed);
    assert_far_end_hears_the_app(&server, call, "accepted with app media");

    // update_outgoing_media with a device id alone: the microphone takes over from the app.
    feeding.store(false, Ordering::Relaxed);
    smol::block_on(sdk.update_outgoing_media(
        &sid,
        OutgoingMediaUpdate {
            audio_device_id: DeviceRequest::id("tone-440"),
            ..OutgoingMediaUpdate::default()
        },
    ))
    .unwrap();
    assert_far_end_hears(
        &server,
        call,
        440.0,
        "update_outgoing_media to a microphone",
    );

    // A device id together with app media: the app's media wins, the microphone is closed.
    smol::block_on(sdk.update_outgoing_media(
        &sid,
        OutgoingMediaUpdate {
            audio_device_id: DeviceRequest::id("tone-700"),
            app_audio: true,
            ..OutgoingMediaUpdate::default()
        },
    ))
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (rate, heard) = far_end_next(&server, call, 500);
    assert_eq!(
        heard_tone(&heard, rate),
        None,
        "update_outgoing_media with app media: no microphone"
    );
    feeding.store(true, Ordering::Relaxed);
    assert_far_end_hears_the_app(&server, call, "update_outgoing_media with app media");
    assert_eq!(devices.opened(), ["default", "tone-440"], "devices opened");

    // One offer, one answer: none of this renegotiated.
    let log = server.with_cloud(|c| c.call_log(call));
    let answers = log.iter().filter(|l| l.contains("answer received")).count();
    assert_eq!(answers, 1, "{log:#?}");

    stop.store(true, Ordering::Relaxed);
    app.join().unwrap();
    smol::block_on(sdk.end_session(&sid)).unwrap();
    next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::SessionEnded { .. })
    })
    .expect("ended");
    audio.join().unwrap().unwrap();
    drop(events);
    drop(sdk);
    thread.join().unwrap();
    server.shutdown();
}
