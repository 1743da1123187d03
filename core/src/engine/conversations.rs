//! Conversation events → `conversationUpdate` (PROTOCOL.md §9.6): what the user's calls look like
//! according to the `v2.users.{id}.conversations` topic, so a phone can show who is on the call
//! and its state.
//!
//! Owns the tracked conversations (also the cache the participant REST operations read). A
//! conversation is tracked once it is first seen in a pending state (or has a session here) and
//! dropped when its call ends.

use super::{Engine, Identity};
use crate::events::{SdkErrorKind, SdkEvent};
use crate::rest::{Conversation, Participant, ParticipantCall};

/// Most conversations tracked at once.
pub(crate) const MAX_CONVERSATIONS: usize = 64;

/// One conversation as `conversationUpdate` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationInfo {
    /// Conversation id.
    pub conversation_id: String,
    /// State of the user's most recent call (`alerting`, `contacting`, `dialing`, `connected`,
    /// `disconnected`, `terminated`, ...).
    pub most_recent_call_state: String,
    /// The user's participant as the event carried it.
    pub most_recent_user_participant: Participant,
    /// The media session carrying it, when this client has one.
    pub session_id: Option<String>,
}

/// JS `conversationUpdate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationUpdate {
    /// Conversations that appeared.
    pub added: Vec<ConversationInfo>,
    /// Conversations that ended.
    pub removed: Vec<ConversationInfo>,
    /// Conversations going on now.
    pub current: Vec<ConversationInfo>,
    /// The conversation this update is about, when it is still going on.
    pub active_conversation_id: Option<String>,
}

fn is_pending(state: &str) -> bool {
    matches!(state, "alerting" | "contacting")
}

fn is_ended(state: &str) -> bool {
    matches!(state, "disconnected" | "terminated")
}

/// The single non-ended call, else the last one.
fn most_recent_call(p: &Participant) -> Option<&ParticipantCall> {
    let live: Vec<&ParticipantCall> = p
        .calls
        .iter()
        .filter(|c| !c.state.as_deref().is_some_and(is_ended))
        .collect();
    match live.as_slice() {
        [one] => Some(one),
        _ => p.calls.last(),
    }
}

/// What makes two snapshots different for `conversationUpdate`.
fn signature(p: &Participant) -> Option<(String, bool, bool, bool)> {
    let c = most_recent_call(p)?;
    Some((
        c.state.clone().unwrap_or_default(),
        c.held.unwrap_or(false),
        c.muted.or(p.muted).unwrap_or(false),
        c.confined.or(p.confined).unwrap_or(false),
    ))
}

impl Engine {
    /// Conversations tracked now.
    pub fn conversations(&self) -> Vec<ConversationInfo> {
        self.conversation_infos()
    }

    fn conversation_infos(&self) -> Vec<ConversationInfo> {
        let Some(Identity::User { user_id, .. }) = &self.identity else {
            return Vec::new();
        };
        self.conversations
            .values()
            .filter_map(|c| self.info_for(c, user_id))
            .collect()
    }

    fn info_for(&self, conv: &Conversation, user_id: &str) -> Option<ConversationInfo> {
        let p =
            conv.user_participant(user_id, &["alerting", "contacting", "dialing", "connected"])?;
        let call = most_recent_call(p)?;
        Some(ConversationInfo {
            conversation_id: conv.id.clone(),
            most_recent_call_state: call.state.clone().unwrap_or_default(),
            most_recent_user_participant: p.clone(),
            session_id: self
                .sessions
                .values()
                .find(|s| s.info.conversation_id == conv.id)
                .map(|s| s.info.id.clone()),
        })
    }

    /// A `v2.users.{id}.conversations` event.
    pub(crate) fn on_conversation_event(&mut self, body: &serde_json::Value) {
        let Some(Identity::User { user_id, .. }) = self.identity.clone() else {
            return;
        };
        let Ok(conv) = serde_json::from_value::<Conversation>(body.clone()) else {
            tracing::debug!("conversation event without a usable body");
            return;
        };
        if conv.id.is_empty() || conv.participants.len() > 256 {
            return;
        }
        let Some(p) = conv.user_participant(
            &user_id,
            &["alerting", "contacting", "dialing", "connected"],
        ) else {
            return;
        };
        let Some(call) = most_recent_call(p) else {
            return;
        };
        if let Some(err) = call.error_info.as_ref().filter(|e| !e.is_null()) {
            let code = err.get("code").and_then(|c| c.as_str()).unwrap_or("error");
            self.error(
                SdkErrorKind::Call,
                format!("conversation {}: {code}", conv.id),
            );
        }
        let state = call.state.clone().unwrap_or_default();
        let has_session = self
            .sessions
            .values()
            .any(|s| s.info.conversation_id == conv.id);
        let tracked = self.conversations.get(&conv.id);
        let owned = tracked.is_some() || is_pending(&state) || has_session;
        if !owned {
            return;
        }
        let changed = tracked.and_then(|t| t.user_participant(&user_id, &[]).and_then(signature))
            != signature(p);
        if !changed {
            return;
        }
        let was_tracked = tracked.is_some();
        let info = self.info_for(&conv, &user_id);
        let mut added = Vec::new();
        let mut removed = Vec::new();
        if is_ended(&state) {
            self.conversations.remove(&conv.id);
            removed.extend(info);
        } else {
            self.conversations.insert(conv.id.clone(), conv.clone());
            if !was_tracked {
                added.extend(info);
            }
            while self.conversations.len() > MAX_CONVERSATIONS {
                let Some(k) = self.conversations.keys().next().cloned() else {
                    break;
                };
                self.conversations.remove(&k);
            }
        }
        let current = self.conversation_infos();
        let active = current
            .iter()
            .any(|c| c.conversation_id == conv.id)
            .then(|| conv.id.clone());
        self.emit(SdkEvent::ConversationUpdate(ConversationUpdate {
            added,
            removed,
            current,
            active_conversation_id: active,
        }));
        let outbound = call.direction.as_deref() == Some("outbound");
        let remote_address = conv
            .participants
            .iter()
            .find(|other| other.user_id.as_deref() != Some(user_id.as_str()))
            .and_then(|other| other.address.clone())
            .unwrap_or_default();
        let now = self.now;
        self.on_persistent_conversation(
            now,
            super::persistent::UserCall {
                conversation_id: &conv.id,
                state: &state,
                outbound,
                remote_address,
            },
        );
    }
}
