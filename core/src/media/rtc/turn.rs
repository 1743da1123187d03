//! TURN relay candidates (RFC 5766 / RFC 8656 over UDP) for one call, on top of the sans-IO
//! `turn-client-proto` crate.
//!
//! Owns one TURN client per (local socket, TURN server): the Allocate with long-term
//! credentials (the 401 → realm/nonce → retry with MESSAGE-INTEGRITY exchange), the Refresh
//! before the allocation expires, CreatePermission for every remote candidate IP, ChannelBind
//! for every peer str0m talks to (Send indications until the channel is bound), and the
//! deallocation (Refresh with lifetime 0) on [`Relay::close`]. All of that is the crate's state
//! machine; this module converts clocks and addresses, wraps str0m's datagrams whose source is
//! the relayed address ([`Relay::send`]) and unwraps Data indications and ChannelData from the
//! server into datagrams "received on" the relayed address ([`Relay::handle_receive`]).
//!
//! Does not touch sockets or str0m. Credentials are handed to the crate and never logged; the
//! crate's own `tracing` spans skip its configuration.
//!
//! A TURN allocation is identified by its 5-tuple, so each call's relay runs from the call's
//! own local socket (the engine binds sockets per call, `engine/udp.rs`): two calls on one
//! socket could not both hold an allocation (coturn refuses the second Allocate with 437).
//! [`Relay::owns`] still takes only the relay's own traffic from its server. After
//! [`Relay::close`] only the answer to the deallocation is taken, and the deallocation is
//! retransmitted until it comes ([`Relay::is_deallocating`]; the engine keeps an ended
//! session's media and socket up to 5 s for it, then closes the socket). If none comes, the
//! allocation lives on at the server until it expires (at most 30 minutes); no later call uses
//! that socket.
//!
//! Untrusted input: the server's datagrams are parsed by the crate (`stun-types`), after one
//! check of ours for a NONCE that panics `stun-proto` 2.0.4 ([`has_crashing_nonce`]); the
//! permissions and channels a peer can cause are bounded ([`MAX_PERMISSIONS`],
//! [`MAX_CHANNELS`]). The `turn` fuzz target drives this module.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use turn_client_proto::api::{TurnClientApi, TurnConfig, TurnEvent, TurnPollRet, TurnRecvRet};
use turn_client_proto::stun::agent::Transmit as TurnTransmit;
use turn_client_proto::types::stun::attribute::{ErrorCode, Nonce};
use turn_client_proto::types::stun::message::{Message, MessageClass, TransactionId};
use turn_client_proto::types::{AddressFamily, TransportType, TurnCredentials};
use turn_client_proto::udp::TurnClientUdp;

/// The crate's clock: nanoseconds from an arbitrary zero.
type TurnInstant = turn_client_proto::stun::Instant;

/// Most permissions (remote IPs) one allocation asks for; a peer trickling more candidates than
/// this gets no more CreatePermission requests.
pub(crate) const MAX_PERMISSIONS: usize = 32;
/// Most channels one allocation binds (RFC 8656 allows 0x4000-0x4FFF); further peers use Send
/// indications.
pub(crate) const MAX_CHANNELS: usize = 32;
/// Requests whose responses a relay recognises (retransmissions reuse their id).
const MAX_TRACKED_REQUESTS: usize = 32;

/// What the TURN client reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RelayEvent {
    /// The allocation exists: `relayed` is the relay candidate's address, reached through the
    /// local socket `local`.
    Allocated {
        /// The relayed transport address on the server.
        relayed: SocketAddr,
        /// The local socket that talks to the TURN server.
        local: SocketAddr,
    },
    /// The allocation could not be made (or was lost). `code` is the STUN error code of the
    /// server's last Allocate error response, if there was one (401: rejected credentials).
    Failed {
        /// Last Allocate error code seen.
        code: Option<u16>,
    },
}

/// What [`Relay::handle_receive`] made of a datagram.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RelayReceived {
    /// Not from this relay's server to its local socket: not ours.
    NotOurs,
    /// A TURN control message (or something unusable from the server); consumed.
    Handled,
    /// Data from `peer` relayed to us; give it to str0m as received on `relayed`.
    Peer {
        /// The peer that sent it to the relayed address.
        peer: SocketAddr,
        /// The relayed address (destination for str0m).
        relayed: SocketAddr,
        /// The payload.
        data: Vec<u8>,
    },
}

/// One TURN allocation of one call.
pub(crate) struct Relay {
    client: TurnClientUdp,
    /// Zero of the crate's clock.
    epoch: Instant,
    relayed: Option<SocketAddr>,
    /// Remote IPs a permission was asked for.
    permissions: Vec<IpAddr>,
    /// Peers a channel was asked for.
    channels: Vec<SocketAddr>,
    /// Error code of the last Allocate error response from the server.
    last_error: Option<u16>,
    /// Transaction of the first 401 to an Allocate (the unauthenticated one).
    first_401: Option<TransactionId>,
    /// Transaction ids of the last requests sent, to claim their responses.
    sent_tids: VecDeque<[u8; 12]>,
    /// The allocation failed or was closed: nothing more is sent.
    finished: bool,
    failed_reported: bool,
    /// [`Relay::close`] was called.
    closed: bool,
    /// The transaction of the deallocation (Refresh with lifetime 0), once sent.
    delete_tid: Option<[u8; 12]>,
    /// The server answered the deallocation.
    delete_answered: bool,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("local", &self.client.local_addr())
            .field("server", &self.client.remote_addr())
            .field("relayed", &self.relayed)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Starts an Allocate from `local` to `server` with these long-term credentials. The
    /// first request goes out on the next [`Relay::poll_transmit`].
    pub(crate) fn new(
        now: Instant,
        local: SocketAddr,
        server: SocketAddr,
        username: &str,
        password: &str,
    ) -> Relay {
        let mut config = TurnConfig::new(TurnCredentials::new(username, password));
        config.set_allocation_transport(TransportType::Udp);
        config.set_address_family(if local.is_ipv4() {
            AddressFamily::IPV4
        } else {
            AddressFamily::IPV6
        });
        Relay {
            client: TurnClientUdp::allocate(local, server, config),
            epoch: now,
            relayed: None,
            permissions: Vec::new(),
            channels: Vec::new(),
            last_error: None,
            first_401: None,
            sent_tids: VecDeque::new(),
            finished: false,
            failed_reported: false,
            closed: false,
            delete_tid: None,
            delete_answered: false,
        }
    }

    fn turn_time(&self, now: Instant) -> TurnInstant {
        let nanos = now.saturating_duration_since(self.epoch).as_nanos();
        TurnInstant::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    fn std_time(&self, t: TurnInstant) -> Instant {
        let nanos = u64::try_from(t.as_nanos()).unwrap_or(0);
        self.epoch + Duration::from_nanos(nanos)
    }

    /// The local socket this relay talks to its server from.
    pub(crate) fn local(&self) -> SocketAddr {
        self.client.local_addr()
    }

    /// The TURN server.
    pub(crate) fn server(&self) -> SocketAddr {
        self.client.remote_addr()
    }

    /// The relayed address, once allocated.
    pub(crate) fn relayed(&self) -> Option<SocketAddr> {
        self.relayed
    }

    /// True once the allocation failed or was closed.
    #[cfg(test)]
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// True while the Allocate has neither succeeded nor failed.
    pub(crate) fn is_pending(&self) -> bool {
        !self.finished && self.relayed.is_none()
    }

    /// Whether a datagram from `source` to `destination` is this relay's traffic: from its
    /// server to its local socket, and either a response to one of its requests (matched by
    /// transaction id) or, once allocated, anything else (Data indications, ChannelData).
    /// A call's relays share its socket (one per TURN server), and a refused or pending
    /// Allocate must not take what belongs to another relay.
    pub(crate) fn owns(&self, source: SocketAddr, destination: SocketAddr, data: &[u8]) -> bool {
        if source != self.server() || destination != self.local() {
            return false;
        }
        if self.closed {
            // Only the answer to the deallocation is still wanted.
            return self.is_deallocating()
                && stun_response_tid(data).is_some_and(|t| Some(t) == self.delete_tid);
        }
        if self.finished {
            return false;
        }
        match stun_response_tid(data) {
            Some(tid) => self.sent_tids.contains(&tid),
            None => self.relayed.is_some(),
        }
    }

    /// The next datagram for the TURN server (requests, retransmissions, refreshes), as
    /// `(local socket, server, data)`.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
    ) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        if (self.finished && self.relayed.is_none()) || (self.closed && !self.is_deallocating()) {
            return None;
        }
        let t = self.client.poll_transmit(self.turn_time(now))?;
        let data = t.data.to_vec();
        if self.closed && self.delete_tid.is_none() && is_refresh_request(&data) {
            self.delete_tid = stun_request_tid(&data);
        }
        if let Some(tid) = stun_request_tid(&data) {
            if !self.sent_tids.contains(&tid) {
                if self.sent_tids.len() >= MAX_TRACKED_REQUESTS {
                    self.sent_tids.pop_front();
                }
                self.sent_tids.push_back(tid);
            }
        }
        Some((t.from, t.to, data))
    }

    /// Advances timers (retransmissions, Refresh before expiry, permission and channel
    /// refreshes) and returns when to be called again.
    pub(crate) fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        if (self.finished && self.relayed.is_none()) || (self.closed && !self.is_deallocating()) {
            return None;
        }
        match self.client.poll(self.turn_time(now)) {
            TurnPollRet::WaitUntil(t) => Some(self.std_time(t).max(now)),
            TurnPollRet::Closed => {
                self.mark_failed();
                None
            }
            // TCP allocations only; never asked for.
            _ => Some(now + Duration::from_millis(100)),
        }
    }

    /// The next event (allocation made or failed).
    pub(crate) fn poll_event(&mut self) -> Option<RelayEvent> {
        while let Some(e) = self.client.poll_event() {
            match e {
                TurnEvent::AllocationCreated(TransportType::Udp, relayed)
                    if self.relayed.is_none() =>
                {
                    self.relayed = Some(relayed);
                    return Some(RelayEvent::Allocated {
                        relayed,
                        local: self.local(),
                    });
                }
                TurnEvent::AllocationCreateFailed(_) => {
                    self.finished = true;
                    if !self.failed_reported {
                        self.failed_reported = true;
                        return Some(RelayEvent::Failed {
                            code: self.last_error,
                        });
                    }
                }
                TurnEvent::PermissionCreateFailed(_, ip) => {
                    tracing::debug!(peer = %ip, "TURN CreatePermission failed");
                    self.permissions.retain(|p| *p != ip);
                }
                TurnEvent::ChannelCreateFailed(_, peer) => {
                    tracing::debug!(peer = %peer, "TURN ChannelBind failed");
                }
                _ => {}
            }
        }
        if self.finished && !self.failed_reported && self.relayed.is_none() {
            self.failed_reported = true;
            return Some(RelayEvent::Failed {
                code: self.last_error,
            });
        }
        None
    }

    fn mark_failed(&mut self) {
        self.finished = true;
    }

    /// Asks for a permission for `ip` (a remote candidate's address). Requests before the
    /// allocation exists are made when it does.
    pub(crate) fn add_permission(&mut self, now: Instant, ip: IpAddr) {
        if self.finished
            || ip.is_ipv4() != self.local().is_ipv4()
            || self.permissions.contains(&ip)
            || self.permissions.len() >= MAX_PERMISSIONS
        {
            return;
        }
        self.permissions.push(ip);
        if self.relayed.is_some() {
            self.request_permission(now, ip);
        }
    }

    fn request_permission(&mut self, now: Instant, ip: IpAddr) {
        let now = self.turn_time(now);
        if let Err(e) = self.client.create_permission(TransportType::Udp, ip, now) {
            tracing::trace!(error = ?e, "TURN permission not requested");
        }
    }

    /// Called after [`RelayEvent::Allocated`]: asks for the permissions recorded before.
    pub(crate) fn request_pending_permissions(&mut self, now: Instant) {
        for ip in self.permissions.clone() {
            if !self.client.have_permission(TransportType::Udp, ip) {
                self.request_permission(now, ip);
            }
        }
    }

    /// Wraps a datagram str0m sends from the relayed address to `peer` into a ChannelData
    /// message (or a Send indication while the channel is not bound yet) for the server.
    /// Without a permission for the peer's IP it asks for one and drops the datagram (ICE
    /// retransmits). Returns `(local socket, server, data)`.
    pub(crate) fn send(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        data: &[u8],
    ) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        if self.finished || self.relayed.is_none() {
            return None;
        }
        if !self.client.have_permission(TransportType::Udp, peer.ip()) {
            self.add_permission(now, peer.ip());
            return None;
        }
        if !self.channels.contains(&peer) && self.channels.len() < MAX_CHANNELS {
            self.channels.push(peer);
            if let Err(e) = self
                .client
                .bind_channel(TransportType::Udp, peer, self.turn_time(now))
            {
                tracing::trace!(error = ?e, "TURN channel not bound");
            }
        }
        match self
            .client
            .send_to(TransportType::Udp, peer, data, self.turn_time(now))
        {
            Ok(Some(t)) => {
                let t = t.build();
                Some((t.from, t.to, t.data))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::trace!(error = ?e, "datagram via TURN dropped");
                None
            }
        }
    }

    /// Handles a datagram from the TURN server. Call only when [`Relay::owns`] is true (else
    /// it returns [`RelayReceived::NotOurs`]).
    pub(crate) fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> RelayReceived {
        if !self.owns(source, destination, data) {
            return RelayReceived::NotOurs;
        }
        if self.closed {
            // `owns` took only the answer to the deallocation: done, whatever it says.
            self.delete_answered = true;
            return RelayReceived::Handled;
        }
        if has_crashing_nonce(data) {
            tracing::debug!("TURN message with an unusable NONCE dropped");
            return RelayReceived::Handled;
        }
        self.note_allocate_error(data);
        let t = TurnTransmit::new(data, TransportType::Udp, source, destination);
        match self.client.recv(t, self.turn_time(now)) {
            TurnRecvRet::PeerData(p) => match self.relayed {
                Some(relayed) => RelayReceived::Peer {
                    peer: p.peer,
                    relayed,
                    data: p.data().to_vec(),
                },
                None => RelayReceived::Handled,
            },
            _ => RelayReceived::Handled,
        }
    }

    /// More data the client has queued (the crate may hold several from one input).
    pub(crate) fn poll_recv(&mut self, now: Instant) -> Option<RelayReceived> {
        let relayed = self.relayed?;
        let p = self.client.poll_recv(self.turn_time(now))?;
        Some(RelayReceived::Peer {
            peer: p.peer,
            relayed,
            data: p.data().to_vec(),
        })
    }

    /// Records the ERROR-CODE of an Allocate error response, for [`RelayEvent::Failed`].
    fn note_allocate_error(&mut self, data: &[u8]) {
        /// The Allocate method (RFC 8656 section 17).
        const ALLOCATE: u16 = 0x003;
        let Ok(msg) = Message::from_bytes(data) else {
            return;
        };
        if msg.method().value() != ALLOCATE || !msg.has_class(MessageClass::Error) {
            return;
        }
        let Ok(e) = msg.attribute::<ErrorCode>() else {
            return;
        };
        self.last_error = Some(e.code());
        // The crate answers the first 401 (realm and nonce) with an authenticated Allocate but
        // ignores a 401 to that one (it carries no integrity) and retransmits until its
        // transaction times out, about 40 s. A 401 to another transaction than the first is
        // the server refusing the credentials: fail now.
        if e.code() == 401 && self.relayed.is_none() {
            match self.first_401 {
                None => self.first_401 = Some(msg.transaction_id()),
                Some(first) if first != msg.transaction_id() => {
                    tracing::debug!("TURN server refused the credentials");
                    self.client.protocol_error();
                }
                Some(_) => {}
            }
        }
    }

    /// Deletes the allocation (Refresh with lifetime 0); the request is the next
    /// [`Relay::poll_transmit`]. Nothing more is relayed afterwards.
    pub(crate) fn close(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if self.relayed.is_some() {
            if let Err(e) = self.client.delete(self.turn_time(now)) {
                tracing::trace!(error = ?e, "TURN allocation not deleted");
            }
        }
        self.finished = true;
        self.failed_reported = true;
        self.closed = true;
    }

    /// True after [`Relay::close`] while the deallocation is still unanswered: keep feeding
    /// timeouts (it is retransmitted) and the server's datagrams (its answer) for a while.
    pub(crate) fn is_deallocating(&self) -> bool {
        self.closed && self.relayed.is_some() && !self.delete_answered
    }
}

/// The RFC 8489 nonce cookie (`obMatJos2`, section 9.2) that `stun-proto` 2.0.4 decodes the
/// four "security feature" characters after.
const NONCE_COOKIE: &str = "obMatJos2";

/// Whether `data` is a STUN message whose NONCE would panic `stun-proto` 2.0.4: it slices the
/// nonce four bytes after the RFC 8489 cookie without checking for a UTF-8 character boundary
/// (found by the `turn` fuzz target, `fuzz/regressions/turn/`). Such a message is dropped
/// before the crate sees it.
fn has_crashing_nonce(data: &[u8]) -> bool {
    let Ok(msg) = Message::from_bytes(data) else {
        return false;
    };
    let Ok(nonce) = msg.attribute::<Nonce>() else {
        return false;
    };
    let n = nonce.nonce();
    let end = NONCE_COOKIE.len() + 4;
    n.starts_with(NONCE_COOKIE) && n.len() >= end && !n.is_char_boundary(end)
}

/// The STUN class bits of a message type (RFC 5389 section 6).
const CLASS_MASK: u16 = 0x0110;
const CLASS_REQUEST: u16 = 0x0000;
const CLASS_SUCCESS: u16 = 0x0100;
const CLASS_ERROR: u16 = 0x0110;

/// Message type and transaction id of a datagram that looks like a STUN message (first two
/// bits zero, magic cookie).
fn stun_header(data: &[u8]) -> Option<(u16, [u8; 12])> {
    let typ = u16::from_be_bytes(data.get(..2)?.try_into().ok()?);
    let cookie: [u8; 4] = data.get(4..8)?.try_into().ok()?;
    if typ & 0xC000 != 0 || cookie != [0x21, 0x12, 0xA4, 0x42] {
        return None;
    }
    Some((typ, data.get(8..20)?.try_into().ok()?))
}

/// Whether `data` is a TURN Refresh request (RFC 8656 section 7).
fn is_refresh_request(data: &[u8]) -> bool {
    stun_header(data).is_some_and(|(t, _)| t == 0x0004)
}

/// The transaction id of a STUN request.
fn stun_request_tid(data: &[u8]) -> Option<[u8; 12]> {
    stun_header(data).and_then(|(t, tid)| (t & CLASS_MASK == CLASS_REQUEST).then_some(tid))
}

/// The transaction id of a STUN success or error response.
fn stun_response_tid(data: &[u8]) -> Option<[u8; 12]> {
    stun_header(data)
        .and_then(|(t, tid)| matches!(t & CLASS_MASK, CLASS_SUCCESS | CLASS_ERROR).then_some(tid))
}

/// The address of a `turn:` URL over UDP whose host is an IP literal (`turn:192.0.2.1:3478`,
/// `turn:[2001:db8::1]:3478`, unbracketed IPv6 as discovery writes it, an optional
/// `?transport=udp`). `turns:`, other transports and host names give `None`.
pub(crate) fn turn_udp_server_addr(url: &str) -> Option<SocketAddr> {
    let scheme_len = "turn:".len();
    let scheme = url.get(..scheme_len)?;
    if !scheme.eq_ignore_ascii_case("turn:") {
        return None;
    }
    let rest = url.get(scheme_len..)?;
    let (hostport, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    if let Some(q) = query {
        let udp = q.split('&').all(|kv| match kv.split_once('=') {
            Some((k, v)) if k.eq_ignore_ascii_case("transport") => v.eq_ignore_ascii_case("udp"),
            _ => true,
        });
        if !udp {
            return None;
        }
    }
    super::ip_literal_addr(hostport)
}

/// Fuzzing: a TURN client fed server datagrams. The input is a series of steps, each a flag
/// byte, a big-endian 16-bit length and that many bytes (the datagram). Flag bits: low nibble,
/// time advance in 100 ms; `0x10`, give the datagram the magic cookie and the transaction id of
/// the client's last request (so that it is claimed and parsed as a response); `0x20`, ask for
/// a permission; `0x40`, send the datagram to a peer through the relay; `0x80`, close. Peer
/// data must never come out before an allocation.
#[cfg(feature = "_fuzz")]
pub(crate) fn fuzz(data: &[u8]) {
    let t0 = Instant::now();
    let local = SocketAddr::from(([10, 0, 0, 1], 5000));
    let server = SocketAddr::from(([10, 0, 0, 9], 3478));
    let peer = SocketAddr::from(([10, 0, 0, 2], 6000));
    let mut relay = Relay::new(t0, local, server, "1700000000:alice", "c2VjcmV0");
    let mut now = t0;
    let mut last_tid = None;
    let mut rest = data;
    for _ in 0..64 {
        let (Some(&flags), Some(len)) = (rest.first(), rest.get(1..3)) else {
            break;
        };
        let len = usize::from(u16::from_be_bytes([
            len.first().copied().unwrap_or(0),
            len.get(1).copied().unwrap_or(0),
        ]));
        let body = rest.get(3..).unwrap_or(&[]);
        let (datagram, tail) = body.split_at(len.min(body.len()));
        rest = tail;
        let mut datagram = datagram.to_vec();
        now += Duration::from_millis(u64::from(flags & 0x0F) * 100);
        relay.poll_timeout(now);
        while relay.poll_event().is_some() {}
        while let Some((_, _, d)) = relay.poll_transmit(now) {
            if let Some(tid) = stun_request_tid(&d) {
                last_tid = Some(tid);
            }
        }
        if flags & 0x10 != 0 {
            if let (Some(tid), Some(head)) = (last_tid, datagram.get_mut(4..20)) {
                let (cookie, id) = head.split_at_mut(4);
                cookie.copy_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
                id.copy_from_slice(&tid);
            }
        }
        let allocated = relay.relayed().is_some();
        if let RelayReceived::Peer { .. } = relay.handle_receive(now, server, local, &datagram) {
            assert!(allocated, "peer data before an allocation");
        }
        while relay.poll_recv(now).is_some() {
            assert!(allocated, "peer data before an allocation");
        }
        if flags & 0x20 != 0 {
            relay.add_permission(now, peer.ip());
        }
        if flags & 0x40 != 0 {
            let _ = relay.send(now, peer, &datagram);
        }
        if flags & 0x80 != 0 {
            relay.close(now);
        }
    }
}

#[cfg(test)]
#[path = "turn_tests.rs"]
mod tests;
