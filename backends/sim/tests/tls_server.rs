//! The fake cloud over real loopback sockets: HTTPS with the smol connector trusting the test
//! CA, TLS failure without it, loopback-only binding, and the `fake-cloud` binary's output.

use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use genesys_webrtc::wire::http::{HttpRequest, HttpResponse, Method, ResponseDecoder};
use genesys_webrtc_hal::embedded_io_async::{Read, Write};
use genesys_webrtc_hal::{Connector, Endpoint, Error as _, ErrorKind, Security};
use genesys_webrtc_sim::cloud::{AuthKind, ClosedBy, CloudConfig, LogEntry};
use genesys_webrtc_sim::tls_server::{FakeCloudServer, ServerError};
use genesys_webrtc_smol::{SmolConnector, SmolPlatform, SmolStream};

const ENVIRONMENT: &str = "fake.genesys.test";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn start() -> (FakeCloudServer, CloudConfig) {
    let config = CloudConfig::for_environment(ENVIRONMENT);
    let server = FakeCloudServer::start(config.clone(), loopback()).expect("start fake cloud");
    (server, config)
}

fn endpoint(host: &str, port: u16) -> Endpoint<'_> {
    Endpoint {
        host,
        port,
        security: Security::Tls,
    }
}

async fn request(
    stream: &mut SmolStream,
    host: &str,
    target: &str,
    token: Option<&str>,
) -> HttpResponse {
    request_with(stream, host, target, token, &[]).await
}

async fn request_with(
    stream: &mut SmolStream,
    host: &str,
    target: &str,
    token: Option<&str>,
    extra_headers: &[(&str, &str)],
) -> HttpResponse {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    for (name, value) in extra_headers {
        headers.push(((*name).to_owned(), (*value).to_owned()));
    }
    if let Some(token) = token {
        headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    let req = HttpRequest {
        method: Method::Get,
        host: host.to_owned(),
        target: target.to_owned(),
        headers,
        body: Vec::new(),
    };
    stream
        .write_all(&req.encode())
        .await
        .expect("write request");
    stream.flush().await.expect("flush request");

    let mut decoder = ResponseDecoder::new(Method::Get);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await.expect("read response");
        assert!(
            n > 0,
            "the fake cloud closed the connection before responding"
        );
        if let Some(response) = decoder.push(&buf[..n]).expect("a valid HTTP response") {
            return response;
        }
    }
}

fn json(response: &HttpResponse) -> serde_json::Value {
    serde_json::from_slice(&response.body).expect("a JSON body")
}

#[test]
fn organizations_me_over_https_with_the_test_ca() {
    let (server, config) = start();
    assert_eq!(server.environment(), ENVIRONMENT);
    let port = server.addr().port();
    assert_eq!(server.api_host(), format!("https://127.0.0.1:{port}"));
    assert_eq!(server.ws_host(), format!("wss://127.0.0.1:{port}"));

    let platform =
        SmolPlatform::with_extra_roots_pem(server.ca_cert_pem().as_bytes()).expect("CA PEM");
    smol::block_on(async {
        for host in ["127.0.0.1", "localhost"] {
            let mut stream = platform
                .connector()
                .connect(endpoint(host, port))
                .await
                .expect("TLS connect trusting the test CA");
            let host_header = format!("{host}:{port}");
            let response = request(
                &mut stream,
                &host_header,
                "/api/v2/organizations/me",
                Some(&config.access_token),
            )
            .await;
            assert_eq!(response.status, 200, "{response:?}");
            let body = json(&response);
            assert_eq!(body["id"], config.organization_id.as_str(), "{body}");

            // The connection is kept alive for a second request.
            let again = request(
                &mut stream,
                &host_header,
                "/api/v2/organizations/me",
                Some(&config.access_token),
            )
            .await;
            assert_eq!(again.status, 200, "{again:?}");
        }
    });
    // The cloud can be reached from the test thread while it serves.
    let _ = server.with_cloud(|cloud| cloud.poll_timeout());
    server.shutdown();
}

/// Waits (briefly, on the server thread's schedule) until the cloud's log satisfies `done`.
fn wait_for_log(server: &FakeCloudServer, done: impl Fn(&[LogEntry]) -> bool) -> Vec<LogEntry> {
    for _ in 0..500 {
        let log = server.with_cloud(|cloud| cloud.log().to_vec());
        if done(&log) {
            return log;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    server.with_cloud(|cloud| cloud.log().to_vec())
}

#[test]
fn connections_and_closes_reach_the_cloud_log() {
    let (server, config) = start();
    let port = server.addr().port();
    let platform =
        SmolPlatform::with_extra_roots_pem(server.ca_cert_pem().as_bytes()).expect("CA PEM");
    let host = format!("127.0.0.1:{port}");
    smol::block_on(async {
        // The client closes: the cloud hears `on_close`.
        let mut stream = platform
            .connector()
            .connect(endpoint("127.0.0.1", port))
            .await
            .expect("connect");
        let response = request(
            &mut stream,
            &host,
            "/api/v2/organizations/me",
            Some(&config.access_token),
        )
        .await;
        assert_eq!(response.status, 200, "{response:?}");
        stream.shutdown().await.expect("close");
        drop(stream);

        // `Connection: close`: the cloud answers, then its `Close` closes the socket.
        let mut stream = platform
            .connector()
            .connect(endpoint("127.0.0.1", port))
            .await
            .expect("connect again");
        let response = request_with(
            &mut stream,
            &host,
            "/api/v2/organizations/me",
            Some(&config.access_token),
            &[("Connection", "close")],
        )
        .await;
        assert_eq!(response.status, 200, "{response:?}");
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.expect("clean TLS close");
        assert_eq!(n, 0, "the server must close the connection");
    });

    let closed = |log: &[LogEntry]| {
        log.iter()
            .filter(|e| matches!(e, LogEntry::Closed { .. }))
            .count()
            == 2
    };
    let log = wait_for_log(&server, closed);
    assert!(closed(&log), "{log:#?}");
    let connected: Vec<_> = log
        .iter()
        .filter_map(|e| match e {
            LogEntry::Connected { conn } => Some(*conn),
            _ => None,
        })
        .collect();
    assert_eq!(connected.len(), 2, "{log:#?}");
    assert_ne!(
        connected[0], connected[1],
        "every connection gets a fresh id"
    );
    assert!(log.contains(&LogEntry::Closed {
        conn: connected[0],
        by: ClosedBy::Peer
    }));
    assert!(log.contains(&LogEntry::Closed {
        conn: connected[1],
        by: ClosedBy::Server
    }));
    assert!(log.iter().any(|e| matches!(
        e,
        LogEntry::Rest { path, authorization: AuthKind::Bearer(true), status: 200, .. }
            if path == "/api/v2/organizations/me"
    )));
}

#[test]
fn a_wrong_token_is_refused() {
    let (server, _config) = start();
    let port = server.addr().port();
    let platform =
        SmolPlatform::with_extra_roots_pem(server.ca_cert_pem().as_bytes()).expect("CA PEM");
    smol::block_on(async {
        let mut stream = platform
            .connector()
            .connect(endpoint("127.0.0.1", port))
            .await
            .expect("connect");
        let host = format!("127.0.0.1:{port}");
        let response = request(
            &mut stream,
            &host,
            "/api/v2/organizations/me",
            Some("not-the-token"),
        )
        .await;
        assert_eq!(response.status, 401, "{response:?}");
    });
}

#[test]
fn without_the_test_ca_the_handshake_fails_with_a_tls_error() {
    let (server, _config) = start();
    let port = server.addr().port();
    let err = smol::block_on(SmolConnector::default().connect(endpoint("127.0.0.1", port)))
        .expect_err("the test CA is not a public root");
    assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");

    // The server goes on serving trusted clients after a failed handshake.
    let platform =
        SmolPlatform::with_extra_roots_pem(server.ca_cert_pem().as_bytes()).expect("CA PEM");
    smol::block_on(platform.connector().connect(endpoint("127.0.0.1", port)))
        .expect("trusted connect after an untrusted one");
}

#[test]
fn only_loopback_addresses_are_served() {
    let config = CloudConfig::for_environment(ENVIRONMENT);
    let err = FakeCloudServer::start(config, SocketAddr::from(([0, 0, 0, 0], 0)))
        .expect_err("0.0.0.0 is not loopback");
    assert!(matches!(err, ServerError::NotLoopback { .. }), "{err:?}");
}

#[test]
fn shutdown_closes_the_listener() {
    let (server, _config) = start();
    let port = server.addr().port();
    let ca = server.ca_cert_pem().to_owned();
    server.shutdown();
    let platform = SmolPlatform::with_extra_roots_pem(ca.as_bytes()).expect("CA PEM");
    let err = smol::block_on(platform.connector().connect(endpoint("127.0.0.1", port)))
        .expect_err("nothing listens after shutdown");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
}

#[test]
fn the_binary_prints_its_settings_and_serves_until_stdin_closes() {
    let ca_file =
        std::env::temp_dir().join(format!("fake-cloud-test-ca-{}.pem", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-cloud"))
        .args(["--environment", ENVIRONMENT, "--ca-out"])
        .arg(&ca_file)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start fake-cloud");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut settings = std::collections::HashMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read stdout");
        if line == "ready" {
            break;
        }
        let (key, value) = line.split_once('=').expect("key=value line");
        settings.insert(key.to_owned(), value.to_owned());
    }
    let config = CloudConfig::for_environment(ENVIRONMENT);
    assert_eq!(settings["environment"], ENVIRONMENT);
    assert_eq!(settings["ca_file"], ca_file.display().to_string());
    assert_eq!(settings["access_token"], config.access_token);
    assert_eq!(settings["organization_id"], config.organization_id);
    assert_eq!(settings["security_code"], config.security_code);
    let api_host = &settings["api_host"];
    let port: u16 = api_host
        .strip_prefix("https://127.0.0.1:")
        .expect("api_host on 127.0.0.1")
        .parse()
        .expect("port");
    assert_eq!(settings["ws_host"], format!("wss://127.0.0.1:{port}"));

    let platform = SmolPlatform::with_extra_roots_file(&ca_file).expect("CA file");
    smol::block_on(async {
        let mut stream = platform
            .connector()
            .connect(endpoint("127.0.0.1", port))
            .await
            .expect("connect to the binary");
        let response = request(
            &mut stream,
            &format!("127.0.0.1:{port}"),
            "/api/v2/organizations/me",
            Some(&settings["access_token"]),
        )
        .await;
        assert_eq!(response.status, 200, "{response:?}");
    });

    // Closing stdin stops the server.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let _ = stdin.flush();
    drop(stdin);
    let status = child.wait().expect("wait for fake-cloud");
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_file(&ca_file);
}
