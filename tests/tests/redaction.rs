//! Secrets never reach logs or events: the access token (and its `authKey:` SASL form), the
//! guest security code, the guest JWT and TURN passwords are searched for in everything the SDK
//! logged at TRACE level and in the Debug form of every event, over a user and a guest session.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use genesys_webrtc::{InitializeOptions, Sdk, SdkEvent, SdkOptions, Secret};
use genesys_webrtc_sim::cloud::CloudConfig;
use genesys_webrtc_sim::redaction::{LogCapture, TenantSecrets};
use genesys_webrtc_sim::tls_server::FakeCloudServer;
use genesys_webrtc_smol::SmolPlatform;

/// Runs a session with the driver on this thread under a TRACE subscriber writing to `logs`,
/// and returns the Debug text of every event.
fn run_session(opts: SdkOptions, code: Option<&str>, logs: &LogCapture) -> String {
    let subscriber = logs.subscriber();
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
    let mut secrets = TenantSecrets::of(&config);
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

    let logs = LogCapture::new();
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
    let logs = logs.text();
    assert!(
        logs.contains("xmpp out") && logs.contains("mechanism=\"PLAIN\""),
        "TRACE logs hold the stanzas"
    );
    assert!(logs.contains("connected"), "the capture holds SDK logs");
    for j in &jwts {
        secrets.add_jwt(j);
    }
    assert!(secrets.len() >= 6, "{secrets:?}");
    secrets.assert_absent("the logs", &logs);
    secrets.assert_absent("the events", &events);
}
