//! Fuzzing entry points, behind the hidden `_fuzz` feature; not part of the stable API.
//!
//! Owns one `fuzz_*` function per parser of peer input (XML, HTTP, WebSocket, JWT, stanza
//! readers, REST bodies, and the whole engine fed hostile bytes). Each takes arbitrary bytes,
//! must never panic on them, and asserts the properties that must hold (round trips, bounded
//! buffers and queues). The `fuzz/` crate wraps each in a three-line `fuzz_target!`, and the
//! seed corpus in `fuzz/corpus/<target>/` is replayed by an ordinary `cargo test` through
//! [`TARGETS`]. No parsing logic lives here: it only drives the library's own parsers.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::engine::{ConnId, Engine, InitializeOptions, Input, Output, Transmit};
use crate::events::SdkEvent;
use crate::options::SdkOptions;
use crate::redact::Secret;
use crate::wire::http::{self, HttpError, HttpRequest, HttpResponse, Method};
use crate::wire::websocket::{self, FrameDecoder, Message, Opcode, Role};
use crate::wire::xml::{self, Element, XmlLimits};

/// A fuzz entry point.
pub type FuzzFn = fn(&[u8]);

/// Every fuzz target by name (the file name in `fuzz/fuzz_targets/` and the directory name in
/// `fuzz/corpus/`), with its entry point.
pub const TARGETS: &[(&str, FuzzFn)] = &[
    ("xml", fuzz_xml),
    ("http_response", fuzz_http_response),
    ("websocket", fuzz_websocket),
    ("jwt", fuzz_jwt),
    ("stanza", fuzz_stanza),
    ("rest_bodies", fuzz_rest_bodies),
    ("engine_stream", fuzz_engine_stream),
    ("engine_session", fuzz_engine_session),
];

/// The entry point of the target called `name`.
pub fn entry_point(name: &str) -> Option<FuzzFn> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

// ------------------------------------------------------------------------------------- XML

/// `wire::xml::parse` on the input (skipped unless UTF-8). When it parses, serializing and
/// parsing again must give the same tree.
pub fn fuzz_xml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = XmlLimits::default();
    if let Ok(el) = xml::parse(text, &limits) {
        assert_round_trip(&el, &limits);
    }
}

fn assert_round_trip(el: &Element, limits: &XmlLimits) {
    let out = el.to_xml();
    match xml::parse(&out, limits) {
        Ok(again) => assert!(
            again == *el,
            "XML round trip changed the tree\n first: {el:?}\nsecond: {again:?}\nserialized: {out}"
        ),
        Err(e) => panic!("serialized element does not parse again ({e}): {out}"),
    }
}

// ------------------------------------------------------------------------------------ HTTP

/// The HTTP/1.1 decoders. The first byte picks the request method the response answers, the
/// second the chunk size; the rest is fed to a [`http::ResponseDecoder`] (then `finish()`) and
/// to a [`http::RequestDecoder`], once in chunks and once in one piece. Both ways must decode
/// the same messages.
pub fn fuzz_http_response(data: &[u8]) {
    let [m, size, rest @ ..] = data else {
        return;
    };
    let method = match m % 5 {
        0 => Method::Get,
        1 => Method::Post,
        2 => Method::Put,
        3 => Method::Patch,
        _ => Method::Delete,
    };
    let size = usize::from(*size).max(1);

    let chunked = decode_response(method, rest.chunks(size));
    let whole = decode_response(method, std::iter::once(rest));
    match (&chunked.0, &whole.0) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "chunked and whole response decoding differ"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("chunked decoding gave {a:?}, whole decoding gave {b:?}"),
    }
    assert_eq!(chunked.1, whole.1, "bytes after the response differ");

    let chunked = decode_requests(rest.chunks(size));
    let whole = decode_requests(std::iter::once(rest));
    assert_eq!(chunked, whole, "chunked and whole request decoding differ");
}

/// The response (or why there is none) and the bytes that followed it.
type ResponseOutcome = (Result<HttpResponse, HttpError>, Vec<u8>);

fn decode_response<'a>(method: Method, chunks: impl Iterator<Item = &'a [u8]>) -> ResponseOutcome {
    let mut decoder = http::ResponseDecoder::new(method);
    let mut done = None;
    for chunk in chunks {
        match decoder.push(chunk) {
            Ok(Some(resp)) => done = Some(Ok(resp)),
            Ok(None) => {}
            Err(e) => {
                done.get_or_insert(Err(e));
            }
        }
    }
    let result = match done {
        Some(r) => r,
        None => decoder.finish(),
    };
    if result.is_ok() {
        // Completed responses cannot be finished twice.
        assert!(
            decoder.finish().is_err(),
            "finish() after completion succeeded"
        );
    }
    let remaining = decoder.take_remaining();
    (result, remaining)
}

fn decode_requests<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> (Vec<HttpRequest>, bool) {
    let mut decoder = http::RequestDecoder::new();
    let mut requests = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_request() {
                Ok(Some(req)) => requests.push(req),
                Ok(None) => break,
                Err(_) => return (requests, true),
            }
        }
    }
    (requests, false)
}

// ------------------------------------------------------------------------------- WebSocket

/// WebSocket frame decoding for both roles, with small and default limits, in chunks whose size
/// the first byte picks: `buffered()` never exceeds `buffer_limit()`. Also checks that the input
/// sent as one frame (by either role) decodes back to itself.
pub fn fuzz_websocket(data: &[u8]) {
    websocket::fuzz_frames(data);
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let size = usize::from(*first).max(1);
    for role in [Role::Client, Role::Server] {
        for (max_frame, max_message) in [(64, 128), (1 << 20, 1 << 20)] {
            let mut decoder = FrameDecoder::with_limits(role, max_frame, max_message);
            for chunk in rest.chunks(size) {
                decoder.push(chunk);
                assert!(decoder.buffered() <= decoder.buffer_limit());
                while let Ok(Some(_)) = decoder.next_message() {
                    assert!(decoder.buffered() <= decoder.buffer_limit());
                }
                assert!(decoder.buffered() <= decoder.buffer_limit());
            }
        }
    }
    let mask = [
        rest.first().copied().unwrap_or(0),
        rest.get(1).copied().unwrap_or(1),
        rest.get(2).copied().unwrap_or(2),
        rest.get(3).copied().unwrap_or(3),
    ];
    for sender in [Role::Client, Role::Server] {
        let receiver = match sender {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        let frame = websocket::encode_frame(sender, Opcode::Binary, rest, mask);
        let mut decoder = FrameDecoder::new(receiver);
        decoder.push(&frame);
        assert_eq!(
            decoder.next_message(),
            Ok(Some(Message::Binary(rest.to_vec()))),
            "binary frame did not round-trip"
        );
        if let Ok(text) = std::str::from_utf8(rest) {
            let frame = websocket::encode_frame(sender, Opcode::Text, rest, mask);
            let mut decoder = FrameDecoder::new(receiver);
            decoder.push(&frame);
            assert_eq!(
                decoder.next_message(),
                Ok(Some(Message::Text(text.to_owned()))),
                "text frame did not round-trip"
            );
        }
    }
}

// ------------------------------------------------------------------------------------- JWT

/// `jwt::decode_claims` on the input as text, and on a JWT whose payload is the input.
pub fn fuzz_jwt(data: &[u8]) {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(data);
    if let Ok(claims) = crate::jwt::decode_claims(&text) {
        let _ = claims.xmpp_domain();
    }
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data);
    let jwt = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln");
    if let Ok(claims) = crate::jwt::decode_claims(&jwt) {
        let _ = claims.xmpp_domain();
    }
}

// ---------------------------------------------------------------------------------- Stanza

/// Parses the input as XML and runs every pure stanza reader on it: SASL mechanisms and
/// failures, XEP-0215 services, pubsub events and IQ views.
pub fn fuzz_stanza(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(el) = xml::parse(&text, &XmlLimits::default()) else {
        return;
    };
    read_stanza(&el);
    for child in el.elements() {
        read_stanza(child);
    }
}

fn read_stanza(el: &Element) {
    let services = crate::xmpp::extdisco::parse_services(el);
    assert!(services.len() <= crate::xmpp::extdisco::MAX_SERVICES);
    let _ = crate::xmpp::extdisco::combine(services.clone(), services);
    let offered = crate::xmpp::sasl::offered(el);
    assert!(offered.len() <= 32);
    let condition = crate::xmpp::sasl::failure_condition(el);
    let _ = crate::xmpp::sasl::is_retryable_failure(&condition);
    let _ = crate::notifications::parse_event(el);
    if let Some(iq) = crate::xmpp::stanza::Iq::parse(el) {
        let _ = iq.error_condition();
    }
}

// ------------------------------------------------------------------------------ REST bodies

/// `serde_json::from_slice` into every REST body type the engine reads, and
/// `rest::retry_after` on the input as a `Retry-After` value.
pub fn fuzz_rest_bodies(data: &[u8]) {
    use crate::rest::{CustomerData, Organization, StationBody, User};
    let _ = serde_json::from_slice::<Organization>(data);
    let _ = serde_json::from_slice::<User>(data);
    let _ = serde_json::from_slice::<StationBody>(data);
    if let Ok(c) = serde_json::from_slice::<CustomerData>(data) {
        let _ = crate::jwt::decode_claims(&c.jwt);
    }
    let resp = HttpResponse {
        status: 503,
        reason: String::new(),
        headers: vec![(
            "Retry-After".to_owned(),
            String::from_utf8_lossy(data).into_owned(),
        )],
        body: data.to_vec(),
    };
    if let Some(wait) = crate::rest::retry_after(&resp) {
        assert!(wait <= Duration::from_secs(24 * 3600));
    }
}

// ---------------------------------------------------------------------------------- Engine

/// Environment the engine targets are built for.
pub const ENGINE_ENVIRONMENT: &str = "example.test";
/// Seed of the engine's generator in the engine targets.
pub const ENGINE_SEED: u64 = 0x5eed;
/// Separator between script steps in [`fuzz_engine_session`] input.
pub const SESSION_SEPARATOR: u8 = 0xFF;

/// Most outputs one input may produce in the engine targets, beyond one per input byte.
const MAX_OUTPUTS_PER_INPUT: usize = 256;
/// How often the harness re-polls a deadline the engine reports as already due.
const MAX_STUCK_TIMEOUTS: usize = 4;

/// Drives an [`Engine`] the way a driver does, with a fixed epoch and seed, answering every
/// `Connect` at once and checking the output queue after every input.
struct EngineHarness {
    engine: Engine,
    now: Instant,
    next_timeout: Instant,
    /// Connections the engine opened and has not closed, in opening order.
    live: Vec<ConnId>,
    /// Bytes the engine wrote, per connection (for the scripted server).
    written: Vec<(ConnId, Vec<u8>)>,
    /// Connections the engine closed since the last look.
    closed: Vec<ConnId>,
    /// Events, kept only when `record` is set (seed checks), at most [`MAX_RECORDED_EVENTS`].
    events: Vec<SdkEvent>,
    record: bool,
}

/// Most events a recording harness keeps.
const MAX_RECORDED_EVENTS: usize = 4096;

impl EngineHarness {
    fn new(guest: bool, record: bool) -> Self {
        let now = Instant::now();
        let builder = SdkOptions::builder().environment(ENGINE_ENVIRONMENT);
        let builder = if guest {
            builder.organization_id("org-1")
        } else {
            builder.access_token("t")
        };
        let opts = match builder.build() {
            Ok(o) => o,
            Err(e) => panic!("fixed fuzz options rejected: {e:?}"),
        };
        let mut engine = Engine::new(opts, now, ENGINE_SEED);
        let init = InitializeOptions {
            security_code: guest.then(|| Secret::new("123456")),
        };
        if let Err(e) = engine.initialize(now, init) {
            panic!("initialize failed on a fresh engine: {e:?}");
        }
        let mut h = EngineHarness {
            engine,
            now,
            next_timeout: now,
            live: Vec::new(),
            written: Vec::new(),
            closed: Vec::new(),
            events: Vec::new(),
            record,
        };
        h.drain(0);
        h
    }

    /// Feeds one input, then drains; `input_len` scales the output bound.
    fn input(&mut self, input: Input<'_>, input_len: usize) {
        self.engine.handle_input(input);
        self.drain(input_len);
    }

    /// Drains `poll_output` to the timeout, answering each `Connect` with `Connected` (and
    /// draining that too). Panics if one input produced an unbounded number of outputs, or if
    /// the engine keeps reporting a deadline that handling it does not move.
    fn drain(&mut self, input_len: usize) {
        let bound = MAX_OUTPUTS_PER_INPUT + input_len;
        let mut count = 0usize;
        let mut connects = VecDeque::new();
        let mut stuck = 0usize;
        loop {
            match self.engine.poll_output() {
                Output::Timeout(at) => {
                    if let Some(conn) = connects.pop_front() {
                        self.engine.handle_input(Input::Connected(self.now, conn));
                        continue;
                    }
                    if at <= self.now && stuck < MAX_STUCK_TIMEOUTS {
                        stuck += 1;
                        self.engine.handle_input(Input::Timeout(self.now));
                        continue;
                    }
                    assert!(
                        at > self.now,
                        "engine deadline stays due after handling it ({:?} past)",
                        self.now.saturating_duration_since(at)
                    );
                    self.next_timeout = at;
                    return;
                }
                Output::Transmit(t) => {
                    count += 1;
                    match t {
                        Transmit::Connect { conn, .. } => {
                            self.live.push(conn);
                            connects.push_back(conn);
                        }
                        Transmit::Send { conn, data } => self.written.push((conn, data)),
                        Transmit::Close { conn } => {
                            self.live.retain(|c| *c != conn);
                            self.closed.push(conn);
                        }
                        // No media sockets in these targets.
                        Transmit::Datagram { .. } => {}
                    }
                }
                Output::Event(ev) => {
                    count += 1;
                    if self.record && self.events.len() < MAX_RECORDED_EVENTS {
                        self.events.push(ev);
                    }
                }
            }
            assert!(
                count <= bound,
                "one input produced more than {bound} outputs"
            );
        }
    }

    fn advance_by(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.input(Input::Timeout(self.now), 0);
    }

    fn advance_to_deadline(&mut self) {
        // Stay within a day of virtual time per step so long runs remain meaningful.
        let cap = self.now + Duration::from_secs(24 * 3600);
        self.now = self.next_timeout.min(cap).max(self.now);
        self.input(Input::Timeout(self.now), 0);
    }
}

/// The engine fed hostile bytes directly. A fresh user-mode engine is initialized (two REST
/// connections open); then the input is read as operations, each starting with a control byte
/// `c`: `c % 8` in `0..=4` sends the next `1 + byte` bytes to live connection `c / 8` (modulo
/// how many are live); `5` closes that connection from the peer side; `6` advances time by the
/// next byte in seconds; `7` advances to the engine's next deadline. Connections the engine
/// opens are answered with `Connected`. No input may panic or flood the output queue.
pub fn fuzz_engine_stream(data: &[u8]) {
    let mut h = EngineHarness::new(false, false);
    let mut rest = data;
    while let Some((&c, tail)) = rest.split_first() {
        rest = tail;
        let pick = |live: &[ConnId]| live.get(usize::from(c / 8) % live.len().max(1)).copied();
        match c % 8 {
            0..=4 => {
                let (len, tail) = match rest.split_first() {
                    Some((&l, t)) => (usize::from(l) + 1, t),
                    None => (0, rest),
                };
                let (chunk, tail) = tail.split_at(len.min(tail.len()));
                rest = tail;
                if let Some(conn) = pick(&h.live) {
                    h.input(Input::Received(h.now, conn, chunk), chunk.len());
                }
            }
            5 => {
                if let Some(conn) = pick(&h.live) {
                    h.live.retain(|x| *x != conn);
                    h.input(Input::Closed(h.now, conn), 0);
                }
            }
            6 => {
                let (secs, tail) = match rest.split_first() {
                    Some((&s, t)) => (u64::from(s), t),
                    None => (1, rest),
                };
                rest = tail;
                h.advance_by(secs);
            }
            _ => h.advance_to_deadline(),
        }
        h.written.clear();
        h.closed.clear();
    }
}

// ------------------------------------------------------------------ Engine with a fake cloud

/// The bare JID the scripted cloud gives the user.
pub const SESSION_JID: &str = "alice@example.orgspan.com";
/// The conference JID inside the scripted guest JWT.
pub const SESSION_GUEST_JID: &str = "acd-5e1f@conference.example.orgspan.com";

/// What the scripted cloud knows about one connection.
enum FakeConn {
    /// Still HTTP: requests are decoded and answered.
    Http(http::RequestDecoder),
    /// Upgraded to WebSocket: client frames are decoded to learn the IQ ids the engine sent.
    Ws(FrameDecoder),
}

/// A minimal scripted Genesys cloud around an [`EngineHarness`]: it answers REST requests with
/// valid `200` responses and WebSocket upgrades with a valid `101` (the `Sec-WebSocket-Accept`
/// computed from the engine's key), and remembers the ids of IQs the engine sent so scripted
/// server stanzas can answer them.
struct FakeCloud {
    h: EngineHarness,
    conns: BTreeMap<ConnId, FakeConn>,
    /// The streaming socket.
    ws: Option<ConnId>,
    /// Ids of IQs the engine sent on the streaming socket, newest last.
    iq_ids: Vec<String>,
    /// Raw bytes to send instead of the next canned REST response.
    rest_override: Option<Vec<u8>>,
    guest: bool,
}

impl FakeCloud {
    fn new(guest: bool, record: bool) -> Self {
        let mut cloud = FakeCloud {
            h: EngineHarness::new(guest, record),
            conns: BTreeMap::new(),
            ws: None,
            iq_ids: Vec::new(),
            rest_override: None,
            guest,
        };
        cloud.serve();
        cloud
    }

    /// Answers what the engine wrote until it stops writing (bounded).
    fn serve(&mut self) {
        for _ in 0..64 {
            let written = std::mem::take(&mut self.h.written);
            for conn in std::mem::take(&mut self.h.closed) {
                self.conns.remove(&conn);
                if self.ws == Some(conn) {
                    self.ws = None;
                }
            }
            if written.is_empty() {
                return;
            }
            let mut replies: Vec<(ConnId, Vec<u8>, bool)> = Vec::new();
            for (conn, data) in written {
                if !self.h.live.contains(&conn) {
                    continue;
                }
                let state = self
                    .conns
                    .entry(conn)
                    .or_insert_with(|| FakeConn::Http(http::RequestDecoder::new()));
                match state {
                    FakeConn::Http(decoder) => {
                        decoder.push(&data);
                        let Ok(Some(req)) = decoder.next_request() else {
                            continue;
                        };
                        if let Some(key) = req.header("sec-websocket-key") {
                            let resp = upgrade_response(&websocket::accept_key(key.trim()));
                            *state = FakeConn::Ws(FrameDecoder::new(Role::Server));
                            self.ws = Some(conn);
                            self.iq_ids.clear();
                            replies.push((conn, resp.encode(), false));
                        } else if let Some(raw) = self.rest_override.take() {
                            replies.push((conn, raw, true));
                        } else {
                            let resp = rest_response(&req, self.guest);
                            replies.push((conn, resp.encode(), false));
                        }
                    }
                    FakeConn::Ws(decoder) => {
                        decoder.push(&data);
                        while let Ok(Some(msg)) = decoder.next_message() {
                            let Message::Text(text) = msg else { continue };
                            let Ok(el) = xml::parse(&text, &XmlLimits::default()) else {
                                continue;
                            };
                            if el.name == "iq" {
                                if let Some(id) = el.attr("id") {
                                    self.iq_ids.push(id.to_owned());
                                }
                            }
                        }
                        if self.iq_ids.len() > 16 {
                            let extra = self.iq_ids.len() - 16;
                            self.iq_ids.drain(..extra);
                        }
                    }
                }
            }
            for (conn, bytes, then_close) in replies {
                if !self.h.live.contains(&conn) {
                    continue;
                }
                self.h
                    .input(Input::Received(self.h.now, conn, &bytes), bytes.len());
                if then_close && self.h.live.contains(&conn) {
                    self.h.live.retain(|c| *c != conn);
                    self.h.input(Input::Closed(self.h.now, conn), 0);
                }
            }
        }
    }

    /// Sends bytes on the streaming socket, if there is one.
    fn send_to_socket(&mut self, bytes: &[u8]) {
        if let Some(conn) = self.ws.filter(|c| self.h.live.contains(c)) {
            self.h
                .input(Input::Received(self.h.now, conn, bytes), bytes.len());
        }
    }

    /// Replaces `$0`…`$9` with the ids of the IQs the engine sent, `$0` the newest.
    fn substitute(&self, frame: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(frame.len());
        let mut i = 0;
        while let Some(&b) = frame.get(i) {
            let digit = frame.get(i + 1).copied().filter(u8::is_ascii_digit);
            match (b, digit) {
                (b'$', Some(d)) => {
                    let back = usize::from(d - b'0');
                    let id = self
                        .iq_ids
                        .len()
                        .checked_sub(back + 1)
                        .and_then(|k| self.iq_ids.get(k));
                    out.extend_from_slice(id.map_or("none", String::as_str).as_bytes());
                    i += 2;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    }
}

fn upgrade_response(accept: &str) -> HttpResponse {
    HttpResponse {
        status: 101,
        reason: "Switching Protocols".to_owned(),
        headers: vec![
            ("Upgrade".to_owned(), "websocket".to_owned()),
            ("Connection".to_owned(), "Upgrade".to_owned()),
            ("Sec-WebSocket-Accept".to_owned(), accept.to_owned()),
            ("Sec-WebSocket-Protocol".to_owned(), "xmpp".to_owned()),
        ],
        body: Vec::new(),
    }
}

/// The guest JWT the scripted cloud hands out (payload `{"data":{"jid":…}}`, unsigned).
pub fn session_guest_jwt() -> String {
    use base64::Engine as _;
    let payload = format!(
        r#"{{"data":{{"jid":"{SESSION_GUEST_JID}","uid":"guest-1"}},"org":"org-1","iss":"urn:purecloud:conversations"}}"#
    );
    format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{}.c2lnbmF0dXJl",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
    )
}

fn rest_response(req: &HttpRequest, guest: bool) -> HttpResponse {
    let path = req.target.split('?').next().unwrap_or("");
    let body = if path.ends_with("/organizations/me") {
        r#"{"id":"org-1","name":"Example"}"#.to_owned()
    } else if path.ends_with("/users/me") {
        format!(
            r#"{{"id":"user-1","name":"Alice","chat":{{"jabberId":"{SESSION_JID}"}},"station":{{"effectiveStation":{{"id":"station-1"}}}}}}"#
        )
    } else if path.ends_with("/notifications/channels") {
        r#"{"id":"channel-1","connectUri":"wss://streaming.example.test/channels/channel-1"}"#
            .to_owned()
    } else if path.contains("/stations/") {
        r#"{"id":"station-1","name":"Alice WebRTC","userId":"user-1","type":"inin_webrtc_softphone","webRtcPersistentEnabled":true,"webRtcForceTurn":false,"webRtcCallAppearances":2}"#.to_owned()
    } else if path.ends_with("/subscriptions") {
        r#"{"entities":[{"id":"v2.users.user-1.station","state":"Permitted"}]}"#.to_owned()
    } else if path.ends_with("/conversations/codes") && guest {
        format!(
            r#"{{"conversation":{{"id":"conv-1"}},"sourceCommunicationId":"src-1","jwt":"{}"}}"#,
            session_guest_jwt()
        )
    } else {
        return HttpResponse {
            status: 404,
            reason: "Not Found".to_owned(),
            headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
            body: br#"{"status":404,"code":"not.found"}"#.to_vec(),
        };
    };
    HttpResponse {
        status: 200,
        reason: "OK".to_owned(),
        headers: vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Connection".to_owned(), "close".to_owned()),
        ],
        body: body.into_bytes(),
    }
}

/// Builds [`fuzz_engine_session`] input from a mode and script steps (used for seed corpora).
pub fn session_input(guest: bool, steps: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![u8::from(guest)];
    for (i, step) in steps.iter().enumerate() {
        if i > 0 {
            out.push(SESSION_SEPARATOR);
        }
        out.extend_from_slice(step);
    }
    out
}

/// The engine against a scripted cloud, so hostile server stanzas reach the logged-in states.
///
/// The first byte's low bit picks user (`0`) or guest (`1`) mode. The cloud answers the REST
/// calls and the WebSocket upgrade with valid responses by itself. The rest of the input is
/// split on [`SESSION_SEPARATOR`] into steps. A step starting with a byte below `0x08` is a
/// command: `01` raw bytes on the socket, `02 n` advance `n` seconds, `03` the peer closes the
/// socket, `04` advance to the engine's next deadline, `05` a WebSocket ping with the rest,
/// `06` send the rest as the raw HTTP response to the next REST request (then close), `07` a
/// WebSocket close frame. Any other step is a server text frame, after replacing `$0`…`$9`
/// with the ids of the IQs the engine sent (`$0` the newest), so bind and discovery can be
/// answered.
pub fn fuzz_engine_session(data: &[u8]) {
    run_session(data, false);
}

/// Runs [`fuzz_engine_session`] on `data` and returns the events the engine emitted (at most
/// 4096), so seed tests can check that a script reaches the state it was written for.
pub fn engine_session_events(data: &[u8]) -> Vec<SdkEvent> {
    run_session(data, true)
}

fn run_session(data: &[u8], record: bool) -> Vec<SdkEvent> {
    let Some((&mode, script)) = data.split_first() else {
        return Vec::new();
    };
    let mut cloud = FakeCloud::new(mode & 1 == 1, record);
    if script.is_empty() {
        return cloud.h.events;
    }
    for step in script.split(|b| *b == SESSION_SEPARATOR) {
        match step.split_first() {
            Some((1, raw)) => cloud.send_to_socket(raw),
            Some((2, secs)) => {
                let n = secs.first().copied().map_or(1, u64::from);
                cloud.h.advance_by(n);
            }
            Some((3, _)) => {
                if let Some(conn) = cloud.ws.filter(|c| cloud.h.live.contains(c)) {
                    cloud.h.live.retain(|c| *c != conn);
                    cloud.h.input(Input::Closed(cloud.h.now, conn), 0);
                }
            }
            Some((4, _)) => cloud.h.advance_to_deadline(),
            Some((5, payload)) => {
                let payload = payload.get(..125).unwrap_or(payload);
                cloud.send_to_socket(&websocket::encode_frame(
                    Role::Server,
                    Opcode::Ping,
                    payload,
                    [0; 4],
                ));
            }
            Some((6, raw)) => cloud.rest_override = Some(raw.to_vec()),
            Some((7, _)) => {
                cloud.send_to_socket(&websocket::encode_close(Role::Server, None, [0; 4]))
            }
            _ => {
                let frame = cloud.substitute(step);
                cloud.send_to_socket(&websocket::encode_frame(
                    Role::Server,
                    Opcode::Text,
                    &frame,
                    [0; 4],
                ));
            }
        }
        cloud.serve();
    }
    cloud.h.events
}
