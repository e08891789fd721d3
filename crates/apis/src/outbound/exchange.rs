//! Token exchange without a browser (issue 17, 6c): the [`TokenSource`] of the `on_behalf_of` and
//! `token_exchange` kinds. A caller who arrived with a bearer token has it exchanged at the resource's token
//! endpoint for a token for the resource:
//!
//! - Azure AD on-behalf-of: the type's token-stage parameters (`grant_type=urn:ietf:params:oauth:grant-type:
//!   jwt-bearer`, `requested_token_use=on_behalf_of`, the client credentials, `scope` or `resource`) plus
//!   `assertion=<the inbound token>`;
//! - RFC 8693: the type's token-stage parameters (`grant_type=urn:ietf:params:oauth:grant-type:token-exchange`,
//!   `subject_token_type`, `audience`/`resource`/`scope`) plus `subject_token=<the inbound token>`.
//!
//! The answer is cached per (user, resource) until [`EXPIRY_SKEW`] before it expires (a token without
//! `expires_in` is not cached), and concurrent misses for one key make one request (single flight). A
//! caller without a bearer token (Basic) gets [`TokenError::NoInboundToken`], cached or not. Tokens are never
//! logged.

use super::endpoint::{request_token, EndpointError};
use super::params::{parameters, Parameter};
use super::resource::{GrantKind, Resource, ResourceType, Stage};
use super::tokens::{AccessToken, Principal, TokenError, TokenSource};
use async_trait::async_trait;
use authgate_core::auth::single_flight::SingleFlight;
use authgate_core::config::Secret;
use moka::sync::Cache;
use moka::Expiry;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long before its expiry an exchanged token stops being handed out (and a new one is obtained).
pub const EXPIRY_SKEW: Duration = Duration::from_secs(60);
/// The most (user, resource) tokens kept.
const MAX_CACHED: u64 = 100_000;
/// How long a token endpoint is given to answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The grant of the on-behalf-of flow (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The grant of RFC 8693.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The RFC 8693 type of an access token given as `subject_token`.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// (user, lower-cased resource name).
type Key = (String, String);

#[derive(Clone)]
struct Entry {
    token: AccessToken,
    /// When it stops being handed out (its expiry less the skew).
    until: Instant,
}

struct UntilStale;

impl Expiry<Key, Entry> for UntilStale {
    fn expire_after_create(&self, _key: &Key, value: &Entry, created_at: Instant) -> Option<Duration> {
        Some(value.until.saturating_duration_since(created_at))
    }
}

/// Exchanges inbound bearer tokens, caching the results.
pub struct Exchanger {
    client: reqwest::Client,
    timeout: Duration,
    cache: Cache<Key, Entry>,
    flights: SingleFlight<Key, Result<AccessToken, TokenError>>,
}

impl Exchanger {
    /// An exchanger sending its requests with `client`, each within `timeout`.
    pub fn new(client: reqwest::Client, timeout: Duration) -> Self {
        Self {
            client,
            timeout,
            cache: Cache::builder()
                .max_capacity(MAX_CACHED)
                .expire_after(UntilStale)
                .build(),
            flights: SingleFlight::default(),
        }
    }

    /// The kinds it supplies (what to register it for).
    pub const KINDS: [GrantKind; 2] = [GrantKind::OnBehalfOf, GrantKind::TokenExchange];

    /// Forgets every cached token (tests; a revoked grant).
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }

    async fn exchange(&self, inbound: &str, resource: &Resource, ty: &ResourceType) -> Result<Entry, TokenError> {
        let form = exchange_parameters(ty, resource, inbound).ok_or_else(|| TokenError::Unavailable {
            resource: resource.name.clone(),
            reason: format!("type '{}' does not exchange tokens", ty.name),
        })?;
        let sent = Instant::now();
        let answer = request_token(&self.client, &resource.token_endpoint, &form, self.timeout).await;
        let response = answer.map_err(|e| match e {
            EndpointError::Refused { error, description } if error != "temporarily_unavailable" => {
                tracing::info!(
                    resource = %resource.name,
                    error = %error,
                    description = description.as_deref().unwrap_or("-"),
                    "the token endpoint refused an exchange"
                );
                TokenError::Refused {
                    resource: resource.name.clone(),
                    error,
                }
            }
            other => {
                tracing::warn!(resource = %resource.name, error = %other, "token exchange failed");
                TokenError::Unavailable {
                    resource: resource.name.clone(),
                    reason: other.to_string(),
                }
            }
        })?;
        let lifetime = response
            .expires_in
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs);
        let expires_at = lifetime.map(|life| unix_now().saturating_add(life.as_secs() as i64));
        // Measured from when the request was sent: the provider's clock started no earlier.
        let until = match lifetime {
            Some(life) => sent + life.saturating_sub(EXPIRY_SKEW),
            None => sent,
        };
        Ok(Entry {
            token: AccessToken::new(response.access_token, expires_at),
            until,
        })
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The form an exchange of `inbound` for `resource` posts: the type's token-stage parameters with the
/// resource's values, the standard `grant_type` (and RFC 8693 `subject_token_type`) where the type gives
/// none, and the inbound token as `assertion` (on-behalf-of) or `subject_token` (RFC 8693). `None` for an
/// `authorization_code` type.
pub fn exchange_parameters(ty: &ResourceType, resource: &Resource, inbound: &str) -> Option<Vec<Parameter>> {
    let (grant, token_name) = match ty.kind {
        GrantKind::OnBehalfOf => (JWT_BEARER, "assertion"),
        GrantKind::TokenExchange => (TOKEN_EXCHANGE, "subject_token"),
        GrantKind::AuthorizationCode => return None,
    };
    let mut form = parameters(ty, resource, Stage::Token);
    let has = |form: &[Parameter], name: &str| form.iter().any(|p| p.name == name);
    let fixed = |name: &str, value: &str| Parameter {
        name: name.to_string(),
        value: Secret::new(value),
        url_encode: true,
    };
    if !has(&form, "grant_type") {
        form.insert(0, fixed("grant_type", grant));
    }
    if ty.kind == GrantKind::TokenExchange && !has(&form, "subject_token_type") {
        form.push(fixed("subject_token_type", ACCESS_TOKEN_TYPE));
    }
    form.retain(|p| p.name != token_name);
    form.push(fixed(token_name, inbound));
    Some(form)
}

#[async_trait]
impl TokenSource for Exchanger {
    async fn access_token(
        &self,
        caller: Principal<'_>,
        resource: &Resource,
        ty: &ResourceType,
    ) -> Result<AccessToken, TokenError> {
        let Some(inbound) = caller.inbound_bearer else {
            return Err(TokenError::NoInboundToken {
                resource: resource.name.clone(),
            });
        };
        let key: Key = (caller.user.to_string(), resource.name.to_lowercase());
        if let Some(entry) = self.cache.get(&key) {
            if entry.until > Instant::now() {
                return Ok(entry.token);
            }
        }
        let (result, _) = self
            .flights
            .run(key.clone(), || async {
                // A caller that waited for the flight before this one may have filled the cache.
                if let Some(entry) = self.cache.get(&key).filter(|e| e.until > Instant::now()) {
                    return Ok(entry.token);
                }
                let entry = self.exchange(inbound, resource, ty).await?;
                if entry.until > Instant::now() {
                    self.cache.insert(key.clone(), entry.clone());
                }
                Ok(entry.token)
            })
            .await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::params::render;
    use crate::outbound::resource::tests::{parse, shipped_catalog};
    use crate::outbound::resource::{Catalog, ResourceFile};
    use axum::extract::State;
    use axum::routing::post;
    use axum::Router;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// The shipped types with one resource of `ty` whose token endpoint is `endpoint`.
    fn catalog(ty: &str, endpoint: &str, parameters: &str) -> Catalog {
        let shipped = shipped_catalog();
        let resource: ResourceFile = parse(&format!(
            "name: Api\ntype: {ty}\ntoken_endpoint: {endpoint}\nparameters:\n{parameters}"
        ));
        let mut catalog = Catalog {
            types: shipped.types,
            resources: vec![],
        };
        let r = Resource::from_file(resource, &catalog.types).unwrap_or_else(|e| panic!("{e:?}"));
        catalog.resources.push(r);
        catalog
    }

    fn form(c: &Catalog, inbound: &str) -> String {
        let r = &c.resources[0];
        render(&exchange_parameters(c.type_of(r).unwrap(), r, inbound).unwrap())
    }

    #[test]
    fn on_behalf_of_sends_the_assertion_with_the_token_stage_parameters() {
        let c = catalog(
            "Microsoft Online on-behalf-of",
            "https://login.example/t/oauth2/v2.0/token",
            "  client_id: {token: app}\n  client_secret: {token: s3}\n  scope: {token: 'api://down/.default'}\n",
        );
        assert_eq!(
            form(&c, "in.bound.jwt"),
            "client_id=app&client_secret=s3&scope=api%3A%2F%2Fdown%2F.default\
             &grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer\
             &requested_token_use=on_behalf_of&assertion=in.bound.jwt"
        );
    }

    #[test]
    fn rfc_8693_sends_the_subject_token_and_its_type() {
        let c = catalog(
            "OAuth 2.0 token exchange",
            "https://sts.example/token",
            "  client_id: {token: app}\n  audience: {token: down}\n",
        );
        let sent = form(&c, "in.bound.jwt");
        assert!(
            sent.contains("&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&"),
            "{sent}"
        );
        assert!(sent.starts_with("client_id=app&"), "{sent}");
        assert!(sent.contains("&audience=down"), "{sent}");
        assert!(
            sent.contains("subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"),
            "{sent}"
        );
        assert!(sent.ends_with("&subject_token=in.bound.jwt"), "{sent}");
    }

    #[test]
    fn an_authorization_code_type_does_not_exchange() {
        let c = shipped_catalog();
        let r = c.resource("Salesforce example").unwrap();
        assert!(exchange_parameters(c.type_of(r).unwrap(), r, "x").is_none());
    }

    /// A token endpoint that answers `answer(form)` and counts its calls, slowly enough for callers to pile up.
    #[derive(Clone, Default)]
    struct Endpoint {
        calls: Arc<AtomicUsize>,
        forms: Arc<Mutex<Vec<HashMap<String, String>>>>,
    }

    async fn serve(endpoint: Endpoint, status: http::StatusCode, body: &'static str) -> String {
        let router = Router::new()
            .route(
                "/token",
                post(move |State(e): State<Endpoint>, sent: String| async move {
                    let form: HashMap<String, String> =
                        url::form_urlencoded::parse(sent.as_bytes()).into_owned().collect();
                    e.calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let token = format!(
                        "{}-for-{}",
                        form.get("assertion").cloned().unwrap_or_default(),
                        e.calls.load(Ordering::SeqCst)
                    );
                    e.forms.lock().unwrap().push(form);
                    (status, body.replace("TOKEN", &token))
                }),
            )
            .with_state(endpoint);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{addr}/token")
    }

    fn obo(endpoint: &str) -> Catalog {
        catalog(
            "Microsoft Online on-behalf-of",
            endpoint,
            "  client_id: {token: app}\n  scope: {token: 'api://down/.default'}\n",
        )
    }

    async fn get(x: &Exchanger, c: &Catalog, user: &str, inbound: Option<&str>) -> Result<AccessToken, TokenError> {
        let r = &c.resources[0];
        x.access_token(
            Principal {
                user,
                inbound_bearer: inbound,
            },
            r,
            c.type_of(r).unwrap(),
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_are_cached_per_user_and_concurrent_misses_exchange_once() {
        let e = Endpoint::default();
        let url = serve(
            e.clone(),
            http::StatusCode::OK,
            r#"{"access_token":"TOKEN","expires_in":"3599","token_type":"Bearer"}"#,
        )
        .await;
        let c = Arc::new(obo(&url));
        let x = Arc::new(Exchanger::new(reqwest::Client::new(), DEFAULT_TIMEOUT));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (x, c) = (x.clone(), c.clone());
            tasks.spawn(async move { get(&x, &c, "alice", Some("alice-jwt")).await });
        }
        let got = tasks.join_all().await;
        assert_eq!(
            e.calls.load(Ordering::SeqCst),
            1,
            "eight concurrent misses, one exchange"
        );
        for t in &got {
            assert_eq!(t.as_ref().unwrap().secret(), "alice-jwt-for-1");
        }
        let again = get(&x, &c, "alice", Some("alice-jwt")).await.unwrap();
        assert_eq!(again.secret(), "alice-jwt-for-1");
        assert!(again.expires_at.is_some());
        assert_eq!(e.calls.load(Ordering::SeqCst), 1, "cached");
        let bob = get(&x, &c, "bob", Some("bob-jwt")).await.unwrap();
        assert_eq!(bob.secret(), "bob-jwt-for-2", "bob never gets alice's token");
        assert_eq!(e.forms.lock().unwrap()[1]["assertion"], "bob-jwt");
        assert_eq!(
            get(&x, &c, "alice", None).await.unwrap_err(),
            TokenError::NoInboundToken { resource: "Api".into() },
            "a Basic caller gets nothing, even with a cached token"
        );
    }

    #[tokio::test]
    async fn a_short_lived_token_is_not_cached() {
        let e = Endpoint::default();
        let url = serve(
            e.clone(),
            http::StatusCode::OK,
            r#"{"access_token":"TOKEN","expires_in":30}"#,
        )
        .await;
        let c = obo(&url);
        let x = Exchanger::new(reqwest::Client::new(), DEFAULT_TIMEOUT);
        get(&x, &c, "alice", Some("a")).await.unwrap();
        get(&x, &c, "alice", Some("a")).await.unwrap();
        assert_eq!(e.calls.load(Ordering::SeqCst), 2, "30 s is inside the 60 s skew");
    }

    #[tokio::test]
    async fn a_refusal_carries_the_providers_code_and_no_body() {
        let e = Endpoint::default();
        let url = serve(
            e.clone(),
            http::StatusCode::BAD_REQUEST,
            r#"{"error":"interaction_required","error_description":"AADSTS50076 TOKEN"}"#,
        )
        .await;
        let c = obo(&url);
        let x = Exchanger::new(reqwest::Client::new(), DEFAULT_TIMEOUT);
        let err = get(&x, &c, "alice", Some("secret-jwt")).await.unwrap_err();
        assert_eq!(
            err,
            TokenError::Refused {
                resource: "Api".into(),
                error: "interaction_required".into()
            }
        );
        assert!(!err.to_string().contains("secret-jwt"), "{err}");
        get(&x, &c, "alice", Some("secret-jwt")).await.unwrap_err();
        assert_eq!(e.calls.load(Ordering::SeqCst), 2, "a refusal is not cached");
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        drop(listener);
        let c = obo(&url);
        let x = Exchanger::new(reqwest::Client::new(), DEFAULT_TIMEOUT);
        let err = get(&x, &c, "alice", Some("a")).await.unwrap_err();
        assert!(matches!(err, TokenError::Unavailable { .. }), "{err:?}");
    }
}
