//! No ICE password or tenant secret in what the SDK logs during calls: a call in each
//! negotiation mode (offer, answer, candidates, DTMF, mute, hang-up) runs under a TRACE
//! subscriber, every ICE password seen on the wire (the fake cloud's log of both directions) is
//! collected, and none may appear in a line the SDK (`genesys_webrtc::…`) logged.

use std::time::Duration;

use genesys_webrtc::session::events::{ConnectionState, SessionEvent};
use genesys_webrtc::SdkEvent;
use genesys_webrtc_sim::cloud::{CallOptions, LogEntry, Negotiation, PreferredCodec};
use genesys_webrtc_sim::network::SimNetwork;
use genesys_webrtc_sim::redaction::{LogCapture, TenantSecrets};

const ENV: &str = "fake.genesys.test";

/// ICE passwords in a stanza: SDP `a=ice-pwd:` lines (sdp-over-xmpp JSON, where line ends are
/// escaped) and Jingle `pwd='…'`/`pwd="…"` transport attributes.
fn ice_passwords(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in xml.split("a=ice-pwd:").skip(1) {
        let pwd: String = part
            .chars()
            .take_while(|c| !matches!(c, '\r' | '\n' | '\\' | '"' | '\''))
            .collect();
        out.push(pwd);
    }
    for quote in ['"', '\''] {
        let key = format!("pwd={quote}");
        for part in xml.split(key.as_str()).skip(1) {
            out.push(part.chars().take_while(|c| *c != quote).collect());
        }
    }
    out.retain(|p| p.len() >= 8);
    out
}

/// The lines the SDK itself logged (not the fake cloud, which logs the raw stanzas).
fn sdk_lines(text: &str) -> String {
    text.lines()
        .filter(|l| l.contains(" genesys_webrtc::"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn call(sim: &mut SimNetwork, mode: Negotiation) {
    let (call, sid) = sim.ring_and_accept(CallOptions {
        mode,
        codec: PreferredCodec::Opus,
        ..CallOptions::default()
    });
    sim.run_until_event(Duration::from_secs(10), |e| {
        matches!(
            e,
            SdkEvent::Session {
                event: SessionEvent::ConnectionState(ConnectionState::Connected),
                ..
            }
        )
    })
    .expect("connected");
    let now = sim.now();
    sim.engine().send_dtmf(now, &sid, "12").unwrap();
    sim.engine().set_audio_mute(now, &sid, true).unwrap();
    sim.pump();
    sim.run_for(Duration::from_millis(500));
    let now = sim.now();
    assert!(sim.cloud().hang_up(now, call, "success"));
    sim.pump();
    sim.run_until_event(Duration::from_secs(5), |e| {
        matches!(e, SdkEvent::SessionEnded { .. })
    })
    .expect("ended");
}

#[test]
fn calls_log_no_ice_password_or_tenant_secret() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let mut sim = SimNetwork::ready_user(ENV, 71, |b| b);
    sim.start_audio(Some(440.0), false);
    call(&mut sim, Negotiation::SdpOverXmpp);
    call(&mut sim, Negotiation::Jingle);

    let mut passwords = Vec::new();
    for e in sim.cloud().log().iter() {
        if let LogEntry::XmppIn { xml, .. } | LogEntry::XmppOut { xml, .. } = e {
            passwords.extend(ice_passwords(xml));
        }
    }
    passwords.sort();
    passwords.dedup();
    // Both modes, both directions: the server's offer and our answer each carry one.
    assert!(
        passwords.len() >= 4,
        "found {} ICE passwords",
        passwords.len()
    );

    let text = logs.text();
    let sdk = sdk_lines(&text);
    assert!(
        sdk.lines().count() > 50,
        "the SDK logged little: {} lines",
        sdk.lines().count()
    );
    // The capture does see raw passwords: in the fake cloud's own lines (so the search works).
    assert!(passwords.iter().any(|p| text.contains(p.as_str())));
    for p in &passwords {
        assert!(
            !sdk.contains(p.as_str()),
            "an ICE password ({} chars) is in the SDK's log",
            p.len()
        );
    }
    let secrets = TenantSecrets::of(sim.cloud().config());
    secrets.assert_absent("the SDK's TRACE log", &sdk);
    let events: String = sim
        .events()
        .iter()
        .map(|(_, e)| format!("{e:?}\n"))
        .collect();
    secrets.assert_absent("the events", &events);
    for p in &passwords {
        assert!(
            !events.contains(p.as_str()),
            "an ICE password is in an event"
        );
    }
}
