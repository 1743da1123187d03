//! Moves audio between the platform's devices and a running [`Sdk`]: every 20 ms it reads a
//! capture frame, converts it to the engine's format (48 kHz mono) and hands it to the SDK, and
//! pulls the mixed received audio, converts it to the playout device's format and writes it.
//!
//! Runtime-agnostic like the facade: one future, paced by the platform clock. Owns the format
//! conversion (downmix, resampling) between devices and the engine; the devices are HAL traits.

use std::time::{Duration, Instant};

use genesys_webrtc_hal::{
    AudioCapture, AudioFormat, AudioPlayout, Clock, Error as _, FrameDuration,
};

use crate::engine::{AUDIO_RATE, FRAME_SAMPLES};
use crate::media::resample::Resampler;
use crate::sdk::Sdk;

/// Frame period of the engine.
const TICK: Duration = Duration::from_millis(20);

/// Why the audio loop stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocalAudioError {
    /// A device format cannot be converted (rate outside 8–192 kHz, no channels).
    #[error("unsupported device format: {0}")]
    Format(String),
    /// The capture device failed.
    #[error("capture device failed: {0:?}")]
    Capture(genesys_webrtc_hal::ErrorKind),
    /// The playout device failed.
    #[error("playout device failed: {0:?}")]
    Playout(genesys_webrtc_hal::ErrorKind),
}

fn frames_per_tick(format: &AudioFormat) -> usize {
    match format.frame {
        FrameDuration::Ms10 => 2,
        FrameDuration::Ms20 => 1,
    }
}

/// Runs the audio loop until `ticks` frames were exchanged (`None`: forever) or a device fails.
/// Either device may be absent (`None`): no capture sends silence-free nothing; no playout
/// drops received audio.
pub async fn run_local_audio<C, P, K>(
    sdk: &Sdk,
    clock: &K,
    mut capture: Option<C>,
    mut playout: Option<P>,
    ticks: Option<u64>,
) -> Result<(), LocalAudioError>
where
    C: AudioCapture,
    P: AudioPlayout,
    K: Clock,
{
    let twenty = FrameDuration::Ms20;
    let mut cap_conv = match &capture {
        Some(c) => Some(
            Resampler::new(c.format().sample_rate, AUDIO_RATE, 1, twenty)
                .map_err(|e| LocalAudioError::Format(e.to_string()))?,
        ),
        None => None,
    };
    let mut play_conv = match &playout {
        Some(p) => Some(
            Resampler::new(AUDIO_RATE, p.format().sample_rate, 1, twenty)
                .map_err(|e| LocalAudioError::Format(e.to_string()))?,
        ),
        None => None,
    };
    let start: Instant = clock.now();
    let mut n: u64 = 0;
    let mut mono = Vec::with_capacity(FRAME_SAMPLES);
    let mut wide = Vec::with_capacity(FRAME_SAMPLES);
    loop {
        if ticks.is_some_and(|t| n >= t) {
            return Ok(());
        }
        if let (Some(c), Some(conv)) = (capture.as_mut(), cap_conv.as_mut()) {
            let fmt = c.format();
            let channels = usize::from(fmt.channels.max(1));
            mono.clear();
            let mut buf = vec![0i16; fmt.samples_per_frame()];
            for _ in 0..frames_per_tick(&fmt) {
                let got = c
                    .read_frame(&mut buf)
                    .await
                    .map_err(|e| LocalAudioError::Capture(e.kind()))?;
                for chunk in buf.get(..got).unwrap_or(&[]).chunks(channels) {
                    let sum: i32 = chunk.iter().map(|s| i32::from(*s)).sum();
                    mono.push((sum / channels as i32) as i16);
                }
            }
            mono.resize(conv.input_len(), 0);
            wide.clear();
            if conv.process(&mono, &mut wide).is_ok() {
                wide.resize(FRAME_SAMPLES, 0);
                sdk.push_capture_frame(wide.clone());
            }
        }
        if let (Some(p), Some(conv)) = (playout.as_mut(), play_conv.as_mut()) {
            let frame = sdk.pull_playout_frame().await;
            let fmt = p.format();
            let channels = usize::from(fmt.channels.max(1));
            let mut out = Vec::new();
            if conv.process(&frame, &mut out).is_ok() {
                // The resampler appends exactly one frame; pad defensively.
                let want = conv.output_len();
                out.extend(std::iter::repeat_n(0, want.saturating_sub(out.len())));
                let per = fmt.samples_per_frame() / channels;
                for part in out.chunks(per.max(1)) {
                    let interleaved: Vec<i16> = part
                        .iter()
                        .flat_map(|s| std::iter::repeat_n(*s, channels))
                        .collect();
                    p.write_frame(&interleaved)
                        .await
                        .map_err(|e| LocalAudioError::Playout(e.kind()))?;
                }
            }
        }
        n += 1;
        clock
            .sleep_until(start + TICK.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX)))
            .await;
    }
}
