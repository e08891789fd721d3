//! The verified-token cache: SHA-256 of the whole token -> the authenticated result, kept until the token's
//! `exp` (capped by `max_ttl`), bounded in size. A hit costs one hash of the token and one probe.
//!
//! Every new token is a miss and an insert, so the insert must be cheap too: this is `quick_cache` (S3-FIFO
//! eviction, sharded, no background work), not moka, whose write log, per-entry timer wheel and housekeeping
//! cost about 10 µs of CPU per new token under load (benches/load/README.md). Expiry is checked on read: an
//! expired entry is never returned and is removed when found; until then it only takes one slot, and the
//! eviction of one-hit entries reclaims it first.

use super::Authenticated;
use aws_lc_rs::digest;
use quick_cache::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

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
    /// The end of the entry's life as Unix seconds: the token's `exp`, or the insert time + `max_ttl` when
    /// that is sooner.
    until: i64,
}

/// Bounded cache of verified tokens; disabled when capacity is 0.
pub struct TokenCache {
    cache: Option<Cache<TokenDigest, Entry>>,
    max_ttl_secs: i64,
}

impl TokenCache {
    /// A cache of at most `capacity` entries, each kept at most `max_ttl`.
    pub fn new(capacity: u64, max_ttl: Duration) -> Self {
        let cache = (capacity > 0).then(|| Cache::new(usize::try_from(capacity).unwrap_or(usize::MAX)));
        let max_ttl_secs = i64::try_from(max_ttl.as_secs()).unwrap_or(i64::MAX);
        Self { cache, max_ttl_secs }
    }

    /// The cached result for `digest`, if present and the token has not expired (`now` in Unix seconds).
    pub fn get(&self, digest: &TokenDigest, now: i64) -> Option<Arc<Authenticated>> {
        let cache = self.cache.as_ref()?;
        let entry = cache.get(digest)?;
        if entry.until > now {
            Some(entry.value)
        } else {
            cache.remove(digest);
            None
        }
    }

    /// Remembers a verified token that expires at `exp` (Unix seconds).
    pub fn insert(&self, digest: TokenDigest, value: Arc<Authenticated>, exp: i64, now: i64) {
        let Some(cache) = &self.cache else { return };
        let until = exp.min(now.saturating_add(self.max_ttl_secs));
        if until <= now {
            return;
        }
        cache.insert(digest, Entry { value, until });
    }

    /// Number of entries (for diagnostics; may include expired ones not yet evicted).
    pub fn len(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.len() as u64)
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

    #[test]
    fn max_ttl_caps_the_life_of_an_entry() {
        let c = TokenCache::new(10, Duration::from_secs(60));
        let d = digest_of("long-lived");
        c.insert(d, value(), 10_000, 1_000);
        assert!(c.get(&d, 1_059).is_some());
        assert!(c.get(&d, 1_060).is_none(), "kept max_ttl, not until exp");
        assert_eq!(c.len(), 0, "an expired entry found by a read is removed");
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let c = TokenCache::new(100, Duration::from_secs(3600));
        for i in 0..10_000 {
            c.insert(digest_of(&format!("token-{i}")), value(), 2_000, 1_000);
        }
        assert!(c.len() <= 100, "{} entries", c.len());
        let last = digest_of("token-9999");
        assert!(c.get(&last, 1_500).is_some(), "the newest token is cached");
    }
}
