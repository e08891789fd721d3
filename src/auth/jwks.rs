//! One provider's signing keys: where they come from (file, URL, OIDC discovery), the last good set, and
//! when to fetch again.
//!
//! - The current key set is an `ArcSwap` snapshot: lookups are a pointer load and a hash probe, with no lock.
//!   A failed fetch never replaces it, so keys keep working while the IdP is down.
//! - An unknown `kid` triggers a refetch, single-flight (one fetch however many requests wait) and at most once
//!   per `min_refetch_interval`; a `kid` still unknown afterwards is remembered (moka, same interval) so a flood
//!   of forged kids costs a hash probe each, not a fetch each.
//! - A background loop refreshes every `refresh_interval`.

use super::errors::TokenError;
use super::keys::{KeySet, VerifyingKey};
use crate::config::JwksSourceConfig;
use crate::metrics::Metrics;
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Largest JWKS / discovery document accepted.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Where keys come from, with relative paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS file.
    File(PathBuf),
    /// A JWKS URL.
    Url(String),
    /// An OIDC issuer URL (discovery document at `/.well-known/openid-configuration`).
    Discovery(String),
}

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

struct FetchState {
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

/// The keys of one provider and the machinery that keeps them fresh.
pub struct KeyStore {
    provider: String,
    source: KeySource,
    policy: RefreshPolicy,
    client: reqwest::Client,
    keys: ArcSwap<KeySet>,
    loaded: std::sync::atomic::AtomicBool,
    state: Mutex<FetchState>,
    refetch: tokio::sync::Mutex<()>,
    misses: moka::sync::Cache<String, ()>,
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
        let miss_ttl = policy.min_refetch_interval.max(Duration::from_millis(1));
        Self {
            provider: provider.to_string(),
            source,
            policy,
            client,
            keys: ArcSwap::from_pointee(KeySet::default()),
            loaded: false.into(),
            state: Mutex::new(FetchState {
                last_attempt: None,
                last_error: None,
            }),
            refetch: tokio::sync::Mutex::new(()),
            misses: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(miss_ttl)
                .build(),
            metrics,
        }
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
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The last fetch error, if the last fetch failed.
    pub fn last_error(&self) -> Option<String> {
        self.state.lock().ok().and_then(|s| s.last_error.clone())
    }

    /// Installs `keys` directly, as a successful fetch would (in-process token minting, tests).
    pub fn install(&self, keys: KeySet) {
        self.metrics
            .jwks_keys
            .with_label_values(&[self.provider.as_str()])
            .set(keys.len() as i64);
        self.keys.store(Arc::new(keys));
        self.loaded.store(true, std::sync::atomic::Ordering::Release);
        self.misses.invalidate_all();
    }

    /// Fetches the keys now and swaps them in on success. On failure the previous keys stay.
    pub async fn refresh(&self) -> Result<usize, FetchError> {
        if let Ok(mut state) = self.state.lock() {
            state.last_attempt = Some(Instant::now());
        }
        let result = self.fetch().await;
        let label = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .jwks_refresh
            .with_label_values(&[self.provider.as_str(), label])
            .inc();
        match result {
            Ok(parsed) => {
                for skipped in &parsed.skipped {
                    tracing::warn!(provider = %self.provider, key = %skipped, "skipped unusable JWKS key");
                }
                let count = parsed.keys.len();
                self.install(parsed.keys);
                if let Ok(mut state) = self.state.lock() {
                    state.last_error = None;
                }
                tracing::info!(provider = %self.provider, keys = count, source = %self.source.describe(), "signing keys loaded");
                Ok(count)
            }
            Err(err) => {
                tracing::warn!(provider = %self.provider, error = %err, "JWKS fetch failed; keeping the previous keys");
                if let Ok(mut state) = self.state.lock() {
                    state.last_error = Some(err.to_string());
                }
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
        let miss_key = kid.unwrap_or("").to_string();
        if self.misses.contains_key(&miss_key) {
            return Err(self.unavailable_or(unknown()));
        }
        let _flight = self.refetch.lock().await;
        // Someone else may have refreshed while we waited.
        if let Some(found) = self.lookup(kid) {
            return Ok(found);
        }
        if self.misses.contains_key(&miss_key) {
            return Err(self.unavailable_or(unknown()));
        }
        let may_fetch = self
            .state
            .lock()
            .map(|s| {
                s.last_attempt
                    .is_none_or(|t| t.elapsed() >= self.policy.min_refetch_interval)
            })
            .unwrap_or(false);
        if may_fetch {
            tracing::debug!(provider = %self.provider, kid = ?kid, "unknown kid: refetching keys");
            let _ = self.refresh().await;
            if let Some(found) = self.lookup(kid) {
                return Ok(found);
            }
        }
        self.misses.insert(miss_key, ());
        Err(self.unavailable_or(unknown()))
    }

    /// When no keys were ever loaded, the failure is the key source, not the token.
    fn unavailable_or(&self, err: TokenError) -> TokenError {
        if self.is_loaded() {
            return err;
        }
        TokenError::KeysUnavailable {
            provider: self.provider.clone(),
            reason: self.last_error().unwrap_or_else(|| "not loaded yet".into()),
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

    async fn fetch(&self) -> Result<super::keys::ParsedJwks, FetchError> {
        let (what, document) = match &self.source {
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
        KeySet::from_jwks(&document).map_err(|reason| FetchError::Invalid { what, reason })
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
/// e.g. replaced by a reload).
pub async fn refresh_loop(store: std::sync::Weak<KeyStore>) {
    loop {
        let Some(wait) = store.upgrade().map(|s| s.next_wait()) else {
            return;
        };
        tokio::time::sleep(wait).await;
        let Some(store) = store.upgrade() else {
            return;
        };
        let _flight = store.refetch.lock().await;
        let _ = store.refresh().await;
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
    use crate::testkit::{jwks, SigningKey, TestAlg};

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
    async fn refetch_is_rate_limited_and_misses_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        let k1 = SigningKey::generate(TestAlg::ES256, "k1");
        std::fs::write(&path, jwks([&k1]).to_string()).unwrap();
        let s = store(path.clone(), Duration::from_secs(3600));
        s.refresh().await.unwrap();
        let k2 = SigningKey::generate(TestAlg::ES256, "k2");
        std::fs::write(&path, jwks([&k1, &k2]).to_string()).unwrap();
        // Within the interval: no refetch, so k2 stays unknown and the miss is remembered.
        assert!(matches!(s.find(Some("k2")).await, Err(TokenError::UnknownKey { .. })));
        assert!(s.misses.contains_key("k2"));
        let refreshes = s.metrics.jwks_refresh.with_label_values(&["test", "ok"]).get();
        assert_eq!(refreshes, 1);
    }

    #[tokio::test]
    async fn failed_fetch_keeps_last_good_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        let k1 = SigningKey::generate(TestAlg::RS256, "k1");
        std::fs::write(&path, jwks([&k1]).to_string()).unwrap();
        let s = store(path.clone(), Duration::ZERO);
        s.refresh().await.unwrap();
        std::fs::write(&path, "not json").unwrap();
        assert!(s.refresh().await.is_err());
        assert!(s.last_error().is_some());
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
}
