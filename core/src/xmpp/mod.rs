//! XMPP over WebSocket (RFC 7395) as the Genesys streaming service speaks it: stanza builders,
//! SASL choice, XEP-0215 service discovery, liveness pings and the reconnect back-off.
//!
//! These are small pure pieces; the engine's `stream` module strings them into a connection.

pub mod backoff;
pub mod extdisco;
pub mod ns;
pub mod ping;
pub mod sasl;
pub mod stanza;
