//! A model test of the whole signaling state machine (DESIGN.md testing level 2): random
//! sequences of API calls and peer stanzas are applied to the SDK engine through the in-memory
//! network and the fake cloud, and every step is checked against a small reference model.
//!
//! Operations: inbound calls in both negotiation modes (with and without auto-answer), outbound
//! calls, proposes (and offers) from session types the app did not allow, retract, answer on
//! another device (handled elsewhere), accept and reject of pending sessions, extra and early ICE
//! candidates, server hang-up, `end_session`, mute, WebSocket drops, the server closing the
//! stream, app `reconnect()` and waiting.
//!
//! The model is exact once each step has settled (every step is followed by 400 ms of virtual
//! time): it predicts the lifecycle events of the step (`pendingSession`, `cancelPendingSession`,
//! `handledPendingSession`, `sessionStarted`, `sessionEnded`) and the result of every API call.
//! The fake cloud only delivers stanzas to bound sessions, so cloud-side operations are applied
//! only while the SDK is connected (a stanza to an offline resource is lost, in reality too).
//!
//! Invariants, checked on every case: the events of each step are the predicted ones; every
//! `pendingSession` ends in exactly one of accepted (its `sessionStarted`), cancelled, handled or
//! rejected; every `sessionStarted` has exactly one `sessionEnded` by the end of the run (after
//! draining); nothing at all for disallowed session types; no `sdkError`; no panic; the engine's
//! internal collections stay within their limits and are empty once the calls are over; and no
//! secret of the tenant appears in the TRACE logs or the events.
//!
//! Cases: `PROPTEST_CASES` (default 200). Long run: `PROPTEST_CASES=10000 cargo test --release
//! -p genesys-webrtc-sim --test signaling_model` (or `scripts/soak.sh`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use genesys_webrtc::options::SessionType;
use genesys_webrtc::session::events::TerminateReason;
use genesys_webrtc::signaling::jingle::{self, Jingle};
use genesys_webrtc::signaling::jmi::{ConversationId, SessionId};
use genesys_webrtc::signaling::sdp::Candidate;
use genesys_webrtc::signaling::sdp_jingle;
use genesys_webrtc::signaling::sdp_over_xmpp::{self, CandidateFragment, Method, SdpText};
use genesys_webrtc::wire::xml::Element;
use genesys_webrtc::{SdkEvent, SessionError};
use genesys_webrtc_sim::cloud::{CallId, CallOptions, CallState, LogEntry, Negotiation};
use genesys_webrtc_sim::network::SimNetwork;
use genesys_webrtc_sim::redaction::{LogCapture, TenantSecrets};
use proptest::prelude::*;

const ENV: &str = "fake.genesys.test";
/// Virtual time after every operation.
const SETTLE: Duration = Duration::from_millis(400);
/// A host candidate nobody answers on (still inside the cloud's media port range).
const EXTRA_CANDIDATE: &str = "candidate:9 1 udp 2122260223 127.0.0.1 50999 typ host";

/// One step of a case.
#[derive(Debug, Clone)]
enum Op {
    /// The fake cloud rings the user.
    PlaceCall { jingle: bool, auto_answer: bool },
    /// The app places a call (`start_softphone_session`); the cloud proposes it with auto-answer.
    PlaceOutbound,
    /// A propose (and maybe an sdp-over-xmpp offer) from a session type the app did not allow.
    ProposeDisallowed { kind: u8, with_offer: bool },
    /// The cloud retracts call `n` (modulo the calls so far).
    Retract(usize),
    /// Another device of the user accepts call `n`.
    AnswerElsewhere(usize),
    /// The app accepts the pending session of call `n`.
    Accept(usize),
    /// The app rejects the pending session of call `n`.
    Reject(usize),
    /// The far end hangs up call `n` with a reason.
    HangUp(usize, u8),
    /// The app ends the session of call `n` (by session or by conversation id).
    EndSession(usize, bool),
    /// The app mutes or unmutes call `n`.
    Mute(usize, bool),
    /// The server trickles one more candidate for call `n`.
    ExtraCandidate(usize),
    /// An sdp-over-xmpp candidate for a session that does not exist (buffered as early).
    EarlyCandidate(u8),
    /// Every connection breaks.
    DropWebsocket,
    /// The server closes the stream (`<close/>`, WebSocket close).
    ServerCloseStream,
    /// The app calls `reconnect()`.
    Reconnect,
    /// Time passes.
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), any::<bool>())
            .prop_map(|(jingle, auto_answer)| Op::PlaceCall { jingle, auto_answer }),
        1 => Just(Op::PlaceOutbound),
        2 => (0u8..3, any::<bool>())
            .prop_map(|(kind, with_offer)| Op::ProposeDisallowed { kind, with_offer }),
        2 => any::<usize>().prop_map(Op::Retract),
        2 => any::<usize>().prop_map(Op::AnswerElsewhere),
        3 => any::<usize>().prop_map(Op::Accept),
        2 => any::<usize>().prop_map(Op::Reject),
        2 => (any::<usize>(), 0u8..4).prop_map(|(n, r)| Op::HangUp(n, r)),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(n, b)| Op::EndSession(n, b)),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(n, m)| Op::Mute(n, m)),
        1 => any::<usize>().prop_map(Op::ExtraCandidate),
        1 => (0u8..16).prop_map(Op::EarlyCandidate),
        1 => Just(Op::DropWebsocket),
        1 => Just(Op::ServerCloseStream),
        1 => Just(Op::Reconnect),
        2 => (0u16..4000).prop_map(Op::Wait),
    ]
}

/// Where the model thinks a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// The app has a pending session for it.
    Ringing,
    /// A media session exists.
    Active,
    /// Nothing more will happen.
    Over,
}

#[derive(Debug)]
struct ModelCall {
    cloud: CallId,
    session_id: String,
    conversation_id: String,
    mode: Negotiation,
    st: St,
}

/// The reference model plus the bookkeeping of one case.
struct Run {
    sim: SimNetwork,
    auto_answer: bool,
    calls: Vec<ModelCall>,
    /// Events already examined.
    seen: usize,
    /// Session ids the app rejected successfully.
    rejected: BTreeSet<String>,
    /// Ids and conversation ids of disallowed proposes: nothing may mention them.
    disallowed: Vec<String>,
    serial: u32,
    trace: Vec<String>,
}

impl Run {
    fn new(seed: u64, auto_answer: bool) -> Run {
        let sim = SimNetwork::ready_user(ENV, seed, |b| {
            b.allowed_session_types([SessionType::Softphone])
                .auto_answer_outbound_calls(auto_answer)
        });
        let seen = sim.events().len();
        Run {
            sim,
            auto_answer,
            calls: Vec::new(),
            seen,
            rejected: BTreeSet::new(),
            disallowed: Vec::new(),
            serial: 0,
            trace: Vec::new(),
        }
    }

    /// Whether the SDK can signal: the engine's stream is bound (it may still be discovering
    /// ICE servers) and the cloud has that session bound.
    fn online(&mut self) -> bool {
        self.sim.engine().full_jid().is_some() && !self.sim.cloud().connected_jids().is_empty()
    }

    fn pick(&self, n: usize) -> Option<usize> {
        (!self.calls.is_empty()).then(|| n % self.calls.len())
    }

    fn client_jid(&mut self) -> Option<String> {
        self.sim.cloud().connected_jids().first().cloned()
    }

    fn deliver(&mut self, el: &Element) {
        let now = self.sim.now();
        if let Some(jid) = self.client_jid() {
            assert!(self.sim.cloud().send_stanza(now, &jid, el));
        }
    }

    /// Adopts calls the cloud created that the model does not know yet (outbound calls).
    fn adopt_new_calls(&mut self, expected: &mut Vec<String>) {
        let known: BTreeSet<CallId> = self.calls.iter().map(|c| c.cloud).collect();
        for c in self.sim.cloud().calls() {
            if known.contains(&c.id) {
                continue;
            }
            expected.push(format!("pending {}", c.session_id));
            let st = if self.auto_answer {
                expected.push(format!("started {}", c.session_id));
                St::Active
            } else {
                St::Ringing
            };
            self.calls.push(ModelCall {
                cloud: c.id,
                session_id: c.session_id,
                conversation_id: c.conversation_id,
                mode: c.mode,
                st,
            });
        }
    }

    /// Applies one operation; returns the lifecycle events the model expects from it.
    fn apply(&mut self, op: &Op) -> Vec<String> {
        let mut expected = Vec::new();
        let online = self.online();
        let now = self.sim.now();
        match *op {
            Op::PlaceCall {
                jingle,
                auto_answer,
            } => {
                if !online {
                    return expected;
                }
                let mode = if jingle {
                    Negotiation::Jingle
                } else {
                    Negotiation::SdpOverXmpp
                };
                let id = self.sim.cloud().place_inbound_call(
                    now,
                    CallOptions {
                        mode,
                        auto_answer,
                        ..CallOptions::default()
                    },
                );
                let c = self.sim.cloud().call(id).expect("the call exists");
                expected.push(format!("pending {}", c.session_id));
                let st = if auto_answer && self.auto_answer {
                    expected.push(format!("started {}", c.session_id));
                    St::Active
                } else {
                    St::Ringing
                };
                self.calls.push(ModelCall {
                    cloud: id,
                    session_id: c.session_id,
                    conversation_id: c.conversation_id,
                    mode,
                    st,
                });
            }
            Op::PlaceOutbound => {
                if !online {
                    return expected;
                }
                let params = genesys_webrtc::engine::StartSoftphoneParams {
                    phone_number: Some("+13175550199".into()),
                    ..Default::default()
                };
                let r = self.sim.engine().start_softphone_session(now, &params);
                assert!(r.is_ok(), "{r:?}");
                self.sim.pump();
                self.sim.run_for(SETTLE);
                self.adopt_new_calls(&mut expected);
                return expected;
            }
            Op::ProposeDisallowed { kind, with_offer } => {
                if !online {
                    return expected;
                }
                self.serial += 1;
                let n = self.serial;
                let from = match kind {
                    0 => format!("peer-{n}@conference.example.orgspan.com/p"),
                    1 => format!("acd-{n}@conference.example.orgspan.com/acd-1"),
                    _ => format!("screenrecording-{n}@example.orgspan.com/r"),
                };
                let (sid, cid) = (format!("dis-s-{n:04}"), format!("dis-c-{n:04}"));
                self.disallowed.push(sid.clone());
                self.disallowed.push(cid.clone());
                let bare = self.sim.cloud().config().jabber_id.clone();
                let propose = Element::new("message", "jabber:client")
                    .with_attr("from", from.as_str())
                    .with_attr("to", bare.as_str())
                    .with_child(
                        Element::new("propose", "urn:xmpp:jingle-message:0")
                            .with_attr("id", sid.as_str())
                            .with_attr("inin-cid", cid.as_str())
                            .with_attr("inin-autoanswer", "true")
                            .with_attr("inin-sdp-over-xmpp", "true"),
                    );
                self.deliver(&propose);
                if with_offer {
                    let to = self.client_jid().unwrap_or_default();
                    let method = Method::Offer {
                        session_id: SessionId::new(sid.as_str()).expect("id"),
                        conversation_id: Some(ConversationId::new(cid.as_str()).expect("id")),
                        sdp: SdpText::new("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
                            .expect("sdp"),
                        reinvite: false,
                    };
                    let iq = sdp_over_xmpp::build_rpc_iq(
                        &format!("dis-iq-{n}"),
                        &from,
                        &to,
                        &format!("dis-json-{n}"),
                        &method,
                    );
                    self.deliver(&iq);
                }
            }
            Op::Retract(n) => {
                let Some(i) = self.pick(n) else {
                    return expected;
                };
                if !online {
                    return expected;
                }
                let done = self.sim.cloud().retract_call(now, self.calls[i].cloud);
                let c = &mut self.calls[i];
                assert_eq!(done, c.st == St::Ringing, "retract of {c:?}");
                if done {
                    expected.push(format!("cancel {}", c.session_id));
                    c.st = St::Over;
                }
            }
            Op::AnswerElsewhere(n) => {
                let Some(i) = self.pick(n) else {
                    return expected;
                };
                if !online {
                    return expected;
                }
                let done = self.sim.cloud().answer_elsewhere(now, self.calls[i].cloud);
                let c = &mut self.calls[i];
                assert_eq!(done, c.st == St::Ringing, "answer elsewhere of {c:?}");
                if done {
                    expected.push(format!("handled {}", c.session_id));
                    c.st = St::Over;
                }
            }
            Op::Accept(n) => {
                let Some(i) = self.pick(n) else {
                    return expected;
                };
                let sid = self.calls[i].session_id.clone();
                let r = self.sim.engine().accept_pending_session(now, &sid);
                let c = &mut self.calls[i];
                match (c.st, online) {
                    (St::Ringing, true) => {
                        assert_eq!(r, Ok(()), "accept of {c:?}");
                        expected.push(format!("started {sid}"));
                        c.st = St::Active;
                    }
                    (St::Ringing, false) => {
                        assert_eq!(r, Err(SessionError::NotConnected), "accept offline {c:?}")
                    }
                    _ => assert_eq!(r, Err(SessionError::UnknownSession(sid)), "{c:?}"),
                }
            }
            Op::Reject(n) => {
                let Some(i) = self.pick(n) else {
                    return expected;
                };
                let sid = self.calls[i].session_id.clone();
                let r = self.sim.engine().reject_pending_session(now, &sid);
                let c = &mut self.calls[i];
                if c.st == St::Ringing {
                    assert_eq!(r, Ok(()), "reject of {c:?}");
                    self.rejected.insert(sid);
                    c.st = St::Over;
                } else {
                    assert_eq!(r, Err(SessionError::UnknownSession(sid)), "{c:?}");
                }
            }
            Op::HangUp(n, reason) => {
                let Some(i) = self.pick(n) else {
                    return expected;
                };
                if !online {
                    return expected;
                }
                let reason = ["success", "busy", "decline", "timeout"][usize::from(reason % 4)];
                let done = self.sim.cloud().hang_up(now, self.calls[i].cloud, reason);
                let c = &mut self.calls[i];
                assert_eq!(done, c.st != St::Over, "hang-up of {c:?}");
                match c.st {
                    St::Ringing => expected.push(format!("cancel {}", c.session_id)),
                    St::Active => expected.push(format!("ended {} {reason}", c.session_id)),
                    St::Over => {}
                }
                c.st = St::Over;
            }
            Op::EndSession(n, by_conversation) => {
                let Some(i) = self.pick(n) else {
                    return expected;
                };
                let c = &self.calls[i];
                if c.st == St::Active && !online {
                    // The PATCH would succeed and the server's terminate would find no bound
                    // resource: not a case this model predicts.
                    return expected;
                }
                let key = if by_conversation {
                    c.conversation_id.clone()
                } else {
                    c.session_id.clone()
                };
                let r = self.sim.engine().end_session(now, &key);
                let c = &mut self.calls[i];
                if c.st == St::Active {
                    assert_eq!(r, Ok(()), "end of {c:?}");
                    expected.push(format!("ended {} success", c.session_id));
                    c.st = St::Over;
                } else {
                    assert_eq!(r, Err(SessionError::UnknownSession(key)), "{c:?}");
                }
            }
            Op::Mute(n, mute) => {
                let Some(i) = self.pick(n) else {
                    return expected;
                };
                let sid = self.calls[i].session_id.clone();
                let r = self.sim.engine().set_audio_mute(now, &sid, mute);
                if self.calls[i].st == St::Active {
                    assert_eq!(r, Ok(()));
                } else {
                    assert_eq!(r, Err(SessionError::UnknownSession(sid)));
                }
            }
            Op::ExtraCandidate(n) => {
                let Some(i) = self.pick(n) else {
                    return expected;
                };
                if !online {
                    return expected;
                }
                let (cloud, mode, sid) = {
                    let c = &self.calls[i];
                    (c.cloud, c.mode, c.session_id.clone())
                };
                let Some(summary) = self.sim.cloud().call(cloud) else {
                    return expected;
                };
                let Some(to) = self.client_jid() else {
                    return expected;
                };
                self.serial += 1;
                let iq_id = format!("extra-{}", self.serial);
                let el = match mode {
                    Negotiation::SdpOverXmpp => {
                        let method = Method::IceCandidate {
                            session_id: SessionId::new(sid.as_str()).expect("id"),
                            candidate: CandidateFragment::new("0", EXTRA_CANDIDATE).expect("c"),
                        };
                        sdp_over_xmpp::build_rpc_iq(
                            &iq_id,
                            &summary.gjoll_jid,
                            &to,
                            &iq_id,
                            &method,
                        )
                    }
                    Negotiation::Jingle => {
                        let cand = Candidate::parse(EXTRA_CANDIDATE).expect("candidate");
                        let j = Jingle::transport_info_candidate(
                            sid.as_str(),
                            "0",
                            None,
                            sdp_jingle::candidate_to_jingle(&cand),
                        );
                        jingle::iq_set(&iq_id, &to, Some(&summary.gjoll_jid), &j)
                    }
                };
                self.deliver(&el);
            }
            Op::EarlyCandidate(k) => {
                if !online {
                    return expected;
                }
                let Some(to) = self.client_jid() else {
                    return expected;
                };
                self.serial += 1;
                let method = Method::IceCandidate {
                    session_id: SessionId::new(format!("early-{k}")).expect("id"),
                    candidate: CandidateFragment::new("0", EXTRA_CANDIDATE).expect("c"),
                };
                let iq_id = format!("early-iq-{}", self.serial);
                let el = sdp_over_xmpp::build_rpc_iq(
                    &iq_id,
                    "7d2c41@gjoll.example.orgspan.com/gjoll-1",
                    &to,
                    &iq_id,
                    &method,
                );
                self.deliver(&el);
            }
            Op::DropWebsocket => self.sim.cut_all(),
            Op::ServerCloseStream => self.sim.cloud().close_streams(now),
            Op::Reconnect => {
                let r = self.sim.engine().reconnect(now);
                assert!(r.is_ok(), "{r:?}");
            }
            Op::Wait(ms) => {
                self.sim.run_for(Duration::from_millis(u64::from(ms)));
            }
        }
        self.sim.pump();
        self.sim.run_for(SETTLE);
        expected
    }

    /// The lifecycle events since the last call, as model strings; panics on an `sdkError`.
    fn new_events(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for (_, e) in &self.sim.events()[self.seen..] {
            match e {
                SdkEvent::PendingSession(p) => out.push(format!("pending {}", p.id)),
                SdkEvent::CancelPendingSession { session_id, .. } => {
                    out.push(format!("cancel {session_id}"))
                }
                SdkEvent::HandledPendingSession { session_id, .. } => {
                    out.push(format!("handled {session_id}"))
                }
                SdkEvent::SessionStarted(s) => out.push(format!("started {}", s.id)),
                SdkEvent::SessionEnded { session, reason } => {
                    out.push(format!("ended {} {}", session.id, reason.as_str()))
                }
                SdkEvent::Error(err) => panic!("unexpected sdkError: {err:?}"),
                _ => {}
            }
        }
        self.seen = self.sim.events().len();
        out
    }

    fn check_bounds(&mut self) {
        let sizes = self.sim.engine().sizes();
        let live = self.calls.iter().filter(|c| c.st != St::Over).count();
        assert!(sizes.pending <= 64 && sizes.proposes <= 64, "{sizes:?}");
        assert!(sizes.sessions <= 256, "{sizes:?}");
        assert!(sizes.early_candidate_sessions <= 10, "{sizes:?}");
        assert!(
            sizes.sdp_over_xmpp_flags <= live,
            "sdp-over-xmpp flags outlive their sessions: {sizes:?}, {live} live call(s)"
        );
        assert!(sizes.rest_calls <= 8, "{sizes:?}");
    }

    fn step(&mut self, op: &Op) {
        self.trace.push(format!("{op:?}"));
        let mut expected = self.apply(op);
        let mut actual = self.new_events();
        expected.sort();
        actual.sort();
        assert_eq!(
            actual, expected,
            "lifecycle events after {op:?} (steps so far: {:?})",
            self.trace
        );
        self.check_bounds();
    }

    /// Ends every call from the cloud's side once connected, then checks the whole run.
    fn drain_and_check(&mut self, secrets: &TenantSecrets, logs: &LogCapture) {
        if !self.online() {
            self.sim.run_until_event(Duration::from_secs(300), |e| {
                matches!(e, SdkEvent::Connected { .. })
            });
            self.sim.run_for(SETTLE);
        }
        assert!(self.online(), "reconnected for the drain: {:?}", self.trace);
        let mut expected = self.new_events();
        expected.retain(|_| false);
        let now = self.sim.now();
        for c in &mut self.calls {
            match c.st {
                St::Ringing => {
                    assert!(self.sim.cloud().retract_call(now, c.cloud));
                    expected.push(format!("cancel {}", c.session_id));
                }
                St::Active => {
                    assert!(self.sim.cloud().hang_up(now, c.cloud, "success"));
                    expected.push(format!("ended {} success", c.session_id));
                }
                St::Over => {}
            }
            c.st = St::Over;
        }
        self.sim.pump();
        self.sim.run_for(Duration::from_secs(1));
        let mut actual = self.new_events();
        expected.sort();
        actual.sort();
        assert_eq!(actual, expected, "drain events ({:?})", self.trace);

        // The engine holds nothing once every call is over.
        assert_eq!(self.sim.engine().pending_sessions().count(), 0);
        assert_eq!(self.sim.engine().sessions().count(), 0);
        let sizes = self.sim.engine().sizes();
        assert_eq!(
            (sizes.proposes, sizes.pending, sizes.sessions),
            (0, 0, 0),
            "{sizes:?}"
        );
        assert_eq!(sizes.sdp_over_xmpp_flags, 0, "{sizes:?}");
        assert_eq!(sizes.rest_calls, 0, "{sizes:?}");
        for c in self.sim.cloud().calls() {
            assert!(c.state.is_over(), "cloud call left over: {c:?}");
            assert!(!matches!(c.state, CallState::Connected));
        }

        // Whole-run accounting, independent of the step model.
        let mut pending: BTreeMap<String, u32> = BTreeMap::new();
        let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
        let mut open: BTreeSet<String> = BTreeSet::new();
        let mut debug = String::new();
        for (_, e) in self.sim.events() {
            debug.push_str(&format!("{e:?}\n"));
            match e {
                SdkEvent::PendingSession(p) => *pending.entry(p.id.clone()).or_default() += 1,
                SdkEvent::CancelPendingSession { session_id, .. }
                | SdkEvent::HandledPendingSession { session_id, .. } => {
                    assert!(pending.contains_key(session_id), "outcome without pending");
                    *outcomes.entry(session_id.clone()).or_default() += 1;
                }
                SdkEvent::SessionStarted(s) => {
                    assert!(pending.contains_key(&s.id), "session without pending");
                    *outcomes.entry(s.id.clone()).or_default() += 1;
                    assert!(open.insert(s.id.clone()), "started twice: {}", s.id);
                }
                SdkEvent::SessionEnded { session, reason } => {
                    assert!(
                        open.remove(&session.id),
                        "ended without start: {}",
                        session.id
                    );
                    assert_ne!(*reason, TerminateReason::ConnectivityError);
                }
                _ => {}
            }
        }
        for id in &self.rejected {
            *outcomes.entry(id.clone()).or_default() += 1;
        }
        assert!(pending.values().all(|n| *n == 1), "{pending:?}");
        assert_eq!(
            pending.keys().collect::<Vec<_>>(),
            outcomes.keys().collect::<Vec<_>>()
        );
        assert!(outcomes.values().all(|n| *n == 1), "{outcomes:?}");
        assert!(open.is_empty(), "sessions never ended: {open:?}");

        // Disallowed session types: no event, no reply that names them.
        for id in &self.disallowed {
            assert!(!debug.contains(id.as_str()), "event about disallowed {id}");
        }
        for entry in self.sim.cloud().log() {
            if let LogEntry::XmppIn { xml, .. } = entry {
                for id in &self.disallowed {
                    assert!(
                        !xml.contains(id.as_str()),
                        "reply about disallowed {id}: {xml}"
                    );
                }
            }
        }

        // Secrets: neither the TRACE logs nor the events.
        secrets.assert_absent("the events", &debug);
        secrets.assert_absent("the TRACE logs", &logs.text());
        assert!(!logs.is_empty(), "the capture holds the logs");
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 400,
        ..ProptestConfig::default()
    })]

    #[test]
    fn signaling_matches_the_model(
        seed in any::<u64>(),
        auto_answer in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let logs = LogCapture::new();
        let _guard = logs.set_default();
        let mut run = Run::new(seed, auto_answer);
        let secrets = TenantSecrets::of(run.sim.cloud().config());
        for op in &ops {
            run.step(op);
        }
        run.drain_and_check(&secrets, &logs);
    }
}

/// The model catches what it claims to: a run where a pending session is accepted while the
/// SDK is offline must see `NotConnected`, and the call can still be accepted once back.
#[test]
fn accept_while_offline_is_refused_and_works_after_reconnecting() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let mut run = Run::new(7, false);
    let secrets = TenantSecrets::of(run.sim.cloud().config());
    for op in [
        Op::PlaceCall {
            jingle: false,
            auto_answer: false,
        },
        Op::DropWebsocket,
        Op::Accept(0),
        Op::Wait(3000),
        Op::Accept(0),
        Op::PlaceCall {
            jingle: true,
            auto_answer: true,
        },
        Op::EndSession(0, true),
        Op::ServerCloseStream,
        Op::Wait(3000),
        Op::Mute(1, true),
    ] {
        run.step(&op);
    }
    run.drain_and_check(&secrets, &logs);
}
