//! Media building blocks: codecs (Opus, G.711), the adaptive jitter buffer with loss
//! concealment, RFC 4733 DTMF, acoustic echo cancellation, tone generation and detection, resampling, and the str0m-based
//! per-session RTC wrapper. Each stage is a plain struct with `push`/`pull`-style methods,
//! testable alone.

pub mod dtmf;
#[cfg(feature = "aec")]
pub mod echo;
pub mod g711;
pub mod goertzel;
pub mod jitter;
#[cfg(feature = "opus")]
pub mod opus;
pub mod resample;
pub mod rtc;
pub mod tone;
