//! End to end over real sockets: the SDK on the smol backend against the fake cloud serving
//! HTTPS + WSS on 127.0.0.1 with a test CA. Asserts the REST order and the XMPP exchange of
//! PROTOCOL.md §2–§5.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use genesys_webrtc::wire::http::Method;
use genesys_webrtc::wire::xml::{self, Element, XmlLimits};
use genesys_webrtc::{InitializeError, InitializeOptions, Sdk, SdkEvent, SdkOptions, Secret};
use genesys_webrtc_sim::cloud::{CloudConfig, LogEntry, WsKind};
use genesys_webrtc_sim::tls_server::FakeCloudServer;

fn server() -> FakeCloudServer {
    FakeCloudServer::start(
        CloudConfig::for_environment("fake.genesys.test"),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .expect("fake cloud starts")
}

fn options(server: &FakeCloudServer, guest: bool, trust: bool) -> SdkOptions {
    let cfg = server.with_cloud(|c| c.config().clone());
    let mut b = SdkOptions::builder()
        .environment(server.environment())
        .api_host(server.api_host())
        .ws_host(server.ws_host());
    if trust {
        b = b.extra_root_certificates_pem(server.ca_cert_pem().as_bytes().to_vec());
    }
    b = if guest {
        b.organization_id(cfg.organization_id)
    } else {
        b.access_token(cfg.access_token)
    };
    b.build().unwrap()
}

/// Runs `f` with a timeout so a hang fails the test instead of blocking CI.
fn within<T>(secs: u64, fut: impl std::future::Future<Output = T>) -> T {
    smol::block_on(async {
        futures::select! {
            v = futures::FutureExt::fuse(fut) => v,
            _ = futures::FutureExt::fuse(smol::Timer::after(Duration::from_secs(secs))) => panic!("timed out after {secs} s"),
        }
    })
}

/// Collects the events seen so far without waiting.
fn drain(events: &mut genesys_webrtc::EventStream) -> Vec<SdkEvent> {
    let mut v = Vec::new();
    while let Some(Some(e)) = futures::FutureExt::now_or_never(events.next()) {
        v.push(e);
    }
    v
}

fn inbound_xmpp(server: &FakeCloudServer) -> Vec<Element> {
    server.with_cloud(|c| {
        c.log()
            .iter()
            .filter_map(|e| match e {
                LogEntry::XmppIn { xml, .. } => {
                    Some(xml::parse(xml, &XmlLimits::default()).unwrap())
                }
                _ => None,
            })
            .collect()
    })
}

#[test]
fn user_initializes_over_tls_in_protocol_order() {
    let server = server();
    let cfg = server.with_cloud(|c| c.config().clone());
    let (sdk, thread) = genesys_webrtc_smol::start(options(&server, false, true)).unwrap();
    let mut events = sdk.events();
    within(20, sdk.initialize(InitializeOptions::default())).expect("initialize succeeds");

    // REST: org + user (parallel), channel, station; all with 200.
    let rest = server.with_cloud(|c| c.cloud_log().rest_calls());
    let first_two: Vec<String> = rest[..2].iter().map(|(_, p, _)| p.clone()).collect();
    assert!(first_two.contains(&"/api/v2/organizations/me".to_string()));
    assert!(first_two.contains(&"/api/v2/users/me".to_string()));
    assert_eq!(
        rest[2],
        (Method::Post, "/api/v2/notifications/channels".into(), 200)
    );
    assert_eq!(
        rest[3],
        (
            Method::Get,
            format!("/api/v2/stations/{}", cfg.station_id.clone().unwrap()),
            200
        )
    );
    assert!(server.with_cloud(|c| c.log().iter().any(|e| matches!(
        e,
        LogEntry::WsUpgrade {
            kind: WsKind::Channel(_),
            status: 101
        }
    ))));

    // XMPP: open, PLAIN, restart, bind, extdisco turn + stun, pubsub subscribe.
    let xmpp = inbound_xmpp(&server);
    let names: Vec<&str> = xmpp.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(&names[..6], ["open", "auth", "open", "iq", "iq", "iq"]);
    assert_eq!(xmpp[1].attr("mechanism"), Some("PLAIN"));
    assert!(xmpp[3]
        .child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
        .is_some());
    assert_eq!(
        xmpp[4]
            .child("services", "urn:xmpp:extdisco:1")
            .and_then(|s| s.attr("type")),
        Some("turn")
    );
    assert_eq!(
        xmpp[5]
            .child("services", "urn:xmpp:extdisco:1")
            .and_then(|s| s.attr("type")),
        Some("stun")
    );
    assert!(xmpp.iter().any(|e| e
        .child("pubsub", "http://jabber.org/protocol/pubsub")
        .is_some()));

    std::thread::sleep(Duration::from_millis(50));
    let seen: Vec<SdkEvent> = drain(&mut events)
        .into_iter()
        .filter(|e| !matches!(e, SdkEvent::Trace { .. }))
        .collect();
    assert_eq!(seen[0], SdkEvent::Connected { reconnect: false });
    assert!(seen.contains(&SdkEvent::Ready));

    // reconnect(): hard (new channel), connected{reconnect: true}
    within(20, sdk.reconnect()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reconnected = false;
    while Instant::now() < deadline && !reconnected {
        reconnected = drain(&mut events).contains(&SdkEvent::Connected { reconnect: true });
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(reconnected);
    let posts = server.with_cloud(|c| {
        c.cloud_log()
            .rest_calls()
            .iter()
            .filter(|(m, p, _)| *m == Method::Post && p == "/api/v2/notifications/channels")
            .count()
    });
    assert_eq!(posts, 2);

    // disconnect(): completes, disconnected{reconnecting: false}, the server saw <close/>
    within(10, sdk.disconnect());
    std::thread::sleep(Duration::from_millis(50));
    let tail = drain(&mut events);
    assert!(tail.iter().any(|e| matches!(
        e,
        SdkEvent::Disconnected {
            reconnecting: false,
            ..
        }
    )));
    assert!(inbound_xmpp(&server).iter().any(|e| e.name == "close"));
    drop(sdk);
    thread.join().unwrap();
}

#[test]
fn guest_initializes_over_tls() {
    let server = server();
    let code = server.with_cloud(|c| c.config().security_code.clone());
    let (sdk, thread) = genesys_webrtc_smol::start(options(&server, true, true)).unwrap();
    within(
        20,
        sdk.initialize(InitializeOptions {
            security_code: Some(Secret::new(code)),
        }),
    )
    .expect("guest initialize succeeds");
    let rest = server.with_cloud(|c| c.cloud_log().rest_calls());
    assert_eq!(
        rest,
        [(Method::Post, "/api/v2/conversations/codes".to_string(), 200)]
    );
    assert!(server.with_cloud(|c| c.log().iter().any(|e| matches!(
        e,
        LogEntry::WsUpgrade {
            kind: WsKind::Jwt,
            status: 101
        }
    ))));
    let xmpp = inbound_xmpp(&server);
    assert_eq!(xmpp[1].attr("mechanism"), Some("ANONYMOUS"));
    assert_eq!(xmpp[1].text(), "=");
    // a wrong code is a typed HTTP error
    drop(sdk);
    thread.join().unwrap();
    let (sdk, thread) = genesys_webrtc_smol::start(options(&server, true, true)).unwrap();
    let err = within(
        20,
        sdk.initialize(InitializeOptions {
            security_code: Some(Secret::new("999999")),
        }),
    )
    .unwrap_err();
    assert!(
        matches!(&err, InitializeError::Http(e) if e.status() == Some(404)),
        "{err:?}"
    );
    assert_eq!(
        within(5, sdk.initialize(InitializeOptions::default())),
        Err(InitializeError::MissingSecurityCode)
    );
    drop(sdk);
    thread.join().unwrap();
}

#[test]
fn untrusted_certificates_and_bad_tokens_fail_initialize() {
    let server = server();
    // Without the test CA the TLS handshake fails: no HTTP response, initialize fails at once.
    let (sdk, thread) = genesys_webrtc_smol::start(options(&server, false, false)).unwrap();
    let err = within(20, sdk.initialize(InitializeOptions::default())).unwrap_err();
    assert!(
        matches!(
            &err,
            InitializeError::Http(genesys_webrtc::rest::RestError::Network { .. })
        ),
        "{err:?}"
    );
    drop(sdk);
    thread.join().unwrap();
    // A wrong token: 401 → InvalidToken.
    let opts = SdkOptions::builder()
        .environment(server.environment())
        .api_host(server.api_host())
        .ws_host(server.ws_host())
        .extra_root_certificates_pem(server.ca_cert_pem().as_bytes().to_vec())
        .access_token("not-the-token")
        .build()
        .unwrap();
    let (sdk, thread) = genesys_webrtc_smol::start(opts).unwrap();
    assert_eq!(
        within(20, sdk.initialize(InitializeOptions::default())),
        Err(InitializeError::InvalidToken)
    );
    drop(sdk);
    thread.join().unwrap();
}

#[test]
fn server_closing_the_stream_leads_to_a_reconnect() {
    let server = server();
    let (sdk, thread) = genesys_webrtc_smol::start(options(&server, false, true)).unwrap();
    let mut events = sdk.events();
    within(20, sdk.initialize(InitializeOptions::default())).unwrap();
    server.with_cloud(|c| c.close_streams(Instant::now()));
    // reconnect waits 2 s (automatic reconnects delay even the first attempt)
    let start = Instant::now();
    let mut got = Vec::new();
    while start.elapsed() < Duration::from_secs(8) {
        got.extend(drain(&mut events));
        if got.contains(&SdkEvent::Connected { reconnect: true }) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(got.iter().any(|e| matches!(
        e,
        SdkEvent::Disconnected {
            reconnecting: true,
            ..
        }
    )));
    assert!(
        got.contains(&SdkEvent::Connected { reconnect: true }),
        "{got:?}"
    );
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(2), "{took:?}");
    drop(sdk);
    thread.join().unwrap();
}

#[test]
fn sdk_without_a_running_driver_reports_it() {
    let opts = SdkOptions::builder()
        .environment("example.test")
        .access_token("t")
        .build()
        .unwrap();
    let platform = genesys_webrtc_smol::SmolPlatform::new();
    let (sdk, driver) = Sdk::new(platform, opts);
    drop(driver);
    assert_eq!(
        smol::block_on(sdk.initialize(InitializeOptions::default())),
        Err(InitializeError::DriverStopped)
    );
}
