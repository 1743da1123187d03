//! Jingle Message Initiation and pending sessions (PROTOCOL.md §6, §9.2): proposes become
//! `pendingSession` events (or are dropped for disallowed session types), retracts become
//! `cancelPendingSession`, accepts/rejects seen from any resource become `handledPendingSession`,
//! and the app's accept/reject answer with JMI `proceed` or, for softphone rejects, REST.
//!
//! Owns the propose records and the SDK's pending sessions. Media sessions are in `calls`.

use std::time::Instant;

use super::participant::ParticipantAction;
use super::{Engine, Identity, SessionError};
use crate::events::{SdkErrorKind, SdkEvent};
use crate::options::{EagerPersistentConnection, SessionType};
use crate::session::events::PendingSession;
use crate::signaling::jmi::{self, JmiAction, JmiMessage, Propose, SessionId};

/// Most propose records and pending sessions kept at once (oldest dropped first).
pub(crate) const MAX_PENDING: usize = 64;

/// What the streaming client remembers of a propose (SC's record).
#[derive(Debug, Clone)]
pub(crate) struct ProposeRecord {
    pub(crate) propose: Propose,
    /// The proposer's full JID (the propose `from`).
    pub(crate) from_jid: String,
    /// A `proceed` was sent for it.
    pub(crate) accepted: bool,
    pub(crate) seq: u64,
}

/// A pending session the app has been told about.
#[derive(Debug, Clone)]
pub(crate) struct PendingEntry {
    pub(crate) info: PendingSession,
    pub(crate) accepted: bool,
    pub(crate) seq: u64,
    /// Synthesized for a call riding the persistent connection (§9.3): its conversation.
    pub(crate) persistent_conversation: Option<String>,
}

impl Engine {
    /// JS `acceptPendingSession({ conversationId })` by session id: sends JMI `proceed` to the
    /// proposer.
    pub fn accept_pending_session(&mut self, now: Instant, id: &str) -> Result<(), SessionError> {
        self.advance(now);
        if !self.pending.contains_key(id) {
            return Err(SessionError::UnknownSession(id.to_string()));
        }
        if let Some(entry) = self.pending.get_mut(id) {
            if let Some(cid) = entry.persistent_conversation.clone() {
                // §9.3: answered through REST on the persistent connection.
                if !entry.accepted {
                    entry.accepted = true;
                    self.accept_persistent_pending(now, &cid);
                }
                return Ok(());
            }
        }
        // Without a bound stream the proceed would be lost and the call would ring on.
        if self.full_jid().is_none() {
            return Err(SessionError::NotConnected);
        }
        let softphone = match self.pending.get_mut(id) {
            Some(entry) => {
                entry.accepted = true;
                entry.info.session_type == SessionType::Softphone
            }
            None => false,
        };
        self.send_proceed(id);
        if softphone {
            self.hold_other_calls(now, id);
        }
        Ok(())
    }

    /// JS `rejectPendingSession`: softphone calls are rejected through REST (voicemail for
    /// `user` participants, else disconnect); other types with JMI `reject` to our bare JID and to
    /// the proposer. The pending session ends here (no further event for it).
    pub fn reject_pending_session(&mut self, now: Instant, id: &str) -> Result<(), SessionError> {
        self.advance(now);
        let Some(kind) = self.pending.get(id).map(|e| e.info.session_type) else {
            return Err(SessionError::UnknownSession(id.to_string()));
        };
        // Other types are rejected over XMPP, which needs a bound stream.
        if kind != SessionType::Softphone && self.full_jid().is_none() {
            return Err(SessionError::NotConnected);
        }
        let Some(entry) = self.pending.remove(id) else {
            return Err(SessionError::UnknownSession(id.to_string()));
        };
        // A call on the persistent connection has no propose of its own: its id is the
        // carrying session's, whose records stay.
        let (record, _) = if entry.persistent_conversation.is_some() {
            (None, None)
        } else {
            (self.proposes.remove(id), self.sdp_over_xmpp_ids.remove(id))
        };
        if entry.info.session_type == SessionType::Softphone {
            self.start_participant_action(
                now,
                &entry.info.conversation_id,
                ParticipantAction::Reject,
            );
        } else if let (Some(record), Some(bare)) = (record, self.own_bare_jid()) {
            if let Ok(sid) = SessionId::new(id) {
                for el in jmi::reject_both(&bare, &record.from_jid, &sid) {
                    self.send_element(&el);
                }
            }
        }
        Ok(())
    }

    /// Pending sessions the app has not answered yet.
    pub fn pending_sessions(&self) -> impl Iterator<Item = &PendingSession> {
        self.pending.values().map(|e| &e.info)
    }

    pub(crate) fn own_bare_jid(&self) -> Option<String> {
        let full = self.full_jid()?;
        Some(full.split('/').next().unwrap_or(full).to_string())
    }

    fn send_proceed(&mut self, id: &str) {
        let Some(record) = self.proposes.get_mut(id) else {
            self.error(
                SdkErrorKind::Session,
                format!("no propose record for session {id}; proceed not sent"),
            );
            return;
        };
        record.accepted = true;
        let to = record.from_jid.clone();
        if let Ok(sid) = SessionId::new(id) {
            self.send_element(&jmi::proceed(&to, &sid));
        }
    }

    pub(crate) fn on_jmi(&mut self, now: Instant, msg: JmiMessage) {
        if let Some(full) = self.full_jid() {
            if msg.is_self_echo(full) {
                return;
            }
        }
        let from = msg.from.clone().unwrap_or_default();
        match msg.action {
            JmiAction::Propose(p) => self.on_propose(now, p, from),
            JmiAction::Retract { id } => {
                self.proposes.remove(id.as_str());
                self.sdp_over_xmpp_ids.remove(id.as_str());
                if let Some(e) = self.pending.remove(id.as_str()) {
                    self.emit(SdkEvent::CancelPendingSession {
                        session_id: e.info.id,
                        conversation_id: e.info.conversation_id,
                    });
                }
            }
            JmiAction::Accept { id } | JmiAction::Reject { id } => {
                if let Some(e) = self.pending.remove(id.as_str()) {
                    self.proposes.remove(id.as_str());
                    self.sdp_over_xmpp_ids.remove(id.as_str());
                    self.emit(SdkEvent::HandledPendingSession {
                        session_id: e.info.id,
                        conversation_id: e.info.conversation_id,
                    });
                }
            }
            JmiAction::Proceed { .. } => {}
        }
    }

    fn on_propose(&mut self, now: Instant, p: Propose, from: String) {
        let id = p.id.as_str().to_string();
        // The SDK picks the handler by JID; no handler is an sdkError, a disallowed type is
        // dropped silently (no reply, no event).
        let Some(session_type) = jmi::sdk_handler_for_jid(&from) else {
            self.error(
                SdkErrorKind::Session,
                "Failed to find session handler for a propose",
            );
            return;
        };
        if !self.opts.allowed_session_types.contains(&session_type) {
            tracing::debug!(
                session_type = session_type.as_str(),
                "propose for a disallowed session type dropped"
            );
            return;
        }
        let span = tracing::info_span!("propose", session_id = %id, conversation_id = p.conversation_id.as_ref().map(|c| c.as_str()).unwrap_or(""));
        let _g = span.enter();
        // Streaming-client record: duplicates re-send proceed if already accepted.
        if let Some(rec) = self.proposes.get(&id) {
            if rec.accepted {
                self.send_proceed(&id);
            }
            return;
        }
        self.propose_seq += 1;
        self.proposes.insert(
            id.clone(),
            ProposeRecord {
                propose: p.clone(),
                from_jid: from.clone(),
                accepted: false,
                seq: self.propose_seq,
            },
        );
        self.trim_proposes();
        self.sdp_over_xmpp_ids.insert(id.clone(), p.sdp_over_xmpp);
        let conversation_id = p
            .conversation_id
            .as_ref()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default();
        // SDK: the same conversation and type already pending → update ids, re-proceed.
        let existing = self
            .pending
            .iter()
            .find(|(_, e)| {
                e.info.conversation_id == conversation_id
                    && !conversation_id.is_empty()
                    && e.info.session_type == session_type
            })
            .map(|(k, e)| (k.clone(), e.accepted));
        if let Some((old_id, accepted)) = existing {
            if old_id != id {
                if let Some(mut e) = self.pending.remove(&old_id) {
                    e.info.id = id.clone();
                    self.pending.insert(id.clone(), e);
                }
                if accepted {
                    self.send_proceed(&id);
                }
            }
            return;
        }
        let info = PendingSession {
            id: id.clone(),
            address: from.clone(),
            conversation_id,
            auto_answer: p.auto_answer,
            session_type,
            original_room_jid: p.original_room_jid.clone().unwrap_or(from),
            from_user_id: p.from_user_id.clone(),
        };
        match session_type {
            SessionType::Softphone if p.is_private_auto_answer() => {
                match self.opts.eager_persistent_connection {
                    // Proceed silently; the app never hears of this propose, so it is not a
                    // pending session.
                    EagerPersistentConnection::Auto => {
                        self.send_proceed(&id);
                        return;
                    }
                    // An ordinary pending session (below).
                    EagerPersistentConnection::Event => {}
                    // No event, no reply.
                    _ => {
                        tracing::debug!("persistent-connection propose ignored (option none)");
                        self.proposes.remove(&id);
                        return;
                    }
                }
            }
            SessionType::CollaborateVideo => {
                let own_user = match &self.identity {
                    Some(Identity::User { user_id, .. }) => Some(user_id.clone()),
                    _ => None,
                };
                if !jmi::is_peer_video_jid(&info.original_room_jid)
                    || info.from_user_id.is_some() && info.from_user_id == own_user
                {
                    tracing::debug!("video propose not requested by this client: ignored");
                    self.proposes.remove(&id);
                    self.sdp_over_xmpp_ids.remove(&id);
                    return;
                }
            }
            _ => {}
        }
        self.pending.insert(
            id.clone(),
            PendingEntry {
                info: info.clone(),
                accepted: false,
                seq: self.propose_seq,
                persistent_conversation: None,
            },
        );
        self.trim_pending();
        self.emit(SdkEvent::PendingSession(info.clone()));
        let auto = match session_type {
            SessionType::Softphone => info.auto_answer && self.opts.auto_answer_outbound_calls,
            SessionType::ScreenShare => true,
            _ => false,
        };
        if auto {
            let _ = self.accept_pending_session(now, &id);
        }
    }

    fn trim_proposes(&mut self) {
        while self.proposes.len() > MAX_PENDING {
            let oldest = self
                .proposes
                .iter()
                .min_by_key(|(_, r)| r.seq)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.proposes.remove(&k);
                    self.sdp_over_xmpp_ids.remove(&k);
                }
                None => break,
            }
        }
    }

    /// Over the limit, the oldest pending session is given up: the app gets
    /// `cancelPendingSession` for it, so every pending session still ends with an event.
    fn trim_pending(&mut self) {
        while self.pending.len() > MAX_PENDING {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, e)| e.seq)
                .map(|(k, _)| k.clone());
            let Some(e) = oldest.and_then(|k| self.pending.remove(&k)) else {
                break;
            };
            self.emit(SdkEvent::CancelPendingSession {
                session_id: e.info.id,
                conversation_id: e.info.conversation_id,
            });
        }
    }
}
