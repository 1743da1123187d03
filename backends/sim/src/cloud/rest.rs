//! The fake cloud's HTTP side: the REST endpoints of PROTOCOL.md section 2 and section 4.1
//! (bulk subscriptions), plus the WebSocket upgrade of section 3.1.
//!
//! Owns routing, bearer-token checks, scripted [`RestFault`](super::RestFault)s and the
//! channel / issued-JWT registry. It turns one decoded request into one response (and, for a
//! successful upgrade, the kind of XMPP session to start); it does not touch connections.
//! Conversation requests (`/api/v2/conversations/…` other than `codes`) are checked here (faults,
//! bearer token, known path) and then answered by `calls.rs`, which owns the calls
//! ([`Outcome::call`]).
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use genesys_webrtc::wire::http::{HttpRequest, HttpResponse, Method};
use genesys_webrtc::wire::websocket;
use serde_json::{json, Value};

use super::config::CloudConfig;
use super::jwt::{self, GuestClaims};
use super::log::{AuthKind, LogEntry, WsKind};

/// Most entries accepted in one bulk-subscription body (PROTOCOL.md 4.1).
pub const MAX_SUBSCRIPTION_ENTRIES: usize = 1000;
/// `expires` of every channel; the fake cloud has no wall clock and never expires channels.
pub const CHANNEL_EXPIRES: &str = "2100-01-01T00:00:00.000Z";

/// A JWT handed out by the code exchange.
#[derive(Debug, Clone)]
pub(crate) struct IssuedJwt {
    pub(crate) token: String,
    pub(crate) claims: GuestClaims,
}

/// What XMPP session a successful upgrade starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamAuth {
    /// `/stream/channels/{id}`: SASL PLAIN with the user's credentials.
    Channel(String),
    /// `/stream/jwt/{jwt}`: SASL ANONYMOUS; the index into [`Registry::jwts`].
    Jwt(usize),
}

/// Server-side objects that outlive connections.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Channel id → its REST (bulk) topics.
    pub(crate) channels: BTreeMap<String, BTreeSet<String>>,
    /// Every JWT issued, oldest first.
    pub(crate) jwts: Vec<IssuedJwt>,
    serial: u64,
    guests: u64,
}

impl Registry {
    /// A fresh serial number (for ids that must differ).
    pub(crate) fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// The number of the next guest JID (`guest-<n>@…`).
    pub(crate) fn next_guest(&mut self) -> u64 {
        self.guests += 1;
        self.guests
    }

    fn new_channel_id(&mut self) -> String {
        let n = self.next_serial();
        let h = super::splitmix64(n ^ 0xc4a7_7e15);
        format!("streaming-{:08x}-{:04x}-{n}", h >> 32, h & 0xffff)
    }
}

/// The result of one HTTP request.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) response: HttpResponse,
    pub(crate) log: LogEntry,
    /// `Some` when the response is a `101` and the connection now speaks RFC 7395.
    pub(crate) upgrade: Option<StreamAuth>,
    /// `Some` for an authorised conversation request (`calls.rs` answers it; `response` is a
    /// placeholder): the path segments after `/api/v2/`.
    pub(crate) call: Option<Vec<String>>,
}

/// Handles one request.
pub(crate) fn handle(config: &mut CloudConfig, reg: &mut Registry, req: &HttpRequest) -> Outcome {
    let (path, query) = match req.target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (req.target.clone(), None),
    };
    let ws_kind = ws_kind(&path);
    let authorization = auth_kind(req, &config.access_token);
    let finish = |response: HttpResponse, upgrade: Option<StreamAuth>| {
        let status = response.status;
        let log = match &ws_kind {
            Some(kind) => LogEntry::WsUpgrade {
                kind: kind.clone(),
                status,
            },
            None => LogEntry::Rest {
                method: req.method,
                path: path.clone(),
                query: query.clone(),
                authorization,
                status,
            },
        };
        Outcome {
            response,
            log,
            upgrade,
            call: None,
        }
    };

    if let Some(fault) = config
        .faults
        .rest_status
        .iter_mut()
        .find(|f| f.matches(req.method, &path))
    {
        if let Some(n) = fault.remaining.as_mut() {
            *n = n.saturating_sub(1);
        }
        let mut response = error(fault.status, "fault.injected", "Injected by the fake cloud");
        if let Some(secs) = fault.retry_after_secs {
            response
                .headers
                .push(("Retry-After".to_owned(), secs.to_string()));
        }
        return finish(response, None);
    }

    if path.starts_with("/stream/") {
        return match upgrade(config, reg, req, &path) {
            Ok((response, auth)) => finish(response, Some(auth)),
            Err(response) => finish(response, None),
        };
    }

    let Some(rest) = path.strip_prefix("/api/v2/") else {
        return finish(not_found(), None);
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();

    // The one unauthenticated endpoint: guest code redemption (PROTOCOL.md 2.4).
    if segments == ["conversations", "codes"] {
        let response = if req.method == Method::Post {
            redeem_code(config, reg, &req.body)
        } else {
            method_not_allowed()
        };
        return finish(response, None);
    }

    if !known_api_path(&segments) {
        return finish(not_found(), None);
    }
    if authorization != AuthKind::Bearer(true) {
        return finish(
            error(401, "bad.credentials", "Invalid login credentials."),
            None,
        );
    }
    if segments.first() == Some(&"conversations") {
        // Softphone calls (PROTOCOL.md 9.4): answered by `calls.rs`, which owns the calls.
        let mut outcome = finish(error(500, "internal", "unanswered"), None);
        outcome.call = Some(segments.iter().map(|s| (*s).to_owned()).collect());
        return outcome;
    }
    let response = match (req.method, segments.as_slice()) {
        (Method::Get, ["organizations", "me"]) => ok(json!({
            "id": config.organization_id,
            "name": config.organization_name,
            "thirdPartyOrgName": config.organization_name.to_lowercase().replace(' ', ""),
            "state": "active",
            "selfUri": format!("/api/v2/organizations/{}", config.organization_id),
        })),
        (Method::Get, ["users", "me"]) => users_me(config, query.as_deref()),
        (Method::Get, ["stations", id]) => match &config.station_id {
            Some(station) if station == id => ok(station_json(config, station)),
            _ => error(404, "not.found", "The station was not found."),
        },
        (Method::Post, ["notifications", "channels"]) => {
            let id = reg.new_channel_id();
            reg.channels.insert(id.clone(), BTreeSet::new());
            ok(json!({
                "id": id,
                "connectUri": format!("{}/channels/{id}", config.streaming_base()),
                "expires": CHANNEL_EXPIRES,
            }))
        }
        (method, ["notifications", "channels", id, "subscriptions"]) => {
            subscriptions(config, reg, method, id, &req.body)
        }
        _ => method_not_allowed(),
    };
    finish(response, None)
}

fn known_api_path(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["organizations", "me"]
            | ["users", "me"]
            | ["stations", _]
            | ["notifications", "channels"]
            | ["notifications", "channels", _, "subscriptions"]
            | ["conversations", _]
            | ["conversations", "calls", _]
            | ["conversations", "calls", _, "participants", _]
            | ["conversations", "calls", _, "participants", _, "replace"]
    )
}

fn ws_kind(path: &str) -> Option<WsKind> {
    if let Some(id) = path.strip_prefix("/stream/channels/") {
        return Some(WsKind::Channel(id.to_owned()));
    }
    if path.starts_with("/stream/jwt/") {
        return Some(WsKind::Jwt);
    }
    None
}

fn auth_kind(req: &HttpRequest, token: &str) -> AuthKind {
    let Some(value) = req.header("authorization") else {
        return AuthKind::None;
    };
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, cred)) if scheme.eq_ignore_ascii_case("bearer") => {
            AuthKind::Bearer(!token.is_empty() && cred.trim() == token)
        }
        _ => AuthKind::Other,
    }
}

fn upgrade(
    config: &CloudConfig,
    reg: &Registry,
    req: &HttpRequest,
    path: &str,
) -> Result<(HttpResponse, StreamAuth), HttpResponse> {
    if let Some(status) = config.faults.reject_websocket {
        return Err(error(status, "fault.injected", "WebSocket rejected"));
    }
    if req.method != Method::Get {
        return Err(method_not_allowed());
    }
    let auth = if let Some(id) = path.strip_prefix("/stream/channels/") {
        if !reg.channels.contains_key(id) {
            return Err(error(404, "not.found", "Unknown channel."));
        }
        StreamAuth::Channel(id.to_owned())
    } else if let Some(token) = path.strip_prefix("/stream/jwt/") {
        match reg.jwts.iter().position(|j| j.token == token) {
            Some(i) => StreamAuth::Jwt(i),
            None => return Err(error(401, "bad.credentials", "Invalid JWT.")),
        }
    } else {
        return Err(not_found());
    };
    match websocket::server_handshake(req, "xmpp") {
        Ok(response) => Ok((response, auth)),
        Err(websocket::WsError::ProtocolNotOffered) => Err(error(
            400,
            "bad.request",
            "The xmpp WebSocket subprotocol is required.",
        )),
        Err(_) => Err(error(400, "bad.request", "Invalid WebSocket upgrade.")),
    }
}

fn users_me(config: &CloudConfig, query: Option<&str>) -> HttpResponse {
    let expand_station = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "expand")
        .flat_map(|(_, v)| v.split([',', '+']))
        .any(|v| v.trim() == "station");
    let mut body = json!({
        "id": config.user_id,
        "name": config.user_name,
        "state": "active",
        "chat": {"jabberId": config.jabber_id},
        "selfUri": format!("/api/v2/users/{}", config.user_id),
    });
    if expand_station {
        let station = match &config.station_id {
            Some(id) => {
                let r = json!({"id": id, "selfUri": format!("/api/v2/stations/{id}")});
                json!({"effectiveStation": r, "associatedStation": r})
            }
            None => json!({}),
        };
        if let Some(obj) = body.as_object_mut() {
            obj.insert("station".to_owned(), station);
        }
    }
    ok(body)
}

fn station_json(config: &CloudConfig, id: &str) -> Value {
    json!({
        "id": id,
        "name": config.station_name,
        "status": "ASSOCIATED",
        "userId": config.user_id,
        "type": config.station_type,
        "webRtcPersistentEnabled": config.station_persistent_enabled,
        "webRtcForceTurn": config.station_force_turn,
        "webRtcCallAppearances": config.station_call_appearances,
        "selfUri": format!("/api/v2/stations/{id}"),
    })
}

/// Expands one bulk-subscription id: `prefix?a&b` → `prefix.a`, `prefix.b`.
pub(crate) fn expand_topic(id: &str) -> Vec<String> {
    match id.split_once('?') {
        Some((prefix, suffixes)) => suffixes
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|s| format!("{prefix}.{s}"))
            .collect(),
        None => vec![id.to_owned()],
    }
}

fn subscriptions(
    config: &CloudConfig,
    reg: &mut Registry,
    method: Method,
    channel: &str,
    body: &[u8],
) -> HttpResponse {
    let Some(topics) = reg.channels.get_mut(channel) else {
        return error(404, "not.found", "Unknown channel.");
    };
    let entity = |t: &String| {
        if config.faults.rejected_topics.contains(t) {
            json!({"id": t, "state": "Rejected", "rejectionReason": "Topic rejected by the fake cloud"})
        } else {
            json!({"id": t, "state": "Permitted"})
        }
    };
    match method {
        Method::Get => {
            let entities: Vec<Value> = topics.iter().map(|t| json!({"id": t})).collect();
            ok(json!({"entities": entities}))
        }
        Method::Delete => {
            topics.clear();
            HttpResponse {
                status: 204,
                reason: reason(204).to_owned(),
                headers: Vec::new(),
                body: Vec::new(),
            }
        }
        Method::Put | Method::Post => {
            let Some(requested) = parse_subscription_body(body) else {
                return error(400, "bad.request", "Expected [{\"id\": \"topic\"}, …].");
            };
            if method == Method::Put {
                topics.clear();
            }
            let mut entities = Vec::new();
            for topic in requested {
                entities.push(entity(&topic));
                if !config.faults.rejected_topics.contains(&topic) {
                    topics.insert(topic);
                }
            }
            ok(json!({"entities": entities}))
        }
        Method::Patch => method_not_allowed(),
    }
}

fn parse_subscription_body(body: &[u8]) -> Option<Vec<String>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let items = value.as_array()?;
    if items.len() > MAX_SUBSCRIPTION_ENTRIES {
        return None;
    }
    let mut out = Vec::new();
    for item in items {
        let id = item.get("id")?.as_str()?;
        if id.is_empty() {
            return None;
        }
        for topic in expand_topic(id) {
            if !out.contains(&topic) {
                out.push(topic);
            }
        }
    }
    Some(out)
}

/// `POST /api/v2/conversations/codes`. A malformed body is `400 bad.request`; a wrong
/// organization or code is `404 not.found` (the fake cloud's documented choice).
fn redeem_code(config: &CloudConfig, reg: &mut Registry, body: &[u8]) -> HttpResponse {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return error(400, "bad.request", "The request body is not JSON.");
    };
    let (Some(org), Some(code)) = (
        value.get("organizationId").and_then(Value::as_str),
        value.get("addCommunicationCode").and_then(Value::as_str),
    ) else {
        return error(
            400,
            "bad.request",
            "organizationId and addCommunicationCode are required.",
        );
    };
    if org != config.organization_id || code != config.security_code {
        return error(404, "not.found", "The communication code was not found.");
    }
    let serial = reg.next_serial();
    let h = super::splitmix64(serial ^ 0x6e57);
    let claims = GuestClaims {
        jid: config.guest_conference_jid(),
        uid: format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            h >> 32,
            (h >> 16) & 0xffff,
            h & 0xfff,
            (h >> 20) & 0xfff,
            serial
        ),
        org: config.organization_id.clone(),
        serial,
    };
    let token = jwt::encode_guest(&claims);
    reg.jwts.push(IssuedJwt {
        token: token.clone(),
        claims,
    });
    ok(json!({
        "conversation": {"id": config.guest_conversation_id},
        "sourceCommunicationId": config.guest_source_communication_id,
        "jwt": token,
    }))
}

fn ok(body: Value) -> HttpResponse {
    json_response(200, &body)
}

fn not_found() -> HttpResponse {
    error(404, "not.found", "The requested resource was not found.")
}

fn method_not_allowed() -> HttpResponse {
    error(405, "method.not.allowed", "Method not allowed.")
}

/// A Genesys-style JSON error body.
pub(crate) fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    json_response(
        status,
        &json!({"message": message, "code": code, "status": status}),
    )
}

fn json_response(status: u16, body: &Value) -> HttpResponse {
    HttpResponse {
        status,
        reason: reason(status).to_owned(),
        headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
        body: body.to_string().into_bytes(),
    }
}

/// Reason phrase for the statuses the fake cloud uses.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}
