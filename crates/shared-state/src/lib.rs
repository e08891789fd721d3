//! Counters shared by the replicas of one deployment (issue 16) in Redis or Valkey: the lockout's failures,
//! locks and reservations, and the rate limits' buckets, behind `authgate_core::shared::SharedCounters`.
//!
//! One script call per check ([`scripts`]), on one multiplexed connection, within `timeout_ms`; when the server
//! is unreachable or slow the callers fall back to their local counters ([`health`]: degraded mode, a metric, one
//! log line per transition, a background probe that brings it back). The only place the redis crate is named.

pub mod health;
pub mod scripts;

use async_trait::async_trait;
use authgate_core::auth::lockout::Verdict;
use authgate_core::config::{ConfigIssue, SharedStateConfig};
use authgate_core::metrics::Metrics;
use authgate_core::shared::{LockLimits, LockState, Reserved, SharedCounters, Ticket, Unavailable};
use health::{Connector, Health, Timing};
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Prefix of every key authgate writes.
const PREFIX: &str = "authgate";

/// How long a reservation holds its place in the store if its replica never settles it (killed mid-check):
/// longer than any password check (directory timeouts are seconds), short enough not to lock anyone out for
/// long.
pub const RESERVATION_HOLD: Duration = Duration::from_secs(30);

/// Pause between two probes while degraded.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The shared counters in one Redis server.
pub struct RedisCounters {
    health: Arc<Health<RedisConnector>>,
    /// Tickets: a random base per process, then a counter, so replicas never collide.
    tickets: AtomicU64,
    url: String,
}

/// Opens multiplexed connections that answered a PING.
pub struct RedisConnector {
    client: redis::Client,
    config: AsyncConnectionConfig,
}

#[async_trait]
impl Connector for RedisConnector {
    type Conn = MultiplexedConnection;

    async fn connect(&self) -> Result<MultiplexedConnection, String> {
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
            .map_err(describe_error)?;
        redis::cmd("PING")
            .query_async::<()>(&mut conn)
            .await
            .map_err(describe_error)?;
        Ok(conn)
    }
}

/// A redis error as text: its kind and the server's message, never the URL (it may carry the password).
fn describe_error(e: redis::RedisError) -> String {
    match e.detail() {
        Some(detail) => format!("{:?}: {detail}", e.kind()),
        None => format!("{:?}", e.kind()),
    }
}

impl RedisCounters {
    /// From the configuration: checks the URL (connecting happens on first use, not here).
    pub fn from_config(cfg: &SharedStateConfig, metrics: Arc<Metrics>) -> Result<Arc<Self>, Vec<ConfigIssue>> {
        let redis = &cfg.redis;
        let mut issues = Vec::new();
        if !(1..=10_000).contains(&redis.timeout_ms) {
            issues.push(ConfigIssue::new(
                "shared_state.redis.timeout_ms",
                "must be between 1 and 10000",
            ));
        }
        let url = redact(redis.url.expose());
        let client = match redis::Client::open(redis.url.expose()) {
            Ok(client) => Some(client),
            Err(_) => {
                issues.push(ConfigIssue::new(
                    "shared_state.redis.url",
                    format!("`{url}` is not a redis://, rediss://, valkey:// or valkeys:// URL (redis://host:port/db)"),
                ));
                None
            }
        };
        let (Some(client), true) = (client, issues.is_empty()) else {
            return Err(issues);
        };
        let timeout = Duration::from_millis(redis.timeout_ms);
        let timing = Timing {
            timeout,
            // Connecting (TCP, TLS, AUTH) is off the request path after the first call: give it longer.
            connect_timeout: timeout.max(Duration::from_secs(1)),
            probe_interval: PROBE_INTERVAL,
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timing.connect_timeout))
            .set_response_timeout(Some(timeout));
        let base = uuid::Uuid::new_v4().as_u64_pair().0;
        Ok(Arc::new(Self {
            health: Health::new(RedisConnector { client, config }, timing, metrics, url.clone()),
            tickets: AtomicU64::new(base),
            url,
        }))
    }

    fn ticket(&self) -> Ticket {
        self.tickets.fetch_add(1, Ordering::Relaxed)
    }
}

/// The lockout keys of `key`: its hash and its reservations.
fn lock_keys(key: &str) -> (String, String) {
    (format!("{PREFIX}:lo:{key}"), format!("{PREFIX}:lo:{key}:r"))
}

/// The index of the lockout counters of `key`'s namespace (`u`, `ip`: what precedes the first `:`).
fn lock_index(key: &str) -> String {
    let namespace = key.split(':').next().unwrap_or_default();
    format!("{PREFIX}:lo-index:{namespace}")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl SharedCounters for RedisCounters {
    async fn take_token(&self, key: &str, rate: f64, burst: u32) -> Result<Result<(), Duration>, Unavailable> {
        let key = format!("{PREFIX}:rl:{key}");
        let interval_us = 1_000_000.0 / rate;
        let wait_us: i64 = self
            .health
            .run(|mut conn| async move {
                scripts::TAKE_TOKEN
                    .key(&key)
                    .arg(interval_us)
                    .arg(burst)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(describe_error)
            })
            .await?;
        Ok(match u64::try_from(wait_us) {
            Ok(wait) if wait > 0 => Err(Duration::from_micros(wait)),
            _ => Ok(()),
        })
    }

    async fn locked_for(&self, key: &str) -> Result<Option<Duration>, Unavailable> {
        let (hash, _) = lock_keys(key);
        let wait_ms: i64 = self
            .health
            .run(|mut conn| async move {
                scripts::LOCKED_FOR
                    .key(&hash)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(describe_error)
            })
            .await?;
        Ok(u64::try_from(wait_ms)
            .ok()
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis))
    }

    async fn reserve(&self, key: &str, limits: &LockLimits) -> Result<Reserved, Unavailable> {
        let (hash, reservations) = lock_keys(key);
        let ticket = self.ticket();
        let max = limits.max;
        let answer: i64 = self
            .health
            .run(|mut conn| async move {
                scripts::RESERVE
                    .key(&hash)
                    .key(&reservations)
                    .arg(max)
                    .arg(millis(RESERVATION_HOLD))
                    .arg(ticket)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(describe_error)
            })
            .await?;
        Ok(match answer {
            0 => Reserved::Taken(ticket),
            ms if ms > 0 => Reserved::Locked(Duration::from_millis(ms.unsigned_abs())),
            _ => Reserved::Full,
        })
    }

    async fn settle(
        &self,
        key: &str,
        ticket: Ticket,
        verdict: Verdict,
        limits: &LockLimits,
    ) -> Result<bool, Unavailable> {
        let (hash, reservations) = lock_keys(key);
        let (index, name) = (lock_index(key), key.to_string());
        let verdict = match verdict {
            Verdict::Accepted => "accepted",
            Verdict::Refused => "refused",
            Verdict::NoVerdict => "none",
        };
        let limits = *limits;
        let locked: i64 = self
            .health
            .run(|mut conn| async move {
                scripts::SETTLE
                    .key(&hash)
                    .key(&reservations)
                    .key(&index)
                    .arg(ticket)
                    .arg(verdict)
                    .arg(u8::from(limits.clear_on_accept))
                    .arg(limits.max)
                    .arg(millis(limits.window))
                    .arg(millis(limits.lockout))
                    .arg(&name)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(describe_error)
            })
            .await?;
        Ok(locked == 1)
    }

    async fn lock_states(&self, namespace: &str, limit: usize) -> Result<Vec<LockState>, Unavailable> {
        let index = lock_index(namespace);
        let prefix = format!("{PREFIX}:lo:");
        let rows: Vec<(String, i64, i64)> = self
            .health
            .run(|mut conn| async move {
                scripts::LIST
                    .key(&index)
                    .arg(limit)
                    .arg(&prefix)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(describe_error)
            })
            .await?;
        let mut states: Vec<LockState> = rows
            .into_iter()
            .filter_map(|(name, failures, left)| {
                Some(LockState {
                    key: name.strip_prefix(namespace)?.to_string(),
                    failures: u32::try_from(failures).unwrap_or(0),
                    locked_for: lock_left(left),
                })
            })
            .collect();
        states.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(states)
    }

    async fn clear_lock(&self, key: &str) -> Result<Option<LockState>, Unavailable> {
        let (hash, _) = lock_keys(key);
        let (index, name) = (lock_index(key), key.to_string());
        let (failures, left): (i64, i64) = self
            .health
            .run(|mut conn| async move {
                scripts::CLEAR
                    .key(&hash)
                    .key(&index)
                    .arg(&name)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(describe_error)
            })
            .await?;
        let state = LockState {
            key: key.split_once(':').map_or(key, |(_, k)| k).to_string(),
            failures: u32::try_from(failures).unwrap_or(0),
            locked_for: lock_left(left),
        };
        Ok(state.is_active().then_some(state))
    }

    async fn ping(&self) -> Result<(), String> {
        self.health.probe_once().await
    }

    fn degraded(&self) -> bool {
        self.health.is_degraded()
    }

    fn describe(&self) -> String {
        self.url.clone()
    }
}

/// A lock's remaining milliseconds as the scripts answer them (0: not locked).
fn lock_left(ms: i64) -> Option<Duration> {
    u64::try_from(ms).ok().filter(|&ms| ms > 0).map(Duration::from_millis)
}

/// `url` with its password (if any) replaced by `***`; text that is not a URL is replaced whole.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            } else if !parsed.username().is_empty() {
                // `redis://secret@host`: a lone user part is the password for redis-rs.
                let _ = parsed.set_username("***");
            }
            if parsed.query().is_some() {
                parsed.set_query(None);
            }
            parsed.to_string()
        }
        Err(_) => "<unparsable URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords() {
        assert_eq!(redact("redis://127.0.0.1:6379/0"), "redis://127.0.0.1:6379/0");
        assert_eq!(redact("redis://:s3cret@host:6379/0"), "redis://:***@host:6379/0");
        assert_eq!(redact("rediss://user:s3cret@host/1"), "rediss://user:***@host/1");
        assert_eq!(redact("redis://host/0?pass=s3cret"), "redis://host/0");
        assert_eq!(redact("not a url s3cret"), "<unparsable URL>");
    }

    #[test]
    fn bad_settings_are_reported_without_the_password() {
        let cfg = |url: &str, timeout_ms| SharedStateConfig {
            redis: authgate_core::config::RedisConfig {
                url: authgate_core::config::Secret::new(url),
                timeout_ms,
            },
        };
        let metrics = Arc::new(Metrics::new());
        let Err(issues) = RedisCounters::from_config(&cfg("http://:s3cret@host/0", 0), metrics.clone()) else {
            panic!("accepted");
        };
        let text: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text.iter().all(|t| !t.contains("s3cret")), "{text:?}");
        assert!(RedisCounters::from_config(&cfg("redis://:pw@127.0.0.1:1/0", 50), metrics).is_ok());
    }
}
