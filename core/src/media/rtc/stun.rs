//! A minimal RFC 5389 STUN Binding client, used only to learn server-reflexive addresses.
//!
//! Owns the Binding transactions of one call (one per local socket and STUN server), their
//! retransmissions and the 1 s gathering deadline. Does not touch sockets: requests come out of
//! [`Gatherer::poll_transmit`] and responses go in through [`Gatherer::handle_receive`]. ICE
//! connectivity checks are str0m's business, not this module's.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The fixed magic cookie of RFC 5389 section 6.
const MAGIC_COOKIE: u32 = 0x2112_A442;
/// STUN header: type, length, cookie, transaction id.
const HEADER_LEN: usize = 20;
/// Largest response we parse. Binding responses are well under 100 bytes; anything bigger than
/// a typical MTU is refused before looking at its attributes.
pub(crate) const MAX_MESSAGE_LEN: usize = 1500;
/// Most attributes we walk through in one message.
const MAX_ATTRIBUTES: usize = 32;

const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const BINDING_ERROR: u16 = 0x0111;

const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_ERROR_CODE: u16 = 0x0009;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;

const FAMILY_V4: u8 = 0x01;
const FAMILY_V6: u8 = 0x02;

/// First retransmission interval; it doubles after every send (RFC 5389 section 7.2.1, scaled
/// down so that three sends fit in the gathering deadline).
const INITIAL_RTO: Duration = Duration::from_millis(250);
/// Longest we wait for STUN answers before reporting the end of local candidates.
pub(crate) const GATHER_TIMEOUT: Duration = Duration::from_secs(1);

/// A 96-bit STUN transaction id.
pub(crate) type TransactionId = [u8; 12];

/// Why a datagram is not a usable Binding response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StunError {
    /// Shorter than its header or than its declared length.
    Truncated,
    /// Longer than [`MAX_MESSAGE_LEN`] or than its declared length.
    TooLong,
    /// Not a STUN message (first bits, cookie or length alignment are wrong).
    NotStun,
    /// A STUN message, but not a Binding response.
    NotBindingResponse,
    /// An attribute is malformed.
    BadAttribute,
    /// More than [`MAX_ATTRIBUTES`] attributes.
    TooManyAttributes,
    /// A success response without a (XOR-)MAPPED-ADDRESS.
    NoMappedAddress,
}

/// The useful content of a Binding response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BindingResponse {
    /// Success: our address as the server saw it.
    Success(SocketAddr),
    /// Error response with its code (e.g. 400, 420, 500); 0 when the code is absent.
    Error(u16),
}

/// A cursor over untrusted bytes; every read is checked.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.buf.split_at_checked(n)?;
        self.buf = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u16(&mut self) -> Option<u16> {
        let b: [u8; 2] = self.take(2)?.try_into().ok()?;
        Some(u16::from_be_bytes(b))
    }

    fn u32(&mut self) -> Option<u32> {
        let b: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Encodes a Binding request without attributes (RFC 5389 section 7.1; a STUN server needs
/// nothing more).
pub(crate) fn binding_request(tid: &TransactionId) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(tid);
    out
}

/// The transaction id of `buf` if it looks like an RFC 5389 STUN message at all. Cheap; used to
/// decide whether a datagram might be ours before parsing it.
pub(crate) fn transaction_id(buf: &[u8]) -> Option<TransactionId> {
    let mut r = Reader::new(buf);
    let typ = r.u16()?;
    let _len = r.u16()?;
    let cookie = r.u32()?;
    if typ & 0xC000 != 0 || cookie != MAGIC_COOKIE {
        return None;
    }
    r.take(12)?.try_into().ok()
}

/// Parses a Binding response. Never panics; rejects every truncation and any trailing bytes.
pub(crate) fn parse_binding_response(
    buf: &[u8],
) -> Result<(TransactionId, BindingResponse), StunError> {
    if buf.len() > MAX_MESSAGE_LEN {
        return Err(StunError::TooLong);
    }
    let mut r = Reader::new(buf);
    let typ = r.u16().ok_or(StunError::Truncated)?;
    let len = usize::from(r.u16().ok_or(StunError::Truncated)?);
    let cookie = r.u32().ok_or(StunError::Truncated)?;
    let tid: TransactionId = r
        .take(12)
        .and_then(|t| t.try_into().ok())
        .ok_or(StunError::Truncated)?;
    if typ & 0xC000 != 0 || cookie != MAGIC_COOKIE || len % 4 != 0 {
        return Err(StunError::NotStun);
    }
    if typ != BINDING_SUCCESS && typ != BINDING_ERROR {
        return Err(StunError::NotBindingResponse);
    }
    let body = r.take(len).ok_or(StunError::Truncated)?;
    if !r.is_empty() {
        return Err(StunError::TooLong);
    }

    let mut attrs = Reader::new(body);
    let mut xor_mapped = None;
    let mut mapped = None;
    let mut error_code = None;
    let mut count = 0;
    while !attrs.is_empty() {
        count += 1;
        if count > MAX_ATTRIBUTES {
            return Err(StunError::TooManyAttributes);
        }
        let atype = attrs.u16().ok_or(StunError::BadAttribute)?;
        let alen = usize::from(attrs.u16().ok_or(StunError::BadAttribute)?);
        let value = attrs.take(alen).ok_or(StunError::BadAttribute)?;
        // Values are padded to a multiple of four bytes.
        let pad = (4 - alen % 4) % 4;
        attrs.take(pad).ok_or(StunError::BadAttribute)?;
        match atype {
            ATTR_XOR_MAPPED_ADDRESS if xor_mapped.is_none() => {
                xor_mapped = Some(parse_address(value, Some(&tid))?);
            }
            ATTR_MAPPED_ADDRESS if mapped.is_none() => {
                mapped = Some(parse_address(value, None)?);
            }
            ATTR_ERROR_CODE if error_code.is_none() => {
                error_code = Some(parse_error_code(value)?);
            }
            // Unknown, duplicate and integrity attributes are skipped: the response is matched
            // by its random transaction id, and a STUN server's answer is not authenticated.
            _ => {}
        }
    }

    if typ == BINDING_ERROR {
        return Ok((tid, BindingResponse::Error(error_code.unwrap_or(0))));
    }
    xor_mapped
        .or(mapped)
        .map(|addr| (tid, BindingResponse::Success(addr)))
        .ok_or(StunError::NoMappedAddress)
}

/// (XOR-)MAPPED-ADDRESS value: reserved, family, port, address. With `xor_tid` the port and
/// address are XORed with the cookie (and the transaction id for IPv6), RFC 5389 section 15.2.
fn parse_address(value: &[u8], xor_tid: Option<&TransactionId>) -> Result<SocketAddr, StunError> {
    let mut r = Reader::new(value);
    let _reserved = r.u8().ok_or(StunError::BadAttribute)?;
    let family = r.u8().ok_or(StunError::BadAttribute)?;
    let mut port = r.u16().ok_or(StunError::BadAttribute)?;
    let cookie = MAGIC_COOKIE.to_be_bytes();
    if xor_tid.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match family {
        FAMILY_V4 => {
            let mut b: [u8; 4] = r
                .take(4)
                .and_then(|b| b.try_into().ok())
                .ok_or(StunError::BadAttribute)?;
            if xor_tid.is_some() {
                for (x, c) in b.iter_mut().zip(cookie) {
                    *x ^= c;
                }
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        FAMILY_V6 => {
            let mut b: [u8; 16] = r
                .take(16)
                .and_then(|b| b.try_into().ok())
                .ok_or(StunError::BadAttribute)?;
            if let Some(tid) = xor_tid {
                let key = cookie.iter().chain(tid.iter());
                for (x, k) in b.iter_mut().zip(key) {
                    *x ^= k;
                }
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return Err(StunError::BadAttribute),
    };
    if !r.is_empty() {
        return Err(StunError::BadAttribute);
    }
    Ok(SocketAddr::new(ip, port))
}

/// ERROR-CODE value: 21 reserved bits, 3-bit class, 8-bit number, then a reason phrase.
fn parse_error_code(value: &[u8]) -> Result<u16, StunError> {
    let mut r = Reader::new(value);
    let head = r.u32().ok_or(StunError::BadAttribute)?;
    let class = ((head >> 8) & 0x7) as u16;
    let number = (head & 0xFF) as u16;
    Ok(class * 100 + number)
}

/// What [`Gatherer::handle_receive`] made of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// Not a response to one of our transactions: hand it to str0m.
    NotOurs,
    /// Ours, but unusable (error response, garbage, wrong sender, late duplicate). Swallowed.
    Ignored,
    /// A server-reflexive address for the local socket `base`.
    Mapped {
        /// The local socket the request was sent from.
        base: SocketAddr,
        /// The address the STUN server saw.
        mapped: SocketAddr,
    },
}

#[derive(Debug)]
struct Transaction {
    tid: TransactionId,
    local: SocketAddr,
    server: SocketAddr,
    /// When to send next; `None` once answered or out of attempts.
    next_send: Option<Instant>,
    rto: Duration,
    done: bool,
}

/// Binding transactions for one call: one per (local socket, STUN server) of the same family.
#[derive(Debug)]
pub(crate) struct Gatherer {
    transactions: Vec<Transaction>,
    deadline: Instant,
}

impl Gatherer {
    /// Starts one transaction per pair; ids come from `rng` (seeded by the caller, so runs are
    /// reproducible). Pairs of different address families are skipped.
    pub(crate) fn new(
        now: Instant,
        pairs: impl IntoIterator<Item = (SocketAddr, SocketAddr)>,
        rng: &mut fastrand::Rng,
    ) -> Self {
        let transactions = pairs
            .into_iter()
            .filter(|(local, server)| local.is_ipv4() == server.is_ipv4())
            .map(|(local, server)| {
                let mut tid = [0u8; 12];
                rng.fill(&mut tid);
                Transaction {
                    tid,
                    local,
                    server,
                    next_send: Some(now),
                    rto: INITIAL_RTO,
                    done: false,
                }
            })
            .collect();
        Gatherer {
            transactions,
            deadline: now + GATHER_TIMEOUT,
        }
    }

    /// The next request (first send or retransmission) due at `now`, as
    /// `(local socket, server, datagram)`.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
    ) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        if now >= self.deadline {
            return None;
        }
        let deadline = self.deadline;
        let t = self
            .transactions
            .iter_mut()
            .find(|t| !t.done && t.next_send.is_some_and(|at| at <= now))?;
        let next = now + t.rto;
        t.next_send = (next < deadline).then_some(next);
        t.rto = t.rto.saturating_mul(2);
        Some((t.local, t.server, binding_request(&t.tid)))
    }

    /// True if `data` carries the transaction id of one of our requests.
    pub(crate) fn owns(&self, data: &[u8]) -> bool {
        transaction_id(data).is_some_and(|tid| self.transactions.iter().any(|t| t.tid == tid))
    }

    /// Routes a received datagram: responses to our transactions are consumed here.
    pub(crate) fn handle_receive(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> Received {
        let Some(tid) = transaction_id(data) else {
            return Received::NotOurs;
        };
        let Some(t) = self.transactions.iter_mut().find(|t| t.tid == tid) else {
            return Received::NotOurs;
        };
        if t.done || source != t.server || destination.port() != t.local.port() {
            return Received::Ignored;
        }
        match parse_binding_response(data) {
            Ok((_, BindingResponse::Success(mapped))) => {
                t.done = true;
                t.next_send = None;
                Received::Mapped {
                    base: t.local,
                    mapped,
                }
            }
            Ok((_, BindingResponse::Error(code))) => {
                tracing::debug!(code, "STUN binding error response");
                t.done = true;
                t.next_send = None;
                Received::Ignored
            }
            Err(e) => {
                tracing::debug!(error = ?e, "malformed STUN response ignored");
                Received::Ignored
            }
        }
    }

    /// True once every transaction is answered or the deadline has passed.
    pub(crate) fn is_finished(&self, now: Instant) -> bool {
        now >= self.deadline || self.transactions.iter().all(|t| t.done)
    }

    /// When this gatherer next needs a timeout input.
    pub(crate) fn poll_timeout(&self) -> Instant {
        self.transactions
            .iter()
            .filter(|t| !t.done)
            .filter_map(|t| t.next_send)
            .min()
            .map_or(self.deadline, |at| at.min(self.deadline))
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    const TID: TransactionId = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

    /// A hand-built success response carrying XOR-MAPPED-ADDRESS for 192.0.2.1:32853, preceded
    /// by an unknown comprehension-optional attribute (SOFTWARE, 3 bytes + padding).
    fn success_v4() -> Vec<u8> {
        let mut attrs = Vec::new();
        // SOFTWARE "abc" padded to 4.
        attrs.extend_from_slice(&[0x80, 0x22, 0x00, 0x03, b'a', b'b', b'c', 0x00]);
        // XOR-MAPPED-ADDRESS: port 32853 ^ 0x2112, ip 192.0.2.1 ^ cookie.
        let port = 32853u16 ^ 0x2112;
        let ip = u32::from(Ipv4Addr::new(192, 0, 2, 1)) ^ MAGIC_COOKIE;
        attrs.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, FAMILY_V4]);
        attrs.extend_from_slice(&port.to_be_bytes());
        attrs.extend_from_slice(&ip.to_be_bytes());
        message(BINDING_SUCCESS, &TID, &attrs)
    }

    fn message(typ: u16, tid: &TransactionId, attrs: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&typ.to_be_bytes());
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(tid);
        m.extend_from_slice(attrs);
        m
    }

    #[test]
    fn request_is_a_bare_binding_request() {
        let req = binding_request(&TID);
        assert_eq!(req.len(), 20);
        assert_eq!(&req[..4], &[0x00, 0x01, 0x00, 0x00]);
        assert_eq!(&req[4..8], &[0x21, 0x12, 0xA4, 0x42]);
        assert_eq!(&req[8..], &TID);
        assert_eq!(transaction_id(&req), Some(TID));
    }

    #[test]
    fn parses_xor_mapped_address_v4() {
        let (tid, resp) = parse_binding_response(&success_v4()).unwrap();
        assert_eq!(tid, TID);
        assert_eq!(
            resp,
            BindingResponse::Success("192.0.2.1:32853".parse().unwrap())
        );
    }

    #[test]
    fn parses_xor_mapped_address_v6() {
        let addr: SocketAddr = "[2001:db8::1234:5678]:40000".parse().unwrap();
        let IpAddr::V6(ip) = addr.ip() else {
            unreachable!()
        };
        let mut key = MAGIC_COOKIE.to_be_bytes().to_vec();
        key.extend_from_slice(&TID);
        let x: Vec<u8> = ip.octets().iter().zip(&key).map(|(a, k)| a ^ k).collect();
        let mut attrs = vec![0x00, 0x20, 0x00, 20, 0x00, FAMILY_V6];
        attrs.extend_from_slice(&(40000u16 ^ 0x2112).to_be_bytes());
        attrs.extend_from_slice(&x);
        let (_, resp) = parse_binding_response(&message(BINDING_SUCCESS, &TID, &attrs)).unwrap();
        assert_eq!(resp, BindingResponse::Success(addr));
    }

    #[test]
    fn falls_back_to_plain_mapped_address() {
        let mut attrs = vec![0x00, 0x01, 0x00, 0x08, 0x00, FAMILY_V4];
        attrs.extend_from_slice(&3478u16.to_be_bytes());
        attrs.extend_from_slice(&[198, 51, 100, 7]);
        let (_, resp) = parse_binding_response(&message(BINDING_SUCCESS, &TID, &attrs)).unwrap();
        assert_eq!(
            resp,
            BindingResponse::Success("198.51.100.7:3478".parse().unwrap())
        );
    }

    #[test]
    fn error_response_reports_its_code() {
        let attrs = [0x00, 0x09, 0x00, 0x08, 0, 0, 4, 20, b'b', b'a', b'd', b'!'];
        let (_, resp) = parse_binding_response(&message(BINDING_ERROR, &TID, &attrs)).unwrap();
        assert_eq!(resp, BindingResponse::Error(420));
    }

    #[test]
    fn every_truncation_is_rejected() {
        let full = success_v4();
        for n in 0..full.len() {
            assert!(
                parse_binding_response(&full[..n]).is_err(),
                "prefix of {n} bytes accepted"
            );
        }
        let mut long = full.clone();
        long.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(parse_binding_response(&long), Err(StunError::TooLong));
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(parse_binding_response(&[]), Err(StunError::Truncated));
        assert_eq!(parse_binding_response(&[0xff; 40]), Err(StunError::NotStun));
        // A request is not a response.
        assert_eq!(
            parse_binding_response(&binding_request(&TID)),
            Err(StunError::NotBindingResponse)
        );
        // Success without any address.
        assert_eq!(
            parse_binding_response(&message(BINDING_SUCCESS, &TID, &[])),
            Err(StunError::NoMappedAddress)
        );
        // Attribute length running past the body.
        let bad = message(BINDING_SUCCESS, &TID, &[0x00, 0x20, 0x00, 0x40, 0, 1, 0, 0]);
        assert_eq!(parse_binding_response(&bad), Err(StunError::BadAttribute));
        // Unknown address family.
        let bad = message(
            BINDING_SUCCESS,
            &TID,
            &[0x00, 0x20, 0x00, 0x08, 0, 9, 0, 0, 1, 2, 3, 4],
        );
        assert_eq!(parse_binding_response(&bad), Err(StunError::BadAttribute));
        // Too many attributes.
        let many: Vec<u8> = std::iter::repeat_n([0x80, 0x22, 0, 0], 40)
            .flatten()
            .collect();
        assert_eq!(
            parse_binding_response(&message(BINDING_SUCCESS, &TID, &many)),
            Err(StunError::TooManyAttributes)
        );
        assert_eq!(
            parse_binding_response(&vec![0u8; MAX_MESSAGE_LEN + 1]),
            Err(StunError::TooLong)
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = fastrand::Rng::with_seed(7);
        let base = success_v4();
        for _ in 0..20_000 {
            let mut m = base.clone();
            let flips = rng.usize(1..4);
            for _ in 0..flips {
                let i = rng.usize(..m.len());
                m[i] = rng.u8(..);
            }
            m.truncate(rng.usize(..=m.len()));
            let _ = parse_binding_response(&m);
            let _ = transaction_id(&m);
        }
    }

    #[test]
    fn gatherer_retransmits_then_gives_up() {
        let t0 = Instant::now();
        let local: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let server: SocketAddr = "192.0.2.9:3478".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::9]:3478".parse().unwrap();
        let mut rng = fastrand::Rng::with_seed(1);
        let mut g = Gatherer::new(t0, [(local, server), (local, v6)], &mut rng);
        let (l, s, req) = g.poll_transmit(t0).unwrap();
        assert_eq!((l, s), (local, server));
        assert!(g.poll_transmit(t0).is_none(), "family mismatch is skipped");
        assert_eq!(g.poll_timeout(), t0 + INITIAL_RTO);
        assert!(g.poll_transmit(t0 + INITIAL_RTO).is_some());
        let again = t0 + INITIAL_RTO * 3;
        assert_eq!(g.poll_timeout(), again);
        let (_, _, req3) = g.poll_transmit(again).unwrap();
        assert_eq!(req, req3, "retransmissions reuse the transaction id");
        assert_eq!(g.poll_timeout(), t0 + GATHER_TIMEOUT);
        assert!(!g.is_finished(again));
        assert!(g.is_finished(t0 + GATHER_TIMEOUT));
        assert!(g.poll_transmit(t0 + GATHER_TIMEOUT).is_none());
    }

    #[test]
    fn gatherer_matches_responses_by_transaction_and_sender() {
        let t0 = Instant::now();
        let local: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let server: SocketAddr = "192.0.2.9:3478".parse().unwrap();
        let mut rng = fastrand::Rng::with_seed(2);
        let mut g = Gatherer::new(t0, [(local, server)], &mut rng);
        let (_, _, req) = g.poll_transmit(t0).unwrap();
        let tid = transaction_id(&req).unwrap();
        let mut resp = success_v4();
        resp[8..20].copy_from_slice(&tid);
        // XOR-MAPPED for IPv4 does not depend on the id, so the address is unchanged.
        let other: SocketAddr = "192.0.2.66:3478".parse().unwrap();
        assert_eq!(g.handle_receive(other, local, &resp), Received::Ignored);
        assert_eq!(
            g.handle_receive(server, local, &success_v4()),
            Received::NotOurs
        );
        assert_eq!(
            g.handle_receive(server, local, &[0x80, 0, 0]),
            Received::NotOurs
        );
        assert_eq!(
            g.handle_receive(server, local, &resp),
            Received::Mapped {
                base: local,
                mapped: "192.0.2.1:32853".parse().unwrap()
            }
        );
        assert!(g.is_finished(t0));
        assert_eq!(g.handle_receive(server, local, &resp), Received::Ignored);
    }
}
