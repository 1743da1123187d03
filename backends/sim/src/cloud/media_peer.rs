//! The fake cloud's media server for one call: a str0m [`Rtc`] in RTP mode that **offers**
//! (the Genesys server always offers, PROTOCOL.md 9.1), plays a continuous tone, records what
//! it receives and speaks RFC 4733 DTMF both ways.
//!
//! Owns the ICE/DTLS/SRTP session of one call, the tone generator and encoder, the decoders,
//! the received-audio recording and the DTMF sender/receiver. Does not own sockets or clocks:
//! datagrams come in through [`MediaPeer::handle_receive`] and go out through
//! [`MediaPeer::poll_transmit`]; time comes in through [`MediaPeer::handle_timeout`] at
//! [`MediaPeer::poll_timeout`] (str0m's timer and the 20 ms audio clock).
//!
//! Offer: one `audio` m-line, `sendrecv`, the preferred codec first then the other two of Opus
//! (PT 111, 48 kHz), PCMU (0), PCMA (8), then `telephone-event/8000` (PT 101) and
//! `telephone-event/48000` (PT 110); one host candidate at the configured media address.
//!
//! Sending: once ICE + DTLS are up, every 20 ms one frame of the tone encoded with the
//! negotiated codec (the preferred one when the answer kept it, else the answer's first audio
//! codec): Opus mono at 48 kHz (960 samples) or G.711 at 8 kHz (160 samples). While a DTMF
//! event is being sent, its telephone-event packets replace the audio (RFC 4733 2.5.1.1), on
//! the telephone-event payload type whose clock rate matches the audio codec (else the other).
//!
//! Receiving: audio of the first codec rate seen is decoded and appended to a recording at that
//! rate; a timestamp gap is filled with silence (at most [`MAX_GAP_FILL`] per gap), late or
//! duplicated packets are dropped, packets of another rate are counted and dropped. The
//! recording stops growing at [`MAX_RECORDED_SECONDS`]. Telephone events go through a
//! [`DtmfReceiver`]; each digit is recorded once.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use genesys_webrtc::media::dtmf::{DtmfReceiver, DtmfSender, DtmfSenderConfig};
use genesys_webrtc::media::g711::G711Law;
use genesys_webrtc::media::opus::{OpusChannels, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use genesys_webrtc::media::tone::{SpeechLikeNoise, ToneGenerator};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::{Codec, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpPacket, RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// The audio frame (and DTMF tick) interval.
pub const FRAME: Duration = Duration::from_millis(20);
/// Amplitude of the played tone, as a fraction of full scale.
pub const TONE_AMPLITUDE: f32 = 0.3;
/// The recording of received audio stops growing after this many seconds.
pub const MAX_RECORDED_SECONDS: usize = 300;
/// Longest silence inserted for one timestamp gap.
pub const MAX_GAP_FILL: Duration = Duration::from_secs(1);
/// Payload types of the offer.
pub const PT_OPUS: u8 = 111;
/// PCMU payload type (static).
pub const PT_PCMU: u8 = 0;
/// PCMA payload type (static).
pub const PT_PCMA: u8 = 8;
/// `telephone-event/8000` payload type.
pub const PT_TELE_8K: u8 = 101;
/// `telephone-event/48000` payload type.
pub const PT_TELE_48K: u8 = 110;
/// After an internal str0m error while polling, wait this long before polling it again.
const ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// Most audio frames sent in one `handle_timeout` when the driver fell behind.
const MAX_CATCH_UP_FRAMES: u32 = 50;

/// The audio codec the fake cloud's media server prefers (offers first and sends with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreferredCodec {
    /// Opus at 48 kHz (PT 111).
    #[default]
    Opus,
    /// G.711 µ-law at 8 kHz (PT 0).
    Pcmu,
    /// G.711 A-law at 8 kHz (PT 8).
    Pcma,
}

impl PreferredCodec {
    /// The payload type in the offer.
    pub fn payload_type(self) -> u8 {
        match self {
            PreferredCodec::Opus => PT_OPUS,
            PreferredCodec::Pcmu => PT_PCMU,
            PreferredCodec::Pcma => PT_PCMA,
        }
    }

    /// Sample (and RTP clock) rate.
    pub fn sample_rate(self) -> u32 {
        match self {
            PreferredCodec::Opus => 48_000,
            PreferredCodec::Pcmu | PreferredCodec::Pcma => 8_000,
        }
    }

    fn from_codec(codec: Codec) -> Option<Self> {
        match codec {
            Codec::Opus => Some(PreferredCodec::Opus),
            Codec::PCMU => Some(PreferredCodec::Pcmu),
            Codec::PCMA => Some(PreferredCodec::Pcma),
            _ => None,
        }
    }
}

/// Counters of one media peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaPeerStats {
    /// ICE + DTLS + SRTP are up (stays true after a later close).
    pub connected: bool,
    /// The codec the peer sends with, once the answer was applied.
    pub tx_codec: Option<PreferredCodec>,
    /// Audio RTP packets sent.
    pub audio_packets_sent: u64,
    /// Telephone-event RTP packets sent.
    pub dtmf_packets_sent: u64,
    /// Audio RTP packets received (any codec).
    pub audio_packets_received: u64,
    /// Telephone-event RTP packets received.
    pub dtmf_packets_received: u64,
    /// Silence samples inserted for timestamp gaps.
    pub concealed_samples: u64,
    /// Audio packets dropped: late, duplicated, another clock rate, or undecodable.
    pub dropped_packets: u64,
    /// Datagrams handed to the peer.
    pub datagrams_received: u64,
    /// Datagrams the peer produced.
    pub datagrams_sent: u64,
}

/// What the peer plays: a tone, or speech-like noise when the call's tone is 0 Hz.
enum Source {
    Tone(ToneGenerator),
    Speech(SpeechLikeNoise),
}

impl Source {
    fn next_frame(&mut self, samples: usize) -> Vec<i16> {
        match self {
            Source::Tone(t) => t.next_frame(samples),
            Source::Speech(s) => s.next_frame(samples),
        }
    }
}

/// What the peer sends with, fixed when the answer is applied.
struct Tx {
    codec: PreferredCodec,
    pt: u8,
    tone: Source,
    opus: Option<OpusEncoder>,
    /// Telephone-event payload type and its clock rate.
    tele: Option<(u8, u32)>,
}

/// The received-audio recording.
#[derive(Default)]
struct Rx {
    rate: Option<u32>,
    samples: Vec<i16>,
    ssrc: Option<u32>,
    next_ts: Option<u32>,
    opus: Option<OpusDecoder>,
}

/// One call's media server. See the module docs.
pub(crate) struct MediaPeer {
    /// Where this peer's host candidate is; datagrams for another address are not its own.
    local_addr: SocketAddr,
    rtc: Rtc,
    mid: Mid,
    pending: Option<SdpPendingOffer>,
    preferred: PreferredCodec,
    tone_hz: f32,
    tx: Option<Tx>,
    seq: u64,
    tick: u64,
    ts_base: u32,
    next_tick: Option<Instant>,
    rtc_timeout: Instant,
    now: Instant,
    dtmf_tx: Option<DtmfSender>,
    queued_dtmf: String,
    rx: Rx,
    dtmf_rx: DtmfReceiver,
    digits: String,
    transmits: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    closed: bool,
    stats: MediaPeerStats,
    errors: Vec<String>,
}

impl std::fmt::Debug for MediaPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaPeer")
            .field("preferred", &self.preferred)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl MediaPeer {
    /// A media server with one host candidate at `local_addr`; returns it and its SDP offer.
    pub(crate) fn new(
        now: Instant,
        local_addr: SocketAddr,
        preferred: PreferredCodec,
        tone_hz: f32,
        seed: u64,
    ) -> Result<(MediaPeer, String), String> {
        let mut builder = Rtc::builder()
            .clear_codecs()
            .set_rtp_mode(true)
            .set_stats_interval(Some(Duration::from_secs(1)));
        let codecs = builder.codec_config();
        let order = match preferred {
            PreferredCodec::Opus => [
                PreferredCodec::Opus,
                PreferredCodec::Pcmu,
                PreferredCodec::Pcma,
            ],
            PreferredCodec::Pcmu => [
                PreferredCodec::Pcmu,
                PreferredCodec::Opus,
                PreferredCodec::Pcma,
            ],
            PreferredCodec::Pcma => [
                PreferredCodec::Pcma,
                PreferredCodec::Opus,
                PreferredCodec::Pcmu,
            ],
        };
        for c in order {
            match c {
                PreferredCodec::Opus => codecs.enable_opus(true, false),
                PreferredCodec::Pcmu => codecs.enable_pcmu(true, false),
                PreferredCodec::Pcma => codecs.enable_pcma(true, false),
            }
        }
        for (pt, rate) in [
            (PT_TELE_8K, Frequency::EIGHT_KHZ),
            (PT_TELE_48K, Frequency::FORTY_EIGHT_KHZ),
        ] {
            codecs.add_config(
                pt.into(),
                None,
                Codec::Tele,
                rate,
                None,
                FormatParams::default(),
            );
        }
        let mut rtc = builder.build(now);
        let candidate =
            Candidate::host(local_addr, "udp").map_err(|e| format!("host candidate: {e}"))?;
        rtc.add_local_candidate(candidate);
        let mut change = rtc.sdp_api();
        let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = change
            .apply()
            .ok_or_else(|| "str0m made no offer".to_owned())?;
        let h = super::splitmix64(seed ^ 0x006d_6564_6961);
        let mut peer = MediaPeer {
            local_addr,
            rtc,
            mid,
            pending: Some(pending),
            preferred,
            tone_hz,
            tx: None,
            seq: (h & 0x7fff) + 1,
            tick: 0,
            ts_base: (h >> 32) as u32,
            next_tick: None,
            rtc_timeout: now,
            now,
            dtmf_tx: None,
            queued_dtmf: String::new(),
            rx: Rx::default(),
            dtmf_rx: DtmfReceiver::new(),
            digits: String::new(),
            transmits: VecDeque::new(),
            closed: false,
            stats: MediaPeerStats::default(),
            errors: Vec::new(),
        };
        peer.drain(now);
        Ok((peer, offer.to_sdp_string()))
    }

    /// Applies the client's SDP answer and picks the sending codec.
    pub(crate) fn apply_answer(&mut self, now: Instant, answer_sdp: &str) -> Result<(), String> {
        let Some(pending) = self.pending.take() else {
            return Err("no offer pending".to_owned());
        };
        let answer = SdpAnswer::from_sdp_string(answer_sdp).map_err(|e| format!("answer: {e}"))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| format!("answer rejected: {e}"))?;
        self.drain(now);
        self.choose_tx()?;
        Ok(())
    }

    fn choose_tx(&mut self) -> Result<(), String> {
        let Some(media) = self.rtc.media(self.mid) else {
            return Err("audio media missing after the answer".to_owned());
        };
        let params = self.rtc.codec_config().params();
        let negotiated: Vec<(u8, Codec, u32)> = media
            .remote_pts()
            .iter()
            .filter_map(|pt| {
                let spec = params.iter().find(|p| p.pt() == *pt)?.spec();
                Some((**pt, spec.codec, spec.clock_rate.get()))
            })
            .collect();
        let audio = negotiated
            .iter()
            .find(|(_, c, _)| PreferredCodec::from_codec(*c) == Some(self.preferred))
            .or_else(|| {
                negotiated
                    .iter()
                    .find(|(_, c, _)| PreferredCodec::from_codec(*c).is_some())
            });
        let Some(&(pt, codec, _)) = audio else {
            return Err("the answer has no Opus, PCMU or PCMA".to_owned());
        };
        let Some(codec) = PreferredCodec::from_codec(codec) else {
            return Err("unexpected codec".to_owned());
        };
        let rate = codec.sample_rate();
        let teles: Vec<(u8, u32)> = negotiated
            .iter()
            .filter(|(_, c, _)| *c == Codec::Tele)
            .map(|(pt, _, r)| (*pt, *r))
            .collect();
        let tele = teles
            .iter()
            .find(|(_, r)| *r == rate)
            .or_else(|| teles.first())
            .copied();
        let opus = if codec == PreferredCodec::Opus {
            Some(
                OpusEncoder::new(OpusEncoderConfig::default())
                    .map_err(|e| format!("opus encoder: {e}"))?,
            )
        } else {
            None
        };
        self.tx = Some(Tx {
            codec,
            pt,
            tone: if self.tone_hz > 0.0 {
                Source::Tone(ToneGenerator::new(self.tone_hz, TONE_AMPLITUDE, rate))
            } else {
                Source::Speech(SpeechLikeNoise::new(TONE_AMPLITUDE, rate, 0x5eec))
            },
            opus,
            tele,
        });
        self.stats.tx_codec = Some(codec);
        if !self.queued_dtmf.is_empty() {
            let digits = std::mem::take(&mut self.queued_dtmf);
            self.send_dtmf(&digits)?;
        }
        Ok(())
    }

    /// Adds a remote candidate (`candidate:…`, with or without `a=`). TCP and RTCP candidates
    /// are ignored.
    pub(crate) fn add_remote_candidate(&mut self, line: &str) -> Result<(), String> {
        let line = line.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        let mut fields = line.split_whitespace();
        let _foundation = fields.next();
        let component = fields.next();
        let transport = fields.next();
        if component != Some("1") || !transport.is_some_and(|t| t.eq_ignore_ascii_case("udp")) {
            return Ok(());
        }
        let c = Candidate::from_sdp_string(line).map_err(|e| format!("candidate: {e}"))?;
        self.rtc.add_remote_candidate(c);
        let now = self.now;
        self.drain(now);
        Ok(())
    }

    /// Queues DTMF digits (`0-9*#A-D`, `,` = 2 s pause). Before the answer they wait for it.
    pub(crate) fn send_dtmf(&mut self, digits: &str) -> Result<(), String> {
        let Some(tx) = &self.tx else {
            self.queued_dtmf.push_str(digits);
            return Ok(());
        };
        let Some((_, rate)) = tx.tele else {
            return Err("telephone-event was not negotiated".to_owned());
        };
        if self.dtmf_tx.is_none() {
            let sender = DtmfSender::new(DtmfSenderConfig::new(rate))
                .map_err(|e| format!("dtmf sender: {e}"))?;
            self.dtmf_tx = Some(sender);
        }
        match &mut self.dtmf_tx {
            Some(s) => s.insert(digits).map_err(|e| format!("dtmf: {e}")),
            None => Ok(()),
        }
    }

    /// Whether a datagram belongs to this peer (when several share the media address).
    pub(crate) fn accepts(
        &self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> bool {
        if self.closed || destination != self.local_addr {
            return false;
        }
        Receive::new(Protocol::Udp, source, destination, data)
            .is_ok_and(|r| self.rtc.accepts(&Input::Receive(now, r)))
    }

    /// A datagram for this peer.
    pub(crate) fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        if self.closed {
            return;
        }
        let now = self.now.max(now);
        let Ok(r) = Receive::new(Protocol::Udp, source, destination, data) else {
            return;
        };
        self.stats.datagrams_received += 1;
        if let Err(e) = self.rtc.handle_input(Input::Receive(now, r)) {
            tracing::debug!(error = %e, "media peer rejected a datagram");
        }
        self.drain(now);
    }

    /// When [`MediaPeer::handle_timeout`] next has work.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        Some(match self.next_tick {
            Some(t) => t.min(self.rtc_timeout),
            None => self.rtc_timeout,
        })
    }

    /// Advances str0m and the audio clock to `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        let now = self.now.max(now);
        if self.rtc_timeout <= now {
            if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
                tracing::debug!(error = %e, "media peer timeout failed");
            }
            self.drain(now);
        }
        let mut frames = 0;
        while let Some(t) = self.next_tick {
            if t > now {
                break;
            }
            if frames >= MAX_CATCH_UP_FRAMES {
                // Far behind: skip ahead instead of bursting.
                self.next_tick = Some(now + FRAME);
                break;
            }
            frames += 1;
            self.send_frame(t);
            self.next_tick = Some(t + FRAME);
        }
        self.drain(now);
    }

    /// The next datagram to send, as (source, destination, bytes).
    pub(crate) fn poll_transmit(&mut self) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// Stops media: RTCP BYE / DTLS close are queued, the clock stops.
    pub(crate) fn close(&mut self) {
        if self.closed {
            return;
        }
        if let Err(e) = self.rtc.close() {
            tracing::debug!(error = %e, "media peer close failed");
        }
        self.next_tick = None;
        let now = self.now;
        self.drain(now);
        self.closed = true;
    }

    /// The recording: (sample rate, samples). The rate is 0 before any audio arrived.
    pub(crate) fn received_audio(&self) -> (u32, Vec<i16>) {
        (self.rx.rate.unwrap_or(0), self.rx.samples.clone())
    }

    /// Digits received so far, in order.
    pub(crate) fn received_dtmf(&self) -> String {
        self.digits.clone()
    }

    pub(crate) fn stats(&self) -> MediaPeerStats {
        self.stats.clone()
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.stats.connected
    }

    /// Problems seen (decoder errors and the like), oldest first.
    pub(crate) fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.errors)
    }

    /// One 20 ms tick: a DTMF packet if an event is on, else an audio frame.
    fn send_frame(&mut self, at: Instant) {
        let tick = self.tick;
        self.tick += 1;
        let Some(tx) = &mut self.tx else {
            return;
        };
        let mut packet = None;
        if let (Some(dtmf), Some((tele_pt, tele_rate))) = (&mut self.dtmf_tx, tx.tele) {
            let ts = self
                .ts_base
                .wrapping_add((tick as u32).wrapping_mul(tele_rate / 50));
            if let Some(p) = dtmf.poll(ts) {
                packet = Some((tele_pt, p.rtp_timestamp, p.payload.to_vec(), p.marker, true));
            } else if dtmf.is_active() {
                return;
            }
        }
        if packet.is_none() {
            let rate = tx.codec.sample_rate();
            let pcm = tx.tone.next_frame((rate / 50) as usize);
            let payload = match tx.codec {
                PreferredCodec::Opus => match tx.opus.as_mut().map(|e| e.encode(&pcm)) {
                    Some(Ok(p)) => p,
                    Some(Err(e)) => {
                        self.errors.push(format!("opus encode: {e}"));
                        return;
                    }
                    None => return,
                },
                PreferredCodec::Pcmu | PreferredCodec::Pcma => {
                    let law = if tx.codec == PreferredCodec::Pcmu {
                        G711Law::Mu
                    } else {
                        G711Law::A
                    };
                    let mut out = Vec::with_capacity(pcm.len());
                    law.encode(&pcm, &mut out);
                    out
                }
            };
            let ts = self
                .ts_base
                .wrapping_add((tick as u32).wrapping_mul(rate / 50));
            packet = Some((tx.pt, ts, payload, tick == 0, false));
        }
        let Some((pt, ts, payload, marker, dtmf)) = packet else {
            return;
        };
        let seq = self.seq;
        self.seq += 1;
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(self.mid, None) else {
            return;
        };
        stream
            .write_rtp(RtpWrite::new(pt.into(), SeqNo::from(seq), ts, at, payload).marker(marker));
        if dtmf {
            self.stats.dtmf_packets_sent += 1;
        } else {
            self.stats.audio_packets_sent += 1;
        }
        self.drain(at);
        if let Err(e) = self.rtc.handle_input(Input::Timeout(self.now.max(at))) {
            tracing::debug!(error = %e, "media peer timeout failed");
        }
        self.drain(at);
    }

    fn drain(&mut self, now: Instant) {
        self.now = self.now.max(now);
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.rtc_timeout = t;
                    break;
                }
                Ok(Output::Transmit(t)) => {
                    self.stats.datagrams_sent += 1;
                    self.transmits
                        .push_back((t.source, t.destination, t.contents.into()));
                }
                Ok(Output::Event(e)) => self.on_event(e),
                Err(e) => {
                    self.errors.push(format!("str0m: {e}"));
                    self.rtc_timeout = self.now + ERROR_BACKOFF;
                    break;
                }
            }
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Connected => {
                self.stats.connected = true;
                if self.next_tick.is_none() && !self.closed {
                    self.next_tick = Some(self.now);
                }
            }
            Event::RtpPacket(p) => self.on_rtp(p),
            Event::Closed => {
                self.next_tick = None;
            }
            _ => {}
        }
    }

    fn on_rtp(&mut self, p: RtpPacket) {
        let pt = *p.header.payload_type;
        let params = self.rtc.codec_config().params();
        let Some(spec) = params.iter().find(|c| *c.pt() == pt).map(|c| c.spec()) else {
            self.stats.dropped_packets += 1;
            return;
        };
        let ts = p.header.timestamp;
        if spec.codec == Codec::Tele {
            self.stats.dtmf_packets_received += 1;
            if let Ok(Some(d)) = self.dtmf_rx.push(ts, &p.payload) {
                self.digits.push(d.digit);
            }
            return;
        }
        let Some(codec) = PreferredCodec::from_codec(spec.codec) else {
            self.stats.dropped_packets += 1;
            return;
        };
        self.stats.audio_packets_received += 1;
        let rate = codec.sample_rate();
        let rx = &mut self.rx;
        if *rx.rate.get_or_insert(rate) != rate {
            self.stats.dropped_packets += 1;
            return;
        }
        let ssrc = *p.header.ssrc;
        if rx.ssrc != Some(ssrc) {
            rx.ssrc = Some(ssrc);
            rx.next_ts = None;
        }
        if let Some(expected) = rx.next_ts {
            let d = ts.wrapping_sub(expected) as i32;
            if d < 0 {
                self.stats.dropped_packets += 1;
                return;
            }
            let cap = (MAX_GAP_FILL.as_millis() as u64 * u64::from(rate) / 1000) as usize;
            let fill = (d as usize).min(cap);
            if fill > 0 {
                push_capped(&mut rx.samples, &vec![0; fill], rate);
                self.stats.concealed_samples += fill as u64;
            }
        }
        let decoded = match codec {
            PreferredCodec::Opus => {
                if rx.opus.is_none() {
                    match OpusDecoder::new(OpusChannels::Mono) {
                        Ok(d) => rx.opus = Some(d),
                        Err(e) => {
                            self.errors.push(format!("opus decoder: {e}"));
                            return;
                        }
                    }
                }
                match rx.opus.as_mut().map(|d| d.decode(&p.payload)) {
                    Some(Ok(pcm)) => pcm,
                    Some(Err(e)) => {
                        self.errors.push(format!("opus decode: {e}"));
                        self.stats.dropped_packets += 1;
                        return;
                    }
                    None => return,
                }
            }
            PreferredCodec::Pcmu | PreferredCodec::Pcma => {
                let law = if codec == PreferredCodec::Pcmu {
                    G711Law::Mu
                } else {
                    G711Law::A
                };
                let mut out = Vec::with_capacity(p.payload.len());
                law.decode(&p.payload, &mut out);
                out
            }
        };
        rx.next_ts = Some(ts.wrapping_add(decoded.len() as u32));
        push_capped(&mut rx.samples, &decoded, rate);
    }
}

fn push_capped(samples: &mut Vec<i16>, more: &[i16], rate: u32) {
    let cap = MAX_RECORDED_SECONDS * rate as usize;
    let room = cap.saturating_sub(samples.len());
    samples.extend(more.iter().take(room));
}
