//! The SDK engine against the fake cloud on the in-memory network, in virtual time.
//!
//! These tests assert the timing rules of PROTOCOL.md §3.5–§3.8 and §5.4 exactly (pings,
//! back-off delays, hard/soft reconnects, discovery timeouts) and the REST/XMPP exchange order.

use std::time::{Duration, Instant};

use genesys_webrtc::engine::{Input, Transmit};
use genesys_webrtc::wire::http::Method;
use genesys_webrtc::wire::websocket::{self, Opcode, Role};
use genesys_webrtc::wire::xml::{self, XmlLimits};
use genesys_webrtc::{Engine, InitializeOptions, SdkErrorKind, SdkEvent, SdkOptions, Secret};
use genesys_webrtc_sim::cloud::{CloudConfig, FakeCloud, LogEntry, RestFault, WsKind};
use genesys_webrtc_sim::network::SimNetwork;

const ENV: &str = "fake.genesys.test";

fn user_sim(seed: u64, tweak: impl FnOnce(&mut CloudConfig)) -> SimNetwork {
    let mut config = CloudConfig::for_environment(ENV);
    tweak(&mut config);
    let token = config.access_token.clone();
    let start = Instant::now();
    let opts = SdkOptions::builder()
        .environment(ENV)
        .access_token(token)
        .build()
        .unwrap();
    SimNetwork::new(
        Engine::new(opts, start, seed),
        FakeCloud::new(config),
        start,
        seed,
    )
}

fn guest_sim(seed: u64) -> SimNetwork {
    let config = CloudConfig::for_environment(ENV);
    let org = config.organization_id.clone();
    let start = Instant::now();
    let opts = SdkOptions::builder()
        .environment(ENV)
        .organization_id(org)
        .build()
        .unwrap();
    SimNetwork::new(
        Engine::new(opts, start, seed),
        FakeCloud::new(config),
        start,
        seed,
    )
}

fn initialize(sim: &mut SimNetwork, code: Option<&str>) {
    let now = sim.now();
    sim.engine()
        .initialize(
            now,
            InitializeOptions {
                security_code: code.map(Secret::new),
            },
        )
        .unwrap();
    sim.pump();
}

fn ready(sim: &mut SimNetwork) {
    initialize(sim, None);
    sim.run_until_event(Duration::from_secs(60), |e| matches!(e, SdkEvent::Ready))
        .expect("SDK became ready");
    assert_eq!(sim.engine().take_initialize_result(), Some(Ok(())));
}

fn event_time(
    sim: &SimNetwork,
    from: usize,
    pred: impl Fn(&SdkEvent) -> bool,
) -> Option<(usize, Instant)> {
    sim.events()
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, (_, e))| pred(e))
        .map(|(i, (t, _))| (i, *t))
}

/// Times of `Transmit::Connect`s to the streaming host after `after`.
fn stream_connects(sim: &SimNetwork, after: Instant) -> Vec<Instant> {
    sim.transmits()
        .iter()
        .filter(|(t, tr)| {
            *t > after
                && matches!(tr, Transmit::Connect { host, .. } if host.starts_with("streaming."))
        })
        .map(|(t, _)| *t)
        .collect()
}

fn channel_posts(sim: &mut SimNetwork) -> usize {
    sim.cloud()
        .cloud_log()
        .rest_calls()
        .iter()
        .filter(|(m, p, s)| {
            *m == Method::Post && p == "/api/v2/notifications/channels" && *s == 200
        })
        .count()
}

fn count_in(sim: &mut SimNetwork, needle: &str) -> usize {
    sim.cloud()
        .log()
        .iter()
        .filter(|e| matches!(e, LogEntry::XmppIn { xml, .. } if xml.contains(needle)))
        .count()
}

fn connected_events(sim: &SimNetwork) -> Vec<bool> {
    sim.events()
        .iter()
        .filter_map(|(_, e)| match e {
            SdkEvent::Connected { reconnect } => Some(*reconnect),
            _ => None,
        })
        .collect()
}

#[test]
fn user_initialize_follows_the_protocol_order() {
    let mut sim = user_sim(1, |_| {});
    ready(&mut sim);
    let cfg = sim.cloud().config().clone();
    let rest = sim.cloud().cloud_log().rest_calls();
    let paths: Vec<String> = rest
        .iter()
        .map(|(m, p, _)| format!("{} {p}", m.as_str()))
        .collect();
    // org and user in parallel (either order), then the channel, then the station.
    assert!(
        paths[..2].contains(&"GET /api/v2/organizations/me".to_string()),
        "{paths:?}"
    );
    assert!(
        paths[..2].contains(&"GET /api/v2/users/me".to_string()),
        "{paths:?}"
    );
    assert_eq!(paths[2], "POST /api/v2/notifications/channels");
    assert_eq!(
        paths[3],
        format!("GET /api/v2/stations/{}", cfg.station_id.clone().unwrap())
    );
    assert!(rest.iter().all(|(_, _, s)| *s == 200), "{rest:?}");
    // the user call asked for the station expansion; the channel call had the streaming type.
    let queries: Vec<Option<String>> = sim
        .cloud()
        .log()
        .iter()
        .filter_map(|e| match e {
            LogEntry::Rest { query, .. } => Some(query.clone()),
            _ => None,
        })
        .collect();
    assert!(queries.contains(&Some("expand=station".into())));
    assert!(queries.contains(&Some("connectionType=streaming".into())));
    // the WebSocket used the channel URL.
    let upgrades: Vec<WsKind> = sim
        .cloud()
        .log()
        .iter()
        .filter_map(|e| match e {
            LogEntry::WsUpgrade { kind, status: 101 } => Some(kind.clone()),
            _ => None,
        })
        .collect();
    assert!(
        matches!(upgrades.as_slice(), [WsKind::Channel(_)]),
        "{upgrades:?}"
    );

    // XMPP exchange: open, PLAIN with bare JID + authKey:token, restart, bind, extdisco, subscribe.
    let conn = sim.cloud().xmpp_connections()[0];
    let inbound: Vec<xml::Element> = sim
        .cloud()
        .cloud_log()
        .xmpp_exchange(conn)
        .into_iter()
        .filter(|(inb, _)| *inb)
        .map(|(_, x)| xml::parse(&x, &XmlLimits::default()).unwrap())
        .collect();
    assert_eq!(inbound[0].name, "open");
    assert_eq!(inbound[0].attr("to"), Some(cfg.xmpp_domain.as_str()));
    assert_eq!(inbound[1].name, "auth");
    assert_eq!(inbound[1].attr("mechanism"), Some("PLAIN"));
    use base64::Engine as _;
    let plain = base64::engine::general_purpose::STANDARD
        .decode(inbound[1].text())
        .unwrap();
    assert_eq!(
        plain,
        format!("\0{}\0authKey:{}", cfg.jabber_id, cfg.access_token).into_bytes()
    );
    assert_eq!(inbound[2].name, "open");
    assert_eq!(inbound[3].name, "iq");
    assert!(inbound[3]
        .child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
        .is_some());
    let disco: Vec<&str> = inbound[4..6]
        .iter()
        .map(|e| {
            assert_eq!(e.attr("to"), Some(cfg.xmpp_domain.as_str()));
            e.child("services", "urn:xmpp:extdisco:1")
                .unwrap()
                .attr("type")
                .unwrap()
        })
        .collect();
    assert_eq!(disco, ["turn", "stun"]);
    let sub = inbound
        .iter()
        .find(|e| {
            e.child("pubsub", "http://jabber.org/protocol/pubsub")
                .is_some()
        })
        .expect("pubsub subscribe");
    assert_eq!(
        sub.attr("to"),
        Some(format!("notifications.{ENV}").as_str())
    );
    let node = sub
        .child("pubsub", "http://jabber.org/protocol/pubsub")
        .unwrap()
        .child("subscribe", "http://jabber.org/protocol/pubsub")
        .unwrap();
    assert_eq!(
        node.attr("node"),
        Some(format!("v2.users.{}.conversations", cfg.user_id).as_str())
    );
    assert_eq!(node.attr("jid"), Some(cfg.jabber_id.as_str()));
    // no presence and no roster, ever
    assert!(!inbound.iter().any(|e| e.name == "presence"));
    assert_eq!(count_in(&mut sim, "jabber:iq:roster"), 0);

    // events: connected{false}, station info, ready
    let kinds: Vec<String> = sim
        .events()
        .iter()
        .filter(|(_, e)| !matches!(e, SdkEvent::Trace { .. }))
        .map(|(_, e)| {
            format!("{e:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Connected",
            "ConcurrentSoftphoneSessionsEnabled",
            "Station",
            "Ready"
        ]
    );
    assert_eq!(connected_events(&sim), [false]);
    // the bulk subscription (debounced 100 ms) replaces the whole set with the combined id.
    sim.run_for(Duration::from_secs(1));
    let channel = sim.cloud().channel_ids()[0].clone();
    let mut topics = sim.cloud().channel_topics(&channel).unwrap();
    topics.sort();
    assert_eq!(
        topics,
        [
            format!("v2.users.{}.conversations", cfg.user_id),
            format!("v2.users.{}.station", cfg.user_id)
        ]
    );
    let ice = sim.engine().ice_config().unwrap().clone();
    assert_eq!(ice.servers.len(), 3);
    assert!(ice.servers[0].url.starts_with("turn:"));
}

#[test]
fn guest_initialize_uses_the_jwt_url_and_anonymous() {
    let mut sim = guest_sim(2);
    initialize(&mut sim, Some("123456"));
    sim.run_until_event(Duration::from_secs(60), |e| matches!(e, SdkEvent::Ready))
        .expect("guest ready");
    let rest = sim.cloud().cloud_log().rest_calls();
    assert_eq!(
        rest,
        [(Method::Post, "/api/v2/conversations/codes".to_string(), 200)]
    );
    let no_auth = sim.cloud().log().iter().any(|e| {
        matches!(
            e,
            LogEntry::Rest {
                authorization: genesys_webrtc_sim::cloud::AuthKind::None,
                ..
            }
        )
    });
    assert!(no_auth, "code redemption carries no Authorization header");
    assert!(sim.cloud().log().iter().any(|e| matches!(
        e,
        LogEntry::WsUpgrade {
            kind: WsKind::Jwt,
            status: 101
        }
    )));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(count_in(&mut sim, "mechanism=\"ANONYMOUS\">=</auth>"), 1);
    assert_eq!(
        count_in(&mut sim, "urn:xmpp:extdisco:1"),
        4,
        "connect + post-connect refresh"
    );
    assert_eq!(
        count_in(&mut sim, "http://jabber.org/protocol/pubsub\""),
        0,
        "no pubsub for guests"
    );
    let domain = sim.cloud().config().xmpp_domain.clone();
    assert_eq!(count_in(&mut sim, &format!("to=\"{domain}\" version")), 2);
    let jid = sim.engine().guest_jid().unwrap().to_string();
    assert!(
        jid.starts_with("acd-") && jid.contains("@conference."),
        "{jid}"
    );
}

#[test]
fn missed_pings_drop_and_reconnect_with_the_documented_delays() {
    let mut sim = user_sim(3, |_| {});
    sim.set_latency(Duration::ZERO, Duration::ZERO);
    ready(&mut sim);
    let (_, connected_at) =
        event_time(&sim, 0, |e| matches!(e, SdkEvent::Connected { .. })).unwrap();
    sim.cloud().config_mut().faults.ping_silent = true;
    let from = sim.events().len();
    let idx = sim
        .run_until_event(Duration::from_secs(120), |e| {
            matches!(e, SdkEvent::Disconnected { .. })
        })
        .unwrap();
    let (dropped_at, ev) = sim.events()[idx].clone();
    assert!(idx >= from);
    assert_eq!(
        ev,
        SdkEvent::Disconnected {
            message: "Streaming API connection disconnected".into(),
            reconnecting: true
        }
    );
    // ping at +14 s, miss at +29 s, ping at +43 s, miss at +58 s -> drop.
    assert_eq!(dropped_at - connected_at, Duration::from_secs(58));
    sim.run_for(Duration::from_millis(1));
    let pings = count_in(&mut sim, "urn:xmpp:ping");
    assert_eq!(pings, 2);
    assert_eq!(
        count_in(&mut sim, "too many missed pongs"),
        1,
        "stream error sent before the drop"
    );

    // The server is unreachable now: attempts at +2, +4, +8, ... +90, +90 s after each failure.
    sim.set_reachable(false);
    sim.cloud().config_mut().faults.ping_silent = false;
    sim.run_for(Duration::from_secs(2 + 4 + 8 + 16 + 32 + 64 + 90 + 90 + 1));
    let attempts = stream_connects(&sim, dropped_at);
    let mut prev = dropped_at;
    let gaps: Vec<u64> = attempts
        .iter()
        .map(|t| {
            let g = (*t - prev).as_secs();
            prev = *t;
            g
        })
        .collect();
    assert_eq!(gaps, [2, 4, 8, 16, 32, 64, 90, 90]);
    // Still "reconnecting": no disconnected{false}.
    assert!(!sim.events().iter().any(|(_, e)| matches!(
        e,
        SdkEvent::Disconnected {
            reconnecting: false,
            ..
        }
    )));

    // Network back: the next attempt succeeds, soft (same channel), connected{reconnect: true}.
    let posts_before = channel_posts(&mut sim);
    sim.set_reachable(true);
    sim.run_until_event(Duration::from_secs(100), |e| {
        matches!(e, SdkEvent::Connected { reconnect: true })
    })
    .expect("reconnected");
    assert_eq!(
        channel_posts(&mut sim),
        posts_before,
        "soft reconnect reuses the channel"
    );
    assert_eq!(connected_events(&sim), [false, true]);
}

#[test]
fn a_pong_in_time_keeps_the_connection() {
    let mut sim = user_sim(4, |_| {});
    ready(&mut sim);
    sim.run_for(Duration::from_secs(600));
    assert!(sim.engine().is_connected());
    let pings = count_in(&mut sim, "urn:xmpp:ping");
    // one ping every 14 s plus the round trip
    assert!((41..=43).contains(&pings), "{pings}");
    assert_eq!(connected_events(&sim), [false]);
    // a healthy session has no error events at all (the subscribe reply comes from the
    // notifications component and must be accepted as the reply it is)
    let errors: Vec<&SdkEvent> = sim
        .events()
        .iter()
        .map(|(_, e)| e)
        .filter(|e| matches!(e, SdkEvent::Error(_)))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn server_side_stream_close_reconnects_softly() {
    let mut sim = user_sim(5, |_| {});
    ready(&mut sim);
    let now = sim.now();
    sim.cloud().close_streams(now);
    sim.pump();
    let i = sim
        .run_until_event(Duration::from_secs(5), |e| {
            matches!(
                e,
                SdkEvent::Disconnected {
                    reconnecting: true,
                    ..
                }
            )
        })
        .unwrap();
    let lost = sim.events()[i].0;
    sim.run_until_event(Duration::from_secs(30), |e| {
        matches!(e, SdkEvent::Connected { reconnect: true })
    })
    .unwrap();
    let first = stream_connects(&sim, lost)[0];
    assert_eq!(
        (first - lost).as_secs(),
        2,
        "even the first automatic attempt waits 2 s"
    );
    assert_eq!(channel_posts(&mut sim), 1);
}

#[test]
fn sasl_not_authorized_stops_reconnecting() {
    let mut sim = user_sim(6, |_| {});
    ready(&mut sim);
    sim.cloud().config_mut().faults.sasl_failure = Some("not-authorized".into());
    let cut_at = sim.now();
    sim.cut_all();
    sim.run_for(Duration::from_secs(600));
    let errors: Vec<SdkErrorKind> = sim
        .events()
        .iter()
        .filter_map(|(_, e)| match e {
            SdkEvent::Error(err) => Some(err.kind),
            _ => None,
        })
        .collect();
    assert_eq!(errors, [SdkErrorKind::InvalidToken]);
    let last_disc = sim
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, SdkEvent::Disconnected { .. }))
        .map(|(_, e)| e.clone())
        .collect::<Vec<_>>();
    assert_eq!(last_disc.len(), 2);
    assert!(matches!(
        last_disc[1],
        SdkEvent::Disconnected {
            reconnecting: false,
            ..
        }
    ));
    assert_eq!(
        stream_connects(&sim, cut_at).len(),
        1,
        "exactly one attempt after the drop"
    );
    assert!(sim.engine().is_idle());
}

#[test]
fn retryable_sasl_failure_forces_a_hard_reconnect() {
    let mut sim = user_sim(7, |_| {});
    ready(&mut sim);
    sim.cloud().config_mut().faults.sasl_failure = Some("malformed-request".into());
    sim.cut_all();
    sim.run_for(Duration::from_secs(3));
    sim.cloud().config_mut().faults.sasl_failure = None;
    sim.run_until_event(Duration::from_secs(60), |e| {
        matches!(e, SdkEvent::Connected { reconnect: true })
    })
    .unwrap();
    assert_eq!(
        channel_posts(&mut sim),
        2,
        "the retry after a retryable SASL failure is hard"
    );
}

#[test]
fn channel_401_stops_and_500_retries_with_backoff() {
    let mut sim = user_sim(8, |c| {
        c.faults
            .rest_status
            .push(RestFault::new("/api/v2/notifications/channels", 503).times(2));
    });
    initialize(&mut sim, None);
    sim.run_until_event(Duration::from_secs(60), |e| matches!(e, SdkEvent::Ready))
        .expect("ready after two 503s");
    let statuses: Vec<u16> = sim
        .cloud()
        .cloud_log()
        .rest_calls()
        .iter()
        .filter(|(_, p, _)| p == "/api/v2/notifications/channels")
        .map(|(_, _, s)| *s)
        .collect();
    assert_eq!(statuses, [503, 503, 200]);
    // initial connect: immediate, then 2 s, then 4 s
    let posts: Vec<Instant> = sim
        .transmits()
        .iter()
        .filter(|(_, t)| matches!(t, Transmit::Connect { host, .. } if host.starts_with("api.")))
        .map(|(t, _)| *t)
        .skip(2)
        .take(3)
        .collect();
    let g1 = (posts[1] - posts[0]).as_millis();
    let g2 = (posts[2] - posts[1]).as_millis();
    assert!(
        (2000..2100).contains(&g1) && (4000..4100).contains(&g2),
        "{g1} {g2}"
    );

    // Now the token is revoked: a hard reconnect gets 401 and stops.
    sim.cloud()
        .config_mut()
        .faults
        .rest_status
        .push(RestFault::new("/api/v2/notifications/channels", 401));
    let now = sim.now();
    sim.engine().reconnect(now).unwrap();
    sim.run_for(Duration::from_secs(600));
    assert!(sim
        .events()
        .iter()
        .any(|(_, e)| matches!(e, SdkEvent::Error(err) if err.kind == SdkErrorKind::InvalidToken)));
    assert!(matches!(
        sim.events().last().unwrap().1,
        SdkEvent::Disconnected {
            reconnecting: false,
            ..
        } | SdkEvent::Trace { .. }
    ));
    assert!(sim.engine().is_idle());
}

#[test]
fn initialize_rest_errors_are_typed() {
    // 401 on the bootstrap: invalid token, no retry.
    let start = Instant::now();
    let opts = SdkOptions::builder()
        .environment(ENV)
        .access_token("wrong-token")
        .build()
        .unwrap();
    let cloud = FakeCloud::new(CloudConfig::for_environment(ENV));
    let mut sim = SimNetwork::new(Engine::new(opts, start, 9), cloud, start, 9);
    initialize(&mut sim, None);
    sim.run_for(Duration::from_secs(60));
    assert_eq!(
        sim.engine().take_initialize_result(),
        Some(Err(genesys_webrtc::InitializeError::InvalidToken))
    );
    assert!(sim.events().iter().any(
        |(_, e)| matches!(e, SdkEvent::Error(err) if err.kind == SdkErrorKind::Initialization)
    ));
    // 500 on organizations/me: retried after 15 s (no Retry-After), 429 honours Retry-After.
    let mut sim = user_sim(10, |c| {
        c.faults
            .rest_status
            .push(RestFault::new("/api/v2/organizations/me", 500).times(1));
        c.faults.rest_status.push(
            RestFault::new("/api/v2/users/me", 429)
                .times(1)
                .retry_after(3),
        );
    });
    initialize(&mut sim, None);
    let i = sim
        .run_until_event(Duration::from_secs(60), |e| matches!(e, SdkEvent::Ready))
        .unwrap();
    let ready_at = sim.events()[i].0;
    assert!(ready_at - sim.transmits()[0].0 >= Duration::from_secs(15));
    let rest = sim.cloud().cloud_log().rest_calls();
    assert_eq!(
        rest.iter()
            .filter(|(_, p, _)| p == "/api/v2/organizations/me")
            .count(),
        2
    );
    assert_eq!(
        rest.iter()
            .filter(|(_, p, _)| p == "/api/v2/users/me")
            .count(),
        2
    );
    // a non-retryable 404 on users/me fails initialize with the status
    let mut sim = user_sim(11, |c| {
        c.faults
            .rest_status
            .push(RestFault::new("/api/v2/users/me", 404))
    });
    initialize(&mut sim, None);
    sim.run_for(Duration::from_secs(5));
    assert!(matches!(
        sim.engine().take_initialize_result(),
        Some(Err(genesys_webrtc::InitializeError::Http(e))) if e.status() == Some(404)
    ));
}

#[test]
fn discovery_that_never_answers_fails_the_attempt() {
    let mut sim = user_sim(12, |c| c.faults.extdisco_silent = true);
    initialize(&mut sim, None);
    sim.run_for(Duration::from_secs(16));
    assert!(
        connected_events(&sim).is_empty(),
        "connected requires discovery"
    );
    let first = stream_connects(&sim, sim.transmits()[0].0 - Duration::from_millis(1));
    assert_eq!(first.len(), 1);
    sim.cloud().config_mut().faults.extdisco_silent = false;
    sim.run_until_event(Duration::from_secs(60), |e| matches!(e, SdkEvent::Ready))
        .unwrap();
    let attempts = stream_connects(&sim, sim.transmits()[0].0 - Duration::from_millis(1));
    assert_eq!(attempts.len(), 2);
    // 15 s discovery timeout (+ login round trips), then the 2 s back-off of the first retry
    let gap = attempts[1] - attempts[0];
    assert!(
        gap >= Duration::from_secs(17) && gap < Duration::from_millis(17_300),
        "{gap:?}"
    );
    assert_eq!(
        channel_posts(&mut sim),
        1,
        "a discovery failure retries softly"
    );
}

#[test]
fn discovery_refreshes_after_connect_and_every_six_hours() {
    let mut sim = user_sim(13, |_| {});
    ready(&mut sim);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(
        count_in(&mut sim, "urn:xmpp:extdisco:1"),
        4,
        "blocking + post-connect refresh"
    );
    sim.run_for(Duration::from_secs(6 * 3600));
    assert_eq!(
        count_in(&mut sim, "urn:xmpp:extdisco:1"),
        6,
        "periodic refresh after 6 h"
    );
    // a refresh that never answers is retried twice (3 tries) and does not drop the connection
    sim.cloud().config_mut().faults.extdisco_silent = true;
    let now = sim.now();
    sim.cloud().close_streams(now);
    sim.pump();
    sim.run_for(Duration::from_secs(20));
    assert!(
        !sim.engine().is_connected(),
        "blocking discovery fails while silent"
    );
    sim.cloud().config_mut().faults.extdisco_silent = false;
    sim.run_until_event(Duration::from_secs(60), |e| {
        matches!(e, SdkEvent::Connected { reconnect: true })
    })
    .unwrap();
    sim.cloud().config_mut().faults.extdisco_silent = true;
    let before = count_in(&mut sim, "urn:xmpp:extdisco:1");
    sim.run_for(Duration::from_secs(50));
    // `before` was read when connected: the refresh's first try may still have been in flight.
    assert_eq!(
        count_in(&mut sim, "urn:xmpp:extdisco:1") - before,
        6,
        "post-connect refresh: 3 tries"
    );
    assert!(sim.engine().is_connected());
}

#[test]
fn reconnect_is_hard_and_disconnect_stops() {
    let mut sim = user_sim(14, |_| {});
    ready(&mut sim);
    let now = sim.now();
    sim.engine().reconnect(now).unwrap();
    sim.pump();
    sim.run_until_event(Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::Connected { reconnect: true })
    })
    .unwrap();
    assert_eq!(
        channel_posts(&mut sim),
        2,
        "reconnect() creates a new channel"
    );
    // the topic set is re-sent to the new channel
    sim.run_for(Duration::from_secs(1));
    let put = sim
        .cloud()
        .cloud_log()
        .rest_calls()
        .into_iter()
        .rfind(|(m, _, _)| *m == Method::Put)
        .unwrap()
        .1;
    let newest = put.split('/').nth(5).unwrap().to_string();
    assert_eq!(sim.cloud().channel_topics(&newest).unwrap().len(), 2);

    let now = sim.now();
    sim.engine().disconnect(now);
    sim.pump();
    let i = sim
        .run_until_event(Duration::from_secs(6), |e| {
            matches!(e, SdkEvent::Disconnected { .. })
        })
        .unwrap();
    assert_eq!(
        sim.events()[i].1,
        SdkEvent::Disconnected {
            message: "Streaming API connection disconnected".into(),
            reconnecting: false
        }
    );
    assert!(
        sim.events()[i].0 - now < Duration::from_secs(1),
        "server answered <close/>"
    );
    // one from reconnect() (it closes the old stream politely), one from disconnect()
    assert_eq!(
        count_in(
            &mut sim,
            "<close xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\"/>"
        ),
        2
    );
    let t = sim.now();
    sim.run_for(Duration::from_secs(600));
    assert!(
        stream_connects(&sim, t).is_empty(),
        "no reconnect after disconnect()"
    );
    assert!(sim.engine().is_idle());
    // reconnect() after disconnect() connects again
    let now = sim.now();
    sim.engine().reconnect(now).unwrap();
    sim.run_until_event(Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::Connected { reconnect: true })
    })
    .unwrap();
}

#[test]
fn disconnect_gives_up_after_five_seconds_without_a_server_close() {
    let mut sim = user_sim(15, |_| {});
    ready(&mut sim);
    // the server stops answering anything on the socket: cut only the cloud side's replies
    sim.set_latency(Duration::from_secs(30), Duration::ZERO);
    let now = sim.now();
    sim.engine().disconnect(now);
    sim.pump();
    let i = sim
        .run_until_event(Duration::from_secs(20), |e| {
            matches!(e, SdkEvent::Disconnected { .. })
        })
        .unwrap();
    assert_eq!(sim.events()[i].0 - now, Duration::from_secs(5));
}

#[test]
fn control_topics_and_connection_transfer_force_hard_reconnects() {
    let mut sim = user_sim(16, |_| {});
    ready(&mut sim);
    let now = sim.now();
    sim.cloud().send_control_topic(now, "no_longer_subscribed");
    sim.pump();
    sim.run_for(Duration::from_secs(1));
    sim.cut_all();
    sim.run_until_event(Duration::from_secs(30), |e| {
        matches!(e, SdkEvent::Connected { reconnect: true })
    })
    .unwrap();
    assert_eq!(channel_posts(&mut sim), 2);

    let now = sim.now();
    sim.cloud().send_connection_transfer(now);
    sim.pump();
    let i = sim
        .run_until_event(Duration::from_secs(1), |e| {
            matches!(
                e,
                SdkEvent::Disconnected {
                    reconnecting: true,
                    ..
                }
            )
        })
        .expect("cxfr disconnects at once");
    assert!(sim.events()[i].0 - now < Duration::from_millis(50));
    sim.run_until_event(Duration::from_secs(30), |e| {
        matches!(e, SdkEvent::Connected { reconnect: true })
    })
    .unwrap();
    assert_eq!(channel_posts(&mut sim), 3);
    assert_eq!(
        count_in(&mut sim, "urn:xmpp:cxfr"),
        0,
        "no IQ result for cxfr"
    );
}

#[test]
fn the_tenth_soft_reconnect_becomes_hard() {
    let mut sim = user_sim(17, |_| {});
    ready(&mut sim);
    for round in 1..=10 {
        sim.cut_all();
        sim.run_until_event(Duration::from_secs(60), |e| {
            matches!(e, SdkEvent::Connected { reconnect: true })
        })
        .unwrap();
        let expected = if round < 10 { 1 } else { 2 };
        assert_eq!(channel_posts(&mut sim), expected, "round {round}");
        sim.run_for(Duration::from_secs(1));
    }
}

#[test]
fn notifications_reach_the_app_and_unknown_topics_do_not() {
    let mut sim = user_sim(18, |_| {});
    ready(&mut sim);
    sim.run_for(Duration::from_secs(1));
    let user = sim.cloud().config().user_id.clone();
    let topic = format!("v2.users.{user}.conversations");
    let now = sim.now();
    sim.cloud().publish(
        now,
        &topic,
        serde_json::json!({"id": "conv-1"}),
        Some("update"),
    );
    sim.cloud()
        .publish(now, "v2.other.topic", serde_json::json!({"id": "x"}), None);
    sim.pump();
    sim.run_for(Duration::from_secs(1));
    let notes: Vec<(String, serde_json::Value, Option<String>)> = sim
        .events()
        .iter()
        .filter_map(|(_, e)| match e {
            SdkEvent::Notification {
                topic,
                event_body,
                action,
            } => Some((topic.clone(), event_body.clone(), action.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        notes,
        [(
            topic,
            serde_json::json!({"id": "conv-1"}),
            Some("update".into())
        )]
    );
}

/// Writes raw server bytes into the engine's streaming socket.
fn inject(sim: &mut SimNetwork, bytes: &[u8]) {
    let conn = sim
        .transmits()
        .iter()
        .rev()
        .find_map(|(_, t)| match t {
            Transmit::Connect { conn, host, .. } if host.starts_with("streaming.") => Some(*conn),
            _ => None,
        })
        .unwrap();
    let now = sim.now();
    sim.engine().handle_input(Input::Received(now, conn, bytes));
    sim.pump();
}

fn frame(text: &str) -> Vec<u8> {
    websocket::encode_frame(Role::Server, Opcode::Text, text.as_bytes(), [0; 4])
}

#[test]
fn bad_server_input_gives_errors_not_panics() {
    let mut sim = user_sim(19, |_| {});
    ready(&mut sim);
    // unknown IQ: answered service-unavailable, connection stays
    inject(
        &mut sim,
        &frame(
            r#"<iq xmlns="jabber:client" type="get" id="q1" from="example.orgspan.com"><weird xmlns="urn:x"/></iq>"#,
        ),
    );
    inject(
        &mut sim,
        &frame(
            r#"<iq xmlns="jabber:client" type="set" id="q2"><a xmlns="urn:x"/><b xmlns="urn:x"/></iq>"#,
        ),
    );
    inject(
        &mut sim,
        &frame(r#"<message xmlns="jabber:client"><body>hi</body></message>"#),
    );
    inject(
        &mut sim,
        &frame(r#"<iq xmlns="jabber:client" type="result" id="nobody-asked"/>"#),
    );
    sim.run_for(Duration::from_millis(100));
    assert_eq!(count_in(&mut sim, "service-unavailable"), 1);
    assert_eq!(count_in(&mut sim, "bad-request"), 1);
    assert!(sim.engine().is_connected());

    // invalid XML: error event, invalid-xml stream error, reconnect
    let before = sim.events().len();
    inject(
        &mut sim,
        &frame("<iq xmlns='jabber:client' type='get'><unclosed></iq>"),
    );
    sim.run_until_event(Duration::from_secs(30), |e| {
        matches!(e, SdkEvent::Connected { reconnect: true })
    })
    .unwrap();
    assert!(sim.events()[before..]
        .iter()
        .any(|(_, e)| matches!(e, SdkEvent::Error(err) if err.kind == SdkErrorKind::Protocol)));
    assert_eq!(count_in(&mut sim, "invalid-xml"), 1);

    // an oversized frame header: rejected before allocating, socket dropped, reconnect
    let mut huge = vec![0x81, 127];
    huge.extend_from_slice(&(64u64 * 1024 * 1024).to_be_bytes());
    huge.extend_from_slice(&[b'x'; 100]);
    inject(&mut sim, &huge);
    sim.run_until_event(Duration::from_secs(30), |e| {
        matches!(e, SdkEvent::Connected { reconnect: true })
    })
    .unwrap();
    // a truncated frame just waits for more bytes
    inject(&mut sim, &frame("<message xmlns='jabber:client'/>")[..5]);
    assert!(sim.engine().is_connected());
    // a masked server frame is a protocol violation
    let masked = websocket::encode_frame(Role::Client, Opcode::Text, b"<a/>", [1, 2, 3, 4]);
    let before = connected_events(&sim).len();
    inject(&mut sim, &masked);
    sim.run_until_event(Duration::from_secs(30), |e| {
        matches!(e, SdkEvent::Connected { reconnect: true })
    })
    .unwrap();
    assert_eq!(connected_events(&sim).len(), before + 1);
}

#[test]
fn same_seed_same_run() {
    fn run(seed: u64) -> Vec<String> {
        let mut sim = user_sim(seed, |_| {});
        ready(&mut sim);
        sim.cut_all();
        sim.run_for(Duration::from_secs(30));
        sim.transmits()
            .iter()
            .map(|(t, tr)| format!("{:?} {:?}", *t - sim.transmits()[0].0, tr))
            .collect()
    }
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn expiring_subscriptions_are_renewed_with_the_whole_set() {
    let mut sim = user_sim(20, |_| {});
    ready(&mut sim);
    sim.run_for(Duration::from_secs(1));
    let puts = |sim: &mut SimNetwork| {
        sim.cloud()
            .cloud_log()
            .rest_calls()
            .iter()
            .filter(|(m, _, s)| *m == Method::Put && *s == 200)
            .count()
    };
    assert_eq!(puts(&mut sim), 1);
    let now = sim.now();
    sim.cloud()
        .send_control_topic(now, "streaming-subscriptions-expiring");
    sim.pump();
    sim.run_for(Duration::from_millis(50));
    assert_eq!(puts(&mut sim), 1, "debounced by 100 ms");
    sim.run_for(Duration::from_millis(200));
    assert_eq!(puts(&mut sim), 2);
    assert!(sim.engine().is_connected());
}

#[test]
fn an_empty_stun_list_means_relay_only() {
    use genesys_webrtc::xmpp::extdisco::IceTransportPolicy;
    let mut sim = user_sim(21, |c| {
        c.stun_servers.clear();
    });
    ready(&mut sim);
    let ice = sim.engine().ice_config().unwrap().clone();
    assert_eq!(ice.policy, IceTransportPolicy::Relay);
    assert!(ice.servers.iter().all(|s| s.url.starts_with("turn:")));
    assert_eq!(
        ice.servers[1].url,
        format!("turn:turn.{ENV}:443?transport=tcp")
    );
    let mut sim = user_sim(22, |_| {});
    ready(&mut sim);
    assert_eq!(
        sim.engine().ice_config().unwrap().policy,
        IceTransportPolicy::All
    );
}
