//! Token-bucket rate limits per route: one bucket per client address (checked before authentication, so a
//! flood costs no signature checks) and one per user (checked after). Buckets live in a bounded moka cache
//! and disappear when idle.
//!
//! With shared state (issue 16) the buckets live in the store every replica reaches, one call per check; the
//! local buckets are the fallback while it is unavailable (degraded), never "no limit".

use authgate_core::shared::SharedCounters;
use moka::sync::Cache;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second, at most `burst`.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// One limit (per IP or per user) of one route.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Cache<String, Arc<Mutex<Bucket>>>,
    shared: Option<Shared>,
}

/// The shared buckets of one limiter.
struct Shared {
    store: Arc<dyn SharedCounters>,
    /// `<route>:ip` or `<route>:user`: the namespace of this limiter's keys in the store.
    namespace: String,
    burst: u32,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .field("shared", &self.shared.as_ref().map(|s| &s.namespace))
            .finish()
    }
}

impl RateLimiter {
    /// A limiter of `requests_per_second` (> 0) with bursts of `burst` (>= 1).
    pub fn new(requests_per_second: f64, burst: u32) -> Self {
        let rate = requests_per_second.max(f64::MIN_POSITIVE);
        let burst = f64::from(burst.max(1));
        // An idle bucket refills completely after burst/rate seconds; after that it can be forgotten.
        let idle = Duration::from_secs_f64((burst / rate).clamp(1.0, 3600.0));
        Self {
            rate,
            burst,
            buckets: Cache::builder().max_capacity(100_000).time_to_idle(idle).build(),
            shared: None,
        }
    }

    /// The same limiter with its buckets in `store`, under `namespace` (`<route>:ip`, `<route>:user`).
    pub fn shared(mut self, store: Arc<dyn SharedCounters>, namespace: String) -> Self {
        self.shared = Some(Shared {
            store,
            namespace,
            // `burst` was built from a u32 >= 1.
            burst: self.burst as u32,
        });
        self
    }

    /// Takes one token for `key`; `Err(wait)` when the bucket is empty, with the time until the next token.
    pub async fn check(&self, key: &str) -> Result<(), Duration> {
        if let Some(shared) = &self.shared {
            let key = format!("{}:{key}", shared.namespace);
            if let Ok(verdict) = shared.store.take_token(&key, self.rate, shared.burst).await {
                return verdict;
            }
            // Unavailable (degraded): this process's bucket decides.
        }
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let bucket = self.buckets.get_with_by_ref(key, || {
            Arc::new(Mutex::new(Bucket {
                tokens: self.burst,
                updated: now,
            }))
        });
        let Ok(mut b) = bucket.lock() else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
        }
    }
}

/// The limits of one route.
#[derive(Debug, Default)]
pub struct RouteLimits {
    /// Per client address.
    pub per_ip: Option<RateLimiter>,
    /// Per authenticated user (FQN).
    pub per_user: Option<RateLimiter>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: f64, burst: u32) -> RateLimiter {
        RateLimiter::new(rate, burst)
    }

    #[test]
    fn burst_then_refill_at_rate() {
        let l = limiter(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at("a", t0).is_ok());
        }
        let wait = l.check_at("a", t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(l.check_at("b", t0).is_ok(), "keys are independent");
        assert!(
            l.check_at("a", t0 + Duration::from_millis(500)).is_ok(),
            "one token after 1/rate"
        );
        assert!(l.check_at("a", t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn bucket_never_exceeds_burst() {
        let l = limiter(100.0, 2);
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(60);
        assert!(l.check_at("a", t0).is_ok());
        assert!(l.check_at("a", later).is_ok());
        assert!(l.check_at("a", later).is_ok());
        assert!(l.check_at("a", later).is_err());
    }
}
