//! The test kit (a dev-dependency only, nothing of it ships): fixed signing keys, token minting, a test
//! provider and its claims, cheap password hashes, a PostgreSQL cluster of its own and the child-process helpers
//! of test servers. Shared by the unit tests of the workspace's crates, the
//! integration tests (`tests/it/`) and the benches.

pub mod postgres;
pub mod process;

use authgate_core::auth::bearer::Provider;
pub use authgate_core::minting::{provider_for, DEFAULT_AUDIENCE as TEST_AUDIENCE, DEFAULT_ISSUER as TEST_ISSUER};
pub use authgate_core::signing::{jwks, SigningAlg as TestAlg, SigningKey};
use serde_json::Value;

/// An OIDC provider (issuer [`TEST_ISSUER`], audience [`TEST_AUDIENCE`], users of the `aad` manager) whose
/// key store holds the public keys of `keys` as a `KeySource::Static`: it never does I/O.
pub fn test_provider<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Provider {
    provider_for(keys, TEST_ISSUER, TEST_AUDIENCE).expect("the test issuer is a valid URL")
}

/// Claims accepted by [`test_provider`] for `user`, valid for `lifetime` seconds.
pub fn test_claims(user: &str, lifetime: i64) -> Value {
    authgate_core::minting::claims(user, lifetime)
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    authgate_core::clock::unix_now()
}

/// An argon2id PHC string for `password` with memory cost `m_kib` (t=1, p=1): cheap hashes for tests.
pub fn hash_with_cost(password: &str, m_kib: u32) -> String {
    authgate_core::directory::embedded::hash_password_with_cost(password, m_kib)
        .expect("argon2 hashes any password with valid parameters")
}

/// An argon2id PHC string for `password` costing 1 MiB: the cheapest the hashing bound distinguishes.
pub fn cheap_hash(password: &str) -> String {
    hash_with_cost(password, 1024)
}
