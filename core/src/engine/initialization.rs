//! `initialize()` and what REST answers mean (PROTOCOL.md §2): the user bootstrap (org + user in
//! parallel, then the streaming connection, then the station), the guest code exchange, channel
//! creation, station events and bulk subscription results.

use std::time::Instant;

use super::connection::{AttemptFailure, Link};
use super::rest_calls::{RestCall, RestPurpose};
use super::{Engine, Identity, InitializeError, InitializeOptions, Phase};
use crate::events::{SdkErrorKind, SdkEvent, Station, StationAction};
use crate::jwt;
use crate::notifications::SubscriptionPath;
use crate::options::{Credentials, LogLevel};
use crate::redact::Secret;
use crate::rest::{self, CustomerData, Organization, RestError, RestRequest, StationBody, User};
use crate::wire::http::HttpResponse;

impl Engine {
    /// JS `initialize()`: REST bootstrap, then the streaming connection (retried until it is up
    /// or a non-retryable error occurs). Completion is reported by [`SdkEvent::Ready`] or an
    /// initialization error event, and by [`Engine::take_initialize_result`].
    pub fn initialize(
        &mut self,
        now: Instant,
        options: InitializeOptions,
    ) -> Result<(), InitializeError> {
        self.advance(now);
        if matches!(self.phase, Phase::Initializing | Phase::Active) {
            return Err(InitializeError::AlreadyInitialized);
        }
        self.init_result = None;
        self.auto_reconnect = true;
        self.hard_required = true;
        match self.opts.credentials.clone() {
            Credentials::AccessToken(_) => {
                self.phase = Phase::Initializing;
                self.init_org_done = false;
                self.init_user_done = false;
                self.trace(LogLevel::Info, "initializing as an authenticated user");
                self.start_call(
                    now,
                    RestPurpose::Organization,
                    RestRequest::organization_me(),
                );
                self.start_call(now, RestPurpose::User, RestRequest::user_me());
            }
            Credentials::Guest { organization_id } => {
                let code = options
                    .security_code
                    .filter(|c| !c.is_empty())
                    .ok_or(InitializeError::MissingSecurityCode)?;
                self.phase = Phase::Initializing;
                self.trace(LogLevel::Info, "initializing as a guest");
                self.start_call(
                    now,
                    RestPurpose::RedeemCode,
                    RestRequest::redeem_code(&organization_id, &code),
                );
            }
        }
        Ok(())
    }

    pub(crate) fn on_rest_done(
        &mut self,
        now: Instant,
        call: RestCall,
        result: Result<HttpResponse, RestError>,
    ) {
        let req = &call.request;
        match call.purpose {
            RestPurpose::Organization => {
                match result.and_then(|r| rest::parse_body::<Organization>(req, &r)) {
                    Ok(org) => {
                        tracing::debug!(org_id = %org.id, "organization loaded");
                        self.init_org_done = true;
                        self.maybe_start_first_connect(now);
                    }
                    Err(e) => self.fail_init(init_error(e)),
                }
            }
            RestPurpose::User => match result.and_then(|r| rest::parse_body::<User>(req, &r)) {
                Ok(user) => {
                    if !user.chat.jabber_id.contains('@') {
                        self.fail_init(InitializeError::Http(RestError::Body {
                            request: req.describe(),
                            reason: "chat.jabberId is not a JID".into(),
                        }));
                        return;
                    }
                    self.identity = Some(Identity::User {
                        user_id: user.id,
                        bare_jid: user.chat.jabber_id,
                        station_id: user.station.and_then(|s| s.effective_station).map(|s| s.id),
                    });
                    self.init_user_done = true;
                    self.maybe_start_first_connect(now);
                }
                Err(e) => self.fail_init(init_error(e)),
            },
            RestPurpose::RedeemCode => {
                match result.and_then(|r| rest::parse_body::<CustomerData>(req, &r)) {
                    Ok(data) => match jwt::decode_claims(&data.jwt) {
                        Ok(claims) => {
                            tracing::debug!(conversation_id = %data.conversation.id, "guest code redeemed");
                            self.identity = Some(Identity::Guest {
                                domain: claims.xmpp_domain(),
                                jid: claims.jid,
                                jwt: Secret::new(data.jwt),
                            });
                            self.begin_connect(now, true);
                        }
                        Err(e) => self.fail_init(InitializeError::Jwt(e)),
                    },
                    Err(e) => self.fail_init(init_error(e)),
                }
            }
            RestPurpose::CreateChannel => {
                if !matches!(self.link, Link::CreatingChannel { call: c } if c == call.id) {
                    return;
                }
                #[derive(serde::Deserialize)]
                struct Channel {
                    id: String,
                }
                match result.and_then(|r| rest::parse_body::<Channel>(req, &r)) {
                    Ok(ch) if !ch.id.is_empty() && ch.id.len() <= 256 => {
                        tracing::debug!(channel_id = %ch.id, "notification channel created");
                        self.channel_id = Some(ch.id);
                        self.hard_required = false;
                        self.channel_reuses = 0;
                        self.open_socket(now);
                    }
                    Ok(_) => self.attempt_failed(
                        now,
                        AttemptFailure::Rest(RestError::Body {
                            request: req.describe(),
                            reason: "channel id missing".into(),
                        }),
                    ),
                    Err(e) => self.attempt_failed(now, AttemptFailure::Rest(e)),
                }
            }
            RestPurpose::Station => {
                match result.and_then(|r| rest::parse_body::<StationBody>(req, &r)) {
                    Ok(st) => {
                        let appearances = st.web_rtc_call_appearances.unwrap_or(1);
                        self.set_station_persistence(st.web_rtc_persistent_enabled, appearances);
                        self.emit(SdkEvent::ConcurrentSoftphoneSessionsEnabled(
                            appearances > 1,
                        ));
                        self.emit(SdkEvent::Station {
                            action: StationAction::Associated,
                            station: Some(Station {
                                id: st.id,
                                name: st.name,
                                station_type: st.station_type,
                                web_rtc_persistent_enabled: st.web_rtc_persistent_enabled,
                                web_rtc_force_turn: st.web_rtc_force_turn,
                                web_rtc_call_appearances: appearances,
                            }),
                        });
                    }
                    Err(e) => self.trace(LogLevel::Warn, format!("station lookup failed: {e}")),
                }
                if let Some(Identity::User { user_id, .. }) = &self.identity {
                    let topic = format!("v2.users.{user_id}.station");
                    self.topics.add(&topic, SubscriptionPath::Bulk);
                    self.schedule_resubscribe(now);
                }
                if self.init_waiting_station {
                    self.init_waiting_station = false;
                    self.finish_init_ok();
                }
            }
            RestPurpose::ConversationLookup { action, .. } => {
                self.on_conversation_lookup(now, req, action, result)
            }
            RestPurpose::ParticipantUpdate { action } => {
                self.on_participant_update(now, action, result)
            }
            RestPurpose::PlaceCall => self.on_place_call(call.id, req, result),
            RestPurpose::Resubscribe => match result {
                Ok(resp) => {
                    let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&resp.body);
                    let rejected: Vec<String> = parsed
                        .ok()
                        .and_then(|v| v.get("entities").and_then(|e| e.as_array()).cloned())
                        .unwrap_or_default()
                        .iter()
                        .filter(|e| e.get("state").and_then(|s| s.as_str()) != Some("Permitted"))
                        .filter_map(|e| e.get("id").and_then(|i| i.as_str()).map(str::to_string))
                        .take(20)
                        .collect();
                    if rejected.is_empty() {
                        self.subscribed_channel = self.channel_id.clone();
                    } else {
                        self.error(
                            SdkErrorKind::Generic,
                            format!("topics not permitted: {}", rejected.join(", ")),
                        );
                    }
                }
                Err(e) => self.error(SdkErrorKind::Http, e.to_string()),
            },
        }
    }

    pub(crate) fn fail_init(&mut self, err: InitializeError) {
        if self.phase != Phase::Initializing {
            return;
        }
        self.phase = Phase::Stopped;
        self.error(SdkErrorKind::Initialization, err.to_string());
        self.init_result = Some(Err(err));
        self.auto_reconnect = false;
        self.close_socket();
        self.link = Link::Down;
        let ids: Vec<u64> = self.calls.iter().map(|c| c.id).collect();
        for id in ids {
            self.cancel_call(id);
        }
    }

    pub(crate) fn finish_init_ok(&mut self) {
        if self.phase != Phase::Initializing {
            return;
        }
        self.phase = Phase::Active;
        self.init_result = Some(Ok(()));
        self.trace(LogLevel::Info, "SDK ready");
        self.emit(SdkEvent::Ready);
    }

    pub(crate) fn maybe_start_first_connect(&mut self, now: Instant) {
        if self.init_org_done && self.init_user_done && matches!(self.link, Link::Down) {
            self.begin_connect(now, true);
        }
    }
}

fn init_error(e: RestError) -> InitializeError {
    match e.status() {
        Some(401 | 403) => InitializeError::InvalidToken,
        _ => InitializeError::Http(e),
    }
}
