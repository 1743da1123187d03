//! The async facade: [`Sdk`] (a cheap, cloneable handle with the JS SDK's methods) and
//! [`SdkDriver`] (the future that owns the [`Engine`] and drives it with a [`Platform`]).
//!
//! Runtime-agnostic: it uses only `futures`. The driver spawns nothing; every connection is a
//! future polled inside [`SdkDriver::run`], which the application (or a backend helper such as
//! the smol backend's `spawn_sdk`) runs on its executor of choice.

use std::pin::pin;
use std::time::Instant;

use embedded_io_async::{Read as _, Write as _};
use futures::channel::{mpsc, oneshot};
use futures::future::FusedFuture as _;
use futures::future::{Either, LocalBoxFuture};
use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, Stream, StreamExt as _};
use genesys_webrtc_hal::{
    Clock, Connector, Endpoint, Error as _, Security, UdpSocket as _, UdpStack,
};

use crate::devices::DeviceRequest;
use crate::engine::{
    AcceptSessionOptions, ConnId, ConnectFailure, ConnectionError, DefaultDevicesUpdate, Engine,
    InitializeError, InitializeOptions, Input, MediaRoute, OutgoingMediaUpdate, Output,
    SessionError, StartSoftphoneParams, Transmit, UdpSocketId,
};
use crate::events::SdkEvent;
use crate::options::SdkOptions;
use crate::redact::Secret;

/// Read buffer per connection.
const READ_BUFFER: usize = 16 * 1024;

/// What a platform gives the SDK: a clock, a connector and UDP for media.
pub trait Platform {
    /// The clock.
    type Clock: Clock;
    /// The byte-stream connector.
    type Connector: Connector;
    /// UDP sockets for media.
    type Udp: UdpStack;
    /// The platform clock.
    fn clock(&self) -> &Self::Clock;
    /// The platform connector.
    fn connector(&self) -> &Self::Connector;
    /// The platform UDP stack.
    fn udp(&self) -> &Self::Udp;
    /// A random seed for ids, WebSocket keys and masks (the simulator passes a fixed one).
    fn random_seed(&self) -> u64;
}

enum Command {
    Initialize(
        InitializeOptions,
        oneshot::Sender<Result<(), InitializeError>>,
    ),
    Disconnect(oneshot::Sender<()>),
    Reconnect(oneshot::Sender<Result<(), ConnectionError>>),
    Subscribe(mpsc::UnboundedSender<SdkEvent>),
    SetAccessToken(Secret),
    Session(SessionCommand, oneshot::Sender<Result<(), SessionError>>),
    PlaceCall(
        Box<StartSoftphoneParams>,
        oneshot::Sender<Result<String, SessionError>>,
    ),
    CaptureFrame(Vec<i16>),
    PlayoutFrame(oneshot::Sender<Vec<i16>>),
    ExchangeFrames(Option<Vec<i16>>, oneshot::Sender<Vec<i16>>),
    MediaRoute(oneshot::Sender<MediaRoute>),
    UpdateDefaultDevices(DefaultDevicesUpdate),
    DeviceError(String),
}

enum SessionCommand {
    AcceptPending(String),
    RejectPending(String),
    Accept(String, AcceptSessionOptions),
    End(String),
    Mute(String, bool, DeviceRequest),
    OutgoingMedia(String, OutgoingMediaUpdate),
    OutputDevice(DeviceRequest),
    Hold(String, bool),
    Dtmf(String, String),
}

/// Handle to a running SDK. Clone it freely; every clone talks to the same driver.
#[derive(Clone)]
pub struct Sdk {
    commands: mpsc::UnboundedSender<Command>,
}

/// The stream of [`SdkEvent`]s from one [`Sdk::events`] call.
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<SdkEvent>,
}

impl Stream for EventStream {
    type Item = SdkEvent;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<SdkEvent>> {
        self.rx.poll_next_unpin(cx)
    }
}

impl Sdk {
    /// Creates the SDK for `platform`. Run the returned driver (`driver.run().await`) on any
    /// executor; the handle's methods work while it runs.
    pub fn new<P: Platform>(platform: P, options: SdkOptions) -> (Sdk, SdkDriver<P>) {
        let (tx, rx) = mpsc::unbounded();
        let now = platform.clock().now();
        let engine = Engine::new(options, now, platform.random_seed());
        (
            Sdk { commands: tx },
            SdkDriver {
                platform,
                engine,
                commands: rx,
            },
        )
    }

    /// Subscribes to events from now on. Subscribe before `initialize` to see every event.
    pub fn events(&self) -> EventStream {
        let (tx, rx) = mpsc::unbounded();
        let _ = self.commands.unbounded_send(Command::Subscribe(tx));
        EventStream { rx }
    }

    /// JS `initialize()`: completes once the SDK is ready (REST bootstrap done, streaming
    /// connection up, station loaded) or failed.
    pub async fn initialize(&self, options: InitializeOptions) -> Result<(), InitializeError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .unbounded_send(Command::Initialize(options, tx))
            .map_err(|_| InitializeError::DriverStopped)?;
        rx.await.unwrap_or(Err(InitializeError::DriverStopped))
    }

    /// JS `disconnect()`: completes when the socket is closed (at most about 5 s).
    pub async fn disconnect(&self) {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .unbounded_send(Command::Disconnect(tx))
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// JS `reconnect()`: drops the socket and connects again with a new channel.
    pub async fn reconnect(&self) -> Result<(), ConnectionError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .unbounded_send(Command::Reconnect(tx))
            .map_err(|_| ConnectionError::DriverStopped)?;
        rx.await.unwrap_or(Err(ConnectionError::DriverStopped))
    }

    async fn session(&self, cmd: SessionCommand) -> Result<(), SessionError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .unbounded_send(Command::Session(cmd, tx))
            .map_err(|_| SessionError::DriverStopped)?;
        rx.await.unwrap_or(Err(SessionError::DriverStopped))
    }

    /// JS `acceptPendingSession`: answers a [`SdkEvent::PendingSession`] (JMI `proceed`).
    /// [`SessionError::NotConnected`] while the streaming connection is down (the `proceed`
    /// could not be sent); the session stays pending, so accept again after `connected`.
    pub async fn accept_pending_session(&self, id: &str) -> Result<(), SessionError> {
        self.session(SessionCommand::AcceptPending(id.into())).await
    }

    /// JS `rejectPendingSession` (softphone: REST voicemail/disconnect; others: JMI `reject`).
    pub async fn reject_pending_session(&self, id: &str) -> Result<(), SessionError> {
        self.session(SessionCommand::RejectPending(id.into())).await
    }

    /// JS `acceptSession({ id })`: answers the offer when `auto_connect_sessions` is off, with
    /// the SDK default devices.
    pub async fn accept_session(&self, id: &str) -> Result<(), SessionError> {
        self.accept_session_with(id, AcceptSessionOptions::default())
            .await
    }

    /// JS `acceptSession({ id, audioDeviceId, videoDeviceId, mediaStream })`: answers the offer
    /// and routes the chosen devices by the Device ID rules ([`crate::devices`]).
    pub async fn accept_session_with(
        &self,
        id: &str,
        options: AcceptSessionOptions,
    ) -> Result<(), SessionError> {
        self.session(SessionCommand::Accept(id.into(), options))
            .await
    }

    /// JS `endSession({ id } or { conversationId })`.
    pub async fn end_session(&self, id_or_conversation_id: &str) -> Result<(), SessionError> {
        self.session(SessionCommand::End(id_or_conversation_id.into()))
            .await
    }

    /// JS `setAudioMute({ id, mute })`.
    pub async fn set_audio_mute(&self, id: &str, mute: bool) -> Result<(), SessionError> {
        self.set_audio_mute_with(id, mute, DeviceRequest::Unchanged)
            .await
    }

    /// JS `setAudioMute({ id, mute, unmuteDeviceId })`: on unmute, a request other than
    /// `Unchanged` also switches the microphone.
    pub async fn set_audio_mute_with(
        &self,
        id: &str,
        mute: bool,
        unmute_device_id: DeviceRequest,
    ) -> Result<(), SessionError> {
        self.session(SessionCommand::Mute(id.into(), mute, unmute_device_id))
            .await
    }

    /// JS `updateOutgoingMedia({ sessionId, audioDeviceId, videoDeviceId, stream })`: switches
    /// the microphone (or camera) without renegotiating.
    pub async fn update_outgoing_media(
        &self,
        session_id: &str,
        update: OutgoingMediaUpdate,
    ) -> Result<(), SessionError> {
        self.session(SessionCommand::OutgoingMedia(session_id.into(), update))
            .await
    }

    /// JS `updateOutputDevice(deviceId)`: moves received audio of all sessions to this speaker.
    pub async fn update_output_device(&self, device: DeviceRequest) -> Result<(), SessionError> {
        self.session(SessionCommand::OutputDevice(device)).await
    }

    /// JS `updateDefaultDevices({ …, updateActiveSessions })`.
    pub fn update_default_devices(&self, update: DefaultDevicesUpdate) {
        let _ = self
            .commands
            .unbounded_send(Command::UpdateDefaultDevices(update));
    }

    /// The devices the audio loop should use now (read by
    /// [`crate::local_audio::run_audio_devices`]).
    pub async fn media_route(&self) -> Result<MediaRoute, SessionError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .unbounded_send(Command::MediaRoute(tx))
            .map_err(|_| SessionError::DriverStopped)?;
        rx.await.map_err(|_| SessionError::DriverStopped)
    }

    /// Reports a device problem seen outside the SDK (the audio loop): it reaches the
    /// application as an [`SdkEvent::Error`] of kind `Media`.
    pub fn report_device_error(&self, details: impl Into<String>) {
        let _ = self
            .commands
            .unbounded_send(Command::DeviceError(details.into()));
    }

    /// Holds or resumes a softphone call.
    pub async fn set_hold(&self, id: &str, hold: bool) -> Result<(), SessionError> {
        self.session(SessionCommand::Hold(id.into(), hold)).await
    }

    /// Sends DTMF digits (`0-9 * # A-D`) as RFC 4733 events on a session.
    pub async fn send_dtmf(&self, id: &str, digits: &str) -> Result<(), SessionError> {
        self.session(SessionCommand::Dtmf(id.into(), digits.into()))
            .await
    }

    /// JS `startSoftphoneSession`: places a call; returns the conversation id. The call then
    /// arrives as a pending session with `auto_answer`.
    pub async fn start_softphone_session(
        &self,
        params: StartSoftphoneParams,
    ) -> Result<String, SessionError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .unbounded_send(Command::PlaceCall(Box::new(params), tx))
            .map_err(|_| SessionError::DriverStopped)?;
        rx.await.unwrap_or(Err(SessionError::DriverStopped))
    }

    /// Feeds one captured 20 ms frame (960 samples, 48 kHz mono) to every connected session.
    pub fn push_capture_frame(&self, frame: Vec<i16>) {
        let _ = self.commands.unbounded_send(Command::CaptureFrame(frame));
    }

    /// The next 20 ms of received audio (960 samples, 48 kHz mono), mixed over sessions.
    pub async fn pull_playout_frame(&self) -> Vec<i16> {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .unbounded_send(Command::PlayoutFrame(tx))
            .is_err()
        {
            return vec![0; crate::engine::FRAME_SAMPLES];
        }
        rx.await
            .unwrap_or_else(|_| vec![0; crate::engine::FRAME_SAMPLES])
    }

    /// One audio-loop tick in one round trip to the driver: feeds the captured 20 ms frame (if
    /// any, as [`Sdk::push_capture_frame`]) and returns the next 20 ms of received audio (as
    /// [`Sdk::pull_playout_frame`]). The driver is woken once per tick instead of twice, and it
    /// answers before it encodes the captured frame, so the caller does not wait for the
    /// encoder.
    pub async fn exchange_frames(&self, capture: Option<Vec<i16>>) -> Vec<i16> {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .unbounded_send(Command::ExchangeFrames(capture, tx))
            .is_err()
        {
            return vec![0; crate::engine::FRAME_SAMPLES];
        }
        rx.await
            .unwrap_or_else(|_| vec![0; crate::engine::FRAME_SAMPLES])
    }

    /// JS `setAccessToken()`.
    pub fn set_access_token(&self, token: impl Into<Secret>) {
        let _ = self
            .commands
            .unbounded_send(Command::SetAccessToken(token.into()));
    }
}

/// One call's media socket (see [`Transmit::BindUdp`]): its local address once bound, and the
/// queue of datagrams to send from it. Dropping it ends the socket's task, closing the socket.
struct UdpWriter {
    socket: UdpSocketId,
    local: Option<std::net::SocketAddr>,
    sends: mpsc::UnboundedSender<(std::net::SocketAddr, Vec<u8>)>,
}

enum ConnCommand {
    Write(Vec<u8>),
}

enum ConnEvent {
    Connected(ConnId),
    Failed(ConnId, ConnectFailure),
    Data(ConnId, Vec<u8>),
    Closed(ConnId),
    UdpBound(UdpSocketId, std::net::SocketAddr),
    UdpBindFailed(UdpSocketId, genesys_webrtc_hal::ErrorKind),
    Datagram {
        socket: UdpSocketId,
        source: std::net::SocketAddr,
        destination: std::net::SocketAddr,
        data: Vec<u8>,
    },
    Resolved(String, Vec<std::net::IpAddr>),
}

/// Owns the engine and drives it with the platform. Created by [`Sdk::new`].
pub struct SdkDriver<P: Platform> {
    platform: P,
    engine: Engine,
    commands: mpsc::UnboundedReceiver<Command>,
}

impl<P: Platform> SdkDriver<P> {
    /// Runs the SDK until every [`Sdk`] handle is dropped (then it disconnects and returns).
    pub async fn run(self) {
        let SdkDriver {
            platform,
            mut engine,
            mut commands,
        } = self;
        let clock = platform.clock();
        let connector = platform.connector();
        let (ev_tx, mut ev_rx) = mpsc::unbounded::<ConnEvent>();
        // Media sockets: each call gets its own, one per local address (or per configured bind
        // address), bound and closed when the engine asks.
        let mut udp_writers: Vec<UdpWriter> = Vec::new();
        let mut udp_tasks: FuturesUnordered<LocalBoxFuture<'_, ()>> = FuturesUnordered::new();
        let ips = if engine.options().media_bind_addresses.is_empty() {
            match platform.udp().local_addresses() {
                Ok(ips) => ips,
                Err(e) => {
                    tracing::warn!(kind = ?e.kind(), "no local addresses for media sockets");
                    Vec::new()
                }
            }
        } else {
            engine.options().media_bind_addresses.clone()
        };
        engine.set_media_ips(ips);
        let mut writers: Vec<(ConnId, mpsc::UnboundedSender<ConnCommand>)> = Vec::new();
        let mut tasks: FuturesUnordered<LocalBoxFuture<'_, ()>> = FuturesUnordered::new();
        let mut subscribers: Vec<mpsc::UnboundedSender<SdkEvent>> = Vec::new();
        let mut init_waiters: Vec<oneshot::Sender<Result<(), InitializeError>>> = Vec::new();
        let mut disconnect_waiters: Vec<oneshot::Sender<()>> = Vec::new();
        #[allow(clippy::type_complexity)]
        let mut place_waiters: Vec<(u64, oneshot::Sender<Result<String, SessionError>>)> =
            Vec::new();
        let mut shutting_down = false;
        // One sleep, kept across iterations while the engine's deadline stays the same: making
        // a new one each time registers a new timer with the platform (with smol, a reactor
        // notification that wakes the thread polling the reactor) for every input.
        let mut sleep = pin!(futures::future::Fuse::terminated());
        let mut armed: Option<Instant> = None;
        loop {
            // Drain the engine.
            let deadline = loop {
                match engine.poll_output() {
                    Output::Transmit(Transmit::Connect {
                        conn,
                        host,
                        port,
                        security,
                    }) => {
                        let (tx, rx) = mpsc::unbounded();
                        writers.push((conn, tx));
                        tasks.push(
                            run_connection(
                                connector,
                                conn,
                                host,
                                port,
                                security,
                                rx,
                                ev_tx.clone(),
                            )
                            .boxed_local(),
                        );
                    }
                    Output::Transmit(Transmit::Send { conn, data }) => {
                        if let Some((_, w)) = writers.iter().find(|(c, _)| *c == conn) {
                            let _ = w.unbounded_send(ConnCommand::Write(data));
                        }
                    }
                    Output::Transmit(Transmit::Close { conn }) => {
                        writers.retain(|(c, _)| *c != conn);
                    }
                    Output::Transmit(Transmit::ResolveHost { host }) => {
                        let udp = platform.udp();
                        let events = ev_tx.clone();
                        tasks.push(
                            async move {
                                let addrs = match udp.resolve(&host).await {
                                    Ok(a) => a,
                                    Err(e) => {
                                        tracing::debug!(kind = ?e.kind(), "ICE server name not resolved");
                                        Vec::new()
                                    }
                                };
                                let _ = events.unbounded_send(ConnEvent::Resolved(host, addrs));
                            }
                            .boxed_local(),
                        );
                    }
                    Output::Transmit(Transmit::BindUdp { socket, addr }) => {
                        let (tx, rx) = mpsc::unbounded();
                        udp_writers.push(UdpWriter {
                            socket,
                            local: None,
                            sends: tx,
                        });
                        udp_tasks.push(
                            bind_udp(platform.udp(), socket, addr, rx, ev_tx.clone()).boxed_local(),
                        );
                    }
                    Output::Transmit(Transmit::CloseUdp { socket }) => {
                        udp_writers.retain(|w| w.socket != socket);
                    }
                    Output::Transmit(Transmit::Datagram {
                        source,
                        destination,
                        data,
                    }) => {
                        if let Some(w) = udp_writers.iter().find(|w| w.local == Some(source)) {
                            let _ = w.sends.unbounded_send((destination, data));
                        }
                    }
                    Output::Event(event) => {
                        if matches!(
                            event,
                            SdkEvent::Disconnected {
                                reconnecting: false,
                                ..
                            }
                        ) {
                            for w in disconnect_waiters.drain(..) {
                                let _ = w.send(());
                            }
                        }
                        subscribers.retain(|s| s.unbounded_send(event.clone()).is_ok());
                    }
                    Output::Timeout(t) => break t,
                }
            };
            let mut done = Vec::new();
            for (i, (id, _)) in place_waiters.iter().enumerate() {
                if let Some(r) = engine.take_place_call_result(*id) {
                    done.push((i, r));
                }
            }
            for (i, r) in done.into_iter().rev() {
                let (_, w) = place_waiters.remove(i);
                let _ = w.send(r.map_err(|e| SessionError::InvalidInput {
                    what: "start_softphone_session",
                    reason: e.to_string(),
                }));
            }
            if let Some(result) = engine.take_initialize_result() {
                for w in init_waiters.drain(..) {
                    let _ = w.send(result.clone());
                }
            }
            if engine.is_idle() {
                for w in disconnect_waiters.drain(..) {
                    let _ = w.send(());
                }
                if shutting_down {
                    return;
                }
            }

            if armed != Some(deadline) || sleep.is_terminated() {
                sleep.set(clock.sleep_until(deadline).fuse());
                armed = Some(deadline);
            }
            let step = futures::select_biased! {
                cmd = commands.next() => Step::Command(cmd),
                ev = ev_rx.next() => Step::Conn(ev),
                _ = tasks.select_next_some() => Step::Nothing,
                _ = udp_tasks.select_next_some() => Step::Nothing,
                _ = sleep.as_mut() => Step::Timer,
            };
            let now: Instant = clock.now();
            match step {
                Step::Command(Some(cmd)) => match cmd {
                    Command::Initialize(opts, reply) => match engine.initialize(now, opts) {
                        Ok(()) => init_waiters.push(reply),
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    },
                    Command::Disconnect(reply) => {
                        engine.disconnect(now);
                        disconnect_waiters.push(reply);
                    }
                    Command::Reconnect(reply) => {
                        let _ = reply.send(engine.reconnect(now));
                    }
                    Command::Subscribe(tx) => subscribers.push(tx),
                    Command::SetAccessToken(t) => engine.set_access_token(t),
                    Command::Session(cmd, reply) => {
                        let r = match cmd {
                            SessionCommand::AcceptPending(id) => {
                                engine.accept_pending_session(now, &id)
                            }
                            SessionCommand::RejectPending(id) => {
                                engine.reject_pending_session(now, &id)
                            }
                            SessionCommand::Accept(id, o) => {
                                engine.accept_session_with(now, &id, o)
                            }
                            SessionCommand::End(id) => engine.end_session(now, &id),
                            SessionCommand::Mute(id, m, d) => {
                                engine.set_audio_mute_with(now, &id, m, d)
                            }
                            SessionCommand::OutgoingMedia(id, u) => {
                                engine.update_outgoing_media(now, &id, u)
                            }
                            SessionCommand::OutputDevice(d) => engine.update_output_device(now, d),
                            SessionCommand::Hold(id, h) => engine.set_hold(now, &id, h),
                            SessionCommand::Dtmf(id, d) => engine.send_dtmf(now, &id, &d),
                        };
                        let _ = reply.send(r);
                    }
                    Command::PlaceCall(params, reply) => {
                        match engine.start_softphone_session(now, &params) {
                            Ok(request) => place_waiters.push((request, reply)),
                            Err(e) => {
                                let _ = reply.send(Err(e));
                            }
                        }
                    }
                    Command::CaptureFrame(frame) => engine.push_capture_frame(now, &frame),
                    Command::PlayoutFrame(reply) => {
                        let _ = reply.send(engine.pull_playout_frame(now));
                    }
                    Command::ExchangeFrames(frame, reply) => {
                        let _ = reply.send(engine.pull_playout_frame(now));
                        if let Some(frame) = frame {
                            engine.push_capture_frame(now, &frame);
                        }
                    }
                    Command::MediaRoute(reply) => {
                        let _ = reply.send(engine.media_route().clone());
                    }
                    Command::UpdateDefaultDevices(u) => engine.update_default_devices(now, u),
                    Command::DeviceError(d) => engine.report_device_error(now, d),
                },
                Step::Command(None) => {
                    if !shutting_down {
                        shutting_down = true;
                        engine.disconnect(now);
                    }
                }
                Step::Conn(Some(ev)) => match ev {
                    ConnEvent::Connected(c) => engine.handle_input(Input::Connected(now, c)),
                    ConnEvent::Failed(c, f) => {
                        writers.retain(|(w, _)| *w != c);
                        engine.handle_input(Input::ConnectFailed(now, c, f))
                    }
                    ConnEvent::Data(c, d) => engine.handle_input(Input::Received(now, c, &d)),
                    ConnEvent::Resolved(host, addrs) => {
                        engine.handle_input(Input::HostResolved { now, host, addrs })
                    }
                    ConnEvent::UdpBound(socket, local) => {
                        if let Some(w) = udp_writers.iter_mut().find(|w| w.socket == socket) {
                            w.local = Some(local);
                        }
                        engine.handle_input(Input::UdpBound { now, socket, local })
                    }
                    ConnEvent::UdpBindFailed(socket, kind) => {
                        udp_writers.retain(|w| w.socket != socket);
                        engine.handle_input(Input::UdpBindFailed { now, socket, kind })
                    }
                    ConnEvent::Datagram {
                        socket,
                        source,
                        destination,
                        data,
                    } => {
                        // A closed socket's last datagrams may still be queued: not reported.
                        if udp_writers.iter().any(|w| w.socket == socket) {
                            engine.handle_input(Input::Datagram {
                                now,
                                source,
                                destination,
                                data: &data,
                            })
                        }
                    }
                    ConnEvent::Closed(c) => {
                        writers.retain(|(w, _)| *w != c);
                        engine.handle_input(Input::Closed(now, c))
                    }
                },
                Step::Conn(None) | Step::Nothing => {}
                Step::Timer => engine.handle_input(Input::Timeout(now)),
            }
        }
    }
}

enum Step {
    Command(Option<Command>),
    Conn(Option<ConnEvent>),
    Nothing,
    Timer,
}

/// Binds one call's media socket and reports the outcome; a bound socket then runs
/// ([`run_udp`]) until the engine closes it. The socket itself lives in `udp_tasks`, so the
/// driver can drop its writer to close it.
async fn bind_udp<U: UdpStack>(
    udp: &U,
    socket: UdpSocketId,
    addr: std::net::SocketAddr,
    sends: mpsc::UnboundedReceiver<(std::net::SocketAddr, Vec<u8>)>,
    events: mpsc::UnboundedSender<ConnEvent>,
) {
    let bound = match udp.bind(addr).await {
        Ok(sock) => match sock.local_addr() {
            Ok(local) => Ok((sock, local)),
            Err(e) => Err(e.kind()),
        },
        Err(e) => Err(e.kind()),
    };
    match bound {
        Ok((sock, local)) => {
            let _ = events.unbounded_send(ConnEvent::UdpBound(socket, local));
            run_udp(sock, socket, local, sends, events).await;
        }
        Err(kind) => {
            tracing::warn!(?kind, "could not bind a media socket");
            let _ = events.unbounded_send(ConnEvent::UdpBindFailed(socket, kind));
        }
    }
}

/// One media socket: sends what the engine asks, reports what arrives, until the engine closes
/// it (its send queue ends).
async fn run_udp<S: genesys_webrtc_hal::UdpSocket>(
    sock: S,
    socket: UdpSocketId,
    local: std::net::SocketAddr,
    mut sends: mpsc::UnboundedReceiver<(std::net::SocketAddr, Vec<u8>)>,
    events: mpsc::UnboundedSender<ConnEvent>,
) {
    let mut buf = vec![0u8; 2048];
    let mut errors_in_a_row = 0u32;
    loop {
        // The receive stays pending while datagrams are sent: dropping and re-creating it for
        // every send would cost a failed `recvfrom` and a new readiness registration each time.
        let received = {
            let mut recv = pin!(sock.recv_from(&mut buf));
            loop {
                match futures::future::select(sends.next(), recv.as_mut()).await {
                    Either::Left((Some((dest, data)), _)) => {
                        if let Err(e) = sock.send_to(&data, dest).await {
                            tracing::debug!(kind = ?e.kind(), "media datagram not sent");
                        }
                    }
                    Either::Left((None, _)) => return,
                    Either::Right((r, _)) => break r.map_err(|_| ()),
                }
            }
        };
        match received {
            Ok((n, source)) => {
                errors_in_a_row = 0;
                let data = buf.get(..n).unwrap_or(&[]).to_vec();
                let _ = events.unbounded_send(ConnEvent::Datagram {
                    socket,
                    source,
                    destination: local,
                    data,
                });
            }
            Err(()) => {
                // ICMP errors (port unreachable) surface here on some systems: keep going,
                // unless the socket is plainly broken.
                errors_in_a_row += 1;
                if errors_in_a_row > 100 {
                    tracing::warn!("media socket keeps failing; closing it");
                    return;
                }
            }
        }
    }
}

/// One connection: connect, then shuttle bytes until either side closes.
async fn run_connection<C: Connector>(
    connector: &C,
    conn: ConnId,
    host: String,
    port: u16,
    security: Security,
    mut writes: mpsc::UnboundedReceiver<ConnCommand>,
    events: mpsc::UnboundedSender<ConnEvent>,
) {
    let endpoint = Endpoint {
        host: &host,
        port,
        security,
    };
    let mut stream = match connector.connect(endpoint).await {
        Ok(s) => s,
        Err(e) => {
            let kind = e.kind();
            let _ = events.unbounded_send(ConnEvent::Failed(
                conn,
                ConnectFailure {
                    kind,
                    detail: format!("{kind:?}"),
                },
            ));
            return;
        }
    };
    let _ = events.unbounded_send(ConnEvent::Connected(conn));
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let action = {
            let read = pin!(stream.read(&mut buf).fuse());
            let write = writes.next();
            match futures::future::select(write, read).await {
                Either::Left((cmd, _)) => Either::Left(cmd),
                Either::Right((res, _)) => Either::Right(res.map_err(|_| ())),
            }
        };
        match action {
            Either::Left(Some(ConnCommand::Write(data))) => {
                if stream.write_all(&data).await.is_err() || stream.flush().await.is_err() {
                    let _ = events.unbounded_send(ConnEvent::Closed(conn));
                    return;
                }
            }
            // The engine closed the connection: drop the stream.
            Either::Left(None) => return,
            Either::Right(Ok(0)) | Either::Right(Err(())) => {
                let _ = events.unbounded_send(ConnEvent::Closed(conn));
                return;
            }
            Either::Right(Ok(n)) => {
                let data = buf.get(..n).unwrap_or(&[]).to_vec();
                let _ = events.unbounded_send(ConnEvent::Data(conn, data));
            }
        }
    }
}
