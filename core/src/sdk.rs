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
use futures::future::{Either, LocalBoxFuture};
use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, Stream, StreamExt as _};
use genesys_webrtc_hal::{Clock, Connector, Endpoint, Error as _, Security};

use crate::engine::{
    ConnId, ConnectFailure, ConnectionError, Engine, InitializeError, InitializeOptions, Input,
    Output, Transmit,
};
use crate::events::SdkEvent;
use crate::options::SdkOptions;
use crate::redact::Secret;

/// Read buffer per connection.
const READ_BUFFER: usize = 16 * 1024;

/// What a platform gives the SDK: a clock and a connector (more traits join as media lands).
pub trait Platform {
    /// The clock.
    type Clock: Clock;
    /// The byte-stream connector.
    type Connector: Connector;
    /// The platform clock.
    fn clock(&self) -> &Self::Clock;
    /// The platform connector.
    fn connector(&self) -> &Self::Connector;
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

    /// JS `setAccessToken()`.
    pub fn set_access_token(&self, token: impl Into<Secret>) {
        let _ = self
            .commands
            .unbounded_send(Command::SetAccessToken(token.into()));
    }
}

enum ConnCommand {
    Write(Vec<u8>),
}

enum ConnEvent {
    Connected(ConnId),
    Failed(ConnId, ConnectFailure),
    Data(ConnId, Vec<u8>),
    Closed(ConnId),
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
        let mut writers: Vec<(ConnId, mpsc::UnboundedSender<ConnCommand>)> = Vec::new();
        let mut tasks: FuturesUnordered<LocalBoxFuture<'_, ()>> = FuturesUnordered::new();
        let mut subscribers: Vec<mpsc::UnboundedSender<SdkEvent>> = Vec::new();
        let mut init_waiters: Vec<oneshot::Sender<Result<(), InitializeError>>> = Vec::new();
        let mut disconnect_waiters: Vec<oneshot::Sender<()>> = Vec::new();
        let mut shutting_down = false;
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
                    Output::Transmit(Transmit::Datagram { .. }) => {
                        // UDP media lands with the facade's media support.
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

            let mut sleep = pin!(clock.sleep_until(deadline).fuse());
            let step = futures::select_biased! {
                cmd = commands.next() => Step::Command(cmd),
                ev = ev_rx.next() => Step::Conn(ev),
                _ = tasks.select_next_some() => Step::Nothing,
                _ = sleep => Step::Timer,
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
