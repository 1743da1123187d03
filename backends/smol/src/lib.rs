//! The smol platform for the Genesys Cloud WebRTC SDK: TCP+TLS streams, UDP sockets and timers.
//!
//! This crate implements the I/O traits of [`genesys_webrtc_hal`] on top of the
//! [smol](https://docs.rs/smol) family (`async-net`, `async-io`) and `futures-rustls`:
//!
//! | HAL trait | here | what it does |
//! |---|---|---|
//! | [`Clock`](genesys_webrtc_hal::Clock) | [`SmolClock`] | `std::time::Instant` and [`smol::Timer`] |
//! | [`Connector`](genesys_webrtc_hal::Connector) | [`SmolConnector`] | resolve, TCP connect (`TCP_NODELAY`), TLS with rustls (aws-lc-rs) |
//! | [`UdpStack`](genesys_webrtc_hal::UdpStack) | [`SmolUdp`] / [`SmolUdpSocket`] | `async-net` UDP and `if-addrs` interface listing |
//!
//! [`SmolPlatform`] bundles the three and implements [`genesys_webrtc::Platform`]; [`start`] runs
//! the SDK on a background thread in a few lines.
//!
//! [`SmolPlatform`] bundles the three. The futures work on any executor: the timers and sockets
//! are driven by `async-io`'s reactor thread, so the SDK (which uses only `futures`) can run
//! under `smol::block_on`, `futures::executor` or inside another runtime.
//!
//! ## TLS trust
//!
//! Certificates are always verified, against the Mozilla roots from `webpki-roots` plus any
//! extra root CAs you give as PEM ([`TlsRoots`]). There is no option to skip verification;
//! tests trust a throw-away test CA instead (the `fake-cloud` binary writes one to a file).
//!
//! ## Example
//!
//! ```no_run
//! use genesys_webrtc_hal::embedded_io_async::{Read, Write};
//! use genesys_webrtc_hal::{Connector, Endpoint, Security};
//! use genesys_webrtc_smol::SmolPlatform;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Trust the public roots plus the fake cloud's test CA.
//! let ca_pem = std::fs::read("/tmp/fake-cloud-ca.pem")?;
//! let platform = SmolPlatform::with_extra_roots_pem(&ca_pem)?;
//!
//! smol::block_on(async {
//!     let endpoint = Endpoint { host: "127.0.0.1", port: 8443, security: Security::Tls };
//!     let mut stream = platform.connector().connect(endpoint).await?;
//!     stream.write_all(b"GET /api/v2/organizations/me HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await?;
//!     stream.flush().await?;
//!     let mut buf = [0u8; 1024];
//!     let n = stream.read(&mut buf).await?;
//!     println!("{}", String::from_utf8_lossy(&buf[..n]));
//!     Ok(())
//! })
//! # }
//! ```
//!
//! Errors map onto [`genesys_webrtc_hal::ErrorKind`]: an unknown host is `NotFound`, a closed
//! port `ConnectionRefused`, an untrusted or mismatching certificate `Tls`, and so on; the
//! backend error ([`ConnectError`], [`UdpError`]) keeps the detail.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod clock;
mod connector;
mod sdk;
mod tls;
mod udp;

use std::io;
use std::path::Path;

use genesys_webrtc_hal::ErrorKind;

pub use clock::SmolClock;
pub use connector::{ConnectError, SmolConnector, SmolStream, DEFAULT_CONNECT_TIMEOUT};
pub use sdk::{start, StartError};
pub use tls::{RootsError, TlsRoots};
pub use udp::{SmolUdp, SmolUdpSocket, UdpError};

/// Everything the SDK needs from the platform for networking and time, on smol.
#[derive(Debug, Clone, Default)]
pub struct SmolPlatform {
    clock: SmolClock,
    connector: SmolConnector,
    udp: SmolUdp,
}

impl SmolPlatform {
    /// A platform trusting the `webpki-roots` CAs.
    pub fn new() -> Self {
        Self::with_roots(&TlsRoots::webpki())
    }

    /// A platform trusting `roots`.
    pub fn with_roots(roots: &TlsRoots) -> Self {
        SmolPlatform {
            clock: SmolClock::new(),
            connector: SmolConnector::new(roots),
            udp: SmolUdp::new(),
        }
    }

    /// A platform trusting the `webpki-roots` CAs plus every certificate in `pem`.
    pub fn with_extra_roots_pem(pem: &[u8]) -> Result<Self, RootsError> {
        Ok(Self::with_roots(&TlsRoots::webpki().with_pem(pem)?))
    }

    /// A platform trusting the `webpki-roots` CAs plus every certificate in the PEM file `path`.
    pub fn with_extra_roots_file(path: impl AsRef<Path>) -> Result<Self, RootsError> {
        let mut roots = TlsRoots::webpki();
        roots.add_pem_file(path)?;
        Ok(Self::with_roots(&roots))
    }

    /// Builds a platform from its parts (e.g. a connector with another timeout).
    pub fn from_parts(clock: SmolClock, connector: SmolConnector, udp: SmolUdp) -> Self {
        SmolPlatform {
            clock,
            connector,
            udp,
        }
    }

    /// The clock.
    pub fn clock(&self) -> &SmolClock {
        &self.clock
    }

    /// The TCP/TLS connector.
    pub fn connector(&self) -> &SmolConnector {
        &self.connector
    }

    /// The UDP stack.
    pub fn udp(&self) -> &SmolUdp {
        &self.udp
    }

    /// The parts, by value.
    pub fn into_parts(self) -> (SmolClock, SmolConnector, SmolUdp) {
        (self.clock, self.connector, self.udp)
    }
}

/// Maps an OS error onto the HAL's kinds.
pub(crate) fn io_error_kind(error: &io::Error) -> ErrorKind {
    match error.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::ConnectionRefused => ErrorKind::ConnectionRefused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::NotConnected
        | io::ErrorKind::UnexpectedEof => ErrorKind::ConnectionReset,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::TimedOut,
        io::ErrorKind::AddrInUse => ErrorKind::Busy,
        io::ErrorKind::InvalidInput | io::ErrorKind::AddrNotAvailable => ErrorKind::InvalidInput,
        _ => ErrorKind::Other,
    }
}
