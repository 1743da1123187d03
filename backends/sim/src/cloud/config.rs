//! What the fake cloud knows about its tenant: environment, user, organization, station, guest
//! conversation, ICE servers, and the [`Faults`] that make it misbehave on purpose.
//!
//! Owns only data. Every value has a deterministic default (see [`CloudConfig::for_environment`])
//! so tests can hard-code them. Faults may be changed at runtime through
//! `FakeCloud::config_mut`; they are read on every request.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use genesys_webrtc::wire::http::Method;

use super::calls::Negotiation;
use super::media_peer::PreferredCodec;

/// Default XMPP domain (the domain part of every user's bare JID).
pub const DEFAULT_XMPP_DOMAIN: &str = "example.orgspan.com";
/// Default bearer token accepted by REST and (as `authKey:` + token) by SASL PLAIN.
pub const DEFAULT_ACCESS_TOKEN: &str = "sim-at-3f9d2c7a41e84b0c9a6d5e1f7b2c8d40";
/// Default organization id.
pub const DEFAULT_ORGANIZATION_ID: &str = "0f0e0d0c-1b2a-4c3d-8e5f-6a7b8c9d0e1f";
/// Default organization name.
pub const DEFAULT_ORGANIZATION_NAME: &str = "Sim Org";
/// Default user id.
pub const DEFAULT_USER_ID: &str = "6a1d2c3b-4e5f-4a6b-9c7d-8e9f0a1b2cb2";
/// Default user name.
pub const DEFAULT_USER_NAME: &str = "Alice Example";
/// Default local part of the user's JID.
pub const DEFAULT_JID_LOCAL: &str = "alice";
/// Default effective station id.
pub const DEFAULT_STATION_ID: &str = "7c3f9e1a-2b4d-4e6f-8a0c-1d3e5f7a9b2c";
/// Default guest security code (`addCommunicationCode`).
pub const DEFAULT_SECURITY_CODE: &str = "123456";
/// Default guest conversation id.
pub const DEFAULT_GUEST_CONVERSATION_ID: &str = "c0a8e1f2-3b4c-4d5e-8f6a-7b8c9d0e1f2a";
/// Default guest source communication id.
pub const DEFAULT_GUEST_SOURCE_COMMUNICATION_ID: &str = "5e1f7a2b-9c3d-4e8f-a1b2-c3d4e5f6a7b8";
/// Default TURN username (XEP-0215 `username`).
pub const DEFAULT_TURN_USERNAME: &str = "1700000000:alice";
/// Default TURN password (XEP-0215 `password`).
pub const DEFAULT_TURN_PASSWORD: &str = "c2ltLXR1cm4tc2VjcmV0";
/// Default interval of server-side pings, sent only to sessions subscribed to
/// [`SERVER_SIDE_PINGS_TOPIC`].
pub const DEFAULT_SERVER_PING_INTERVAL: Duration = Duration::from_secs(20);
/// Default media server address (its host candidate); the driver normally binds a socket and
/// calls `FakeCloud::set_media_addr`.
pub const DEFAULT_MEDIA_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
/// Default tone of the media server, Hz.
pub const DEFAULT_TONE_HZ: f32 = 1000.0;
/// The pubsub node a client subscribes to in order to get server-side pings (PROTOCOL.md 3.6).
pub const SERVER_SIDE_PINGS_TOPIC: &str = "enable.server.side.pings";

/// One STUN or TURN server announced through XEP-0215 (PROTOCOL.md section 5).
#[derive(Clone, PartialEq, Eq)]
pub struct IceServerConfig {
    /// Host name or IP literal (IPv6 unbracketed).
    pub host: String,
    /// Port; `None` leaves the `port` attribute out.
    pub port: Option<u16>,
    /// `udp` or `tcp`; `None` leaves the `transport` attribute out.
    pub transport: Option<String>,
    /// TURN username (never sent for STUN entries).
    pub username: Option<String>,
    /// TURN password (never sent for STUN entries).
    pub password: Option<String>,
}

impl IceServerConfig {
    /// A TURN server with credentials.
    pub fn turn(host: &str, port: u16, transport: &str, username: &str, password: &str) -> Self {
        IceServerConfig {
            host: host.to_owned(),
            port: Some(port),
            transport: Some(transport.to_owned()),
            username: Some(username.to_owned()),
            password: Some(password.to_owned()),
        }
    }

    /// A STUN server (UDP, no credentials).
    pub fn stun(host: &str, port: u16) -> Self {
        IceServerConfig {
            host: host.to_owned(),
            port: Some(port),
            transport: Some("udp".to_owned()),
            username: None,
            password: None,
        }
    }
}

impl fmt::Debug for IceServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceServerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("transport", &self.transport)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "{REDACTED}"))
            .finish()
    }
}

/// A scripted HTTP failure: requests whose path starts with `path_prefix` (and whose method
/// matches, if given) are answered with `status` before any other processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestFault {
    /// Prefix of the request path (target without query), e.g. `/api/v2/users/me` or
    /// `/stream/`.
    pub path_prefix: String,
    /// Only this method; `None` = any.
    pub method: Option<Method>,
    /// The status to answer with (e.g. 503, 429, 401).
    pub status: u16,
    /// Adds `Retry-After: <secs>` to the response.
    pub retry_after_secs: Option<u32>,
    /// How many more requests this fault applies to; `None` = forever. Decremented on each use;
    /// at `Some(0)` the fault no longer applies.
    pub remaining: Option<u32>,
}

impl RestFault {
    /// A fault for every method on `path_prefix`, forever.
    pub fn new(path_prefix: &str, status: u16) -> Self {
        RestFault {
            path_prefix: path_prefix.to_owned(),
            method: None,
            status,
            retry_after_secs: None,
            remaining: None,
        }
    }

    /// Limits the fault to `n` requests.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Limits the fault to one method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Whether this fault applies to a request (does not consume it).
    pub(crate) fn matches(&self, method: Method, path: &str) -> bool {
        self.remaining != Some(0)
            && self.method.is_none_or(|m| m == method)
            && path.starts_with(&self.path_prefix)
    }
}

/// Deliberate misbehaviour. All default to "behave".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Scripted HTTP failures, checked in order; the first match wins.
    pub rest_status: Vec<RestFault>,
    /// Answer every SASL `<auth>` with `<failure>` carrying this condition (e.g.
    /// `not-authorized`, `malformed-request`).
    pub sasl_failure: Option<String>,
    /// Never answer XEP-0215 extdisco requests.
    pub extdisco_silent: bool,
    /// Never answer client XEP-0199 pings.
    pub ping_silent: bool,
    /// Never answer the resource-binding IQ.
    pub bind_silent: bool,
    /// Never answer a client's sdp-over-xmpp `terminate` IQ (the call still ends), so the
    /// client's 2 s wait for the result (PROTOCOL.md §7.5) runs out.
    pub terminate_silent: bool,
    /// Answer every WebSocket upgrade with this HTTP status instead of `101`.
    pub reject_websocket: Option<u16>,
    /// REST bulk-subscription topics answered with state `Rejected`.
    pub rejected_topics: Vec<String>,
}

/// The tenant the fake cloud serves.
#[derive(Clone)]
pub struct CloudConfig {
    /// Environment domain, e.g. `fake.genesys.test`; the notifications component is
    /// `notifications.{environment}`.
    pub environment: String,
    /// XMPP domain (the domain of every bare JID and the `<open to=…>` value).
    pub xmpp_domain: String,
    /// Bearer token accepted by REST; SASL PLAIN expects `authKey:` + this.
    pub access_token: String,
    /// `GET /organizations/me` `id`; also the org guests must name.
    pub organization_id: String,
    /// `GET /organizations/me` `name`.
    pub organization_name: String,
    /// `GET /users/me` `id`.
    pub user_id: String,
    /// `GET /users/me` `name`.
    pub user_name: String,
    /// Bare JID (`chat.jabberId`), e.g. `alice@example.orgspan.com`.
    pub jabber_id: String,
    /// The user's effective station id; `None` = the user has no station.
    pub station_id: Option<String>,
    /// Station `name`.
    pub station_name: String,
    /// Station `type` (`inin_webrtc_softphone` or `inin_remote`).
    pub station_type: String,
    /// Station `webRtcPersistentEnabled`.
    pub station_persistent_enabled: bool,
    /// Station `webRtcForceTurn`.
    pub station_force_turn: bool,
    /// Station `webRtcCallAppearances`.
    pub station_call_appearances: u32,
    /// Guest `addCommunicationCode`.
    pub security_code: String,
    /// Guest conversation id (in the code-exchange response and the JWT's `data.jid`).
    pub guest_conversation_id: String,
    /// Guest `sourceCommunicationId`.
    pub guest_source_communication_id: String,
    /// TURN servers for XEP-0215 `type="turn"`.
    pub turn_servers: Vec<IceServerConfig>,
    /// STUN servers for XEP-0215 `type="stun"`; empty = relay-only (PROTOCOL.md 5.3).
    pub stun_servers: Vec<IceServerConfig>,
    /// Interval of server-side pings (only for sessions subscribed to
    /// [`SERVER_SIDE_PINGS_TOPIC`]).
    pub server_ping_interval: Duration,
    /// Address of the media server (every call's single host candidate).
    pub media_addr: SocketAddr,
    /// Give each call its own media port (`media_addr` port + call number), as a media server
    /// allocating per-session ports does. Off by default: the TLS server has one UDP socket.
    pub media_port_per_call: bool,
    /// Negotiation mode of calls the user places (`POST /api/v2/conversations/calls`).
    pub default_call_mode: Negotiation,
    /// Preferred codec of calls the user places.
    pub default_codec: PreferredCodec,
    /// Tone of calls the user places, Hz.
    pub default_tone_hz: f32,
    /// Trickle the media server's candidates after the offer (stripped from the offer SDP);
    /// `false` leaves them in the SDP and sends no end-of-candidates.
    pub trickle_server_candidates: bool,
    /// Deliberate misbehaviour.
    pub faults: Faults,
}

impl CloudConfig {
    /// Deterministic defaults for `environment` (see the `DEFAULT_*` constants): user
    /// `alice@example.orgspan.com` with a station, TURN udp 3478 + TURN tcp 443 on
    /// `turn.{environment}`, STUN udp 3478 on `stun.{environment}`, no faults.
    pub fn for_environment(environment: &str) -> Self {
        let xmpp_domain = DEFAULT_XMPP_DOMAIN.to_owned();
        let turn_host = format!("turn.{environment}");
        CloudConfig {
            environment: environment.to_owned(),
            jabber_id: format!("{DEFAULT_JID_LOCAL}@{xmpp_domain}"),
            xmpp_domain,
            access_token: DEFAULT_ACCESS_TOKEN.to_owned(),
            organization_id: DEFAULT_ORGANIZATION_ID.to_owned(),
            organization_name: DEFAULT_ORGANIZATION_NAME.to_owned(),
            user_id: DEFAULT_USER_ID.to_owned(),
            user_name: DEFAULT_USER_NAME.to_owned(),
            station_id: Some(DEFAULT_STATION_ID.to_owned()),
            station_name: format!("WebRTC - {DEFAULT_USER_NAME}"),
            station_type: "inin_webrtc_softphone".to_owned(),
            station_persistent_enabled: false,
            station_force_turn: false,
            station_call_appearances: 1,
            security_code: DEFAULT_SECURITY_CODE.to_owned(),
            guest_conversation_id: DEFAULT_GUEST_CONVERSATION_ID.to_owned(),
            guest_source_communication_id: DEFAULT_GUEST_SOURCE_COMMUNICATION_ID.to_owned(),
            turn_servers: vec![
                IceServerConfig::turn(
                    &turn_host,
                    3478,
                    "udp",
                    DEFAULT_TURN_USERNAME,
                    DEFAULT_TURN_PASSWORD,
                ),
                IceServerConfig::turn(
                    &turn_host,
                    443,
                    "tcp",
                    DEFAULT_TURN_USERNAME,
                    DEFAULT_TURN_PASSWORD,
                ),
            ],
            stun_servers: vec![IceServerConfig::stun(&format!("stun.{environment}"), 3478)],
            server_ping_interval: DEFAULT_SERVER_PING_INTERVAL,
            media_addr: DEFAULT_MEDIA_ADDR,
            media_port_per_call: false,
            default_call_mode: Negotiation::SdpOverXmpp,
            default_codec: PreferredCodec::Opus,
            default_tone_hz: DEFAULT_TONE_HZ,
            trickle_server_candidates: true,
            faults: Faults::default(),
        }
    }

    /// The XMPP pubsub component, `notifications.{environment}`.
    pub fn notifications_jid(&self) -> String {
        format!("notifications.{}", self.environment)
    }

    /// The guest conference JID put in JWTs: `acd-{conversationId}@conference.{xmpp_domain}`.
    pub fn guest_conference_jid(&self) -> String {
        format!(
            "acd-{}@conference.{}",
            self.guest_conversation_id, self.xmpp_domain
        )
    }

    /// The WebSocket base URL, `wss://streaming.{environment}`.
    pub fn streaming_base(&self) -> String {
        format!("wss://streaming.{}", self.environment)
    }

    /// Makes the user relay-only: XEP-0215 STUN answers list no services.
    pub fn relay_only(mut self) -> Self {
        self.stun_servers.clear();
        self
    }
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig::for_environment("fake.genesys.test")
    }
}

impl fmt::Debug for CloudConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudConfig")
            .field("environment", &self.environment)
            .field("xmpp_domain", &self.xmpp_domain)
            .field("access_token", &"{REDACTED}")
            .field("organization_id", &self.organization_id)
            .field("organization_name", &self.organization_name)
            .field("user_id", &self.user_id)
            .field("user_name", &self.user_name)
            .field("jabber_id", &self.jabber_id)
            .field("station_id", &self.station_id)
            .field("station_name", &self.station_name)
            .field("station_type", &self.station_type)
            .field(
                "station_persistent_enabled",
                &self.station_persistent_enabled,
            )
            .field("station_force_turn", &self.station_force_turn)
            .field("station_call_appearances", &self.station_call_appearances)
            .field("security_code", &"{REDACTED}")
            .field("guest_conversation_id", &self.guest_conversation_id)
            .field(
                "guest_source_communication_id",
                &self.guest_source_communication_id,
            )
            .field("turn_servers", &self.turn_servers)
            .field("stun_servers", &self.stun_servers)
            .field("server_ping_interval", &self.server_ping_interval)
            .field("media_addr", &self.media_addr)
            .field("default_call_mode", &self.default_call_mode)
            .field("default_codec", &self.default_codec)
            .field("default_tone_hz", &self.default_tone_hz)
            .field("trickle_server_candidates", &self.trickle_server_candidates)
            .field("faults", &self.faults)
            .finish()
    }
}
