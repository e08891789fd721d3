//! A route's request metrics, resolved once per label set. `with_label_values` hashes its labels and takes the
//! metric vector's lock on every call; a resolved counter is one atomic add. Every request of a route records
//! `authgate_requests_total{route,status}` and, when it reached the upstream, `authgate_upstream_seconds{route}`.

use authgate_core::metrics::Metrics;
use prometheus::{Histogram, IntCounter};
use std::sync::OnceLock;

/// Status codes with a slot of their own (`0`: no response was written); any other is looked up each time.
const STATUS_SLOTS: usize = 600;

/// The resolved metrics of one route, filled on first use. They belong to the [`Metrics`] of the snapshot
/// holding the route (`ProxyState`): a route table is built for one snapshot and read with its metrics only.
pub struct RouteMetrics {
    upstream: OnceLock<Histogram>,
    requests: Box<[OnceLock<IntCounter>]>,
}

impl Default for RouteMetrics {
    fn default() -> Self {
        Self {
            upstream: OnceLock::new(),
            requests: (0..STATUS_SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteMetrics").finish_non_exhaustive()
    }
}

impl RouteMetrics {
    /// Counts one request of route `route` answered with `status` (`0`: none).
    pub fn count_request(&self, metrics: &Metrics, route: &str, status: u16) {
        let resolve = || metrics.requests.with_label_values(&[route, &status_label(status)]);
        match self.requests.get(usize::from(status)) {
            Some(slot) => slot.get_or_init(resolve).inc(),
            None => resolve().inc(),
        }
    }

    /// Records the time the upstream took to answer a request of route `route`.
    pub fn observe_upstream(&self, metrics: &Metrics, route: &str, seconds: f64) {
        self.upstream
            .get_or_init(|| metrics.upstream.with_label_values(&[route]))
            .observe(seconds);
    }
}

/// The `status` label: the three digits, or `none` when no valid status was written.
pub fn status_label(status: u16) -> String {
    match http::StatusCode::from_u16(status) {
        Ok(code) => code.as_str().to_string(),
        Err(_) => "none".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(metrics: &Metrics, route: &str, status: &str) -> u64 {
        metrics.requests.with_label_values(&[route, status]).get()
    }

    #[test]
    fn counts_land_on_the_labelled_series_of_the_vector() {
        let metrics = Metrics::new();
        let route = RouteMetrics::default();
        route.count_request(&metrics, "api", 200);
        route.count_request(&metrics, "api", 200);
        route.count_request(&metrics, "api", 401);
        route.count_request(&metrics, "api", 0);
        route.count_request(&metrics, "api", 1000);
        assert_eq!(requests(&metrics, "api", "200"), 2);
        assert_eq!(requests(&metrics, "api", "401"), 1);
        // 0 and a status past 999 are both "none" (the second one has no slot: it is looked up each time).
        assert_eq!(requests(&metrics, "api", "none"), 2);
        route.observe_upstream(&metrics, "api", 0.25);
        route.observe_upstream(&metrics, "api", 0.5);
        let histogram = metrics.upstream.with_label_values(&["api"]);
        assert_eq!(histogram.get_sample_count(), 2);
        assert!((histogram.get_sample_sum() - 0.75).abs() < 1e-9);
    }

    #[test]
    fn the_rendered_metrics_are_those_of_the_lookup_per_request() {
        let metrics = Metrics::new();
        let route = RouteMetrics::default();
        route.count_request(&metrics, "wf", 503);
        let text = String::from_utf8(metrics.render()).unwrap();
        assert!(
            text.contains(r#"authgate_requests_total{route="wf",status="503"} 1"#),
            "{text}"
        );
    }
}
