//! DTMF as RFC 4733 telephone-events: the 4-byte payload codec, a [`DtmfSender`] that turns a
//! digit string into one RTP payload per 20 ms tick, and a [`DtmfReceiver`] that turns received
//! payloads back into digits, once per event. Owns the event schedule and de-duplication. Does
//! not build RTP headers, pick the payload type or generate in-band tones: the caller puts each
//! [`DtmfPacket`] in an RTP packet with the negotiated `telephone-event` payload type.
//!
//! Digits `0`–`9`, `*`, `#`, `A`–`D` are events 0–15 (RFC 4733 §3.2). The sender also accepts
//! lowercase `a`–`d` and `,` (a two-second pause), like the WebRTC `insertDTMF` API.
//!
//! Received payloads are untrusted: a short payload is an error, any other bytes decode.
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use std::collections::VecDeque;
use std::time::Duration;

/// Length of one telephone-event payload.
pub const PAYLOAD_LEN: usize = 4;
/// Most tones (digits and pauses) that may be queued at once.
pub const MAX_QUEUED_TONES: usize = 256;
/// The pause a `,` inserts.
pub const COMMA_PAUSE: Duration = Duration::from_secs(2);
/// One sender tick.
const TICK: Duration = Duration::from_millis(20);
/// End packets are sent this many times (RFC 4733 §2.5.1.4 recommends three).
const END_PACKETS: u32 = 3;
/// Events remembered by the receiver for de-duplication.
const RECEIVER_MEMORY: usize = 16;

/// Errors from the DTMF codec, sender and receiver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// A character that is not a DTMF digit or `,`.
    #[error("invalid DTMF character {0:?}")]
    InvalidTone(char),
    /// The queue would exceed [`MAX_QUEUED_TONES`].
    #[error("too many queued DTMF tones (at most {max})")]
    TooManyTones {
        /// The limit.
        max: usize,
    },
    /// A received payload shorter than [`PAYLOAD_LEN`].
    #[error("telephone-event payload of {0} bytes is too short")]
    Truncated(usize),
    /// Unusable sender settings.
    #[error("invalid DTMF sender settings: {0}")]
    InvalidConfig(&'static str),
}

/// The event number (0–15) of a DTMF digit, accepting lowercase `a`–`d`.
pub fn digit_to_event(c: char) -> Option<u8> {
    Some(match c {
        '0'..='9' => c as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => c as u8 - b'A' + 12,
        'a'..='d' => c as u8 - b'a' + 12,
        _ => return None,
    })
}

/// The DTMF digit of event numbers 0–15 (`A`–`D` uppercase).
pub fn event_to_digit(event: u8) -> Option<char> {
    Some(match event {
        0..=9 => char::from(b'0' + event),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + event - 12),
        _ => return None,
    })
}

/// One RFC 4733 telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TelephoneEvent {
    /// Event number (0–15 for DTMF digits).
    pub event: u8,
    /// The E bit: this is (a retransmission of) the last packet of the event.
    pub end: bool,
    /// Power level in -dBm0, 0–63 (larger is quieter); higher bits are dropped on encode.
    pub volume: u8,
    /// Duration so far, in RTP clock units from the event's timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// The 4 payload bytes. The reserved bit is sent as 0.
    pub fn encode(&self) -> [u8; PAYLOAD_LEN] {
        let [d0, d1] = self.duration.to_be_bytes();
        let flags = if self.end { 0x80 } else { 0 } | (self.volume & 0x3F);
        [self.event, flags, d0, d1]
    }

    /// Decodes the first 4 bytes of `payload` (the reserved bit is ignored; trailing bytes, which
    /// a plain telephone-event payload does not have, are ignored too).
    pub fn decode(payload: &[u8]) -> Result<Self, DtmfError> {
        let Some(&[event, flags, d0, d1]) = payload.first_chunk::<PAYLOAD_LEN>() else {
            return Err(DtmfError::Truncated(payload.len()));
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The DTMF digit, for events 0–15.
    pub fn digit(&self) -> Option<char> {
        event_to_digit(self.event)
    }
}

/// Settings for a [`DtmfSender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfSenderConfig {
    /// RTP clock rate of the negotiated `telephone-event` (8000, or 48000 next to Opus).
    pub clock_rate: u32,
    /// Length of each tone, 40–1000 ms (default 100 ms). Rounded up to 20 ms.
    pub tone: Duration,
    /// Silence between tones, 40–1000 ms (default 70 ms). Rounded so that tone + gap is a whole
    /// number of 20 ms ticks.
    pub gap: Duration,
    /// Power level in -dBm0, 0–63 (default 10).
    pub volume: u8,
}

impl DtmfSenderConfig {
    /// Defaults (100 ms tones, 70 ms gaps, −10 dBm0) for `clock_rate`.
    pub fn new(clock_rate: u32) -> Self {
        DtmfSenderConfig {
            clock_rate,
            tone: Duration::from_millis(100),
            gap: Duration::from_millis(70),
            volume: 10,
        }
    }
}

/// One telephone-event RTP payload to send, with the RTP header fields it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// The payload.
    pub payload: [u8; PAYLOAD_LEN],
    /// RTP timestamp: the media clock at the event's first tick, the same for all its packets.
    pub rtp_timestamp: u32,
    /// RTP marker bit: set on the first packet of an event.
    pub marker: bool,
    /// E bit: one of the (three) final packets.
    pub end: bool,
    /// Event number.
    pub event: u8,
    /// Duration field, RTP clock units since `rtp_timestamp`.
    pub duration: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Digit(u8),
    /// Ticks of silence.
    Pause(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendState {
    Idle,
    /// Sending event `event` begun at `start_ts`; `ticks` packets sent so far.
    Tone {
        event: u8,
        start_ts: u32,
        ticks: u32,
    },
    /// `left` more end packets to repeat, then `gap_after` silent ticks.
    Ending {
        event: u8,
        start_ts: u32,
        left: u32,
        gap_after: u32,
    },
    /// Silent ticks before the next tone.
    Gap(u32),
}

/// Turns digit strings into a telephone-event packet schedule (see the module docs).
///
/// Call [`DtmfSender::poll`] once per 20 ms audio tick with the RTP timestamp that tick's audio
/// would carry. While [`DtmfSender::is_active`] is true the caller should send the returned
/// packets instead of audio (RFC 4733 §2.5.1.1 lets either happen; not mixing is simplest).
#[derive(Debug, Clone)]
pub struct DtmfSender {
    cfg: DtmfSenderConfig,
    frame: u32,
    tone_ticks: u32,
    gap_ticks: u32,
    queue: VecDeque<Tone>,
    state: SendState,
}

impl DtmfSender {
    /// A sender with `config`.
    pub fn new(config: DtmfSenderConfig) -> Result<Self, DtmfError> {
        let rate = config.clock_rate;
        if !(8_000..=48_000).contains(&rate) || !rate.is_multiple_of(50) {
            return Err(DtmfError::InvalidConfig(
                "clock rate must be 8000..=48000, multiple of 50",
            ));
        }
        let ms = |d: Duration| d.as_millis();
        if !(40..=1000).contains(&ms(config.tone)) {
            return Err(DtmfError::InvalidConfig("tone must be 40..=1000 ms"));
        }
        if !(40..=1000).contains(&ms(config.gap)) {
            return Err(DtmfError::InvalidConfig("gap must be 40..=1000 ms"));
        }
        let ticks = |d: Duration| d.as_millis().div_ceil(TICK.as_millis()) as u32;
        let tone_ticks = ticks(config.tone);
        let gap_ticks = ticks(config.tone + config.gap) - tone_ticks;
        let frame = rate / 50;
        // 1000 ms at 48 kHz is 48000 units: the duration field always fits.
        Ok(DtmfSender {
            cfg: config,
            frame,
            tone_ticks,
            gap_ticks,
            queue: VecDeque::new(),
            state: SendState::Idle,
        })
    }

    /// Queues `tones` (digits, `,` for a pause) after anything already queued. Nothing is
    /// queued if any character is invalid or the queue would get too long.
    pub fn insert(&mut self, tones: &str) -> Result<(), DtmfError> {
        let mut parsed = Vec::new();
        for c in tones.chars() {
            if parsed.len() + self.queue.len() >= MAX_QUEUED_TONES {
                return Err(DtmfError::TooManyTones {
                    max: MAX_QUEUED_TONES,
                });
            }
            if c == ',' {
                parsed.push(Tone::Pause(
                    (COMMA_PAUSE.as_millis() / TICK.as_millis()) as u32,
                ));
            } else {
                parsed.push(Tone::Digit(
                    digit_to_event(c).ok_or(DtmfError::InvalidTone(c))?,
                ));
            }
        }
        self.queue.extend(parsed);
        Ok(())
    }

    /// Digits and pauses still queued (not counting the one being sent).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether an event is being sent (tone or its end packets): audio should be held back.
    pub fn is_active(&self) -> bool {
        matches!(
            self.state,
            SendState::Tone { .. } | SendState::Ending { .. }
        )
    }

    /// Whether nothing is being sent and nothing is queued.
    pub fn is_idle(&self) -> bool {
        self.state == SendState::Idle && self.queue.is_empty()
    }

    /// Drops the queued tones. A tone being sent finishes normally.
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// Advances one 20 ms tick. `rtp_timestamp` is the media clock of this tick; it becomes the
    /// timestamp of an event that starts now. Returns the packet to send this tick, if any.
    pub fn poll(&mut self, rtp_timestamp: u32) -> Option<DtmfPacket> {
        match self.state {
            SendState::Idle => match self.queue.pop_front()? {
                Tone::Pause(ticks) => {
                    self.state = SendState::Gap(ticks.saturating_sub(1));
                    None
                }
                Tone::Digit(event) => {
                    self.state = SendState::Tone {
                        event,
                        start_ts: rtp_timestamp,
                        ticks: 0,
                    };
                    self.tone_tick(event, rtp_timestamp, 0)
                }
            },
            SendState::Tone {
                event,
                start_ts,
                ticks,
            } => self.tone_tick(event, start_ts, ticks),
            SendState::Ending {
                event,
                start_ts,
                left,
                gap_after,
            } => {
                self.state = if left > 1 {
                    SendState::Ending {
                        event,
                        start_ts,
                        left: left - 1,
                        gap_after,
                    }
                } else {
                    Self::gap_or_idle(gap_after)
                };
                Some(self.packet(event, start_ts, self.tone_ticks, true, false))
            }
            SendState::Gap(left) => {
                self.state = Self::gap_or_idle(left.saturating_sub(1));
                None
            }
        }
    }

    fn gap_or_idle(left: u32) -> SendState {
        if left == 0 {
            SendState::Idle
        } else {
            SendState::Gap(left)
        }
    }

    /// Sends packet number `ticks` (0-based) of a tone.
    fn tone_tick(&mut self, event: u8, start_ts: u32, ticks: u32) -> Option<DtmfPacket> {
        let n = ticks + 1;
        let end = n >= self.tone_ticks;
        self.state = if end {
            // The repeats use up the first ticks of the gap (gap ≥ 2 ticks by construction).
            SendState::Ending {
                event,
                start_ts,
                left: END_PACKETS - 1,
                gap_after: self.gap_ticks.saturating_sub(END_PACKETS - 1),
            }
        } else {
            SendState::Tone {
                event,
                start_ts,
                ticks: n,
            }
        };
        Some(self.packet(event, start_ts, n, end, ticks == 0))
    }

    fn packet(&self, event: u8, start_ts: u32, ticks: u32, end: bool, marker: bool) -> DtmfPacket {
        let duration = u16::try_from(ticks.saturating_mul(self.frame)).unwrap_or(u16::MAX);
        let ev = TelephoneEvent {
            event,
            end,
            volume: self.cfg.volume,
            duration,
        };
        DtmfPacket {
            payload: ev.encode(),
            rtp_timestamp: start_ts,
            marker,
            end,
            event,
            duration,
        }
    }
}

/// A digit detected by [`DtmfReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    /// The digit (`0`–`9`, `*`, `#`, `A`–`D`).
    pub digit: char,
    /// Its event number.
    pub event: u8,
    /// RTP timestamp of the event (its start).
    pub rtp_timestamp: u32,
    /// Volume of the first packet seen, -dBm0.
    pub volume: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CurrentEvent {
    ts: u32,
    event: u8,
    duration: u16,
    ended: bool,
}

/// Turns received telephone-event payloads into digits, each exactly once.
///
/// An event is identified by its RTP timestamp and event number. The first packet seen of an
/// event reports the digit, whether or not it was the start packet (lost start packets are
/// fine); later packets, including the repeated end packets and network duplicates, are
/// absorbed. A long event split into segments (RFC 4733 §2.5.1.3, a new timestamp continuing
/// where the previous segment's duration ended, without an end packet) counts once. Packets of
/// an event older than the current one that was never seen are ignored.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    current: Option<CurrentEvent>,
    recent: VecDeque<(u32, u8)>,
}

impl DtmfReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers one received payload with its RTP timestamp. Returns the digit if this packet is
    /// the first seen of a new DTMF event. Non-DTMF events (16 and above) are tracked but not
    /// reported.
    pub fn push(
        &mut self,
        rtp_timestamp: u32,
        payload: &[u8],
    ) -> Result<Option<DtmfDigit>, DtmfError> {
        let ev = TelephoneEvent::decode(payload)?;
        let key = (rtp_timestamp, ev.event);
        if self.recent.contains(&key) {
            if let Some(cur) = self.current.as_mut() {
                if (cur.ts, cur.event) == key {
                    cur.duration = cur.duration.max(ev.duration);
                    cur.ended |= ev.end;
                }
            }
            return Ok(None);
        }
        if let Some(cur) = self.current.as_mut() {
            let continues = !cur.ended
                && cur.event == ev.event
                && rtp_timestamp == cur.ts.wrapping_add(u32::from(cur.duration));
            if continues {
                cur.ts = rtp_timestamp;
                cur.duration = ev.duration;
                cur.ended = ev.end;
                self.remember(key);
                return Ok(None);
            }
            // Older than the current event: a straggler of an event never seen; ignore.
            if (rtp_timestamp.wrapping_sub(cur.ts) as i32) < 0 {
                return Ok(None);
            }
        }
        self.current = Some(CurrentEvent {
            ts: rtp_timestamp,
            event: ev.event,
            duration: ev.duration,
            ended: ev.end,
        });
        self.remember(key);
        Ok(ev.digit().map(|digit| DtmfDigit {
            digit,
            event: ev.event,
            rtp_timestamp,
            volume: ev.volume,
        }))
    }

    fn remember(&mut self, key: (u32, u8)) {
        if self.recent.len() >= RECEIVER_MEMORY {
            self.recent.pop_front();
        }
        self.recent.push_back(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &str = "0123456789*#ABCD";

    /// Runs `sender` until idle with the media clock advancing by one frame per tick; returns
    /// `(tick, packet)` for every packet.
    fn drain(sender: &mut DtmfSender, ts0: u32) -> Vec<(u32, DtmfPacket)> {
        let frame = sender.frame;
        let mut out = Vec::new();
        let mut tick = 0u32;
        while !sender.is_idle() {
            if let Some(p) = sender.poll(ts0.wrapping_add(tick * frame)) {
                out.push((tick, p));
            }
            tick += 1;
            assert!(tick < 100_000);
        }
        out
    }

    #[test]
    fn payload_codec() {
        let ev = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        let b = ev.encode();
        assert_eq!(b, [11, 0x8A, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::decode(&b), Ok(ev));
        assert_eq!(ev.digit(), Some('#'));
        // Reserved bit ignored, volume masked.
        let d = TelephoneEvent::decode(&[5, 0x40 | 0x3F, 0, 0]).unwrap();
        assert_eq!((d.event, d.end, d.volume), (5, false, 63));
        // Every truncation is rejected.
        for n in 0..PAYLOAD_LEN {
            assert_eq!(
                TelephoneEvent::decode(&b[..n]),
                Err(DtmfError::Truncated(n))
            );
        }
        for (i, c) in ALL.chars().enumerate() {
            assert_eq!(digit_to_event(c), Some(i as u8));
            assert_eq!(event_to_digit(i as u8), Some(c));
        }
        assert_eq!(digit_to_event('a'), Some(12));
        assert_eq!(digit_to_event('E'), None);
        assert_eq!(event_to_digit(16), None);
    }

    #[test]
    fn schedule_of_one_digit() {
        let mut s = DtmfSender::new(DtmfSenderConfig::new(8000)).unwrap();
        s.insert("5").unwrap();
        let pkts = drain(&mut s, 1000);
        // 5 tone packets (the last with E), 2 more end packets, then 2 silent ticks.
        assert_eq!(pkts.len(), 7);
        let ticks: Vec<u32> = pkts.iter().map(|(t, _)| *t).collect();
        assert_eq!(ticks, [0, 1, 2, 3, 4, 5, 6]);
        let durs: Vec<u16> = pkts.iter().map(|(_, p)| p.duration).collect();
        assert_eq!(durs, [160, 320, 480, 640, 800, 800, 800]);
        let ends: Vec<bool> = pkts.iter().map(|(_, p)| p.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        let marks: Vec<bool> = pkts.iter().map(|(_, p)| p.marker).collect();
        assert_eq!(marks, [true, false, false, false, false, false, false]);
        assert!(pkts
            .iter()
            .all(|(_, p)| p.rtp_timestamp == 1000 && p.event == 5));
        assert_eq!(
            TelephoneEvent::decode(&pkts[4].1.payload).unwrap(),
            TelephoneEvent {
                event: 5,
                end: true,
                volume: 10,
                duration: 800
            }
        );
    }

    #[test]
    fn inter_digit_gap_and_pause() {
        let mut s = DtmfSender::new(DtmfSenderConfig::new(48_000)).unwrap();
        s.insert("1,2").unwrap();
        assert_eq!(s.queued(), 3);
        let pkts = drain(&mut s, u32::MAX - 1000);
        let starts: Vec<(u32, u32)> = pkts
            .iter()
            .filter(|(_, p)| p.marker)
            .map(|(t, p)| (*t, p.rtp_timestamp))
            .collect();
        // Digit 1 at tick 0; its gap (4 ticks) ends at tick 9; the pause is 100 ticks.
        assert_eq!(starts.len(), 2);
        assert_eq!(starts[0], (0, u32::MAX - 1000));
        assert_eq!(starts[1].0, 9 + 100);
        assert_eq!(starts[1].1, (u32::MAX - 1000).wrapping_add(109 * 960));
        assert_eq!(pkts.last().unwrap().1.duration, 4800);
    }

    #[test]
    fn gap_follows_config() {
        let mut cfg = DtmfSenderConfig::new(8000);
        cfg.tone = Duration::from_millis(40);
        cfg.gap = Duration::from_millis(40);
        let mut s = DtmfSender::new(cfg).unwrap();
        s.insert("12").unwrap();
        let pkts = drain(&mut s, 0);
        let starts: Vec<u32> = pkts
            .iter()
            .filter(|(_, p)| p.marker)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(starts, [0, 4]);
        // Tone ends at tick 2 (40 ms); the next starts 40 ms later.
        assert_eq!(pkts.len(), 2 * 4);
    }

    #[test]
    fn invalid_input_is_typed_and_queues_nothing() {
        let mut s = DtmfSender::new(DtmfSenderConfig::new(8000)).unwrap();
        assert_eq!(s.insert("12x3"), Err(DtmfError::InvalidTone('x')));
        assert_eq!(s.queued(), 0);
        assert_eq!(s.insert("1 2"), Err(DtmfError::InvalidTone(' ')));
        let long = "1".repeat(MAX_QUEUED_TONES + 1);
        assert!(matches!(
            s.insert(&long),
            Err(DtmfError::TooManyTones { .. })
        ));
        assert_eq!(s.queued(), 0);
        s.insert(&long[1..]).unwrap();
        assert!(matches!(s.insert("1"), Err(DtmfError::TooManyTones { .. })));
        s.clear();
        assert!(s.is_idle());
        assert_eq!(s.poll(0), None);

        let mut cfg = DtmfSenderConfig::new(8000);
        cfg.tone = Duration::from_millis(10);
        assert!(DtmfSender::new(cfg).is_err());
        cfg = DtmfSenderConfig::new(8000);
        cfg.gap = Duration::from_secs(5);
        assert!(DtmfSender::new(cfg).is_err());
        assert!(DtmfSender::new(DtmfSenderConfig::new(44_123)).is_err());
    }

    fn receive(pkts: &[(u32, DtmfPacket)], keep: impl Fn(usize, &DtmfPacket) -> bool) -> String {
        let mut r = DtmfReceiver::new();
        let mut got = String::new();
        for (i, (_, p)) in pkts.iter().enumerate() {
            if keep(i, p) {
                if let Some(d) = r.push(p.rtp_timestamp, &p.payload).unwrap() {
                    assert_eq!(d.rtp_timestamp, p.rtp_timestamp);
                    got.push(d.digit);
                }
            }
        }
        got
    }

    #[test]
    fn round_trip_all_digits() {
        for rate in [8000, 48_000] {
            let mut s = DtmfSender::new(DtmfSenderConfig::new(rate)).unwrap();
            s.insert(ALL).unwrap();
            let pkts = drain(&mut s, 12345);
            assert_eq!(pkts.len(), 16 * 7);
            assert_eq!(receive(&pkts, |_, _| true), ALL);
            // Lowercase in, uppercase out.
            let mut s = DtmfSender::new(DtmfSenderConfig::new(rate)).unwrap();
            s.insert("abcd").unwrap();
            assert_eq!(receive(&drain(&mut s, 0), |_, _| true), "ABCD");
        }
    }

    #[test]
    fn duplicates_and_losses() {
        let mut s = DtmfSender::new(DtmfSenderConfig::new(8000)).unwrap();
        s.insert(ALL).unwrap();
        let pkts = drain(&mut s, 0);
        // Every packet twice.
        let doubled: Vec<(u32, DtmfPacket)> = pkts.iter().flat_map(|p| [*p, *p]).collect();
        assert_eq!(receive(&doubled, |_, _| true), ALL);
        // Start packets lost.
        assert_eq!(receive(&pkts, |_, p| !p.marker), ALL);
        // Only end packets arrive.
        assert_eq!(receive(&pkts, |_, p| p.end), ALL);
        // Only the last end packet arrives.
        assert_eq!(receive(&pkts, |i, _| i % 7 == 6), ALL);
        // Random 40 % loss (seeded; no event loses all seven packets with this seed).
        let mut rng = fastrand::Rng::with_seed(42);
        let keep: Vec<bool> = (0..pkts.len()).map(|_| rng.f32() > 0.4).collect();
        assert_eq!(receive(&pkts, |i, _| keep[i]), ALL);
        // Same digit twice in a row is two events.
        let mut s = DtmfSender::new(DtmfSenderConfig::new(8000)).unwrap();
        s.insert("55").unwrap();
        assert_eq!(receive(&drain(&mut s, 0), |_, _| true), "55");
    }

    #[test]
    fn reordered_and_stale_packets() {
        let mut s = DtmfSender::new(DtmfSenderConfig::new(8000)).unwrap();
        s.insert("12").unwrap();
        let mut pkts = drain(&mut s, 0);
        // An end packet of "1" arrives after "2" has started: absorbed.
        let late = pkts.remove(6);
        pkts.push(late);
        assert_eq!(receive(&pkts, |_, _| true), "12");
    }

    #[test]
    fn long_event_segments_count_once() {
        let mut r = DtmfReceiver::new();
        let seg = |dur: u16, end: bool| {
            TelephoneEvent {
                event: 3,
                end,
                volume: 10,
                duration: dur,
            }
            .encode()
        };
        assert_eq!(
            r.push(0, &seg(160, false)).unwrap().map(|d| d.digit),
            Some('3')
        );
        assert_eq!(r.push(0, &seg(65_535, false)).unwrap(), None);
        // Next segment continues at 65535.
        assert_eq!(r.push(65_535, &seg(160, false)).unwrap(), None);
        assert_eq!(r.push(65_535, &seg(1000, true)).unwrap(), None);
        // A genuinely new event afterwards is reported.
        assert_eq!(
            r.push(70_000, &seg(160, false)).unwrap().map(|d| d.digit),
            Some('3')
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut r = DtmfReceiver::new();
        let mut rng = fastrand::Rng::with_seed(9);
        for _ in 0..10_000 {
            let len = rng.usize(0..8);
            let p: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            match r.push(rng.u32(..), &p) {
                Err(DtmfError::Truncated(n)) => assert!(n < PAYLOAD_LEN),
                Err(e) => panic!("{e}"),
                Ok(_) => assert!(len >= PAYLOAD_LEN),
            }
        }
        assert!(r.recent.len() <= RECEIVER_MEMORY);
        // Non-DTMF events are not reported.
        assert_eq!(r.push(1, &[16, 0, 0, 160]).unwrap(), None);
    }
}
