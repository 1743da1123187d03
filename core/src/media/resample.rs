//! Sample-rate conversion of fixed 10/20 ms PCM frames between the codec rates (8, 16, 48 kHz)
//! and device rates (44.1 kHz and others that are a multiple of 100 Hz). Owns one converter state
//! per stream direction; a polyphase FIR for the exact rational ratio of the two rates (both
//! multiples of 100 Hz), whose prototype low-pass is a Kaiser-windowed sinc designed at
//! construction: flat to 84 % of the lower Nyquist frequency, at least 65 dB down from the
//! Nyquist frequency on, so what folds back when downsampling (e.g. 5 kHz into 3 kHz at 8 kHz)
//! stays far below the signal. One input frame gives exactly one output frame. Does not buffer
//! partial frames, mix channels or pace anything.
//!
//! The conversion delays the signal by a fixed amount, [`Resampler::latency`], half the filter
//! (3.1–3.5 ms when one side is 8 kHz, 1.6–1.8 ms at 16 kHz, 0.6 ms between 44.1 and 48 kHz); zero
//! when the rates are equal and the frame is copied through. Plain Rust with no FFT: an FFT
//! resampler used before delayed by half an output frame (10 ms for 20 ms frames), and its FFT
//! planner's code made up a ninth of the device binary; it needed fewer instructions, though
//! (a G.711 call's engine: 3.7 M per call-second against 5.2 M; the difference is well under
//! 0.1 % of a core).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use std::time::Duration;

use genesys_webrtc_hal::FrameDuration;

/// Lowest supported rate in Hz.
pub const MIN_RATE: u32 = 8_000;
/// Highest supported rate in Hz.
pub const MAX_RATE: u32 = 192_000;
/// Most interleaved channels supported.
pub const MAX_CHANNELS: u8 = 8;

/// Errors from [`Resampler`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResampleError {
    /// A rate outside 8–192 kHz or not a multiple of 100 Hz (10 ms must be whole samples).
    #[error("unsupported sample rate {0} Hz")]
    UnsupportedRate(u32),
    /// Zero channels or more than [`MAX_CHANNELS`].
    #[error("unsupported channel count {0}")]
    UnsupportedChannels(u8),
    /// The input is not exactly one frame.
    #[error("expected {expected} input samples (one frame, interleaved), got {got}")]
    WrongFrameLength {
        /// Samples (all channels) expected.
        expected: usize,
        /// Samples given.
        got: usize,
    },
}

enum Engine {
    /// Same rate in and out: frames are copied.
    Passthrough,
    /// Polyphase FIR conversion.
    Polyphase(Box<Polyphase>),
}

/// Stopband attenuation of the prototype low-pass, dB.
const STOPBAND_DB: f64 = 65.0;
/// Passband edge as a fraction of the lower rate's Nyquist frequency; the stopband starts at
/// that Nyquist frequency.
const PASSBAND: f64 = 0.84;

/// A rational resampler: conceptually upsample by `l` (zero stuffing), low-pass at the high rate
/// `l * in_rate`, keep every `m`-th sample; computed per output sample from one of `l` phases
/// of the filter.
struct Polyphase {
    l: usize,
    m: usize,
    /// Taps per phase.
    taps: usize,
    /// Phase `p`'s taps, time-reversed, at `p * taps..(p + 1) * taps`, scaled by `l`.
    bank: Vec<f32>,
    /// Per channel: the last `taps - 1` input samples of the previous frame, then this frame.
    history: Vec<Vec<f32>>,
    /// Delay in output samples.
    delay: usize,
}

/// Independent partial sums in [`dot`]: a sum of `f32` in one accumulator cannot be reordered,
/// so the compiler keeps it scalar; eight lanes vectorise (2.1x fewer instructions in a G.711
/// call's engine: 5.2 M per call-second, against 3.7 M with the FFT resampler used before).
const LANES: usize = 8;

/// The dot product of two equally long slices whose length is a multiple of [`LANES`].
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for ((s, p), q) in acc.iter_mut().zip(x).zip(y) {
            *s += p * q;
        }
    }
    acc.iter().sum()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The zeroth-order modified Bessel function of the first kind (Kaiser window), by its series.
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > sum * 1e-12 {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

impl Polyphase {
    fn new(in_rate: u32, out_rate: u32, channels: u8, n_in: usize) -> Self {
        let g = gcd(u64::from(in_rate), u64::from(out_rate));
        let l = (u64::from(out_rate) / g) as usize;
        let m = (u64::from(in_rate) / g) as usize;
        // Everything below in Hz at the high rate.
        let high = f64::from(in_rate) * l as f64;
        let nyquist = f64::from(in_rate.min(out_rate)) / 2.0;
        let transition = nyquist * (1.0 - PASSBAND);
        let cutoff = nyquist * (1.0 + PASSBAND) / 2.0;
        // Kaiser's estimates of the length and window shape for STOPBAND_DB.
        let delta_w = 2.0 * std::f64::consts::PI * transition / high;
        let length = ((STOPBAND_DB - 8.0) / (2.285 * delta_w)).ceil() as usize;
        // A multiple of the dot product's width, so it has no remainder to handle.
        let taps = length.div_ceil(l).max(2).next_multiple_of(LANES);
        let n = taps * l;
        let beta = 0.1102 * (STOPBAND_DB - 8.7);
        let centre = (n - 1) as f64 / 2.0;
        let fc = cutoff / high;
        let i0_beta = bessel_i0(beta);
        let proto: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64 - centre;
                let sinc = if t == 0.0 {
                    2.0 * fc
                } else {
                    (2.0 * std::f64::consts::PI * fc * t).sin() / (std::f64::consts::PI * t)
                };
                let r = t / centre;
                sinc * bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta
            })
            .collect();
        let mut bank = vec![0f32; n];
        for p in 0..l {
            for k in 0..taps {
                if let (Some(dst), Some(h)) = (
                    bank.get_mut(p * taps + (taps - 1 - k)),
                    proto.get(p + k * l),
                ) {
                    *dst = (h * l as f64) as f32;
                }
            }
        }
        Polyphase {
            l,
            m,
            taps,
            bank,
            history: vec![vec![0.0; taps - 1 + n_in]; usize::from(channels)],
            delay: (((n - 1) as f64 / 2.0) / m as f64).round() as usize,
        }
    }

    /// Converts one interleaved frame (length checked by the caller) into `out`, which holds
    /// exactly one output frame.
    fn process(&mut self, input: &[i16], out: &mut [i16]) {
        let channels = self.history.len();
        let keep = self.taps - 1;
        for (ch, hist) in self.history.iter_mut().enumerate() {
            let len = hist.len();
            hist.copy_within(len - keep.., 0);
            for (dst, src) in hist
                .get_mut(keep..)
                .unwrap_or_default()
                .iter_mut()
                .zip(input.iter().skip(ch).step_by(channels))
            {
                *dst = f32::from(*src);
            }
            // Output j is at high-rate time j * m: input index j * m / l, phase j * m % l.
            let (mut index, mut phase) = (0usize, 0usize);
            for dst in out.iter_mut().skip(ch).step_by(channels) {
                let taps = self.bank.get(phase * self.taps..(phase + 1) * self.taps);
                let window = hist.get(index..index + self.taps);
                let v = match (taps, window) {
                    (Some(t), Some(w)) => dot(t, w),
                    _ => 0.0,
                };
                // Round half away from zero; `as` saturates to the i16 range (and is not a
                // libm call per sample, unlike `f32::round` without SSE4.1).
                *dst = (v + 0.5f32.copysign(v)) as i16;
                phase += self.m;
                index += phase / self.l;
                phase %= self.l;
            }
        }
    }

    fn reset(&mut self) {
        for h in &mut self.history {
            h.fill(0.0);
        }
    }
}

/// Converts interleaved `i16` frames of one fixed duration from one rate to another.
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    channels: u8,
    frame: FrameDuration,
    engine: Engine,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("in_rate", &self.in_rate)
            .field("out_rate", &self.out_rate)
            .field("channels", &self.channels)
            .field("frame", &self.frame)
            .finish_non_exhaustive()
    }
}

fn check_rate(rate: u32) -> Result<(), ResampleError> {
    if (MIN_RATE..=MAX_RATE).contains(&rate) && rate.is_multiple_of(100) {
        Ok(())
    } else {
        Err(ResampleError::UnsupportedRate(rate))
    }
}

fn frames_per_channel(rate: u32, frame: FrameDuration) -> usize {
    (rate as usize) * (frame.millis() as usize) / 1000
}

impl Resampler {
    /// A converter from `in_rate` to `out_rate` Hz for `channels` interleaved channels and
    /// frames of `frame` duration.
    pub fn new(
        in_rate: u32,
        out_rate: u32,
        channels: u8,
        frame: FrameDuration,
    ) -> Result<Self, ResampleError> {
        check_rate(in_rate)?;
        check_rate(out_rate)?;
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(ResampleError::UnsupportedChannels(channels));
        }
        let engine = if in_rate == out_rate {
            Engine::Passthrough
        } else {
            // Both rates are multiples of 100 Hz, so a 10 or 20 ms frame is a whole number of
            // samples at each (at least 80, above the sinc kernel's 32).
            let n_in = frames_per_channel(in_rate, frame);
            Engine::Polyphase(Box::new(Polyphase::new(in_rate, out_rate, channels, n_in)))
        };
        Ok(Resampler {
            in_rate,
            out_rate,
            channels,
            frame,
            engine,
        })
    }

    /// Input rate in Hz.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// Output rate in Hz.
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// Interleaved channels.
    pub fn channels(&self) -> u8 {
        self.channels
    }

    /// Frame duration.
    pub fn frame(&self) -> FrameDuration {
        self.frame
    }

    /// Samples (all channels) one input frame has.
    pub fn input_len(&self) -> usize {
        frames_per_channel(self.in_rate, self.frame) * usize::from(self.channels)
    }

    /// Samples (all channels) one output frame has.
    pub fn output_len(&self) -> usize {
        frames_per_channel(self.out_rate, self.frame) * usize::from(self.channels)
    }

    /// Delay the conversion adds, in output samples per channel.
    pub fn latency_samples(&self) -> usize {
        match &self.engine {
            Engine::Passthrough => 0,
            Engine::Polyphase(p) => p.delay,
        }
    }

    /// Delay the conversion adds.
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_samples() as u64 * 1_000_000 / u64::from(self.out_rate))
    }

    /// Converts exactly one input frame ([`Resampler::input_len`] interleaved samples) and
    /// appends one output frame ([`Resampler::output_len`] samples) to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) -> Result<(), ResampleError> {
        let expected = self.input_len();
        if input.len() != expected {
            return Err(ResampleError::WrongFrameLength {
                expected,
                got: input.len(),
            });
        }
        let out_len = self.output_len();
        match &mut self.engine {
            Engine::Passthrough => out.extend_from_slice(input),
            Engine::Polyphase(p) => {
                let start = out.len();
                out.resize(start + out_len, 0);
                if let Some(frame_out) = out.get_mut(start..) {
                    p.process(input, frame_out);
                }
            }
        }
        Ok(())
    }

    /// Clears the filter history (e.g. when the stream restarts).
    pub fn reset(&mut self) {
        if let Engine::Polyphase(p) = &mut self.engine {
            p.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::goertzel::Goertzel;
    use crate::media::tone::ToneGenerator;

    #[test]
    fn frame_sizes() {
        for (i, o, ch, fr, li, lo) in [
            (48_000, 8_000, 1, FrameDuration::Ms20, 960, 160),
            (8_000, 48_000, 1, FrameDuration::Ms20, 160, 960),
            (16_000, 48_000, 2, FrameDuration::Ms10, 320, 960),
            (44_100, 48_000, 1, FrameDuration::Ms10, 441, 480),
            (48_000, 44_100, 2, FrameDuration::Ms20, 1920, 1764),
            (48_000, 48_000, 1, FrameDuration::Ms20, 960, 960),
        ] {
            let mut r = Resampler::new(i, o, ch, fr).unwrap();
            assert_eq!((r.input_len(), r.output_len()), (li, lo));
            let mut out = Vec::new();
            for _ in 0..3 {
                r.process(&vec![100; li], &mut out).unwrap();
            }
            assert_eq!(out.len(), 3 * lo);
            assert!(matches!(
                r.process(&vec![0; li + 1], &mut out),
                Err(ResampleError::WrongFrameLength { .. })
            ));
        }
    }

    #[test]
    fn rejects_bad_configs() {
        for rate in [0, 7_999, 22_050, 11_025, 384_000] {
            assert!(matches!(
                Resampler::new(rate, 48_000, 1, FrameDuration::Ms20),
                Err(ResampleError::UnsupportedRate(_))
            ));
        }
        assert!(matches!(
            Resampler::new(8_000, 48_000, 0, FrameDuration::Ms20),
            Err(ResampleError::UnsupportedChannels(0))
        ));
        assert!(Resampler::new(8_000, 48_000, 9, FrameDuration::Ms20).is_err());
    }

    #[test]
    fn tone_survives_48k_8k_48k() {
        let mut down = Resampler::new(48_000, 8_000, 1, FrameDuration::Ms20).unwrap();
        let mut up = Resampler::new(8_000, 48_000, 1, FrameDuration::Ms20).unwrap();
        let mut g = ToneGenerator::new(440.0, 0.5, 48_000);
        let (mut mid, mut out) = (Vec::new(), Vec::new());
        for _ in 0..25 {
            let f = g.next_frame(960);
            let start = mid.len();
            down.process(&f, &mut mid).unwrap();
            up.process(&mid[start..], &mut out).unwrap();
        }
        let mid_tail = &mid[mid.len() - 800..];
        assert!(Goertzel::detect(mid_tail, 440.0, 8_000));
        let tail = &out[out.len() - 4800..];
        assert!(Goertzel::detect(tail, 440.0, 48_000));
        let level = Goertzel::level_dbfs(tail);
        assert!((level + 6.02).abs() < 0.5, "level {level}");
        // Nothing above the 4 kHz band limit leaks back in.
        assert!(Goertzel::power(tail, 5_000.0, 48_000) < 1e-4);
    }

    #[test]
    fn stereo_channels_stay_apart() {
        let mut r = Resampler::new(48_000, 16_000, 2, FrameDuration::Ms10).unwrap();
        let mut l = ToneGenerator::new(440.0, 0.5, 48_000);
        let mut rr = ToneGenerator::new(1000.0, 0.5, 48_000);
        let mut out = Vec::new();
        for _ in 0..20 {
            let a = l.next_frame(480);
            let b = rr.next_frame(480);
            let inter: Vec<i16> = a.iter().zip(&b).flat_map(|(x, y)| [*x, *y]).collect();
            r.process(&inter, &mut out).unwrap();
        }
        let tail = &out[out.len() - 640..];
        let left: Vec<i16> = tail.iter().step_by(2).copied().collect();
        let right: Vec<i16> = tail.iter().skip(1).step_by(2).copied().collect();
        assert!(Goertzel::detect(&left, 440.0, 16_000));
        assert!(Goertzel::detect(&right, 1000.0, 16_000));
    }

    #[test]
    fn reported_latency_matches_measured() {
        for (i, o) in [
            (48_000u32, 8_000u32),
            (8_000, 48_000),
            (48_000, 16_000),
            (16_000, 48_000),
            (44_100, 48_000),
        ] {
            let mut r = Resampler::new(i, o, 1, FrameDuration::Ms20).unwrap();
            let n_in = r.input_len();
            // A click at t=0: the output peak shows the delay.
            let mut input = vec![0i16; n_in * 4];
            input[0] = 30_000;
            input[1] = 30_000;
            let mut out = Vec::new();
            for f in input.chunks(n_in) {
                r.process(f, &mut out).unwrap();
            }
            let peak = out
                .iter()
                .enumerate()
                .max_by_key(|(_, v)| i32::from(**v).abs())
                .map(|(k, _)| k)
                .unwrap();
            let reported = r.latency_samples();
            println!("{i}->{o}: {:?}", r.latency());
            let tol = (o / i).max(1) as usize + 1;
            assert!(
                peak.abs_diff(reported) <= tol,
                "{i}->{o}: peak {peak}, reported {reported}"
            );
            assert_eq!(
                r.latency(),
                Duration::from_micros(reported as u64 * 1_000_000 / u64::from(o))
            );
        }
        assert_eq!(
            Resampler::new(8000, 8000, 1, FrameDuration::Ms20)
                .unwrap()
                .latency(),
            Duration::ZERO
        );
    }

    /// Levels (dBFS) after converting a full-scale-ish tone at `freq` from `i` to `o` Hz: the
    /// tone's own level at the output and the strongest other component among `probes`.
    fn tone_through(i: u32, o: u32, freq: f32, probes: &[f32]) -> (f32, f32) {
        let mut r = Resampler::new(i, o, 1, FrameDuration::Ms20).unwrap();
        let mut g = ToneGenerator::new(freq, 0.5, i);
        let mut out = Vec::new();
        for _ in 0..25 {
            r.process(&g.next_frame(r.input_len()), &mut out).unwrap();
        }
        let tail = &out[out.len() - o as usize / 5..];
        let own = if freq < o as f32 / 2.0 {
            Goertzel::power_dbfs(tail, freq, o)
        } else {
            f32::MIN
        };
        let other = probes
            .iter()
            .map(|f| Goertzel::power_dbfs(tail, *f, o))
            .fold(f32::MIN, f32::max);
        (own, other)
    }

    /// The tone is -6 dBFS in: in-band tones keep their level; tones above the output's
    /// Nyquist frequency fold back (alias) only far below it, and upsampling adds no images
    /// in the new band.
    #[test]
    fn band_limits_and_aliasing() {
        // 48 -> 8 kHz (G.711 send): 1 kHz passes; 5, 6 and 7 kHz fold to 3, 2 and 1 kHz.
        let (own, _) = tone_through(48_000, 8_000, 1_000.0, &[]);
        assert!((own + 6.02).abs() < 0.5, "1 kHz at 8 kHz: {own:.1} dBFS");
        for (f, alias) in [(5_000.0, 3_000.0), (6_000.0, 2_000.0), (7_000.0, 1_000.0)] {
            let (_, a) = tone_through(48_000, 8_000, f, &[alias]);
            println!("48->8 kHz: {f} Hz folds to {alias} Hz at {a:.1} dBFS");
            assert!(a < -60.0, "{f} Hz aliases to {alias} Hz at {a:.1} dBFS");
        }
        // 8 -> 48 kHz (G.711 receive): 1 kHz passes, its images at 7 and 9 kHz stay down.
        let (own, img) = tone_through(8_000, 48_000, 1_000.0, &[7_000.0, 9_000.0]);
        println!("8->48 kHz: 1 kHz at {own:.1} dBFS, images at {img:.1} dBFS");
        assert!((own + 6.02).abs() < 0.5, "{own:.1}");
        assert!(img < -60.0, "images at {img:.1} dBFS");
        // 44.1 -> 48 kHz (a device): 3 kHz passes cleanly.
        let (own, spur) = tone_through(44_100, 48_000, 3_000.0, &[1_000.0, 5_000.0, 12_000.0]);
        println!("44.1->48 kHz: 3 kHz at {own:.1} dBFS, spurs at {spur:.1} dBFS");
        assert!((own + 6.02).abs() < 0.5, "{own:.1}");
        assert!(spur < -60.0, "spurs at {spur:.1} dBFS");
    }
}
