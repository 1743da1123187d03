//! `fake-cloud`: serves the simulator's fake Genesys Cloud over HTTPS + WSS on 127.0.0.1.
//!
//! Prints `key=value` lines a script can parse (environment, hosts, CA file and the test
//! credentials), then `ready`, and serves until standard input reaches end-of-file (or, with
//! `--no-stdin`, until the process is killed). Logs go to standard error (`RUST_LOG` filters).

use std::io::{BufRead, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use genesys_webrtc_sim::cloud::CloudConfig;
use genesys_webrtc_sim::tls_server::FakeCloudServer;

const DEFAULT_ENVIRONMENT: &str = "fake.genesys.test";

const USAGE: &str = "\
fake-cloud: a fake Genesys Cloud (REST + streaming WebSocket) over TLS on 127.0.0.1

USAGE:
    fake-cloud [--port N] [--environment ENV] [--ca-out PATH] [--no-stdin]

OPTIONS:
    --port N            TCP port to listen on (default 0: any free port)
    --environment ENV   environment domain (default fake.genesys.test)
    --ca-out PATH       where to write the test CA certificate (PEM) that clients must trust
                        (default: fake-cloud-ca-PID.pem in the temporary directory, removed on exit)
    --no-stdin          serve until killed instead of until standard input is closed
    -h, --help          print this help

OUTPUT (stdout, one per line, in this order):
    environment=ENV
    api_host=https://127.0.0.1:PORT
    ws_host=wss://127.0.0.1:PORT
    ca_file=PATH
    access_token=TOKEN
    organization_id=ID
    security_code=CODE
    ready

The credentials are fixed test values of the fake cloud, not real secrets.
";

#[derive(Debug)]
struct Options {
    port: u16,
    environment: String,
    ca_out: Option<PathBuf>,
    wait_for_stdin: bool,
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
    let config = CloudConfig::for_environment(&options.environment);
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
        "environment={}\napi_host={}\nws_host={}\nca_file={}\naccess_token={}\norganization_id={}\nsecurity_code={}\nready",
        server.environment(),
        server.api_host(),
        server.ws_host(),
        ca_file.display(),
        access_token,
        organization_id,
        security_code,
    )
    .and_then(|()| out.flush());
    drop(out);
    if let Err(e) = printed {
        return Err(format!("could not write to standard output: {e}"));
    }

    if options.wait_for_stdin {
        // Serve until whoever started us closes our standard input (or we are killed).
        let mut stdin = std::io::stdin().lock();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
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
        ]) else {
            panic!("options must parse");
        };
        assert_eq!(o.port, 8443);
        assert_eq!(o.environment, "example.test");
        assert_eq!(o.ca_out, Some(PathBuf::from("/tmp/ca.pem")));
        assert!(!o.wait_for_stdin);
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
