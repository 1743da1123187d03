//! Secrets never reach logs or events: the access token (and its `authKey:` SASL form), the
//! guest security code, the guest JWT and TURN passwords are searched for in everything the SDK
//! logged at TRACE level and in the Debug form of every event, over a user and a guest session.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures::{FutureExt as _, StreamExt as _};
use genesys_webrtc::{InitializeOptions, Sdk, SdkEvent, SdkOptions, Secret};
use genesys_webrtc_sim::cloud::CloudConfig;
use genesys_webrtc_sim::tls_server::FakeCloudServer;
use genesys_webrtc_smol::SmolPlatform;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs a session with the driver on this thread under a TRACE subscriber writing to `logs`,
/// and returns the Debug text of every event.
fn run_session(opts: SdkOptions, code: Option<&str>, logs: &Capture) -> String {
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let code = code.map(Secret::new);
    tracing::subscriber::with_default(subscriber, || {
        let platform = SmolPlatform::for_options(&opts).unwrap();
        let (sdk, driver) = Sdk::new(platform, opts.clone());
        let mut events = sdk.events();
        let test = async move {
            sdk.initialize(InitializeOptions {
                security_code: code,
            })
            .await
            .expect("initialize");
            smol::Timer::after(Duration::from_millis(100)).await;
            sdk.reconnect().await.unwrap();
            smol::Timer::after(Duration::from_millis(200)).await;
            sdk.disconnect().await;
            let mut text = String::new();
            while let Some(Some(e)) = events.next().now_or_never() {
                text.push_str(&format!("{e:?}\n"));
                if let SdkEvent::Error(err) = &e {
                    text.push_str(&format!("{}\n", err.details));
                }
            }
            text
        };
        smol::block_on(async {
            futures::select! {
                _ = driver.run().fuse() => panic!("driver ended first"),
                t = test.fuse() => t,
            }
        })
    })
}

#[test]
fn no_secret_in_logs_or_events() {
    let mut config = CloudConfig::for_environment("fake.genesys.test");
    config.security_code = "sec-code-4f1b9e".into();
    let token = config.access_token.clone();
    let code = config.security_code.clone();
    let turn_password = config.turn_servers[0].password.clone().unwrap();
    let jabber_id = config.jabber_id.clone();
    let org = config.organization_id.clone();
    let server =
        FakeCloudServer::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    let base = || {
        SdkOptions::builder()
            .environment(server.environment())
            .api_host(server.api_host())
            .ws_host(server.ws_host())
            .extra_root_certificates_pem(server.ca_cert_pem().as_bytes().to_vec())
            .log_level(genesys_webrtc::options::LogLevel::Debug)
    };

    let logs = Capture::default();
    let user_opts = base().access_token(token.clone()).build().unwrap();
    let mut events = run_session(user_opts.clone(), None, &logs);
    let guest_opts = base().organization_id(org).build().unwrap();
    events.push_str(&run_session(guest_opts.clone(), Some(&code), &logs));
    // a failing guest code: the error path must not echo it either
    let bad = base().organization_id("org-x").build().unwrap();
    let platform = SmolPlatform::for_options(&bad).unwrap();
    let (sdk, driver) = Sdk::new(platform, bad);
    let err = smol::block_on(async {
        futures::select! {
            _ = driver.run().fuse() => unreachable!(),
            r = sdk.initialize(InitializeOptions { security_code: Some(Secret::new(code.clone())) }).fuse() => r,
        }
    })
    .unwrap_err();
    events.push_str(&format!("{err} {err:?}\n"));
    events.push_str(&format!("{user_opts:?}\n{guest_opts:?}\n"));

    let jwts = server.with_cloud(|c| c.issued_jwts());
    assert!(!jwts.is_empty(), "the guest got a JWT");
    let plain =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{jabber_id}\0authKey:{token}"));
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("xmpp out") && logs.contains("mechanism=\"PLAIN\""),
        "TRACE logs hold the stanzas"
    );
    assert!(logs.contains("connected"), "the capture holds SDK logs");
    let mut secrets = vec![
        ("access token", token.clone()),
        ("authKey", format!("authKey:{token}")),
        ("SASL PLAIN payload", plain),
        ("security code", code.clone()),
        ("TURN password", turn_password),
    ];
    for j in &jwts {
        secrets.push(("guest JWT", j.clone()));
        // the signature and payload segments on their own too
        for part in j.split('.').skip(1) {
            secrets.push(("JWT segment", part.to_string()));
        }
    }
    for (what, secret) in &secrets {
        assert!(!logs.contains(secret.as_str()), "{what} found in the logs");
        assert!(
            !events.contains(secret.as_str()),
            "{what} found in the events"
        );
    }
}
