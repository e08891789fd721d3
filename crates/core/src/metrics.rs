//! The prometheus registry and every metric family authgate exports (all prefixed `authgate_`).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The metric families, registered in their own registry.
pub struct Metrics {
    registry: Registry,
    /// `authgate_requests_total{route,status}`.
    pub requests: IntCounterVec,
    /// `authgate_auth_decisions_total{method,outcome,reason}`.
    pub decisions: IntCounterVec,
    /// `authgate_token_verify_seconds`: uncached bearer verification latency.
    pub token_verify: Histogram,
    /// `authgate_token_cache_hits_total`.
    pub token_cache_hits: IntCounter,
    /// `authgate_token_cache_misses_total`.
    pub token_cache_misses: IntCounter,
    /// `authgate_credential_cache_hits_total`.
    pub credential_cache_hits: IntCounter,
    /// `authgate_credential_cache_misses_total`.
    pub credential_cache_misses: IntCounter,
    /// `authgate_credential_checks_shared_total`: Basic requests answered by an identical request's concurrent
    /// check (single-flight) instead of their own.
    pub credential_checks_shared: IntCounter,
    /// `authgate_password_hashes_in_flight`: argon2id checks running now.
    pub password_hashes_in_flight: IntGauge,
    /// `authgate_password_hash_queue_depth`: password checks waiting for hashing memory.
    pub password_hash_queue_depth: IntGauge,
    /// `authgate_password_hash_queue_timeouts_total`: checks refused (503) after waiting `queue_timeout_ms`.
    pub password_hash_queue_timeouts: IntCounter,
    /// `authgate_password_hash_queue_full_total`: checks refused (503) at once because `max_queue` were waiting.
    pub password_hash_queue_full: IntCounter,
    /// `authgate_jwks_refresh_total{provider,result}`.
    pub jwks_refresh: IntCounterVec,
    /// `authgate_jwks_keys{provider}`: keys currently held.
    pub jwks_keys: prometheus::IntGaugeVec,
    /// `authgate_upstream_seconds{route}`.
    pub upstream: HistogramVec,
    /// `authgate_draining`: 1 while shutting down.
    pub draining: IntGauge,
    /// `authgate_config_reloads_total{result}`.
    pub config_reloads: IntCounterVec,
    /// `authgate_tls_reloads_total{result}`.
    pub tls_reloads: IntCounterVec,
    /// `authgate_connections_closed_total{reason}`: client connections the gateway closed before a request
    /// (`header_timeout`, `per_ip_limit`, `header_too_large`).
    pub connections_closed: IntCounterVec,
    /// `authgate_shared_state_degraded`: 1 while the shared state (Redis) is unreachable and the lockout and rate
    /// limits use this replica's own counters.
    pub shared_state_degraded: IntGauge,
    /// `authgate_shared_state_fallbacks_total`: checks answered by the local counters because the shared state
    /// was unreachable, slow, or known to be down.
    pub shared_state_fallbacks: IntCounter,
    /// `authgate_outbound_oauth_refreshes_total{outcome}`: outbound OAuth access-token refreshes by outcome
    /// (`refreshed`, `already_fresh`: another request or replica refreshed it first, `invalid_grant`, `failed`,
    /// `backing_off`: not tried, a recent attempt failed). No user or resource labels.
    pub outbound_oauth_refreshes: IntCounterVec,
    /// `authgate_outbound_tokens_total`: outbound OAuth tokens asked for by routes and REST-backed SmartObjects,
    /// by the resource's grant kind and the result (`ok`, `not_connected`, `needs_reauthorization`,
    /// `no_inbound_token`, `refused`, `unavailable`, `unknown_resource`). No user or resource names.
    pub outbound_tokens: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every family.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let latency_buckets = vec![
            0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025, 0.1, 0.5, 1.0,
        ];
        let token_verify = Histogram::with_opts(
            HistogramOpts::new(
                "authgate_token_verify_seconds",
                "Latency of bearer token verification on a cache miss (signature and claims)",
            )
            .buckets(latency_buckets.clone()),
        )
        .expect("valid metric");
        registry
            .register(Box::new(token_verify.clone()))
            .expect("unique metric");
        let upstream = HistogramVec::new(
            HistogramOpts::new(
                "authgate_upstream_seconds",
                "Time from upstream connect to response end, per route",
            )
            .buckets(latency_buckets),
            &["route"],
        )
        .expect("valid metric");
        registry.register(Box::new(upstream.clone())).expect("unique metric");
        let jwks_keys = prometheus::IntGaugeVec::new(
            Opts::new("authgate_jwks_keys", "Signing keys currently held per provider"),
            &["provider"],
        )
        .expect("valid metric");
        registry.register(Box::new(jwks_keys.clone())).expect("unique metric");
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let draining = gauge("authgate_draining", "1 while the gateway drains before shutdown");
        Self {
            requests: counter_vec(
                "authgate_requests_total",
                "Requests answered, by route and status",
                &["route", "status"],
            ),
            decisions: counter_vec(
                "authgate_auth_decisions_total",
                "Authentication decisions by method (basic, oauth, none), outcome (allow, deny) and reason",
                &["method", "outcome", "reason"],
            ),
            token_verify,
            token_cache_hits: counter("authgate_token_cache_hits_total", "Verified-token cache hits"),
            token_cache_misses: counter("authgate_token_cache_misses_total", "Verified-token cache misses"),
            credential_cache_hits: counter(
                "authgate_credential_cache_hits_total",
                "Verified Basic credential cache hits",
            ),
            credential_cache_misses: counter(
                "authgate_credential_cache_misses_total",
                "Verified Basic credential cache misses",
            ),
            credential_checks_shared: counter(
                "authgate_credential_checks_shared_total",
                "Basic requests answered by an identical concurrent request's check instead of their own",
            ),
            password_hashes_in_flight: gauge(
                "authgate_password_hashes_in_flight",
                "Password (argon2id) checks running now",
            ),
            password_hash_queue_depth: gauge(
                "authgate_password_hash_queue_depth",
                "Password checks waiting for hashing memory (basic.hashing.max_memory_mib)",
            ),
            password_hash_queue_timeouts: counter(
                "authgate_password_hash_queue_timeouts_total",
                "Password checks refused with 503 after waiting basic.hashing.queue_timeout_ms",
            ),
            password_hash_queue_full: counter(
                "authgate_password_hash_queue_full_total",
                "Password checks refused with 503 at once because basic.hashing.max_queue were waiting",
            ),
            jwks_refresh: counter_vec(
                "authgate_jwks_refresh_total",
                "JWKS fetches by provider and result (ok, error)",
                &["provider", "result"],
            ),
            jwks_keys,
            upstream,
            draining,
            config_reloads: counter_vec(
                "authgate_config_reloads_total",
                "Configuration reloads by result (ok, error)",
                &["result"],
            ),
            tls_reloads: counter_vec(
                "authgate_tls_reloads_total",
                "Listener certificate reloads by result (ok, error)",
                &["result"],
            ),
            connections_closed: counter_vec(
                "authgate_connections_closed_total",
                "Client connections closed before a request was read, by reason (header_timeout, per_ip_limit, header_too_large)",
                &["reason"],
            ),
            shared_state_degraded: gauge(
                "authgate_shared_state_degraded",
                "1 while the shared state (Redis) is unreachable and lockout and rate limits count in this replica only",
            ),
            shared_state_fallbacks: counter(
                "authgate_shared_state_fallbacks_total",
                "Lockout and rate-limit checks answered by this replica's counters because the shared state was unavailable",
            ),
            outbound_oauth_refreshes: counter_vec(
                "authgate_outbound_oauth_refreshes_total",
                "Outbound OAuth access-token refreshes by outcome (refreshed, already_fresh, invalid_grant, failed, backing_off)",
                &["outcome"],
            ),
            outbound_tokens: counter_vec(
                "authgate_outbound_tokens_total",
                "Outbound OAuth tokens asked for, by grant kind (authorization_code, on_behalf_of, token_exchange) and result",
                &["kind", "result"],
            ),
            registry,
        }
    }

    /// The prometheus text exposition of every family.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "failed to encode metrics");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_families() {
        let m = Metrics::new();
        m.requests.with_label_values(&["r", "200"]).inc();
        m.token_cache_hits.inc();
        let text = String::from_utf8(m.render()).unwrap();
        assert!(
            text.contains("authgate_requests_total{route=\"r\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("authgate_token_cache_hits_total 1"));
    }
}
