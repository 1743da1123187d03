//! Single-frequency tone detection with the Goertzel algorithm, and signal levels in dBFS.
//! Owns measurement only: used by tests and by the media self-checks to tell whether a known tone
//! made it through codecs, resamplers and the network. Does not detect DTMF from audio (DTMF
//! travels as RFC 4733 events, see [`super::dtmf`]).
//!
//! Powers are normalised so that a full-scale sine (peak `i16::MAX`) at the probed frequency has
//! power 1.0 (0 dBFS), whatever the block length.
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

/// Goertzel detector and level helpers. All functions are pure and never panic: empty input or
/// a zero sample rate gives power 0 and a level of [`Goertzel::SILENCE_DBFS`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Goertzel;

impl Goertzel {
    /// The level reported for digital silence (and empty input), in dBFS.
    pub const SILENCE_DBFS: f32 = -120.0;

    /// Squared amplitude of the `freq` Hz component of `samples` (mono, `sample_rate` Hz),
    /// relative to full scale: a full-scale sine at `freq` gives about 1.0, a sine at half
    /// scale about 0.25.
    pub fn power(samples: &[i16], freq: f32, sample_rate: u32) -> f32 {
        let n = samples.len();
        if n == 0 || sample_rate == 0 || !freq.is_finite() {
            return 0.0;
        }
        let w = std::f64::consts::TAU * f64::from(freq) / f64::from(sample_rate);
        let coeff = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in samples {
            let s0 = f64::from(x) / 32768.0 + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let mag2 = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        let half = n as f64 / 2.0;
        (mag2.max(0.0) / (half * half)) as f32
    }

    /// [`Goertzel::power`] in dBFS.
    pub fn power_dbfs(samples: &[i16], freq: f32, sample_rate: u32) -> f32 {
        to_db(Self::power(samples, freq, sample_rate))
    }

    /// Fraction (about `0.0..=1.0`) of the signal's energy that sits at `freq`. A clean tone at
    /// `freq` gives close to 1, a tone elsewhere or noise close to 0.
    pub fn energy_ratio(samples: &[i16], freq: f32, sample_rate: u32) -> f32 {
        let ms = mean_square(samples);
        if ms <= 0.0 {
            return 0.0;
        }
        // A sine of squared amplitude P has mean square P / 2.
        (f64::from(Self::power(samples, freq, sample_rate)) / (2.0 * ms)) as f32
    }

    /// Whether `samples` carry a tone at `freq`: at least half of the energy is at that
    /// frequency and its level is above -60 dBFS.
    pub fn detect(samples: &[i16], freq: f32, sample_rate: u32) -> bool {
        Self::energy_ratio(samples, freq, sample_rate) >= 0.5
            && Self::power_dbfs(samples, freq, sample_rate) > -60.0
    }

    /// The candidate frequency with the highest power in `samples`, or `None` if there are no
    /// candidates or the input is silent or empty.
    pub fn dominant_frequency_in(
        samples: &[i16],
        candidates: &[f32],
        sample_rate: u32,
    ) -> Option<f32> {
        let mut best: Option<(f32, f32)> = None;
        for &f in candidates {
            let p = Self::power(samples, f, sample_rate);
            if p > 0.0 && best.is_none_or(|(_, bp)| p > bp) {
                best = Some((f, p));
            }
        }
        best.map(|(f, _)| f)
    }

    /// RMS level of `samples` in dBFS, where a full-scale sine is 0 dBFS (the AES17 convention,
    /// so a full-scale square wave reads +3 dB).
    pub fn level_dbfs(samples: &[i16]) -> f32 {
        // Full-scale sine has mean square 0.5: scale by 2 so it reads 0 dB.
        to_db((2.0 * mean_square(samples)) as f32)
    }
}

/// Mean of the squared samples, full scale = 1.0.
fn mean_square(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&s| {
            let x = f64::from(s) / 32768.0;
            x * x
        })
        .sum();
    sum / samples.len() as f64
}

fn to_db(power: f32) -> f32 {
    if power <= 0.0 || !power.is_finite() {
        return Goertzel::SILENCE_DBFS;
    }
    (10.0 * power.log10()).max(Goertzel::SILENCE_DBFS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::{silence, ToneGenerator};

    #[test]
    fn detects_440_not_1000() {
        for rate in [8_000u32, 16_000, 48_000] {
            let n = rate as usize / 50; // 20 ms
            let tone = ToneGenerator::new(440.0, 0.5, rate).next_frame(n);
            assert!(Goertzel::detect(&tone, 440.0, rate), "{rate}");
            assert!(!Goertzel::detect(&tone, 1000.0, rate), "{rate}");
            let p = Goertzel::power(&tone, 440.0, rate);
            assert!((p - 0.25).abs() < 0.02, "{rate}: {p}");
            assert!(Goertzel::power(&tone, 1000.0, rate) < 0.01 * p);
            assert_eq!(
                Goertzel::dominant_frequency_in(&tone, &[350.0, 440.0, 480.0, 1000.0], rate),
                Some(440.0)
            );
        }
    }

    #[test]
    fn levels() {
        let full = ToneGenerator::new(1000.0, 1.0, 8000).next_frame(8000);
        assert!(Goertzel::level_dbfs(&full).abs() < 0.1);
        let half = ToneGenerator::new(1000.0, 0.5, 8000).next_frame(8000);
        assert!((Goertzel::level_dbfs(&half) + 6.02).abs() < 0.1);
        assert_eq!(Goertzel::level_dbfs(&silence(160)), Goertzel::SILENCE_DBFS);
        assert_eq!(Goertzel::level_dbfs(&[]), Goertzel::SILENCE_DBFS);
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(Goertzel::power(&[], 440.0, 8000), 0.0);
        assert_eq!(Goertzel::power(&[1, 2, 3], 440.0, 0), 0.0);
        assert_eq!(Goertzel::power(&[1, 2, 3], f32::NAN, 8000), 0.0);
        assert_eq!(
            Goertzel::dominant_frequency_in(&silence(100), &[440.0], 8000),
            None
        );
        assert_eq!(Goertzel::dominant_frequency_in(&[1, 2], &[], 8000), None);
        assert!(!Goertzel::detect(&silence(160), 440.0, 8000));
        let loud = vec![i16::MIN; 10_000];
        assert!(Goertzel::power(&loud, 0.0, 8000).is_finite());
    }
}
