//! Reads the claims the SDK needs from a guest or screen-recording JWT (PROTOCOL.md §2.3, §3.1).
//!
//! The payload is decoded, not verified: the streaming service verifies the JWT; the client only
//! needs the conference JID to derive its XMPP domain. The JWT itself is a secret and never logged.

use base64::Engine as _;

/// Largest JWT accepted, in bytes.
pub const MAX_JWT_BYTES: usize = 16 * 1024;

/// The claims the SDK reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtClaims {
    /// `data.jid`: the conference JID, e.g. `acd-…@conference.example.orgspan.com`.
    pub jid: String,
    /// `data.uid`, when present.
    pub user_id: Option<String>,
    /// `org`, when present.
    pub organization_id: Option<String>,
    /// `iss`, when present.
    pub issuer: Option<String>,
}

impl JwtClaims {
    /// The XMPP domain for `<open to=…>`: the part of the JID after `@` with the first
    /// `conference.` removed.
    pub fn xmpp_domain(&self) -> String {
        let domain = self.jid.split_once('@').map(|(_, d)| d).unwrap_or("");
        domain.replacen("conference.", "", 1)
    }
}

/// Why a JWT could not be read. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Longer than [`MAX_JWT_BYTES`].
    #[error("JWT too long")]
    TooLong,
    /// Not three dot-separated parts.
    #[error("JWT is not three dot-separated parts")]
    Shape,
    /// The payload is not base64url.
    #[error("JWT payload is not base64url")]
    Base64,
    /// The payload is not a JSON object.
    #[error("JWT payload is not JSON")]
    Json,
    /// `data.jid` is missing or not a JID.
    #[error("JWT has no usable data.jid claim")]
    MissingJid,
    /// The JWT has characters that cannot go into a URL path.
    #[error("JWT contains characters outside base64url")]
    Charset,
}

/// Decodes the payload of `jwt`.
pub fn decode_claims(jwt: &str) -> Result<JwtClaims, JwtError> {
    if jwt.len() > MAX_JWT_BYTES {
        return Err(JwtError::TooLong);
    }
    if !jwt
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
    {
        return Err(JwtError::Charset);
    }
    let mut parts = jwt.split('.');
    let (Some(_header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Shape);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| JwtError::Base64)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| JwtError::Json)?;
    if !value.is_object() {
        return Err(JwtError::Json);
    }
    let jid = value
        .pointer("/data/jid")
        .and_then(|v| v.as_str())
        .filter(|j| j.contains('@') && j.len() < 1024 && !j.contains(['<', '>', '"', '&']))
        .ok_or(JwtError::MissingJid)?
        .to_string();
    let text = |p: &str| {
        value
            .pointer(p)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    Ok(JwtClaims {
        jid,
        user_id: text("/data/uid"),
        organization_id: text("/org"),
        issuer: text("/iss"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(payload: &str) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.{}",
            e.encode("{\"alg\":\"HS256\"}"),
            e.encode(payload),
            e.encode("sig")
        )
    }

    #[test]
    fn reads_jid_and_domain() {
        let c = decode_claims(&make(
            r#"{"data":{"jid":"acd-5e1f@conference.example.orgspan.com","uid":"u1"},"org":"o1","iss":"x"}"#,
        ))
        .unwrap();
        assert_eq!(c.jid, "acd-5e1f@conference.example.orgspan.com");
        assert_eq!(c.xmpp_domain(), "example.orgspan.com");
        assert_eq!(c.user_id.as_deref(), Some("u1"));
    }

    #[test]
    fn rejects_bad_tokens() {
        assert_eq!(decode_claims("abc"), Err(JwtError::Shape));
        assert_eq!(decode_claims("a.b.c.d"), Err(JwtError::Shape));
        assert_eq!(decode_claims("a.!!.c"), Err(JwtError::Charset));
        assert_eq!(decode_claims("a.a.c"), Err(JwtError::Base64));
        assert_eq!(decode_claims(&make("[1]")), Err(JwtError::Json));
        assert_eq!(decode_claims(&make("{}")), Err(JwtError::MissingJid));
        assert_eq!(
            decode_claims(&make(r#"{"data":{"jid":"nodomain"}}"#)),
            Err(JwtError::MissingJid)
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[A-Za-z0-9_.=-]{0,300}") {
            let _ = decode_claims(&s);
        }
    }
}
