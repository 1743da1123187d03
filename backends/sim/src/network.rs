//! An in-memory network in virtual time between the SDK's sans-IO [`Engine`] and a
//! [`FakeCloud`], driven from a seed.
//!
//! Every step advances a virtual clock to the earliest of: the next delivery on a link, the
//! engine's timeout, or the cloud's timeout. Delivery latency is `base_latency` plus a seeded
//! jitter; bytes on one connection stay in order (like TCP). Nothing here sleeps or touches a real
//! socket: a 10-minute scenario runs in milliseconds, and the same seed gives the same run.
//!
//! Faults: [`SimNetwork::set_reachable`] makes new connections fail (`ConnectionRefused`),
//! [`SimNetwork::cut_all`] breaks every open connection at once, [`SimNetwork::set_latency`]
//! changes latency at any time (a latency spike), [`SimNetwork::set_datagram_loss`] drops media
//! datagrams and [`SimNetwork::set_datagram_reorder`] holds some back so later ones overtake
//! them. The fake cloud adds its own (REST statuses, silence, closing the streams).
//!
//! Media sockets: the engine binds its own UDP sockets per call ([`Transmit::BindUdp`] on
//! 127.0.0.1); the network answers at once, at the same virtual instant, with distinct ports from
//! [`ENGINE_MEDIA_ADDR`]'s up (the first call's socket gets that address), and forgets a socket
//! on [`Transmit::CloseUdp`]: datagrams to it are dropped from then on, like a closed port's.
//! [`SimNetwork::open_udp_sockets`] counts the open ones, [`SimNetwork::fail_udp_binds`]
//! makes binds fail and [`SimNetwork::set_udp_bind_latency`] delays their answers.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};

use std::net::{Ipv4Addr, SocketAddr};

use genesys_webrtc::engine::{
    ConnId as EngineConn, ConnectFailure, Input, Output, Transmit, UdpSocketId, FRAME_SAMPLES,
};
use genesys_webrtc::media::tone::ToneGenerator;
use genesys_webrtc::{Engine, SdkEvent};
use genesys_webrtc_hal::ErrorKind;

use crate::cloud::{CloudOutput, ConnId as CloudConn, FakeCloud};

/// One thing in flight.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Delivery {
    CloudAccept(u64),
    EngineConnected(u64),
    EngineConnectFailed(u64),
    ToCloud(u64, Vec<u8>),
    ToEngine(u64, Vec<u8>),
    CloudClosed(u64),
    EngineClosed(u64),
    ToCloudDatagram(SocketAddr, SocketAddr, Vec<u8>),
    ToEngineDatagram(SocketAddr, SocketAddr, Vec<u8>),
    ToTurnDatagram(SocketAddr, SocketAddr, Vec<u8>),
    Resolved(String, Vec<std::net::IpAddr>),
    /// The outcome of a bind (kept in `udp_pending`) reaches the engine.
    UdpBind(u64),
}

/// The address of the engine's first media socket in the simulation (loopback, in memory
/// only): the first call binds it; later sockets get the next free ports (up to 49 999).
pub const ENGINE_MEDIA_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 40_000);
/// How many ports the engine's media sockets are given from (from [`ENGINE_MEDIA_ADDR`]'s).
const ENGINE_MEDIA_PORTS: u16 = 10_000;
/// The fake cloud's media peer address in the simulation.
pub const CLOUD_MEDIA_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 50_000);
/// The TURN server's listening address in the simulation ([`SimNetwork::ready_user_with_turn`]).
pub const TURN_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 3478);
/// First port of the TURN server's relayed addresses (on 127.0.0.1) in the simulation.
pub const TURN_RELAY_FIRST_PORT: u16 = 30_000;
/// Whether `addr` is one of the cloud's per-call media ports.
fn is_cloud_media(addr: SocketAddr) -> bool {
    addr.ip() == CLOUD_MEDIA_ADDR.ip()
        && (CLOUD_MEDIA_ADDR.port()..CLOUD_MEDIA_ADDR.port().saturating_add(10_000))
            .contains(&addr.port())
}

/// The 20 ms audio clock.
const AUDIO_TICK: Duration = Duration::from_millis(20);

/// What a step of the simulation did, for callers that trace runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepResult {
    /// Something happened at this instant.
    Progressed(Instant),
    /// Nothing is scheduled before the limit; the clock moved to the limit.
    Idle,
}

/// The SDK engine and a fake cloud connected by an in-memory network.
pub struct SimNetwork {
    engine: Engine,
    cloud: FakeCloud,
    now: Instant,
    /// Latency draws for byte streams (signaling, REST).
    rng: fastrand::Rng,
    /// Latency, loss and reorder draws for media datagrams: a stream of its own, so the number
    /// of datagrams (which str0m's own randomness can change) never shifts signaling timing.
    media_rng: fastrand::Rng,
    base_latency: Duration,
    jitter: Duration,
    queue: BinaryHeap<Reverse<(Instant, u64, Delivery)>>,
    seq: u64,
    /// Open connections: id → last scheduled delivery time per direction (keeps order).
    open: BTreeMap<u64, (Instant, Instant)>,
    reachable: bool,
    events: Vec<(Instant, SdkEvent)>,
    transmits: Vec<(Instant, Transmit)>,
    loss: f64,
    datagrams_lost: u64,
    reorder: f64,
    reorder_extra: Duration,
    datagrams_reordered: u64,
    audio_next: Option<Instant>,
    tone: Option<ToneGenerator>,
    playout: Vec<i16>,
    record_playout: bool,
    hosts: std::collections::BTreeMap<String, Vec<std::net::IpAddr>>,
    turn: Option<crate::turn::TurnServer>,
    /// The engine's open media sockets, by local address.
    udp: BTreeMap<SocketAddr, UdpSocketId>,
    /// Offset from [`ENGINE_MEDIA_ADDR`]'s port of the next port to try.
    udp_next: u16,
    udp_binds: u64,
    /// Binds still to fail, and with which error.
    udp_fail: (u32, ErrorKind),
    /// Datagrams the engine sent from a socket that was not open.
    udp_stray: u64,
    udp_bind_latency: Duration,
    /// Bind outcomes waiting for their delivery, by socket id.
    udp_pending: BTreeMap<u64, Result<SocketAddr, ErrorKind>>,
}

/// Where a media datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Engine,
    Cloud,
    Turn,
}

impl SimNetwork {
    /// Connects `engine` and `cloud`. `start` must be the instant the engine was created with.
    ///
    /// Also seeds str0m's randomness on this thread from `seed` ([`crate::seeded::seed_thread`]),
    /// so that the media of a run (ICE, DTLS timers) replays exactly: drive the simulation on
    /// the thread that created it.
    pub fn new(mut engine: Engine, mut cloud: FakeCloud, start: Instant, seed: u64) -> Self {
        crate::seeded::seed_thread(seed);
        engine.set_media_ips(vec![ENGINE_MEDIA_ADDR.ip()]);
        cloud.set_media_addr(CLOUD_MEDIA_ADDR);
        cloud.config_mut().media_port_per_call = true;
        SimNetwork {
            engine,
            cloud,
            now: start,
            rng: fastrand::Rng::with_seed(seed),
            media_rng: fastrand::Rng::with_seed(seed ^ 0x6d65_6469_615f_726e),
            base_latency: Duration::from_millis(5),
            jitter: Duration::from_millis(2),
            queue: BinaryHeap::new(),
            seq: 0,
            open: BTreeMap::new(),
            reachable: true,
            events: Vec::new(),
            transmits: Vec::new(),
            loss: 0.0,
            datagrams_lost: 0,
            reorder: 0.0,
            reorder_extra: Duration::ZERO,
            datagrams_reordered: 0,
            audio_next: None,
            tone: None,
            playout: Vec::new(),
            record_playout: false,
            hosts: std::collections::BTreeMap::new(),
            turn: None,
            udp: BTreeMap::new(),
            udp_next: 0,
            udp_binds: 0,
            udp_fail: (0, ErrorKind::Other),
            udp_stray: 0,
            udp_bind_latency: Duration::ZERO,
            udp_pending: BTreeMap::new(),
        }
    }

    /// The engine's media sockets open now (bound and not closed).
    pub fn open_udp_sockets(&self) -> usize {
        self.udp.len()
    }

    /// Media sockets bound so far.
    pub fn udp_sockets_bound(&self) -> u64 {
        self.udp_binds
    }

    /// The local addresses of the engine's open media sockets.
    pub fn udp_socket_addrs(&self) -> Vec<SocketAddr> {
        self.udp.keys().copied().collect()
    }

    /// Makes the next `count` media socket binds fail with `kind`.
    pub fn fail_udp_binds(&mut self, count: u32, kind: ErrorKind) {
        self.udp_fail = (count, kind);
    }

    /// Datagrams the engine sent from a media socket that was not open (a bug if not zero).
    pub fn stray_datagrams(&self) -> u64 {
        self.udp_stray
    }

    /// Answers binds after `latency` instead of at once (zero: at once again), as a slow
    /// platform would. The port is taken when the bind is asked for.
    pub fn set_udp_bind_latency(&mut self, latency: Duration) {
        self.udp_bind_latency = latency;
    }

    /// Hands the engine a bind's outcome, now or after the bind latency.
    fn answer_bind(&mut self, socket: UdpSocketId, outcome: Result<SocketAddr, ErrorKind>) {
        if !self.udp_bind_latency.is_zero() {
            self.udp_pending.insert(socket.0, outcome);
            let at = self.now + self.udp_bind_latency;
            self.push(at, Delivery::UdpBind(socket.0));
            return;
        }
        let now = self.now;
        match outcome {
            Ok(local) => self
                .engine
                .handle_input(Input::UdpBound { now, socket, local }),
            Err(kind) => self
                .engine
                .handle_input(Input::UdpBindFailed { now, socket, kind }),
        }
    }

    /// Answers a bind: the next free port, or the failure asked for.
    fn bind_udp(&mut self, socket: UdpSocketId, addr: SocketAddr) {
        if self.udp_fail.0 > 0 {
            self.udp_fail.0 -= 1;
            let kind = self.udp_fail.1;
            self.answer_bind(socket, Err(kind));
            return;
        }
        let free = (0..ENGINE_MEDIA_PORTS)
            .map(|i| (self.udp_next + i) % ENGINE_MEDIA_PORTS)
            .map(|off| {
                (
                    off,
                    SocketAddr::new(addr.ip(), ENGINE_MEDIA_ADDR.port() + off),
                )
            })
            .find(|(_, a)| !self.udp.contains_key(a));
        let Some((off, local)) = free else {
            self.answer_bind(socket, Err(ErrorKind::Other));
            return;
        };
        self.udp_next = (off + 1) % ENGINE_MEDIA_PORTS;
        self.udp.insert(local, socket);
        self.udp_binds += 1;
        self.answer_bind(socket, Ok(local));
    }

    /// Starts a TURN server on [`TURN_ADDR`] accepting the cloud's default TURN credentials
    /// ([`crate::cloud::DEFAULT_TURN_USERNAME`]/[`crate::cloud::DEFAULT_TURN_PASSWORD`]), and
    /// makes the host names of the cloud's UDP TURN entries resolve to it. Call before
    /// `initialize` (discovery resolves the names then).
    pub fn start_turn_server(&mut self) {
        let hosts: Vec<String> = self
            .cloud
            .config()
            .turn_servers
            .iter()
            .filter(|s| s.transport.as_deref().is_none_or(|t| t == "udp"))
            .map(|s| s.host.clone())
            .collect();
        for h in hosts {
            self.add_host(&h, vec![TURN_ADDR.ip()]);
        }
        self.turn = Some(crate::turn::TurnServer::new(
            self.now,
            TURN_ADDR,
            crate::cloud::DEFAULT_TURN_USERNAME,
            crate::cloud::DEFAULT_TURN_PASSWORD,
            TURN_ADDR.ip(),
            TURN_RELAY_FIRST_PORT,
        ));
    }

    /// The TURN server, if started.
    pub fn turn(&self) -> Option<&crate::turn::TurnServer> {
        self.turn.as_ref()
    }

    /// Makes `host` resolve to `addrs` in the simulated DNS.
    pub fn add_host(&mut self, host: &str, addrs: Vec<std::net::IpAddr>) {
        self.hosts.insert(host.to_string(), addrs);
    }

    /// Drops this fraction (0.0–1.0) of media datagrams, from the seed.
    pub fn set_datagram_loss(&mut self, loss: f64) {
        self.loss = loss.clamp(0.0, 1.0);
    }

    /// Media datagrams dropped so far by [`SimNetwork::set_datagram_loss`].
    pub fn datagrams_lost(&self) -> u64 {
        self.datagrams_lost
    }

    /// Reorders media datagrams: this fraction (0.0–1.0) of them, from the seed, gets up to
    /// `extra` more delay than the link's latency, so datagrams sent after it arrive first.
    /// `0.0` turns it off.
    pub fn set_datagram_reorder(&mut self, fraction: f64, extra: Duration) {
        self.reorder = fraction.clamp(0.0, 1.0);
        self.reorder_extra = extra;
    }

    /// Media datagrams held back so far by [`SimNetwork::set_datagram_reorder`].
    pub fn datagrams_reordered(&self) -> u64 {
        self.datagrams_reordered
    }

    /// Starts the 20 ms audio clock: every tick the engine gets a captured frame (this tone, or
    /// silence for `None`) and the received audio is pulled (and kept when `record`).
    pub fn start_audio(&mut self, tone_hz: Option<f32>, record: bool) {
        self.tone = tone_hz.map(|f| ToneGenerator::new(f, 0.3, 48_000));
        self.record_playout = record;
        self.audio_next = Some(self.now);
    }

    /// Stops the audio clock.
    pub fn stop_audio(&mut self) {
        self.audio_next = None;
    }

    /// What the engine played out so far (48 kHz mono), when recording.
    pub fn playout(&self) -> &[i16] {
        &self.playout
    }

    /// Forgets the recorded playout.
    pub fn clear_playout(&mut self) {
        self.playout.clear();
    }

    fn audio_tick(&mut self) {
        let now = self.now;
        let frame = match self.tone.as_mut() {
            Some(t) => t.next_frame(FRAME_SAMPLES),
            None => vec![0; FRAME_SAMPLES],
        };
        self.engine.push_capture_frame(now, &frame);
        let out = self.engine.pull_playout_frame(now);
        if self.record_playout && self.playout.len() < 48_000 * 600 {
            self.playout.extend_from_slice(&out);
        }
    }

    /// A signed-in user against a default fake cloud for `environment`: the engine's options are
    /// the cloud's environment and token, adjusted by `configure`; `initialize` has completed
    /// (`Ready` was emitted) and 300 ms more have passed, so subscriptions are settled.
    ///
    /// Panics if the SDK does not become ready within 30 s of virtual time (a test helper).
    pub fn ready_user(
        environment: &str,
        seed: u64,
        configure: impl FnOnce(genesys_webrtc::SdkOptionsBuilder) -> genesys_webrtc::SdkOptionsBuilder,
    ) -> SimNetwork {
        SimNetwork::ready_user_of(
            crate::cloud::CloudConfig::for_environment(environment),
            seed,
            configure,
        )
    }

    /// As [`SimNetwork::ready_user`], against a fake cloud with `config` (its tenant, station
    /// and faults as the test set them).
    pub fn ready_user_of(
        config: crate::cloud::CloudConfig,
        seed: u64,
        configure: impl FnOnce(genesys_webrtc::SdkOptionsBuilder) -> genesys_webrtc::SdkOptionsBuilder,
    ) -> SimNetwork {
        SimNetwork::ready_user_inner(config, seed, configure, false)
    }

    /// As [`SimNetwork::ready_user_of`], with the TURN server of
    /// [`SimNetwork::start_turn_server`] answering the cloud's UDP TURN entries.
    pub fn ready_user_with_turn(
        config: crate::cloud::CloudConfig,
        seed: u64,
        configure: impl FnOnce(genesys_webrtc::SdkOptionsBuilder) -> genesys_webrtc::SdkOptionsBuilder,
    ) -> SimNetwork {
        SimNetwork::ready_user_inner(config, seed, configure, true)
    }

    fn ready_user_inner(
        config: crate::cloud::CloudConfig,
        seed: u64,
        configure: impl FnOnce(genesys_webrtc::SdkOptionsBuilder) -> genesys_webrtc::SdkOptionsBuilder,
        turn: bool,
    ) -> SimNetwork {
        let environment = config.environment.clone();
        let start = Instant::now();
        let builder = genesys_webrtc::SdkOptions::builder()
            .environment(environment.as_str())
            .access_token(config.access_token.clone());
        let opts = match configure(builder).build() {
            Ok(o) => o,
            Err(e) => panic!("test options refused: {e}"),
        };
        let mut sim = SimNetwork::new(
            Engine::new(opts, start, seed),
            FakeCloud::new(config),
            start,
            seed,
        );
        if turn {
            sim.start_turn_server();
        }
        if let Err(e) = sim
            .engine()
            .initialize(start, genesys_webrtc::InitializeOptions::default())
        {
            panic!("initialize refused: {e}");
        }
        sim.pump();
        if sim
            .run_until_event(Duration::from_secs(30), |e| matches!(e, SdkEvent::Ready))
            .is_none()
        {
            panic!("the SDK did not become ready");
        }
        sim.run_for(Duration::from_millis(300));
        sim
    }

    /// Rings the user with an inbound call of `options`, waits up to 5 s of virtual time for
    /// its pending session and accepts it (without waiting for media). Returns the cloud's call
    /// and the session id.
    ///
    /// Panics if no pending session comes or the engine refuses to accept it (a test helper).
    pub fn ring_and_accept(
        &mut self,
        options: crate::cloud::CallOptions,
    ) -> (crate::cloud::CallId, String) {
        let now = self.now();
        let call = self.cloud().place_inbound_call(now, options);
        self.pump();
        let pending = self.run_until_event(Duration::from_secs(5), |e| {
            matches!(e, SdkEvent::PendingSession(_))
        });
        let sid = match pending.and_then(|i| self.events.get(i)) {
            Some((_, SdkEvent::PendingSession(p))) => p.id.clone(),
            _ => panic!("no pending session for the inbound call"),
        };
        let now = self.now();
        if let Err(e) = self.engine().accept_pending_session(now, &sid) {
            panic!("accept_pending_session refused: {e}");
        }
        self.pump();
        (call, sid)
    }

    /// Sets the one-way latency and jitter.
    pub fn set_latency(&mut self, base: Duration, jitter: Duration) {
        self.base_latency = base;
        self.jitter = jitter;
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The engine (call API methods with [`SimNetwork::now`], then [`SimNetwork::pump`]).
    pub fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The cloud (inject faults, read its log).
    pub fn cloud(&mut self) -> &mut FakeCloud {
        &mut self.cloud
    }

    /// Every SDK event so far with the virtual time it was emitted.
    pub fn events(&self) -> &[(Instant, SdkEvent)] {
        &self.events
    }

    /// Every transmit the engine asked for, with time (for exchange assertions).
    pub fn transmits(&self) -> &[(Instant, Transmit)] {
        &self.transmits
    }

    /// Whether new connections succeed. Open connections are not affected.
    pub fn set_reachable(&mut self, reachable: bool) {
        self.reachable = reachable;
    }

    /// Breaks every open connection: both sides see it closed after one latency.
    pub fn cut_all(&mut self) {
        let ids: Vec<u64> = self.open.keys().copied().collect();
        for id in ids {
            self.open.remove(&id);
            let t = self.now + self.base_latency;
            self.push(t, Delivery::CloudClosed(id));
            self.push(t, Delivery::EngineClosed(id));
        }
    }

    /// Drains the engine and the cloud after an API call or a fault injection.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            loop {
                match self.engine.poll_output() {
                    Output::Timeout(_) => break,
                    Output::Event(e) => {
                        self.events.push((self.now, e));
                        progressed = true;
                    }
                    Output::Transmit(t) => {
                        self.on_transmit(t);
                        progressed = true;
                    }
                }
            }
            while let Some((source, destination, data)) = self.cloud.poll_datagram() {
                progressed = true;
                if self.udp.contains_key(&destination) {
                    self.send_datagram(source, destination, data, Hop::Engine);
                } else if self
                    .turn
                    .as_ref()
                    .is_some_and(|t| t.is_relayed(destination))
                {
                    self.send_datagram(source, destination, data, Hop::Turn);
                }
            }
            while let Some((source, destination, data)) =
                self.turn.as_mut().and_then(|t| t.poll_datagram())
            {
                progressed = true;
                if self.udp.contains_key(&destination) {
                    self.send_datagram(source, destination, data, Hop::Engine);
                } else if is_cloud_media(destination) {
                    self.send_datagram(source, destination, data, Hop::Cloud);
                }
            }
            while let Some(out) = self.cloud.poll_output() {
                progressed = true;
                match out {
                    CloudOutput::Send { conn, data } => {
                        if let Some(at) = self.schedule_dir(conn.0, false) {
                            self.push(at, Delivery::ToEngine(conn.0, data));
                        }
                    }
                    CloudOutput::Close { conn } => {
                        if let Some(at) = self.schedule_dir(conn.0, false) {
                            self.open.remove(&conn.0);
                            self.push(at, Delivery::EngineClosed(conn.0));
                        }
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn latency(&mut self) -> Duration {
        let j = self.jitter.as_micros() as u64;
        let extra = if j == 0 { 0 } else { self.rng.u64(0..=j) };
        self.base_latency + Duration::from_micros(extra)
    }

    fn media_latency(&mut self) -> Duration {
        let j = self.jitter.as_micros() as u64;
        let extra = if j == 0 { 0 } else { self.media_rng.u64(0..=j) };
        self.base_latency + Duration::from_micros(extra)
    }

    /// Schedules a delivery on connection `id` in one direction, keeping order per direction.
    fn schedule_dir(&mut self, id: u64, to_cloud: bool) -> Option<Instant> {
        let lat = self.latency();
        let now = self.now;
        let (up, down) = self.open.get_mut(&id)?;
        let last = if to_cloud { up } else { down };
        let at = (now + lat).max(*last);
        *last = at;
        Some(at)
    }

    fn push(&mut self, at: Instant, d: Delivery) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, d)));
    }

    fn on_transmit(&mut self, t: Transmit) {
        self.transmits.push((self.now, t.clone()));
        match t {
            Transmit::Connect { conn, .. } => {
                let lat = self.latency();
                if self.reachable {
                    let at = self.now + lat;
                    self.open.insert(conn.0, (at, at + lat));
                    self.push(at, Delivery::CloudAccept(conn.0));
                    self.push(at + lat, Delivery::EngineConnected(conn.0));
                } else {
                    self.push(self.now + lat, Delivery::EngineConnectFailed(conn.0));
                }
            }
            Transmit::Send { conn, data } => {
                if let Some(at) = self.schedule_dir(conn.0, true) {
                    self.push(at, Delivery::ToCloud(conn.0, data));
                }
            }
            Transmit::Close { conn } => {
                if let Some(at) = self.schedule_dir(conn.0, true) {
                    self.open.remove(&conn.0);
                    self.push(at, Delivery::CloudClosed(conn.0));
                }
            }
            Transmit::ResolveHost { host } => {
                // The simulated DNS knows the names in `hosts`; others do not resolve.
                let addrs = self.hosts.get(&host).cloned().unwrap_or_default();
                let at = self.now + self.latency();
                self.push(at, Delivery::Resolved(host, addrs));
            }
            Transmit::BindUdp { socket, addr } => self.bind_udp(socket, addr),
            Transmit::CloseUdp { socket } => self.udp.retain(|_, s| *s != socket),
            Transmit::Datagram {
                source,
                destination,
                data,
            } => {
                if !self.udp.contains_key(&source) {
                    self.udp_stray += 1;
                    return;
                }
                if is_cloud_media(destination) {
                    self.send_datagram(source, destination, data, Hop::Cloud);
                } else if self
                    .turn
                    .as_ref()
                    .is_some_and(|t| t.listen_addr() == destination)
                {
                    self.send_datagram(source, destination, data, Hop::Turn);
                }
            }
        }
    }

    /// UDP: seeded loss and jitter, no ordering guarantee.
    fn send_datagram(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        data: Vec<u8>,
        to: Hop,
    ) {
        if self.loss > 0.0 && self.media_rng.f64() < self.loss {
            self.datagrams_lost += 1;
            return;
        }
        let mut at = self.now + self.media_latency();
        if self.reorder > 0.0 && self.media_rng.f64() < self.reorder {
            let extra = self.reorder_extra.as_micros() as u64;
            at += Duration::from_micros(self.media_rng.u64(0..=extra));
            self.datagrams_reordered += 1;
        }
        let d = match to {
            Hop::Cloud => Delivery::ToCloudDatagram(source, destination, data),
            Hop::Engine => Delivery::ToEngineDatagram(source, destination, data),
            Hop::Turn => Delivery::ToTurnDatagram(source, destination, data),
        };
        self.push(at, d);
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        let mut t = self.queue.peek().map(|Reverse((at, _, _))| *at);
        let eng = match self.engine.poll_output() {
            Output::Timeout(at) => Some(at),
            other => {
                // pump() drains before this is called; keep anything we pulled.
                self.requeue(other);
                Some(self.now)
            }
        };
        let now = self.now;
        let turn = self.turn.as_mut().map(|t| t.poll_timeout(now));
        for x in [eng, self.cloud.poll_timeout(), self.audio_next, turn]
            .into_iter()
            .flatten()
        {
            t = Some(t.map_or(x, |t: Instant| t.min(x)));
        }
        t
    }

    fn requeue(&mut self, o: Output) {
        match o {
            Output::Event(e) => self.events.push((self.now, e)),
            Output::Transmit(t) => self.on_transmit(t),
            Output::Timeout(_) => {}
        }
    }

    /// Runs one step, not past `limit`.
    pub fn step(&mut self, limit: Instant) -> StepResult {
        self.pump();
        let Some(next) = self.next_deadline().filter(|t| *t <= limit) else {
            self.now = self.now.max(limit);
            self.engine.handle_input(Input::Timeout(self.now));
            self.cloud.handle_timeout(self.now);
            if let Some(t) = self.turn.as_mut() {
                t.handle_timeout(self.now);
            }
            self.pump();
            return StepResult::Idle;
        };
        self.now = self.now.max(next);
        let now = self.now;
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, _, d))) = self.queue.pop() else {
                break;
            };
            self.deliver(d);
            self.pump();
        }
        if self.audio_next.is_some_and(|t| now >= t) {
            self.audio_tick();
            self.audio_next = Some(now + AUDIO_TICK);
        }
        self.engine.handle_input(Input::Timeout(now));
        self.cloud.handle_timeout(now);
        if let Some(t) = self.turn.as_mut() {
            t.handle_timeout(now);
        }
        self.pump();
        StepResult::Progressed(now)
    }

    fn deliver(&mut self, d: Delivery) {
        let now = self.now;
        match d {
            Delivery::CloudAccept(id) => self.cloud.on_connect(now, CloudConn(id)),
            Delivery::EngineConnected(id) => {
                if self.open.contains_key(&id) {
                    self.engine
                        .handle_input(Input::Connected(now, EngineConn(id)))
                } else {
                    self.engine.handle_input(Input::ConnectFailed(
                        now,
                        EngineConn(id),
                        ConnectFailure {
                            kind: ErrorKind::ConnectionReset,
                            detail: "reset during connect".into(),
                        },
                    ))
                }
            }
            Delivery::EngineConnectFailed(id) => self.engine.handle_input(Input::ConnectFailed(
                now,
                EngineConn(id),
                ConnectFailure {
                    kind: ErrorKind::ConnectionRefused,
                    detail: "connection refused".into(),
                },
            )),
            Delivery::ToCloud(id, data) => self.cloud.on_data(now, CloudConn(id), &data),
            Delivery::ToEngine(id, data) => {
                self.engine
                    .handle_input(Input::Received(now, EngineConn(id), &data))
            }
            Delivery::CloudClosed(id) => self.cloud.on_close(now, CloudConn(id)),
            Delivery::EngineClosed(id) => {
                self.engine.handle_input(Input::Closed(now, EngineConn(id)))
            }
            Delivery::ToCloudDatagram(source, destination, data) => {
                self.cloud.on_datagram(now, source, destination, &data)
            }
            Delivery::ToTurnDatagram(source, destination, data) => {
                if let Some(t) = self.turn.as_mut() {
                    t.handle_datagram(now, source, destination, &data);
                }
            }
            Delivery::Resolved(host, addrs) => {
                self.engine
                    .handle_input(Input::HostResolved { now, host, addrs })
            }
            // A socket closed meanwhile gets nothing.
            Delivery::ToEngineDatagram(source, destination, data)
                if self.udp.contains_key(&destination) =>
            {
                self.engine.handle_input(Input::Datagram {
                    now,
                    source,
                    destination,
                    data: &data,
                })
            }
            Delivery::ToEngineDatagram(..) => {}
            Delivery::UdpBind(id) => {
                let socket = UdpSocketId(id);
                match self.udp_pending.remove(&id) {
                    Some(Ok(local)) => {
                        self.engine
                            .handle_input(Input::UdpBound { now, socket, local })
                    }
                    Some(Err(kind)) => {
                        self.engine
                            .handle_input(Input::UdpBindFailed { now, socket, kind })
                    }
                    None => {}
                }
            }
        }
    }

    /// Runs until virtual time `limit`.
    pub fn run_until(&mut self, limit: Instant) {
        let mut guard = 0u32;
        while self.now < limit {
            if self.step(limit) == StepResult::Idle {
                break;
            }
            guard += 1;
            if guard > 5_000_000 {
                break;
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        self.run_until(limit);
    }

    /// Runs until an event matching `pred` is emitted (returning its index in
    /// [`SimNetwork::events`]) or `timeout` of virtual time passes.
    pub fn run_until_event(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&SdkEvent) -> bool,
    ) -> Option<usize> {
        let start_len = self.events.len();
        let limit = self.now + timeout;
        let mut checked = start_len;
        loop {
            if let Some(i) = self.events[checked..].iter().position(|(_, e)| pred(e)) {
                return Some(checked + i);
            }
            checked = self.events.len();
            if self.now >= limit {
                return None;
            }
            if self.step(limit) == StepResult::Idle && self.events.len() == checked {
                return None;
            }
        }
    }
}
