//! The Device ID rules of the JS SDK (PROTOCOL.md §13.4), implemented once and used everywhere
//! a device is chosen: `accept_session`'s media options, `set_audio_mute`'s `unmute_device_id`,
//! `update_outgoing_media`, `update_output_device`, `update_default_devices`, and opening
//! devices in the audio loop ([`crate::local_audio::run_audio_devices`]) and [`create_media`].
//!
//! A request ([`DeviceRequest`]) says what the application asked for; [`resolve_input`] and
//! [`resolve_output`] turn it into a [`DeviceTarget`] against the devices present and the SDK
//! defaults ([`crate::options::MediaDefaults`]):
//!
//! | request | input (microphone, camera) | output (speaker) |
//! |---|---|---|
//! | `Id(id)` | that device if present, else the SDK default if set and present, else the system default | the same |
//! | `SdkDefault` (JS `true`) | the SDK default if set and present, else the system default | the same |
//! | `SystemDefault` (JS `null`) | the system default | the system default |
//! | `Unchanged` (JS `undefined`) | leave that media type alone | refused: an output must be chosen |

use genesys_webrtc_hal::{
    AudioDevices, AudioFormat, Error as _, ErrorKind, MediaDevice, MediaKind,
};

use crate::options::MediaDefaults;

/// What the application asked for one media type (JS `audioDeviceId` / `videoDeviceId` /
/// `outputDeviceId` / `unmuteDeviceId`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum DeviceRequest {
    /// JS `undefined` (or `false`): leave this media type alone. When accepting or starting a
    /// session it means [`DeviceRequest::SdkDefault`].
    #[default]
    Unchanged,
    /// JS `null`: the system default device.
    SystemDefault,
    /// JS `true`: the SDK default if one is configured (and present), else the system default.
    SdkDefault,
    /// JS string: that device; if it is not present, as [`DeviceRequest::SdkDefault`].
    Id(String),
}

impl DeviceRequest {
    /// A request for the device with this id.
    pub fn id(id: impl Into<String>) -> Self {
        DeviceRequest::Id(id.into())
    }

    /// How accepting or starting a session reads a request: `Unchanged` becomes `SdkDefault`.
    pub fn for_session(self) -> Self {
        match self {
            DeviceRequest::Unchanged => DeviceRequest::SdkDefault,
            other => other,
        }
    }
}

impl From<&str> for DeviceRequest {
    fn from(id: &str) -> Self {
        DeviceRequest::Id(id.to_owned())
    }
}

impl From<String> for DeviceRequest {
    fn from(id: String) -> Self {
        DeviceRequest::Id(id)
    }
}

/// JS `true` → [`DeviceRequest::SdkDefault`], `false` → [`DeviceRequest::Unchanged`].
impl From<bool> for DeviceRequest {
    fn from(v: bool) -> Self {
        if v {
            DeviceRequest::SdkDefault
        } else {
            DeviceRequest::Unchanged
        }
    }
}

/// JS `null` (`None`) → [`DeviceRequest::SystemDefault`].
impl From<Option<String>> for DeviceRequest {
    fn from(v: Option<String>) -> Self {
        v.map_or(DeviceRequest::SystemDefault, DeviceRequest::Id)
    }
}

/// The device to open, after the rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeviceTarget {
    /// Do not touch this media type.
    Unchanged,
    /// The platform's default device (the HAL's `device_id: None`).
    SystemDefault,
    /// This device.
    Device(String),
}

impl DeviceTarget {
    /// The id to hand to the HAL's `open_capture`/`open_playout` (`None` = system default);
    /// `None` for [`DeviceTarget::Unchanged`] as well, which callers check first.
    pub fn hal_id(&self) -> Option<&str> {
        match self {
            DeviceTarget::Device(id) => Some(id),
            _ => None,
        }
    }
}

/// Why a device request cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// An output device must be named: `undefined` is not a choice for output.
    #[error("an output device request must be an id, the SDK default or the system default")]
    OutputUnchanged,
    /// The requested output device is not present; active sessions keep their output.
    #[error("output device {0:?} is not present")]
    OutputNotFound(String),
}

fn present<'a>(id: &str, kind: MediaKind, devices: &'a [MediaDevice]) -> Option<&'a MediaDevice> {
    devices.iter().find(|d| d.kind == kind && d.id == id)
}

fn sdk_default_or_system(
    sdk_default: Option<&str>,
    kind: MediaKind,
    devices: &[MediaDevice],
) -> DeviceTarget {
    match sdk_default.and_then(|id| present(id, kind, devices)) {
        Some(d) => DeviceTarget::Device(d.id.clone()),
        None => DeviceTarget::SystemDefault,
    }
}

/// The rules for a capture device (`kind` is [`MediaKind::AudioInput`] or
/// [`MediaKind::VideoInput`]), given the SDK default for that kind and the devices present.
pub fn resolve_input(
    request: &DeviceRequest,
    sdk_default: Option<&str>,
    kind: MediaKind,
    devices: &[MediaDevice],
) -> DeviceTarget {
    match request {
        DeviceRequest::Unchanged => DeviceTarget::Unchanged,
        DeviceRequest::SystemDefault => DeviceTarget::SystemDefault,
        DeviceRequest::SdkDefault => sdk_default_or_system(sdk_default, kind, devices),
        DeviceRequest::Id(id) => match present(id, kind, devices) {
            Some(d) => DeviceTarget::Device(d.id.clone()),
            None => sdk_default_or_system(sdk_default, kind, devices),
        },
    }
}

/// The rules for the speaker, as `update_output_device` applies them (JS `getValidDeviceId`):
/// an id that is not present is an error and leaves active sessions alone; `Unchanged` is
/// refused. Where output is chosen implicitly (opening the speaker for a new call, falling back
/// after a device vanished), use [`resolve_output_lenient`].
pub fn resolve_output(
    request: &DeviceRequest,
    sdk_default: Option<&str>,
    devices: &[MediaDevice],
) -> Result<DeviceTarget, DeviceError> {
    match request {
        DeviceRequest::Unchanged => Err(DeviceError::OutputUnchanged),
        DeviceRequest::Id(id) if present(id, MediaKind::AudioOutput, devices).is_none() => {
            Err(DeviceError::OutputNotFound(id.clone()))
        }
        other => Ok(resolve_input(
            other,
            sdk_default,
            MediaKind::AudioOutput,
            devices,
        )),
    }
}

/// Output chosen implicitly: like [`resolve_input`] for [`MediaKind::AudioOutput`], with
/// `Unchanged` read as the SDK default.
pub fn resolve_output_lenient(
    request: &DeviceRequest,
    sdk_default: Option<&str>,
    devices: &[MediaDevice],
) -> DeviceTarget {
    resolve_input(
        &request.clone().for_session(),
        sdk_default,
        MediaKind::AudioOutput,
        devices,
    )
}

/// JS `createMedia({ audio, video })`: which media to capture. Here `Unchanged` (JS
/// `undefined`/`false`) means "do not capture this kind".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaRequest {
    /// The microphone.
    pub audio: DeviceRequest,
    /// The camera.
    pub video: DeviceRequest,
}

/// What [`create_media`] opened.
#[derive(Debug)]
pub struct CreatedMedia<C> {
    /// The microphone stream, if audio was requested.
    pub audio: Option<C>,
    /// Which device it is.
    pub audio_device: DeviceTarget,
}

/// Why [`create_media`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreateMediaError {
    /// Neither audio nor video was requested (JS throws the same).
    #[error("create_media needs at least one media type")]
    NothingRequested,
    /// Video was requested; this build has no camera backend yet.
    #[error("video capture is not supported yet")]
    VideoUnsupported,
    /// The device set could not be listed.
    #[error("listing devices failed ({0:?})")]
    List(ErrorKind),
    /// The chosen microphone (and the system default after it) could not be opened.
    #[error("the microphone {device:?} could not be opened ({kind:?})")]
    Open {
        /// The device tried first.
        device: DeviceTarget,
        /// Why.
        kind: ErrorKind,
    },
}

/// JS `createMedia`: opens the microphone the request names, by the rules above, in `format`
/// (the device grants what it can). A named or default device that fails to open falls back to
/// the system default once.
pub fn create_media<D: AudioDevices>(
    devices: &D,
    request: &MediaRequest,
    defaults: &MediaDefaults,
    format: AudioFormat,
) -> Result<CreatedMedia<D::Capture>, CreateMediaError> {
    if request.audio == DeviceRequest::Unchanged && request.video == DeviceRequest::Unchanged {
        return Err(CreateMediaError::NothingRequested);
    }
    if request.video != DeviceRequest::Unchanged {
        return Err(CreateMediaError::VideoUnsupported);
    }
    let present = devices
        .list()
        .map_err(|e| CreateMediaError::List(e.kind()))?;
    let target = resolve_input(
        &request.audio,
        defaults.audio_device_id.as_deref(),
        MediaKind::AudioInput,
        &present,
    );
    match devices.open_capture(target.hal_id(), format) {
        Ok(c) => Ok(CreatedMedia {
            audio: Some(c),
            audio_device: target,
        }),
        Err(first) if target != DeviceTarget::SystemDefault => {
            tracing::warn!(?target, kind = ?first.kind(), "microphone failed; trying the system default");
            devices
                .open_capture(None, format)
                .map(|c| CreatedMedia {
                    audio: Some(c),
                    audio_device: DeviceTarget::SystemDefault,
                })
                .map_err(|_| CreateMediaError::Open {
                    device: target,
                    kind: first.kind(),
                })
        }
        Err(e) => Err(CreateMediaError::Open {
            device: target,
            kind: e.kind(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(id: &str, kind: MediaKind) -> MediaDevice {
        MediaDevice {
            id: id.into(),
            label: id.into(),
            kind,
            is_system_default: false,
        }
    }

    /// The table in the module docs, written independently of the code: what a request must
    /// resolve to, given whether the requested id and the SDK default are present.
    fn expected_input(
        request: &DeviceRequest,
        requested_present: bool,
        sdk_default: Option<&str>,
        default_present: bool,
    ) -> DeviceTarget {
        let fallback = match (sdk_default, default_present) {
            (Some(d), true) => DeviceTarget::Device(d.to_string()),
            _ => DeviceTarget::SystemDefault,
        };
        match request {
            DeviceRequest::Unchanged => DeviceTarget::Unchanged,
            DeviceRequest::SystemDefault => DeviceTarget::SystemDefault,
            DeviceRequest::SdkDefault => fallback,
            DeviceRequest::Id(id) if requested_present => DeviceTarget::Device(id.clone()),
            DeviceRequest::Id(_) => fallback,
        }
    }

    /// Every combination (480): request × SDK default (none, present, absent) × which devices
    /// are present × device kind, plus devices of another kind with the same ids (which must
    /// not count).
    #[test]
    fn device_id_rules_table() {
        let requests = [
            DeviceRequest::Unchanged,
            DeviceRequest::SystemDefault,
            DeviceRequest::SdkDefault,
            DeviceRequest::id("mic-a"),
            DeviceRequest::id("mic-b"),
        ];
        let mut cases = 0;
        for request in &requests {
            for sdk_default in [None, Some("mic-b"), Some("mic-c")] {
                for mask in 0u8..32 {
                    let bit = |n: u8| mask & (1 << n) != 0;
                    check(request, sdk_default, bit(0), bit(1), bit(2), bit(3), bit(4));
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 480);
    }

    fn check(
        request: &DeviceRequest,
        sdk_default: Option<&str>,
        a_present: bool,
        b_present: bool,
        c_present: bool,
        other_kind_too: bool,
        video: bool,
    ) {
        let kind = if video {
            MediaKind::VideoInput
        } else {
            MediaKind::AudioInput
        };
        let mut devices = Vec::new();
        for (id, on) in [
            ("mic-a", a_present),
            ("mic-b", b_present),
            ("mic-c", c_present),
        ] {
            if on {
                devices.push(dev(id, kind));
            }
        }
        if other_kind_too {
            for id in ["mic-a", "mic-b", "mic-c"] {
                devices.push(dev(id, MediaKind::AudioOutput));
            }
        }
        let is_present = |id: &str| match id {
            "mic-a" => a_present,
            "mic-b" => b_present,
            _ => c_present,
        };
        let requested_present = match request {
            DeviceRequest::Id(id) => is_present(id),
            _ => false,
        };
        let default_present = sdk_default.is_some_and(is_present);
        let case = format!(
            "{request:?} default={sdk_default:?} present={a_present}/{b_present}/{c_present} \
             other={other_kind_too} video={video}"
        );
        let want = expected_input(request, requested_present, sdk_default, default_present);
        assert_eq!(
            resolve_input(request, sdk_default, kind, &devices),
            want,
            "{case}"
        );

        // The speaker: the same table, except that `Unchanged` and a missing id are errors.
        let outputs: Vec<MediaDevice> = devices
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| dev(&d.id, MediaKind::AudioOutput))
            .collect();
        let out = resolve_output(request, sdk_default, &outputs);
        match request {
            DeviceRequest::Unchanged => assert_eq!(out, Err(DeviceError::OutputUnchanged)),
            DeviceRequest::Id(id) if !requested_present => {
                assert_eq!(out, Err(DeviceError::OutputNotFound(id.clone())), "{case}")
            }
            _ => assert_eq!(out, Ok(want), "{case}"),
        }
        // Lenient output never refuses; `Unchanged` reads as the SDK default.
        let lenient_want = expected_input(
            &request.clone().for_session(),
            requested_present,
            sdk_default,
            default_present,
        );
        assert_eq!(
            resolve_output_lenient(request, sdk_default, &outputs),
            lenient_want,
            "{case}"
        );
    }

    #[test]
    fn js_values_map_to_requests() {
        assert_eq!(DeviceRequest::from(true), DeviceRequest::SdkDefault);
        assert_eq!(DeviceRequest::from(false), DeviceRequest::Unchanged);
        assert_eq!(DeviceRequest::from(None), DeviceRequest::SystemDefault);
        assert_eq!(DeviceRequest::from("x"), DeviceRequest::id("x"));
        assert_eq!(
            DeviceRequest::Unchanged.for_session(),
            DeviceRequest::SdkDefault
        );
        assert_eq!(
            DeviceRequest::SystemDefault.for_session(),
            DeviceRequest::SystemDefault
        );
    }

    #[test]
    fn hal_ids() {
        assert_eq!(DeviceTarget::Device("d".into()).hal_id(), Some("d"));
        assert_eq!(DeviceTarget::SystemDefault.hal_id(), None);
    }
}

#[cfg(test)]
mod create_media_tests {
    use super::*;
    use genesys_webrtc_hal::{AudioCapture, ErrorType, FrameDuration};

    const FORMAT: AudioFormat = AudioFormat {
        sample_rate: 48_000,
        channels: 1,
        frame: FrameDuration::Ms20,
    };

    /// Microphones `a` (system default) and `b`; `broken` is listed but fails to open.
    struct Mics;
    #[derive(Debug)]
    struct Mic(Option<String>);

    impl ErrorType for Mics {
        type Error = ErrorKind;
    }
    impl ErrorType for Mic {
        type Error = ErrorKind;
    }
    impl AudioCapture for Mic {
        fn format(&self) -> AudioFormat {
            FORMAT
        }
        async fn read_frame(&mut self, frame: &mut [i16]) -> Result<usize, ErrorKind> {
            Ok(frame.len())
        }
    }
    impl genesys_webrtc_hal::AudioPlayout for Mic {
        fn format(&self) -> AudioFormat {
            FORMAT
        }
        async fn write_frame(&mut self, _: &[i16]) -> Result<(), ErrorKind> {
            Ok(())
        }
    }
    impl AudioDevices for Mics {
        type Capture = Mic;
        type Playout = Mic;
        fn list(&self) -> Result<Vec<MediaDevice>, ErrorKind> {
            Ok(["a", "b", "broken"]
                .into_iter()
                .map(|id| MediaDevice {
                    id: id.into(),
                    label: id.into(),
                    kind: MediaKind::AudioInput,
                    is_system_default: id == "a",
                })
                .collect())
        }
        fn open_capture(&self, id: Option<&str>, _: AudioFormat) -> Result<Mic, ErrorKind> {
            match id {
                Some("broken") => Err(ErrorKind::Busy),
                Some("missing") => Err(ErrorKind::NotFound),
                other => Ok(Mic(other.map(str::to_string))),
            }
        }
        fn open_playout(&self, id: Option<&str>, _: AudioFormat) -> Result<Mic, ErrorKind> {
            Ok(Mic(id.map(str::to_string)))
        }
    }

    fn create(
        audio: DeviceRequest,
        default: Option<&str>,
    ) -> Result<Option<String>, CreateMediaError> {
        let defaults = MediaDefaults {
            audio_device_id: default.map(str::to_string),
            ..MediaDefaults::default()
        };
        let request = MediaRequest {
            audio,
            video: DeviceRequest::Unchanged,
        };
        create_media(&Mics, &request, &defaults, FORMAT).map(|m| m.audio.and_then(|a| a.0))
    }

    #[test]
    fn create_media_follows_the_rules() {
        assert_eq!(create(DeviceRequest::id("b"), None), Ok(Some("b".into())));
        // Not present: the SDK default, else the system default.
        assert_eq!(
            create(DeviceRequest::id("zz"), Some("b")),
            Ok(Some("b".into()))
        );
        assert_eq!(create(DeviceRequest::id("zz"), None), Ok(None));
        assert_eq!(
            create(DeviceRequest::SdkDefault, Some("b")),
            Ok(Some("b".into()))
        );
        assert_eq!(create(DeviceRequest::SystemDefault, Some("b")), Ok(None));
        // Listed but failing to open: the system default instead.
        assert_eq!(create(DeviceRequest::id("broken"), None), Ok(None));
    }

    #[test]
    fn create_media_refuses_empty_and_video_requests() {
        let d = MediaDefaults::default();
        assert_eq!(
            create_media(&Mics, &MediaRequest::default(), &d, FORMAT).err(),
            Some(CreateMediaError::NothingRequested)
        );
        let video = MediaRequest {
            audio: DeviceRequest::SdkDefault,
            video: DeviceRequest::SdkDefault,
        };
        assert_eq!(
            create_media(&Mics, &video, &d, FORMAT).err(),
            Some(CreateMediaError::VideoUnsupported)
        );
    }
}
