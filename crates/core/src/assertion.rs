//! Signed identity assertions: a short-lived JWT (ES256 or EdDSA) that the gateway signs and sends upstream
//! in `X-Authgate-Assertion`, so an upstream can trust the identity even on a shared network.
//!
//! Claims: `iss` (configured), `aud` (the route's upstream), `sub` (user FQN), `user_manager`, `auth_method`,
//! `groups`, `email`, `tenant`, `iat`, `exp`, `jti`. The public keys are served at the admin listener's
//! `/.well-known/jwks.json`: the current key and, after a rotation, the previous one (so assertions signed
//! just before the rotation still verify).
//!
//! Signing costs tens of microseconds, so an assertion is reused for the same authenticated identity and
//! route until half its lifetime has passed.

use crate::auth::Authenticated;
use crate::signing::{SigningAlg, SigningKey};
use arc_swap::ArcSwap;
use http::HeaderValue;
use moka::sync::Cache;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct KeyRing {
    current: Arc<SigningKey>,
    previous: Option<Arc<SigningKey>>,
}

#[derive(Clone)]
struct Cached {
    /// Keeps the identity alive so its address (the cache key) cannot be reused while cached.
    owner: Arc<Authenticated>,
    value: HeaderValue,
    refresh_at: i64,
}

/// Signs assertions and publishes the verification keys.
pub struct AssertionSigner {
    alg: SigningAlg,
    issuer: String,
    ttl: Duration,
    keys: ArcSwap<KeyRing>,
    generation: AtomicU64,
    cache: Cache<(usize, usize), Cached>,
}

fn kid(generation: u64) -> String {
    let mut random = [0u8; 6];
    let _ = aws_lc_rs::rand::fill(&mut random);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("authgate-{generation}-{hex}")
}

impl AssertionSigner {
    /// A signer with a fresh key. `alg` must be ES256 or EdDSA.
    pub fn new(alg: SigningAlg, issuer: &str, ttl: Duration) -> Self {
        Self {
            alg,
            issuer: issuer.to_string(),
            ttl,
            keys: ArcSwap::from_pointee(KeyRing {
                current: Arc::new(SigningKey::generate(alg, &kid(0))),
                previous: None,
            }),
            generation: AtomicU64::new(0),
            cache: Cache::builder().max_capacity(100_000).time_to_live(ttl).build(),
        }
    }

    /// Replaces the signing key; the old one stays published until the next rotation.
    pub fn rotate(&self) {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let fresh = Arc::new(SigningKey::generate(self.alg, &kid(generation)));
        let previous = self.keys.load().current.clone();
        self.keys.store(Arc::new(KeyRing {
            current: fresh,
            previous: Some(previous),
        }));
        self.cache.invalidate_all();
        tracing::info!(generation, "identity assertion key rotated");
    }

    /// The JWKS document of the published keys.
    pub fn jwks(&self) -> serde_json::Value {
        let ring = self.keys.load();
        let mut keys = vec![ring.current.public_jwk()];
        if let Some(previous) = &ring.previous {
            keys.push(previous.public_jwk());
        }
        json!({ "keys": keys })
    }

    /// The assertion header value for `auth` on route number `route` whose upstream is `audience`.
    pub fn assertion(&self, auth: &Arc<Authenticated>, route: usize, audience: &str) -> Option<HeaderValue> {
        let now = crate::clock::unix_now();
        let key = (Arc::as_ptr(auth) as usize, route);
        if let Some(hit) = self.cache.get(&key) {
            if Arc::ptr_eq(&hit.owner, auth) && hit.refresh_at > now {
                return Some(hit.value);
            }
        }
        let ttl = self.ttl.as_secs().max(1) as i64;
        let id = &auth.identity;
        let mut jti = [0u8; 12];
        let _ = aws_lc_rs::rand::fill(&mut jti);
        let claims = json!({
            "iss": self.issuer,
            "aud": audience,
            "sub": id.fqn,
            "name": id.name,
            "user_manager": id.user_manager.label(),
            "auth_method": id.auth_method.as_str(),
            "groups": id.groups,
            "email": id.email,
            "tenant": id.tenant,
            "iat": now,
            "exp": now + ttl,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        });
        let token = self.keys.load().current.mint(&claims);
        let value = HeaderValue::from_str(&token).ok()?;
        self.cache.insert(
            key,
            Cached {
                owner: auth.clone(),
                value: value.clone(),
                refresh_at: now + ttl / 2,
            },
        );
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::KeySet;
    use crate::identity::{AuthMethod, Identity, UserManager};

    fn auth() -> Arc<Authenticated> {
        Arc::new(Authenticated::new(
            Identity {
                name: "alice".into(),
                fqn: "K2:CONTOSO\\alice".into(),
                user_manager: UserManager::Ad,
                auth_method: AuthMethod::Basic,
                email: Some("alice@contoso.com".into()),
                display_name: None,
                groups: vec!["Finance".into()],
                mfa: false,
                tenant: None,
                scopes: vec![],
                roles: vec![],
                provider: None,
            },
            vec![],
        ))
    }

    fn verify(signer: &AssertionSigner, token: &str) -> serde_json::Value {
        let set = KeySet::from_jwks(signer.jwks().to_string().as_bytes()).unwrap().keys;
        let jwt = crate::auth::jwt::parse(token).unwrap();
        let key = set.get(jwt.header.kid.as_deref().unwrap()).unwrap();
        let alg = jwt.header.alg.as_deref().unwrap().parse().unwrap();
        key.verify(alg, jwt.signing_input, &jwt.signature).unwrap();
        let claims = token.split('.').nth(1).unwrap();
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn assertions_verify_with_the_published_keys_and_carry_the_identity() {
        for alg in [SigningAlg::ES256, SigningAlg::EdDSA] {
            let signer = AssertionSigner::new(alg, "authgate", Duration::from_secs(60));
            let a = auth();
            let token = signer.assertion(&a, 0, "http://app:8080").unwrap();
            let claims = verify(&signer, token.to_str().unwrap());
            assert_eq!(claims["sub"], "K2:CONTOSO\\alice");
            assert_eq!(claims["aud"], "http://app:8080");
            assert_eq!(claims["user_manager"], "ad");
            assert_eq!(claims["auth_method"], "basic");
            assert_eq!(claims["groups"], json!(["Finance"]));
            assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 60);
        }
    }

    #[test]
    fn assertions_are_reused_per_identity_and_route() {
        let signer = AssertionSigner::new(SigningAlg::ES256, "authgate", Duration::from_secs(60));
        let a = auth();
        let first = signer.assertion(&a, 0, "x").unwrap();
        assert_eq!(signer.assertion(&a, 0, "x").unwrap(), first);
        assert_ne!(signer.assertion(&a, 1, "y").unwrap(), first);
        assert_ne!(signer.assertion(&auth(), 0, "x").unwrap(), first, "another identity");
    }

    #[test]
    fn rotation_keeps_the_previous_key_published() {
        let signer = AssertionSigner::new(SigningAlg::EdDSA, "authgate", Duration::from_secs(60));
        let a = auth();
        let before = signer.assertion(&a, 0, "x").unwrap();
        signer.rotate();
        assert_eq!(signer.jwks()["keys"].as_array().unwrap().len(), 2);
        verify(&signer, before.to_str().unwrap());
        let after = signer.assertion(&a, 0, "x").unwrap();
        assert_ne!(after, before, "signed with the new key");
        verify(&signer, after.to_str().unwrap());
    }
}
