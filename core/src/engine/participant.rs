//! REST operations on the user's participant (PROTOCOL.md §9.4, §9.5): reject, end, mute, hold,
//! answer. Each one finds the participant (from the latest conversation event, else
//! `GET /conversations/{id}`), then sends the PATCH or POST; failures fall back as the SDK does.

use std::time::Instant;

use super::rest_calls::RestPurpose;
use super::{Engine, Identity};
use crate::events::SdkErrorKind;
use crate::rest::{self, Conversation, RestError, RestRequest};
use crate::session::events::TerminateReason;

/// What to do to the user's participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParticipantAction {
    /// Softphone reject: voicemail for `user` participants, else disconnect.
    Reject,
    /// End the call (`{"state":"disconnected"}`); on failure end the media session directly.
    End { session_id: String },
    /// `{"muted": …}`.
    Mute(bool),
    /// `{"held": …}`.
    Hold(bool),
    /// Answer a call on the persistent connection (`{"state":"connected"}`, §9.3).
    Answer,
}

impl ParticipantAction {
    /// Call states to prefer when picking the participant.
    fn wanted_states(&self) -> &'static [&'static str] {
        match self {
            ParticipantAction::Reject | ParticipantAction::Answer => &["alerting", "contacting"],
            _ => &["connected", "dialing", "alerting", "contacting"],
        }
    }
}

impl Engine {
    /// Starts `action` on the user's participant of `conversation_id`.
    pub(crate) fn start_participant_action(
        &mut self,
        now: Instant,
        conversation_id: &str,
        action: ParticipantAction,
    ) {
        if let Some(conv) = self.conversations.get(conversation_id).cloned() {
            self.run_participant_action(now, &conv, action);
            return;
        }
        self.start_call(
            now,
            RestPurpose::ConversationLookup {
                conversation_id: conversation_id.to_string(),
                action,
            },
            RestRequest::conversation(conversation_id),
        );
    }

    /// The conversation lookup answered.
    pub(crate) fn on_conversation_lookup(
        &mut self,
        now: Instant,
        request: &RestRequest,
        action: ParticipantAction,
        result: Result<crate::wire::http::HttpResponse, RestError>,
    ) {
        match result.and_then(|r| rest::parse_body::<Conversation>(request, &r)) {
            Ok(conv) => self.run_participant_action(now, &conv, action),
            Err(e) => self.participant_action_failed(now, action, e.to_string()),
        }
    }

    fn run_participant_action(
        &mut self,
        now: Instant,
        conv: &Conversation,
        action: ParticipantAction,
    ) {
        let Some(Identity::User { user_id, .. }) = &self.identity else {
            self.participant_action_failed(now, action, "not an authenticated user".into());
            return;
        };
        let Some(p) = conv.user_participant(user_id, action.wanted_states()) else {
            self.participant_action_failed(now, action, "no participant for this user".into());
            return;
        };
        let (cid, pid) = (conv.id.clone(), p.id.clone());
        let request = match &action {
            ParticipantAction::Reject if p.purpose.as_deref() == Some("user") => {
                RestRequest::replace_with_voicemail(&cid, &pid)
            }
            ParticipantAction::Reject | ParticipantAction::End { .. } => {
                RestRequest::patch_participant(
                    &cid,
                    &pid,
                    serde_json::json!({"state": "disconnected"}),
                )
            }
            ParticipantAction::Mute(m) => {
                RestRequest::patch_participant(&cid, &pid, serde_json::json!({ "muted": m }))
            }
            ParticipantAction::Hold(h) => {
                RestRequest::patch_participant(&cid, &pid, serde_json::json!({ "held": h }))
            }
            ParticipantAction::Answer => RestRequest::patch_participant(
                &cid,
                &pid,
                serde_json::json!({"state": "connected"}),
            ),
        };
        self.start_call(now, RestPurpose::ParticipantUpdate { action }, request);
    }

    /// The PATCH/POST answered.
    pub(crate) fn on_participant_update(
        &mut self,
        now: Instant,
        action: ParticipantAction,
        result: Result<crate::wire::http::HttpResponse, RestError>,
    ) {
        if let Err(e) = result {
            self.participant_action_failed(now, action, e.to_string());
        }
        // On success the server's terminate / conversation event carries the outcome.
    }

    fn participant_action_failed(&mut self, now: Instant, action: ParticipantAction, why: String) {
        match action {
            ParticipantAction::End { session_id } => {
                // §9.5 step 3: end the media session directly.
                self.trace(
                    crate::options::LogLevel::Warn,
                    format!("ending the call through REST failed ({why}); terminating directly"),
                );
                self.terminate_session(now, &session_id, TerminateReason::Success, true);
            }
            other => self.error(
                SdkErrorKind::Http,
                format!("participant update {other:?} failed: {why}"),
            ),
        }
    }
}

/// JS `startSoftphoneSession` parameters (PROTOCOL.md §9.4), sent as given plus
/// `"sessionType":"softphone"`. All optional; give at least a phone number, a user or a queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartSoftphoneParams {
    /// Number to dial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Caller id number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    /// Caller id name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id_name: Option<String>,
    /// Place the call on behalf of this queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_from_queue_id: Option<String>,
    /// Call this queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_queue_id: Option<String>,
    /// Call this user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_user_id: Option<String>,
    /// Priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Language id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_id: Option<String>,
    /// Routing skills.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routing_skills_ids: Vec<String>,
    /// Conversations to add.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conversation_ids: Vec<String>,
    /// Participants (`{address, name?, userId?, queueId?}` objects).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<serde_json::Value>,
    /// User-to-user information.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uui_data: Option<String>,
}

impl Engine {
    /// JS `startSoftphoneSession`: `POST /conversations/calls`. Returns a request id; the
    /// conversation id (or the error) comes from [`Engine::take_place_call_result`]. The server
    /// then proposes the call with auto-answer.
    pub fn start_softphone_session(
        &mut self,
        now: Instant,
        params: &StartSoftphoneParams,
    ) -> Result<u64, super::SessionError> {
        self.advance(now);
        if !matches!(self.identity, Some(Identity::User { .. })) {
            return Err(super::SessionError::NotSupported(
                "guests cannot place calls",
            ));
        }
        if params.phone_number.is_none()
            && params.call_user_id.is_none()
            && params.call_queue_id.is_none()
            && params.participants.is_empty()
            && params.conversation_ids.is_empty()
        {
            return Err(super::SessionError::InvalidInput {
                what: "start_softphone_session",
                reason: "give a phone number, user, queue, participants or conversations".into(),
            });
        }
        let mut body = serde_json::to_value(params).unwrap_or_default();
        if let Some(obj) = body.as_object_mut() {
            obj.insert("sessionType".into(), "softphone".into());
        }
        Ok(self.start_call(now, RestPurpose::PlaceCall, RestRequest::place_call(body)))
    }

    /// The result of a [`Engine::start_softphone_session`] request, once known (taken once).
    pub fn take_place_call_result(&mut self, request: u64) -> Option<Result<String, RestError>> {
        let pos = self
            .place_call_results
            .iter()
            .position(|(id, _)| *id == request)?;
        self.place_call_results.remove(pos).map(|(_, r)| r)
    }

    pub(crate) fn on_place_call(
        &mut self,
        request: u64,
        req: &RestRequest,
        result: Result<crate::wire::http::HttpResponse, RestError>,
    ) {
        #[derive(serde::Deserialize)]
        struct Placed {
            id: String,
        }
        let r = result
            .and_then(|resp| rest::parse_body::<Placed>(req, &resp))
            .map(|p| p.id);
        if let Err(e) = &r {
            self.error(SdkErrorKind::Http, format!("placing the call failed: {e}"));
        }
        self.place_call_results.push_back((request, r));
        while self.place_call_results.len() > 64 {
            self.place_call_results.pop_front();
        }
    }
}
