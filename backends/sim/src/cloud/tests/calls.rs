//! Softphone calls against the fake cloud: a client made of core pieces (hand-built XMPP, the
//! `signaling` codecs and `CallMedia` as the answerer) over an in-memory network in virtual
//! time. Media really flows: tones are checked with Goertzel, DTMF as RFC 4733 events.

use std::net::SocketAddr;

use genesys_webrtc::media::dtmf::{DtmfReceiver, DtmfSender, DtmfSenderConfig};
use genesys_webrtc::media::g711::G711Law;
use genesys_webrtc::media::goertzel::Goertzel;
use genesys_webrtc::media::opus::{OpusChannels, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use genesys_webrtc::media::rtc::{
    AudioCodec, CallMedia, MediaConfig, MediaEvent, MediaInput, MediaOutput,
};
use genesys_webrtc::media::tone::ToneGenerator;
use genesys_webrtc::signaling::jingle::{self, Action as JingleAction, Jingle};
use genesys_webrtc::signaling::jmi::{self, SessionId};
use genesys_webrtc::signaling::sdp::Sdp;
use genesys_webrtc::signaling::sdp_jingle::{self, LocalRole};
use genesys_webrtc::signaling::sdp_over_xmpp::{self, CandidateFragment, Method as Rpc, SdpText};

use super::*;

const CLIENT_ADDR: &str = "10.0.0.1:5000";
const MEDIA_ADDR: &str = "10.0.0.2:6000";
const LATENCY: Duration = Duration::from_millis(5);
const FRAME: Duration = Duration::from_millis(20);
const CLIENT_TONE: f32 = 440.0;

fn client_addr() -> SocketAddr {
    CLIENT_ADDR.parse().unwrap()
}

struct InFlight {
    at: Instant,
    to_cloud: bool,
    source: SocketAddr,
    destination: SocketAddr,
    data: Vec<u8>,
}

/// The client's media: `CallMedia` plus a 440 Hz tone sender, decoder, DTMF.
struct ClientMedia {
    media: CallMedia,
    timeout: Instant,
    connected: bool,
    pt: u8,
    codec: AudioCodec,
    tone: ToneGenerator,
    encoder: Option<OpusEncoder>,
    tick: u32,
    next_frame: Option<Instant>,
    dtmf: Option<DtmfSender>,
    received: Vec<i16>,
    decoder: Option<OpusDecoder>,
    dtmf_rx: DtmfReceiver,
    digits: String,
}

impl ClientMedia {
    fn new(now: Instant, offer: &str) -> (ClientMedia, String) {
        let config = MediaConfig::new(vec![client_addr()]);
        let (media, answer) = CallMedia::accept_offer(now, offer, &config).unwrap();
        let first = *media
            .codecs()
            .iter()
            .find(|c| !c.codec.is_telephone_event())
            .unwrap();
        let rate = first.codec.clock_rate();
        let is_opus = matches!(first.codec, AudioCodec::Opus { .. });
        let client = ClientMedia {
            media,
            timeout: now,
            connected: false,
            pt: first.pt,
            codec: first.codec,
            tone: ToneGenerator::new(CLIENT_TONE, 0.3, rate),
            encoder: is_opus.then(|| OpusEncoder::new(OpusEncoderConfig::default()).unwrap()),
            tick: 0,
            next_frame: None,
            dtmf: None,
            received: Vec::new(),
            decoder: is_opus.then(|| OpusDecoder::new(OpusChannels::Mono).unwrap()),
            dtmf_rx: DtmfReceiver::new(),
            digits: String::new(),
        };
        (client, answer)
    }

    fn rate(&self) -> u32 {
        self.codec.clock_rate()
    }

    fn send_frame(&mut self, now: Instant) {
        let frame = self.rate() / 50;
        let ts = 5000u32.wrapping_add(self.tick * frame);
        self.tick += 1;
        if let Some(d) = &mut self.dtmf {
            if let Some(p) = d.poll(ts) {
                self.media
                    .write_telephone_event(now, p.rtp_timestamp, &p.payload, p.marker)
                    .unwrap();
                return;
            }
            if d.is_active() {
                return;
            }
        }
        let pcm = self.tone.next_frame(frame as usize);
        let payload = match self.codec {
            AudioCodec::Opus { .. } => self.encoder.as_mut().unwrap().encode(&pcm).unwrap(),
            AudioCodec::Pcmu => {
                let mut out = Vec::new();
                G711Law::Mu.encode(&pcm, &mut out);
                out
            }
            AudioCodec::Pcma => {
                let mut out = Vec::new();
                G711Law::A.encode(&pcm, &mut out);
                out
            }
            _ => unreachable!(),
        };
        self.media.write_audio(now, self.pt, ts, &payload).unwrap();
    }

    fn send_dtmf(&mut self, digits: &str) {
        let rate = self
            .media
            .telephone_event_codec()
            .unwrap()
            .codec
            .clock_rate();
        assert_eq!(rate, self.rate(), "telephone-event at the audio clock rate");
        let mut s = DtmfSender::new(DtmfSenderConfig::new(rate)).unwrap();
        s.insert(digits).unwrap();
        self.dtmf = Some(s);
    }

    fn on_event(&mut self, now: Instant, e: MediaEvent) {
        match e {
            MediaEvent::Connected => {
                self.connected = true;
                self.next_frame = Some(now);
            }
            MediaEvent::AudioReceived {
                codec,
                payload,
                rtp_timestamp,
                ..
            } => {
                if codec.is_telephone_event() {
                    if let Ok(Some(d)) = self.dtmf_rx.push(rtp_timestamp, &payload) {
                        self.digits.push(d.digit);
                    }
                    return;
                }
                match codec {
                    AudioCodec::Opus { .. } => {
                        let pcm = self.decoder.as_mut().unwrap().decode(&payload).unwrap();
                        self.received.extend(pcm);
                    }
                    AudioCodec::Pcmu => G711Law::Mu.decode(&payload, &mut self.received),
                    AudioCodec::Pcma => G711Law::A.decode(&payload, &mut self.received),
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

/// One logged-in client session plus the media network.
struct Rig {
    h: Harness,
    conn: ConnId,
    jid: String,
    client: Option<ClientMedia>,
    net: Vec<InFlight>,
    /// Stanzas received on `conn` and not yet looked at.
    inbox: Vec<Element>,
}

impl Rig {
    fn new() -> Rig {
        let mut h = Harness::default();
        h.cloud.set_media_addr(MEDIA_ADDR.parse().unwrap());
        let (conn, jid) = h.login("dev1");
        let topic = format!("v2.users.{DEFAULT_USER_ID}.conversations");
        let replies = h.send(conn, &subscribe("sub-conv", &topic));
        assert_eq!(replies[0].attr("type"), Some("result"));
        Rig {
            h,
            conn,
            jid,
            client: None,
            net: Vec::new(),
            inbox: Vec::new(),
        }
    }

    fn collect(&mut self) {
        let texts = self.h.texts(self.conn);
        for t in texts {
            self.inbox
                .push(xml::parse(&t, &XmlLimits::default()).expect("valid XML"));
        }
    }

    /// Sends a stanza from the client; collects what comes back.
    fn send(&mut self, el: &Element) {
        let replies = self.h.send(self.conn, &el.to_xml());
        self.inbox.extend(replies);
    }

    /// Takes the received stanzas.
    fn take(&mut self) -> Vec<Element> {
        self.collect();
        std::mem::take(&mut self.inbox)
    }

    /// Conversation event bodies among `stanzas`.
    fn conversation_events(stanzas: &[Element]) -> Vec<Value> {
        stanzas
            .iter()
            .filter_map(|m| {
                let json = m
                    .child("event", ns::PUBSUB_EVENT)?
                    .child("items", ns::PUBSUB_EVENT)?
                    .child("item", ns::PUBSUB_EVENT)?
                    .child("json", ns::JSON)?
                    .text();
                let doc: Value = serde_json::from_str(&json).ok()?;
                Some(doc["eventBody"].clone())
            })
            .collect()
    }

    fn drain_media(&mut self) {
        let now = self.h.now;
        while let Some((source, destination, data)) = self.h.cloud.poll_datagram() {
            self.net.push(InFlight {
                at: now + LATENCY,
                to_cloud: false,
                source,
                destination,
                data,
            });
        }
        if let Some(c) = &mut self.client {
            loop {
                match c.media.poll_output() {
                    MediaOutput::Transmit {
                        source,
                        destination,
                        data,
                    } => self.net.push(InFlight {
                        at: now + LATENCY,
                        to_cloud: true,
                        source,
                        destination,
                        data,
                    }),
                    MediaOutput::Event(e) => c.on_event(now, e),
                    MediaOutput::Timeout(t) => {
                        c.timeout = t;
                        break;
                    }
                }
            }
        }
    }

    fn step(&mut self, limit: Instant) {
        self.drain_media();
        let mut next = limit;
        for t in [
            self.h.cloud.poll_timeout(),
            self.client.as_ref().map(|c| c.timeout),
            self.client.as_ref().and_then(|c| c.next_frame),
            self.net.iter().map(|p| p.at).min(),
        ]
        .into_iter()
        .flatten()
        {
            next = next.min(t);
        }
        self.h.now = self.h.now.max(next);
        let now = self.h.now;
        let (due, later): (Vec<_>, Vec<_>) = self.net.drain(..).partition(|p| p.at <= now);
        self.net = later;
        for p in due {
            if p.to_cloud {
                self.h
                    .cloud
                    .on_datagram(now, p.source, p.destination, &p.data);
            } else if let Some(c) = &mut self.client {
                c.media.handle_input(MediaInput::Receive {
                    now,
                    source: p.source,
                    destination: p.destination,
                    data: &p.data,
                });
            }
            self.drain_media();
        }
        if self.h.cloud.poll_timeout().is_some_and(|t| t <= now) {
            self.h.cloud.handle_timeout(now);
        }
        if let Some(c) = &mut self.client {
            if c.timeout <= now {
                c.media.handle_input(MediaInput::Timeout(now));
            }
            while c.next_frame.is_some_and(|t| t <= now) {
                c.send_frame(now);
                c.next_frame = c.next_frame.map(|t| t + FRAME);
            }
        }
        self.drain_media();
        self.h.drain();
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.h.now + d;
        let mut steps = 0;
        while self.h.now < until {
            self.step(until);
            steps += 1;
            assert!(steps < 1_000_000, "virtual time stuck");
        }
    }

    fn connect_media(&mut self, call: CallId) {
        let start = self.h.now;
        while !(self.client.as_ref().unwrap().connected
            && self.h.cloud.call(call).unwrap().media_connected)
        {
            self.step(self.h.now + Duration::from_millis(1));
            assert!(
                self.h.now - start < Duration::from_secs(5),
                "media did not connect: {:?}",
                self.h.cloud.call_log(call)
            );
        }
    }
}

fn summary(h: &Harness, call: CallId) -> CallSummary {
    h.cloud.call(call).unwrap()
}

fn jmi_child<'a>(msg: &'a Element, name: &str) -> Option<&'a Element> {
    msg.child(name, ns::JMI)
}

fn rpcs(stanzas: &[Element]) -> Vec<(Element, sdp_over_xmpp::GenesysRpc)> {
    stanzas
        .iter()
        .filter_map(|s| {
            sdp_over_xmpp::parse_genesys_iq(s).map(|r| (s.clone(), r.expect("valid RPC")))
        })
        .collect()
}

fn jingles(stanzas: &[Element]) -> Vec<(Element, Jingle)> {
    stanzas
        .iter()
        .filter_map(|s| {
            let j = s.child("jingle", ns::JINGLE)?;
            Some((s.clone(), Jingle::from_element(j).unwrap()))
        })
        .collect()
}

/// Splits an SDP into (SDP without candidates, candidate lines without `a=`).
fn split_candidates(sdp: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut cands = Vec::new();
    for line in sdp.lines() {
        if let Some(c) = line.strip_prefix("a=candidate:") {
            cands.push(format!("candidate:{c}"));
        } else if line != "a=end-of-candidates" {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    (out, cands)
}

fn user_call_state(conv: &Value) -> String {
    conv["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == "user")
        .map(|p| p["calls"][0]["state"].as_str().unwrap().to_owned())
        .unwrap()
}

fn tail(samples: &[i16], rate: u32, secs: f32) -> &[i16] {
    let n = (rate as f32 * secs) as usize;
    &samples[samples.len().saturating_sub(n)..]
}

/// Propose → the propose element (checked) and the first conversation event.
fn expect_propose(rig: &mut Rig, call: CallId, sdp_over_xmpp: bool, auto: bool) -> String {
    let s = summary(&rig.h, call);
    let got = rig.take();
    let propose_msg = got
        .iter()
        .find(|m| jmi_child(m, "propose").is_some())
        .expect("propose");
    let gjoll = propose_msg.attr("from").unwrap().to_owned();
    assert!(jmi::is_softphone_jid(&gjoll), "{gjoll}");
    assert!(gjoll.ends_with("/gjoll-1"));
    assert_eq!(gjoll, s.gjoll_jid);
    assert_eq!(
        propose_msg.attr("to"),
        Some(format!("alice@{DOMAIN}").as_str())
    );
    let p = jmi_child(propose_msg, "propose").unwrap();
    assert_eq!(p.attr("id"), Some(s.session_id.as_str()));
    assert_eq!(p.attr("inin-cid"), Some(s.conversation_id.as_str()));
    let b = |v: bool| if v { "true" } else { "false" };
    assert_eq!(p.attr("inin-sdp-over-xmpp"), Some(b(sdp_over_xmpp)));
    assert_eq!(p.attr("inin-autoanswer"), Some(b(auto)));
    // The client's parser agrees.
    let parsed = jmi::parse_jmi(propose_msg).unwrap().unwrap();
    assert_eq!(parsed.id().as_str(), s.session_id);
    let events = Rig::conversation_events(&got);
    assert_eq!(events.len(), 1, "one conversation event");
    assert_eq!(events[0]["id"], s.conversation_id.as_str());
    let user = events[0]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == "user")
        .unwrap();
    assert_eq!(user["userId"], DEFAULT_USER_ID);
    gjoll
}

#[test]
fn inbound_call_mode_a_with_media_dtmf_and_rest_disconnect() {
    let mut rig = Rig::new();
    let call = rig
        .h
        .cloud
        .place_inbound_call(rig.h.now, CallOptions::default());
    let gjoll = expect_propose(&mut rig, call, true, false);
    let conv = rig.h.cloud.conversation_json(call).unwrap();
    assert_eq!(user_call_state(&conv), "alerting");
    let s = summary(&rig.h, call);
    let sid = SessionId::new(s.session_id.clone()).unwrap();

    // proceed → offer + trickled server candidate + end-of-candidates.
    rig.send(&jmi::proceed(&gjoll, &sid));
    let got = rig.take();
    let offer_rpcs = rpcs(&got);
    assert!(offer_rpcs.len() >= 3, "{got:?}");
    let (offer_iq, offer) = &offer_rpcs[0];
    assert_eq!(offer_iq.attr("from"), Some(gjoll.as_str()));
    assert_eq!(offer_iq.attr("to"), Some(rig.jid.as_str()));
    let Rpc::Offer {
        session_id,
        conversation_id,
        sdp,
        reinvite,
    } = &offer.method
    else {
        panic!("first RPC is {:?}", offer.method);
    };
    assert_eq!(session_id.as_str(), s.session_id);
    assert_eq!(
        conversation_id.as_ref().unwrap().as_str(),
        s.conversation_id
    );
    assert!(!reinvite);
    assert!(
        !sdp.as_str().contains("a=candidate"),
        "candidates are trickled"
    );
    assert!(sdp.as_str().contains("opus/48000"));
    assert!(sdp.as_str().contains("telephone-event/8000"));
    let mut server_candidates = Vec::new();
    let mut server_eoc = false;
    for (_, r) in &offer_rpcs[1..] {
        match &r.method {
            Rpc::IceCandidate {
                candidate: CandidateFragment::Candidate { candidate_line, .. },
                ..
            } => server_candidates.push(candidate_line.clone()),
            Rpc::IceCandidate {
                candidate: CandidateFragment::EndOfCandidates,
                ..
            } => server_eoc = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(server_candidates.len(), 1);
    assert!(server_candidates[0].contains("10.0.0.2 6000"));
    assert!(server_eoc);
    assert_eq!(summary(&rig.h, call).state, CallState::Offered);

    // The client answers: accept to its own bare JID (echoed), answer, trickle.
    let (mut client, answer) = ClientMedia::new(rig.h.now, sdp.as_str());
    for c in &server_candidates {
        client.media.add_remote_candidate(c).unwrap();
    }
    rig.client = Some(client);
    rig.send(&jmi::accept(&format!("alice@{DOMAIN}"), &sid));
    let got = rig.take();
    let echo = got
        .iter()
        .find(|m| jmi_child(m, "accept").is_some())
        .expect("accept echoed to the user's resources");
    assert_eq!(echo.attr("from"), Some(rig.jid.as_str()));
    let (answer_sdp, candidates) = split_candidates(&answer);
    let answer_rpc = Rpc::Answer {
        session_id: sid.clone(),
        sdp: SdpText::new(answer_sdp).unwrap(),
    };
    rig.send(&sdp_over_xmpp::build_rpc_iq(
        "a1",
        &rig.jid,
        &gjoll,
        "j1",
        &answer_rpc,
    ));
    let got = rig.take();
    assert!(
        got.iter()
            .any(|r| r.attr("id") == Some("a1") && r.attr("type") == Some("result")),
        "{got:?}"
    );
    assert_eq!(summary(&rig.h, call).state, CallState::Answered);
    for (i, c) in candidates.iter().enumerate() {
        let m = Rpc::IceCandidate {
            session_id: sid.clone(),
            candidate: CandidateFragment::new("0", c).unwrap(),
        };
        rig.send(&sdp_over_xmpp::build_rpc_iq(
            &format!("c{i}"),
            &rig.jid,
            &gjoll,
            &format!("jc{i}"),
            &m,
        ));
    }
    let eoc = Rpc::IceCandidate {
        session_id: sid.clone(),
        candidate: CandidateFragment::EndOfCandidates,
    };
    rig.send(&sdp_over_xmpp::build_rpc_iq(
        "ce", &rig.jid, &gjoll, "jce", &eoc,
    ));
    rig.take();

    rig.connect_media(call);
    let info = Rpc::Info {
        session_id: sid.clone(),
        status: "active".into(),
    };
    rig.send(&sdp_over_xmpp::build_rpc_iq(
        "i1", &rig.jid, &gjoll, "ji1", &info,
    ));
    let got = rig.take();
    let events = Rig::conversation_events(&got);
    assert_eq!(events.len(), 1);
    assert_eq!(user_call_state(&events[0]), "connected");
    assert_eq!(summary(&rig.h, call).state, CallState::Connected);

    // Tones both ways.
    rig.run_for(Duration::from_secs(1));
    let (rate, heard) = rig.h.cloud.received_audio(call);
    assert_eq!(rate, 48_000);
    assert!(heard.len() > 30_000, "{} samples", heard.len());
    assert!(
        Goertzel::detect(tail(&heard, rate, 0.5), CLIENT_TONE, rate),
        "the cloud hears 440 Hz"
    );
    let client = rig.client.as_ref().unwrap();
    assert!(
        Goertzel::detect(tail(&client.received, 48_000, 0.5), 1000.0, 48_000),
        "the client hears 1 kHz"
    );
    let stats = rig.h.cloud.media_stats(call).unwrap();
    assert_eq!(stats.tx_codec, Some(PreferredCodec::Opus));
    assert!(stats.audio_packets_sent >= 45, "{stats:?}");
    assert!(stats.audio_packets_received >= 45, "{stats:?}");

    // DTMF both ways.
    rig.h.cloud.send_dtmf(call, "123").unwrap();
    rig.client.as_mut().unwrap().send_dtmf("45#");
    rig.run_for(Duration::from_secs(1));
    assert_eq!(rig.client.as_ref().unwrap().digits, "123");
    assert_eq!(rig.h.cloud.received_dtmf(call), "45#");
    rig.take();

    // The user hangs up over REST: the server terminates the session.
    let token = rig.h.token();
    let path = format!(
        "/api/v2/conversations/calls/{}/participants/{}",
        s.conversation_id, s.user_participant_id
    );
    let resp = rig
        .h
        .rest(Method::Patch, &path, None, r#"{"state":"disconnected"}"#);
    assert_eq!(resp.status, 401);
    let resp = rig.h.rest(
        Method::Patch,
        &format!(
            "/api/v2/conversations/calls/{}/participants/nope",
            s.conversation_id
        ),
        Some(&token),
        r#"{"state":"disconnected"}"#,
    );
    assert_eq!(resp.status, 404);
    let resp = rig.h.rest(
        Method::Patch,
        &path,
        Some(&token),
        r#"{"state":"disconnected"}"#,
    );
    assert_eq!(resp.status, 202);
    let got = rig.take();
    let terms: Vec<_> = rpcs(&got).into_iter().map(|(_, r)| r).collect();
    assert_eq!(terms.len(), 1, "{got:?}");
    match &terms[0].method {
        Rpc::Terminate { session_id, reason } => {
            assert_eq!(session_id.as_str(), s.session_id);
            assert_eq!(reason.as_deref(), Some("success"));
        }
        other => panic!("{other:?}"),
    }
    let events = Rig::conversation_events(&got);
    assert_eq!(user_call_state(&events[0]), "disconnected");
    assert_eq!(
        summary(&rig.h, call).state,
        CallState::Ended {
            reason: "success".into()
        }
    );
    assert!(rig
        .h
        .cloud
        .cloud_log()
        .rest_calls()
        .contains(&(Method::Patch, path.clone(), 202)));

    // An RPC for an unknown session gets no reply in mode A.
    let bogus = Rpc::Info {
        session_id: SessionId::new("no-such-session").unwrap(),
        status: "active".into(),
    };
    rig.send(&sdp_over_xmpp::build_rpc_iq(
        "x1", &rig.jid, &gjoll, "jx", &bogus,
    ));
    assert!(rig.take().is_empty());
}

#[test]
fn inbound_call_mode_b_jingle_pcmu_and_client_terminate() {
    let mut rig = Rig::new();
    let opts = CallOptions {
        mode: Negotiation::Jingle,
        codec: PreferredCodec::Pcmu,
        ..CallOptions::default()
    };
    let call = rig.h.cloud.place_inbound_call(rig.h.now, opts);
    let gjoll = expect_propose(&mut rig, call, false, false);
    let s = summary(&rig.h, call);
    let sid = SessionId::new(s.session_id.clone()).unwrap();

    rig.send(&jmi::proceed(&gjoll, &sid));
    let got = rig.take();
    let js = jingles(&got);
    assert_eq!(js.len(), 3, "{got:?}");
    let (init_iq, init) = &js[0];
    assert_eq!(init.action, JingleAction::SessionInitiate);
    assert_eq!(init.sid, s.session_id);
    assert_eq!(init.initiator.as_deref(), Some(gjoll.as_str()));
    assert_eq!(init_iq.attr("from"), Some(gjoll.as_str()));
    assert_eq!(js[1].1.action, JingleAction::TransportInfo);
    let server_cands: Vec<String> = js[1]
        .1
        .contents
        .iter()
        .flat_map(|c| c.transport.as_ref().unwrap().candidates.clone())
        .map(|c| sdp_jingle::jingle_to_candidate(&c).to_sdp_attribute())
        .collect();
    assert_eq!(server_cands.len(), 1);
    assert!(
        js[2].1.contents[0]
            .transport
            .as_ref()
            .unwrap()
            .gathering_complete
    );

    // Ack the initiate, build the offer SDP the way the client does.
    let ack = Element::new("iq", ns::CLIENT)
        .with_attr("type", "result")
        .with_attr("id", init_iq.attr("id").unwrap())
        .with_attr("to", gjoll.as_str());
    rig.send(&ack);
    let offer = sdp_jingle::jingle_to_sdp(init, 1).unwrap().to_string();
    let (mut client, answer) = ClientMedia::new(rig.h.now, &offer);
    assert_eq!(client.codec, AudioCodec::Pcmu, "PCMU offered first");
    for c in &server_cands {
        client.media.add_remote_candidate(c).unwrap();
    }
    rig.client = Some(client);
    // Ack the transport-infos.
    for (iq, _) in &js[1..] {
        let ack = Element::new("iq", ns::CLIENT)
            .with_attr("type", "result")
            .with_attr("id", iq.attr("id").unwrap())
            .with_attr("to", gjoll.as_str());
        rig.send(&ack);
    }
    rig.take();
    assert!(rig
        .h
        .cloud
        .call_log(call)
        .contains(&"session-initiate acknowledged".to_owned()));

    let (answer_sdp, candidates) = split_candidates(&answer);
    let parsed = Sdp::parse(&answer_sdp).unwrap();
    let (contents, groups) = sdp_jingle::sdp_to_jingle(&parsed, LocalRole::Responder).unwrap();
    let accept = Jingle::session_accept(s.session_id.as_str(), None, contents, groups);
    rig.send(&jingle::iq_set("sa1", &gjoll, None, &accept));
    let got = rig.take();
    assert!(got
        .iter()
        .any(|r| r.attr("id") == Some("sa1") && r.attr("type") == Some("result")));
    // A second session-accept is out of order.
    rig.send(&jingle::iq_set("sa2", &gjoll, None, &accept));
    let got = rig.take();
    let err = got.iter().find(|r| r.attr("id") == Some("sa2")).unwrap();
    assert_eq!(err.attr("type"), Some("error"));
    assert!(err
        .child_named("error")
        .unwrap()
        .child_named("out-of-order")
        .is_some());

    let mid = parsed.media[0].mid().unwrap().to_owned();
    let ufrag = parsed.media[0].ice_ufrag().map(str::to_owned);
    for (i, c) in candidates.iter().enumerate() {
        let cand = genesys_webrtc::signaling::sdp::Candidate::parse(c).unwrap();
        let j = Jingle::transport_info_candidate(
            s.session_id.as_str(),
            mid.as_str(),
            ufrag.as_deref(),
            sdp_jingle::candidate_to_jingle(&cand),
        );
        rig.send(&jingle::iq_set(&format!("ti{i}"), &gjoll, None, &j));
    }
    let done = Jingle::transport_info_gathering_complete(
        s.session_id.as_str(),
        mid.as_str(),
        ufrag.as_deref(),
    );
    rig.send(&jingle::iq_set("tie", &gjoll, None, &done));
    let got = rig.take();
    assert!(got
        .iter()
        .filter(|r| r.attr("id").is_some_and(|i| i.starts_with("ti")))
        .all(|r| r.attr("type") == Some("result")));

    rig.connect_media(call);
    rig.send(&jingle::iq_set(
        "si1",
        &gjoll,
        None,
        &Jingle::session_info_active(s.session_id.as_str()),
    ));
    let got = rig.take();
    assert!(got
        .iter()
        .any(|r| r.attr("id") == Some("si1") && r.attr("type") == Some("result")));
    assert_eq!(
        user_call_state(&Rig::conversation_events(&got)[0]),
        "connected"
    );

    rig.run_for(Duration::from_millis(800));
    let (rate, heard) = rig.h.cloud.received_audio(call);
    assert_eq!(rate, 8_000);
    assert!(Goertzel::detect(tail(&heard, rate, 0.4), CLIENT_TONE, rate));
    let client = rig.client.as_ref().unwrap();
    assert!(Goertzel::detect(
        tail(&client.received, 8_000, 0.4),
        1000.0,
        8_000
    ));
    assert_eq!(
        rig.h.cloud.media_stats(call).unwrap().tx_codec,
        Some(PreferredCodec::Pcmu)
    );
    rig.h.cloud.send_dtmf(call, "9*").unwrap();
    rig.run_for(Duration::from_millis(600));
    assert_eq!(rig.client.as_ref().unwrap().digits, "9*");
    rig.take();

    // Unknown sid: item-not-found + unknown-session; session-terminate gets a plain result.
    let bogus = Jingle::session_info_active("no-such-sid");
    rig.send(&jingle::iq_set("u1", &gjoll, None, &bogus));
    let got = rig.take();
    let err = got.iter().find(|r| r.attr("id") == Some("u1")).unwrap();
    assert_eq!(err.attr("type"), Some("error"));
    let e = err.child_named("error").unwrap();
    assert!(e.child_named("item-not-found").is_some());
    assert!(e.child_named("unknown-session").is_some());
    let bogus_term = Jingle::session_terminate(
        "no-such-sid",
        jingle::Reason::new(jingle::ReasonCondition::Success),
    );
    rig.send(&jingle::iq_set("u2", &gjoll, None, &bogus_term));
    let got = rig.take();
    let r = got.iter().find(|r| r.attr("id") == Some("u2")).unwrap();
    assert_eq!(r.attr("type"), Some("result"));

    // The client terminates.
    let term = Jingle::session_terminate(
        s.session_id.as_str(),
        jingle::Reason::new(jingle::ReasonCondition::Success),
    );
    rig.send(&jingle::iq_set("st1", &gjoll, None, &term));
    let got = rig.take();
    assert!(got
        .iter()
        .any(|r| r.attr("id") == Some("st1") && r.attr("type") == Some("result")));
    assert_eq!(
        user_call_state(&Rig::conversation_events(&got)[0]),
        "disconnected"
    );
    assert_eq!(
        summary(&rig.h, call).state,
        CallState::Ended {
            reason: "success".into()
        }
    );
}

#[test]
fn server_hang_up_in_mode_b_sends_session_terminate() {
    let mut rig = Rig::new();
    let opts = CallOptions {
        mode: Negotiation::Jingle,
        auto_answer: true,
        ..CallOptions::default()
    };
    let call = rig.h.cloud.place_inbound_call(rig.h.now, opts);
    let gjoll = expect_propose(&mut rig, call, false, true);
    let sid = SessionId::new(summary(&rig.h, call).session_id).unwrap();
    rig.send(&jmi::proceed(&gjoll, &sid));
    rig.take();
    assert!(rig.h.cloud.hang_up(rig.h.now, call, "success"));
    let got = rig.take();
    let js = jingles(&got);
    assert_eq!(js.len(), 1);
    assert_eq!(js[0].1.action, JingleAction::SessionTerminate);
    assert_eq!(
        js[0].1.reason.as_ref().unwrap().condition,
        jingle::ReasonCondition::Success
    );
    assert!(
        !rig.h.cloud.hang_up(rig.h.now, call, "success"),
        "already over"
    );
}

#[test]
fn retract_and_answer_elsewhere() {
    let mut rig = Rig::new();
    let (other, other_jid) = rig.h.login("dev2");
    let call = rig
        .h
        .cloud
        .place_inbound_call(rig.h.now, CallOptions::default());
    expect_propose(&mut rig, call, true, false);
    let texts = rig.h.texts(other);
    assert_eq!(
        texts.len(),
        1,
        "dev2 got the propose (not subscribed to events)"
    );
    assert!(rig.h.cloud.retract_call(rig.h.now, call));
    let got = rig.take();
    let retract = got
        .iter()
        .find(|m| jmi_child(m, "retract").is_some())
        .unwrap();
    assert_eq!(
        jmi_child(retract, "retract").unwrap().attr("id"),
        Some(summary(&rig.h, call).session_id.as_str())
    );
    assert!(rig.h.texts(other).iter().any(|t| t.contains("retract")));
    assert_eq!(
        user_call_state(&Rig::conversation_events(&got)[0]),
        "disconnected"
    );
    assert!(!rig.h.cloud.retract_call(rig.h.now, call));

    let call2 = rig
        .h
        .cloud
        .place_inbound_call(rig.h.now, CallOptions::default());
    rig.take();
    rig.h.texts(other);
    assert!(rig.h.cloud.answer_elsewhere(rig.h.now, call2));
    let got = rig.take();
    let accept = got
        .iter()
        .find(|m| jmi_child(m, "accept").is_some())
        .unwrap();
    let from = accept.attr("from").unwrap();
    assert!(from.starts_with(&format!("alice@{DOMAIN}/")));
    assert_ne!(from, rig.jid);
    assert_ne!(from, other_jid);
    let parsed = jmi::parse_jmi(accept).unwrap().unwrap();
    assert_eq!(parsed.id().as_str(), summary(&rig.h, call2).session_id);
    assert!(rig.h.texts(other).iter().any(|t| t.contains("accept")));
    assert_eq!(summary(&rig.h, call2).state, CallState::AnsweredElsewhere);
    assert_eq!(
        user_call_state(&Rig::conversation_events(&got)[0]),
        "connected"
    );

    // A client's accept to its bare JID fans out to both resources and is recorded.
    let call3 = rig
        .h
        .cloud
        .place_inbound_call(rig.h.now, CallOptions::default());
    rig.take();
    rig.h.texts(other);
    let sid3 = SessionId::new(summary(&rig.h, call3).session_id).unwrap();
    rig.send(&jmi::accept(&format!("alice@{DOMAIN}"), &sid3));
    assert!(rig.h.texts(other).iter().any(|t| t.contains("accept")));
    assert!(rig
        .h
        .cloud
        .call_log(call3)
        .iter()
        .any(|l| l.starts_with("accept from")));
    // A proceed to the bare JID never reaches the call (PROTOCOL.md 16 item 2).
    rig.send(&jmi::proceed(&format!("alice@{DOMAIN}"), &sid3));
    assert_eq!(summary(&rig.h, call3).state, CallState::Alerting);
}

#[test]
fn outbound_call_over_rest_and_participant_operations() {
    let mut rig = Rig::new();
    let token = rig.h.token();
    let body = r#"{"phoneNumber":"+13175550199","sessionType":"softphone"}"#;
    let resp = rig
        .h
        .rest(Method::Post, "/api/v2/conversations/calls", None, body);
    assert_eq!(resp.status, 401);
    let resp = rig.h.rest(
        Method::Post,
        "/api/v2/conversations/calls",
        Some(&token),
        r#"{"phoneNumber":"+13175550199"}"#,
    );
    assert_eq!(resp.status, 400);
    let resp = rig.h.rest(
        Method::Post,
        "/api/v2/conversations/calls",
        Some(&token),
        r#"{"sessionType":"softphone"}"#,
    );
    assert_eq!(resp.status, 400);
    let resp = rig.h.rest(
        Method::Post,
        "/api/v2/conversations/calls",
        Some(&token),
        body,
    );
    assert_eq!(resp.status, 200);
    let doc = body_json(&resp);
    let cid = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(
        doc["selfUri"],
        format!("/api/v2/conversations/calls/{cid}").as_str()
    );
    let calls = rig.h.cloud.calls();
    assert_eq!(calls.len(), 1);
    let call = calls[0].id;
    assert_eq!(calls[0].conversation_id, cid);
    assert_eq!(calls[0].direction, CallDirection::Outbound);
    let gjoll = expect_propose(&mut rig, call, true, true);

    let resp = rig.h.rest(
        Method::Get,
        &format!("/api/v2/conversations/{cid}"),
        Some(&token),
        "",
    );
    assert_eq!(resp.status, 200);
    let conv = body_json(&resp);
    assert_eq!(conv["id"], cid.as_str());
    let external = conv["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == "external")
        .unwrap();
    assert_eq!(external["address"], "tel:+13175550199");
    assert_eq!(user_call_state(&conv), "contacting");
    let resp = rig
        .h
        .rest(Method::Get, "/api/v2/conversations/nope", Some(&token), "");
    assert_eq!(resp.status, 404);

    // Mute and hold publish events.
    let s = summary(&rig.h, call);
    let path = format!(
        "/api/v2/conversations/calls/{cid}/participants/{}",
        s.user_participant_id
    );
    let resp = rig
        .h
        .rest(Method::Patch, &path, Some(&token), r#"{"muted":true}"#);
    assert_eq!(resp.status, 202);
    let resp = rig
        .h
        .rest(Method::Patch, &path, Some(&token), r#"{"held":true}"#);
    assert_eq!(resp.status, 202);
    let resp = rig.h.rest(Method::Patch, &path, Some(&token), "not json");
    assert_eq!(resp.status, 400);
    let got = rig.take();
    let events = Rig::conversation_events(&got);
    assert_eq!(events.len(), 2);
    let user = |e: &Value| {
        e["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["purpose"] == "user")
            .unwrap()["calls"][0]
            .clone()
    };
    assert_eq!(user(&events[0])["muted"], true);
    assert_eq!(user(&events[1])["held"], true);

    // Reject to voicemail while alerting: retract + disconnected.
    let resp = rig.h.rest(
        Method::Post,
        &format!("{path}/replace"),
        Some(&token),
        r#"{"voicemail":true}"#,
    );
    assert_eq!(resp.status, 202);
    let got = rig.take();
    assert!(got.iter().any(|m| jmi_child(m, "retract").is_some()));
    assert_eq!(
        user_call_state(&Rig::conversation_events(&got)[0]),
        "disconnected"
    );
    assert_eq!(
        summary(&rig.h, call).state,
        CallState::Ended {
            reason: "voicemail".into()
        }
    );
    let _ = gjoll;
}
