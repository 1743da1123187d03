//! Moves audio between the platform's devices and a running [`Sdk`]: every 20 ms it reads a
//! capture frame, converts it to the engine's format (48 kHz mono) and hands it to the SDK, and
//! pulls the mixed received audio, converts it to the playout device's format and writes it.
//! Both go to the SDK's driver in one round trip per tick ([`Sdk::exchange_frames`]): each
//! message wakes the driver's thread, and a wake-up costs more than the message.
//!
//! Runtime-agnostic like the facade: one future, paced by the platform clock. Owns the format
//! conversion (downmix, resampling) between devices and the engine; the devices are HAL traits.
//!
//! Two loops: [`run_local_audio`] with devices the application opened, and
//! [`run_audio_devices`], which opens devices itself from an [`AudioDevices`] set, follows the
//! SDK's [`MediaRoute`] (device switches mid-call, without renegotiation) and falls back by the
//! Device ID rules ([`crate::devices`]) when a device fails or vanishes.

use std::time::{Duration, Instant};

use genesys_webrtc_hal::{
    AudioCapture, AudioDevices, AudioFormat, AudioPlayout, Clock, Error as _, ErrorKind,
    FrameDuration, MediaDevice, MediaKind,
};

use crate::devices::{self, DeviceTarget};
use crate::engine::{MediaRoute, AUDIO_RATE, FRAME_SAMPLES};
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

// The echo canceller of a loop (`crate::media::echo`), or a stand-in without the `aec` feature.
#[cfg(feature = "aec")]
use crate::media::echo::EchoCanceller as Aec;

#[cfg(not(feature = "aec"))]
struct Aec;

#[cfg(not(feature = "aec"))]
impl Aec {
    fn with_bandwidth(_: crate::options::AudioBandwidth) -> Self {
        Aec
    }
    fn render(&mut self, _: &[i16]) {}
    fn capture(&mut self, _: &mut [i16]) {}
}

/// A capture device and its conversion to the engine's 20 ms of 48 kHz mono.
struct CaptureStage<C> {
    device: C,
    conv: Resampler,
    buf: Vec<i16>,
    mono: Vec<i16>,
}

impl<C: AudioCapture> CaptureStage<C> {
    fn new(device: C) -> Result<Self, LocalAudioError> {
        let fmt = device.format();
        let conv = Resampler::new(fmt.sample_rate, AUDIO_RATE, 1, FrameDuration::Ms20)
            .map_err(|e| LocalAudioError::Format(e.to_string()))?;
        Ok(Self {
            device,
            conv,
            buf: vec![0; fmt.samples_per_frame()],
            mono: Vec::with_capacity(FRAME_SAMPLES),
        })
    }

    /// Reads 20 ms and returns it as one engine frame (`None` if conversion refused it).
    async fn next(&mut self) -> Result<Option<Vec<i16>>, ErrorKind> {
        let fmt = self.device.format();
        let channels = usize::from(fmt.channels.max(1));
        self.mono.clear();
        for _ in 0..frames_per_tick(&fmt) {
            let got = self
                .device
                .read_frame(&mut self.buf)
                .await
                .map_err(|e| e.kind())?;
            for chunk in self.buf.get(..got).unwrap_or(&[]).chunks(channels) {
                let sum: i32 = chunk.iter().map(|s| i32::from(*s)).sum();
                self.mono.push((sum / channels as i32) as i16);
            }
        }
        self.mono.resize(self.conv.input_len(), 0);
        let mut wide = Vec::with_capacity(FRAME_SAMPLES);
        if self.conv.process(&self.mono, &mut wide).is_err() {
            return Ok(None);
        }
        wide.resize(FRAME_SAMPLES, 0);
        Ok(Some(wide))
    }
}

/// A playout device and the conversion from the engine's 48 kHz mono.
struct PlayoutStage<P> {
    device: P,
    conv: Resampler,
    /// The converted frame and one device frame of it interleaved, kept between ticks.
    out: Vec<i16>,
    interleaved: Vec<i16>,
}

impl<P: AudioPlayout> PlayoutStage<P> {
    fn new(device: P) -> Result<Self, LocalAudioError> {
        let conv = Resampler::new(
            AUDIO_RATE,
            device.format().sample_rate,
            1,
            FrameDuration::Ms20,
        )
        .map_err(|e| LocalAudioError::Format(e.to_string()))?;
        Ok(Self {
            device,
            conv,
            out: Vec::new(),
            interleaved: Vec::new(),
        })
    }

    async fn write(&mut self, frame: &[i16]) -> Result<(), ErrorKind> {
        let fmt = self.device.format();
        let channels = usize::from(fmt.channels.max(1));
        let Self {
            device,
            conv,
            out,
            interleaved,
        } = self;
        out.clear();
        if conv.process(frame, out).is_err() {
            return Ok(());
        }
        // The resampler appends exactly one frame; pad defensively.
        let want = conv.output_len();
        out.extend(std::iter::repeat_n(0, want.saturating_sub(out.len())));
        let per = fmt.samples_per_frame() / channels;
        for part in out.chunks(per.max(1)) {
            let samples: &[i16] = if channels == 1 {
                part
            } else {
                interleaved.clear();
                interleaved.extend(part.iter().flat_map(|s| std::iter::repeat_n(*s, channels)));
                interleaved
            };
            device.write_frame(samples).await.map_err(|e| e.kind())?;
        }
        Ok(())
    }
}

/// Runs the audio loop until `ticks` frames were exchanged (`None`: forever) or a device fails.
/// Either device may be absent (`None`): no capture sends nothing; no playout drops received
/// audio.
pub async fn run_local_audio<C, P, K>(
    sdk: &Sdk,
    clock: &K,
    capture: Option<C>,
    playout: Option<P>,
    ticks: Option<u64>,
) -> Result<(), LocalAudioError>
where
    C: AudioCapture,
    P: AudioPlayout,
    K: Clock,
{
    let mut capture = capture.map(CaptureStage::new).transpose()?;
    let mut playout = playout.map(PlayoutStage::new).transpose()?;
    // Echo cancellation needs both ends of the room.
    let echo = match sdk.media_route().await {
        Ok(r) if r.echo_cancellation && capture.is_some() && playout.is_some() => {
            Some(r.audio_bandwidth)
        }
        _ => None,
    };
    let mut aec = echo.map(Aec::with_bandwidth);
    let start: Instant = clock.now();
    let mut n: u64 = 0;
    loop {
        if ticks.is_some_and(|t| n >= t) {
            return Ok(());
        }
        let mut captured = match capture.as_mut() {
            Some(c) => c.next().await.map_err(LocalAudioError::Capture)?,
            None => None,
        };
        if let (Some(a), Some(frame)) = (aec.as_mut(), captured.as_mut()) {
            a.capture(frame);
        }
        match playout.as_mut() {
            Some(p) => {
                let frame = sdk.exchange_frames(captured).await;
                if let Some(a) = aec.as_mut() {
                    a.render(&frame);
                }
                p.write(&frame).await.map_err(LocalAudioError::Playout)?;
            }
            None => {
                if let Some(frame) = captured {
                    sdk.push_capture_frame(frame);
                }
            }
        }
        n += 1;
        clock
            .sleep_until(start + TICK.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX)))
            .await;
    }
}

/// How often [`run_audio_devices`] asks the SDK for its [`MediaRoute`] (in 20 ms ticks).
const ROUTE_POLL_TICKS: u64 = 2;

/// What [`run_audio_devices`] has open.
struct OpenDevices<D: AudioDevices> {
    capture: Option<(DeviceTarget, CaptureStage<D::Capture>)>,
    playout: Option<(DeviceTarget, PlayoutStage<D::Playout>)>,
}

/// Runs the audio loop on devices it opens from `devices`, following the SDK's [`MediaRoute`]:
/// the microphone and speaker are chosen by the Device ID rules ([`crate::devices`]), reopened
/// when the route changes (mid-call, without renegotiation), and, when a device fails or
/// vanishes, reported as an [`crate::SdkEvent::Error`] of kind `Media` and replaced by the next
/// device the rules give with that one left out, while the call goes on. Stops after `ticks`
/// 20 ms frames (`None`: when the SDK stops).
pub async fn run_audio_devices<D, K>(
    sdk: &Sdk,
    clock: &K,
    devices: &D,
    ticks: Option<u64>,
) -> Result<(), LocalAudioError>
where
    D: AudioDevices,
    K: Clock,
{
    let mut open: OpenDevices<D> = OpenDevices {
        capture: None,
        playout: None,
    };
    let mut route: Option<MediaRoute> = None;
    let mut failed: Vec<String> = Vec::new();
    let mut aec: Option<Aec> = None;
    let start: Instant = clock.now();
    let mut n: u64 = 0;
    loop {
        if ticks.is_some_and(|t| n >= t) {
            return Ok(());
        }
        if n.is_multiple_of(ROUTE_POLL_TICKS) {
            let Ok(now) = sdk.media_route().await else {
                return Ok(());
            };
            if route.as_ref().map(|r| r.generation) != Some(now.generation) {
                // A new request gives every device a new chance.
                failed.clear();
                apply_route(sdk, devices, &now, &mut open, &mut failed);
                if now.echo_cancellation != aec.is_some() {
                    let bandwidth = now.audio_bandwidth;
                    aec = now
                        .echo_cancellation
                        .then(|| Aec::with_bandwidth(bandwidth));
                }
                route = Some(now);
            }
        }
        let mut captured = None;
        if let Some((target, c)) = open.capture.as_mut() {
            match c.next().await {
                Ok(Some(mut frame)) => {
                    if let Some(a) = aec.as_mut() {
                        a.capture(&mut frame);
                    }
                    captured = Some(frame);
                }
                Ok(None) => {}
                Err(kind) => {
                    let what = describe(target);
                    sdk.report_device_error(format!("microphone {what} failed ({kind:?})"));
                    if let DeviceTarget::Device(id) = target {
                        failed.push(id.clone());
                    }
                    open.capture = None;
                    if let Some(r) = &route {
                        open_capture(sdk, devices, r, &mut open, &mut failed);
                    }
                }
            }
        }
        if let Some((target, p)) = open.playout.as_mut() {
            let frame = sdk.exchange_frames(captured.take()).await;
            if let Some(a) = aec.as_mut() {
                a.render(&frame);
            }
            if let Err(kind) = p.write(&frame).await {
                let what = describe(target);
                sdk.report_device_error(format!("speaker {what} failed ({kind:?})"));
                if let DeviceTarget::Device(id) = target {
                    failed.push(id.clone());
                }
                open.playout = None;
                if let Some(r) = &route {
                    open_playout(sdk, devices, r, &mut open, &mut failed, true);
                }
            }
        }
        // No speaker: the captured frame goes on its own.
        if let Some(frame) = captured {
            sdk.push_capture_frame(frame);
        }
        n += 1;
        clock
            .sleep_until(start + TICK.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX)))
            .await;
    }
}

fn describe(target: &DeviceTarget) -> String {
    match target {
        DeviceTarget::Device(id) => format!("{id:?}"),
        _ => "(system default)".to_string(),
    }
}

/// The devices present, less those that failed since the last route change.
fn present<D: AudioDevices>(sdk: &Sdk, devices: &D, failed: &[String]) -> Vec<MediaDevice> {
    match devices.list() {
        Ok(list) => list
            .into_iter()
            .filter(|d| !failed.contains(&d.id))
            .collect(),
        Err(e) => {
            sdk.report_device_error(format!("listing audio devices failed ({:?})", e.kind()));
            Vec::new()
        }
    }
}

fn apply_route<D: AudioDevices>(
    sdk: &Sdk,
    devices: &D,
    route: &MediaRoute,
    open: &mut OpenDevices<D>,
    failed: &mut Vec<String>,
) {
    if route.app_audio {
        open.capture = None;
    } else {
        open_capture(sdk, devices, route, open, failed);
    }
    open_playout(sdk, devices, route, open, failed, false);
}

/// Opens the microphone the route asks for, unless it is open already; on failure reports it
/// and tries the next device the rules give without it (at most a few times).
fn open_capture<D: AudioDevices>(
    sdk: &Sdk,
    devices: &D,
    route: &MediaRoute,
    open: &mut OpenDevices<D>,
    failed: &mut Vec<String>,
) {
    for _ in 0..4 {
        let list = present(sdk, devices, failed);
        let target = devices::resolve_input(
            &route.microphone,
            route.defaults.audio_device_id.as_deref(),
            MediaKind::AudioInput,
            &list,
        );
        if target == DeviceTarget::Unchanged && open.capture.is_some() {
            return;
        }
        let target = match target {
            DeviceTarget::Unchanged => DeviceTarget::SystemDefault,
            t => t,
        };
        if open.capture.as_ref().is_some_and(|(t, _)| *t == target) {
            return;
        }
        match devices
            .open_capture(target.hal_id(), crate::local_audio::ENGINE_FORMAT)
            .map_err(|e| format!("{:?}", e.kind()))
            .and_then(|c| CaptureStage::new(c).map_err(|e| e.to_string()))
        {
            Ok(stage) => {
                tracing::info!(device = %describe(&target), "microphone opened");
                open.capture = Some((target, stage));
                return;
            }
            Err(e) => {
                sdk.report_device_error(format!(
                    "microphone {} could not be opened ({e})",
                    describe(&target)
                ));
                match target {
                    DeviceTarget::Device(id) => failed.push(id),
                    _ => {
                        open.capture = None;
                        return;
                    }
                }
            }
        }
    }
}

/// Opens the speaker the route asks for. While a speaker is open, an id that is not present is
/// reported and leaves it as it is (`update_output_device`); when none is open, or after a
/// failure (`fallback`), the lenient rules choose one.
fn open_playout<D: AudioDevices>(
    sdk: &Sdk,
    devices: &D,
    route: &MediaRoute,
    open: &mut OpenDevices<D>,
    failed: &mut Vec<String>,
    fallback: bool,
) {
    for _ in 0..4 {
        let list = present(sdk, devices, failed);
        let sdk_default = route.defaults.output_device_id.as_deref();
        let target = if fallback || open.playout.is_none() {
            devices::resolve_output_lenient(&route.speaker, sdk_default, &list)
        } else {
            match devices::resolve_output(&route.speaker, sdk_default, &list) {
                Ok(t) => t,
                Err(e) => {
                    sdk.report_device_error(format!("{e}; the speaker is unchanged"));
                    return;
                }
            }
        };
        let target = match target {
            DeviceTarget::Unchanged => DeviceTarget::SystemDefault,
            t => t,
        };
        if open.playout.as_ref().is_some_and(|(t, _)| *t == target) {
            return;
        }
        match devices
            .open_playout(target.hal_id(), crate::local_audio::ENGINE_FORMAT)
            .map_err(|e| format!("{:?}", e.kind()))
            .and_then(|p| PlayoutStage::new(p).map_err(|e| e.to_string()))
        {
            Ok(stage) => {
                tracing::info!(device = %describe(&target), "speaker opened");
                open.playout = Some((target, stage));
                return;
            }
            Err(e) => {
                sdk.report_device_error(format!(
                    "speaker {} could not be opened ({e})",
                    describe(&target)
                ));
                match target {
                    DeviceTarget::Device(id) => failed.push(id),
                    _ => {
                        open.playout = None;
                        return;
                    }
                }
            }
        }
    }
}

/// The format asked of devices: the engine's own (48 kHz mono, 20 ms); devices grant what they
/// can and the stages convert.
pub const ENGINE_FORMAT: AudioFormat = AudioFormat {
    sample_rate: AUDIO_RATE,
    channels: 1,
    frame: FrameDuration::Ms20,
};
