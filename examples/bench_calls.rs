//! Benchmark: softphone call set-up and media cost over localhost, against the in-process fake
//! cloud (HTTPS + WSS + UDP on 127.0.0.1).
//!
//! ```text
//! cargo run --release -p genesys-webrtc-examples --example bench_calls [-- CALLS] [AUDIO_SECS]
//! ```
//!
//! Prints medians of propose → media connected and offer → connected over CALLS calls (default
//! 20), then runs one call with audio both ways for AUDIO_SECS (default 10) and prints the CPU
//! used by the SDK's threads (driver + audio loop) per call-second, the whole process's CPU (the
//! fake cloud's media peer runs in the same process), and the process RSS. The audio call runs
//! twice: with echo cancellation (the default) and, on a second SDK, without it (issue 4's
//! target was set before issue 5 added the echo canceller). The audio loop's thread reads its
//! own CPU time just before it ends (an ended thread is gone from `/proc/self/task`, so
//! sampling it after `join` would count nothing). The driver thread's context switches per
//! second count its wake-ups. In this process the async-io reactor thread serves the fake
//! cloud's sockets and timers as well as the SDK's, so its CPU is printed on its own, not split;
//! the two audio calls are then run once more with the SDK in a child process of its own (this
//! binary with `--sdk-process`, the fake cloud staying in the parent), where every thread, its
//! reactor included, is the SDK's or the audio loop's, and that process's CPU is printed whole;
//! that pair is also run with the far end offering G.711 PCMU (no Opus work at all).
//! Thread CPU comes from `/proc/.../schedstat` (nanoseconds). The baseline, measured in the
//! same run, is one UDP round trip on loopback; ratios are against it.
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use genesys_webrtc::local_audio::run_local_audio;
use genesys_webrtc::session::events::{ConnectionState, SessionEvent};
use genesys_webrtc::{EventStream, InitializeOptions, Sdk, SdkEvent, SdkOptions};
use genesys_webrtc_hal::{AudioFormat, FrameDuration};
use genesys_webrtc_sim::audio::{NullPlayout, ToneCapture};
use genesys_webrtc_sim::cloud::{CallOptions, CloudConfig, PreferredCodec};
use genesys_webrtc_sim::tls_server::FakeCloudServer;
use genesys_webrtc_smol::SmolClock;

const FORMAT: AudioFormat = AudioFormat {
    sample_rate: 48_000,
    channels: 1,
    frame: FrameDuration::Ms20,
};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// CPU seconds (user + system) from a `/proc/.../stat` line (in clock ticks of 10 ms).
fn stat_cpu_seconds(stat: &str) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
                       // Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let stime: f64 = f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    (utime + stime) / ticks
}

/// CPU seconds of the task (thread) at `dir` (`/proc/self/task/TID` or `/proc/thread-self`):
/// from `schedstat` (nanoseconds on the CPU) where the kernel has it, else from `stat`, whose
/// 10 ms ticks made a 10 s run's figures steps of 0.1 % of a core.
fn task_cpu_seconds(dir: &std::path::Path) -> f64 {
    let ns = std::fs::read_to_string(dir.join("schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
    match ns {
        Some(ns) => ns as f64 / 1e9,
        None => stat_cpu_seconds(&std::fs::read_to_string(dir.join("stat")).unwrap_or_default()),
    }
}

/// CPU seconds of the calling thread (read by the audio thread itself before it ends: a thread
/// that has ended is no longer in `/proc/self/task`).
fn own_thread_cpu_seconds() -> f64 {
    task_cpu_seconds(std::path::Path::new("/proc/thread-self"))
}

/// Voluntary + involuntary context switches of the threads whose name starts with `prefix`
/// (every wake-up of a thread that slept is one).
fn context_switches(prefix: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut total = 0;
    for task in dir.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    total
}

/// CPU seconds (user + system) of the threads whose name starts with `prefix` (all if empty).
fn cpu_seconds(prefix: &str) -> f64 {
    let mut total = 0.0;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    for task in dir.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        total += task_cpu_seconds(&path);
    }
    total
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Where the SDK finds the fake cloud, and how it signs in.
struct CloudAccess {
    environment: String,
    api_host: String,
    ws_host: String,
    ca_cert_pem: String,
    token: String,
}

impl CloudAccess {
    fn of(server: &FakeCloudServer) -> Self {
        CloudAccess {
            environment: server.environment().to_string(),
            api_host: server.api_host(),
            ws_host: server.ws_host(),
            ca_cert_pem: server.ca_cert_pem().to_string(),
            token: server.with_cloud(|c| c.config().access_token.clone()),
        }
    }

    /// The environment variables that hand it to the SDK process.
    const VARS: [&'static str; 5] = [
        "BENCH_CLOUD_ENVIRONMENT",
        "BENCH_CLOUD_API_HOST",
        "BENCH_CLOUD_WS_HOST",
        "BENCH_CLOUD_CA_PEM",
        "BENCH_CLOUD_TOKEN",
    ];

    fn values(&self) -> [&str; 5] {
        [
            &self.environment,
            &self.api_host,
            &self.ws_host,
            &self.ca_cert_pem,
            &self.token,
        ]
    }

    fn from_env() -> Result<Self, Box<dyn std::error::Error>> {
        let get = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
        Ok(CloudAccess {
            environment: get(Self::VARS[0])?,
            api_host: get(Self::VARS[1])?,
            ws_host: get(Self::VARS[2])?,
            ca_cert_pem: get(Self::VARS[3])?,
            token: get(Self::VARS[4])?,
        })
    }

    /// SDK options for this cloud, with echo cancellation on or off.
    fn options(&self, echo_cancellation: bool) -> Result<SdkOptions, Box<dyn std::error::Error>> {
        Ok(SdkOptions::builder()
            .environment(self.environment.clone())
            .api_host(self.api_host.clone())
            .ws_host(self.ws_host.clone())
            .extra_root_certificates_pem(self.ca_cert_pem.as_bytes().to_vec())
            .access_token(self.token.clone())
            .media_bind_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
            .echo_cancellation(echo_cancellation)
            .build()?)
    }
}

/// CPU seconds and wake-ups over one call's audio phase.
struct CallFigures {
    /// Wall-clock seconds of the phase.
    wall: f64,
    /// The SDK driver thread.
    driver: f64,
    /// The audio loop thread.
    audio: f64,
    /// The async-io reactor thread.
    reactor: f64,
    /// The whole process.
    all: f64,
    /// Context switches of the driver thread.
    switches: u64,
    /// RSS half-way through.
    rss_kib: u64,
}

impl CallFigures {
    /// `cpu` seconds as a percentage of one core over the phase.
    fn percent(&self, cpu: f64) -> f64 {
        100.0 * cpu / self.wall
    }

    /// The SDK's threads (driver + audio loop), percent of one core.
    fn sdk(&self) -> f64 {
        self.percent(self.driver + self.audio)
    }
}

/// Rings `sdk` (`ring`: from the fake cloud), answers, runs the audio loop (a 440 Hz tone captured, the
/// received audio played to nowhere) for `secs` seconds on its own thread, measures, and hangs
/// up.
fn audio_call(
    sdk: &Sdk,
    events: &mut EventStream,
    ring: impl FnOnce(),
    secs: u64,
) -> Result<CallFigures, Box<dyn std::error::Error>> {
    ring();
    let sid = smol::block_on(async {
        let mut sid = String::new();
        while let Some(e) = events.next().await {
            match e {
                SdkEvent::PendingSession(p) => {
                    let _ = sdk.accept_pending_session(&p.id).await;
                }
                SdkEvent::SessionStarted(s) => sid = s.id,
                SdkEvent::Session {
                    event: SessionEvent::ConnectionState(ConnectionState::Connected),
                    ..
                } => break,
                _ => {}
            }
        }
        sid
    });
    let audio_sdk = sdk.clone();
    let ticks = secs * 50;
    let audio = std::thread::Builder::new()
        .name("genesys-audio".into())
        .spawn(move || {
            let cpu0 = own_thread_cpu_seconds();
            let mut capture = ToneCapture::new(440.0, FORMAT).ok();
            let mut playout = NullPlayout::new(FORMAT).ok();
            // Not `smol::block_on`: see `genesys_webrtc_smol::start`.
            let _ = futures::executor::block_on(run_local_audio(
                &audio_sdk,
                &SmolClock::new(),
                capture.as_mut(),
                playout.as_mut(),
                Some(ticks),
            ));
            // Read here: once the thread has ended its figures are gone from /proc.
            own_thread_cpu_seconds() - cpu0
        })?;
    let driver0 = cpu_seconds("genesys-webrtc");
    let reactor0 = cpu_seconds("async-io");
    let all0 = cpu_seconds("");
    let switches0 = context_switches("genesys-webrtc");
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs / 2));
    let rss_kib = rss_kib();
    let audio = audio.join().unwrap_or(0.0);
    let wall = t0.elapsed().as_secs_f64();
    let figures = CallFigures {
        wall,
        driver: cpu_seconds("genesys-webrtc") - driver0,
        audio,
        reactor: cpu_seconds("async-io") - reactor0,
        // The audio thread has ended: its CPU is not in the process's task list any more.
        all: cpu_seconds("") - all0 + audio,
        switches: context_switches("genesys-webrtc") - switches0,
        rss_kib,
    };
    smol::block_on(async {
        let _ = sdk.end_session(&sid).await;
        while let Some(e) = events.next().await {
            if matches!(e, SdkEvent::SessionEnded { .. }) {
                break;
            }
        }
    });
    Ok(figures)
}

/// The SDK process (`bench_calls --sdk-process SECS on|off`): an SDK alone in its process (the
/// fake cloud is in the parent, found through [`CloudAccess::VARS`]), so that every thread of
/// the process, the async-io reactor thread included, is the SDK's or the audio loop's. Signs
/// in, says `ready`, answers the call the parent places, and prints its figures on one line.
fn sdk_process(secs: u64, echo: bool) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::Write as _;
    let access = CloudAccess::from_env()?;
    let (sdk, thread) = genesys_webrtc_smol::start(access.options(echo)?)?;
    let mut events = sdk.events();
    smol::block_on(sdk.initialize(InitializeOptions::default()))?;
    println!("ready");
    std::io::stdout().flush()?;
    let f = audio_call(&sdk, &mut events, || {}, secs)?;
    println!(
        "figures {} {} {} {} {} {}",
        f.wall, f.driver, f.audio, f.reactor, f.all, f.switches
    );
    std::io::stdout().flush()?;
    smol::block_on(sdk.disconnect());
    drop(events);
    drop(sdk);
    let _ = thread.join();
    Ok(())
}

/// Runs [`sdk_process`] as a child process against `server` and returns its figures (`all`:
/// every thread of the SDK's process).
fn call_in_sdk_process(
    server: &FakeCloudServer,
    secs: u64,
    echo: bool,
    codec: PreferredCodec,
) -> Result<CallFigures, Box<dyn std::error::Error>> {
    use std::io::BufRead as _;
    let access = CloudAccess::of(server);
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args([
        "--sdk-process",
        &secs.to_string(),
        if echo { "on" } else { "off" },
    ]);
    for (k, v) in CloudAccess::VARS.iter().zip(access.values()) {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut figures = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        if line == "ready" {
            let options = CallOptions {
                codec,
                ..CallOptions::default()
            };
            server.with_cloud(|c| c.place_inbound_call(Instant::now(), options));
        } else if let Some(rest) = line.strip_prefix("figures ") {
            let v: Vec<f64> = rest
                .split_whitespace()
                .map(|x| x.parse())
                .collect::<Result<_, _>>()?;
            if let [wall, driver, audio, reactor, all, switches] = v[..] {
                figures = Some(CallFigures {
                    wall,
                    driver,
                    audio,
                    reactor,
                    all,
                    switches: switches as u64,
                    rss_kib: 0,
                });
            }
        }
    }
    let status = child.wait()?;
    figures.ok_or_else(|| format!("the SDK process gave no figures ({status})").into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--sdk-process") {
        let secs: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
        let echo = args.next().as_deref() != Some("off");
        return sdk_process(secs, echo);
    }
    let calls: usize = first.map(|s| s.parse()).transpose()?.unwrap_or(20);
    let audio_secs: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);

    // Baseline: one UDP round trip on loopback.
    let a = UdpSocket::bind("127.0.0.1:0")?;
    let b = UdpSocket::bind("127.0.0.1:0")?;
    let mut rtts = Vec::new();
    let mut buf = [0u8; 64];
    for _ in 0..200 {
        let t = Instant::now();
        a.send_to(b"ping", b.local_addr()?)?;
        let (_, from) = b.recv_from(&mut buf)?;
        b.send_to(b"pong", from)?;
        a.recv_from(&mut buf)?;
        rtts.push(t.elapsed());
    }
    let baseline = median(rtts);

    let server = FakeCloudServer::start(
        CloudConfig::for_environment("fake.genesys.test"),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )?;
    let (sdk, thread) = genesys_webrtc_smol::start(CloudAccess::of(&server).options(true)?)?;
    let mut events = sdk.events();
    smol::block_on(sdk.initialize(InitializeOptions::default()))?;

    let mut propose_to_connected = Vec::new();
    let mut offer_to_connected = Vec::new();
    for i in 0..calls + 2 {
        let t_propose = Instant::now();
        server.with_cloud(|c| c.place_inbound_call(Instant::now(), CallOptions::default()));
        let mut t_offer = None;
        let mut sid = String::new();
        let connected_at = smol::block_on(async {
            while let Some(e) = events.next().await {
                match e {
                    SdkEvent::PendingSession(p) => {
                        let _ = sdk.accept_pending_session(&p.id).await;
                    }
                    SdkEvent::SessionStarted(s) => {
                        t_offer = Some(Instant::now());
                        sid = s.id;
                    }
                    SdkEvent::Session {
                        event: SessionEvent::ConnectionState(ConnectionState::Connected),
                        ..
                    } => return Some(Instant::now()),
                    _ => {}
                }
            }
            None
        })
        .ok_or("event stream ended")?;
        if i >= 2 {
            propose_to_connected.push(connected_at - t_propose);
            offer_to_connected.push(connected_at - t_offer.unwrap_or(t_propose));
        }
        smol::block_on(async {
            let _ = sdk.end_session(&sid).await;
            while let Some(e) = events.next().await {
                if matches!(e, SdkEvent::SessionEnded { .. }) {
                    break;
                }
            }
        });
        eprint!(".");
    }
    eprintln!();
    let p2c = median(propose_to_connected);
    let o2c = median(offer_to_connected);
    println!(
        "baseline: UDP round trip on loopback, median {}",
        ms(baseline)
    );
    println!(
        "propose -> media connected: median {} over {calls} calls ({:.0}x baseline)   target < 12 ms",
        ms(p2c),
        p2c.as_secs_f64() / baseline.as_secs_f64()
    );
    println!(
        "offer -> connected:         median {} ({:.0}x baseline)   target < 12 ms",
        ms(o2c),
        o2c.as_secs_f64() / baseline.as_secs_f64()
    );

    // One call with audio both ways: CPU per call-second, echo cancellation on (the default).
    let ring = || {
        server.with_cloud(|c| c.place_inbound_call(Instant::now(), CallOptions::default()));
    };
    let on = audio_call(&sdk, &mut events, ring, audio_secs)?;
    smol::block_on(sdk.disconnect());
    drop(events);
    drop(sdk);
    let _ = thread.join();
    // The same with echo cancellation off, on a second SDK (the option is fixed per SDK); the
    // first SDK's thread has ended, so the thread figures are this one's alone.
    let (sdk, thread) = genesys_webrtc_smol::start(CloudAccess::of(&server).options(false)?)?;
    let mut events = sdk.events();
    smol::block_on(sdk.initialize(InitializeOptions::default()))?;
    let off = audio_call(&sdk, &mut events, ring, audio_secs)?;
    smol::block_on(sdk.disconnect());
    drop(events);
    drop(sdk);
    let _ = thread.join();

    println!(
        "CPU per call-second, SDK threads (driver + audio loop): {:.2} % of one core with echo \
         cancellation, {:.2} % without   target < 1 %",
        on.sdk(),
        off.sdk()
    );
    for (label, f) in [
        ("echo cancellation on ", &on),
        ("echo cancellation off", &off),
    ] {
        println!(
            "  {label}: driver thread (engine, str0m, codecs) {:.2} %, audio loop thread \
             (device I/O, echo cancellation) {:.2} %; driver wake-ups (context switches) {:.0} \
             per second",
            f.percent(f.driver),
            f.percent(f.audio),
            f.switches as f64 / f.wall
        );
    }
    println!(
        "  the async-io reactor thread (timers and sockets of the SDK and the fake cloud alike; \
         in this one process its CPU cannot be split between them): {:.2} % / {:.2} %",
        on.percent(on.reactor),
        off.percent(off.reactor)
    );
    // The same calls again with the SDK in a process of its own: all of that process's CPU,
    // its own async-io reactor thread included, is the SDK's (and the audio loop's).
    let own_on = call_in_sdk_process(&server, audio_secs, true, PreferredCodec::Opus)?;
    let own_off = call_in_sdk_process(&server, audio_secs, false, PreferredCodec::Opus)?;
    // And with G.711 µ-law, which Genesys Cloud also offers: no Opus encode or decode.
    let own_pcmu_on = call_in_sdk_process(&server, audio_secs, true, PreferredCodec::Pcmu)?;
    let own_pcmu_off = call_in_sdk_process(&server, audio_secs, false, PreferredCodec::Pcmu)?;
    println!(
        "CPU per call-second, the SDK in a process of its own (all its threads: driver, audio \
         loop, async-io reactor, main): {:.2} % with echo cancellation, {:.2} % without",
        own_on.percent(own_on.all),
        own_off.percent(own_off.all)
    );
    println!(
        "  of which its async-io reactor thread: {:.2} % / {:.2} %; driver + audio loop: \
         {:.2} % / {:.2} %",
        own_on.percent(own_on.reactor),
        own_off.percent(own_off.reactor),
        own_on.sdk(),
        own_off.sdk()
    );
    println!(
        "  the same with G.711 PCMU instead of Opus: {:.2} % with echo cancellation, {:.2} % \
         without (driver + audio loop {:.2} % / {:.2} %)",
        own_pcmu_on.percent(own_pcmu_on.all),
        own_pcmu_off.percent(own_pcmu_off.all),
        own_pcmu_on.sdk(),
        own_pcmu_off.sdk()
    );
    println!(
        "CPU per call-second, whole process incl. the fake cloud's media peer: {:.2} % / {:.2} % \
         of one core",
        on.percent(on.all),
        off.percent(off.all)
    );
    println!(
        "RSS during the call (whole process incl. fake cloud): {:.1} MB",
        on.rss_kib as f64 / 1024.0
    );
    server.shutdown();
    Ok(())
}
