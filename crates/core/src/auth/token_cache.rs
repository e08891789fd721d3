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
//!
//! A token is cached on its second verification, not its first (a [`Doorkeeper`], as in TinyLFU): an entry is
//! about 2.4 KB (the token, the identity, its rendered headers), and a token used once, the common case of
//! clients that fetch a token per call, would only fill memory and push out tokens that are used again. The
//! first verification records 4 bytes of the token's hash; the second finds them and caches the token. The
//! cost is one more signature check per token that is used again; the gain, with tokens used once, is a heap
//! that does not grow (on this project's VMs fresh memory is the costliest part of it: benches/load/README.md).

use super::Authenticated;
use aws_lc_rs::{constant_time, digest};
use quick_cache::sync::Cache;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, Ordering};
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

/// The tokens verified once and not cached (yet): a table of 32-bit tags of their keyed hash in buckets of
/// [`Doorkeeper::WAYS`] slots, a fixed size set at start-up, so remembering a token allocates nothing. A token
/// is admitted to the cache when its tag is found, that is on its second verification, unless tokens verified
/// in between took its slot (then on a later one): a record lives in any free slot of its bucket, and only a
/// full bucket gives one up, so a few tokens that share a bucket and alternate do not keep displacing each
/// other. A tag shared by chance admits a token early, which costs nothing but the entry. Races between
/// threads lose a record or admit twice, both harmless.
struct Doorkeeper {
    /// Tag + 1 (0: empty) of the tokens recorded; buckets of `WAYS` slots, a power of two of them.
    slots: Box<[AtomicU32]>,
}

impl Doorkeeper {
    /// Slots per bucket (16 bytes).
    const WAYS: usize = 4;
    /// Slots per cache entry (at least: the table is rounded up to a power of two).
    const SLOTS_PER_ENTRY: usize = 4;
    /// At most 16 MB, whatever the capacity.
    const MAX_SLOTS: usize = 1 << 22;

    fn new(capacity: usize) -> Self {
        let slots = capacity
            .saturating_mul(Self::SLOTS_PER_ENTRY)
            .clamp(64, Self::MAX_SLOTS)
            .next_power_of_two();
        Self {
            slots: (0..slots).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Whether the token with hash `key` was recorded before (the record is cleared: the token goes into the
    /// cache); otherwise records it.
    fn admit(&self, key: u64) -> bool {
        // Bucket from the low bits, tag from the high 32 (+1 keeps it apart from an empty slot), and the slot a
        // full bucket gives up from bits 24-25: three independent parts of the hash.
        let buckets = self.slots.len() / Self::WAYS;
        let start = (key as usize & (buckets - 1)) * Self::WAYS;
        let bucket = &self.slots[start..start + Self::WAYS];
        let tag = ((key >> 32) as u32).wrapping_add(1).max(1);
        if let Some(found) = bucket.iter().find(|slot| slot.load(Ordering::Relaxed) == tag) {
            found.store(0, Ordering::Relaxed);
            return true;
        }
        let free = bucket.iter().find(|slot| slot.load(Ordering::Relaxed) == 0);
        let slot = free.unwrap_or(&bucket[(key >> 24) as usize % Self::WAYS]);
        slot.store(tag, Ordering::Relaxed);
        false
    }
}

/// Bounded cache of verified tokens; disabled when capacity is 0. `S` finds entries (tests give a hasher
/// under which every token collides).
pub struct TokenCache<S = KeyedHasher> {
    /// Entries by the keyed hash of their token (one `Arc` clone per hit, never a copy of the token), and
    /// the doorkeeper that admits a token on its second verification.
    cache: Option<(Cache<u64, Arc<Entry>>, Doorkeeper)>,
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
        let cache = (capacity > 0).then(|| {
            let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
            (Cache::new(capacity), Doorkeeper::new(capacity))
        });
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
        let (cache, _) = self.cache.as_ref()?;
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

    /// Offers a verified `token` that expires at `exp` (Unix seconds): cached on its second verification (see
    /// [`Doorkeeper`]). Returns whether it was cached.
    pub fn insert(&self, token: &str, value: Arc<Authenticated>, exp: i64, now: i64) -> bool {
        let Some((cache, doorkeeper)) = &self.cache else {
            return false;
        };
        let until = exp.min(now.saturating_add(self.max_ttl_secs));
        if until <= now {
            return false;
        }
        let key = self.hasher.hash_one(token.as_bytes());
        if !doorkeeper.admit(key) {
            return false;
        }
        let entry = Entry {
            proof: Proof::of(token.as_bytes()),
            value,
            until,
        };
        cache.insert(key, Arc::new(entry));
        true
    }

    /// Number of entries (for diagnostics; may include expired ones not yet evicted).
    pub fn len(&self) -> u64 {
        self.cache.as_ref().map_or(0, |(c, _)| c.len() as u64)
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

    /// Verifies `token` twice, as two requests would: the first only records it, the second caches it.
    fn verified_twice<S: BuildHasher>(c: &TokenCache<S>, token: &str, exp: i64, now: i64) -> bool {
        let first = c.insert(token, value(), exp, now);
        first || c.insert(token, value(), exp, now)
    }

    #[test]
    fn a_token_is_cached_on_its_second_verification() {
        let c = TokenCache::new(10, Duration::from_secs(3600));
        assert!(
            !c.insert("token", value(), 1000, 900),
            "the first verification only records it"
        );
        assert!(c.get("token", 950).is_none());
        assert_eq!(c.len(), 0);
        assert!(c.insert("token", value(), 1000, 900), "the second caches it");
        assert!(c.get("token", 950).is_some());
        assert!(!c.insert("other", value(), 1000, 900));
        assert!(c.get("other", 950).is_none());
    }

    #[test]
    fn tokens_used_once_take_no_entry_and_do_not_push_out_used_ones() {
        let c = TokenCache::new(100, Duration::from_secs(3600));
        assert!(verified_twice(&c, "used", 2_000, 1_000));
        for i in 0..10_000 {
            c.insert(&format!("once-{i}"), value(), 2_000, 1_000);
        }
        // Only a 32-bit tag shared by chance with one of the 4 records of its bucket (about 1 in 100,000 for
        // these 10,000) would admit one of them.
        assert_eq!(c.len(), 1, "only the token used again has an entry");
        assert!(c.get("used", 1_500).is_some(), "a token used again stays");
    }

    /// Hashes a token written as hex digits to their value, to place records in chosen slots.
    #[derive(Default, Clone)]
    struct Hex;

    impl BuildHasher for Hex {
        type Hasher = HexHasher;
        fn build_hasher(&self) -> HexHasher {
            HexHasher(0)
        }
    }

    struct HexHasher(u64);

    impl std::hash::Hasher for HexHasher {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            // Hashing a slice writes its length first: only the hex digits count.
            if let Some(v) = std::str::from_utf8(bytes)
                .ok()
                .and_then(|t| u64::from_str_radix(t, 16).ok())
            {
                self.0 = v;
            }
        }
    }

    #[test]
    fn a_token_whose_record_was_overwritten_is_cached_on_a_later_verification() {
        // Five tokens of one bucket (low bits 5), tags 1 to 5; the slot a full bucket gives up: bits 24-25 (0).
        let t = |i: u64| format!("{i:x}00000005");
        let c = TokenCache::with_hasher(10, Duration::from_secs(3600), Hex);
        for i in 1..=4 {
            assert!(!c.insert(&t(i), value(), 2_000, 1_000), "token {i} recorded");
        }
        assert!(
            !c.insert(&t(5), value(), 2_000, 1_000),
            "the bucket was full: 5 takes 1's slot"
        );
        assert!(c.insert(&t(2), value(), 2_000, 1_000), "2's record survived: cached");
        assert!(
            !c.insert(&t(1), value(), 2_000, 1_000),
            "1's record was gone: recorded again"
        );
        assert!(
            c.insert(&t(1), value(), 2_000, 1_000),
            "and cached on the next verification"
        );
        assert!(c.get(t(1), 1_500).is_some() && c.get(t(2), 1_500).is_some());
        assert!(c.get(t(3), 1_500).is_none() && c.get(t(5), 1_500).is_none());
        // Tokens that share a bucket and alternate are cached on their second verification each.
        let d = TokenCache::with_hasher(10, Duration::from_secs(3600), Hex);
        for token in [t(1), t(2), t(1), t(2)] {
            d.insert(&token, value(), 2_000, 1_000);
        }
        assert!(d.get(t(1), 1_500).is_some() && d.get(t(2), 1_500).is_some());
        // A token sharing a bucket and tag with a recorded one is admitted at once: it costs an entry, never a
        // wrong answer (the entry is found only by the whole token).
        let shared = TokenCache::with_hasher(10, Duration::from_secs(3600), Colliding);
        assert!(!shared.insert("x", value(), 2_000, 1_000));
        assert!(shared.insert("y", value(), 2_000, 1_000));
        assert!(shared.get("x", 1_500).is_none() && shared.get("y", 1_500).is_some());
    }

    #[test]
    fn hit_until_exp_then_miss() {
        let c = TokenCache::new(10, Duration::from_secs(3600));
        assert!(verified_twice(&c, "token", 1000, 900));
        assert!(c.get("token", 950).is_some());
        assert!(c.get("token", 999).is_some(), "every hit checks the expiry");
        assert!(c.get("token", 1000).is_none(), "expired at exp");
        assert!(c.get("other", 950).is_none());
    }

    #[test]
    fn already_expired_tokens_are_not_cached_and_zero_capacity_disables() {
        let c = TokenCache::new(10, Duration::from_secs(3600));
        assert!(!verified_twice(&c, "t", 100, 200));
        assert!(c.get("t", 50).is_none());
        let off = TokenCache::new(0, Duration::from_secs(3600));
        assert!(!verified_twice(&off, "t", 1000, 900));
        assert!(off.get("t", 950).is_none());
    }

    #[test]
    fn max_ttl_caps_the_life_of_an_entry() {
        let c = TokenCache::new(10, Duration::from_secs(60));
        assert!(verified_twice(&c, "long-lived", 10_000, 1_000));
        assert!(c.get("long-lived", 1_059).is_some());
        assert!(c.get("long-lived", 1_060).is_none(), "kept max_ttl, not until exp");
        assert_eq!(c.len(), 0, "an expired entry found by a read is removed");
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let c = TokenCache::new(100, Duration::from_secs(3600));
        for i in 0..10_000 {
            verified_twice(&c, &format!("token-{i}"), 2_000, 1_000);
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
        assert!(verified_twice(&c, token, 2_000, 1_000));
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
        assert!(verified_twice(&c, &long, 2_000, 1_000));
        assert!(c.get(&long, 1_500).is_some());
        assert!(c.get(one_byte_off(&long, MAX_STORED_TOKEN_BYTES + 50), 1_500).is_none());
        assert!(
            c.get(&long[..MAX_STORED_TOKEN_BYTES], 1_500).is_none(),
            "a stored-size prefix"
        );
        assert!(c.get(&long, 2_000).is_none(), "expired");
    }
}
