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
use credentials::{parse_authorization, Credentials};
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
        let (method, result) = match parse_authorization(authorization, self.max_token_bytes) {
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
}
