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

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use alsa::pcm::{Access, Format, HwParams, IO, PCM};
use alsa::{Direction, ValueOr};
use genesys_webrtc_hal::{AudioCapture, AudioFormat, AudioPlayout, ErrorType};

use crate::error::{AlsaError, StreamDirection};

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
struct Queue {
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

struct Shared {
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

/// Frames (samples per channel) of `ms` at `rate`.
fn ms_frames(rate: u32, ms: u32) -> u64 {
    u64::from(rate) * u64::from(ms) / 1000
}

/// Opens `device` and sets it up as close to `want` as it allows: S16 interleaved (required),
/// the rate and channel count nearest to those asked (granted ones are reported), one frame per
/// period and a buffer of [`BUFFER_PERIODS`] periods.
pub(crate) fn open_pcm(
    device: &str,
    dir: StreamDirection,
    want: AudioFormat,
) -> Result<(PCM, AudioFormat, StreamStats), AlsaError> {
    if device.is_empty() {
        return Err(AlsaError::InvalidId(device.to_string()));
    }
    let name = std::ffi::CString::new(device).map_err(|_| AlsaError::InvalidId(device.into()))?;
    let adir = match dir {
        StreamDirection::Capture => Direction::Capture,
        StreamDirection::Playout => Direction::Playback,
    };
    let pcm = PCM::open(&name, adir, false).map_err(|e| AlsaError::alsa(device, "open", e))?;
    let hw = |e| AlsaError::alsa(device, "hw_params", e);
    let (format, period, buffer) = {
        let hwp = HwParams::any(&pcm).map_err(hw)?;
        hwp.set_access(Access::RWInterleaved)
            .map_err(|_| AlsaError::format(device, "no interleaved read/write access"))?;
        hwp.set_format(Format::s16()).map_err(|_| {
            AlsaError::format(device, "no 16-bit samples (use its plughw: or plug: name)")
        })?;
        let channels = hwp
            .set_channels_near(u32::from(want.channels.max(1)))
            .map_err(hw)?;
        let rate = hwp
            .set_rate_near(want.sample_rate, ValueOr::Nearest)
            .map_err(hw)?;
        let channels = u8::try_from(channels)
            .map_err(|_| AlsaError::format(device, format!("{channels} channels")))?;
        if !(MIN_RATE..=MAX_RATE).contains(&rate) || rate % 100 != 0 {
            return Err(AlsaError::format(
                device,
                format!("rate {rate} Hz (needs 8–192 kHz, a multiple of 100 Hz)"),
            ));
        }
        let format = AudioFormat {
            sample_rate: rate,
            channels,
            frame: want.frame,
        };
        let frame = ms_frames(rate, want.frame.millis());
        let frame_i = alsa::pcm::Frames::try_from(frame)
            .map_err(|_| AlsaError::format(device, "frame too long"))?;
        let period = hwp
            .set_period_size_near(frame_i, ValueOr::Nearest)
            .map_err(hw)?;
        let buffer_want = (frame * u64::from(BUFFER_PERIODS)).max(ms_frames(rate, MIN_BUFFER_MS));
        let buffer = hwp
            .set_buffer_size_near(alsa::pcm::Frames::try_from(buffer_want).unwrap_or(frame_i))
            .map_err(hw)?;
        pcm.hw_params(&hwp).map_err(hw)?;
        (format, period, buffer)
    };
    let frame = ms_frames(format.sample_rate, format.frame.millis());
    let buffer_u = u64::try_from(buffer).unwrap_or(0);
    if buffer_u < frame {
        return Err(AlsaError::format(
            device,
            format!("buffer of {buffer} frames is shorter than one {frame}-frame period"),
        ));
    }
    {
        let sw = |e| AlsaError::alsa(device, "sw_params", e);
        let swp = pcm.sw_params_current().map_err(sw)?;
        let frame_i = alsa::pcm::Frames::try_from(frame)
            .map_err(|_| AlsaError::format(device, "frame too long"))?;
        swp.set_avail_min(frame_i).map_err(sw)?;
        if dir == StreamDirection::Playout {
            let start = ms_frames(format.sample_rate, PLAYOUT_START_MS)
                .max(frame)
                .min(buffer_u);
            swp.set_start_threshold(alsa::pcm::Frames::try_from(start).unwrap_or(frame_i))
                .map_err(sw)?;
        }
        pcm.sw_params(&swp).map_err(sw)?;
    }
    let stats = StreamStats {
        period_frames: u64::try_from(period).unwrap_or(0),
        buffer_frames: buffer_u,
        ..StreamStats::default()
    };
    Ok((pcm, format, stats))
}

/// What recovering from `err` gave.
enum Recovery {
    /// An xrun or suspend, repaired (the PCM is prepared again).
    Xrun,
    /// A signal interrupted the call; just retry.
    Retry,
}

/// Repairs what `snd_pcm_recover` can (overrun/underrun `EPIPE`, suspend `ESTRPIPE`, `EINTR`);
/// a device that went away or a failed recovery is an error.
fn recover(
    pcm: &PCM,
    device: &str,
    dir: StreamDirection,
    op: &'static str,
    err: alsa::Error,
) -> Result<Recovery, AlsaError> {
    match err.errno() {
        libc::EINTR => Ok(Recovery::Retry),
        libc::EPIPE | libc::ESTRPIPE => match pcm.try_recover(err, true) {
            Ok(()) => Ok(Recovery::Xrun),
            Err(source) => Err(AlsaError::Xrun {
                device: device.to_string(),
                direction: dir,
                source,
            }),
        },
        _ => Err(AlsaError::alsa(device, op, err)),
    }
}

/// What waiting for the device gave.
enum Waited {
    /// Room (playout) or data (capture) for at least one frame.
    Ready,
    /// Nothing within [`WAIT_MS`].
    Timeout,
    /// An xrun was found and repaired (the PCM is prepared again; capture must be restarted).
    Xrun,
}

/// Waits up to [`WAIT_MS`] for room or data.
fn wait(pcm: &PCM, device: &str, dir: StreamDirection) -> Result<Waited, AlsaError> {
    loop {
        match pcm.wait(Some(WAIT_MS)) {
            Ok(true) => return Ok(Waited::Ready),
            Ok(false) => return Ok(Waited::Timeout),
            Err(e) => match recover(pcm, device, dir, "wait", e)? {
                Recovery::Retry => continue,
                Recovery::Xrun => return Ok(Waited::Xrun),
            },
        }
    }
}

/// An open capture stream: a thread reads frames from the PCM into a small queue.
pub struct AlsaCapture {
    format: AudioFormat,
    device: String,
    shared: Arc<Shared>,
    worker: Worker,
}

impl std::fmt::Debug for AlsaCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlsaCapture")
            .field("device", &self.device)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl AlsaCapture {
    /// Opens `device` (an ALSA PCM name) for capture as close to `want` as it allows.
    pub fn open(device: &str, want: AudioFormat) -> Result<Self, AlsaError> {
        let (pcm, format, stats) = open_pcm(device, StreamDirection::Capture, want)?;
        let shared = Shared::new(stats);
        let name = device.to_string();
        let worker = Worker::spawn(device, StreamDirection::Capture, shared.clone(), move |s| {
            if let Err(e) = capture_loop(&pcm, &name, format, s) {
                tracing::warn!(device = %name, error = %e, "ALSA capture stopped");
                s.fail(e);
            }
            let _ = pcm.drop();
        })?;
        tracing::debug!(device, ?format, ?stats, "ALSA capture opened");
        Ok(AlsaCapture {
            format,
            device: device.to_string(),
            shared,
            worker,
        })
    }

    /// The ALSA PCM name this stream is on.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Counters and the granted period and buffer sizes.
    pub fn stats(&self) -> StreamStats {
        self.shared.lock().stats
    }

    /// Stops the thread and closes the PCM, waiting up to `wait` for it; returns the final
    /// statistics.
    pub fn close(mut self, wait: Duration) -> StreamStats {
        self.worker.stop(false, wait);
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
    pcm.start()
        .map_err(|e| AlsaError::alsa(device, "start", e))?;
    loop {
        if s.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        match wait(pcm, device, dir)? {
            Waited::Ready => {}
            Waited::Timeout => {
                idle_ms += WAIT_MS;
                if idle_ms >= STALL_MS {
                    return Err(AlsaError::Stalled {
                        device: device.to_string(),
                        ms: idle_ms,
                    });
                }
                continue;
            }
            Waited::Xrun => {
                s.lock().stats.xruns += 1;
                pcm.start()
                    .map_err(|e| AlsaError::alsa(device, "start", e))?;
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
                    pcm.start()
                        .map_err(|e| AlsaError::alsa(device, "start", e))?;
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
        q.stats.frames += 1;
        since_cpu += format.frame.millis();
        if since_cpu >= 1000 {
            since_cpu = 0;
            q.stats.thread_cpu_us = thread_cpu_us();
        }
        s.wake(q);
    }
}

impl ErrorType for AlsaCapture {
    type Error = AlsaError;
}

impl AudioCapture for AlsaCapture {
    fn format(&self) -> AudioFormat {
        self.format
    }

    /// Waits (without blocking the thread) for the next captured frame.
    async fn read_frame(&mut self, frame: &mut [i16]) -> Result<usize, AlsaError> {
        let need = self.format.samples_per_frame();
        let got = frame.len();
        let slot = frame
            .get_mut(..need)
            .ok_or(AlsaError::FrameLength { need, got })?;
        poll_fn(|cx| {
            let mut q = self.shared.lock();
            if let Some(f) = q.frames.pop_front() {
                slot.copy_from_slice(f.get(..need).unwrap_or(&f));
                if q.spare.len() < CAPTURE_QUEUE {
                    q.spare.push(f);
                }
                drop(q);
                self.shared.cond.notify_all();
                return Poll::Ready(Ok(need));
            }
            if let Some(e) = &q.error {
                return Poll::Ready(Err(e.clone()));
            }
            if q.finished {
                return Poll::Ready(Err(AlsaError::Stopped {
                    device: self.device.clone(),
                }));
            }
            q.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// An open playout stream: `write_frame` queues frames that a thread writes to the PCM.
pub struct AlsaPlayout {
    format: AudioFormat,
    device: String,
    shared: Arc<Shared>,
    worker: Worker,
}

impl std::fmt::Debug for AlsaPlayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlsaPlayout")
            .field("device", &self.device)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl AlsaPlayout {
    /// Opens `device` (an ALSA PCM name) for playout as close to `want` as it allows.
    pub fn open(device: &str, want: AudioFormat) -> Result<Self, AlsaError> {
        let (pcm, format, stats) = open_pcm(device, StreamDirection::Playout, want)?;
        let shared = Shared::new(stats);
        let name = device.to_string();
        let worker = Worker::spawn(device, StreamDirection::Playout, shared.clone(), move |s| {
            match playout_loop(&pcm, &name, format, s) {
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
            }
        })?;
        tracing::debug!(device, ?format, ?stats, "ALSA playout opened");
        Ok(AlsaPlayout {
            format,
            device: device.to_string(),
            shared,
            worker,
        })
    }

    /// The ALSA PCM name this stream is on.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Counters and the granted period and buffer sizes.
    pub fn stats(&self) -> StreamStats {
        self.shared.lock().stats
    }

    /// Plays out every queued frame, drains the device and closes it, waiting up to `wait`.
    /// Returns the thread's error, if it stopped with one, or else the final statistics.
    /// (Dropping the stream instead discards what is queued.)
    pub fn close(mut self, wait: Duration) -> Result<StreamStats, AlsaError> {
        let finished = self.worker.stop(true, wait);
        let q = self.shared.lock();
        if let Some(e) = &q.error {
            return Err(e.clone());
        }
        if !finished {
            return Err(AlsaError::Stalled {
                device: self.device.clone(),
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
            match wait(pcm, device, dir)? {
                Waited::Ready => {}
                Waited::Timeout => {
                    idle_ms += WAIT_MS;
                    if idle_ms >= STALL_MS {
                        return Err(AlsaError::Stalled {
                            device: device.to_string(),
                            ms: idle_ms,
                        });
                    }
                    continue;
                }
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
        q.stats.frames += 1;
        since_cpu += format.frame.millis();
        if since_cpu >= 1000 {
            since_cpu = 0;
            q.stats.thread_cpu_us = thread_cpu_us();
        }
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
        self.format
    }

    /// Queues one frame; waits (without blocking the thread) while [`PLAYOUT_QUEUE`] frames are
    /// already waiting for the device.
    async fn write_frame(&mut self, frame: &[i16]) -> Result<(), AlsaError> {
        let need = self.format.samples_per_frame();
        if frame.len() != need {
            return Err(AlsaError::FrameLength {
                need,
                got: frame.len(),
            });
        }
        poll_fn(|cx| {
            let mut q = self.shared.lock();
            if let Some(e) = &q.error {
                return Poll::Ready(Err(e.clone()));
            }
            if q.finished {
                return Poll::Ready(Err(AlsaError::Stopped {
                    device: self.device.clone(),
                }));
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
            self.shared.cond.notify_all();
            Poll::Ready(Ok(()))
        })
        .await
    }
}
