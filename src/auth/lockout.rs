//! Temporary lockout after repeated failed Basic logins, counted per user name and per client address.

use super::errors::{AuthError, LockScope};
use crate::config::LockoutConfig;
use moka::sync::Cache;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Failure counters (reset after `window`) and active locks (lifted after `lockout`).
pub struct Lockout {
    max_per_user: u32,
    max_per_ip: u32,
    lockout: Duration,
    failures: Cache<String, Arc<AtomicU32>>,
    locked: Cache<String, Instant>,
}

fn user_key(user: &str) -> String {
    format!("u:{}", user.to_lowercase())
}

fn ip_key(ip: IpAddr) -> String {
    format!("ip:{ip}")
}

impl Lockout {
    /// From the configuration.
    pub fn new(cfg: &LockoutConfig) -> Self {
        let window = Duration::from_secs(cfg.window_seconds.max(1));
        let lockout = Duration::from_secs(cfg.lockout_seconds.max(1));
        Self {
            max_per_user: cfg.max_failures_per_user,
            max_per_ip: cfg.max_failures_per_ip,
            lockout,
            failures: Cache::builder().max_capacity(100_000).time_to_live(window).build(),
            locked: Cache::builder().max_capacity(100_000).time_to_live(lockout).build(),
        }
    }

    /// Refuses when the user or the address is locked.
    pub fn check(&self, user: &str, ip: Option<IpAddr>) -> Result<(), AuthError> {
        let locked = |key: String, scope| match self.locked.get(&key) {
            Some(until) if until > Instant::now() => Err(AuthError::LockedOut {
                scope,
                retry_after: until - Instant::now(),
            }),
            _ => Ok(()),
        };
        if self.max_per_ip > 0 {
            if let Some(ip) = ip {
                locked(ip_key(ip), LockScope::ClientIp)?;
            }
        }
        if self.max_per_user > 0 {
            locked(user_key(user), LockScope::User)?;
        }
        Ok(())
    }

    /// Counts a failure; locks the user / address that reached its limit.
    pub fn record_failure(&self, user: &str, ip: Option<IpAddr>) {
        let count = |key: String, max: u32| {
            if max == 0 {
                return;
            }
            let counter = self.failures.get_with(key.clone(), || Arc::new(AtomicU32::new(0)));
            if counter.fetch_add(1, Ordering::AcqRel) + 1 >= max {
                self.locked.insert(key.clone(), Instant::now() + self.lockout);
                self.failures.invalidate(&key);
                tracing::warn!(key = %key, "temporarily locked after repeated failed logins");
            }
        };
        count(user_key(user), self.max_per_user);
        if let Some(ip) = ip {
            count(ip_key(ip), self.max_per_ip);
        }
    }

    /// Clears the user's failure count after a successful login.
    pub fn record_success(&self, user: &str) {
        self.failures.invalidate(&user_key(user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(user: u32, ip: u32) -> LockoutConfig {
        LockoutConfig {
            max_failures_per_user: user,
            max_failures_per_ip: ip,
            window_seconds: 60,
            lockout_seconds: 60,
        }
    }

    #[test]
    fn user_locks_after_limit_case_insensitively() {
        let l = Lockout::new(&cfg(3, 0));
        for _ in 0..2 {
            l.record_failure("Alice", None);
            assert!(l.check("alice", None).is_ok());
        }
        l.record_failure("alice", None);
        let err = l.check("ALICE", None).unwrap_err();
        assert!(
            matches!(
                err,
                AuthError::LockedOut {
                    scope: LockScope::User,
                    ..
                }
            ),
            "{err}"
        );
        assert!(l.check("bob", None).is_ok());
    }

    #[test]
    fn address_locks_across_users_and_success_resets_user_count() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let l = Lockout::new(&cfg(3, 4));
        l.record_failure("a", Some(ip));
        l.record_failure("a", Some(ip));
        l.record_success("a");
        l.record_failure("a", Some(ip));
        assert!(l.check("a", None).is_ok(), "success reset the user counter");
        l.record_failure("b", Some(ip));
        assert!(matches!(
            l.check("c", Some(ip)),
            Err(AuthError::LockedOut {
                scope: LockScope::ClientIp,
                ..
            })
        ));
    }

    #[test]
    fn zero_disables() {
        let l = Lockout::new(&cfg(0, 0));
        for _ in 0..50 {
            l.record_failure("a", Some("192.0.2.1".parse().unwrap()));
        }
        assert!(l.check("a", Some("192.0.2.1".parse().unwrap())).is_ok());
    }
}
