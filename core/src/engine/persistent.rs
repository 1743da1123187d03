//! Persistent connection with one line appearance (PROTOCOL.md §9.3): when the user's station
//! has `webRtcPersistentEnabled` and one call appearance, the media session outlives its calls.
//! New calls arrive only as conversation events and ride that session:
//!
//! * a conversation whose user call is `alerting`/`contacting` while the carrying session is
//!   connected becomes a synthesized `pendingSession` (id = the session id, `auto_answer` = the
//!   call is outbound); accepting it sends `PATCH … {"state":"connected"}`, no XMPP;
//! * when that conversation connects: `handledPendingSession`, then `sessionStarted` (once per
//!   conversation), and the session's conversation id becomes that conversation's;
//! * when a conversation riding the session (the first call's too) ends: `sessionEnded` with
//!   `success` while the peer connection stays up; one that ends while still pending:
//!   `cancelPendingSession`.
//!
//! Owns nothing but the rules; the session registry is in `calls`, pending sessions in `pending`.

use std::time::Instant;

use super::participant::ParticipantAction;
use super::pending::PendingEntry;
use super::Engine;
use crate::events::SdkEvent;
use crate::options::SessionType;
use crate::session::events::{ConnectionState, PendingSession, TerminateReason};

/// The user call states of PROTOCOL.md §9.6.
fn group(state: &str) -> Option<Group> {
    match state {
        "alerting" | "contacting" => Some(Group::Pending),
        "dialing" | "connected" => Some(Group::Connected),
        "disconnected" | "terminated" => Some(Group::Ended),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Pending,
    Connected,
    Ended,
}

/// What a conversation event says about the user's call, for this module.
pub(crate) struct UserCall<'a> {
    pub(crate) conversation_id: &'a str,
    pub(crate) state: &'a str,
    pub(crate) outbound: bool,
    /// The other party's address (what `pendingSession.address` shows).
    pub(crate) remote_address: String,
}

impl Engine {
    /// Station facts from initialization: persistent connection and call appearances.
    pub(crate) fn set_station_persistence(&mut self, persistent: bool, appearances: u32) {
        self.persistent_station = persistent && appearances <= 1;
        self.call_appearances = appearances.max(1);
    }

    /// Line appearances > 1 (§9.3, §9.4): answering or resuming one softphone call holds the
    /// others through REST (`PATCH {"held":true}`), so only one call has the user's voice.
    pub(crate) fn hold_other_calls(&mut self, now: Instant, except: &str) {
        if self.call_appearances <= 1 {
            return;
        }
        let others: Vec<(String, String)> = self
            .sessions
            .iter()
            .filter(|(k, c)| {
                k.as_str() != except
                    && c.info.session_type == SessionType::Softphone
                    && !c.held
                    && c.ending.is_none()
                    && !c.info.conversation_id.is_empty()
                    && c.connection_state == ConnectionState::Connected
            })
            .map(|(k, c)| (k.clone(), c.info.conversation_id.clone()))
            .collect();
        for (sid, cid) in others {
            tracing::info!(session_id = %sid, conversation_id = %cid, "holding the other call");
            if let Some(c) = self.sessions.get_mut(&sid) {
                c.held = true;
            }
            self.start_participant_action(now, &cid, ParticipantAction::Hold(true));
        }
    }

    /// The session carrying the persistent connection: a softphone session whose media is
    /// connected and that is not ending.
    fn persistent_carrier(&self) -> Option<String> {
        if !self.persistent_station {
            return None;
        }
        self.sessions
            .iter()
            .find(|(_, c)| {
                c.info.session_type == SessionType::Softphone
                    && c.ending.is_none()
                    && c.connection_state == ConnectionState::Connected
            })
            .map(|(k, _)| k.clone())
    }

    /// A conversation event, seen after `conversationUpdate` was worked out.
    pub(crate) fn on_persistent_conversation(&mut self, now: Instant, call: UserCall<'_>) {
        let Some(sid) = self.persistent_carrier() else {
            return;
        };
        let Some(group) = group(call.state) else {
            return;
        };
        let Some(session) = self.sessions.get(&sid) else {
            return;
        };
        let own = session.info.conversation_id == call.conversation_id;
        let started = session.started;
        let pending_here = self
            .pending
            .get(&sid)
            .and_then(|e| e.persistent_conversation.as_deref())
            == Some(call.conversation_id);
        match group {
            Group::Pending => {
                // One line appearance: a call in progress keeps the line; the propose path
                // handles conversations that come with a propose.
                let proposed = self.proposes.values().any(|r| {
                    r.propose.conversation_id.as_ref().map(|c| c.as_str())
                        == Some(call.conversation_id)
                });
                if own || started || pending_here || proposed || self.pending.contains_key(&sid) {
                    return;
                }
                let info = PendingSession {
                    id: sid.clone(),
                    address: call.remote_address,
                    conversation_id: call.conversation_id.to_string(),
                    auto_answer: call.outbound,
                    session_type: SessionType::Softphone,
                    original_room_jid: String::new(),
                    from_user_id: None,
                };
                tracing::info!(
                    session_id = %sid,
                    conversation_id = %call.conversation_id,
                    "call on the persistent connection"
                );
                self.propose_seq += 1;
                self.pending.insert(
                    sid.clone(),
                    PendingEntry {
                        info: info.clone(),
                        accepted: false,
                        seq: self.propose_seq,
                        persistent_conversation: Some(call.conversation_id.to_string()),
                    },
                );
                self.emit(SdkEvent::PendingSession(info));
                if call.outbound && self.opts.auto_answer_outbound_calls {
                    let _ = self.accept_pending_session(now, &sid);
                }
            }
            Group::Connected => {
                if own && started {
                    return;
                }
                if pending_here {
                    if let Some(e) = self.pending.remove(&sid) {
                        self.emit(SdkEvent::HandledPendingSession {
                            session_id: e.info.id,
                            conversation_id: e.info.conversation_id,
                        });
                    }
                } else if !own {
                    // Not a call this client was offered (answered elsewhere, or on another line).
                    return;
                }
                let Some(session) = self.sessions.get_mut(&sid) else {
                    return;
                };
                session.info.conversation_id = call.conversation_id.to_string();
                session.started = true;
                let info = session.info.clone();
                self.emit(SdkEvent::SessionStarted(info));
            }
            Group::Ended => {
                if pending_here {
                    if let Some(e) = self.pending.remove(&sid) {
                        self.emit(SdkEvent::CancelPendingSession {
                            session_id: e.info.id,
                            conversation_id: e.info.conversation_id,
                        });
                    }
                } else if own && started {
                    let Some(session) = self.sessions.get_mut(&sid) else {
                        return;
                    };
                    session.started = false;
                    let info = session.info.clone();
                    tracing::info!(
                        session_id = %sid,
                        conversation_id = %call.conversation_id,
                        "call ended; the persistent connection stays up"
                    );
                    self.emit(SdkEvent::SessionEnded {
                        session: info,
                        reason: TerminateReason::Success,
                    });
                }
            }
        }
    }

    /// Accepting a synthesized pending session: `PATCH {"state":"connected"}` (no XMPP).
    pub(crate) fn accept_persistent_pending(&mut self, now: Instant, conversation_id: &str) {
        self.start_participant_action(now, conversation_id, ParticipantAction::Answer);
    }
}
