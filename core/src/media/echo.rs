//! Acoustic echo cancellation for hands-free use: what the speaker plays (the *render* signal)
//! comes back into the microphone through the room; [`EchoCanceller`] removes it from the
//! capture signal before it is encoded. A thin wrapper over `sonora`, a pure-Rust port of
//! WebRTC's AEC3 (echo canceller only: no noise suppression or gain control, so tones and DTMF
//! pass unchanged when there is no echo and the far end is quiet). A steady microphone tone
//! while the speaker plays a steady tone is turned down by AEC3's suppressor even without any
//! echo path (about 29 dB for 1 kHz against a 1.3 kHz far end, seen in the device routing
//! test); in double talk a near-end talker still comes through (tests/tests/echo_cancellation.rs).
//!
//! Works on the engine's format, 48 kHz mono, in 20 ms frames (processed as two 10 ms halves,
//! AEC3's block). Feed every played frame to [`EchoCanceller::render`] and every captured frame
//! to [`EchoCanceller::capture`]; AEC3 estimates the echo path delay itself, which needs a
//! broadband signal such as speech: the echo of a steady pure tone is not removed (measured
//! here: 0.4 dB for 1 kHz, against about 50 dB for speech-like noise).
//!
//! AEC3 itself works on a 16 kHz band; what happens above it follows the SDK's
//! [`AudioBandwidth`]. For wideband (the default) the capture is processed at 16 kHz and brought
//! back to 48 kHz ([`Resampler`], 1.75 ms), which keeps 0–8 kHz, what wideband Opus codes.
//! For wider bands sonora splits 32 kHz into two bands and applies AEC3's gain to the upper one,
//! which keeps 0–16 kHz and costs about a quarter more CPU (most of AEC3's work, the echo path
//! delay search, is the same in both; `bench_audio` prints both).

use genesys_webrtc_hal::FrameDuration;
use sonora::config::EchoCanceller as EchoConfig;
use sonora::{AudioProcessing, Config, StreamConfig};

use crate::engine::{AUDIO_RATE, FRAME_SAMPLES};
use crate::media::resample::Resampler;
use crate::options::AudioBandwidth;

/// Samples in AEC3's 10 ms block at 48 kHz.
const BLOCK: usize = FRAME_SAMPLES / 2;
/// The processing rate of the wideband mode.
const WIDEBAND_RATE: u32 = 16_000;

/// Removes the far end's echo from captured audio.
pub struct EchoCanceller {
    apm: AudioProcessing,
    scratch: Vec<i16>,
    /// Wideband mode: sonora returns the capture at 16 kHz and this brings it back to 48 kHz.
    upsample: Option<Box<Resampler>>,
    /// The upsampled block.
    wide: Vec<i16>,
    /// The capture's stream formats (in, out) for sonora.
    capture_in: StreamConfig,
    capture_out: StreamConfig,
}

impl std::fmt::Debug for EchoCanceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoCanceller").finish_non_exhaustive()
    }
}

impl Default for EchoCanceller {
    fn default() -> Self {
        Self::new()
    }
}

impl EchoCanceller {
    /// An echo canceller for 48 kHz mono, processing the default band (wideband: 16 kHz).
    pub fn new() -> Self {
        Self::with_bandwidth(AudioBandwidth::default())
    }

    /// An echo canceller for 48 kHz mono that keeps `bandwidth` of the capture: narrowband and
    /// wideband are processed at 16 kHz, wider bands at 32 kHz in two bands.
    pub fn with_bandwidth(bandwidth: AudioBandwidth) -> Self {
        let config = Config {
            echo_canceller: Some(EchoConfig::default()),
            ..Config::default()
        };
        let stream = StreamConfig::new(AUDIO_RATE, 1);
        let upsample = if bandwidth <= AudioBandwidth::Wideband {
            Resampler::new(WIDEBAND_RATE, AUDIO_RATE, 1, FrameDuration::Ms10)
                .ok()
                .map(Box::new)
        } else {
            None
        };
        // Sonora processes at the lower of the capture's input and output rates, so a 16 kHz
        // output makes it process at 16 kHz (the render side follows the capture's rate).
        let capture_out = if upsample.is_some() {
            StreamConfig::new(WIDEBAND_RATE, 1)
        } else {
            stream
        };
        // The builder initialises sonora for its formats (in = out) and every format change
        // re-initialises it. Built for 48 kHz in and out, the wideband canceller first set up a
        // three-band 48 kHz echo canceller that the first 16 kHz capture threw away (peak heap
        // while creating it 555 kB; tests/echo_canceller_memory.rs). Built at its 16 kHz
        // processing rate and then given the real formats, it only sets up 16 kHz ones (384 kB).
        let mut apm = AudioProcessing::builder()
            .config(config)
            .capture_config(capture_out)
            .render_config(capture_out)
            .build();
        if capture_out != stream {
            apm.initialize(stream, capture_out, stream, stream);
        }
        let mut aec = Self {
            apm,
            scratch: vec![0; BLOCK],
            upsample,
            wide: Vec::with_capacity(BLOCK),
            capture_in: stream,
            capture_out,
        };
        // Settle the formats before the first render block (sonora re-initialises when the
        // capture's formats change).
        let mut silence = [0; BLOCK];
        aec.capture(&mut silence);
        aec
    }

    /// A frame that goes to the speaker (any multiple of 10 ms; a trailing part shorter than
    /// 10 ms is ignored).
    pub fn render(&mut self, frame: &[i16]) {
        for block in frame.chunks_exact(BLOCK) {
            if let Err(e) = self.apm.process_render_i16(block, &mut self.scratch) {
                tracing::debug!(error = ?e, "echo canceller refused a render block");
            }
        }
    }

    /// A frame from the microphone, cleaned in place (any multiple of 10 ms; a trailing part
    /// shorter than 10 ms passes unchanged).
    pub fn capture(&mut self, frame: &mut [i16]) {
        for block in frame.chunks_exact_mut(BLOCK) {
            let out_len = self.capture_out.num_frames();
            let Some(out) = self.scratch.get_mut(..out_len) else {
                continue;
            };
            match self.apm.process_capture_i16_with_config(
                block,
                &self.capture_in,
                &self.capture_out,
                out,
            ) {
                Ok(()) => match self.upsample.as_mut() {
                    Some(up) => {
                        self.wide.clear();
                        match up.process(out, &mut self.wide) {
                            Ok(()) => {
                                if let Some(w) = self.wide.get(..block.len()) {
                                    block.copy_from_slice(w);
                                }
                            }
                            Err(e) => tracing::debug!(error = ?e, "echo canceller upsampling"),
                        }
                    }
                    None => block.copy_from_slice(out),
                },
                Err(e) => tracing::debug!(error = ?e, "echo canceller refused a capture block"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic speech-like noise: white noise shaped by a slow random envelope.
    fn far_end_signal(samples: usize, seed: u64) -> Vec<i16> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut env = 0.0f32;
        (0..samples)
            .map(|i| {
                if i % 2400 == 0 {
                    env = rng.f32() * 0.8 + 0.1;
                }
                let x = (rng.f32() * 2.0 - 1.0) * env * 8000.0;
                x as i16
            })
            .collect()
    }

    /// The room: the speaker's signal 30 ms later, at -6 dB, smeared by a short decay.
    fn echo_path(render: &[i16]) -> Vec<i16> {
        let delay = 48 * 30;
        let taps = [0.5f32, 0.25, -0.12, 0.06];
        (0..render.len())
            .map(|i| {
                let mut y = 0.0f32;
                for (k, t) in taps.iter().enumerate() {
                    let j = i as isize - delay as isize - (k as isize) * 12;
                    if j >= 0 {
                        y += f32::from(render[j as usize]) * t;
                    }
                }
                y.clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    fn energy(x: &[i16]) -> f64 {
        x.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / x.len().max(1) as f64
    }

    /// Echo return loss enhancement after convergence on a synthetic echo path.
    fn erle_db(seconds: usize) -> f64 {
        let n = AUDIO_RATE as usize * seconds;
        erle_db_for(far_end_signal(n, 7))
    }

    fn erle_db_for(far: Vec<i16>) -> f64 {
        erle_db_with(far, AudioBandwidth::default())
    }

    fn erle_db_with(far: Vec<i16>, bandwidth: AudioBandwidth) -> f64 {
        let echo = echo_path(&far);
        let mut aec = EchoCanceller::with_bandwidth(bandwidth);
        let mut out = Vec::with_capacity(far.len());
        for (r, c) in far
            .chunks_exact(FRAME_SAMPLES)
            .zip(echo.chunks_exact(FRAME_SAMPLES))
        {
            aec.render(r);
            let mut frame = c.to_vec();
            aec.capture(&mut frame);
            out.extend_from_slice(&frame);
        }
        // The last half, after convergence.
        let half = out.len() / 2;
        10.0 * (energy(&echo[half..]) / energy(&out[half..]).max(1e-9)).log10()
    }

    #[test]
    fn echo_is_removed_on_a_synthetic_path() {
        let erle = erle_db(6);
        println!("ERLE on the synthetic echo path: {erle:.1} dB");
        assert!(erle > 20.0, "ERLE {erle:.1} dB");
    }

    #[test]
    fn echo_is_removed_in_every_band() {
        for bandwidth in [
            AudioBandwidth::Narrowband,
            AudioBandwidth::SuperWideband,
            AudioBandwidth::Fullband,
        ] {
            let erle = erle_db_with(far_end_signal(AUDIO_RATE as usize * 6, 7), bandwidth);
            println!("ERLE {bandwidth:?}: {erle:.1} dB");
            assert!(erle > 20.0, "{bandwidth:?}: ERLE {erle:.1} dB");
        }
    }

    /// What each mode keeps of the capture when there is no echo: wideband passes 3 kHz and
    /// cuts 12 kHz; the 32 kHz mode passes both.
    #[test]
    fn bands_kept_without_echo() {
        let level_after = |bandwidth, freq| {
            let mut aec = EchoCanceller::with_bandwidth(bandwidth);
            let mut tone = crate::media::tone::ToneGenerator::new(freq, 0.3, AUDIO_RATE);
            let mut out = Vec::new();
            for _ in 0..50 {
                aec.render(&[0; FRAME_SAMPLES]);
                let mut frame = tone.next_frame(FRAME_SAMPLES);
                aec.capture(&mut frame);
                out.extend_from_slice(&frame);
            }
            crate::media::goertzel::Goertzel::level_dbfs(&out[out.len() - FRAME_SAMPLES * 10..])
        };
        let input = 20.0 * 0.3f32.log10();
        for (bandwidth, freq, kept) in [
            (AudioBandwidth::Wideband, 3_000.0, true),
            (AudioBandwidth::Wideband, 12_000.0, false),
            (AudioBandwidth::Fullband, 3_000.0, true),
            (AudioBandwidth::Fullband, 12_000.0, true),
        ] {
            let level = level_after(bandwidth, freq);
            println!("{bandwidth:?} {freq} Hz: {level:.1} dBFS (in {input:.1})");
            if kept {
                assert!(
                    (level - input).abs() < 2.0,
                    "{bandwidth:?} {freq} Hz: {level:.1}"
                );
            } else {
                assert!(level < input - 40.0, "{bandwidth:?} {freq} Hz: {level:.1}");
            }
        }
    }

    #[test]
    fn near_end_speech_without_echo_passes() {
        // No render signal at all: a tone at the microphone must come through.
        let mut aec = EchoCanceller::new();
        let mut tone = crate::media::tone::ToneGenerator::new(440.0, 0.3, AUDIO_RATE);
        let mut out = Vec::new();
        for _ in 0..100 {
            aec.render(&[0; FRAME_SAMPLES]);
            let mut frame = tone.next_frame(FRAME_SAMPLES);
            aec.capture(&mut frame);
            out.extend_from_slice(&frame);
        }
        let tail = &out[out.len() - AUDIO_RATE as usize / 2..];
        assert!(crate::media::goertzel::Goertzel::detect(
            tail, 440.0, AUDIO_RATE
        ));
        let level = crate::media::goertzel::Goertzel::level_dbfs(tail);
        assert!(level > -14.0, "level {level:.1} dBFS");
    }

    /// CPU per 20 ms frame in one band (speech-like far end, half of it as echo). Run with
    /// `cargo test --release -p genesys-webrtc --lib media::echo -- --ignored --nocapture`,
    /// or one test under `valgrind --tool=callgrind` to count instructions.
    fn measure(bandwidth: AudioBandwidth) {
        let far = far_end_signal(AUDIO_RATE as usize * 10, 3);
        let mut aec = EchoCanceller::with_bandwidth(bandwidth);
        let start = std::time::Instant::now();
        for f in far.chunks_exact(FRAME_SAMPLES) {
            aec.render(f);
            let mut mic: Vec<i16> = f.iter().map(|s| s / 2).collect();
            aec.capture(&mut mic);
        }
        let per = start.elapsed() / (far.len() / FRAME_SAMPLES) as u32;
        println!("echo canceller {bandwidth:?}: {per:?} per 20 ms frame");
    }

    #[test]
    #[ignore = "timing measurement"]
    fn measure_wideband() {
        measure(AudioBandwidth::Wideband);
    }

    #[test]
    #[ignore = "timing measurement"]
    fn measure_superwideband() {
        measure(AudioBandwidth::SuperWideband);
    }
}
