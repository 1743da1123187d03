//! The softphone example as a separate process, in both of its modes.
//!
//! * **Main job** (no `--environment`, the README's first command): the example starts the fake
//!   cloud in process, receives a call, answers, sends its tone and DTMF, writes the far end's
//!   audio to a WAV file, hangs up and prints the timeline and call stats; it must exit 0 with
//!   no warning, and the WAV file must hold the far end's 1 kHz tone.
//! * **Real-environment mode** (`--environment ENV --token TOKEN --api-host --ws-host --ca-file
//!   --media-address --hangup-after --max-calls`) against the fake cloud on 127.0.0.1: it must
//!   sign in, answer each rung call (sdp-over-xmpp, then Jingle), connect media, exchange DTMF,
//!   hang up after `--hangup-after`, print the call stats and exit 0 once `--max-calls` calls
//!   have ended. This is the mode a device build (without the built-in fake cloud) runs; without
//!   a real Genesys Cloud the fake one stands in for it.
//!
//! The example binary comes from `cargo build --workspace --example softphone` in the profile
//! of this test: a no-op after `cargo test --workspace --all-targets` (scripts/test.sh), which
//! has just built it with the same (workspace-wide) features.

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use genesys_webrtc_sim::cloud::{CallId, CallOptions, CallState, CloudConfig, Negotiation};
use genesys_webrtc_sim::tls_server::FakeCloudServer;

/// How long the softphone may take for everything (two 2.5 s calls and the sign-in); generous
/// for a busy CI machine.
const DEADLINE: Duration = Duration::from_secs(120);

/// Builds the softphone example (profile of this test binary) and returns its path.
fn softphone_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // This test runs from `<target>/<profile dir>/deps/`; the profile dir names the profile.
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .and_then(|dir| dir.file_name())
        .and_then(|name| name.to_str())
        .unwrap_or("debug")
        .to_owned();
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--quiet",
        "--locked",
        "--workspace",
        "--example",
        "softphone",
        "--message-format=json",
    ]);
    match profile_dir.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo build --example softphone failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "softphone")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reports the softphone executable")
}

/// Kills the child if the test fails midway.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The softphone's stdout lines as they come, and its stderr once it has closed.
struct Output {
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Output {
    /// Waits for a line containing `needle`; panics with everything seen so far on timeout or
    /// end of output.
    fn wait_for(&mut self, needle: &str, deadline: Instant) -> String {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "softphone: no line with {needle:?} ({e:?}); output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Reads the rest of stdout (until the process closes it).
    fn rest(&mut self, deadline: Instant) {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "softphone did not finish in time; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

/// Starts the softphone with stdout and stderr piped.
fn start(cmd: &mut Command) -> (KillOnDrop, Output) {
    let mut child = KillOnDrop(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the softphone starts"),
    );
    let stdout = child.0.stdout.take().expect("piped stdout");
    let mut stderr = child.0.stderr.take().expect("piped stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let out = Output {
        lines,
        seen: Vec::new(),
        stderr,
    };
    (child, out)
}

/// Reads the rest of the output and waits for the softphone to exit: its status, all of its
/// stdout and its stderr.
fn finish(
    child: &mut KillOnDrop,
    mut out: Output,
    deadline: Instant,
) -> (std::process::ExitStatus, String, String) {
    out.rest(deadline);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the softphone did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = out.stderr.join().unwrap_or_default();
    (status, out.seen.join("\n"), stderr)
}

/// The packet count after `received ` in a `call stats:` line.
fn packets_received(stats: &str) -> u64 {
    stats
        .split("received ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {stats:?}"))
}

/// Rings the signed-in softphone and waits until the call has media; the far end then sends
/// DTMF `9*`.
fn ring(
    server: &FakeCloudServer,
    out: &mut Output,
    mode: Negotiation,
    deadline: Instant,
) -> CallId {
    let call = server.with_cloud(|c| {
        c.place_inbound_call(
            Instant::now(),
            CallOptions {
                mode,
                tone_hz: 1000.0,
                ..CallOptions::default()
            },
        )
    });
    out.wait_for("answered", deadline);
    let expected = match mode {
        Negotiation::SdpOverXmpp => "session started (SdpOverXmpp)",
        Negotiation::Jingle => "session started (Jingle)",
    };
    out.wait_for(expected, deadline);
    out.wait_for("connection Connected", deadline);
    out.wait_for("sending DTMF \"1234#\"", deadline);
    server
        .with_cloud(|c| c.send_dtmf(call, "9*"))
        .expect("the far end sends DTMF");
    out.wait_for("hanging up", deadline);
    out.wait_for("session ended (success)", deadline);
    let stats = out.wait_for("call stats:", deadline);
    let received = packets_received(&stats);
    assert!(received > 0, "no media received: {stats:?}");
    out.wait_for("DTMF received: \"9*\"", deadline);
    call
}

#[test]
fn softphone_answers_calls_in_real_mode_and_exits_after_max_calls() {
    let softphone = softphone_binary();

    let server = FakeCloudServer::start(
        CloudConfig::for_environment("fake.genesys.test"),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .expect("the fake cloud starts");
    let token = server.with_cloud(|c| c.config().access_token.clone());
    let ca_file =
        std::env::temp_dir().join(format!("softphone-real-mode-ca-{}.pem", std::process::id()));
    server.write_ca_file(&ca_file).expect("CA file written");
    let wav = ca_file.with_extension("wav");

    let (mut child, mut out) = start(
        Command::new(&softphone)
            .args(["--environment", server.environment()])
            .args(["--token", &token])
            .args(["--api-host", &server.api_host()])
            .args(["--ws-host", &server.ws_host()])
            .arg("--ca-file")
            .arg(&ca_file)
            .args(["--media-address", "127.0.0.1"])
            .args(["--hangup-after", "2.5", "--max-calls", "2"])
            .arg("--wav")
            .arg(&wav)
            .env("RUST_LOG", "warn"),
    );

    let deadline = Instant::now() + DEADLINE;
    out.wait_for("waiting for calls", deadline);
    let first = ring(&server, &mut out, Negotiation::SdpOverXmpp, deadline);
    // Still running after one call: --max-calls 2.
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "the softphone exited after one call"
    );
    let second = ring(&server, &mut out, Negotiation::Jingle, deadline);
    out.rest(deadline);

    let (status, all, stderr) = finish(&mut child, out, deadline);
    assert!(
        status.success(),
        "softphone exited with {status}:\n{all}\nstderr:\n{stderr}"
    );
    assert!(all.contains("far end's audio written to"), "{all}");

    for (call, mode) in [
        (first, Negotiation::SdpOverXmpp),
        (second, Negotiation::Jingle),
    ] {
        let summary = server
            .with_cloud(|c| c.call(call))
            .expect("the cloud knows the call");
        assert_eq!(summary.mode, mode);
        assert!(summary.media_connected, "{mode:?}: media never came up");
        assert!(
            matches!(summary.state, CallState::Ended { .. }),
            "{mode:?}: {:?}",
            summary.state
        );
        assert_eq!(
            server.with_cloud(|c| c.received_dtmf(call)),
            "1234#",
            "{mode:?}: DTMF at the far end"
        );
    }
    // The WAV file holds the far end's audio of the last call (header + samples).
    let wav_len = std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0);
    assert!(wav_len > 44, "far-end WAV is {wav_len} bytes");

    let _ = std::fs::remove_file(&ca_file);
    let _ = std::fs::remove_file(&wav);
    server.shutdown();
}

/// The README's main job: no arguments but `--wav`, so the built-in fake cloud rings once.
#[test]
fn softphone_main_job_runs_a_call_against_the_built_in_fake_cloud() {
    main_job(&[]);
}

/// The main job with the echo canceller off (`--no-echo-cancellation`, the device benchmark's
/// comparison run): the same call, the same checks.
#[test]
fn softphone_main_job_runs_without_echo_cancellation() {
    main_job(&["--no-echo-cancellation"]);
}

/// Runs the main job with `extra` arguments and checks its timeline, stats, log and WAV file.
fn main_job(extra: &[&str]) {
    let softphone = softphone_binary();
    let wav = std::env::temp_dir().join(format!(
        "softphone-main-job-{}-{}.wav",
        std::process::id(),
        extra.len()
    ));
    let deadline = Instant::now() + DEADLINE;
    let (mut child, mut out) = start(
        Command::new(&softphone)
            .arg("--wav")
            .arg(&wav)
            .args(extra)
            .env_remove("RUST_LOG"),
    );

    // The timeline, in order.
    out.wait_for("fake cloud at https://127.0.0.1:", deadline);
    out.wait_for("incoming call from", deadline);
    out.wait_for("answered", deadline);
    out.wait_for("session started (SdpOverXmpp)", deadline);
    out.wait_for("connection Connected", deadline);
    out.wait_for("sending DTMF \"1234#\"", deadline);
    out.wait_for("hanging up", deadline);
    out.wait_for("terminated: success", deadline);
    out.wait_for("session ended (success)", deadline);
    let stats = out.wait_for("call stats:", deadline);
    // The default call lasts 3 s: about 150 packets of 20 ms each way.
    let received = packets_received(&stats);
    assert!(received >= 100, "too few packets received: {stats:?}");
    for field in ["rtt ", "jitter ", "loss ", "packets sent ", "concealed "] {
        assert!(stats.contains(field), "no {field:?} in {stats:?}");
    }
    out.wait_for("DTMF received: \"9*\"", deadline);
    out.wait_for("far end received DTMF: \"1234#\"", deadline);
    out.wait_for("far end's audio written to", deadline);

    let (status, all, stderr) = finish(&mut child, out, deadline);
    assert!(
        status.success(),
        "softphone exited with {status}:\n{all}\nstderr:\n{stderr}"
    );
    // The main job runs clean: no warning or error in its log.
    for level in ["WARN", "ERROR"] {
        assert!(
            !stderr.contains(level),
            "{level} in the main job's log:\n{stderr}"
        );
    }

    // The WAV file holds the far end's 1 kHz tone (not our own 440 Hz one).
    let format = genesys_webrtc_hal::AudioFormat {
        sample_rate: 48_000,
        channels: 1,
        frame: genesys_webrtc_hal::FrameDuration::Ms20,
    };
    let mut file = genesys_webrtc_sim::audio::WavCapture::open(&wav, format, false)
        .expect("the far-end WAV file opens");
    let rate = genesys_webrtc_hal::AudioCapture::format(&file).sample_rate;
    let mut samples = Vec::new();
    let mut frame = vec![0i16; 4_800];
    while let Ok(n) = smol::block_on(genesys_webrtc_hal::AudioCapture::read_frame(
        &mut file, &mut frame,
    )) {
        samples.extend_from_slice(&frame[..n.min(frame.len())]);
    }
    assert!(
        samples.len() >= rate as usize * 2,
        "the WAV holds {} samples at {rate} Hz",
        samples.len()
    );
    // One second from the middle of the call, past the start-up and before the hang-up.
    let middle = &samples[samples.len() / 2 - rate as usize / 2..][..rate as usize];
    use genesys_webrtc::media::goertzel::Goertzel;
    assert_eq!(
        Goertzel::dominant_frequency_in(middle, &[440.0, 1000.0], rate),
        Some(1000.0),
        "the far end's tone is not in the WAV"
    );
    let level = Goertzel::level_dbfs(middle);
    assert!(level > -30.0, "the far end's tone is at {level:.1} dBFS");
    let _ = std::fs::remove_file(&wav);
}
