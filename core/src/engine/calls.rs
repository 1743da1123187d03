//! Media sessions (PROTOCOL.md §7, §8, §9, §13): one [`CallSession`] per session id, created by
//! an sdp-over-xmpp offer or a Jingle `session-initiate`, answered through str0m
//! ([`CallMedia`]), trickling candidates both ways, and ended by either side.
//!
//! Owns the session registry and its lifecycle events (`sessionStarted`, `sessionEnded`, session
//! `terminated`, `connectionState`, `endOfCandidates`). The wire formats are in
//! [`crate::signaling`]; the audio path is in `audio`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::participant::ParticipantAction;
use super::{Engine, SessionError, Transmit};
use crate::events::{SdkErrorKind, SdkEvent};
use crate::media::rtc::{
    CallMedia, ConnectionState as MediaState, MediaConfig, MediaEvent, MediaInput, MediaOutput,
};
use crate::options::{LogLevel, SessionType};
use crate::session::events::{
    ConnectionState, NegotiationMode, SessionEvent, SessionInfo, TerminateReason,
};
use crate::signaling::jingle::{self, Jingle, Reason, ReasonCondition};
use crate::signaling::jmi::{self, SessionId};
use crate::signaling::sdp::{Candidate, Sdp};
use crate::signaling::sdp_jingle::{self, LocalRole};
use crate::signaling::sdp_over_xmpp::{self, CandidateFragment, Method, SdpText};
use crate::xmpp::extdisco::IceTransportPolicy;

/// Most concurrent media sessions.
pub(crate) const MAX_SESSIONS: usize = 256;
/// Remote candidates buffered before the answer is made.
const MAX_BUFFERED_CANDIDATES: usize = 64;
/// How long a local sdp-over-xmpp `terminate` waits for its IQ result (PROTOCOL.md §7.5).
pub(crate) const TERMINATE_ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A local end waiting for the server to acknowledge `terminate` (§7.5): the session is over for
/// the app's commands and sends no audio, but media is closed and `terminated`/`sessionEnded`
/// are emitted only on the IQ result (or error), on the server's own terminate, or at the
/// deadline, whichever comes first.
#[derive(Debug, Clone)]
pub(crate) struct Ending {
    pub(crate) iq_id: String,
    pub(crate) reason: TerminateReason,
    pub(crate) deadline: Instant,
}

/// Where a session is (JS `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallState {
    /// Offer received, not answered.
    Pending,
    /// Answer sent.
    Active,
}

/// Jingle bookkeeping of a classic-Jingle session.
#[derive(Debug, Clone, Default)]
pub(crate) struct JingleState {
    /// Content names in the order of the offer.
    pub(crate) content_names: Vec<String>,
}

/// How long the media of an ended session is kept for its TURN deallocations to be answered
/// (they are retransmitted meanwhile).
pub(crate) const DEALLOCATION_GRACE: Duration = Duration::from_secs(5);

/// The closed media of an ended session whose TURN deallocation is not answered yet, with the
/// sockets it still uses.
pub(crate) struct ClosingMedia {
    pub(crate) media: CallMedia,
    pub(crate) sockets: super::udp::CallSockets,
    /// Its next timeout.
    pub(crate) next: Instant,
    /// Dropped at this instant at the latest.
    pub(crate) until: Instant,
}

/// One media session.
pub(crate) struct CallSession {
    pub(crate) info: SessionInfo,
    pub(crate) state: CallState,
    pub(crate) offer_sdp: String,
    pub(crate) jingle: Option<JingleState>,
    pub(crate) media: Option<CallMedia>,
    /// The call's own UDP sockets (requested when it is answered).
    pub(crate) sockets: super::udp::CallSockets,
    pub(crate) connection_state: ConnectionState,
    pub(crate) remote_candidates: Vec<CandidateFragment>,
    pub(crate) remote_end_of_candidates: bool,
    pub(crate) muted: bool,
    /// Put on hold through REST ([`Engine::set_hold`], or another call taking the line).
    pub(crate) held: bool,
    pub(crate) audio: super::audio::SessionAudio,
    pub(crate) media_deadline: Option<Instant>,
    pub(crate) last_stats: crate::media::rtc::MediaStats,
    /// Set while a local terminate waits for its acknowledgement.
    pub(crate) ending: Option<Ending>,
    /// A `sessionStarted` was emitted that no `sessionEnded` answered yet (a persistent
    /// connection's session starts and ends once per call while it stays up).
    pub(crate) started: bool,
}

impl Engine {
    /// Active media sessions.
    pub fn sessions(&self) -> impl Iterator<Item = &SessionInfo> {
        self.sessions.values().map(|c| &c.info)
    }

    /// JS `acceptSession({ id })`: answers the offer (media connects) with the SDK default
    /// devices; [`Engine::accept_session_with`] chooses devices.
    pub fn accept_session(&mut self, now: Instant, id: &str) -> Result<(), SessionError> {
        self.accept_session_with(now, id, super::AcceptSessionOptions::default())
    }

    /// Answers a pending offer; the route was set by the caller.
    pub(crate) fn answer_offer(&mut self, now: Instant, id: &str) -> Result<(), SessionError> {
        let Some(call) = self.sessions.get(id) else {
            return Err(SessionError::UnknownSession(id.to_string()));
        };
        if call.state != CallState::Pending {
            return Ok(());
        }
        self.answer(now, id);
        Ok(())
    }

    /// JS `endSession({ id } or { conversationId })`. Softphone: REST participant update, then
    /// the server's terminate ends the session (direct terminate if the REST call fails). Other
    /// types: direct terminate.
    pub fn end_session(
        &mut self,
        now: Instant,
        id_or_conversation: &str,
    ) -> Result<(), SessionError> {
        self.advance(now);
        let id = self.session_id_for(id_or_conversation)?;
        let Some(call) = self.sessions.get(&id) else {
            return Err(SessionError::UnknownSession(id));
        };
        if call.ending.is_some() {
            return Ok(());
        }
        let (kind, cid) = (call.info.session_type, call.info.conversation_id.clone());
        if kind == SessionType::Softphone && !cid.is_empty() {
            self.start_participant_action(now, &cid, ParticipantAction::End { session_id: id });
        } else {
            self.terminate_session(now, &id, TerminateReason::Success, true);
        }
        Ok(())
    }

    /// JS `setAudioMute({ id, mute })`: stops (or resumes) outgoing audio at once and, for
    /// softphone calls, sends the participant PATCH `{"muted": …}` (the only mute signal
    /// PROTOCOL.md §9.4 allows for softphone).
    pub fn set_audio_mute(
        &mut self,
        now: Instant,
        id: &str,
        mute: bool,
    ) -> Result<(), SessionError> {
        self.advance(now);
        let id = self.session_id_for(id)?;
        let Some(call) = self.sessions.get_mut(&id) else {
            return Err(SessionError::UnknownSession(id));
        };
        call.muted = mute;
        if let Some(m) = call.media.as_mut() {
            m.set_send_muted(mute);
        }
        let (kind, cid) = (call.info.session_type, call.info.conversation_id.clone());
        if kind == SessionType::Softphone && !cid.is_empty() {
            self.start_participant_action(now, &cid, ParticipantAction::Mute(mute));
        }
        Ok(())
    }

    /// Hold or resume a softphone call (PATCH `{"held": …}`).
    pub fn set_hold(&mut self, now: Instant, id: &str, hold: bool) -> Result<(), SessionError> {
        self.advance(now);
        let id = self.session_id_for(id)?;
        let Some(call) = self.sessions.get(&id) else {
            return Err(SessionError::UnknownSession(id));
        };
        if call.info.session_type != SessionType::Softphone {
            return Err(SessionError::NotSupported("hold is for softphone calls"));
        }
        if matches!(
            call.connection_state,
            ConnectionState::Interrupted
                | ConnectionState::Disconnected
                | ConnectionState::Failed
                | ConnectionState::Closed
        ) {
            return Err(SessionError::NotSupported(
                "hold while the media connection is down",
            ));
        }
        let cid = call.info.conversation_id.clone();
        if let Some(c) = self.sessions.get_mut(&id) {
            c.held = hold;
        }
        self.start_participant_action(now, &cid, ParticipantAction::Hold(hold));
        if !hold {
            self.hold_other_calls(now, &id);
        }
        Ok(())
    }

    pub(crate) fn session_id_for(&self, id_or_conversation: &str) -> Result<String, SessionError> {
        if self.sessions.contains_key(id_or_conversation) {
            return Ok(id_or_conversation.to_string());
        }
        self.sessions
            .values()
            .find(|c| c.info.conversation_id == id_or_conversation)
            .map(|c| c.info.id.clone())
            .ok_or_else(|| SessionError::UnknownSession(id_or_conversation.to_string()))
    }

    // ------------------------------------------------------------ sdp-over-xmpp (mode A)

    pub(crate) fn on_genesys_rpc(&mut self, now: Instant, rpc: sdp_over_xmpp::GenesysRpc) {
        let from = rpc.from.clone().unwrap_or_default();
        // Open question 1: answer with an empty result, as standard XMPP expects.
        self.send_element(&crate::xmpp::stanza::iq_result(
            rpc.from.as_deref(),
            &rpc.iq_id,
        ));
        if self.reinvites.is_repeated_reinvite(&rpc, now) {
            tracing::debug!("repeated reinvite ignored");
            return;
        }
        match rpc.method {
            Method::Offer {
                session_id,
                conversation_id,
                sdp,
                reinvite,
            } => {
                let sid = session_id.as_str().to_string();
                let cid = conversation_id
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default();
                if let Some(call) = self.sessions.get_mut(&sid) {
                    if sdp_over_xmpp::is_renegotiation(&call.offer_sdp, sdp.as_str()) {
                        // §7.3 step 3: same ICE credentials → apply on the same connection
                        // and answer at once.
                        if !cid.is_empty() {
                            call.info.conversation_id = cid;
                        }
                        call.offer_sdp = sdp.as_str().to_string();
                        let peer = call.info.peer.clone();
                        let codecs_before = call.media.as_ref().map(|m| m.codecs().to_vec());
                        let result = match call.media.as_mut() {
                            Some(m) => m.renegotiate(now, sdp.as_str()).map(Some),
                            None => Ok(None),
                        };
                        match result {
                            Ok(Some(answer)) => {
                                // Keep the codec state (timestamps, jitter buffer) unless the
                                // negotiated codecs changed.
                                if call.media.as_ref().map(|m| m.codecs().to_vec()) != codecs_before
                                {
                                    call.audio = super::audio::SessionAudio::default();
                                    call.audio.configure(call.media.as_ref(), &self.opts.audio);
                                }
                                if let (Ok(session_id), Ok(sdp)) =
                                    (SessionId::new(sid.clone()), SdpText::new(answer))
                                {
                                    self.send_rpc(&peer, Method::Answer { session_id, sdp });
                                }
                                self.drain_media(now, &sid);
                            }
                            // Not answered yet: the new offer simply replaces the old one.
                            Ok(None) => {}
                            Err(e) => {
                                self.error(
                                    SdkErrorKind::Session,
                                    format!("renegotiation failed: {e}"),
                                );
                            }
                        }
                        return;
                    }
                }
                self.on_offer(
                    now,
                    sid,
                    cid,
                    from,
                    sdp.as_str().to_string(),
                    reinvite,
                    NegotiationMode::SdpOverXmpp,
                    None,
                );
            }
            Method::IceCandidate {
                session_id,
                candidate,
            } => {
                let sid = session_id.as_str().to_string();
                if self.sessions.contains_key(&sid) {
                    self.on_remote_candidate(now, &sid, candidate);
                } else if !self.early_candidates.push(&session_id, candidate, now) {
                    tracing::debug!("early candidate buffer full");
                }
            }
            Method::Terminate { session_id, reason } => {
                let reason = TerminateReason::parse(reason.as_deref().unwrap_or("success"));
                self.remote_terminated(now, session_id.as_str(), reason);
            }
            other => tracing::debug!(method = other.name(), "sdp-over-xmpp method ignored"),
        }
    }

    // ------------------------------------------------------------ classic Jingle (mode B)

    pub(crate) fn on_jingle(
        &mut self,
        now: Instant,
        iq_id: &str,
        from: &str,
        el: &crate::wire::xml::Element,
    ) {
        let j = match Jingle::from_element(el) {
            Ok(j) => j,
            Err(e) => {
                self.reply_iq_error(from, iq_id, jingle::error_bad_request());
                self.error(SdkErrorKind::Protocol, format!("bad Jingle request: {e}"));
                return;
            }
        };
        let sid = j.sid.clone();
        match j.action {
            jingle::Action::SessionInitiate => {
                if j.contents.is_empty() {
                    self.reply_iq_error(from, iq_id, jingle::error_bad_request());
                    return;
                }
                // A propose that said sdp-over-xmpp: the Jingle session is a dummy; no reply.
                if self.sdp_over_xmpp_ids.get(&sid).copied().unwrap_or(false) {
                    tracing::debug!("session-initiate for an sdp-over-xmpp session swallowed");
                    return;
                }
                // The SDP is only used when it reads back as exactly what was mapped: Jingle
                // values with line breaks or spaces must not inject or break SDP lines.
                let mapped = sdp_jingle::jingle_to_sdp(&j, self.rng.u64(1..u64::MAX / 2))
                    .map_err(|e| e.to_string())
                    .and_then(|model| {
                        let text = model.to_string();
                        match Sdp::parse(&text) {
                            Ok(back) if back == model => Ok(text),
                            _ => Err("Jingle values do not form valid SDP".to_string()),
                        }
                    });
                let sdp = match mapped {
                    Ok(s) => s,
                    Err(e) => {
                        self.reply_iq_error(from, iq_id, jingle::error_bad_request());
                        self.error(
                            SdkErrorKind::Protocol,
                            format!("unusable session-initiate: {e}"),
                        );
                        return;
                    }
                };
                self.send_element(&crate::xmpp::stanza::iq_result(Some(from), iq_id));
                let names = j.contents.iter().map(|c| c.name.clone()).collect();
                self.on_offer(
                    now,
                    sid.clone(),
                    String::new(),
                    from.to_string(),
                    sdp,
                    false,
                    NegotiationMode::Jingle,
                    Some(JingleState {
                        content_names: names,
                    }),
                );
                // Candidates carried inside the initiate.
                for c in &j.contents {
                    for cand in c.transport.iter().flat_map(|t| t.candidates.iter()) {
                        let line = sdp_jingle::jingle_to_candidate(cand).to_sdp_attribute();
                        if let Ok(frag) = CandidateFragment::new(&c.name, &line) {
                            self.on_remote_candidate(now, &sid, frag);
                        }
                    }
                }
            }
            action => {
                let known = self.sessions.get(&sid).is_some_and(|c| c.info.peer == from);
                if !known {
                    if action == jingle::Action::SessionTerminate {
                        self.send_element(&crate::xmpp::stanza::iq_result(Some(from), iq_id));
                    } else {
                        self.reply_iq_error(from, iq_id, jingle::error_unknown_session());
                    }
                    return;
                }
                match action {
                    jingle::Action::TransportInfo => {
                        self.send_element(&crate::xmpp::stanza::iq_result(Some(from), iq_id));
                        for c in &j.contents {
                            let Some(t) = &c.transport else { continue };
                            for cand in &t.candidates {
                                let line = sdp_jingle::jingle_to_candidate(cand).to_sdp_attribute();
                                if let Ok(frag) = CandidateFragment::new(&c.name, &line) {
                                    self.on_remote_candidate(now, &sid, frag);
                                }
                            }
                            if t.gathering_complete {
                                self.on_remote_candidate(
                                    now,
                                    &sid,
                                    CandidateFragment::EndOfCandidates,
                                );
                            }
                        }
                    }
                    jingle::Action::SessionTerminate => {
                        self.send_element(&crate::xmpp::stanza::iq_result(Some(from), iq_id));
                        let reason = j
                            .reason
                            .as_ref()
                            .map(|r| TerminateReason::parse(r.condition.as_str()))
                            .unwrap_or(TerminateReason::Success);
                        self.remote_terminated(now, &sid, reason);
                    }
                    jingle::Action::SessionInfo => {
                        let ok = j.info.as_ref().is_none_or(|i| i.is_known());
                        if ok {
                            self.send_element(&crate::xmpp::stanza::iq_result(Some(from), iq_id));
                        } else {
                            self.reply_iq_error(from, iq_id, jingle::error_unsupported_info());
                        }
                    }
                    jingle::Action::SessionAccept => {
                        self.reply_iq_error(from, iq_id, jingle::error_out_of_order());
                    }
                    jingle::Action::DescriptionInfo | jingle::Action::SecurityInfo => {
                        self.reply_iq_error(from, iq_id, jingle::error_unsupported_info());
                    }
                    _ => self.reply_iq_error(from, iq_id, jingle::error_bad_request()),
                }
            }
        }
    }

    fn reply_iq_error(&mut self, to: &str, id: &str, error: crate::wire::xml::Element) {
        let iq = crate::wire::xml::Element::new("iq", crate::xmpp::ns::CLIENT)
            .with_attr("type", "error")
            .with_attr("id", id)
            .with_attr("to", to)
            .with_child(error);
        self.send_element(&iq);
    }

    // ------------------------------------------------------------ shared lifecycle

    #[allow(clippy::too_many_arguments)]
    fn on_offer(
        &mut self,
        now: Instant,
        sid: String,
        mut conversation_id: String,
        from: String,
        sdp: String,
        reinvite: bool,
        mode: NegotiationMode,
        jingle: Option<JingleState>,
    ) {
        let Some(session_type) = jmi::sdk_handler_for_jid(&from) else {
            self.error(
                SdkErrorKind::Session,
                "Failed to find session handler for an offer",
            );
            return;
        };
        if !self.opts.allowed_session_types.contains(&session_type) {
            return;
        }
        if self.sessions.len() >= MAX_SESSIONS && !self.sessions.contains_key(&sid) {
            self.error(
                SdkErrorKind::Session,
                "too many concurrent sessions; offer ignored",
            );
            return;
        }
        // The propose record and the pending session end here (open question 4).
        if let Some(rec) = self.proposes.remove(&sid) {
            if conversation_id.is_empty() {
                if let Some(c) = rec.propose.conversation_id {
                    conversation_id = c.as_str().to_string();
                }
            }
        }
        self.pending.remove(&sid);
        // A reinvite replaces the older session of the same conversation.
        let replaced: Vec<String> = self
            .sessions
            .values()
            .filter(|c| {
                c.info.id == sid
                    || (reinvite
                        && !conversation_id.is_empty()
                        && c.info.conversation_id == conversation_id)
            })
            .map(|c| c.info.id.clone())
            .collect();
        for old in replaced {
            self.terminate_session(now, &old, TerminateReason::AlternativeSession, old != sid);
        }
        let info = SessionInfo {
            id: sid.clone(),
            conversation_id,
            session_type,
            peer: from,
            mode,
            reinvite,
        };
        let span = tracing::info_span!("session", session_id = %info.id, conversation_id = %info.conversation_id);
        let _g = span.enter();
        tracing::info!(mode = ?mode, "session initiated");
        let early = self.early_candidates.take(&sid, now);
        self.sessions.insert(
            sid.clone(),
            Box::new(CallSession {
                info: info.clone(),
                state: CallState::Pending,
                offer_sdp: sdp,
                jingle,
                media: None,
                sockets: super::udp::CallSockets::default(),
                connection_state: ConnectionState::Starting,
                remote_candidates: Vec::new(),
                remote_end_of_candidates: false,
                muted: false,
                held: false,
                audio: super::audio::SessionAudio::default(),
                media_deadline: None,
                last_stats: crate::media::rtc::MediaStats::default(),
                ending: None,
                started: true,
            }),
        );
        for c in early {
            self.on_remote_candidate(now, &sid, c);
        }
        if let (Some(bare), Ok(id)) = (self.own_bare_jid(), SessionId::new(sid.clone())) {
            self.send_element(&jmi::accept(&bare, &id));
        }
        if !reinvite {
            self.emit(SdkEvent::SessionStarted(info.clone()));
        }
        if reinvite {
            self.answer(now, &sid);
        } else if self.opts.auto_connect_sessions {
            // As JS `acceptSession` with no device ids: the SDK defaults.
            let _ = self.accept_session(now, &sid);
        }
    }

    /// Answers the offer of `sid`: first has the call's sockets bound (the answer is made again
    /// from `udp::sockets_settled` once every bind is answered), then builds the media on them.
    pub(crate) fn answer(&mut self, now: Instant, sid: &str) {
        let Some(call) = self.sessions.get(sid) else {
            return;
        };
        if call.media.is_some() || call.ending.is_some() {
            return;
        }
        let (requested, settled) = (call.sockets.requested(), call.sockets.settled());
        if !requested {
            if self.bind_call_sockets(sid) {
                return;
            }
        } else if !settled {
            return;
        }
        let local_addrs = self
            .sessions
            .get(sid)
            .map(|c| c.sockets.bound())
            .unwrap_or_default();
        let relay_only = self
            .ice
            .as_ref()
            .is_some_and(|i| i.policy == IceTransportPolicy::Relay);
        let mut ice_servers = self.ice_servers_for_media();
        ice_servers.extend(self.opts.ice_servers.iter().cloned());
        let config = MediaConfig {
            local_addrs,
            ice_servers,
            relay_only,
            send_audio: true,
            rng_seed: self.rng.u64(..),
        };
        let Some(call) = self.sessions.get_mut(sid) else {
            return;
        };
        let result = CallMedia::accept_offer(now, &call.offer_sdp, &config);
        let (media, answer) = match result {
            Ok(x) => x,
            Err(e) => {
                let msg = format!("could not answer: {e}");
                self.error(SdkErrorKind::Session, msg);
                self.terminate_session(now, sid, TerminateReason::FailedApplication, true);
                return;
            }
        };
        call.media = Some(media);
        if call.muted {
            if let Some(m) = call.media.as_mut() {
                m.set_send_muted(true);
            }
        }
        call.state = CallState::Active;
        call.audio.configure(call.media.as_ref(), &self.opts.audio);
        let buffered = std::mem::take(&mut call.remote_candidates);
        let end = call.remote_end_of_candidates;
        let (mode, peer) = (call.info.mode, call.info.peer.clone());
        let names = call.jingle.as_ref().map(|j| j.content_names.clone());
        match mode {
            NegotiationMode::SdpOverXmpp => {
                let Ok(session_id) = SessionId::new(sid.to_string()) else {
                    return;
                };
                self.send_rpc(
                    &peer,
                    Method::Answer {
                        session_id,
                        sdp: match SdpText::new(answer) {
                            Ok(s) => s,
                            Err(_) => return,
                        },
                    },
                );
            }
            NegotiationMode::Jingle => {
                let contents = Sdp::parse(&answer)
                    .map_err(|e| e.to_string())
                    .and_then(|s| {
                        sdp_jingle::sdp_to_jingle(&s, LocalRole::Responder)
                            .map_err(|e| e.to_string())
                    });
                match contents {
                    Ok((mut contents, groups)) => {
                        // Our answer's contents keep the initiator's names and creator.
                        if let Some(names) = names {
                            for (c, n) in contents.iter_mut().zip(names) {
                                c.name = n;
                            }
                        }
                        let own = self.full_jid().map(str::to_string);
                        let j = Jingle::session_accept(sid, own.as_deref(), contents, groups);
                        let id = self.uuid();
                        self.send_element(&jingle::iq_set(&id, &peer, None, &j));
                    }
                    Err(e) => {
                        self.error(
                            SdkErrorKind::Session,
                            format!("answer not mappable to Jingle: {e}"),
                        );
                        self.terminate_session(now, sid, TerminateReason::FailedApplication, true);
                        return;
                    }
                }
            }
        }
        for c in buffered {
            self.on_remote_candidate(now, sid, c);
        }
        if end {
            self.on_remote_candidate(now, sid, CandidateFragment::EndOfCandidates);
        }
        self.drain_media(now, sid);
    }

    fn on_remote_candidate(&mut self, now: Instant, sid: &str, frag: CandidateFragment) {
        let Some(call) = self.sessions.get_mut(sid) else {
            return;
        };
        match (&frag, call.media.as_mut()) {
            (CandidateFragment::EndOfCandidates, Some(m)) => {
                m.end_of_remote_candidates();
            }
            (CandidateFragment::EndOfCandidates, None) => call.remote_end_of_candidates = true,
            (CandidateFragment::Candidate { candidate_line, .. }, Some(m)) => {
                if let Err(e) = m.add_remote_candidate(candidate_line) {
                    tracing::debug!(error = %e, "remote candidate refused");
                }
            }
            (CandidateFragment::Candidate { .. }, None) => {
                if call.remote_candidates.len() < MAX_BUFFERED_CANDIDATES {
                    call.remote_candidates.push(frag.clone());
                }
            }
        }
        if matches!(frag, CandidateFragment::EndOfCandidates) {
            self.emit(SdkEvent::Session {
                session_id: sid.to_string(),
                event: SessionEvent::EndOfCandidates,
            });
        }
        self.drain_media(now, sid);
    }

    fn remote_terminated(&mut self, now: Instant, sid: &str, reason: TerminateReason) {
        let Some(call) = self.sessions.get(sid) else {
            return;
        };
        // A local end already chose the reason; the server's terminate only ends the wait.
        let reason = call.ending.as_ref().map_or(reason, |e| e.reason.clone());
        self.finish_session(now, sid, reason);
    }

    /// An IQ result or error from the session's peer for a local `terminate` ends that
    /// session's wait (§7.5). Returns whether the reply was one.
    pub(crate) fn on_terminate_reply(
        &mut self,
        now: Instant,
        iq_id: &str,
        from: Option<&str>,
    ) -> bool {
        let found = self.sessions.iter().find_map(|(k, c)| {
            c.ending
                .as_ref()
                .filter(|e| e.iq_id == iq_id && from == Some(c.info.peer.as_str()))
                .map(|e| (k.clone(), e.reason.clone()))
        });
        let Some((sid, reason)) = found else {
            return false;
        };
        self.finish_session(now, &sid, reason);
        true
    }

    /// Local ends whose acknowledgement did not come in time finish now.
    fn ending_timeouts(&mut self, now: Instant) {
        let due: Vec<(String, TerminateReason)> = self
            .sessions
            .iter()
            .filter_map(|(k, c)| {
                c.ending
                    .as_ref()
                    .filter(|e| now >= e.deadline)
                    .map(|e| (k.clone(), e.reason.clone()))
            })
            .collect();
        for (sid, reason) in due {
            tracing::debug!(session_id = %sid, "no terminate result within 2 s; closing anyway");
            self.finish_session(now, &sid, reason);
        }
    }

    /// Ends a session locally: sends terminate when `send` (mode A JSON `terminate`, mode B
    /// `session-terminate`), closes media, and emits `terminated` + `sessionEnded`.
    pub(crate) fn terminate_session(
        &mut self,
        now: Instant,
        sid: &str,
        reason: TerminateReason,
        send: bool,
    ) {
        let Some(call) = self.sessions.get(sid) else {
            return;
        };
        if call.ending.is_some() {
            return;
        }
        if send && self.is_connected() {
            let (mode, peer) = (call.info.mode, call.info.peer.clone());
            match mode {
                NegotiationMode::SdpOverXmpp => {
                    let Ok(session_id) = SessionId::new(sid.to_string()) else {
                        self.finish_session(now, sid, reason);
                        return;
                    };
                    let iq_id = self.send_rpc(
                        &peer,
                        Method::Terminate {
                            session_id,
                            reason: Some(reason.as_str().to_string()),
                        },
                    );
                    if let (Some(iq_id), Some(call)) = (iq_id, self.sessions.get_mut(sid)) {
                        tracing::debug!(session_id = %sid, "terminate sent; waiting for its result");
                        call.ending = Some(Ending {
                            iq_id,
                            reason,
                            deadline: now + TERMINATE_ACK_WAIT,
                        });
                        return;
                    }
                }
                NegotiationMode::Jingle => {
                    let j = Jingle::session_terminate(
                        sid,
                        Reason::new(ReasonCondition::from_name(reason.as_str())),
                    );
                    let id = self.uuid();
                    self.send_element(&jingle::iq_set(&id, &peer, None, &j));
                }
            }
        }
        self.finish_session(now, sid, reason);
    }

    fn finish_session(&mut self, now: Instant, sid: &str, reason: TerminateReason) {
        let Some(mut call) = self.sessions.remove(sid) else {
            return;
        };
        // The propose's negotiation flag lives as long as its session (no longer: it would
        // grow with every call).
        self.sdp_over_xmpp_ids.remove(sid);
        let had_media = call.media.is_some();
        let sockets = std::mem::take(&mut call.sockets);
        match call.media.take() {
            Some(mut m) => {
                m.close();
                // Only the TURN deallocations (Refresh with lifetime 0) of the closed media
                // leave; the media and its sockets are kept until they are answered (see
                // `closing_media_timeouts`).
                let next = self.drain_closing_media(&mut m);
                if m.is_deallocating() {
                    self.closing_media.push(ClosingMedia {
                        media: m,
                        sockets,
                        next,
                        until: now + DEALLOCATION_GRACE,
                    });
                } else {
                    self.close_sockets(&sockets);
                }
            }
            None => self.close_sockets(&sockets),
        }
        tracing::info!(session_id = %sid, reason = reason.as_str(), "session ended");
        if had_media {
            // A last snapshot, so short calls report their figures too.
            let stats = call.audio.stats(&call.last_stats);
            self.emit(SdkEvent::Session {
                session_id: sid.to_string(),
                event: SessionEvent::Stats(stats),
            });
        }
        self.emit(SdkEvent::Session {
            session_id: sid.to_string(),
            event: SessionEvent::Terminated {
                reason: reason.clone(),
            },
        });
        if call.started {
            self.emit(SdkEvent::SessionEnded {
                session: call.info,
                reason,
            });
        }
    }

    /// Ends every session after the WebSocket dropped when survivability is off.
    pub(crate) fn end_sessions_on_disconnect(&mut self, now: Instant) {
        if self.opts.session_survivability {
            return;
        }
        let ids: Vec<String> = self.sessions.keys().cloned().collect();
        for id in ids {
            self.finish_session(now, &id, TerminateReason::ConnectivityError);
        }
    }

    /// Sends a `genesys-webrtc` JSON-RPC IQ; returns its IQ id (none when not bound).
    fn send_rpc(&mut self, peer: &str, method: Method) -> Option<String> {
        let own = self.full_jid().map(str::to_string)?;
        let (iq_id, json_id) = (self.uuid(), self.uuid());
        self.send_element(&sdp_over_xmpp::build_rpc_iq(
            &iq_id, &own, peer, &json_id, &method,
        ));
        Some(iq_id)
    }

    // ------------------------------------------------------------ media I/O

    /// One captured 20 ms frame: 960 samples, 48 kHz mono (the driver resamples device audio).
    /// Encoded and sent on every connected session (muted sessions send nothing but DTMF).
    pub fn push_capture_frame(&mut self, now: Instant, pcm: &[i16]) {
        self.advance(now);
        let ids: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, c)| {
                c.ending.is_none() && c.media.as_ref().is_some_and(|m| m.is_connected())
            })
            .map(|(k, _)| k.clone())
            .collect();
        for sid in ids {
            let Some(call) = self.sessions.get_mut(&sid) else {
                continue;
            };
            let packets = call.audio.encode_frame(pcm);
            let Some(media) = call.media.as_mut() else {
                continue;
            };
            for p in packets {
                let r = if p.telephone_event {
                    media.write_telephone_event(now, p.rtp_timestamp, &p.payload, p.marker)
                } else {
                    media.write_audio(now, p.pt, p.rtp_timestamp, &p.payload)
                };
                if let Err(e) = r {
                    tracing::debug!(error = %e, "audio write refused");
                }
            }
            self.drain_media(now, &sid);
        }
    }

    /// The next 20 ms of playout (960 samples, 48 kHz mono): every session's received audio,
    /// mixed.
    pub fn pull_playout_frame(&mut self, now: Instant) -> Vec<i16> {
        self.advance(now);
        let mut mix = vec![0i32; super::audio::FRAME_SAMPLES];
        for call in self.sessions.values_mut() {
            if let Some(frame) = call.audio.pull_frame(now) {
                for (m, s) in mix.iter_mut().zip(frame) {
                    *m += i32::from(s);
                }
            }
        }
        mix.into_iter()
            .map(|s| s.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16)
            .collect()
    }

    /// Sends DTMF digits (`0-9 * # A-D`, `,` = 2 s pause) on a session as RFC 4733 events.
    pub fn send_dtmf(&mut self, now: Instant, id: &str, digits: &str) -> Result<(), SessionError> {
        self.advance(now);
        let id = self.session_id_for(id)?;
        let Some(call) = self.sessions.get_mut(&id) else {
            return Err(SessionError::UnknownSession(id));
        };
        call.audio
            .send_dtmf(digits)
            .map_err(|e| SessionError::InvalidInput {
                what: "dtmf",
                reason: e.to_string(),
            })
    }

    /// Sends the TURN datagrams of a closed media and returns when it wants its next timeout.
    fn drain_closing_media(&mut self, m: &mut CallMedia) -> Instant {
        loop {
            match m.poll_output() {
                MediaOutput::Transmit {
                    source,
                    destination,
                    data,
                } if m.is_turn_server(destination) => {
                    self.transmit(Transmit::Datagram {
                        source,
                        destination,
                        data,
                    });
                }
                MediaOutput::Timeout(t) => return t,
                _ => {}
            }
        }
    }

    /// Feeds the closed media kept for their TURN deallocations: timeouts (retransmissions)
    /// and, from `on_datagram`, the server's answers. Drops them once answered or after
    /// [`DEALLOCATION_GRACE`].
    fn closing_media_timeouts(&mut self, now: Instant) {
        let mut closing = std::mem::take(&mut self.closing_media);
        for c in &mut closing {
            if now >= c.next {
                c.media.handle_input(MediaInput::Timeout(now));
                c.next = self.drain_closing_media(&mut c.media);
            }
        }
        let (keep, done): (Vec<_>, Vec<_>) = closing
            .into_iter()
            .partition(|c| now < c.until && c.media.is_deallocating());
        for c in &done {
            self.close_sockets(&c.sockets);
        }
        let mut closing = keep;
        closing.append(&mut self.closing_media);
        self.closing_media = closing;
    }

    /// A UDP datagram for media arrived on one of our sockets (`destination`): it goes to the
    /// call (or closed media) owning that socket, whose media keeps what is its own (STUN and
    /// TURN responses, what str0m accepts) and drops the rest.
    pub(crate) fn on_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        let input = MediaInput::Receive {
            now,
            source,
            destination,
            data,
        };
        let sid = self
            .sessions
            .iter()
            .find(|(_, c)| c.media.is_some() && c.sockets.has(destination))
            .map(|(k, _)| k.clone());
        let Some(sid) = sid else {
            if let Some(i) = self
                .closing_media
                .iter()
                .position(|c| c.sockets.has(destination))
            {
                let mut c = self.closing_media.swap_remove(i);
                c.media.handle_input(input);
                c.next = self.drain_closing_media(&mut c.media);
                if c.media.is_deallocating() {
                    self.closing_media.push(c);
                } else {
                    self.close_sockets(&c.sockets);
                }
                return;
            }
            tracing::trace!("datagram for no session dropped");
            return;
        };
        if let Some(m) = self.sessions.get_mut(&sid).and_then(|c| c.media.as_mut()) {
            m.handle_input(input);
        }
        self.drain_media(now, &sid);
    }

    pub(crate) fn media_timeouts(&mut self, now: Instant) {
        self.ending_timeouts(now);
        self.closing_media_timeouts(now);
        let due: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, c)| c.media_deadline.is_some_and(|d| now >= d))
            .map(|(k, _)| k.clone())
            .collect();
        for sid in due {
            if let Some(m) = self.sessions.get_mut(&sid).and_then(|c| c.media.as_mut()) {
                m.handle_input(MediaInput::Timeout(now));
            }
            self.drain_media(now, &sid);
        }
    }

    pub(crate) fn media_poll_timeout(&self) -> Option<Instant> {
        self.sessions
            .values()
            .flat_map(|c| [c.media_deadline, c.ending.as_ref().map(|e| e.deadline)])
            .flatten()
            .chain(self.closing_media.iter().map(|c| c.next.min(c.until)))
            .min()
    }

    /// Drains one session's media outputs into transmits and events.
    pub(crate) fn drain_media(&mut self, now: Instant, sid: &str) {
        let mut guard = 0;
        loop {
            guard += 1;
            if guard > 10_000 {
                break;
            }
            let Some(call) = self.sessions.get_mut(sid) else {
                return;
            };
            let Some(media) = call.media.as_mut() else {
                return;
            };
            match media.poll_output() {
                MediaOutput::Timeout(t) => {
                    call.media_deadline = Some(t);
                    break;
                }
                MediaOutput::Transmit {
                    source,
                    destination,
                    data,
                } => {
                    self.transmit(Transmit::Datagram {
                        source,
                        destination,
                        data,
                    });
                }
                MediaOutput::Event(ev) => self.on_media_event(now, sid, ev),
            }
        }
    }

    fn on_media_event(&mut self, now: Instant, sid: &str, ev: MediaEvent) {
        let Some(call) = self.sessions.get_mut(sid) else {
            return;
        };
        let (mode, peer) = (call.info.mode, call.info.peer.clone());
        match ev {
            MediaEvent::LocalCandidate(line) => {
                if !sdp_over_xmpp::should_send_candidate(&line) {
                    return;
                }
                match mode {
                    NegotiationMode::SdpOverXmpp => {
                        let (Ok(session_id), Ok(frag)) = (
                            SessionId::new(sid.to_string()),
                            CandidateFragment::new("0", &line),
                        ) else {
                            return;
                        };
                        self.send_rpc(
                            &peer,
                            Method::IceCandidate {
                                session_id,
                                candidate: frag,
                            },
                        );
                    }
                    NegotiationMode::Jingle => {
                        let name = call
                            .jingle
                            .as_ref()
                            .and_then(|j| j.content_names.first().cloned())
                            .unwrap_or_else(|| "0".into());
                        let Ok(c) = Candidate::parse(&line) else {
                            return;
                        };
                        let j = Jingle::transport_info_candidate(
                            sid,
                            name,
                            None,
                            sdp_jingle::candidate_to_jingle(&c),
                        );
                        let id = self.uuid();
                        self.send_element(&jingle::iq_set(&id, &peer, None, &j));
                    }
                }
            }
            MediaEvent::EndOfLocalCandidates => match mode {
                NegotiationMode::SdpOverXmpp => {
                    let Ok(session_id) = SessionId::new(sid.to_string()) else {
                        return;
                    };
                    self.send_rpc(
                        &peer,
                        Method::IceCandidate {
                            session_id,
                            candidate: CandidateFragment::EndOfCandidates,
                        },
                    );
                }
                NegotiationMode::Jingle => {
                    let name = call
                        .jingle
                        .as_ref()
                        .and_then(|j| j.content_names.first().cloned())
                        .unwrap_or_else(|| "0".into());
                    let j = Jingle::transport_info_gathering_complete(sid, name, None);
                    let id = self.uuid();
                    self.send_element(&jingle::iq_set(&id, &peer, None, &j));
                }
            },
            MediaEvent::ConnectionState(s) => {
                let state = match s {
                    MediaState::New => ConnectionState::Starting,
                    MediaState::Checking => ConnectionState::Connecting,
                    MediaState::Connected => ConnectionState::Connected,
                    MediaState::Disconnected => {
                        if mode == NegotiationMode::Jingle {
                            ConnectionState::Interrupted
                        } else {
                            ConnectionState::Disconnected
                        }
                    }
                    MediaState::Failed => ConnectionState::Failed,
                    _ => ConnectionState::Closed,
                };
                if call.connection_state != state {
                    call.connection_state = state;
                    self.emit(SdkEvent::Session {
                        session_id: sid.to_string(),
                        event: SessionEvent::ConnectionState(state),
                    });
                }
                if state == ConnectionState::Failed {
                    // §7.5: an interrupted connection that fails ends locally without terminate.
                    self.finish_session(now, sid, TerminateReason::FailedTransport);
                }
            }
            MediaEvent::Connected => {
                self.trace(LogLevel::Info, format!("session {sid}: media connected"));
                match mode {
                    NegotiationMode::SdpOverXmpp => {
                        if let Ok(session_id) = SessionId::new(sid.to_string()) {
                            self.send_rpc(
                                &peer,
                                Method::Info {
                                    session_id,
                                    status: "active".into(),
                                },
                            );
                        }
                    }
                    NegotiationMode::Jingle => {
                        let id = self.uuid();
                        self.send_element(&jingle::iq_set(
                            &id,
                            &peer,
                            None,
                            &Jingle::session_info_active(sid),
                        ));
                    }
                }
            }
            MediaEvent::AudioReceived {
                pt,
                codec,
                seq,
                rtp_timestamp,
                payload,
                received_at,
                ..
            } => {
                if let Some(digit) =
                    call.audio
                        .on_rtp(pt, codec, seq, rtp_timestamp, payload, received_at)
                {
                    self.emit(SdkEvent::Session {
                        session_id: sid.to_string(),
                        event: SessionEvent::DtmfReceived(digit),
                    });
                }
            }
            MediaEvent::Stats(s) => {
                let stats = call.audio.stats(&s);
                call.audio.on_remote_report(&s);
                call.last_stats = s;
                self.emit(SdkEvent::Session {
                    session_id: sid.to_string(),
                    event: SessionEvent::Stats(stats),
                });
            }
            MediaEvent::SelectedPath(path) => {
                let kind = if path.relayed { "relay" } else { "direct" };
                self.trace(
                    LogLevel::Info,
                    format!("session {sid}: media path {kind} (local {})", path.local),
                );
                self.emit(SdkEvent::Session {
                    session_id: sid.to_string(),
                    event: SessionEvent::SelectedPath(path),
                });
            }
            MediaEvent::Error(e) => {
                self.error(SdkErrorKind::Media, format!("session {sid}: {e}"));
            }
        }
    }
}
