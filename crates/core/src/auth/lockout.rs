//! Temporary lockout after repeated failed Basic logins, counted per account and per client address.
//!
//! A guess is counted before its password is checked, not after: [`Lockout::reserve_ip`] and
//! [`Lockout::reserve_account`] take a place among the `max_failures` a window allows (failures so far plus
//! checks in progress), atomically, and refuse when none is left. The reservation is then settled by what the
//! check found: a wrong password keeps its place as a failure (and the last one locks), a right one gives it back
//! and clears the account's failures, a check that reached no verdict (directory down, too busy) gives it back.
//! So however many guesses arrive at once, at most `max_failures` are ever checked per window, per account and
//! per address. A reservation dropped unsettled (its request went away mid-check) counts as a failure.

use super::errors::{AuthError, LockScope};
use crate::config::LockoutConfig;
use crate::directory::AccountKey;
use crate::shared::{LockLimits, LockState, Reserved, SharedCounters, Ticket};
use moka::sync::Cache;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a refusal asks the client to wait when the places are taken by checks still in progress.
pub const PENDING_RETRY: Duration = Duration::from_secs(1);

/// Counters of one account or address.
#[derive(Debug, Default)]
struct Slot {
    /// Failures in the current window.
    failures: u32,
    /// Reservations not settled yet.
    in_flight: u32,
    /// When the current window ends (set by its first failure).
    window_ends: Option<Instant>,
    /// Locked until then.
    locked_until: Option<Instant>,
}

/// The limits of one kind of counter.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max: u32,
    window: Duration,
    lockout: Duration,
    scope: LockScope,
}

impl Slot {
    /// Refuses while locked; forgets a lock or a window that is over.
    fn check(&mut self, now: Instant) -> Result<(), Duration> {
        match self.locked_until {
            Some(until) if until > now => return Err(until - now),
            Some(_) => {
                self.locked_until = None;
                self.failures = 0;
                self.window_ends = None;
            }
            None => {}
        }
        if self.window_ends.is_some_and(|end| end <= now) {
            self.failures = 0;
            self.window_ends = None;
        }
        Ok(())
    }

    /// Failures in a running window and the running lock, without forgetting anything.
    fn state(&self, now: Instant) -> (u32, Option<Duration>) {
        match self.locked_until {
            Some(until) if until > now => (self.failures, Some(until - now)),
            Some(_) => (0, None),
            None if self.window_ends.is_some_and(|end| end > now) => (self.failures, None),
            None => (0, None),
        }
    }

    /// Forgets failures and lock (an administrator's unlock); checks in progress keep their places.
    fn clear(&mut self) {
        self.failures = 0;
        self.window_ends = None;
        self.locked_until = None;
    }

    fn reserve(&mut self, now: Instant, max: u32) -> Result<(), Duration> {
        self.check(now)?;
        if self.failures + self.in_flight >= max {
            return Err(PENDING_RETRY);
        }
        self.in_flight += 1;
        Ok(())
    }

    /// Settles one reservation; returns whether this locked the slot.
    fn settle(&mut self, now: Instant, verdict: Verdict, limits: &Limits) -> bool {
        self.in_flight = self.in_flight.saturating_sub(1);
        match verdict {
            Verdict::NoVerdict => false,
            Verdict::Accepted => {
                if limits.scope == LockScope::User {
                    self.failures = 0;
                    self.window_ends = None;
                }
                false
            }
            Verdict::Refused => {
                if self.window_ends.is_none_or(|end| end <= now) {
                    self.failures = 0;
                    self.window_ends = Some(now + limits.window);
                }
                self.failures += 1;
                if self.failures >= limits.max {
                    self.locked_until = Some(now + limits.lockout);
                    self.failures = 0;
                    self.window_ends = None;
                    return true;
                }
                false
            }
        }
    }
}

/// What a password check found, for the reservation it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password was right and the login succeeded: the place is given back and the account's failures
    /// cleared.
    Accepted,
    /// The password was wrong (or no such account): the place stays taken, as a failure.
    Refused,
    /// No verdict about the password (directory unavailable, too busy), or the password was right but the
    /// account may not log in (disabled, MFA): the place is given back.
    NoVerdict,
}

/// Failure counters and locks, per account and per client address.
pub struct Lockout {
    accounts: Counters<AccountKey>,
    ips: Counters<IpAddr>,
}

struct Counters<K> {
    limits: Limits,
    slots: Cache<K, Arc<Mutex<Slot>>>,
    /// The counters every replica shares, if configured; `slots` are then the fallback.
    shared: Option<Arc<dyn SharedCounters>>,
}

impl<K: Hash + Eq + Send + Sync + Clone + std::fmt::Display + 'static> Counters<K> {
    fn new(max: u32, cfg: &LockoutConfig, scope: LockScope, shared: Option<Arc<dyn SharedCounters>>) -> Self {
        let window = Duration::from_secs(cfg.window_seconds.max(1));
        let lockout = Duration::from_secs(cfg.lockout_seconds.max(1));
        Self {
            limits: Limits {
                max,
                window,
                lockout,
                scope,
            },
            // Idle entries go once neither a window nor a lock can still be running.
            slots: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(window.max(lockout))
                .build(),
            shared,
        }
    }

    fn enabled(&self) -> bool {
        self.limits.max > 0
    }

    fn refusal(&self, retry_after: Duration) -> AuthError {
        AuthError::LockedOut {
            scope: self.limits.scope,
            retry_after,
        }
    }

    /// The key of `key` in the shared store.
    fn shared_key(&self, key: &K) -> String {
        let kind = match self.limits.scope {
            LockScope::User => "u",
            LockScope::ClientIp => "ip",
        };
        format!("{kind}:{key}")
    }

    /// The namespace of this counter's keys in the shared store.
    fn namespace(&self) -> &'static str {
        match self.limits.scope {
            LockScope::User => "u:",
            LockScope::ClientIp => "ip:",
        }
    }

    /// The counters of this process with failures or a lock: the first `limit` by key.
    fn local_states(&self, limit: usize) -> Vec<LockState> {
        let now = Instant::now();
        let mut states: Vec<LockState> = self
            .slots
            .iter()
            .filter_map(|(key, slot)| {
                let (failures, locked_for) = slot.lock().unwrap_or_else(|p| p.into_inner()).state(now);
                let state = LockState {
                    key: key.to_string(),
                    failures,
                    locked_for,
                };
                state.is_active().then_some(state)
            })
            .collect();
        states.sort_by(|a, b| a.key.cmp(&b.key));
        states.truncate(limit);
        states
    }

    /// The counters with failures or a lock: the shared store's (with this process's fallback counters that
    /// it does not have, counted while it was unreachable), or this process's.
    async fn states(&self, limit: usize) -> Vec<LockState> {
        let mut local = self.local_states(limit);
        let Some(shared) = &self.shared else {
            return local;
        };
        match shared.lock_states(self.namespace(), limit).await {
            Ok(mut states) => {
                local.retain(|l| !states.iter().any(|s| s.key == l.key));
                states.extend(local);
                states.sort_by(|a, b| a.key.cmp(&b.key));
                states.truncate(limit);
                states
            }
            Err(_) => local,
        }
    }

    /// Forgets the failures and lock of `key` here and in the shared store; what was active, if anything.
    async fn clear(&self, key: &K) -> Option<LockState> {
        let local = self.slots.get(key).and_then(|slot| {
            let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            let (failures, locked_for) = slot.state(Instant::now());
            slot.clear();
            let state = LockState {
                key: key.to_string(),
                failures,
                locked_for,
            };
            state.is_active().then_some(state)
        });
        let shared = match &self.shared {
            Some(shared) => shared.clear_lock(&self.shared_key(key)).await.ok().flatten(),
            None => None,
        };
        shared
            .map(|mut s| {
                s.key = key.to_string();
                s
            })
            .or(local)
    }

    async fn check(&self, key: &K) -> Result<(), AuthError> {
        if !self.enabled() {
            return Ok(());
        }
        if let Some(shared) = &self.shared {
            match shared.locked_for(&self.shared_key(key)).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => return Err(self.refusal(wait)),
                Err(_) => {} // degraded: the local counters decide
            }
        }
        let Some(slot) = self.slots.get(key) else {
            return Ok(());
        };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.check(Instant::now()).map_err(|wait| self.refusal(wait))
    }

    async fn reserve(&self, key: &K) -> Result<Option<Held>, AuthError> {
        if !self.enabled() {
            return Ok(None);
        }
        if let Some(shared) = &self.shared {
            let shared_key = self.shared_key(key);
            match shared.reserve(&shared_key, &self.limits.shared()).await {
                Ok(Reserved::Taken(ticket)) => {
                    return Ok(Some(Held {
                        place: Place::Shared {
                            store: shared.clone(),
                            ticket,
                            slot: self.slots.get_with_by_ref(key, Default::default),
                        },
                        limits: self.limits,
                        key: shared_key,
                    }))
                }
                Ok(Reserved::Locked(wait)) => return Err(self.refusal(wait)),
                Ok(Reserved::Full) => return Err(self.refusal(PENDING_RETRY)),
                Err(_) => {} // degraded: the local counters decide
            }
        }
        let slot = self.slots.get_with_by_ref(key, Default::default);
        let reserved = slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reserve(Instant::now(), self.limits.max);
        match reserved {
            Ok(()) => Ok(Some(Held {
                place: Place::Local(slot),
                limits: self.limits,
                key: key.to_string(),
            })),
            Err(wait) => Err(self.refusal(wait)),
        }
    }
}

impl Limits {
    fn shared(&self) -> LockLimits {
        LockLimits {
            max: self.max,
            window: self.window,
            lockout: self.lockout,
            clear_on_accept: self.scope == LockScope::User,
        }
    }
}

impl Lockout {
    /// From the configuration, counting in process memory only.
    pub fn new(cfg: &LockoutConfig) -> Self {
        Self::with_shared(cfg, None)
    }

    /// From the configuration, counting in `shared` when given (the local counters are then the fallback).
    pub fn with_shared(cfg: &LockoutConfig, shared: Option<Arc<dyn SharedCounters>>) -> Self {
        Self {
            accounts: Counters::new(cfg.max_failures_per_user, cfg, LockScope::User, shared.clone()),
            ips: Counters::new(cfg.max_failures_per_ip, cfg, LockScope::ClientIp, shared),
        }
    }

    /// The accounts with failures in a running window or locked, at most `limit`, by key.
    pub async fn account_states(&self, limit: usize) -> Vec<LockState> {
        self.accounts.states(limit).await
    }

    /// The client addresses with failures in a running window or locked, at most `limit`, by key.
    pub async fn ip_states(&self, limit: usize) -> Vec<LockState> {
        self.ips.states(limit).await
    }

    /// An administrator's unlock of the account `name` (its key, as listed): forgets its failures and lock
    /// everywhere; what was active, `None` when nothing was.
    pub async fn unlock_account(&self, name: &str) -> Option<LockState> {
        self.accounts.clear(&AccountKey::account(name)).await
    }

    /// An administrator's unlock of the client address `ip`, as [`Lockout::unlock_account`].
    pub async fn unlock_ip(&self, ip: IpAddr) -> Option<LockState> {
        self.ips.clear(&ip).await
    }

    /// Refuses when the address is locked (reserves nothing).
    pub async fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), AuthError> {
        match ip {
            Some(ip) => self.ips.check(&ip).await,
            None => Ok(()),
        }
    }

    /// Refuses when the account is locked (reserves nothing): for logins answered without a check.
    pub async fn check_account(&self, account: &AccountKey) -> Result<(), AuthError> {
        self.accounts.check(account).await
    }

    /// Takes a place for one check from `ip`, or refuses.
    pub async fn reserve_ip(&self, ip: Option<IpAddr>) -> Result<Reservation, AuthError> {
        let ip = match ip {
            Some(ip) => self.ips.reserve(&ip).await?,
            None => None,
        };
        Ok(Reservation {
            held: [ip, None],
            settled: false,
        })
    }

    /// Adds a place for `account` to `reservation`, or refuses (giving back what `reservation` held).
    pub async fn reserve_account(
        &self,
        mut reservation: Reservation,
        account: &AccountKey,
    ) -> Result<Reservation, AuthError> {
        match self.accounts.reserve(account).await {
            Ok(held) => {
                reservation.held[1] = held;
                Ok(reservation)
            }
            Err(refused) => {
                reservation.settle(Verdict::NoVerdict).await;
                Err(refused)
            }
        }
    }
}

/// Where a place was taken.
enum Place {
    /// In this process.
    Local(Arc<Mutex<Slot>>),
    /// In the shared store; `slot` counts a refusal the store cannot take any more (degraded meanwhile).
    Shared {
        store: Arc<dyn SharedCounters>,
        ticket: Ticket,
        slot: Arc<Mutex<Slot>>,
    },
}

/// A place taken in one counter.
struct Held {
    place: Place,
    limits: Limits,
    key: String,
}

impl Held {
    /// Settles the place in this process (the local counters, or the fallback of a shared place).
    fn settle_local(slot: &Mutex<Slot>, verdict: Verdict, limits: &Limits) -> bool {
        slot.lock()
            .unwrap_or_else(|p| p.into_inner())
            .settle(Instant::now(), verdict, limits)
    }

    async fn settle(self, verdict: Verdict) {
        let locked = match &self.place {
            Place::Local(slot) => Self::settle_local(slot, verdict, &self.limits),
            Place::Shared { store, ticket, slot } => {
                match store.settle(&self.key, *ticket, verdict, &self.limits.shared()).await {
                    Ok(locked) => locked,
                    // The store's place expires by itself; a failure must still count somewhere.
                    Err(_) => Self::settle_local(slot, verdict, &self.limits),
                }
            }
        };
        if locked {
            let scope = match self.limits.scope {
                LockScope::User => "account",
                LockScope::ClientIp => "client address",
            };
            tracing::warn!(scope, key = %self.key, "temporarily locked after repeated failed logins");
        }
    }
}

/// Places taken for one password check (address, account), to be settled by its verdict.
#[must_use = "settle the reservation with the check's verdict"]
pub struct Reservation {
    held: [Option<Held>; 2],
    settled: bool,
}

impl Reservation {
    /// Settles every place by `verdict`.
    pub async fn settle(mut self, verdict: Verdict) {
        self.settled = true;
        for held in self.held.iter_mut().filter_map(Option::take) {
            held.settle(verdict).await;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // The check's request went away before its verdict: count it, or cancelling would be a free guess.
        for held in self.held.iter_mut().filter_map(Option::take) {
            match &held.place {
                Place::Local(slot) => {
                    Held::settle_local(slot, Verdict::Refused, &held.limits);
                }
                Place::Shared { slot, .. } => match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(held.settle(Verdict::Refused));
                    }
                    Err(_) => {
                        Held::settle_local(slot, Verdict::Refused, &held.limits);
                    }
                },
            }
        }
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

    fn key(name: &str) -> AccountKey {
        AccountKey::account(name)
    }

    /// One failed check of `account` from `ip`.
    async fn fail(l: &Lockout, account: &str, ip: Option<IpAddr>) -> Result<(), AuthError> {
        let r = l.reserve_ip(ip).await?;
        l.reserve_account(r, &key(account))
            .await?
            .settle(Verdict::Refused)
            .await;
        Ok(())
    }

    fn locked(result: Result<impl Sized, AuthError>, scope: LockScope) -> bool {
        matches!(result, Err(AuthError::LockedOut { scope: s, .. }) if s == scope)
    }

    #[tokio::test]
    async fn locks_and_failures_are_listed_and_an_unlock_lets_the_account_in_at_once() {
        let l = Lockout::new(&cfg(2, 5));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        fail(&l, "Alice", Some(ip)).await.unwrap();
        fail(&l, "alice", Some(ip)).await.unwrap();
        fail(&l, "bob", Some(ip)).await.unwrap();
        assert!(locked(l.check_account(&key("alice")).await, LockScope::User));
        let users = l.account_states(10).await;
        assert_eq!(users.len(), 2, "{users:?}");
        assert_eq!((users[0].key.as_str(), users[0].locked_for.is_some()), ("alice", true));
        assert_eq!(
            (users[1].key.as_str(), users[1].failures, users[1].locked_for),
            ("bob", 1, None)
        );
        let first: Vec<String> = l.account_states(1).await.into_iter().map(|s| s.key).collect();
        assert_eq!(first, ["alice"], "bounded, and the first by key");
        let ips = l.ip_states(10).await;
        assert_eq!(
            (ips[0].key.as_str(), ips[0].failures, ips[0].locked_for),
            ("192.0.2.7", 3, None)
        );

        let before = l.unlock_account("ALICE").await.expect("alice was locked");
        assert!(before.locked_for.is_some());
        assert!(l.check_account(&key("alice")).await.is_ok());
        assert!(l.account_states(10).await.iter().all(|s| s.key != "alice"));
        assert_eq!(l.unlock_account("alice").await, None, "nothing left to unlock");
        assert_eq!(l.unlock_account("nobody").await, None);
        assert_eq!(l.unlock_ip(ip).await.map(|s| s.failures), Some(3));
        assert!(l.ip_states(10).await.is_empty());
    }

    #[tokio::test]
    async fn account_locks_after_limit_whatever_the_case() {
        let l = Lockout::new(&cfg(3, 0));
        for _ in 0..2 {
            fail(&l, "Alice", None).await.unwrap();
            assert!(l.check_account(&key("alice")).await.is_ok());
        }
        fail(&l, "alice", None).await.unwrap();
        assert!(locked(l.check_account(&key("ALICE")).await, LockScope::User));
        assert!(locked(
            l.reserve_account(l.reserve_ip(None).await.unwrap(), &key("alice"))
                .await,
            LockScope::User
        ));
        assert!(l.check_account(&key("bob")).await.is_ok());
    }

    #[tokio::test]
    async fn places_are_taken_before_the_check_so_concurrent_guesses_cannot_exceed_the_limit() {
        let l = Lockout::new(&cfg(5, 0));
        // A hundred guesses arrive before any is checked: five get a place.
        let mut held = Vec::new();
        let mut refused = 0;
        for _ in 0..100 {
            match l.reserve_account(l.reserve_ip(None).await.unwrap(), &key("bob")).await {
                Ok(r) => held.push(r),
                Err(e) => {
                    assert!(matches!(e, AuthError::LockedOut { .. }), "{e}");
                    refused += 1;
                }
            }
        }
        assert_eq!((held.len(), refused), (5, 95));
        for r in held {
            r.settle(Verdict::Refused).await;
        }
        assert!(
            locked(l.check_account(&key("bob")).await, LockScope::User),
            "the fifth failure locked"
        );
    }

    #[tokio::test]
    async fn a_success_gives_its_place_back_and_clears_failures_and_no_verdict_gives_it_back() {
        let l = Lockout::new(&cfg(3, 0));
        fail(&l, "a", None).await.unwrap();
        fail(&l, "a", None).await.unwrap();
        l.reserve_account(l.reserve_ip(None).await.unwrap(), &key("a"))
            .await
            .unwrap()
            .settle(Verdict::Accepted)
            .await;
        fail(&l, "a", None).await.unwrap();
        fail(&l, "a", None).await.unwrap();
        assert!(
            l.check_account(&key("a")).await.is_ok(),
            "the success cleared the count"
        );
        for _ in 0..10 {
            l.reserve_account(l.reserve_ip(None).await.unwrap(), &key("a"))
                .await
                .unwrap()
                .settle(Verdict::NoVerdict)
                .await;
        }
        assert!(l.check_account(&key("a")).await.is_ok(), "no verdict, no failure");
        // A reservation dropped unsettled counts as a failure.
        drop(
            l.reserve_account(l.reserve_ip(None).await.unwrap(), &key("a"))
                .await
                .unwrap(),
        );
        assert!(locked(l.check_account(&key("a")).await, LockScope::User));
    }

    #[tokio::test]
    async fn address_locks_across_accounts_and_a_refused_account_gives_the_address_place_back() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let l = Lockout::new(&cfg(2, 4));
        fail(&l, "a", Some(ip)).await.unwrap();
        fail(&l, "a", Some(ip)).await.unwrap();
        // `a` is locked: refusing it takes no place from the address.
        for _ in 0..10 {
            assert!(locked(
                l.reserve_account(l.reserve_ip(Some(ip)).await.unwrap(), &key("a"))
                    .await,
                LockScope::User
            ));
        }
        fail(&l, "b", Some(ip)).await.unwrap();
        fail(&l, "c", Some(ip)).await.unwrap();
        assert!(locked(l.check_ip(Some(ip)).await, LockScope::ClientIp));
        assert!(locked(l.reserve_ip(Some(ip)).await, LockScope::ClientIp));
        assert!(l.check_ip(Some("192.0.2.8".parse().unwrap())).await.is_ok());
    }

    #[test]
    fn a_lock_ends_and_a_window_expires() {
        let limits = Limits {
            max: 2,
            window: Duration::from_secs(10),
            lockout: Duration::from_secs(30),
            scope: LockScope::User,
        };
        let t0 = Instant::now();
        let mut slot = Slot::default();
        slot.reserve(t0, 2).unwrap();
        slot.settle(t0, Verdict::Refused, &limits);
        // The window is over: the next failure starts a new one.
        let t1 = t0 + Duration::from_secs(11);
        slot.reserve(t1, 2).unwrap();
        assert!(!slot.settle(t1, Verdict::Refused, &limits));
        slot.reserve(t1, 2).unwrap();
        assert!(slot.settle(t1, Verdict::Refused, &limits), "two in one window lock");
        assert_eq!(
            slot.reserve(t1 + Duration::from_secs(5), 2),
            Err(Duration::from_secs(25))
        );
        slot.reserve(t1 + Duration::from_secs(30), 2).unwrap();
    }

    #[tokio::test]
    async fn zero_disables() {
        let l = Lockout::new(&cfg(0, 0));
        for _ in 0..50 {
            fail(&l, "a", Some("192.0.2.1".parse().unwrap())).await.unwrap();
        }
        assert!(l.check_ip(Some("192.0.2.1".parse().unwrap())).await.is_ok());
        assert!(l.check_account(&key("a")).await.is_ok());
    }
}
