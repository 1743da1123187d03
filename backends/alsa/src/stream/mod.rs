//! Capture and playout streams: one PCM, one thread and a small frame queue each. Owns the
//! hardware/software parameters, the blocking ALSA I/O and xrun recovery. Does not list devices
//! or convert formats (the caller converts; `run_audio_devices` in core does).
//!
//! **Why a thread per stream.** The HAL traits are `async`, but ALSA I/O is blocking (or
//! `poll`-driven on descriptors that async runtimes cannot share without runtime-specific glue).
//! Each stream therefore has its own thread doing blocking `snd_pcm_wait` + `readi`/`writei` of one
//! frame at a time, and a queue of at most [`CAPTURE_QUEUE`]/[`PLAYOUT_QUEUE`] frames to the async
//! side, which waits on a [`Waker`] and never blocks an executor thread. The device clock paces
//! the thread; a full queue pushes back (capture: the thread stops reading, so a consumer that
//! stays away long enough overruns the device, which is recovered and counted; playout:
//! `write_frame` waits), so a PCM that is not paced in real time (a `file` PCM over `null`) is
//! still moved bit-exact.
//!
//! Dropping a stream stops its thread and waits up to 250 ms (in practice one `snd_pcm_wait`
//! slice, at most 50 ms) for it to close the PCM, so the same device can be reopened at once;
//! a playout's queued frames are discarded (use [`AlsaPlayout::close`] to play them out).

mod capture;
mod pcm;
mod playout;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::Duration;

use alsa::pcm::PCM;
use genesys_webrtc_hal::AudioFormat;

use crate::error::{AlsaError, StreamDirection};

pub use capture::AlsaCapture;
pub use playout::AlsaPlayout;

/// Frames the capture thread may read ahead of the consumer before it stops reading.
pub const CAPTURE_QUEUE: usize = 4;
/// Frames `write_frame` may queue before it waits for the playout thread.
pub const PLAYOUT_QUEUE: usize = 2;
/// The ALSA buffer holds this many periods (one period = one frame), at least
/// [`MIN_BUFFER_MS`].
pub const BUFFER_PERIODS: u32 = 4;
/// Shortest ALSA buffer asked for, in ms.
pub const MIN_BUFFER_MS: u32 = 80;
/// Playout starts once this much audio (ms) is in the ALSA buffer: the margin against the jitter
/// of whoever feeds it (and the steady-state playout latency of the backend).
pub const PLAYOUT_START_MS: u32 = 40;
/// How long the stream threads wait for the device at a time before checking for a stop, in ms.
const WAIT_MS: u32 = 50;
/// A device that moves no audio for this long is reported as stalled.
pub const STALL_MS: u32 = 2_000;
/// How long dropping a stream waits for its thread to close the PCM (so that the device can be
/// reopened at once).
const JOIN_WAIT: Duration = Duration::from_millis(250);

/// Lowest rate the backend opens (the engine's resampler takes 8–192 kHz).
pub const MIN_RATE: u32 = 8_000;
/// Highest rate the backend opens.
pub const MAX_RATE: u32 = 192_000;

/// What a stream has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Overruns (capture) or underruns (playout) that were recovered.
    pub xruns: u64,
    /// Frames moved between the device and the queue.
    pub frames: u64,
    /// ALSA period size granted, in frames (samples per channel).
    pub period_frames: u64,
    /// ALSA buffer size granted, in frames (samples per channel).
    pub buffer_frames: u64,
    /// CPU time the stream thread has used, in microseconds (updated about once a second and
    /// when it stops).
    pub thread_cpu_us: u64,
}

/// The queue between a stream thread and its async side.
pub(super) struct Queue {
    frames: VecDeque<Vec<i16>>,
    /// Buffers to reuse, so steady-state streaming does not allocate.
    spare: Vec<Vec<i16>>,
    /// The thread's error; once set the thread has stopped.
    error: Option<AlsaError>,
    /// The async side waiting for a frame (capture) or for room (playout).
    waker: Option<Waker>,
    stats: StreamStats,
    /// The thread has finished (closed the PCM).
    finished: bool,
}

impl Queue {
    /// Counts one frame moved by the stream thread; refreshes the thread's CPU time about once a
    /// second of audio (`since_cpu_ms` is the thread's own counter).
    fn count_frame(&mut self, frame_ms: u32, since_cpu_ms: &mut u32) {
        self.stats.frames += 1;
        *since_cpu_ms += frame_ms;
        if *since_cpu_ms >= 1000 {
            *since_cpu_ms = 0;
            self.stats.thread_cpu_us = thread_cpu_us();
        }
    }
}

pub(super) struct Shared {
    queue: Mutex<Queue>,
    /// Signals the thread: a frame or room in the queue, or a stop.
    cond: Condvar,
    /// Ask the thread to stop (playout: play what is queued first if `drain` is set).
    stop: AtomicBool,
    drain: AtomicBool,
}

impl Shared {
    fn new(stats: StreamStats) -> Arc<Self> {
        Arc::new(Shared {
            queue: Mutex::new(Queue {
                frames: VecDeque::new(),
                spare: Vec::new(),
                error: None,
                waker: None,
                stats,
                finished: false,
            }),
            cond: Condvar::new(),
            stop: AtomicBool::new(false),
            drain: AtomicBool::new(false),
        })
    }

    /// The queue; a panic elsewhere while it was held leaves only plain data, so a poisoned lock
    /// is still usable.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self, mut q: MutexGuard<'_, Queue>) {
        let waker = q.waker.take();
        drop(q);
        self.cond.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn fail(&self, error: AlsaError) {
        let mut q = self.lock();
        q.error = Some(error);
        self.wake(q);
    }
}

/// The thread side of a stream, and its handle for a bounded join.
struct Worker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    done: mpsc::Receiver<()>,
    device: String,
}

impl Worker {
    fn spawn(
        device: &str,
        dir: StreamDirection,
        shared: Arc<Shared>,
        body: impl FnOnce(&Shared) + Send + 'static,
    ) -> Result<Self, AlsaError> {
        let (tx, done) = mpsc::channel();
        let for_thread = shared.clone();
        let name = match dir {
            StreamDirection::Capture => "alsa-capture",
            StreamDirection::Playout => "alsa-playout",
        };
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                body(&for_thread);
                let mut q = for_thread.lock();
                q.stats.thread_cpu_us = thread_cpu_us();
                q.finished = true;
                for_thread.wake(q);
                let _ = tx.send(());
            })
            .map_err(|e| AlsaError::Thread(e.to_string()))?;
        Ok(Worker {
            shared,
            thread: Some(thread),
            done,
            device: device.to_string(),
        })
    }

    /// Asks the thread to stop and waits up to `wait` for it (it closes the PCM on the way out).
    fn stop(&mut self, drain: bool, wait: Duration) -> bool {
        self.shared.drain.store(drain, Ordering::SeqCst);
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.cond.notify_all();
        let finished = self.done.recv_timeout(wait).is_ok();
        if finished {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        } else {
            tracing::warn!(device = %self.device, "ALSA stream thread did not stop in time; left to finish");
        }
        finished
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop(false, JOIN_WAIT);
        }
    }
}

/// CPU time of the calling thread in µs.
fn thread_cpu_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000
        + u64::try_from(ts.tv_nsec).unwrap_or(0) / 1_000
}

/// What both kinds of stream hold: the device, its granted format, the queue and the thread.
struct StreamHandle {
    format: AudioFormat,
    device: String,
    shared: Arc<Shared>,
    worker: Worker,
}

impl StreamHandle {
    /// Opens `device` for `dir` and starts its thread, which runs `body` with the PCM, the
    /// device name, the granted format and the queue.
    fn open(
        device: &str,
        dir: StreamDirection,
        want: AudioFormat,
        body: impl FnOnce(PCM, &str, AudioFormat, &Shared) + Send + 'static,
    ) -> Result<Self, AlsaError> {
        let (pcm, format, stats) = pcm::open_pcm(device, dir, want)?;
        let shared = Shared::new(stats);
        let name = device.to_string();
        let worker = Worker::spawn(device, dir, shared.clone(), move |s| {
            body(pcm, &name, format, s)
        })?;
        tracing::debug!(device, ?dir, ?format, ?stats, "ALSA stream opened");
        Ok(StreamHandle {
            format,
            device: device.to_string(),
            shared,
            worker,
        })
    }

    fn stats(&self) -> StreamStats {
        self.shared.lock().stats
    }

    /// The error to give once the thread has stopped without one.
    fn stopped(&self) -> AlsaError {
        AlsaError::Stopped {
            device: self.device.clone(),
        }
    }
}

impl std::fmt::Debug for StreamHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("device", &self.device)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}
