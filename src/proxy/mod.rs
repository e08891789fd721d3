//! The pingora `ProxyHttp` implementation: glue only. It finds the route, asks the [`Authenticator`] for a
//! decision, writes refusals, rewrites headers for the upstream and records metrics. No auth logic here.
//!
//! [`Authenticator`]: authgate_core::auth::Authenticator

pub mod admin;
pub mod answer;
pub mod direct;
pub mod downstream;
pub mod forward;
pub mod h1;
pub mod outbound;
pub mod ratelimit;
pub mod route_metrics;
pub mod routes;
pub mod state;
pub mod target;
pub mod tls;
pub mod wire;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use authgate_apis::outbound::service::Outbound;
use authgate_apis::outbound::tokens::AccessToken;
use authgate_core::auth::errors::{respond, ErrorResponse};
use authgate_core::auth::Authenticated;
use authgate_core::config::ForwardCredentials;
use bytes::Bytes;
use forward::{SetFields, X_FORWARDED_FOR};
use http::header::AUTHORIZATION;
use pingora::prelude::*;
use pingora::proxy::FailToProxy;
use pingora::upstreams::peer::HttpPeer;
use routes::Route;
use state::ProxyState;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Per-request state.
pub struct RequestCtx {
    /// The configuration snapshot this request is served with (a reload does not change it mid-request).
    state: Arc<ProxyState>,
    route: Option<Arc<Route>>,
    /// The origin-form target sent upstream when it is not the client's (normalised path, absolute form).
    upstream_target: Option<String>,
    auth: Option<Arc<Authenticated>>,
    request_id: String,
    started: Instant,
    upstream_started: Option<Instant>,
    /// `basic`, `oauth`, `none`, or `-` when the route does not authenticate.
    auth_method: &'static str,
    /// Why the request was allowed or refused (`ok`, `audience`, `no_route`...).
    decision: &'static str,
    /// The user's token for the route's outbound resource, sent upstream instead of the client's credentials.
    outbound_token: Option<AccessToken>,
}

impl RequestCtx {
    /// A request's state before anything is decided, served with `state`.
    fn new(state: Arc<ProxyState>) -> Self {
        Self {
            state,
            route: None,
            upstream_target: None,
            auth: None,
            request_id: String::new(),
            started: Instant::now(),
            upstream_started: None,
            auth_method: "-",
            decision: "-",
            outbound_token: None,
        }
    }
}

/// The proxy service. Its clones share everything (configuration, request counter, upstream pool): pingora's
/// `HttpProxy` owns one, the downstream connection loop ([`downstream::Downstream`]) another ([`h1`]).
#[derive(Clone)]
pub struct AuthProxy {
    current: Arc<ArcSwap<ProxyState>>,
    id_prefix: u64,
    id_counter: Arc<AtomicU64>,
    /// Outbound OAuth (it reloads its own catalog), for routes with `outbound`.
    outbound: Option<Arc<Outbound>>,
    /// The bodyless fast path past pingora's `proxy_1to1` ([`direct`]); without it every request takes
    /// pingora's path.
    direct: Option<Arc<direct::Direct>>,
}

impl AuthProxy {
    /// A proxy serving whatever snapshot `current` holds when each request starts.
    pub fn new(current: Arc<ArcSwap<ProxyState>>) -> Self {
        let mut seed = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut seed);
        Self {
            current,
            id_prefix: u64::from_le_bytes(seed),
            id_counter: Arc::new(AtomicU64::new(0)),
            outbound: None,
            direct: None,
        }
    }

    /// Bodyless HTTP/1 requests are exchanged with the upstream by authgate itself ([`direct`]), with the
    /// connection pool options pingora's proxy gets from `conf`.
    pub fn with_direct(mut self, conf: &pingora::server::configuration::ServerConf) -> Self {
        self.direct = Some(Arc::new(direct::Direct::new(conf)));
        self
    }

    /// Routes with `outbound` get their tokens from `outbound` (without it they answer 503).
    pub fn with_outbound(mut self, outbound: Option<Arc<Outbound>>) -> Self {
        self.outbound = outbound;
        self
    }

    /// The inbound `X-Request-Id` when it is sane, else a fresh one.
    fn request_id(&self, session: &Session) -> String {
        let inbound = session
            .req_header()
            .headers
            .get(&forward::X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()));
        match inbound {
            Some(id) => id.to_string(),
            None => forward::request_id(self.id_prefix, self.id_counter.fetch_add(1, Ordering::Relaxed)),
        }
    }
}

/// The TCP peer's address (IPv4-mapped IPv6 as IPv4).
fn peer_ip(session: &Session) -> Option<std::net::IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_canonical())
}

fn is_bearer(value: &http::HeaderValue) -> bool {
    value
        .as_bytes()
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"bearer "))
}

/// Writes a JSON error response and ends the request.
async fn send_error(session: &mut Session, error: &ErrorResponse, request_id: &str) -> Result<()> {
    let body = error.body(request_id);
    let mut header = ResponseHeader::build(error.status, Some(6 + error.www_authenticate.len()))?;
    header.insert_header("content-type", "application/json")?;
    header.insert_header("content-length", body.len().to_string())?;
    header.insert_header("cache-control", "no-store")?;
    header.insert_header("x-request-id", request_id)?;
    for challenge in &error.www_authenticate {
        header.append_header("www-authenticate", challenge.as_str())?;
    }
    if let Some(seconds) = error.retry_after {
        header.insert_header("retry-after", seconds.to_string())?;
    }
    // A refused request's body is never read: keep the connection only when there is none, so a client can
    // retry with credentials on the same connection (the usual 401 challenge flow).
    if !session.is_body_empty() {
        session.set_keepalive(None);
    }
    session.write_response_header(Box::new(header), false).await?;
    session.write_response_body(Some(Bytes::from(body)), true).await?;
    Ok(())
}

/// Answers 429 with `Retry-After` (whole seconds, at least 1).
async fn refuse_rate_limited(session: &mut Session, ctx: &mut RequestCtx, wait: std::time::Duration) -> Result<bool> {
    ctx.decision = "rate_limited";
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut error = ErrorResponse::plain(429, "rate_limited", "too many requests; retry later");
    error.retry_after = Some(seconds.max(1));
    send_error(session, &error, &ctx.request_id).await?;
    Ok(true)
}

/// authgate's rewrite of the request sent upstream on pingora's path (`upstream_request_filter`): the client's
/// fields rewritten, then authgate's fields and the identity appended.
fn rewrite_upstream_request(session: &Session, upstream: &mut RequestHeader, ctx: &mut RequestCtx) -> Result<()> {
    let set = rewrite_client_fields(session, upstream, ctx)?;
    // Client copies were removed, so appending cannot duplicate a name (and skips the lookup).
    for (name, value) in set.iter() {
        upstream.append_header(name.clone(), value.clone())?;
    }
    if let Some(auth) = &ctx.auth {
        for (name, value) in &auth.headers {
            upstream.append_header(name.clone(), value.clone())?;
        }
        if let Some((name, value)) = assertion(ctx, auth) {
            upstream.append_header(name, value)?;
        }
    }
    Ok(())
}

/// The part of authgate's rewrite both paths do on a `RequestHeader`: the normalised target, client copies of
/// identity headers and of the fields authgate sets removed, credentials forwarded or not per route. The
/// fields authgate sets (`X-Forwarded-*`, `X-Request-Id`: [`SetFields`]) are returned for the caller to
/// append, the fast path as bytes ([`wire::request_head`]) with the identity.
fn rewrite_client_fields(session: &Session, upstream: &mut RequestHeader, ctx: &mut RequestCtx) -> Result<SetFields> {
    if let Some(target) = &ctx.upstream_target {
        let uri = http::Uri::try_from(target.as_str())
            .or_err(ErrorType::InternalError, "normalised request target is not a URI")?;
        upstream.set_uri(uri);
    }
    let state = ctx.state.clone();
    let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
    let set = SetFields::new(
        peer_ip(session),
        tls,
        &state.trusted_proxies,
        &upstream.headers,
        &ctx.request_id,
    )
    .or_err(ErrorType::InternalError, "forwarding field is not a header value")?;
    let headers = &state.identity_headers;
    let removed: Vec<http::HeaderName> = upstream
        .headers
        .keys()
        .filter(|name| headers.is_identity_header(name) || set.replaces(name))
        .cloned()
        .collect();
    for name in removed {
        upstream.remove_header(&name);
    }
    if let Some(token) = &ctx.outbound_token {
        // The user's token for the route's resource replaces whatever the client sent.
        upstream.remove_header(&AUTHORIZATION);
        let mut value = http::HeaderValue::try_from(format!("Bearer {}", token.secret()))
            .or_err(ErrorType::InternalError, "outbound token is not a header value")?;
        value.set_sensitive(true);
        upstream.insert_header(AUTHORIZATION, value)?;
    } else if let Some(route) = &ctx.route {
        let keep = match route.forward {
            ForwardCredentials::None => false,
            ForwardCredentials::All => true,
            ForwardCredentials::Bearer => {
                let mut values = upstream.headers.get_all(AUTHORIZATION).iter();
                values.next().is_some_and(is_bearer) && values.all(is_bearer)
            }
        };
        if !keep {
            upstream.remove_header(&AUTHORIZATION);
        }
    }
    ctx.upstream_started = Some(Instant::now());
    Ok(set)
}

/// The signed identity assertion for `auth` on this request's route, when assertions are on. Its header's
/// client copies are removed with the identity headers' (it is a reserved name).
fn assertion(ctx: &RequestCtx, auth: &Arc<Authenticated>) -> Option<(http::HeaderName, http::HeaderValue)> {
    let (assertion, route) = (ctx.state.assertion.as_ref()?, ctx.route.as_ref()?);
    let value = assertion
        .signer
        .assertion(auth, route.index, &route.assertion_audience)?;
    Some((assertion.header.clone(), value))
}

impl AuthProxy {
    /// The route, the refusals and the auth decision: true when the request was answered here.
    async fn decide(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.request_id = self.request_id(session);
        let state = ctx.state.clone();
        // The route decision and the upstream see the same, normalised, path.
        let route = match target::resolve(session.req_header(), &state.routes) {
            Ok(target) => {
                ctx.upstream_target = target.upstream;
                target.route
            }
            Err(refusal) => {
                ctx.decision = refusal.decision;
                send_error(session, &refusal.error, &ctx.request_id).await?;
                return Ok(true);
            }
        };
        ctx.route = Some(route.clone());
        if let Some(disabled) = &route.disabled {
            ctx.decision = "api_disabled";
            let error = ErrorResponse::plain(disabled.status, "api_disabled", disabled.message.clone());
            send_error(session, &error, &ctx.request_id).await?;
            return Ok(true);
        }
        let client_ip = peer_ip(session).map(|peer| {
            if state.trusted_proxies.is_empty() {
                peer
            } else {
                let forwarded_for = session.req_header().headers.get_all(&X_FORWARDED_FOR).iter();
                state
                    .trusted_proxies
                    .client_ip(peer, forwarded_for.map(|v| v.as_bytes()))
            }
        });
        if let (Some(limiter), Some(ip)) = (&route.limits.per_ip, client_ip) {
            if let Err(wait) = limiter.check(&ip.to_string()).await {
                return refuse_rate_limited(session, ctx, wait).await;
            }
        }
        let Some(policy) = &route.auth else {
            return Ok(false);
        };
        let decision = {
            // No allocation: one header is the normal case, a second one is refused whatever follows.
            let mut values = session
                .req_header()
                .headers
                .get_all(AUTHORIZATION)
                .iter()
                .map(|v| v.as_bytes());
            let found: [Option<&[u8]>; 2] = [values.next(), values.next()];
            let present: &[&[u8]] = match found {
                [None, _] => &[],
                [Some(one), None] => &[one],
                [Some(one), Some(two)] => &[one, two],
            };
            state.authenticator.authenticate(present, client_ip, policy).await
        };
        ctx.auth_method = decision.method;
        match decision.result {
            Ok(auth) => {
                ctx.decision = "ok";
                if let Some(limiter) = &route.limits.per_user {
                    if let Err(wait) = limiter.check(&auth.identity.fqn).await {
                        ctx.auth = Some(auth);
                        return refuse_rate_limited(session, ctx, wait).await;
                    }
                }
                if let Some(resource) = &route.outbound {
                    let token = outbound::token(self.outbound.as_deref(), session, &auth, resource, &state).await;
                    match token {
                        Ok(token) => ctx.outbound_token = Some(token),
                        Err(refusal) => {
                            ctx.decision = "outbound_token";
                            ctx.auth = Some(auth);
                            outbound::refuse(session, &refusal, &state.realm, &ctx.request_id).await?;
                            return Ok(true);
                        }
                    }
                }
                ctx.auth = Some(auth);
                Ok(false)
            }
            Err(err) => {
                ctx.decision = err.reason();
                let error = respond(&err, &state.realm, policy.challenges());
                send_error(session, &error, &ctx.request_id).await?;
                Ok(true)
            }
        }
    }

    /// The fast path for a request [`direct::eligible`] for it: the upstream exchange is done here, in this
    /// task (true), instead of by pingora's `proxy_1to1` (false: pingora proxies it).
    async fn try_direct(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let (Some(direct), Some(route)) = (&self.direct, ctx.route.clone()) else {
            return Ok(false);
        };
        if !direct::eligible(session, route.peer.peer()) {
            return Ok(false);
        }
        let head = direct_head(session, ctx)?;
        direct.exchange(session, &route.peer, head).await?;
        Ok(true)
    }
}

/// The head the fast path sends upstream: the client's request, prepared as `proxy_1to1` would, with
/// authgate's rewrite, as the bytes pingora would write for it.
fn direct_head(session: &Session, ctx: &mut RequestCtx) -> Result<Bytes> {
    let mut upstream = session.req_header().clone();
    direct::prepare(&mut upstream);
    let set = rewrite_client_fields(session, &mut upstream, ctx)?;
    direct::validate(&upstream)?;
    let auth = ctx.auth.as_ref();
    let assertion = auth.and_then(|auth| assertion(ctx, auth));
    wire::request_head(
        &upstream,
        set.iter(),
        auth.map(|auth| auth.as_ref()),
        assertion.as_ref().map(|(name, value)| (name, value)),
    )
}

#[async_trait]
impl ProxyHttp for AuthProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.current.load_full())
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        match &ctx.route {
            Some(route) => Ok(Box::new(route.peer.peer().clone())),
            None => Error::e_explain(ErrorType::InternalError, "no route selected"),
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        if self.decide(session, ctx).await? {
            return Ok(true);
        }
        self.try_direct(session, ctx).await
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        rewrite_upstream_request(session, upstream, ctx)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut RequestCtx) -> FailToProxy
    where
        RequestCtx: Send + Sync,
    {
        let (status, code, description) = match e.etype() {
            ErrorType::HTTPStatus(status) => (*status, "error", "the request failed".to_string()),
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => (
                504,
                "upstream_timeout",
                "the upstream did not answer in time".to_string(),
            ),
            _ => match e.esource() {
                ErrorSource::Upstream => {
                    let upstream = ctx.route.as_ref().map(|r| r.upstream.describe()).unwrap_or_default();
                    (
                        502,
                        "bad_gateway",
                        format!("the upstream {upstream} could not be reached or failed"),
                    )
                }
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => {
                        (0, "", String::new())
                    }
                    _ => (400, "bad_request", "the request could not be read".to_string()),
                },
                _ => (500, "internal_error", "internal error".to_string()),
            },
        };
        if status > 0 && session.response_written().is_none() {
            // The connection closes after this answer (`can_reuse_downstream: false`): say so
            // (`Connection: close`), or a client reusing it races the close and sees a reset.
            session.set_keepalive(None);
            let error = ErrorResponse::plain(status, code, description);
            if let Err(write_error) = send_error(session, &error, &ctx.request_id).await {
                tracing::debug!(error = %write_error, "could not send error response");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    /// How pingora's own error lines name a request: method and path (its default adds the query string,
    /// which may carry a secret such as `access_token=`).
    fn request_summary(&self, session: &Session, ctx: &RequestCtx) -> String {
        let req = session.req_header();
        format!("{} {}, request id {}", req.method, req.uri.path(), ctx.request_id)
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        log_request(session, ctx);
    }
}

/// The request counted in the metrics and, when the access log is on, logged (the end of every request).
fn log_request(session: &Session, ctx: &RequestCtx) {
    let status = session.response_written().map_or(0, |r| r.status.as_u16());
    let route = ctx.route.as_ref().map_or("(none)", |r| r.name.as_str());
    let metrics = &ctx.state.metrics;
    match &ctx.route {
        // Resolved once per route and status, not looked up by label on every request.
        Some(r) => {
            r.metrics.count_request(metrics, route, status);
            if let Some(started) = ctx.upstream_started {
                r.metrics
                    .observe_upstream(metrics, route, started.elapsed().as_secs_f64());
            }
        }
        None => metrics
            .requests
            .with_label_values(&[route, &route_metrics::status_label(status)])
            .inc(),
    }
    if ctx.state.access_log {
        let req = session.req_header();
        let upstream = match (&ctx.upstream_started, &ctx.route) {
            (Some(_), Some(r)) => r.upstream.describe(),
            _ => "-".to_string(),
        };
        // The path only: query strings may carry secrets (access_token=...).
        tracing::info!(
            target: "authgate::access",
            request_id = %ctx.request_id,
            method = %req.method,
            path = %req.uri.path(),
            status,
            route,
            user = ctx.auth.as_ref().map_or("-", |a| a.identity.fqn.as_str()),
            auth_method = ctx.auth_method,
            decision = ctx.decision,
            upstream = %upstream,
            latency_us = ctx.started.elapsed().as_micros() as u64,
            "request"
        );
    }
}
