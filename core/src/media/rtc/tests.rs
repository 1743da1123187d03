//! `CallMedia` against a plain str0m peer playing the Genesys media server (the offerer), in
//! virtual time over an in-memory network. No sockets, no sleeping.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use std::net::Ipv4Addr;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::Direction;

const OURS: &str = "10.0.0.1:5000";
const SERVER: &str = "10.0.0.2:6000";
const STUN_SERVER: &str = "192.0.2.50:3478";
const LATENCY: Duration = Duration::from_millis(5);
const FRAME: Duration = Duration::from_millis(20);

fn ours() -> SocketAddr {
    OURS.parse().unwrap()
}
fn server_addr() -> SocketAddr {
    SERVER.parse().unwrap()
}

fn config() -> MediaConfig {
    MediaConfig {
        local_addrs: vec![ours()],
        ice_servers: vec![],
        relay_only: false,
        send_audio: true,
        rng_seed: 42,
    }
}

/// The server side: str0m in RTP mode offering Opus, PCMU and telephone-event (8 and 48 kHz),
/// with payload types unlike our local defaults so that the test sees them remapped.
fn server_rtc(now: Instant) -> Rtc {
    let mut config = Rtc::builder().clear_codecs().set_rtp_mode(true);
    let codecs = config.codec_config();
    codecs.enable_opus(true, false);
    codecs.enable_pcmu(true, false);
    codecs.add_config(
        101.into(),
        None,
        Codec::Tele,
        Frequency::FORTY_EIGHT_KHZ,
        None,
        FormatParams::default(),
    );
    codecs.add_config(
        100.into(),
        None,
        Codec::Tele,
        Frequency::EIGHT_KHZ,
        None,
        FormatParams::default(),
    );
    let mut rtc = config.build(now);
    rtc.add_local_candidate(Candidate::host(server_addr(), "udp").unwrap());
    rtc
}

fn server_offer(rtc: &mut Rtc, kind: MediaKind) -> (Mid, String, SdpPendingOffer) {
    let mut change = rtc.sdp_api();
    let mid = change.add_media(kind, Direction::SendRecv, None, None, None);
    let (offer, pending) = change.apply().unwrap();
    (mid, offer.to_sdp_string(), pending)
}

struct InFlight {
    at: Instant,
    to_server: bool,
    source: SocketAddr,
    destination: SocketAddr,
    data: Vec<u8>,
}

/// One call: our `CallMedia`, the server `Rtc`, and the wire between them.
struct Call {
    start: Instant,
    now: Instant,
    media: CallMedia,
    media_timeout: Instant,
    events: Vec<(Instant, MediaEvent)>,
    /// Datagrams we sent to anyone but the server (STUN servers).
    other_tx: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    server: Rtc,
    server_mid: Mid,
    server_timeout: Instant,
    server_events: Vec<(Instant, Event)>,
    server_seq: u64,
    net: Vec<InFlight>,
    /// Drop everything on the wire (a dead network).
    blackhole: bool,
    /// Let this many of our DTLS datagrams reach the server, drop the later ones.
    dtls_to_server_budget: Option<usize>,
    /// Drop every DTLS datagram of the server.
    drop_dtls_from_server: bool,
    /// Extra delay of the server's STUN Binding success responses to us (nothing else of its
    /// is delayed).
    delay_stun_responses_to_media: Duration,
    answer: String,
}

impl Call {
    fn new(config: &MediaConfig) -> Call {
        let start = Instant::now();
        let mut server = server_rtc(start);
        let (server_mid, offer, pending) = server_offer(&mut server, MediaKind::Audio);
        let (media, answer) = CallMedia::accept_offer(start, &offer, config).unwrap();
        server
            .sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();
        let mut call = Call {
            start,
            now: start,
            media,
            media_timeout: start,
            events: vec![],
            other_tx: vec![],
            server,
            server_mid,
            server_timeout: start,
            server_events: vec![],
            server_seq: 7000,
            net: vec![],
            blackhole: false,
            dtls_to_server_budget: None,
            drop_dtls_from_server: false,
            delay_stun_responses_to_media: Duration::ZERO,
            answer,
        };
        call.drain_media();
        call.drain_server();
        call
    }

    fn drain_media(&mut self) {
        loop {
            match self.media.poll_output() {
                MediaOutput::Transmit {
                    source,
                    destination,
                    data,
                } => {
                    let dtls = data.first().is_some_and(|b| (20..=63).contains(b));
                    if let (true, Some(left)) = (dtls, self.dtls_to_server_budget.as_mut()) {
                        if *left == 0 {
                            continue;
                        }
                        *left -= 1;
                    }
                    if destination == server_addr() {
                        self.net.push(InFlight {
                            at: self.now + LATENCY,
                            to_server: true,
                            source,
                            destination,
                            data,
                        });
                    } else {
                        self.other_tx.push((source, destination, data));
                    }
                }
                MediaOutput::Event(e) => self.events.push((self.now, e)),
                MediaOutput::Timeout(t) => {
                    self.media_timeout = t;
                    break;
                }
            }
        }
    }

    fn drain_server(&mut self) {
        loop {
            // The test peer's own DTLS may give up when the network is cut (str0m reports it
            // as an error); that ends the peer, not the test.
            let Ok(out) = self.server.poll_output() else {
                self.server_timeout = self.now + Duration::from_secs(3600);
                break;
            };
            match out {
                Output::Transmit(t)
                    if self.drop_dtls_from_server
                        && t.contents.first().is_some_and(|b| (20..=63).contains(b)) => {}
                Output::Transmit(t) => self.net.push(InFlight {
                    at: self.now
                        + LATENCY
                        + if t.contents.starts_with(&[0x01, 0x01]) {
                            self.delay_stun_responses_to_media
                        } else {
                            Duration::ZERO
                        },
                    to_server: false,
                    source: t.source,
                    destination: t.destination,
                    data: t.contents.into(),
                }),
                Output::Event(e) => self.server_events.push((self.now, e)),
                Output::Timeout(t) => {
                    self.server_timeout = t;
                    break;
                }
            }
        }
    }

    /// Advances to the next thing that happens (a delivery or a timeout), at most to `limit`.
    fn step(&mut self, limit: Instant) {
        let next_delivery = self.net.iter().map(|p| p.at).min();
        let mut next = self.media_timeout.min(self.server_timeout).min(limit);
        if let Some(d) = next_delivery {
            next = next.min(d);
        }
        self.now = self.now.max(next);
        let now = self.now;

        let (due, later): (Vec<_>, Vec<_>) = self.net.drain(..).partition(|p| p.at <= now);
        self.net = later;
        for p in due {
            if self.blackhole {
                continue;
            }
            if p.to_server {
                let r = Receive::new(Protocol::Udp, p.source, p.destination, &p.data).unwrap();
                self.server.handle_input(Input::Receive(now, r)).unwrap();
                self.drain_server();
            } else {
                self.media.handle_input(MediaInput::Receive {
                    now,
                    source: p.source,
                    destination: p.destination,
                    data: &p.data,
                });
                self.drain_media();
            }
        }
        if self.media_timeout <= now {
            self.media.handle_input(MediaInput::Timeout(now));
            self.drain_media();
        }
        if self.server_timeout <= now {
            self.server.handle_input(Input::Timeout(now)).unwrap();
            self.drain_server();
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        let mut steps = 0;
        while self.now < until {
            self.step(until);
            steps += 1;
            assert!(
                steps < 1_000_000,
                "virtual time is stuck at {:?}",
                self.elapsed()
            );
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn connect(&mut self) -> Duration {
        let mut steps = 0;
        while !(self.media_connected() && self.server.is_connected()) {
            self.step(self.now + Duration::from_millis(1));
            steps += 1;
            assert!(self.elapsed() < Duration::from_secs(5), "no connection");
            assert!(steps < 100_000);
        }
        self.elapsed()
    }

    fn media_connected(&self) -> bool {
        self.events
            .iter()
            .any(|(_, e)| matches!(e, MediaEvent::Connected))
    }

    fn server_write(&mut self, pt: u8, ts: u32, payload: &[u8], marker: bool) {
        let now = self.now;
        let seq = self.server_seq;
        self.server_seq += 1;
        let mut api = self.server.direct_api();
        let stream = api.stream_tx_by_mid(self.server_mid, None).unwrap();
        stream.write_rtp(
            RtpWrite::new(pt.into(), seq.into(), ts, now, payload.to_vec()).marker(marker),
        );
        self.drain_server();
        self.server.handle_input(Input::Timeout(now)).unwrap();
        self.drain_server();
    }

    /// (pt, seq, timestamp, marker, payload) of RTP the server received.
    fn server_rtp(&self) -> Vec<(u8, u16, u32, bool, Vec<u8>)> {
        self.server_events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::RtpPacket(p) => Some((
                    *p.header.payload_type,
                    p.header.sequence_number,
                    p.header.timestamp,
                    p.header.marker,
                    p.payload.to_vec(),
                )),
                _ => None,
            })
            .collect()
    }

    /// (pt, codec, seq, timestamp, marker, payload) of audio we received.
    #[allow(clippy::type_complexity)]
    fn received(&self) -> Vec<(u8, AudioCodec, u16, u32, bool, Vec<u8>)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                MediaEvent::AudioReceived {
                    pt,
                    codec,
                    seq,
                    rtp_timestamp,
                    marker,
                    payload,
                    ..
                } => Some((*pt, *codec, *seq, *rtp_timestamp, *marker, payload.clone())),
                _ => None,
            })
            .collect()
    }

    fn pt_of(&self, want: fn(&AudioCodec) -> bool) -> u8 {
        self.media
            .codecs()
            .iter()
            .find(|c| want(&c.codec))
            .unwrap()
            .pt
    }
}

fn is_opus(c: &AudioCodec) -> bool {
    matches!(c, AudioCodec::Opus { .. })
}
fn is_pcmu(c: &AudioCodec) -> bool {
    matches!(c, AudioCodec::Pcmu)
}

#[test]
fn connects_and_audio_flows_both_ways() {
    let wall = std::time::Instant::now();
    let mut call = Call::new(&config());
    assert!(
        call.answer.contains("a=candidate:"),
        "host candidate in answer"
    );
    let connect = call.connect();
    println!(
        "connected after {connect:?} of virtual time ({:?} wall)",
        wall.elapsed()
    );
    assert!(connect < Duration::from_millis(500), "took {connect:?}");
    let states: Vec<_> = call
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            MediaEvent::ConnectionState(s) => Some(*s),
            _ => None,
        })
        .collect();
    assert!(states.contains(&ConnectionState::Connected), "{states:?}");
    assert!(call
        .events
        .iter()
        .any(|(_, e)| matches!(e, MediaEvent::EndOfLocalCandidates)));

    // Negotiated: the offer's payload types, Opus first.
    let opus = call.pt_of(is_opus);
    let pcmu = call.pt_of(is_pcmu);
    assert_eq!((opus, pcmu), (111, 0));
    assert!(call.media.can_send());

    for i in 0..50u32 {
        let ts = 1000 + i * 960;
        call.media
            .write_audio(call.now, opus, ts, &[i as u8; 60])
            .unwrap();
        call.drain_media();
        call.server_write(111, 5000 + i * 960, &[0xA0 ^ i as u8; 50], i == 0);
        call.run_for(FRAME);
    }
    // The server sends PCMU too.
    for i in 0..5u32 {
        call.server_write(0, 90_000 + i * 160, &[0x7f; 160], false);
        call.run_for(FRAME);
    }
    call.run_for(Duration::from_millis(100));

    let sent = call.server_rtp();
    assert_eq!(sent.len(), 50);
    for (i, w) in sent.windows(2).enumerate() {
        assert_eq!(w[1].1, w[0].1.wrapping_add(1), "seq at {i}");
        assert_eq!(w[1].2, w[0].2 + 960, "timestamp at {i}");
    }
    assert!(sent.iter().all(|p| p.0 == opus));
    assert!(
        sent[0].3,
        "first packet after connecting carries the marker"
    );
    assert_eq!(sent[7].4, vec![7u8; 60]);

    let got = call.received();
    assert_eq!(got.len(), 55);
    let (opus_rx, pcmu_rx) = got.split_at(50);
    assert!(opus_rx
        .iter()
        .all(|p| p.0 == 111 && p.1 == AudioCodec::Opus { channels: 2 }));
    for w in got.windows(2) {
        assert_eq!(w[1].2, w[0].2.wrapping_add(1), "received seq");
    }
    for w in opus_rx.windows(2) {
        assert_eq!(w[1].3, w[0].3 + 960);
    }
    assert!(opus_rx[0].4);
    assert_eq!(opus_rx[3].5, vec![0xA0 ^ 3; 50]);
    assert!(pcmu_rx.iter().all(|p| p.0 == 0 && p.1 == AudioCodec::Pcmu));
    println!(
        "50 frames each way in {:?} virtual, {:?} wall",
        call.elapsed(),
        wall.elapsed()
    );
}

#[test]
fn telephone_events_cross_with_their_payload_type() {
    let mut call = Call::new(&config());
    call.connect();
    let opus = call.pt_of(is_opus);
    let tele = call.media.telephone_event_codec().unwrap();
    assert_eq!(
        tele.codec,
        AudioCodec::TelephoneEvent { clock_rate: 48_000 }
    );
    assert_eq!(tele.pt, 101, "the offer's PT for telephone-event/48000");

    call.media
        .write_audio(call.now, opus, 960, &[1; 40])
        .unwrap();
    call.drain_media();
    call.run_for(FRAME);
    // Digit 5: start, update, end.
    let reports: [(&[u8], bool); 3] = [
        (&[5, 0x0a, 0x03, 0xc0], true),
        (&[5, 0x0a, 0x07, 0x80], false),
        (&[5, 0x8a, 0x12, 0xc0], false),
    ];
    for (payload, marker) in reports {
        call.media
            .write_telephone_event(call.now, 1920, payload, marker)
            .unwrap();
        call.drain_media();
        call.run_for(FRAME);
    }
    // The other way.
    call.server_write(101, 77_000, &[11, 0x8a, 0x01, 0x40], true);
    call.run_for(Duration::from_millis(50));

    let sent = call.server_rtp();
    let tele_sent: Vec<_> = sent.iter().filter(|p| p.0 == 101).collect();
    assert_eq!(tele_sent.len(), 3);
    assert!(tele_sent[0].3 && !tele_sent[1].3);
    assert!(tele_sent.iter().all(|p| p.2 == 1920));
    assert_eq!(tele_sent[2].4, vec![5, 0x8a, 0x12, 0xc0]);
    // One sequence space for audio and events.
    for w in sent.windows(2) {
        assert_eq!(w[1].1, w[0].1.wrapping_add(1));
    }

    let got = call.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, 101);
    assert_eq!(got[0].1, AudioCodec::TelephoneEvent { clock_rate: 48_000 });
    assert_eq!(got[0].5, vec![11, 0x8a, 0x01, 0x40]);

    assert!(matches!(
        call.media
            .write_telephone_event(call.now, 0, &[1, 2, 3], false),
        Err(MediaError::InvalidTelephoneEvent)
    ));
    assert!(matches!(
        call.media.write_audio(call.now, 101, 0, &[1]),
        Err(MediaError::UnknownPayloadType(101))
    ));
}

#[test]
fn mute_sends_nothing_and_unmute_marks_a_talkspurt() {
    let mut call = Call::new(&config());
    call.connect();
    let opus = call.pt_of(is_opus);
    let mut ts = 0u32;
    let write = |call: &mut Call, ts: &mut u32, n: usize| {
        for _ in 0..n {
            *ts += 960;
            call.media
                .write_audio(call.now, opus, *ts, &[3; 40])
                .unwrap();
            call.drain_media();
            call.run_for(FRAME);
        }
    };
    write(&mut call, &mut ts, 5);
    call.media.set_send_muted(true);
    assert!(call.media.is_send_muted());
    write(&mut call, &mut ts, 10);
    assert_eq!(call.server_rtp().len(), 5, "nothing sent while muted");
    // DTMF still goes out while muted.
    call.media
        .write_telephone_event(call.now, ts, &[1, 0x8a, 0x01, 0x40], true)
        .unwrap();
    call.drain_media();
    call.run_for(FRAME);
    call.media.set_send_muted(false);
    write(&mut call, &mut ts, 3);
    call.run_for(Duration::from_millis(50));

    let sent = call.server_rtp();
    assert_eq!(sent.len(), 5 + 1 + 3);
    for w in sent.windows(2) {
        assert_eq!(
            w[1].1,
            w[0].1.wrapping_add(1),
            "no sequence gap for muted frames"
        );
    }
    let after = &sent[6];
    assert!(after.3, "first packet after unmuting has the marker bit");
    assert_eq!(
        after.2,
        sent[4].2 + 11 * 960,
        "timestamp jumps over the muted time"
    );
}

#[test]
fn garbage_datagrams_are_ignored() {
    let mut call = Call::new(&config());
    call.connect();
    let mut rng = fastrand::Rng::with_seed(3);
    let stranger: SocketAddr = "198.51.100.9:1234".parse().unwrap();
    let mut samples: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0x80],
        vec![0x80, 111, 0, 1],
        vec![0x80, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9, 9, 9],
        vec![22, 254, 253, 0, 0],
        vec![0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42],
        vec![
            1, 1, 0, 8, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ],
        vec![0xff; 1500],
    ];
    for _ in 0..300 {
        let len = rng.usize(0..300);
        let mut d: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        if let Some(first) = d.first_mut() {
            // Aim at each demultiplexing range (STUN, DTLS, RTP/RTCP).
            *first = [0u8, 1, 20, 22, 23, 128, 129, 144][rng.usize(..8)];
        }
        samples.push(d);
    }
    let junk = [0x80u8, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9, 9, 9];
    let from_stranger = MediaInput::Receive {
        now: call.now,
        source: stranger,
        destination: ours(),
        data: &junk,
    };
    assert!(!call.media.accepts(&from_stranger));
    assert!(call.media.accepts(&MediaInput::Timeout(call.now)));
    for (i, d) in samples.iter().enumerate() {
        let source = if i % 2 == 0 { server_addr() } else { stranger };
        call.media.handle_input(MediaInput::Receive {
            now: call.now,
            source,
            destination: ours(),
            data: d,
        });
        call.drain_media();
    }
    let _ = call.media.add_remote_candidate("garbage");
    let _ = call
        .media
        .add_remote_candidate("candidate:x 1 udp nope 1.2.3.4 x typ host");
    // Still connected and working.
    let opus = call.pt_of(is_opus);
    call.media
        .write_audio(call.now, opus, 960, &[9; 40])
        .unwrap();
    call.drain_media();
    call.run_for(Duration::from_millis(100));
    assert_eq!(call.server_rtp().len(), 1);
    assert_eq!(call.media.connection_state(), ConnectionState::Connected);
}

#[test]
fn stats_are_reported() {
    let mut call = Call::new(&config());
    call.connect();
    let opus = call.pt_of(is_opus);
    for i in 0..300u32 {
        call.media
            .write_audio(call.now, opus, i * 960, &[1; 40])
            .unwrap();
        call.drain_media();
        // The server skips every 10th packet's sequence number: 1 in 10 "lost".
        if i % 10 == 9 {
            call.server_seq += 1;
        }
        call.server_write(111, i * 960, &[2; 40], false);
        call.run_for(FRAME);
    }
    let stats: Vec<_> = call
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            MediaEvent::Stats(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    println!("stats: {:?}", stats.last());
    let last = stats.last().expect("a stats event");
    assert!(last.packets_sent > 100, "{last:?}");
    assert!(last.packets_received > 100, "{last:?}");
    assert!(last.lost >= 10, "{last:?}");
    assert!(last.jitter.is_some(), "{last:?}");
}

#[test]
fn stun_gathers_a_server_reflexive_candidate() {
    let mut cfg = config();
    cfg.ice_servers = vec![
        IceServer {
            url: format!("stun:{STUN_SERVER}"),
            username: None,
            credential: None,
        },
        // TURN over TCP is not implemented: ignored.
        IceServer {
            url: "turn:192.0.2.60:443?transport=tcp".into(),
            username: Some("u".into()),
            credential: Some("p".into()),
        },
    ];
    let mut call = Call::new(&cfg);
    let stun: SocketAddr = STUN_SERVER.parse().unwrap();
    assert_eq!(
        call.other_tx.len(),
        1,
        "one request, to the STUN server only"
    );
    let (src, dst, req) = call.other_tx[0].clone();
    assert_eq!((src, dst), (ours(), stun));
    assert!(!call
        .events
        .iter()
        .any(|(_, e)| matches!(e, MediaEvent::EndOfLocalCandidates)));

    let mapped: SocketAddr = (Ipv4Addr::new(203, 0, 113, 5), 40_000).into();
    let resp = binding_success(&req[8..20], mapped);
    let input = MediaInput::Receive {
        now: call.now,
        source: stun,
        destination: ours(),
        data: &resp,
    };
    assert!(call.media.accepts(&input));
    let other_tid = binding_success(&[9; 12], mapped);
    assert!(!call.media.accepts(&MediaInput::Receive {
        now: call.now,
        source: stun,
        destination: ours(),
        data: &other_tid,
    }));
    call.media.handle_input(MediaInput::Receive {
        now: call.now,
        source: stun,
        destination: ours(),
        data: &resp,
    });
    call.drain_media();
    let cands: Vec<_> = call
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            MediaEvent::LocalCandidate(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(cands.len(), 1);
    assert!(cands[0].starts_with("candidate:"), "{}", cands[0]);
    assert!(
        cands[0].contains("203.0.113.5 40000 typ srflx"),
        "{}",
        cands[0]
    );
    let last = &call.events.last().unwrap().1;
    assert!(matches!(last, MediaEvent::EndOfLocalCandidates));
    // It still connects over the host candidates.
    call.connect();
}

#[test]
fn stun_gives_up_after_one_second() {
    let mut cfg = config();
    cfg.ice_servers = vec![IceServer {
        url: format!("stun:{STUN_SERVER}?transport=udp"),
        username: None,
        credential: None,
    }];
    let mut call = Call::new(&cfg);
    call.run_for(Duration::from_millis(1500));
    assert_eq!(call.other_tx.len(), 3, "first send and two retransmissions");
    let (at, _) = call
        .events
        .iter()
        .find(|(_, e)| matches!(e, MediaEvent::EndOfLocalCandidates))
        .unwrap();
    assert_eq!(*at - call.start, stun::GATHER_TIMEOUT);
    assert!(!call
        .events
        .iter()
        .any(|(_, e)| matches!(e, MediaEvent::LocalCandidate(_))));
}

/// A Binding success response with XOR-MAPPED-ADDRESS (IPv4).
fn binding_success(tid: &[u8], mapped: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(v4) = mapped else {
        unreachable!()
    };
    let mut m = vec![0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xA4, 0x42];
    m.extend_from_slice(tid);
    m.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
    m.extend_from_slice(&(v4.port() ^ 0x2112).to_be_bytes());
    m.extend_from_slice(&(u32::from(*v4.ip()) ^ 0x2112_A442).to_be_bytes());
    m
}

#[test]
fn relay_only_reports_relay_unavailable() {
    let mut cfg = config();
    cfg.relay_only = true;
    cfg.ice_servers = vec![IceServer {
        url: format!("stun:{STUN_SERVER}"),
        username: None,
        credential: None,
    }];
    let call = Call::new(&cfg);
    assert!(!call.answer.contains("a=candidate:"));
    assert!(call.other_tx.is_empty());
    let mut it = call.events.iter().map(|(_, e)| e);
    assert!(it.any(|e| matches!(e, MediaEvent::Error(MediaError::RelayUnavailable))));
    assert!(it.any(|e| matches!(e, MediaEvent::EndOfLocalCandidates)));
}

#[test]
fn receive_only_answer_refuses_to_send() {
    let mut cfg = config();
    cfg.send_audio = false;
    let mut call = Call::new(&cfg);
    assert!(call.answer.contains("a=recvonly"), "{}", call.answer);
    assert!(!call.media.can_send());
    call.connect();
    assert!(matches!(
        call.media.write_audio(call.now, 111, 0, &[1]),
        Err(MediaError::NotSending)
    ));
    call.server_write(111, 960, &[4; 30], true);
    call.run_for(Duration::from_millis(30));
    assert_eq!(call.received().len(), 1);
}

#[test]
fn offers_without_audio_are_refused() {
    let now = Instant::now();
    let mut server = Rtc::builder().clear_codecs().enable_vp8(true).build(now);
    server.add_local_candidate(Candidate::host(server_addr(), "udp").unwrap());
    let (_, offer, _) = server_offer(&mut server, MediaKind::Video);
    let err = CallMedia::accept_offer(now, &offer, &config()).unwrap_err();
    assert!(matches!(err, MediaError::NoAudio), "{err:?}");

    let err = CallMedia::accept_offer(now, "v=0\r\nnonsense", &config()).unwrap_err();
    assert!(matches!(err, MediaError::BadOffer(_)), "{err:?}");
    let huge = "a".repeat(MAX_OFFER_BYTES + 1);
    assert!(matches!(
        CallMedia::accept_offer(now, &huge, &config()),
        Err(MediaError::OfferTooLarge)
    ));

    // Audio with only a codec we lack (G722).
    let mut server = Rtc::builder()
        .clear_codecs()
        .enable_g722(true, false)
        .build(now);
    server.add_local_candidate(Candidate::host(server_addr(), "udp").unwrap());
    let (_, offer, _) = server_offer(&mut server, MediaKind::Audio);
    let err = CallMedia::accept_offer(now, &offer, &config()).unwrap_err();
    assert!(
        matches!(err, MediaError::NoCommonCodec | MediaError::NoAudio),
        "{err:?}"
    );
}

#[test]
fn connected_is_reported_once_dtls_is_up() {
    let mut call = Call::new(&config());
    call.connect();
    let at = |f: &dyn Fn(&MediaEvent) -> bool| call.events.iter().position(|(_, e)| f(e));
    let dtls = at(&|e| matches!(e, MediaEvent::Connected)).expect("DTLS up");
    let connected = at(&|e| matches!(e, MediaEvent::ConnectionState(ConnectionState::Connected)))
        .expect("connected");
    assert!(dtls < connected, "{:?}", call.events);
}

/// The far end's ICE finishes first and its DTLS ClientHello arrives while our own
/// connectivity checks are still unanswered (its Binding responses to us are slow, its requests
/// and DTLS are not): the hello is
/// kept and handed to str0m once ICE accepts its source, instead of being dropped, which cost a
/// whole DTLS retransmission (1 s) before media.
#[test]
fn an_early_client_hello_is_kept_until_ice_accepts_its_source() {
    let mut call = Call::new(&config());
    call.delay_stun_responses_to_media = Duration::from_millis(100);
    let took = call.connect();
    assert!(
        took < Duration::from_millis(400),
        "connected after {took:?}: {:?}",
        call.events
    );
    assert!(call.media.early_dtls.is_empty());
}

/// The far end's DTLS never finishes (str0m 0.25 / dimpl 0.9, DTLS 1.2): we are the server and
/// complete on sending our last flight (ChangeCipherSpec + Finished), but every copy of it is
/// lost, so the client (str0m's offerer) retransmits its own last flight until dimpl's budget
/// is spent and gives up (closing its `Rtc`). Nothing in DTLS tells this side; no
/// RTP or RTCP ever comes, and after NO_MEDIA_FAILED_AFTER the session is reported failed.
#[test]
fn a_far_end_whose_dtls_never_finishes_is_reported() {
    let mut call = Call::new(&config());
    // Our first DTLS flight (ServerHello … ServerHelloDone) arrives, nothing after it.
    call.dtls_to_server_budget = Some(1);
    call.run_for(Duration::from_secs(5));
    let (up, _) = *call
        .events
        .iter()
        .find(|(_, e)| matches!(e, MediaEvent::Connected))
        .expect("our DTLS completes");
    assert!(!call.server.is_connected());
    // dimpl's budget: four retransmissions from 1 s (with ±25 % jitter), at most 40 s.
    call.run_for(NO_MEDIA_FAILED_AFTER + Duration::from_secs(10));
    // The far end gave up its handshake on its own and never connected.
    assert!(!call.server.is_alive());
    assert!(!call
        .server_events
        .iter()
        .any(|(_, e)| matches!(e, Event::Connected)));
    let failed = call
        .events
        .iter()
        .position(|(_, e)| matches!(e, MediaEvent::ConnectionState(ConnectionState::Failed)))
        .expect("reported failed");
    let (at, e) = &call.events[failed - 1];
    assert!(
        matches!(e, MediaEvent::Error(MediaError::NoMediaFromPeer(_))),
        "{:?}",
        call.events
    );
    // From ICE connected, a few milliseconds before our DTLS.
    let since = *at - up;
    assert!(
        since < NO_MEDIA_FAILED_AFTER && since + Duration::from_secs(1) > NO_MEDIA_FAILED_AFTER,
        "{since:?}"
    );
}

/// The far end's ClientHellos never arrive until it gives up: ICE is connected, our DTLS
/// server never starts its handshake, and no timer of str0m's runs. Reported the same way.
#[test]
fn a_dtls_handshake_that_never_starts_is_reported() {
    let mut call = Call::new(&config());
    call.drop_dtls_from_server = true;
    call.run_for(NO_MEDIA_FAILED_AFTER + Duration::from_secs(10));
    assert!(!call.server.is_alive(), "the far end gave up");
    assert!(!call.media_connected());
    let states: Vec<_> = call
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            MediaEvent::ConnectionState(s) => Some((*t - call.start, *s)),
            _ => None,
        })
        .collect();
    assert_eq!(
        states.last().map(|(_, s)| *s),
        Some(ConnectionState::Failed),
        "{states:?}"
    );
    // Never `Connected`: ICE alone is not a connection.
    assert!(
        !states.iter().any(|(_, s)| *s == ConnectionState::Connected),
        "{states:?}"
    );
    assert!(call
        .events
        .iter()
        .any(|(_, e)| matches!(e, MediaEvent::Error(MediaError::NoMediaFromPeer(_)))));
}

/// A normal call hears the peer within the watchdog and stays connected.
#[test]
fn a_connected_peer_that_sends_is_not_reported() {
    let mut call = Call::new(&config());
    call.connect();
    call.server_write(0, 160, &[0xff; 160], true);
    call.run_for(NO_MEDIA_FAILED_AFTER + Duration::from_secs(5));
    assert!(!call.events.iter().any(|(_, e)| matches!(
        e,
        MediaEvent::Error(MediaError::NoMediaFromPeer(_))
            | MediaEvent::ConnectionState(ConnectionState::Failed)
    )));
}

#[test]
fn dead_network_fails_after_the_ice_timeout() {
    let mut call = Call::new(&config());
    call.blackhole = true;
    call.run_for(ICE_FAILED_AFTER + Duration::from_secs(1));
    let (at, _) = call
        .events
        .iter()
        .find(|(_, e)| matches!(e, MediaEvent::ConnectionState(ConnectionState::Failed)))
        .expect("failed");
    assert_eq!(*at - call.start, ICE_FAILED_AFTER);
}

#[test]
fn remote_candidates_are_filtered() {
    let mut call = Call::new(&config());
    assert!(matches!(
        call.media.add_remote_candidate("garbage"),
        Err(MediaError::BadCandidate(_))
    ));
    // TCP and RTCP candidates are ignored.
    call.media
        .add_remote_candidate("candidate:1 1 tcp 1518280447 10.0.0.2 9 typ host tcptype active")
        .unwrap();
    call.media
        .add_remote_candidate("a=candidate:1 2 udp 2122260222 10.0.0.2 6001 typ host")
        .unwrap();
    call.media
        .add_remote_candidate("a=candidate:2 1 udp 2122260223 10.0.0.3 6000 typ host\r\n")
        .unwrap();
    call.media.end_of_remote_candidates();
    assert!(call.media.remote_candidates_done());
    call.drain_media();
    call.connect();
}

#[test]
fn close_reports_closed_and_stops_writes() {
    let mut call = Call::new(&config());
    call.connect();
    call.media.close();
    call.drain_media();
    assert_eq!(call.media.connection_state(), ConnectionState::Closed);
    assert!(matches!(
        call.events.last().map(|(_, e)| e),
        Some(MediaEvent::ConnectionState(ConnectionState::Closed))
    ));
    assert!(matches!(
        call.media.write_audio(call.now, 111, 0, &[1]),
        Err(MediaError::Closed)
    ));
    call.run_for(Duration::from_millis(200));
}

#[test]
fn stun_urls() {
    let p = |s: &str| stun_server_addr(s);
    assert_eq!(
        p("stun:192.0.2.1:3479"),
        Some("192.0.2.1:3479".parse().unwrap())
    );
    assert_eq!(p("STUN:192.0.2.1"), Some("192.0.2.1:3478".parse().unwrap()));
    assert_eq!(
        p("stun:[2001:db8::1]:3479"),
        Some("[2001:db8::1]:3479".parse().unwrap())
    );
    assert_eq!(
        p("stun:2001:db8::1:3479"),
        Some("[2001:db8::1]:3479".parse().unwrap())
    );
    assert_eq!(
        p("stun:2001:db8::1"),
        Some("[2001:db8::1]:3478".parse().unwrap())
    );
    assert_eq!(p("stun:stun.example.net:3478"), None);
    assert_eq!(p("turn:192.0.2.1:3478"), None);
    assert_eq!(p("stuns:192.0.2.1:3478"), None);
    assert_eq!(p("st"), None);
    assert_eq!(p("stün:1"), None);
}

#[test]
fn receive_only_rewrites_audio_directions() {
    let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:2\r\n";
    let out = receive_only_offer(offer);
    assert_eq!(
        out,
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:2\r\na=sendonly\r\n"
    );
}

#[test]
fn mutated_offers_never_panic() {
    let now = Instant::now();
    let mut server = server_rtc(now);
    let (_, offer, _) = server_offer(&mut server, MediaKind::Audio);
    let lines: Vec<&str> = offer.lines().collect();
    let mut rng = fastrand::Rng::with_seed(11);
    let wall = std::time::Instant::now();
    let mut accepted = 0;
    for _ in 0..200 {
        let mut l = lines.clone();
        match rng.u8(0..4) {
            0 => {
                l.remove(rng.usize(..l.len()));
            }
            1 => {
                let i = rng.usize(..l.len());
                l.insert(rng.usize(..l.len()), l[i]);
            }
            2 => {
                let (a, b) = (rng.usize(..l.len()), rng.usize(..l.len()));
                l.swap(a, b);
            }
            _ => {
                let i = rng.usize(..l.len());
                let cut = rng.usize(..=l[i].len());
                l[i] = l[i].get(..cut).unwrap_or("");
            }
        }
        let text = l.join("\r\n") + "\r\n";
        if let Ok((mut media, _)) = CallMedia::accept_offer(now, &text, &config()) {
            accepted += 1;
            while !matches!(media.poll_output(), MediaOutput::Timeout(_)) {}
        }
    }
    println!(
        "200 mutated offers ({accepted} accepted) in {:?}",
        wall.elapsed()
    );
}
