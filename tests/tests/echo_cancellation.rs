//! Echo cancellation in a live call over real sockets: the far end (the fake cloud's media
//! peer) plays speech-like noise; our speaker's sound comes back into our microphone through a
//! synthetic room (40 ms, -6 dB). With echo cancellation (the default) the far end hardly hears
//! itself; with it switched off it does. In double talk a near-end talker (440 Hz) must still
//! come through. Prints the echo return loss enhancement the far end measures. Runs with the
//! default audio band (wideband: the echo canceller at 16 kHz) and with fullband (at 32 kHz in
//! two bands); the far end's noise reaches up to 24 kHz, so a wideband call sends less of its
//! echo to begin with.

use std::time::Duration;

use genesys_webrtc::local_audio::run_audio_devices;
use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::options::AudioBandwidth;
use genesys_webrtc::SdkEvent;
use genesys_webrtc_sim::cloud::CallOptions;
use genesys_webrtc_smol::SmolClock;
use genesys_webrtc_tests::{answered_call, next_event, signed_in, EchoRoom};

/// One call through the echo room; returns what the far end received over the last second:
/// its level (dBFS) and the power at 440 Hz, the near end's tone (dBFS).
fn call_in_room(echo_cancellation: bool, near_end: bool, band: AudioBandwidth) -> (f32, f32) {
    let (server, sdk, thread, mut events) =
        signed_in(|b| b.echo_cancellation(echo_cancellation).audio_bandwidth(band));
    let (call, sid) = answered_call(
        &server,
        &sdk,
        &mut events,
        CallOptions {
            // Speech-like noise: AEC3, like any echo canceller, cannot lock onto a pure
            // tone's echo path.
            tone_hz: 0.0,
            ..CallOptions::default()
        },
    );
    let room = EchoRoom::new(40, 0.5, near_end.then_some(440.0));
    let audio_sdk = sdk.clone();
    // 4 s: AEC3 converges within the first two.
    let audio = std::thread::spawn(move || {
        smol::block_on(run_audio_devices(
            &audio_sdk,
            &SmolClock::new(),
            &room,
            Some(200),
        ))
    });
    audio.join().unwrap().unwrap();
    let (rate, heard) = server.with_cloud(|c| c.received_audio(call));
    let tail = &heard[heard.len().saturating_sub(rate as usize)..];
    let own = Goertzel::level_dbfs(tail);
    let near = Goertzel::power_dbfs(tail, 440.0, rate);
    smol::block_on(sdk.end_session(&sid)).unwrap();
    next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::SessionEnded { .. })
    })
    .expect("ended");
    drop(events);
    drop(sdk);
    thread.join().unwrap();
    server.shutdown();
    (own, near)
}

#[test]
fn the_far_end_does_not_hear_itself_with_echo_cancellation() {
    for band in [AudioBandwidth::default(), AudioBandwidth::Fullband] {
        // Single talk: only the far end speaks; all it hears back is its echo.
        let (echo_off, _) = call_in_room(false, false, band);
        let (echo_on, _) = call_in_room(true, false, band);
        // Double talk: the near end speaks too and must come through.
        let (_, near_dt) = call_in_room(true, true, band);
        println!(
            "{band:?}: far end hears its echo at {echo_off:.1} dBFS without AEC and {echo_on:.1} \
             dBFS with it (ERLE {:.1} dB); in double talk the near end's 440 Hz arrives at \
             {near_dt:.1} dBFS",
            echo_off - echo_on
        );
        if band == AudioBandwidth::Fullband {
            // The whole band of the noise comes back.
            assert!(
                echo_off > -30.0,
                "without AEC the echo is loud: {echo_off:.1} dBFS"
            );
        }
        assert!(
            echo_off - echo_on > 20.0,
            "{band:?}: AEC removes the echo: {echo_off:.1} → {echo_on:.1} dBFS"
        );
        // The near-end tone is generated at -14 dBFS (amplitude 0.2).
        assert!(
            near_dt > -20.0,
            "{band:?}: the near end comes through: {near_dt:.1} dBFS"
        );
    }
}
