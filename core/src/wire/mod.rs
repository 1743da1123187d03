//! Wire codecs for peer input: HTTP/1.1, WebSocket framing (RFC 6455) and XML stanzas.
//!
//! Everything here is sans-IO (bytes in, values out), bounded by named limits, and never panics on
//! what the network sends. The engine uses the client side; the simulator's fake cloud uses the
//! server side of the same codecs.

pub mod http;
pub mod websocket;
pub mod xml;
