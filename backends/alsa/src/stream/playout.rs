//! The playout stream: [`AlsaPlayout::write_frame`] queues frames that a thread writes to the
//! PCM one at a time.

use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::task::Poll;
use std::time::Duration;

use alsa::pcm::{IO, PCM};
use genesys_webrtc_hal::{AudioFormat, AudioPlayout, ErrorType};

use super::pcm::{recover, wait, Recovery, Waited};
use super::{Shared, StreamHandle, StreamStats, PLAYOUT_QUEUE, WAIT_MS};
use crate::error::{AlsaError, StreamDirection};

/// An open playout stream: `write_frame` queues frames that a thread writes to the PCM.
#[derive(Debug)]
pub struct AlsaPlayout {
    stream: StreamHandle,
}

impl AlsaPlayout {
    /// Opens `device` (an ALSA PCM name) for playout as close to `want` as it allows.
    pub fn open(device: &str, want: AudioFormat) -> Result<Self, AlsaError> {
        let stream = StreamHandle::open(
            device,
            StreamDirection::Playout,
            want,
            |pcm, name, format, s| match playout_loop(&pcm, name, format, s) {
                Ok(()) if s.drain.load(Ordering::SeqCst) => {
                    // Play what the device still holds (ends at once on a PCM that is not
                    // running, e.g. fewer frames than the start threshold: start it first).
                    if pcm.state() == alsa::pcm::State::Prepared {
                        let _ = pcm.start();
                    }
                    let _ = pcm.drain();
                }
                Ok(()) => {
                    let _ = pcm.drop();
                }
                Err(e) => {
                    tracing::warn!(device = %name, error = %e, "ALSA playout stopped");
                    s.fail(e);
                    let _ = pcm.drop();
                }
            },
        )?;
        Ok(AlsaPlayout { stream })
    }

    /// The ALSA PCM name this stream is on.
    pub fn device(&self) -> &str {
        &self.stream.device
    }

    /// Counters and the granted period and buffer sizes.
    pub fn stats(&self) -> StreamStats {
        self.stream.stats()
    }

    /// Plays out every queued frame, drains the device and closes it, waiting up to `wait`.
    /// Returns the thread's error, if it stopped with one, or else the final statistics.
    /// (Dropping the stream instead discards what is queued.)
    pub fn close(mut self, wait: Duration) -> Result<StreamStats, AlsaError> {
        let finished = self.stream.worker.stop(true, wait);
        let q = self.stream.shared.lock();
        if let Some(e) = &q.error {
            return Err(e.clone());
        }
        if !finished {
            return Err(AlsaError::Stalled {
                device: self.stream.device.clone(),
                ms: u32::try_from(wait.as_millis()).unwrap_or(u32::MAX),
            });
        }
        Ok(q.stats)
    }
}

fn playout_loop(pcm: &PCM, device: &str, format: AudioFormat, s: &Shared) -> Result<(), AlsaError> {
    let dir = StreamDirection::Playout;
    let io: IO<i16> = pcm.io_i16().map_err(|e| AlsaError::alsa(device, "io", e))?;
    let channels = usize::from(format.channels.max(1));
    let mut since_cpu = 0u32;
    loop {
        // Next frame, or a stop (after the queue is empty when draining).
        let frame = {
            let mut q = s.lock();
            loop {
                let stopping = s.stop.load(Ordering::SeqCst);
                if stopping && !s.drain.load(Ordering::SeqCst) {
                    return Ok(());
                }
                if let Some(f) = q.frames.pop_front() {
                    break f;
                }
                if stopping {
                    return Ok(());
                }
                q = s
                    .cond
                    .wait_timeout(q, Duration::from_millis(u64::from(WAIT_MS)))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        };
        // Room was made in the queue.
        s.wake(s.lock());
        let mut done = 0usize;
        let mut idle_ms = 0u32;
        while done < frame.len() {
            if s.stop.load(Ordering::SeqCst) && !s.drain.load(Ordering::SeqCst) {
                return Ok(());
            }
            match wait(pcm, device, dir, &mut idle_ms)? {
                Waited::Ready => {}
                Waited::Timeout => continue,
                Waited::Xrun => {
                    s.lock().stats.xruns += 1;
                    continue;
                }
            }
            match io.writei(frame.get(done..).unwrap_or(&[])) {
                Ok(n) => {
                    idle_ms = 0;
                    done += n * channels;
                }
                Err(e) => {
                    if let Recovery::Xrun = recover(pcm, device, dir, "write", e)? {
                        s.lock().stats.xruns += 1;
                    }
                }
            }
        }
        let mut q = s.lock();
        q.count_frame(format.frame.millis(), &mut since_cpu);
        if q.spare.len() < PLAYOUT_QUEUE + 1 {
            q.spare.push(frame);
        }
    }
}

impl ErrorType for AlsaPlayout {
    type Error = AlsaError;
}

impl AudioPlayout for AlsaPlayout {
    fn format(&self) -> AudioFormat {
        self.stream.format
    }

    /// Queues one frame; waits (without blocking the thread) while [`PLAYOUT_QUEUE`] frames are
    /// already waiting for the device.
    async fn write_frame(&mut self, frame: &[i16]) -> Result<(), AlsaError> {
        let need = self.stream.format.samples_per_frame();
        if frame.len() != need {
            return Err(AlsaError::FrameLength {
                need,
                got: frame.len(),
            });
        }
        let stream = &self.stream;
        poll_fn(|cx| {
            let mut q = stream.shared.lock();
            if let Some(e) = &q.error {
                return Poll::Ready(Err(e.clone()));
            }
            if q.finished {
                return Poll::Ready(Err(stream.stopped()));
            }
            if q.frames.len() >= PLAYOUT_QUEUE {
                q.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let mut f = q.spare.pop().unwrap_or_default();
            f.clear();
            f.extend_from_slice(frame);
            q.frames.push_back(f);
            drop(q);
            stream.shared.cond.notify_all();
            Poll::Ready(Ok(()))
        })
        .await
    }
}
