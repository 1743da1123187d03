//! Guest JWTs as the fake cloud issues them from `POST /api/v2/conversations/codes`
//! (PROTOCOL.md 2.3, 2.4).
//!
//! Owns encoding (`base64url(header).base64url(payload).base64url(signature)`, no padding) and
//! decoding of the payload. The signature is a deterministic fake: the fake cloud recognises its
//! JWTs by remembering them, not by verifying anything.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

/// `iss` of guest (conversation) JWTs.
pub const GUEST_ISSUER: &str = "urn:purecloud:conversation";
/// `exp` of every issued JWT (2100-01-01T00:00:00Z); the fake cloud has no wall clock.
pub const JWT_EXPIRY: u64 = 4_102_444_800;
/// `iat` of the first issued JWT; later ones count up by one.
pub const JWT_ISSUED_AT: u64 = 1_700_000_000;

/// Claims of a guest JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestClaims {
    /// `data.jid`: the conference JID, `acd-{conversationId}@conference.{xmppDomain}`.
    pub jid: String,
    /// `data.uid`: the guest's user id.
    pub uid: String,
    /// `org`: the organization id.
    pub org: String,
    /// Serial number of this JWT (its `iat` offset); makes every JWT distinct.
    pub serial: u64,
}

/// Encodes `claims` as a compact JWT.
pub fn encode_guest(claims: &GuestClaims) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let payload = json!({
        "data": {"jid": claims.jid, "uid": claims.uid},
        "name": "Guest",
        "org": claims.org,
        "iss": GUEST_ISSUER,
        "iat": JWT_ISSUED_AT + claims.serial,
        "exp": JWT_EXPIRY,
    });
    let mut signature = Vec::with_capacity(32);
    let mut state = claims.serial ^ 0x005e_ed0f_c0ff_ee00;
    for _ in 0..4 {
        state = super::splitmix64(state);
        signature.extend_from_slice(&state.to_be_bytes());
    }
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Decodes the payload (middle segment) of a compact JWT as JSON. `None` if `jwt` does not have
/// three segments or the payload is not base64url JSON.
pub fn decode_payload(jwt: &str) -> Option<Value> {
    let mut parts = jwt.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_payload() {
        let claims = GuestClaims {
            jid: "acd-c1@conference.example.orgspan.com".into(),
            uid: "u1".into(),
            org: "o1".into(),
            serial: 3,
        };
        let jwt = encode_guest(&claims);
        assert_eq!(jwt.split('.').count(), 3);
        assert!(!jwt.contains('='));
        let payload = decode_payload(&jwt).expect("payload");
        assert_eq!(
            payload["data"]["jid"],
            "acd-c1@conference.example.orgspan.com"
        );
        assert_eq!(payload["data"]["uid"], "u1");
        assert_eq!(payload["org"], "o1");
        assert_eq!(payload["iss"], GUEST_ISSUER);
        assert_eq!(payload["exp"], JWT_EXPIRY);
        assert_ne!(
            jwt,
            encode_guest(&GuestClaims {
                serial: 4,
                ..claims
            })
        );
        assert!(decode_payload("a.b").is_none());
        assert!(decode_payload("a.!!.c").is_none());
    }
}
