//! `fake-cloud`: serves the simulator's fake Genesys Cloud over HTTPS + WSS on 127.0.0.1.
//!
//! Prints `key=value` lines a script can parse (environment, hosts, CA file and the test
//! credentials, and with `--turn` the address of its TURN server), then `ready`, and serves until standard input reaches end-of-file (or, with
//! `--no-stdin`, until the process is killed). Meanwhile it reads commands from standard input,
//! one per line (`ring`, `dtmf`, `hangup`, `calls`; see [`USAGE`]), and answers each with one
//! line. Logs go to standard error (`RUST_LOG` filters).

use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use genesys_webrtc_sim::cloud::{
    CallId, CallOptions, CallState, CloudConfig, IceServerConfig, Negotiation, PreferredCodec,
    DEFAULT_TURN_PASSWORD, DEFAULT_TURN_USERNAME,
};
use genesys_webrtc_sim::tls_server::FakeCloudServer;
use genesys_webrtc_sim::turn::TurnServerThread;

const DEFAULT_ENVIRONMENT: &str = "fake.genesys.test";

const USAGE: &str = "\
fake-cloud: a fake Genesys Cloud (REST + streaming WebSocket) over TLS on 127.0.0.1

USAGE:
    fake-cloud [--port N] [--environment ENV] [--ca-out PATH] [--no-stdin] [--turn] [--relay-only]

OPTIONS:
    --port N            TCP port to listen on (default 0: any free port)
    --environment ENV   environment domain (default fake.genesys.test)
    --ca-out PATH       where to write the test CA certificate (PEM) that clients must trust
                        (default: fake-cloud-ca-PID.pem in the temporary directory, removed on exit)
    --no-stdin          serve until killed instead of until standard input is closed
    --turn              also run a TURN server (UDP, on 127.0.0.1) and announce it as the only
                        TURN service of the XEP-0215 answer, with the fake cloud's TURN
                        credentials; prints turn_server=127.0.0.1:PORT before ready
    --relay-only        answer XEP-0215 STUN requests with no service: ICE transport policy
                        relay (PROTOCOL.md 5.3); with --turn, calls run through the relay
    -h, --help          print this help

OUTPUT (stdout, one per line, in this order):
    environment=ENV
    api_host=https://127.0.0.1:PORT
    ws_host=wss://127.0.0.1:PORT
    ca_file=PATH
    access_token=TOKEN
    organization_id=ID
    security_code=CODE
    turn_server=ADDR    (only with --turn)
    ready

COMMANDS (standard input, one per line; each gets one line of reply on stdout):
    ring [jingle|sdp-over-xmpp] [opus|pcmu|pcma]
                        ring the signed-in user: an inbound call whose far end plays 1 kHz
                        (default sdp-over-xmpp, opus). Reply: ringing call=N
    dtmf DIGITS         the far end of the latest call sends DTMF (0-9*#A-D). Reply: ok
    hangup              the far end hangs up the latest call. Reply: ok
    calls               one line for all calls: calls=N:STATE:MEDIA:DTMF,... where MEDIA is
                        media-up or no-media and DTMF what the far end received
    help                list the commands
    A command that fails replies error=MESSAGE. End-of-file stops the server (unless
    --no-stdin).

EXAMPLE (the device softphone against it, see scripts/device-bench.sh):
    softphone --environment ENV --token TOKEN --api-host API_HOST --ws-host WS_HOST \\
              --ca-file CA_FILE --media-address 127.0.0.1
    then type ring into fake-cloud once the softphone prints \"waiting for calls\".

The credentials are fixed test values of the fake cloud, not real secrets.
";

const COMMANDS: &str =
    "commands: ring [jingle|sdp-over-xmpp] [opus|pcmu|pcma], dtmf DIGITS, hangup, calls, help";

#[derive(Debug)]
struct Options {
    port: u16,
    environment: String,
    ca_out: Option<PathBuf>,
    wait_for_stdin: bool,
    turn: bool,
    relay_only: bool,
}

#[derive(Debug)]
enum Command {
    Help,
    Serve(Options),
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut options = Options {
        port: 0,
        environment: DEFAULT_ENVIRONMENT.to_owned(),
        ca_out: None,
        wait_for_stdin: true,
        turn: false,
        relay_only: false,
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--port" => {
                let text = value("--port")?;
                options.port = text
                    .parse()
                    .map_err(|_| format!("--port: {text:?} is not a port number"))?;
            }
            "--environment" => {
                let env = value("--environment")?;
                if env.is_empty() {
                    return Err("--environment must not be empty".to_owned());
                }
                options.environment = env;
            }
            "--ca-out" => options.ca_out = Some(PathBuf::from(value("--ca-out")?)),
            "--no-stdin" => options.wait_for_stdin = false,
            "--turn" => options.turn = true,
            "--relay-only" => options.relay_only = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Command::Serve(options))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Serve(options)) => options,
        Err(message) => {
            eprintln!("fake-cloud: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fake-cloud: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(options: Options) -> Result<(), String> {
    let mut config = CloudConfig::for_environment(&options.environment);
    if options.relay_only {
        config = config.relay_only();
    }
    // Kept alive until we return: it serves the relays of every call.
    let turn = if options.turn {
        let turn = TurnServerThread::start(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            DEFAULT_TURN_USERNAME,
            DEFAULT_TURN_PASSWORD,
        )
        .map_err(|e| format!("could not start the TURN server: {e}"))?;
        config.turn_servers = vec![IceServerConfig::turn(
            &turn.addr().ip().to_string(),
            turn.addr().port(),
            "udp",
            DEFAULT_TURN_USERNAME,
            DEFAULT_TURN_PASSWORD,
        )];
        Some(turn)
    } else {
        None
    };
    let access_token = config.access_token.clone();
    let organization_id = config.organization_id.clone();
    let security_code = config.security_code.clone();

    let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, options.port));
    let server = FakeCloudServer::start(config, bind).map_err(|e| error_chain(&e))?;

    let (ca_file, remove_ca_on_exit) = match options.ca_out {
        Some(path) => (path, false),
        None => (
            std::env::temp_dir().join(format!("fake-cloud-ca-{}.pem", std::process::id())),
            true,
        ),
    };
    server
        .write_ca_file(&ca_file)
        .map_err(|e| format!("could not write the CA file {}: {e}", ca_file.display()))?;

    let mut out = std::io::stdout().lock();
    let printed = writeln!(
        out,
        "environment={}\napi_host={}\nws_host={}\nca_file={}\naccess_token={}\norganization_id={}\nsecurity_code={}",
        server.environment(),
        server.api_host(),
        server.ws_host(),
        ca_file.display(),
        access_token,
        organization_id,
        security_code,
    )
    .and_then(|()| out.flush());
    let printed = printed
        .and_then(|()| match &turn {
            Some(t) => writeln!(out, "turn_server={}", t.addr()),
            None => Ok(()),
        })
        .and_then(|()| writeln!(out, "ready"))
        .and_then(|()| out.flush());
    drop(out);
    if let Err(e) = printed {
        return Err(format!("could not write to standard output: {e}"));
    }

    if options.wait_for_stdin {
        // Serve until whoever started us closes our standard input (or we are killed), running
        // the commands read meanwhile.
        let mut stdin = std::io::stdin().lock();
        let mut line = String::new();
        let mut latest: Option<CallId> = None;
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let reply = match parse_command(&line) {
                Ok(None) => continue,
                Ok(Some(command)) => run_command(&server, command, &mut latest),
                Err(message) => format!("error={message}"),
            };
            let mut out = std::io::stdout().lock();
            // If nobody reads the replies any more, keep serving until end-of-file anyway.
            let _ = writeln!(out, "{reply}").and_then(|()| out.flush());
        }
    } else {
        loop {
            std::thread::park();
        }
    }

    server.shutdown();
    if remove_ca_on_exit {
        let _ = std::fs::remove_file(&ca_file);
    }
    Ok(())
}

/// A command read from standard input.
#[derive(Debug, PartialEq)]
enum StdinCommand {
    Ring(CallOptions),
    Dtmf(String),
    HangUp,
    Calls,
    Help,
}

/// Parses one line of standard input; `Ok(None)` for a blank line.
fn parse_command(line: &str) -> Result<Option<StdinCommand>, String> {
    let mut words = line.split_whitespace();
    let Some(verb) = words.next() else {
        return Ok(None);
    };
    let command = match verb {
        "ring" => {
            let mut options = CallOptions {
                tone_hz: 1000.0,
                ..CallOptions::default()
            };
            for word in words.by_ref() {
                match word {
                    "jingle" => options.mode = Negotiation::Jingle,
                    "sdp-over-xmpp" => options.mode = Negotiation::SdpOverXmpp,
                    "opus" => options.codec = PreferredCodec::Opus,
                    "pcmu" => options.codec = PreferredCodec::Pcmu,
                    "pcma" => options.codec = PreferredCodec::Pcma,
                    other => return Err(format!("ring: unknown word {other:?}")),
                }
            }
            StdinCommand::Ring(options)
        }
        "dtmf" => {
            let digits = words.next().ok_or("dtmf needs DIGITS")?;
            StdinCommand::Dtmf(digits.to_owned())
        }
        "hangup" => StdinCommand::HangUp,
        "calls" => StdinCommand::Calls,
        "help" => StdinCommand::Help,
        other => return Err(format!("unknown command {other:?}; {COMMANDS}")),
    };
    if let Some(extra) = words.next() {
        return Err(format!("{verb}: unexpected {extra:?}"));
    }
    Ok(Some(command))
}

/// Runs a command on the cloud; returns the reply line.
fn run_command(
    server: &FakeCloudServer,
    command: StdinCommand,
    latest: &mut Option<CallId>,
) -> String {
    match command {
        StdinCommand::Ring(options) => {
            if server.with_cloud(|c| c.connected_jids().is_empty()) {
                return "error=no client is signed in, nobody to ring".to_owned();
            }
            let call = server.with_cloud(|c| c.place_inbound_call(Instant::now(), options));
            *latest = Some(call);
            format!("ringing call={}", call.0)
        }
        StdinCommand::Dtmf(digits) => {
            let Some(call) = *latest else {
                return "error=no call yet".to_owned();
            };
            match server.with_cloud(|c| c.send_dtmf(call, &digits)) {
                Ok(()) => "ok".to_owned(),
                Err(message) => format!("error={message}"),
            }
        }
        StdinCommand::HangUp => {
            let Some(call) = *latest else {
                return "error=no call yet".to_owned();
            };
            if server.with_cloud(|c| c.hang_up(Instant::now(), call, "success")) {
                "ok".to_owned()
            } else {
                "error=the call is over".to_owned()
            }
        }
        StdinCommand::Calls => {
            let list: Vec<String> = server.with_cloud(|c| {
                c.calls()
                    .iter()
                    .map(|s| {
                        let state = match &s.state {
                            CallState::Alerting => "alerting".to_owned(),
                            CallState::Offered => "offered".to_owned(),
                            CallState::Answered => "answered".to_owned(),
                            CallState::Connected => "connected".to_owned(),
                            CallState::AnsweredElsewhere => "answered-elsewhere".to_owned(),
                            CallState::Ended { reason } => format!("ended-{reason}"),
                        };
                        let media = if s.media_connected {
                            "media-up"
                        } else {
                            "no-media"
                        };
                        format!("{}:{state}:{media}:{}", s.id.0, c.received_dtmf(s.id))
                    })
                    .collect()
            });
            format!("calls={}", list.join(","))
        }
        StdinCommand::Help => COMMANDS.to_owned(),
    }
}

/// `error: cause: cause` for an error and its sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn defaults() {
        let Ok(Command::Serve(o)) = parse(&[]) else {
            panic!("no arguments must parse");
        };
        assert_eq!(o.port, 0);
        assert_eq!(o.environment, DEFAULT_ENVIRONMENT);
        assert!(o.ca_out.is_none());
        assert!(o.wait_for_stdin);
        assert!(!o.turn && !o.relay_only);
    }

    #[test]
    fn all_options() {
        let Ok(Command::Serve(o)) = parse(&[
            "--port",
            "8443",
            "--environment=example.test",
            "--ca-out",
            "/tmp/ca.pem",
            "--no-stdin",
            "--turn",
            "--relay-only",
        ]) else {
            panic!("options must parse");
        };
        assert!(o.turn && o.relay_only);
        assert_eq!(o.port, 8443);
        assert_eq!(o.environment, "example.test");
        assert_eq!(o.ca_out, Some(PathBuf::from("/tmp/ca.pem")));
        assert!(!o.wait_for_stdin);
    }

    #[test]
    fn commands() {
        let ring = |mode, codec| {
            Ok(Some(StdinCommand::Ring(CallOptions {
                mode,
                codec,
                tone_hz: 1000.0,
                ..CallOptions::default()
            })))
        };
        assert_eq!(parse_command("\n"), Ok(None));
        assert_eq!(
            parse_command("ring\n"),
            ring(Negotiation::SdpOverXmpp, PreferredCodec::Opus)
        );
        assert_eq!(
            parse_command("  ring jingle pcmu \r\n"),
            ring(Negotiation::Jingle, PreferredCodec::Pcmu)
        );
        assert_eq!(
            parse_command("ring pcma sdp-over-xmpp"),
            ring(Negotiation::SdpOverXmpp, PreferredCodec::Pcma)
        );
        assert_eq!(
            parse_command("dtmf 9*"),
            Ok(Some(StdinCommand::Dtmf("9*".into())))
        );
        assert_eq!(parse_command("hangup"), Ok(Some(StdinCommand::HangUp)));
        assert_eq!(parse_command("calls"), Ok(Some(StdinCommand::Calls)));
        assert_eq!(parse_command("help"), Ok(Some(StdinCommand::Help)));
        assert!(parse_command("ring video").is_err());
        assert!(parse_command("dtmf").is_err());
        assert!(parse_command("dtmf 1 2").is_err());
        assert!(parse_command("hangup now").is_err());
        assert!(parse_command("answer").is_err());
    }

    #[test]
    fn help_and_errors() {
        assert!(matches!(parse(&["--help"]), Ok(Command::Help)));
        assert!(matches!(parse(&["-h"]), Ok(Command::Help)));
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "70000"]).is_err());
        assert!(parse(&["--environment", ""]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
