//! Setting up a PCM (hardware and software parameters) and the blocking calls both stream
//! threads share: waiting for the device with stall detection, and xrun recovery.

use alsa::pcm::{Access, Format, HwParams, PCM};
use alsa::{Direction, ValueOr};
use genesys_webrtc_hal::AudioFormat;

use super::{StreamStats, BUFFER_PERIODS, MAX_RATE, MIN_BUFFER_MS, MIN_RATE, PLAYOUT_START_MS};
use super::{STALL_MS, WAIT_MS};
use crate::error::{AlsaError, StreamDirection};

/// Frames (samples per channel) of `ms` at `rate`.
fn ms_frames(rate: u32, ms: u32) -> u64 {
    u64::from(rate) * u64::from(ms) / 1000
}

/// Opens `device` and sets it up as close to `want` as it allows: S16 interleaved (required),
/// the rate and channel count nearest to those asked (granted ones are reported), one frame per
/// period and a buffer of [`BUFFER_PERIODS`] periods.
pub(super) fn open_pcm(
    device: &str,
    dir: StreamDirection,
    want: AudioFormat,
) -> Result<(PCM, AudioFormat, StreamStats), AlsaError> {
    if device.is_empty() {
        return Err(AlsaError::InvalidId(device.to_string()));
    }
    let name = std::ffi::CString::new(device).map_err(|_| AlsaError::InvalidId(device.into()))?;
    let adir = match dir {
        StreamDirection::Capture => Direction::Capture,
        StreamDirection::Playout => Direction::Playback,
    };
    let pcm = PCM::open(&name, adir, false).map_err(|e| AlsaError::alsa(device, "open", e))?;
    let hw = |e| AlsaError::alsa(device, "hw_params", e);
    let (format, period, buffer) = {
        let hwp = HwParams::any(&pcm).map_err(hw)?;
        hwp.set_access(Access::RWInterleaved)
            .map_err(|_| AlsaError::format(device, "no interleaved read/write access"))?;
        hwp.set_format(Format::s16()).map_err(|_| {
            AlsaError::format(device, "no 16-bit samples (use its plughw: or plug: name)")
        })?;
        let channels = hwp
            .set_channels_near(u32::from(want.channels.max(1)))
            .map_err(hw)?;
        let rate = hwp
            .set_rate_near(want.sample_rate, ValueOr::Nearest)
            .map_err(hw)?;
        let channels = u8::try_from(channels)
            .map_err(|_| AlsaError::format(device, format!("{channels} channels")))?;
        if !(MIN_RATE..=MAX_RATE).contains(&rate) || rate % 100 != 0 {
            return Err(AlsaError::format(
                device,
                format!("rate {rate} Hz (needs 8–192 kHz, a multiple of 100 Hz)"),
            ));
        }
        let format = AudioFormat {
            sample_rate: rate,
            channels,
            frame: want.frame,
        };
        let frame = ms_frames(rate, want.frame.millis());
        let frame_i = alsa::pcm::Frames::try_from(frame)
            .map_err(|_| AlsaError::format(device, "frame too long"))?;
        let period = hwp
            .set_period_size_near(frame_i, ValueOr::Nearest)
            .map_err(hw)?;
        let buffer_want = (frame * u64::from(BUFFER_PERIODS)).max(ms_frames(rate, MIN_BUFFER_MS));
        let buffer = hwp
            .set_buffer_size_near(alsa::pcm::Frames::try_from(buffer_want).unwrap_or(frame_i))
            .map_err(hw)?;
        pcm.hw_params(&hwp).map_err(hw)?;
        (format, period, buffer)
    };
    let frame = ms_frames(format.sample_rate, format.frame.millis());
    let buffer_u = u64::try_from(buffer).unwrap_or(0);
    if buffer_u < frame {
        return Err(AlsaError::format(
            device,
            format!("buffer of {buffer} frames is shorter than one {frame}-frame period"),
        ));
    }
    {
        let sw = |e| AlsaError::alsa(device, "sw_params", e);
        let swp = pcm.sw_params_current().map_err(sw)?;
        let frame_i = alsa::pcm::Frames::try_from(frame)
            .map_err(|_| AlsaError::format(device, "frame too long"))?;
        swp.set_avail_min(frame_i).map_err(sw)?;
        if dir == StreamDirection::Playout {
            let start = ms_frames(format.sample_rate, PLAYOUT_START_MS)
                .max(frame)
                .min(buffer_u);
            swp.set_start_threshold(alsa::pcm::Frames::try_from(start).unwrap_or(frame_i))
                .map_err(sw)?;
        }
        pcm.sw_params(&swp).map_err(sw)?;
    }
    let stats = StreamStats {
        period_frames: u64::try_from(period).unwrap_or(0),
        buffer_frames: buffer_u,
        ..StreamStats::default()
    };
    Ok((pcm, format, stats))
}

/// What recovering from `err` gave.
pub(super) enum Recovery {
    /// An xrun or suspend, repaired (the PCM is prepared again).
    Xrun,
    /// A signal interrupted the call; just retry.
    Retry,
}

/// Repairs what `snd_pcm_recover` can (overrun/underrun `EPIPE`, suspend `ESTRPIPE`, `EINTR`);
/// a device that went away or a failed recovery is an error.
pub(super) fn recover(
    pcm: &PCM,
    device: &str,
    dir: StreamDirection,
    op: &'static str,
    err: alsa::Error,
) -> Result<Recovery, AlsaError> {
    match err.errno() {
        libc::EINTR => Ok(Recovery::Retry),
        libc::EPIPE | libc::ESTRPIPE => match pcm.try_recover(err, true) {
            Ok(()) => Ok(Recovery::Xrun),
            Err(source) => Err(AlsaError::Xrun {
                device: device.to_string(),
                direction: dir,
                source,
            }),
        },
        _ => Err(AlsaError::alsa(device, op, err)),
    }
}

/// What waiting for the device gave.
pub(super) enum Waited {
    /// Room (playout) or data (capture) for at least one frame.
    Ready,
    /// Nothing within [`WAIT_MS`] (not yet a stall).
    Timeout,
    /// An xrun was found and repaired (the PCM is prepared again; capture must be restarted).
    Xrun,
}

/// Waits up to [`WAIT_MS`] for room or data, adding the time to `idle_ms` when nothing came:
/// a device that moves no audio for [`STALL_MS`] is an error. The caller resets `idle_ms` when
/// audio moves.
pub(super) fn wait(
    pcm: &PCM,
    device: &str,
    dir: StreamDirection,
    idle_ms: &mut u32,
) -> Result<Waited, AlsaError> {
    loop {
        match pcm.wait(Some(WAIT_MS)) {
            Ok(true) => return Ok(Waited::Ready),
            Ok(false) => {
                *idle_ms += WAIT_MS;
                if *idle_ms >= STALL_MS {
                    return Err(AlsaError::Stalled {
                        device: device.to_string(),
                        ms: *idle_ms,
                    });
                }
                return Ok(Waited::Timeout);
            }
            Err(e) => match recover(pcm, device, dir, "wait", e)? {
                Recovery::Retry => continue,
                Recovery::Xrun => return Ok(Waited::Xrun),
            },
        }
    }
}
