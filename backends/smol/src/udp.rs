//! UDP sockets for media: the [`genesys_webrtc_hal::UdpStack`] of the smol backend.
//!
//! Owns binding `async-net` UDP sockets and listing the interface addresses ICE may gather host
//! candidates on. Does not do ICE, STUN or RTP; the SDK core does that with the datagrams.

use std::io;
use std::net::{IpAddr, SocketAddr};

use genesys_webrtc_hal::{Error, ErrorKind, ErrorType, UdpSocket, UdpStack};

/// Why a UDP operation failed. Messages never include peer addresses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UdpError {
    /// A host name could not be resolved ([`ErrorKind::NotFound`]).
    #[error("could not resolve a host name")]
    Resolve(#[source] io::Error),
    /// The socket could not be bound ([`ErrorKind::Busy`] when the port is in use).
    #[error("could not bind a UDP socket")]
    Bind(#[source] io::Error),
    /// The bound address could not be read.
    #[error("could not read the UDP socket's local address")]
    LocalAddr(#[source] io::Error),
    /// Sending a datagram failed.
    #[error("could not send a UDP datagram")]
    Send(#[source] io::Error),
    /// The OS sent fewer bytes than the datagram holds.
    #[error("sent {sent} of {len} datagram bytes")]
    ShortSend {
        /// Bytes the OS took.
        sent: usize,
        /// Bytes in the datagram.
        len: usize,
    },
    /// Receiving failed (on Linux, [`ErrorKind::ConnectionRefused`] can report an ICMP port
    /// unreachable for an earlier send).
    #[error("could not receive a UDP datagram")]
    Recv(#[source] io::Error),
    /// The interface addresses could not be listed.
    #[error("could not list the network interfaces")]
    Interfaces(#[source] io::Error),
}

impl Error for UdpError {
    fn kind(&self) -> ErrorKind {
        match self {
            UdpError::Bind(e) => match e.kind() {
                io::ErrorKind::AddrInUse => ErrorKind::Busy,
                io::ErrorKind::AddrNotAvailable => ErrorKind::InvalidInput,
                _ => crate::io_error_kind(e),
            },
            UdpError::LocalAddr(e)
            | UdpError::Send(e)
            | UdpError::Recv(e)
            | UdpError::Interfaces(e) => crate::io_error_kind(e),
            UdpError::ShortSend { .. } => ErrorKind::Other,
            UdpError::Resolve(_) => ErrorKind::NotFound,
        }
    }
}

/// Binds UDP sockets with `async-net` and lists interface addresses with `if-addrs`.
#[derive(Debug, Clone, Default)]
pub struct SmolUdp {
    include_loopback: bool,
}

impl SmolUdp {
    /// A stack whose [`UdpStack::local_addresses`] leaves out loopback addresses unless the
    /// machine has no other address.
    pub fn new() -> Self {
        SmolUdp {
            include_loopback: false,
        }
    }

    /// Whether loopback addresses (127.0.0.1, ::1) are always listed as local addresses, e.g.
    /// for tests against a peer on the same machine.
    pub fn with_loopback(mut self, include: bool) -> Self {
        self.include_loopback = include;
        self
    }
}

impl ErrorType for SmolUdp {
    type Error = UdpError;
}

impl UdpStack for SmolUdp {
    type Socket = SmolUdpSocket;

    async fn bind(&self, addr: SocketAddr) -> Result<Self::Socket, Self::Error> {
        let socket = async_net::UdpSocket::bind(addr)
            .await
            .map_err(UdpError::Bind)?;
        Ok(SmolUdpSocket { socket })
    }

    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, Self::Error> {
        let addrs = async_net::resolve((host, 0))
            .await
            .map_err(UdpError::Resolve)?;
        Ok(addrs.into_iter().map(|a| a.ip()).collect())
    }

    fn local_addresses(&self) -> Result<Vec<IpAddr>, Self::Error> {
        let interfaces = if_addrs::get_if_addrs().map_err(UdpError::Interfaces)?;
        let all: Vec<IpAddr> = interfaces
            .iter()
            .filter(|i| !i.is_link_local())
            .map(|i| i.ip())
            .collect();
        let mut addrs: Vec<IpAddr> = all.iter().copied().filter(|ip| !ip.is_loopback()).collect();
        if self.include_loopback || addrs.is_empty() {
            addrs.extend(all.iter().copied().filter(|ip| ip.is_loopback()));
        }
        addrs.dedup();
        Ok(addrs)
    }
}

/// One bound UDP socket.
#[derive(Debug, Clone)]
pub struct SmolUdpSocket {
    socket: async_net::UdpSocket,
}

impl SmolUdpSocket {
    /// The underlying `async-net` socket (e.g. to set socket options).
    pub fn inner(&self) -> &async_net::UdpSocket {
        &self.socket
    }
}

impl From<async_net::UdpSocket> for SmolUdpSocket {
    fn from(socket: async_net::UdpSocket) -> Self {
        SmolUdpSocket { socket }
    }
}

impl ErrorType for SmolUdpSocket {
    type Error = UdpError;
}

impl UdpSocket for SmolUdpSocket {
    fn local_addr(&self) -> Result<SocketAddr, Self::Error> {
        self.socket.local_addr().map_err(UdpError::LocalAddr)
    }

    async fn send_to(&self, datagram: &[u8], target: SocketAddr) -> Result<(), Self::Error> {
        let sent = self
            .socket
            .send_to(datagram, target)
            .await
            .map_err(UdpError::Send)?;
        if sent == datagram.len() {
            Ok(())
        } else {
            Err(UdpError::ShortSend {
                sent,
                len: datagram.len(),
            })
        }
    }

    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr), Self::Error> {
        self.socket.recv_from(buf).await.map_err(UdpError::Recv)
    }
}
