//! Parsing a compact JWS (`header.claims.signature`) into typed parts, before anything is trusted.
//!
//! Only the claims this gateway reads are deserialised (unknown claims are skipped by serde without
//! allocation); a claim of the wrong JSON type is a clear error, not a panic.

use super::errors::TokenError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

/// The JWS algorithms this gateway can verify. HMAC and `none` are deliberately absent: a token naming them
/// is refused before any key is looked at, which rules out HMAC-with-a-public-key confusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl JwsAlgorithm {
    /// Every supported algorithm, the default allow-list.
    pub const ALL: [JwsAlgorithm; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JwsAlgorithm {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or(())
    }
}

/// A set of allowed algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgorithmSet(u16);

impl AlgorithmSet {
    /// All supported algorithms.
    pub fn all() -> Self {
        Self::from_iter(JwsAlgorithm::ALL)
    }

    /// Whether `alg` is allowed.
    pub fn contains(self, alg: JwsAlgorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    /// Whether nothing is allowed.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `RS256, ES256` for messages.
    pub fn describe(self) -> String {
        JwsAlgorithm::ALL
            .into_iter()
            .filter(|a| self.contains(*a))
            .map(JwsAlgorithm::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl FromIterator<JwsAlgorithm> for AlgorithmSet {
    fn from_iter<I: IntoIterator<Item = JwsAlgorithm>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |acc, a| acc | a.bit()))
    }
}

/// The JOSE header fields this gateway reads. Presence of `jku`/`x5u`/`jwk`/`x5c` is detected (and refused)
/// without parsing their content.
#[derive(Debug, Default, Deserialize)]
pub struct JoseHeader {
    /// `alg` as written.
    pub alg: Option<String>,
    /// Key id.
    pub kid: Option<String>,
    /// Token type.
    pub typ: Option<String>,
    /// Critical extensions.
    pub crit: Option<Vec<String>>,
    jku: Option<IgnoredAny>,
    x5u: Option<IgnoredAny>,
    jwk: Option<IgnoredAny>,
    x5c: Option<IgnoredAny>,
}

impl JoseHeader {
    /// The first key-carrying header present (`jku`, `x5u`, `jwk`, `x5c`), if any.
    pub fn forbidden_key_header(&self) -> Option<&'static str> {
        [
            ("jku", self.jku.is_some()),
            ("x5u", self.x5u.is_some()),
            ("jwk", self.jwk.is_some()),
            ("x5c", self.x5c.is_some()),
        ]
        .into_iter()
        .find_map(|(name, present)| present.then_some(name))
    }
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as string slices.
    pub fn iter(&self) -> impl Iterator<Item = &str> + Clone {
        let slice: &[String] = match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        };
        slice.iter().map(String::as_str)
    }
}

/// A NumericDate; JSON numbers may carry fractions, which are truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumericDate(pub i64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(d)?;
        if !value.is_finite() {
            return Err(serde::de::Error::custom("NumericDate must be a finite number"));
        }
        Ok(Self(value as i64))
    }
}

/// The claims this gateway reads.
#[derive(Debug, Default, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: Option<String>,
    /// Subject.
    pub sub: Option<String>,
    /// Audience(s).
    pub aud: Option<OneOrMany>,
    /// Expiry.
    pub exp: Option<NumericDate>,
    /// Not before.
    pub nbf: Option<NumericDate>,
    /// Issued at.
    pub iat: Option<NumericDate>,
    /// AAD user principal name.
    pub upn: Option<String>,
    /// AAD v1 user name.
    pub unique_name: Option<String>,
    /// OIDC / AAD v2 user name.
    pub preferred_username: Option<String>,
    /// AAD object id.
    pub oid: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// AAD tenant id.
    pub tid: Option<String>,
    /// Space-separated delegated scopes (AAD).
    pub scp: Option<String>,
    /// Space-separated scopes (RFC 8693 / OIDC).
    pub scope: Option<String>,
    /// App roles.
    pub roles: Option<Vec<String>>,
    /// Groups.
    pub groups: Option<Vec<String>>,
    /// Authentication methods (`mfa` when MFA was used).
    pub amr: Option<Vec<String>>,
    /// AAD v1 client id.
    pub appid: Option<String>,
    /// Authorized party (client id).
    pub azp: Option<String>,
}

/// A parsed, not yet verified token.
#[derive(Debug)]
pub struct UnverifiedJwt<'a> {
    /// Header.
    pub header: JoseHeader,
    /// Claims.
    pub claims: Claims,
    /// `base64(header).base64(claims)`, the bytes the signature covers.
    pub signing_input: &'a [u8],
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact JWS. Refuses anything that is not exactly three base64url parts with JSON
/// object header and claims.
pub fn parse(token: &str) -> Result<UnverifiedJwt<'_>, TokenError> {
    let mut parts = token.splitn(4, '.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed(
            "expected three dot-separated parts (header.claims.signature); encrypted (JWE) tokens are not supported"
                .into(),
        ));
    };
    if h.is_empty() || c.is_empty() {
        return Err(TokenError::Malformed("empty header or claims".into()));
    }
    let header_json = decode_part(h, "header")?;
    let header: JoseHeader = serde_json::from_slice(&header_json)
        .map_err(|e| TokenError::Malformed(format!("header is not a JSON object of the expected shape ({e})")))?;
    let claims_json = decode_part(c, "claims")?;
    let claims: Claims = serde_json::from_slice(&claims_json)
        .map_err(|e| TokenError::Malformed(format!("claims are not a JSON object of the expected shape ({e})")))?;
    let signature = decode_part(s, "signature")?;
    Ok(UnverifiedJwt {
        header,
        claims,
        signing_input: &token.as_bytes()[..h.len() + 1 + c.len()],
        signature,
    })
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed(format!("{what} is not unpadded base64url")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn parses_header_claims_and_signing_input() {
        let token = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#),
            b64(r#"{"iss":"i","aud":["a","b"],"exp":1.5e9,"extra":{"deep":[1,2]}}"#),
            b64("sig")
        );
        let jwt = parse(&token).unwrap();
        assert_eq!(jwt.header.alg.as_deref(), Some("RS256"));
        assert_eq!(jwt.header.kid.as_deref(), Some("k1"));
        assert_eq!(
            jwt.claims.aud.as_ref().unwrap().iter().collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        assert_eq!(jwt.claims.exp, Some(NumericDate(1_500_000_000)));
        assert_eq!(jwt.signature, b"sig");
        assert_eq!(jwt.signing_input, token.rsplit_once('.').unwrap().0.as_bytes());
        assert!(jwt.header.forbidden_key_header().is_none());
    }

    #[test]
    fn key_carrying_headers_are_detected() {
        for name in ["jku", "x5u", "jwk", "x5c"] {
            let token = format!(
                "{}.{}.",
                b64(&format!(r#"{{"alg":"RS256","{name}":{{"a":1}}}}"#)),
                b64("{}")
            );
            assert_eq!(parse(&token).unwrap().header.forbidden_key_header(), Some(name));
        }
    }

    #[test]
    fn malformed_tokens_are_refused_without_panic() {
        let cases = [
            "".to_string(),
            "a".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            "a.b.c.d.e".into(),
            "!!.??.**".into(),
            format!("{}.{}.x", b64("not json"), b64("{}")),
            format!("{}.{}.x", b64("[1,2]"), b64("{}")),
            format!("{}.{}.x", b64("{}"), b64("\"string\"")),
            format!("{}.{}.x", b64("{}"), b64(r#"{"aud":42}"#)),
            format!("{}.{}.x", b64("{}"), b64(r#"{"exp":"tomorrow"}"#)),
            format!("{}.{}.x=", b64("{}"), b64("{}")),
            format!("{}.{}.x", b64(&"[".repeat(5000)), b64("{}")),
        ];
        for case in &cases {
            assert!(matches!(parse(case), Err(TokenError::Malformed(_))), "{case}");
        }
    }

    #[test]
    fn algorithm_names_are_exact() {
        assert_eq!("RS256".parse(), Ok(JwsAlgorithm::RS256));
        assert_eq!("EdDSA".parse(), Ok(JwsAlgorithm::EdDSA));
        assert!("rs256".parse::<JwsAlgorithm>().is_err());
        assert!("HS256".parse::<JwsAlgorithm>().is_err());
        assert!("none".parse::<JwsAlgorithm>().is_err());
        let set: AlgorithmSet = [JwsAlgorithm::RS256, JwsAlgorithm::ES256].into_iter().collect();
        assert!(set.contains(JwsAlgorithm::ES256) && !set.contains(JwsAlgorithm::PS256));
        assert_eq!(set.describe(), "RS256, ES256");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_tokens_never_panic(token in "[A-Za-z0-9_.=-]{0,300}") {
            let _ = parse(&token);
        }

        #[test]
        fn arbitrary_json_parts_never_panic(header in ".{0,120}", claims in ".{0,200}") {
            let token = format!("{}.{}.{}", b64(&header), b64(&claims), b64("sig"));
            let _ = parse(&token);
        }
    }
}
