//! TCP and TLS byte streams: the [`genesys_webrtc_hal::Connector`] of the smol backend.
//!
//! Owns name resolution, the TCP connect (with `TCP_NODELAY`), the TLS handshake with
//! certificate verification against [`TlsRoots`](crate::TlsRoots), and the mapping of failures
//! onto [`ErrorKind`]. Does not speak HTTP or WebSocket; the SDK core frames bytes on top.

use core::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_net::TcpStream;
use futures::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use futures_rustls::client::TlsStream;
use futures_rustls::TlsConnector;
use genesys_webrtc_hal::{Connector, Endpoint, Error, ErrorKind, ErrorType, Security};
use rustls_pki_types::ServerName;

use crate::TlsRoots;

/// The default limit for resolving, connecting and the TLS handshake together.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why [`SmolConnector::connect`](Connector::connect) failed.
///
/// Messages name the host and port, never credentials. [`Error::kind`] says what generic code
/// should make of it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The host name could not be resolved ([`ErrorKind::NotFound`]).
    #[error("could not resolve host {host:?}")]
    Resolve {
        /// The host asked for.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The host name resolved to no address at all ([`ErrorKind::NotFound`]).
    #[error("host {host:?} has no address")]
    NoAddress {
        /// The host asked for.
        host: String,
    },
    /// Every address refused or failed the TCP connect (kind from the last OS error).
    #[error("TCP connection to {host:?} port {port} failed")]
    Tcp {
        /// The host asked for.
        host: String,
        /// The port asked for.
        port: u16,
        /// The OS error for the last address tried.
        #[source]
        source: io::Error,
    },
    /// The host is neither a valid DNS name nor an IP literal, so TLS cannot check it
    /// ([`ErrorKind::InvalidInput`]).
    #[error("{host:?} is not a valid TLS server name")]
    InvalidServerName {
        /// The host asked for.
        host: String,
    },
    /// The TLS handshake failed: untrusted or mismatching certificate, protocol error, or the
    /// connection broke during the handshake ([`ErrorKind::Tls`], or
    /// [`ErrorKind::ConnectionReset`] when the peer hung up).
    #[error("TLS handshake with {host:?} failed")]
    Handshake {
        /// The host asked for.
        host: String,
        /// The error; wraps a [`rustls::Error`] when rustls rejected something.
        #[source]
        source: io::Error,
    },
    /// Resolving, connecting and the handshake took longer than the connector's limit
    /// ([`ErrorKind::TimedOut`]).
    #[error("connecting to {host:?} timed out after {after:?}")]
    TimedOut {
        /// The host asked for.
        host: String,
        /// The limit that passed.
        after: Duration,
    },
}

impl ConnectError {
    /// The rustls error behind a failed handshake, e.g.
    /// `InvalidCertificate(UnknownIssuer)`.
    pub fn tls_error(&self) -> Option<&rustls::Error> {
        match self {
            ConnectError::Handshake { source, .. } => source
                .get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>()),
            _ => None,
        }
    }
}

impl Error for ConnectError {
    fn kind(&self) -> ErrorKind {
        match self {
            ConnectError::Resolve { .. } | ConnectError::NoAddress { .. } => ErrorKind::NotFound,
            ConnectError::Tcp { source, .. } => crate::io_error_kind(source),
            ConnectError::InvalidServerName { .. } => ErrorKind::InvalidInput,
            ConnectError::Handshake { source, .. } => {
                if self.tls_error().is_some() {
                    return ErrorKind::Tls;
                }
                match source.kind() {
                    io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof => ErrorKind::ConnectionReset,
                    io::ErrorKind::TimedOut => ErrorKind::TimedOut,
                    _ => ErrorKind::Tls,
                }
            }
            ConnectError::TimedOut { .. } => ErrorKind::TimedOut,
        }
    }
}

/// Opens TCP streams, optionally wrapped in verified TLS, with smol's `async-net`.
///
/// Cheap to clone (the TLS configuration is shared).
#[derive(Clone)]
pub struct SmolConnector {
    tls: TlsConnector,
    roots: usize,
    connect_timeout: Option<Duration>,
}

impl core::fmt::Debug for SmolConnector {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SmolConnector")
            .field("roots", &self.roots)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for SmolConnector {
    fn default() -> Self {
        Self::new(&TlsRoots::webpki())
    }
}

impl SmolConnector {
    /// A connector trusting `roots`, with [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn new(roots: &TlsRoots) -> Self {
        SmolConnector {
            tls: TlsConnector::from(roots.client_config()),
            roots: roots.len(),
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
        }
    }

    /// Sets the limit for resolving, connecting and the TLS handshake together (`None`: wait
    /// as long as the OS does).
    pub fn with_connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The limit for one connect.
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    async fn connect_inner(
        &self,
        host: &str,
        port: u16,
        security: Security,
    ) -> Result<SmolStream, ConnectError> {
        let addrs =
            async_net::resolve((host, port))
                .await
                .map_err(|source| ConnectError::Resolve {
                    host: host.to_owned(),
                    source,
                })?;
        let tcp = connect_any(host, port, &addrs).await?;
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        match security {
            Security::Plain => {
                tracing::debug!(host, port, "connected (plain TCP)");
                Ok(SmolStream {
                    inner: Inner::Plain(tcp),
                })
            }
            Security::Tls => {
                let name = ServerName::try_from(host.to_owned()).map_err(|_| {
                    ConnectError::InvalidServerName {
                        host: host.to_owned(),
                    }
                })?;
                let tls = self.tls.connect(name, tcp).await.map_err(|source| {
                    ConnectError::Handshake {
                        host: host.to_owned(),
                        source,
                    }
                })?;
                tracing::debug!(host, port, "connected (TLS)");
                Ok(SmolStream {
                    inner: Inner::Tls(Box::new(tls)),
                })
            }
        }
    }
}

async fn connect_any(
    host: &str,
    port: u16,
    addrs: &[SocketAddr],
) -> Result<TcpStream, ConnectError> {
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect(*addr).await {
            Ok(stream) => return Ok(stream),
            Err(error) => {
                tracing::debug!(host, port, %error, "TCP connect attempt failed");
                last_error = Some(error);
            }
        }
    }
    match last_error {
        Some(source) => Err(ConnectError::Tcp {
            host: host.to_owned(),
            port,
            source,
        }),
        None => Err(ConnectError::NoAddress {
            host: host.to_owned(),
        }),
    }
}

impl ErrorType for SmolConnector {
    type Error = ConnectError;
}

impl Connector for SmolConnector {
    type Stream = SmolStream;

    fn connect(
        &self,
        endpoint: Endpoint<'_>,
    ) -> impl Future<Output = Result<Self::Stream, Self::Error>> {
        let Endpoint {
            host,
            port,
            security,
        } = endpoint;
        let timeout = self.connect_timeout;
        async move {
            let attempt = self.connect_inner(host, port, security);
            match timeout {
                None => attempt.await,
                Some(after) => {
                    smol::future::or(attempt, async {
                        smol::Timer::after(after).await;
                        Err(ConnectError::TimedOut {
                            host: host.to_owned(),
                            after,
                        })
                    })
                    .await
                }
            }
        }
    }
}

/// A connected byte stream, plain TCP or TLS over TCP.
///
/// Implements [`embedded_io_async::Read`] and [`embedded_io_async::Write`] (the HAL's stream
/// traits, with `std::io::Error` as the error) and the `futures` `AsyncRead`/`AsyncWrite`
/// traits. Writes may be buffered by TLS: call `flush` after a message. Reading `0` bytes means
/// the peer closed the stream (for TLS: with a `close_notify`; a TLS peer that drops the TCP
/// connection without one gives an `UnexpectedEof` error instead).
pub struct SmolStream {
    inner: Inner,
}

enum Inner {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl core::fmt::Debug for SmolStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SmolStream")
            .field("tls", &self.is_tls())
            .finish_non_exhaustive()
    }
}

impl SmolStream {
    /// Whether this stream is TLS-protected.
    pub fn is_tls(&self) -> bool {
        matches!(self.inner, Inner::Tls(_))
    }

    /// The ALPN protocol the server chose, if any (TLS only).
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Plain(_) => None,
            Inner::Tls(tls) => tls.get_ref().1.alpn_protocol(),
        }
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    /// Flushes, sends a TLS `close_notify` if this is TLS, and shuts down the write side.
    /// Reading can go on until the peer closes its side.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        AsyncWriteExt::close(self).await
    }

    fn tcp(&self) -> &TcpStream {
        match &self.inner {
            Inner::Plain(tcp) => tcp,
            Inner::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl AsyncRead for SmolStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Inner::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for SmolStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Inner::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Inner::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(tcp) => Pin::new(tcp).poll_close(cx),
            Inner::Tls(tls) => Pin::new(tls.as_mut()).poll_close(cx),
        }
    }
}

impl embedded_io_async::ErrorType for SmolStream {
    type Error = io::Error;
}

impl embedded_io_async::Read for SmolStream {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        poll_fn(|cx| Pin::new(&mut *self).poll_read(cx, buf)).await
    }
}

impl embedded_io_async::Write for SmolStream {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        match poll_fn(|cx| Pin::new(&mut *self).poll_write(cx, buf)).await {
            Ok(0) if !buf.is_empty() => Err(io::ErrorKind::WriteZero.into()),
            other => other,
        }
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        poll_fn(|cx| Pin::new(&mut *self).poll_flush(cx)).await
    }
}
