//! Audio path benchmarks (issue 5): the latency the SDK adds between a sound at the microphone
//! and the same sound at the far end's speaker (capture framing → Opus encode → RTP → the
//! adaptive jitter buffer at 0 % loss → decode → playout), and the CPU cost per 20 ms frame of
//! Opus encode, decode and the echo canceller with the SDK's default `AudioOptions` (complexity
//! 3, wideband) against the settings calls used before (complexity 5, fullband; echo canceller
//! at 32 kHz), measured in the same process on the same speech-like audio.
//!
//! ```text
//! cargo run --release -p genesys-webrtc-examples --example bench_audio
//! ```
//!
//! The pipeline runs in virtual time with the SDK's own building blocks
//! (`genesys_webrtc::media::{opus, jitter}`), so the figures do not depend on this machine's
//! load: a 20 ms capture frame is sent when it is complete, the network adds nothing, the far
//! end pulls a 20 ms frame from its jitter buffer on its own 20 ms clock (every phase against
//! the sender's clock is tried) and starts playing it at once. Device buffers (ALSA periods)
//! come on top and are reported by the ALSA backend. Besides 0 % loss, the latency is measured
//! with one packet lost 0.8 s before the sound: the jitter buffer then keeps one frame of
//! headroom so that Opus FEC finds the packet after a lost one (`JitterConfig::fec_hold`).

use std::time::{Duration, Instant};

use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::media::jitter::{JitterBuffer, JitterConfig, Pulled};
use genesys_webrtc::media::opus::{OpusChannels, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use genesys_webrtc::media::tone::ToneGenerator;
use genesys_webrtc::options::{AudioBandwidth, AudioOptions};

const RATE: u32 = 48_000;
const FRAME: usize = 960;

/// The encoder settings of a call with `options` (as `engine::audio` sets them up).
fn encoder_with(options: &AudioOptions) -> Option<OpusEncoder> {
    OpusEncoder::new(OpusEncoderConfig {
        complexity: options.opus_complexity,
        max_bandwidth: options.bandwidth,
        expected_loss_percent: 0,
        ..OpusEncoderConfig::default()
    })
    .ok()
}

/// The encoder settings of a call with the default options.
fn call_encoder() -> Option<OpusEncoder> {
    encoder_with(&AudioOptions::default())
}

/// The settings calls used before `AudioOptions` (complexity 5, fullband, echo canceller at
/// 32 kHz): the baseline of the CPU figures.
fn previous_options() -> AudioOptions {
    let mut o = AudioOptions::default();
    o.opus_complexity = 5;
    o.bandwidth = AudioBandwidth::Fullband;
    o
}

/// Microseconds per frame of `f` over `frames` (run twice; the faster run counts, to keep a
/// scheduling hiccup on a shared machine out of the figure).
fn per_frame_us(frames: u32, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..2 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / f64::from(frames));
    }
    best
}

/// Encode, decode and echo-canceller cost per 20 ms frame with `options`, in µs.
fn audio_costs(options: &AudioOptions, far: &[i16]) -> Option<(f64, f64, f64)> {
    let frames = (far.len() / FRAME) as u32;
    let mut packets = Vec::new();
    let encode = per_frame_us(frames, || {
        let Some(mut enc) = encoder_with(options) else {
            return;
        };
        packets = far
            .chunks_exact(FRAME)
            .filter_map(|f| enc.encode(f).ok())
            .collect();
    });
    let decode = per_frame_us(frames, || {
        let Ok(mut dec) = OpusDecoder::new(OpusChannels::Mono) else {
            return;
        };
        for p in &packets {
            let _ = dec.decode(p);
        }
    });
    if packets.len() != far.len() / FRAME {
        return None;
    }
    let echo = per_frame_us(frames, || {
        let mut aec = genesys_webrtc::media::echo::EchoCanceller::with_bandwidth(options.bandwidth);
        for f in far.chunks_exact(FRAME) {
            aec.render(f);
            let mut mic: Vec<i16> = f.iter().map(|s| s / 2).collect();
            aec.capture(&mut mic);
        }
    });
    Some((encode, decode, echo))
}

/// One run: a tone starts `onset_us` into the stream; the receiver's pulls are `phase_us` after
/// the sender's frame boundaries; the packet of frame `lost` (if any) is lost. Returns the delay
/// until the tone is heard at the receiver.
fn latency_once(
    onset_us: u64,
    phase_us: u64,
    config: JitterConfig,
    lost: Option<usize>,
) -> Option<Duration> {
    let mut enc = call_encoder()?;
    let mut dec = OpusDecoder::new(OpusChannels::Mono).ok()?;
    let mut jb = JitterBuffer::new(config).ok()?;
    let mut tone = ToneGenerator::new(1000.0, 0.5, RATE);
    let t0 = Instant::now();
    let onset_sample = (onset_us * u64::from(RATE) / 1_000_000) as usize;
    let frames = 150;
    // Sender: frame k is captured during [20k, 20k+20) ms and sent at its end.
    let mut sent = Vec::new();
    for k in 0..frames {
        let mut pcm = vec![0i16; FRAME];
        for (i, s) in pcm.iter_mut().enumerate() {
            if k * FRAME + i >= onset_sample {
                let mut one = [0i16; 1];
                tone.fill(&mut one);
                *s = one[0];
            }
        }
        let payload = enc.encode(&pcm).ok()?;
        if lost == Some(k) {
            continue;
        }
        let at = t0 + Duration::from_millis(20 * (k as u64 + 1));
        sent.push((k as u16, (k * FRAME) as u32, at, payload));
    }
    // Receiver: pulls every 20 ms, `phase_us` after the sender's boundaries; each pulled frame
    // starts playing at its pull time.
    let mut out: Vec<(Instant, Vec<i16>)> = Vec::new();
    let mut next_packet = 0;
    for p in 0..frames + 20 {
        let pull_at =
            t0 + Duration::from_millis(20 * (p as u64 + 1)) + Duration::from_micros(phase_us);
        while next_packet < sent.len() && sent[next_packet].2 <= pull_at {
            let (seq, ts, at, payload) = sent[next_packet].clone();
            jb.push(seq, ts, at, payload);
            next_packet += 1;
        }
        let pcm = match jb.pull(pull_at) {
            Pulled::Frame(payload) => dec.decode(&payload).ok()?,
            Pulled::Missing => dec.conceal(FRAME).ok()?,
            Pulled::NotReady => vec![0; FRAME],
        };
        out.push((pull_at, pcm));
    }
    // The tone is heard where a 5 ms window first carries it clearly.
    let onset_at = t0 + Duration::from_micros(onset_us);
    let win = (RATE / 200) as usize;
    for (start, pcm) in &out {
        for (w, chunk) in pcm.chunks(win).enumerate() {
            if chunk.len() == win
                && Goertzel::level_dbfs(chunk) > -20.0
                && Goertzel::energy_ratio(chunk, 1000.0, RATE) > 0.5
            {
                let heard = *start + Duration::from_micros((w * win) as u64 * 1_000_000 / 48_000);
                return Some(heard.saturating_duration_since(onset_at));
            }
        }
    }
    None
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    println!(
        "added latency, microphone → far-end speaker, no network delay or jitter \
         (target: median < 40 ms at 0 % loss):"
    );
    let adaptive = JitterConfig::new(RATE);
    let fixed_20 = JitterConfig {
        min_delay: Duration::from_millis(20),
        fec_hold: Duration::ZERO,
        ..adaptive
    };
    for (what, config, lost) in [
        (
            format!("0 % loss (jitter buffer floor {:?})", adaptive.min_delay),
            adaptive,
            None,
        ),
        (
            format!(
                "one packet lost 0.8 s before (FEC headroom kept {:?})",
                adaptive.fec_hold
            ),
            adaptive,
            Some(10),
        ),
        // For comparison: the fixed 20 ms floor the buffer had before the adaptive one.
        (
            "0 % loss, fixed 20 ms floor (before)".to_string(),
            fixed_20,
            None,
        ),
    ] {
        let mut all = Vec::new();
        for onset_ms in [1000u64, 1005, 1010, 1015] {
            for phase_ms in [0u64, 5, 10, 15] {
                match latency_once(onset_ms * 1000 + 300, phase_ms * 1000, config, lost) {
                    Some(d) => all.push(d),
                    None => println!("  onset {onset_ms} ms, phase {phase_ms} ms: never heard"),
                }
            }
        }
        all.sort();
        if !all.is_empty() {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            println!(
                "  {what}: {} runs, min {:.1} ms, median {:.1} ms, max {:.1} ms",
                all.len(),
                ms(all[0]),
                ms(percentile(&all, 0.5)),
                ms(all[all.len() - 1])
            );
        }
    }

    println!("CPU per 20 ms frame (48 kHz mono, speech-like noise), 1500 frames each:");
    let far: Vec<i16> = {
        let mut n = genesys_webrtc::media::tone::SpeechLikeNoise::new(0.3, RATE, 1);
        n.next_frame(FRAME * 1500)
    };
    let defaults = AudioOptions::default();
    let (Some(before), Some(now)) = (
        audio_costs(&previous_options(), &far),
        audio_costs(&defaults, &far),
    ) else {
        eprintln!("no Opus codec");
        return;
    };
    let pct = |us: f64| us / 20_000.0 * 100.0;
    for (what, b, n) in [
        ("Opus encode", before.0, now.0),
        ("Opus decode (of that encoder's packets)", before.1, now.1),
        ("echo cancellation (render + capture)", before.2, now.2),
        (
            "all three",
            before.0 + before.1 + before.2,
            now.0 + now.1 + now.2,
        ),
    ] {
        println!(
            "  {what}: {n:.0} µs ({:.2} % of one core) with the defaults (complexity {}, {:?}); \
             {b:.0} µs ({:.2} %) before (complexity 5, fullband, AEC at 32 kHz): {:.2}x",
            pct(n),
            defaults.opus_complexity,
            defaults.bandwidth,
            pct(b),
            n / b.max(1e-9)
        );
    }
}
