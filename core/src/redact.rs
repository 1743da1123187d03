//! What may be logged. Owns the [`Secret`] wrapper for tokens, keys, JWTs, security codes and
//! TURN passwords, and helpers that strip secrets out of URLs before they reach a log line.
//!
//! Rule: a secret is only ever formatted through [`Secret::expose`], at the one place that puts it
//! on the wire. `Debug` and `Display` print `{redacted}`.

use std::fmt;

/// A string that must never reach a log, a trace event or an error message.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for putting it on the wire. Never pass the result to a logger.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{redacted}")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{redacted}")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

/// Replaces the JWT in a `/stream/jwt/{jwt}` path (the guest WebSocket URL) with `{redacted}`.
pub fn redact_stream_path(path: &str) -> String {
    match path.find("/stream/jwt/") {
        Some(i) => format!("{}/stream/jwt/{{redacted}}", &path[..i]),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_format() {
        let s = Secret::new("tok-123");
        assert_eq!(format!("{s} {s:?}"), "{redacted} {redacted}");
        assert_eq!(s.expose(), "tok-123");
    }

    #[test]
    fn stream_paths_lose_their_jwt() {
        assert_eq!(
            redact_stream_path("/stream/jwt/eyJ.abc.def"),
            "/stream/jwt/{redacted}"
        );
        assert_eq!(
            redact_stream_path("/x/stream/channels/abc"),
            "/x/stream/channels/abc"
        );
    }
}
