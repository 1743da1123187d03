//! Sample-rate conversion of fixed 10/20 ms PCM frames between the codec rates (8, 16, 48 kHz)
//! and device rates (44.1 kHz and others that are a multiple of 100 Hz). Owns one converter state
//! per stream direction; built on rubato's synchronous FFT resampler (`FftFixedInOut`), which for
//! these rates takes exactly one input frame and gives exactly one output frame per call. Does
//! not buffer partial frames, mix channels or pace anything.
//!
//! The conversion delays the signal by a fixed amount, [`Resampler::latency`] (half an output
//! frame for FFT conversion; zero when the rates are equal and the frame is copied through).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use std::time::Duration;

use genesys_webrtc_hal::FrameDuration;
use rubato::Resampler as _;

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
    /// rubato refused the configuration (not expected for supported rates).
    #[error("resampler setup: {0}")]
    Construction(#[from] rubato::ResamplerConstructionError),
    /// rubato refused a frame (not expected: buffers are sized by construction).
    #[error("resampling: {0}")]
    Process(#[from] rubato::ResampleError),
}

enum Engine {
    /// Same rate in and out: frames are copied.
    Passthrough,
    /// FFT conversion with per-channel planar buffers reused across calls.
    Fft {
        inner: Box<rubato::FftFixedInOut<f32>>,
        planar_in: Vec<Vec<f32>>,
        planar_out: Vec<Vec<f32>>,
    },
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
            let n_in = frames_per_channel(in_rate, frame);
            let n_out = frames_per_channel(out_rate, frame);
            let inner = rubato::FftFixedInOut::<f32>::new(
                in_rate as usize,
                out_rate as usize,
                n_in,
                usize::from(channels),
            )?;
            // Both rates are multiples of 100 Hz, so their gcd is too and one 10 ms frame is a
            // whole number of rubato's minimal chunks: the chunk equals the frame exactly.
            if inner.input_frames_next() != n_in || inner.output_frames_next() != n_out {
                return Err(ResampleError::UnsupportedRate(in_rate));
            }
            Engine::Fft {
                planar_in: inner.input_buffer_allocate(true),
                planar_out: inner.output_buffer_allocate(true),
                inner: Box::new(inner),
            }
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
            Engine::Fft { inner, .. } => inner.output_delay(),
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
        let channels = usize::from(self.channels);
        match &mut self.engine {
            Engine::Passthrough => out.extend_from_slice(input),
            Engine::Fft {
                inner,
                planar_in,
                planar_out,
            } => {
                for (ch, plane) in planar_in.iter_mut().enumerate() {
                    plane.clear();
                    plane.extend(
                        input
                            .iter()
                            .skip(ch)
                            .step_by(channels)
                            .map(|&s| f32::from(s) / 32768.0),
                    );
                }
                let (_, produced) = inner.process_into_buffer(planar_in, planar_out, None)?;
                out.reserve(produced * channels);
                for i in 0..produced {
                    for plane in planar_out.iter() {
                        let v = plane.get(i).copied().unwrap_or(0.0) * 32768.0;
                        // Round half away from zero; `as` saturates to the i16 range. Unlike
                        // `f32::round` this is not a libm call per sample (without SSE4.1 in
                        // the target, `roundf` took 12 % of a G.711 call's engine CPU).
                        out.push((v + 0.5f32.copysign(v)) as i16);
                    }
                }
            }
        }
        Ok(())
    }

    /// Clears the filter history (e.g. when the stream restarts).
    pub fn reset(&mut self) {
        if let Engine::Fft { inner, .. } = &mut self.engine {
            inner.reset();
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
        for (i, o) in [(48_000u32, 8_000u32), (8_000, 48_000), (44_100, 48_000)] {
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
}
