//! The verified-token cache: the token -> the authenticated result, kept until the token's `exp` (capped by
//! `max_ttl`), bounded in size.
//!
//! A hit costs one keyed fast hash of the token (ahash, seeded from the system's random source once per
//! process, so clients cannot choose colliding tokens) to find the entry, and one complete, constant-time
//! comparison of the token with the one the entry holds: the hash only finds, it never authenticates, so two
//! tokens with the same hash cannot stand for each other. Tokens up to [`MAX_STORED_TOKEN_BYTES`] are kept
//! whole; longer ones are kept as their SHA-256 (compared the same way, the digest computed on every hit), which
//! bounds the memory to about that many bytes per entry. (It was SHA-256 of every token, about 12,000 instructions per hit for a typical
//! 700-byte token; the hash and comparison are a few hundred. benches/instructions.rs: `bearer_cached`.)
//!
//! Every new token is a miss and an insert, so the insert must be cheap too: this is `quick_cache` (S3-FIFO
//! eviction, sharded, no background work), not moka, whose write log, per-entry timer wheel and housekeeping
//! cost about 10 µs of CPU per new token under load (benches/load/README.md). Expiry is checked on read: an
//! expired entry is never returned and is removed when found; until then it only takes one slot, and the
//! eviction of one-hit entries reclaims it first.

use super::Authenticated;
use aws_lc_rs::{constant_time, digest};
use quick_cache::sync::Cache;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

/// Longest token kept whole in an entry; longer ones are kept as their SHA-256 (so a full cache of the default
/// 100,000 entries holds at most about 200 MB of tokens; typical access tokens are 1-2 KB).
pub const MAX_STORED_TOKEN_BYTES: usize = 2048;

/// The hasher that finds entries: ahash with a random key of this process.
pub type KeyedHasher = ahash::RandomState;

/// A [`KeyedHasher`] seeded from the system's random source.
fn random_hasher() -> KeyedHasher {
    let mut seed = [0u8; 32];
    // Without randomness (never seen on a working system) the seeds stay fixed: a client that knew them could
    // make its tokens share entries, which costs cache hits, never correctness (the token is compared whole).
    let _ = aws_lc_rs::rand::fill(&mut seed);
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&seed[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    ahash::RandomState::with_seeds(word(0), word(1), word(2), word(3))
}

/// What an entry holds to recognise its token.
enum Proof {
    /// The token itself (at most [`MAX_STORED_TOKEN_BYTES`]).
    Token(Box<[u8]>),
    /// SHA-256 of a longer token.
    Digest([u8; 32]),
}

impl Proof {
    fn of(token: &[u8]) -> Self {
        if token.len() <= MAX_STORED_TOKEN_BYTES {
            Self::Token(token.into())
        } else {
            Self::Digest(sha256(token))
        }
    }

    /// Whether `token` is the one this proof was made of: compared whole and in constant time.
    fn matches(&self, token: &[u8]) -> bool {
        match self {
            Self::Token(stored) => {
                stored.len() == token.len() && constant_time::verify_slices_are_equal(stored, token).is_ok()
            }
            Self::Digest(stored) => {
                token.len() > MAX_STORED_TOKEN_BYTES
                    && constant_time::verify_slices_are_equal(stored, &sha256(token)).is_ok()
            }
        }
    }
}

fn sha256(token: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, token);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

struct Entry {
    proof: Proof,
    value: Arc<Authenticated>,
    /// The end of the entry's life as Unix seconds: the token's `exp`, or the insert time + `max_ttl` when
    /// that is sooner.
    until: i64,
}

/// Bounded cache of verified tokens; disabled when capacity is 0. `S` finds entries (tests give a hasher
/// under which every token collides).
pub struct TokenCache<S = KeyedHasher> {
    /// Entries by the keyed hash of their token (one `Arc` clone per hit, never a copy of the token).
    cache: Option<Cache<u64, Arc<Entry>>>,
    hasher: S,
    max_ttl_secs: i64,
}

impl TokenCache {
    /// A cache of at most `capacity` entries, each kept at most `max_ttl`.
    pub fn new(capacity: u64, max_ttl: Duration) -> Self {
        Self::with_hasher(capacity, max_ttl, random_hasher())
    }
}

impl<S: BuildHasher> TokenCache<S> {
    /// [`TokenCache::new`] with the hasher that finds entries.
    pub fn with_hasher(capacity: u64, max_ttl: Duration, hasher: S) -> Self {
        let cache = (capacity > 0).then(|| Cache::new(usize::try_from(capacity).unwrap_or(usize::MAX)));
        let max_ttl_secs = i64::try_from(max_ttl.as_secs()).unwrap_or(i64::MAX);
        Self {
            cache,
            hasher,
            max_ttl_secs,
        }
    }

    /// The cached result for `token`, if present and not expired (`now` in Unix seconds).
    pub fn get(&self, token: impl AsRef<[u8]>, now: i64) -> Option<Arc<Authenticated>> {
        let token = token.as_ref();
        let cache = self.cache.as_ref()?;
        let key = self.hasher.hash_one(token);
        let entry = cache.get(&key)?;
        if !entry.proof.matches(token) {
            // Another token with the same hash: not this one's entry.
            return None;
        }
        if entry.until > now {
            Some(entry.value.clone())
        } else {
            cache.remove(&key);
            None
        }
    }

    /// Remembers a verified `token` that expires at `exp` (Unix seconds).
    pub fn insert(&self, token: &str, value: Arc<Authenticated>, exp: i64, now: i64) {
        let Some(cache) = &self.cache else { return };
        let until = exp.min(now.saturating_add(self.max_ttl_secs));
        if until <= now {
            return;
        }
        let key = self.hasher.hash_one(token.as_bytes());
        let entry = Entry {
            proof: Proof::of(token.as_bytes()),
            value,
            until,
        };
        cache.insert(key, Arc::new(entry));
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
        c.insert("token", value(), 1000, 900);
        assert!(c.get("token", 950).is_some());
        assert!(c.get("token", 999).is_some(), "every hit checks the expiry");
        assert!(c.get("token", 1000).is_none(), "expired at exp");
        assert!(c.get("other", 950).is_none());
    }

    #[test]
    fn already_expired_tokens_are_not_cached_and_zero_capacity_disables() {
        let c = TokenCache::new(10, Duration::from_secs(3600));
        c.insert("t", value(), 100, 200);
        assert!(c.get("t", 50).is_none());
        let off = TokenCache::new(0, Duration::from_secs(3600));
        off.insert("t", value(), 1000, 900);
        assert!(off.get("t", 950).is_none());
    }

    #[test]
    fn max_ttl_caps_the_life_of_an_entry() {
        let c = TokenCache::new(10, Duration::from_secs(60));
        c.insert("long-lived", value(), 10_000, 1_000);
        assert!(c.get("long-lived", 1_059).is_some());
        assert!(c.get("long-lived", 1_060).is_none(), "kept max_ttl, not until exp");
        assert_eq!(c.len(), 0, "an expired entry found by a read is removed");
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let c = TokenCache::new(100, Duration::from_secs(3600));
        for i in 0..10_000 {
            c.insert(&format!("token-{i}"), value(), 2_000, 1_000);
        }
        assert!(c.len() <= 100, "{} entries", c.len());
        assert!(c.get("token-9999", 1_500).is_some(), "the newest token is cached");
    }

    /// Every token hashes alike: finding an entry proves nothing, only the comparison does.
    #[derive(Default, Clone)]
    struct Colliding;

    impl BuildHasher for Colliding {
        type Hasher = Constant;
        fn build_hasher(&self) -> Constant {
            Constant
        }
    }

    struct Constant;

    impl std::hash::Hasher for Constant {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }

    fn one_byte_off(token: &str, at: usize) -> String {
        let mut bytes = token.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_token_sharing_the_hash_of_a_cached_one_is_not_answered_from_the_cache() {
        let c = TokenCache::with_hasher(10, Duration::from_secs(3600), Colliding);
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
        c.insert(token, value(), 2_000, 1_000);
        assert!(c.get(token, 1_500).is_some());
        for at in [0, token.len() / 2, token.len() - 1] {
            assert!(c.get(one_byte_off(token, at), 1_500).is_none(), "byte {at} differs");
        }
        assert!(c.get(&token[..token.len() - 1], 1_500).is_none(), "a prefix");
        assert!(c.get(format!("{token}x"), 1_500).is_none(), "a longer token");
        assert!(c.get(token, 1_500).is_some(), "a mismatch does not evict the entry");
    }

    #[test]
    fn long_tokens_are_kept_as_their_digest_and_compared_whole() {
        let c = TokenCache::with_hasher(10, Duration::from_secs(3600), Colliding);
        let long = "a".repeat(MAX_STORED_TOKEN_BYTES + 100);
        c.insert(&long, value(), 2_000, 1_000);
        assert!(c.get(&long, 1_500).is_some());
        assert!(c.get(one_byte_off(&long, MAX_STORED_TOKEN_BYTES + 50), 1_500).is_none());
        assert!(
            c.get(&long[..MAX_STORED_TOKEN_BYTES], 1_500).is_none(),
            "a stored-size prefix"
        );
        assert!(c.get(&long, 2_000).is_none(), "expired");
    }
}
