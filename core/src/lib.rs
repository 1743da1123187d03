//! Genesys Cloud WebRTC for devices: a sans-IO engine and a runtime-agnostic async SDK.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod engine;
pub mod events;
pub mod jwt;
pub mod notifications;
pub mod options;
pub mod redact;
pub mod rest;
pub mod sdk;
pub mod wire;
pub mod xmpp;

pub use engine::{ConnectionError, Engine, InitializeError, InitializeOptions};
pub use events::{SdkError, SdkErrorKind, SdkEvent};
pub use options::{SdkOptions, SdkOptionsBuilder, SessionType};
pub use redact::Secret;
pub use sdk::{EventStream, Platform, Sdk, SdkDriver};

#[cfg(feature = "_fuzz")]
#[doc(hidden)]
pub mod fuzz;
