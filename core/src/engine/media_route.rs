//! Which devices the application's audio loop should use: the [`MediaRoute`], changed by the
//! session API (`accept_session` media options, `set_audio_mute`'s `unmute_device_id`,
//! `update_outgoing_media`, `update_output_device`, `update_default_devices`).
//!
//! The engine keeps the *requests* ([`DeviceRequest`]) and the SDK defaults; the loop that owns
//! the devices ([`crate::local_audio::run_audio_devices`]) resolves them with the Device ID
//! rules ([`crate::devices`]) against the devices present, and reopens a device when the route's
//! generation changes. Changing devices never renegotiates: the call's RTP stream goes on and only
//! the samples fed into it come from elsewhere.

use std::time::Instant;

use super::{Engine, SessionError};
use crate::devices::DeviceRequest;
use crate::options::{AudioBandwidth, MediaDefaults};

/// The devices the audio loop should use now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRoute {
    /// The microphone request (`Unchanged`: keep whatever is open).
    pub microphone: DeviceRequest,
    /// The speaker request.
    pub speaker: DeviceRequest,
    /// The camera request (no camera backend yet; kept so the rules apply to video too).
    pub camera: DeviceRequest,
    /// The application feeds outgoing audio itself ([`Engine::push_capture_frame`]): explicit
    /// media, which supersedes device ids (JS `mediaStream`). The loop then captures nothing.
    pub app_audio: bool,
    /// The SDK defaults the requests resolve against.
    pub defaults: MediaDefaults,
    /// Cancel acoustic echo between the speaker and the microphone
    /// ([`crate::options::SdkOptions::echo_cancellation`]).
    pub echo_cancellation: bool,
    /// The audio band kept ([`crate::options::AudioOptions::bandwidth`]): the echo canceller's
    /// processing rate follows it.
    pub audio_bandwidth: AudioBandwidth,
    /// Bumped on every change, so the loop can tell cheaply that it must look again.
    pub generation: u64,
}

/// JS `acceptSession`'s media options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptSessionOptions {
    /// The microphone; `Unchanged` (JS `undefined`) means the SDK default here.
    pub audio_device_id: DeviceRequest,
    /// The camera (video sessions); `Unchanged` means the SDK default here.
    pub video_device_id: DeviceRequest,
    /// The application provides the outgoing audio itself (JS `mediaStream`); device ids are
    /// then ignored for audio.
    pub app_audio: bool,
}

/// JS `updateOutgoingMedia`'s options (the session is named separately).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingMediaUpdate {
    /// The microphone; `Unchanged` leaves audio alone.
    pub audio_device_id: DeviceRequest,
    /// The camera; `Unchanged` leaves video alone.
    pub video_device_id: DeviceRequest,
    /// Explicit media from the application: supersedes `audio_device_id`.
    pub app_audio: bool,
}

/// JS `updateDefaultDevices` options. `None` leaves that default as it is; `Some(None)` clears
/// it (JS `null`: the system default); `Some(Some(id))` sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultDevicesUpdate {
    /// New default microphone.
    pub audio_device_id: Option<Option<String>>,
    /// New default camera.
    pub video_device_id: Option<Option<String>>,
    /// New default speaker.
    pub output_device_id: Option<Option<String>>,
    /// Also move active sessions to the new defaults (JS `updateActiveSessions`).
    pub update_active_sessions: bool,
}

impl MediaRoute {
    pub(crate) fn new(
        defaults: MediaDefaults,
        echo_cancellation: bool,
        audio_bandwidth: AudioBandwidth,
    ) -> Self {
        Self {
            microphone: DeviceRequest::SdkDefault,
            speaker: DeviceRequest::SdkDefault,
            camera: DeviceRequest::Unchanged,
            app_audio: false,
            defaults,
            echo_cancellation,
            audio_bandwidth,
            generation: 0,
        }
    }
}

impl Engine {
    /// The devices the audio loop should use now.
    pub fn media_route(&self) -> &MediaRoute {
        &self.route
    }

    fn set_route(&mut self, change: impl FnOnce(&mut MediaRoute)) {
        let before = self.route.clone();
        change(&mut self.route);
        if self.route != before {
            self.route.generation = before.generation.wrapping_add(1);
            tracing::debug!(
                microphone = ?self.route.microphone,
                speaker = ?self.route.speaker,
                app_audio = self.route.app_audio,
                "media route changed"
            );
        }
    }

    fn route_outgoing(&mut self, audio: DeviceRequest, video: DeviceRequest, app_audio: bool) {
        self.set_route(|r| {
            if app_audio {
                r.app_audio = true;
            } else if audio != DeviceRequest::Unchanged {
                r.app_audio = false;
                r.microphone = audio;
            }
            if video != DeviceRequest::Unchanged {
                r.camera = video;
            }
        });
    }

    /// JS `acceptSession({ id, audioDeviceId, videoDeviceId, mediaStream })`: answers the offer
    /// and routes the chosen devices (undefined ids mean the SDK defaults).
    pub fn accept_session_with(
        &mut self,
        now: Instant,
        id: &str,
        options: AcceptSessionOptions,
    ) -> Result<(), SessionError> {
        self.advance(now);
        if !self.sessions.contains_key(id) {
            return Err(SessionError::UnknownSession(id.to_string()));
        }
        self.route_outgoing(
            options.audio_device_id.for_session(),
            options.video_device_id.for_session(),
            options.app_audio,
        );
        self.answer_offer(now, id)
    }

    /// JS `setAudioMute({ id, mute, unmuteDeviceId })`: as [`Engine::set_audio_mute`]; on
    /// unmute, a request other than `Unchanged` also switches the microphone.
    pub fn set_audio_mute_with(
        &mut self,
        now: Instant,
        id: &str,
        mute: bool,
        unmute_device_id: DeviceRequest,
    ) -> Result<(), SessionError> {
        self.set_audio_mute(now, id, mute)?;
        if !mute && unmute_device_id != DeviceRequest::Unchanged {
            self.route_outgoing(unmute_device_id, DeviceRequest::Unchanged, false);
        }
        Ok(())
    }

    /// JS `updateOutgoingMedia({ session or sessionId, audioDeviceId, videoDeviceId, stream })`:
    /// switches the microphone (or camera) of an active session without renegotiating.
    pub fn update_outgoing_media(
        &mut self,
        now: Instant,
        session_id: &str,
        update: OutgoingMediaUpdate,
    ) -> Result<(), SessionError> {
        self.advance(now);
        let id = self.session_id_for(session_id)?;
        if !self.sessions.contains_key(&id) {
            return Err(SessionError::UnknownSession(id));
        }
        if update == OutgoingMediaUpdate::default() {
            return Err(SessionError::InvalidInput {
                what: "outgoing media",
                reason: "give an audio or video device id, or app-provided media".into(),
            });
        }
        self.route_outgoing(
            update.audio_device_id,
            update.video_device_id,
            update.app_audio,
        );
        Ok(())
    }

    /// JS `updateOutputDevice(deviceId)`: moves every active session's received audio to this
    /// speaker. `Unchanged` (JS `undefined`) is refused; an id that is not present is reported
    /// by the audio loop as an error event and leaves the speaker as it is.
    pub fn update_output_device(
        &mut self,
        now: Instant,
        device: DeviceRequest,
    ) -> Result<(), SessionError> {
        self.advance(now);
        if device == DeviceRequest::Unchanged {
            return Err(SessionError::InvalidInput {
                what: "output device",
                reason: crate::devices::DeviceError::OutputUnchanged.to_string(),
            });
        }
        self.set_route(|r| r.speaker = device);
        Ok(())
    }

    /// JS `updateDefaultDevices({ audioDeviceId, videoDeviceId, outputDeviceId,
    /// updateActiveSessions })`.
    pub fn update_default_devices(&mut self, now: Instant, update: DefaultDevicesUpdate) {
        self.advance(now);
        let active = self.update_active(update.update_active_sessions);
        self.set_route(|r| {
            if let Some(v) = update.audio_device_id {
                r.defaults.audio_device_id = v;
                if active && !r.app_audio {
                    r.microphone = DeviceRequest::SdkDefault;
                }
            }
            if let Some(v) = update.video_device_id {
                r.defaults.video_device_id = v;
                if active {
                    r.camera = DeviceRequest::SdkDefault;
                }
            }
            if let Some(v) = update.output_device_id {
                r.defaults.output_device_id = v;
                if active {
                    r.speaker = DeviceRequest::SdkDefault;
                }
            }
        });
    }

    /// A device problem seen by the audio loop (a device that vanished, an id that is not
    /// present): reaches the application as an `sdkError` of kind `media`.
    pub fn report_device_error(&mut self, now: Instant, details: impl Into<String>) {
        self.advance(now);
        self.error(crate::events::SdkErrorKind::Media, details);
    }

    /// Whether a defaults update should also move the active sessions (with none active, the
    /// next session resolves `SdkDefault` afresh anyway, so the route is reset then too).
    fn update_active(&self, requested: bool) -> bool {
        requested || self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::SdkOptions;

    fn engine() -> (Engine, Instant) {
        let now = Instant::now();
        let opts = SdkOptions::builder()
            .environment("example.test")
            .access_token("t")
            .default_audio_device_id("mic-1")
            .build()
            .unwrap();
        (Engine::new(opts, now, 1), now)
    }

    #[test]
    fn the_route_starts_on_the_sdk_defaults() {
        let (e, _) = engine();
        let r = e.media_route();
        assert_eq!(r.microphone, DeviceRequest::SdkDefault);
        assert_eq!(r.speaker, DeviceRequest::SdkDefault);
        assert_eq!(r.defaults.audio_device_id.as_deref(), Some("mic-1"));
        assert!(!r.app_audio);
    }

    #[test]
    fn output_changes_bump_the_generation_once() {
        let (mut e, now) = engine();
        let g = e.media_route().generation;
        e.update_output_device(now, DeviceRequest::id("spk-2"))
            .unwrap();
        assert_eq!(e.media_route().generation, g + 1);
        assert_eq!(e.media_route().speaker, DeviceRequest::id("spk-2"));
        // The same request again is no change.
        e.update_output_device(now, DeviceRequest::id("spk-2"))
            .unwrap();
        assert_eq!(e.media_route().generation, g + 1);
        assert!(matches!(
            e.update_output_device(now, DeviceRequest::Unchanged),
            Err(SessionError::InvalidInput { .. })
        ));
        assert_eq!(e.media_route().generation, g + 1);
    }

    #[test]
    fn new_defaults_apply_to_the_route() {
        let (mut e, now) = engine();
        e.update_output_device(now, DeviceRequest::id("spk-2"))
            .unwrap();
        // Without sessions the next call resolves the defaults afresh: the route moves too.
        e.update_default_devices(
            now,
            DefaultDevicesUpdate {
                audio_device_id: Some(None),
                output_device_id: Some(Some("spk-3".into())),
                ..DefaultDevicesUpdate::default()
            },
        );
        let r = e.media_route();
        assert_eq!(r.defaults.audio_device_id, None);
        assert_eq!(r.defaults.output_device_id.as_deref(), Some("spk-3"));
        assert_eq!(r.speaker, DeviceRequest::SdkDefault);
        // Leaving a default alone (`None`) keeps it.
        e.update_default_devices(now, DefaultDevicesUpdate::default());
        assert_eq!(
            e.media_route().defaults.output_device_id.as_deref(),
            Some("spk-3")
        );
    }

    #[test]
    fn session_commands_need_a_session() {
        let (mut e, now) = engine();
        assert!(matches!(
            e.accept_session_with(now, "nope", AcceptSessionOptions::default()),
            Err(SessionError::UnknownSession(_))
        ));
        assert!(matches!(
            e.update_outgoing_media(
                now,
                "nope",
                OutgoingMediaUpdate {
                    audio_device_id: DeviceRequest::SystemDefault,
                    ..OutgoingMediaUpdate::default()
                }
            ),
            Err(SessionError::UnknownSession(_))
        ));
        assert_eq!(e.media_route().generation, 0);
    }
}
