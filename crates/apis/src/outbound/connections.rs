//! The [`TokenSource`] of `authorization_code` resources: the user's stored connection, kept fresh with its
//! refresh token.
//!
//! - An access token valid for more than [`SKEW`] is opened and returned.
//! - One that is due is refreshed under the store's refresh lock (a row lock: one refresh per (user,
//!   resource) across threads and replicas). Inside the lock the row is read again: if another holder
//!   refreshed it meanwhile (its access token is no longer the one this caller read before waiting), that
//!   token is used while it is still valid, even if it is itself within [`SKEW`] of expiring (a provider's
//!   short-lived tokens are), and no call is made. The refresh request is bounded by [`REFRESH_TIMEOUT`], well
//!   under the PostgreSQL statement timeout (default 5 s) that bounds how long another replica waits for the
//!   lock.
//! - A rotated refresh token is saved in the same write as the new access token.
//! - `invalid_grant` marks the connection as needing re-authorization; the caller is told where to authorize.
//! - Any other failure keeps the connection, backs off for this (user, resource) in memory (1 s doubling to
//!   5 min), and returns the old access token while it is still valid.

use super::endpoint::{request_token, EndpointError};
use super::params::{parameters, Parameter};
use super::resource::{Resource, ResourceType, Stage};
use super::service::Outbound;
use super::store::{user_key, ConnectionRecord, ConnectionStatus, OAuthStore, RefreshOutcome, TokenUpdate};
use super::tokens::{AccessToken, Principal, TokenError, TokenSource};
use super::vault::{Binding, Sealed, Vault, ACCESS_TOKEN, REFRESH_TOKEN};
use crate::store::StoreError;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use authgate_core::config::Secret;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A token expiring within this many seconds is refreshed first.
pub const SKEW: i64 = 60;
/// The longest a refresh request may take (it runs while the connection's lock is held).
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(3);
/// The first wait after a failed refresh; doubled on each failure.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// The longest wait between refresh attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Counts refreshes by outcome (`refreshed`, `already_fresh`, `invalid_grant`, `failed`, `backing_off`).
pub type RefreshCounter = Arc<dyn Fn(&'static str) + Send + Sync>;

#[derive(Clone, Copy)]
struct Backoff {
    wait: Duration,
    until: Instant,
}

/// Stored connections, refreshed when due.
pub struct Connections {
    store: Arc<dyn OAuthStore>,
    vault: Arc<ArcSwap<Vault>>,
    client: reqwest::Client,
    backoff: Mutex<HashMap<(String, String), Backoff>>,
    count: RefreshCounter,
    now: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Connections {
    /// The source over `outbound`'s store, vault and client.
    pub fn new(outbound: &Outbound, count: RefreshCounter) -> Self {
        Self {
            store: outbound.store().clone(),
            vault: outbound.vault_handle(),
            client: outbound.client().clone(),
            backoff: Mutex::new(HashMap::new()),
            count,
            now: Arc::new(super::flow::now),
        }
    }

    /// The same, with another clock (tests).
    #[cfg(test)]
    fn with_clock(mut self, now: Arc<dyn Fn() -> i64 + Send + Sync>) -> Self {
        self.now = now;
        self
    }

    fn backing_off(&self, key: &(String, String)) -> bool {
        let table = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        table.get(key).is_some_and(|b| b.until > Instant::now())
    }

    fn failed(&self, key: (String, String)) {
        let mut table = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        let wait = table.get(&key).map_or(BACKOFF_MIN, |b| (b.wait * 2).min(BACKOFF_MAX));
        table.insert(
            key,
            Backoff {
                wait,
                until: Instant::now() + wait,
            },
        );
    }

    fn succeeded(&self, key: &(String, String)) {
        self.backoff.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    fn open_access(&self, record: &ConnectionRecord) -> Result<AccessToken, TokenError> {
        let token = self
            .vault
            .load()
            .open(
                Binding {
                    user: &record.user,
                    resource: &record.resource,
                    field: ACCESS_TOKEN,
                },
                &record.access_token,
            )
            .map_err(|e| {
                tracing::error!(resource = %record.resource, error = %e, "cannot open a stored access token");
                TokenError::Unavailable {
                    resource: record.resource.clone(),
                    reason: "the stored token cannot be decrypted (vault keys changed?)".into(),
                }
            })?;
        Ok(AccessToken::new(token.expose().to_string(), record.expires_at))
    }
}

fn fresh(record: &ConnectionRecord, at: i64) -> bool {
    record.expires_at.is_none_or(|e| e > at + SKEW)
}

fn still_valid(record: &ConnectionRecord, at: i64) -> bool {
    record.expires_at.is_none_or(|e| e > at)
}

/// What the refresh under the lock reports back, besides the outcome it hands the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    AlreadyFresh,
    Refreshed,
    InvalidGrant,
    Failed,
}

#[async_trait]
impl TokenSource for Connections {
    async fn access_token(
        &self,
        caller: Principal<'_>,
        resource: &Resource,
        ty: &ResourceType,
    ) -> Result<AccessToken, TokenError> {
        let authorize_url = Outbound::authorize_path(&resource.name);
        let unavailable = |e: StoreError| {
            tracing::error!(resource = %resource.name, error = %e, "cannot read an OAuth connection");
            TokenError::Unavailable {
                resource: resource.name.clone(),
                reason: "the gateway's database is unavailable".into(),
            }
        };
        let now = (self.now)();
        let record = self
            .store
            .connection(caller.user, &resource.name)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| TokenError::NotConnected {
                resource: resource.name.clone(),
                authorize_url: authorize_url.clone(),
            })?;
        let reauthorize = || TokenError::NeedsReauthorization {
            resource: resource.name.clone(),
            authorize_url: authorize_url.clone(),
        };
        if record.status == ConnectionStatus::NeedsReauthorization {
            return Err(reauthorize());
        }
        if fresh(&record, now) {
            return self.open_access(&record);
        }
        let key = (user_key(caller.user), resource.name.to_lowercase());
        let keep_old = |record: &ConnectionRecord, reason: &str| {
            if still_valid(record, now) {
                self.open_access(record)
            } else {
                Err(TokenError::Unavailable {
                    resource: resource.name.clone(),
                    reason: reason.to_string(),
                })
            }
        };
        if self.backing_off(&key) {
            (self.count)("backing_off");
            return keep_old(&record, "the provider's token endpoint failed recently; retrying later");
        }
        let attempt = Arc::new(Mutex::new(Attempt::Failed));
        let refresh = {
            let attempt = attempt.clone();
            let vault = self.vault.load_full();
            let client = self.client.clone();
            let url = resource.refresh_endpoint.clone();
            let params = parameters(ty, resource, Stage::Refresh);
            let type_name = ty.name.clone();
            let seen = record.access_token.clone();
            let set = move |a: Attempt| *attempt.lock().unwrap_or_else(|p| p.into_inner()) = a;
            Box::new(move |current: ConnectionRecord| {
                Box::pin(async move {
                    let (outcome, a) =
                        refresh_locked(current, &seen, now, &vault, &client, &url, params, type_name).await;
                    set(a);
                    outcome
                }) as std::pin::Pin<Box<dyn std::future::Future<Output = RefreshOutcome> + Send>>
            })
        };
        let left = match self
            .store
            .with_refresh_lock(caller.user, &resource.name, now, refresh)
            .await
        {
            Ok(left) => left,
            Err(StoreError::NotFound(_)) => {
                return Err(TokenError::NotConnected {
                    resource: resource.name.clone(),
                    authorize_url,
                })
            }
            Err(e) => {
                tracing::warn!(resource = %resource.name, error = %e, "OAuth refresh lock not obtained");
                self.failed(key);
                (self.count)("failed");
                return keep_old(&record, "the gateway's database is unavailable");
            }
        };
        let attempt = *attempt.lock().unwrap_or_else(|p| p.into_inner());
        match attempt {
            Attempt::AlreadyFresh => (self.count)("already_fresh"),
            Attempt::Refreshed => (self.count)("refreshed"),
            Attempt::InvalidGrant => (self.count)("invalid_grant"),
            Attempt::Failed => (self.count)("failed"),
        }
        if left.status == ConnectionStatus::NeedsReauthorization {
            return Err(reauthorize());
        }
        if attempt == Attempt::Failed {
            self.failed(key);
            return keep_old(&left, "the provider's token endpoint failed; retrying later");
        }
        self.succeeded(&key);
        if still_valid(&left, now) {
            self.open_access(&left)
        } else {
            keep_old(&left, "the provider issued an already expired token")
        }
    }
}

/// The refresh, with the lock held and `current` read under it; `seen` is the access token the caller read
/// before it waited for the lock.
#[allow(clippy::too_many_arguments)]
async fn refresh_locked(
    current: ConnectionRecord,
    seen: &Sealed,
    now: i64,
    vault: &Vault,
    client: &reqwest::Client,
    url: &url::Url,
    mut params: Vec<Parameter>,
    type_name: String,
) -> (RefreshOutcome, Attempt) {
    if current.status != ConnectionStatus::Connected {
        return (RefreshOutcome::Keep, Attempt::InvalidGrant);
    }
    if fresh(&current, now) || (current.access_token != *seen && still_valid(&current, now)) {
        // Another holder refreshed while this one waited for the lock: its token is used while valid, even
        // one already due again (a lifetime under SKEW), or every waiter would refresh once more in turn.
        return (RefreshOutcome::Keep, Attempt::AlreadyFresh);
    }
    let Some(sealed) = &current.refresh_token else {
        // No refresh token: only a new authorization helps.
        return (RefreshOutcome::NeedsReauthorization, Attempt::InvalidGrant);
    };
    let binding = |field| Binding {
        user: &current.user,
        resource: &current.resource,
        field,
    };
    let refresh_token = match vault.open(binding(REFRESH_TOKEN), sealed) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(resource = %current.resource, error = %e, "cannot open a stored refresh token");
            return (RefreshOutcome::Keep, Attempt::Failed);
        }
    };
    params.push(Parameter {
        name: "refresh_token".into(),
        value: Secret::new(refresh_token.expose()),
        url_encode: true,
    });
    match request_token(client, url, &params, REFRESH_TIMEOUT).await {
        Ok(tokens) => {
            let sealed = vault
                .seal(binding(ACCESS_TOKEN), tokens.access_token.as_bytes())
                .and_then(|access| {
                    let refresh = match &tokens.refresh_token {
                        Some(t) => Some(vault.seal(binding(REFRESH_TOKEN), t.as_bytes())?),
                        None => None,
                    };
                    Ok((access, refresh))
                });
            match sealed {
                Ok((access_token, refresh_token)) => (
                    RefreshOutcome::Tokens(TokenUpdate {
                        resource_type: type_name,
                        access_token,
                        refresh_token,
                        expires_at: tokens.expires_in.map(|s| now + s),
                    }),
                    Attempt::Refreshed,
                ),
                Err(e) => {
                    tracing::error!(error = %e, "cannot seal refreshed tokens");
                    (RefreshOutcome::Keep, Attempt::Failed)
                }
            }
        }
        Err(EndpointError::Refused { error, description }) if error == "invalid_grant" => {
            tracing::info!(resource = %current.resource, description = ?description, "refresh token refused (invalid_grant): the user must authorize again");
            (RefreshOutcome::NeedsReauthorization, Attempt::InvalidGrant)
        }
        Err(e) => {
            tracing::warn!(resource = %current.resource, error = %e, "OAuth refresh failed; keeping the connection");
            (RefreshOutcome::Keep, Attempt::Failed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::resource::GrantKind;
    use crate::outbound::service::tests::{catalog, vault};
    use crate::outbound::service::{http_client, Outbound};
    use axum::routing::post;
    use axum::Router;
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    const ALICE: &str = "K2:CONTOSO\\alice";

    /// A token endpoint that counts its calls and answers what `answer` says for the n-th call (after a short
    /// pause, so concurrent callers overlap).
    async fn endpoint(answer: fn(usize, &str) -> (u16, String)) -> (String, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let router = Router::new().route(
            "/token",
            post(move |body: String| {
                let calls = counted.clone();
                async move {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let (status, body) = answer(n, &body);
                    (http::StatusCode::from_u16(status).unwrap(), body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (format!("http://{addr}/token"), calls)
    }

    struct Setup {
        outbound: Arc<Outbound>,
        clock: Arc<AtomicI64>,
        counted: Arc<Mutex<Vec<&'static str>>>,
        _dir: tempfile::TempDir,
    }

    async fn setup(token_endpoint: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let stores = crate::store::sqlite::open(&dir.path().join("db.sqlite"), 2)
            .await
            .unwrap();
        let mut outbound = Outbound::new(
            catalog(token_endpoint),
            Arc::new(vault("k1", 1)),
            stores.oauth,
            http_client().unwrap(),
        );
        let clock = Arc::new(AtomicI64::new(1_000_000));
        let counted = Arc::new(Mutex::new(Vec::new()));
        let sink = counted.clone();
        let now = clock.clone();
        let source = Connections::new(&outbound, Arc::new(move |outcome| sink.lock().unwrap().push(outcome)))
            .with_clock(Arc::new(move || now.load(Ordering::SeqCst)));
        outbound.set_source(&[GrantKind::AuthorizationCode], Arc::new(source));
        Setup {
            outbound: Arc::new(outbound),
            clock,
            counted,
            _dir: dir,
        }
    }

    impl Setup {
        /// Stores Alice's connection to Files: access token `at`, refresh token `rt`, expiring at `expires_at`.
        async fn connect(&self, at: &str, rt: Option<&str>, expires_at: i64) {
            let vault = self.outbound.vault();
            let b = |field| Binding {
                user: ALICE,
                resource: "Files",
                field,
            };
            let update = TokenUpdate {
                resource_type: "Code".into(),
                access_token: vault.seal(b(ACCESS_TOKEN), at.as_bytes()).unwrap(),
                refresh_token: rt.map(|t| vault.seal(b(REFRESH_TOKEN), t.as_bytes()).unwrap()),
                expires_at: Some(expires_at),
            };
            self.outbound
                .store()
                .upsert_connection(ALICE, "Files", update, self.now())
                .await
                .unwrap();
        }

        fn now(&self) -> i64 {
            self.clock.load(Ordering::SeqCst)
        }

        async fn token(&self, user: &str) -> Result<AccessToken, TokenError> {
            self.outbound
                .token_for(
                    Principal {
                        user,
                        inbound_bearer: None,
                    },
                    "files",
                )
                .await
        }

        async fn stored_refresh_token(&self) -> String {
            let record = self.outbound.store().connection(ALICE, "Files").await.unwrap().unwrap();
            let sealed = record.refresh_token.unwrap();
            let plain = self
                .outbound
                .vault()
                .open(
                    Binding {
                        user: ALICE,
                        resource: "Files",
                        field: REFRESH_TOKEN,
                    },
                    &sealed,
                )
                .unwrap();
            plain.expose().to_string()
        }
    }

    fn rotating(n: usize, body: &str) -> (u16, String) {
        assert!(body.contains("grant_type=refresh_token"), "{body}");
        assert!(body.contains("client_id=app"), "{body}");
        (
            200,
            format!(r#"{{"access_token":"AT{n}","refresh_token":"RT{n}","expires_in":3600}}"#),
        )
    }

    #[tokio::test]
    async fn a_fresh_token_is_used_without_a_call_and_no_connection_says_where_to_authorize() {
        let (url, calls) = endpoint(rotating).await;
        let s = setup(&url).await;
        assert_eq!(
            s.token(ALICE).await.unwrap_err(),
            TokenError::NotConnected {
                resource: "Files".into(),
                authorize_url: "/api/oauth/v1/resources/Files/authorize".into()
            }
        );
        s.connect("AT", Some("RT"), s.now() + 3600).await;
        assert_eq!(s.token("k2:contoso\\ALICE").await.unwrap().secret(), "AT");
        assert_eq!(
            s.token("K2:CONTOSO\\bob").await.unwrap_err(),
            TokenError::NotConnected {
                resource: "Files".into(),
                authorize_url: "/api/oauth/v1/resources/Files/authorize".into()
            },
            "another user's connection is not used"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn concurrent_callers_of_a_due_token_make_one_refresh_and_the_rotated_token_is_kept() {
        let (url, calls) = endpoint(|n, body| {
            let sent = if n == 0 {
                "RT-initial".to_string()
            } else {
                format!("RT{}", n - 1)
            };
            assert!(body.contains(&format!("refresh_token={sent}")), "{body}");
            rotating(n, body)
        })
        .await;
        let s = setup(&url).await;
        s.connect("AT-old", Some("RT-initial"), s.now() + 30).await;
        let (a, b) = tokio::join!(s.token(ALICE), s.token(ALICE));
        assert_eq!(a.unwrap().secret(), "AT0");
        assert_eq!(b.unwrap().secret(), "AT0");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one refresh for two callers");
        assert_eq!(
            s.stored_refresh_token().await,
            "RT0",
            "the rotated refresh token is saved"
        );
        let mut outcomes = s.counted.lock().unwrap().clone();
        outcomes.sort();
        assert_eq!(outcomes, ["already_fresh", "refreshed"]);
        // Due again: the rotated refresh token is the one sent.
        s.clock.fetch_add(3600, Ordering::SeqCst);
        assert_eq!(s.token(ALICE).await.unwrap().secret(), "AT1");
        assert_eq!(s.stored_refresh_token().await, "RT1");
    }

    /// A provider whose access tokens live less than SKEW: the token one caller just got is already due when
    /// the other caller, which waited for the lock, reads it. It is used, not refreshed once more.
    #[tokio::test]
    async fn a_waiter_uses_the_token_refreshed_meanwhile_even_if_it_is_short_lived() {
        let (url, calls) = endpoint(|n, _| {
            (
                200,
                format!(r#"{{"access_token":"AT{n}","refresh_token":"RT{n}","expires_in":30}}"#),
            )
        })
        .await;
        let s = setup(&url).await;
        s.connect("AT-old", Some("RT-initial"), s.now() + 30).await;
        let (a, b) = tokio::join!(s.token(ALICE), s.token(ALICE));
        assert_eq!(a.unwrap().secret(), "AT0");
        assert_eq!(b.unwrap().secret(), "AT0");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one refresh for two callers");
        let mut outcomes = s.counted.lock().unwrap().clone();
        outcomes.sort();
        assert_eq!(outcomes, ["already_fresh", "refreshed"]);
        // A later caller that reads the due token itself refreshes it.
        assert_eq!(s.token(ALICE).await.unwrap().secret(), "AT1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn invalid_grant_marks_the_connection_and_names_the_authorize_link() {
        let (url, calls) = endpoint(|_, _| (400, r#"{"error":"invalid_grant"}"#.into())).await;
        let s = setup(&url).await;
        s.connect("AT-old", Some("RT"), s.now() + 30).await;
        let reauthorize = TokenError::NeedsReauthorization {
            resource: "Files".into(),
            authorize_url: "/api/oauth/v1/resources/Files/authorize".into(),
        };
        assert_eq!(s.token(ALICE).await.unwrap_err(), reauthorize);
        let record = s.outbound.store().connection(ALICE, "Files").await.unwrap().unwrap();
        assert_eq!(record.status, ConnectionStatus::NeedsReauthorization);
        assert_eq!(s.token(ALICE).await.unwrap_err(), reauthorize);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a marked connection is not refreshed again"
        );
        assert!(reauthorize
            .to_string()
            .contains("/api/oauth/v1/resources/Files/authorize"));
    }

    #[tokio::test]
    async fn other_failures_keep_the_old_token_while_valid_and_back_off() {
        let (url, calls) = endpoint(|_, _| (503, "down".into())).await;
        let s = setup(&url).await;
        s.connect("AT-old", Some("RT"), s.now() + 30).await;
        assert_eq!(s.token(ALICE).await.unwrap().secret(), "AT-old");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(s.token(ALICE).await.unwrap().secret(), "AT-old");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "backing off: no second call at once");
        assert_eq!(*s.counted.lock().unwrap(), ["failed", "backing_off"]);
        s.clock.fetch_add(60, Ordering::SeqCst);
        assert!(matches!(
            s.token(ALICE).await.unwrap_err(),
            TokenError::Unavailable { .. }
        ));
        let record = s.outbound.store().connection(ALICE, "Files").await.unwrap().unwrap();
        assert_eq!(record.status, ConnectionStatus::Connected, "the connection is kept");
    }
}
