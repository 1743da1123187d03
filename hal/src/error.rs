//! Error kinds shared by every HAL trait (the embedded-hal `ErrorType`/`ErrorKind` pattern).

use core::fmt::Debug;

/// What kind of failure a backend error is, so generic code can react without knowing the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The host name could not be resolved, or the device id does not exist.
    NotFound,
    /// The peer refused the connection.
    ConnectionRefused,
    /// An established connection was reset or closed by the peer.
    ConnectionReset,
    /// The operation took too long.
    TimedOut,
    /// The TLS handshake failed (bad certificate, unknown CA, protocol error).
    Tls,
    /// The device went away (unplugged, driver unloaded).
    Disconnected,
    /// Capture lost data because it was not read in time.
    Overrun,
    /// Playout ran dry because it was not fed in time.
    Underrun,
    /// The device or peer does not support the requested format.
    FormatUnsupported,
    /// The device is in use by someone else.
    Busy,
    /// The caller passed an argument the backend cannot use.
    InvalidInput,
    /// Anything else; the backend error carries the detail.
    Other,
}

/// A backend error: carries its own detail and says which [`ErrorKind`] it is.
pub trait Error: Debug {
    /// The kind of this error.
    fn kind(&self) -> ErrorKind;
}

impl Error for core::convert::Infallible {
    fn kind(&self) -> ErrorKind {
        match *self {}
    }
}

impl Error for ErrorKind {
    fn kind(&self) -> ErrorKind {
        *self
    }
}

/// Declares the error type a HAL trait implementation uses.
pub trait ErrorType {
    /// The backend's error type.
    type Error: Error;
}

impl<T: ErrorType + ?Sized> ErrorType for &T {
    type Error = T::Error;
}

impl<T: ErrorType + ?Sized> ErrorType for &mut T {
    type Error = T::Error;
}
