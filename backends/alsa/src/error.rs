//! The backend's error type and its mapping onto the HAL [`ErrorKind`]. Owns the errno rules
//! (which ALSA failures mean "not found", "busy", "gone", "xrun"); does not do I/O.

use genesys_webrtc_hal::{Error, ErrorKind};

/// Which way a stream moves audio (for errors and statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamDirection {
    /// Capture (microphone).
    Capture,
    /// Playout (speaker).
    Playout,
}

/// Errors of the ALSA backend.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AlsaError {
    /// The device id cannot be an ALSA PCM name (empty, or holds a NUL byte).
    #[error("invalid ALSA device id {0:?}")]
    InvalidId(String),
    /// An ALSA call failed.
    #[error("ALSA {op} on {device:?}: {source}")]
    Alsa {
        /// The PCM name.
        device: String,
        /// What was being done (`open`, `hw_params`, `read`, `write`, ...).
        op: &'static str,
        /// The ALSA error (function and errno).
        #[source]
        source: alsa::Error,
    },
    /// The device cannot give a format the backend can use.
    #[error("{device:?} cannot be used: {what}")]
    FormatUnsupported {
        /// The PCM name.
        device: String,
        /// What it lacks.
        what: String,
    },
    /// The frame buffer has the wrong length for the stream format.
    #[error("frame of {got} samples, the stream format needs {need}")]
    FrameLength {
        /// Samples one frame has.
        need: usize,
        /// Samples given.
        got: usize,
    },
    /// An overrun (capture) or underrun (playout) that `snd_pcm_recover` could not repair.
    #[error("{device:?}: {direction:?} xrun could not be recovered: {source}")]
    Xrun {
        /// The PCM name.
        device: String,
        /// Capture (overrun) or playout (underrun).
        direction: StreamDirection,
        /// The error recovery gave.
        #[source]
        source: alsa::Error,
    },
    /// The device moved no audio for too long.
    #[error("{device:?} moved no audio for {ms} ms")]
    Stalled {
        /// The PCM name.
        device: String,
        /// How long it was silent.
        ms: u32,
    },
    /// A capture PCM reached its end (a `file` PCM's input file ran out; real devices never end).
    #[error("{device:?}: end of the capture stream")]
    EndOfStream {
        /// The PCM name.
        device: String,
    },
    /// The stream's thread could not be started.
    #[error("could not start the ALSA stream thread: {0}")]
    Thread(String),
    /// The stream's thread has stopped after reporting its error (the stream is unusable).
    #[error("the stream on {device:?} has stopped")]
    Stopped {
        /// The PCM name.
        device: String,
    },
}

/// errno values of a device that went away: the driver was unloaded or the USB device unplugged
/// (`ENODEV`), or the PCM is in the disconnected state (`EBADFD`, `ENXIO`, `ESHUTDOWN`).
fn is_gone(errno: i32) -> bool {
    matches!(
        errno,
        libc::ENODEV | libc::EBADFD | libc::ENXIO | libc::ESHUTDOWN
    )
}

impl AlsaError {
    /// An ALSA failure of `op` on `device`.
    pub(crate) fn alsa(device: &str, op: &'static str, source: alsa::Error) -> Self {
        AlsaError::Alsa {
            device: device.to_string(),
            op,
            source,
        }
    }

    /// A device that cannot give what the backend needs.
    pub(crate) fn format(device: &str, what: impl Into<String>) -> Self {
        AlsaError::FormatUnsupported {
            device: device.to_string(),
            what: what.into(),
        }
    }
}

impl Error for AlsaError {
    fn kind(&self) -> ErrorKind {
        match self {
            AlsaError::InvalidId(_) => ErrorKind::NotFound,
            AlsaError::Alsa { op, source, .. } => {
                let errno = source.errno();
                match (*op, errno) {
                    // A name that does not resolve, or a card that is not there, when opening.
                    ("open", libc::ENOENT | libc::ENODEV | libc::ENXIO) => ErrorKind::NotFound,
                    (_, libc::EBUSY | libc::EAGAIN) => ErrorKind::Busy,
                    (_, e) if is_gone(e) => ErrorKind::Disconnected,
                    ("hw_params" | "sw_params", _) => ErrorKind::FormatUnsupported,
                    ("read", libc::EPIPE) => ErrorKind::Overrun,
                    ("write", libc::EPIPE) => ErrorKind::Underrun,
                    _ => ErrorKind::Other,
                }
            }
            AlsaError::FormatUnsupported { .. } => ErrorKind::FormatUnsupported,
            AlsaError::FrameLength { .. } => ErrorKind::InvalidInput,
            AlsaError::Xrun {
                direction, source, ..
            } => {
                if is_gone(source.errno()) {
                    ErrorKind::Disconnected
                } else if *direction == StreamDirection::Capture {
                    ErrorKind::Overrun
                } else {
                    ErrorKind::Underrun
                }
            }
            AlsaError::Stalled { .. } => ErrorKind::TimedOut,
            AlsaError::EndOfStream { .. } | AlsaError::Stopped { .. } => ErrorKind::Disconnected,
            AlsaError::Thread(_) => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_maps_to_kinds() {
        let e = |op, errno| AlsaError::alsa("hw:0", op, alsa::Error::new("f", errno)).kind();
        assert_eq!(e("open", libc::ENOENT), ErrorKind::NotFound);
        assert_eq!(e("open", libc::EBUSY), ErrorKind::Busy);
        assert_eq!(e("read", libc::ENODEV), ErrorKind::Disconnected);
        assert_eq!(e("write", libc::EBADFD), ErrorKind::Disconnected);
        assert_eq!(e("hw_params", libc::EINVAL), ErrorKind::FormatUnsupported);
        assert_eq!(e("read", libc::EPIPE), ErrorKind::Overrun);
        assert_eq!(e("write", libc::EPIPE), ErrorKind::Underrun);
        let x = |direction, errno| {
            AlsaError::Xrun {
                device: "hw:0".into(),
                direction,
                source: alsa::Error::new("snd_pcm_recover", errno),
            }
            .kind()
        };
        assert_eq!(x(StreamDirection::Capture, libc::EIO), ErrorKind::Overrun);
        assert_eq!(x(StreamDirection::Playout, libc::EIO), ErrorKind::Underrun);
        assert_eq!(
            x(StreamDirection::Playout, libc::ENODEV),
            ErrorKind::Disconnected
        );
    }
}
