//! Interop: a softphone call between the SDK (smol backend, real sockets on 127.0.0.1) and a
//! real libwebrtc stack — headless Chromium's `RTCPeerConnection`, driven over chromedriver's W3C
//! WebDriver API — instead of the fake cloud's str0m media peer. The fake cloud still does the
//! signalling (propose → proceed → offer → answer → candidates, mode A and mode B) but offers
//! Chromium's SDP ([`FakeCloud::place_inbound_call_external`]) and hands the SDK's answer and
//! trickled candidates back to the page.
//!
//! Checked: the page's `connectionState` reaches `connected`; our 440 Hz tone arrives in
//! Chromium (decoded samples of the remote track: Goertzel detection plus a spectral peak scan,
//! and the page's `AnalyserNode` peak); Chromium's fake microphone — fed from a WAV file with a
//! 1 kHz tone via `--use-file-for-fake-audio-capture` so that what it sends is known — is heard
//! in our playout.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian `chromium`, `chromium-driver`;
//! `scripts/test.sh` installs them): without them the test fails, it does not skip. Only
//! loopback is used: chromedriver listens on 127.0.0.1, Chromium's non-loopback candidates are
//! removed from its offer and the SDK binds media to 127.0.0.1.
//!
//! [`FakeCloud::place_inbound_call_external`]: genesys_webrtc_sim::cloud::FakeCloud::place_inbound_call_external

#[path = "../interop/webdriver.rs"]
mod webdriver;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use genesys_webrtc::local_audio::run_local_audio;
use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::session::events::{ConnectionState, SessionEvent, TerminateReason};
use genesys_webrtc::SdkEvent;
use genesys_webrtc_sim::audio::ToneCapture;
use genesys_webrtc_sim::cloud::{CallOptions, Negotiation};
use genesys_webrtc_smol::SmolClock;
use genesys_webrtc_tests::{next_event, signed_in, MemoryPlayout, FORMAT};
use serde_json::{json, Value};
use webdriver::{Browser, PageServer};

/// What we send to Chromium.
const OUR_TONE_HZ: f32 = 440.0;
/// What Chromium's fake microphone sends us (the WAV file we give it).
const BROWSER_TONE_HZ: f32 = 1000.0;

const PAGE_JS: &str = include_str!("../interop/page.js");
const PAGE_HTML: &str =
    "<!doctype html><html><head><title>interop</title></head><body></body></html>";

/// Writes a 48 kHz mono 16-bit WAV with a `freq` Hz sine at half scale.
fn write_tone_wav(path: &Path, freq: f32, seconds: u32) -> std::io::Result<()> {
    let rate = 48_000u32;
    let n = rate * seconds;
    let mut out = Vec::with_capacity(44 + 2 * n as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + 2 * n).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(2 * n).to_le_bytes());
    for i in 0..n {
        let t = f64::from(i) / f64::from(rate);
        let s = (std::f64::consts::TAU * f64::from(freq) * t).sin() * 16_384.0;
        out.extend_from_slice(&(s as i16).to_le_bytes());
    }
    std::fs::write(path, out)
}

/// Keeps only Chromium's UDP host candidates on 127.0.0.0/8 (no traffic may leave loopback)
/// and points any non-loopback connection address at 127.0.0.1.
fn loopback_only(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(c) = line.strip_prefix("a=candidate:") {
            let f: Vec<&str> = c.split_whitespace().collect();
            let udp = f.get(2).is_some_and(|p| p.eq_ignore_ascii_case("udp"));
            let lo = f.get(4).is_some_and(|a| a.starts_with("127."));
            if !(udp && lo) {
                continue;
            }
        }
        if let Some(addr) = line.strip_prefix("c=IN IP4 ") {
            if addr != "0.0.0.0" && !addr.starts_with("127.") {
                out.push_str("c=IN IP4 127.0.0.1\r\n");
                continue;
            }
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// Calls `window.interop.<name>(...args)` in the page and returns its resolved value.
fn page(browser: &mut Browser, name: &str, args: Vec<Value>) -> Value {
    let script = format!(
        "const done = arguments[arguments.length - 1];\
         const args = Array.prototype.slice.call(arguments, 0, arguments.length - 1);\
         Promise.resolve().then(() => window.interop.{name}(...args))\
           .then(v => done({{ ok: v === undefined ? null : v }}),\
                 e => done({{ error: String((e && e.stack) || e) }}));"
    );
    let v = browser
        .execute_async(&script, args)
        .unwrap_or_else(|e| panic!("page {name}: {e}"));
    if let Some(e) = v.get("error") {
        panic!("page {name} failed: {e}");
    }
    v["ok"].clone()
}

fn interop_call(mode: Negotiation, isolated: bool) {
    let started = Instant::now();
    let tmp = webdriver::TempDir::new("interop-wav").unwrap();
    let wav = tmp.0.join("tone1k.wav");
    write_tone_wav(&wav, BROWSER_TONE_HZ, 10).unwrap();
    let mut browser = Browser::start(&[format!(
        "--use-file-for-fake-audio-capture={}",
        wav.display()
    )])
    .unwrap_or_else(|e| panic!("cannot start headless Chromium: {e}"));
    let page_server = PageServer::start(PAGE_HTML).unwrap();
    browser.goto(&page_server.url()).unwrap();
    browser
        .execute(&format!("{PAGE_JS}\nreturn true;"), vec![])
        .unwrap();
    let offer = page(&mut browser, "offer", vec![]);
    let offer = offer.as_str().expect("offer SDP").to_owned();
    let offer = loopback_only(&offer);
    assert!(
        offer.contains("a=candidate:"),
        "Chromium offered no loopback UDP candidate:\n{offer}"
    );
    eprintln!("[{:?}] Chromium offer ready", started.elapsed());

    let (server, sdk, thread, mut events) = signed_in(|b| b);

    let call = server.with_cloud(|c| {
        c.place_inbound_call_external(
            Instant::now(),
            CallOptions {
                mode,
                ..CallOptions::default()
            },
            offer,
        )
    });
    let Some(SdkEvent::PendingSession(p)) = next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::PendingSession(_))
    }) else {
        panic!("no pending session")
    };
    smol::block_on(sdk.accept_pending_session(&p.id)).unwrap();

    // The SDK's answer, then its trickled candidates up to end-of-candidates.
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        if let Some(a) = server.with_cloud(|c| c.external_answer(call)) {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no answer from the SDK; call log: {:#?}",
            server.with_cloud(|c| c.call_log(call))
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let candidates = loop {
        let c = server.with_cloud(|c| c.external_client_candidates(call));
        if c.iter().any(|l| l == "end-of-candidates") || Instant::now() > deadline {
            break c;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    eprintln!(
        "[{:?}] SDK answered ({mode:?}); candidates: {candidates:?}",
        started.elapsed()
    );
    assert!(
        candidates.iter().any(|l| l.starts_with("candidate:")) || answer.contains("a=candidate:"),
        "the SDK gave no candidate"
    );
    for c in candidates.iter().filter(|l| l.starts_with("candidate:")) {
        let addr = c.split_whitespace().nth(4).unwrap_or("");
        assert!(addr.starts_with("127."), "non-loopback SDK candidate {c}");
    }
    let candidates: Vec<Value> = candidates.into_iter().map(Value::String).collect();
    page(
        &mut browser,
        "answer",
        vec![json!(answer), json!(candidates)],
    );
    let state = page(&mut browser, "waitConnected", vec![json!(10_000)]);
    assert_eq!(
        state,
        json!("connected"),
        "Chromium's connectionState; page stats: {}",
        page(&mut browser, "stats", vec![])
    );
    if isolated {
        let pair = page(&mut browser, "stats", vec![])["pair"].clone();
        let pair = pair.as_str().unwrap_or("");
        assert!(
            pair.starts_with("127.0.0.1:") && pair.contains(" -> 127.0.0.1:"),
            "selected candidate pair is not loopback: {pair}"
        );
    }
    let sid = p.id.clone();
    next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::Session { session_id, event: SessionEvent::ConnectionState(ConnectionState::Connected) } if *session_id == sid)
    })
    .expect("SDK media connected");
    eprintln!("[{:?}] connected both sides", started.elapsed());

    // 3 s of audio: we send 440 Hz; Chromium's fake microphone plays the 1 kHz WAV.
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let audio_sdk = sdk.clone();
    let rec = Arc::clone(&recorded);
    let audio = std::thread::spawn(move || {
        smol::block_on(run_local_audio(
            &audio_sdk,
            &SmolClock::new(),
            Some(ToneCapture::new(OUR_TONE_HZ, FORMAT).unwrap()),
            Some(MemoryPlayout(rec)),
            Some(150),
        ))
    });
    std::thread::sleep(Duration::from_millis(800));
    let captured = page(&mut browser, "capture", vec![json!(1500)]);
    audio.join().unwrap().unwrap();
    let stats = page(&mut browser, "stats", vec![]);
    eprintln!("[{:?}] audio done; page stats: {stats}", started.elapsed());
    eprintln!("page analyser: {}", captured["analyser"]);

    // Chromium hears our tone: decoded samples of the remote track.
    let rate = captured["rate"].as_u64().unwrap_or(0) as u32;
    let heard: Vec<i16> = captured["samples"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_i64().unwrap_or(0) as i16).collect())
        .unwrap_or_default();
    assert!(
        rate > 0,
        "no audio frames from the remote track: {captured}"
    );
    let tail = &heard[heard.len().saturating_sub(rate as usize / 2)..];
    assert!(
        tail.len() >= rate as usize / 4,
        "too little remote audio ({} samples at {rate} Hz)",
        heard.len()
    );
    let probes: Vec<f32> = (10..=400).map(|i| i as f32 * 10.0).collect();
    let peak = Goertzel::dominant_frequency_in(tail, &probes, rate);
    let ratio = Goertzel::energy_ratio(tail, OUR_TONE_HZ, rate);
    let level = Goertzel::level_dbfs(tail);
    eprintln!(
        "Chromium receives: {} samples at {rate} Hz, peak {peak:?} Hz, {:.2} of the energy at \
         {OUR_TONE_HZ} Hz, level {level:.1} dBFS",
        heard.len(),
        ratio
    );
    assert!(
        peak.is_some_and(|f| (f - OUR_TONE_HZ).abs() <= 10.0),
        "spectral peak of what Chromium receives is {peak:?}, not {OUR_TONE_HZ} Hz"
    );
    assert!(
        Goertzel::detect(tail, OUR_TONE_HZ, rate),
        "Chromium hears our {OUR_TONE_HZ} Hz ({ratio:.2} of the energy, {level:.1} dBFS)"
    );
    let inbound = &stats["inbound"];
    assert!(
        inbound["packetsReceived"].as_u64().unwrap_or(0) > 50,
        "inbound-rtp: {inbound}"
    );
    // (`totalAudioEnergy` / `audioLevel` stay 0 in headless Chromium: no output device renders
    // the stream, and those are measured at the renderer.)
    assert!(
        inbound["totalSamplesReceived"].as_u64().unwrap_or(0) > 48_000,
        "inbound-rtp: {inbound}"
    );
    assert_eq!(
        stats["codec"],
        json!("audio/opus/48000"),
        "negotiated codec"
    );
    // The page's AnalyserNode on the remote stream (its context runs at the device rate, often
    // 44.1 kHz, so bins are about 5.4 Hz wide): the peak is our tone, far above the rest.
    let analyser = &captured["analyser"];
    let peak_hz = analyser["peakHz"].as_f64().unwrap_or(0.0);
    let above = analyser["peakDb"].as_f64().unwrap_or(-200.0)
        - analyser["medianDb"].as_f64().unwrap_or(0.0);
    assert!(
        (peak_hz - f64::from(OUR_TONE_HZ)).abs() <= 12.0 && above > 30.0,
        "AnalyserNode: {analyser}"
    );

    // We hear Chromium's fake microphone (the 1 kHz WAV).
    let played = recorded.lock().unwrap().clone();
    let tail = &played[played.len().saturating_sub(48_000)..];
    let level = Goertzel::level_dbfs(tail);
    let ratio = Goertzel::energy_ratio(tail, BROWSER_TONE_HZ, 48_000);
    eprintln!(
        "SDK plays: {} samples, level {level:.1} dBFS, {ratio:.2} of the energy at \
         {BROWSER_TONE_HZ} Hz",
        played.len()
    );
    assert!(level > -50.0, "we hear Chromium (level {level:.1} dBFS)");
    assert!(
        Goertzel::detect(tail, BROWSER_TONE_HZ, 48_000),
        "we hear Chromium's {BROWSER_TONE_HZ} Hz microphone ({ratio:.2} of the energy)"
    );

    smol::block_on(sdk.end_session(&p.id)).unwrap();
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
    page(&mut browser, "close", vec![]);
    drop(browser);
    drop(page_server);
    drop(tmp);
    drop(events);
    drop(sdk);
    thread.join().unwrap();
    eprintln!("[{:?}] done ({mode:?})", started.elapsed());
}

/// Set in the re-executed test process that runs inside its own network namespace.
const IN_NETNS_ENV: &str = "GENESYS_INTEROP_IN_NETNS";
/// Set (to anything) to run in the host's network namespace instead (e.g. where namespaces are
/// not available): traffic is still addressed to 127.0.0.1 only, but Chromium may then send
/// from a socket bound to a host interface address.
const NO_NETNS_ENV: &str = "GENESYS_INTEROP_NO_NETNS";

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Runs `interop_call(mode)` inside a fresh network namespace holding only `lo` (the test
/// binary re-executes itself for `test_name` under `unshare --net`; `--user --map-root-user`
/// too when not root), so that Chromium can gather nothing but loopback candidates and no
/// packet can use another address. The whole call (fake cloud, SDK, chromedriver, Chromium,
/// page server) lives in the namespace.
fn run_isolated(test_name: &str, mode: Negotiation) {
    if std::env::var_os(IN_NETNS_ENV).is_some() {
        interop_call(mode, true);
        return;
    }
    if std::env::var_os(NO_NETNS_ENV).is_some() {
        interop_call(mode, false);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new("unshare");
    if !is_root() {
        cmd.args(["--user", "--map-root-user"]);
    }
    cmd.args([
        "--net",
        "sh",
        "-c",
        "PATH=\"$PATH:/usr/sbin:/sbin\"; ip link set lo up && exec \"$0\" \"$@\"",
    ])
    .arg(exe)
    .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
    .env(IN_NETNS_ENV, "1");
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run unshare (util-linux) for a private network namespace: {e}; set {NO_NETNS_ENV}=1 to run in the host's")
    });
    // Through the harness's capture: shown with --nocapture or on failure.
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "{test_name} in a private network namespace failed ({}); output above. If namespaces \
         are unavailable here (unshare/ip errors), set {NO_NETNS_ENV}=1",
        out.status
    );
    let ran = String::from_utf8_lossy(&out.stdout).contains("test result: ok. 1 passed");
    assert!(ran, "{test_name} did not run in the namespace");
}

#[test]
fn chromium_interop_sdp_over_xmpp() {
    run_isolated("chromium_interop_sdp_over_xmpp", Negotiation::SdpOverXmpp);
}

#[test]
fn chromium_interop_jingle() {
    run_isolated("chromium_interop_jingle", Negotiation::Jingle);
}
