//! The audio path of one session, at the engine's fixed internal format (48 kHz mono, 20 ms
//! frames): captured PCM → encoder (Opus, or G.711 after resampling to 8 kHz) → RTP payloads,
//! plus RFC 4733 DTMF; received RTP → adaptive jitter buffer → decoder (with loss concealment) →
//! PCM for playout, and received DTMF → digits.
//!
//! Owns the per-session codec state. Device rates and mixing across sessions are the engine's
//! (`Engine::push_capture_frame`, `Engine::pull_playout_frame`).

use std::time::Instant;

use genesys_webrtc_hal::FrameDuration;

use crate::media::dtmf::{DtmfError, DtmfReceiver, DtmfSender, DtmfSenderConfig};
use crate::media::g711::G711Law;
use crate::media::jitter::{JitterBuffer, JitterConfig, Pulled};
#[cfg(feature = "opus")]
use crate::media::opus::{OpusChannels, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use crate::media::resample::Resampler;
use crate::media::rtc::{AudioCodec, CallMedia, MediaStats, NegotiatedCodec};
use crate::options::AudioOptions;
use crate::session::events::CallStats;

/// The engine's internal audio rate.
pub const AUDIO_RATE: u32 = 48_000;
/// Samples in one 20 ms frame at [`AUDIO_RATE`].
pub const FRAME_SAMPLES: usize = 960;

/// Fewest of our packets in one RTCP stats interval for its loss figure to steer FEC.
const MIN_PACKETS_FOR_LOSS: u64 = 25;
/// Highest loss rate the Opus encoder is told to protect against.
const MAX_FEC_LOSS_PERCENT: u8 = 30;

/// The loss rate (percent) the Opus encoder should protect against next, from the previous one
/// and the packets sent and reported lost by the peer (RTCP receiver reports) in the last stats
/// interval. Rises at once to the measured loss (rounded up) and falls by half the difference
/// per interval. `None`: too few packets to judge, keep the current rate.
fn next_fec_loss_percent(current: u8, sent: u64, lost: u64) -> Option<u8> {
    if sent < MIN_PACKETS_FOR_LOSS {
        return None;
    }
    let measured = lost.min(sent).saturating_mul(100).div_ceil(sent);
    let measured = u8::try_from(measured)
        .unwrap_or(u8::MAX)
        .min(MAX_FEC_LOSS_PERCENT);
    Some(if measured >= current {
        measured
    } else {
        measured + (current - measured) / 2
    })
}

/// One RTP payload to write.
#[derive(Debug)]
pub(crate) struct OutPacket {
    pub(crate) pt: u8,
    pub(crate) rtp_timestamp: u32,
    pub(crate) payload: Vec<u8>,
    pub(crate) telephone_event: bool,
    pub(crate) marker: bool,
}

enum Encoder {
    #[cfg(feature = "opus")]
    Opus(Box<OpusEncoder>),
    G711(G711Law, Box<Resampler>),
}

enum Decoder {
    #[cfg(feature = "opus")]
    Opus(Box<OpusDecoder>),
    G711(G711Law, Box<Resampler>, Vec<i16>),
}

struct SendPath {
    codec: NegotiatedCodec,
    encoder: Encoder,
    rtp_ts: u32,
    dtmf: Option<(u8, DtmfSender)>,
    /// The loss rate the Opus encoder protects against with in-band FEC (percent).
    fec_loss_percent: u8,
    /// Cumulative packets sent and reported lost at the last stats interval.
    reported: (u64, u64),
}

struct RecvPath {
    codec: NegotiatedCodec,
    jitter: JitterBuffer,
    decoder: Decoder,
}

/// Per-session audio state.
#[derive(Default)]
pub(crate) struct SessionAudio {
    send: Option<SendPath>,
    recv: Option<RecvPath>,
    dtmf_rx: DtmfReceiver,
    concealed: u64,
    /// Lost frames rebuilt from the next packet's Opus in-band FEC.
    fec_recovered: u64,
    packets_sent: u64,
    /// Telephone-event packets received: they share the audio's sequence numbers, so the
    /// jitter buffer sees them as gaps.
    dtmf_packets: u64,
}

impl std::fmt::Debug for SessionAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionAudio")
            .field("send", &self.send.as_ref().map(|s| s.codec))
            .field("recv", &self.recv.as_ref().map(|r| r.codec))
            .finish()
    }
}

fn encoder_for(codec: AudioCodec, options: &AudioOptions) -> Option<Encoder> {
    #[cfg(not(feature = "opus"))]
    let _ = options;
    match codec {
        #[cfg(feature = "opus")]
        AudioCodec::Opus { .. } => OpusEncoder::new(OpusEncoderConfig {
            channels: OpusChannels::Mono,
            // Low complexity and a wideband cap by default (`AudioOptions`): desk-phone ARM
            // cores have little to spare.
            complexity: options.opus_complexity,
            max_bandwidth: options.bandwidth,
            // In-band FEC stays on, but protects against the loss the peer actually reports
            // (`SessionAudio::on_remote_report`), as libwebrtc does: with no loss libopus codes
            // no redundancy, which saves about 17 % of the encoder's CPU on speech (and the
            // bits go to the primary frame).
            inband_fec: true,
            expected_loss_percent: 0,
            ..OpusEncoderConfig::default()
        })
        .ok()
        .map(|e| Encoder::Opus(Box::new(e))),
        AudioCodec::Pcmu | AudioCodec::Pcma => {
            let law = if codec == AudioCodec::Pcmu {
                G711Law::Mu
            } else {
                G711Law::A
            };
            Resampler::new(AUDIO_RATE, 8_000, 1, FrameDuration::Ms20)
                .ok()
                .map(|r| Encoder::G711(law, Box::new(r)))
        }
        _ => None,
    }
}

fn decoder_for(codec: AudioCodec) -> Option<Decoder> {
    match codec {
        #[cfg(feature = "opus")]
        AudioCodec::Opus { .. } => OpusDecoder::new(OpusChannels::Mono)
            .ok()
            .map(|d| Decoder::Opus(Box::new(d))),
        AudioCodec::Pcmu | AudioCodec::Pcma => {
            let law = if codec == AudioCodec::Pcmu {
                G711Law::Mu
            } else {
                G711Law::A
            };
            Resampler::new(8_000, AUDIO_RATE, 1, FrameDuration::Ms20)
                .ok()
                .map(|r| Decoder::G711(law, Box::new(r), Vec::new()))
        }
        _ => None,
    }
}

fn supported(codec: AudioCodec) -> bool {
    matches!(codec, AudioCodec::Pcmu | AudioCodec::Pcma)
        || (cfg!(feature = "opus") && matches!(codec, AudioCodec::Opus { .. }))
}

impl SessionAudio {
    /// Sets up encoder, decoder and DTMF from what the answer negotiated (first supported audio
    /// codec in the offer's order).
    pub(crate) fn configure(&mut self, media: Option<&CallMedia>, options: &AudioOptions) {
        let Some(m) = media else { return };
        let Some(codec) = m.codecs().iter().find(|c| supported(c.codec)).copied() else {
            tracing::warn!("no supported audio codec negotiated");
            return;
        };
        let dtmf = m.telephone_event_codec().and_then(|te| {
            DtmfSender::new(DtmfSenderConfig::new(codec.codec.clock_rate()))
                .ok()
                .map(|s| (te.pt, s))
        });
        if let Some(encoder) = encoder_for(codec.codec, options) {
            self.send = Some(SendPath {
                codec,
                encoder,
                rtp_ts: 0,
                dtmf,
                fec_loss_percent: 0,
                reported: (0, 0),
            });
        }
        if let (Some(decoder), Ok(jitter)) = (
            decoder_for(codec.codec),
            JitterBuffer::new(JitterConfig::new(codec.codec.clock_rate())),
        ) {
            self.recv = Some(RecvPath {
                codec,
                jitter,
                decoder,
            });
        }
    }

    /// Queues DTMF digits for sending.
    pub(crate) fn send_dtmf(&mut self, digits: &str) -> Result<(), DtmfError> {
        match self.send.as_mut().and_then(|s| s.dtmf.as_mut()) {
            Some((_, sender)) => sender.insert(digits),
            None => Err(DtmfError::InvalidConfig(
                "telephone-event was not negotiated on this session",
            )),
        }
    }

    /// Encodes one captured 20 ms frame (48 kHz mono) into the packets to write.
    pub(crate) fn encode_frame(&mut self, pcm: &[i16]) -> Vec<OutPacket> {
        let mut out = Vec::with_capacity(2);
        let Some(send) = self.send.as_mut() else {
            return out;
        };
        let step = send.codec.codec.clock_rate() / 50;
        let ts = send.rtp_ts;
        send.rtp_ts = send.rtp_ts.wrapping_add(step);
        let payload = match &mut send.encoder {
            #[cfg(feature = "opus")]
            Encoder::Opus(e) => e.encode(pcm).ok(),
            Encoder::G711(law, resampler) => {
                let mut narrow = Vec::with_capacity(160);
                resampler.process(pcm, &mut narrow).ok().map(|_| {
                    let mut codes = Vec::with_capacity(160);
                    law.encode(&narrow, &mut codes);
                    codes
                })
            }
        };
        if let Some(payload) = payload {
            self.packets_sent += 1;
            out.push(OutPacket {
                pt: send.codec.pt,
                rtp_timestamp: ts,
                payload,
                telephone_event: false,
                marker: false,
            });
        }
        if let Some((pt, sender)) = send.dtmf.as_mut() {
            if let Some(p) = sender.poll(ts) {
                out.push(OutPacket {
                    pt: *pt,
                    rtp_timestamp: p.rtp_timestamp,
                    payload: p.payload.to_vec(),
                    telephone_event: true,
                    marker: p.marker,
                });
            }
        }
        out
    }

    /// A received audio RTP packet. Returns a DTMF digit when a new telephone-event starts.
    pub(crate) fn on_rtp(
        &mut self,
        _pt: u8,
        codec: AudioCodec,
        seq: u16,
        rtp_timestamp: u32,
        payload: Vec<u8>,
        at: Instant,
    ) -> Option<char> {
        if codec.is_telephone_event() {
            self.dtmf_packets += 1;
            return match self.dtmf_rx.push(rtp_timestamp, &payload) {
                Ok(Some(d)) => Some(d.digit),
                _ => None,
            };
        }
        if let Some(r) = self.recv.as_mut() {
            if r.codec.codec == codec {
                r.jitter.push(seq, rtp_timestamp, at, payload);
            }
        }
        None
    }

    /// The next 20 ms of received audio (48 kHz mono), or `None` before any arrived.
    pub(crate) fn pull_frame(&mut self, now: Instant) -> Option<Vec<i16>> {
        let r = self.recv.as_mut()?;
        let pulled = r.jitter.pull(now);
        let frame = match (pulled, &mut r.decoder) {
            (Pulled::NotReady, _) => return None,
            #[cfg(feature = "opus")]
            (Pulled::Frame(p), Decoder::Opus(d)) => d.decode(&p).ok(),
            #[cfg(feature = "opus")]
            (Pulled::Missing, Decoder::Opus(d)) => match r.jitter.fec_payload() {
                // The packet after the lost one has arrived: its in-band FEC (sent when the
                // peer sees loss) rebuilds the lost frame; without FEC data libopus conceals.
                Some(next) => {
                    self.fec_recovered += 1;
                    d.decode_fec(next).ok()
                }
                None => {
                    self.concealed += 1;
                    d.conceal(FRAME_SAMPLES).ok()
                }
            },
            (Pulled::Frame(p), Decoder::G711(law, resampler, last)) => {
                let mut narrow = Vec::with_capacity(160);
                law.decode(&p, &mut narrow);
                narrow.resize(160, 0);
                let mut wide = Vec::with_capacity(FRAME_SAMPLES);
                let ok = resampler.process(&narrow, &mut wide).is_ok();
                if ok {
                    last.clone_from(&wide);
                }
                ok.then_some(wide)
            }
            (Pulled::Missing, Decoder::G711(_, _, last)) => {
                // Concealment: the last frame again, 6 dB down each time.
                self.concealed += 1;
                for s in last.iter_mut() {
                    *s /= 2;
                }
                Some(last.clone())
            }
        };
        let mut frame = frame.unwrap_or_default();
        frame.resize(FRAME_SAMPLES, 0);
        Some(frame)
    }

    /// A stats interval's figures: steers the Opus encoder's FEC by the loss the peer reported
    /// for our packets in the interval ([`next_fec_loss_percent`]).
    pub(crate) fn on_remote_report(&mut self, s: &MediaStats) {
        let Some(send) = self.send.as_mut() else {
            return;
        };
        let Some(lost) = s.remote_lost else {
            return;
        };
        let (sent0, lost0) = send.reported;
        let sent = s.packets_sent.saturating_sub(sent0);
        let Some(next) =
            next_fec_loss_percent(send.fec_loss_percent, sent, lost.saturating_sub(lost0))
        else {
            return;
        };
        send.reported = (s.packets_sent, lost);
        if next == send.fec_loss_percent {
            return;
        }
        match &mut send.encoder {
            #[cfg(feature = "opus")]
            Encoder::Opus(e) => {
                if e.set_expected_loss_percent(next).is_ok() {
                    tracing::debug!(percent = next, "Opus FEC loss rate");
                    send.fec_loss_percent = next;
                }
            }
            Encoder::G711(..) => {}
        }
    }

    /// Call statistics from str0m's figures and the jitter buffer's (whichever saw more).
    pub(crate) fn stats(&self, s: &MediaStats) -> CallStats {
        let jb = self.recv.as_ref().map(|r| r.jitter.stats());
        let received = s
            .packets_received
            .max(jb.as_ref().map(|j| j.received).unwrap_or(0));
        let jb_lost = jb
            .as_ref()
            .map(|j| j.lost.saturating_sub(self.dtmf_packets))
            .unwrap_or(0);
        let lost = s.lost.max(jb_lost);
        let total = received + lost;
        CallStats {
            rtt_ms: s.rtt.map(|d| d.as_secs_f64() * 1000.0),
            jitter_ms: s
                .jitter
                .or(jb.as_ref().map(|j| j.jitter))
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(0.0),
            loss: if total == 0 {
                0.0
            } else {
                lost as f64 / total as f64
            },
            packets_sent: s.packets_sent.max(self.packets_sent),
            packets_received: received,
            concealed: self.concealed,
            fec_recovered: self.fec_recovered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "opus")]
    #[test]
    fn opus_fec_is_steered_by_the_peers_loss_reports() {
        let codec = NegotiatedCodec {
            pt: 111,
            codec: AudioCodec::Opus { channels: 2 },
        };
        let mut audio = SessionAudio {
            send: Some(SendPath {
                codec,
                encoder: encoder_for(codec.codec, &AudioOptions::default()).expect("opus encoder"),
                rtp_ts: 0,
                dtmf: None,
                fec_loss_percent: 0,
                reported: (0, 0),
            }),
            ..SessionAudio::default()
        };
        let fec = |a: &SessionAudio| a.send.as_ref().map(|s| s.fec_loss_percent);
        let report = |sent, lost| MediaStats {
            packets_sent: sent,
            remote_lost: Some(lost),
            ..MediaStats::default()
        };
        // No receiver report yet, then a clean one: no FEC.
        audio.on_remote_report(&MediaStats::default());
        audio.on_remote_report(&report(250, 0));
        assert_eq!(fec(&audio), Some(0));
        // 20 of the next 250 lost: 8 %.
        audio.on_remote_report(&report(500, 20));
        assert_eq!(fec(&audio), Some(8));
        // Clean again: halves.
        audio.on_remote_report(&report(750, 20));
        assert_eq!(fec(&audio), Some(4));
        // Encoding still works at every setting.
        assert_eq!(audio.encode_frame(&[0; FRAME_SAMPLES]).len(), 1);
    }

    /// Sends 440 Hz, then 1 kHz from frame `switch` on, through an Opus sender (told that its
    /// peer loses `reported_loss` of 250 packets) and a receiving session that loses frames
    /// `early_loss` and `switch`. Returns the frame played for the lost `switch` slot and the
    /// receiver's counters (FEC-rebuilt, concealed).
    #[cfg(feature = "opus")]
    fn lose_the_first_1khz_frame(reported_loss: u64) -> (Vec<i16>, u64, u64) {
        use crate::media::jitter::{JitterBuffer, JitterConfig};
        use crate::media::tone::ToneGenerator;
        use std::time::Duration;
        let codec = NegotiatedCodec {
            pt: 111,
            codec: AudioCodec::Opus { channels: 2 },
        };
        let options = AudioOptions::default();
        let mut sender = SessionAudio {
            send: Some(SendPath {
                codec,
                encoder: encoder_for(codec.codec, &options).expect("opus encoder"),
                rtp_ts: 0,
                dtmf: None,
                fec_loss_percent: 0,
                reported: (0, 0),
            }),
            ..SessionAudio::default()
        };
        sender.on_remote_report(&MediaStats {
            packets_sent: 250,
            remote_lost: Some(reported_loss),
            ..MediaStats::default()
        });
        let mut receiver = SessionAudio {
            recv: Some(RecvPath {
                codec,
                jitter: JitterBuffer::new(JitterConfig::new(AUDIO_RATE)).expect("jitter buffer"),
                decoder: decoder_for(codec.codec).expect("opus decoder"),
            }),
            ..SessionAudio::default()
        };
        let (early_loss, switch) = (20u16, 60u16);
        let mut low = ToneGenerator::new(440.0, 0.5, AUDIO_RATE);
        let mut high = ToneGenerator::new(1000.0, 0.5, AUDIO_RATE);
        let t0 = Instant::now();
        let mut rebuilt = None;
        for n in 0u16..100 {
            let mut pcm = vec![0i16; FRAME_SAMPLES];
            if n < switch {
                low.fill(&mut pcm);
            } else {
                high.fill(&mut pcm);
            }
            let at = t0 + Duration::from_millis(20 * u64::from(n));
            for p in sender.encode_frame(&pcm) {
                if n != early_loss && n != switch {
                    receiver.on_rtp(p.pt, codec.codec, n, p.rtp_timestamp, p.payload, at);
                }
            }
            // Pull 5 ms after each arrival (zero network jitter).
            let before = (receiver.fec_recovered, receiver.concealed);
            let frame = receiver.pull_frame(at + Duration::from_millis(5));
            let lost_slot = (receiver.fec_recovered, receiver.concealed) != before;
            if lost_slot && n > switch - 1 && rebuilt.is_none() {
                rebuilt = frame;
            }
        }
        (
            rebuilt.expect("the lost 1 kHz slot was played"),
            receiver.fec_recovered,
            receiver.concealed,
        )
    }

    #[cfg(feature = "opus")]
    #[test]
    fn a_lost_opus_frame_is_rebuilt_from_the_next_packets_fec() {
        use crate::media::goertzel::Goertzel;
        // Energy at 1 kHz over energy at 440 Hz.
        let ratio = |f: &[i16]| {
            Goertzel::energy_ratio(f, 1000.0, AUDIO_RATE)
                / Goertzel::energy_ratio(f, 440.0, AUDIO_RATE).max(1e-6)
        };
        // The peer reports 20 % loss: the encoder adds FEC, and the receiver decodes it for
        // the second loss (the first one raised the jitter buffer's delay so that the next
        // packet is there in time). The rebuilt frame already carries the new 1 kHz tone.
        let (frame, rebuilt, concealed) = lose_the_first_1khz_frame(50);
        assert_eq!(rebuilt, 1, "the second loss is rebuilt from FEC");
        // Concealed: the first loss (at the low floor the next packet is not there yet) and
        // the frame the jitter buffer inserts to grow its delay by one frame after it.
        assert_eq!(
            concealed, 2,
            "the first loss and the delay step are concealed"
        );
        assert!(
            ratio(&frame) > 2.0,
            "FEC frame is 1 kHz: ratio {}",
            ratio(&frame)
        );
        // Control: without reported loss the packets carry no FEC, libopus conceals from the
        // past and the same slot still sounds like 440 Hz.
        let (frame, _, _) = lose_the_first_1khz_frame(0);
        assert!(
            ratio(&frame) < 0.5,
            "PLC frame is 440 Hz: ratio {}",
            ratio(&frame)
        );
    }

    #[test]
    fn fec_follows_reported_loss_up_at_once_and_down_slowly() {
        // Too few packets in the interval: keep the rate.
        assert_eq!(next_fec_loss_percent(10, 24, 24), None);
        // No loss: no FEC.
        assert_eq!(next_fec_loss_percent(0, 250, 0), Some(0));
        // One lost packet in 250 rounds up to 1 %.
        assert_eq!(next_fec_loss_percent(0, 250, 1), Some(1));
        // Up at once.
        assert_eq!(next_fec_loss_percent(1, 250, 25), Some(10));
        // Down by half the difference per interval.
        assert_eq!(next_fec_loss_percent(10, 250, 0), Some(5));
        assert_eq!(next_fec_loss_percent(5, 250, 0), Some(2));
        assert_eq!(next_fec_loss_percent(1, 250, 0), Some(0));
        // Capped, and a report of more lost than sent (counter resets) is no panic.
        assert_eq!(next_fec_loss_percent(0, 250, 200), Some(30));
        assert_eq!(next_fec_loss_percent(0, 250, 10_000), Some(30));
    }
}
