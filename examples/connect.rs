//! Connects to Genesys Cloud (or the built-in fake cloud) and prints the SDK's events with
//! timestamps.
//!
//! ```text
//! cargo run -p genesys-webrtc-examples --example connect                      # fake cloud, as a user
//! cargo run -p genesys-webrtc-examples --example connect -- --guest           # fake cloud, as a guest
//! cargo run -p genesys-webrtc-examples --example connect -- \
//!     --environment mypurecloud.com --token "$TOKEN" [--ca-file extra-ca.pem]  # a real environment
//! ```
//!
//! With the fake cloud it initializes, stays connected for `--duration` seconds (default 3),
//! forces one reconnect to show the `connected { reconnect: true }` event, and disconnects. With
//! a real environment it stays connected until you press Enter (or for `--duration` seconds).
//! Set `RUST_LOG=debug` for the SDK's logs; secrets are never in them.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use genesys_webrtc::{InitializeOptions, SdkEvent, SdkOptions, Secret};
use genesys_webrtc_sim::cloud::CloudConfig;
use genesys_webrtc_sim::tls_server::FakeCloudServer;

const USAGE: &str = "\
usage: connect [--guest] [--duration SECS]
       connect --environment ENV --token TOKEN [--ca-file PEM] [--duration SECS]
       connect --environment ENV --organization-id ORG --security-code CODE [--ca-file PEM]

Without --environment the example starts a fake Genesys Cloud on 127.0.0.1 (HTTPS + WSS with a
throw-away test CA) and connects to it. api.ENV and streaming.ENV are resolved by the system
resolver for a real environment; --ca-file adds a trusted root (private deployments, test clouds).";

#[derive(Default)]
struct Args {
    environment: Option<String>,
    token: Option<String>,
    organization_id: Option<String>,
    security_code: Option<String>,
    ca_file: Option<String>,
    guest: bool,
    duration: Option<f64>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--environment" => a.environment = Some(value("--environment")?),
            "--token" => a.token = Some(value("--token")?),
            "--organization-id" => a.organization_id = Some(value("--organization-id")?),
            "--security-code" => a.security_code = Some(value("--security-code")?),
            "--ca-file" => a.ca_file = Some(value("--ca-file")?),
            "--guest" => a.guest = true,
            "--duration" => {
                let v = value("--duration")?;
                a.duration = Some(v.parse().map_err(|_| format!("bad --duration {v:?}"))?);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    genesys_webrtc_examples::init_logging();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}\n");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let stamp = move || format!("[{:>9.1} ms]", start.elapsed().as_secs_f64() * 1000.0);

    // Either a real environment or the fake cloud on loopback.
    let mut fake = None;
    let mut builder = SdkOptions::builder();
    let mut security_code = None;
    let fake_mode = args.environment.is_none();
    if let Some(env) = &args.environment {
        builder = builder.environment(env.as_str());
        match (&args.token, &args.organization_id) {
            (Some(t), _) => builder = builder.access_token(t.as_str()),
            (None, Some(org)) => {
                builder = builder.organization_id(org.as_str());
                security_code = args.security_code.clone().map(Secret::new);
            }
            (None, None) => return Err("--environment needs --token or --organization-id".into()),
        }
        if let Some(path) = &args.ca_file {
            builder = builder.extra_root_certificates_pem(std::fs::read(path)?);
        }
    } else {
        let config = CloudConfig::for_environment("fake.genesys.test");
        let (token, org, code) = (
            config.access_token.clone(),
            config.organization_id.clone(),
            config.security_code.clone(),
        );
        let server = FakeCloudServer::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        println!(
            "{} fake cloud: environment={} api_host={} ws_host={}",
            stamp(),
            server.environment(),
            server.api_host(),
            server.ws_host()
        );
        builder = builder
            .environment(server.environment())
            .api_host(server.api_host())
            .ws_host(server.ws_host())
            .extra_root_certificates_pem(server.ca_cert_pem().as_bytes().to_vec());
        builder = if args.guest {
            security_code = Some(Secret::new(code));
            builder.organization_id(org)
        } else {
            builder.access_token(token)
        };
        fake = Some(server);
    }
    let options = builder.build()?;
    let guest = options.is_guest();

    let (sdk, thread) = genesys_webrtc_smol::start(options)?;
    let mut events = sdk.events();
    let printer = std::thread::spawn(move || {
        smol::block_on(async {
            while let Some(event) = events.next().await {
                println!("{} {}", stamp(), describe(&event));
            }
        })
    });

    println!(
        "{} initialize ({})",
        stamp(),
        if guest { "guest" } else { "user" }
    );
    let t0 = Instant::now();
    smol::block_on(sdk.initialize(InitializeOptions { security_code }))?;
    println!(
        "{} initialized in {:.1} ms",
        stamp(),
        t0.elapsed().as_secs_f64() * 1000.0
    );

    if fake_mode {
        let secs = args.duration.unwrap_or(3.0);
        std::thread::sleep(Duration::from_secs_f64(secs / 2.0));
        println!("{} reconnect()", stamp());
        smol::block_on(sdk.reconnect())?;
        std::thread::sleep(Duration::from_secs_f64(secs / 2.0));
    } else if let Some(secs) = args.duration {
        std::thread::sleep(Duration::from_secs_f64(secs));
    } else {
        println!("{} connected; press Enter to disconnect", stamp());
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    println!("{} disconnect()", stamp());
    smol::block_on(sdk.disconnect());
    drop(sdk);
    let _ = thread.join();
    let _ = printer.join();
    if let Some(server) = fake {
        server.shutdown();
    }
    println!("{} done", stamp());
    Ok(())
}

fn describe(event: &SdkEvent) -> String {
    match event {
        SdkEvent::Ready => "ready".into(),
        SdkEvent::Connected { reconnect } => format!("connected reconnect={reconnect}"),
        SdkEvent::Disconnected {
            message,
            reconnecting,
        } => {
            format!("disconnected reconnecting={reconnecting} ({message})")
        }
        SdkEvent::Error(e) => format!("error kind={:?}: {}", e.kind, e.details),
        SdkEvent::Trace { level, message, .. } => format!("trace {level:?}: {message}"),
        SdkEvent::Station { action, station } => format!(
            "station {action:?} {}",
            station.as_ref().map(|s| s.id.as_str()).unwrap_or("-")
        ),
        SdkEvent::ConcurrentSoftphoneSessionsEnabled(on) => {
            format!("concurrentSoftphoneSessionsEnabled {on}")
        }
        SdkEvent::Notification { topic, action, .. } => {
            format!(
                "notification {topic} action={}",
                action.as_deref().unwrap_or("-")
            )
        }
        other => format!("{other:?}"),
    }
}
