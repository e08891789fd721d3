//! Authentication, split the way Envoy's jwt_authn is: credential extraction, Basic and bearer
//! authenticators, key store, token cache, platform rules and the error mapping, each its own module.
//! [`Authenticator`] is the only entry point the proxy calls.

pub mod audience;
pub mod basic;
pub mod bearer;
pub mod credentials;
pub mod errors;
pub mod headers;
pub mod issuer;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod lockout;
pub mod rules;
pub mod single_flight;
pub mod token_cache;

pub use headers::HeaderSet;

use crate::identity::{Identity, UserManager};
use crate::metrics::Metrics;
use basic::BasicAuthenticator;
use bearer::BearerAuthenticator;
use credentials::{parse_authorization, unchecked_bearer, Credentials};
use errors::{AuthError, Challenges};
use http::{HeaderName, HeaderValue};
use prometheus::IntCounter;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// An authenticated identity together with the headers that carry it upstream (rendered once, then shared
/// by every request that hits the cache).
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who.
    pub identity: Identity,
    /// The identity headers to set upstream.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// For OAuth: the index of the provider that issued the token.
    pub provider_index: Option<usize>,
    /// `headers` as the HTTP/1 field lines the proxy writes upstream, rendered by the proxy on first use and
    /// then shared like `headers` (the proxy owns the wire format; this is only where it is kept).
    pub wire: OnceLock<Box<[u8]>>,
}

impl Authenticated {
    /// Pairs an identity with its rendered headers.
    pub fn new(identity: Identity, headers: Vec<(HeaderName, HeaderValue)>) -> Self {
        Self {
            identity,
            headers,
            provider_index: None,
            wire: OnceLock::new(),
        }
    }
}

/// Equal when who and what is sent are equal: `wire` is a cache of `headers`.
impl PartialEq for Authenticated {
    fn eq(&self, other: &Self) -> bool {
        self.identity == other.identity && self.headers == other.headers && self.provider_index == other.provider_index
    }
}

impl Eq for Authenticated {}

/// What a route requires of a request.
#[derive(Debug, Clone)]
pub struct RoutePolicy {
    /// Basic accepted.
    pub basic: bool,
    /// Bearer accepted.
    pub bearer: bool,
    /// Indices of the providers whose tokens are accepted; `None` = all.
    pub providers: Option<Vec<usize>>,
    /// User managers allowed (the platform rule: AD and AAD).
    pub allowed_user_managers: Vec<UserManager>,
}

impl RoutePolicy {
    /// The challenges a 401 on this route offers.
    pub fn challenges(&self) -> Challenges {
        Challenges {
            basic: self.basic,
            bearer: self.bearer,
        }
    }
}

/// The outcome of authenticating one request.
pub struct Decision {
    /// `basic`, `oauth` or `none` (no usable credentials).
    pub method: &'static str,
    /// The identity, or why not.
    pub result: Result<Arc<Authenticated>, AuthError>,
}

/// Authenticates requests: parses `Authorization`, runs the matching authenticator, applies the rules, and
/// counts the decision.
pub struct Authenticator {
    basic: Option<BasicAuthenticator>,
    bearer: BearerAuthenticator,
    max_token_bytes: usize,
    metrics: Arc<Metrics>,
    /// The `allow` counters of Basic and bearer, resolved on first use rather than looked up by label on every
    /// request (created lazily, so a method never used shows no series, as before).
    allowed: [OnceLock<IntCounter>; 2],
}

impl Authenticator {
    /// Builds the authenticator; `basic` is `None` when Basic is switched off.
    pub fn new(
        basic: Option<BasicAuthenticator>,
        bearer: BearerAuthenticator,
        max_token_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            basic,
            bearer,
            max_token_bytes,
            metrics,
            allowed: Default::default(),
        }
    }

    /// Largest bearer token accepted, in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    /// The Basic authenticator, when Basic is on (its cache and counters carry over reloads).
    pub fn basic(&self) -> Option<&BasicAuthenticator> {
        self.basic.as_ref()
    }

    /// The bearer authenticator (providers, for diagnostics and background refresh).
    pub fn bearer(&self) -> &BearerAuthenticator {
        &self.bearer
    }

    /// Authenticates a request carrying `authorization` (every `Authorization` value) from `client_ip`.
    pub async fn authenticate(
        &self,
        authorization: &[&[u8]],
        client_ip: Option<IpAddr>,
        policy: &RoutePolicy,
    ) -> Decision {
        // A bearer token verified before is found by its bytes first: they were checked when it went into the
        // cache, which compares the whole token (about 1,900 instructions saved for a 700-byte token,
        // benches/load/README.md).
        let cached = policy
            .bearer
            .then(|| unchecked_bearer(authorization, self.max_token_bytes))
            .flatten()
            .and_then(|token| self.bearer.cached(token, policy.providers.as_deref()));
        let (method, result) = match cached {
            Some(hit) => ("oauth", Ok(hit)),
            None => self.parse_and_authenticate(authorization, client_ip, policy).await,
        };
        let result = result.and_then(|auth| {
            rules::check(&auth.identity, &policy.allowed_user_managers)?;
            Ok(auth)
        });
        let resolved = match (&result, method) {
            (Ok(_), "basic") => Some(&self.allowed[0]),
            (Ok(_), "oauth") => Some(&self.allowed[1]),
            _ => None,
        };
        match (resolved, &result) {
            (Some(counter), _) => counter
                .get_or_init(|| self.metrics.decisions.with_label_values(&[method, "allow", "ok"]))
                .inc(),
            (None, Ok(_)) => self.metrics.decisions.with_label_values(&[method, "allow", "ok"]).inc(),
            (None, Err(e)) => self
                .metrics
                .decisions
                .with_label_values(&[method, "deny", e.reason()])
                .inc(),
        }
        Decision { method, result }
    }

    /// The method and outcome of `authorization` parsed and checked by its authenticator.
    async fn parse_and_authenticate(
        &self,
        authorization: &[&[u8]],
        client_ip: Option<IpAddr>,
        policy: &RoutePolicy,
    ) -> (&'static str, Result<Arc<Authenticated>, AuthError>) {
        match parse_authorization(authorization, self.max_token_bytes) {
            Err(e) => ("none", Err(AuthError::from(e))),
            Ok(Credentials::Basic(creds)) => {
                let result = match (&self.basic, policy.basic) {
                    (Some(basic), true) => basic.authenticate(&creds, client_ip).await,
                    _ => Err(AuthError::MethodNotAccepted("Basic")),
                };
                ("basic", result)
            }
            Ok(Credentials::Bearer(token)) => {
                let result = if policy.bearer {
                    self.bearer
                        .authenticate(token, policy.providers.as_deref())
                        .await
                        .map_err(AuthError::from)
                } else {
                    Err(AuthError::MethodNotAccepted("Bearer"))
                };
                ("oauth", result)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HeaderNamesConfig;
    use crate::minting::{provider_for, DEFAULT_AUDIENCE, DEFAULT_ISSUER};
    use crate::signing::{SigningAlg, SigningKey};
    use std::time::Duration;
    use token_cache::TokenCache;

    fn authenticator(key: &SigningKey, metrics: Arc<Metrics>) -> Authenticator {
        let provider = Arc::new(provider_for([key], DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap());
        let headers = Arc::new(HeaderSet::from_config(&HeaderNamesConfig::default()).unwrap());
        let cache = TokenCache::new(100, Duration::from_secs(300));
        let bearer = BearerAuthenticator::new(vec![provider], cache, headers, metrics.clone());
        Authenticator::new(None, bearer, 4096, metrics)
    }

    fn policy(bearer: bool, providers: Option<Vec<usize>>) -> RoutePolicy {
        RoutePolicy {
            basic: false,
            bearer,
            providers,
            allowed_user_managers: vec![UserManager::Aad],
        }
    }

    /// A token found in the cache by its bytes still gets the route's checks: bearer accepted, its provider
    /// trusted, the platform rules; and only the whole token finds it.
    #[tokio::test]
    async fn a_cached_token_gets_every_check_of_the_route() {
        let key = SigningKey::generate(SigningAlg::ES256, "k1");
        let claims = serde_json::json!({"iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE,
            "exp": crate::clock::unix_now() + 300, "preferred_username": "alice@contoso.com", "tid": "t1"});
        let header = format!("Bearer {}", key.mint(&claims)).into_bytes();
        let metrics = Arc::new(Metrics::new());
        let auth = authenticator(&key, metrics.clone());
        let any = policy(true, None);

        let first = auth.authenticate(&[&header], None, &any).await;
        assert_eq!(first.method, "oauth");
        assert_eq!(first.result.unwrap().identity.user_manager, UserManager::Aad);
        assert_eq!(
            (metrics.token_cache_hits.get(), metrics.token_cache_misses.get()),
            (0, 1)
        );
        let again = auth.authenticate(&[&header], None, &any).await;
        assert!(again.result.is_ok());
        assert_eq!(
            (metrics.token_cache_hits.get(), metrics.token_cache_misses.get()),
            (0, 2),
            "cached on its second verification"
        );
        let third = auth.authenticate(&[&header], None, &any).await;
        assert!(third.result.is_ok());
        assert_eq!(
            (metrics.token_cache_hits.get(), metrics.token_cache_misses.get()),
            (1, 2)
        );

        let refused = auth.authenticate(&[&header], None, &policy(false, None)).await;
        assert!(matches!(refused.result, Err(AuthError::MethodNotAccepted("Bearer"))));
        let untrusted = auth.authenticate(&[&header], None, &policy(true, Some(vec![1]))).await;
        assert!(
            untrusted.result.is_err(),
            "issued by a provider the route does not trust"
        );
        let ad_only = RoutePolicy {
            allowed_user_managers: vec![UserManager::Ad],
            ..any.clone()
        };
        let rules = auth.authenticate(&[&header], None, &ad_only).await;
        assert!(matches!(rules.result, Err(AuthError::UserManagerRefused(_))));

        let mut longer = header.clone();
        longer.push(b'x');
        let other = auth.authenticate(&[&longer], None, &any).await;
        assert!(
            other.result.is_err(),
            "a token that is not the cached one is verified, and fails"
        );
        let twice = auth.authenticate(&[&header, &header], None, &any).await;
        assert!(
            twice.result.is_err(),
            "two Authorization values are refused, cached token or not"
        );
    }
}
