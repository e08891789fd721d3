//! The Live page's API: one snapshot of the counters the gateway already exports (the prometheus registry),
//! for charts. The console polls it every few seconds and computes rates from two snapshots; percentiles come
//! from the token-verify histogram's buckets (interpolated within the bucket, as PromQL's
//! `histogram_quantile` does).

use authgate_core::metrics::Metrics;
use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use serde_json::{json, Value};

/// The labels of a metric as `(name, value)`.
fn labels(metric: &prometheus::proto::Metric) -> impl Iterator<Item = (&str, &str)> {
    metric.get_label().iter().map(|l| (l.name(), l.value()))
}

fn families(collector: &impl Collector) -> Vec<MetricFamily> {
    collector.collect()
}

/// Every counter of a counter vector with the labels in `names`, as `{label: value, ..., count}`.
fn counters(collector: &impl Collector, names: &[&str]) -> Vec<Value> {
    let mut rows = Vec::new();
    for family in families(collector) {
        for metric in family.get_metric() {
            let mut row = serde_json::Map::new();
            for (name, value) in labels(metric) {
                if names.contains(&name) {
                    row.insert(name.to_string(), json!(value));
                }
            }
            row.insert("count".into(), json!(metric.get_counter().get_value() as u64));
            rows.push(Value::Object(row));
        }
    }
    rows
}

/// The `q` quantile (0..1) of a histogram's cumulative `buckets` (`(upper bound, cumulative count)`, the
/// `+Inf` bucket implied by `count`), in the histogram's unit; `None` when it is empty.
pub fn quantile(q: f64, buckets: &[(f64, u64)], count: u64) -> Option<f64> {
    if count == 0 {
        return None;
    }
    let rank = q * count as f64;
    let (mut lower, mut below) = (0.0, 0u64);
    for &(upper, cumulative) in buckets {
        if cumulative as f64 >= rank {
            let inside = cumulative.saturating_sub(below);
            if inside == 0 {
                return Some(upper);
            }
            return Some(lower + (upper - lower) * (rank - below as f64) / inside as f64);
        }
        (lower, below) = (upper, cumulative);
    }
    // In the +Inf bucket: the highest finite bound is all that is known.
    Some(lower)
}

fn token_verify(metrics: &Metrics) -> Value {
    let histogram = families(&metrics.token_verify)
        .into_iter()
        .flat_map(|f| f.get_metric().to_vec())
        .next()
        .map(|m| m.get_histogram().clone());
    let Some(histogram) = histogram else {
        return json!({"count": 0, "p50_ms": null, "p90_ms": null, "p99_ms": null});
    };
    let buckets: Vec<(f64, u64)> = histogram
        .get_bucket()
        .iter()
        .map(|b| (b.upper_bound(), b.cumulative_count()))
        .collect();
    let count = histogram.get_sample_count();
    let ms = |q: f64| quantile(q, &buckets, count).map(|s| (s * 1000.0 * 1000.0).round() / 1000.0);
    json!({"count": count, "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99)})
}

/// The snapshot: `{at, uptime_seconds, requests: [{route, status, count}], decisions: [{method, outcome,
/// reason, count}], token_verify: {count, p50_ms, p90_ms, p99_ms}, caches: [{name, hits, misses}]}`.
pub fn snapshot(metrics: &Metrics, at: String, uptime_seconds: u64) -> Value {
    json!({
        "at": at,
        "uptime_seconds": uptime_seconds,
        "requests": counters(&metrics.requests, &["route", "status"]),
        "decisions": counters(&metrics.decisions, &["method", "outcome", "reason"]),
        "token_verify": token_verify(metrics),
        "caches": [
            {"name": "token", "hits": metrics.token_cache_hits.get(), "misses": metrics.token_cache_misses.get()},
            {"name": "credentials", "hits": metrics.credential_cache_hits.get(), "misses": metrics.credential_cache_misses.get()},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let buckets = [(0.001, 50), (0.002, 90), (0.004, 100)];
        assert_eq!(quantile(0.5, &buckets, 100), Some(0.001));
        let p90 = quantile(0.9, &buckets, 100).unwrap();
        assert!((p90 - 0.002).abs() < 1e-12, "{p90}");
        let p95 = quantile(0.95, &buckets, 100).unwrap();
        assert!((p95 - 0.003).abs() < 1e-12, "{p95}");
        assert_eq!(quantile(0.5, &buckets, 0), None);
        assert_eq!(quantile(0.99, &[(0.001, 1)], 10), Some(0.001), "beyond the last bound");
    }

    #[test]
    fn the_snapshot_counts_requests_by_route_and_status() {
        let metrics = Metrics::new();
        metrics.requests.with_label_values(&["workflow", "200"]).inc_by(3);
        metrics.token_verify.observe(0.0008);
        metrics.token_cache_hits.inc();
        let live = snapshot(&metrics, "2026-01-01T00:00:00Z".into(), 5);
        assert_eq!(
            live["requests"],
            json!([{"route": "workflow", "status": "200", "count": 3}])
        );
        assert_eq!(live["token_verify"]["count"], 1);
        assert!(live["token_verify"]["p50_ms"]
            .as_f64()
            .is_some_and(|ms| ms > 0.5 && ms <= 1.0));
        assert_eq!(live["caches"][0], json!({"name": "token", "hits": 1, "misses": 0}));
    }
}
