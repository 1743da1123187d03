//! Byte streams (for HTTPS and the streaming WebSocket) and UDP sockets (for media).
//!
//! HTTP/1.1 and WebSocket framing live in the SDK core on top of a [`Connector::Stream`], so a
//! firmware only has to bring TCP and TLS.

use core::future::Future;
use std::net::{IpAddr, SocketAddr};

use crate::ErrorType;

/// Whether a stream is wrapped in TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Security {
    /// TLS with full certificate verification against the backend's trust roots. The server name
    /// is the endpoint's host.
    Tls,
    /// A plain TCP stream. Only used for `http://`/`ws://` hosts the application configured
    /// explicitly, and by the in-memory simulator.
    Plain,
}

/// Where to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint<'a> {
    /// Host name or IP literal (without brackets for IPv6).
    pub host: &'a str,
    /// TCP port.
    pub port: u16,
    /// TLS or plain.
    pub security: Security,
}

/// Opens byte streams to hosts.
///
/// The returned stream carries bytes both ways; reading `0` bytes means the peer closed it.
/// Implementations verify TLS certificates against their configured roots and never offer a way
/// to skip that check.
pub trait Connector: ErrorType {
    /// The connected stream.
    type Stream: embedded_io_async::Read + embedded_io_async::Write;

    /// Resolves `endpoint.host`, connects, and completes the TLS handshake when asked to.
    fn connect(
        &self,
        endpoint: Endpoint<'_>,
    ) -> impl Future<Output = Result<Self::Stream, Self::Error>>;
}

/// One bound UDP socket.
pub trait UdpSocket: ErrorType {
    /// The address this socket is bound to.
    fn local_addr(&self) -> Result<SocketAddr, Self::Error>;

    /// Sends one datagram to `target`.
    fn send_to(
        &self,
        datagram: &[u8],
        target: SocketAddr,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Receives one datagram into `buf`, returning its length and sender. A datagram longer than
    /// `buf` is truncated.
    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = Result<(usize, SocketAddr), Self::Error>>;
}

/// Creates UDP sockets and lists the addresses media may use.
pub trait UdpStack: ErrorType {
    /// The socket type.
    type Socket: UdpSocket;

    /// Binds a socket to `addr` (port 0 picks a free port). The SDK binds one socket per call
    /// and media address when the call is answered, and drops it when the call's media is gone.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = Result<Self::Socket, Self::Error>>;

    /// The local interface addresses host candidates can be gathered on.
    fn local_addresses(&self) -> Result<Vec<IpAddr>, Self::Error>;

    /// Resolves a host name (of a STUN or TURN server) to addresses.
    fn resolve(&self, host: &str) -> impl Future<Output = Result<Vec<IpAddr>, Self::Error>>;
}
