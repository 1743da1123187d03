//! XML namespaces used on the streaming connection (PROTOCOL.md sections 3–8).

/// RFC 7395 framing (`<open/>`, `<close/>`).
pub const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
/// Stream features and stream errors.
pub const STREAMS: &str = "http://etherx.jabber.org/streams";
/// Stream error conditions.
pub const STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// Client stanzas (`iq`, `message`, `presence`).
pub const CLIENT: &str = "jabber:client";
/// SASL.
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// Resource binding.
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// Legacy session establishment.
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// Stream management (XEP-0198); never enabled by this SDK.
pub const SM: &str = "urn:xmpp:sm:3";
/// Stanza error conditions.
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// XEP-0199 ping.
pub const PING: &str = "urn:xmpp:ping";
/// XEP-0215 external service discovery.
pub const EXTDISCO: &str = "urn:xmpp:extdisco:1";
/// XEP-0060 pubsub.
pub const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// XEP-0060 pubsub events.
pub const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
/// XEP-0335 JSON container.
pub const JSON: &str = "urn:xmpp:json:0";
/// XEP-0030 disco#info.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0051 connection transfer.
pub const CXFR: &str = "urn:xmpp:cxfr";
/// Genesys Jingle Message Initiation (not the XEP-0353 namespace).
pub const JMI: &str = "urn:xmpp:jingle-message:0";
/// Genesys sdp-over-xmpp JSON-RPC container (`<genesys-webrtc xmlns="genesys">`).
pub const GENESYS: &str = "genesys";
/// Jingle.
pub const JINGLE: &str = "urn:xmpp:jingle:1";
