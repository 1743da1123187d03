//! Core's `run_audio_devices` on ALSA devices (no sound card: `file` PCMs over `null` in a
//! generated configuration, `default` among them). The SDK default microphone is a listed PCM
//! that fails to open: the loop reports an `Error` event of kind `Media` naming it and falls
//! back to the system default by the Device ID rules, and the speaker (the system default) gets
//! the loop's 20 ms frames. An SDK on the smol platform that is never initialized stands in for
//! a call (it plays silence), so no cloud is needed.

use std::time::Duration;

use futures::StreamExt as _;
use genesys_webrtc::local_audio::run_audio_devices;
use genesys_webrtc::{SdkErrorKind, SdkEvent, SdkOptions};
use genesys_webrtc_alsa::AlsaDevices;
use genesys_webrtc_smol::SmolClock;

#[test]
fn run_audio_devices_opens_by_the_rules_and_falls_back() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("alsa-audio-loop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tone: Vec<u8> = (0..48_000 * 4)
        .flat_map(|i| {
            ((((i as f32) * 440.0 / 48_000.0 * std::f32::consts::TAU).sin() * 8000.0) as i16)
                .to_ne_bytes()
        })
        .collect();
    std::fs::write(dir.join("in.raw"), tone).unwrap();
    let d = dir.display();
    let conf = format!(
        r#"</usr/share/alsa/alsa.conf>
pcm.!default {{
    type asym
    playback.pcm {{ type file; slave.pcm null; file "{d}/speaker.raw"; format raw }}
    capture.pcm {{ type file; slave.pcm null; file "/dev/null"; infile "{d}/in.raw"; format raw }}
    hint {{ show on description "Test default" }}
}}
pcm.broken_mic {{
    type file
    slave.pcm null
    file "/dev/null"
    infile "{d}/no-such-dir/in.raw"
    format raw
    hint {{ show on description "A microphone that fails to open" ioid Input }}
}}
"#
    );
    let path = dir.join("asoundrc");
    std::fs::write(&path, conf).unwrap();
    // The only test of this binary, before any ALSA call.
    std::env::set_var("ALSA_CONFIG_PATH", &path);

    let options = SdkOptions::builder()
        .environment("alsa-test.invalid")
        .access_token("not-used")
        .default_audio_device_id("broken_mic")
        .build()
        .unwrap();
    let (sdk, _thread) = genesys_webrtc_smol::start(options).unwrap();
    let mut events = sdk.events();
    let devices = AlsaDevices::new();
    let ticks = 25;
    smol::block_on(run_audio_devices(
        &sdk,
        &SmolClock::new(),
        &devices,
        Some(ticks),
    ))
    .unwrap();

    let error = smol::block_on(async {
        let find = async {
            while let Some(e) = events.next().await {
                if let SdkEvent::Error(err) = e {
                    return Some(err);
                }
            }
            None
        };
        let timeout = async {
            smol::Timer::after(Duration::from_secs(5)).await;
            None
        };
        futures::pin_mut!(find, timeout);
        futures::future::select(find, timeout)
            .await
            .factor_first()
            .0
    });
    let error = error.expect("an error event for the microphone that failed");
    assert_eq!(error.kind, SdkErrorKind::Media);
    assert!(error.details.contains("broken_mic"), "{}", error.details);

    // The speaker (system default) got the loop's frames; the last ones may still have been
    // queued when the loop dropped it.
    let played = std::fs::read(dir.join("speaker.raw")).unwrap().len() / 2;
    assert!(
        played >= 960 * (ticks as usize - 3) && played <= 960 * ticks as usize,
        "{played} samples played in {ticks} ticks"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
