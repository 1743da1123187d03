//! One softphone call's steady state in virtual time, for profiling the SDK engine's CPU per
//! call-second (issue 4's benchmark) with instruction counts instead of wall time.
//!
//! ```text
//! CARGO_PROFILE_RELEASE_STRIP=false \
//!     cargo build --release -p genesys-webrtc-sim --example call_cpu_profile
//! valgrind --tool=callgrind --toggle-collect='*Engine*push_capture_frame*' \
//!     --toggle-collect='*Engine*pull_playout_frame*' --toggle-collect='*Engine*handle_input*' \
//!     --toggle-collect='*Engine*poll_output*' \
//!     target/release/examples/call_cpu_profile [AUDIO_SECS] [opus|pcmu|pcma] [xmpp|jingle]
//! ```
//!
//! The engine, the fake cloud and its str0m media peer run on the in-memory network
//! ([`SimNetwork`]); the call is answered, then AUDIO_SECS (default 10) of audio flow both ways
//! (a 440 Hz tone captured, the cloud's 1 kHz tone played out). Collecting only inside the
//! engine's entry points leaves out the cloud and the simulator. Run it with two durations and
//! divide the difference by the difference in seconds to get the steady-state cost of one
//! call-second without the call set-up (ICE, DTLS). The release profile strips symbols, hence
//! `CARGO_PROFILE_RELEASE_STRIP=false`: without symbols the toggles match nothing and callgrind
//! collects 0 instructions. Measured so (5 s and 10 s): Opus 42.7 M instructions per call-second
//! with the default `AudioOptions` (78.9 M at complexity 5, fullband), PCMU 5.2 M.

use std::time::{Duration, Instant};

use genesys_webrtc::session::events::{ConnectionState, SessionEvent};
use genesys_webrtc::SdkEvent;
use genesys_webrtc_sim::cloud::{CallOptions, Negotiation, PreferredCodec};
use genesys_webrtc_sim::network::SimNetwork;

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let codec = match args.next().as_deref() {
        Some("pcmu") => PreferredCodec::Pcmu,
        Some("pcma") => PreferredCodec::Pcma,
        _ => PreferredCodec::Opus,
    };
    let mode = match args.next().as_deref() {
        Some("jingle") => Negotiation::Jingle,
        _ => Negotiation::SdpOverXmpp,
    };

    let mut sim = SimNetwork::ready_user("fake.genesys.test", 7, |b| b);
    sim.start_audio(Some(440.0), false);
    let (call, _) = sim.ring_and_accept(CallOptions {
        mode,
        codec,
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
    .expect("media connected");
    // Let the jitter buffer settle before the measured part.
    sim.run_for(Duration::from_secs(1));

    let t0 = Instant::now();
    sim.run_for(Duration::from_secs(secs));
    let wall = t0.elapsed();

    let stats = sim.cloud().media_stats(call);
    let (rate, heard) = sim.cloud().received_audio(call);
    println!(
        "{secs} s of a call ({codec:?}, {mode:?}) in {:.3} s of wall time (engine + cloud + sim)",
        wall.as_secs_f64()
    );
    println!(
        "cloud heard {:.1} s of audio at {rate} Hz; its media stats: {stats:?}",
        heard.len() as f64 / f64::from(rate.max(1))
    );
    let events = sim.events().len();
    println!("SDK events: {events}");
}
