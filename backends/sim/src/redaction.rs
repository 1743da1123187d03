//! The secret-redaction check shared by tests: capture everything `tracing` logs while a test
//! runs, list the secrets of a fake cloud's tenant, and search the capture (and any other text,
//! such as the Debug form of every event) for them.
//!
//! Owns only the capture and the search. Which secrets exist is the fake cloud's
//! [`CloudConfig`]; what the SDK must never log is DESIGN.md's rule ("access tokens, auth keys,
//! TURN passwords, JWTs and security codes never reach a log or an error message").
//!
//! ```no_run
//! use genesys_webrtc_sim::cloud::CloudConfig;
//! use genesys_webrtc_sim::redaction::{LogCapture, TenantSecrets};
//! let capture = LogCapture::new();
//! let _guard = capture.set_default();
//! // ... run the SDK ...
//! let secrets = TenantSecrets::of(&CloudConfig::default());
//! assert_eq!(secrets.find_in(&capture.text()), None);
//! ```

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;

use crate::cloud::CloudConfig;

/// Shorter secrets are not searched for (see [`TenantSecrets::add`]).
pub const MIN_SECRET_LEN: usize = 8;

/// Everything logged through `tracing` (at TRACE, all targets) while installed, as text.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

/// The writer [`LogCapture`] hands to the subscriber.
struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// An empty capture.
    pub fn new() -> Self {
        LogCapture::default()
    }

    /// A TRACE-level subscriber (no colours) that writes into this capture.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        let sink = self.0.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || CaptureWriter(sink.clone()))
            .finish()
    }

    /// Installs [`LogCapture::subscriber`] as this thread's default until the guard is dropped.
    pub fn set_default(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(self.subscriber())
    }

    /// The text captured so far (lossy UTF-8).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Bytes captured so far.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets what was captured (long runs check and clear as they go).
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Secrets to search for, each with a name for the failure message.
#[derive(Clone, Default)]
pub struct TenantSecrets(Vec<(&'static str, String)>);

impl std::fmt::Debug for TenantSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The names only: printing the secrets would defeat the point.
        f.debug_list()
            .entries(self.0.iter().map(|(what, _)| what))
            .finish()
    }
}

impl TenantSecrets {
    /// The secrets of `config`'s tenant: the access token, its `authKey:` form and the SASL
    /// PLAIN payload built from it, the guest security code and every TURN password.
    pub fn of(config: &CloudConfig) -> Self {
        let mut s = TenantSecrets::default();
        s.add_token(&config.jabber_id, &config.access_token);
        s.add("security code", &config.security_code);
        for t in &config.turn_servers {
            if let Some(p) = &t.password {
                s.add("TURN password", p);
            }
        }
        s
    }

    /// Adds an access token (e.g. one set later with `set_access_token`) in its three forms.
    pub fn add_token(&mut self, jabber_id: &str, token: &str) {
        let plain = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{jabber_id}\0authKey:{token}"));
        self.add("access token", token);
        self.add("authKey", &format!("authKey:{token}"));
        self.add("SASL PLAIN payload", &plain);
    }

    /// Adds a guest JWT, whole and its payload and signature segments on their own.
    pub fn add_jwt(&mut self, jwt: &str) {
        self.add("guest JWT", jwt);
        for part in jwt.split('.').skip(1) {
            self.add("JWT segment", part);
        }
    }

    /// Adds any other secret. Strings under [`MIN_SECRET_LEN`] bytes are skipped: they match by
    /// accident (the fake cloud's default guest code `123456` turns up in SDP and RTP numbers),
    /// so tests that check a guest code give a longer one.
    pub fn add(&mut self, what: &'static str, secret: &str) {
        if secret.len() >= MIN_SECRET_LEN && !self.0.iter().any(|(_, s)| s == secret) {
            self.0.push((what, secret.to_owned()));
        }
    }

    /// How many secrets are listed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none are listed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name of the first secret found in `text`, if any.
    pub fn find_in(&self, text: &str) -> Option<&'static str> {
        self.0
            .iter()
            .find(|(_, s)| text.contains(s.as_str()))
            .map(|(what, _)| *what)
    }

    /// Panics (naming the secret, never printing it) if one is found in `text`; `place` says
    /// where the text came from.
    pub fn assert_absent(&self, place: &str, text: &str) {
        if let Some(what) = self.find_in(text) {
            panic!("{what} found in {place}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_form_of_the_token_and_names_it_without_printing_it() {
        let config = CloudConfig::default();
        let secrets = TenantSecrets::of(&config);
        let plain = base64::engine::general_purpose::STANDARD.encode(format!(
            "\0{}\0authKey:{}",
            config.jabber_id, config.access_token
        ));
        assert_eq!(secrets.find_in("nothing here"), None);
        assert_eq!(
            secrets.find_in(&format!("x {} y", config.access_token)),
            Some("access token")
        );
        assert_eq!(
            secrets.find_in(&format!("<auth>{plain}</auth>")),
            Some("SASL PLAIN payload")
        );
        assert_eq!(
            secrets.find_in(config.turn_servers[0].password.as_deref().unwrap_or("")),
            Some("TURN password")
        );
        // the default 6-digit guest code is too short to search for
        assert_eq!(secrets.find_in("rtp ts 123456"), None);
        assert!(!format!("{secrets:?}").contains(&config.access_token));
        let capture = LogCapture::new();
        {
            let _g = capture.set_default();
            tracing::trace!("a line at trace");
        }
        assert!(capture.text().contains("a line at trace"));
    }
}
