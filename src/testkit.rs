//! Key generation and token minting, for the test suites, the benchmarks and `authgate bench-tokens`.
//!
//! Keys are generated in-process with aws-lc-rs; tokens are compact JWS signed with them. Nothing here is
//! used on the request path.

use crate::auth::audience::AudiencePolicy;
use crate::auth::bearer::{Provider, UserClaim};
use crate::auth::identity::{FqnFormat, UserManager};
use crate::auth::issuer::{IssuerConfigError, IssuerPolicy};
use crate::auth::jwks::{KeySource, KeyStore, RefreshPolicy};
use crate::auth::jwt::AlgorithmSet;
use crate::auth::keys::KeySet;
use crate::config::{AudienceMatch, ProviderKind};
use crate::metrics::Metrics;
pub use crate::signing::{jwks, SigningAlg as TestAlg, SigningKey};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Issuer of [`test_provider`].
pub const TEST_ISSUER: &str = "https://idp.test/";
/// Audience of [`test_provider`].
pub const TEST_AUDIENCE: &str = "https://api.k2.com/";

/// An OIDC provider (issuer [`TEST_ISSUER`], audience [`TEST_AUDIENCE`], users of the `aad` manager) whose
/// key store already holds the public keys of `keys`. It never fetches: its key source is a closed port.
pub fn test_provider<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Provider {
    provider_for(keys, TEST_ISSUER, TEST_AUDIENCE).expect("the test issuer is a valid URL")
}

/// Like [`test_provider`], for another issuer and audience (`authgate bench-tokens --claims`).
pub fn provider_for<'a>(
    keys: impl IntoIterator<Item = &'a SigningKey>,
    issuer: &str,
    audience: &str,
) -> Result<Provider, IssuerConfigError> {
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
    Ok(Provider {
        name: "test".into(),
        kind: ProviderKind::Oidc,
        issuer: IssuerPolicy::oidc(issuer)?,
        audience: AudiencePolicy::new(vec![audience.into()], AudienceMatch::Exact),
        algorithms: AlgorithmSet::all(),
        leeway: 60,
        require_typ: false,
        required_scopes: Vec::new(),
        required_roles: Vec::new(),
        fqn: FqnFormat::default_for(&UserManager::Aad),
        user_manager: UserManager::Aad,
        user_claims: UserClaim::defaults(ProviderKind::Oidc),
        keys: Arc::new(store),
    })
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

/// An argon2id PHC string for `password` with memory cost `m_kib` (t=1, p=1): cheap hashes for tests.
pub fn hash_with_cost(password: &str, m_kib: u32) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    let params = argon2::Params::new(m_kib, 1, 1, None).expect("valid argon2 parameters");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password")
        .to_string()
}

/// An argon2id PHC string for `password` costing 1 MiB: the cheapest the hashing bound distinguishes.
pub fn cheap_hash(password: &str) -> String {
    hash_with_cost(password, 1024)
}
