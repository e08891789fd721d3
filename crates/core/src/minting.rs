//! Tokens and providers for `authgate bench-tokens` (and the test kit built on them): a bearer provider whose
//! key store already holds fixed public keys, and the claims of a minted token.

use crate::auth::audience::AudiencePolicy;
use crate::auth::bearer::{Provider, UserClaim};
use crate::auth::issuer::{IssuerConfigError, IssuerPolicy};
use crate::auth::jwks::KeyStore;
use crate::auth::jwt::AlgorithmSet;
use crate::auth::keys::KeySet;
use crate::config::{AudienceMatch, ProviderKind};
use crate::identity::{FqnFormat, UserManager};
use crate::metrics::Metrics;
use crate::signing::{jwks, SigningKey};
use serde_json::{json, Value};
use std::sync::Arc;

/// Issuer of minted tokens by default (`bench-tokens`, the test kit).
pub const DEFAULT_ISSUER: &str = "https://idp.test/";
/// Audience of minted tokens by default (`bench-tokens`, the test kit).
pub const DEFAULT_AUDIENCE: &str = "https://api.k2.com/";

/// An OIDC provider (users of the `aad` manager) for `issuer` and `audience` whose key store already holds the
/// public keys of `keys`. It never fetches: its key source is
/// [`KeySource::Static`](crate::auth::jwks::KeySource::Static).
pub fn provider_for<'a>(
    keys: impl IntoIterator<Item = &'a SigningKey>,
    issuer: &str,
    audience: &str,
) -> Result<Provider, IssuerConfigError> {
    let document = jwks(keys).to_string();
    let parsed = KeySet::from_jwks(document.as_bytes()).expect("signing keys form a valid JWKS");
    let store = KeyStore::with_static_keys("test", Arc::new(parsed.keys), Arc::new(Metrics::new()));
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

/// Claims accepted by a [`provider_for`] [`DEFAULT_ISSUER`] and [`DEFAULT_AUDIENCE`] for `user`, valid for
/// `lifetime` seconds.
pub fn claims(user: &str, lifetime: i64) -> Value {
    let now = crate::clock::unix_now();
    json!({
        "iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE, "exp": now + lifetime, "iat": now,
        "preferred_username": user, "tid": "00000000-0000-0000-0000-000000000001",
        "groups": ["Employees"], "scp": "user_impersonation",
    })
}
