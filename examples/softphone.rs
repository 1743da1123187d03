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
//! seconds if given, or when you press Enter. `--max-calls N` exits after N calls have ended.
//! Audio devices here are a tone generator and a WAV file, unless the example is built with the
//! `alsa` feature and given `--mic ID` or `--speaker ID`: then the audio loop opens ALSA devices
//! (`--list-devices` prints their ids) by the Device ID rules, with the given ids as the SDK
//! defaults and ALSA's `default` for the other one.
//!
//! ```text
//! cargo run -p genesys-webrtc-examples --features alsa --example softphone -- --list-devices
//! cargo run -p genesys-webrtc-examples --features alsa --example softphone -- \
//!     --mic plughw:CARD=Headset,DEV=0 --speaker default
//! ```
//!
//! Private deployments and test clouds: `--api-host URL` and `--ws-host URL` replace the hosts
//! derived from ENV (`https://api.ENV`, `wss://streaming.ENV`), `--ca-file` adds a trusted CA and
//! `--media-address IP` binds media on one local address. The separate `fake-cloud` binary
//! (`cargo run -p genesys-webrtc-sim --bin fake-cloud`) is such a cloud: it prints the values to
//! pass and rings on `ring` (see `scripts/device-bench.sh`). This real mode is the only one of a
//! build without the `fake-cloud` feature (the device build).

use std::net::IpAddr;
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
use genesys_webrtc_smol::SmolClock;

const USAGE: &str = "\
usage: softphone [--hangup-after SECS] [--wav PATH] [--dtmf DIGITS]
       softphone --environment ENV --token TOKEN [--ca-file PEM] [--hangup-after SECS]
                 [--max-calls N] [--api-host URL] [--ws-host URL] [--media-address IP]
                 [--wav PATH] [--dtmf DIGITS] [--no-echo-cancellation]
       softphone --list-devices                     (with the alsa feature)
       softphone [...] [--mic ID] [--speaker ID]    (with the alsa feature)

Without --environment a fake Genesys Cloud runs in this process and places one call.

  --environment ENV    Genesys Cloud environment, e.g. mypurecloud.com
  --token TOKEN        the user's OAuth access token
  --ca-file PEM        also trust the CA certificates in this PEM file
  --hangup-after SECS  hang up each answered call after SECS seconds (default with the
                       built-in cloud: 3; otherwise the far end or Enter ends a call)
  --max-calls N        exit after N calls have ended (default: run until Ctrl-C)
  --api-host URL       REST base instead of https://api.ENV, e.g. https://127.0.0.1:8443
  --ws-host URL        streaming base instead of wss://streaming.ENV
                       (these two are for private deployments and test clouds such as the
                       fake-cloud binary of genesys-webrtc-sim)
  --media-address IP   bind media on this local address only (default: every interface;
                       a test cloud on 127.0.0.1 needs 127.0.0.1)
  --wav PATH           where to write the far end's audio (default $TMPDIR/softphone-far-end.wav)
  --dtmf DIGITS        DTMF to send once a call is connected (default 1234#)
  --no-echo-cancellation
                       run the audio loop without the echo canceller (it is on by default;
                       scripts/device-bench.sh uses this to show what it costs in memory)
  --list-devices       print the ALSA capture and playback devices (ids and labels) and exit
  --mic ID             ALSA microphone (an id from --list-devices, e.g. default or
                       plughw:CARD=Headset,DEV=0) instead of the 440 Hz tone
  --speaker ID         ALSA speaker instead of the WAV file (with either of these two, the
                       other one is ALSA's default device)";

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
    max_calls: Option<u32>,
    api_host: Option<String>,
    ws_host: Option<String>,
    media_address: Option<IpAddr>,
    wav: PathBuf,
    dtmf: String,
    echo_cancellation: bool,
    list_devices: bool,
    mic: Option<String>,
    speaker: Option<String>,
}

impl Args {
    /// Whether the audio loop runs on ALSA devices (`--mic` or `--speaker` given).
    fn alsa_audio(&self) -> bool {
        self.mic.is_some() || self.speaker.is_some()
    }
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        environment: None,
        token: None,
        ca_file: None,
        hangup_after: None,
        max_calls: None,
        api_host: None,
        ws_host: None,
        media_address: None,
        wav: std::env::temp_dir().join("softphone-far-end.wav"),
        dtmf: "1234#".into(),
        echo_cancellation: true,
        list_devices: false,
        mic: None,
        speaker: None,
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
            "--api-host" => a.api_host = Some(value("--api-host")?),
            "--ws-host" => a.ws_host = Some(value("--ws-host")?),
            "--media-address" => {
                let v = value("--media-address")?;
                a.media_address = Some(
                    v.parse()
                        .map_err(|_| format!("bad --media-address {v:?}"))?,
                );
            }
            "--max-calls" => {
                let v = value("--max-calls")?;
                match v.parse::<u32>() {
                    Ok(n) if n > 0 => a.max_calls = Some(n),
                    _ => return Err(format!("bad --max-calls {v:?} (a count from 1)")),
                }
            }
            "--hangup-after" => {
                let v = value("--hangup-after")?;
                let secs: f64 = v.parse().map_err(|_| format!("bad --hangup-after {v:?}"))?;
                if !(0.0..=86_400.0).contains(&secs) {
                    return Err("--hangup-after must be 0..86400 seconds".into());
                }
                a.hangup_after = Some(secs);
            }
            "--no-echo-cancellation" => a.echo_cancellation = false,
            "--list-devices" => a.list_devices = true,
            "--mic" => a.mic = Some(value("--mic")?),
            "--speaker" => a.speaker = Some(value("--speaker")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if (a.list_devices || a.alsa_audio()) && !cfg!(feature = "alsa") {
        return Err("--list-devices, --mic and --speaker need a build with --features alsa".into());
    }
    if a.environment.is_some() != a.token.is_some() {
        return Err("--environment and --token go together".into());
    }
    if a.environment.is_none()
        && (a.api_host.is_some()
            || a.ws_host.is_some()
            || a.ca_file.is_some()
            || a.media_address.is_some())
    {
        return Err(
            "--api-host, --ws-host, --ca-file and --media-address need --environment".into(),
        );
    }
    Ok(a)
}

fn main() -> ExitCode {
    genesys_webrtc_examples::init_logging();
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
    if args.list_devices {
        return alsa_audio::list_devices();
    }
    let start = Instant::now();
    let stamp = move || format!("[{:>8.1} ms]", start.elapsed().as_secs_f64() * 1000.0);
    let mut fake: Option<BuiltInCloud> = None;
    let mut options = match (&args.environment, &args.token) {
        (Some(env), Some(token)) => {
            let mut b = SdkOptions::builder()
                .environment(env.as_str())
                .access_token(token.as_str());
            if let Some(path) = &args.ca_file {
                let pem = std::fs::read(path).map_err(|e| format!("--ca-file {path}: {e}"))?;
                b = b.extra_root_certificates_pem(pem);
            }
            if let Some(url) = &args.api_host {
                b = b.api_host(url.as_str());
            }
            if let Some(url) = &args.ws_host {
                b = b.ws_host(url.as_str());
            }
            if let Some(ip) = args.media_address {
                b = b.media_bind_address(ip);
            }
            b.build()?
        }
        _ => {
            let (cloud, o) = BuiltInCloud::start()?;
            println!("{} {}", stamp(), cloud.describe());
            fake = Some(cloud);
            o
        }
    };
    options.echo_cancellation = args.echo_cancellation;
    let hangup_after = args.hangup_after.or(fake.as_ref().map(|_| 3.0));

    let (sdk, thread) = genesys_webrtc_smol::start(options)?;
    // This thread and the audio loop's wait with `futures::executor::block_on`, as the SDK's
    // thread does: no thread then takes turns at driving async-io's reactor (see
    // `genesys_webrtc_smol::start`), which costs context switches on every event.
    let mut events = sdk.events();
    if args.alsa_audio() {
        // The chosen devices become the SDK defaults; the other kind stays the system default.
        sdk.update_default_devices(genesys_webrtc::engine::DefaultDevicesUpdate {
            audio_device_id: Some(args.mic.clone()),
            output_device_id: Some(args.speaker.clone()),
            ..Default::default()
        });
    }
    futures::executor::block_on(sdk.initialize(InitializeOptions::default()))?;
    println!("{} ready", stamp());
    if let Some(cloud) = &mut fake {
        cloud.place_call();
    }
    if fake.is_none() {
        println!(
            "{} waiting for calls (Enter hangs up the current call, Ctrl-C quits)",
            stamp()
        );
    }

    let mut last_stats: Option<CallStats> = None;
    let mut calls_ended: u32 = 0;
    let mut audio: Option<(std::thread::JoinHandle<()>, Arc<AtomicBool>)> = None;
    let mut hangup_at: Option<Instant> = None;
    let mut dtmf_in = String::new();
    let mut current: Option<String> = None;
    // In real mode, Enter on the terminal hangs up the current call.
    let (key_tx, mut keys) = futures::channel::mpsc::unbounded::<()>();
    if fake.is_none() {
        // Named threads: the device benchmark names each thread's stack in its memory breakdown.
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                let mut line = String::new();
                while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
                    line.clear();
                    if key_tx.unbounded_send(()).is_err() {
                        break;
                    }
                }
            })?;
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
        let wake = futures::executor::block_on(async {
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
                futures::executor::block_on(sdk.end_session(&id))?;
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
                futures::executor::block_on(sdk.accept_pending_session(&p.id))?;
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
                        audio = Some(if args.alsa_audio() {
                            alsa_audio::start(&sdk)?
                        } else {
                            start_audio(&sdk, &args.wav)?
                        });
                        futures::executor::block_on(sdk.send_dtmf(session_id, &args.dtmf))?;
                        println!("{} sending DTMF {:?}", stamp(), args.dtmf);
                        if let Some(cloud) = &fake {
                            cloud.send_dtmf("9*")?;
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
                SessionEvent::SelectedPath(p) => {
                    let kind = if p.relayed {
                        "relay (TURN)"
                    } else {
                        "direct (host or server-reflexive)"
                    };
                    println!(
                        "{} selected candidate pair: {kind}, local {} -> remote {}",
                        stamp(),
                        p.local,
                        p.remote
                    );
                }
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
                // The SDK sends a last stats snapshot just before the session ends.
                if let Some(s) = last_stats.take() {
                    print_stats(&s);
                }
                println!("DTMF received: {:?}", std::mem::take(&mut dtmf_in));
                calls_ended += 1;
                if fake.is_some() || args.max_calls.is_some_and(|n| calls_ended >= n) {
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
    if calls_ended == 0 {
        println!("DTMF received: {dtmf_in:?}");
    }
    if let Some(cloud) = &fake {
        println!("far end received DTMF: {:?}", cloud.received_dtmf());
    }
    if !args.alsa_audio() {
        println!("far end's audio written to {}", args.wav.display());
    }
    futures::executor::block_on(sdk.disconnect());
    drop(events);
    drop(sdk);
    let _ = thread.join();
    if let Some(cloud) = fake {
        cloud.shutdown();
    }
    Ok(())
}

fn print_stats(s: &CallStats) {
    println!(
        "call stats: rtt {} ms, jitter {:.1} ms, loss {:.1} %, packets sent {}, received {}, concealed {}, recovered by FEC {}",
        s.rtt_ms.map(|r| format!("{r:.1}")).unwrap_or_else(|| "-".into()),
        s.jitter_ms,
        s.loss * 100.0,
        s.packets_sent,
        s.packets_received,
        s.concealed,
        s.fec_recovered
    );
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
    let handle = std::thread::Builder::new()
        .name("audio".into())
        .spawn(move || {
            // Ten-second chunks so the stop flag is seen; each chunk keeps the 20 ms cadence.
            let clock = SmolClock::new();
            let mut capture = Some(capture);
            let mut playout = Some(playout);
            while !flag.load(Ordering::Relaxed) {
                let c = capture.take();
                let p = playout.take();
                let (c, p, r) = futures::executor::block_on(async {
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
        })?;
    Ok((handle, stop))
}

/// The audio loop on ALSA devices (builds with the `alsa` feature).
#[cfg(feature = "alsa")]
mod alsa_audio {
    use super::*;
    use genesys_webrtc::local_audio::run_audio_devices;
    use genesys_webrtc_alsa::AlsaDevices;
    use genesys_webrtc_hal::AudioDevices as _;

    /// Prints the ALSA devices: kind, id, label, and which is the system default.
    pub(crate) fn list_devices() -> Result<(), Box<dyn std::error::Error>> {
        for d in AlsaDevices::new().list()? {
            let kind = match d.kind {
                genesys_webrtc_hal::MediaKind::AudioInput => "mic",
                genesys_webrtc_hal::MediaKind::AudioOutput => "speaker",
                genesys_webrtc_hal::MediaKind::VideoInput => "camera",
            };
            let default = if d.is_system_default {
                "  (system default)"
            } else {
                ""
            };
            println!("{kind:<8} {:<40} {}{default}", d.id, d.label);
        }
        Ok(())
    }

    /// Runs `run_audio_devices` on the ALSA devices until the stop flag is set; the devices
    /// follow the SDK's media route (defaults, device switches, fallback on errors).
    pub(crate) fn start(
        sdk: &Sdk,
    ) -> Result<(std::thread::JoinHandle<()>, Arc<AtomicBool>), Box<dyn std::error::Error>> {
        let stop = Arc::new(AtomicBool::new(false));
        let (sdk, flag) = (sdk.clone(), Arc::clone(&stop));
        let handle = std::thread::Builder::new()
            .name("audio".into())
            .spawn(move || {
                let clock = SmolClock::new();
                let devices = AlsaDevices::new();
                let stopped = async {
                    while !flag.load(Ordering::Relaxed) {
                        smol::Timer::after(Duration::from_millis(50)).await;
                    }
                };
                let run = run_audio_devices(&sdk, &clock, &devices, None);
                futures::executor::block_on(async {
                    futures::pin_mut!(run, stopped);
                    if let futures::future::Either::Left((Err(e), _)) =
                        futures::future::select(run, stopped).await
                    {
                        eprintln!("audio loop stopped: {e}");
                    }
                });
            })?;
        Ok((handle, stop))
    }
}

/// Without the `alsa` feature the ALSA flags are refused when parsed, so these never run.
#[cfg(not(feature = "alsa"))]
mod alsa_audio {
    use super::*;

    pub(crate) fn list_devices() -> Result<(), Box<dyn std::error::Error>> {
        Err("this build has no ALSA backend (feature `alsa`)".into())
    }

    pub(crate) fn start(
        _sdk: &Sdk,
    ) -> Result<(std::thread::JoinHandle<()>, Arc<AtomicBool>), Box<dyn std::error::Error>> {
        Err("this build has no ALSA backend (feature `alsa`)".into())
    }
}

#[cfg(feature = "fake-cloud")]
use built_in::BuiltInCloud;
#[cfg(not(feature = "fake-cloud"))]
use no_built_in::BuiltInCloud;

/// The fake Genesys Cloud on 127.0.0.1 that rings once (builds with the `fake-cloud` feature).
#[cfg(feature = "fake-cloud")]
mod built_in {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use genesys_webrtc_sim::cloud::{
        CallId, CallOptions, CloudConfig, IceServerConfig, DEFAULT_TURN_PASSWORD,
        DEFAULT_TURN_USERNAME,
    };
    use genesys_webrtc_sim::tls_server::FakeCloudServer;
    use genesys_webrtc_sim::turn::TurnServerThread;

    pub(crate) struct BuiltInCloud {
        server: FakeCloudServer,
        /// The STUN and TURN server announced by discovery (serves until dropped).
        _ice: TurnServerThread,
        call: Option<CallId>,
    }

    impl BuiltInCloud {
        /// Starts the server and returns SDK options that trust its throw-away CA.
        pub(crate) fn start() -> Result<(Self, SdkOptions), Box<dyn std::error::Error>> {
            let mut config = CloudConfig::for_environment("fake.genesys.test");
            // A real STUN/TURN server on loopback, announced by address (the default entries
            // name hosts of the fake environment, which do not resolve here).
            let ice = TurnServerThread::start(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                DEFAULT_TURN_USERNAME,
                DEFAULT_TURN_PASSWORD,
            )?;
            let (ip, port) = (ice.addr().ip().to_string(), ice.addr().port());
            config.stun_servers = vec![IceServerConfig::stun(&ip, port)];
            config.turn_servers = vec![IceServerConfig::turn(
                &ip,
                port,
                "udp",
                DEFAULT_TURN_USERNAME,
                DEFAULT_TURN_PASSWORD,
            )];
            let token = config.access_token.clone();
            let server =
                FakeCloudServer::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
            let options = SdkOptions::builder()
                .environment(server.environment())
                .api_host(server.api_host())
                .ws_host(server.ws_host())
                .extra_root_certificates_pem(server.ca_cert_pem().as_bytes().to_vec())
                .access_token(token)
                .media_bind_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .build()?;
            Ok((
                Self {
                    server,
                    _ice: ice,
                    call: None,
                },
                options,
            ))
        }

        pub(crate) fn describe(&self) -> String {
            format!(
                "fake cloud at {} (media {})",
                self.server.api_host(),
                self.server.media_addr()
            )
        }

        /// Rings the user: the far end plays 1 kHz.
        pub(crate) fn place_call(&mut self) {
            let call = self.server.with_cloud(|c| {
                c.place_inbound_call(
                    Instant::now(),
                    CallOptions {
                        tone_hz: 1000.0,
                        ..CallOptions::default()
                    },
                )
            });
            self.call = Some(call);
        }

        pub(crate) fn send_dtmf(&self, digits: &str) -> Result<(), Box<dyn std::error::Error>> {
            if let Some(call) = self.call {
                self.server.with_cloud(|c| c.send_dtmf(call, digits))?;
            }
            Ok(())
        }

        pub(crate) fn received_dtmf(&self) -> String {
            self.call
                .map(|call| self.server.with_cloud(|c| c.received_dtmf(call)))
                .unwrap_or_default()
        }

        pub(crate) fn shutdown(self) {
            self.server.shutdown();
        }
    }
}

/// A device build without the fake cloud: the type has no values, so every use is unreachable.
#[cfg(not(feature = "fake-cloud"))]
mod no_built_in {
    use super::*;

    pub(crate) enum BuiltInCloud {}

    impl BuiltInCloud {
        pub(crate) fn start() -> Result<(Self, SdkOptions), Box<dyn std::error::Error>> {
            Err(
                "this build has no built-in fake cloud (feature `fake-cloud`): \
                 pass --environment ENV --token TOKEN"
                    .into(),
            )
        }
        pub(crate) fn describe(&self) -> String {
            match *self {}
        }
        pub(crate) fn place_call(&mut self) {
            match *self {}
        }
        pub(crate) fn send_dtmf(&self, _: &str) -> Result<(), Box<dyn std::error::Error>> {
            match *self {}
        }
        pub(crate) fn received_dtmf(&self) -> String {
            match *self {}
        }
        pub(crate) fn shutdown(self) {
            match self {}
        }
    }
}
