//! Deterministic simulation with seeded faults (DESIGN.md testing level 4): the SDK engine, the
//! fake cloud and its str0m media peer in virtual time, where one seed is one scenario.
//!
//! From the seed: two to four inbound calls (both negotiation modes) and maybe an outbound one,
//! the app accepting, muting and ending calls, the far end hanging up, and faults at random
//! points — WebSocket drops (any time: during login, call set-up, mid-call, during reconnects),
//! the server closing the stream, 20 % media packet loss, datagram reordering, latency spikes,
//! REST 5xx / 429 (with `Retry-After`) / 401, the access token expiring mid-call (the app sets
//! the new one when told `InvalidToken`), and extdisco requests that are never answered.
//! Then the faults stop and the run heals.
//!
//! Invariants (session survivability on, the default):
//! * no active session is lost: a media session ends only because the app or the far end ended
//!   it, or because its media never came up and the SDK said so (`sessionEnded`
//!   failed-transport: a negotiation a drop cut, or a far end whose DTLS handshake never
//!   finished under loss, reported with `sdkError` "no media from the peer"), and every session
//!   still live after healing has connected media on both sides, with audio flowing again;
//! * every failure reaches the app as an event: each lost connection gives `disconnected`, a
//!   refused token gives `sdkError` `InvalidToken`, and every app operation that went to REST
//!   finishes with its effect or an event (`sdkError` `Http`, or `sessionEnded` for
//!   `end_session`'s fallback); the SDK is connected again after healing;
//! * no panic; the engine's collections stay bounded; no secret (either token, the SASL
//!   payloads, TURN passwords) in the TRACE logs or the events.
//!
//! Seeds: `FAULT_SIM_SEEDS` (how many, default 50) starting at `FAULT_SIM_FIRST_SEED`
//! (default 1), or exactly one with `FAULT_SIM_SEED`. A failing seed is printed with the command
//! that replays it exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use genesys_webrtc::engine::StartSoftphoneParams;
use genesys_webrtc::events::SdkErrorKind;
use genesys_webrtc::media::rtc::{ICE_FAILED_AFTER, NO_MEDIA_FAILED_AFTER};
use genesys_webrtc::session::events::{ConnectionState, SessionEvent, TerminateReason};
use genesys_webrtc::{SdkEvent, SessionError};
use genesys_webrtc_sim::cloud::{
    CallId, CallOptions, CallState, Negotiation, PreferredCodec, RestFault,
};
use genesys_webrtc_sim::network::SimNetwork;
use genesys_webrtc_sim::redaction::{LogCapture, TenantSecrets};

const ENV: &str = "fake.genesys.test";
/// How long faults are injected.
const FAULT_PHASE: Duration = Duration::from_secs(25);
/// Longest reconnect back-off (the SDK option), so a run heals in seconds of virtual time.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// The app looks at its events this often.
const APP_TICK: Duration = Duration::from_millis(50);

/// Something the scenario does at a point in virtual time.
#[derive(Debug, Clone)]
enum Action {
    PlaceCall(Negotiation, PreferredCodec),
    PlaceOutbound,
    CutAll,
    ServerClose,
    LatencySpike {
        base_ms: u64,
        for_ms: u64,
    },
    RestFault {
        path: &'static str,
        status: u16,
        times: u32,
    },
    TokenExpires,
    ExtdiscoSilent {
        for_ms: u64,
    },
    AppMute(usize, bool),
    AppEnd(usize),
    FarEndHangUp(usize),
}

/// The scenario of one seed.
#[derive(Debug)]
struct Scenario {
    loss: bool,
    reorder: bool,
    audio: bool,
    actions: Vec<(Duration, Action)>,
}

fn scenario(seed: u64) -> Scenario {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed_fa17);
    let mut actions = Vec::new();
    let at = |rng: &mut fastrand::Rng, lo: u64, hi: u64| Duration::from_millis(rng.u64(lo..hi));
    for _ in 0..rng.usize(1..=3) {
        let mode = if rng.bool() {
            Negotiation::Jingle
        } else {
            Negotiation::SdpOverXmpp
        };
        // Mostly G.711: the media peer plays a tone all call long and Opus costs CPU time.
        let codec = [
            PreferredCodec::Pcmu,
            PreferredCodec::Pcma,
            PreferredCodec::Pcmu,
            PreferredCodec::Opus,
        ][rng.usize(0..4)];
        actions.push((at(&mut rng, 0, 12_000), Action::PlaceCall(mode, codec)));
    }
    if rng.u8(0..3) == 0 {
        actions.push((at(&mut rng, 0, 12_000), Action::PlaceOutbound));
    }
    for _ in 0..rng.usize(1..=4) {
        actions.push((at(&mut rng, 0, 24_000), Action::CutAll));
    }
    if rng.bool() {
        actions.push((at(&mut rng, 0, 24_000), Action::ServerClose));
    }
    for _ in 0..rng.usize(0..=2) {
        let spike = Action::LatencySpike {
            base_ms: rng.u64(200..1_500),
            for_ms: rng.u64(500..5_000),
        };
        actions.push((at(&mut rng, 0, 24_000), spike));
    }
    const PATHS: [&str; 5] = [
        "/api/v2/notifications/channels",
        "/api/v2/conversations/calls/",
        "/api/v2/conversations/",
        "/api/v2/users/me",
        "/stream/",
    ];
    for _ in 0..rng.usize(0..=3) {
        let status = [500, 502, 503, 429, 401][rng.usize(0..5)];
        let fault = Action::RestFault {
            path: PATHS[rng.usize(0..PATHS.len())],
            status,
            times: rng.u32(1..=3),
        };
        actions.push((at(&mut rng, 0, 24_000), fault));
    }
    if rng.u8(0..3) == 0 {
        actions.push((at(&mut rng, 3_000, 22_000), Action::TokenExpires));
    }
    if rng.u8(0..3) == 0 {
        let silent = Action::ExtdiscoSilent {
            for_ms: rng.u64(5_000..20_000),
        };
        actions.push((at(&mut rng, 0, 22_000), silent));
    }
    for _ in 0..rng.usize(0..=3) {
        let n = rng.usize(0..8);
        let a = match rng.u8(0..3) {
            0 => Action::AppMute(n, rng.bool()),
            1 => Action::AppEnd(n),
            _ => Action::FarEndHangUp(n),
        };
        actions.push((at(&mut rng, 3_000, 24_000), a));
    }
    actions.sort_by_key(|(t, _)| *t);
    Scenario {
        loss: rng.bool(),
        reorder: rng.bool(),
        audio: rng.u8(0..4) == 0,
        actions,
    }
}

/// What the harness (a sane app) keeps track of.
#[derive(Default)]
struct App {
    seen: usize,
    /// Pending sessions to accept (retried while offline).
    to_accept: BTreeSet<String>,
    /// Sessions the app ended, and the far end's hang-ups (session ids).
    ended_on_purpose: BTreeSet<String>,
    /// Live sessions: id → conversation id.
    live: BTreeMap<String, String>,
    /// Mute operations that returned `Ok` (each must end in a PATCH or an `Http` error).
    mutes: u32,
    /// Sessions the app left muted (they send no audio).
    muted: BTreeSet<String>,
    /// `end_session` calls that returned `Ok` (each must end in `sessionEnded`).
    ends: BTreeSet<String>,
    /// Outbound call requests.
    placed: Vec<u64>,
    /// Tokens the app was given, newest last.
    tokens: Vec<String>,
    connection_losses: u32,
    invalid_token_errors: u32,
    /// Sessions whose media connected at least once (active sessions).
    media_up: BTreeSet<String>,
    /// Sessions that ended `FailedTransport` without media ever connecting.
    negotiation_failures: u64,
    /// Sessions the far end ended whose terminate was lost in a drop.
    terminates_lost: u64,
    /// Sessions the SDK reported as never hearing the far end (`MediaError::NoMediaFromPeer`).
    no_media_reported: BTreeSet<String>,
    /// Of those, the ones that ended (failed-transport).
    far_end_dtls_failures: u64,
}

struct Sim {
    seed: u64,
    sim: SimNetwork,
    app: App,
    calls: Vec<CallId>,
    token_serial: u32,
    extdisco_until: Option<Instant>,
    spike_until: Option<Instant>,
}

impl Sim {
    /// The app's reactions to new events.
    fn react(&mut self) {
        let events: Vec<SdkEvent> = self.sim.events()[self.app.seen..]
            .iter()
            .map(|(_, e)| e.clone())
            .collect();
        self.app.seen = self.sim.events().len();
        for e in events {
            match e {
                SdkEvent::PendingSession(p) => {
                    self.app.to_accept.insert(p.id);
                }
                SdkEvent::CancelPendingSession { session_id, .. }
                | SdkEvent::HandledPendingSession { session_id, .. } => {
                    self.app.to_accept.remove(&session_id);
                }
                SdkEvent::SessionStarted(s) => {
                    self.app.to_accept.remove(&s.id);
                    self.app.live.insert(s.id, s.conversation_id);
                }
                SdkEvent::SessionEnded { session, reason } => {
                    self.app.live.remove(&session.id);
                    self.app.ends.remove(&session.id);
                    let never_up = !self.app.media_up.contains(&session.id);
                    if reason == TerminateReason::FailedTransport
                        && self.app.no_media_reported.contains(&session.id)
                    {
                        // The far end's DTLS handshake never finished (str0m/dimpl under loss:
                        // see media::rtc, "DTLS role"); the SDK said so and ended the session.
                        self.app.far_end_dtls_failures += 1;
                        continue;
                    }
                    if never_up && reason == TerminateReason::FailedTransport {
                        // Negotiation cut by a drop (say, our answer went out on the dying
                        // connection): media never came up and the SDK said so, ending the
                        // session after ICE_FAILED_AFTER. Not an active session lost.
                        self.app.negotiation_failures += 1;
                        continue;
                    }
                    assert!(
                        self.app.ended_on_purpose.contains(&session.id),
                        "session {} lost: ended with {reason:?} though neither side ended it",
                        session.id
                    );
                }
                SdkEvent::Session {
                    session_id,
                    event: SessionEvent::ConnectionState(ConnectionState::Connected),
                } => {
                    self.app.media_up.insert(session_id);
                }
                SdkEvent::Disconnected { .. } => self.app.connection_losses += 1,
                SdkEvent::Error(err)
                    if err.kind == SdkErrorKind::Media
                        && err.details.contains("no media from the peer") =>
                {
                    // "session {sid}: no media from the peer …"
                    if let Some(sid) = err
                        .details
                        .strip_prefix("session ")
                        .and_then(|d| d.split(':').next())
                    {
                        self.app.no_media_reported.insert(sid.to_owned());
                    }
                }
                SdkEvent::Error(err) if err.kind == SdkErrorKind::InvalidToken => {
                    // The app gets a fresh token and reconnects.
                    self.app.invalid_token_errors += 1;
                    let token = self.sim.cloud().config().access_token.clone();
                    self.app.tokens.push(token.clone());
                    self.sim.engine().set_access_token(token.into());
                    let now = self.sim.now();
                    assert!(self.sim.engine().reconnect(now).is_ok());
                }
                _ => {}
            }
        }
        let now = self.sim.now();
        for id in self.app.to_accept.clone() {
            match self.sim.engine().accept_pending_session(now, &id) {
                Ok(()) | Err(SessionError::UnknownSession(_)) => {
                    self.app.to_accept.remove(&id);
                }
                Err(SessionError::NotConnected) => {}
                Err(e) => panic!("accept refused: {e}"),
            }
        }
        self.sim.pump();
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.sim.now() + d;
        while self.sim.now() < end {
            let step = APP_TICK.min(end - self.sim.now());
            self.sim.run_for(step);
            self.react();
            self.expire_windows();
            let sizes = self.sim.engine().sizes();
            assert!(
                sizes.pending <= 64
                    && sizes.proposes <= 64
                    && sizes.sessions <= 8
                    && sizes.rest_calls <= 16
                    && sizes.early_candidate_sessions <= 10,
                "{sizes:?}"
            );
        }
    }

    fn expire_windows(&mut self) {
        let now = self.sim.now();
        if self.extdisco_until.is_some_and(|t| now >= t) {
            self.extdisco_until = None;
            self.sim.cloud().config_mut().faults.extdisco_silent = false;
        }
        if self.spike_until.is_some_and(|t| now >= t) {
            self.spike_until = None;
            self.sim
                .set_latency(Duration::from_millis(5), Duration::from_millis(2));
        }
    }

    /// Every call of the cloud, inbound and outbound.
    fn all_calls(&mut self) -> Vec<CallId> {
        self.sim.cloud().calls().iter().map(|c| c.id).collect()
    }

    fn session_of(&mut self, n: usize) -> Option<(CallId, String)> {
        let calls = self.all_calls();
        if calls.is_empty() {
            return None;
        }
        let call = calls[n % calls.len()];
        let sid = self.sim.cloud().call(call)?.session_id;
        Some((call, sid))
    }

    fn act(&mut self, action: &Action) {
        let now = self.sim.now();
        match *action {
            Action::PlaceCall(mode, codec) => {
                let id = self.sim.cloud().place_inbound_call(
                    now,
                    CallOptions {
                        mode,
                        codec,
                        ..CallOptions::default()
                    },
                );
                self.calls.push(id);
            }
            Action::PlaceOutbound => {
                let params = StartSoftphoneParams {
                    phone_number: Some("+13175550142".into()),
                    ..Default::default()
                };
                if let Ok(req) = self.sim.engine().start_softphone_session(now, &params) {
                    self.app.placed.push(req);
                }
            }
            Action::CutAll => self.sim.cut_all(),
            Action::ServerClose => self.sim.cloud().close_streams(now),
            Action::LatencySpike { base_ms, for_ms } => {
                self.sim.set_latency(
                    Duration::from_millis(base_ms),
                    Duration::from_millis(base_ms / 4),
                );
                self.spike_until = Some(now + Duration::from_millis(for_ms));
            }
            Action::RestFault {
                path,
                status,
                times,
            } => {
                let mut f = RestFault::new(path, status).times(times);
                if status == 429 {
                    f = f.retry_after(2);
                }
                self.sim.cloud().config_mut().faults.rest_status.push(f);
            }
            Action::TokenExpires => {
                self.token_serial += 1;
                let token = format!(
                    "sim-at-rotated-{:016x}-{}",
                    self.seed.wrapping_mul(0x9e37_79b9),
                    self.token_serial
                );
                self.sim.cloud().config_mut().access_token = token;
            }
            Action::ExtdiscoSilent { for_ms } => {
                self.sim.cloud().config_mut().faults.extdisco_silent = true;
                self.extdisco_until = Some(now + Duration::from_millis(for_ms));
            }
            Action::AppMute(n, mute) => {
                let Some((_, sid)) = self.session_of(n) else {
                    return;
                };
                if !self.app.live.contains_key(&sid) {
                    return;
                }
                if self.sim.engine().set_audio_mute(now, &sid, mute).is_ok() {
                    self.app.mutes += 1;
                    if mute {
                        self.app.muted.insert(sid);
                    } else {
                        self.app.muted.remove(&sid);
                    }
                }
            }
            Action::AppEnd(n) => {
                let Some((_, sid)) = self.session_of(n) else {
                    return;
                };
                if !self.app.live.contains_key(&sid) || self.app.ends.contains(&sid) {
                    return;
                }
                // Ended through REST: the server's terminate must reach us, so only online.
                if self.sim.engine().full_jid().is_none() {
                    return;
                }
                if self.sim.engine().end_session(now, &sid).is_ok() {
                    self.app.ended_on_purpose.insert(sid.clone());
                    self.app.ends.insert(sid);
                }
            }
            Action::FarEndHangUp(n) => {
                let Some((call, sid)) = self.session_of(n) else {
                    return;
                };
                // The terminate must reach us: only while the cloud has us bound.
                if self.sim.cloud().connected_jids().is_empty() {
                    return;
                }
                self.app.ended_on_purpose.insert(sid);
                self.sim.cloud().hang_up(now, call, "success");
            }
        }
        self.sim.pump();
    }

    /// Stops every fault and lets the run heal; the SDK must be connected again.
    fn heal(&mut self) {
        let now = self.sim.now();
        {
            let cloud = self.sim.cloud().config_mut();
            cloud.faults.rest_status.clear();
            cloud.faults.extdisco_silent = false;
        }
        self.extdisco_until = None;
        self.spike_until = None;
        self.sim
            .set_latency(Duration::from_millis(5), Duration::from_millis(2));
        self.sim.set_datagram_loss(0.0);
        self.sim.set_datagram_reorder(0.0, Duration::ZERO);
        // An app that was told nothing new would still be waiting; one that lost its token
        // was told (InvalidToken) and has reconnected in `react`.
        let deadline = now + Duration::from_secs(60);
        while !self.sim.engine().is_connected() && self.sim.now() < deadline {
            self.run_for(Duration::from_millis(500));
        }
        assert!(
            self.sim.engine().is_connected(),
            "not connected 60 s after the faults stopped"
        );
        self.run_for(Duration::from_secs(3));
    }

    fn check_survivors(&mut self, audio: bool) {
        // Three kinds of session must end by themselves, with an event, once the SDK's ICE
        // failure timer (ICE_FAILED_AFTER) or its no-media watchdog (NO_MEDIA_FAILED_AFTER)
        // has run: one whose negotiation a drop cut (media never up), one the far end ended
        // while its terminate was lost in a drop (the call is over in the cloud; nothing tells
        // the SDK but its media dying), and one whose far end never finished its DTLS
        // handshake (str0m/dimpl under loss: the SDK's side completed, the far end's gave up).
        let mut stuck: Vec<String> = Vec::new();
        for sid in self.app.live.keys().cloned().collect::<Vec<_>>() {
            let over = self
                .sim
                .cloud()
                .call_by_session(&sid)
                .and_then(|c| self.sim.cloud().call(c))
                .is_some_and(|c| c.state.is_over());
            if over {
                self.app.terminates_lost += 1;
            }
            let far_end_down = self
                .sim
                .cloud()
                .call_by_session(&sid)
                .and_then(|c| self.sim.cloud().media_stats(c))
                .is_some_and(|m| !m.connected);
            if over || far_end_down || !self.app.media_up.contains(&sid) {
                stuck.push(sid);
            }
        }
        if !stuck.is_empty() {
            // ICE first has to notice the far end is gone (consent checks, some seconds; the
            // DTLS close may have been lost), then fail after ICE_FAILED_AFTER; the no-media
            // watchdog runs from the SDK's DTLS completion.
            let wait = ICE_FAILED_AFTER.max(NO_MEDIA_FAILED_AFTER) + Duration::from_secs(15);
            self.run_for(wait);
            for sid in &stuck {
                assert!(
                    !self.app.live.contains_key(sid),
                    "session {sid} is dead (no media, far end not connected, or over in the cloud) and never ended; cloud media {:?}; scenario {:?}; SDK events {:?}",
                    self.sim
                        .cloud()
                        .call_by_session(sid)
                        .and_then(|c| self.sim.cloud().media_stats(c)),
                    scenario(self.seed),
                    self.sim
                        .events()
                        .iter()
                        .filter(|(_, e)| format!("{e:?}").contains(sid.as_str()))
                        .map(|(t, e)| format!("{t:?} {e:?}"))
                        .filter(|e| !e.contains("Stats"))
                        .collect::<Vec<_>>()
                );
            }
        }
        // Every live session still has media on both sides.
        let live: Vec<String> = self.app.live.keys().cloned().collect();
        for sid in &live {
            let call = self
                .sim
                .cloud()
                .call_by_session(sid)
                .expect("the cloud knows the session");
            let summary = self.sim.cloud().call(call).expect("call");
            assert!(
                !summary.state.is_over(),
                "the cloud ended {sid} ({:?}) but the SDK did not notice; call log {:?}; scenario {:?}",
                summary.state,
                self.sim.cloud().call_log(call),
                scenario(self.seed)
            );
            let state = self.sim.events().iter().rev().find_map(|(_, e)| match e {
                SdkEvent::Session {
                    session_id,
                    event: SessionEvent::ConnectionState(s),
                } if session_id == sid => Some(*s),
                _ => None,
            });
            assert_eq!(
                state,
                Some(ConnectionState::Connected),
                "media of {sid} after healing: SDK states {:?}, cloud {:?}, scenario {:?}",
                self.sim
                    .events()
                    .iter()
                    .filter_map(|(t, e)| match e {
                        SdkEvent::Session {
                            session_id,
                            event: SessionEvent::ConnectionState(s),
                        } if session_id == sid => Some((*t, *s)),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
                self.sim.cloud().media_stats(call),
                scenario(self.seed)
            );
            if !summary.media_connected {
                panic!(
                    "cloud media of {sid}: {:?}, call log {:?}, SDK states {:?}",
                    self.sim.cloud().media_stats(call),
                    self.sim.cloud().call_log(call),
                    self.sim
                        .events()
                        .iter()
                        .filter_map(|(t, e)| match e {
                            SdkEvent::Session {
                                session_id,
                                event: SessionEvent::ConnectionState(s),
                            } if session_id == sid => Some((*t, *s)),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                );
            }
            if audio
                && matches!(summary.state, CallState::Connected)
                && !self.app.muted.contains(sid)
            {
                let before = self.sim.cloud().received_audio(call).1.len();
                self.run_for(Duration::from_secs(1));
                let after = self.sim.cloud().received_audio(call).1.len();
                assert!(
                    after > before,
                    "audio from the SDK flows again on {sid}: cloud media {:?}, call log {:?}, scenario {:?}",
                    self.sim.cloud().media_stats(call),
                    self.sim.cloud().call_log(call),
                    scenario(self.seed)
                );
            }
        }
    }

    /// The media half of [`Timeline`], taken after healing.
    fn media_timeline(&mut self, start: Instant) -> Vec<String> {
        // The first sample louder than the noise floor of a silent frame, as a time.
        let first_heard = |samples: &[i16], rate: u32| {
            samples
                .iter()
                .position(|x| x.unsigned_abs() > 1_000)
                .map(|i| Duration::from_micros(i as u64 * 1_000_000 / u64::from(rate.max(1))))
        };
        let mut out = Vec::new();
        for call in self.all_calls() {
            let stats = self.sim.cloud().media_stats(call);
            let (rate, audio) = self.sim.cloud().received_audio(call);
            out.push(format!(
                "call {call:?}: {stats:?}; heard {} samples at {rate} Hz, first at {:?}",
                audio.len(),
                first_heard(&audio, rate)
            ));
        }
        let playout = self.sim.playout();
        out.push(format!(
            "SDK playout: {} samples, first heard at {:?}; now {:?}",
            playout.len(),
            first_heard(playout, 48_000),
            self.sim.now().saturating_duration_since(start)
        ));
        out
    }

    /// Ends everything from the far end and checks the books.
    fn drain(&mut self) {
        let now = self.sim.now();
        for call in self.all_calls() {
            let Some(c) = self.sim.cloud().call(call) else {
                continue;
            };
            if c.state == CallState::Alerting {
                self.sim.cloud().retract_call(now, call);
            } else if !c.state.is_over() {
                self.app.ended_on_purpose.insert(c.session_id);
                self.sim.cloud().hang_up(now, call, "success");
            }
        }
        self.sim.pump();
        self.run_for(Duration::from_secs(3));
        if !self.app.live.is_empty() {
            let mut why = String::new();
            for sid in self.app.live.keys().cloned().collect::<Vec<_>>() {
                if let Some(call) = self.sim.cloud().call_by_session(&sid) {
                    let state = self.sim.cloud().call(call).map(|c| c.state);
                    let log = self.sim.cloud().call_log(call);
                    why.push_str(&format!("{sid}: cloud {state:?}, call log {log:?}\n"));
                }
            }
            panic!("sessions left after the far end hung up:\n{why}");
        }
        assert!(self.app.ends.is_empty(), "end_session without sessionEnded");
        assert_eq!(self.sim.engine().sessions().count(), 0);
        // Every mute reached the cloud or the app heard why not.
        let patched: usize = self
            .all_calls()
            .into_iter()
            .map(|c| {
                self.sim
                    .cloud()
                    .call_log(c)
                    .iter()
                    .filter(|l| l.contains("\"muted\""))
                    .count()
            })
            .sum();
        let failed = self
            .sim
            .events()
            .iter()
            .filter(|(_, e)| {
                matches!(e, SdkEvent::Error(err) if err.kind == SdkErrorKind::Http
                    && err.details.contains("Mute"))
            })
            .count();
        assert_eq!(
            patched + failed,
            self.app.mutes as usize,
            "mutes: {patched} applied + {failed} failed"
        );
        // Every outbound call request has a result; failures were events.
        for req in self.app.placed.clone() {
            match self.sim.engine().take_place_call_result(req) {
                Some(Ok(_)) => {}
                Some(Err(_)) => assert!(self.sim.events().iter().any(|(_, e)| {
                    matches!(e, SdkEvent::Error(err) if err.kind == SdkErrorKind::Http)
                })),
                None => panic!("outbound call request {req} never finished"),
            }
        }
        let sizes = self.sim.engine().sizes();
        assert_eq!((sizes.sessions, sizes.rest_calls), (0, 0), "{sizes:?}");
    }
}

/// What the faults of one run did (summed over seeds to show each kind really fired).
#[derive(Debug, Default, Clone, Copy)]
struct Coverage {
    disconnects: u64,
    invalid_token: u64,
    http_errors: u64,
    rest_faults_hit: u64,
    sessions: u64,
    sessions_across_drops: u64,
    datagrams_lost: u64,
    datagrams_reordered: u64,
    extdisco_timeouts: u64,
    /// Sessions ended because the far end's DTLS never finished (reported by the SDK).
    far_end_dtls_failures: u64,
    negotiation_failures: u64,
    terminates_lost: u64,
}

impl Coverage {
    fn add(&mut self, o: Coverage) {
        self.disconnects += o.disconnects;
        self.invalid_token += o.invalid_token;
        self.http_errors += o.http_errors;
        self.rest_faults_hit += o.rest_faults_hit;
        self.sessions += o.sessions;
        self.sessions_across_drops += o.sessions_across_drops;
        self.datagrams_lost += o.datagrams_lost;
        self.datagrams_reordered += o.datagrams_reordered;
        self.extdisco_timeouts += o.extdisco_timeouts;
        self.far_end_dtls_failures += o.far_end_dtls_failures;
        self.negotiation_failures += o.negotiation_failures;
        self.terminates_lost += o.terminates_lost;
    }
}

/// One seed, one scenario; panics on a broken invariant.
fn run_seed(seed: u64) -> Coverage {
    run_seed_with(seed, true, false).0
}

/// One run; with `record`, also what it looked like ([`Timeline`]), the SDK's playout recorded.
fn run_seed_with(seed: u64, survivability: bool, record: bool) -> (Coverage, Timeline) {
    let logs = LogCapture::new();
    let _guard = std::env::var("FAULT_SIM_NOLOG")
        .is_err()
        .then(|| logs.set_default());
    let sc = scenario(seed);
    let sim = SimNetwork::ready_user(ENV, seed, |b| {
        b.auto_answer_outbound_calls(true)
            .reconnect_max_delay(MAX_BACKOFF)
            .session_survivability(survivability)
    });
    let token = genesys_webrtc_sim::cloud::DEFAULT_ACCESS_TOKEN.to_string();
    let mut s = Sim {
        seed,
        sim,
        app: App {
            tokens: vec![token],
            ..App::default()
        },
        calls: Vec::new(),
        token_serial: 0,
        extdisco_until: None,
        spike_until: None,
    };
    s.app.seen = s.sim.events().len();
    if sc.loss {
        s.sim.set_datagram_loss(0.2);
    }
    if sc.reorder {
        s.sim.set_datagram_reorder(0.3, Duration::from_millis(60));
    }
    if sc.audio {
        s.sim.start_audio(Some(440.0), record);
    }
    let start = s.sim.now();
    let mut up_before_cut = 0u32;
    let mut counted_connects = 0usize;
    let mut sessions_across_drops = 0u64;
    for (at, action) in &sc.actions {
        let target = start + *at;
        if target > s.sim.now() {
            let d = target - s.sim.now();
            s.run_for(d);
        }
        // A drop of a live connection, counted once per connection (a second drop before the
        // first one reached the SDK hits the same connection).
        let connects = s
            .sim
            .events()
            .iter()
            .filter(|(_, e)| matches!(e, SdkEvent::Connected { .. }))
            .count();
        if matches!(action, Action::CutAll | Action::ServerClose)
            && s.sim.engine().is_connected()
            && connects > counted_connects
        {
            counted_connects = connects;
            up_before_cut += 1;
            sessions_across_drops += s.sim.engine().sessions().count() as u64;
        }
        s.act(action);
    }
    let end = start + FAULT_PHASE;
    if end > s.sim.now() {
        let d = end - s.sim.now();
        s.run_for(d);
    }
    s.heal();
    // Every drop of a live connection was announced.
    assert!(
        s.app.connection_losses >= up_before_cut,
        "{} disconnected event(s) for {up_before_cut} drop(s) of a live connection; connection events {:?}; scenario {:?}",
        s.app.connection_losses,
        s.sim
            .events()
            .iter()
            .filter(|(_, e)| matches!(e, SdkEvent::Connected { .. } | SdkEvent::Disconnected { .. }))
            .map(|(t, e)| (t.saturating_duration_since(start), e.clone()))
            .collect::<Vec<_>>(),
        sc.actions
    );
    // The media faults happened whenever there was media.
    let had_media = s.sim.events().iter().any(|(_, e)| {
        matches!(
            e,
            SdkEvent::Session {
                event: SessionEvent::ConnectionState(ConnectionState::Connected),
                ..
            }
        )
    });
    // (Whether loss and reordering fired is checked over the whole run: a seed whose media
    // lasted a handful of datagrams may see none.)
    let _ = had_media;
    s.check_survivors(sc.audio);
    let mut timeline = Timeline::default();
    if record {
        timeline.media = s.media_timeline(start);
    }
    s.drain();

    // No secret in the logs or the events, under any of the tokens used.
    let mut secrets = TenantSecrets::of(s.sim.cloud().config());
    let jid = s.sim.cloud().config().jabber_id.clone();
    for t in &s.app.tokens {
        secrets.add_token(&jid, t);
    }
    let events: String = s
        .sim
        .events()
        .iter()
        .map(|(_, e)| format!("{e:?}\n"))
        .collect();
    secrets.assert_absent("the events", &events);
    let logs = logs.text();
    secrets.assert_absent("the TRACE logs", &logs);
    let rest_faults_hit = s
        .sim
        .cloud()
        .cloud_log()
        .rest_calls()
        .iter()
        .filter(|(_, _, status)| *status >= 400)
        .count() as u64;
    if record {
        timeline.events = s
            .sim
            .events()
            .iter()
            .map(|(t, e)| {
                let mut e = e.clone();
                if let SdkEvent::Session {
                    event: SessionEvent::Stats(stats),
                    ..
                } = &mut e
                {
                    if let Some(rtt) = stats.rtt_ms.take() {
                        timeline.rtts_ms.push(rtt);
                    }
                }
                format!("{:?} {e:?}", t.saturating_duration_since(start))
            })
            .collect();
        timeline.network = format!(
            "{} datagrams lost, {} reordered, {} transmits, end at {:?}",
            s.sim.datagrams_lost(),
            s.sim.datagrams_reordered(),
            s.sim.transmits().len(),
            s.sim.now().saturating_duration_since(start)
        );
    }
    let count =
        |f: &dyn Fn(&SdkEvent) -> bool| s.sim.events().iter().filter(|(_, e)| f(e)).count() as u64;
    let coverage = Coverage {
        disconnects: count(&|e| matches!(e, SdkEvent::Disconnected { .. })),
        invalid_token: count(
            &|e| matches!(e, SdkEvent::Error(err) if err.kind == SdkErrorKind::InvalidToken),
        ),
        http_errors: count(
            &|e| matches!(e, SdkEvent::Error(err) if err.kind == SdkErrorKind::Http),
        ),
        rest_faults_hit,
        sessions: count(&|e| matches!(e, SdkEvent::SessionStarted(_))),
        sessions_across_drops,
        datagrams_lost: s.sim.datagrams_lost(),
        datagrams_reordered: s.sim.datagrams_reordered(),
        extdisco_timeouts: logs.matches("ICE server discovery took longer").count() as u64,
        far_end_dtls_failures: s.app.far_end_dtls_failures,
        negotiation_failures: s.app.negotiation_failures,
        terminates_lost: s.app.terminates_lost,
    };
    (coverage, timeline)
}

/// What one run looked like, to compare two runs of a seed: every SDK event (media ones
/// included: connection states, stats) at its virtual time, each call's media on the cloud
/// side (the media peer's counters, when it first heard the SDK's tone) and the SDK's playout
/// (when it first heard the cloud's tone), and the network's counts.
///
/// RTTs are kept apart from the events (their `rtt_ms` is blanked there): str0m computes them
/// from RTCP's NTP timestamps, which it derives from the wall clock at the virtual instant, in
/// units of 1/65 536 s. Two runs start at different wall-clock instants, so the same virtual
/// RTT can come out one unit (15.3 µs) apart; [`RTT_REPLAY_TOLERANCE_MS`] allows two.
#[derive(Debug, Default, PartialEq)]
struct Timeline {
    events: Vec<String>,
    rtts_ms: Vec<f64>,
    media: Vec<String>,
    network: String,
}

/// How far apart a replay's RTTs may be: two units of RTCP's NTP short format (1/65 536 s).
const RTT_REPLAY_TOLERANCE_MS: f64 = 2.0 * 1000.0 / 65_536.0;

impl Timeline {
    /// FNV-1a over everything, to compare runs in different processes.
    /// RTTs are left out (see [`Timeline`]).
    fn digest(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for line in self.events.iter().chain(&self.media).chain([&self.network]) {
            for b in line.bytes().chain([b'\n']) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "panic".into())
}

#[test]
fn seeded_fault_scenarios() {
    let seeds: Vec<u64> = match env_u64("FAULT_SIM_SEED") {
        Some(one) => vec![one],
        None => {
            let first = env_u64("FAULT_SIM_FIRST_SEED").unwrap_or(1);
            let n = env_u64("FAULT_SIM_SEEDS").unwrap_or(50);
            (first..first + n).collect()
        }
    };
    let wall = std::time::Instant::now();
    let mut failures = Vec::new();
    let mut total = Coverage::default();
    for &seed in &seeds {
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| run_seed(seed)));
        if let Ok(c) = &r {
            total.add(*c);
        }
        if let Err(e) = r {
            let msg = panic_text(&*e);
            eprintln!(
                "fault_sim: seed {seed} failed: {msg}\n  reproduce: FAULT_SIM_SEED={seed} cargo test -p genesys-webrtc-sim --test fault_sim -- --nocapture"
            );
            failures.push((seed, msg));
        }
    }
    println!(
        "fault_sim: {} seed(s) in {:.1} s, {} failed; {total:?}",
        seeds.len(),
        wall.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "failing seeds: {failures:?}");
    if seeds.len() >= 20 {
        // Each kind of fault really fired somewhere in the run.
        assert!(
            total.disconnects > 0 && total.sessions_across_drops > 0,
            "{total:?}"
        );
        assert!(total.invalid_token > 0, "a token expired: {total:?}");
        assert!(
            total.rest_faults_hit > 0 && total.http_errors > 0,
            "{total:?}"
        );
        assert!(
            total.datagrams_lost > 0 && total.datagrams_reordered > 0,
            "{total:?}"
        );
        assert!(
            total.extdisco_timeouts > 0,
            "extdisco went unanswered: {total:?}"
        );
    }
}

/// One seed is one run: the same seed gives the same scenario, and the same signaling and
/// connection events at the same virtual times (media too: `a_seed_replays_media_exactly`).
#[test]
fn a_seed_replays_exactly() {
    let run = |seed: u64| {
        let sc = scenario(seed);
        let mut sim = SimNetwork::ready_user(ENV, seed, |b| b);
        let start = sim.now();
        let now = sim.now();
        let call = sim.cloud().place_inbound_call(
            now,
            CallOptions {
                auto_answer: true,
                codec: PreferredCodec::Pcmu,
                ..CallOptions::default()
            },
        );
        sim.pump();
        sim.run_for(Duration::from_secs(2));
        sim.cut_all();
        sim.run_for(Duration::from_secs(5));
        let now = sim.now();
        sim.cloud().hang_up(now, call, "success");
        sim.pump();
        sim.run_for(Duration::from_secs(1));
        let events: Vec<String> = sim
            .events()
            .iter()
            .filter(|(_, e)| {
                matches!(
                    e,
                    SdkEvent::PendingSession(_)
                        | SdkEvent::SessionStarted(_)
                        | SdkEvent::SessionEnded { .. }
                        | SdkEvent::Connected { .. }
                        | SdkEvent::Disconnected { .. }
                        | SdkEvent::Error(_)
                )
            })
            .map(|(t, e)| format!("{:?} {e:?}", t.saturating_duration_since(start)))
            .collect();
        (format!("{:?}", sc.actions), events)
    };
    let a = run(42);
    let b = run(42);
    assert!(a.1.len() >= 6, "{:?}", a.1);
    assert_eq!(a, b);
    assert_ne!(run(43).0, a.0, "another seed, another scenario");
}

/// Media replays too: the same seed twice gives the same SDK events at the same virtual times
/// (connection states, stats), the same counters on the cloud's media peers, and the same
/// instants at which each side first heard the other's tone, for seeds with 20 % loss and
/// audio (`seeded`: str0m's ICE and DTLS randomness comes from the seed).
#[test]
fn a_seed_replays_media_exactly() {
    let seeds: Vec<u64> = match env_u64("FAULT_SIM_SEED") {
        Some(one) => vec![one],
        None => (1..)
            .filter(|s| {
                let sc = scenario(*s);
                sc.loss && sc.audio
            })
            .take(2)
            .collect(),
    };
    for seed in seeds {
        let a = run_seed_with(seed, true, true).1;
        let b = run_seed_with(seed, true, true).1;
        assert!(
            a.events.iter().any(|e| e.contains("Stats")) && !a.media.is_empty(),
            "seed {seed} had media: {a:?}"
        );
        for (i, (x, y)) in a.events.iter().zip(&b.events).enumerate() {
            assert_eq!(x, y, "seed {seed}: event {i} differs");
        }
        assert_eq!(a.events.len(), b.events.len(), "seed {seed}: event count");
        assert_eq!(a.rtts_ms.len(), b.rtts_ms.len(), "seed {seed}: RTT count");
        for (x, y) in a.rtts_ms.iter().zip(&b.rtts_ms) {
            assert!(
                (x - y).abs() <= RTT_REPLAY_TOLERANCE_MS,
                "seed {seed}: RTT {x} ms against {y} ms"
            );
        }
        assert_eq!(a.media, b.media, "seed {seed}: media");
        assert_eq!(a.network, b.network, "seed {seed}: network");
        // To compare with a replay in another process (another start instant, another
        // aws-lc-generated certificate).
        println!(
            "fault_sim: seed {seed}: timeline of {} events, digest {:016x}; {}; {:?}",
            a.events.len(),
            a.digest(),
            a.network,
            a.media
        );
    }
}

/// The survivability invariant has teeth: with `session_survivability(false)` a WebSocket drop
/// ends the live sessions, and the same scenarios fail with "session … lost".
#[test]
fn without_survivability_sessions_are_reported_lost() {
    let mut caught = None;
    for seed in 1..40 {
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| run_seed_with(seed, false, false)));
        if let Err(e) = r {
            caught = Some((seed, panic_text(&*e)));
            break;
        }
    }
    let (seed, msg) = caught.expect("some scenario drops the WebSocket during a call");
    assert!(msg.contains("lost"), "seed {seed}: {msg}");
}

/// Regression seeds: the far end's terminate was lost in a WebSocket drop (hang-up or our
/// `end_session` right after a cut, under a latency spike). The peer's DTLS close must end the
/// session within `PEER_CLOSED_GRACE`; before the fix it stayed forever in `closed`.
#[test]
fn a_terminate_lost_in_a_drop_still_ends_the_session() {
    for seed in [315, 404, 881, 888] {
        run_seed(seed);
    }
}

/// Regression seeds: under 20 % loss the far end's DTLS handshake never finished (its last
/// flights or ClientHellos lost until dimpl gave up), while the SDK's ICE stayed connected and,
/// for seed 176, its own DTLS (the server's side) had completed. Before the SDK's no-media
/// watchdog these sessions stayed "connected" with no audio for ever; now the SDK reports
/// `NoMediaFromPeer` and ends them (failed-transport).
#[test]
fn a_far_end_dtls_handshake_that_never_finishes_is_reported() {
    let mut reported = 0;
    for seed in [176, 612, 763, 831] {
        reported += run_seed(seed).far_end_dtls_failures;
    }
    println!("fault_sim: {reported} far-end DTLS failure(s) reported in the regression seeds");
}
