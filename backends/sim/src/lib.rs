//! Deterministic simulation for the Genesys Cloud WebRTC SDK.
//!
//! * [`cloud`]: a sans-IO fake Genesys Cloud (REST + streaming XMPP server side) that behaves as
//!   `PROTOCOL.md` describes, including its failure modes.
//! * [`network`]: the SDK engine and a fake cloud joined by an in-memory network in virtual time,
//!   driven from a seed (deterministic whole-SDK tests).
//! * [`audio`]: tone, silence and WAV capture/playout behind the HAL audio traits, so calls run
//!   without a sound card.
//! * [`test_ca`]: a throw-away certificate authority and server certificate for localhost TLS.
//! * [`tls_server`]: serves a [`cloud::FakeCloud`] over real HTTPS + WSS sockets on 127.0.0.1
//!   (used by the `fake-cloud` binary, the examples and the end-to-end tests).
//! * [`turn`]: a TURN server (sans-IO, and on real loopback sockets in a thread) for the TURN
//!   entry of the fake cloud's extdisco answer.
//! * [`seeded`]: seeded randomness for str0m and its DTLS, so one seed replays media exactly.
//! * [`redaction`]: the secret-redaction check (log capture + the tenant's secrets) that the
//!   simulation and end-to-end tests run over their logs.
//!
//! Everything but [`audio`] needs the default `cloud` feature.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod audio;
#[cfg(feature = "cloud")]
pub mod cloud;
#[cfg(feature = "cloud")]
pub mod network;
#[cfg(feature = "cloud")]
pub mod platform;
#[cfg(feature = "cloud")]
pub mod redaction;
#[cfg(feature = "cloud")]
pub mod seeded;
#[cfg(feature = "cloud")]
pub mod test_ca;
#[cfg(feature = "cloud")]
pub mod tls_server;
#[cfg(feature = "cloud")]
pub mod turn;
