//! A virtual-time [`Platform`] for the async SDK facade: the whole [`genesys_webrtc::Sdk`] +
//! [`genesys_webrtc::SdkDriver`] runs against a [`FakeCloud`] over an in-memory network, from a
//! seed, with no sockets, threads or sleeps.
//!
//! * [`VirtualClock`]: a [`Clock`] whose time only moves when the runtime advances it.
//! * [`SimCloud`]: shared handle owning the fake cloud, the in-memory network (seeded latency and
//!   jitter, per-direction ordering, reachability, cuts) and the cloud's own timers.
//! * [`SimConnector`] / [`SimStream`]: the [`Connector`] and its byte stream.
//! * [`SimPlatform`]: the three together as a [`Platform`].
//! * [`SimRuntime`]: a tiny deterministic single-threaded executor that runs every ready task,
//!   delivers due network bytes and fires the cloud's timers, then jumps the clock to the next
//!   thing that will happen.
//!
//! ```
//! use std::time::Duration;
//! use genesys_webrtc::{InitializeOptions, Sdk, SdkOptions};
//! use genesys_webrtc_sim::cloud::CloudConfig;
//! use genesys_webrtc_sim::platform::{SimCloud, SimRuntime};
//!
//! let config = CloudConfig::for_environment("fake.genesys.test");
//! let token = config.access_token.clone();
//! let sim = SimCloud::new(config, 7);
//! let opts = SdkOptions::builder().environment("fake.genesys.test").access_token(token);
//! let (sdk, driver) = Sdk::new(sim.platform(), opts.build().unwrap());
//! let mut rt = SimRuntime::new(&sim);
//! rt.spawn(driver.run());
//! let events = rt.record(sdk.events());
//! let done = rt.block_on_virtual(sdk.initialize(InitializeOptions::default()), Duration::from_secs(60));
//! assert_eq!(done, Some(Ok(())));
//! # let _ = events;
//! ```
//!
//! Determinism: the only randomness is a `fastrand::Rng` seeded from the seed; tasks run in wake
//! order (FIFO), timers in `(deadline, registration)` order and deliveries in
//! `(time, sequence)` order, all kept in `BTreeMap`s. The same seed gives the same run.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures::future::{FutureExt as _, LocalBoxFuture, RemoteHandle};
use futures::task::ArcWake;
use futures::{Stream, StreamExt as _};
use genesys_webrtc::Platform;
use genesys_webrtc_hal::{Clock, Connector, Endpoint, ErrorKind, ErrorType, Security};

use crate::cloud::{CloudConfig, CloudLog, CloudOutput, ConnId, FakeCloud, LogEntry};

// ------------------------------------------------------------------------------------ clock

struct ClockState {
    start: Instant,
    now: Instant,
    /// Registered sleepers by `(deadline, registration id)`.
    sleepers: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
}

/// A virtual monotonic clock. Cheap to clone; every clone shares the same time.
///
/// `now()` is an `Instant` captured once at creation plus a virtual offset. Time moves only
/// through [`VirtualClock::advance_to`] (usually called by [`SimRuntime`]), which wakes the
/// sleepers that became due.
#[derive(Clone)]
pub struct VirtualClock {
    state: Rc<RefCell<ClockState>>,
}

impl std::fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("VirtualClock")
            .field("elapsed", &(st.now - st.start))
            .field("sleepers", &st.sleepers.len())
            .finish()
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualClock {
    /// A clock at virtual offset zero.
    pub fn new() -> Self {
        let start = Instant::now();
        VirtualClock {
            state: Rc::new(RefCell::new(ClockState {
                start,
                now: start,
                sleepers: BTreeMap::new(),
                next_id: 0,
            })),
        }
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.state.borrow().now
    }

    /// The instant the clock started at (virtual offset zero).
    pub fn start(&self) -> Instant {
        self.state.borrow().start
    }

    /// Virtual time elapsed since the clock was created.
    pub fn elapsed(&self) -> Duration {
        let st = self.state.borrow();
        st.now - st.start
    }

    /// A future that completes once virtual time reaches `deadline` (at once if it has).
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            clock: self.clone(),
            deadline,
            key: None,
        }
    }

    /// Moves time forward to `t` (never backwards) and wakes every sleeper due by then, in
    /// deadline order.
    pub fn advance_to(&self, t: Instant) {
        let due = {
            let mut st = self.state.borrow_mut();
            if t > st.now {
                st.now = t;
            }
            let now = st.now;
            let mut due = Vec::new();
            while let Some(entry) = st.sleepers.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            due
        };
        for w in due {
            w.wake();
        }
    }

    /// Moves time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let t = self.now() + d;
        self.advance_to(t);
    }

    /// The earliest deadline of a pending sleeper.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.state
            .borrow()
            .sleepers
            .first_key_value()
            .map(|(k, _)| k.0)
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        VirtualClock::now(self)
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> {
        VirtualClock::sleep_until(self, deadline)
    }
}

/// The future of [`VirtualClock::sleep_until`]. Dropping it unregisters it.
#[derive(Debug)]
pub struct Sleep {
    clock: VirtualClock,
    deadline: Instant,
    key: Option<(Instant, u64)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut st = this.clock.state.borrow_mut();
        if st.now >= this.deadline {
            if let Some(k) = this.key.take() {
                st.sleepers.remove(&k);
            }
            return Poll::Ready(());
        }
        let key = match this.key {
            Some(k) => k,
            None => {
                st.next_id += 1;
                let k = (this.deadline, st.next_id);
                this.key = Some(k);
                k
            }
        };
        st.sleepers.insert(key, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            if let Ok(mut st) = self.clock.state.try_borrow_mut() {
                st.sleepers.remove(&k);
            }
        }
    }
}

// ------------------------------------------------------------------------------------ errors

/// Errors of the simulated network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The cloud is unreachable ([`SimCloud::set_reachable`]`(false)`).
    #[error("connection refused (simulated network unreachable)")]
    Refused,
    /// The connection was cut ([`SimCloud::cut_all`]).
    #[error("connection reset (simulated cut)")]
    Reset,
}

impl genesys_webrtc_hal::Error for SimError {
    fn kind(&self) -> ErrorKind {
        match self {
            SimError::Refused => ErrorKind::ConnectionRefused,
            SimError::Reset => ErrorKind::ConnectionReset,
        }
    }
}

impl embedded_io_async::Error for SimError {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        match self {
            SimError::Refused => embedded_io_async::ErrorKind::ConnectionRefused,
            SimError::Reset => embedded_io_async::ErrorKind::ConnectionReset,
        }
    }
}

// ------------------------------------------------------------------------------------ network

/// How a connection attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Still waiting for its latency.
    Pending,
    /// Connected; the cloud saw it as this connection.
    Connected(ConnId),
    /// Refused because the network was unreachable.
    Refused,
}

/// One call of [`SimConnector`]'s `connect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectAttempt {
    /// Virtual time of the call.
    pub at: Instant,
    /// Host asked for.
    pub host: String,
    /// Port asked for.
    pub port: u16,
    /// TLS or plain (the simulator terminates "TLS" itself).
    pub security: Security,
    /// What became of it.
    pub outcome: AttemptOutcome,
}

/// Something in flight on the network, keyed by `(arrival, sequence)`.
#[derive(Debug)]
enum Delivery {
    /// Client bytes reaching the cloud.
    ToCloud(u64, Vec<u8>),
    /// The client closed its end (stream dropped); reaches the cloud after pending bytes.
    FinToCloud(u64),
    /// Cloud bytes reaching the client.
    ToClient(u64, Vec<u8>),
    /// The cloud closed; the client reads EOF after pending bytes.
    EofToClient(u64),
    /// The connection was cut: both ends learn it now.
    Cut(u64),
}

/// One connection's pipes.
#[derive(Debug)]
struct Pipe {
    /// Bytes delivered to the client and not read yet.
    inbox: VecDeque<u8>,
    /// The client has seen the cloud's close (reads return 0 once `inbox` is empty).
    eof: bool,
    /// The client has seen the cut (reads and writes fail).
    reset: bool,
    /// The task waiting in `read`.
    reader: Option<Waker>,
    /// The client dropped its stream.
    client_closed: bool,
    /// The cloud is done with it (closed it, or was told `on_close`).
    cloud_closed: bool,
    /// Cut: nothing more is delivered either way.
    broken: bool,
    /// Last scheduled arrival, client → cloud.
    up_last: Instant,
    /// Last scheduled arrival, cloud → client.
    down_last: Instant,
}

struct NetState {
    cloud: FakeCloud,
    rng: fastrand::Rng,
    seed: u64,
    base_latency: Duration,
    jitter: Duration,
    reachable: bool,
    next_conn: u64,
    pipes: BTreeMap<u64, Pipe>,
    inflight: BTreeMap<(Instant, u64), Delivery>,
    seq: u64,
    attempts: Vec<ConnectAttempt>,
    /// The instant the cloud's timer last fired (guards against a deadline that does not move).
    cloud_timer_fired: Option<Instant>,
}

impl NetState {
    fn latency(&mut self) -> Duration {
        let j = u64::try_from(self.jitter.as_micros()).unwrap_or(u64::MAX);
        let lo = u64::try_from(self.base_latency.as_micros()).unwrap_or(u64::MAX);
        // base ± jitter, never below zero.
        let us = if j == 0 {
            lo
        } else {
            lo.saturating_sub(j)
                + self
                    .rng
                    .u64(0..=j.saturating_mul(2).min(lo.saturating_add(j)))
        };
        Duration::from_micros(us)
    }

    fn push(&mut self, at: Instant, d: Delivery) {
        self.seq += 1;
        self.inflight.insert((at, self.seq), d);
    }

    /// Arrival time of the next delivery on `id` in one direction (keeps per-direction order).
    fn schedule(&mut self, now: Instant, id: u64, up: bool) -> Option<Instant> {
        let lat = self.latency();
        let pipe = self.pipes.get_mut(&id)?;
        let last = if up {
            &mut pipe.up_last
        } else {
            &mut pipe.down_last
        };
        let at = (now + lat).max(*last);
        *last = at;
        Some(at)
    }

    fn maybe_remove(&mut self, id: u64) {
        if self
            .pipes
            .get(&id)
            .is_some_and(|p| p.client_closed && p.cloud_closed)
        {
            self.pipes.remove(&id);
        }
    }

    /// Moves everything the cloud queued onto the network.
    fn flush(&mut self, now: Instant) {
        while let Some(out) = self.cloud.poll_output() {
            match out {
                CloudOutput::Send { conn, data } => {
                    let id = conn.0;
                    let live = self
                        .pipes
                        .get(&id)
                        .is_some_and(|p| !p.broken && !p.client_closed);
                    if live {
                        if let Some(at) = self.schedule(now, id, false) {
                            self.push(at, Delivery::ToClient(id, data));
                        }
                    }
                }
                CloudOutput::Close { conn } => {
                    let id = conn.0;
                    let Some(pipe) = self.pipes.get_mut(&id) else {
                        continue;
                    };
                    let (broken, client_closed) = (pipe.broken, pipe.client_closed);
                    if !pipe.cloud_closed {
                        pipe.cloud_closed = true;
                        // The cloud is done with it: free its state (logs nothing after its own
                        // close).
                        self.cloud.on_close(now, conn);
                    }
                    if !broken && !client_closed {
                        if let Some(at) = self.schedule(now, id, false) {
                            self.push(at, Delivery::EofToClient(id));
                        }
                    }
                    self.maybe_remove(id);
                }
            }
        }
    }

    fn wake_reader(&mut self, id: u64, wakers: &mut Vec<Waker>) {
        if let Some(w) = self.pipes.get_mut(&id).and_then(|p| p.reader.take()) {
            wakers.push(w);
        }
    }

    fn deliver(&mut self, now: Instant, d: Delivery, wakers: &mut Vec<Waker>) {
        match d {
            Delivery::ToCloud(id, data) => {
                if self
                    .pipes
                    .get(&id)
                    .is_some_and(|p| !p.broken && !p.cloud_closed)
                {
                    self.cloud.on_data(now, ConnId(id), &data);
                    self.flush(now);
                }
            }
            Delivery::FinToCloud(id) => {
                if let Some(p) = self.pipes.get_mut(&id) {
                    if !p.cloud_closed && !p.broken {
                        p.cloud_closed = true;
                        self.cloud.on_close(now, ConnId(id));
                        self.flush(now);
                    }
                }
                self.maybe_remove(id);
            }
            Delivery::ToClient(id, data) => {
                if let Some(p) = self.pipes.get_mut(&id) {
                    if !p.broken && !p.client_closed {
                        p.inbox.extend(data);
                        self.wake_reader(id, wakers);
                    }
                }
            }
            Delivery::EofToClient(id) => {
                if let Some(p) = self.pipes.get_mut(&id) {
                    if !p.broken {
                        p.eof = true;
                        self.wake_reader(id, wakers);
                    }
                }
            }
            Delivery::Cut(id) => {
                if let Some(p) = self.pipes.get_mut(&id) {
                    let tell_cloud = !p.cloud_closed;
                    p.cloud_closed = true;
                    p.reset = true;
                    p.inbox.clear();
                    if tell_cloud {
                        self.cloud.on_close(now, ConnId(id));
                        self.flush(now);
                    }
                    self.wake_reader(id, wakers);
                }
                self.maybe_remove(id);
            }
        }
    }

    /// The next instant the network or the cloud has something to do.
    fn next_event(&self, now: Instant) -> Option<Instant> {
        let net = self.inflight.first_key_value().map(|(k, _)| k.0);
        let cloud = self.cloud.poll_timeout().map(|t| {
            if t <= now && self.cloud_timer_fired == Some(now) {
                // A deadline that did not move after firing: look again a millisecond later.
                now + Duration::from_millis(1)
            } else {
                t
            }
        });
        match (net, cloud) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Shared handle to the fake cloud and the in-memory network between it and the SDK. Cheap to
/// clone; single-threaded.
///
/// Latency is one-way `base ± jitter` (default 5 ms ± 2 ms) from a `fastrand::Rng` seeded with
/// the seed; bytes keep their order per direction.
#[derive(Clone)]
pub struct SimCloud {
    state: Rc<RefCell<NetState>>,
    clock: VirtualClock,
}

impl std::fmt::Debug for SimCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("SimCloud")
            .field("cloud", &st.cloud)
            .field("clock", &self.clock)
            .field("open_pipes", &st.pipes.len())
            .field("in_flight", &st.inflight.len())
            .field("reachable", &st.reachable)
            .finish()
    }
}

/// Decorrelates the network's rng from the seed the engine gets.
fn mix(seed: u64) -> u64 {
    crate::cloud::splitmix64(seed ^ 0x6e65_7477_6f72_6b21)
}

impl SimCloud {
    /// A fake cloud serving `config`, on a new [`VirtualClock`], with network randomness from
    /// `seed` (also the engine seed [`SimCloud::platform`] hands out).
    pub fn new(config: CloudConfig, seed: u64) -> Self {
        Self::with_clock(config, VirtualClock::new(), seed)
    }

    /// Like [`SimCloud::new`] on an existing clock.
    pub fn with_clock(config: CloudConfig, clock: VirtualClock, seed: u64) -> Self {
        SimCloud {
            state: Rc::new(RefCell::new(NetState {
                cloud: FakeCloud::new(config),
                rng: fastrand::Rng::with_seed(mix(seed)),
                seed,
                base_latency: Duration::from_millis(5),
                jitter: Duration::from_millis(2),
                reachable: true,
                next_conn: 1,
                pipes: BTreeMap::new(),
                inflight: BTreeMap::new(),
                seq: 0,
                attempts: Vec::new(),
                cloud_timer_fired: None,
            })),
            clock,
        }
    }

    /// The virtual clock.
    pub fn clock(&self) -> VirtualClock {
        self.clock.clone()
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.state.borrow().seed
    }

    /// A connector onto this network.
    pub fn connector(&self) -> SimConnector {
        SimConnector { sim: self.clone() }
    }

    /// A platform (clock, connector, seed) for `Sdk::new`.
    pub fn platform(&self) -> SimPlatform {
        SimPlatform {
            clock: self.clock(),
            connector: self.connector(),
            seed: self.seed(),
        }
    }

    /// Sets the one-way latency to `base ± jitter`.
    pub fn set_latency(&self, base: Duration, jitter: Duration) {
        let mut st = self.state.borrow_mut();
        st.base_latency = base;
        st.jitter = jitter;
    }

    /// Whether new connections succeed (checked when the attempt reaches the cloud, one latency
    /// after `connect`). Open connections are not affected.
    pub fn set_reachable(&self, reachable: bool) {
        self.state.borrow_mut().reachable = reachable;
    }

    /// Breaks every open connection both ways: bytes in flight are lost, and after one latency
    /// the cloud gets `on_close` and the client's reads and writes fail with
    /// `ConnectionReset`.
    pub fn cut_all(&self) {
        let mut st = self.state.borrow_mut();
        let now = self.clock.now();
        let ids: Vec<u64> = st
            .pipes
            .iter()
            .filter(|(_, p)| !p.broken && !p.reset)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let lat = st.latency();
            if let Some(p) = st.pipes.get_mut(&id) {
                p.broken = true;
            }
            st.push(now + lat, Delivery::Cut(id));
        }
    }

    /// Runs `f` on the fake cloud (inject faults, push stanzas, read state), then puts whatever it
    /// queued on the network. `f` must not call back into this handle. Use
    /// [`SimCloud::now`] beforehand for methods that take `now`.
    pub fn with_cloud<R>(&self, f: impl FnOnce(&mut FakeCloud) -> R) -> R {
        let now = self.clock.now();
        let mut st = self.state.borrow_mut();
        let r = f(&mut st.cloud);
        st.flush(now);
        r
    }

    /// A copy of the cloud's log entries, oldest first.
    pub fn log(&self) -> Vec<LogEntry> {
        self.state.borrow().cloud.log().to_vec()
    }

    /// A copy of the cloud's log with its query helpers.
    pub fn cloud_log(&self) -> CloudLog {
        self.state.borrow().cloud.cloud_log().clone()
    }

    /// Every `connect` call so far, oldest first.
    pub fn connect_attempts(&self) -> Vec<ConnectAttempt> {
        self.state.borrow().attempts.clone()
    }

    /// Connections the client still holds or the cloud has not closed.
    pub fn open_connections(&self) -> usize {
        self.state
            .borrow()
            .pipes
            .values()
            .filter(|p| !p.client_closed && !p.reset)
            .count()
    }

    /// Delivers everything due by now and fires the cloud's timer if due. Returns whether
    /// anything happened. [`SimRuntime`] calls this; call it yourself only when driving the clock
    /// by hand.
    pub fn process_due(&self) -> bool {
        let now = self.clock.now();
        let mut wakers = Vec::new();
        let mut did = false;
        {
            let mut st = self.state.borrow_mut();
            loop {
                let mut progressed = false;
                while let Some(entry) = st.inflight.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    let d = entry.remove();
                    st.deliver(now, d, &mut wakers);
                    progressed = true;
                }
                if let Some(t) = st.cloud.poll_timeout() {
                    if t <= now && st.cloud_timer_fired != Some(now) {
                        st.cloud_timer_fired = Some(now);
                        st.cloud.handle_timeout(now);
                        st.flush(now);
                        progressed = true;
                    }
                }
                if !progressed {
                    break;
                }
                did = true;
            }
        }
        for w in wakers {
            w.wake();
        }
        did
    }

    /// The next instant a delivery lands or the cloud's timer fires.
    pub fn next_event(&self) -> Option<Instant> {
        let now = self.clock.now();
        self.state.borrow().next_event(now)
    }

    async fn connect(
        &self,
        host: String,
        port: u16,
        security: Security,
    ) -> Result<SimStream, SimError> {
        let (at, index) = {
            let mut st = self.state.borrow_mut();
            let now = self.clock.now();
            let lat = st.latency();
            st.attempts.push(ConnectAttempt {
                at: now,
                host,
                port,
                security,
                outcome: AttemptOutcome::Pending,
            });
            (now + lat, st.attempts.len() - 1)
        };
        self.clock.sleep_until(at).await;
        let now = self.clock.now();
        let mut st = self.state.borrow_mut();
        if !st.reachable {
            if let Some(a) = st.attempts.get_mut(index) {
                a.outcome = AttemptOutcome::Refused;
            }
            return Err(SimError::Refused);
        }
        let id = st.next_conn;
        st.next_conn += 1;
        st.pipes.insert(
            id,
            Pipe {
                inbox: VecDeque::new(),
                eof: false,
                reset: false,
                reader: None,
                client_closed: false,
                cloud_closed: false,
                broken: false,
                up_last: now,
                down_last: now,
            },
        );
        if let Some(a) = st.attempts.get_mut(index) {
            a.outcome = AttemptOutcome::Connected(ConnId(id));
        }
        st.cloud.on_connect(now, ConnId(id));
        st.flush(now);
        drop(st);
        Ok(SimStream {
            sim: self.clone(),
            id,
        })
    }
}

/// Opens [`SimStream`]s to the [`SimCloud`]. Any host reaches the fake cloud.
#[derive(Debug, Clone)]
pub struct SimConnector {
    sim: SimCloud,
}

impl SimConnector {
    /// The network this connector dials into.
    pub fn sim(&self) -> &SimCloud {
        &self.sim
    }
}

impl genesys_webrtc_hal::ErrorType for SimConnector {
    type Error = SimError;
}

impl Connector for SimConnector {
    type Stream = SimStream;

    fn connect(&self, endpoint: Endpoint<'_>) -> impl Future<Output = Result<SimStream, SimError>> {
        let sim = self.sim.clone();
        let host = endpoint.host.to_owned();
        let (port, security) = (endpoint.port, endpoint.security);
        async move { sim.connect(host, port, security).await }
    }
}

/// One simulated TCP (+TLS) connection, client side. Dropping it closes it (the cloud gets
/// `on_close` after the bytes written before).
#[derive(Debug)]
pub struct SimStream {
    sim: SimCloud,
    id: u64,
}

impl SimStream {
    /// The cloud's id for this connection.
    pub fn conn_id(&self) -> ConnId {
        ConnId(self.id)
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize, SimError>> {
        let mut st = self.sim.state.borrow_mut();
        let Some(p) = st.pipes.get_mut(&self.id) else {
            return Poll::Ready(Ok(0));
        };
        if p.reset {
            return Poll::Ready(Err(SimError::Reset));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if !p.inbox.is_empty() {
            let n = buf.len().min(p.inbox.len());
            for (dst, src) in buf.iter_mut().zip(p.inbox.drain(..n)) {
                *dst = src;
            }
            return Poll::Ready(Ok(n));
        }
        if p.eof {
            return Poll::Ready(Ok(0));
        }
        p.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    fn write_now(&mut self, data: &[u8]) -> Result<usize, SimError> {
        let now = self.sim.clock.now();
        let mut st = self.sim.state.borrow_mut();
        let Some(p) = st.pipes.get(&self.id) else {
            return Err(SimError::Reset);
        };
        if p.reset {
            return Err(SimError::Reset);
        }
        if p.broken || data.is_empty() {
            // Lost on the wire; the client learns of the cut one latency later.
            return Ok(data.len());
        }
        if let Some(at) = st.schedule(now, self.id, true) {
            st.push(at, Delivery::ToCloud(self.id, data.to_vec()));
        }
        Ok(data.len())
    }
}

impl embedded_io_async::ErrorType for SimStream {
    type Error = SimError;
}

impl embedded_io_async::Read for SimStream {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, SimError> {
        std::future::poll_fn(|cx| self.poll_read(cx, buf)).await
    }
}

impl embedded_io_async::Write for SimStream {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, SimError> {
        self.write_now(buf)
    }

    async fn flush(&mut self) -> Result<(), SimError> {
        Ok(())
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        let now = self.sim.clock.now();
        let Ok(mut st) = self.sim.state.try_borrow_mut() else {
            return;
        };
        let Some(p) = st.pipes.get_mut(&self.id) else {
            return;
        };
        p.client_closed = true;
        p.reader = None;
        p.inbox.clear();
        if !p.cloud_closed && !p.broken {
            if let Some(at) = st.schedule(now, self.id, true) {
                st.push(at, Delivery::FinToCloud(self.id));
            }
        }
        st.maybe_remove(self.id);
    }
}

// ------------------------------------------------------------------------------------ platform

/// The simulator as a [`Platform`]: virtual clock, in-memory connector, fixed seed.
#[derive(Debug, Clone)]
pub struct SimPlatform {
    /// The clock.
    pub clock: VirtualClock,
    /// The connector.
    pub connector: SimConnector,
    /// The engine's random seed.
    pub seed: u64,
}

/// UDP for [`SimPlatform`]: lists no addresses, so the SDK binds no media sockets. Whole-SDK
/// media in virtual time is not simulated yet; [`crate::network::SimNetwork`] carries media at
/// the engine level.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoUdp;

/// The socket type of [`NoUdp`]; it has no values.
#[derive(Debug)]
pub enum NoUdpSocket {}

impl ErrorType for NoUdp {
    type Error = SimError;
}

impl ErrorType for NoUdpSocket {
    type Error = SimError;
}

impl genesys_webrtc_hal::UdpStack for NoUdp {
    type Socket = NoUdpSocket;

    async fn bind(&self, _addr: SocketAddr) -> Result<NoUdpSocket, SimError> {
        Err(SimError::Refused)
    }

    fn local_addresses(&self) -> Result<Vec<std::net::IpAddr>, SimError> {
        Ok(Vec::new())
    }

    async fn resolve(&self, _host: &str) -> Result<Vec<std::net::IpAddr>, SimError> {
        Err(SimError::Refused)
    }
}

impl genesys_webrtc_hal::UdpSocket for NoUdpSocket {
    fn local_addr(&self) -> Result<SocketAddr, SimError> {
        match *self {}
    }

    async fn send_to(&self, _datagram: &[u8], _target: SocketAddr) -> Result<(), SimError> {
        match *self {}
    }

    async fn recv_from(&self, _buf: &mut [u8]) -> Result<(usize, SocketAddr), SimError> {
        match *self {}
    }
}

impl Platform for SimPlatform {
    type Clock = VirtualClock;
    type Connector = SimConnector;
    type Udp = NoUdp;

    fn udp(&self) -> &NoUdp {
        &NoUdp
    }

    fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    fn connector(&self) -> &SimConnector {
        &self.connector
    }

    fn random_seed(&self) -> u64 {
        self.seed
    }
}

// ------------------------------------------------------------------------------------ runtime

#[derive(Default)]
struct ReadyQueue {
    order: VecDeque<u64>,
    queued: BTreeSet<u64>,
}

struct TaskWaker {
    id: u64,
    ready: Arc<Mutex<ReadyQueue>>,
}

impl ArcWake for TaskWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        let mut q = arc_self
            .ready
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if q.queued.insert(arc_self.id) {
            q.order.push_back(arc_self.id);
        }
    }
}

struct FlagWaker(AtomicBool);

impl ArcWake for FlagWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::SeqCst);
    }
}

/// Tasks spawned since the last run, with their ids.
type Incoming = Rc<RefCell<Vec<(u64, LocalBoxFuture<'static, ()>)>>>;

struct Task {
    future: LocalBoxFuture<'static, ()>,
    waker: Waker,
}

/// Things recorded from a stream by [`SimRuntime::record`], each with the virtual time (since
/// the clock's start) it arrived at. Cheap to clone.
pub struct Recording<T> {
    items: Rc<RefCell<Vec<(Duration, T)>>>,
    ended: Rc<Cell<bool>>,
}

impl<T> Clone for Recording<T> {
    fn clone(&self) -> Self {
        Recording {
            items: self.items.clone(),
            ended: self.ended.clone(),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Recording<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.items.borrow().iter()).finish()
    }
}

impl<T> Recording<T> {
    /// How many items so far.
    pub fn len(&self) -> usize {
        self.items.borrow().len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.items.borrow().is_empty()
    }

    /// Whether the stream ended.
    pub fn ended(&self) -> bool {
        self.ended.get()
    }

    /// Index of the first item at or after `from` matching `pred`.
    pub fn position_from(&self, from: usize, mut pred: impl FnMut(&T) -> bool) -> Option<usize> {
        self.items
            .borrow()
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, (_, x))| pred(x))
            .map(|(i, _)| i)
    }

    /// Runs `f` on the items.
    pub fn with<R>(&self, f: impl FnOnce(&[(Duration, T)]) -> R) -> R {
        f(&self.items.borrow())
    }
}

impl<T: Clone> Recording<T> {
    /// A copy of every item with its virtual time.
    pub fn items(&self) -> Vec<(Duration, T)> {
        self.items.borrow().clone()
    }

    /// The item at `index`.
    pub fn get(&self, index: usize) -> Option<(Duration, T)> {
        self.items.borrow().get(index).cloned()
    }
}

/// A deterministic single-threaded executor in virtual time.
///
/// Each round runs every ready task (FIFO, in wake order) until none is ready, delivers the
/// network bytes that are due and fires the cloud's timer; when nothing is left at this instant
/// it moves the clock to the earliest of the sleepers, the in-flight deliveries and the cloud's
/// timeout. Task panics propagate to the caller.
pub struct SimRuntime {
    clock: VirtualClock,
    sim: Option<SimCloud>,
    tasks: BTreeMap<u64, Task>,
    incoming: Incoming,
    next_task: Rc<RefCell<u64>>,
    ready: Arc<Mutex<ReadyQueue>>,
}

impl std::fmt::Debug for SimRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRuntime")
            .field("clock", &self.clock)
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

impl SimRuntime {
    /// A runtime on `sim`'s clock that also drives `sim`'s network and cloud timers.
    pub fn new(sim: &SimCloud) -> Self {
        let mut rt = Self::with_clock(sim.clock());
        rt.sim = Some(sim.clone());
        rt
    }

    /// A runtime with only a clock (no network).
    pub fn with_clock(clock: VirtualClock) -> Self {
        SimRuntime {
            clock,
            sim: None,
            tasks: BTreeMap::new(),
            incoming: Rc::new(RefCell::new(Vec::new())),
            next_task: Rc::new(RefCell::new(0)),
            ready: Arc::new(Mutex::new(ReadyQueue::default())),
        }
    }

    /// The clock.
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Virtual time since the clock started.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// Spawns a task (e.g. `driver.run()`); it first runs at the next `run_*` call.
    pub fn spawn(&self, fut: impl Future<Output = ()> + 'static) {
        let id = {
            let mut n = self.next_task.borrow_mut();
            *n += 1;
            *n
        };
        self.incoming.borrow_mut().push((id, fut.boxed_local()));
    }

    /// Spawns a task and returns a handle that resolves to its output (dropping the handle
    /// cancels the task).
    pub fn spawn_with_handle<F>(&self, fut: F) -> RemoteHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (remote, handle) = fut.remote_handle();
        self.spawn(remote);
        handle
    }

    /// Records every item of `stream` with the virtual time it arrived at.
    pub fn record<S>(&self, stream: S) -> Recording<S::Item>
    where
        S: Stream + 'static,
        S::Item: 'static,
    {
        let rec = Recording {
            items: Rc::new(RefCell::new(Vec::new())),
            ended: Rc::new(Cell::new(false)),
        };
        let (items, ended, clock) = (rec.items.clone(), rec.ended.clone(), self.clock.clone());
        self.spawn(async move {
            let mut stream = pin!(stream);
            while let Some(item) = stream.next().await {
                items.borrow_mut().push((clock.elapsed(), item));
            }
            ended.set(true);
        });
        rec
    }

    /// Runs every ready task until none is ready; returns how many polls it made.
    fn run_ready(&mut self) -> usize {
        let mut polls = 0;
        loop {
            let new: Vec<_> = self.incoming.borrow_mut().drain(..).collect();
            for (id, future) in new {
                let waker = futures::task::waker(Arc::new(TaskWaker {
                    id,
                    ready: self.ready.clone(),
                }));
                waker.wake_by_ref();
                self.tasks.insert(id, Task { future, waker });
            }
            let next = {
                let mut q = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
                let id = q.order.pop_front();
                if let Some(id) = id {
                    q.queued.remove(&id);
                }
                id
            };
            let Some(id) = next else {
                if self.incoming.borrow().is_empty() {
                    return polls;
                }
                continue;
            };
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            polls += 1;
            let waker = task.waker.clone();
            let mut cx = Context::from_waker(&waker);
            if task.future.as_mut().poll(&mut cx).is_ready() {
                self.tasks.remove(&id);
            }
        }
    }

    /// Runs everything that can happen at the current instant. `fg` polls a foreground future
    /// if it was woken: `(output, polled)`.
    fn settle<T>(&mut self, fg: &mut impl FnMut() -> (Option<T>, bool)) -> Option<T> {
        loop {
            let (out, polled) = fg();
            if out.is_some() {
                return out;
            }
            let ran = self.run_ready() > 0;
            if polled || ran {
                continue;
            }
            if self.sim.as_ref().is_some_and(|s| s.process_due()) {
                continue;
            }
            return None;
        }
    }

    /// The next instant something is scheduled.
    fn next_wakeup(&self) -> Option<Instant> {
        let a = self.clock.next_deadline();
        let b = self.sim.as_ref().and_then(|s| s.next_event());
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs until `limit` of virtual time or until `fg` yields an output.
    fn drive<T>(&mut self, limit: Instant, mut fg: impl FnMut() -> (Option<T>, bool)) -> Option<T> {
        loop {
            if let Some(v) = self.settle(&mut fg) {
                return Some(v);
            }
            let now = self.clock.now();
            if now >= limit {
                return None;
            }
            let next = self
                .next_wakeup()
                .map_or(limit, |t| t.min(limit))
                .max(now + Duration::from_nanos(1));
            self.clock.advance_to(next);
        }
    }

    /// Runs until virtual time `limit` (everything due at `limit` included).
    pub fn run_until(&mut self, limit: Instant) {
        self.drive::<()>(limit, || (None, false));
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.clock.now() + d;
        self.run_until(limit);
    }

    /// Runs until `cond` holds (checked whenever the runtime has settled, and between task
    /// polls) or `timeout` of virtual time passes; returns whether it held.
    pub fn run_until_with(&mut self, timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let limit = self.clock.now() + timeout;
        self.drive(limit, || (cond().then_some(()), false))
            .is_some()
    }

    /// One step: runs every task until stalled (delivering due bytes and cloud timers), then
    /// advances the clock to the next scheduled instant. Returns that instant, or `None` when
    /// nothing at all is scheduled (the clock stays).
    pub fn run_until_stalled_then_advance(&mut self) -> Option<Instant> {
        self.settle::<()>(&mut || (None, false));
        let next = self.next_wakeup()?;
        self.clock.advance_to(next);
        Some(self.clock.now())
    }

    /// Polls `fut` while running the spawned tasks in virtual time; returns its output, or
    /// `None` if it did not complete within `timeout` of virtual time.
    pub fn block_on_virtual<F: Future>(&mut self, fut: F, timeout: Duration) -> Option<F::Output> {
        let limit = self.clock.now() + timeout;
        let flag = Arc::new(FlagWaker(AtomicBool::new(true)));
        let waker = futures::task::waker(flag.clone());
        let mut fut = pin!(fut);
        self.drive(limit, || {
            if !flag.0.swap(false, Ordering::SeqCst) {
                return (None, false);
            }
            let mut cx = Context::from_waker(&waker);
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(v) => (Some(v), true),
                Poll::Pending => (None, true),
            }
        })
    }
}
