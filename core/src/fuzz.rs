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

use crate::engine::{ConnId, Engine, InitializeOptions, Input, Output, Transmit, UdpSocketId};
use crate::events::SdkEvent;
use crate::media::g711::G711Law;
use crate::options::SdkOptions;
use crate::redact::Secret;
use crate::signaling::jingle::{self, Jingle};
use crate::signaling::jmi::{self, JmiAction, SessionId};
use crate::signaling::sdp::{Candidate, Sdp};
use crate::signaling::sdp_jingle::{self, LocalRole};
use crate::signaling::sdp_over_xmpp;
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
    ("jmi", fuzz_jmi),
    ("sdp_over_xmpp", fuzz_sdp_over_xmpp),
    ("sdp_jingle", fuzz_sdp_jingle),
    ("candidate", fuzz_candidate),
    ("rtp_payloads", fuzz_rtp_payloads),
    ("stun", fuzz_stun),
    ("engine_call", fuzz_engine_call),
    ("extdisco", fuzz_extdisco),
    ("turn", fuzz_turn),
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
/// the first byte picks: `buffered()` never exceeds `buffer_limit()`. With the default limits
/// (never reached by a fuzz input) decoding in chunks and in one piece gives the same messages
/// and the same end, and every decoded message encoded again by the peer's role (`encode_frame`,
/// `encode_close`) decodes to itself. Also checks that the input sent as one frame (by either
/// role) decodes back to itself, and runs the handshake checks on the input as an upgrade
/// request (`server_handshake`, whose `101` must pass `verify_server_handshake`) and as the
/// server's reply.
pub fn fuzz_websocket(data: &[u8]) {
    websocket::fuzz_frames(data);
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let size = usize::from(*first).max(1);
    let mask = [
        rest.first().copied().unwrap_or(0),
        rest.get(1).copied().unwrap_or(1),
        rest.get(2).copied().unwrap_or(2),
        rest.get(3).copied().unwrap_or(3),
    ];
    for role in [Role::Client, Role::Server] {
        for (max_frame, max_message) in [(64, 128), (1 << 20, 1 << 20)] {
            let decoder = FrameDecoder::with_limits(role, max_frame, max_message);
            let chunked = decode_frames(decoder, rest.chunks(size));
            if max_frame == 1 << 20 {
                let whole = decode_frames(FrameDecoder::new(role), std::iter::once(rest));
                assert_eq!(chunked, whole, "chunked and whole frame decoding differ");
                for m in &chunked.0 {
                    assert_message_round_trip(role, m, mask);
                }
            }
        }
    }
    for sender in [Role::Client, Role::Server] {
        let receiver = peer_role(sender);
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
    fuzz_ws_handshakes(rest);
}

fn peer_role(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// The messages a decoder gives for `chunks` (draining after every push), and how it ended:
/// `Ok(())` when it wanted more bytes, else the error it stopped on.
type FramesOutcome = (Vec<Message>, Result<(), websocket::WsError>);

fn decode_frames<'a>(
    mut decoder: FrameDecoder,
    chunks: impl Iterator<Item = &'a [u8]>,
) -> FramesOutcome {
    let mut messages = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        assert!(decoder.buffered() <= decoder.buffer_limit());
        loop {
            match decoder.next_message() {
                Ok(Some(m)) => {
                    assert!(decoder.buffered() <= decoder.buffer_limit());
                    messages.push(m);
                }
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(decoder.next_message(), Err(e.clone()), "error not sticky");
                    assert_eq!(decoder.buffered(), 0, "failed decoder keeps bytes");
                    return (messages, Err(e));
                }
            }
        }
        assert!(decoder.buffered() <= decoder.buffer_limit());
    }
    (messages, Ok(()))
}

/// `m`, received by `receiver`, sent back to such a receiver as one frame by its peer.
fn assert_message_round_trip(receiver: Role, m: &Message, mask: [u8; 4]) {
    let sender = peer_role(receiver);
    let frame = match m {
        Message::Text(t) => websocket::encode_frame(sender, Opcode::Text, t.as_bytes(), mask),
        Message::Binary(b) => websocket::encode_frame(sender, Opcode::Binary, b, mask),
        Message::Ping(p) => websocket::encode_frame(sender, Opcode::Ping, p, mask),
        Message::Pong(p) => websocket::encode_frame(sender, Opcode::Pong, p, mask),
        Message::Close(c) => websocket::encode_close(sender, c.as_ref(), mask),
    };
    let mut decoder = FrameDecoder::new(receiver);
    decoder.push(&frame);
    assert_eq!(
        decoder.next_message(),
        Ok(Some(m.clone())),
        "re-encoded message did not decode to itself"
    );
    assert_eq!(decoder.next_message(), Ok(None));
    assert_eq!(decoder.buffered(), 0);
}

/// The input as the client's upgrade request (the server side must accept what it answers)
/// and as the server's `101` reply to a fixed key.
fn fuzz_ws_handshakes(data: &[u8]) {
    let mut requests = http::RequestDecoder::new();
    requests.push(data);
    if let Ok(Some(req)) = requests.next_request() {
        for protocol in ["xmpp", ""] {
            let Ok(resp) = websocket::server_handshake(&req, protocol) else {
                continue;
            };
            let key = req
                .header("sec-websocket-key")
                .map(str::trim)
                .expect("accepted upgrade has a key");
            assert_eq!(
                websocket::verify_server_handshake(&resp, key, protocol),
                Ok(()),
                "our 101 fails our own client check"
            );
            let mut decoder = http::ResponseDecoder::new(Method::Get);
            assert_eq!(decoder.push(&resp.encode()), Ok(Some(resp.clone())));
        }
    }
    let (_, key) = websocket::client_handshake("h", "/", "xmpp", [7; 16], &[]);
    let mut responses = http::ResponseDecoder::new(Method::Get);
    if let Ok(Some(resp)) = responses.push(data) {
        for protocol in ["xmpp", ""] {
            let _ = websocket::verify_server_handshake(&resp, &key, protocol);
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

// -------------------------------------------------------------------------------- extdisco

/// XEP-0215 `<services>` results (PROTOCOL.md §5): the input as XML, and each child, through
/// `extdisco::parse_services`. At most `MAX_SERVICES` come out; every URL is
/// `stun:`/`stuns:`/`turn:`/`turns:` with a host, only TURN carries credentials or
/// `?transport`; a host name swapped for a resolved address (`with_host_ip`, IPv4 and IPv6)
/// leaves scheme, port and transport as they were, and a `stun:` URL with an IP host gives the
/// media layer that address and port (`stun_server_addr`).
pub fn fuzz_extdisco(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(el) = xml::parse(&text, &XmlLimits::default()) else {
        return;
    };
    check_extdisco(&el);
    for child in el.elements() {
        check_extdisco(child);
    }
}

fn check_extdisco(el: &Element) {
    use crate::media::rtc::stun_server_addr;
    use crate::xmpp::extdisco::{self, IceTransportPolicy, MAX_SERVICES};
    use std::net::IpAddr;

    let servers = extdisco::parse_services(el);
    assert!(servers.len() <= MAX_SERVICES);
    for s in &servers {
        let (scheme, rest) = s.url.split_once(':').expect("ICE URL has a scheme");
        let turn = matches!(scheme, "turn" | "turns");
        assert!(
            turn || matches!(scheme, "stun" | "stuns"),
            "scheme of {}",
            s.url
        );
        assert!(turn || (s.username.is_none() && s.credential.is_none()));
        assert!(
            turn || !rest.contains('?'),
            "STUN URL with a query: {}",
            s.url
        );
        assert!(
            !s.url.chars().any(|c| c.is_whitespace() || c.is_control()),
            "{:?}",
            s.url
        );
        let hostport = rest.split('?').next().unwrap_or(rest);
        let Some(name) = extdisco::url_host_name(&s.url) else {
            // An IP host: IPv4 reads back exactly; an unbracketed IPv6 host (PROTOCOL.md §5.2)
            // is ambiguous without a port, but is always read as some IPv6 address.
            if scheme == "stun" {
                let addr = stun_server_addr(&s.url);
                let want = match hostport.split_once(':') {
                    None => hostport.parse::<IpAddr>().ok().map(|ip| (ip, 3478)),
                    Some((h, p)) if !p.contains(':') => h.parse().ok().zip(p.parse().ok()),
                    Some(_) => {
                        assert!(addr.is_some_and(|a| a.is_ipv6()), "{}: {addr:?}", s.url);
                        continue;
                    }
                };
                let want = want.unwrap_or_else(|| panic!("IPv4 host and port in {}", s.url));
                assert_eq!(addr, Some(std::net::SocketAddr::from(want)), "{}", s.url);
            }
            continue;
        };
        let port = match hostport.strip_prefix(name) {
            Some("") => None,
            Some(p) => Some(
                p.strip_prefix(':')
                    .and_then(|p| p.parse::<u16>().ok())
                    .unwrap_or_else(|| panic!("port after the host: {}", s.url)),
            ),
            None => panic!("host name not at the start: {}", s.url),
        };
        for ip in [
            IpAddr::from([192, 0, 2, 1]),
            IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7]),
        ] {
            let url = extdisco::with_host_ip(&s.url, ip).expect("URL with a host name");
            assert_eq!(extdisco::url_host_name(&url), None, "{url}");
            assert_eq!(url.split_once(':').map(|(s, _)| s), Some(scheme), "{url}");
            assert_eq!(
                url.split_once('?').map(|(_, q)| q),
                s.url.split_once('?').map(|(_, q)| q),
                "{url}"
            );
            if scheme == "stun" {
                let want = std::net::SocketAddr::new(ip, port.unwrap_or(3478));
                assert_eq!(stun_server_addr(&url), Some(want), "{url}");
            }
        }
    }
    let n = servers.len();
    let stun_empty = servers.is_empty();
    let cfg = extdisco::combine(servers.clone(), servers);
    assert_eq!(cfg.servers.len(), 2 * n);
    assert_eq!(cfg.policy == IceTransportPolicy::Relay, stun_empty);
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
    /// The media sockets the engine had bound and has not closed, with their addresses (ports
    /// from [`CALL_LOCAL_ADDR`]'s up, in bind order).
    udp: Vec<(UdpSocketId, std::net::SocketAddr)>,
    /// Binds answered so far (picks the next port).
    udp_binds: u16,
    /// Whether binds fail (the call target's step `12`).
    fail_binds: bool,
    /// Media datagrams the engine sent.
    datagrams: usize,
}

/// Largest UDP payload the engine may send.
const MAX_DATAGRAM_BYTES: usize = 65_507;

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
            udp: Vec::new(),
            udp_binds: 0,
            fail_binds: false,
            datagrams: 0,
        };
        h.drain(0);
        h
    }

    /// Feeds one input, then drains; `input_len` scales the output bound.
    fn input(&mut self, input: Input<'_>, input_len: usize) {
        self.engine.handle_input(input);
        self.drain(input_len);
    }

    /// Drains `poll_output` to the timeout, answering each `Connect` with `Connected` and each
    /// `BindUdp` with `UdpBound` (or `UdpBindFailed` while binds fail), and draining that too.
    /// Panics if one input produced an unbounded number of outputs, if the engine keeps
    /// reporting a deadline that handling it does not move, or if it uses a socket it does not
    /// hold.
    fn drain(&mut self, input_len: usize) {
        let bound = MAX_OUTPUTS_PER_INPUT + input_len;
        let mut count = 0usize;
        let mut connects = VecDeque::new();
        let mut binds = VecDeque::new();
        let mut stuck = 0usize;
        loop {
            match self.engine.poll_output() {
                Output::Timeout(at) => {
                    if let Some(conn) = connects.pop_front() {
                        self.engine.handle_input(Input::Connected(self.now, conn));
                        continue;
                    }
                    if let Some((socket, addr)) = binds.pop_front() {
                        self.answer_bind(socket, addr);
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
                        // No DNS in these targets.
                        Transmit::ResolveHost { .. } => {}
                        Transmit::BindUdp { socket, addr } => {
                            assert_eq!(addr.port(), 0, "bind to a fixed port");
                            assert!(
                                self.udp.iter().all(|(s, _)| *s != socket),
                                "socket id reused"
                            );
                            binds.push_back((socket, addr));
                        }
                        Transmit::CloseUdp { socket } => {
                            let open = self.udp.len();
                            self.udp.retain(|(s, _)| *s != socket);
                            assert_eq!(self.udp.len() + 1, open, "closed a socket not open");
                        }
                        // Media datagrams may only leave from open sockets.
                        Transmit::Datagram { source, data, .. } => {
                            assert!(
                                self.udp.iter().any(|(_, a)| *a == source),
                                "datagram from {source}, not an open media socket"
                            );
                            assert!(
                                data.len() <= MAX_DATAGRAM_BYTES,
                                "datagram of {} bytes",
                                data.len()
                            );
                            self.datagrams += 1;
                        }
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

    /// Answers one `BindUdp`: the next port from [`CALL_LOCAL_ADDR`]'s up (so the first call's
    /// socket is that address), or a failure while `fail_binds` is set.
    fn answer_bind(&mut self, socket: UdpSocketId, addr: std::net::SocketAddr) {
        if self.fail_binds {
            self.engine.handle_input(Input::UdpBindFailed {
                now: self.now,
                socket,
                kind: genesys_webrtc_hal::ErrorKind::Other,
            });
            return;
        }
        let first = CALL_LOCAL_ADDR
            .parse::<std::net::SocketAddr>()
            .map_or(40_000, |a| a.port());
        let local = std::net::SocketAddr::new(addr.ip(), first + self.udp_binds % 1000);
        self.udp_binds = self.udp_binds.wrapping_add(1);
        self.udp.push((socket, local));
        self.engine.handle_input(Input::UdpBound {
            now: self.now,
            socket,
            local,
        });
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

    /// Sends a server text frame, after replacing `$0`…`$9` (see [`FakeCloud::substitute`]).
    fn send_text(&mut self, frame: &[u8]) {
        let frame = self.substitute(frame);
        self.send_to_socket(&websocket::encode_frame(
            Role::Server,
            Opcode::Text,
            &frame,
            [0; 4],
        ));
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
        session_step(&mut cloud, step);
    }
    cloud.h.events
}

/// One [`fuzz_engine_session`] step (a command or a server text frame), then the cloud answers.
fn session_step(cloud: &mut FakeCloud, step: &[u8]) {
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
        Some((7, _)) => cloud.send_to_socket(&websocket::encode_close(Role::Server, None, [0; 4])),
        _ => cloud.send_text(step),
    }
    cloud.serve();
}

// ------------------------------------------------------------------------------------- JMI

/// The JID predicates of §6.3 on the input as text, then `jmi::parse_jmi` on the input parsed
/// as XML (and on each child, so a `<message>` inside a wrapper is reached). A parsed message
/// keeps its attributes within the documented bounds, and the `proceed`/`accept`/`reject` we
/// would answer with carry its session id through XML unchanged.
pub fn fuzz_jmi(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let kind = jmi::session_type_from_jid(&text);
    let _ = kind.as_str();
    let handler = jmi::sdk_handler_for_jid(&text);
    // The streaming client's type and the SDK's handler agree whenever a handler exists for it.
    if let Some(t) = kind.to_session_type() {
        assert_eq!(
            handler,
            Some(t),
            "JID typed {kind:?} but handled by {handler:?}"
        );
    }
    let _ = jmi::is_softphone_jid(&text);
    let _ = jmi::is_peer_video_jid(&text);
    if let Ok(el) = xml::parse(&text, &XmlLimits::default()) {
        check_jmi(&el);
        for child in el.elements() {
            check_jmi(child);
        }
    }
}

fn check_jmi(el: &Element) {
    let Some(Ok(msg)) = jmi::parse_jmi(el) else {
        return;
    };
    let id = msg.id().clone();
    assert!(!id.as_str().is_empty() && id.as_str().len() <= jmi::MAX_ID_LEN);
    for addr in [&msg.from, &msg.to].into_iter().flatten() {
        assert!(addr.len() <= jmi::MAX_ATTR_LEN, "unbounded address");
    }
    let _ = msg.session_type();
    let _ = msg.is_self_echo(SESSION_JID);
    if let JmiAction::Propose(p) = &msg.action {
        let _ = p.is_private_auto_answer();
        let attrs = [
            &p.original_room_jid,
            &p.from_user_id,
            &p.meeting_id,
            &p.priv_answer_mode,
        ];
        for v in attrs.into_iter().flatten() {
            assert!(v.len() <= jmi::MAX_ATTR_LEN, "unbounded propose attribute");
        }
        for c in [&p.conversation_id, &p.persistent_conversation_id]
            .into_iter()
            .flatten()
        {
            assert!(!c.as_str().is_empty() && c.as_str().len() <= jmi::MAX_ID_LEN);
        }
    }
    let replies = [
        jmi::proceed(CALL_PEER_JID, &id),
        jmi::accept(SESSION_JID, &id),
        jmi::reject(CALL_PEER_JID, &id),
    ];
    for reply in replies {
        let out = reply.to_xml();
        let parsed = match xml::parse(&out, &XmlLimits::default()) {
            Ok(p) => p,
            Err(e) => panic!("JMI reply does not parse ({e}): {out}"),
        };
        match jmi::parse_jmi(&parsed) {
            Some(Ok(m)) => {
                assert_eq!(m.id(), &id, "JMI reply changed the session id: {out}");
                assert_eq!(m.to.as_deref(), reply.attr("to"));
            }
            other => panic!("JMI reply not read back ({other:?}): {out}"),
        }
    }
}

// ---------------------------------------------------------------------------- sdp-over-xmpp

/// The sdp-over-xmpp readers (§7): `parse_genesys_iq` on the input as XML (and its children),
/// `parse_json` and `parse_fragment` on the input as text, and `CandidateFragment::new` on the
/// input split at its first line feed (mid, candidate line). Properties: a parsed fragment
/// re-encoded with `to_fragment()` parses back to itself; a parsed method re-encoded with
/// `rpc_json` parses back to itself; a parsed IQ rebuilt with `build_rpc_iq` and sent through
/// XML text parses back to the same method; the early-candidate buffer stays bounded.
pub fn fuzz_sdp_over_xmpp(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(el) = xml::parse(&text, &XmlLimits::default()) {
        check_genesys_iq(&el);
        for child in el.elements() {
            check_genesys_iq(child);
        }
    }
    if let Ok((json_id, method)) = sdp_over_xmpp::parse_json(&text) {
        assert_rpc_round_trip(json_id.as_deref(), &method);
    }
    let mut early = sdp_over_xmpp::EarlyCandidates::new();
    let now = Instant::now();
    if let Ok(frag) = sdp_over_xmpp::parse_fragment(&text) {
        assert_fragment_round_trip(&frag);
        // Every session id gets the same candidate: the buffer must stay bounded.
        for (i, chunk) in text.as_bytes().chunks(4).enumerate().take(64) {
            let sid = format!("s{}-{}", i % 13, chunk.first().copied().unwrap_or(0) % 3);
            if let Ok(sid) = SessionId::new(sid) {
                early.push(&sid, frag.clone(), now);
            }
            assert!(early.len() <= sdp_over_xmpp::EARLY_CANDIDATE_SESSIONS);
        }
        for taken in [early.take("s0-0", now), early.take("s1-1", now)] {
            assert!(taken.len() <= sdp_over_xmpp::EARLY_CANDIDATES_PER_SESSION);
        }
    }
    let (mid, line) = text.split_once('\n').unwrap_or(("0", &text));
    if let Ok(frag) = sdp_over_xmpp::CandidateFragment::new(mid, line) {
        assert_fragment_round_trip(&frag);
    }
    let _ = sdp_over_xmpp::should_send_candidate(&text);
    if let Some((ufrag, pwd)) = sdp_over_xmpp::ice_credentials(&text) {
        let _ = (ufrag.len(), pwd.len());
    }
    assert!(sdp_over_xmpp::is_renegotiation(&text, &text));
}

fn check_genesys_iq(el: &Element) {
    let Some(Ok(rpc)) = sdp_over_xmpp::parse_genesys_iq(el) else {
        return;
    };
    assert!(!rpc.iq_id.is_empty() && rpc.iq_id.len() <= jmi::MAX_ID_LEN);
    if let Some(from) = &rpc.from {
        assert!(from.len() <= sdp_over_xmpp::MAX_FIELD_LEN);
    }
    assert_rpc_round_trip(rpc.json_id.as_deref(), &rpc.method);
    let json_id = rpc.json_id.as_deref().unwrap_or("");
    let iq = sdp_over_xmpp::build_rpc_iq(
        &rpc.iq_id,
        "alice@example.orgspan.com/r1",
        CALL_PEER_JID,
        json_id,
        &rpc.method,
    );
    let out = iq.to_xml();
    let parsed = match xml::parse(&out, &XmlLimits::default()) {
        Ok(p) => p,
        Err(e) => panic!("built genesys-webrtc IQ does not parse ({e}): {out}"),
    };
    match sdp_over_xmpp::parse_genesys_iq(&parsed) {
        Some(Ok(again)) => {
            assert_eq!(again.iq_id, rpc.iq_id);
            assert_eq!(again.json_id.as_deref(), Some(json_id));
            assert_eq!(again.method, rpc.method, "IQ round trip changed the method");
        }
        other => panic!("built genesys-webrtc IQ not read back: {other:?}"),
    }
}

fn assert_rpc_round_trip(json_id: Option<&str>, method: &sdp_over_xmpp::Method) {
    let json_id = json_id.unwrap_or("");
    let text = sdp_over_xmpp::rpc_json(json_id, method);
    match sdp_over_xmpp::parse_json(&text) {
        Ok((id, again)) => {
            assert_eq!(id.as_deref(), Some(json_id), "JSON id changed");
            assert_eq!(&again, method, "rpc_json round trip changed the method");
        }
        Err(e) => panic!("rpc_json output does not parse ({e})"),
    }
}

fn assert_fragment_round_trip(frag: &sdp_over_xmpp::CandidateFragment) {
    let text = frag.to_fragment();
    assert!(text.len() <= sdp_over_xmpp::MAX_FRAGMENT_BYTES);
    assert_eq!(
        sdp_over_xmpp::parse_fragment(&text).as_ref(),
        Ok(frag),
        "candidate fragment did not round-trip: {text:?}"
    );
}

// ------------------------------------------------------------------------- SDP and Jingle

/// `Sdp::parse` on the input as text: what parses prints to text that parses to the same
/// model. Its media sections are read through every accessor and mapped to Jingle for both
/// roles (`sdp_to_jingle`), and what maps is mapped back (`contents_to_sdp`) and sent through
/// the Jingle element round trip. Then the input as XML (and each child): whatever
/// `Jingle::from_element` reads must come back equal from `to_element` (directly and through
/// XML text), and `jingle_to_sdp` must give an SDP that survives its own round trip.
pub fn fuzz_sdp_jingle(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(sdp) = Sdp::parse(&text) {
        assert_sdp_round_trip(&sdp);
        read_sdp(&sdp);
        for role in [LocalRole::Initiator, LocalRole::Responder] {
            let Ok((contents, groups)) = sdp_jingle::sdp_to_jingle(&sdp, role) else {
                continue;
            };
            let mut j = Jingle::new(jingle::Action::SessionInitiate, "s");
            j.contents = contents;
            j.groups = groups;
            assert_jingle_round_trip(&j);
            if let Ok(back) = sdp_jingle::contents_to_sdp(&j.contents, &j.groups, role, 1) {
                let _ = back.to_string();
            }
        }
    }
    if let Ok(el) = xml::parse(&text, &XmlLimits::default()) {
        check_jingle(&el);
        for child in el.elements() {
            check_jingle(child);
        }
    }
}

fn assert_sdp_round_trip(sdp: &Sdp) {
    let out = sdp.to_string();
    assert_eq!(
        Sdp::parse(&out).as_ref(),
        Ok(sdp),
        "SDP round trip changed the description:\n{out}"
    );
}

fn read_sdp(sdp: &Sdp) {
    let _ = (sdp.groups(), sdp.group_bundle(), sdp.ice_lite());
    let _ = sdp.fingerprints();
    for m in &sdp.media {
        let _ = (m.rtpmaps(), m.extmaps(), m.ssrcs(), m.ssrc_groups());
        let _ = (m.candidates(), m.msid(), m.sctp_port(), m.direction());
        let _ = (m.fingerprints(), m.setup(), m.ice_ufrag(), m.ice_pwd());
        let _ = (m.rtcp_mux(), m.rtcp_rsize(), m.end_of_candidates());
        for f in &m.formats {
            if let Ok(pt) = f.parse::<u8>() {
                let _ = (m.rtpmap(pt), m.fmtp(pt), m.rtcp_fbs(pt));
                if let Some(p) = m.fmtp(pt) {
                    let params = crate::signaling::sdp::parse_fmtp_params(p);
                    let _ = crate::signaling::sdp::write_fmtp_params(
                        params.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
                    );
                }
            }
        }
        if let Some(mid) = m.mid() {
            assert!(sdp.media_by_mid(mid).is_some());
        }
    }
}

fn check_jingle(el: &Element) {
    let Ok(j) = Jingle::from_element(el) else {
        return;
    };
    assert!(j.contents.len() <= jingle::MAX_CONTENTS);
    assert!(j.groups.len() <= jingle::MAX_GROUPS);
    assert_jingle_round_trip(&j);
    if let Ok(sdp) = sdp_jingle::jingle_to_sdp(&j, 1) {
        assert_sdp_round_trip(&sdp);
        read_sdp(&sdp);
        let _ = sdp_jingle::sdp_to_jingle(&sdp, LocalRole::Initiator);
    }
    let _ = sdp_jingle::contents_to_sdp(&j.contents, &j.groups, LocalRole::Responder, 2);
    let _ = jingle::jingle_error_condition(el);
}

fn assert_jingle_round_trip(j: &Jingle) {
    let el = j.to_element();
    assert_eq!(
        Jingle::from_element(&el).as_ref(),
        Ok(j),
        "Jingle element round trip changed the session"
    );
    let out = el.to_xml();
    match xml::parse(&out, &XmlLimits::default()) {
        Ok(parsed) => assert_eq!(
            Jingle::from_element(&parsed).as_ref(),
            Ok(j),
            "Jingle round trip through XML text changed the session: {out}"
        ),
        Err(e) => panic!("serialized Jingle does not parse ({e}): {out}"),
    }
}

// ------------------------------------------------------------------------------- Candidate

/// `Candidate::parse` (and `parse_value`) on the input as text: a parsed candidate written with
/// `to_sdp_attribute()` parses back to itself, as an [`Attribute`](crate::signaling::sdp::Attribute)
/// too. It also goes through the Jingle candidate mapping and the sdp-over-xmpp fragment form.
pub fn fuzz_candidate(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // `parse` on `candidate:{text}` reads `text` exactly as `parse_value` does (same limit).
    assert_eq!(
        Candidate::parse(&format!("candidate:{text}")),
        Candidate::parse_value(&text),
        "parse and parse_value disagree on {text:?}"
    );
    for parsed in [Candidate::parse(&text), Candidate::parse_value(&text)] {
        let Ok(c) = parsed else { continue };
        let line = c.to_sdp_attribute();
        let attr = c.to_attribute();
        let value = attr.value.as_deref().unwrap_or("");
        assert_eq!(
            Candidate::parse(&line).as_ref(),
            Ok(&c),
            "candidate round trip changed it: {line:?}"
        );
        assert_eq!(
            Candidate::parse_value(value).as_ref(),
            Ok(&c),
            "candidate value round trip changed it: {value:?}"
        );
        let _ = sdp_over_xmpp::should_send_candidate(&line);
        let j = sdp_jingle::candidate_to_jingle(&c);
        let back = sdp_jingle::jingle_to_candidate(&j);
        assert_eq!(
            (&back.foundation, &back.ip, back.port, back.priority),
            (&c.foundation, &c.ip, c.port, c.priority),
            "Jingle candidate mapping lost a field"
        );
        let _ = j.to_element().to_xml();
        if let Ok(frag) = sdp_over_xmpp::CandidateFragment::new("0", &line) {
            assert_fragment_round_trip(&frag);
        }
    }
}

// ----------------------------------------------------------------------------- RTP payloads

/// The RTP payload readers: `TelephoneEvent::decode` (re-encoding gives the same bytes but the
/// reserved bit), a `DtmfReceiver` fed 6-byte records (timestamp step, payload), a
/// `JitterBuffer` driven by the input as pushes and pulls (its buffered count never exceeds its
/// `max_packets`, frames never exceed [`crate::media::jitter::MAX_PAYLOAD_BYTES`]), G.711
/// decoding (decoded samples re-encode to codes that decode to the same samples) and, with the
/// `opus` feature, `OpusDecoder` on length-prefixed packets.
pub fn fuzz_rtp_payloads(data: &[u8]) {
    use crate::media::dtmf::{DtmfReceiver, TelephoneEvent};
    if let Ok(ev) = TelephoneEvent::decode(data) {
        let enc = ev.encode();
        let first = data.get(..4).unwrap_or(data);
        let expect: Vec<u8> = first
            .iter()
            .enumerate()
            .map(|(i, b)| if i == 1 { b & !0x40 } else { *b })
            .collect();
        assert_eq!(enc.as_slice(), expect.as_slice());
        assert_eq!(TelephoneEvent::decode(&enc), Ok(ev));
    }

    let mut rx = DtmfReceiver::new();
    let mut ts = 0u32;
    let mut digits = 0usize;
    for (n, rec) in data.chunks(6).enumerate() {
        let [a, b, payload @ ..] = rec else { break };
        ts = ts.wrapping_add(u32::from(u16::from_be_bytes([*a, *b])).wrapping_mul(40));
        if let Ok(Some(d)) = rx.push(ts, payload) {
            assert!(d.event <= 15, "digit for non-DTMF event {}", d.event);
            assert_eq!(crate::media::dtmf::digit_to_event(d.digit), Some(d.event));
            digits += 1;
        }
        assert!(digits <= n + 1);
    }

    fuzz_jitter(data);

    for law in [G711Law::Mu, G711Law::A] {
        let mut pcm = Vec::new();
        law.decode(data, &mut pcm);
        assert_eq!(pcm.len(), data.len());
        let mut codes = Vec::new();
        law.encode(&pcm, &mut codes);
        let mut again = Vec::new();
        law.decode(&codes, &mut again);
        assert_eq!(
            again, pcm,
            "{law:?} decoded samples do not re-encode exactly"
        );
        let _ = G711Law::from_payload_type(data.first().copied().unwrap_or(0));
    }

    #[cfg(feature = "opus")]
    fuzz_opus(data);
}

fn fuzz_jitter(data: &[u8]) {
    use crate::media::jitter::{JitterBuffer, JitterConfig, Pulled, MAX_PAYLOAD_BYTES};
    let Some((&cfg_byte, mut rest)) = data.split_first() else {
        return;
    };
    let clock = [8_000u32, 16_000, 48_000, 44_100][usize::from(cfg_byte & 3)];
    let mut cfg = JitterConfig::new(clock);
    cfg.max_packets = usize::from(cfg_byte >> 2).max(1);
    let Ok(mut jb) = JitterBuffer::new(cfg) else {
        return;
    };
    let frame = clock / 50;
    let mut now = Instant::now();
    let (mut seq, mut ts) = (0u16, 0u32);
    let mut ops = 0usize;
    while let Some((&c, tail)) = rest.split_first() {
        rest = tail;
        ops += 1;
        if ops > 4096 {
            break;
        }
        if c & 3 == 0 {
            now += Duration::from_millis(20);
            match jb.pull(now) {
                Pulled::Frame(p) => assert!(p.len() <= MAX_PAYLOAD_BYTES),
                Pulled::Missing | Pulled::NotReady => {}
            }
            if let Some(p) = jb.peek_next_payload() {
                assert!(p.len() <= MAX_PAYLOAD_BYTES);
            }
        } else if c == 0xFF {
            jb.reset();
        } else {
            let (hdr, tail) = rest.split_at(rest.len().min(3));
            rest = tail;
            let [a, b, len] = *hdr else { break };
            if c & 4 != 0 {
                // Absolute header fields.
                seq = u16::from_be_bytes([a, b]);
                ts = u32::from(u16::from_be_bytes([b, a])).wrapping_mul(frame);
            } else {
                // Relative: a sequence step and a timestamp step with jitter.
                let step = i32::from(a as i8);
                seq = seq.wrapping_add(step as u16);
                ts = ts
                    .wrapping_add((step as u32).wrapping_mul(frame))
                    .wrapping_add(i32::from(b as i8) as u32);
            }
            let payload = if c & 8 != 0 {
                vec![len; MAX_PAYLOAD_BYTES + usize::from(len & 1)]
            } else {
                let (p, tail) = rest.split_at(rest.len().min(usize::from(len % 32)));
                rest = tail;
                p.to_vec()
            };
            let arrival = now + Duration::from_millis(u64::from(c >> 4));
            let _ = jb.push(seq, ts, arrival, payload);
        }
        let stats = jb.stats();
        assert!(
            stats.buffered <= jb.config().max_packets,
            "jitter buffer holds {} packets, max {}",
            stats.buffered,
            jb.config().max_packets
        );
    }
}

#[cfg(feature = "opus")]
fn fuzz_opus(data: &[u8]) {
    use crate::media::opus::{OpusChannels, OpusDecoder, MAX_PACKET_SAMPLES};
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    let channels = if cfg & 1 == 0 {
        OpusChannels::Mono
    } else {
        OpusChannels::Stereo
    };
    let Ok(mut dec) = OpusDecoder::new(channels) else {
        return;
    };
    let max = MAX_PACKET_SAMPLES * channels.count();
    let mut packets = 0;
    while let Some((&len, tail)) = rest.split_first() {
        packets += 1;
        if packets > 64 {
            break;
        }
        let (packet, tail) = tail.split_at(tail.len().min(usize::from(len)));
        rest = tail;
        if let Ok(n) = dec.packet_samples(packet) {
            assert!(n <= MAX_PACKET_SAMPLES);
        }
        if let Ok(pcm) = dec.decode(packet) {
            assert!(pcm.len() <= max && pcm.len() % channels.count() == 0);
        }
        if len & 0x80 != 0 {
            if let Ok(pcm) = dec.decode_fec(packet) {
                assert!(pcm.len() <= max);
            }
        }
        if len & 0x40 != 0 {
            if let Ok(pcm) = dec.conceal(960) {
                assert!(pcm.len() <= max);
            }
        }
    }
}

// ------------------------------------------------------------------------------------ STUN

/// The STUN Binding response reader of the media layer.
pub fn fuzz_stun(data: &[u8]) {
    crate::media::rtc::fuzz_stun_response(data);
}

/// The TURN client of the media layer fed server datagrams (`media::rtc::fuzz_turn_client`):
/// never panics, never gives peer data before an allocation.
pub fn fuzz_turn(data: &[u8]) {
    crate::media::rtc::fuzz_turn_client(data);
}

// ------------------------------------------------------------------------- Engine with calls

/// The local UDP address of the first media socket the call target binds for the engine (later
/// sockets get the next ports).
pub const CALL_LOCAL_ADDR: &str = "127.0.0.1:40000";
/// The softphone peer (a gjoll JID) that proposes and offers in the call target.
pub const CALL_PEER_JID: &str = "7d2c01@gjoll.example.orgspan.com/gjoll-1";
/// Peers an [`fuzz_engine_call`] step can pick (softphone, video, screen share, screen
/// recording, live monitoring, unknown, empty, our own full JID).
const CALL_PEERS: [&str; 8] = [
    CALL_PEER_JID,
    "room-1@conference.example.orgspan.com/p1",
    "acd-5e1f@conference.example.orgspan.com/g1",
    "screenrecording-1@example.orgspan.com/r",
    "livemonitor-1@conference.example.orgspan.com/x",
    "someone@example.orgspan.com/x",
    "",
    "alice@example.orgspan.com/r1",
];
/// Reasons a terminate step can pick.
const CALL_REASONS: [&str; 6] = [
    "success",
    "decline",
    "gone",
    "alternative-session",
    "failed-transport",
    "",
];
/// The audio offer the call steps start from (Chrome-like: Opus, PCMU, telephone-event).
pub const CALL_OFFER_SDP: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=msid-semantic: WMS stream-a\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 101\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0 network-id 1\r\n\
a=ice-ufrag:Zq3r\r\n\
a=ice-pwd:pA55w0rdpA55w0rdpA55w0rd\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:1F\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=sendrecv\r\n\
a=msid:stream-a track-a\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ssrc:3735928559 cname:kq8Zp0aB\r\n";

/// Server stanzas that log the scripted cloud's user (or guest) in.
fn login_steps(guest: bool) -> Vec<String> {
    const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
    const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
    let open = format!(
        r#"<open xmlns="{FRAMING}" from="example.orgspan.com" id="s1" version="1.0" xml:lang="en"/>"#
    );
    let jid = if guest {
        "acd-5e1f@example.orgspan.com/g1"
    } else {
        "alice@example.orgspan.com/r1"
    };
    let services = |id: &str, body: &str| {
        format!(
            r#"<iq xmlns="jabber:client" type="result" id="{id}"><services xmlns="urn:xmpp:extdisco:1">{body}</services></iq>"#
        )
    };
    vec![
        open.clone(),
        format!(
            r#"<stream:features xmlns:stream="http://etherx.jabber.org/streams"><mechanisms xmlns="{SASL}"><mechanism>PLAIN</mechanism><mechanism>ANONYMOUS</mechanism></mechanisms></stream:features>"#
        ),
        format!(r#"<success xmlns="{SASL}"/>"#),
        open,
        r#"<stream:features xmlns:stream="http://etherx.jabber.org/streams"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/><session xmlns="urn:ietf:params:xml:ns:xmpp-session"><optional/></session></stream:features>"#.to_owned(),
        format!(
            r#"<iq xmlns="jabber:client" type="result" id="$0"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>{jid}</jid></bind></iq>"#
        ),
        services(
            "$1",
            r#"<service type="turn" host="turn1.example.net" port="3478" transport="udp" username="1700000000:alice" password="c2VjcmV0"/>"#,
        ),
        services("$0", r#"<service type="stun" host="192.0.2.1" port="3478"/>"#),
    ]
}

/// Applies edits to `base`'s lines. `patch` is split on `0x00`; each edit's first byte `k`
/// picks line `k & 0x3F` (modulo the line count) and the action `k >> 6`: replace the line with
/// the rest, insert the rest before it, delete it, or append the rest to it.
fn patch_lines(base: &str, patch: &[u8]) -> String {
    let mut lines: Vec<String> = base
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if patch.is_empty() {
        return base.to_owned();
    }
    for edit in patch.split(|b| *b == 0) {
        let Some((&k, body)) = edit.split_first() else {
            continue;
        };
        if lines.is_empty() {
            lines.push(String::new());
        }
        let i = usize::from(k & 0x3F) % lines.len();
        let body = String::from_utf8_lossy(body);
        match (k >> 6, lines.get_mut(i)) {
            (0, Some(line)) => *line = body.into_owned(),
            (1, _) => lines.insert(i, body.into_owned()),
            (2, _) => {
                lines.remove(i);
            }
            (_, Some(line)) => line.push_str(&body),
            (_, None) => {}
        }
    }
    let mut out = lines.join("\r\n");
    out.push_str("\r\n");
    out
}

/// A candidate line built from up to 8 bytes: address, port, type and protocol.
fn candidate_from(bytes: &[u8]) -> Candidate {
    let b = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let typ = ["host", "srflx", "relay", "prflx"][usize::from(b(6) & 3)];
    Candidate {
        foundation: format!("{}", b(7)),
        component: u16::from(b(6) >> 7) + 1,
        protocol: if b(6) & 4 == 0 { "udp" } else { "tcp" }.to_owned(),
        priority: u32::from_be_bytes([b(0), b(1), b(2), b(3)]) | 1,
        ip: if b(6) & 8 == 0 {
            format!("192.0.2.{}", b(4))
        } else {
            format!("2001:db8::{:x}", b(4))
        },
        port: u16::from_be_bytes([b(4), b(5)]),
        typ: typ.to_owned(),
        raddr: (typ != "host").then(|| "192.0.2.10".to_owned()),
        rport: (typ != "host").then_some(46243),
        tcptype: None,
        generation: Some(0),
        ufrag: None,
        network_id: None,
        extensions: Vec::new(),
    }
}

/// State of one [`fuzz_engine_call`] run beyond the scripted cloud.
struct CallDriver {
    cloud: FakeCloud,
    local: std::net::SocketAddr,
    /// Stanza ids for the IQs the fake peer sends.
    serial: u32,
}

impl CallDriver {
    fn own_jid(&self) -> String {
        self.cloud
            .h
            .engine
            .full_jid()
            .unwrap_or("alice@example.orgspan.com/r1")
            .to_owned()
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.serial += 1;
        format!("{prefix}{}", self.serial)
    }

    fn send_element(&mut self, el: &Element) {
        let text = el.to_xml();
        self.cloud.send_to_socket(&websocket::encode_frame(
            Role::Server,
            Opcode::Text,
            text.as_bytes(),
            [0; 4],
        ));
    }

    fn genesys_iq(&mut self, from: &str, json: &serde_json::Value) {
        let id = self.next_id("g");
        let iq = Element::new("iq", crate::xmpp::ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", id)
            .with_attr("from", from)
            .with_attr("to", self.own_jid())
            .with_child(
                Element::new(sdp_over_xmpp::ELEMENT, crate::xmpp::ns::GENESYS)
                    .with_text(json.to_string()),
            );
        self.send_element(&iq);
    }

    fn jingle_iq(&mut self, from: &str, payload: Element) {
        let id = self.next_id("j");
        let iq = Element::new("iq", crate::xmpp::ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", id)
            .with_attr("from", from)
            .with_attr("to", self.own_jid())
            .with_child(payload);
        self.send_element(&iq);
    }

    /// A session id: one of the live or pending sessions, or a fixed `sess-N`.
    fn pick_session(&self, b: u8) -> String {
        let engine = &self.cloud.h.engine;
        let mut ids: Vec<String> = engine.sessions().map(|s| s.id.clone()).collect();
        ids.extend(engine.pending_sessions().map(|p| p.id.clone()));
        if b & 0x80 == 0 && !ids.is_empty() {
            ids.get(usize::from(b) % ids.len())
                .cloned()
                .unwrap_or_default()
        } else {
            call_sid(b)
        }
    }

    fn step(&mut self, step: &[u8]) {
        let Some((&cmd, rest)) = step.split_first() else {
            return;
        };
        let (f, rest) = match rest.split_first() {
            Some((&f, r)) => (f, r),
            None => (0, rest),
        };
        let peer = CALL_PEERS[usize::from(f >> 3 & 7)];
        match cmd {
            0x01..=0x07 => session_step(&mut self.cloud, step),
            0x08 => self.jmi_step(f, peer, rest),
            0x09 => {
                let sdp = if f & 0x80 != 0 {
                    String::from_utf8_lossy(rest).into_owned()
                } else {
                    patch_lines(CALL_OFFER_SDP, rest)
                };
                let mut params = serde_json::json!({
                    "sessionId": call_sid(f),
                    "sdp": sdp,
                    "reinvite": f & 4 != 0,
                });
                if f & 0x40 != 0 {
                    params["conversationId"] = serde_json::json!(format!("conv-{}", f & 3));
                }
                let id = self.next_id("o");
                let json = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "offer", "params": params});
                self.genesys_iq(peer, &json);
            }
            0x0A => {
                let fragment = if f & 4 != 0 {
                    "a=end-of-candidates\r\n".to_owned()
                } else if f & 0x40 != 0 {
                    String::from_utf8_lossy(rest).into_owned()
                } else {
                    let line = candidate_from(rest).to_sdp_attribute();
                    format!("m=0 9 RTP/AVP 0\r\na={line}\r\n")
                };
                let json = serde_json::json!({"jsonrpc": "2.0", "id": "c", "method": "iceCandidate",
                    "params": {"sessionId": call_sid(f), "sdp": fragment}});
                self.genesys_iq(peer, &json);
            }
            0x0B => {
                let reason = CALL_REASONS[usize::from(f >> 2) % CALL_REASONS.len()];
                let json = serde_json::json!({"jsonrpc": "2.0", "id": "t", "method": "terminate",
                    "params": {"sessionId": call_sid(f), "reason": reason}});
                self.genesys_iq(peer, &json);
            }
            0x0C => {
                let payload = if f & 0x80 != 0 {
                    // Raw Jingle payload.
                    match xml::parse(&String::from_utf8_lossy(rest), &XmlLimits::default()) {
                        Ok(el) => el,
                        Err(_) => return,
                    }
                } else {
                    let sdp = patch_lines(CALL_OFFER_SDP, rest);
                    let sdp = Sdp::parse(&sdp)
                        .or_else(|_| Sdp::parse(CALL_OFFER_SDP))
                        .ok();
                    let Some(sdp) = sdp else { return };
                    let Ok((contents, groups)) =
                        sdp_jingle::sdp_to_jingle(&sdp, LocalRole::Initiator)
                    else {
                        return;
                    };
                    let mut j = Jingle::new(jingle::Action::SessionInitiate, call_sid(f));
                    j.initiator = Some(peer.to_owned());
                    j.contents = contents;
                    j.groups = groups;
                    j.to_element()
                };
                self.jingle_iq(peer, payload);
            }
            0x0D => {
                let sid = call_sid(f);
                let j = if f & 4 != 0 {
                    Jingle::transport_info_gathering_complete(sid, "0", Some("Zq3r"))
                } else {
                    let ufrag = if f & 0x40 != 0 { "n3wU" } else { "Zq3r" };
                    let c = sdp_jingle::candidate_to_jingle(&candidate_from(rest));
                    Jingle::transport_info_candidate(sid, "0", Some(ufrag), c)
                };
                self.jingle_iq(peer, j.to_element());
            }
            0x0E => {
                let reason = CALL_REASONS[usize::from(f >> 2) % CALL_REASONS.len()];
                let j = Jingle::session_terminate(
                    call_sid(f),
                    jingle::Reason::new(jingle::ReasonCondition::from_name(reason)),
                );
                self.jingle_iq(peer, j.to_element());
            }
            0x0F => self.api_step(f, rest),
            0x10 => {
                let b = |i: usize| rest.get(i).copied().unwrap_or(0);
                let source = match f & 3 {
                    0 => std::net::SocketAddr::from(([192, 0, 2, 10], 46243)),
                    1 => std::net::SocketAddr::from(([198, 51, 100, 7], 9)),
                    2 => std::net::SocketAddr::from((
                        [b(0), b(1), b(2), b(3)],
                        u16::from_be_bytes([b(4), b(5)]),
                    )),
                    _ => self.local,
                };
                let destination = if f & 4 == 0 {
                    self.local
                } else {
                    std::net::SocketAddr::from(([127, 0, 0, 1], 40001))
                };
                let now = self.cloud.h.now;
                self.cloud.h.input(
                    Input::Datagram {
                        now,
                        source,
                        destination,
                        data: rest,
                    },
                    rest.len(),
                );
            }
            0x12 => self.cloud.h.fail_binds = f & 1 == 1,
            0x11 => {
                // A driver's audio loop: 20 ms ticks with capture and playout.
                for tick in 0..(f % 50) {
                    self.cloud.h.now += Duration::from_millis(20);
                    let now = self.cloud.h.now;
                    self.cloud.h.input(Input::Timeout(now), 0);
                    let pcm: Vec<i16> = (0..960)
                        .map(|i| (((i + usize::from(tick) * 960) % 96) as i16 - 48) * 300)
                        .collect();
                    self.cloud.h.engine.push_capture_frame(now, &pcm);
                    self.cloud.h.drain(0);
                    let out = self.cloud.h.engine.pull_playout_frame(now);
                    assert_eq!(out.len(), 960, "playout frame of {} samples", out.len());
                    self.cloud.h.drain(0);
                }
            }
            _ => self.cloud.send_text(step),
        }
    }

    fn jmi_step(&mut self, f: u8, peer: &str, rest: &[u8]) {
        let name = [
            "propose", "retract", "accept", "reject", "proceed", "ringing",
        ][usize::from(f & 7) % 6];
        let mut el = Element::new(name, crate::xmpp::ns::JMI).with_attr("id", call_sid(f >> 1));
        if name == "propose" {
            let flags = rest.first().copied().unwrap_or(0);
            let cid = match rest.get(1..) {
                Some(t) if !t.is_empty() => String::from_utf8_lossy(t).into_owned(),
                _ => format!("conv-{}", f & 3),
            };
            el = el.with_attr("inin-cid", cid);
            if flags & 1 != 0 {
                el = el.with_attr("inin-sdp-over-xmpp", "true");
            }
            if flags & 2 != 0 {
                el = el.with_attr("inin-autoanswer", "true");
            }
            if flags & 4 != 0 {
                el = el.with_attr("inin-priv-answer-mode", "Auto");
            }
            if flags & 8 != 0 {
                el = el.with_attr("inin-persistent-cid", "conv-p");
            }
        }
        let msg = Element::new("message", crate::xmpp::ns::CLIENT)
            .with_opt_attr("from", (!peer.is_empty()).then_some(peer))
            .with_attr("to", "alice@example.orgspan.com")
            .with_child(el);
        self.send_element(&msg);
    }

    fn api_step(&mut self, f: u8, rest: &[u8]) {
        let sid = self.pick_session(rest.first().copied().unwrap_or(0));
        let arg = rest.get(1..).unwrap_or(&[]);
        let now = self.cloud.h.now;
        let engine = &mut self.cloud.h.engine;
        let _ = match f % 11 {
            0 => engine.accept_pending_session(now, &sid),
            1 => engine.reject_pending_session(now, &sid),
            2 => engine.accept_session(now, &sid),
            3 => engine.end_session(now, &sid),
            4 => engine.set_audio_mute(now, &sid, f & 0x80 != 0),
            5 => engine.send_dtmf(now, &sid, &String::from_utf8_lossy(arg)),
            6 => {
                let pcm: Vec<i16> = arg
                    .chunks(2)
                    .map(|c| {
                        i16::from_le_bytes([
                            c.first().copied().unwrap_or(0),
                            c.get(1).copied().unwrap_or(0),
                        ])
                    })
                    .cycle()
                    .take(if f & 0x80 != 0 { arg.len() / 2 } else { 960 })
                    .collect();
                engine.push_capture_frame(now, &pcm);
                Ok(())
            }
            7 => {
                let out = engine.pull_playout_frame(now);
                assert_eq!(out.len(), 960, "playout frame of {} samples", out.len());
                Ok(())
            }
            8 => engine.set_hold(now, &sid, f & 0x80 != 0),
            9 => engine.end_session(now, &format!("conv-{}", f >> 4 & 3)),
            _ => engine.send_dtmf(now, &sid, "1234567890*#ABCD,"),
        };
        self.cloud.h.drain(arg.len());
    }
}

/// The session id a step's flag byte names (four ids, so steps meet on the same session).
fn call_sid(f: u8) -> String {
    format!("9b8e2a10-{}", f & 3)
}

/// The engine in a call: [`fuzz_engine_session`]'s scripted cloud logs in first (user mode, or
/// guest when the first byte's low bit is set), the engine is given 127.0.0.1 to bind media
/// sockets on (the harness answers each bind at once, the first at [`CALL_LOCAL_ADDR`]), and the
/// rest of the input is split on [`SESSION_SEPARATOR`] into steps. A step is `cmd f rest…`:
///
/// * `01`–`07`: the [`fuzz_engine_session`] commands;
/// * `08`: a JMI element from a peer (`f & 7`: propose, retract, accept, reject, proceed,
///   ringing; propose flags and `inin-cid` from `rest`);
/// * `09`: a `genesys-webrtc` offer whose SDP is [`CALL_OFFER_SDP`] edited by `rest` (see
///   `patch_lines`; `f & 0x80`: `rest` is the whole SDP; `f & 4`: reinvite; `f & 0x40`: with a
///   conversation id);
/// * `0A`: an `iceCandidate` (built from `rest`, or end-of-candidates with `f & 4`, or `rest`
///   verbatim with `f & 0x40`); `0B`: a `terminate`;
/// * `0C`: a Jingle `session-initiate` mapped from the edited offer (`f & 0x80`: `rest` is the
///   raw `<jingle>` XML); `0D`: a `transport-info` (candidate from `rest`, or gathering complete
///   with `f & 4`); `0E`: a `session-terminate`;
/// * `0F`: a session API call (`f % 11`: accept pending, reject pending, accept, end, mute,
///   DTMF, capture frame, playout frame, hold, end by conversation, DTMF) on the session that
///   `rest[0]` picks;
/// * `10`: a UDP datagram `rest` to the first call's media socket, or the second's with `f & 4`
///   (`f & 3` picks the source);
/// * `11`: `f % 50` ticks of 20 ms with capture and playout;
/// * `12`: media socket binds fail from now on (`f & 1`) or succeed again;
/// * anything else: a server text frame, as in [`fuzz_engine_session`].
///
/// In steps `08`–`0E`, `f & 3` picks the session id and `f >> 3 & 7` the peer JID. No input may
/// panic, flood the output queue, or send a datagram from (or close) a socket it does not hold.
pub fn fuzz_engine_call(data: &[u8]) {
    run_call(data, false);
}

/// Runs [`fuzz_engine_call`] and returns the events (at most 4096), for seed checks.
pub fn engine_call_events(data: &[u8]) -> Vec<SdkEvent> {
    run_call(data, true)
}

/// Builds [`fuzz_engine_call`] input (used for seed corpora).
pub fn call_input(guest: bool, steps: &[&[u8]]) -> Vec<u8> {
    session_input(guest, steps)
}

fn run_call(data: &[u8], record: bool) -> Vec<SdkEvent> {
    let Some((&mode, script)) = data.split_first() else {
        return Vec::new();
    };
    let guest = mode & 1 == 1;
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
    let mut cloud = FakeCloud::new(guest, record);
    cloud.h.engine.set_media_ips(vec![local.ip()]);
    for step in login_steps(guest) {
        session_step(&mut cloud, step.as_bytes());
    }
    let mut driver = CallDriver {
        cloud,
        local,
        serial: 0,
    };
    if script.is_empty() {
        return driver.cloud.h.events;
    }
    for step in script.split(|b| *b == SESSION_SEPARATOR) {
        driver.step(step);
        driver.cloud.serve();
    }
    driver.cloud.h.events
}
