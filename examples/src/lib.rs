//! Examples for the Genesys Cloud WebRTC SDK live in this package as `cargo run -p genesys-webrtc-examples --example NAME`;
//! this library holds what they share.

/// Installs a `tracing` subscriber that writes to stderr, filtered by `RUST_LOG` (targets and
/// levels, e.g. `warn,genesys_webrtc=debug`; default `warn`). Uses the regex-free `Targets`
/// filter so a device build does not carry a regex engine.
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::WARN)
                // stun-proto logs the routine 401 challenge to a first TURN Allocate (it carries
                // no credentials yet) at ERROR; the SDK reports real TURN failures as events.
                .with_target("stun_proto", tracing_subscriber::filter::LevelFilter::OFF)
        });
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
}
