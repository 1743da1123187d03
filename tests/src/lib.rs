//! End-to-end tests live in `tests/tests/*.rs`; this library holds what several of them share.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use genesys_webrtc::{EventStream, SdkEvent};
use genesys_webrtc_hal::{AudioFormat, AudioPlayout, ErrorKind, ErrorType, FrameDuration};

/// The audio format the tests' devices use: 48 kHz mono, 20 ms frames.
pub const FORMAT: AudioFormat = AudioFormat {
    sample_rate: 48_000,
    channels: 1,
    frame: FrameDuration::Ms20,
};

/// A playout device that keeps what it is given (for Goertzel checks afterwards).
pub struct MemoryPlayout(pub Arc<Mutex<Vec<i16>>>);

impl ErrorType for MemoryPlayout {
    type Error = ErrorKind;
}

impl AudioPlayout for MemoryPlayout {
    fn format(&self) -> AudioFormat {
        FORMAT
    }
    async fn write_frame(&mut self, frame: &[i16]) -> Result<(), ErrorKind> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(frame);
        }
        Ok(())
    }
}

/// The next event matching `pred`, or `None` after `timeout` (or when the stream ends).
pub fn next_event(
    events: &mut EventStream,
    timeout: Duration,
    mut pred: impl FnMut(&SdkEvent) -> bool,
) -> Option<SdkEvent> {
    smol::block_on(async {
        let deadline = smol::Timer::after(timeout);
        let find = async {
            while let Some(e) = events.next().await {
                if pred(&e) {
                    return Some(e);
                }
            }
            None
        };
        futures::pin_mut!(find);
        match futures::future::select(find, deadline).await {
            futures::future::Either::Left((e, _)) => e,
            futures::future::Either::Right(_) => None,
        }
    })
}
