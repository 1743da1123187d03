//! Genesys Cloud WebRTC for devices: a sans-IO engine and a runtime-agnostic async SDK.
//!
//! This crate is what the Genesys Cloud WebRTC JavaScript SDK is to a browser page, for devices
//! without a browser. It has two layers:
//!
//! * [`Engine`] — a sans-IO state machine (the str0m / quinn-proto style). It never reads a clock,
//!   never spawns, never blocks and never touches a socket. You feed it API calls and
//!   [`engine::Input`]s (each carrying the current `Instant`) and drain
//!   [`Engine::poll_output`] until it returns [`engine::Output::Timeout`].
//! * [`Sdk`] — the async facade with the JS SDK's methods and events, generic over a
//!   [`Platform`] (clock + connector from `genesys-webrtc-hal`). It uses only `futures`; the
//!   [`SdkDriver`] future runs on any executor (the smol backend's `start` does it for you).
//!
//! ## The run loop
//!
//! ```text
//! loop {
//!     match engine.poll_output() {
//!         Output::Transmit(t) => /* open / write / close a byte stream */,
//!         Output::Event(e)    => /* hand the event to the application */,
//!         Output::Timeout(at) => { /* wait for input or `at` */ break }
//!     }
//! }
//! engine.handle_input(Input::Received(now, conn, &bytes)); // or Timeout(now), Connected, Closed…
//! ```
//!
//! After every mutation (an input or an API call) drain `poll_output` again. Same inputs and seed
//! give the same outputs, which is what the fuzz targets, the property tests and the simulator
//! (`genesys-webrtc-sim`) build on.
//!
//! ## Time
//!
//! Every input carries an `Instant`; the engine's timers (REST timeouts and retries, the 15 s
//! connection attempt, pings every 14 s, back-off 2 s → 90 s, ICE refresh every 6 h) are
//! deadlines it reports through `Output::Timeout`.
//!
//! ## Panics, errors and secrets
//!
//! Nothing the network, a device or the application sends can panic the engine: parsers work on
//! bounded buffers with named limits ([`wire`]), and bad peer input becomes an
//! [`SdkEvent::Error`], an XMPP error reply, or a reconnect. API misuse returns a typed error.
//! Access tokens, JWTs, security codes and TURN passwords are [`Secret`]s whose `Debug` and
//! `Display` print `{redacted}`; stanzas are scrubbed before they reach a TRACE log.
//!
//! ## Features
//!
//! | feature | what it adds |
//! |---|---|
//! | *(none)* | everything; no async runtime and no I/O |
//! | `_fuzz` | hidden fuzzing entry points (`genesys_webrtc::fuzz`) |
//!
//! ## Modules
//!
//! | module | owns |
//! |---|---|
//! | [`options`] | [`SdkOptions`] and its validation, host derivation |
//! | [`engine`] | the sans-IO engine: connection life, REST calls, the streaming socket |
//! | [`sdk`] | the async facade |
//! | [`events`] | [`SdkEvent`] and error kinds |
//! | [`rest`] | REST requests as data, retry rules, response bodies |
//! | [`xmpp`] | stanza builders, SASL, XEP-0215, pings, back-off |
//! | [`notifications`] | topic subscriptions and pubsub events |
//! | [`wire`] | HTTP/1.1, WebSocket and XML codecs |
//! | [`signaling`] | JMI, sdp-over-xmpp JSON-RPC, Jingle, SDP and the SDP ⇄ Jingle mapping |
//! | [`session`] | pending sessions, sessions, their events and reasons |
//! | [`media`] | str0m per-session RTC, Opus, G.711, jitter buffer, DTMF, resampling, tones |
//! | [`devices`] | the Device ID rules: which microphone, speaker or camera a request means |
//! | [`local_audio`] | the loop moving audio between HAL devices and a running [`Sdk`] |
//! | [`jwt`] | guest JWT claims |
//! | [`redact`] | what may be logged |
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod devices;
pub mod engine;
pub mod events;
pub mod jwt;
pub mod local_audio;
pub mod media;
pub mod notifications;
pub mod options;
pub mod redact;
pub mod rest;
pub mod sdk;
pub mod session;
pub mod signaling;
pub mod wire;
pub mod xmpp;

pub use engine::{ConnectionError, Engine, InitializeError, InitializeOptions, SessionError};
pub use events::{SdkError, SdkErrorKind, SdkEvent};
pub use options::{SdkOptions, SdkOptionsBuilder, SessionType};
pub use redact::Secret;
pub use sdk::{EventStream, Platform, Sdk, SdkDriver};

#[cfg(feature = "_fuzz")]
#[doc(hidden)]
pub mod fuzz;
