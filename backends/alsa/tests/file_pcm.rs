//! The backend against real ALSA without a sound card: a generated configuration (pointed to by
//! `ALSA_CONFIG_PATH` before the first ALSA call of this test binary) adds `file` PCMs over
//! `null` (not paced: frames move as fast as the threads go) and `plug` wrappers. Samples go
//! through playout and capture bit-exact, devices are listed with their hints, a rate-converting
//! `plug` keeps a tone's frequency, and missing or ended devices give the right error kinds.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::media::tone::ToneGenerator;
use genesys_webrtc_alsa::{AlsaDevices, AlsaError};
use genesys_webrtc_hal::{
    AudioCapture, AudioDevices, AudioFormat, AudioPlayout, Error as _, ErrorKind, FrameDuration,
    MediaKind,
};

const MONO_48K_20MS: AudioFormat = AudioFormat {
    sample_rate: 48_000,
    channels: 1,
    frame: FrameDuration::Ms20,
};

/// One second of a known, non-periodic sample sequence covering the whole i16 range.
fn known_samples(n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 16) as u16 as i16)
        .collect()
}

fn to_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_ne_bytes()).collect()
}

fn from_bytes(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_ne_bytes([b[0], b[1]]))
        .collect()
}

/// The directory with the configuration and the files of the PCMs; ALSA is pointed at it once.
fn setup() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("alsa-file-pcm-{}", std::process::id()));
        // Earlier runs' directories are left over: clear those whose process has ended.
        if let Ok(old) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) {
            for e in old.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("alsa-file-pcm-") {
                    if !std::path::Path::new("/proc").join(pid).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("in.raw"), to_bytes(&known_samples(48_000))).unwrap();
        std::fs::write(dir.join("short.raw"), to_bytes(&known_samples(1_000))).unwrap();
        let d = dir.display();
        let conf = format!(
            r#"</usr/share/alsa/alsa.conf>
pcm.test_out {{
    type file
    slave.pcm null
    file "{d}/out.raw"
    format raw
    hint {{ show on description "Test file output" }}
}}
pcm.test_in {{
    type file
    slave.pcm null
    file "/dev/null"
    infile "{d}/in.raw"
    format raw
    hint {{ show on description "Test file input" }}
}}
pcm.test_in_short {{
    type file
    slave.pcm null
    file "/dev/null"
    infile "{d}/short.raw"
    format raw
}}
pcm.test_out_16k_file {{
    type file
    slave.pcm null
    file "{d}/out16k.raw"
    format raw
}}
pcm.test_out_16k {{
    type plug
    slave {{ pcm test_out_16k_file; rate 16000; channels 1; format S16 }}
}}
"#
        );
        let path = dir.join("asoundrc");
        std::fs::write(&path, conf).unwrap();
        // Before the first ALSA call of this binary (every test calls `setup` first), so ALSA
        // reads this configuration instead of the system's top-level one.
        std::env::set_var("ALSA_CONFIG_PATH", &path);
        dir
    })
}

#[test]
fn lists_configured_pcms_and_the_default() {
    setup();
    let list = AlsaDevices::new().list().unwrap();
    let find = |id: &str, kind| list.iter().find(|d| d.id == id && d.kind == kind);
    let out = find("test_out", MediaKind::AudioOutput).expect("test_out listed");
    assert_eq!(out.label, "Test file output");
    assert!(!out.is_system_default);
    assert!(find("test_in", MediaKind::AudioInput).is_some());
    for kind in [MediaKind::AudioInput, MediaKind::AudioOutput] {
        let d = find("default", kind).expect("default listed");
        assert!(d.is_system_default);
    }
    assert_eq!(list.iter().filter(|d| d.is_system_default).count(), 2);
}

#[test]
fn playout_is_bit_exact() {
    let dir = setup();
    let mut p = AlsaDevices::new()
        .open_playout(Some("test_out"), MONO_48K_20MS)
        .unwrap();
    assert_eq!(p.format(), MONO_48K_20MS);
    let sent = known_samples(48_000);
    futures::executor::block_on(async {
        for frame in sent.chunks(960) {
            p.write_frame(frame).await.unwrap();
        }
    });
    let stats = p.close(Duration::from_secs(5)).unwrap();
    assert_eq!(stats.frames, 50);
    assert_eq!(stats.xruns, 0);
    assert_eq!(stats.period_frames, 960);
    let got = from_bytes(&std::fs::read(dir.join("out.raw")).unwrap());
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "the file differs from what was played");
}

#[test]
fn capture_is_bit_exact() {
    setup();
    let mut c = AlsaDevices::new()
        .open_capture(Some("test_in"), MONO_48K_20MS)
        .unwrap();
    assert_eq!(c.format(), MONO_48K_20MS);
    let mut got = Vec::new();
    let mut frame = vec![0i16; 960];
    futures::executor::block_on(async {
        for _ in 0..50 {
            let n = c.read_frame(&mut frame).await.unwrap();
            got.extend_from_slice(&frame[..n]);
        }
    });
    assert!(
        got == known_samples(48_000),
        "capture differs from the file"
    );
}

#[test]
fn capture_takes_the_granted_format_stereo_44k1_10ms() {
    setup();
    let want = AudioFormat {
        sample_rate: 44_100,
        channels: 2,
        frame: FrameDuration::Ms10,
    };
    let mut c = AlsaDevices::new()
        .open_capture(Some("test_in"), want)
        .unwrap();
    assert_eq!(c.format(), want);
    let mut frame = vec![0i16; want.samples_per_frame()];
    assert_eq!(frame.len(), 882);
    let mut got = Vec::new();
    futures::executor::block_on(async {
        for _ in 0..20 {
            let n = c.read_frame(&mut frame).await.unwrap();
            got.extend_from_slice(&frame[..n]);
        }
    });
    assert!(got == known_samples(20 * 882));
    let stats = c.close(Duration::from_secs(1));
    assert_eq!(stats.period_frames, 441);
}

#[test]
fn plug_converts_rate_and_keeps_the_tone() {
    let dir = setup();
    let mut p = AlsaDevices::new()
        .open_playout(Some("test_out_16k"), MONO_48K_20MS)
        .unwrap();
    // `plug` offers the asked rate and converts to the file's 16 kHz.
    assert_eq!(p.format().sample_rate, 48_000);
    let mut tone = ToneGenerator::new(1000.0, 0.5, 48_000);
    futures::executor::block_on(async {
        for _ in 0..50 {
            p.write_frame(&tone.next_frame(960)).await.unwrap();
        }
    });
    p.close(Duration::from_secs(5)).unwrap();
    let got = from_bytes(&std::fs::read(dir.join("out16k.raw")).unwrap());
    assert!(got.len() > 15_000, "{} samples at 16 kHz", got.len());
    let tail = &got[got.len() / 2..];
    assert!(Goertzel::detect(tail, 1000.0, 16_000));
}

#[test]
fn missing_device_is_not_found() {
    setup();
    let e = AlsaDevices::new()
        .open_capture(Some("no_such_pcm"), MONO_48K_20MS)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = AlsaDevices::new()
        .open_playout(Some("hw:CARD=NoSuchCard,DEV=0"), MONO_48K_20MS)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn capture_checks_the_frame_length_and_goes_on_after_a_file() {
    setup();
    let mut c = AlsaDevices::new()
        .open_capture(Some("test_in_short"), MONO_48K_20MS)
        .unwrap();
    let mut small = vec![0i16; 10];
    let e = futures::executor::block_on(c.read_frame(&mut small)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(matches!(e, AlsaError::FrameLength { need: 960, got: 10 }));
    // 1000 samples: one whole frame, then the `file` PCM goes on with whatever its `null` slave
    // gives (it does not end, as a real device does not).
    let mut frame = vec![0i16; 960];
    let n = futures::executor::block_on(c.read_frame(&mut frame)).unwrap();
    assert_eq!(&frame[..n], &known_samples(960)[..]);
    futures::executor::block_on(async {
        c.read_frame(&mut frame).await.unwrap();
        c.read_frame(&mut frame).await.unwrap();
    });
}
