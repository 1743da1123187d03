//! Serves a [`FakeCloud`] over real HTTPS + WSS sockets on a loopback address.
//!
//! Owns the sockets, TLS termination (with a fresh [`TestCa`]), one background thread running a
//! smol executor, and the routing of bytes between connections and the one sans-IO
//! [`FakeCloud`]. Does not interpret any bytes: HTTP, WebSocket and XMPP are the cloud's
//! business.
//!
//! ## How it runs
//!
//! * The listener and every accepted connection run as tasks on a `LocalExecutor` in a thread
//!   named `fake-cloud`, so the server works from plain `#[test]`s and beside any runtime.
//! * Each connection that completes the TLS handshake gets a fresh [`ConnId`]; its task feeds
//!   bytes to the cloud and writes back what the cloud sends it through a channel. A
//!   [`CloudOutput::Close`] flushes what was queued, sends a TLS `close_notify` and closes the
//!   socket.
//! * The single [`FakeCloud`] sits behind a mutex so that [`FakeCloudServer::with_cloud`] can
//!   run a closure on it synchronously from the caller's thread. Every call into the cloud is
//!   followed by draining [`FakeCloud::poll_output`] and routing the outputs, and a driver task
//!   sleeps until [`FakeCloud::poll_timeout`] (re-armed after every call) to call
//!   [`FakeCloud::handle_timeout`].
//! * Dropping the server (or [`FakeCloudServer::shutdown`]) stops the thread, which drops the
//!   listener and every connection.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_net::{TcpListener, TcpStream, UdpSocket};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::TlsAcceptor;
use smol::channel::{self, Receiver, Sender};
use smol::{LocalExecutor, Timer};

use crate::cloud::{CloudConfig, CloudOutput, ConnId, FakeCloud};
use crate::test_ca::{TestCa, TestCaError};

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read from a connection per call into the cloud.
const READ_CHUNK: usize = 16 * 1024;
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The bind address is not a loopback address; the fake cloud only ever serves this machine.
    #[error("the fake cloud only binds loopback addresses, not {addr}")]
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The test CA or TLS configuration could not be made.
    #[error("could not create the TLS certificate")]
    Certificate(#[from] TestCaError),
    /// The listening socket could not be bound.
    #[error("could not listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The background thread could not be started.
    #[error("could not start the server thread")]
    Thread(#[source] io::Error),
}

/// A [`FakeCloud`] listening for HTTPS and WSS on a loopback address, on its own thread.
///
/// ```no_run
/// use genesys_webrtc_sim::cloud::CloudConfig;
/// use genesys_webrtc_sim::tls_server::FakeCloudServer;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = CloudConfig::for_environment("fake.genesys.test");
/// let server = FakeCloudServer::start(config, "127.0.0.1:0".parse()?)?;
/// server.write_ca_file(std::env::temp_dir().join("fake-cloud-ca.pem"))?;
/// println!("REST at {}, streaming at {}", server.api_host(), server.ws_host());
/// # Ok(())
/// # }
/// ```
pub struct FakeCloudServer {
    addr: SocketAddr,
    environment: String,
    ca_cert_pem: String,
    shared: Arc<Shared>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl core::fmt::Debug for FakeCloudServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FakeCloudServer")
            .field("addr", &self.addr)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl FakeCloudServer {
    /// Starts serving a [`FakeCloud`] made from `config` on `bind` (port 0 picks a free port).
    ///
    /// `bind` must be a loopback address. The server's certificate is issued by a new
    /// [`TestCa`] for `localhost`, `127.0.0.1`, `::1`, `api.{environment}` and
    /// `streaming.{environment}`; clients trust [`FakeCloudServer::ca_cert_pem`].
    pub fn start(config: CloudConfig, bind: SocketAddr) -> Result<FakeCloudServer, ServerError> {
        if !bind.ip().is_loopback() {
            return Err(ServerError::NotLoopback { addr: bind });
        }
        let environment = config.environment.clone();
        let ca = TestCa::generate(&TestCa::names_for_environment(&environment))?;
        let acceptor = TlsAcceptor::from(ca.server_config()?);

        let bind_error = |source| ServerError::Bind { addr: bind, source };
        let std_listener = StdTcpListener::bind(bind).map_err(bind_error)?;
        let addr = std_listener.local_addr().map_err(bind_error)?;
        let listener = TcpListener::try_from(std_listener).map_err(bind_error)?;

        // The media peer's UDP socket, on the same loopback address.
        let std_udp =
            std::net::UdpSocket::bind(SocketAddr::new(bind.ip(), 0)).map_err(bind_error)?;
        let media_addr = std_udp.local_addr().map_err(bind_error)?;
        let udp = UdpSocket::try_from(std_udp).map_err(bind_error)?;
        let (udp_tx, udp_rx) = channel::unbounded::<(SocketAddr, Vec<u8>)>();
        let mut cloud = FakeCloud::new(config);
        cloud.set_media_addr(media_addr);

        let (wake_tx, wake_rx) = channel::bounded(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                cloud,
                conns: HashMap::new(),
                next_conn: 1,
                udp: udp_tx,
            }),
            wake: wake_tx,
        });
        let (stop_tx, stop_rx) = channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("fake-cloud".to_owned())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(listener, acceptor, shared, wake_rx, stop_rx, udp, udp_rx)
            })
            .map_err(ServerError::Thread)?;
        tracing::info!(%addr, environment = %environment, "fake cloud listening");
        Ok(FakeCloudServer {
            addr,
            environment,
            ca_cert_pem: ca.ca_cert_pem,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The media peers' UDP address (every call's host candidate).
    pub fn media_addr(&self) -> SocketAddr {
        self.with_cloud(|c| c.media_addr())
    }

    /// The REST base to configure in the SDK, e.g. `https://127.0.0.1:40123`.
    pub fn api_host(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The streaming (WebSocket) base to configure in the SDK, e.g. `wss://127.0.0.1:40123`.
    pub fn ws_host(&self) -> String {
        format!("wss://{}", self.addr)
    }

    /// The environment the cloud was configured for.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The test CA certificate (PEM) that clients must trust.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// Writes [`FakeCloudServer::ca_cert_pem`] to `path`.
    pub fn write_ca_file(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, self.ca_cert_pem.as_bytes())
    }

    /// Runs `f` on the cloud (e.g. to inject a fault, push an event or read its log), then
    /// delivers whatever output that produced and re-arms the cloud's timer.
    ///
    /// Blocks briefly while the server thread is inside the cloud; do not call it from inside
    /// `f`.
    pub fn with_cloud<R>(&self, f: impl FnOnce(&mut FakeCloud) -> R) -> R {
        let result = {
            let mut state = self.shared.lock();
            let result = f(&mut state.cloud);
            state.route_outputs();
            result
        };
        self.shared.poke();
        result
    }

    /// Stops the server: closes the listener and every connection and ends the thread.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for FakeCloudServer {
    fn drop(&mut self) {
        // Dropping the sender ends the accept loop; the executor then drops every task.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!("the fake cloud server thread panicked");
            }
        }
        tracing::debug!(addr = %self.addr, "fake cloud stopped");
    }
}

/// What the server thread and the handle share.
struct Shared {
    state: Mutex<State>,
    /// Tells the timer task that the cloud was called, so its deadline may have moved.
    wake: Sender<()>,
}

struct State {
    cloud: FakeCloud,
    /// Write queues of the open connections.
    conns: HashMap<ConnId, Sender<ConnCommand>>,
    next_conn: u64,
    /// Datagrams the media peers send, to the UDP task.
    udp: Sender<(SocketAddr, Vec<u8>)>,
}

enum ConnCommand {
    Send(Vec<u8>),
    Close,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic inside `with_cloud`'s closure poisons the mutex; the state is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn poke(&self) {
        // Full means a wake-up is already pending; closed means the server stopped.
        let _ = self.wake.try_send(());
    }

    /// Registers a new connection and tells the cloud about it.
    fn connect(&self, queue: Sender<ConnCommand>) -> ConnId {
        let conn = {
            let mut state = self.lock();
            let conn = ConnId(state.next_conn);
            state.next_conn += 1;
            state.conns.insert(conn, queue);
            state.cloud.on_connect(Instant::now(), conn);
            state.route_outputs();
            conn
        };
        self.poke();
        conn
    }

    fn data(&self, conn: ConnId, data: &[u8]) {
        {
            let mut state = self.lock();
            state.cloud.on_data(Instant::now(), conn, data);
            state.route_outputs();
        }
        self.poke();
    }

    /// The connection is gone; tells the cloud unless the cloud closed it itself.
    fn closed(&self, conn: ConnId) {
        {
            let mut state = self.lock();
            if state.conns.remove(&conn).is_none() {
                return;
            }
            state.cloud.on_close(Instant::now(), conn);
            state.route_outputs();
        }
        self.poke();
    }

    fn datagram(&self, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        {
            let mut state = self.lock();
            state
                .cloud
                .on_datagram(Instant::now(), source, destination, data);
            state.route_outputs();
        }
        self.poke();
    }

    fn timeout(&self) {
        let mut state = self.lock();
        state.cloud.handle_timeout(Instant::now());
        state.route_outputs();
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.lock().cloud.poll_timeout()
    }
}

impl State {
    /// Drains the cloud's outputs into the connections' write queues.
    fn route_outputs(&mut self) {
        while let Some((_source, destination, data)) = self.cloud.poll_datagram() {
            let _ = self.udp.try_send((destination, data));
        }
        while let Some(output) = self.cloud.poll_output() {
            match output {
                CloudOutput::Send { conn, data } => match self.conns.get(&conn) {
                    Some(queue) => {
                        // The queue is unbounded; it only fails once the connection task ended,
                        // and then the connection is being closed anyway.
                        let _ = queue.try_send(ConnCommand::Send(data));
                    }
                    None => {
                        tracing::debug!(conn = conn.0, "dropping output for a closed connection");
                    }
                },
                CloudOutput::Close { conn } => {
                    if let Some(queue) = self.conns.remove(&conn) {
                        tracing::debug!(conn = conn.0, "cloud closes connection");
                        let _ = queue.try_send(ConnCommand::Close);
                    }
                }
            }
        }
    }
}

/// The server thread: the accept loop and the timer task on one executor, until `stop` closes.
fn run(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    wake: Receiver<()>,
    stop: Receiver<()>,
    udp: UdpSocket,
    udp_out: Receiver<(SocketAddr, Vec<u8>)>,
) {
    let executor = LocalExecutor::new();
    smol::block_on(executor.run(async {
        executor
            .spawn(drive_timeouts(Arc::clone(&shared), wake))
            .detach();
        executor
            .spawn(serve_media(udp, udp_out, Arc::clone(&shared)))
            .detach();
        let accept = accept_loop(&executor, &listener, &acceptor, &shared);
        smol::future::or(accept, async {
            // Nothing is ever sent: the handle dropping the sender ends the wait.
            let _ = stop.recv().await;
        })
        .await;
    }));
    // `executor` drops here, and with it every connection task and socket.
}

async fn accept_loop(
    executor: &LocalExecutor<'_>,
    listener: &TcpListener,
    acceptor: &TlsAcceptor,
    shared: &Arc<Shared>,
) {
    loop {
        match listener.accept().await {
            Ok((tcp, _peer)) => {
                executor
                    .spawn(serve_connection(tcp, acceptor.clone(), Arc::clone(shared)))
                    .detach();
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                Timer::after(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// The media peers' UDP socket: datagrams in go to the cloud, datagrams out are sent.
async fn serve_media(udp: UdpSocket, out: Receiver<(SocketAddr, Vec<u8>)>, shared: Arc<Shared>) {
    let Ok(local) = udp.local_addr() else {
        return;
    };
    let mut buf = vec![0u8; 2048];
    loop {
        enum Step {
            In(io::Result<(usize, SocketAddr)>),
            Out(Option<(SocketAddr, Vec<u8>)>),
        }
        let step = smol::future::or(async { Step::In(udp.recv_from(&mut buf).await) }, async {
            Step::Out(out.recv().await.ok())
        })
        .await;
        match step {
            Step::In(Ok((n, source))) => {
                if let Some(data) = buf.get(..n) {
                    shared.datagram(source, local, data);
                }
            }
            Step::In(Err(error)) => {
                tracing::debug!(%error, "media socket receive failed");
            }
            Step::Out(Some((destination, data))) => {
                if !destination.ip().is_loopback() {
                    tracing::warn!(%destination, "not sending media off this machine");
                    continue;
                }
                if let Err(error) = udp.send_to(&data, destination).await {
                    tracing::debug!(%error, "media datagram not sent");
                }
            }
            Step::Out(None) => return,
        }
    }
}

enum Wake {
    Deadline,
    Poked,
    Stopped,
}

/// Sleeps until the cloud's next deadline, re-reading it whenever the cloud was called.
async fn drive_timeouts(shared: Arc<Shared>, wake: Receiver<()>) {
    loop {
        let poked = async {
            match wake.recv().await {
                Ok(()) => Wake::Poked,
                Err(_) => Wake::Stopped,
            }
        };
        let reason = match shared.next_timeout() {
            Some(deadline) => {
                smol::future::or(
                    async {
                        Timer::at(deadline).await;
                        Wake::Deadline
                    },
                    poked,
                )
                .await
            }
            None => poked.await,
        };
        match reason {
            Wake::Deadline => shared.timeout(),
            Wake::Poked => {}
            Wake::Stopped => return,
        }
    }
}

async fn serve_connection(tcp: TcpStream, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    let handshake = smol::future::or(async { acceptor.accept(tcp).await.map_err(Some) }, async {
        Timer::after(HANDSHAKE_TIMEOUT).await;
        Err(None)
    });
    let tls = match handshake.await {
        Ok(tls) => tls,
        Err(Some(error)) => {
            tracing::debug!(%error, "TLS handshake with a client failed");
            return;
        }
        Err(None) => {
            tracing::debug!("TLS handshake with a client timed out");
            return;
        }
    };

    let (queue_tx, queue_rx) = channel::unbounded();
    let conn = shared.connect(queue_tx);
    tracing::debug!(conn = conn.0, "connection accepted");

    let (mut reader, mut writer) = tls.split();
    let read_side = async {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => return "client closed the connection",
                Ok(n) => match buf.get(..n) {
                    Some(data) => shared.data(conn, data),
                    None => return "read reported more bytes than the buffer holds",
                },
                Err(error) => {
                    tracing::debug!(conn = conn.0, %error, "read failed");
                    return "read failed";
                }
            }
        }
    };
    let write_side = async {
        while let Ok(command) = queue_rx.recv().await {
            match command {
                ConnCommand::Send(data) => {
                    if let Err(error) = write_and_flush(&mut writer, &data).await {
                        tracing::debug!(conn = conn.0, %error, "write failed");
                        return "write failed";
                    }
                }
                ConnCommand::Close => {
                    let _ = writer.close().await;
                    return "cloud closed the connection";
                }
            }
        }
        "write queue closed"
    };
    let why = smol::future::or(read_side, write_side).await;
    shared.closed(conn);
    tracing::debug!(conn = conn.0, why, "connection closed");
}

async fn write_and_flush(
    writer: &mut (impl futures::io::AsyncWrite + Unpin),
    data: &[u8],
) -> io::Result<()> {
    writer.write_all(data).await?;
    writer.flush().await
}
