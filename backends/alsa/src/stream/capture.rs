//! The capture stream: a thread reads one frame at a time from the PCM into a small queue that
//! [`AlsaCapture::read_frame`] takes from.

use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::task::Poll;
use std::time::Duration;

use alsa::pcm::{IO, PCM};
use genesys_webrtc_hal::{AudioCapture, AudioFormat, ErrorType};

use super::pcm::{recover, wait, Recovery, Waited};
use super::{Shared, StreamHandle, StreamStats, CAPTURE_QUEUE, WAIT_MS};
use crate::error::{AlsaError, StreamDirection};

/// An open capture stream: a thread reads frames from the PCM into a small queue.
#[derive(Debug)]
pub struct AlsaCapture {
    stream: StreamHandle,
}

impl AlsaCapture {
    /// Opens `device` (an ALSA PCM name) for capture as close to `want` as it allows.
    pub fn open(device: &str, want: AudioFormat) -> Result<Self, AlsaError> {
        let stream = StreamHandle::open(
            device,
            StreamDirection::Capture,
            want,
            |pcm, name, format, s| {
                if let Err(e) = capture_loop(&pcm, name, format, s) {
                    tracing::warn!(device = %name, error = %e, "ALSA capture stopped");
                    s.fail(e);
                }
                let _ = pcm.drop();
            },
        )?;
        Ok(AlsaCapture { stream })
    }

    /// The ALSA PCM name this stream is on.
    pub fn device(&self) -> &str {
        &self.stream.device
    }

    /// Counters and the granted period and buffer sizes.
    pub fn stats(&self) -> StreamStats {
        self.stream.stats()
    }

    /// Stops the thread and closes the PCM, waiting up to `wait` for it; returns the final
    /// statistics.
    pub fn close(mut self, wait: Duration) -> StreamStats {
        self.stream.worker.stop(false, wait);
        self.stats()
    }
}

fn capture_loop(pcm: &PCM, device: &str, format: AudioFormat, s: &Shared) -> Result<(), AlsaError> {
    let dir = StreamDirection::Capture;
    let io: IO<i16> = pcm.io_i16().map_err(|e| AlsaError::alsa(device, "io", e))?;
    let len = format.samples_per_frame();
    let channels = usize::from(format.channels.max(1));
    let mut buf = vec![0i16; len];
    let mut filled = 0usize;
    let mut idle_ms = 0u32;
    let mut since_cpu = 0u32;
    let start = || pcm.start().map_err(|e| AlsaError::alsa(device, "start", e));
    start()?;
    loop {
        if s.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        match wait(pcm, device, dir, &mut idle_ms)? {
            Waited::Ready => {}
            Waited::Timeout => continue,
            Waited::Xrun => {
                s.lock().stats.xruns += 1;
                start()?;
                continue;
            }
        }
        let rest = buf.get_mut(filled..).unwrap_or(&mut []);
        match io.readi(rest) {
            Ok(0) => {
                return Err(AlsaError::EndOfStream {
                    device: device.to_string(),
                })
            }
            Ok(n) => {
                idle_ms = 0;
                filled += n * channels;
            }
            Err(e) => {
                if let Recovery::Xrun = recover(pcm, device, dir, "read", e)? {
                    s.lock().stats.xruns += 1;
                    start()?;
                }
                continue;
            }
        }
        if filled < len {
            continue;
        }
        filled = 0;
        // Hand the frame over; wait while the queue is full (push back on the device).
        let mut q = s.lock();
        while q.frames.len() >= CAPTURE_QUEUE {
            if s.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            q = s
                .cond
                .wait_timeout(q, Duration::from_millis(u64::from(WAIT_MS)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let mut frame = q.spare.pop().unwrap_or_default();
        frame.clear();
        frame.extend_from_slice(&buf);
        q.frames.push_back(frame);
        q.count_frame(format.frame.millis(), &mut since_cpu);
        s.wake(q);
    }
}

impl ErrorType for AlsaCapture {
    type Error = AlsaError;
}

impl AudioCapture for AlsaCapture {
    fn format(&self) -> AudioFormat {
        self.stream.format
    }

    /// Waits (without blocking the thread) for the next captured frame.
    async fn read_frame(&mut self, frame: &mut [i16]) -> Result<usize, AlsaError> {
        let need = self.stream.format.samples_per_frame();
        let got = frame.len();
        let slot = frame
            .get_mut(..need)
            .ok_or(AlsaError::FrameLength { need, got })?;
        let stream = &self.stream;
        poll_fn(|cx| {
            let mut q = stream.shared.lock();
            if let Some(f) = q.frames.pop_front() {
                slot.copy_from_slice(f.get(..need).unwrap_or(&f));
                if q.spare.len() < CAPTURE_QUEUE {
                    q.spare.push(f);
                }
                drop(q);
                stream.shared.cond.notify_all();
                return Poll::Ready(Ok(need));
            }
            if let Some(e) = &q.error {
                return Poll::Ready(Err(e.clone()));
            }
            if q.finished {
                return Poll::Ready(Err(stream.stopped()));
            }
            q.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}
