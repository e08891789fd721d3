//! One provider's signing keys: where they come from (file, URL, OIDC discovery), the last good set, and
//! when to fetch again.
//!
//! - The current key set is an `ArcSwap` snapshot: lookups are a pointer load and a hash probe, with no lock.
//!   A failed fetch never replaces it, so keys keep working while the IdP is down.
//! - An unknown `kid` triggers a refetch, single-flight (requests waiting for a fetch share its result) and at
//!   most once per `min_refetch_interval` since the last fetch of any kind. Until that interval has passed an
//!   unknown `kid` is refused without a fetch (an atomic load, so a flood of forged kids costs no fetch and no
//!   lock); the first request after it fetches. Nothing is remembered per `kid`, so a key published after a
//!   fetch is accepted on the first request once the interval has passed, never later.
//! - A background loop refreshes `refresh_interval` after the last fetch (before the first success: every
//!   `min_refetch_interval`, within 1 to 30 s). Requests refused for want of keys are told to retry when the
//!   next fetch is due.

use super::errors::TokenError;
use super::keys::{KeySet, VerifyingKey};
use crate::config::JwksSourceConfig;
use crate::metrics::Metrics;
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;

/// Largest JWKS / discovery document accepted.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Where keys come from, with relative paths resolved.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A JWKS file.
    File(PathBuf),
    /// A JWKS URL.
    Url(String),
    /// An OIDC issuer URL (discovery document at `/.well-known/openid-configuration`).
    Discovery(String),
    /// A fixed key set held in memory: [`KeyStore::refresh`] (re)installs it and never does I/O. For keys
    /// the process holds itself (`bench-tokens`, tests); the configuration cannot name it.
    Static(Arc<KeySet>),
}

impl PartialEq for KeySource {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::File(a), Self::File(b)) => a == b,
            (Self::Url(a), Self::Url(b)) | (Self::Discovery(a), Self::Discovery(b)) => a == b,
            // The same set, not an equal one: key sets are not compared key by key.
            (Self::Static(a), Self::Static(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for KeySource {}

impl KeySource {
    /// From the configuration, resolving file paths with `resolve`.
    pub fn from_config(cfg: &JwksSourceConfig, resolve: impl Fn(&std::path::Path) -> PathBuf) -> Self {
        match cfg {
            JwksSourceConfig::File(p) => Self::File(resolve(p)),
            JwksSourceConfig::Url(u) => Self::Url(u.clone()),
            JwksSourceConfig::Discovery(u) => Self::Discovery(u.clone()),
        }
    }

    /// Where the keys come from, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::File(p) => format!("file {}", p.display()),
            Self::Url(u) => format!("URL {u}"),
            Self::Discovery(u) => format!("OIDC discovery at {}", discovery_url(u)),
            Self::Static(keys) => format!("{} static key(s) held in memory", keys.len()),
        }
    }
}

fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

/// Why a fetch failed. Messages carry URLs and status codes, never response bodies.
#[derive(Debug, Error, Clone)]
pub enum FetchError {
    /// I/O or HTTP failure.
    #[error("cannot fetch {what}: {reason}")]
    Unreachable { what: String, reason: String },
    /// The document was not a usable JWKS / discovery document.
    #[error("invalid document from {what}: {reason}")]
    Invalid { what: String, reason: String },
}

/// Timing knobs of a key store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Background refresh interval.
    pub refresh_interval: Duration,
    /// Minimum spacing of refetches triggered by unknown kids.
    pub min_refetch_interval: Duration,
    /// Timeout of one HTTP fetch.
    pub fetch_timeout: Duration,
}

/// How the last key fetch ended, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshOutcome {
    /// When the fetch finished.
    pub at: SystemTime,
    /// Why it failed; `None` when the keys were loaded.
    pub error: Option<String>,
}

/// Sentinel of [`KeyStore::last_attempt`] before the first fetch.
const NEVER: u64 = u64::MAX;

/// The keys of one provider and the machinery that keeps them fresh.
pub struct KeyStore {
    provider: String,
    source: KeySource,
    policy: RefreshPolicy,
    client: reqwest::Client,
    keys: ArcSwap<KeySet>,
    loaded: AtomicBool,
    /// Origin of `last_attempt`.
    epoch: Instant,
    /// When the last fetch started, in nanoseconds after `epoch`; [`NEVER`] before the first.
    last_attempt: AtomicU64,
    /// Fetches started so far: a request that waited for the fetch lock fetches again only if none started
    /// while it waited.
    fetches: AtomicU64,
    /// The outcome of the last fetch that finished (`None` before the first).
    last_refresh: Mutex<Option<RefreshOutcome>>,
    refetch: tokio::sync::Mutex<()>,
    metrics: Arc<Metrics>,
}

impl KeyStore {
    /// A store with no keys yet; call [`KeyStore::refresh`] to load them.
    pub fn new(
        provider: &str,
        source: KeySource,
        policy: RefreshPolicy,
        client: reqwest::Client,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            provider: provider.to_string(),
            source,
            policy,
            client,
            keys: ArcSwap::from_pointee(KeySet::default()),
            loaded: false.into(),
            epoch: Instant::now(),
            last_attempt: AtomicU64::new(NEVER),
            fetches: AtomicU64::new(0),
            last_refresh: Mutex::new(None),
            refetch: tokio::sync::Mutex::new(()),
            metrics,
        }
    }

    /// A store of the fixed `keys` ([`KeySource::Static`]), loaded at once. It never does I/O: a refresh
    /// re-installs the same set.
    pub fn with_static_keys(provider: &str, keys: Arc<KeySet>, metrics: Arc<Metrics>) -> Self {
        let hour = Duration::from_secs(3600);
        let policy = RefreshPolicy {
            refresh_interval: hour,
            min_refetch_interval: hour,
            fetch_timeout: hour,
        };
        let store = Self::new(
            provider,
            KeySource::Static(keys.clone()),
            policy,
            reqwest::Client::new(),
            metrics,
        );
        store.install_shared(keys);
        store
    }

    /// The provider this store belongs to.
    pub fn name(&self) -> &str {
        &self.provider
    }

    /// The key source.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The refresh policy.
    pub fn policy(&self) -> RefreshPolicy {
        self.policy
    }

    /// The current key set (possibly empty).
    pub fn current(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// Whether keys were loaded at least once.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// The last fetch error, if the last fetch failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_refresh().and_then(|r| r.error)
    }

    /// When the last fetch finished and how (`None` before the first).
    pub fn last_refresh(&self) -> Option<RefreshOutcome> {
        self.last_refresh.lock().ok().and_then(|r| r.clone())
    }

    fn record_refresh(&self, error: Option<String>) {
        if let Ok(mut last) = self.last_refresh.lock() {
            *last = Some(RefreshOutcome {
                at: SystemTime::now(),
                error,
            });
        }
    }

    /// Time since the last fetch started, `None` before the first.
    fn since_last_attempt(&self) -> Option<Duration> {
        match self.last_attempt.load(Ordering::Acquire) {
            NEVER => None,
            nanos => Some(self.epoch.elapsed().saturating_sub(Duration::from_nanos(nanos))),
        }
    }

    /// How long until an unknown `kid` may trigger a fetch (zero: now).
    fn until_refetch_allowed(&self) -> Duration {
        self.since_last_attempt().map_or(Duration::ZERO, |since| {
            self.policy.min_refetch_interval.saturating_sub(since)
        })
    }

    /// How long until the background loop fetches again (zero: now).
    fn until_scheduled_refresh(&self) -> Duration {
        self.since_last_attempt()
            .map_or(Duration::ZERO, |since| self.next_wait().saturating_sub(since))
    }

    /// How long until the next fetch, whichever triggers it: what a request refused for want of keys is told
    /// to wait (`Retry-After`).
    pub fn until_next_fetch(&self) -> Duration {
        self.until_refetch_allowed().min(self.until_scheduled_refresh())
    }

    /// Installs `keys` directly, as a successful fetch would (tests).
    pub fn install(&self, keys: KeySet) {
        self.install_shared(Arc::new(keys));
    }

    fn install_shared(&self, keys: Arc<KeySet>) {
        self.metrics
            .jwks_keys
            .with_label_values(&[self.provider.as_str()])
            .set(keys.len() as i64);
        self.keys.store(keys);
        self.loaded.store(true, Ordering::Release);
    }

    /// Fetches the keys now and swaps them in on success. On failure the previous keys stay.
    pub async fn refresh(&self) -> Result<usize, FetchError> {
        let started = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(NEVER - 1);
        self.last_attempt.store(started, Ordering::Release);
        self.fetches.fetch_add(1, Ordering::AcqRel);
        let result = self.fetch().await;
        let label = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .jwks_refresh
            .with_label_values(&[self.provider.as_str(), label])
            .inc();
        match result {
            Ok((keys, skipped)) => {
                for skipped in &skipped {
                    tracing::warn!(provider = %self.provider, key = %skipped, "skipped unusable JWKS key");
                }
                let count = keys.len();
                self.install_shared(keys);
                self.record_refresh(None);
                tracing::info!(provider = %self.provider, keys = count, source = %self.source.describe(), "signing keys loaded");
                Ok(count)
            }
            Err(err) => {
                tracing::warn!(provider = %self.provider, error = %err, "JWKS fetch failed; keeping the previous keys");
                self.record_refresh(Some(err.to_string()));
                Err(err)
            }
        }
    }

    /// The key for `kid`, refetching (rate-limited, single-flight) when it is unknown. Without `kid`, every
    /// key is a candidate.
    pub async fn find(&self, kid: Option<&str>) -> Result<Candidates, TokenError> {
        if let Some(found) = self.lookup(kid) {
            return Ok(found);
        }
        let unknown = || TokenError::UnknownKey {
            kid: kid.map(str::to_string),
            provider: self.provider.clone(),
        };
        if !self.until_refetch_allowed().is_zero() {
            return Err(self.unavailable_or(unknown()));
        }
        let seen = self.fetches.load(Ordering::Acquire);
        let _flight = self.refetch.lock().await;
        // A fetch that started while we waited is as fresh as ours would be.
        if self.fetches.load(Ordering::Acquire) == seen && self.until_refetch_allowed().is_zero() {
            tracing::debug!(provider = %self.provider, kid = ?kid, "unknown kid: refetching keys");
            let _ = self.refresh().await;
        }
        self.lookup(kid).ok_or_else(|| self.unavailable_or(unknown()))
    }

    /// When no keys were ever loaded, the failure is the key source, not the token.
    fn unavailable_or(&self, err: TokenError) -> TokenError {
        if self.is_loaded() {
            return err;
        }
        TokenError::KeysUnavailable {
            provider: self.provider.clone(),
            reason: self.last_error().unwrap_or_else(|| "not loaded yet".into()),
            retry_after: self.until_next_fetch(),
        }
    }

    fn lookup(&self, kid: Option<&str>) -> Option<Candidates> {
        let set = self.keys.load();
        match kid {
            Some(kid) => set.get(kid).cloned().map(Candidates::One),
            None if !set.is_empty() => Some(Candidates::Any(set.all().to_vec())),
            None => None,
        }
    }

    /// The keys from the source, and one line per key skipped.
    async fn fetch(&self) -> Result<(Arc<KeySet>, Vec<String>), FetchError> {
        let (what, document) = match &self.source {
            KeySource::Static(keys) => return Ok((Arc::clone(keys), Vec::new())),
            KeySource::File(path) => {
                let what = path.display().to_string();
                let bytes = tokio::fs::read(path).await.map_err(|e| FetchError::Unreachable {
                    what: what.clone(),
                    reason: e.to_string(),
                })?;
                (what, bytes)
            }
            KeySource::Url(url) => (url.clone(), self.get(url).await?),
            KeySource::Discovery(issuer) => {
                let url = discovery_url(issuer);
                let doc = self.get(&url).await?;
                let jwks_uri = serde_json::from_slice::<serde_json::Value>(&doc)
                    .ok()
                    .and_then(|v| v.get("jwks_uri").and_then(|u| u.as_str()).map(str::to_string))
                    .ok_or_else(|| FetchError::Invalid {
                        what: url.clone(),
                        reason: "discovery document has no jwks_uri".into(),
                    })?;
                (jwks_uri.clone(), self.get(&jwks_uri).await?)
            }
        };
        KeySet::from_jwks(&document)
            .map(|parsed| (Arc::new(parsed.keys), parsed.skipped))
            .map_err(|reason| FetchError::Invalid { what, reason })
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let unreachable = |reason: String| FetchError::Unreachable {
            what: url.to_string(),
            reason,
        };
        let mut response = self
            .client
            .get(url)
            .timeout(self.policy.fetch_timeout)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| unreachable(without_url(&e)))?;
        if !response.status().is_success() {
            return Err(unreachable(format!("HTTP status {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(without_url(&e)))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(unreachable(format!("document larger than {MAX_DOCUMENT_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// How long the background loop waits before the next refresh.
    fn next_wait(&self) -> Duration {
        if self.is_loaded() {
            self.policy.refresh_interval
        } else {
            // Not loaded yet: retry sooner, but not in a tight loop.
            self.policy
                .min_refetch_interval
                .clamp(Duration::from_secs(1), Duration::from_secs(30))
        }
    }
}

/// Refreshes `store` on its schedule for as long as it is in use (the loop ends once the store is dropped,
/// e.g. replaced by a reload). The schedule counts from the last fetch, whatever triggered it.
pub async fn refresh_loop(store: std::sync::Weak<KeyStore>) {
    loop {
        let Some(wait) = store.upgrade().map(|s| s.until_scheduled_refresh()) else {
            return;
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
            continue;
        }
        let Some(store) = store.upgrade() else {
            return;
        };
        let _flight = store.refetch.lock().await;
        if store.until_scheduled_refresh().is_zero() {
            let _ = store.refresh().await;
        }
    }
}

/// Describes a fetch failure by kind and cause chain, without the URL's query (which may carry secrets).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The keys a token may be verified with.
pub enum Candidates {
    /// The key named by `kid`.
    One(Arc<VerifyingKey>),
    /// Every key (the token has no `kid`).
    Any(Vec<Arc<VerifyingKey>>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{jwks, SigningAlg as TestAlg, SigningKey};

    fn store(path: PathBuf, min_refetch: Duration) -> KeyStore {
        KeyStore::new(
            "test",
            KeySource::File(path),
            RefreshPolicy {
                refresh_interval: Duration::from_secs(600),
                min_refetch_interval: min_refetch,
                fetch_timeout: Duration::from_secs(1),
            },
            reqwest::Client::new(),
            Arc::new(Metrics::new()),
        )
    }

    #[tokio::test]
    async fn unknown_kid_refetches_and_picks_up_rotated_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        let k1 = SigningKey::generate(TestAlg::ES256, "k1");
        let k2 = SigningKey::generate(TestAlg::ES256, "k2");
        std::fs::write(&path, jwks([&k1]).to_string()).unwrap();
        let s = store(path.clone(), Duration::ZERO);
        s.refresh().await.unwrap();
        assert!(matches!(s.find(Some("k1")).await, Ok(Candidates::One(_))));
        std::fs::write(&path, jwks([&k1, &k2]).to_string()).unwrap();
        assert!(matches!(s.find(Some("k2")).await, Ok(Candidates::One(_))));
    }

    #[tokio::test]
    async fn refetch_is_rate_limited() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        let k1 = SigningKey::generate(TestAlg::ES256, "k1");
        std::fs::write(&path, jwks([&k1]).to_string()).unwrap();
        let s = store(path.clone(), Duration::from_secs(3600));
        s.refresh().await.unwrap();
        let k2 = SigningKey::generate(TestAlg::ES256, "k2");
        std::fs::write(&path, jwks([&k1, &k2]).to_string()).unwrap();
        // Within the interval: no refetch, however many unknown kids arrive.
        for kid in ["k2", "forged-1", "forged-2", "k2"] {
            assert!(matches!(s.find(Some(kid)).await, Err(TokenError::UnknownKey { .. })));
        }
        let refreshes = s.metrics.jwks_refresh.with_label_values(&["test", "ok"]).get();
        assert_eq!(refreshes, 1);
    }

    /// Issue 14 item 12: a kid first seen inside the interval used to be remembered as unknown for a whole
    /// interval from then, so a rotated key stayed refused for up to twice the interval.
    #[tokio::test]
    async fn a_rotated_key_is_accepted_on_the_first_request_after_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        let k1 = SigningKey::generate(TestAlg::ES256, "k1");
        let k2 = SigningKey::generate(TestAlg::ES256, "k2");
        std::fs::write(&path, jwks([&k1]).to_string()).unwrap();
        let interval = Duration::from_millis(400);
        let s = store(path.clone(), interval);
        let fetched = Instant::now();
        s.refresh().await.unwrap();
        std::fs::write(&path, jwks([&k1, &k2]).to_string()).unwrap();
        // Halfway through the interval k2 is refused (no fetch yet)...
        tokio::time::sleep(interval / 2).await;
        assert!(matches!(s.find(Some("k2")).await, Err(TokenError::UnknownKey { .. })));
        // ...and accepted by the first request once the interval since the fetch has passed.
        tokio::time::sleep(interval.saturating_sub(fetched.elapsed())).await;
        assert!(matches!(s.find(Some("k2")).await, Ok(Candidates::One(_))));
    }

    #[tokio::test]
    async fn concurrent_unknown_kids_share_one_fetch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        let k1 = SigningKey::generate(TestAlg::ES256, "k1");
        std::fs::write(&path, jwks([&k1]).to_string()).unwrap();
        let s = Arc::new(store(path.clone(), Duration::ZERO));
        s.refresh().await.unwrap();
        let _flight = s.refetch.lock().await;
        let waiters: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.find(Some(&format!("forged-{i}"))).await.is_err() })
            })
            .collect();
        // On this single-threaded runtime one yield lets each of them run until it waits for the fetch lock;
        // then one fetch happens while they wait, as if the first of them had made it.
        tokio::task::yield_now().await;
        s.refresh().await.unwrap();
        drop(_flight);
        for waiter in waiters {
            assert!(waiter.await.unwrap());
        }
        let refreshes = s.metrics.jwks_refresh.with_label_values(&["test", "ok"]).get();
        assert_eq!(refreshes, 2, "the waiters share the fetch made while they waited");
    }

    #[tokio::test]
    async fn failed_fetch_keeps_last_good_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        let k1 = SigningKey::generate(TestAlg::RS256, "k1");
        std::fs::write(&path, jwks([&k1]).to_string()).unwrap();
        let s = store(path.clone(), Duration::ZERO);
        assert_eq!(s.last_refresh(), None, "no fetch yet");
        s.refresh().await.unwrap();
        let good = s.last_refresh().expect("the fetch is recorded");
        assert_eq!(good.error, None);
        std::fs::write(&path, "not json").unwrap();
        assert!(s.refresh().await.is_err());
        assert!(s.last_error().is_some());
        let bad = s.last_refresh().expect("the failed fetch is recorded");
        assert!(bad.error.is_some() && bad.at >= good.at, "{bad:?} after {good:?}");
        assert!(matches!(s.find(Some("k1")).await, Ok(Candidates::One(_))));
    }

    #[tokio::test]
    async fn never_loaded_store_reports_unavailable_not_unknown_kid() {
        let s = store(PathBuf::from("/nonexistent/jwks.json"), Duration::ZERO);
        assert!(s.refresh().await.is_err());
        assert!(matches!(
            s.find(Some("k1")).await,
            Err(TokenError::KeysUnavailable { .. })
        ));
    }

    /// Issue 14 item 13: the refusal's `Retry-After` is when the next fetch is due, not a constant.
    #[tokio::test]
    async fn unavailable_keys_say_when_the_next_fetch_is_due() {
        for (interval, expected) in [(20, 20), (45, 30), (0, 0)] {
            let s = store(PathBuf::from("/nonexistent/jwks.json"), Duration::from_secs(interval));
            assert!(s.refresh().await.is_err());
            let Err(TokenError::KeysUnavailable { retry_after, .. }) = s.find(Some("k1")).await else {
                panic!("expected KeysUnavailable");
            };
            // Before the first success the background loop retries every interval, within 1 to 30 s; a
            // request may fetch once the interval has passed.
            let expected = Duration::from_secs(expected);
            assert!(
                retry_after <= expected && retry_after + Duration::from_secs(2) > expected,
                "interval {interval}: {retry_after:?}"
            );
        }
    }

    #[tokio::test]
    async fn static_keys_are_loaded_by_refresh_and_verify_a_token() {
        let key = SigningKey::generate(TestAlg::ES256, "k1");
        let keys = Arc::new(KeySet::from_jwks(jwks([&key]).to_string().as_bytes()).unwrap().keys);
        let s = KeyStore::new(
            "test",
            KeySource::Static(keys.clone()),
            RefreshPolicy {
                refresh_interval: Duration::from_secs(600),
                min_refetch_interval: Duration::ZERO,
                fetch_timeout: Duration::from_millis(1),
            },
            reqwest::Client::new(),
            Arc::new(Metrics::new()),
        );
        assert!(!s.is_loaded());
        assert_eq!(s.refresh().await.unwrap(), 1);
        assert!(s.is_loaded());
        assert!(Arc::ptr_eq(&s.current(), &keys), "refresh installs the held set itself");
        let token = key.mint(&serde_json::json!({"sub": "alice"}));
        let jwt = crate::auth::jwt::parse(&token).unwrap();
        let Ok(Candidates::One(found)) = s.find(Some("k1")).await else {
            panic!("k1 is a static key")
        };
        found
            .verify("ES256".parse().unwrap(), jwt.signing_input, &jwt.signature)
            .unwrap();
        // An unknown kid refetches (re-installs the same set, no I/O) and is then unknown, not unavailable.
        assert!(matches!(s.find(Some("k2")).await, Err(TokenError::UnknownKey { .. })));
        assert_eq!(s.last_error(), None);
        assert_eq!(s.source(), &KeySource::Static(keys));
        assert!(
            s.source().describe().contains("1 static key(s)"),
            "{}",
            s.source().describe()
        );
    }
}
