//! `shared_state`: counters shared by the replicas of one deployment (issue 16).

use super::secret::Secret;
use serde::Deserialize;

/// Failed-login counters, lockouts and rate-limit buckets kept in a store every replica reaches, so that N
/// replicas act as one (an attacker does not get N times the guesses, a rate limit of R does not become N x R).
/// Absent (the default): every replica counts in its own memory.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SharedStateConfig {
    /// A Redis (or Valkey) server.
    pub redis: RedisConfig,
}

/// A Redis server holding the shared counters.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port/db`, or `rediss://` for TLS (the system's trusted roots). Required.
    /// Write the password as `${ENV}`; it is never printed (logs, errors and `check` show `***`).
    pub url: Secret,
    /// How long one check waits for Redis before using the local counters instead (degraded). Default 50.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    50
}
