//! SDK construction options (the JS SDK's constructor options) and their validation.
//!
//! Owns [`SdkOptions`], its builder, the typed [`OptionsError`], and the derivation of the REST
//! and streaming hosts from the environment (PROTOCOL.md §1). Does not open connections.

use std::time::Duration;

use crate::redact::Secret;

/// Environments the JS SDK knows (PROTOCOL.md §1.1). Others are accepted with a warning.
pub const KNOWN_ENVIRONMENTS: &[&str] = &[
    "mypurecloud.com",
    "mypurecloud.com.au",
    "mypurecloud.jp",
    "mypurecloud.de",
    "mypurecloud.ie",
    "usw2.pure.cloud",
    "cac1.pure.cloud",
    "euw2.pure.cloud",
    "apne2.pure.cloud",
    "use2.us-gov-pure.cloud",
    "sae1.pure.cloud",
    "aps1.pure.cloud",
];

/// Kinds of session the SDK handles (JS `SessionTypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionType {
    /// Phone calls (JS `softphone`).
    Softphone,
    /// Video conferences (JS `collaborateVideo`).
    CollaborateVideo,
    /// Guest ACD screen share (JS `screenShare`).
    ScreenShare,
    /// Screen recording (JS `screenRecording`).
    ScreenRecording,
}

impl SessionType {
    /// The JS string for this type.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionType::Softphone => "softphone",
            SessionType::CollaborateVideo => "collaborateVideo",
            SessionType::ScreenShare => "screenShare",
            SessionType::ScreenRecording => "screenRecording",
        }
    }
}

/// Log level for the SDK's `trace` events (JS `logLevel`). `tracing` output is filtered by the
/// application's subscriber as usual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Informational and above (the JS default).
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
}

/// A STUN or TURN server (the JS `RTCIceServer`).
#[derive(Clone, PartialEq, Eq)]
pub struct IceServer {
    /// URL such as `turn:turn1.example.net:3478?transport=tcp` or `stun:stun.example.net:3478`.
    pub url: String,
    /// TURN user name.
    pub username: Option<String>,
    /// TURN password; never logged.
    pub credential: Option<Secret>,
}

impl std::fmt::Debug for IceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceServer")
            .field("url", &self.url)
            .field("username", &self.username.as_ref().map(|_| "{redacted}"))
            .field("credential", &self.credential)
            .finish()
    }
}

/// JS `eagerPersistentConnectionEstablishment` (PROTOCOL.md §9.3): what the SDK does with a
/// softphone propose carrying `inin-priv-answer-mode="Auto"`, which the service sends to set up
/// a persistent connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EagerPersistentConnection {
    /// Proceed silently; the application hears of no pending session (JS `auto`).
    #[default]
    Auto,
    /// Emit a pending session and let the application decide (JS `event`).
    Event,
    /// Ignore the propose completely: no event, no reply (JS `none`).
    None,
}

/// Default devices (JS `defaults.audioDeviceId`, `videoDeviceId`, `outputDeviceId`). `None` means
/// the system default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaDefaults {
    /// Default microphone id.
    pub audio_device_id: Option<String>,
    /// Default camera id.
    pub video_device_id: Option<String>,
    /// Default speaker id (JS `defaultOutputDeviceId`, standing in for `defaultAudioElement`).
    pub output_device_id: Option<String>,
}

/// The audio band the SDK captures, processes and sends: what a call costs in CPU against its
/// fidelity. It caps the Opus encoder (RFC 6716 bandwidths) and sets the rate the echo canceller
/// works at. G.711 calls are narrowband whatever this says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AudioBandwidth {
    /// Up to 4 kHz: the telephone band.
    Narrowband,
    /// Up to 8 kHz: "HD voice", the band of G.722 desk phones. The default: the echo canceller
    /// then runs at 16 kHz without band splitting, and Opus codes speech in SILK mode.
    #[default]
    Wideband,
    /// Up to 12 kHz (the echo canceller works at 32 kHz in two bands).
    SuperWideband,
    /// Up to 20 kHz (the echo canceller works at 32 kHz in two bands, so the capture keeps up to
    /// 16 kHz when it is on).
    Fullband,
}

/// Codec and audio-processing settings. The defaults are chosen for embedded devices (a desk
/// phone's ARM core): wideband voice and Opus complexity 3. Against fullband at complexity 5
/// (what calls used before), `bench_audio` measured here: Opus encode 0.65x the CPU, decoding
/// such packets 0.69x, the echo canceller 0.80x (1.19 % of a core for all three, from 1.62 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudioOptions {
    /// Opus encoder complexity, 0–10 (libopus' own default is 10). Default 3: about 18 % less
    /// encoder CPU than 5 at the same bitrate, with speech still clearly intelligible; raise it
    /// on hardware with headroom.
    pub opus_complexity: u8,
    /// The audio band captured and sent (default [`AudioBandwidth::Wideband`]).
    pub bandwidth: AudioBandwidth,
}

impl Default for AudioOptions {
    fn default() -> Self {
        Self {
            opus_complexity: 3,
            bandwidth: AudioBandwidth::Wideband,
        }
    }
}

/// A parsed `scheme://host[:port][/path]` override for the REST or streaming host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUrl {
    /// `true` for `https`/`wss` (TLS, always verified), `false` for `http`/`ws`.
    pub tls: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path prefix without the trailing slash (often empty).
    pub path: String,
}

impl HostUrl {
    /// Parses a host override. `allowed` lists the accepted schemes.
    pub fn parse(input: &str, allowed: &[&str]) -> Result<HostUrl, String> {
        let (scheme, rest) = input
            .split_once("://")
            .ok_or_else(|| "missing scheme (expected e.g. https://host)".to_string())?;
        let scheme = scheme.to_ascii_lowercase();
        if !allowed.contains(&scheme.as_str()) {
            return Err(format!("scheme {scheme:?} not one of {allowed:?}"));
        }
        let tls = matches!(scheme.as_str(), "https" | "wss");
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') || path.contains(['?', '#']) {
            return Err("user info, query and fragment are not allowed".into());
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| "unterminated IPv6 literal".to_string())?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err("bad IPv6 literal".into());
            }
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(p)?,
                None if after.is_empty() => default_port,
                None => return Err("junk after IPv6 literal".into()),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), parse_port(p)?),
                None => (authority.to_string(), default_port),
            }
        };
        if !host.contains(':') && !is_host_name(&host) {
            return Err("host is not a valid host name or IP address".into());
        }
        Ok(HostUrl {
            tls,
            host,
            port,
            path: path.to_string(),
        })
    }

    /// `host` or `host:port` as it goes into a `Host` header (IPv6 bracketed).
    pub fn authority(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("bad port {p:?}")),
        Ok(n) => Ok(n),
    }
}

/// Whether `s` is a syntactically valid DNS host name (or IPv4 literal).
pub(crate) fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Who the SDK connects as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// An authenticated user (JS `accessToken`).
    AccessToken(Secret),
    /// A guest of an organization (JS `organizationId`); `initialize` then needs a security code.
    Guest {
        /// The organization id.
        organization_id: String,
    },
}

/// Why options were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// No environment was given. Pass e.g. `mypurecloud.com`.
    #[error("missing environment (e.g. \"mypurecloud.com\")")]
    MissingEnvironment,
    /// The environment is not a host name.
    #[error("environment {0:?} is not a valid domain name")]
    InvalidEnvironment(String),
    /// Neither an access token nor an organization id was given.
    #[error("either an access token (users) or an organization id (guests) is required")]
    MissingCredentials,
    /// Both an access token and an organization id were given.
    #[error("give an access token or an organization id, not both")]
    ConflictingCredentials,
    /// A host override could not be parsed.
    #[error("malformed {option} {value:?}: {reason}")]
    MalformedHost {
        /// Which option (`api_host` or `ws_host`).
        option: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An option value is out of range or empty.
    #[error("invalid {option}: {reason}")]
    InvalidValue {
        /// Which option.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Validated SDK options. Build with [`SdkOptions::builder`].
#[derive(Debug, Clone)]
pub struct SdkOptions {
    /// Genesys Cloud environment domain, e.g. `mypurecloud.com` (JS `environment`).
    pub environment: String,
    /// User or guest.
    pub credentials: Credentials,
    /// Keep active media sessions across a WebSocket drop and reconnect (JS
    /// `sessionSurvivability`; default `true`, as the current streaming client always survives).
    pub session_survivability: bool,
    /// Cancel acoustic echo in the SDK's audio loops (the JS `echoCancellation` constraint;
    /// default `true`). Needs the `aec` feature; without it this has no effect.
    pub echo_cancellation: bool,
    /// Answer calls the user placed without asking (JS `autoAnswerOutboundCalls`; default `true`).
    pub auto_answer_outbound_calls: bool,
    /// Connect media as soon as a session starts (JS `autoConnectSessions`; default `true`).
    pub auto_connect_sessions: bool,
    /// What to do with `inin-priv-answer-mode="Auto"` softphone proposes, which set up a
    /// persistent connection (JS `eagerPersistentConnectionEstablishment`; default `Auto`).
    pub eager_persistent_connection: EagerPersistentConnection,
    /// Extra ICE servers used in addition to the discovered ones (JS `iceServers`).
    pub ice_servers: Vec<IceServer>,
    /// Default devices (JS `defaults`).
    pub defaults: MediaDefaults,
    /// Level of `trace` events (JS `logLevel`; default info).
    pub log_level: LogLevel,
    /// Streaming host override (JS `wsHost`), `wss://host[:port]`.
    pub ws_host: Option<HostUrl>,
    /// REST host override, `https://host[:port]`; a device-side addition.
    pub api_host: Option<HostUrl>,
    /// Extra trusted root CAs (PEM) for private deployments and test clouds. Read by the backend
    /// that builds the TLS connector. Verification is never disabled.
    pub extra_root_certificates_pem: Vec<Vec<u8>>,
    /// Session types this client handles (JS `allowedSessionTypes`; default all three).
    pub allowed_session_types: Vec<SessionType>,
    /// XMPP resource to bind (JS `jidResource`); default a random UUID kept for the SDK's life.
    pub jid_resource: Option<String>,
    /// Headers added to every REST request (JS `customHeaders`).
    pub custom_headers: Vec<(String, String)>,
    /// Longest reconnect back-off delay (default 90 s).
    pub reconnect_max_delay: Duration,
    /// Local addresses each call binds its media sockets on (one socket per address per call;
    /// host candidates). Empty: every usable interface address the platform lists when the
    /// driver starts.
    pub media_bind_addresses: Vec<std::net::IpAddr>,
    /// Codec and audio-processing settings (CPU against fidelity).
    pub audio: AudioOptions,
}

impl SdkOptions {
    /// Starts building options.
    pub fn builder() -> SdkOptionsBuilder {
        SdkOptionsBuilder::default()
    }

    /// Whether this SDK connects as a guest.
    pub fn is_guest(&self) -> bool {
        matches!(self.credentials, Credentials::Guest { .. })
    }

    /// The REST base: `(host, path prefix)` where requests go to `{prefix}/api/v2/{path}`.
    pub fn api_base(&self) -> HostUrl {
        self.api_host.clone().unwrap_or_else(|| HostUrl {
            tls: true,
            host: format!("api.{}", self.environment),
            port: 443,
            path: String::new(),
        })
    }

    /// The streaming base: requests go to `{prefix}/stream/...`.
    pub fn ws_base(&self) -> HostUrl {
        self.ws_host.clone().unwrap_or_else(|| HostUrl {
            tls: true,
            host: format!("streaming.{}", self.environment),
            port: 443,
            path: String::new(),
        })
    }

    /// The pubsub component, `notifications.{environment}` (PROTOCOL.md §1.2).
    pub fn notifications_host(&self) -> String {
        format!("notifications.{}", self.environment)
    }
}

/// Builder for [`SdkOptions`]; [`SdkOptionsBuilder::build`] validates.
#[derive(Debug, Default, Clone)]
pub struct SdkOptionsBuilder {
    environment: Option<String>,
    access_token: Option<Secret>,
    organization_id: Option<String>,
    session_survivability: Option<bool>,
    echo_cancellation: Option<bool>,
    auto_answer_outbound_calls: Option<bool>,
    auto_connect_sessions: Option<bool>,
    eager_persistent_connection: Option<EagerPersistentConnection>,
    ice_servers: Vec<IceServer>,
    defaults: MediaDefaults,
    log_level: Option<LogLevel>,
    ws_host: Option<String>,
    api_host: Option<String>,
    extra_root_certificates_pem: Vec<Vec<u8>>,
    allowed_session_types: Option<Vec<SessionType>>,
    jid_resource: Option<String>,
    custom_headers: Vec<(String, String)>,
    reconnect_max_delay: Option<Duration>,
    media_bind_addresses: Vec<std::net::IpAddr>,
    audio: AudioOptions,
}

impl SdkOptionsBuilder {
    /// JS `environment`.
    pub fn environment(mut self, env: impl Into<String>) -> Self {
        self.environment = Some(env.into());
        self
    }
    /// JS `accessToken`: connect as an authenticated user.
    pub fn access_token(mut self, token: impl Into<Secret>) -> Self {
        self.access_token = Some(token.into());
        self
    }
    /// JS `organizationId`: connect as a guest.
    pub fn organization_id(mut self, id: impl Into<String>) -> Self {
        self.organization_id = Some(id.into());
        self
    }
    /// JS `sessionSurvivability`.
    pub fn session_survivability(mut self, on: bool) -> Self {
        self.session_survivability = Some(on);
        self
    }
    /// Acoustic echo cancellation in the audio loops (default on).
    pub fn echo_cancellation(mut self, on: bool) -> Self {
        self.echo_cancellation = Some(on);
        self
    }
    /// JS `autoAnswerOutboundCalls`.
    pub fn auto_answer_outbound_calls(mut self, on: bool) -> Self {
        self.auto_answer_outbound_calls = Some(on);
        self
    }
    /// JS `autoConnectSessions`.
    pub fn auto_connect_sessions(mut self, on: bool) -> Self {
        self.auto_connect_sessions = Some(on);
        self
    }
    /// JS `eagerPersistentConnectionEstablishment`.
    pub fn eager_persistent_connection(mut self, mode: EagerPersistentConnection) -> Self {
        self.eager_persistent_connection = Some(mode);
        self
    }
    /// JS `iceServers` (adds one).
    pub fn ice_server(mut self, server: IceServer) -> Self {
        self.ice_servers.push(server);
        self
    }
    /// JS `defaults.audioDeviceId`.
    pub fn default_audio_device_id(mut self, id: impl Into<String>) -> Self {
        self.defaults.audio_device_id = Some(id.into());
        self
    }
    /// JS `defaults.videoDeviceId`.
    pub fn default_video_device_id(mut self, id: impl Into<String>) -> Self {
        self.defaults.video_device_id = Some(id.into());
        self
    }
    /// JS `defaults.outputDeviceId`.
    pub fn default_output_device_id(mut self, id: impl Into<String>) -> Self {
        self.defaults.output_device_id = Some(id.into());
        self
    }
    /// JS `logLevel`.
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = Some(level);
        self
    }
    /// JS `wsHost`: `wss://host[:port]`.
    pub fn ws_host(mut self, url: impl Into<String>) -> Self {
        self.ws_host = Some(url.into());
        self
    }
    /// REST host override: `https://host[:port]`.
    pub fn api_host(mut self, url: impl Into<String>) -> Self {
        self.api_host = Some(url.into());
        self
    }
    /// Adds trusted root CAs from PEM text.
    pub fn extra_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_root_certificates_pem.push(pem.into());
        self
    }
    /// JS `allowedSessionTypes`.
    pub fn allowed_session_types(mut self, types: impl IntoIterator<Item = SessionType>) -> Self {
        self.allowed_session_types = Some(types.into_iter().collect());
        self
    }
    /// JS `jidResource`.
    pub fn jid_resource(mut self, resource: impl Into<String>) -> Self {
        self.jid_resource = Some(resource.into());
        self
    }
    /// JS `customHeaders` (adds one).
    pub fn custom_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.custom_headers.push((name.into(), value.into()));
        self
    }
    /// Longest reconnect back-off delay (default 90 s).
    pub fn reconnect_max_delay(mut self, delay: Duration) -> Self {
        self.reconnect_max_delay = Some(delay);
        self
    }

    /// Binds each call's media sockets on this local address only (repeat for several).
    /// Default: every usable interface address.
    pub fn media_bind_address(mut self, ip: std::net::IpAddr) -> Self {
        self.media_bind_addresses.push(ip);
        self
    }

    /// Opus encoder complexity 0–10 ([`AudioOptions::opus_complexity`]; default 3).
    pub fn opus_complexity(mut self, complexity: u8) -> Self {
        self.audio.opus_complexity = complexity;
        self
    }

    /// The audio band captured and sent ([`AudioOptions::bandwidth`]; default wideband).
    pub fn audio_bandwidth(mut self, bandwidth: AudioBandwidth) -> Self {
        self.audio.bandwidth = bandwidth;
        self
    }

    /// Validates and returns the options.
    pub fn build(self) -> Result<SdkOptions, OptionsError> {
        let environment = self
            .environment
            .map(|e| e.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .ok_or(OptionsError::MissingEnvironment)?;
        if !is_host_name(&environment) {
            return Err(OptionsError::InvalidEnvironment(environment));
        }
        let credentials = match (self.access_token, self.organization_id) {
            (Some(_), Some(_)) => return Err(OptionsError::ConflictingCredentials),
            (None, None) => return Err(OptionsError::MissingCredentials),
            (Some(token), None) => {
                if token.is_empty() {
                    return Err(OptionsError::InvalidValue {
                        option: "access_token",
                        reason: "empty".into(),
                    });
                }
                Credentials::AccessToken(token)
            }
            (None, Some(org)) => {
                let org = org.trim().to_string();
                if org.is_empty() {
                    return Err(OptionsError::InvalidValue {
                        option: "organization_id",
                        reason: "empty".into(),
                    });
                }
                Credentials::Guest {
                    organization_id: org,
                }
            }
        };
        let ws_host = self
            .ws_host
            .map(|v| {
                HostUrl::parse(&v, &["wss", "ws"]).map_err(|reason| OptionsError::MalformedHost {
                    option: "ws_host",
                    value: v.clone(),
                    reason,
                })
            })
            .transpose()?;
        let api_host = self
            .api_host
            .map(|v| {
                HostUrl::parse(&v, &["https", "http"]).map_err(|reason| {
                    OptionsError::MalformedHost {
                        option: "api_host",
                        value: v.clone(),
                        reason,
                    }
                })
            })
            .transpose()?;
        if let Some(r) = &self.jid_resource {
            if r.is_empty() || r.len() > 256 || r.contains(['/', '@', '<', '>', '&']) {
                return Err(OptionsError::InvalidValue {
                    option: "jid_resource",
                    reason: "must be 1-256 characters without / @ < > &".into(),
                });
            }
        }
        for (name, value) in &self.custom_headers {
            let bad_name =
                name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
            if bad_name || value.contains(['\r', '\n']) {
                return Err(OptionsError::InvalidValue {
                    option: "custom_headers",
                    reason: format!("header {name:?} is not a valid HTTP header"),
                });
            }
        }
        let reconnect_max_delay = self.reconnect_max_delay.unwrap_or(Duration::from_secs(90));
        if reconnect_max_delay < Duration::from_secs(2) {
            return Err(OptionsError::InvalidValue {
                option: "reconnect_max_delay",
                reason: "must be at least 2 s (the starting delay)".into(),
            });
        }
        if self.audio.opus_complexity > 10 {
            return Err(OptionsError::InvalidValue {
                option: "opus_complexity",
                reason: format!("{} is not in 0..=10", self.audio.opus_complexity),
            });
        }
        let allowed_session_types = self.allowed_session_types.unwrap_or_else(|| {
            vec![
                SessionType::Softphone,
                SessionType::CollaborateVideo,
                SessionType::ScreenShare,
            ]
        });
        Ok(SdkOptions {
            environment,
            credentials,
            session_survivability: self.session_survivability.unwrap_or(true),
            echo_cancellation: self.echo_cancellation.unwrap_or(true),
            auto_answer_outbound_calls: self.auto_answer_outbound_calls.unwrap_or(true),
            auto_connect_sessions: self.auto_connect_sessions.unwrap_or(true),
            eager_persistent_connection: self.eager_persistent_connection.unwrap_or_default(),
            ice_servers: self.ice_servers,
            defaults: self.defaults,
            log_level: self.log_level.unwrap_or(LogLevel::Info),
            ws_host,
            api_host,
            extra_root_certificates_pem: self.extra_root_certificates_pem,
            allowed_session_types,
            jid_resource: self.jid_resource,
            custom_headers: self.custom_headers,
            reconnect_max_delay,
            media_bind_addresses: self.media_bind_addresses,
            audio: self.audio,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> SdkOptionsBuilder {
        SdkOptions::builder()
            .environment("mypurecloud.com")
            .access_token("t0k")
    }

    #[test]
    fn valid_user_and_guest_options() {
        let o = user().build().unwrap();
        assert!(!o.is_guest());
        assert_eq!(o.api_base().host, "api.mypurecloud.com");
        assert_eq!(o.ws_base().host, "streaming.mypurecloud.com");
        assert_eq!(o.notifications_host(), "notifications.mypurecloud.com");
        let g = SdkOptions::builder()
            .environment("custom.example")
            .organization_id("org-1")
            .build()
            .unwrap();
        assert!(g.is_guest());
    }

    #[test]
    fn audio_options_default_to_embedded_settings_and_are_validated() {
        let o = user().build().unwrap();
        assert_eq!(o.audio.opus_complexity, 3);
        assert_eq!(o.audio.bandwidth, AudioBandwidth::Wideband);
        let o = user()
            .opus_complexity(10)
            .audio_bandwidth(AudioBandwidth::Fullband)
            .build()
            .unwrap();
        assert_eq!(o.audio.opus_complexity, 10);
        assert_eq!(o.audio.bandwidth, AudioBandwidth::Fullband);
        assert!(matches!(
            user().opus_complexity(11).build().unwrap_err(),
            OptionsError::InvalidValue {
                option: "opus_complexity",
                ..
            }
        ));
    }

    #[test]
    fn bad_options_are_typed_errors() {
        assert_eq!(
            SdkOptions::builder().access_token("t").build().unwrap_err(),
            OptionsError::MissingEnvironment
        );
        assert_eq!(
            SdkOptions::builder()
                .environment("e.com")
                .build()
                .unwrap_err(),
            OptionsError::MissingCredentials
        );
        assert_eq!(
            user().organization_id("o").build().unwrap_err(),
            OptionsError::ConflictingCredentials
        );
        assert!(matches!(
            user().environment("bad env!").build().unwrap_err(),
            OptionsError::InvalidEnvironment(_)
        ));
        for bad in [
            "streaming.example.com",
            "ftp://x",
            "wss://",
            "wss://a:0",
            "wss://a:99999",
            "wss://[::1",
            "wss://u@h",
            "wss://h/p?q",
        ] {
            assert!(
                matches!(
                    user().ws_host(bad).build().unwrap_err(),
                    OptionsError::MalformedHost {
                        option: "ws_host",
                        ..
                    }
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            user().api_host("wss://x").build().unwrap_err(),
            OptionsError::MalformedHost {
                option: "api_host",
                ..
            }
        ));
        assert!(matches!(
            user().custom_header("X", "a\r\nb").build().unwrap_err(),
            OptionsError::InvalidValue { .. }
        ));
    }

    #[test]
    fn host_overrides_parse() {
        let o = user()
            .api_host("https://127.0.0.1:8443/")
            .ws_host("wss://[::1]:9443/base/")
            .build()
            .unwrap();
        let api = o.api_base();
        assert_eq!(
            (api.tls, api.host.as_str(), api.port, api.path.as_str()),
            (true, "127.0.0.1", 8443, "")
        );
        let ws = o.ws_base();
        assert_eq!(
            (ws.host.as_str(), ws.port, ws.path.as_str()),
            ("::1", 9443, "/base")
        );
        assert_eq!(ws.authority(), "[::1]:9443");
    }

    #[test]
    fn debug_output_hides_the_token() {
        let o = user().access_token("SECRET-TOKEN-1").build().unwrap();
        assert!(!format!("{o:?}").contains("SECRET-TOKEN-1"));
    }
}
