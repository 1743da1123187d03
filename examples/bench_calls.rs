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
//! fake cloud's media peer runs in the same process), and the process RSS. The audio loop's
//! thread reads its own CPU time just before it ends (an ended thread is gone from
//! `/proc/self/task`, so sampling it after `join` would count nothing). The driver thread's
//! context switches per second count its wake-ups. The baseline, measured in the same run, is one
//! UDP round trip on loopback; ratios are against it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use genesys_webrtc::local_audio::run_local_audio;
use genesys_webrtc::session::events::{ConnectionState, SessionEvent};
use genesys_webrtc::{InitializeOptions, SdkEvent, SdkOptions};
use genesys_webrtc_hal::{AudioFormat, FrameDuration};
use genesys_webrtc_sim::audio::{NullPlayout, ToneCapture};
use genesys_webrtc_sim::cloud::{CallOptions, CloudConfig};
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

/// CPU seconds (user + system) from a `/proc/.../stat` line.
fn stat_cpu_seconds(stat: &str) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
                       // Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let stime: f64 = f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    (utime + stime) / ticks
}

/// CPU seconds of the calling thread (read by the audio thread itself before it ends: a thread
/// that has ended is no longer in `/proc/self/task`).
fn own_thread_cpu_seconds() -> f64 {
    stat_cpu_seconds(&std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default())
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
        total += stat_cpu_seconds(&std::fs::read_to_string(path.join("stat")).unwrap_or_default());
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(20);
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
    let token = server.with_cloud(|c| c.config().access_token.clone());
    let options = SdkOptions::builder()
        .environment(server.environment())
        .api_host(server.api_host())
        .ws_host(server.ws_host())
        .extra_root_certificates_pem(server.ca_cert_pem().as_bytes().to_vec())
        .access_token(token)
        .media_bind_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .build()?;
    let (sdk, thread) = genesys_webrtc_smol::start(options)?;
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

    // One call with audio both ways: CPU per call-second.
    server.with_cloud(|c| c.place_inbound_call(Instant::now(), CallOptions::default()));
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
    let stop = Arc::new(AtomicBool::new(false));
    let audio_sdk = sdk.clone();
    let ticks = audio_secs * 50;
    let audio = std::thread::Builder::new()
        .name("genesys-audio".into())
        .spawn(move || {
            let cpu0 = own_thread_cpu_seconds();
            let mut capture = ToneCapture::new(440.0, FORMAT).ok();
            let mut playout = NullPlayout::new(FORMAT).ok();
            let _ = smol::block_on(run_local_audio(
                &audio_sdk,
                &SmolClock::new(),
                capture.as_mut(),
                playout.as_mut(),
                Some(ticks),
            ));
            // Read here: once the thread has ended its figures are gone from /proc.
            own_thread_cpu_seconds() - cpu0
        })?;
    let driver_cpu0 = cpu_seconds("genesys-webrtc");
    let reactor_cpu0 = cpu_seconds("async-io");
    let all_cpu0 = cpu_seconds("");
    let switches0 = context_switches("genesys-webrtc");
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(audio_secs / 2));
    let rss = rss_kib();
    let audio_cpu = audio.join().unwrap_or(0.0);
    let wall = t0.elapsed().as_secs_f64();
    let driver_cpu = cpu_seconds("genesys-webrtc") - driver_cpu0;
    let reactor_cpu = cpu_seconds("async-io") - reactor_cpu0;
    // The audio thread has ended: its CPU is not in the process's task list any more.
    let all_cpu = cpu_seconds("") - all_cpu0 + audio_cpu;
    let switches = context_switches("genesys-webrtc") - switches0;
    stop.store(true, Ordering::Relaxed);
    println!(
        "CPU per call-second, SDK threads (driver + audio loop): {:.2} % of one core   target < 1 %",
        100.0 * (driver_cpu + audio_cpu) / wall
    );
    println!(
        "  of which the SDK driver thread (engine, str0m, codecs): {:.2} %; the audio loop thread \
         (device I/O, echo cancellation): {:.2} %",
        100.0 * driver_cpu / wall,
        100.0 * audio_cpu / wall
    );
    println!(
        "  driver thread wake-ups (context switches): {:.0} per second",
        switches as f64 / wall
    );
    println!(
        "  the async-io reactor thread (timers and sockets of the SDK and the fake cloud): {:.2} %",
        100.0 * reactor_cpu / wall
    );
    println!(
        "CPU per call-second, whole process incl. the fake cloud's media peer: {:.2} % of one core",
        100.0 * all_cpu / wall
    );
    println!(
        "RSS during the call (whole process incl. fake cloud): {:.1} MB",
        rss as f64 / 1024.0
    );
    smol::block_on(sdk.end_session(&sid)).ok();
    smol::block_on(sdk.disconnect());
    drop(events);
    drop(sdk);
    let _ = thread.join();
    server.shutdown();
    Ok(())
}
