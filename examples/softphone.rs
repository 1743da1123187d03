//! A softphone: answers calls, sends a 440 Hz tone, writes the far end's audio to a WAV file,
//! sends DTMF, hangs up, and prints the timeline and call statistics.
//!
//! ```text
//! cargo run --release -p genesys-webrtc-examples --example softphone                  # built-in fake cloud
//! cargo run --release -p genesys-webrtc-examples --example softphone -- \
//!     --environment mypurecloud.com --token "$TOKEN" [--ca-file PEM] [--hangup-after SECS]
//! ```
//!
//! Without `--environment` it starts a fake Genesys Cloud on 127.0.0.1 (HTTPS + WSS with a
//! throw-away test CA, UDP media), which rings once; the call is answered, runs for
//! `--hangup-after` seconds (default 3) and is hung up. With a real environment it waits for
//! calls and answers each one; a call ends when the far end hangs up, after `--hangup-after`
//! seconds if given, or when you press Enter. Audio devices here are a tone generator and a WAV
//! file (ALSA is a separate backend).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};
use genesys_webrtc::local_audio::run_local_audio;
use genesys_webrtc::session::events::{CallStats, SessionEvent};
use genesys_webrtc::{InitializeOptions, Sdk, SdkEvent, SdkOptions};
use genesys_webrtc_hal::{AudioFormat, FrameDuration};
use genesys_webrtc_sim::audio::{ToneCapture, WavPlayout};
use genesys_webrtc_sim::cloud::{CallOptions, CloudConfig};
use genesys_webrtc_sim::tls_server::FakeCloudServer;
use genesys_webrtc_smol::SmolClock;

const USAGE: &str = "\
usage: softphone [--hangup-after SECS] [--wav PATH] [--dtmf DIGITS]
       softphone --environment ENV --token TOKEN [--ca-file PEM] [--hangup-after SECS] [--wav PATH]

Without --environment a fake Genesys Cloud runs in this process and places one call.";

const FORMAT: AudioFormat = AudioFormat {
    sample_rate: 48_000,
    channels: 1,
    frame: FrameDuration::Ms20,
};

struct Args {
    environment: Option<String>,
    token: Option<String>,
    ca_file: Option<String>,
    hangup_after: Option<f64>,
    wav: PathBuf,
    dtmf: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        environment: None,
        token: None,
        ca_file: None,
        hangup_after: None,
        wav: std::env::temp_dir().join("softphone-far-end.wav"),
        dtmf: "1234#".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--environment" => a.environment = Some(value("--environment")?),
            "--token" => a.token = Some(value("--token")?),
            "--ca-file" => a.ca_file = Some(value("--ca-file")?),
            "--wav" => a.wav = PathBuf::from(value("--wav")?),
            "--dtmf" => a.dtmf = value("--dtmf")?,
            "--hangup-after" => {
                let v = value("--hangup-after")?;
                let secs: f64 = v.parse().map_err(|_| format!("bad --hangup-after {v:?}"))?;
                if !(0.0..=86_400.0).contains(&secs) {
                    return Err("--hangup-after must be 0..86400 seconds".into());
                }
                a.hangup_after = Some(secs);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.environment.is_some() != a.token.is_some() {
        return Err("--environment and --token go together".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match parse_args() {
        Ok(args) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}\n");
            }
            eprintln!("{USAGE}");
            if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let stamp = move || format!("[{:>8.1} ms]", start.elapsed().as_secs_f64() * 1000.0);
    let mut fake = None;
    let options = match (&args.environment, &args.token) {
        (Some(env), Some(token)) => {
            let mut b = SdkOptions::builder()
                .environment(env.as_str())
                .access_token(token.as_str());
            if let Some(path) = &args.ca_file {
                b = b.extra_root_certificates_pem(std::fs::read(path)?);
            }
            b.build()?
        }
        _ => {
            let config = CloudConfig::for_environment("fake.genesys.test");
            let token = config.access_token.clone();
            let server =
                FakeCloudServer::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
            println!(
                "{} fake cloud at {} (media {})",
                stamp(),
                server.api_host(),
                server.media_addr()
            );
            let o = SdkOptions::builder()
                .environment(server.environment())
                .api_host(server.api_host())
                .ws_host(server.ws_host())
                .extra_root_certificates_pem(server.ca_cert_pem().as_bytes().to_vec())
                .access_token(token)
                .media_bind_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .build()?;
            fake = Some(server);
            o
        }
    };
    let hangup_after = args.hangup_after.or(fake.as_ref().map(|_| 3.0));

    let (sdk, thread) = genesys_webrtc_smol::start(options)?;
    let mut events = sdk.events();
    smol::block_on(sdk.initialize(InitializeOptions::default()))?;
    println!("{} ready", stamp());
    let far_end_call = fake.as_ref().map(|s| {
        s.with_cloud(|c| {
            c.place_inbound_call(
                Instant::now(),
                CallOptions {
                    tone_hz: 1000.0,
                    ..CallOptions::default()
                },
            )
        })
    });
    if fake.is_none() {
        println!(
            "{} waiting for calls (Enter hangs up the current call, Ctrl-C quits)",
            stamp()
        );
    }

    let mut last_stats: Option<CallStats> = None;
    let mut audio: Option<(std::thread::JoinHandle<()>, Arc<AtomicBool>)> = None;
    let mut hangup_at: Option<Instant> = None;
    let mut dtmf_in = String::new();
    let mut current: Option<String> = None;
    // In real mode, Enter on the terminal hangs up the current call.
    let (key_tx, mut keys) = futures::channel::mpsc::unbounded::<()>();
    if fake.is_none() {
        std::thread::spawn(move || {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
                line.clear();
                if key_tx.unbounded_send(()).is_err() {
                    break;
                }
            }
        });
    } else {
        drop(key_tx);
    }
    loop {
        let timeout = hangup_at
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600));
        enum Wake {
            Event(Option<SdkEvent>),
            HangUp,
            KeysGone,
        }
        let wake = smol::block_on(async {
            futures::select! {
                e = events.next().fuse() => Wake::Event(e),
                k = keys.next() => if k.is_some() { Wake::HangUp } else { Wake::KeysGone },
                _ = futures::FutureExt::fuse(smol::Timer::after(timeout)) => Wake::HangUp,
            }
        });
        let next = match wake {
            Wake::Event(e) => Some(e),
            Wake::HangUp => None,
            // stdin closed (or fake mode): the stream is finished and select! skips it now.
            Wake::KeysGone => continue,
        };
        let Some(event) = next else {
            // --hangup-after elapsed, or Enter was pressed
            if let Some(id) = current.clone() {
                println!("{} hanging up", stamp());
                smol::block_on(sdk.end_session(&id))?;
            }
            hangup_at = None;
            continue;
        };
        let Some(event) = event else { break };
        match &event {
            SdkEvent::PendingSession(p) => {
                println!(
                    "{} incoming call from {} (conversation {})",
                    stamp(),
                    p.address,
                    p.conversation_id
                );
                smol::block_on(sdk.accept_pending_session(&p.id))?;
                println!("{} answered", stamp());
            }
            SdkEvent::SessionStarted(s) => {
                println!("{} session started ({:?})", stamp(), s.mode);
                current = Some(s.id.clone());
            }
            SdkEvent::Session { session_id, event } => match event {
                SessionEvent::ConnectionState(state) => {
                    println!("{} connection {:?}", stamp(), state);
                    if *state == genesys_webrtc::session::events::ConnectionState::Connected
                        && audio.is_none()
                    {
                        audio = Some(start_audio(&sdk, &args.wav)?);
                        smol::block_on(sdk.send_dtmf(session_id, &args.dtmf))?;
                        println!("{} sending DTMF {:?}", stamp(), args.dtmf);
                        if let (Some(server), Some(call)) = (&fake, far_end_call) {
                            server.with_cloud(|c| c.send_dtmf(call, "9*"))?;
                        }
                        hangup_at =
                            hangup_after.map(|s| Instant::now() + Duration::from_secs_f64(s));
                    }
                }
                SessionEvent::DtmfReceived(d) => {
                    dtmf_in.push(*d);
                    println!("{} DTMF received: {d}", stamp());
                }
                SessionEvent::Stats(s) => last_stats = Some(*s),
                SessionEvent::Terminated { reason } => {
                    println!("{} terminated: {}", stamp(), reason.as_str());
                }
                _ => {}
            },
            SdkEvent::SessionEnded { reason, .. } => {
                println!("{} session ended ({})", stamp(), reason.as_str());
                current = None;
                hangup_at = None;
                if let Some((handle, stop)) = audio.take() {
                    stop.store(true, Ordering::Relaxed);
                    let _ = handle.join();
                }
                if fake.is_some() {
                    break;
                }
            }
            SdkEvent::Error(e) => println!("{} error {:?}: {}", stamp(), e.kind, e.details),
            SdkEvent::Disconnected { reconnecting, .. } => {
                println!("{} disconnected (reconnecting: {reconnecting})", stamp())
            }
            SdkEvent::Connected { reconnect } => {
                println!("{} connected (reconnect: {reconnect})", stamp())
            }
            _ => {}
        }
    }
    if let Some(s) = last_stats {
        println!(
            "call stats: rtt {} ms, jitter {:.1} ms, loss {:.1} %, packets sent {}, received {}, concealed {}",
            s.rtt_ms.map(|r| format!("{r:.1}")).unwrap_or_else(|| "-".into()),
            s.jitter_ms,
            s.loss * 100.0,
            s.packets_sent,
            s.packets_received,
            s.concealed
        );
    }
    println!("DTMF received: {dtmf_in:?}");
    if let (Some(server), Some(call)) = (&fake, far_end_call) {
        println!(
            "far end received DTMF: {:?}",
            server.with_cloud(|c| c.received_dtmf(call))
        );
    }
    println!("far end's audio written to {}", args.wav.display());
    smol::block_on(sdk.disconnect());
    drop(events);
    drop(sdk);
    let _ = thread.join();
    if let Some(server) = fake {
        server.shutdown();
    }
    Ok(())
}

/// Starts the audio loop: a 440 Hz tone out, the far end's audio into a WAV file.
fn start_audio(
    sdk: &Sdk,
    wav: &PathBuf,
) -> Result<(std::thread::JoinHandle<()>, Arc<AtomicBool>), Box<dyn std::error::Error>> {
    let capture = ToneCapture::new(440.0, FORMAT)?;
    let playout = WavPlayout::create(wav, FORMAT)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (sdk, flag) = (sdk.clone(), Arc::clone(&stop));
    let handle = std::thread::spawn(move || {
        // Ten-second chunks so the stop flag is seen; each chunk keeps the 20 ms cadence.
        let clock = SmolClock::new();
        let mut capture = Some(capture);
        let mut playout = Some(playout);
        while !flag.load(Ordering::Relaxed) {
            let c = capture.take();
            let p = playout.take();
            let (c, p, r) = smol::block_on(async {
                let mut c = c;
                let mut p = p;
                let r = run_local_audio(&sdk, &clock, c.as_mut(), p.as_mut(), Some(5)).await;
                (c, p, r)
            });
            capture = c;
            playout = p;
            if r.is_err() {
                break;
            }
        }
        if let Some(p) = playout {
            let _ = p.close();
        }
    });
    Ok((handle, stop))
}
