//! Adaptive jitter buffer for one received audio RTP stream. Owns reordering, duplicate and
//! late-packet handling, the playout schedule and its delay adaptation, and the receive-side
//! statistics. Does not decode, conceal or read a clock: the caller pushes packets with their
//! arrival `Instant`, pulls one 20 ms frame per tick, and on [`Pulled::Missing`] runs its
//! decoder's loss concealment (or FEC from [`JitterBuffer::fec_payload`]).
//!
//! ## Model
//!
//! Every packet is assumed to carry one 20 ms frame ([`FRAME`]). Sequence numbers and RTP
//! timestamps are unwrapped to 64 bits, so wrap-around at 65535 / 2³² is invisible.
//!
//! For each packet the *transit* `arrival − timestamp/clock_rate` is measured. Its minimum over
//! a sliding window is the best-case network delay, and the *playout delay* of a frame is how long
//! after that best case it is played. A packet whose extra delay is below the playout delay is on
//! time. The delay is steered toward a *target* computed from the RFC 3550 interarrival jitter
//! estimate `J` (`target ≈ 10 ms + 3·J`, clamped to `min_delay..=max_delay`). A frame is played
//! while its delay is within half a frame of the target, so at zero jitter and the default 10 ms
//! floor the delay is 0–20 ms, depending on the phase of the pulls against the sender's clock:
//!
//! * **fast grow**: the target rises at once when `J` rises or a packet comes too late; the
//!   buffer then inserts concealed frames ([`Pulled::Missing`]) until the delay catches up;
//! * **slow shrink**: the target falls by at most [`SHRINK_PER_PULL`] per pull, and the buffer
//!   drops at most one frame every [`SHRINK_INTERVAL_PULLS`] pulls to follow it.
//!
//! ## Room for FEC after a loss
//!
//! Opus in-band FEC rebuilds a lost frame from the packet after it, which must have arrived when
//! the gap is concealed: the delay must exceed one frame. At the low floor it does not (the
//! first loss is concealed by PLC alone), so a lost packet adds [`FEC_HEADROOM`] to the target for
//! [`JitterConfig::fec_hold`] (5 s by default, renewed by every further loss): while losses
//! continue the delay is 20–40 ms at zero jitter and the packet after a lost one is always there
//! ([`JitterBuffer::fec_payload`]); after a quiet `fec_hold` the target shrinks back to the
//! floor. (libwebrtc's NetEq likewise raises its delay when it sees loss.)
//!
//! Frames are otherwise played in sequence order. A sequence gap whose successor is due is
//! counted lost and concealed; a pause in the timestamps (DTX) is waited out, concealed for up to
//! [`MAX_CONCEAL_RUN`] frames and then reported as [`Pulled::NotReady`].
//!
//! ## Bounds
//!
//! At most `max_packets` packets and `max_span` of audio are held (the oldest are dropped), and
//! payloads over [`MAX_PAYLOAD_BYTES`] are refused, so memory stays bounded under any flood. A
//! forward jump of more than `max_packets` sequence numbers, a timestamp that runs backwards
//! while the sequence advances, a timestamp jump of more than [`MAX_TS_JUMP`], or three packets
//! in a row far behind the playout point *resync* the buffer: it is flushed and restarts
//! buffering from the new packet.
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The audio carried by one packet and returned by one pull.
pub const FRAME: Duration = Duration::from_millis(20);
/// Largest payload accepted; bigger ones are refused (counted in [`JitterStats::oversized`]).
pub const MAX_PAYLOAD_BYTES: usize = 1_500;
/// Target delay reduction per pull when the jitter has gone down (0.5 ms per 20 ms: 180 ms of
/// surplus delay is given back in about 7 s).
pub const SHRINK_PER_PULL: Duration = Duration::from_micros(500);
/// At most one frame is dropped to reduce the delay every this many pulls.
pub const SHRINK_INTERVAL_PULLS: u32 = 10;
/// Consecutive concealed frames (underrun or pause) before pulls report [`Pulled::NotReady`].
pub const MAX_CONCEAL_RUN: u32 = 10;
/// A timestamp jump larger than this (with the sequence moving forward) resyncs the buffer.
pub const MAX_TS_JUMP: Duration = Duration::from_secs(60);
/// What a loss adds to the target delay for [`JitterConfig::fec_hold`]: one frame, so that the
/// packet after a lost one has arrived when the gap is concealed.
pub const FEC_HEADROOM: Duration = FRAME;
/// Weight of the RFC 3550 jitter filter (`J += (|D| − J) / 16`).
const JITTER_GAIN: f64 = 1.0 / 16.0;
/// Target = `JITTER_BASE + JITTER_FACTOR · J`.
const JITTER_FACTOR: f64 = 3.0;
const JITTER_BASE_US: f64 = 10_000.0;
/// Packets per half of the sliding minimum-transit window.
const MIN_TRANSIT_WINDOW: u32 = 100;
/// Consecutive packets far behind the playout point that force a resync.
const OUT_OF_WINDOW_RESYNC: u32 = 3;
/// How far back (in sequence numbers) played packets are remembered for duplicate detection.
const HISTORY: u64 = 128;
/// Unwrapped numbers start here so that reordered packets before the first never go negative.
const EXT_BASE: i64 = 1 << 40;

/// Settings for a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate of the stream (48000 for Opus, 8000 for G.711). Must be a multiple of 50
    /// (whole samples per 20 ms) between 8000 and 192000.
    pub clock_rate: u32,
    /// Lowest target delay (default 10 ms: at zero jitter a frame plays 0–20 ms after its
    /// best-case arrival).
    pub min_delay: Duration,
    /// Highest target delay (default 200 ms).
    pub max_delay: Duration,
    /// Most packets held (default 200).
    pub max_packets: usize,
    /// Most audio held, first to last timestamp (default 2 s).
    pub max_span: Duration,
    /// How long after the last lost packet the target keeps [`FEC_HEADROOM`] (default 5 s;
    /// zero: never). Counted in pulls of 20 ms.
    pub fec_hold: Duration,
}

impl JitterConfig {
    /// Defaults for a stream with RTP clock `clock_rate`.
    pub fn new(clock_rate: u32) -> Self {
        JitterConfig {
            clock_rate,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(200),
            max_packets: 200,
            max_span: Duration::from_secs(2),
            fec_hold: Duration::from_secs(5),
        }
    }
}

/// A configuration the buffer cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JitterConfigError {
    /// Clock rate outside 8000..=192000 or not a multiple of 50.
    #[error("unsupported RTP clock rate {0}")]
    ClockRate(u32),
    /// `min_delay` above `max_delay`, or `max_delay` above the buffer's span.
    #[error("delay bounds must satisfy min_delay <= max_delay < max_span")]
    DelayBounds,
    /// `max_packets` of zero or above 10000.
    #[error("max_packets must be 1..=10000")]
    MaxPackets,
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Stored for playout.
    Accepted,
    /// Stored for playout after flushing the buffer (sequence or timestamp discontinuity).
    Resynced,
    /// Already stored or already played: ignored.
    Duplicate,
    /// Its playout slot has passed: ignored.
    Late,
    /// Payload larger than [`MAX_PAYLOAD_BYTES`]: ignored.
    Oversized,
}

/// The result of one [`JitterBuffer::pull`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pulled {
    /// The payload to decode for this 20 ms.
    Frame(Vec<u8>),
    /// No payload for this 20 ms although the stream is playing: the caller conceals (PLC, or
    /// FEC from [`JitterBuffer::fec_payload`]).
    Missing,
    /// Nothing to play (not started, still buffering, or the stream has paused): the caller
    /// plays silence or comfort noise.
    NotReady,
}

/// Counters and gauges of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted into the buffer.
    pub received: u64,
    /// Packets ignored because they were already stored or played.
    pub duplicates: u64,
    /// Packets ignored because their playout slot had passed.
    pub late: u64,
    /// Playout slots whose packet had not arrived (sequence gaps).
    pub lost: u64,
    /// [`Pulled::Missing`] results: lost slots, underruns, pauses and delay-growing stretches.
    pub concealed: u64,
    /// Pulls that found the buffer empty while playing.
    pub underruns: u64,
    /// Concealed frames inserted to grow the delay.
    pub stretched: u64,
    /// Frames dropped to shrink the delay.
    pub dropped: u64,
    /// Packets dropped because the buffer was full.
    pub overflow: u64,
    /// Packets refused for an oversized payload.
    pub oversized: u64,
    /// Times the buffer was flushed on a discontinuity.
    pub resyncs: u64,
    /// Playout delay of the last pulled frame (beyond the best-case network delay).
    pub current_delay: Duration,
    /// The delay the buffer steers toward.
    pub target_delay: Duration,
    /// RFC 3550 interarrival jitter estimate.
    pub jitter: Duration,
    /// Packets held now.
    pub buffered: usize,
}

#[derive(Debug)]
struct Packet {
    ts: i64,
    payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the first packet to have waited the target delay.
    Buffering,
    /// Playing: `next_seq` is the next sequence number due, `play_ts` the timestamp of the last
    /// frame output (played or concealed).
    Playing { next_seq: i64, play_ts: i64 },
}

/// Sliding minimum over two half-windows of packets.
#[derive(Debug, Clone, Copy)]
struct MinWindow {
    current: i64,
    previous: i64,
    count: u32,
}

impl MinWindow {
    const EMPTY: MinWindow = MinWindow {
        current: i64::MAX,
        previous: i64::MAX,
        count: 0,
    };

    fn push(&mut self, v: i64) {
        self.current = self.current.min(v);
        self.count += 1;
        if self.count >= MIN_TRANSIT_WINDOW {
            self.previous = self.current;
            self.current = i64::MAX;
            self.count = 0;
        }
    }

    fn get(&self) -> Option<i64> {
        let m = self.current.min(self.previous);
        (m != i64::MAX).then_some(m)
    }
}

/// The sequence/timestamp reference established by the first packet after a (re)sync.
#[derive(Debug, Clone, Copy)]
struct Reference {
    epoch: Instant,
    ts0: i64,
    highest_seq: i64,
    highest_ts: i64,
}

/// An adaptive jitter buffer for one audio RTP stream (see the module docs).
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    frame_ts: i64,
    packets: BTreeMap<i64, Packet>,
    reference: Option<Reference>,
    state: State,
    min_transit: MinWindow,
    last_transit: Option<i64>,
    jitter_us: f64,
    target_us: f64,
    /// Bit `i` set: sequence `next_seq − 1 − i` was played from a real packet.
    history: u128,
    conceal_run: u32,
    pulls_since_shrink: u32,
    out_of_window_run: u32,
    /// Pulls left during which the target keeps [`FEC_HEADROOM`] (set on every loss).
    fec_pulls_left: u32,
    /// The last pull concealed the slot of a lost packet.
    concealed_loss: bool,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer with `config`.
    pub fn new(config: JitterConfig) -> Result<Self, JitterConfigError> {
        let rate = config.clock_rate;
        if !(8_000..=192_000).contains(&rate) || !rate.is_multiple_of(50) {
            return Err(JitterConfigError::ClockRate(rate));
        }
        if config.min_delay > config.max_delay || config.max_delay >= config.max_span {
            return Err(JitterConfigError::DelayBounds);
        }
        if config.max_packets == 0 || config.max_packets > 10_000 {
            return Err(JitterConfigError::MaxPackets);
        }
        let min_us = config.min_delay.as_micros() as f64;
        Ok(JitterBuffer {
            cfg: config,
            frame_ts: i64::from(rate / 50),
            packets: BTreeMap::new(),
            reference: None,
            state: State::Buffering,
            min_transit: MinWindow::EMPTY,
            last_transit: None,
            jitter_us: 0.0,
            target_us: min_us,
            history: 0,
            conceal_run: 0,
            pulls_since_shrink: 0,
            out_of_window_run: 0,
            fec_pulls_left: 0,
            concealed_loss: false,
            stats: JitterStats {
                target_delay: config.min_delay,
                ..JitterStats::default()
            },
        })
    }

    /// The configuration.
    pub fn config(&self) -> &JitterConfig {
        &self.cfg
    }

    /// Current statistics.
    pub fn stats(&self) -> JitterStats {
        JitterStats {
            buffered: self.packets.len(),
            target_delay: us_to_duration(self.target_us),
            jitter: us_to_duration(self.jitter_us),
            ..self.stats
        }
    }

    /// The payload due next, if it has arrived: after a [`Pulled::Missing`] for a lost packet
    /// this is the packet after it, whose Opus FEC can rebuild the lost one.
    pub fn peek_next_payload(&self) -> Option<&[u8]> {
        match self.state {
            State::Playing { next_seq, .. } => {
                self.packets.get(&next_seq).map(|p| p.payload.as_slice())
            }
            State::Buffering => None,
        }
    }

    /// After a pull that returned [`Pulled::Missing`] for the slot of a lost packet: the packet
    /// after it, if it has arrived, whose Opus in-band FEC rebuilds the lost frame. `None` after
    /// any other pull (a frame, an underrun, a pause, or a frame inserted to grow the delay,
    /// where [`JitterBuffer::peek_next_payload`] would give the packet still to be played).
    pub fn fec_payload(&self) -> Option<&[u8]> {
        if self.concealed_loss {
            self.peek_next_payload()
        } else {
            None
        }
    }

    /// Forgets every packet and restarts buffering (e.g. on an SSRC change). Statistics and the
    /// jitter estimate are kept.
    pub fn reset(&mut self) {
        self.packets.clear();
        self.reference = None;
        self.state = State::Buffering;
        self.min_transit = MinWindow::EMPTY;
        self.last_transit = None;
        self.history = 0;
        self.conceal_run = 0;
        self.out_of_window_run = 0;
        self.concealed_loss = false;
    }

    /// Offers one received packet. `seq` and `rtp_timestamp` come from its RTP header,
    /// `arrival` is when it was received.
    pub fn push(
        &mut self,
        seq: u16,
        rtp_timestamp: u32,
        arrival: Instant,
        payload: Vec<u8>,
    ) -> Pushed {
        if payload.len() > MAX_PAYLOAD_BYTES {
            self.stats.oversized += 1;
            return Pushed::Oversized;
        }
        let Some(r) = self.reference else {
            self.start_reference(seq, rtp_timestamp, arrival, payload);
            return Pushed::Accepted;
        };
        let dseq = i64::from(seq.wrapping_sub(r.highest_seq as u16) as i16);
        let dts = i64::from(rtp_timestamp.wrapping_sub(r.highest_ts as u32) as i32);
        let ext_seq = r.highest_seq + dseq;
        let ext_ts = r.highest_ts + dts;
        let max_ts_jump = duration_to_ts(MAX_TS_JUMP, self.cfg.clock_rate);

        // Discontinuities: the sender restarted or jumped.
        if dseq > self.cfg.max_packets as i64 || (dseq > 0 && (dts < 0 || dts > max_ts_jump)) {
            return self.resync(seq, rtp_timestamp, arrival, payload);
        }
        let behind = match self.state {
            State::Playing { next_seq, .. } => next_seq - ext_seq,
            State::Buffering => 0,
        };
        if behind > 0 || dseq < -(self.cfg.max_packets as i64) {
            // Already played or skipped, or far older than anything held.
            let far = behind > HISTORY as i64 || dseq < -(self.cfg.max_packets as i64);
            if far {
                self.out_of_window_run += 1;
                if self.out_of_window_run >= OUT_OF_WINDOW_RESYNC {
                    return self.resync(seq, rtp_timestamp, arrival, payload);
                }
                self.stats.late += 1;
                return Pushed::Late;
            }
            self.out_of_window_run = 0;
            // `behind` is 1..=HISTORY here.
            let played = (self.history >> (behind - 1)) & 1 == 1;
            if played {
                self.stats.duplicates += 1;
                return Pushed::Duplicate;
            }
            self.stats.late += 1;
            self.observe_transit(ext_ts, arrival);
            // It came after its slot: the delay was too short.
            self.target_us = (self.target_us + FRAME.as_micros() as f64).min(self.max_us());
            return Pushed::Late;
        }
        self.out_of_window_run = 0;
        if self.packets.contains_key(&ext_seq) {
            self.stats.duplicates += 1;
            return Pushed::Duplicate;
        }
        if let Some(r) = self.reference.as_mut() {
            if dseq > 0 {
                r.highest_seq = ext_seq;
                r.highest_ts = ext_ts;
            }
        }
        self.observe_transit(ext_ts, arrival);
        self.packets.insert(
            ext_seq,
            Packet {
                ts: ext_ts,
                payload,
            },
        );
        self.stats.received += 1;
        self.enforce_bounds();
        Pushed::Accepted
    }

    /// Returns what to play for the next 20 ms. Call once per 20 ms tick with the current time.
    pub fn pull(&mut self, now: Instant) -> Pulled {
        self.pulls_since_shrink = self.pulls_since_shrink.saturating_add(1);
        self.fec_pulls_left = self.fec_pulls_left.saturating_sub(1);
        self.concealed_loss = false;
        // Slow shrink of the target toward what the jitter (and FEC) ask for; fast grow when
        // a loss has just added FEC headroom.
        let desired = self.desired_us();
        if self.target_us > desired {
            self.target_us = (self.target_us - SHRINK_PER_PULL.as_micros() as f64).max(desired);
        } else {
            self.target_us = desired;
        }
        let (next_seq, play_ts) = match self.state {
            State::Playing { next_seq, play_ts } => (next_seq, play_ts),
            State::Buffering => {
                let Some((&seq, first)) = self.packets.first_key_value() else {
                    return Pulled::NotReady;
                };
                let Some(d) = self.delay_us(now, first.ts) else {
                    return Pulled::NotReady;
                };
                if (d as f64) < self.target_us - half_frame_us() {
                    return Pulled::NotReady;
                }
                let play_ts = first.ts - self.frame_ts;
                self.state = State::Playing {
                    next_seq: seq,
                    play_ts,
                };
                self.pulls_since_shrink = 0;
                (seq, play_ts)
            }
        };
        let expected_ts = play_ts + self.frame_ts;
        let Some((&seq, first)) = self.packets.first_key_value() else {
            // Underrun: nothing has arrived. Time moves on; the sequence waits.
            let pulled = self.conceal(next_seq, expected_ts);
            if pulled == Pulled::Missing {
                self.stats.underruns += 1;
            }
            return pulled;
        };
        let due = first.ts <= expected_ts + self.frame_ts / 2;
        if !due {
            if seq > next_seq {
                // The slot `next_seq` is empty and the next packet is not due yet: lost.
                self.stats.lost += 1;
                self.note_loss();
                self.advance(1, false);
                self.state = State::Playing {
                    next_seq: next_seq + 1,
                    play_ts: expected_ts,
                };
                self.stats.concealed += 1;
                self.concealed_loss = true;
                return Pulled::Missing;
            }
            // A pause in the timestamps (DTX / silence suppression): wait for it.
            return self.conceal(next_seq, expected_ts);
        }
        let d = self.delay_us(now, expected_ts).unwrap_or(0);
        self.stats.current_delay = us_to_duration(d as f64);
        if (d as f64) < self.target_us - half_frame_us() {
            // Fast grow: insert a concealed frame, the stream timeline stays put.
            self.stats.stretched += 1;
            self.stats.concealed += 1;
            return Pulled::Missing;
        }
        if seq > next_seq {
            // The packets between were lost; the next one is due now.
            let gap = seq - next_seq;
            self.stats.lost += gap as u64;
            self.note_loss();
            self.advance(gap, false);
        }
        let mut seq = seq;
        // Dropping a frame takes 20 ms off the delay: only when that still leaves it within
        // half a frame of the target (no fast grow right after).
        let shrink = (d as f64) >= self.target_us + half_frame_us()
            && self.pulls_since_shrink >= SHRINK_INTERVAL_PULLS
            && self.packets.contains_key(&(seq + 1));
        if shrink {
            self.packets.remove(&seq);
            self.advance(1, true);
            self.stats.dropped += 1;
            self.pulls_since_shrink = 0;
            seq += 1;
        }
        let Some(packet) = self.packets.remove(&seq) else {
            // Checked above: `seq` is the first key, or `seq + 1` present when shrinking.
            return self.conceal(seq, expected_ts);
        };
        self.advance(1, true);
        self.conceal_run = 0;
        self.state = State::Playing {
            next_seq: seq + 1,
            play_ts: packet.ts,
        };
        Pulled::Frame(packet.payload)
    }

    /// Conceals one frame without consuming a sequence number; after [`MAX_CONCEAL_RUN`] in a
    /// row the stream counts as paused and pulls report `NotReady`.
    fn conceal(&mut self, next_seq: i64, expected_ts: i64) -> Pulled {
        self.state = State::Playing {
            next_seq,
            play_ts: expected_ts,
        };
        self.conceal_run = self.conceal_run.saturating_add(1);
        if self.conceal_run > MAX_CONCEAL_RUN {
            return Pulled::NotReady;
        }
        self.stats.concealed += 1;
        Pulled::Missing
    }

    /// A packet was lost: keep [`FEC_HEADROOM`] in the target for the next `fec_hold`.
    fn note_loss(&mut self) {
        let pulls = self.cfg.fec_hold.as_micros() / FRAME.as_micros();
        self.fec_pulls_left = u32::try_from(pulls).unwrap_or(u32::MAX);
    }

    /// Records `n` sequence numbers passing the playout point.
    fn advance(&mut self, n: i64, played: bool) {
        if n >= HISTORY as i64 {
            self.history = if played { u128::MAX } else { 0 };
            return;
        }
        for _ in 0..n {
            self.history = (self.history << 1) | u128::from(played);
        }
    }

    fn start_reference(&mut self, seq: u16, ts: u32, arrival: Instant, payload: Vec<u8>) {
        let ext_seq = EXT_BASE + i64::from(seq);
        let ext_ts = EXT_BASE + i64::from(ts);
        self.reference = Some(Reference {
            epoch: arrival,
            ts0: ext_ts,
            highest_seq: ext_seq,
            highest_ts: ext_ts,
        });
        self.observe_transit(ext_ts, arrival);
        self.packets.insert(
            ext_seq,
            Packet {
                ts: ext_ts,
                payload,
            },
        );
        self.stats.received += 1;
    }

    fn resync(&mut self, seq: u16, ts: u32, arrival: Instant, payload: Vec<u8>) -> Pushed {
        self.stats.resyncs += 1;
        self.reset();
        self.start_reference(seq, ts, arrival, payload);
        Pushed::Resynced
    }

    /// Drops the oldest packets while over the packet or span limit.
    fn enforce_bounds(&mut self) {
        let max_span = duration_to_ts(self.cfg.max_span, self.cfg.clock_rate);
        loop {
            let over_count = self.packets.len() > self.cfg.max_packets;
            let over_span = match (
                self.packets.first_key_value(),
                self.packets.last_key_value(),
            ) {
                (Some((_, a)), Some((_, b))) => b.ts - a.ts > max_span,
                _ => false,
            };
            if !(over_count || over_span) {
                break;
            }
            let Some((seq, p)) = self.packets.pop_first() else {
                break;
            };
            self.stats.overflow += 1;
            if let State::Playing { next_seq, .. } = self.state {
                if seq >= next_seq {
                    self.advance(seq - next_seq + 1, false);
                    self.state = State::Playing {
                        next_seq: seq + 1,
                        play_ts: p.ts,
                    };
                }
            }
        }
    }

    /// Updates the jitter estimate, the minimum transit and the target from one arrival.
    fn observe_transit(&mut self, ext_ts: i64, arrival: Instant) {
        let Some(transit) = self.transit_us(ext_ts, arrival) else {
            return;
        };
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs() as f64;
            self.jitter_us += (d - self.jitter_us) * JITTER_GAIN;
        }
        self.last_transit = Some(transit);
        self.min_transit.push(transit);
        let desired = self.desired_us();
        if desired > self.target_us {
            self.target_us = desired;
        }
    }

    fn desired_us(&self) -> f64 {
        let fec = if self.fec_pulls_left > 0 {
            FEC_HEADROOM.as_micros() as f64
        } else {
            0.0
        };
        (JITTER_BASE_US + JITTER_FACTOR * self.jitter_us + fec).clamp(self.min_us(), self.max_us())
    }

    fn min_us(&self) -> f64 {
        self.cfg.min_delay.as_micros() as f64
    }

    fn max_us(&self) -> f64 {
        self.cfg.max_delay.as_micros() as f64
    }

    /// `arrival − timestamp` in µs, both relative to the reference.
    fn transit_us(&self, ext_ts: i64, arrival: Instant) -> Option<i64> {
        let r = self.reference?;
        Some(signed_us(arrival, r.epoch) - self.ts_us(ext_ts - r.ts0))
    }

    /// How long after its best-case arrival the frame with timestamp `ext_ts` is played at `now`.
    fn delay_us(&self, now: Instant, ext_ts: i64) -> Option<i64> {
        let r = self.reference?;
        let min = self.min_transit.get()?;
        Some(signed_us(now, r.epoch) - self.ts_us(ext_ts - r.ts0) - min)
    }

    fn ts_us(&self, ts: i64) -> i64 {
        // |ts| < 2^41 here, so the product stays far inside i64.
        ts.saturating_mul(1_000_000) / i64::from(self.cfg.clock_rate)
    }
}

fn half_frame_us() -> f64 {
    FRAME.as_micros() as f64 / 2.0
}

fn signed_us(t: Instant, epoch: Instant) -> i64 {
    match t.checked_duration_since(epoch) {
        Some(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        None => -i64::try_from(epoch.duration_since(t).as_micros()).unwrap_or(i64::MAX),
    }
}

fn duration_to_ts(d: Duration, clock_rate: u32) -> i64 {
    i64::try_from(d.as_micros() * u128::from(clock_rate) / 1_000_000).unwrap_or(i64::MAX)
}

fn us_to_duration(us: f64) -> Duration {
    if us.is_finite() && us > 0.0 {
        Duration::from_micros(us as u64)
    } else {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;
    const TS_STEP: u32 = 960;

    /// One sent packet and when it arrives.
    #[derive(Clone)]
    struct Wire {
        arrival: Instant,
        seq: u16,
        ts: u32,
        index: u32,
    }

    /// Sends one packet every 20 ms from `t0`; `delay(i)` gives the network delay of packet `i`
    /// (`None` = lost). Returns the arrivals in time order.
    fn send(
        t0: Instant,
        count: u32,
        seq0: u16,
        ts0: u32,
        mut delay: impl FnMut(u32) -> Option<Duration>,
    ) -> Vec<Wire> {
        let mut out: Vec<Wire> = (0..count)
            .filter_map(|i| {
                let d = delay(i)?;
                Some(Wire {
                    arrival: t0 + FRAME * i + d,
                    seq: seq0.wrapping_add(i as u16),
                    ts: ts0.wrapping_add(i.wrapping_mul(TS_STEP)),
                    index: i,
                })
            })
            .collect();
        out.sort_by_key(|w| (w.arrival, w.index));
        out
    }

    /// Pulls every 20 ms from `t0 + 7 ms` for `pulls` ticks, pushing what has arrived before
    /// each pull. Returns the pulled results (frames decoded back to packet indices).
    fn run(jb: &mut JitterBuffer, t0: Instant, wire: &[Wire], pulls: u32) -> Vec<Option<u32>> {
        let mut it = wire.iter().peekable();
        let mut out = Vec::new();
        for k in 0..pulls {
            let now = t0 + Duration::from_millis(7) + FRAME * k;
            while let Some(w) = it.next_if(|w| w.arrival <= now) {
                jb.push(w.seq, w.ts, w.arrival, w.index.to_be_bytes().to_vec());
            }
            out.push(match jb.pull(now) {
                Pulled::Frame(p) => Some(u32::from_be_bytes(p.try_into().unwrap())),
                Pulled::Missing | Pulled::NotReady => None,
            });
        }
        out
    }

    fn played(out: &[Option<u32>]) -> Vec<u32> {
        out.iter().flatten().copied().collect()
    }

    fn assert_increasing(v: &[u32]) {
        assert!(v.windows(2).all(|w| w[0] < w[1]), "not in order: {v:?}");
    }

    fn jb() -> JitterBuffer {
        JitterBuffer::new(JitterConfig::new(RATE)).unwrap()
    }

    #[test]
    fn clean_stream_plays_everything_in_order() {
        let t0 = Instant::now();
        let wire = send(t0, 200, 1000, 5000, |_| Some(Duration::from_millis(30)));
        let mut b = jb();
        let out = run(&mut b, t0, &wire, 202);
        let p = played(&out);
        assert_eq!(p, (0..200).collect::<Vec<_>>());
        let s = b.stats();
        assert_eq!((s.lost, s.late, s.duplicates, s.resyncs), (0, 0, 0, 0));
        assert_eq!(s.target_delay, Duration::from_millis(10));
        assert!(s.current_delay < Duration::from_millis(20), "{s:?}");
        // Pulls before the first frame are NotReady, not Missing: nothing was concealed.
        assert_eq!((s.concealed, s.underruns), (0, 0), "{s:?}");
        // After the end of the stream: a few concealed frames, then NotReady.
        let out = run(&mut b, t0, &[], 240);
        assert!(out.iter().all(Option::is_none));
        let s = b.stats();
        assert_eq!(s.concealed, u64::from(MAX_CONCEAL_RUN), "{s:?}");
        assert_eq!(s.underruns, u64::from(MAX_CONCEAL_RUN), "{s:?}");
    }

    #[test]
    fn reordering_is_undone() {
        let t0 = Instant::now();
        let mut rng = fastrand::Rng::with_seed(11);
        // Up to 35 ms of jitter reorders neighbours often.
        let wire = send(t0, 500, 0, 0, |_| {
            Some(Duration::from_millis(20 + rng.u64(0..35)))
        });
        let reordered = wire.windows(2).filter(|w| w[0].index > w[1].index).count();
        assert!(reordered > 30, "{reordered}");
        let mut b = jb();
        let out = run(&mut b, t0, &wire, 540);
        let p = played(&out);
        assert_increasing(&p);
        let s = b.stats();
        // A few late packets while the target adapts at the start, then none.
        assert!(s.late <= 5, "{s:?}");
        assert_eq!(p.len() as u64 + s.late + s.dropped, 500, "{s:?}");
        assert!(s.target_delay >= Duration::from_millis(35), "{s:?}");
    }

    #[test]
    fn losses_are_counted_and_concealed() {
        let t0 = Instant::now();
        let mut rng = fastrand::Rng::with_seed(3);
        let mut lost = 0;
        let wire = send(t0, 1000, 60_000, u32::MAX - 100_000, |i| {
            // Never lose the first or the last packet: they bound what counts as lost.
            if i != 0 && i != 999 && rng.f32() < 0.05 {
                lost += 1;
                None
            } else {
                Some(Duration::from_millis(40))
            }
        });
        let mut b = jb();
        let out = run(&mut b, t0, &wire, 1003);
        let p = played(&out);
        assert_increasing(&p);
        let s = b.stats();
        assert_eq!(s.lost, lost, "{s:?}");
        // Every lost slot concealed exactly once (after two losses in a row, the first of them
        // shows as an underrun: nothing newer had arrived yet), and one frame inserted when the
        // first loss added FEC headroom (the losses come too often for the hold to end).
        assert_eq!(s.stretched, 1, "{s:?}");
        assert_eq!(s.concealed, lost + 1, "{s:?}");
        assert_eq!(s.target_delay, Duration::from_millis(30), "{s:?}");
        assert_eq!(p.len() as u64, 1000 - lost);
        assert_eq!(s.resyncs, 0);
    }

    #[test]
    fn late_packet_is_counted_and_grows_the_delay() {
        let t0 = Instant::now();
        let wire = send(t0, 100, 7, 7, |i| {
            Some(Duration::from_millis(if i == 50 { 300 } else { 20 }))
        });
        let mut b = jb();
        let out = run(&mut b, t0, &wire, 120);
        let s = b.stats();
        assert_eq!(s.late, 1, "{s:?}");
        assert_eq!(s.lost, 1, "{s:?}");
        assert!(!played(&out).contains(&50));
        assert!(s.target_delay > Duration::from_millis(20), "{s:?}");
    }

    #[test]
    fn delay_grows_under_jitter_and_shrinks_after() {
        let t0 = Instant::now();
        let mut rng = fastrand::Rng::with_seed(99);
        // 10 s calm, 10 s with up to 120 ms of jitter, 30 s calm.
        let wire = send(t0, 2500, 0, 0, |i| {
            let extra = if (500..1000).contains(&i) {
                rng.u64(0..120)
            } else {
                0
            };
            Some(Duration::from_millis(25 + extra))
        });
        let mut it = wire.iter().peekable();
        let mut b = jb();
        let mut samples = Vec::new();
        let mut order = Vec::new();
        for k in 0..2520u32 {
            let now = t0 + Duration::from_millis(7) + FRAME * k;
            while let Some(w) = it.next_if(|w| w.arrival <= now) {
                b.push(w.seq, w.ts, w.arrival, w.index.to_be_bytes().to_vec());
            }
            if let Pulled::Frame(p) = b.pull(now) {
                order.push(u32::from_be_bytes(p.try_into().unwrap()));
            }
            if k % 500 == 499 || k == 990 {
                samples.push((k, b.stats()));
            }
        }
        assert_increasing(&order);
        let at = |k| {
            samples
                .iter()
                .find(|(kk, _)| *kk == k)
                .map(|(_, s)| *s)
                .unwrap()
        };
        let calm = at(499);
        let jittery = at(990);
        let after = at(2499);
        assert!(calm.target_delay <= Duration::from_millis(25), "{calm:?}");
        assert!(calm.current_delay <= Duration::from_millis(35), "{calm:?}");
        assert!(
            jittery.target_delay >= Duration::from_millis(100),
            "{jittery:?}"
        );
        assert!(
            jittery.current_delay >= Duration::from_millis(80),
            "{jittery:?}"
        );
        assert!(jittery.jitter >= Duration::from_millis(20), "{jittery:?}");
        assert!(after.target_delay <= Duration::from_millis(25), "{after:?}");
        assert!(
            after.current_delay <= Duration::from_millis(45),
            "{after:?}"
        );
        assert!(after.dropped > 0 && after.stretched > 0, "{after:?}");
        // During the jittery phase a few packets come later than even the adapted target.
        assert!(after.late < 25, "{after:?}");
        assert_eq!(after.resyncs, 0);
    }

    #[test]
    fn wraparound_of_sequence_and_timestamp() {
        let t0 = Instant::now();
        let wire = send(t0, 300, 65_400, u32::MAX - 960 * 50, |i| {
            // Swap pairs around the wrap to make it harder.
            Some(Duration::from_millis(if i % 2 == 0 { 45 } else { 25 }))
        });
        let mut b = jb();
        let out = run(&mut b, t0, &wire, 320);
        assert_eq!(played(&out), (0..300).collect::<Vec<_>>());
        let s = b.stats();
        assert_eq!((s.lost, s.late, s.resyncs), (0, 0, 0), "{s:?}");
    }

    #[test]
    fn duplicates_are_ignored() {
        let t0 = Instant::now();
        let mut wire = send(t0, 100, 0, 0, |_| Some(Duration::from_millis(20)));
        // Every packet again 5 ms later, and every tenth once more 100 ms later (after playout).
        let again: Vec<Wire> = wire
            .iter()
            .flat_map(|w| {
                let mut v = vec![Wire {
                    arrival: w.arrival + Duration::from_millis(5),
                    ..w.clone()
                }];
                if w.index % 10 == 0 {
                    v.push(Wire {
                        arrival: w.arrival + Duration::from_millis(100),
                        ..w.clone()
                    });
                }
                v
            })
            .collect();
        wire.extend(again);
        wire.sort_by_key(|w| (w.arrival, w.index));
        let mut b = jb();
        let out = run(&mut b, t0, &wire, 120);
        assert_eq!(played(&out), (0..100).collect::<Vec<_>>());
        let s = b.stats();
        assert_eq!(s.duplicates, 110, "{s:?}");
        assert_eq!(s.late, 0, "{s:?}");
    }

    #[test]
    fn resync_on_jump_and_on_restart() {
        let t0 = Instant::now();
        let mut b = jb();
        let mut now = t0;
        let mut frames = 0;
        let mut feed = |b: &mut JitterBuffer, seq: u16, ts: u32, now: Instant| {
            let r = b.push(seq, ts, now, vec![1]);
            if matches!(b.pull(now), Pulled::Frame(_)) {
                frames += 1;
            }
            r
        };
        for i in 0..50u16 {
            feed(&mut b, i, u32::from(i) * 960, now);
            now += FRAME;
        }
        // Sequence jumps forward by 10000: resync.
        assert_eq!(feed(&mut b, 10_050, 50 * 960, now), Pushed::Resynced);
        for i in 1..50u16 {
            now += FRAME;
            assert_eq!(
                feed(&mut b, 10_050 + i, u32::from(50 + i) * 960, now),
                Pushed::Accepted
            );
        }
        // Sender restarts at a low sequence number: late twice, then resync.
        now += FRAME;
        assert_eq!(feed(&mut b, 3, 0, now), Pushed::Late);
        assert_eq!(feed(&mut b, 4, 960, now), Pushed::Late);
        assert_eq!(feed(&mut b, 5, 1920, now), Pushed::Resynced);
        // Timestamp runs backwards while the sequence advances: resync.
        assert_eq!(feed(&mut b, 6, 1_000_000_000, now), Pushed::Resynced);
        assert_eq!(b.stats().resyncs, 3);
        assert!(frames > 80, "{frames}");
    }

    #[test]
    fn dtx_pause_is_not_loss() {
        let t0 = Instant::now();
        // 50 packets, a 1 s timestamp pause with contiguous sequence numbers, 50 more.
        let mut wire = send(t0, 50, 0, 0, |_| Some(Duration::from_millis(30)));
        let later = send(t0 + Duration::from_secs(2), 50, 50, 100 * 960, |_| {
            Some(Duration::from_millis(30))
        });
        wire.extend(later.into_iter().map(|w| Wire {
            index: w.index + 50,
            ..w
        }));
        let mut b = jb();
        let out = run(&mut b, t0, &wire, 152);
        assert_eq!(played(&out), (0..100).collect::<Vec<_>>());
        let s = b.stats();
        assert_eq!((s.lost, s.late), (0, 0), "{s:?}");
        // The pause is concealed briefly, then reported as NotReady.
        assert_eq!(s.concealed, u64::from(MAX_CONCEAL_RUN), "{s:?}");
        assert!(out[52..102].iter().all(Option::is_none));
    }

    #[test]
    fn memory_is_bounded_under_a_flood() {
        let t0 = Instant::now();
        let mut rng = fastrand::Rng::with_seed(5);
        let mut b = jb();
        // Nobody pulls; random and sequential floods of maximal payloads.
        for i in 0..50_000u32 {
            let (seq, ts) = if i % 2 == 0 {
                (rng.u16(..), rng.u32(..))
            } else {
                (i as u16, i.wrapping_mul(960))
            };
            b.push(seq, ts, t0, vec![0; MAX_PAYLOAD_BYTES]);
            assert!(b.stats().buffered <= 200);
        }
        for i in 0..10_000u32 {
            b.push(i as u16, i * 960, t0, vec![0; 100]);
        }
        assert!(b.stats().buffered <= 200);
        let held: usize = b.packets.values().map(|p| p.payload.len()).sum();
        assert!(held <= 200 * MAX_PAYLOAD_BYTES);
        assert_eq!(
            b.push(1, 1, t0, vec![0; MAX_PAYLOAD_BYTES + 1]),
            Pushed::Oversized
        );
        assert!(b.stats().overflow > 0);
        // Span bound: 3 s of audio in 100 packets (60 ms each) keeps at most 2 s.
        let mut b = jb();
        for i in 0..100u32 {
            b.push(i as u16, i * 2880, t0, vec![0]);
        }
        let first = b.packets.first_key_value().unwrap().1.ts;
        let last = b.packets.last_key_value().unwrap().1.ts;
        assert!(last - first <= 2 * i64::from(RATE));
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let t0 = Instant::now();
        let mut rng = fastrand::Rng::with_seed(1234);
        let mut b = jb();
        let mut now = t0;
        for _ in 0..20_000 {
            match rng.u8(0..4) {
                0 => now += Duration::from_millis(rng.u64(0..100)),
                1 => {
                    let _ = b.pull(now);
                }
                _ => {
                    let arrival = if rng.bool() { now } else { t0 };
                    let len = rng.usize(0..2000);
                    b.push(rng.u16(..), rng.u32(..), arrival, vec![0; len]);
                }
            }
        }
        assert!(b.stats().buffered <= 200);
        // A pull before the epoch is fine too.
        let mut b = jb();
        b.push(1, 1, t0 + Duration::from_secs(5), vec![]);
        assert_eq!(b.pull(t0), Pulled::NotReady);
    }

    /// One pull of [`at_phase`]: what it gave, the packets [`JitterBuffer::peek_next_payload`]
    /// and [`JitterBuffer::fec_payload`] offered after it, and the statistics after it.
    struct Tick {
        k: u32,
        pulled: Pulled,
        peek: Option<u32>,
        fec: Option<u32>,
        after: JitterStats,
    }

    /// Every pull phase against the sender's clock, in 0.5 ms steps.
    fn phases() -> impl Iterator<Item = Duration> {
        (0..40u64).map(|i| Duration::from_micros(500 * i))
    }

    /// `count` packets with a constant 20 ms transit, the packets in `lost` lost, pulled every
    /// 20 ms at `phase` after the sender's frame boundaries for `pulls` ticks.
    fn at_phase(phase: Duration, count: u32, lost: &[u32], pulls: u32) -> Vec<Tick> {
        let t0 = Instant::now();
        let wire = send(t0, count, 0, 0, |i| {
            (!lost.contains(&i)).then_some(Duration::from_millis(20))
        });
        let mut b = jb();
        let mut it = wire.iter().peekable();
        let mut out = Vec::new();
        for k in 0..pulls {
            let now = t0 + phase + FRAME * k;
            while let Some(w) = it.next_if(|w| w.arrival <= now) {
                b.push(w.seq, w.ts, w.arrival, w.index.to_be_bytes().to_vec());
            }
            let pulled = b.pull(now);
            let index = |p: Option<&[u8]>| p.map(|p| u32::from_be_bytes(p.try_into().unwrap()));
            out.push(Tick {
                k,
                pulled,
                peek: index(b.peek_next_payload()),
                fec: index(b.fec_payload()),
                after: b.stats(),
            });
        }
        out
    }

    fn played_ticks(ticks: &[Tick]) -> Vec<u32> {
        ticks
            .iter()
            .filter_map(|t| match &t.pulled {
                Pulled::Frame(p) => Some(u32::from_be_bytes(p.clone().try_into().unwrap())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn without_loss_the_buffer_runs_at_the_low_floor() {
        for phase in phases() {
            let ticks = at_phase(phase, 300, &[], 301);
            assert_eq!(
                played_ticks(&ticks),
                (0..300).collect::<Vec<_>>(),
                "{phase:?}"
            );
            let s = ticks.last().unwrap().after;
            assert_eq!(s.target_delay, Duration::from_millis(10), "{phase:?} {s:?}");
            assert_eq!((s.concealed, s.stretched, s.dropped), (0, 0, 0), "{s:?}");
            // Played within one frame of the best case, whatever the phase.
            for t in ticks
                .iter()
                .filter(|t| matches!(t.pulled, Pulled::Frame(_)))
            {
                assert!(
                    t.after.current_delay < FRAME,
                    "{phase:?} pull {}: {:?}",
                    t.k,
                    t.after
                );
            }
        }
    }

    #[test]
    fn after_a_first_loss_fec_has_the_next_packet_for_later_ones() {
        for phase in phases() {
            let ticks = at_phase(phase, 400, &[100, 150, 300], 402);
            let p = played_ticks(&ticks);
            assert_increasing(&p);
            assert_eq!(p.len(), 397, "{phase:?}");
            // The first loss, at the low floor: nothing newer has arrived when its slot is
            // due (an underrun, PLC alone).
            let first = ticks.iter().find(|t| t.pulled == Pulled::Missing).unwrap();
            assert_eq!(first.after.underruns, 1, "{phase:?}");
            assert_eq!((first.peek, first.fec), (None, None), "{phase:?}");
            // It raised the target by one frame: later losses are concealed while the packet
            // after them is there for FEC, and FEC is offered for nothing else (not for the
            // frame inserted to raise the delay, where the next packet is still to be played).
            let fec: Vec<(Pulled, u32)> = ticks
                .iter()
                .filter_map(|t| Some((t.pulled.clone(), t.fec?)))
                .collect();
            assert_eq!(
                fec,
                [(Pulled::Missing, 151), (Pulled::Missing, 301)],
                "{phase:?}"
            );
            // The inserted frame: the next packet is there but is still to be played.
            let inserted: Vec<&Tick> = ticks
                .iter()
                .filter(|t| t.pulled == Pulled::Missing && t.peek.is_some() && t.fec.is_none())
                .collect();
            assert_eq!(inserted.len(), 1, "{phase:?}");
            assert_eq!(inserted[0].after.stretched, 1, "{phase:?}");
            for t in ticks.iter().filter(|t| (130..=320).contains(&t.k)) {
                assert_eq!(
                    t.after.target_delay,
                    Duration::from_millis(30),
                    "{phase:?} pull {}",
                    t.k
                );
                if matches!(t.pulled, Pulled::Frame(_)) {
                    let d = t.after.current_delay;
                    assert!(d >= FRAME && d < 2 * FRAME, "{phase:?} pull {}: {d:?}", t.k);
                }
            }
            let s = ticks.last().unwrap().after;
            assert_eq!((s.lost, s.underruns, s.late), (3, 1, 0), "{phase:?} {s:?}");
            assert_eq!((s.stretched, s.concealed), (1, 4), "{phase:?} {s:?}");
        }
    }

    #[test]
    fn the_low_floor_returns_after_a_quiet_fec_hold() {
        // Losses at 100 and 300; the hold (5 s = 250 pulls) restarts at the second.
        let hold = JitterConfig::new(RATE).fec_hold.as_millis() as u32 / 20;
        assert_eq!(hold, 250);
        for phase in phases() {
            let ticks = at_phase(phase, 1000, &[100, 300], 1002);
            let p = played_ticks(&ticks);
            assert_increasing(&p);
            let target = |k: usize| ticks[k].after.target_delay;
            assert_eq!(target(90), Duration::from_millis(10), "{phase:?}");
            assert_eq!(target(200), Duration::from_millis(30), "{phase:?}");
            // 100 + 250 pulls later the first hold would be over: renewed by the second loss.
            assert_eq!(target(420), Duration::from_millis(30), "{phase:?}");
            assert_eq!(target(540), Duration::from_millis(30), "{phase:?}");
            // Quiet since 300: the target shrinks back (0.5 ms per pull), then a frame is
            // dropped so that the delay follows.
            assert_eq!(target(650), Duration::from_millis(10), "{phase:?}");
            for t in ticks[700..].iter() {
                if matches!(t.pulled, Pulled::Frame(_)) {
                    assert!(t.after.current_delay < FRAME, "{phase:?} pull {}", t.k);
                }
            }
            let s = ticks.last().unwrap().after;
            // Every frame inserted to raise the delay was dropped again.
            assert_eq!(s.stretched, s.dropped, "{phase:?} {s:?}");
            assert_eq!(p.len() as u64 + s.lost + s.dropped, 1000, "{phase:?} {s:?}");
        }
    }

    #[test]
    fn a_zero_fec_hold_keeps_the_low_floor_under_loss() {
        let t0 = Instant::now();
        let wire = send(t0, 300, 0, 0, |i| {
            (i % 50 != 25).then_some(Duration::from_millis(20))
        });
        let mut b = JitterBuffer::new(JitterConfig {
            fec_hold: Duration::ZERO,
            ..JitterConfig::new(RATE)
        })
        .unwrap();
        let out = run(&mut b, t0, &wire, 302);
        let s = b.stats();
        assert_eq!(played(&out).len(), 294, "{s:?}");
        assert_eq!(s.target_delay, Duration::from_millis(10), "{s:?}");
        assert_eq!((s.lost, s.stretched), (6, 0), "{s:?}");
    }

    #[test]
    fn bad_configs() {
        let mut c = JitterConfig::new(44_123);
        assert_eq!(
            JitterBuffer::new(c).unwrap_err(),
            JitterConfigError::ClockRate(44_123)
        );
        c = JitterConfig::new(8_000);
        c.min_delay = Duration::from_millis(300);
        assert_eq!(
            JitterBuffer::new(c).unwrap_err(),
            JitterConfigError::DelayBounds
        );
        c = JitterConfig::new(8_000);
        c.max_packets = 0;
        assert_eq!(
            JitterBuffer::new(c).unwrap_err(),
            JitterConfigError::MaxPackets
        );
        assert!(JitterBuffer::new(JitterConfig::new(8_000)).is_ok());
    }
}
