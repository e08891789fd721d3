//! Verification keys: a JWKS document parsed once into aws-lc public keys, so verifying a token costs the
//! signature check and nothing else.
//!
//! jsonwebtoken 11's `crypto::verify` rebuilds the RSA key from `n`/`e` on every call; here each key is parsed
//! once per fetch (lazily per algorithm, since an aws-lc RSA key is bound to its padding and digest).
//! The key's type decides which algorithms it can verify: a token cannot make an RSA key act as an HMAC secret.

use super::errors::TokenError;
use crate::auth::jwt::JwsAlgorithm;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents, VerificationAlgorithm};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The kind of a public key, which fixes the algorithms it may verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA (RS*, PS*).
    Rsa,
    /// EC P-256 (ES256).
    P256,
    /// EC P-384 (ES384).
    P384,
    /// Ed25519 (EdDSA).
    Ed25519,
}

impl KeyType {
    /// Whether a key of this type can verify `alg`.
    pub fn fits(self, alg: JwsAlgorithm) -> bool {
        use JwsAlgorithm::*;
        matches!(
            (self, alg),
            (Self::Rsa, RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
                | (Self::P256, ES256)
                | (Self::P384, ES384)
                | (Self::Ed25519, EdDSA)
        )
    }

    /// A name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa => "RSA",
            Self::P256 => "EC P-256",
            Self::P384 => "EC P-384",
            Self::Ed25519 => "Ed25519",
        }
    }
}

/// The raw material of a key, kept so RSA keys can be parsed per algorithm on first use.
#[derive(Debug)]
enum Material {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Raw(Vec<u8>),
}

/// One public key from a JWKS.
#[derive(Debug)]
pub struct VerifyingKey {
    /// `kid`, if the JWK had one.
    pub kid: Option<String>,
    /// Its type.
    pub key_type: KeyType,
    /// `alg` pinned by the JWK, if any: then only that algorithm is accepted with this key.
    pub pinned_alg: Option<JwsAlgorithm>,
    material: Material,
    parsed: [OnceLock<Option<ParsedPublicKey>>; 9],
}

impl VerifyingKey {
    /// Verifies `signature` over `message` with `alg`, refusing algorithms that do not fit this key.
    pub fn verify(&self, alg: JwsAlgorithm, message: &[u8], signature: &[u8]) -> Result<(), TokenError> {
        if !self.key_type.fits(alg) || self.pinned_alg.is_some_and(|p| p != alg) {
            return Err(TokenError::KeyAlgorithmMismatch {
                alg: alg.to_string(),
                key_type: self.key_type.name(),
                kid: self.kid.clone().unwrap_or_default(),
            });
        }
        let parsed = self.parsed[alg as usize].get_or_init(|| self.parse_for(alg));
        match parsed {
            Some(key) => key.verify_sig(message, signature).map_err(|_| TokenError::BadSignature),
            None => Err(TokenError::BadSignature),
        }
    }

    fn parse_for(&self, alg: JwsAlgorithm) -> Option<ParsedPublicKey> {
        match &self.material {
            Material::Rsa { n, e } => {
                let params = rsa_params(alg)?;
                RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                }
                .to_parsed_public_key(params)
                .ok()
            }
            Material::Raw(bytes) => ParsedPublicKey::new(verification_alg(alg)?, bytes).ok(),
        }
    }
}

fn rsa_params(alg: JwsAlgorithm) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        JwsAlgorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        JwsAlgorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        JwsAlgorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        JwsAlgorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        JwsAlgorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        JwsAlgorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn verification_alg(alg: JwsAlgorithm) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match alg {
        JwsAlgorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        JwsAlgorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        JwsAlgorithm::EdDSA => &signature::ED25519,
        _ => return None,
    })
}

/// A JWK as published; fields this gateway does not use are ignored.
#[derive(Debug, Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

/// The keys of one provider, by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<VerifyingKey>>,
    all: Vec<Arc<VerifyingKey>>,
}

/// The result of parsing a JWKS document: the usable keys and why others were skipped.
#[derive(Debug)]
pub struct ParsedJwks {
    /// Usable keys.
    pub keys: KeySet,
    /// One line per skipped key (`kid 'x': unsupported kty 'oct'`).
    pub skipped: Vec<String>,
}

impl KeySet {
    /// Parses a JWKS document. Keys that cannot be used (symmetric, encryption-only, unsupported curve,
    /// malformed) are skipped and reported, so one odd key does not take the others down.
    pub fn from_jwks(document: &[u8]) -> Result<ParsedJwks, String> {
        let raw: RawJwkSet = serde_json::from_slice(document)
            .map_err(|e| format!("not a JWKS document (expected {{\"keys\": [...]}}): {e}"))?;
        let mut set = KeySet::default();
        let mut skipped = Vec::new();
        for (index, value) in raw.keys.into_iter().enumerate() {
            let jwk: RawJwk = match serde_json::from_value(value) {
                Ok(jwk) => jwk,
                Err(e) => {
                    skipped.push(format!("key #{index}: {e}"));
                    continue;
                }
            };
            let label = jwk
                .kid
                .clone()
                .map_or_else(|| format!("key #{index}"), |k| format!("kid '{k}'"));
            match parse_jwk(jwk) {
                Ok(key) => set.insert(key),
                Err(reason) => skipped.push(format!("{label}: {reason}")),
            }
        }
        Ok(ParsedJwks { keys: set, skipped })
    }

    fn insert(&mut self, key: VerifyingKey) {
        let key = Arc::new(key);
        if let Some(kid) = &key.kid {
            self.by_kid.insert(kid.clone(), key.clone());
        }
        self.all.push(key);
    }

    /// The key with `kid`.
    pub fn get(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.by_kid.get(kid)
    }

    /// Every key, for tokens without `kid`.
    pub fn all(&self) -> &[Arc<VerifyingKey>] {
        &self.all
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// The key ids, for diagnostics.
    pub fn kids(&self) -> Vec<String> {
        self.all.iter().filter_map(|k| k.kid.clone()).collect()
    }
}

fn b64(field: &str, value: Option<&str>) -> Result<Vec<u8>, String> {
    let value = value.ok_or_else(|| format!("missing '{field}'"))?;
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| format!("'{field}' is not base64url"))
}

fn parse_jwk(jwk: RawJwk) -> Result<VerifyingKey, String> {
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err(format!("use '{}' is not 'sig'", jwk.use_.unwrap_or_default()));
    }
    let pinned_alg = match jwk.alg.as_deref() {
        None => None,
        Some(alg) => Some(
            alg.parse::<JwsAlgorithm>()
                .map_err(|_| format!("alg '{alg}' is not a supported signature algorithm"))?,
        ),
    };
    let (key_type, material) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => {
            let strip = |v: Vec<u8>| {
                let first = v.iter().position(|b| *b != 0).unwrap_or(v.len());
                v[first..].to_vec()
            };
            let n = strip(b64("n", jwk.n.as_deref())?);
            let e = strip(b64("e", jwk.e.as_deref())?);
            if n.len() < 256 {
                return Err(format!("RSA modulus of {} bits is below 2048", n.len() * 8));
            }
            (KeyType::Rsa, Material::Rsa { n, e })
        }
        ("EC", Some(crv @ ("P-256" | "P-384"))) => {
            let (key_type, len) = if crv == "P-256" {
                (KeyType::P256, 32)
            } else {
                (KeyType::P384, 48)
            };
            let x = b64("x", jwk.x.as_deref())?;
            let y = b64("y", jwk.y.as_deref())?;
            if x.len() != len || y.len() != len {
                return Err(format!("{crv} coordinates must be {len} bytes"));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (key_type, Material::Raw(point))
        }
        ("OKP", Some("Ed25519")) => {
            let x = b64("x", jwk.x.as_deref())?;
            if x.len() != 32 {
                return Err("Ed25519 key must be 32 bytes".into());
            }
            (KeyType::Ed25519, Material::Raw(x))
        }
        (kty, crv) => {
            return Err(format!(
                "unsupported key type '{kty}'{}",
                crv.map(|c| format!(" / curve '{c}'")).unwrap_or_default()
            ))
        }
    };
    if let Some(alg) = pinned_alg {
        if !key_type.fits(alg) {
            return Err(format!("alg '{alg}' does not fit a {} key", key_type.name()));
        }
    }
    let key = VerifyingKey {
        kid: jwk.kid,
        key_type,
        pinned_alg,
        material,
        parsed: Default::default(),
    };
    // Reject keys aws-lc cannot parse now, not on the first request.
    let probe = pinned_alg.unwrap_or(match key_type {
        KeyType::Rsa => JwsAlgorithm::RS256,
        KeyType::P256 => JwsAlgorithm::ES256,
        KeyType::P384 => JwsAlgorithm::ES384,
        KeyType::Ed25519 => JwsAlgorithm::EdDSA,
    });
    if key.parsed[probe as usize]
        .get_or_init(|| key.parse_for(probe))
        .is_none()
    {
        return Err(format!("not a valid {} public key", key_type.name()));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{SigningAlg as TestAlg, SigningKey};

    #[test]
    fn jwks_round_trip_verifies_each_key_type() {
        for alg in [
            TestAlg::RS256,
            TestAlg::PS256,
            TestAlg::ES256,
            TestAlg::ES384,
            TestAlg::EdDSA,
        ] {
            let key = SigningKey::generate(alg, "k1");
            let jwks = serde_json::json!({ "keys": [key.public_jwk()] });
            let parsed = KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap();
            assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
            let vk = parsed.keys.get("k1").unwrap();
            let sig = key.sign_raw(b"message");
            let jws_alg: JwsAlgorithm = alg.name().parse().unwrap();
            vk.verify(jws_alg, b"message", &sig).unwrap();
            assert_eq!(vk.verify(jws_alg, b"other", &sig), Err(TokenError::BadSignature));
        }
    }

    #[test]
    fn algorithm_must_fit_the_key_type() {
        let key = SigningKey::generate(TestAlg::RS256, "rsa");
        let jwks = serde_json::json!({ "keys": [key.public_jwk()] });
        let parsed = KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap();
        let vk = parsed.keys.get("rsa").unwrap();
        assert!(matches!(
            vk.verify(JwsAlgorithm::ES256, b"m", b"s"),
            Err(TokenError::KeyAlgorithmMismatch { .. })
        ));
    }

    #[test]
    fn unusable_keys_are_skipped_with_reasons() {
        let good = SigningKey::generate(TestAlg::ES256, "good").public_jwk();
        let jwks = serde_json::json!({ "keys": [
            good,
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "enc", "use": "enc", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "EC", "kid": "bad-point", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "y": URL_SAFE_NO_PAD.encode([2u8; 32])},
            "not an object",
        ]});
        let parsed = KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.keys.kids(), vec!["good".to_string()]);
        assert_eq!(parsed.skipped.len(), 5, "{:?}", parsed.skipped);
        assert!(parsed.skipped.iter().any(|s| s.contains("'oct'")));
        assert!(KeySet::from_jwks(b"[]").is_err());
    }
}
