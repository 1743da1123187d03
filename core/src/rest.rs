//! REST calls as data (PROTOCOL.md §2, §4.1): which requests the SDK makes, how they become
//! HTTP/1.1 requests, which statuses are retried, and the response bodies it reads.
//!
//! Owns no connection: the engine turns a [`RestRequest`] into bytes with [`RestRequest::to_http`]
//! and feeds the parsed [`HttpResponse`] back.

use std::time::Duration;

use serde::Deserialize;

use crate::options::HostUrl;
use crate::redact::Secret;
use crate::wire::http::{HttpRequest, HttpResponse, Method};

/// Per-request timeout (PROTOCOL.md §14).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait before retrying a retryable status without `Retry-After`.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(15);
/// Longest `Retry-After` honoured, so a hostile header cannot park the SDK for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// How a request authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestAuth {
    /// `Authorization: Bearer {accessToken}`.
    Bearer,
    /// No `Authorization` header (guest code redemption).
    None,
}

/// Whether a request is retried on 408/413/429/5xx (only idempotent bootstrap GETs are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Retried without limit on retryable statuses.
    WithRetry,
    /// Never retried.
    Plain,
}

/// One REST call.
#[derive(Debug, Clone, PartialEq)]
pub struct RestRequest {
    /// HTTP method.
    pub method: Method,
    /// Path after `/api/v2/`, without leading slash.
    pub path: String,
    /// Query string without `?`.
    pub query: Option<String>,
    /// JSON body.
    pub body: Option<serde_json::Value>,
    /// Authentication.
    pub auth: RestAuth,
    /// Retry behaviour.
    pub retry: RetryClass,
}

impl RestRequest {
    fn new(method: Method, path: impl Into<String>) -> Self {
        RestRequest {
            method,
            path: path.into(),
            query: None,
            body: None,
            auth: RestAuth::Bearer,
            retry: RetryClass::Plain,
        }
    }

    /// `GET /api/v2/organizations/me` (with retry).
    pub fn organization_me() -> Self {
        RestRequest {
            retry: RetryClass::WithRetry,
            ..Self::new(Method::Get, "organizations/me")
        }
    }

    /// `GET /api/v2/users/me?expand=station` (with retry).
    pub fn user_me() -> Self {
        RestRequest {
            query: Some("expand=station".into()),
            retry: RetryClass::WithRetry,
            ..Self::new(Method::Get, "users/me")
        }
    }

    /// `POST /api/v2/notifications/channels?connectionType=streaming` (no body).
    pub fn create_channel() -> Self {
        RestRequest {
            query: Some("connectionType=streaming".into()),
            ..Self::new(Method::Post, "notifications/channels")
        }
    }

    /// `GET /api/v2/stations/{id}` (with retry).
    pub fn station(id: &str) -> Self {
        RestRequest {
            retry: RetryClass::WithRetry,
            ..Self::new(Method::Get, format!("stations/{}", path_segment(id)))
        }
    }

    /// `PUT /api/v2/notifications/channels/{id}/subscriptions` replacing the whole topic set.
    pub fn replace_subscriptions(channel_id: &str, body: serde_json::Value) -> Self {
        RestRequest {
            body: Some(body),
            ..Self::new(
                Method::Put,
                format!(
                    "notifications/channels/{}/subscriptions",
                    path_segment(channel_id)
                ),
            )
        }
    }

    /// `POST /api/v2/conversations/codes` without authorization (guest code redemption).
    pub fn redeem_code(organization_id: &str, security_code: &Secret) -> Self {
        RestRequest {
            body: Some(serde_json::json!({
                "organizationId": organization_id,
                "addCommunicationCode": security_code.expose(),
            })),
            auth: RestAuth::None,
            ..Self::new(Method::Post, "conversations/codes")
        }
    }

    /// `GET /api/v2/conversations/{id}` (participant lookup).
    pub fn conversation(conversation_id: &str) -> Self {
        Self::new(
            Method::Get,
            format!("conversations/{}", path_segment(conversation_id)),
        )
    }

    /// `PATCH /api/v2/conversations/calls/{cid}/participants/{pid}` with `body` (e.g.
    /// `{"state":"disconnected"}`, `{"muted":true}`, `{"held":true}`). Never retried.
    pub fn patch_participant(
        conversation_id: &str,
        participant_id: &str,
        body: serde_json::Value,
    ) -> Self {
        RestRequest {
            body: Some(body),
            ..Self::new(
                Method::Patch,
                format!(
                    "conversations/calls/{}/participants/{}",
                    path_segment(conversation_id),
                    path_segment(participant_id)
                ),
            )
        }
    }

    /// `POST /api/v2/conversations/calls/{cid}/participants/{pid}/replace` `{"voicemail":true}`
    /// (softphone reject of a `user` participant).
    pub fn replace_with_voicemail(conversation_id: &str, participant_id: &str) -> Self {
        RestRequest {
            body: Some(serde_json::json!({ "voicemail": true })),
            ..Self::new(
                Method::Post,
                format!(
                    "conversations/calls/{}/participants/{}/replace",
                    path_segment(conversation_id),
                    path_segment(participant_id)
                ),
            )
        }
    }

    /// `POST /api/v2/conversations/calls` with the start parameters plus
    /// `"sessionType":"softphone"`.
    pub fn place_call(params: serde_json::Value) -> Self {
        RestRequest {
            body: Some(params),
            ..Self::new(Method::Post, "conversations/calls")
        }
    }

    /// What may be logged about this request: method and path, never headers or body.
    pub fn describe(&self) -> String {
        format!("{} /api/v2/{}", self.method.as_str(), self.path)
    }

    /// The HTTP/1.1 request for `base`, with `Connection: close`.
    pub fn to_http(
        &self,
        base: &HostUrl,
        token: Option<&Secret>,
        custom_headers: &[(String, String)],
    ) -> HttpRequest {
        let mut target = format!("{}/api/v2/{}", base.path, self.path.trim_matches('/'));
        if let Some(q) = &self.query {
            target.push('?');
            target.push_str(q);
        }
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Accept".to_string(), "application/json".to_string()),
            ("Connection".to_string(), "close".to_string()),
        ];
        if let (RestAuth::Bearer, Some(token)) = (self.auth, token) {
            headers.push((
                "Authorization".to_string(),
                format!("Bearer {}", token.expose()),
            ));
        }
        headers.extend(custom_headers.iter().cloned());
        HttpRequest {
            method: self.method,
            host: base.authority(),
            target,
            headers,
            body: self
                .body
                .as_ref()
                .map(|b| b.to_string().into_bytes())
                .unwrap_or_default(),
        }
    }
}

/// Percent-encodes anything outside the URL-safe set so ids from the server cannot change the
/// path.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `status` is retried for [`RetryClass::WithRetry`] requests.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 413 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds, when present and sane.
pub fn retry_after(resp: &HttpResponse) -> Option<Duration> {
    let secs: u64 = resp.header("retry-after")?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Why a REST call failed. Never carries the token or bodies with secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// The server answered with a non-2xx status.
    #[error("{request} answered HTTP {status}")]
    Status {
        /// Method and path.
        request: String,
        /// HTTP status.
        status: u16,
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// No HTTP response: connection failed, broke, or timed out.
    #[error("{request} failed: {reason}")]
    Network {
        /// Method and path.
        request: String,
        /// What happened.
        reason: String,
    },
    /// The response body is not what the API documents.
    #[error("{request} returned an unusable body: {reason}")]
    Body {
        /// Method and path.
        request: String,
        /// What is wrong.
        reason: String,
    },
}

impl RestError {
    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Parses a JSON body into `T`.
pub fn parse_body<T: for<'de> Deserialize<'de>>(
    request: &RestRequest,
    resp: &HttpResponse,
) -> Result<T, RestError> {
    serde_json::from_slice(&resp.body).map_err(|e| RestError::Body {
        request: request.describe(),
        reason: e.to_string().chars().take(160).collect(),
    })
}

/// `GET /organizations/me` fields used.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Organization {
    /// Org id.
    pub id: String,
    /// Org name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `GET /users/me?expand=station` fields used.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Chat settings with the JID.
    pub chat: UserChat,
    /// Station expansion.
    #[serde(default)]
    pub station: Option<UserStation>,
}

/// `users/me` `chat`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct UserChat {
    /// The bare JID used for XMPP.
    #[serde(rename = "jabberId")]
    pub jabber_id: String,
}

/// `users/me` `station`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct UserStation {
    /// The effective station.
    #[serde(rename = "effectiveStation", default)]
    pub effective_station: Option<IdOnly>,
}

/// An object of which only `id` is used.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct IdOnly {
    /// The id.
    pub id: String,
}

/// `GET /stations/{id}` fields used.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StationBody {
    /// Station id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Owner.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Station type.
    #[serde(default, rename = "type")]
    pub station_type: Option<String>,
    /// Persistent connection.
    #[serde(default)]
    pub web_rtc_persistent_enabled: bool,
    /// Force TURN.
    #[serde(default)]
    pub web_rtc_force_turn: bool,
    /// Line appearances.
    #[serde(default)]
    pub web_rtc_call_appearances: Option<u32>,
}

/// `POST /conversations/codes` response (the guest "customer data").
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CustomerData {
    /// The conversation.
    pub conversation: IdOnly,
    /// Source communication id.
    pub source_communication_id: String,
    /// The guest JWT.
    pub jwt: String,
}

impl std::fmt::Debug for CustomerData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerData")
            .field("conversation", &self.conversation)
            .field("source_communication_id", &self.source_communication_id)
            .field("jwt", &"{redacted}")
            .finish()
    }
}

/// A conversation (`GET /conversations/{id}` and conversation events), fields the SDK reads
/// (PROTOCOL.md §9.6).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
pub struct Conversation {
    /// Conversation id.
    pub id: String,
    /// Participants.
    #[serde(default)]
    pub participants: Vec<Participant>,
}

/// A conversation participant.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// Participant id.
    pub id: String,
    /// `user`, `agent`, `customer`, ...
    #[serde(default)]
    pub purpose: Option<String>,
    /// The user behind the participant.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Address (phone number or JID).
    #[serde(default)]
    pub address: Option<String>,
    /// Participant state.
    #[serde(default)]
    pub state: Option<String>,
    /// Direction.
    #[serde(default)]
    pub direction: Option<String>,
    /// Muted.
    #[serde(default)]
    pub muted: Option<bool>,
    /// Confined.
    #[serde(default)]
    pub confined: Option<bool>,
    /// Calls of this participant.
    #[serde(default)]
    pub calls: Vec<ParticipantCall>,
}

/// One call of a participant.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantCall {
    /// Call id.
    #[serde(default)]
    pub id: Option<String>,
    /// `alerting`, `contacting`, `dialing`, `connected`, `disconnected`, `terminated`, ...
    #[serde(default)]
    pub state: Option<String>,
    /// Muted.
    #[serde(default)]
    pub muted: Option<bool>,
    /// Confined.
    #[serde(default)]
    pub confined: Option<bool>,
    /// Held.
    #[serde(default)]
    pub held: Option<bool>,
    /// Direction.
    #[serde(default)]
    pub direction: Option<String>,
    /// Provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// Error information, when the call failed.
    #[serde(default)]
    pub error_info: Option<serde_json::Value>,
}

impl Conversation {
    /// The user's participant: the last one whose `userId` is `user_id`, preferring one with a
    /// call in one of `states` (PROTOCOL.md §9.4).
    pub fn user_participant(&self, user_id: &str, states: &[&str]) -> Option<&Participant> {
        let mine: Vec<&Participant> = self
            .participants
            .iter()
            .filter(|p| p.user_id.as_deref() == Some(user_id))
            .collect();
        mine.iter()
            .rev()
            .find(|p| {
                p.calls
                    .iter()
                    .any(|c| c.state.as_deref().is_some_and(|s| states.contains(&s)))
            })
            .or_else(|| mine.last())
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HostUrl {
        HostUrl::parse("https://api.example.test", &["https"]).unwrap()
    }

    #[test]
    fn requests_map_to_http() {
        let token = Secret::new("tkn");
        let h =
            RestRequest::user_me().to_http(&base(), Some(&token), &[("X-A".into(), "1".into())]);
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.target, "/api/v2/users/me?expand=station");
        assert_eq!(h.host, "api.example.test");
        assert_eq!(h.header("authorization"), Some("Bearer tkn"));
        assert_eq!(h.header("content-type"), Some("application/json"));
        assert_eq!(h.header("x-a"), Some("1"));
        let g = RestRequest::redeem_code("org", &Secret::new("123456")).to_http(
            &base(),
            Some(&token),
            &[],
        );
        assert_eq!(g.header("authorization"), None);
        let body: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
        assert_eq!(body["addCommunicationCode"], "123456");
        assert_eq!(RestRequest::station("a/b?c").path, "stations/a%2Fb%3Fc");
    }

    #[test]
    fn retry_rules() {
        for s in [408, 413, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s));
        }
        for s in [400, 401, 403, 404, 501] {
            assert!(!is_retryable_status(s));
        }
    }

    #[test]
    fn customer_data_debug_hides_jwt() {
        let c: CustomerData = serde_json::from_str(
            r#"{"conversation":{"id":"c"},"sourceCommunicationId":"s","jwt":"SECRETJWT"}"#,
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("SECRETJWT"));
    }
}
