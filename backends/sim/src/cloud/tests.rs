//! Drives [`FakeCloud`] with a hand-written client: HTTP requests, a WebSocket upgrade, and
//! RFC 7395 frames, asserting on what comes back and on the log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use genesys_webrtc::wire::http::{HttpRequest, HttpResponse, Method, ResponseDecoder};
use genesys_webrtc::wire::websocket::{self, FrameDecoder, Message, Opcode, Role};
use genesys_webrtc::wire::xml::{self, Element, XmlLimits};
use genesys_webrtc::xmpp::ns;
use serde_json::{json, Value};

use super::*;

const ENV: &str = "fake.genesys.test";
const DOMAIN: &str = "example.orgspan.com";

struct Harness {
    cloud: FakeCloud,
    now: Instant,
    next_conn: u64,
    pending: BTreeMap<ConnId, Vec<u8>>,
    closed: BTreeSet<ConnId>,
    ws: BTreeMap<ConnId, FrameDecoder>,
}

impl Harness {
    fn new(config: CloudConfig) -> Self {
        Harness {
            cloud: FakeCloud::new(config),
            now: Instant::now(),
            next_conn: 0,
            pending: BTreeMap::new(),
            closed: BTreeSet::new(),
            ws: BTreeMap::new(),
        }
    }

    fn default() -> Self {
        Self::new(CloudConfig::for_environment(ENV))
    }

    fn connect(&mut self) -> ConnId {
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        self.cloud.on_connect(self.now, conn);
        conn
    }

    fn drain(&mut self) {
        while let Some(out) = self.cloud.poll_output() {
            match out {
                CloudOutput::Send { conn, data } => {
                    assert!(!self.closed.contains(&conn), "data after close on {conn:?}");
                    self.pending.entry(conn).or_default().extend(data);
                }
                CloudOutput::Close { conn } => {
                    self.closed.insert(conn);
                }
            }
        }
    }

    fn take(&mut self, conn: ConnId) -> Vec<u8> {
        self.drain();
        self.pending.remove(&conn).unwrap_or_default()
    }

    fn is_closed(&self, conn: ConnId) -> bool {
        self.closed.contains(&conn)
    }

    fn raw(&mut self, conn: ConnId, data: &[u8]) {
        self.cloud.on_data(self.now, conn, data);
        self.drain();
    }

    /// Sends a request and decodes the response; keeps bytes after it (WebSocket frames).
    fn http(&mut self, conn: ConnId, req: &HttpRequest) -> HttpResponse {
        self.cloud.on_data(self.now, conn, &req.encode());
        let bytes = self.take(conn);
        let mut decoder = ResponseDecoder::new(req.method);
        let resp = decoder
            .push(&bytes)
            .expect("valid response")
            .expect("complete response");
        let rest = decoder.take_remaining();
        if !rest.is_empty() {
            self.pending.insert(conn, rest);
        }
        resp
    }

    fn rest(
        &mut self,
        method: Method,
        target: &str,
        token: Option<&str>,
        body: &str,
    ) -> HttpResponse {
        let conn = self.connect();
        self.rest_on(conn, method, target, token, body)
    }

    fn rest_on(
        &mut self,
        conn: ConnId,
        method: Method,
        target: &str,
        token: Option<&str>,
        body: &str,
    ) -> HttpResponse {
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(t) = token {
            headers.push(("Authorization".to_owned(), format!("Bearer {t}")));
        }
        let req = HttpRequest {
            method,
            host: format!("api.{ENV}"),
            target: target.to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
        };
        self.http(conn, &req)
    }

    fn token(&self) -> String {
        self.cloud.config().access_token.clone()
    }

    fn create_channel(&mut self) -> String {
        let token = self.token();
        let resp = self.rest(
            Method::Post,
            "/api/v2/notifications/channels?connectionType=streaming",
            Some(&token),
            "",
        );
        assert_eq!(resp.status, 200);
        body_json(&resp)["id"].as_str().unwrap().to_owned()
    }

    fn upgrade(&mut self, target: &str, protocol: &str) -> (ConnId, HttpResponse) {
        let conn = self.connect();
        let (req, key) = websocket::client_handshake(
            &format!("streaming.{ENV}"),
            target,
            protocol,
            [7; 16],
            &[],
        );
        let resp = self.http(conn, &req);
        if resp.status == 101 {
            websocket::verify_server_handshake(&resp, &key, protocol).expect("valid 101");
            self.ws.insert(conn, FrameDecoder::new(Role::Client));
        }
        (conn, resp)
    }

    /// Frames received on a WebSocket connection.
    fn frames(&mut self, conn: ConnId) -> Vec<Message> {
        let bytes = self.take(conn);
        let decoder = self.ws.get_mut(&conn).expect("websocket connection");
        decoder.push(&bytes);
        let mut out = Vec::new();
        while let Some(m) = decoder.next_message().expect("valid frames") {
            out.push(m);
        }
        out
    }

    /// Text frames received on a WebSocket connection.
    fn texts(&mut self, conn: ConnId) -> Vec<String> {
        self.frames(conn)
            .into_iter()
            .filter_map(|m| match m {
                Message::Text(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    fn send_frame(&mut self, conn: ConnId, opcode: Opcode, payload: &[u8]) {
        let frame = websocket::encode_frame(Role::Client, opcode, payload, [1, 2, 3, 4]);
        self.cloud.on_data(self.now, conn, &frame);
        self.drain();
    }

    /// Sends one XML frame and returns the parsed replies.
    fn send(&mut self, conn: ConnId, xml: &str) -> Vec<Element> {
        self.send_frame(conn, Opcode::Text, xml.as_bytes());
        self.texts(conn)
            .iter()
            .map(|t| xml::parse(t, &XmlLimits::default()).expect("server sends valid XML"))
            .collect()
    }

    fn open(&mut self, conn: ConnId) -> Vec<Element> {
        self.send(
            conn,
            &format!(
                "<open xmlns='{}' to='{DOMAIN}' version='1.0' xml:lang='en'/>",
                ns::FRAMING
            ),
        )
    }

    /// Channel connection through bind; returns the connection and the bound full JID.
    fn login(&mut self, resource: &str) -> (ConnId, String) {
        let channel = self.create_channel();
        let (conn, resp) = self.upgrade(&format!("/stream/channels/{channel}"), "xmpp");
        assert_eq!(resp.status, 101);
        self.open(conn);
        let token = self.token();
        let replies = self.send(conn, &plain_auth(&format!("alice@{DOMAIN}"), &token));
        assert!(replies[0].is("success", ns::SASL), "{replies:?}");
        self.open(conn);
        let replies = self.send(conn, &bind_iq("b1", Some(resource)));
        let jid = replies[0]
            .child("bind", ns::BIND)
            .and_then(|b| b.child("jid", ns::BIND))
            .unwrap()
            .text();
        (conn, jid)
    }
}

fn body_json(resp: &HttpResponse) -> Value {
    serde_json::from_slice(&resp.body).expect("JSON body")
}

fn plain_auth(jid: &str, token: &str) -> String {
    let payload = STANDARD.encode(format!("\0{jid}\0authKey:{token}"));
    format!(
        "<auth xmlns='{}' mechanism='PLAIN'>{payload}</auth>",
        ns::SASL
    )
}

fn bind_iq(id: &str, resource: Option<&str>) -> String {
    let res = resource
        .map(|r| format!("<resource>{r}</resource>"))
        .unwrap_or_default();
    format!(
        "<iq xmlns='jabber:client' type='set' id='{id}'><bind xmlns='{}'>{res}</bind></iq>",
        ns::BIND
    )
}

fn extdisco(id: &str, kind: &str) -> String {
    format!(
        "<iq xmlns='jabber:client' type='get' to='{DOMAIN}' id='{id}'><services xmlns='{}' type='{kind}'/></iq>",
        ns::EXTDISCO
    )
}

fn subscribe(id: &str, node: &str) -> String {
    format!(
        "<iq xmlns='jabber:client' type='set' to='notifications.{ENV}' id='{id}'><pubsub xmlns='{}'><subscribe node='{node}' jid='alice@{DOMAIN}'/></pubsub></iq>",
        ns::PUBSUB
    )
}

fn ice_url(service: &Element) -> String {
    let mut url = format!(
        "{}:{}",
        service.attr("type").unwrap(),
        service.attr("host").unwrap()
    );
    if let Some(port) = service.attr("port") {
        url.push(':');
        url.push_str(port);
    }
    if let Some(t) = service.attr("transport") {
        if service.attr("type") == Some("turn") && t != "udp" {
            url.push_str("?transport=");
            url.push_str(t);
        }
    }
    url
}

#[test]
fn rest_accepts_the_right_token_and_rejects_a_wrong_one() {
    let mut h = Harness::default();
    let token = h.token();
    let resp = h.rest(Method::Get, "/api/v2/organizations/me", Some(&token), "");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(body_json(&resp)["id"], DEFAULT_ORGANIZATION_ID);

    let resp = h.rest(
        Method::Get,
        "/api/v2/users/me?expand=station",
        Some(&token),
        "",
    );
    assert_eq!(resp.status, 200);
    let me = body_json(&resp);
    assert_eq!(me["id"], DEFAULT_USER_ID);
    assert_eq!(me["chat"]["jabberId"], format!("alice@{DOMAIN}"));
    assert_eq!(me["station"]["effectiveStation"]["id"], DEFAULT_STATION_ID);
    let resp = h.rest(Method::Get, "/api/v2/users/me", Some(&token), "");
    assert!(body_json(&resp).get("station").is_none());

    let resp = h.rest(
        Method::Get,
        &format!("/api/v2/stations/{DEFAULT_STATION_ID}"),
        Some(&token),
        "",
    );
    let station = body_json(&resp);
    assert_eq!(station["type"], "inin_webrtc_softphone");
    assert_eq!(station["userId"], DEFAULT_USER_ID);
    assert_eq!(station["webRtcPersistentEnabled"], false);
    assert_eq!(station["webRtcForceTurn"], false);
    assert_eq!(station["webRtcCallAppearances"], 1);

    h.cloud.clear_log();
    let resp = h.rest(Method::Get, "/api/v2/users/me", Some("wrong-token"), "");
    assert_eq!(resp.status, 401);
    assert_eq!(body_json(&resp)["status"], 401);
    let resp = h.rest(Method::Get, "/api/v2/users/me", None, "");
    assert_eq!(resp.status, 401);
    // A 401 has no other effect: no channel is created.
    let resp = h.rest(
        Method::Post,
        "/api/v2/notifications/channels",
        Some("x"),
        "",
    );
    assert_eq!(resp.status, 401);
    assert!(h.cloud.channel_ids().is_empty());
    let rest: Vec<_> = h
        .cloud
        .log()
        .iter()
        .filter_map(|e| match e {
            LogEntry::Rest {
                path,
                query,
                authorization,
                status,
                ..
            } => Some((path.clone(), query.clone(), *authorization, *status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        rest,
        vec![
            (
                "/api/v2/users/me".into(),
                None,
                AuthKind::Bearer(false),
                401
            ),
            ("/api/v2/users/me".into(), None, AuthKind::None, 401),
            (
                "/api/v2/notifications/channels".into(),
                None,
                AuthKind::Bearer(false),
                401
            ),
        ]
    );
    assert!(!format!("{:?}", h.cloud.log()).contains(&token));

    let resp = h.rest(Method::Get, "/api/v2/nope", Some(&token), "");
    assert_eq!(resp.status, 404);
    let resp = h.rest(Method::Get, "/elsewhere", Some(&token), "");
    assert_eq!(resp.status, 404);
}

#[test]
fn keep_alive_and_connection_close() {
    let mut h = Harness::default();
    let token = h.token();
    let conn = h.connect();
    for _ in 0..2 {
        let resp = h.rest_on(
            conn,
            Method::Get,
            "/api/v2/organizations/me",
            Some(&token),
            "",
        );
        assert_eq!(resp.status, 200);
        assert!(!h.is_closed(conn));
    }
    let req = HttpRequest {
        method: Method::Get,
        host: format!("api.{ENV}"),
        target: "/api/v2/organizations/me".into(),
        headers: vec![
            ("Authorization".into(), format!("Bearer {token}")),
            ("Connection".into(), "close".into()),
        ],
        body: Vec::new(),
    };
    assert_eq!(h.http(conn, &req).status, 200);
    assert!(h.is_closed(conn));

    // Garbage is a 400 and a close, never a panic.
    let conn = h.connect();
    h.raw(conn, b"NOT HTTP AT ALL\r\n\r\n");
    let bytes = h.take(conn);
    assert!(bytes.starts_with(b"HTTP/1.1 400"));
    assert!(h.is_closed(conn));
}

#[test]
fn channels_and_bulk_subscriptions() {
    let mut h = Harness::default();
    let token = h.token();
    let resp = h.rest(
        Method::Post,
        "/api/v2/notifications/channels?connectionType=streaming",
        Some(&token),
        "",
    );
    let channel = body_json(&resp);
    let id = channel["id"].as_str().unwrap().to_owned();
    assert_eq!(
        channel["connectUri"],
        format!("wss://streaming.{ENV}/channels/{id}")
    );
    assert_ne!(id, h.create_channel(), "every call creates a new channel");

    let path = format!("/api/v2/notifications/channels/{id}/subscriptions");
    let body = json!([{"id": "v2.users.u1?conversations&station"}, {"id": "v2.x"}]).to_string();
    let resp = h.rest(Method::Put, &path, Some(&token), &body);
    assert_eq!(resp.status, 200);
    let entities = body_json(&resp)["entities"].clone();
    assert_eq!(
        entities[0],
        json!({"id": "v2.users.u1.conversations", "state": "Permitted"})
    );
    assert_eq!(entities[1]["id"], "v2.users.u1.station");
    assert_eq!(
        h.cloud.channel_topics(&id).unwrap(),
        vec!["v2.users.u1.conversations", "v2.users.u1.station", "v2.x"]
    );
    let resp = h.rest(Method::Post, &path, Some(&token), r#"[{"id":"v2.y"}]"#);
    assert_eq!(resp.status, 200);
    assert_eq!(h.cloud.channel_topics(&id).unwrap().len(), 4);
    let resp = h.rest(Method::Put, &path, Some(&token), r#"[{"id":"v2.z"}]"#);
    assert_eq!(resp.status, 200);
    assert_eq!(h.cloud.channel_topics(&id).unwrap(), vec!["v2.z"]);

    let resp = h.rest(Method::Put, &path, Some(&token), "{not json");
    assert_eq!(resp.status, 400);
    let resp = h.rest(
        Method::Put,
        "/api/v2/notifications/channels/nope/subscriptions",
        Some(&token),
        "[]",
    );
    assert_eq!(resp.status, 404);
}

#[test]
fn guest_code_exchange_issues_a_jwt_for_the_conference() {
    let mut h = Harness::default();
    let body = json!({"organizationId": DEFAULT_ORGANIZATION_ID, "addCommunicationCode": DEFAULT_SECURITY_CODE})
        .to_string();
    let resp = h.rest(Method::Post, "/api/v2/conversations/codes", None, &body);
    assert_eq!(resp.status, 200);
    let data = body_json(&resp);
    assert_eq!(data["conversation"]["id"], DEFAULT_GUEST_CONVERSATION_ID);
    assert_eq!(
        data["sourceCommunicationId"],
        DEFAULT_GUEST_SOURCE_COMMUNICATION_ID
    );
    let token = data["jwt"].as_str().unwrap().to_owned();
    assert!(!token.contains('='));
    let payload = decode_jwt_payload(&token).unwrap();
    assert_eq!(
        payload["data"]["jid"],
        format!("acd-{DEFAULT_GUEST_CONVERSATION_ID}@conference.{DOMAIN}")
    );
    assert_eq!(payload["org"], DEFAULT_ORGANIZATION_ID);
    assert_eq!(payload["iss"], GUEST_ISSUER);
    assert!(payload["data"]["uid"].is_string());
    assert_eq!(h.cloud.issued_jwts(), vec![token.clone()]);

    let wrong =
        json!({"organizationId": DEFAULT_ORGANIZATION_ID, "addCommunicationCode": "999999"})
            .to_string();
    assert_eq!(
        h.rest(Method::Post, "/api/v2/conversations/codes", None, &wrong)
            .status,
        404
    );
    let wrong = json!({"organizationId": "other", "addCommunicationCode": DEFAULT_SECURITY_CODE})
        .to_string();
    assert_eq!(
        h.rest(Method::Post, "/api/v2/conversations/codes", None, &wrong)
            .status,
        404
    );
    assert_eq!(
        h.rest(Method::Post, "/api/v2/conversations/codes", None, "[")
            .status,
        400
    );

    // The JWT opens an ANONYMOUS stream; the guest gets a server-assigned resource.
    let (conn, resp) = h.upgrade(&format!("/stream/jwt/{token}"), "xmpp");
    assert_eq!(resp.status, 101);
    let replies = h.open(conn);
    let mechs = replies[1].child("mechanisms", ns::SASL).unwrap();
    let offered: Vec<String> = mechs.elements().map(|m| m.text()).collect();
    assert_eq!(offered, vec!["ANONYMOUS"]);
    // PLAIN is not offered on a JWT connection.
    let replies = h.send(conn, &plain_auth(&format!("alice@{DOMAIN}"), "x"));
    assert!(replies[0].is("failure", ns::SASL));
    assert!(replies[0].child("invalid-mechanism", ns::SASL).is_some());
    let replies = h.send(
        conn,
        &format!("<auth xmlns='{}' mechanism='ANONYMOUS'>=</auth>", ns::SASL),
    );
    assert!(replies[0].is("success", ns::SASL));
    h.open(conn);
    let replies = h.send(conn, &bind_iq("b1", None));
    let jid = replies[0]
        .child("bind", ns::BIND)
        .unwrap()
        .child("jid", ns::BIND)
        .unwrap()
        .text();
    assert!(jid.starts_with(&format!("guest-1@{DOMAIN}/")), "{jid}");
    assert_eq!(h.cloud.connected_jids(), vec![jid]);
    assert!(h.cloud.log().contains(&LogEntry::WsUpgrade {
        kind: WsKind::Jwt,
        status: 101
    }));

    // An unknown JWT is a 401.
    let (conn, resp) = h.upgrade("/stream/jwt/a.b.c", "xmpp");
    assert_eq!(resp.status, 401);
    assert!(h.is_closed(conn));
}

#[test]
fn channel_login_bind_ping_extdisco_and_subscribe() {
    let mut h = Harness::default();
    let channel = h.create_channel();
    let (conn, resp) = h.upgrade(&format!("/stream/channels/{channel}"), "xmpp");
    assert_eq!(resp.status, 101);
    assert_eq!(resp.header("sec-websocket-protocol"), Some("xmpp"));
    h.cloud.clear_log();

    let replies = h.open(conn);
    assert_eq!(replies.len(), 2);
    assert!(replies[0].is("open", ns::FRAMING));
    assert_eq!(replies[0].attr("from"), Some(DOMAIN));
    assert_eq!(replies[0].attr("version"), Some("1.0"));
    assert!(replies[0].attr("id").is_some());
    assert!(replies[1].is("features", ns::STREAMS));
    let mechs: Vec<String> = replies[1]
        .child("mechanisms", ns::SASL)
        .unwrap()
        .elements()
        .map(|m| m.text())
        .collect();
    assert_eq!(mechs, vec!["PLAIN"]);

    let token = h.token();
    let replies = h.send(conn, &plain_auth(&format!("alice@{DOMAIN}"), &token));
    assert_eq!(replies, vec![Element::new("success", ns::SASL)]);

    let replies = h.open(conn);
    assert!(replies[0].is("open", ns::FRAMING));
    assert!(replies[1].child("bind", ns::BIND).is_some());
    let session = replies[1].child("session", ns::SESSION).unwrap();
    assert!(session.child("optional", ns::SESSION).is_some());

    let replies = h.send(conn, &bind_iq("bind-1", Some("3f2b-res")));
    assert_eq!(replies[0].attr("type"), Some("result"));
    assert_eq!(replies[0].attr("id"), Some("bind-1"));
    let full = format!("alice@{DOMAIN}/3f2b-res");
    assert_eq!(
        replies[0]
            .child("bind", ns::BIND)
            .unwrap()
            .child("jid", ns::BIND)
            .unwrap()
            .text(),
        full
    );
    assert_eq!(h.cloud.connected_jids(), vec![full.clone()]);

    let replies = h.send(
        conn,
        "<iq xmlns='jabber:client' type='get' id='ping-1'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].attr("type"), Some("result"));
    assert_eq!(replies[0].attr("id"), Some("ping-1"));
    assert_eq!(replies[0].attr("to"), Some(full.as_str()));
    assert_eq!(replies[0].elements().count(), 0);

    let replies = h.send(conn, &extdisco("d1", "turn"));
    let iq = &replies[0];
    assert_eq!(iq.attr("type"), Some("result"));
    assert_eq!(iq.attr("id"), Some("d1"));
    assert_eq!(iq.attr("from"), Some(DOMAIN));
    let turn: Vec<&Element> = iq
        .child("services", ns::EXTDISCO)
        .unwrap()
        .elements()
        .collect();
    assert_eq!(turn.len(), 2);
    let urls: Vec<String> = turn.iter().map(|s| ice_url(s)).collect();
    assert_eq!(
        urls,
        vec![
            format!("turn:turn.{ENV}:3478"),
            format!("turn:turn.{ENV}:443?transport=tcp")
        ]
    );
    for s in &turn {
        assert_eq!(s.attr("username"), Some(DEFAULT_TURN_USERNAME));
        assert_eq!(s.attr("password"), Some(DEFAULT_TURN_PASSWORD));
    }

    let replies = h.send(conn, &extdisco("d2", "stun"));
    let stun: Vec<&Element> = replies[0]
        .child("services", ns::EXTDISCO)
        .unwrap()
        .elements()
        .collect();
    assert_eq!(stun.len(), 1);
    assert_eq!(ice_url(stun[0]), format!("stun:stun.{ENV}:3478"));
    assert_eq!(stun[0].attr("username"), None);
    assert_eq!(stun[0].attr("password"), None);

    let topic = format!("v2.users.{DEFAULT_USER_ID}.conversations");
    let replies = h.send(conn, &subscribe("s1", &topic));
    assert_eq!(replies[0].attr("type"), Some("result"));
    assert_eq!(
        replies[0].attr("from"),
        Some(format!("notifications.{ENV}").as_str())
    );
    let sub = replies[0]
        .child("pubsub", ns::PUBSUB)
        .unwrap()
        .child("subscription", ns::PUBSUB)
        .unwrap();
    assert_eq!(sub.attr("node"), Some(topic.as_str()));
    assert_eq!(sub.attr("subscription"), Some("subscribed"));
    assert_eq!(h.cloud.session_topics(conn), vec![topic]);

    // Unknown IQs: service-unavailable; two children: bad-request.
    let replies = h.send(
        conn,
        "<iq xmlns='jabber:client' type='get' id='u1'><query xmlns='jabber:iq:roster'/></iq>",
    );
    assert_eq!(replies[0].attr("type"), Some("error"));
    let err = replies[0].child("error", ns::CLIENT).unwrap();
    assert_eq!(err.attr("type"), Some("cancel"));
    assert!(err.child("service-unavailable", ns::STANZAS).is_some());
    let replies = h.send(
        conn,
        "<iq xmlns='jabber:client' type='get' id='u2'><a xmlns='x'/><b xmlns='x'/></iq>",
    );
    assert!(replies[0]
        .child("error", ns::CLIENT)
        .unwrap()
        .child("bad-request", ns::STANZAS)
        .is_some());

    // The log holds the exchange in order: each inbound frame, then its replies.
    let exchange = h.cloud.cloud_log().xmpp_exchange(conn);
    let directions: Vec<bool> = exchange
        .iter()
        .take(9)
        .map(|(inbound, _)| *inbound)
        .collect();
    assert_eq!(
        directions,
        vec![true, false, false, true, false, true, false, false, true]
    );
    assert!(exchange[3].1.contains("mechanism=\"PLAIN\"") || exchange[3].1.contains("PLAIN"));

    // Graceful close.
    let replies = h.send(conn, &format!("<close xmlns='{}'/>", ns::FRAMING));
    assert!(replies[0].is("close", ns::FRAMING));
    assert!(h.is_closed(conn));
    assert!(h.cloud.connected_jids().is_empty());
}

#[test]
fn sasl_failures() {
    let mut h = Harness::default();
    let channel = h.create_channel();
    let (conn, _) = h.upgrade(&format!("/stream/channels/{channel}"), "xmpp");
    h.open(conn);
    let replies = h.send(conn, &plain_auth(&format!("alice@{DOMAIN}"), "wrong-token"));
    assert!(replies[0].is("failure", ns::SASL));
    assert!(replies[0].child("not-authorized", ns::SASL).is_some());
    // Full JID as username is wrong too.
    let token = h.token();
    let replies = h.send(conn, &plain_auth(&format!("alice@{DOMAIN}/r"), &token));
    assert!(replies[0].child("not-authorized", ns::SASL).is_some());
    // ANONYMOUS is not offered on a channel connection.
    let replies = h.send(
        conn,
        &format!("<auth xmlns='{}' mechanism='ANONYMOUS'>=</auth>", ns::SASL),
    );
    assert!(replies[0].child("invalid-mechanism", ns::SASL).is_some());
    let replies = h.send(
        conn,
        &format!("<auth xmlns='{}' mechanism='PLAIN'>!!!</auth>", ns::SASL),
    );
    assert!(replies[0].child("incorrect-encoding", ns::SASL).is_some());

    // Scripted failure condition wins over correct credentials.
    h.cloud.config_mut().faults.sasl_failure = Some("malformed-request".into());
    let replies = h.send(conn, &plain_auth(&format!("alice@{DOMAIN}"), &token));
    assert!(replies[0].child("malformed-request", ns::SASL).is_some());
    h.cloud.config_mut().faults.sasl_failure = None;
    let replies = h.send(conn, &plain_auth(&format!("alice@{DOMAIN}"), &token));
    assert!(replies[0].is("success", ns::SASL));
}

#[test]
fn relay_only_answers_stun_with_no_services() {
    let mut h = Harness::new(CloudConfig::for_environment(ENV).relay_only());
    let (conn, _) = h.login("r1");
    let replies = h.send(conn, &extdisco("d2", "stun"));
    let services = replies[0].child("services", ns::EXTDISCO).unwrap();
    assert_eq!(services.elements().count(), 0);
    let replies = h.send(conn, &extdisco("d1", "turn"));
    assert_eq!(
        replies[0]
            .child("services", ns::EXTDISCO)
            .unwrap()
            .elements()
            .count(),
        2
    );
}

#[test]
fn silent_faults_leave_iqs_unanswered() {
    let mut h = Harness::default();
    let (conn, _) = h.login("r1");
    h.cloud.config_mut().faults.extdisco_silent = true;
    h.cloud.config_mut().faults.ping_silent = true;
    assert!(h.send(conn, &extdisco("d1", "turn")).is_empty());
    assert!(h
        .send(
            conn,
            "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"
        )
        .is_empty());

    let mut h = Harness::default();
    h.cloud.config_mut().faults.bind_silent = true;
    let channel = h.create_channel();
    let (conn, _) = h.upgrade(&format!("/stream/channels/{channel}"), "xmpp");
    h.open(conn);
    let token = h.token();
    h.send(conn, &plain_auth(&format!("alice@{DOMAIN}"), &token));
    h.open(conn);
    assert!(h.send(conn, &bind_iq("b", Some("r"))).is_empty());
    assert!(h.cloud.connected_jids().is_empty());
}

#[test]
fn rest_fault_with_remaining_one_then_success() {
    let mut h = Harness::default();
    h.cloud.config_mut().faults.rest_status.push(
        RestFault::new("/api/v2/users/me", 503)
            .retry_after(3)
            .times(1),
    );
    let token = h.token();
    let resp = h.rest(
        Method::Get,
        "/api/v2/users/me?expand=station",
        Some(&token),
        "",
    );
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("retry-after"), Some("3"));
    assert_eq!(h.cloud.config().faults.rest_status[0].remaining, Some(0));
    let resp = h.rest(
        Method::Get,
        "/api/v2/users/me?expand=station",
        Some(&token),
        "",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        h.cloud.cloud_log().rest_calls(),
        vec![
            (Method::Get, "/api/v2/users/me".to_owned(), 503),
            (Method::Get, "/api/v2/users/me".to_owned(), 200)
        ]
    );
    assert!(matches!(
        &h.cloud.log()[1],
        LogEntry::Rest { query: Some(q), authorization: AuthKind::Bearer(true), .. } if q == "expand=station"
    ));

    // Method filter.
    h.cloud
        .config_mut()
        .faults
        .rest_status
        .push(RestFault::new("/api/v2/notifications/channels", 429).method(Method::Post));
    let resp = h.rest(
        Method::Post,
        "/api/v2/notifications/channels",
        Some(&token),
        "",
    );
    assert_eq!(resp.status, 429);
}

#[test]
fn websocket_upgrade_failures() {
    let mut h = Harness::default();
    let channel = h.create_channel();
    let (conn, resp) = h.upgrade(&format!("/stream/channels/{channel}"), "");
    assert_eq!(resp.status, 400);
    assert!(h.is_closed(conn));
    let (_, resp) = h.upgrade("/stream/channels/unknown", "xmpp");
    assert_eq!(resp.status, 404);
    assert!(h.cloud.log().contains(&LogEntry::WsUpgrade {
        kind: WsKind::Channel("unknown".into()),
        status: 404
    }));
    h.cloud.config_mut().faults.reject_websocket = Some(503);
    let (_, resp) = h.upgrade(&format!("/stream/channels/{channel}"), "xmpp");
    assert_eq!(resp.status, 503);
    h.cloud.config_mut().faults.reject_websocket = None;
    let (_, resp) = h.upgrade(&format!("/stream/channels/{channel}"), "xmpp");
    assert_eq!(resp.status, 101);
}

#[test]
fn stream_errors() {
    let mut h = Harness::default();
    let channel = h.create_channel();
    let (conn, _) = h.upgrade(&format!("/stream/channels/{channel}"), "xmpp");
    let replies = h.send(
        conn,
        &format!(
            "<open xmlns='{}' to='wrong.example' version='1.0'/>",
            ns::FRAMING
        ),
    );
    let error = replies.iter().find(|e| e.is("error", ns::STREAMS)).unwrap();
    assert!(error.child("host-unknown", ns::STREAM_ERRORS).is_some());
    assert!(h.is_closed(conn));

    let (conn, _) = h.upgrade(&format!("/stream/channels/{channel}"), "xmpp");
    h.open(conn);
    let replies = h.send(conn, "<not xml");
    let error = replies.iter().find(|e| e.is("error", ns::STREAMS)).unwrap();
    assert!(error.child("invalid-xml", ns::STREAM_ERRORS).is_some());
    assert!(replies.last().unwrap().is("close", ns::FRAMING));
    assert!(h.is_closed(conn));

    // Stanzas before authentication.
    let (conn, _) = h.upgrade(&format!("/stream/channels/{channel}"), "xmpp");
    h.open(conn);
    let replies = h.send(
        conn,
        "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    assert!(replies
        .iter()
        .any(|e| e.is("error", ns::STREAMS)
            && e.child("not-authorized", ns::STREAM_ERRORS).is_some()));

    // WebSocket ping is answered; close is echoed.
    let (conn, _) = h.upgrade(&format!("/stream/channels/{channel}"), "xmpp");
    h.send_frame(conn, Opcode::Ping, b"hi");
    assert_eq!(h.frames(conn), vec![Message::Pong(b"hi".to_vec())]);
    h.send_frame(conn, Opcode::Close, &[0x03, 0xe8]);
    assert!(matches!(
        h.frames(conn).as_slice(),
        [Message::Close(Some(_))]
    ));
    assert!(h.is_closed(conn));

    // Garbage frames: close, no panic.
    let (conn, _) = h.upgrade(&format!("/stream/channels/{channel}"), "xmpp");
    h.raw(conn, &[0xff; 32]);
    assert!(h.is_closed(conn));
}

#[test]
fn publish_reaches_subscribed_sessions() {
    let mut h = Harness::default();
    let (a, jid_a) = h.login("a");
    let (b, _) = h.login("b");
    let topic = format!("v2.users.{DEFAULT_USER_ID}.conversations");
    h.send(a, &subscribe("s1", &topic));

    h.cloud
        .publish(h.now, &topic, json!({"id": "conv-1"}), Some("update"));
    let got = h.texts(a);
    assert_eq!(got.len(), 1);
    let msg = xml::parse(&got[0], &XmlLimits::default()).unwrap();
    assert!(msg.is("message", ns::CLIENT));
    assert_eq!(
        msg.attr("from"),
        Some(format!("notifications.{ENV}").as_str())
    );
    assert_eq!(msg.attr("to"), Some(jid_a.as_str()));
    let items = msg
        .child("event", ns::PUBSUB_EVENT)
        .unwrap()
        .child("items", ns::PUBSUB_EVENT)
        .unwrap();
    assert_eq!(items.attr("node"), Some(topic.as_str()));
    let json_el = items
        .child("item", ns::PUBSUB_EVENT)
        .unwrap()
        .child("json", ns::JSON)
        .unwrap();
    let doc: Value = serde_json::from_str(&json_el.text()).unwrap();
    assert_eq!(doc["topicName"], topic);
    assert_eq!(doc["eventBody"]["id"], "conv-1");
    assert_eq!(doc["metadata"]["action"], "update");
    assert!(h.texts(b).is_empty(), "b did not subscribe");

    // REST bulk subscription of b's channel.
    let channel = h.cloud.channel_of(b).unwrap();
    let token = h.token();
    let station = format!("v2.users.{DEFAULT_USER_ID}.station");
    let resp = h.rest(
        Method::Put,
        &format!("/api/v2/notifications/channels/{channel}/subscriptions"),
        Some(&token),
        &json!([{"id": format!("v2.users.{DEFAULT_USER_ID}?station&conversations")}]).to_string(),
    );
    assert_eq!(resp.status, 200);
    h.cloud.publish(h.now, &station, json!({}), None);
    assert!(h.texts(a).is_empty());
    assert_eq!(h.texts(b).len(), 1);

    h.cloud.send_control_topic(h.now, "no_longer_subscribed");
    for conn in [a, b] {
        let got = h.texts(conn);
        let msg = xml::parse(&got[0], &XmlLimits::default()).unwrap();
        let items = msg
            .child("event", ns::PUBSUB_EVENT)
            .unwrap()
            .child("items", ns::PUBSUB_EVENT)
            .unwrap();
        assert_eq!(items.attr("node"), Some("no_longer_subscribed"));
    }

    h.cloud.send_connection_transfer(h.now);
    let got = h.texts(a);
    let iq = xml::parse(&got[0], &XmlLimits::default()).unwrap();
    assert_eq!(iq.attr("type"), Some("set"));
    assert!(iq.child("query", ns::CXFR).is_some());
}

#[test]
fn close_streams_sends_close_then_closes() {
    let mut h = Harness::default();
    let (conn, _) = h.login("r");
    h.cloud.close_streams(h.now);
    let frames = h.frames(conn);
    assert_eq!(frames.len(), 2);
    assert_eq!(
        frames[0],
        Message::Text(format!("<close xmlns=\"{}\"/>", ns::FRAMING))
    );
    assert!(matches!(frames[1], Message::Close(_)));
    assert!(h.is_closed(conn));
    assert!(h.cloud.connected_jids().is_empty());

    let (conn, _) = h.login("r");
    h.cloud.drop_connections(h.now);
    assert!(h.take(conn).is_empty());
    assert!(h.is_closed(conn));
    h.cloud.on_close(h.now, conn);
    assert!(h.cloud.xmpp_connections().is_empty());
}

#[test]
fn server_side_pings_follow_the_interval() {
    let mut h = Harness::default();
    let (conn, _) = h.login("r");
    assert_eq!(h.cloud.poll_timeout(), None);
    h.send(conn, &subscribe("s", SERVER_SIDE_PINGS_TOPIC));
    let due = h.cloud.poll_timeout().unwrap();
    assert_eq!(due, h.now + DEFAULT_SERVER_PING_INTERVAL);
    h.cloud.handle_timeout(due - Duration::from_millis(1));
    assert!(h.texts(conn).is_empty());
    h.cloud.handle_timeout(due);
    let got = h.texts(conn);
    let iq = xml::parse(&got[0], &XmlLimits::default()).unwrap();
    assert!(iq.child("ping", ns::PING).is_some());
    assert_eq!(
        h.cloud.poll_timeout(),
        Some(due + DEFAULT_SERVER_PING_INTERVAL)
    );
}

#[test]
fn random_input_never_panics() {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut h = Harness::default();
    for _ in 0..200 {
        let conn = h.connect();
        let len = rng.usize(0..300);
        let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        h.raw(conn, &data);
    }
    let channel = h.create_channel();
    for _ in 0..100 {
        let (conn, _) = h.upgrade(&format!("/stream/channels/{channel}"), "xmpp");
        let len = rng.usize(0..200);
        let text: String = (0..len).map(|_| rng.char('!'..'~')).collect();
        h.send_frame(conn, Opcode::Text, text.as_bytes());
        let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        h.raw(conn, &data);
    }
}

/// Softphone calls (`calls.rs`, `media_peer.rs`).
mod calls;
