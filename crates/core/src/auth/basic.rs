//! Basic authentication: lockout, verified-credential cache, single-flight, then the directory.
//!
//! The cache key is an HMAC (key generated at start-up, never stored) of user name and password, so the
//! cache holds no password and a memory dump does not give one away; a hit skips the argon2 check and costs
//! microseconds. Identical concurrent logins share one check. A check counts its guess against the client
//! address and the resolved account before the password is verified ([`Lockout`]), so concurrent guesses
//! cannot outrun the lockout, and every login name of one account shares one counter.

use super::credentials::BasicCredentials;
use super::errors::{AuthError, LockScope};
use super::lockout::{Lockout, Verdict};
use super::single_flight::{Role, SingleFlight};
use super::{Authenticated, HeaderSet};
use crate::directory::{AccountKey, DirectoryError, DirectoryUser, UserDirectory};
use crate::identity::{AuthMethod, FqnFormats, Identity};
use crate::metrics::Metrics;
use aws_lc_rs::hmac;
use quick_cache::sync::Cache;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Verified logins, remembered under a keyed HMAC of user name and password (the key generated at start-up,
/// never stored), and the checks in flight under the same key. Kept across reloads that change neither
/// `caches.credentials` nor how identities are named; an entry then stays valid only while its account's
/// entry in the directory is unchanged (see [`UserDirectory::version`]).
///
/// The entries are a `quick_cache` (S3-FIFO eviction, sharded, no background work; like the verified-token
/// cache), each with its end of life checked on every hit; it was moka, whose read path (its read log, per-entry
/// timer and SipHash of the key) cost about 1,900 instructions per hit (benches/load/README.md).
pub struct CredentialCache {
    key: hmac::Key,
    entries: Option<Cache<[u8; 32], Arc<Verified>>>,
    /// How long a verified login is remembered.
    ttl: Duration,
    flights: SingleFlight<[u8; 32], Result<Arc<Verified>, AuthError>>,
}

/// A verified login.
struct Verified {
    authenticated: Arc<Authenticated>,
    account: AccountKey,
    /// The account's version it was verified at.
    version: u64,
    /// When it is forgotten: verified + the cache's time to live.
    expires: Instant,
}

impl CredentialCache {
    /// A cache of `capacity` entries (0: none) living `ttl`.
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("system randomness for the cache key");
        let entries = (capacity > 0).then(|| Cache::new(usize::try_from(capacity).unwrap_or(usize::MAX)));
        Self {
            key,
            entries,
            ttl: ttl.max(Duration::from_millis(1)),
            flights: SingleFlight::default(),
        }
    }

    fn key_of(&self, creds: &BasicCredentials) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&(creds.user.len() as u64).to_le_bytes());
        ctx.update(creds.user.as_bytes());
        ctx.update(creds.password.as_bytes());
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Verified logins held (expired ones included until they are found or evicted).
    pub fn len(&self) -> u64 {
        self.entries.as_ref().map_or(0, |c| c.len() as u64)
    }

    /// Whether no login is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Basic authentication against one directory.
pub struct BasicAuthenticator {
    directory: Arc<dyn UserDirectory>,
    credentials: Arc<CredentialCache>,
    lockout: Arc<Lockout>,
    fqn: FqnFormats,
    headers: Arc<HeaderSet>,
    metrics: Arc<Metrics>,
}

/// Settings of the Basic authenticator.
pub struct BasicSettings {
    /// Verified logins (possibly those of the configuration before a reload).
    pub credentials: Arc<CredentialCache>,
    /// Failure counters (possibly those of the configuration before a reload).
    pub lockout: Arc<Lockout>,
    /// FQN formats.
    pub fqn: FqnFormats,
}

impl BasicAuthenticator {
    /// Builds the authenticator.
    pub fn new(
        directory: Arc<dyn UserDirectory>,
        settings: BasicSettings,
        headers: Arc<HeaderSet>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            directory,
            credentials: settings.credentials,
            lockout: settings.lockout,
            fqn: settings.fqn,
            headers,
            metrics,
        }
    }

    /// The verified logins, for the next configuration to keep.
    pub fn credentials(&self) -> &Arc<CredentialCache> {
        &self.credentials
    }

    /// The failure counters, for the next configuration to keep.
    pub fn lockout(&self) -> &Arc<Lockout> {
        &self.lockout
    }

    /// Authenticates `creds` from `client_ip`: a locked address is refused first; a remembered login is
    /// answered at once (unless its account is locked); otherwise one check runs for all identical concurrent
    /// requests, its guess counted against the address and the account before the password is checked.
    pub async fn authenticate(
        &self,
        creds: &BasicCredentials,
        client_ip: Option<IpAddr>,
    ) -> Result<Arc<Authenticated>, AuthError> {
        self.lockout.check_ip(client_ip).await?;
        let key = self.credentials.key_of(creds);
        if let Some(entries) = &self.credentials.entries {
            if let Some(hit) = entries.get(&key) {
                if Instant::now() < hit.expires && self.directory.version(&hit.account) == Some(hit.version) {
                    self.lockout.check_account(&hit.account).await?;
                    self.metrics.credential_cache_hits.inc();
                    return Ok(hit.authenticated.clone());
                }
                // Expired, or the account's entry changed since (a reload): check again.
                entries.remove(&key);
            }
            self.metrics.credential_cache_misses.inc();
        }
        let mut retried = false;
        loop {
            let (result, role) = self
                .credentials
                .flights
                .run(key, || self.check(creds, client_ip, key))
                .await;
            if role == Role::Ran {
                return result.map(|v| v.authenticated.clone());
            }
            self.metrics.credential_checks_shared.inc();
            match result {
                Ok(verified) => {
                    self.lockout.check_ip(client_ip).await?;
                    self.lockout.check_account(&verified.account).await?;
                    return Ok(verified.authenticated.clone());
                }
                // The address of the request that ran the check was locked, not necessarily this one's.
                Err(AuthError::LockedOut {
                    scope: LockScope::ClientIp,
                    ..
                }) if !retried => retried = true,
                Err(e) => return Err(e),
            }
        }
    }

    /// One check: reserve the address, resolve the account, reserve it, verify, settle.
    async fn check(
        &self,
        creds: &BasicCredentials,
        client_ip: Option<IpAddr>,
        key: [u8; 32],
    ) -> Result<Arc<Verified>, AuthError> {
        let reservation = self.lockout.reserve_ip(client_ip).await?;
        let login = match self.directory.resolve(&creds.user).await {
            Ok(login) => login,
            Err(e) => {
                reservation.settle(Verdict::NoVerdict).await;
                return Err(refusal(e));
            }
        };
        let account = login.account().clone();
        let reservation = self.lockout.reserve_account(reservation, &account).await?;
        match login.verify(&creds.password).await {
            Ok(user) => {
                reservation.settle(Verdict::Accepted).await;
                let identity = self.identity_of(user);
                let headers = self.headers.render(&identity);
                let authenticated = Arc::new(Authenticated::new(identity, headers));
                let version = self.directory.version(&account);
                let verified = Arc::new(Verified {
                    authenticated,
                    account,
                    version: version.unwrap_or_default(),
                    expires: Instant::now() + self.credentials.ttl,
                });
                if let (Some(entries), Some(_)) = (&self.credentials.entries, version) {
                    entries.insert(key, verified.clone());
                }
                Ok(verified)
            }
            Err(e) => {
                reservation
                    .settle(match e {
                        DirectoryError::InvalidCredentials => Verdict::Refused,
                        _ => Verdict::NoVerdict,
                    })
                    .await;
                Err(refusal(e))
            }
        }
    }

    fn identity_of(&self, user: DirectoryUser) -> Identity {
        let fqn = self.fqn.get(&user.user_manager).fqn(&user.name, user.domain.as_deref());
        Identity {
            fqn,
            user_manager: user.user_manager,
            auth_method: AuthMethod::Basic,
            email: user.email,
            display_name: user.display_name,
            groups: user.groups,
            mfa: user.mfa,
            tenant: user.tenant,
            scopes: Vec::new(),
            roles: Vec::new(),
            provider: None,
            name: user.name,
        }
    }
}

/// What a directory's refusal means to the client.
fn refusal(e: DirectoryError) -> AuthError {
    match e {
        DirectoryError::InvalidCredentials => AuthError::InvalidUserOrPassword,
        DirectoryError::Disabled => AuthError::AccountDisabled,
        DirectoryError::MfaRequired => AuthError::MfaRequiresOAuth,
        DirectoryError::ConsentRequired(what) => AuthError::ConsentRequired(what),
        DirectoryError::Unavailable(reason) => {
            AuthError::Unavailable(format!("the user directory is unavailable ({reason}); try again later"))
        }
        DirectoryError::Busy { retry_after } => AuthError::Busy { retry_after },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HashingConfig, HeaderNamesConfig, LockoutConfig};
    use crate::directory::embedded::{EmbeddedDirectory, UserEntry};
    use crate::directory::hashing::HashingLimiter;
    use crate::directory::Login;
    use crate::identity::UserManager;
    use async_trait::async_trait;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;
    use tokio::sync::Semaphore;
    use zeroize::Zeroizing;

    /// A directory whose password checks are counted and, while `gate` has no permits, held.
    struct CountingDirectory {
        checks: AtomicUsize,
        gate: Semaphore,
    }

    impl CountingDirectory {
        fn open() -> Arc<Self> {
            Self::new(Semaphore::MAX_PERMITS)
        }

        fn closed() -> Arc<Self> {
            Self::new(0)
        }

        fn new(permits: usize) -> Arc<Self> {
            Arc::new(Self {
                checks: AtomicUsize::new(0),
                gate: Semaphore::new(permits),
            })
        }

        fn checks(&self) -> usize {
            self.checks.load(Ordering::SeqCst)
        }
    }

    struct CountingLogin<'a> {
        directory: &'a CountingDirectory,
        login: String,
        key: AccountKey,
    }

    #[async_trait]
    impl UserDirectory for CountingDirectory {
        async fn resolve<'a>(&'a self, login: &str) -> Result<Box<dyn Login + 'a>, DirectoryError> {
            Ok(Box::new(CountingLogin {
                directory: self,
                login: login.into(),
                key: AccountKey::unknown(login),
            }))
        }

        fn version(&self, _account: &AccountKey) -> Option<u64> {
            Some(1)
        }
    }

    #[async_trait]
    impl Login for CountingLogin<'_> {
        fn account(&self) -> &AccountKey {
            &self.key
        }

        async fn verify(self: Box<Self>, password: &str) -> Result<DirectoryUser, DirectoryError> {
            self.directory.checks.fetch_add(1, Ordering::SeqCst);
            let _pass = self.directory.gate.acquire().await;
            if password != "pw" {
                return Err(DirectoryError::InvalidCredentials);
            }
            Ok(DirectoryUser {
                name: self.login.clone(),
                user_manager: UserManager::Ad,
                domain: Some("CONTOSO".into()),
                email: None,
                display_name: None,
                groups: vec![],
                mfa: false,
                manager: None,
                tenant: None,
            })
        }
    }

    fn lockout(per_user: u32, per_ip: u32) -> Arc<Lockout> {
        Arc::new(Lockout::new(&LockoutConfig {
            max_failures_per_user: per_user,
            max_failures_per_ip: per_ip,
            ..Default::default()
        }))
    }

    fn authenticator_with(
        dir: Arc<dyn UserDirectory>,
        credentials: Arc<CredentialCache>,
        lockout: Arc<Lockout>,
        metrics: Arc<Metrics>,
    ) -> BasicAuthenticator {
        BasicAuthenticator::new(
            dir,
            BasicSettings {
                credentials,
                lockout,
                fqn: FqnFormats::default(),
            },
            Arc::new(HeaderSet::from_config(&HeaderNamesConfig::default()).unwrap()),
            metrics,
        )
    }

    fn authenticator(dir: Arc<dyn UserDirectory>) -> BasicAuthenticator {
        authenticator_with(
            dir,
            Arc::new(CredentialCache::new(100, Duration::from_secs(60))),
            lockout(2, 0),
            Arc::new(Metrics::new()),
        )
    }

    fn creds(user: &str, password: &str) -> BasicCredentials {
        BasicCredentials {
            user: user.into(),
            password: Zeroizing::new(password.into()),
        }
    }

    async fn wait_for(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "{what}: not reached in 10s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn success_is_cached_and_wrong_password_is_not() {
        let dir = CountingDirectory::open();
        let auth = authenticator(dir.clone());
        let first = auth.authenticate(&creds("alice", "pw"), None).await.unwrap();
        assert_eq!(first.identity.fqn, "K2:CONTOSO\\alice");
        auth.authenticate(&creds("alice", "pw"), None).await.unwrap();
        assert_eq!(dir.checks(), 1, "second call served from cache");
        assert_eq!(
            auth.authenticate(&creds("alice", "px"), None).await.err(),
            Some(AuthError::InvalidUserOrPassword)
        );
        assert_eq!(dir.checks(), 2, "a different password is a different key");
    }

    #[tokio::test]
    async fn lockout_refuses_even_the_right_password() {
        let dir = CountingDirectory::open();
        let auth = authenticator(dir);
        for _ in 0..2 {
            let _ = auth.authenticate(&creds("bob", "bad"), None).await;
        }
        assert!(matches!(
            auth.authenticate(&creds("bob", "pw"), None).await,
            Err(AuthError::LockedOut { .. })
        ));
    }

    /// Issue 13 item 3: the lock was checked before the password check and the failure recorded after it,
    /// so concurrent guesses were all checked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_guesses_cannot_outrun_the_lockout() {
        let dir = CountingDirectory::closed();
        let auth = Arc::new(authenticator_with(
            dir.clone(),
            Arc::new(CredentialCache::new(100, Duration::from_secs(60))),
            lockout(5, 0),
            Arc::new(Metrics::new()),
        ));
        let guesses: Vec<_> = (0..100)
            .map(|i| {
                let auth = auth.clone();
                tokio::spawn(async move { auth.authenticate(&creds("bob", &format!("guess-{i}")), None).await })
            })
            .collect();
        // The checks that got a place are held; every other guess is answered without one.
        wait_for("95 guesses refused", || {
            guesses.iter().filter(|g| g.is_finished()).count() == 95
        })
        .await;
        dir.gate.add_permits(Semaphore::MAX_PERMITS / 2);
        let mut statuses = HashMap::new();
        for guess in guesses {
            *statuses
                .entry(guess.await.unwrap().err().unwrap().reason())
                .or_insert(0) += 1;
        }
        assert_eq!(dir.checks(), 5, "only max_failures guesses reach the directory");
        assert_eq!(statuses["invalid_credentials"], 5, "{statuses:?}");
        assert_eq!(statuses["locked_out"], 95, "{statuses:?}");
        assert!(
            matches!(
                auth.authenticate(&creds("bob", "pw"), None).await,
                Err(AuthError::LockedOut { .. })
            ),
            "the right password is refused while locked"
        );
        assert_eq!(dir.checks(), 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_guesses_from_one_address_cannot_outrun_its_lockout() {
        let dir = CountingDirectory::closed();
        let auth = Arc::new(authenticator_with(
            dir.clone(),
            Arc::new(CredentialCache::new(100, Duration::from_secs(60))),
            lockout(0, 20),
            Arc::new(Metrics::new()),
        ));
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let guesses: Vec<_> = (0..100)
            .map(|i| {
                let auth = auth.clone();
                tokio::spawn(async move { auth.authenticate(&creds(&format!("user{i}"), "bad"), Some(ip)).await })
            })
            .collect();
        wait_for("80 guesses refused", || {
            guesses.iter().filter(|g| g.is_finished()).count() == 80
        })
        .await;
        dir.gate.add_permits(Semaphore::MAX_PERMITS / 2);
        for guess in guesses {
            assert!(guess.await.unwrap().is_err());
        }
        assert_eq!(dir.checks(), 20);
        assert!(matches!(
            auth.authenticate(&creds("alice", "pw"), Some(ip)).await,
            Err(AuthError::LockedOut {
                scope: LockScope::ClientIp,
                ..
            })
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn identical_concurrent_logins_share_one_check_and_failures_are_not_remembered() {
        let metrics = Arc::new(Metrics::new());
        for (password, expect_ok) in [("pw", true), ("wrong", false)] {
            let dir = CountingDirectory::closed();
            let auth = Arc::new(authenticator_with(
                dir.clone(),
                Arc::new(CredentialCache::new(100, Duration::from_secs(60))),
                lockout(5, 20),
                metrics.clone(),
            ));
            let shared_before = metrics.credential_checks_shared.get();
            let key = auth.credentials.key_of(&creds("carol", password));
            let ip: IpAddr = "192.0.2.10".parse().unwrap();
            let logins: Vec<_> = (0..50)
                .map(|_| {
                    let auth = auth.clone();
                    tokio::spawn(async move { auth.authenticate(&creds("carol", password), Some(ip)).await })
                })
                .collect();
            wait_for("50 callers in one flight", || {
                auth.credentials.flights.callers(&key) == 50
            })
            .await;
            dir.gate.add_permits(Semaphore::MAX_PERMITS / 2);
            for login in logins {
                assert_eq!(login.await.unwrap().is_ok(), expect_ok, "{password}");
            }
            assert_eq!(dir.checks(), 1, "{password}: one check for fifty identical logins");
            assert_eq!(metrics.credential_checks_shared.get() - shared_before, 49);
            assert_eq!(auth.credentials.flights.in_flight(), 0);
            // One failure was counted, not fifty; and it is not remembered: the next try checks again.
            let again = auth.authenticate(&creds("carol", password), Some(ip)).await;
            assert_eq!(again.is_ok(), expect_ok);
            assert_eq!(dir.checks(), if expect_ok { 1 } else { 2 }, "{password}");
        }
    }

    fn entry(name: &str, password: &str, groups: &[&str]) -> UserEntry {
        UserEntry {
            name: name.into(),
            user_manager: "ad".into(),
            domain: Some("CONTOSO".into()),
            password_hash: Some(crate::directory::embedded::hash_password_with_cost(password, 1024).unwrap()),
            mfa: false,
            email: Some(format!("{name}@contoso.com")),
            display_name: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            manager: None,
            disabled: false,
        }
    }

    /// Issue 13 item 4: each login name of one account had its own failure counter.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_login_name_of_an_account_shares_its_counter() {
        let dir =
            EmbeddedDirectory::from_entries(vec![entry("bob", "bob-pw", &[]), entry("eve", "eve-pw", &[])]).unwrap();
        let auth = authenticator_with(
            Arc::new(dir),
            Arc::new(CredentialCache::new(100, Duration::from_secs(60))),
            lockout(5, 0),
            Arc::new(Metrics::new()),
        );
        for login in ["bob", "BOB", "contoso\\bob", "bob@contoso.com", "Bob@Contoso.com"] {
            assert_eq!(
                auth.authenticate(&creds(login, "guess"), None).await.err(),
                Some(AuthError::InvalidUserOrPassword),
                "{login}"
            );
        }
        for login in ["bob", "CONTOSO\\bob", "bob@contoso.com"] {
            assert!(
                matches!(
                    auth.authenticate(&creds(login, "bob-pw"), None).await,
                    Err(AuthError::LockedOut {
                        scope: LockScope::User,
                        ..
                    })
                ),
                "{login} is the locked account"
            );
        }
        assert!(auth.authenticate(&creds("eve", "eve-pw"), None).await.is_ok());
        // A name without an account is counted the same way, as itself (no existence oracle).
        for login in ["nobody", "CONTOSO\\nobody", "OTHER\\Nobody", "NOBODY", "nobody"] {
            assert_eq!(
                auth.authenticate(&creds(login, "guess"), None).await.err(),
                Some(AuthError::InvalidUserOrPassword),
                "{login}"
            );
        }
        assert!(matches!(
            auth.authenticate(&creds("nobody", "guess"), None).await,
            Err(AuthError::LockedOut { .. })
        ));
    }

    /// Issue 13 item 2: every wrong login took an argon2 check of its own, unbounded.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_wrong_logins_are_hashed_within_the_memory_budget() {
        let metrics = Arc::new(Metrics::new());
        // Hashes of 4 MiB in a budget of 12: three checks at once, however many logins arrive.
        let hashing = Arc::new(HashingLimiter::new(
            &HashingConfig {
                max_memory_mib: 12,
                queue_timeout_ms: 60_000,
                max_queue: 1000,
            },
            &metrics,
        ));
        let mut users = vec![];
        for i in 0..8 {
            let mut e = entry(&format!("user{i}"), "right", &[]);
            e.password_hash = Some(crate::directory::embedded::hash_password_with_cost("right", 4 * 1024).unwrap());
            users.push(e);
        }
        let dir = EmbeddedDirectory::from_entries(users)
            .unwrap()
            .with_hashing(hashing.clone());
        let auth = Arc::new(authenticator_with(
            Arc::new(dir),
            Arc::new(CredentialCache::new(100, Duration::from_secs(60))),
            lockout(0, 0),
            metrics.clone(),
        ));
        let logins: Vec<_> = (0..60)
            .map(|i| {
                let auth = auth.clone();
                // Known and unknown users alike (unknown ones are checked against the dummy hash).
                let user = if i % 2 == 0 {
                    format!("user{}", i % 8)
                } else {
                    format!("nobody{i}")
                };
                tokio::spawn(async move { auth.authenticate(&creds(&user, &format!("wrong{i}")), None).await })
            })
            .collect();
        for login in logins {
            assert_eq!(login.await.unwrap().err(), Some(AuthError::InvalidUserOrPassword));
        }
        assert!(
            (1..=3).contains(&hashing.peak_concurrency()),
            "peak {} concurrent checks",
            hashing.peak_concurrency()
        );
        assert_eq!(metrics.password_hashes_in_flight.get(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_memory_in_time_is_busy_and_counts_no_failure() {
        let metrics = Arc::new(Metrics::new());
        let hashing = Arc::new(HashingLimiter::new(
            &HashingConfig {
                max_memory_mib: 1,
                queue_timeout_ms: 0,
                max_queue: 100,
            },
            &metrics,
        ));
        let dir = EmbeddedDirectory::from_entries(vec![entry("bob", "bob-pw", &[])])
            .unwrap()
            .with_hashing(hashing.clone());
        let auth = Arc::new(authenticator_with(
            Arc::new(dir),
            Arc::new(CredentialCache::new(100, Duration::from_secs(60))),
            lockout(1, 0),
            metrics.clone(),
        ));
        // Hold the only slot with a check of our own.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let hashing = hashing.clone();
            tokio::spawn(async move { hashing.run(1024, move || hold.recv().ok()).await })
        };
        wait_for("the blocker runs", || metrics.password_hashes_in_flight.get() == 1).await;
        let busy = auth.authenticate(&creds("bob", "bob-pw"), None).await.err();
        assert_eq!(
            busy,
            Some(AuthError::Busy {
                retry_after: Duration::from_secs(1)
            })
        );
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        // With max_failures_per_user 1, a counted failure would have locked bob.
        assert!(auth.authenticate(&creds("bob", "bob-pw"), None).await.is_ok());
    }

    /// A remembered login is forgotten after the cache's time to live: the next request checks the password
    /// again (a miss).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn remembered_logins_expire() {
        let metrics = Arc::new(Metrics::new());
        let credentials = Arc::new(CredentialCache::new(100, Duration::from_millis(50)));
        let auth = authenticator_with(
            Arc::new(EmbeddedDirectory::from_entries(vec![entry("alice", "alice-pw", &[])]).unwrap()),
            credentials.clone(),
            lockout(5, 0),
            metrics.clone(),
        );
        auth.authenticate(&creds("alice", "alice-pw"), None).await.unwrap();
        let started = Instant::now();
        auth.authenticate(&creds("alice", "alice-pw"), None).await.unwrap();
        if started.elapsed() < Duration::from_millis(50) {
            assert_eq!(
                metrics.credential_cache_hits.get(),
                1,
                "remembered within its time to live"
            );
        }
        // Past the time to live (a deadline, not a sleep as synchronisation: the entry's end is a point in time).
        let past = started + Duration::from_millis(60);
        while Instant::now() < past {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let misses = metrics.credential_cache_misses.get();
        let hits = metrics.credential_cache_hits.get();
        auth.authenticate(&creds("alice", "alice-pw"), None).await.unwrap();
        assert_eq!(metrics.credential_cache_hits.get(), hits, "expired: not a hit");
        assert_eq!(
            metrics.credential_cache_misses.get(),
            misses + 1,
            "expired: checked again"
        );
    }

    /// The credential cache outlives a reload for users whose entry did not change.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn remembered_logins_survive_a_reload_unless_their_entry_changed() {
        let metrics = Arc::new(Metrics::new());
        let credentials = Arc::new(CredentialCache::new(100, Duration::from_secs(60)));
        let counters = lockout(5, 0);
        let users = vec![
            entry("alice", "alice-pw", &["Finance"]),
            entry("bob", "bob-pw", &["Sales"]),
        ];
        let before = authenticator_with(
            Arc::new(EmbeddedDirectory::from_entries(users.clone()).unwrap()),
            credentials.clone(),
            counters.clone(),
            metrics.clone(),
        );
        for user in ["alice", "bob"] {
            before
                .authenticate(&creds(user, &format!("{user}-pw")), None)
                .await
                .unwrap();
        }
        assert_eq!(credentials.len(), 2);
        // The reload: alice's groups changed (same password hash), bob's entry did not.
        let mut changed = users.clone();
        changed[0].groups = vec!["Auditors".into()];
        let after = authenticator_with(
            Arc::new(EmbeddedDirectory::from_entries(changed).unwrap()),
            credentials.clone(),
            counters,
            metrics.clone(),
        );
        let hits = metrics.credential_cache_hits.get();
        let bob = after.authenticate(&creds("bob", "bob-pw"), None).await.unwrap();
        assert_eq!(
            metrics.credential_cache_hits.get(),
            hits + 1,
            "bob's login was remembered"
        );
        assert_eq!(bob.identity.groups, vec!["Sales".to_string()]);
        let alice = after.authenticate(&creds("alice", "alice-pw"), None).await.unwrap();
        assert_eq!(
            metrics.credential_cache_hits.get(),
            hits + 1,
            "alice's was checked again"
        );
        assert_eq!(alice.identity.groups, vec!["Auditors".to_string()]);
        // A user removed by the reload is not let in by a remembered login.
        let gone = authenticator_with(
            Arc::new(EmbeddedDirectory::from_entries(vec![entry("alice", "alice-pw", &["Auditors"])]).unwrap()),
            credentials,
            lockout(5, 0),
            metrics.clone(),
        );
        assert_eq!(
            gone.authenticate(&creds("bob", "bob-pw"), None).await.err(),
            Some(AuthError::InvalidUserOrPassword)
        );
    }
}
