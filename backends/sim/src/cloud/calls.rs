//! Softphone calls on the fake cloud (PROTOCOL.md sections 6–9): conversations, the JMI
//! `propose`/`retract`, negotiation in mode A (sdp-over-xmpp `genesys-webrtc` IQs) or mode B
//! (Jingle), the REST participant operations of 9.4 and the conversation events of 9.6, with a
//! real media peer ([`super::media_peer`]) per call.
//!
//! Owns the call records ([`Calls`]), the conversation model and every call stanza the server
//! sends. The connection layer (`mod.rs`) hands it the client's stanzas addressed to a
//! `gjoll` JID and the conversation REST requests; it sends through the connection layer.
//!
//! # Flows
//!
//! * Inbound ([`FakeCloud::place_inbound_call`]) / outbound (`POST /api/v2/conversations/calls`,
//!   `inin-autoanswer="true"`): the conversation is created, a `propose` goes from the call's
//!   gjoll JID (`{hex}@gjoll.{xmpp_domain}/gjoll-1`) to the user's bare JID on every bound
//!   session of the user, and a conversation event is published on
//!   `v2.users.{userId}.conversations`.
//! * The client's `proceed` (to the gjoll full JID) makes the server offer to that resource:
//!   mode A `offer` (`sessionId` = propose id, `conversationId`, `sdp`, `reinvite:false`), mode B
//!   `session-initiate` (`initiator` = gjoll JID, SDP mapped with `LocalRole::Initiator`). The
//!   server's ICE candidate is trickled right after the offer (mode A `iceCandidate` fragments,
//!   mode B `transport-info`), then end-of-candidates (`a=end-of-candidates` /
//!   `<gathering-complete/>`), unless [`CloudConfig::trickle_server_candidates`] is off (then it
//!   stays in the SDP).
//! * The client's answer (`answer` / `session-accept`) is applied to the media peer; its
//!   candidates are added; `info {status:"active"}` / `session-info <active/>` marks the user's
//!   call `connected` (conversation event).
//! * Ending: client `terminate` / `session-terminate`, REST PATCH `{"state":"disconnected"}`,
//!   REST `replace` `{"voicemail":true}`, [`FakeCloud::hang_up`]; before a media session
//!   exists the server retracts instead of terminating.
//!
//! # Choices where PROTOCOL.md is silent on the server side
//!
//! * Client `genesys-webrtc` IQs for a known session are answered with an empty `result`;
//!   those for an unknown session are ignored (no reply). Jingle follows 8.7.
//! * A `proceed`, `accept` or `reject` addressed to the user's bare JID is fanned out to every
//!   bound resource of the user (XMPP routing), with the sender's full JID as `from`; `accept`
//!   and `reject` are also recorded on the call. A `proceed` to the bare JID therefore never
//!   reaches the call (PROTOCOL.md 16 item 2).
//! * PATCH and `replace` answer `202 Accepted` with an empty body; unknown conversation or
//!   participant ids are `404`; a body that is not a JSON object is `400`.
//! * The user's call becomes `connected` when the client reports `active`; the remote party
//!   (`customer` for inbound, `external` for outbound) is `connected` from the start for inbound
//!   calls and when the user's call connects for outbound ones.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use genesys_webrtc::signaling::jingle::{
    self, Action as JingleAction, Jingle, Reason, ReasonCondition,
};
use genesys_webrtc::signaling::jmi::{self, ConversationId, JmiAction, SessionId};
use genesys_webrtc::signaling::sdp::{Candidate as SdpCandidate, Sdp};
use genesys_webrtc::signaling::sdp_jingle::{self, LocalRole};
use genesys_webrtc::signaling::sdp_over_xmpp::{self, CandidateFragment, Method, SdpText};
use genesys_webrtc::wire::http::{HttpResponse, Method as HttpMethod};
use genesys_webrtc::wire::xml::Element;
use genesys_webrtc::xmpp::ns;
use serde_json::{json, Value};

use super::media_peer::{MediaPeer, MediaPeerStats, PreferredCodec};
use super::{rest, ConnId, FakeCloud};

/// How a call is negotiated (PROTOCOL.md 7 and 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Negotiation {
    /// Mode A: `inin-sdp-over-xmpp="true"`, `genesys-webrtc` JSON-RPC IQs.
    #[default]
    SdpOverXmpp,
    /// Mode B: classic Jingle.
    Jingle,
}

/// Parameters of a call the fake cloud places.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOptions {
    /// Negotiation mode.
    pub mode: Negotiation,
    /// `inin-autoanswer`.
    pub auto_answer: bool,
    /// The codec the media server prefers.
    pub codec: PreferredCodec,
    /// Frequency of the tone the media server plays; 0 plays speech-like noise instead.
    pub tone_hz: f32,
    /// The remote party's number (`tel:` address of the customer / external participant).
    pub from_number: String,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            mode: Negotiation::SdpOverXmpp,
            auto_answer: false,
            codec: PreferredCodec::Opus,
            tone_hz: 1000.0,
            from_number: "+13175550123".to_owned(),
        }
    }
}

/// A call of the fake cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// Who placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallDirection {
    /// The fake cloud rang the user ([`FakeCloud::place_inbound_call`]).
    Inbound,
    /// The user placed it (`POST /api/v2/conversations/calls`).
    Outbound,
}

/// Where a call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    /// Propose sent; waiting for `proceed`.
    Alerting,
    /// Offer / `session-initiate` sent; waiting for the answer.
    Offered,
    /// Answer applied; waiting for `active`.
    Answered,
    /// The client reported `active`; the user's call is `connected`.
    Connected,
    /// Another resource of the user accepted ([`FakeCloud::answer_elsewhere`]).
    AnsweredElsewhere,
    /// Over.
    Ended {
        /// Why: a Jingle reason condition (`success`, `decline`, …) or `retracted`,
        /// `voicemail`.
        reason: String,
    },
}

impl CallState {
    /// Whether the call is over (ended or answered elsewhere).
    pub fn is_over(&self) -> bool {
        matches!(self, CallState::Ended { .. } | CallState::AnsweredElsewhere)
    }

    /// Whether a media session with the client exists (an offer was sent).
    fn has_session(&self) -> bool {
        matches!(
            self,
            CallState::Offered | CallState::Answered | CallState::Connected
        )
    }
}

/// A snapshot of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSummary {
    /// The call.
    pub id: CallId,
    /// The session id (propose `id`, Jingle `sid`, sdp-over-xmpp `sessionId`).
    pub session_id: String,
    /// The conversation id (`inin-cid`).
    pub conversation_id: String,
    /// The state.
    pub state: CallState,
    /// Negotiation mode.
    pub mode: Negotiation,
    /// Direction.
    pub direction: CallDirection,
    /// Whether the media peer's ICE + DTLS came up.
    pub media_connected: bool,
    /// The gjoll full JID the call's stanzas come from.
    pub gjoll_jid: String,
    /// The client resource that proceeded, if any.
    pub client_jid: Option<String>,
    /// The user's participant id.
    pub user_participant_id: String,
    /// The remote party's participant id.
    pub remote_participant_id: String,
}

/// One leg (participant with its single call) of a conversation.
#[derive(Debug, Clone)]
struct Leg {
    participant_id: String,
    call_id: String,
    purpose: &'static str,
    address: String,
    user_id: Option<String>,
    state: &'static str,
    muted: bool,
    held: bool,
    disconnect_type: Option<&'static str>,
}

impl Leg {
    fn to_json(&self, direction: &str) -> Value {
        let mut call = json!({
            "id": self.call_id,
            "state": self.state,
            "muted": self.muted,
            "confined": false,
            "held": self.held,
            "direction": direction,
            "provider": "Edge",
        });
        if let (Some(t), Some(obj)) = (self.disconnect_type, call.as_object_mut()) {
            obj.insert("disconnectType".to_owned(), json!(t));
        }
        let mut p = json!({
            "id": self.participant_id,
            "purpose": self.purpose,
            "address": self.address,
            "state": self.state,
            "direction": direction,
            "muted": self.muted,
            "confined": false,
            "held": self.held,
            "calls": [call],
        });
        if let (Some(u), Some(obj)) = (&self.user_id, p.as_object_mut()) {
            obj.insert("userId".to_owned(), json!(u));
        }
        p
    }
}

struct Call {
    id: CallId,
    session_id: String,
    conversation_id: String,
    mode: Negotiation,
    direction: CallDirection,
    auto_answer: bool,
    codec: PreferredCodec,
    tone_hz: f32,
    gjoll_jid: String,
    client_jid: Option<String>,
    state: CallState,
    peer: Option<MediaPeer>,
    /// An external media peer's offer and what the client sent it (instead of `peer`).
    external: Option<super::external::External>,
    /// The remote party first (inbound: customer; outbound: external), then the user.
    remote: Leg,
    user: Leg,
    initiate_iq_id: Option<String>,
    /// The call whose media session (the persistent connection, PROTOCOL.md §9.3) carries this
    /// one; such a call has no propose, offer or terminate of its own.
    carrier: Option<CallId>,
    log: Vec<String>,
}

impl Call {
    fn summary(&self) -> CallSummary {
        CallSummary {
            id: self.id,
            session_id: self.session_id.clone(),
            conversation_id: self.conversation_id.clone(),
            state: self.state.clone(),
            mode: self.mode,
            direction: self.direction,
            media_connected: self.peer.as_ref().is_some_and(MediaPeer::is_connected),
            gjoll_jid: self.gjoll_jid.clone(),
            client_jid: self.client_jid.clone(),
            user_participant_id: self.user.participant_id.clone(),
            remote_participant_id: self.remote.participant_id.clone(),
        }
    }

    fn conversation_json(&self) -> Value {
        let direction = match self.direction {
            CallDirection::Inbound => "inbound",
            CallDirection::Outbound => "outbound",
        };
        let participants = match self.direction {
            CallDirection::Inbound => {
                vec![self.remote.to_json(direction), self.user.to_json(direction)]
            }
            CallDirection::Outbound => {
                vec![self.user.to_json(direction), self.remote.to_json(direction)]
            }
        };
        json!({
            "id": self.conversation_id,
            "participants": participants,
            "selfUri": format!("/api/v2/conversations/{}", self.conversation_id),
        })
    }

    fn note(&mut self, line: impl Into<String>) {
        self.log.push(line.into());
    }
}

/// Every call of the fake cloud.
#[derive(Default)]
pub(crate) struct Calls {
    map: BTreeMap<CallId, Call>,
    serial: u64,
    /// Outbound calls whose propose waits until the REST response is queued.
    deferred: Vec<CallId>,
    /// The call whose media session is the user's persistent connection, once one is up.
    carrier: Option<CallId>,
    /// Stanza ids.
    stanza_serial: u64,
}

impl Calls {
    fn next_stanza_id(&mut self, prefix: &str) -> String {
        self.stanza_serial += 1;
        uuid_like(self.stanza_serial, prefix.len() as u64 ^ 0x1d)
    }
}

/// A UUID-shaped deterministic id.
fn uuid_like(serial: u64, salt: u64) -> String {
    let a = super::splitmix64(serial.wrapping_mul(0x9e37) ^ salt);
    let b = super::splitmix64(a ^ salt.rotate_left(17));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        8 + (b >> 62),
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// Splits the offer into the SDP without candidates and its candidate lines.
fn strip_candidates(sdp: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(sdp.len());
    let mut candidates = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(c) = line.strip_prefix("a=") {
            if c.starts_with("candidate:") {
                candidates.push(c.to_owned());
                continue;
            }
            if c == "end-of-candidates" {
                continue;
            }
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    (out, candidates)
}

fn empty_response(status: u16) -> HttpResponse {
    HttpResponse {
        status,
        reason: rest::reason(status).to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn json_ok(body: &Value) -> HttpResponse {
    HttpResponse {
        status: 200,
        reason: rest::reason(200).to_owned(),
        headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
        body: body.to_string().into_bytes(),
    }
}

/// How the server tells the client a call is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notify {
    /// Nothing (the client ended it).
    Nothing,
    /// Terminate the media session if one exists, else retract the propose.
    TerminateOrRetract,
}

impl FakeCloud {
    // -----------------------------------------------------------------------------------------
    // Public call control
    // -----------------------------------------------------------------------------------------

    /// Rings the user: creates a conversation, proposes to every bound session of the user and
    /// publishes the conversation event (the user's call `alerting`).
    ///
    /// With a persistent connection up (station `webRtcPersistentEnabled`, one call
    /// appearance, PROTOCOL.md §9.3) the call rides it instead: no propose, only the
    /// conversation event; the user answers with `PATCH {"state":"connected"}`.
    pub fn place_inbound_call(&mut self, now: Instant, opts: CallOptions) -> CallId {
        let id = self.create_call(opts, CallDirection::Inbound);
        self.propose_or_ride(now, id);
        id
    }

    /// Whether this tenant keeps persistent connections (§9.3).
    fn persistent(&self) -> bool {
        self.config.station_persistent_enabled && self.config.station_call_appearances <= 1
    }

    /// The call carrying the persistent connection, while its media is up.
    fn live_carrier(&self) -> Option<CallId> {
        let id = self.calls.carrier?;
        let c = self.calls.map.get(&id)?;
        c.peer
            .as_ref()
            .is_some_and(MediaPeer::is_connected)
            .then_some(id)
    }

    /// The call whose media peer serves `id` (its carrier, or itself).
    fn media_call(&self, id: CallId) -> CallId {
        self.calls
            .map
            .get(&id)
            .and_then(|c| c.carrier)
            .unwrap_or(id)
    }

    fn propose_or_ride(&mut self, now: Instant, id: CallId) {
        match self.live_carrier() {
            Some(carrier) if self.persistent() => {
                if let Some(c) = self.calls.map.get_mut(&id) {
                    c.carrier = Some(carrier);
                    c.note(format!(
                        "rides the persistent connection of call {}",
                        carrier.0
                    ));
                }
                self.publish_conversation(now, id);
            }
            _ => self.propose(now, id),
        }
    }

    /// Retracts a call that was not answered yet (JMI `retract` to every bound session of the
    /// user; conversation disconnected). `false` if the call is unknown or past alerting.
    pub fn retract_call(&mut self, now: Instant, call: CallId) -> bool {
        if self.calls.map.get(&call).map(|c| &c.state) != Some(&CallState::Alerting) {
            return false;
        }
        // A call riding the persistent connection was never proposed: the conversation event
        // alone tells the client.
        if self
            .calls
            .map
            .get(&call)
            .is_some_and(|c| c.carrier.is_none())
        {
            self.send_retract(now, call);
        }
        self.finish_call(now, call, "retracted", None, Some("peer"));
        true
    }

    /// Another resource of the user (`{bare}/sim-other-device`) accepts the alerting call: a
    /// JMI `accept` from that resource goes to every bound session; the user's call becomes
    /// `connected` (elsewhere). `false` if the call is unknown or past alerting.
    pub fn answer_elsewhere(&mut self, now: Instant, call: CallId) -> bool {
        let Some(c) = self.calls.map.get_mut(&call) else {
            return false;
        };
        if c.state != CallState::Alerting {
            return false;
        }
        c.state = CallState::AnsweredElsewhere;
        c.user.state = "connected";
        c.remote.state = "connected";
        let session_id = c.session_id.clone();
        let bare = self.config.jabber_id.clone();
        let other = format!("{bare}/sim-other-device");
        let msg = Element::new("message", ns::CLIENT)
            .with_attr("from", other.as_str())
            .with_attr("to", bare.as_str())
            .with_child(Element::new("accept", ns::JMI).with_attr("id", session_id));
        let n = self.send_to_user(&msg);
        self.note(call, format!("accept from {other} sent to {n} session(s)"));
        self.publish_conversation(now, call);
        true
    }

    /// Server-side hang-up: mode A `terminate` / mode B `session-terminate` with `reason` (a
    /// retract if no media session exists yet); conversation disconnected. `false` if the call
    /// is unknown or over.
    pub fn hang_up(&mut self, now: Instant, call: CallId, reason: &str) -> bool {
        if self.calls.map.get(&call).is_none_or(|c| c.state.is_over()) {
            return false;
        }
        self.end_call(
            now,
            call,
            reason,
            Notify::TerminateOrRetract,
            Some("peer"),
            Some("peer"),
        );
        true
    }

    /// The media server sends DTMF digits (`0-9*#A-D`, `,` = 2 s pause) as RFC 4733 events.
    pub fn send_dtmf(&mut self, call: CallId, digits: &str) -> Result<(), String> {
        let call = self.media_call(call);
        let peer = self
            .calls
            .map
            .get_mut(&call)
            .and_then(|c| c.peer.as_mut())
            .ok_or_else(|| "no media for this call".to_owned())?;
        peer.send_dtmf(digits)
    }

    /// Every call, oldest first.
    pub fn calls(&self) -> Vec<CallSummary> {
        self.calls.map.values().map(Call::summary).collect()
    }

    /// One call.
    pub fn call(&self, call: CallId) -> Option<CallSummary> {
        self.calls.map.get(&call).map(Call::summary)
    }

    /// The call whose session id is `session_id`.
    pub fn call_by_session(&self, session_id: &str) -> Option<CallId> {
        self.calls
            .map
            .values()
            .find(|c| c.session_id == session_id)
            .map(|c| c.id)
    }

    /// What happened on a call, oldest first (human-readable lines).
    pub fn call_log(&self, call: CallId) -> Vec<String> {
        self.calls
            .map
            .get(&call)
            .map(|c| c.log.clone())
            .unwrap_or_default()
    }

    /// The conversation JSON of a call (as `GET /api/v2/conversations/{id}` returns it).
    pub fn conversation_json(&self, call: CallId) -> Option<Value> {
        self.calls.map.get(&call).map(Call::conversation_json)
    }

    /// The audio the media server received: (sample rate, samples); rate 0 and no samples
    /// before any audio (or for an unknown call).
    pub fn received_audio(&self, call: CallId) -> (u32, Vec<i16>) {
        let call = self.media_call(call);
        self.calls
            .map
            .get(&call)
            .and_then(|c| c.peer.as_ref())
            .map(MediaPeer::received_audio)
            .unwrap_or((0, Vec::new()))
    }

    /// DTMF digits the media server received, in order.
    pub fn received_dtmf(&self, call: CallId) -> String {
        let call = self.media_call(call);
        self.calls
            .map
            .get(&call)
            .and_then(|c| c.peer.as_ref())
            .map(MediaPeer::received_dtmf)
            .unwrap_or_default()
    }

    /// Media counters of a call (`None` before the offer).
    pub fn media_stats(&self, call: CallId) -> Option<MediaPeerStats> {
        let call = self.media_call(call);
        self.calls
            .map
            .get(&call)
            .and_then(|c| c.peer.as_ref())
            .map(MediaPeer::stats)
    }

    /// The media server's address (its host candidate), shared by every call placed from now
    /// on.
    pub fn media_addr(&self) -> SocketAddr {
        self.config.media_addr
    }

    /// Sets the media server's address (the driver binds it).
    pub fn set_media_addr(&mut self, addr: SocketAddr) {
        self.config.media_addr = addr;
    }

    /// The next datagram a media peer sends: (source, destination, bytes).
    pub fn poll_datagram(&mut self) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        self.calls
            .map
            .values_mut()
            .filter_map(|c| c.peer.as_mut())
            .find_map(MediaPeer::poll_transmit)
    }

    /// A datagram for the media server, routed to the call whose ICE/DTLS session it belongs
    /// to; anything else is dropped.
    pub fn on_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        let target = self.calls.map.values().find_map(|c| {
            c.peer
                .as_ref()
                .filter(|p| p.accepts(now, source, destination, data))
                .map(|_| c.id)
        });
        let Some(id) = target else {
            return;
        };
        self.with_peer(id, |p| p.handle_receive(now, source, destination, data));
    }

    // -----------------------------------------------------------------------------------------
    // Crate-internal hooks used by mod.rs
    // -----------------------------------------------------------------------------------------

    /// The earliest media timer.
    pub(crate) fn calls_poll_timeout(&self) -> Option<Instant> {
        self.calls
            .map
            .values()
            .filter_map(|c| c.peer.as_ref().and_then(MediaPeer::poll_timeout))
            .min()
    }

    /// Drives the media peers.
    pub(crate) fn calls_handle_timeout(&mut self, now: Instant) {
        let ids: Vec<CallId> = self.calls.map.keys().copied().collect();
        for id in ids {
            self.with_peer(id, |p| p.handle_timeout(now));
        }
    }

    /// Sends the proposes of outbound calls created by a REST request (after its response).
    pub(crate) fn run_deferred_calls(&mut self, now: Instant) {
        for id in std::mem::take(&mut self.calls.deferred) {
            self.propose_or_ride(now, id);
        }
    }

    /// A stanza a bound session sent that the server routes (messages, IQs to gjoll JIDs);
    /// `from` is already the sender's full JID.
    pub(crate) fn route_stanza(&mut self, now: Instant, conn: ConnId, el: Element) {
        let to = el.attr("to").unwrap_or("").to_owned();
        let from = el.attr("from").unwrap_or("").to_owned();
        if jmi::is_softphone_jid(&to) {
            match el.name.as_str() {
                "message" => self.gjoll_message(now, &from, &to, &el),
                "iq" => self.gjoll_iq(now, conn, &from, &to, &el),
                _ => {}
            }
            return;
        }
        if el.name != "message" {
            return;
        }
        let bare = self.config.jabber_id.clone();
        let to_bare = to.split('/').next().unwrap_or("");
        if to_bare != bare {
            return;
        }
        // XMPP routing: a bare JID reaches every bound resource, a full JID that one.
        if to == bare {
            self.send_to_user(&el);
        } else {
            self.send_stanza(now, &to, &el);
        }
        let Some(Ok(msg)) = jmi::parse_jmi(&el) else {
            return;
        };
        let (what, id) = match &msg.action {
            JmiAction::Accept { id } => ("accept", id.as_str().to_owned()),
            JmiAction::Reject { id } => ("reject", id.as_str().to_owned()),
            JmiAction::Proceed { id } => ("proceed", id.as_str().to_owned()),
            _ => return,
        };
        if let Some(call) = self.call_by_session(&id) {
            self.note(call, format!("{what} from {from} to {to}"));
        }
    }

    /// Handles a conversation REST request (auth and faults already checked).
    pub(crate) fn call_rest(
        &mut self,
        now: Instant,
        method: HttpMethod,
        segments: &[&str],
        body: &[u8],
    ) -> HttpResponse {
        match (method, segments) {
            (HttpMethod::Post, ["conversations", "calls"]) => self.rest_place_call(body),
            (HttpMethod::Get, ["conversations", "calls", cid])
            | (HttpMethod::Get, ["conversations", cid]) => match self.call_by_conversation(cid) {
                Some(id) => match self.conversation_json(id) {
                    Some(v) => json_ok(&v),
                    None => rest::error(404, "not.found", "Conversation not found."),
                },
                None => rest::error(404, "not.found", "Conversation not found."),
            },
            (HttpMethod::Patch, ["conversations", "calls", cid, "participants", pid]) => {
                self.rest_patch_participant(now, cid, pid, body)
            }
            (HttpMethod::Post, ["conversations", "calls", cid, "participants", pid, "replace"]) => {
                self.rest_replace(now, cid, pid, body)
            }
            _ => rest::error(405, "method.not.allowed", "Method not allowed."),
        }
    }

    // -----------------------------------------------------------------------------------------
    // REST
    // -----------------------------------------------------------------------------------------

    fn rest_place_call(&mut self, body: &[u8]) -> HttpResponse {
        let Ok(Value::Object(params)) = serde_json::from_slice::<Value>(body) else {
            return rest::error(400, "bad.request", "The request body is not a JSON object.");
        };
        if params.get("sessionType").and_then(Value::as_str) != Some("softphone") {
            return rest::error(400, "bad.request", "sessionType must be softphone.");
        }
        let non_empty = |k: &str| match params.get(k) {
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            _ => false,
        };
        let target = [
            "phoneNumber",
            "callUserId",
            "callQueueId",
            "participants",
            "conversationIds",
        ]
        .into_iter()
        .find(|k| non_empty(k));
        let Some(target) = target else {
            return rest::error(
                400,
                "bad.request",
                "One of phoneNumber, callUserId, callQueueId, participants or conversationIds is required.",
            );
        };
        let address = match target {
            "phoneNumber" | "callUserId" | "callQueueId" => params
                .get(target)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            "participants" => params
                .get("participants")
                .and_then(|p| p.get(0))
                .and_then(|p| p.get("address"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            _ => String::new(),
        };
        let opts = CallOptions {
            mode: self.config.default_call_mode,
            auto_answer: true,
            codec: self.config.default_codec,
            tone_hz: self.config.default_tone_hz,
            from_number: address,
        };
        let id = self.create_call(opts, CallDirection::Outbound);
        self.calls.deferred.push(id);
        let Some(c) = self.calls.map.get(&id) else {
            return rest::error(500, "internal", "Call vanished.");
        };
        json_ok(&json!({
            "id": c.conversation_id,
            "selfUri": format!("/api/v2/conversations/calls/{}", c.conversation_id),
        }))
    }

    /// The call and whether `pid` is its user (`true`) or remote (`false`) participant.
    fn find_participant(&self, cid: &str, pid: &str) -> Option<(CallId, bool)> {
        let id = self.call_by_conversation(cid)?;
        let c = self.calls.map.get(&id)?;
        if c.user.participant_id == pid {
            Some((id, true))
        } else if c.remote.participant_id == pid {
            Some((id, false))
        } else {
            None
        }
    }

    fn rest_patch_participant(
        &mut self,
        now: Instant,
        cid: &str,
        pid: &str,
        body: &[u8],
    ) -> HttpResponse {
        let Some((id, is_user)) = self.find_participant(cid, pid) else {
            return rest::error(404, "not.found", "Conversation or participant not found.");
        };
        let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(body) else {
            return rest::error(400, "bad.request", "The request body is not a JSON object.");
        };
        let state = patch.get("state").and_then(Value::as_str);
        let muted = patch.get("muted").and_then(Value::as_bool);
        let held = patch.get("held").and_then(Value::as_bool);
        if state.is_none() && muted.is_none() && held.is_none() {
            return rest::error(400, "bad.request", "Nothing to change.");
        }
        if let Some(s) = state {
            if s != "disconnected" && s != "connected" {
                return rest::error(400, "bad.request", "Unsupported participant state.");
            }
        }
        self.note(
            id,
            format!("PATCH participant {pid}: {}", Value::Object(patch.clone())),
        );
        let mut changed = false;
        if let Some(c) = self.calls.map.get_mut(&id) {
            let leg = if is_user { &mut c.user } else { &mut c.remote };
            if let Some(m) = muted {
                changed |= leg.muted != m;
                leg.muted = m;
            }
            if let Some(h) = held {
                changed |= leg.held != h;
                leg.held = h;
            }
            if state == Some("connected") && leg.state != "connected" && !c.state.is_over() {
                leg.state = "connected";
                changed = true;
                // Answering a call that rides the persistent connection connects it.
                if is_user && c.carrier.is_some() && c.state == CallState::Alerting {
                    c.state = CallState::Connected;
                    c.remote.state = "connected";
                    c.note("answered on the persistent connection");
                }
            }
        }
        if state == Some("disconnected") {
            let over = self.calls.map.get(&id).is_none_or(|c| c.state.is_over());
            if !over {
                self.end_call(
                    now,
                    id,
                    "success",
                    Notify::TerminateOrRetract,
                    Some("client"),
                    Some("peer"),
                );
                return empty_response(202);
            }
        }
        if changed {
            self.publish_conversation(now, id);
        }
        empty_response(202)
    }

    fn rest_replace(&mut self, now: Instant, cid: &str, pid: &str, body: &[u8]) -> HttpResponse {
        let Some((id, _)) = self.find_participant(cid, pid) else {
            return rest::error(404, "not.found", "Conversation or participant not found.");
        };
        let Ok(Value::Object(params)) = serde_json::from_slice::<Value>(body) else {
            return rest::error(400, "bad.request", "The request body is not a JSON object.");
        };
        let voicemail = params.get("voicemail").and_then(Value::as_bool) == Some(true);
        let target = ["userId", "address", "queueId", "userName", "queueName"]
            .into_iter()
            .any(|k| params.get(k).is_some());
        if !voicemail && !target {
            return rest::error(400, "bad.request", "No replacement target.");
        }
        self.note(
            id,
            format!("replace participant {pid}: {}", Value::Object(params)),
        );
        if self.calls.map.get(&id).is_some_and(|c| !c.state.is_over()) {
            self.end_call(
                now,
                id,
                "voicemail",
                Notify::TerminateOrRetract,
                Some("transfer"),
                None,
            );
        }
        empty_response(202)
    }

    fn call_by_conversation(&self, cid: &str) -> Option<CallId> {
        self.calls
            .map
            .values()
            .find(|c| c.conversation_id == cid)
            .map(|c| c.id)
    }

    // -----------------------------------------------------------------------------------------
    // Call life
    // -----------------------------------------------------------------------------------------

    fn create_call(&mut self, opts: CallOptions, direction: CallDirection) -> CallId {
        self.calls.serial += 1;
        let n = self.calls.serial;
        let id = CallId(n);
        let conversation_id = uuid_like(n, 0xc0);
        let session_id = uuid_like(n, 0x5e);
        let gjoll_local = super::splitmix64(n ^ 0x6a011);
        let gjoll_jid = format!(
            "{gjoll_local:016x}@gjoll.{}/gjoll-1",
            self.config.xmpp_domain
        );
        let address = if opts.from_number.starts_with("tel:") || opts.from_number.is_empty() {
            opts.from_number.clone()
        } else {
            format!("tel:{}", opts.from_number)
        };
        let (remote_purpose, remote_state, user_state) = match direction {
            CallDirection::Inbound => ("customer", "connected", "alerting"),
            CallDirection::Outbound => ("external", "alerting", "contacting"),
        };
        let remote = Leg {
            participant_id: uuid_like(n, 0x9a),
            call_id: uuid_like(n, 0xca),
            purpose: remote_purpose,
            address,
            user_id: None,
            state: remote_state,
            muted: false,
            held: false,
            disconnect_type: None,
        };
        let user = Leg {
            participant_id: uuid_like(n, 0x9b),
            call_id: uuid_like(n, 0xcb),
            purpose: "user",
            address: format!("sip:{}", self.config.jabber_id),
            user_id: Some(self.config.user_id.clone()),
            state: user_state,
            muted: false,
            held: false,
            disconnect_type: None,
        };
        let call = Call {
            id,
            session_id,
            conversation_id,
            mode: opts.mode,
            direction,
            auto_answer: opts.auto_answer,
            codec: opts.codec,
            tone_hz: opts.tone_hz,
            gjoll_jid,
            client_jid: None,
            state: CallState::Alerting,
            peer: None,
            external: None,
            remote,
            user,
            initiate_iq_id: None,
            carrier: None,
            log: vec![format!("created ({direction:?}, {:?})", opts.mode)],
        };
        self.calls.map.insert(id, call);
        id
    }

    fn propose(&mut self, now: Instant, id: CallId) {
        let Some(c) = self.calls.map.get(&id) else {
            return;
        };
        let bool_text = |b: bool| if b { "true" } else { "false" };
        let gjoll_bare = c.gjoll_jid.split('/').next().unwrap_or("").to_owned();
        let msg = Element::new("message", ns::CLIENT)
            .with_attr("from", c.gjoll_jid.as_str())
            .with_attr("to", self.config.jabber_id.as_str())
            .with_child(
                Element::new("propose", ns::JMI)
                    .with_attr("id", c.session_id.as_str())
                    .with_attr("inin-cid", c.conversation_id.as_str())
                    .with_attr(
                        "inin-sdp-over-xmpp",
                        bool_text(c.mode == Negotiation::SdpOverXmpp),
                    )
                    .with_attr("inin-autoanswer", bool_text(c.auto_answer))
                    .with_attr("inin-ofrom", gjoll_bare),
            );
        let n = self.send_to_user(&msg);
        self.note(id, format!("propose sent to {n} session(s)"));
        self.publish_conversation(now, id);
    }

    fn send_retract(&mut self, _now: Instant, id: CallId) {
        let Some(c) = self.calls.map.get(&id) else {
            return;
        };
        let msg = Element::new("message", ns::CLIENT)
            .with_attr("from", c.gjoll_jid.as_str())
            .with_attr("to", self.config.jabber_id.as_str())
            .with_child(Element::new("retract", ns::JMI).with_attr("id", c.session_id.as_str()));
        let n = self.send_to_user(&msg);
        self.note(id, format!("retract sent to {n} session(s)"));
    }

    /// Ends a call: notifies the client as asked, closes media, marks both legs disconnected
    /// and publishes the conversation event.
    fn end_call(
        &mut self,
        now: Instant,
        id: CallId,
        reason: &str,
        notify: Notify,
        user_disconnect: Option<&'static str>,
        remote_disconnect: Option<&'static str>,
    ) {
        let Some(c) = self.calls.map.get(&id) else {
            return;
        };
        // A persistent connection outlives its calls: no terminate for the call that set it up
        // once its media is up, and nothing at all for the calls riding it (§9.3).
        let keeps_media = self.persistent()
            && (c.carrier.is_some() || c.peer.as_ref().is_some_and(MediaPeer::is_connected));
        if notify == Notify::TerminateOrRetract && !keeps_media {
            if c.state.has_session() {
                let condition = match reason {
                    "voicemail" | "retracted" => "success",
                    r => r,
                };
                self.send_terminate(id, condition);
            } else if c.state == CallState::Alerting {
                self.send_retract(now, id);
            }
        }
        self.finish_call(now, id, reason, user_disconnect, remote_disconnect);
    }

    fn finish_call(
        &mut self,
        now: Instant,
        id: CallId,
        reason: &str,
        user_disconnect: Option<&'static str>,
        remote_disconnect: Option<&'static str>,
    ) {
        let Some(c) = self.calls.map.get_mut(&id) else {
            return;
        };
        c.state = CallState::Ended {
            reason: reason.to_owned(),
        };
        c.user.state = "disconnected";
        c.user.disconnect_type = user_disconnect.or(Some("endpoint"));
        c.remote.state = "disconnected";
        c.remote.disconnect_type = remote_disconnect.or(Some("endpoint"));
        let keep = self.config.station_persistent_enabled
            && self.config.station_call_appearances <= 1
            && c.carrier.is_none()
            && c.peer.as_ref().is_some_and(MediaPeer::is_connected);
        if keep {
            c.note("media kept as the persistent connection");
            self.calls.carrier = Some(id);
        } else if let Some(p) = c.peer.as_mut() {
            p.close();
        }
        let Some(c) = self.calls.map.get_mut(&id) else {
            return;
        };
        c.note(format!("ended ({reason})"));
        self.publish_conversation(now, id);
    }

    fn send_terminate(&mut self, id: CallId, reason: &str) {
        let Some(c) = self.calls.map.get(&id) else {
            return;
        };
        let Some(client) = c.client_jid.clone() else {
            return;
        };
        let gjoll = c.gjoll_jid.clone();
        let session_id = c.session_id.clone();
        let el = match c.mode {
            Negotiation::SdpOverXmpp => {
                let Ok(sid) = SessionId::new(session_id.as_str()) else {
                    return;
                };
                let method = Method::Terminate {
                    session_id: sid,
                    reason: Some(reason.to_owned()),
                };
                self.rpc_iq(&gjoll, &client, &method)
            }
            Negotiation::Jingle => {
                let j = Jingle::session_terminate(
                    session_id,
                    Reason::new(ReasonCondition::from_name(reason)),
                );
                let iq_id = self.calls.next_stanza_id("jingle");
                jingle::iq_set(&iq_id, &client, Some(&gjoll), &j)
            }
        };
        self.send_to_jid(&client, &el);
        self.note(id, format!("terminate sent ({reason})"));
    }

    fn rpc_iq(&mut self, from: &str, to: &str, method: &Method) -> Element {
        let iq_id = self.calls.next_stanza_id("iq");
        let json_id = self.calls.next_stanza_id("json-rpc");
        sdp_over_xmpp::build_rpc_iq(&iq_id, from, to, &json_id, method)
    }

    /// The client proceeded: create the media peer and send the offer (+ trickle).
    fn start_session(&mut self, now: Instant, id: CallId) {
        let base = self.config.media_addr;
        let media_addr = if self.config.media_port_per_call {
            let offset = u16::try_from(id.0 % 10_000).unwrap_or(0);
            SocketAddr::new(base.ip(), base.port().wrapping_add(offset))
        } else {
            base
        };
        let trickle = self.config.trickle_server_candidates;
        let Some(c) = self.calls.map.get_mut(&id) else {
            return;
        };
        let created = match c.external.as_ref() {
            Some(ext) => Ok((None, ext.offer.clone())),
            None => {
                MediaPeer::new(now, media_addr, c.codec, c.tone_hz, id.0).map(|(p, o)| (Some(p), o))
            }
        };
        let (peer, offer) = match created {
            Ok(x) => x,
            Err(e) => {
                c.note(format!("media peer failed: {e}"));
                self.end_call(
                    now,
                    id,
                    "failed-application",
                    Notify::TerminateOrRetract,
                    None,
                    None,
                );
                return;
            }
        };
        c.peer = peer;
        c.state = CallState::Offered;
        let Some(client) = c.client_jid.clone() else {
            return;
        };
        let gjoll = c.gjoll_jid.clone();
        let session_id = c.session_id.clone();
        let conversation_id = c.conversation_id.clone();
        let mode = c.mode;
        let (offer, candidates) = if trickle {
            strip_candidates(&offer)
        } else {
            (offer, Vec::new())
        };
        let Ok(parsed) = Sdp::parse(&offer) else {
            self.note(id, "offer SDP did not parse");
            return;
        };
        let mid = parsed
            .media
            .first()
            .and_then(|m| m.mid())
            .unwrap_or("0")
            .to_owned();
        let ufrag = parsed
            .media
            .first()
            .and_then(|m| m.ice_ufrag())
            .map(str::to_owned);
        match mode {
            Negotiation::SdpOverXmpp => {
                let (Ok(sid), Ok(cid), Ok(sdp)) = (
                    SessionId::new(session_id.as_str()),
                    ConversationId::new(conversation_id.as_str()),
                    SdpText::new(offer),
                ) else {
                    return;
                };
                let method = Method::Offer {
                    session_id: sid.clone(),
                    conversation_id: Some(cid),
                    sdp,
                    reinvite: false,
                };
                let iq = self.rpc_iq(&gjoll, &client, &method);
                self.send_to_jid(&client, &iq);
                self.note(id, format!("offer sent to {client}"));
                let mut fragments: Vec<CandidateFragment> = candidates
                    .iter()
                    .filter_map(|line| CandidateFragment::new(&mid, line).ok())
                    .collect();
                if trickle {
                    fragments.push(CandidateFragment::EndOfCandidates);
                }
                for candidate in fragments {
                    let method = Method::IceCandidate {
                        session_id: sid.clone(),
                        candidate,
                    };
                    let iq = self.rpc_iq(&gjoll, &client, &method);
                    self.send_to_jid(&client, &iq);
                }
            }
            Negotiation::Jingle => {
                let (contents, groups) =
                    match sdp_jingle::sdp_to_jingle(&parsed, LocalRole::Initiator) {
                        Ok(x) => x,
                        Err(e) => {
                            self.note(id, format!("offer did not map to Jingle: {e}"));
                            return;
                        }
                    };
                let mut j = Jingle::new(JingleAction::SessionInitiate, session_id.as_str());
                j.initiator = Some(gjoll.clone());
                j.contents = contents;
                j.groups = groups;
                let iq_id = self.calls.next_stanza_id("jingle");
                let iq = jingle::iq_set(&iq_id, &client, Some(&gjoll), &j);
                if let Some(c) = self.calls.map.get_mut(&id) {
                    c.initiate_iq_id = Some(iq_id);
                }
                self.send_to_jid(&client, &iq);
                self.note(id, format!("session-initiate sent to {client}"));
                let mut infos: Vec<Jingle> = candidates
                    .iter()
                    .filter_map(|line| SdpCandidate::parse(line).ok())
                    .map(|c| {
                        Jingle::transport_info_candidate(
                            session_id.as_str(),
                            mid.as_str(),
                            ufrag.as_deref(),
                            sdp_jingle::candidate_to_jingle(&c),
                        )
                    })
                    .collect();
                if trickle {
                    infos.push(Jingle::transport_info_gathering_complete(
                        session_id.as_str(),
                        mid.as_str(),
                        ufrag.as_deref(),
                    ));
                }
                for j in infos {
                    let iq_id = self.calls.next_stanza_id("jingle");
                    let iq = jingle::iq_set(&iq_id, &client, Some(&gjoll), &j);
                    self.send_to_jid(&client, &iq);
                }
            }
        }
        if trickle {
            self.note(id, format!("{} candidate(s) trickled", candidates.len()));
        }
    }

    fn apply_answer(&mut self, now: Instant, id: CallId, sdp: &str) -> Result<(), String> {
        let Some(c) = self.calls.map.get_mut(&id) else {
            return Err("unknown call".to_owned());
        };
        if let Some(ext) = c.external.as_mut() {
            ext.answer = Some(sdp.to_owned());
            c.state = CallState::Answered;
            c.note("answer recorded for the external media peer");
            return Ok(());
        }
        let Some(peer) = c.peer.as_mut() else {
            return Err("no media peer".to_owned());
        };
        match peer.apply_answer(now, sdp) {
            Ok(()) => {
                c.state = CallState::Answered;
                c.note("answer applied");
                Ok(())
            }
            Err(e) => {
                c.note(format!("answer failed: {e}"));
                Err(e)
            }
        }
    }

    fn add_candidate(&mut self, id: CallId, line: &str) {
        let Some(c) = self.calls.map.get_mut(&id) else {
            return;
        };
        if let Some(ext) = c.external.as_mut() {
            ext.client_candidates.push(line.to_owned());
            c.note("remote candidate recorded for the external media peer");
            return;
        }
        let result = match c.peer.as_mut() {
            Some(p) => p.add_remote_candidate(line),
            None => Err("no media peer".to_owned()),
        };
        match result {
            Ok(()) => c.note("remote candidate added"),
            Err(e) => c.note(format!("remote candidate refused: {e}")),
        }
    }

    fn client_active(&mut self, now: Instant, id: CallId) {
        let Some(c) = self.calls.map.get_mut(&id) else {
            return;
        };
        c.note("client reports active");
        if matches!(c.state, CallState::Answered | CallState::Offered) {
            c.state = CallState::Connected;
            c.user.state = "connected";
            c.remote.state = "connected";
            self.publish_conversation(now, id);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Stanzas from the client to a gjoll JID
    // -----------------------------------------------------------------------------------------

    fn gjoll_message(&mut self, now: Instant, from: &str, to: &str, el: &Element) {
        let Some(Ok(msg)) = jmi::parse_jmi(el) else {
            return;
        };
        let session_id = msg.id().as_str().to_owned();
        let Some(id) = self.call_by_session(&session_id) else {
            return;
        };
        let Some(c) = self.calls.map.get_mut(&id) else {
            return;
        };
        if c.gjoll_jid != to {
            c.note(format!("JMI to {to} (not the proposer's full JID) ignored"));
            return;
        }
        match msg.action {
            JmiAction::Proceed { .. } => {
                c.note(format!("proceed from {from}"));
                if c.state != CallState::Alerting {
                    c.note("proceed ignored: not alerting");
                    return;
                }
                c.client_jid = Some(from.to_owned());
                self.start_session(now, id);
            }
            JmiAction::Reject { .. } => {
                c.note(format!("reject from {from}"));
                if !c.state.is_over() {
                    self.end_call(
                        now,
                        id,
                        "decline",
                        Notify::Nothing,
                        Some("client"),
                        Some("peer"),
                    );
                }
            }
            JmiAction::Accept { .. } => c.note(format!("accept from {from} to the proposer")),
            JmiAction::Propose(_) | JmiAction::Retract { .. } => {
                c.note("propose/retract from the client ignored");
            }
        }
    }

    fn gjoll_iq(&mut self, now: Instant, conn: ConnId, from: &str, to: &str, iq: &Element) {
        let kind = iq.attr("type").unwrap_or("");
        if kind == "result" || kind == "error" {
            let iq_id = iq.attr("id").unwrap_or("");
            let call = self
                .calls
                .map
                .values()
                .find(|c| c.initiate_iq_id.as_deref() == Some(iq_id))
                .map(|c| c.id);
            if let Some(id) = call {
                if kind == "result" {
                    self.note(id, "session-initiate acknowledged");
                } else {
                    self.note(id, "session-initiate refused");
                    if self.calls.map.get(&id).is_some_and(|c| !c.state.is_over()) {
                        self.finish_call(now, id, "failed-application", None, None);
                    }
                }
            }
            return;
        }
        if let Some(rpc) = sdp_over_xmpp::parse_genesys_iq(iq) {
            self.genesys_rpc(now, conn, from, to, iq, rpc);
            return;
        }
        if let Some(j) = iq.child("jingle", ns::JINGLE) {
            self.jingle_iq(now, conn, from, iq, j);
            return;
        }
        let reply = iq_reply(iq, from, "error").with_child(
            Element::new("error", ns::CLIENT)
                .with_attr("type", "cancel")
                .with_child(Element::new("service-unavailable", ns::STANZAS)),
        );
        self.send_element(conn, &reply);
    }

    fn genesys_rpc(
        &mut self,
        now: Instant,
        conn: ConnId,
        from: &str,
        to: &str,
        iq: &Element,
        rpc: Result<sdp_over_xmpp::GenesysRpc, sdp_over_xmpp::RpcError>,
    ) {
        let rpc = match rpc {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "unusable genesys-webrtc IQ from the client");
                return;
            }
        };
        let Some(session_id) = rpc.method.session_id() else {
            return;
        };
        let Some(id) = self.call_by_session(session_id.as_str()) else {
            return;
        };
        let Some(c) = self.calls.map.get_mut(&id) else {
            return;
        };
        if c.mode != Negotiation::SdpOverXmpp
            || c.client_jid.as_deref() != Some(from)
            || c.gjoll_jid != to
        {
            c.note(format!(
                "{} from {from} ignored (not this session's peer)",
                rpc.method.name()
            ));
            return;
        }
        let state = c.state.clone();
        let over = state.is_over();
        let silent =
            matches!(rpc.method, Method::Terminate { .. }) && self.config.faults.terminate_silent;
        if !silent {
            self.send_element(conn, &iq_reply(iq, from, "result"));
        }
        match rpc.method {
            Method::Answer { sdp, .. } => {
                self.note(id, "answer received");
                if state != CallState::Offered {
                    self.note(id, "answer ignored: not offered");
                    return;
                }
                if self.apply_answer(now, id, sdp.as_str()).is_err() {
                    self.end_call(
                        now,
                        id,
                        "incompatible-parameters",
                        Notify::TerminateOrRetract,
                        None,
                        None,
                    );
                }
            }
            Method::IceCandidate { candidate, .. } => match candidate {
                CandidateFragment::Candidate { candidate_line, .. } => {
                    if !over {
                        self.add_candidate(id, &candidate_line);
                    }
                }
                CandidateFragment::EndOfCandidates => {
                    self.note(id, "client end-of-candidates");
                    self.external_end_of_candidates(id);
                }
            },
            Method::Info { status, .. } => {
                if status == "active" && !over {
                    self.client_active(now, id);
                } else {
                    self.note(id, format!("info {status}"));
                }
            }
            Method::Terminate { reason, .. } => {
                let reason = reason.unwrap_or_else(|| "success".to_owned());
                self.note(id, format!("terminate from the client ({reason})"));
                if !over {
                    self.finish_call(now, id, &reason, Some("client"), Some("peer"));
                }
                self.close_persistent(id);
            }
            Method::Offer { .. } => self.note(id, "offer from the client ignored"),
            other => self.note(id, format!("{} from the client ignored", other.name())),
        }
    }

    fn jingle_iq(&mut self, now: Instant, conn: ConnId, from: &str, iq: &Element, el: &Element) {
        let error = |e: Element| iq_reply(iq, from, "error").with_child(e);
        let j = match Jingle::from_element(el) {
            Ok(j) => j,
            Err(_) => {
                self.send_element(conn, &error(jingle::error_bad_request()));
                return;
            }
        };
        let call = self
            .calls
            .map
            .values()
            .find(|c| {
                c.session_id == j.sid
                    && c.mode == Negotiation::Jingle
                    && c.client_jid.as_deref() == Some(from)
                    && c.state.has_session()
            })
            .map(|c| c.id);
        let Some(id) = call else {
            let reply = if j.action == JingleAction::SessionTerminate {
                iq_reply(iq, from, "result")
            } else {
                error(jingle::error_unknown_session())
            };
            self.send_element(conn, &reply);
            return;
        };
        let state = self
            .calls
            .map
            .get(&id)
            .map(|c| c.state.clone())
            .unwrap_or(CallState::Alerting);
        match j.action {
            JingleAction::SessionAccept => {
                if state != CallState::Offered {
                    self.send_element(conn, &error(jingle::error_out_of_order()));
                    return;
                }
                self.note(id, "session-accept received");
                let sdp =
                    sdp_jingle::contents_to_sdp(&j.contents, &j.groups, LocalRole::Responder, 1);
                let answer = match sdp {
                    Ok(s) => s.to_string(),
                    Err(e) => {
                        self.note(id, format!("session-accept did not map to SDP: {e}"));
                        self.send_element(conn, &error(jingle::error_bad_request()));
                        return;
                    }
                };
                self.send_element(conn, &iq_reply(iq, from, "result"));
                if self.apply_answer(now, id, &answer).is_err() {
                    self.end_call(
                        now,
                        id,
                        "incompatible-parameters",
                        Notify::TerminateOrRetract,
                        None,
                        None,
                    );
                    return;
                }
                for line in jingle_candidates(&j) {
                    self.add_candidate(id, &line);
                }
            }
            JingleAction::TransportInfo => {
                self.send_element(conn, &iq_reply(iq, from, "result"));
                for line in jingle_candidates(&j) {
                    self.add_candidate(id, &line);
                }
                let complete = j
                    .contents
                    .iter()
                    .any(|c| c.transport.as_ref().is_some_and(|t| t.gathering_complete));
                if complete {
                    self.note(id, "client gathering-complete");
                    self.external_end_of_candidates(id);
                }
            }
            JingleAction::SessionInfo => {
                let info = j.info.clone();
                match info {
                    None => {
                        // An empty session-info is a ping (XEP-0166 6.8).
                        self.send_element(conn, &iq_reply(iq, from, "result"));
                    }
                    Some(i) if i.is_known() => {
                        self.send_element(conn, &iq_reply(iq, from, "result"));
                        if i == jingle::SessionInfo::Active {
                            self.client_active(now, id);
                        } else {
                            self.note(id, format!("session-info {i:?}"));
                        }
                    }
                    Some(_) => {
                        self.send_element(conn, &error(jingle::error_unsupported_info()));
                    }
                }
            }
            JingleAction::SessionTerminate => {
                self.send_element(conn, &iq_reply(iq, from, "result"));
                let reason = j
                    .reason
                    .as_ref()
                    .map(|r| r.condition.as_str().to_owned())
                    .unwrap_or_else(|| "success".to_owned());
                self.note(id, format!("session-terminate from the client ({reason})"));
                self.finish_call(now, id, &reason, Some("client"), Some("peer"));
                self.close_persistent(id);
            }
            _ => {
                self.note(id, format!("{} from the client refused", j.action.as_str()));
                self.send_element(conn, &error(jingle::error_bad_request()));
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Helpers
    // -----------------------------------------------------------------------------------------

    /// Places an inbound call whose media peer is external (see `external.rs`).
    pub(super) fn place_inbound_call_with(
        &mut self,
        now: Instant,
        opts: CallOptions,
        external: super::external::External,
    ) -> CallId {
        let id = self.create_call(opts, CallDirection::Inbound);
        if let Some(c) = self.calls.map.get_mut(&id) {
            c.external = Some(external);
        }
        self.propose(now, id);
        id
    }

    /// The external media peer state of a call, if it has one.
    pub(super) fn external_of(&self, id: CallId) -> Option<&super::external::External> {
        self.calls.map.get(&id).and_then(|c| c.external.as_ref())
    }

    fn external_end_of_candidates(&mut self, id: CallId) {
        if let Some(ext) = self
            .calls
            .map
            .get_mut(&id)
            .and_then(|c| c.external.as_mut())
        {
            ext.client_candidates.push("end-of-candidates".to_owned());
        }
    }

    /// The client ended the persistent connection's media session itself.
    fn close_persistent(&mut self, id: CallId) {
        if self.calls.carrier != Some(id) {
            return;
        }
        self.calls.carrier = None;
        if let Some(c) = self.calls.map.get_mut(&id) {
            if let Some(p) = c.peer.as_mut() {
                p.close();
            }
            c.note("persistent connection closed by the client");
        }
    }

    fn note(&mut self, id: CallId, line: impl Into<String>) {
        if let Some(c) = self.calls.map.get_mut(&id) {
            c.note(line);
        }
    }

    fn with_peer(&mut self, id: CallId, f: impl FnOnce(&mut MediaPeer)) {
        let Some(c) = self.calls.map.get_mut(&id) else {
            return;
        };
        let Some(p) = c.peer.as_mut() else {
            return;
        };
        let was_connected = p.is_connected();
        f(p);
        let now_connected = p.is_connected();
        let errors = p.take_errors();
        if now_connected && !was_connected {
            c.note("media connected");
        }
        for e in errors {
            c.note(format!("media: {e}"));
        }
    }

    fn publish_conversation(&mut self, now: Instant, id: CallId) {
        let Some(body) = self.conversation_json(id) else {
            return;
        };
        let topic = format!("v2.users.{}.conversations", self.config.user_id);
        self.publish(now, &topic, body, None);
    }

    /// Sends `el` to every bound session of the user; returns how many.
    fn send_to_user(&mut self, el: &Element) -> usize {
        let prefix = format!("{}/", self.config.jabber_id);
        let targets: Vec<ConnId> = self
            .bound_conns()
            .into_iter()
            .filter(|c| {
                self.full_jid_of(*c)
                    .is_some_and(|j| j.starts_with(prefix.as_str()))
            })
            .collect();
        for conn in &targets {
            self.send_element(*conn, el);
        }
        targets.len()
    }

    fn send_to_jid(&mut self, full_jid: &str, el: &Element) {
        let conn = self
            .bound_conns()
            .into_iter()
            .find(|c| self.full_jid_of(*c).as_deref() == Some(full_jid));
        if let Some(conn) = conn {
            self.send_element(conn, el);
        }
    }
}

/// An empty reply to `iq`: same id, `from` = the IQ's `to`, `to` = the sender.
fn iq_reply(iq: &Element, sender: &str, kind: &str) -> Element {
    Element::new("iq", ns::CLIENT)
        .with_attr("type", kind)
        .with_opt_attr("id", iq.attr("id"))
        .with_opt_attr("from", iq.attr("to"))
        .with_attr("to", sender)
}

/// The candidates of a Jingle element's transports, as `candidate:…` lines.
fn jingle_candidates(j: &Jingle) -> Vec<String> {
    j.contents
        .iter()
        .filter_map(|c| c.transport.as_ref())
        .flat_map(|t| t.candidates.iter())
        .map(|c| {
            let line = sdp_jingle::jingle_to_candidate(c).to_sdp_attribute();
            let line = line.trim_end().to_owned();
            line.strip_prefix("a=").map(str::to_owned).unwrap_or(line)
        })
        .collect()
}
