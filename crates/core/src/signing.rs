//! Private keys that sign compact JWS: the gateway's identity assertions, and tokens minted in-process for
//! tests and benchmarks. Keys are generated with aws-lc-rs and never leave the process.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

/// Algorithms authgate can sign with (identity assertions, test tokens, `bench-tokens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    /// RSA-2048 PKCS#1 v1.5 SHA-256.
    RS256,
    /// RSA-2048 PSS SHA-256.
    PS256,
    /// ECDSA P-256.
    ES256,
    /// ECDSA P-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl SigningAlg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parses a JOSE name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::RS256, Self::PS256, Self::ES256, Self::ES384, Self::EdDSA]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

/// A name `--alg` cannot sign with, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsupportedAlg {
    /// HS256/384/512.
    #[error(
        "{0}: authgate does not accept HMAC-signed tokens: their key is a shared secret that every verifier \
         would hold and no IdP publishes in a JWKS (choose RS256, PS256, ES256, ES384 or EdDSA)"
    )]
    Symmetric(String),
    /// `none`.
    #[error("'none': unsigned tokens are never accepted")]
    None,
    /// Anything else.
    #[error("'{0}' is not an algorithm authgate signs with (RS256, PS256, ES256, ES384 or EdDSA)")]
    Unknown(String),
}

impl std::str::FromStr for SigningAlg {
    type Err = UnsupportedAlg;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if let Some(alg) = Self::from_name(name) {
            return Ok(alg);
        }
        let upper = name.to_ascii_uppercase();
        Err(match upper.as_str() {
            "HS256" | "HS384" | "HS512" => UnsupportedAlg::Symmetric(upper),
            "NONE" => UnsupportedAlg::None,
            _ => UnsupportedAlg::Unknown(name.to_string()),
        })
    }
}

enum Inner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key with its `kid`, able to sign tokens and publish its public JWK.
pub struct SigningKey {
    alg: SigningAlg,
    kid: String,
    inner: Inner,
}

impl SigningKey {
    /// Generates a fresh key for `alg`.
    pub fn generate(alg: SigningAlg, kid: &str) -> Self {
        let inner = match alg {
            SigningAlg::RS256 | SigningAlg::PS256 => {
                Inner::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"))
            }
            SigningAlg::ES256 => Inner::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key generation"),
            ),
            SigningAlg::ES384 => Inner::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).expect("P-384 key generation"),
            ),
            SigningAlg::EdDSA => Inner::Ed(Ed25519KeyPair::generate().expect("Ed25519 key generation")),
        };
        Self {
            alg,
            kid: kid.to_string(),
            inner,
        }
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (with `kid`, `use: sig`, `alg`).
    pub fn public_jwk(&self) -> Value {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        match &self.inner {
            Inner::Rsa(kp) => {
                let public = kp.public_key();
                json!({
                    "kty": "RSA", "kid": self.kid, "use": "sig", "alg": self.alg.name(),
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Inner::Ec(kp) => {
                let point = kp.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = if len == 32 { "P-256" } else { "P-384" };
                json!({
                    "kty": "EC", "kid": self.kid, "use": "sig", "alg": self.alg.name(), "crv": crv,
                    "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..]),
                })
            }
            Inner::Ed(kp) => json!({
                "kty": "OKP", "kid": self.kid, "use": "sig", "alg": "EdDSA", "crv": "Ed25519",
                "x": b64(kp.public_key().as_ref()),
            }),
        }
    }

    /// The private key as PKCS#8 DER (EC and Ed25519 only), for interoperability tests with other libraries.
    pub fn pkcs8_der(&self) -> Option<Vec<u8>> {
        match &self.inner {
            Inner::Rsa(_) => None,
            Inner::Ec(kp) => kp.to_pkcs8v1().ok().map(|d| d.as_ref().to_vec()),
            Inner::Ed(kp) => kp
                .as_der()
                .ok()
                .map(|d: aws_lc_rs::encoding::Pkcs8V1Der| d.as_ref().to_vec()),
        }
    }

    /// Signs `message` and returns the raw JWS signature bytes.
    pub fn sign_raw(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.inner {
            Inner::Rsa(kp) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    SigningAlg::PS256 => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(padding, &rng, message, &mut sig).expect("RSA signing");
                sig
            }
            Inner::Ec(kp) => kp.sign(&rng, message).expect("ECDSA signing").as_ref().to_vec(),
            Inner::Ed(kp) => kp.sign(message).as_ref().to_vec(),
        }
    }

    /// Mints a token with header `{"alg", "kid", "typ": "JWT"}` and `claims`.
    pub fn mint(&self, claims: &Value) -> String {
        self.mint_with_header(&json!({"alg": self.alg.name(), "kid": self.kid, "typ": "JWT"}), claims)
    }

    /// Mints a token with an arbitrary `header` (for attack cases) signed by this key.
    pub fn mint_with_header(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.sign_raw(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// A JWKS document holding the public keys of `keys`.
pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Value {
    json!({ "keys": keys.into_iter().map(SigningKey::public_jwk).collect::<Vec<_>>() })
}
