//! Examples for the Genesys Cloud WebRTC SDK live in this package as `cargo run -p genesys-webrtc-examples --example NAME`.
