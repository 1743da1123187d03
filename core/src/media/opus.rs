//! Opus encode/decode for RTP audio over the system libopus (the `opus` crate; this module is
//! compiled only with the `opus` feature). Owns one encoder or decoder state per stream, fixed at
//! 48 kHz with 20 ms frames (960 samples per channel), VoIP application and in-band FEC. Does not
//! packetize, jitter-buffer or resample: feed it one RTP payload or one 20 ms frame at a time.
//!
//! SDP always advertises `opus/48000/2`; the `stereo=0`/`sprop-stereo=0` fmtp parameters (the
//! Genesys default) mean mono, which is [`OpusChannels::Mono`]. A mono decoder decodes stereo
//! packets by downmixing, and vice versa, so a mismatch is never an error.
//!
//! Payloads from the peer are untrusted: anything malformed returns an [`OpusError`], never a
//! panic. Payloads longer than [`MAX_OPUS_PAYLOAD`] are refused before reaching libopus.
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use ::opus as libopus;

use crate::options::AudioBandwidth;

/// The Opus RTP clock and the rate this module encodes and decodes at.
pub const OPUS_SAMPLE_RATE: u32 = 48_000;
/// Samples per channel in one 20 ms frame at 48 kHz.
pub const OPUS_FRAME_SAMPLES: usize = 960;
/// Samples per channel in the longest Opus packet (120 ms).
pub const MAX_PACKET_SAMPLES: usize = 5_760;
/// Smallest unit of audio libopus can conceal or recover (2.5 ms at 48 kHz).
pub const CONCEAL_GRANULE: usize = 120;
/// Largest payload accepted for decoding. A 120 ms packet of six maximal frames is below this;
/// anything larger cannot be a valid RTP Opus payload.
pub const MAX_OPUS_PAYLOAD: usize = 7_680;
/// Output buffer for one encoded 20 ms frame (the Opus maximum for one frame is 1275 bytes).
const MAX_ENCODED_FRAME: usize = 1_500;

/// Errors from the Opus wrappers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpusError {
    /// libopus refused a call (creating a state, a setting, or decoding a corrupt packet).
    #[error("libopus: {0}")]
    Codec(#[from] libopus::Error),
    /// The PCM handed to the encoder is not exactly one 20 ms frame.
    #[error("expected {expected} samples (20 ms, interleaved), got {got}")]
    WrongFrameLength {
        /// Samples (all channels) expected.
        expected: usize,
        /// Samples given.
        got: usize,
    },
    /// The payload was empty (a lost packet is concealed with [`OpusDecoder::conceal`]).
    #[error("empty Opus payload")]
    EmptyPayload,
    /// The payload is longer than [`MAX_OPUS_PAYLOAD`].
    #[error("Opus payload of {0} bytes is too large")]
    PayloadTooLarge(usize),
    /// A concealment length that is zero, above 120 ms or not a multiple of 2.5 ms.
    #[error("cannot conceal {0} samples per channel (must be a multiple of 120, at most 5760)")]
    InvalidConcealLength(usize),
    /// A bitrate outside 6–510 kbit/s.
    #[error("bitrate {0} bit/s is outside 6000..=510000")]
    InvalidBitrate(u32),
}

/// Mono or stereo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OpusChannels {
    /// One channel (`stereo=0`, the default for voice).
    #[default]
    Mono,
    /// Two interleaved channels (`stereo=1`).
    Stereo,
}

impl OpusChannels {
    /// 1 or 2.
    pub fn count(self) -> usize {
        match self {
            OpusChannels::Mono => 1,
            OpusChannels::Stereo => 2,
        }
    }

    /// Channels from the fmtp `stereo` parameter as the SDP layer parsed it (`None` = absent,
    /// which RFC 7587 says means mono).
    pub fn from_stereo_param(stereo: Option<bool>) -> Self {
        if stereo == Some(true) {
            OpusChannels::Stereo
        } else {
            OpusChannels::Mono
        }
    }

    fn lib(self) -> libopus::Channels {
        match self {
            OpusChannels::Mono => libopus::Channels::Mono,
            OpusChannels::Stereo => libopus::Channels::Stereo,
        }
    }
}

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusEncoderConfig {
    /// Channels to encode.
    pub channels: OpusChannels,
    /// Target bitrate in bit/s (6000–510000). Default 32000, good wideband voice.
    pub bitrate_bps: u32,
    /// In-band forward error correction (on by default; needs `expected_loss_percent > 0` to
    /// spend bits).
    pub inband_fec: bool,
    /// The loss rate the encoder protects against with FEC, 0–100. Default 10.
    pub expected_loss_percent: u8,
    /// Discontinuous transmission (off by default: a jitter buffer then sees a steady stream).
    pub dtx: bool,
    /// Encoder complexity 0–10 (default 9, about libopus' own default of 10 in quality, cheaper).
    /// Calls use [`crate::options::AudioOptions::opus_complexity`] (default 3).
    pub complexity: u8,
    /// The widest band the encoder may code (default fullband, libopus' own). A cap below
    /// fullband saves encoder CPU (wideband speech is coded by SILK alone) and the decoder's
    /// at the far end. Calls use [`crate::options::AudioOptions::bandwidth`].
    pub max_bandwidth: AudioBandwidth,
}

impl Default for OpusEncoderConfig {
    fn default() -> Self {
        OpusEncoderConfig {
            channels: OpusChannels::Mono,
            bitrate_bps: 32_000,
            inband_fec: true,
            expected_loss_percent: 10,
            dtx: false,
            complexity: 9,
            max_bandwidth: AudioBandwidth::Fullband,
        }
    }
}

/// One Opus encoder: 48 kHz, 20 ms frames, VoIP application.
pub struct OpusEncoder {
    enc: libopus::Encoder,
    channels: OpusChannels,
    buf: Vec<u8>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// Creates an encoder with `config`.
    pub fn new(config: OpusEncoderConfig) -> Result<Self, OpusError> {
        check_bitrate(config.bitrate_bps)?;
        let mut enc = libopus::Encoder::new(
            OPUS_SAMPLE_RATE,
            config.channels.lib(),
            libopus::Application::Voip,
        )?;
        enc.set_bitrate(libopus::Bitrate::Bits(config.bitrate_bps as i32))?;
        enc.set_inband_fec(config.inband_fec)?;
        enc.set_packet_loss_perc(i32::from(config.expected_loss_percent.min(100)))?;
        enc.set_dtx(config.dtx)?;
        enc.set_complexity(i32::from(config.complexity.min(10)))?;
        enc.set_signal(libopus::Signal::Voice)?;
        enc.set_max_bandwidth(lib_bandwidth(config.max_bandwidth))?;
        Ok(OpusEncoder {
            enc,
            channels: config.channels,
            buf: vec![0; MAX_ENCODED_FRAME],
        })
    }

    /// The channels this encoder takes.
    pub fn channels(&self) -> OpusChannels {
        self.channels
    }

    /// Samples (all channels, interleaved) one [`OpusEncoder::encode`] call takes.
    pub fn frame_len(&self) -> usize {
        OPUS_FRAME_SAMPLES * self.channels.count()
    }

    /// Encodes exactly one 20 ms frame (960 samples per channel, interleaved) into one RTP
    /// payload.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, OpusError> {
        if pcm.len() != self.frame_len() {
            return Err(OpusError::WrongFrameLength {
                expected: self.frame_len(),
                got: pcm.len(),
            });
        }
        let n = self.enc.encode(pcm, &mut self.buf)?;
        Ok(self.buf.get(..n).unwrap_or(&[]).to_vec())
    }

    /// Changes the target bitrate (bit/s, 6000–510000).
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), OpusError> {
        check_bitrate(bps)?;
        self.enc
            .set_bitrate(libopus::Bitrate::Bits(bps as i32))
            .map_err(OpusError::from)
    }

    /// Changes the loss rate FEC protects against (0–100 %), e.g. from RTCP receiver reports.
    pub fn set_expected_loss_percent(&mut self, percent: u8) -> Result<(), OpusError> {
        self.enc
            .set_packet_loss_perc(i32::from(percent.min(100)))
            .map_err(OpusError::from)
    }

    /// The encoder's lookahead (algorithmic delay) in samples per channel at 48 kHz.
    pub fn lookahead(&mut self) -> Result<usize, OpusError> {
        Ok(self.enc.get_lookahead()?.max(0) as usize)
    }
}

fn lib_bandwidth(bandwidth: AudioBandwidth) -> libopus::Bandwidth {
    match bandwidth {
        AudioBandwidth::Narrowband => libopus::Bandwidth::Narrowband,
        AudioBandwidth::Wideband => libopus::Bandwidth::Wideband,
        AudioBandwidth::SuperWideband => libopus::Bandwidth::Superwideband,
        AudioBandwidth::Fullband => libopus::Bandwidth::Fullband,
    }
}

fn check_bitrate(bps: u32) -> Result<(), OpusError> {
    if (6_000..=510_000).contains(&bps) {
        Ok(())
    } else {
        Err(OpusError::InvalidBitrate(bps))
    }
}

/// One Opus decoder: 48 kHz output, interleaved `i16`.
pub struct OpusDecoder {
    dec: libopus::Decoder,
    channels: OpusChannels,
    /// Samples per channel of the last decoded packet, used for FEC recovery length.
    last_packet_samples: usize,
    buf: Vec<i16>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("channels", &self.channels)
            .field("last_packet_samples", &self.last_packet_samples)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// Creates a decoder producing `channels`.
    pub fn new(channels: OpusChannels) -> Result<Self, OpusError> {
        Ok(OpusDecoder {
            dec: libopus::Decoder::new(OPUS_SAMPLE_RATE, channels.lib())?,
            channels,
            last_packet_samples: OPUS_FRAME_SAMPLES,
            buf: vec![0; MAX_PACKET_SAMPLES * channels.count()],
        })
    }

    /// The channels this decoder produces.
    pub fn channels(&self) -> OpusChannels {
        self.channels
    }

    /// Decodes one RTP payload into interleaved samples (960 per channel for a 20 ms packet).
    pub fn decode(&mut self, payload: &[u8]) -> Result<Vec<i16>, OpusError> {
        check_payload(payload)?;
        let n = self.dec.decode(payload, &mut self.buf, false)?;
        self.last_packet_samples = n.clamp(CONCEAL_GRANULE, MAX_PACKET_SAMPLES);
        Ok(self.take(n))
    }

    /// Packet loss concealment: synthesises `samples_wanted` samples per channel (a multiple of
    /// 120, at most 5760; 960 for one lost 20 ms packet) continuing the previous audio.
    pub fn conceal(&mut self, samples_wanted: usize) -> Result<Vec<i16>, OpusError> {
        check_conceal(samples_wanted)?;
        let len = samples_wanted * self.channels.count();
        let out = self
            .buf
            .get_mut(..len)
            .ok_or(OpusError::InvalidConcealLength(samples_wanted))?;
        let n = self.dec.decode(&[], out, false)?;
        Ok(self.take(n))
    }

    /// Recovers the packet lost just before `next_payload` from the FEC data carried in
    /// `next_payload` (decode `next_payload` itself normally afterwards). The length is that of
    /// the last packet decoded (960 per channel for 20 ms). If `next_payload` carries no FEC,
    /// libopus falls back to concealment, so this still returns audio of the right length.
    pub fn decode_fec(&mut self, next_payload: &[u8]) -> Result<Vec<i16>, OpusError> {
        check_payload(next_payload)?;
        let len = self.last_packet_samples * self.channels.count();
        let out = self
            .buf
            .get_mut(..len)
            .ok_or(OpusError::InvalidConcealLength(self.last_packet_samples))?;
        let n = self.dec.decode(next_payload, out, true)?;
        Ok(self.take(n))
    }

    /// Samples per channel in `payload` without decoding it.
    pub fn packet_samples(&self, payload: &[u8]) -> Result<usize, OpusError> {
        check_payload(payload)?;
        Ok(self.dec.get_nb_samples(payload)?)
    }

    /// Forgets the decoder history (e.g. after an SSRC change).
    pub fn reset(&mut self) -> Result<(), OpusError> {
        self.last_packet_samples = OPUS_FRAME_SAMPLES;
        self.dec.reset_state().map_err(OpusError::from)
    }

    fn take(&self, per_channel: usize) -> Vec<i16> {
        let len = per_channel * self.channels.count();
        self.buf.get(..len).unwrap_or(&self.buf).to_vec()
    }
}

fn check_payload(payload: &[u8]) -> Result<(), OpusError> {
    if payload.is_empty() {
        Err(OpusError::EmptyPayload)
    } else if payload.len() > MAX_OPUS_PAYLOAD {
        Err(OpusError::PayloadTooLarge(payload.len()))
    } else {
        Ok(())
    }
}

fn check_conceal(samples: usize) -> Result<(), OpusError> {
    if samples == 0 || samples > MAX_PACKET_SAMPLES || !samples.is_multiple_of(CONCEAL_GRANULE) {
        Err(OpusError::InvalidConcealLength(samples))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::goertzel::Goertzel;
    use crate::media::tone::ToneGenerator;

    fn tone_frames(freq: f32, amp: f32, frames: usize) -> Vec<Vec<i16>> {
        let mut g = ToneGenerator::new(freq, amp, OPUS_SAMPLE_RATE);
        (0..frames)
            .map(|_| g.next_frame(OPUS_FRAME_SAMPLES))
            .collect()
    }

    /// Best SNR (dB) of `out` against `inp` over lags in `lags`.
    fn aligned_snr(inp: &[i16], out: &[i16], lags: std::ops::Range<usize>) -> (usize, f64) {
        let mut best = (0, f64::MIN);
        let n = inp.len().saturating_sub(lags.end);
        for lag in lags {
            let (mut sig, mut err) = (0.0f64, 0.0f64);
            for i in 0..n {
                let x = f64::from(inp[i]);
                let y = f64::from(out[i + lag]);
                sig += x * x;
                err += (x - y) * (x - y);
            }
            let snr = 10.0 * (sig / err.max(1.0)).log10();
            if snr > best.1 {
                best = (lag, snr);
            }
        }
        best
    }

    #[test]
    fn tone_survives_encode_decode() {
        let mut enc = OpusEncoder::new(OpusEncoderConfig::default()).unwrap();
        let mut dec = OpusDecoder::new(OpusChannels::Mono).unwrap();
        let frames = tone_frames(440.0, 0.5, 50);
        let mut inp = Vec::new();
        let mut out = Vec::new();
        for f in &frames {
            let p = enc.encode(f).unwrap();
            assert!(!p.is_empty() && p.len() < 400, "{}", p.len());
            let d = dec.decode(&p).unwrap();
            assert_eq!(d.len(), OPUS_FRAME_SAMPLES);
            inp.extend_from_slice(f);
            out.extend(d);
        }
        // Skip the start-up second half, compare the steady state.
        let tail = &out[out.len() - 4 * OPUS_FRAME_SAMPLES..];
        let cands = [300.0, 440.0, 600.0, 1000.0];
        assert_eq!(
            Goertzel::dominant_frequency_in(tail, &cands, OPUS_SAMPLE_RATE),
            Some(440.0)
        );
        assert!(Goertzel::detect(tail, 440.0, OPUS_SAMPLE_RATE));
        let level_in = Goertzel::level_dbfs(&inp[inp.len() - tail.len()..]);
        let level_out = Goertzel::level_dbfs(tail);
        assert!(
            (level_in - level_out).abs() < 1.0,
            "{level_in} vs {level_out}"
        );
        let start = 10 * OPUS_FRAME_SAMPLES;
        // The decoder output lags the input by the encoder's lookahead (a pure tone is periodic,
        // so search one period either side).
        let la = enc.lookahead().unwrap();
        let (lag, snr) = aligned_snr(&inp[start..], &out[start..], la - 50..la + 50);
        assert!(snr > 20.0, "SNR {snr:.1} dB at lag {lag}");
        assert!(lag.abs_diff(la) <= 12, "lag {lag} vs lookahead {la}");
        eprintln!("opus 32 kbit/s 440 Hz: SNR {snr:.1} dB, lag {lag}");
    }

    /// The settings calls use by default (complexity 3, wideband cap): a voice-band tone keeps
    /// its pitch, level and waveform; every packet says wideband or narrower in its TOC byte;
    /// a 10 kHz tone, above the wideband cap, is not coded.
    #[test]
    fn wideband_cap_at_low_complexity() {
        let cfg = OpusEncoderConfig {
            complexity: 3,
            max_bandwidth: AudioBandwidth::Wideband,
            ..Default::default()
        };
        let mut enc = OpusEncoder::new(cfg).unwrap();
        let mut dec = OpusDecoder::new(OpusChannels::Mono).unwrap();
        let (mut inp, mut out) = (Vec::new(), Vec::new());
        for f in tone_frames(440.0, 0.5, 50) {
            let p = enc.encode(&f).unwrap();
            let bw = libopus::packet::get_bandwidth(&p).unwrap();
            assert!(
                matches!(
                    bw,
                    libopus::Bandwidth::Narrowband
                        | libopus::Bandwidth::Mediumband
                        | libopus::Bandwidth::Wideband
                ),
                "{bw:?}"
            );
            inp.extend_from_slice(&f);
            out.extend(dec.decode(&p).unwrap());
        }
        let tail = &out[out.len() - 4 * OPUS_FRAME_SAMPLES..];
        assert_eq!(
            Goertzel::dominant_frequency_in(tail, &[300.0, 440.0, 600.0], OPUS_SAMPLE_RATE),
            Some(440.0)
        );
        let level_in = Goertzel::level_dbfs(&inp[inp.len() - tail.len()..]);
        let level_out = Goertzel::level_dbfs(tail);
        assert!(
            (level_in - level_out).abs() < 1.0,
            "{level_in} vs {level_out}"
        );
        let start = 10 * OPUS_FRAME_SAMPLES;
        let la = enc.lookahead().unwrap();
        let (lag, snr) = aligned_snr(&inp[start..], &out[start..], la - 50..la + 50);
        assert!(snr > 15.0, "SNR {snr:.1} dB at lag {lag}");
        eprintln!("opus complexity 3, wideband: SNR {snr:.1} dB, lag {lag}");

        // Above the cap: a 10 kHz tone comes out at least 30 dB down; uncapped it passes.
        let high = |max_bandwidth| {
            let mut enc = OpusEncoder::new(OpusEncoderConfig {
                max_bandwidth,
                ..cfg
            })
            .unwrap();
            let mut dec = OpusDecoder::new(OpusChannels::Mono).unwrap();
            let mut out = Vec::new();
            for f in tone_frames(10_000.0, 0.5, 30) {
                out.extend(dec.decode(&enc.encode(&f).unwrap()).unwrap());
            }
            Goertzel::level_dbfs(&out[out.len() - 4 * OPUS_FRAME_SAMPLES..])
        };
        let (capped, full) = (
            high(AudioBandwidth::Wideband),
            high(AudioBandwidth::Fullband),
        );
        assert!(
            capped < -40.0,
            "10 kHz through a wideband cap: {capped:.1} dBFS"
        );
        assert!(full > -15.0, "10 kHz through fullband: {full:.1} dBFS");
    }

    #[test]
    fn stereo_round_trip() {
        let cfg = OpusEncoderConfig {
            channels: OpusChannels::Stereo,
            bitrate_bps: 64_000,
            ..Default::default()
        };
        let mut enc = OpusEncoder::new(cfg).unwrap();
        let mut dec = OpusDecoder::new(OpusChannels::Stereo).unwrap();
        let mut mono_dec = OpusDecoder::new(OpusChannels::Mono).unwrap();
        let mut g = ToneGenerator::new(440.0, 0.5, OPUS_SAMPLE_RATE);
        let mut last = Vec::new();
        for _ in 0..20 {
            let mut f = vec![0; OPUS_FRAME_SAMPLES * 2];
            g.fill_interleaved(&mut f, 2);
            let p = enc.encode(&f).unwrap();
            last = dec.decode(&p).unwrap();
            assert_eq!(last.len(), OPUS_FRAME_SAMPLES * 2);
            assert_eq!(mono_dec.decode(&p).unwrap().len(), OPUS_FRAME_SAMPLES);
        }
        let left: Vec<i16> = last.iter().step_by(2).copied().collect();
        assert!(Goertzel::detect(&left, 440.0, OPUS_SAMPLE_RATE));
        assert!(matches!(
            enc.encode(&[0; 960]),
            Err(OpusError::WrongFrameLength {
                expected: 1920,
                got: 960
            })
        ));
    }

    #[test]
    fn plc_and_fec_lengths() {
        let mut enc = OpusEncoder::new(OpusEncoderConfig::default()).unwrap();
        let mut dec = OpusDecoder::new(OpusChannels::Mono).unwrap();
        let frames = tone_frames(440.0, 0.5, 30);
        let packets: Vec<Vec<u8>> = frames.iter().map(|f| enc.encode(f).unwrap()).collect();
        for p in &packets[..20] {
            dec.decode(p).unwrap();
        }
        // Packet 20 lost: conceal it.
        let c = dec.conceal(OPUS_FRAME_SAMPLES).unwrap();
        assert_eq!(c.len(), OPUS_FRAME_SAMPLES);
        assert!(Goertzel::level_dbfs(&c) > -30.0, "PLC continues the tone");
        // Packet 22 lost: recover it from 23's FEC.
        dec.decode(&packets[21]).unwrap();
        let r = dec.decode_fec(&packets[22]).unwrap();
        assert_eq!(r.len(), OPUS_FRAME_SAMPLES);
        assert!(Goertzel::detect(&r, 440.0, OPUS_SAMPLE_RATE));
        assert_eq!(dec.decode(&packets[22]).unwrap().len(), OPUS_FRAME_SAMPLES);
        for n in [120, 480, 5760] {
            assert_eq!(dec.conceal(n).unwrap().len(), n);
        }
        for n in [0, 100, 5880, usize::MAX] {
            assert!(matches!(
                dec.conceal(n),
                Err(OpusError::InvalidConcealLength(_))
            ));
        }
        assert_eq!(dec.packet_samples(&packets[0]).unwrap(), 960);
    }

    #[test]
    fn garbage_payloads_are_errors_not_panics() {
        let mut dec = OpusDecoder::new(OpusChannels::Mono).unwrap();
        assert!(matches!(dec.decode(&[]), Err(OpusError::EmptyPayload)));
        assert!(matches!(
            dec.decode(&vec![0; MAX_OPUS_PAYLOAD + 1]),
            Err(OpusError::PayloadTooLarge(_))
        ));
        // Code 3 packet with a zero frame count, and a code 3 packet claiming 63 frames of
        // 60 ms: both invalid by RFC 6716.
        assert!(matches!(
            dec.decode(&[0x03, 0x00]),
            Err(OpusError::Codec(_))
        ));
        assert!(matches!(
            dec.decode(&[0x1B, 0x3F]),
            Err(OpusError::Codec(_))
        ));
        assert!(dec.decode_fec(&[0x03, 0x00]).is_err());
        // Random bytes: any result is fine as long as it is a valid length or an error.
        let mut rng = fastrand::Rng::with_seed(7);
        let mut errors = 0;
        for _ in 0..3000 {
            let len = rng.usize(1..200);
            let p: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            match dec.decode(&p) {
                Ok(s) => assert!(s.len() <= MAX_PACKET_SAMPLES && s.len() % CONCEAL_GRANULE == 0),
                Err(_) => errors += 1,
            }
            let _ = dec.decode_fec(&p);
            let _ = dec.packet_samples(&p);
        }
        assert!(errors > 0);
        // The decoder still works afterwards.
        dec.reset().unwrap();
        let mut enc = OpusEncoder::new(OpusEncoderConfig::default()).unwrap();
        let p = enc.encode(&[0; 960]).unwrap();
        assert_eq!(dec.decode(&p).unwrap().len(), 960);
    }

    #[test]
    fn bad_settings() {
        let cfg = OpusEncoderConfig {
            bitrate_bps: 1,
            ..Default::default()
        };
        assert!(matches!(
            OpusEncoder::new(cfg),
            Err(OpusError::InvalidBitrate(1))
        ));
        let mut enc = OpusEncoder::new(OpusEncoderConfig::default()).unwrap();
        assert!(enc.set_bitrate(600_000).is_err());
        enc.set_bitrate(16_000).unwrap();
        enc.set_expected_loss_percent(200).unwrap();
        assert_eq!(OpusChannels::from_stereo_param(None), OpusChannels::Mono);
        assert_eq!(
            OpusChannels::from_stereo_param(Some(true)),
            OpusChannels::Stereo
        );
    }

    /// Measures encode + decode time per 20 ms frame. Run with
    /// `cargo test --release -p genesys-webrtc --lib media::opus -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing measurement"]
    fn measure_encode_decode_time() {
        let mut enc = OpusEncoder::new(OpusEncoderConfig::default()).unwrap();
        let mut dec = OpusDecoder::new(OpusChannels::Mono).unwrap();
        let frames = tone_frames(440.0, 0.5, 500);
        let start = std::time::Instant::now();
        for f in &frames {
            let p = enc.encode(f).unwrap();
            dec.decode(&p).unwrap();
        }
        let per = start.elapsed() / frames.len() as u32;
        println!("opus encode+decode: {per:?} per 20 ms frame");
    }
}
