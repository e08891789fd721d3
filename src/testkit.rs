//! Key generation and token minting, for the test suites, the benchmarks and `authgate bench-tokens`.
//!
//! Keys are generated in-process with aws-lc-rs; tokens are compact JWS signed with them. Nothing here is
//! used on the request path.

use crate::auth::audience::AudiencePolicy;
use crate::auth::bearer::{Provider, UserClaim};
use crate::auth::identity::{FqnFormat, UserManager};
use crate::auth::issuer::IssuerPolicy;
use crate::auth::jwks::{KeySource, KeyStore, RefreshPolicy};
use crate::auth::jwt::AlgorithmSet;
use crate::auth::keys::KeySet;
use crate::config::{AudienceMatch, ProviderKind};
use crate::metrics::Metrics;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Algorithms the test kit can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestAlg {
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

impl TestAlg {
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

enum Inner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key with its `kid`, able to sign tokens and publish its public JWK.
pub struct SigningKey {
    alg: TestAlg,
    kid: String,
    inner: Inner,
}

impl SigningKey {
    /// Generates a fresh key for `alg`.
    pub fn generate(alg: TestAlg, kid: &str) -> Self {
        let inner = match alg {
            TestAlg::RS256 | TestAlg::PS256 => {
                Inner::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"))
            }
            TestAlg::ES256 => Inner::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key generation"),
            ),
            TestAlg::ES384 => Inner::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).expect("P-384 key generation"),
            ),
            TestAlg::EdDSA => Inner::Ed(Ed25519KeyPair::generate().expect("Ed25519 key generation")),
        };
        Self {
            alg,
            kid: kid.to_string(),
            inner,
        }
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> TestAlg {
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
                    TestAlg::PS256 => &signature::RSA_PSS_SHA256,
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

/// Issuer of [`test_provider`].
pub const TEST_ISSUER: &str = "https://idp.test/";
/// Audience of [`test_provider`].
pub const TEST_AUDIENCE: &str = "https://api.k2.com/";

/// An OIDC provider (issuer [`TEST_ISSUER`], audience [`TEST_AUDIENCE`], users of the `aad` manager) whose
/// key store already holds the public keys of `keys`. It never fetches: its key source is a closed port.
pub fn test_provider<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Provider {
    let metrics = Arc::new(Metrics::new());
    let store = KeyStore::new(
        "test",
        KeySource::Url("http://127.0.0.1:9/jwks.json".into()),
        RefreshPolicy {
            refresh_interval: Duration::from_secs(3600),
            min_refetch_interval: Duration::from_secs(3600),
            fetch_timeout: Duration::from_millis(200),
        },
        reqwest::Client::new(),
        metrics,
    );
    let document = jwks(keys).to_string();
    let parsed = KeySet::from_jwks(document.as_bytes()).expect("testkit keys form a valid JWKS");
    store.install(parsed.keys);
    Provider {
        name: "test".into(),
        kind: ProviderKind::Oidc,
        issuer: IssuerPolicy::oidc(TEST_ISSUER).expect("valid issuer"),
        audience: AudiencePolicy::new(vec![TEST_AUDIENCE.into()], AudienceMatch::Exact),
        algorithms: AlgorithmSet::all(),
        leeway: 60,
        require_typ: false,
        required_scopes: Vec::new(),
        required_roles: Vec::new(),
        fqn: FqnFormat::default_for(&UserManager::Aad),
        user_manager: UserManager::Aad,
        user_claims: UserClaim::defaults(ProviderKind::Oidc),
        keys: Arc::new(store),
    }
}

/// Claims accepted by [`test_provider`] for `user`, valid for `lifetime` seconds.
pub fn test_claims(user: &str, lifetime: i64) -> Value {
    json!({
        "iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "exp": now() + lifetime, "iat": now(),
        "preferred_username": user, "tid": "00000000-0000-0000-0000-000000000001",
        "groups": ["Employees"], "scp": "user_impersonation",
    })
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
