//! A TURN server (RFC 5766 / RFC 8656 over UDP) for the fake cloud's extdisco answer, on the
//! sans-IO `turn-server-proto` crate: long-term credential authentication (401 with realm and
//! nonce), allocations with their lifetime and Refresh, permissions, channels, Send/Data
//! indications and ChannelData.
//!
//! [`TurnServer`] is sans-IO: datagrams go in through [`TurnServer::handle_datagram`] and out
//! through [`TurnServer::poll_datagram`], time through [`TurnServer::handle_timeout`]. Relayed
//! addresses come from an allocator: sequential ports on one IP in virtual time
//! ([`crate::network::SimNetwork`]), real loopback sockets in [`TurnServerThread`].
//!
//! [`TurnStats`] counts what happened (allocations, refreshes, deletions, authentication
//! failures, relayed datagrams) so that tests can assert on it.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use turn_server_proto::api::{SocketAllocateError, TurnServerApi, TurnServerPollRet};
use turn_server_proto::server::TurnServer as ProtoServer;
use turn_server_proto::stun::agent::Transmit;
use turn_server_proto::types::attribute::Lifetime;
use turn_server_proto::types::stun::attribute::ErrorCode;
use turn_server_proto::types::stun::message::{Message, MessageClass};
use turn_server_proto::types::TransportType;

/// The realm the server announces.
pub const REALM: &str = "fake.genesys.test";

/// What the server has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnStats {
    /// Allocations made (success responses to Allocate).
    pub allocations: u64,
    /// Allocate requests answered 401 (the first, unauthenticated one of every client counts).
    pub unauthorized: u64,
    /// Refresh requests with a non-zero lifetime answered with success.
    pub refreshes: u64,
    /// Refresh requests with lifetime 0 (deallocations).
    pub deletions: u64,
    /// CreatePermission requests.
    pub permission_requests: u64,
    /// ChannelBind requests.
    pub channel_binds: u64,
    /// Datagrams relayed from clients to peers.
    pub to_peers: u64,
    /// Datagrams relayed from peers to clients.
    pub to_clients: u64,
}

/// Gives a relayed address for a new allocation (`None`: out of capacity).
pub type Allocator = Box<dyn FnMut() -> Option<SocketAddr> + Send>;

/// A sans-IO TURN server on one UDP listening address.
pub struct TurnServer {
    server: ProtoServer,
    listen: SocketAddr,
    epoch: Instant,
    allocator: Allocator,
    relayed: Vec<SocketAddr>,
    out: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    stats: TurnStats,
}

impl std::fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServer")
            .field("listen", &self.listen)
            .field("relayed", &self.relayed)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl TurnServer {
    /// A server on `listen` accepting `username`/`password`, its relayed addresses on
    /// `relay_ip` from port `first_port` up (no sockets: virtual time). `epoch` is the
    /// earliest instant it will be given.
    pub fn new(
        epoch: Instant,
        listen: SocketAddr,
        username: &str,
        password: &str,
        relay_ip: IpAddr,
        first_port: u16,
    ) -> TurnServer {
        let mut next = first_port;
        let allocator: Allocator = Box::new(move || {
            let port = next;
            next = next.checked_add(1)?;
            Some(SocketAddr::new(relay_ip, port))
        });
        TurnServer::with_allocator(epoch, listen, username, password, allocator)
    }

    /// As [`TurnServer::new`], relayed addresses from `allocator`.
    pub fn with_allocator(
        epoch: Instant,
        listen: SocketAddr,
        username: &str,
        password: &str,
        allocator: Allocator,
    ) -> TurnServer {
        let mut server = ProtoServer::new(TransportType::Udp, listen, REALM.to_string());
        server.add_user(username.to_string(), password.to_string());
        TurnServer {
            server,
            listen,
            epoch,
            allocator,
            relayed: Vec::new(),
            out: VecDeque::new(),
            stats: TurnStats::default(),
        }
    }

    /// The listening address (what extdisco announces).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Whether `addr` is one of the relayed addresses handed out.
    pub fn is_relayed(&self, addr: SocketAddr) -> bool {
        self.relayed.contains(&addr)
    }

    /// Counters so far.
    pub fn stats(&self) -> TurnStats {
        self.stats
    }

    fn time(&self, now: Instant) -> turn_server_proto::types::Instant {
        let nanos = now.saturating_duration_since(self.epoch).as_nanos();
        turn_server_proto::types::Instant::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// A datagram arrived: on the listening address from a client, or on a relayed address
    /// from a peer. Anything else is dropped.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        let from_client = destination == self.listen;
        if !from_client && !self.is_relayed(destination) {
            return;
        }
        if from_client {
            self.count_request(data);
        }
        let t = self.time(now);
        let out = self
            .server
            .recv(
                Transmit::new(data, TransportType::Udp, source, destination),
                t,
            )
            .map(|b| b.build());
        if let Some(o) = out {
            self.push_out(o.from, o.to, o.data);
        }
        self.handle_timeout(now);
    }

    fn push_out(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        if from == self.listen {
            self.count_response(&data);
        } else {
            self.stats.to_peers += 1;
        }
        self.out.push_back((from, to, data));
    }

    fn count_request(&mut self, data: &[u8]) {
        let Ok(msg) = Message::from_bytes(data) else {
            return;
        };
        if !msg.has_class(MessageClass::Request) {
            return;
        }
        match msg.method().value() {
            // Refresh: counted by lifetime.
            0x004 => match msg.attribute::<Lifetime>() {
                Ok(l) if l.seconds() == 0 => self.stats.deletions += 1,
                _ => {}
            },
            0x008 => self.stats.permission_requests += 1,
            0x009 => self.stats.channel_binds += 1,
            _ => {}
        }
    }

    fn count_response(&mut self, data: &[u8]) {
        let Ok(msg) = Message::from_bytes(data) else {
            // ChannelData to a client.
            self.stats.to_clients += 1;
            return;
        };
        let method = msg.method().value();
        if msg.has_class(MessageClass::Indication) {
            // Data indication.
            self.stats.to_clients += 1;
        } else if msg.has_class(MessageClass::Success) {
            match method {
                0x003 => self.stats.allocations += 1,
                0x004 if msg.attribute::<Lifetime>().is_ok_and(|l| l.seconds() > 0) => {
                    self.stats.refreshes += 1;
                }
                _ => {}
            }
        } else if msg.has_class(MessageClass::Error)
            && method == 0x003
            && msg.attribute::<ErrorCode>().is_ok_and(|e| e.code() == 401)
        {
            self.stats.unauthorized += 1;
        }
    }

    /// The next datagram to send, as `(source, destination, data)`: from the listening address
    /// to a client, or from a relayed address to a peer.
    pub fn poll_datagram(&mut self) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        self.out.pop_front()
    }

    /// Advances the server's timers (allocation, permission and channel expiry) and serves its
    /// socket requests.
    pub fn handle_timeout(&mut self, now: Instant) {
        let t = self.time(now);
        for _ in 0..64 {
            match self.server.poll(t) {
                TurnServerPollRet::AllocateSocket {
                    transport,
                    listen_addr,
                    client_addr,
                    allocation_transport,
                    family,
                } => {
                    let addr = (self.allocator)().ok_or(SocketAllocateError::InsufficientCapacity);
                    if let Ok(a) = addr {
                        self.relayed.push(a);
                    }
                    self.server.allocated_socket(
                        transport,
                        listen_addr,
                        client_addr,
                        allocation_transport,
                        family,
                        addr,
                        t,
                    );
                }
                TurnServerPollRet::SocketClose { listen_addr, .. } => {
                    self.relayed.retain(|a| *a != listen_addr);
                }
                _ => break,
            }
        }
        while let Some(o) = self.server.poll_transmit(t) {
            self.push_out(o.from, o.to, o.data);
        }
    }

    /// When [`TurnServer::handle_timeout`] is next due.
    pub fn poll_timeout(&mut self, now: Instant) -> Instant {
        if !self.out.is_empty() {
            return now;
        }
        match self.server.poll(self.time(now)) {
            TurnServerPollRet::WaitUntil(t) => {
                let nanos = u64::try_from(t.as_nanos()).unwrap_or(0);
                (self.epoch + Duration::from_nanos(nanos)).max(now)
            }
            _ => now,
        }
    }
}

/// [`TurnServer`] on real UDP sockets in a thread of its own: the listening socket and one
/// socket per allocation, all on one loopback IP. Stops when dropped.
pub struct TurnServerThread {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<TurnStats>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TurnServerThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServerThread")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TurnServerThread {
    /// Binds the listening socket on `ip` (an ephemeral port) and starts serving.
    pub fn start(ip: IpAddr, username: &str, password: &str) -> std::io::Result<TurnServerThread> {
        let listen = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        listen.set_nonblocking(true)?;
        let addr = listen.local_addr()?;
        let new_sockets: Arc<Mutex<Vec<UdpSocket>>> = Arc::default();
        let allocated = Arc::clone(&new_sockets);
        let allocator: Allocator = Box::new(move || {
            let s = UdpSocket::bind(SocketAddr::new(ip, 0)).ok()?;
            s.set_nonblocking(true).ok()?;
            let a = s.local_addr().ok()?;
            allocated.lock().ok()?.push(s);
            Some(a)
        });
        let mut server =
            TurnServer::with_allocator(Instant::now(), addr, username, password, allocator);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(TurnStats::default()));
        let (stop2, stats2) = (Arc::clone(&stop), Arc::clone(&stats));
        let thread = std::thread::Builder::new()
            .name("turn-server".into())
            .spawn(move || {
                let mut sockets: Vec<(SocketAddr, UdpSocket)> = vec![(addr, listen)];
                let mut buf = vec![0u8; 2048];
                while !stop2.load(Ordering::Relaxed) {
                    let mut busy = false;
                    for (local, s) in &sockets {
                        while let Ok((n, from)) = s.recv_from(&mut buf) {
                            busy = true;
                            if let Some(data) = buf.get(..n) {
                                server.handle_datagram(Instant::now(), from, *local, data);
                            }
                        }
                    }
                    server.handle_timeout(Instant::now());
                    if let Ok(mut fresh) = new_sockets.lock() {
                        for s in fresh.drain(..) {
                            if let Ok(a) = s.local_addr() {
                                sockets.push((a, s));
                            }
                        }
                    }
                    sockets.retain(|(a, _)| *a == addr || server.is_relayed(*a));
                    while let Some((from, to, data)) = server.poll_datagram() {
                        busy = true;
                        if let Some((_, s)) = sockets.iter().find(|(a, _)| *a == from) {
                            let _ = s.send_to(&data, to);
                        }
                    }
                    if let Ok(mut st) = stats2.lock() {
                        *st = server.stats();
                    }
                    if !busy {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })?;
        Ok(TurnServerThread {
            addr,
            stop,
            stats,
            thread: Some(thread),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters so far.
    pub fn stats(&self) -> TurnStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }
}

impl Drop for TurnServerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real-socket server answers an unauthenticated Allocate with 401 and a nonce.
    #[test]
    fn thread_answers_an_allocate_with_401() {
        let server = TurnServerThread::start("127.0.0.1".parse().unwrap(), "u", "p").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // Allocate, REQUESTED-TRANSPORT UDP.
        let mut req = vec![0x00, 0x03, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42];
        req.extend_from_slice(&[7; 12]);
        req.extend_from_slice(&[0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0]);
        client.send_to(&req, server.addr()).unwrap();
        let mut buf = [0u8; 1500];
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(from, server.addr());
        let msg = Message::from_bytes(&buf[..n]).unwrap();
        assert!(msg.has_class(MessageClass::Error));
        assert_eq!(msg.attribute::<ErrorCode>().unwrap().code(), 401);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(server.stats().unauthorized, 1);
    }
}
