//! The verified-token cache: SHA-256 of the whole token -> the authenticated result, kept until the token's
//! `exp` (capped by `max_ttl`), bounded in size. A hit costs one hash of the token and one probe.

use super::Authenticated;
use aws_lc_rs::digest;
use moka::sync::Cache;
use moka::Expiry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Cache key: SHA-256 of the token.
pub type TokenDigest = [u8; 32];

/// SHA-256 of `token`.
pub fn digest_of(token: &str) -> TokenDigest {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[derive(Clone)]
struct Entry {
    value: Arc<Authenticated>,
    /// `exp` as Unix seconds.
    expires_at: i64,
    /// How long the entry may live, computed at insert.
    ttl: Duration,
}

struct UntilExpiry;

impl Expiry<TokenDigest, Entry> for UntilExpiry {
    fn expire_after_create(&self, _key: &TokenDigest, value: &Entry, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Bounded cache of verified tokens; disabled when capacity is 0.
pub struct TokenCache {
    cache: Option<Cache<TokenDigest, Entry>>,
    max_ttl: Duration,
}

impl TokenCache {
    /// A cache of at most `capacity` entries, each kept at most `max_ttl`.
    pub fn new(capacity: u64, max_ttl: Duration) -> Self {
        let cache = (capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build()
        });
        Self { cache, max_ttl }
    }

    /// The cached result for `digest`, if present and the token has not expired (`now` in Unix seconds).
    pub fn get(&self, digest: &TokenDigest, now: i64) -> Option<Arc<Authenticated>> {
        let entry = self.cache.as_ref()?.get(digest)?;
        (entry.expires_at > now).then_some(entry.value)
    }

    /// Remembers a verified token that expires at `exp` (Unix seconds).
    pub fn insert(&self, digest: TokenDigest, value: Arc<Authenticated>, exp: i64, now: i64) {
        let Some(cache) = &self.cache else { return };
        let remaining = exp.saturating_sub(now);
        if remaining <= 0 {
            return;
        }
        let ttl = Duration::from_secs(remaining as u64).min(self.max_ttl);
        cache.insert(
            digest,
            Entry {
                value,
                expires_at: exp,
                ttl,
            },
        );
    }

    /// Number of entries (approximate; for diagnostics).
    pub fn len(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.entry_count())
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{AuthMethod, Identity, UserManager};

    fn value() -> Arc<Authenticated> {
        Arc::new(Authenticated::new(
            Identity {
                name: "a".into(),
                fqn: "AAD:a".into(),
                user_manager: UserManager::Aad,
                auth_method: AuthMethod::OAuth,
                email: None,
                display_name: None,
                groups: vec![],
                mfa: false,
                tenant: None,
                scopes: vec![],
                roles: vec![],
                provider: None,
            },
            Vec::new(),
        ))
    }

    #[test]
    fn hit_until_exp_then_miss() {
        let c = TokenCache::new(10, Duration::from_secs(3600));
        let d = digest_of("token");
        c.insert(d, value(), 1000, 900);
        assert!(c.get(&d, 950).is_some());
        assert!(c.get(&d, 1000).is_none(), "expired at exp");
        assert!(c.get(&digest_of("other"), 950).is_none());
    }

    #[test]
    fn already_expired_tokens_are_not_cached_and_zero_capacity_disables() {
        let c = TokenCache::new(10, Duration::from_secs(3600));
        c.insert(digest_of("t"), value(), 100, 200);
        assert!(c.get(&digest_of("t"), 50).is_none());
        let off = TokenCache::new(0, Duration::from_secs(3600));
        off.insert(digest_of("t"), value(), 1000, 900);
        assert!(off.get(&digest_of("t"), 950).is_none());
    }
}
