//! The traits a platform implements so the Genesys Cloud WebRTC SDK can run on it.
//!
//! This crate holds only traits and plain data types; it has no I/O of its own and depends on no
//! async runtime. A backend (smol, ALSA, V4L2, the simulator) implements the traits it can
//! provide; the SDK core (`genesys-webrtc`) is generic over them.
//!
//! | trait | what it gives the SDK |
//! |---|---|
//! | [`Clock`] | a monotonic `now()` and an async `sleep_until` |
//! | [`Connector`] | a TLS (or plain, for tests) byte stream to `host:port`, as `embedded_io_async::Read + Write` |
//! | [`UdpStack`] / [`UdpSocket`] | datagram sockets and the local interface addresses, for media |
//! | [`AudioDevices`], [`AudioCapture`], [`AudioPlayout`] | microphones and speakers, PCM `i16` frames of 10 or 20 ms |
//! | [`Camera`], [`ScreenCapture`] | video frames with format, size and timestamp |
//!
//! Errors follow the embedded-hal pattern: every trait has an associated error type
//! ([`ErrorType`]) whose [`Error::kind`] maps the backend's detail onto a small
//! [`ErrorKind`] that generic code reacts to.
//!
//! TLS trust is the backend's business and is always verified: there is deliberately no way to
//! ask a [`Connector`] to skip certificate verification.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod audio;
mod clock;
mod device;
mod error;
mod net;
mod video;

pub use audio::{AudioCapture, AudioDevices, AudioFormat, AudioPlayout, FrameDuration};
pub use clock::Clock;
pub use device::{MediaDevice, MediaKind};
pub use error::{Error, ErrorKind, ErrorType};
pub use net::{Connector, Endpoint, Security, UdpSocket, UdpStack};
pub use video::{Camera, PixelFormat, ScreenCapture, VideoFormat, VideoFrameInfo};

/// Re-export of the byte-stream traits a [`Connector::Stream`] implements.
pub use embedded_io_async;
