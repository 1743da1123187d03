//! End-to-end tests live in `tests/tests/*.rs`; this library holds what several of them share.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use genesys_webrtc::{EventStream, SdkEvent};
use genesys_webrtc_hal::{AudioFormat, AudioPlayout, ErrorKind, ErrorType, FrameDuration};

/// The audio format the tests' devices use: 48 kHz mono, 20 ms frames.
pub const FORMAT: AudioFormat = AudioFormat {
    sample_rate: 48_000,
    channels: 1,
    frame: FrameDuration::Ms20,
};

/// The far end's last `ms` of received audio for `call`, with its sample rate.
pub fn far_end_tail(
    server: &genesys_webrtc_sim::tls_server::FakeCloudServer,
    call: genesys_webrtc_sim::cloud::CallId,
    ms: u32,
) -> (u32, Vec<i16>) {
    let (rate, heard) = server.with_cloud(|c| c.received_audio(call));
    let n = (rate * ms / 1000) as usize;
    (rate, heard[heard.len().saturating_sub(n)..].to_vec())
}

/// What [`signed_in`] returns: the fake cloud, the SDK, its driver thread and an event stream
/// subscribed before `initialize`.
pub type SignedIn = (
    genesys_webrtc_sim::tls_server::FakeCloudServer,
    genesys_webrtc::Sdk,
    std::thread::JoinHandle<()>,
    EventStream,
);

/// The fake cloud on 127.0.0.1 and an SDK signed in to it (smol backend, media on loopback);
/// `configure` adds options of the test's own.
pub fn signed_in(
    configure: impl FnOnce(genesys_webrtc::SdkOptionsBuilder) -> genesys_webrtc::SdkOptionsBuilder,
) -> SignedIn {
    signed_in_to(
        genesys_webrtc_sim::cloud::CloudConfig::for_environment("fake.genesys.test"),
        configure,
    )
}

/// [`signed_in`] to a fake cloud with a configuration of the test's own (e.g. its ICE servers).
pub fn signed_in_to(
    config: genesys_webrtc_sim::cloud::CloudConfig,
    configure: impl FnOnce(genesys_webrtc::SdkOptionsBuilder) -> genesys_webrtc::SdkOptionsBuilder,
) -> SignedIn {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    let server = genesys_webrtc_sim::tls_server::FakeCloudServer::start(
        config,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .expect("fake cloud starts");
    let token = server.with_cloud(|c| c.config().access_token.clone());
    let builder = genesys_webrtc::SdkOptions::builder()
        .environment(server.environment())
        .api_host(server.api_host())
        .ws_host(server.ws_host())
        .extra_root_certificates_pem(server.ca_cert_pem().as_bytes().to_vec())
        .access_token(token)
        .media_bind_address(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let options = configure(builder).build().expect("test options");
    let (sdk, thread) = genesys_webrtc_smol::start(options).expect("driver starts");
    let events = sdk.events();
    smol::block_on(sdk.initialize(genesys_webrtc::InitializeOptions::default()))
        .expect("initialize");
    (server, sdk, thread, events)
}

/// Rings the user with an inbound call of `options`, accepts its pending session and waits
/// (10 s at most each) for the session's media to connect. Returns the cloud's call and the
/// session id; panics naming the step that did not happen.
pub fn answered_call(
    server: &genesys_webrtc_sim::tls_server::FakeCloudServer,
    sdk: &genesys_webrtc::Sdk,
    events: &mut EventStream,
    options: genesys_webrtc_sim::cloud::CallOptions,
) -> (genesys_webrtc_sim::cloud::CallId, String) {
    use genesys_webrtc::session::events::{ConnectionState, SessionEvent};
    let call = server.with_cloud(|c| c.place_inbound_call(std::time::Instant::now(), options));
    let Some(SdkEvent::PendingSession(p)) = next_event(events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::PendingSession(_))
    }) else {
        panic!("no pending session")
    };
    smol::block_on(sdk.accept_pending_session(&p.id)).expect("accept_pending_session");
    let sid = p.id;
    next_event(events, Duration::from_secs(10), |e| {
        matches!(e, SdkEvent::Session { session_id, event: SessionEvent::ConnectionState(ConnectionState::Connected) } if *session_id == sid)
    })
    .expect("media connected");
    (call, sid)
}

/// The local audio thread of [`tone_audio`] and what its speaker played.
pub type ToneAudio = (
    std::thread::JoinHandle<Result<(), genesys_webrtc::local_audio::LocalAudioError>>,
    Arc<Mutex<Vec<i16>>>,
);

/// Runs the SDK's local audio for `ticks` frames of 20 ms on a thread of its own: the
/// microphone is a 440 Hz tone, the speaker a [`MemoryPlayout`]. Join the thread, then read
/// what was played from the returned buffer.
pub fn tone_audio(sdk: &genesys_webrtc::Sdk, ticks: u64) -> ToneAudio {
    let played = Arc::new(Mutex::new(Vec::new()));
    let audio_sdk = sdk.clone();
    let rec = Arc::clone(&played);
    let thread = std::thread::spawn(move || {
        smol::block_on(genesys_webrtc::local_audio::run_local_audio(
            &audio_sdk,
            &genesys_webrtc_smol::SmolClock::new(),
            Some(genesys_webrtc_sim::audio::ToneCapture::new(440.0, FORMAT).expect("tone")),
            Some(MemoryPlayout(rec)),
            Some(ticks),
        ))
    });
    (thread, played)
}

/// A playout device that keeps what it is given (for Goertzel checks afterwards).
pub struct MemoryPlayout(pub Arc<Mutex<Vec<i16>>>);

impl ErrorType for MemoryPlayout {
    type Error = ErrorKind;
}

impl AudioPlayout for MemoryPlayout {
    fn format(&self) -> AudioFormat {
        FORMAT
    }
    async fn write_frame(&mut self, frame: &[i16]) -> Result<(), ErrorKind> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(frame);
        }
        Ok(())
    }
}

/// The next event matching `pred`, or `None` after `timeout` (or when the stream ends).
pub fn next_event(
    events: &mut EventStream,
    timeout: Duration,
    mut pred: impl FnMut(&SdkEvent) -> bool,
) -> Option<SdkEvent> {
    smol::block_on(async {
        let deadline = smol::Timer::after(timeout);
        let find = async {
            while let Some(e) = events.next().await {
                if pred(&e) {
                    return Some(e);
                }
            }
            None
        };
        futures::pin_mut!(find);
        match futures::future::select(find, deadline).await {
            futures::future::Either::Left((e, _)) => e,
            futures::future::Either::Right(_) => None,
        }
    })
}

/// A device set for routing tests: microphones `tone-<hz>` (a sine at that frequency, any
/// 1–20000 Hz id opens; `tone-440` is the system default and `tone-1000`, `tone-700` are
/// listed), speakers `speaker-a` (system default) and `speaker-b` that record into their own
/// buffers, and [`RoutingDevices::unplug`] to make a device vanish: it leaves the list and its
/// open streams fail with [`ErrorKind::Disconnected`].
#[derive(Clone, Default)]
pub struct RoutingDevices {
    unplugged: Arc<Mutex<Vec<String>>>,
    speakers: Arc<Mutex<std::collections::HashMap<String, Vec<i16>>>>,
    opened: Arc<Mutex<Vec<String>>>,
}

impl RoutingDevices {
    /// Makes `id` vanish.
    pub fn unplug(&self, id: &str) {
        if let Ok(mut u) = self.unplugged.lock() {
            u.push(id.to_string());
        }
    }

    /// What speaker `id` has played so far.
    pub fn played(&self, id: &str) -> Vec<i16> {
        self.speakers
            .lock()
            .map(|s| s.get(id).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Every device opened so far, in order (`default` for the system default).
    pub fn opened(&self) -> Vec<String> {
        self.opened.lock().map(|o| o.clone()).unwrap_or_default()
    }

    fn is_unplugged(&self, id: &str) -> bool {
        self.unplugged
            .lock()
            .map(|u| u.iter().any(|x| x == id))
            .unwrap_or(true)
    }

    fn note_open(&self, id: &str) {
        if let Ok(mut o) = self.opened.lock() {
            o.push(id.to_string());
        }
    }
}

/// A microphone of [`RoutingDevices`].
pub struct RoutingMic {
    id: String,
    tone: genesys_webrtc::media::tone::ToneGenerator,
    devices: RoutingDevices,
}

/// A speaker of [`RoutingDevices`].
pub struct RoutingSpeaker {
    id: String,
    devices: RoutingDevices,
}

impl ErrorType for RoutingDevices {
    type Error = ErrorKind;
}
impl ErrorType for RoutingMic {
    type Error = ErrorKind;
}
impl ErrorType for RoutingSpeaker {
    type Error = ErrorKind;
}

impl genesys_webrtc_hal::AudioCapture for RoutingMic {
    fn format(&self) -> AudioFormat {
        FORMAT
    }
    async fn read_frame(&mut self, frame: &mut [i16]) -> Result<usize, ErrorKind> {
        if self.devices.is_unplugged(&self.id) {
            return Err(ErrorKind::Disconnected);
        }
        self.tone.fill(frame);
        Ok(frame.len())
    }
}

impl AudioPlayout for RoutingSpeaker {
    fn format(&self) -> AudioFormat {
        FORMAT
    }
    async fn write_frame(&mut self, frame: &[i16]) -> Result<(), ErrorKind> {
        if self.devices.is_unplugged(&self.id) {
            return Err(ErrorKind::Disconnected);
        }
        if let Ok(mut s) = self.devices.speakers.lock() {
            s.entry(self.id.clone())
                .or_default()
                .extend_from_slice(frame);
        }
        Ok(())
    }
}

impl genesys_webrtc_hal::AudioDevices for RoutingDevices {
    type Capture = RoutingMic;
    type Playout = RoutingSpeaker;

    fn list(&self) -> Result<Vec<genesys_webrtc_hal::MediaDevice>, ErrorKind> {
        use genesys_webrtc_hal::{MediaDevice, MediaKind};
        let all = [
            ("tone-440", MediaKind::AudioInput, true),
            ("tone-1000", MediaKind::AudioInput, false),
            ("tone-700", MediaKind::AudioInput, false),
            ("speaker-a", MediaKind::AudioOutput, true),
            ("speaker-b", MediaKind::AudioOutput, false),
        ];
        Ok(all
            .into_iter()
            .filter(|(id, _, _)| !self.is_unplugged(id))
            .map(|(id, kind, is_system_default)| MediaDevice {
                id: id.into(),
                label: id.into(),
                kind,
                is_system_default,
            })
            .collect())
    }

    fn open_capture(
        &self,
        device_id: Option<&str>,
        _format: AudioFormat,
    ) -> Result<RoutingMic, ErrorKind> {
        let id = device_id.unwrap_or("tone-440");
        let hz: f32 = id
            .strip_prefix("tone-")
            .and_then(|h| h.parse().ok())
            .ok_or(ErrorKind::NotFound)?;
        if self.is_unplugged(id) {
            return Err(ErrorKind::NotFound);
        }
        self.note_open(device_id.unwrap_or("default"));
        Ok(RoutingMic {
            id: id.to_string(),
            tone: genesys_webrtc::media::tone::ToneGenerator::new(hz, 0.3, FORMAT.sample_rate),
            devices: self.clone(),
        })
    }

    fn open_playout(
        &self,
        device_id: Option<&str>,
        _format: AudioFormat,
    ) -> Result<RoutingSpeaker, ErrorKind> {
        let id = device_id.unwrap_or("speaker-a");
        if !matches!(id, "speaker-a" | "speaker-b") || self.is_unplugged(id) {
            return Err(ErrorKind::NotFound);
        }
        self.note_open(device_id.unwrap_or("default"));
        Ok(RoutingSpeaker {
            id: id.to_string(),
            devices: self.clone(),
        })
    }
}

/// A room for echo tests: what the speaker plays comes back into the microphone `delay_ms`
/// later at `gain` (the acoustic echo path), plus an optional near-end tone. One microphone
/// (`room-mic`) and one speaker (`room-speaker`), both the system default.
#[derive(Clone)]
pub struct EchoRoom {
    inner: Arc<Mutex<RoomState>>,
}

struct RoomState {
    /// Samples played, waiting to reach the microphone.
    air: std::collections::VecDeque<i16>,
    gain: f32,
    near: Option<genesys_webrtc::media::tone::ToneGenerator>,
}

impl EchoRoom {
    /// A room with this echo delay and gain, and a near-end talker at `near_hz` (if any).
    pub fn new(delay_ms: u32, gain: f32, near_hz: Option<f32>) -> Self {
        let delay = (FORMAT.sample_rate / 1000 * delay_ms) as usize;
        Self {
            inner: Arc::new(Mutex::new(RoomState {
                air: std::iter::repeat_n(0, delay).collect(),
                gain,
                near: near_hz.map(|hz| {
                    genesys_webrtc::media::tone::ToneGenerator::new(hz, 0.2, FORMAT.sample_rate)
                }),
            })),
        }
    }
}

/// The microphone of an [`EchoRoom`].
pub struct RoomMic(EchoRoom);
/// The speaker of an [`EchoRoom`].
pub struct RoomSpeaker(EchoRoom);

impl ErrorType for EchoRoom {
    type Error = ErrorKind;
}
impl ErrorType for RoomMic {
    type Error = ErrorKind;
}
impl ErrorType for RoomSpeaker {
    type Error = ErrorKind;
}

impl genesys_webrtc_hal::AudioCapture for RoomMic {
    fn format(&self) -> AudioFormat {
        FORMAT
    }
    async fn read_frame(&mut self, frame: &mut [i16]) -> Result<usize, ErrorKind> {
        let mut room = self.0.inner.lock().map_err(|_| ErrorKind::Other)?;
        let mut near = vec![0i16; frame.len()];
        if let Some(t) = room.near.as_mut() {
            t.fill(&mut near);
        }
        let gain = room.gain;
        for (out, n) in frame.iter_mut().zip(near) {
            let echo = f32::from(room.air.pop_front().unwrap_or(0)) * gain;
            *out = (echo + f32::from(n)).clamp(-32768.0, 32767.0) as i16;
        }
        Ok(frame.len())
    }
}

impl AudioPlayout for RoomSpeaker {
    fn format(&self) -> AudioFormat {
        FORMAT
    }
    async fn write_frame(&mut self, frame: &[i16]) -> Result<(), ErrorKind> {
        let mut room = self.0.inner.lock().map_err(|_| ErrorKind::Other)?;
        room.air.extend(frame.iter().copied());
        Ok(())
    }
}

impl genesys_webrtc_hal::AudioDevices for EchoRoom {
    type Capture = RoomMic;
    type Playout = RoomSpeaker;

    fn list(&self) -> Result<Vec<genesys_webrtc_hal::MediaDevice>, ErrorKind> {
        use genesys_webrtc_hal::{MediaDevice, MediaKind};
        Ok(vec![
            MediaDevice {
                id: "room-mic".into(),
                label: "Room microphone".into(),
                kind: MediaKind::AudioInput,
                is_system_default: true,
            },
            MediaDevice {
                id: "room-speaker".into(),
                label: "Room speaker".into(),
                kind: MediaKind::AudioOutput,
                is_system_default: true,
            },
        ])
    }

    fn open_capture(&self, _: Option<&str>, _: AudioFormat) -> Result<RoomMic, ErrorKind> {
        Ok(RoomMic(self.clone()))
    }

    fn open_playout(&self, _: Option<&str>, _: AudioFormat) -> Result<RoomSpeaker, ErrorKind> {
        Ok(RoomSpeaker(self.clone()))
    }
}
