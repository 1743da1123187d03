//! Test and signalling tones: a phase-continuous sine [`ToneGenerator`] producing `i16` frames,
//! and [`silence`]. Owns only sample synthesis; does not pace, resample or encode.
//!
//! Used by the simulator's tone capture device, by tests (feed a known tone through a codec or
//! the network, check it with [`super::goertzel`]) and for local ring-back style tones.
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use std::f64::consts::TAU;

/// Generates a sine tone frame after frame without phase jumps between frames.
///
/// Out-of-range parameters never panic: a non-finite or negative frequency gives silence, the
/// amplitude is clamped to `0.0..=1.0` of full scale, and a zero sample rate gives silence.
#[derive(Debug, Clone, PartialEq)]
pub struct ToneGenerator {
    freq: f64,
    amplitude: f64,
    sample_rate: u32,
    /// Current phase in radians, kept in `0..TAU`.
    phase: f64,
}

impl ToneGenerator {
    /// A tone of `freq` Hz at `amplitude` (fraction of full scale, `0.0..=1.0`) sampled at
    /// `sample_rate` Hz, starting at phase 0.
    pub fn new(freq: f32, amplitude: f32, sample_rate: u32) -> Self {
        let freq = if freq.is_finite() && freq > 0.0 {
            f64::from(freq)
        } else {
            0.0
        };
        let amplitude = if amplitude.is_finite() {
            f64::from(amplitude.clamp(0.0, 1.0))
        } else {
            0.0
        };
        ToneGenerator {
            freq,
            amplitude,
            sample_rate,
            phase: 0.0,
        }
    }

    /// The tone frequency in Hz.
    pub fn freq(&self) -> f32 {
        self.freq as f32
    }

    /// The amplitude as a fraction of full scale.
    pub fn amplitude(&self) -> f32 {
        self.amplitude as f32
    }

    /// The sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Fills `out` with the next `out.len()` mono samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        self.fill_interleaved(out, 1);
    }

    /// Fills `out` with the next `out.len() / channels` sample times, the same value on every
    /// interleaved channel. A trailing partial sample time is filled too. `channels == 0` is
    /// treated as 1.
    pub fn fill_interleaved(&mut self, out: &mut [i16], channels: usize) {
        let channels = channels.max(1);
        if self.sample_rate == 0 {
            out.fill(0);
            return;
        }
        let step = TAU * self.freq / f64::from(self.sample_rate);
        let scale = self.amplitude * f64::from(i16::MAX);
        for frame in out.chunks_mut(channels) {
            let v = (self.phase.sin() * scale).round() as i16;
            frame.fill(v);
            self.phase += step;
            if self.phase >= TAU {
                self.phase %= TAU;
            }
        }
    }

    /// Returns the next `samples` mono samples.
    pub fn next_frame(&mut self, samples: usize) -> Vec<i16> {
        let mut out = vec![0; samples];
        self.fill(&mut out);
        out
    }
}

/// Speech-like noise: white noise under an envelope that changes every 50 ms, the broadband
/// and unsteady kind of signal echo cancellers and codecs are meant for (a pure tone is a poor
/// stand-in for a voice there). Deterministic from its seed.
#[derive(Debug, Clone)]
pub struct SpeechLikeNoise {
    rng: fastrand::Rng,
    amplitude: f32,
    envelope: f32,
    left: usize,
    segment: usize,
}

impl SpeechLikeNoise {
    /// Noise peaking at `amplitude` (0..=1 of full scale) at `sample_rate`, from `seed`.
    pub fn new(amplitude: f32, sample_rate: u32, seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            amplitude: amplitude.clamp(0.0, 1.0),
            envelope: 0.0,
            left: 0,
            segment: (sample_rate / 20).max(1) as usize,
        }
    }

    /// Fills `out` with the next mono samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for s in out {
            if self.left == 0 {
                self.envelope = 0.1 + 0.9 * self.rng.f32();
                self.left = self.segment;
            }
            self.left -= 1;
            let x = (self.rng.f32() * 2.0 - 1.0) * self.envelope * self.amplitude;
            *s = (x * 32767.0) as i16;
        }
    }

    /// Returns the next `samples` mono samples.
    pub fn next_frame(&mut self, samples: usize) -> Vec<i16> {
        let mut out = vec![0; samples];
        self.fill(&mut out);
        out
    }
}

/// `samples` zero samples.
pub fn silence(samples: usize) -> Vec<i16> {
    vec![0; samples]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_phase_continuous() {
        let mut split = ToneGenerator::new(440.0, 0.5, 48_000);
        let mut whole = split.clone();
        let mut a = split.next_frame(960);
        a.extend(split.next_frame(960));
        a.extend(split.next_frame(333));
        let b = whole.next_frame(960 * 2 + 333);
        assert_eq!(a, b);
    }

    #[test]
    fn amplitude_and_silence() {
        let mut g = ToneGenerator::new(1000.0, 0.25, 8000);
        let f = g.next_frame(800);
        let peak = f.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0);
        assert!((8100..=8192).contains(&peak), "{peak}");
        assert!(silence(160).iter().all(|&s| s == 0));
        assert_eq!(silence(160).len(), 160);
    }

    #[test]
    fn nonsense_parameters_do_not_panic() {
        for (f, a, r) in [
            (f32::NAN, 0.5, 8000),
            (440.0, f32::INFINITY, 8000),
            (-3.0, 2.0, 8000),
            (440.0, 1.0, 0),
            (1e30, 1.0, 1),
        ] {
            let mut g = ToneGenerator::new(f, a, r);
            let _ = g.next_frame(100);
            let mut st = vec![1; 7];
            g.fill_interleaved(&mut st, 0);
            g.fill_interleaved(&mut st, 2);
        }
        let mut g = ToneGenerator::new(440.0, 1.0, 0);
        assert!(g.next_frame(10).iter().all(|&s| s == 0));
    }

    #[test]
    fn interleaved_channels_match() {
        let mut g = ToneGenerator::new(440.0, 0.5, 48_000);
        let mut st = vec![0i16; 960 * 2];
        g.fill_interleaved(&mut st, 2);
        assert!(st.chunks(2).all(|c| c[0] == c[1]));
        let mut m = ToneGenerator::new(440.0, 0.5, 48_000);
        let mono = m.next_frame(960);
        assert!(st.chunks(2).zip(mono).all(|(c, s)| c[0] == s));
    }
}
