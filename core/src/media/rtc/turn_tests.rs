//! The TURN client state machine against `turn-server-proto`'s server in virtual time, and
//! against malformed or hostile server datagrams.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use turn_client_proto::stun::agent::Transmit;
use turn_server_proto::api::{TurnServerApi, TurnServerPollRet};
use turn_server_proto::server::TurnServer;

const USER: &str = "1700000000:alice";
const PASS: &str = "c2ltLXR1cm4tc2VjcmV0";

fn local() -> SocketAddr {
    "10.0.0.1:5000".parse().unwrap()
}
fn server_addr() -> SocketAddr {
    "10.0.0.9:3478".parse().unwrap()
}
fn relay_addr() -> SocketAddr {
    "10.0.0.9:49152".parse().unwrap()
}
fn peer() -> SocketAddr {
    "10.0.0.2:6000".parse().unwrap()
}

/// Message type (first two bytes) of a STUN message, `None` for anything else.
fn stun_type(data: &[u8]) -> Option<u16> {
    let t = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
    (t & 0xC000 == 0 && data.len() >= 20).then_some(t)
}

/// Rewrites (or drops, with `None`) a datagram.
type Mangle = Box<dyn FnMut(Vec<u8>) -> Option<Vec<u8>>>;

/// The client and a real (in-process) TURN server, delivering instantly.
struct Harness {
    t0: Instant,
    now: Instant,
    server: TurnServer,
    relay: Relay,
    events: Vec<RelayEvent>,
    /// What reached the peer from the relayed address.
    at_peer: Vec<Vec<u8>>,
    /// What the client unwrapped as coming from a peer.
    from_peer: Vec<(SocketAddr, Vec<u8>)>,
    /// Every datagram the client sent to the server.
    to_server: Vec<Vec<u8>>,
    /// Every datagram the server sent to the client.
    to_client: Vec<Vec<u8>>,
    /// Rewrites (or drops) datagrams from the server before the client sees them.
    mangle: Option<Mangle>,
}

impl Harness {
    fn new(password: &str) -> Harness {
        let t0 = Instant::now();
        let mut server = TurnServer::new(TransportType::Udp, server_addr(), "sim".into());
        server.add_user(USER.into(), PASS.into());
        Harness {
            t0,
            now: t0,
            server,
            relay: Relay::new(t0, local(), server_addr(), USER, password),
            events: vec![],
            at_peer: vec![],
            from_peer: vec![],
            to_server: vec![],
            to_client: vec![],
            mangle: None,
        }
    }

    fn stime(&self) -> turn_client_proto::stun::Instant {
        let n = self.now.duration_since(self.t0).as_nanos() as i64;
        turn_client_proto::stun::Instant::from_nanos(n)
    }

    fn server_out(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        if to == local() && from == server_addr() {
            self.to_client.push(data.clone());
            let data = match self.mangle.as_mut() {
                Some(m) => match m(data) {
                    Some(d) => d,
                    None => return,
                },
                None => data,
            };
            let now = self.now;
            let mut got = vec![self.relay.handle_receive(now, from, to, &data)];
            while let Some(more) = self.relay.poll_recv(now) {
                got.push(more);
            }
            for g in got {
                if let RelayReceived::Peer {
                    peer,
                    relayed,
                    data,
                } = g
                {
                    assert_eq!(relayed, relay_addr());
                    self.from_peer.push((peer, data));
                }
            }
        } else if to == peer() && from == relay_addr() {
            self.at_peer.push(data);
        }
    }

    fn send_to_server(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        assert_eq!((from, to), (local(), server_addr()));
        self.to_server.push(data.clone());
        let now = self.stime();
        let out = self
            .server
            .recv(Transmit::new(data, TransportType::Udp, from, to), now)
            .map(|t| t.build());
        if let Some(t) = out {
            self.server_out(t.from, t.to, t.data);
        }
    }

    /// Runs both sides until nothing more happens at this instant.
    fn settle(&mut self) {
        for _ in 0..100 {
            let mut progressed = false;
            let now = self.now;
            self.relay.poll_timeout(now);
            while let Some(e) = self.relay.poll_event() {
                if let RelayEvent::Allocated { .. } = e {
                    self.relay.request_pending_permissions(now);
                }
                self.events.push(e);
                progressed = true;
            }
            while let Some((f, t, d)) = self.relay.poll_transmit(now) {
                self.send_to_server(f, t, d);
                progressed = true;
            }
            let st = self.stime();
            while let TurnServerPollRet::AllocateSocket {
                transport,
                listen_addr,
                client_addr,
                allocation_transport,
                family,
            } = self.server.poll(st)
            {
                self.server.allocated_socket(
                    transport,
                    listen_addr,
                    client_addr,
                    allocation_transport,
                    family,
                    Ok(relay_addr()),
                    st,
                );
                progressed = true;
            }
            while let Some(t) = self.server.poll_transmit(st) {
                self.server_out(t.from, t.to, t.data);
                progressed = true;
            }
            if !progressed {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// Advances time in steps of at most `step`, settling at each.
    fn run_for(&mut self, d: Duration, step: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.settle();
            let next = self
                .relay
                .poll_timeout(self.now)
                .unwrap_or(end)
                .min(self.now + step)
                .min(end);
            self.now = next.max(self.now + Duration::from_millis(1)).min(end);
        }
        self.settle();
    }

    fn peer_sends(&mut self, data: &[u8]) {
        let st = self.stime();
        let out = self
            .server
            .recv(
                Transmit::new(data.to_vec(), TransportType::Udp, peer(), relay_addr()),
                st,
            )
            .map(|t| t.build());
        if let Some(t) = out {
            self.server_out(t.from, t.to, t.data);
        }
        self.exchange();
    }

    fn client_sends(&mut self, data: &[u8]) -> bool {
        let now = self.now;
        match self.relay.send(now, peer(), data) {
            Some((f, t, d)) => {
                self.send_to_server(f, t, d);
                self.exchange();
                true
            }
            None => {
                self.exchange();
                false
            }
        }
    }

    /// Lets the exchanges run for a moment (the crate paces its requests).
    fn exchange(&mut self) {
        self.run_for(Duration::from_millis(500), Duration::from_millis(10));
    }

    fn allocated(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, RelayEvent::Allocated { relayed, local: l } if *relayed == relay_addr() && *l == local()))
    }
}

#[test]
fn allocates_with_long_term_credentials_after_a_401() {
    let mut h = Harness::new(PASS);
    h.exchange();
    assert!(h.allocated(), "events: {:?}", h.events);
    assert_eq!(h.relay.relayed(), Some(relay_addr()));
    // Allocate request, 401 with realm and nonce, Allocate again (authenticated), success.
    assert_eq!(stun_type(&h.to_server[0]), Some(0x0003));
    assert_eq!(stun_type(&h.to_client[0]), Some(0x0113));
    assert_eq!(stun_type(&h.to_server[1]), Some(0x0003));
    assert!(
        h.to_server[1].len() > h.to_server[0].len() + 24,
        "the retry carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY"
    );
    assert_eq!(stun_type(&h.to_client[1]), Some(0x0103));
    for d in &h.to_server {
        assert!(
            !d.windows(PASS.len()).any(|w| w == PASS.as_bytes()),
            "the password never goes on the wire"
        );
    }
}

#[test]
fn relays_both_ways_after_a_permission_then_over_a_channel() {
    let mut h = Harness::new(PASS);
    h.exchange();
    assert!(h.allocated());
    // No permission yet: the datagram is dropped and a CreatePermission goes out.
    assert!(!h.client_sends(b"check-1"));
    assert!(h.to_server.iter().any(|d| stun_type(d) == Some(0x0008)));
    assert!(h.at_peer.is_empty());
    // Now it is relayed (first as a Send indication while the channel is bound).
    assert!(h.client_sends(b"check-2"));
    assert_eq!(h.at_peer, vec![b"check-2".to_vec()]);
    assert!(h.to_server.iter().any(|d| stun_type(d) == Some(0x0009)));
    // Later datagrams use ChannelData (first byte 0x40-0x4F).
    assert!(h.client_sends(b"rtp-3"));
    assert_eq!(h.at_peer.last().unwrap(), b"rtp-3");
    assert!(matches!(h.to_server.last().unwrap()[0], 0x40..=0x4F));
    // The peer's datagram to the relayed address comes back unwrapped.
    h.peer_sends(b"answer");
    assert_eq!(h.from_peer, vec![(peer(), b"answer".to_vec())]);
}

#[test]
fn permissions_asked_before_the_allocation_are_made_after_it() {
    let mut h = Harness::new(PASS);
    h.relay.add_permission(h.now, peer().ip());
    // Another family and duplicates are ignored.
    h.relay
        .add_permission(h.now, "2001:db8::1".parse().unwrap());
    h.relay.add_permission(h.now, peer().ip());
    h.exchange();
    let perms = h
        .to_server
        .iter()
        .filter(|d| stun_type(d) == Some(0x0008))
        .count();
    assert_eq!(perms, 1);
    assert!(h.client_sends(b"first"), "permission already installed");
}

#[test]
fn the_allocation_is_refreshed_before_it_expires() {
    let mut h = Harness::new(PASS);
    h.exchange();
    assert!(h.client_sends(b"x") || h.client_sends(b"x"));
    // 65 minutes: the client asks for 30-minute allocations, so without refreshes this one
    // would have expired twice.
    h.run_for(Duration::from_secs(65 * 60), Duration::from_secs(20));
    let refreshes = h
        .to_server
        .iter()
        .filter(|d| stun_type(d) == Some(0x0004))
        .count();
    assert!(refreshes >= 2, "{refreshes} refreshes");
    assert!(!h.relay.is_finished());
    h.peer_sends(b"still here");
    assert_eq!(h.from_peer.last().unwrap().1, b"still here");
    assert!(h.client_sends(b"and back"));
    assert_eq!(h.at_peer.last().unwrap(), b"and back");
}

#[test]
fn wrong_credentials_fail_with_401() {
    let mut h = Harness::new("not-the-password");
    h.run_for(Duration::from_secs(5), Duration::from_millis(100));
    assert!(!h.allocated());
    assert_eq!(h.events, vec![RelayEvent::Failed { code: Some(401) }]);
    assert!(h.relay.is_finished());
    // Nothing more is sent once failed.
    let sent = h.to_server.len();
    h.run_for(Duration::from_secs(60), Duration::from_secs(1));
    assert_eq!(h.to_server.len(), sent);
}

#[test]
fn an_unanswered_allocate_fails_without_a_code() {
    let mut h = Harness::new(PASS);
    h.mangle = Some(Box::new(|_| None));
    h.run_for(Duration::from_secs(120), Duration::from_millis(500));
    assert_eq!(h.events, vec![RelayEvent::Failed { code: None }]);
    assert!(h.to_server.len() >= 3, "retransmissions");
}

#[test]
fn close_deletes_the_allocation() {
    let mut h = Harness::new(PASS);
    h.exchange();
    assert!(h.allocated());
    let now = h.now;
    h.relay.close(now);
    h.exchange();
    let last = h.to_server.last().unwrap();
    assert_eq!(stun_type(last), Some(0x0004), "a Refresh");
    // LIFETIME (0x000D) of 0.
    assert!(last
        .windows(8)
        .any(|w| w == [0x00, 0x0D, 0x00, 0x04, 0, 0, 0, 0]));
    // The server forgot it: the peer's data no longer reaches us.
    h.peer_sends(b"late");
    assert!(h.from_peer.is_empty());
    assert!(!h.client_sends(b"late"));
}

#[test]
fn an_unanswered_deallocation_is_retransmitted_until_answered() {
    let mut h = Harness::new(PASS);
    h.exchange();
    assert!(h.allocated());
    assert!(!h.relay.is_deallocating());
    // The server's answers are lost for a while.
    h.mangle = Some(Box::new(|_| None));
    let now = h.now;
    h.relay.close(now);
    h.settle();
    assert!(h.relay.is_deallocating());
    let refreshes = |h: &Harness| {
        h.to_server
            .iter()
            .filter(|d| stun_type(d) == Some(0x0004))
            .count()
    };
    assert_eq!(refreshes(&h), 1);
    h.run_for(Duration::from_millis(700), Duration::from_millis(50));
    assert!(refreshes(&h) >= 2, "retransmitted");
    assert!(h.relay.is_deallocating());
    // Answers get through again: the next retransmission is answered, and that is the end.
    h.mangle = None;
    h.run_for(Duration::from_secs(3), Duration::from_millis(50));
    assert!(!h.relay.is_deallocating());
    let sent = h.to_server.len();
    h.run_for(Duration::from_secs(30), Duration::from_secs(1));
    assert_eq!(h.to_server.len(), sent, "nothing more after the answer");
    // Only the answer to the deallocation was still taken, nothing else.
    assert!(!h
        .relay
        .owns(server_addr(), local(), &[0x40, 0, 0, 4, 1, 2, 3, 4]));
}

/// Every datagram the server sends during allocation and relaying, each mutated in many ways
/// (bit flips, truncations, extensions, garbage), fed to clients at every stage: no panic, and
/// a client fed garbage still allocates when the real answers come.
#[test]
fn malformed_server_datagrams_never_panic() {
    let mut rng = fastrand::Rng::with_seed(11);
    let mut reference = Harness::new(PASS);
    reference.exchange();
    assert!(reference.client_sends(b"a") || reference.client_sends(b"a"));
    assert!(reference.client_sends(b"b"));
    reference.peer_sends(b"data-indication-or-channel");
    let samples = reference.to_client.clone();
    assert!(samples.len() >= 4);

    let (mut mangled, mut allocated) = (0, 0);
    for round in 0..400 {
        let mut h = Harness::new(PASS);
        let target = round % samples.len();
        let mut seen = 0usize;
        let mut r = fastrand::Rng::with_seed(rng.u64(..));
        let hit = std::rc::Rc::new(std::cell::Cell::new(false));
        let hit_in = hit.clone();
        h.mangle = Some(Box::new(move |d: Vec<u8>| {
            let i = seen;
            seen += 1;
            if i != target {
                return Some(d);
            }
            hit_in.set(true);
            let mut m = d;
            match r.u8(0..4) {
                0 => {
                    for _ in 0..r.usize(1..6) {
                        let j = r.usize(..m.len());
                        m[j] = r.u8(..);
                    }
                }
                1 => m.truncate(r.usize(..m.len())),
                2 => m.extend((0..r.usize(1..64)).map(|_| r.u8(..))),
                _ => {
                    let len = r.usize(0..200);
                    m = (0..len).map(|_| r.u8(..)).collect();
                    if len > 0 && r.bool() {
                        m[0] = 0x40; // looks like ChannelData
                    }
                }
            }
            Some(m)
        }));
        h.run_for(Duration::from_secs(3), Duration::from_millis(200));
        let _ = h.client_sends(b"a");
        let _ = h.client_sends(b"b");
        h.peer_sends(b"c");
        h.run_for(Duration::from_secs(60), Duration::from_secs(5));
        mangled += usize::from(hit.get());
        allocated += usize::from(h.allocated());
    }
    // The mutations reached the client, and most clients still got their allocation.
    assert!(mangled >= 300, "{mangled} rounds mangled a datagram");
    assert!(allocated >= 200, "{allocated} rounds allocated");

    // Garbage alone, from the server's address, before the allocation: no response to one of
    // our requests, so not taken (another call's relay may own it), and never peer data.
    let mut h = Harness::new(PASS);
    let (from, to) = (server_addr(), local());
    for len in 0..64 {
        let g: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        assert_eq!(
            h.relay.handle_receive(h.now, from, to, &g),
            RelayReceived::NotOurs
        );
    }
    h.exchange();
    assert!(h.allocated(), "garbage did not derail the allocation");
    // Once allocated, garbage from the server is taken (and dropped), never peer data.
    for len in 0..64 {
        let g: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        assert!(!matches!(
            h.relay.handle_receive(h.now, from, to, &g),
            RelayReceived::Peer { .. }
        ));
    }
    // A datagram from anyone else is not ours.
    assert_eq!(
        h.relay.handle_receive(h.now, peer(), to, &samples[0]),
        RelayReceived::NotOurs
    );
}

/// Calls share the local sockets: a relay claims the server's responses to its own requests
/// only, and the rest of the server's traffic only once it holds the allocation.
#[test]
fn a_relay_claims_only_its_own_traffic() {
    let t0 = Instant::now();
    let mut r = Relay::new(t0, local(), server_addr(), USER, PASS);
    r.poll_timeout(t0);
    let (_, _, req) = r.poll_transmit(t0).unwrap();
    let response = |tid: &[u8]| {
        let mut m = vec![0x01, 0x13, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        m.extend_from_slice(tid);
        m
    };
    let (s, l) = (server_addr(), local());
    assert!(r.owns(s, l, &response(&req[8..20])));
    assert!(
        !r.owns(s, l, &response(&[9; 12])),
        "another call's response"
    );
    assert!(
        !r.owns(peer(), l, &response(&req[8..20])),
        "not from the server"
    );
    let channel_data = [0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4];
    assert!(!r.owns(s, l, &channel_data), "no allocation yet");
    // The harness's relay holds an allocation: ChannelData and indications are its own.
    let mut h = Harness::new(PASS);
    h.exchange();
    assert!(h.allocated());
    assert!(h.relay.owns(s, l, &channel_data));
    assert!(!h.relay.owns(s, l, &response(&[9; 12])));
}

/// `stun-proto` 2.0.4 panics on a NONCE with a multi-byte character four bytes after the
/// RFC 8489 cookie (the `turn` fuzz target found it); such a response is dropped before it.
#[test]
fn a_nonce_that_crashes_stun_proto_is_dropped() {
    let t0 = Instant::now();
    let mut r = Relay::new(t0, local(), server_addr(), USER, PASS);
    r.poll_timeout(t0);
    let (_, _, req) = r.poll_transmit(t0).unwrap();
    let nonce = "obMatJos2nAA\u{dd}N9iWECigm7tfY".as_bytes();
    let mut attrs = vec![0x00, 0x09, 0x00, 0x10, 0, 0, 4, 1];
    attrs.extend_from_slice(b"Unauthorized");
    attrs.extend_from_slice(&[0x00, 0x15, 0x00, nonce.len() as u8]);
    attrs.extend_from_slice(nonce);
    attrs.resize(attrs.len().next_multiple_of(4), 0);
    attrs.extend_from_slice(&[0x00, 0x14, 0x00, 0x03, b's', b'i', b'm', 0]);
    let mut m = vec![0x01, 0x13];
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
    m.extend_from_slice(&req[8..20]);
    m.extend_from_slice(&attrs);
    assert!(
        has_crashing_nonce(&m),
        "the message parses and has that nonce"
    );
    assert_eq!(
        r.handle_receive(t0, server_addr(), local(), &m),
        RelayReceived::Handled
    );
    // A nonce with the cookie and ASCII after it is fine.
    let mut fine = m.clone();
    let at = fine.windows(nonce.len()).position(|w| w == nonce).unwrap();
    fine[at + 12] = b'A';
    fine[at + 13] = b'A';
    assert!(!has_crashing_nonce(&fine));
}

#[test]
fn turn_urls() {
    let ok =
        |u: &str, a: &str| assert_eq!(turn_udp_server_addr(u), Some(a.parse().unwrap()), "{u}");
    ok("turn:192.0.2.1:3478", "192.0.2.1:3478");
    ok("turn:192.0.2.1", "192.0.2.1:3478");
    ok("TURN:192.0.2.1:80?transport=udp", "192.0.2.1:80");
    ok("turn:[2001:db8::1]:3479", "[2001:db8::1]:3479");
    ok("turn:2001:db8::1:3479", "[2001:db8::1]:3479");
    for bad in [
        "turn:192.0.2.1:443?transport=tcp",
        "turns:192.0.2.1:443",
        "turn:turn.example.net:3478",
        "stun:192.0.2.1:3478",
        "turn:",
        "tur",
    ] {
        assert_eq!(turn_udp_server_addr(bad), None, "{bad}");
    }
}
