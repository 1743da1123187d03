//! Checks the backend against real ALSA devices: the `snd-aloop` loopback card, whose capture
//! device 1 subdevice N hears what is played to device 0 subdevice N. Run by
//! `scripts/alsa-qemu.sh` inside a QEMU guest (Debian's kernel), or on any Linux machine with
//! `modprobe snd-aloop`.
//!
//! 1. Lists the devices (the loopback's `hw:`/`plughw:` names must be there).
//! 2. Captures from `hw:Loopback,1,0` and `hw:Loopback,1,1` while it plays a 1000 Hz tone into
//!    `hw:Loopback,0,0`: subdevice 0 must hear 1000 Hz, subdevice 1 nothing.
//! 3. Switches the playout mid-stream to `hw:Loopback,0,1` with a 700 Hz tone: subdevice 1 must
//!    hear 700 Hz; prints the gap between the last 1000 Hz frame and the first 700 Hz frame.
//! 4. Plays 44.1 kHz stereo through `plughw:Loopback,0,2` and captures it at 48 kHz mono from
//!    `plughw:Loopback,1,2` (ALSA's plug converts), checking the tone survives.
//!
//! 5. Stays away from a capture and a playout for 400 ms: the overrun and underrun are recovered
//!    and counted, and the streams go on.
//! 6. If a USB sound card is present (the QEMU script adds one): runs core's `run_audio_devices`
//!    with it as the SDK default speaker, prints `UNPLUG-NOW` (the script then unplugs it), and
//!    checks that the loop reports the vanished speaker as a `Media` error of kind
//!    `Disconnected`, falls back to the system default and runs on to the end.
//!
//! Prints `ALSA-LOOPBACK: PASS` or `ALSA-LOOPBACK: FAIL <why>` and exits 0 or 1.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::media::tone::ToneGenerator;
use genesys_webrtc_alsa::{AlsaCapture, AlsaDevices, AlsaError, AlsaPlayout};
use genesys_webrtc_hal::{AudioCapture, AudioDevices, AudioFormat, AudioPlayout, FrameDuration};

const FORMAT: AudioFormat = AudioFormat {
    sample_rate: 48_000,
    channels: 1,
    frame: FrameDuration::Ms20,
};

/// A capture thread: every frame read (mono) and the final stats.
type Capturing = JoinHandle<Result<(Vec<Vec<i16>>, String), AlsaError>>;

/// Reads frames until told to stop; returns every frame read (mono) and the capture stats.
fn capture_thread(mut cap: AlsaCapture, stop: Arc<AtomicBool>) -> Capturing {
    std::thread::spawn(move || {
        let fmt = cap.format();
        let ch = usize::from(fmt.channels);
        let mut frame = vec![0i16; fmt.samples_per_frame()];
        let mut frames = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let n = futures::executor::block_on(cap.read_frame(&mut frame))?;
            frames.push(frame[..n].iter().step_by(ch).copied().collect());
        }
        let stats = cap.close(Duration::from_secs(1));
        Ok((frames, format!("{stats:?}")))
    })
}

fn play(p: &mut AlsaPlayout, hz: f32, ms: u32) -> Result<(), AlsaError> {
    let fmt = p.format();
    let mut tone = ToneGenerator::new(hz, 0.5, fmt.sample_rate);
    let mut buf = vec![0i16; fmt.samples_per_frame()];
    for _ in 0..ms / fmt.frame.millis() {
        tone.fill_interleaved(&mut buf, usize::from(fmt.channels));
        futures::executor::block_on(p.write_frame(&buf))?;
    }
    Ok(())
}

/// Which of `tones` each frame carries (`None`: silence or unclear).
fn classify(frames: &[Vec<i16>], tones: &[f32], rate: u32) -> Vec<Option<f32>> {
    frames
        .iter()
        .map(|f| {
            (Goertzel::level_dbfs(f) > -40.0)
                .then(|| Goertzel::dominant_frequency_in(f, tones, rate))
                .flatten()
        })
        .collect()
}

fn check(ok: bool, why: &str) -> Result<(), String> {
    if ok {
        println!("  ok: {why}");
        Ok(())
    } else {
        Err(why.to_string())
    }
}

fn run() -> Result<(), String> {
    let devices = AlsaDevices::new();
    let list = devices.list().map_err(|e| e.to_string())?;
    println!("{} devices:", list.len());
    for d in &list {
        println!(
            "  {:?} {:<40} {}{}",
            d.kind,
            d.id,
            d.label,
            if d.is_system_default {
                " (system default)"
            } else {
                ""
            }
        );
    }
    check(
        list.iter().any(|d| d.id == "hw:CARD=Loopback,DEV=0"),
        "hw:CARD=Loopback,DEV=0 is listed",
    )?;

    // Steps 2 and 3: one capture per subdevice, playout moving from subdevice 0 to 1.
    let open_cap = |id: &str| {
        devices
            .open_capture(Some(id), FORMAT)
            .map_err(|e| format!("open {id}: {e}"))
    };
    let c0 = open_cap("hw:Loopback,1,0")?;
    let c1 = open_cap("hw:Loopback,1,1")?;
    println!("  capture format {:?}, {:?}", c0.format(), c0.stats());
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = capture_thread(c0, stop.clone());
    let t1 = capture_thread(c1, stop.clone());
    let started = Instant::now();
    let mut p = devices
        .open_playout(Some("hw:Loopback,0,0"), FORMAT)
        .map_err(|e| format!("open hw:Loopback,0,0: {e}"))?;
    println!("  playout format {:?}, {:?}", p.format(), p.stats());
    play(&mut p, 1000.0, 1000).map_err(|e| e.to_string())?;
    let switch_at = Instant::now();
    drop(p);
    let mut p = devices
        .open_playout(Some("hw:Loopback,0,1"), FORMAT)
        .map_err(|e| format!("open hw:Loopback,0,1: {e}"))?;
    println!(
        "  switched playout to hw:Loopback,0,1 in {:?}",
        switch_at.elapsed()
    );
    play(&mut p, 700.0, 1000).map_err(|e| e.to_string())?;
    let stats = p.close(Duration::from_secs(1)).map_err(|e| e.to_string())?;
    println!("  playout stats {stats:?}");
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    let join = |t: Capturing| {
        t.join()
            .map_err(|_| "capture thread panicked".to_string())?
            .map_err(|e| e.to_string())
    };
    let (f0, s0) = join(t0)?;
    let (f1, s1) = join(t1)?;
    println!(
        "  captured {} + {} frames in {:?}; stats {s0} / {s1}",
        f0.len(),
        f1.len(),
        started.elapsed()
    );
    let tones = [1000.0, 700.0];
    let k0 = classify(&f0, &tones, 48_000);
    let k1 = classify(&f1, &tones, 48_000);
    let n0 = k0.iter().filter(|k| **k == Some(1000.0)).count();
    let n1 = k1.iter().filter(|k| **k == Some(700.0)).count();
    check(
        n0 >= 40,
        &format!("hw:Loopback,1,0 heard 1000 Hz in {n0} frames"),
    )?;
    check(
        !k0.contains(&Some(700.0)),
        "hw:Loopback,1,0 never heard 700 Hz",
    )?;
    check(
        n1 >= 40,
        &format!("hw:Loopback,1,1 heard 700 Hz in {n1} frames after the switch"),
    )?;
    check(
        !k1.contains(&Some(1000.0)),
        "hw:Loopback,1,1 never heard 1000 Hz",
    )?;
    // Both captures run on the card's clock from (nearly) the same start: frame indexes line up.
    let last_1000 = k0.iter().rposition(|k| *k == Some(1000.0)).unwrap_or(0);
    let first_700 = k1.iter().position(|k| *k == Some(700.0)).unwrap_or(0);
    let gap = (first_700.saturating_sub(last_1000 + 1)) * 20;
    println!("  device switch: audible gap about {gap} ms (frame-aligned captures)");
    check(gap < 200, &format!("switch gap {gap} ms < 200 ms"))?;

    // Step 4: 44.1 kHz stereo in, 48 kHz mono out, through plug on both ends.
    let stop = Arc::new(AtomicBool::new(false));
    let c2 = open_cap("plughw:Loopback,1,2")?;
    let t2 = capture_thread(c2, stop.clone());
    let want = AudioFormat {
        sample_rate: 44_100,
        channels: 2,
        frame: FrameDuration::Ms10,
    };
    let mut p = devices
        .open_playout(Some("plughw:Loopback,0,2"), want)
        .map_err(|e| format!("open plughw:Loopback,0,2: {e}"))?;
    check(p.format() == want, "plughw grants 44.1 kHz stereo 10 ms")?;
    play(&mut p, 1000.0, 1000).map_err(|e| e.to_string())?;
    p.close(Duration::from_secs(1)).map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::SeqCst);
    let (f2, _) = join(t2)?;
    let heard: Vec<i16> = f2.concat();
    let mid = heard
        .get(heard.len() / 4..heard.len() * 3 / 4)
        .unwrap_or(&[]);
    check(
        Goertzel::detect(mid, 1000.0, 48_000),
        "44.1 kHz stereo playout heard as 1000 Hz at 48 kHz mono",
    )?;

    // Step 5: a reader and a writer that stay away for 400 ms overrun and underrun the device;
    // both are recovered, counted, and the streams go on.
    let mut c = open_cap("hw:Loopback,1,3")?;
    let mut frame = vec![0i16; c.format().samples_per_frame()];
    let mut read = |c: &mut AlsaCapture, n: usize| -> Result<(), String> {
        for _ in 0..n {
            futures::executor::block_on(c.read_frame(&mut frame)).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    read(&mut c, 10)?;
    std::thread::sleep(Duration::from_millis(400));
    read(&mut c, 20)?;
    let cs = c.close(Duration::from_secs(1));
    check(
        cs.xruns >= 1,
        &format!(
            "capture overrun recovered and counted ({} xruns), reading went on",
            cs.xruns
        ),
    )?;
    let mut p = devices
        .open_playout(Some("hw:Loopback,0,3"), FORMAT)
        .map_err(|e| format!("open hw:Loopback,0,3: {e}"))?;
    play(&mut p, 1000.0, 200).map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(400));
    play(&mut p, 1000.0, 200).map_err(|e| e.to_string())?;
    let ps = p.close(Duration::from_secs(1)).map_err(|e| e.to_string())?;
    check(
        ps.xruns >= 1,
        &format!(
            "playout underrun recovered and counted ({} xruns), writing went on",
            ps.xruns
        ),
    )?;

    // The system default (dsnoop/dmix on card 0): how long 1 s of audio takes each way.
    if let Ok(mut c) = devices.open_capture(None, FORMAT) {
        let t = Instant::now();
        let mut frame = vec![0i16; c.format().samples_per_frame()];
        for _ in 0..50 {
            if futures::executor::block_on(c.read_frame(&mut frame)).is_err() {
                break;
            }
        }
        println!(
            "  default capture: 1 s of audio in {:?}, {:?}",
            t.elapsed(),
            c.format()
        );
        println!("  {:?}", c.close(Duration::from_secs(1)));
    }
    if let Ok(mut p) = devices.open_playout(None, FORMAT) {
        let t = Instant::now();
        let _ = play(&mut p, 440.0, 1000);
        println!(
            "  default playout: 1 s of audio queued in {:?}",
            t.elapsed()
        );
        println!("  {:?}", p.close(Duration::from_secs(1)));
    }

    // Step 6: a USB speaker that is unplugged mid-stream.
    let usb = list.iter().find(|d| {
        d.kind == genesys_webrtc_hal::MediaKind::AudioOutput
            && d.id.starts_with("plughw:")
            && !d.id.contains("Loopback")
    });
    match usb {
        Some(d) => unplug_check(&d.id)?,
        None => println!("  skipped: no USB sound card to unplug"),
    }
    Ok(())
}

/// Step 6: `run_audio_devices` on `speaker` (the SDK default), which the host unplugs.
fn unplug_check(speaker: &str) -> Result<(), String> {
    use futures::StreamExt as _;
    use genesys_webrtc::local_audio::run_audio_devices;
    use genesys_webrtc::{SdkErrorKind, SdkEvent, SdkOptions};

    println!("  USB speaker {speaker}: the audio loop plays on it (SDK default)");
    // An SDK that is never initialized: no call, so it plays silence; the loop still opens,
    // follows and replaces devices by the Device ID rules.
    let options = SdkOptions::builder()
        .environment("alsa-check.invalid")
        .access_token("not-used")
        .default_output_device_id(speaker)
        // Echo cancellation (AEC3) in this unoptimised build under software emulation takes
        // longer than real time; this step is about devices, not about the echo canceller.
        .echo_cancellation(false)
        .build()
        .map_err(|e| e.to_string())?;
    let (sdk, _thread) = genesys_webrtc_smol::start(options).map_err(|e| e.to_string())?;
    let mut events = sdk.events();
    let ticks = 200; // 4 s
    let (loop_sdk, started) = (sdk.clone(), Instant::now());
    let audio = std::thread::spawn(move || {
        smol::block_on(run_audio_devices(
            &loop_sdk,
            &genesys_webrtc_smol::SmolClock::new(),
            &AlsaDevices::new(),
            Some(ticks),
        ))
    });
    // Media errors as they come, with the time since the loop started.
    let watcher = std::thread::spawn(move || {
        let mut out = Vec::new();
        smol::block_on(async {
            let collect = async {
                while let Some(e) = events.next().await {
                    if let SdkEvent::Error(err) = e {
                        if err.kind == SdkErrorKind::Media {
                            println!("  [{:?}] Error(Media)", started.elapsed());
                            out.push(err.details);
                        }
                    }
                }
            };
            let timeout = smol::Timer::after(Duration::from_secs(20));
            futures::pin_mut!(collect);
            futures::future::select(collect, timeout).await;
        });
        out
    });
    std::thread::sleep(Duration::from_millis(1000));
    println!("UNPLUG-NOW");
    let unplug_at = Instant::now();
    let result = audio
        .join()
        .map_err(|_| "audio loop panicked".to_string())?;
    // The event stream ends when the SDK is gone.
    drop(sdk);
    println!(
        "  the loop ended {:?} after the unplug request, {:?} after it started",
        unplug_at.elapsed(),
        started.elapsed()
    );
    check(
        result.is_ok(),
        &format!("the audio loop ran its {ticks} ticks to the end: {result:?}"),
    )?;
    let errors: Vec<String> = watcher
        .join()
        .map_err(|_| "event thread panicked".to_string())?;
    for e in &errors {
        println!("  event: Error(Media) {e}");
    }
    check(
        errors
            .iter()
            .any(|e| e.contains(speaker) && e.contains("Disconnected")),
        "the vanished USB speaker was reported as Disconnected",
    )?;
    check(
        !errors
            .iter()
            .any(|e| e.contains("(system default) could not be opened")),
        "the loop fell back to the system default speaker",
    )?;
    Ok(())
}

fn main() {
    match run() {
        Ok(()) => println!("ALSA-LOOPBACK: PASS"),
        Err(why) => {
            println!("ALSA-LOOPBACK: FAIL {why}");
            std::process::exit(1);
        }
    }
}
