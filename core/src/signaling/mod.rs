//! Call signaling codecs: Jingle Message Initiation (JMI), the sdp-over-xmpp JSON-RPC of the
//! `genesys-webrtc` IQs, classic Jingle, SDP, and the SDP ⇄ Jingle mapping (PROTOCOL.md §6–§8).
//!
//! Pure data in, data out: no state, no I/O. The engine's session state machine uses them.

pub mod jingle;
pub mod jmi;
pub mod sdp;
pub mod sdp_jingle;
pub mod sdp_over_xmpp;
