//! Counters shared by the replicas of one deployment (issue 16): the seam between the Basic lockout and the
//! rate limits on one side and a store every replica reaches (Redis, `authgate-shared-state`) on the other.
//!
//! Without `shared_state` in the configuration nothing implements it and both keep their counters in process
//! memory, as before. With it, every check is one call here; when the store is unreachable or slower than its
//! timeout the call answers [`Unavailable`] at once and the caller falls back to its local counters (degraded:
//! never "no limit").

use crate::auth::lockout::Verdict;
use async_trait::async_trait;
use std::time::Duration;

/// The shared store did not answer (unreachable, slower than its timeout, or known to be down): use the
/// local counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the shared state is unavailable")]
pub struct Unavailable;

/// The rules of one lockout counter (per account or per address), as the store applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockLimits {
    /// Failures in one window that lock (> 0).
    pub max: u32,
    /// How long a window of failures lasts from its first failure.
    pub window: Duration,
    /// How long a lock lasts.
    pub lockout: Duration,
    /// Whether an accepted login clears the failures (accounts: yes; addresses: no).
    pub clear_on_accept: bool,
}

/// One lockout counter as the admin API lists it: failures in the current window, and the lock if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockState {
    /// The counter's key without its namespace (`alice`, `192.0.2.7`).
    pub key: String,
    /// Failures in the current window (0 once a lock starts: the lock replaces them).
    pub failures: u32,
    /// How long the lock still lasts, if locked.
    pub locked_for: Option<Duration>,
}

impl LockState {
    /// Whether there is anything to show (failures or a lock).
    pub fn is_active(&self) -> bool {
        self.failures > 0 || self.locked_for.is_some()
    }
}

/// A place taken in a shared lockout counter, to be settled.
pub type Ticket = u64;

/// What a shared reservation attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// A place was taken.
    Taken(Ticket),
    /// Locked for this long.
    Locked(Duration),
    /// Every place is taken by failures and checks in progress.
    Full,
}

/// Counters every replica shares. Keys are namespaced by the caller (`ip:`/`u:` for the lockout,
/// `<route>:ip:`/`<route>:user:` for rate limits); the store adds its own prefix.
#[async_trait]
pub trait SharedCounters: Send + Sync {
    /// Takes one token of a bucket of `rate` per second and at most `burst`: `Ok(Err(wait))` when empty.
    async fn take_token(&self, key: &str, rate: f64, burst: u32) -> Result<Result<(), Duration>, Unavailable>;

    /// How long `key` stays locked, if it is (reserves nothing).
    async fn locked_for(&self, key: &str) -> Result<Option<Duration>, Unavailable>;

    /// Takes a place for one password check of `key`, unless locked or full (failures + checks in progress
    /// reach `limits.max`).
    async fn reserve(&self, key: &str, limits: &LockLimits) -> Result<Reserved, Unavailable>;

    /// Settles a place by the check's verdict; returns whether this locked `key`.
    async fn settle(
        &self,
        key: &str,
        ticket: Ticket,
        verdict: Verdict,
        limits: &LockLimits,
    ) -> Result<bool, Unavailable>;

    /// The lockout counters under `namespace` (`u:`, `ip:`) with failures in a running window or a running
    /// lock, at most `limit` of them (keys without the namespace).
    async fn lock_states(&self, namespace: &str, limit: usize) -> Result<Vec<LockState>, Unavailable>;

    /// Forgets the failures and the lock of `key` (reservations in progress keep their places); returns what
    /// it held, `None` when nothing was active.
    async fn clear_lock(&self, key: &str) -> Result<Option<LockState>, Unavailable>;

    /// Connects afresh and asks the store whether it answers, within its connect timeout, outside the
    /// degraded-mode bookkeeping (for `check`): the reason when it does not (never the password).
    async fn ping(&self) -> Result<(), String>;
    /// Whether the store is currently unreachable (the callers use their local counters).
    fn degraded(&self) -> bool;

    /// The store in use, for `check` and the readiness detail (no password).
    fn describe(&self) -> String;
}
