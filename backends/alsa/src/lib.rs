//! ALSA audio backend for the Genesys Cloud WebRTC SDK: [`AlsaDevices`] lists the capture and
//! playback PCMs ALSA knows and opens [`AlsaCapture`]/[`AlsaPlayout`] streams on them, implementing
//! the HAL's [`AudioDevices`]. Owns device names, hardware parameters, blocking ALSA I/O on one
//! thread per stream, and xrun recovery. Does not resample or mix: streams report the format the
//! device granted and the caller (core's `run_audio_devices`) converts it to the engine's.
//!
//! # Device ids
//! Ids are ALSA PCM names, as `snd_device_name_hint` lists them: `default` (the system default,
//! [`MediaDevice::is_system_default`]), `sysdefault:CARD=PCH`, `hw:CARD=Loopback,DEV=0`,
//! `plughw:CARD=Loopback,DEV=0`, `dmix:…`, `null`, … They stay the same across reboots and
//! hot-plugs as long as the card's id does (unlike card numbers). Labels are the hint's
//! description on one line. Any PCM name opens, listed or not (`hw:Loopback,0,1`, a PCM of the
//! user's `~/.asoundrc`).
//!
//! # Streams
//! Samples are interleaved `i16`. A stream asks for the rate and channels of the requested
//! [`AudioFormat`] and takes what the device grants (reported by `format()`); the rate must be a
//! multiple of 100 Hz in 8–192 kHz (a `hw:` device that offers only 44.1 kHz multiples like
//! 11025 Hz fails with `FormatUnsupported`: use its `plughw:` name). One ALSA period is one frame
//! (10 or 20 ms), the buffer [`stream::BUFFER_PERIODS`] periods (at least 80 ms); playout starts
//! when [`stream::PLAYOUT_START_MS`] of audio is queued. See [`stream`] for why each stream has
//! its own thread.
//!
//! # Errors
//! Overruns and underruns are repaired with `snd_pcm_recover` and counted
//! ([`StreamStats::xruns`]); only a failed recovery reaches the caller (kind `Overrun` or
//! `Underrun`). A device that disappears (`ENODEV`, `EBADFD`) gives kind `Disconnected`, a missing
//! one at open `NotFound`, one in use `Busy`, so `run_audio_devices` can fall back by the Device
//! ID rules.
//!
//! # Tests without hardware
//! `tests/file_pcm.rs` points ALSA at a generated configuration (`ALSA_CONFIG_PATH`) with `file`
//! PCMs over `null`, and checks that samples go through bit-exact; `scripts/alsa-qemu.sh` boots
//! Debian's kernel in QEMU with `snd-aloop` and runs the `alsa-loopback-check` example against
//! real ALSA devices.

#![warn(missing_docs, unreachable_pub)]

pub mod error;
pub mod stream;

use std::collections::HashSet;

use genesys_webrtc_hal::{AudioDevices, AudioFormat, ErrorType, MediaDevice, MediaKind};

pub use error::{AlsaError, StreamDirection};
pub use stream::{AlsaCapture, AlsaPlayout, StreamStats};

/// The id of the system default device (ALSA's `default` PCM).
pub const SYSTEM_DEFAULT: &str = "default";

/// The ALSA devices of this machine (the `AudioDevices` of the HAL). Holds no state: every
/// [`AudioDevices::list`] asks ALSA again, so hot-plugged cards appear.
#[derive(Debug, Clone, Default)]
pub struct AlsaDevices {
    _private: (),
}

impl AlsaDevices {
    /// The ALSA devices of this machine.
    pub fn new() -> Self {
        AlsaDevices { _private: () }
    }
}

/// One line of an ALSA hint description (`"HDA Intel PCH, ALC892 Analog\nFront speakers"` →
/// `"HDA Intel PCH, ALC892 Analog — Front speakers"`).
fn label(name: &str, desc: Option<&str>) -> String {
    match desc {
        Some(d) if !d.trim().is_empty() => d
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" — "),
        _ => name.to_string(),
    }
}

/// Turns ALSA's PCM hints (name, description, direction: `None` = both) into devices, `default`
/// first and always present.
fn devices_from_hints(
    hints: impl IntoIterator<Item = (String, Option<String>, Option<alsa::Direction>)>,
) -> Vec<MediaDevice> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |id: &str, desc: Option<&str>, kind: MediaKind| {
        if seen.insert((id.to_string(), kind)) {
            out.push(MediaDevice {
                id: id.to_string(),
                label: label(id, desc),
                kind,
                is_system_default: id == SYSTEM_DEFAULT,
            });
        }
    };
    let hints: Vec<_> = hints.into_iter().collect();
    // `default` first, with its own description if ALSA has one.
    let default_desc = hints
        .iter()
        .find(|(n, _, _)| n == SYSTEM_DEFAULT)
        .and_then(|(_, d, _)| d.clone())
        .unwrap_or_else(|| "System default".to_string());
    push(SYSTEM_DEFAULT, Some(&default_desc), MediaKind::AudioInput);
    push(SYSTEM_DEFAULT, Some(&default_desc), MediaKind::AudioOutput);
    for (name, desc, dir) in &hints {
        if name.is_empty() {
            continue;
        }
        if dir.is_none_or(|d| d == alsa::Direction::Capture) {
            push(name, desc.as_deref(), MediaKind::AudioInput);
        }
        if dir.is_none_or(|d| d == alsa::Direction::Playback) {
            push(name, desc.as_deref(), MediaKind::AudioOutput);
        }
    }
    out
}

impl ErrorType for AlsaDevices {
    type Error = AlsaError;
}

impl AudioDevices for AlsaDevices {
    type Capture = AlsaCapture;
    type Playout = AlsaPlayout;

    /// `default` plus every PCM hint ALSA gives (cards' `hw:`, `plughw:`, `sysdefault:`, …,
    /// and PCMs of the configuration that have a `hint` section).
    fn list(&self) -> Result<Vec<MediaDevice>, AlsaError> {
        let hints = alsa::device_name::HintIter::new(None, c"pcm")
            .map_err(|e| AlsaError::alsa("pcm", "device_name_hint", e))?;
        Ok(devices_from_hints(
            hints.filter_map(|h| Some((h.name?, h.desc, h.direction))),
        ))
    }

    fn open_capture(
        &self,
        device_id: Option<&str>,
        format: AudioFormat,
    ) -> Result<AlsaCapture, AlsaError> {
        AlsaCapture::open(device_id.unwrap_or(SYSTEM_DEFAULT), format)
    }

    fn open_playout(
        &self,
        device_id: Option<&str>,
        format: AudioFormat,
    ) -> Result<AlsaPlayout, AlsaError> {
        AlsaPlayout::open(device_id.unwrap_or(SYSTEM_DEFAULT), format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_become_devices_with_default_first() {
        let hints = vec![
            (
                "null".to_string(),
                Some(
                    "Discard all samples (playback) or generate zero samples (capture)".to_string(),
                ),
                None,
            ),
            (
                "hw:CARD=Loopback,DEV=0".to_string(),
                Some(
                    "Loopback, Loopback PCM\nDirect hardware device without any conversions"
                        .to_string(),
                ),
                None,
            ),
            (
                "sysdefault:CARD=PCH".to_string(),
                Some("HDA Intel\nDefault Audio Device".to_string()),
                Some(alsa::Direction::Playback),
            ),
            (
                "dsnoop:CARD=PCH".to_string(),
                None,
                Some(alsa::Direction::Capture),
            ),
            (
                "default".to_string(),
                Some("Default ALSA Output".to_string()),
                None,
            ),
        ];
        let d = devices_from_hints(hints);
        let ids: Vec<_> = d.iter().map(|d| (d.id.as_str(), d.kind)).collect();
        assert_eq!(
            ids,
            vec![
                ("default", MediaKind::AudioInput),
                ("default", MediaKind::AudioOutput),
                ("null", MediaKind::AudioInput),
                ("null", MediaKind::AudioOutput),
                ("hw:CARD=Loopback,DEV=0", MediaKind::AudioInput),
                ("hw:CARD=Loopback,DEV=0", MediaKind::AudioOutput),
                ("sysdefault:CARD=PCH", MediaKind::AudioOutput),
                ("dsnoop:CARD=PCH", MediaKind::AudioInput),
            ]
        );
        assert!(d
            .iter()
            .filter(|d| d.is_system_default)
            .all(|d| d.id == "default"));
        assert_eq!(d.iter().filter(|d| d.is_system_default).count(), 2);
        assert_eq!(d[0].label, "Default ALSA Output");
        assert_eq!(
            d[4].label,
            "Loopback, Loopback PCM — Direct hardware device without any conversions"
        );
        assert_eq!(d[7].label, "dsnoop:CARD=PCH");
    }

    #[test]
    fn bad_ids_are_rejected_before_alsa() {
        let f = AudioFormat {
            sample_rate: 48_000,
            channels: 1,
            frame: genesys_webrtc_hal::FrameDuration::Ms20,
        };
        let e = AlsaDevices::new()
            .open_capture(Some("a\0b"), f)
            .unwrap_err();
        assert!(matches!(e, AlsaError::InvalidId(_)));
        let e = AlsaDevices::new().open_playout(Some(""), f).unwrap_err();
        assert!(matches!(e, AlsaError::InvalidId(_)));
    }
}
