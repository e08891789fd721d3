//! Per-request costs of the path and header checks every proxied request goes through (criterion). Run:
//! `cargo bench --bench request_path`. Every benchmark is one operation (`Throughput::Elements(1)`).
//! - `path/normalize/*`: [`authgate_core::http::path::normalize`] on an already-normal path (the common case:
//!   borrowed, no allocation), a normal path with escapes in normal form, and a path that must be rewritten.
//! - `path/routing_view/semicolon`: the routing view of a path with `;` parameters (rare, allocates).
//! - `headers/strip_scan`: the identity-header check over the 12 headers of a typical browser request.

use authgate_core::auth::HeaderSet;
use authgate_core::config::HeaderNamesConfig;
use authgate_core::http::path::{normalize, routing_view};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::HeaderName;
use std::hint::black_box;
use std::time::Duration;

fn bench_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("path");
    group.throughput(Throughput::Elements(1));
    for (name, path) in [
        ("normalize/plain", "/api/workflow/v1/tasks/1_1/actions/Approve"),
        (
            "normalize/normal_escapes",
            "/api/odata/v4/Customer('Alice%20Adams')/Orders",
        ),
        ("normalize/rewritten", "/public/%2e%2e/api//workflow/v1/./tasks"),
    ] {
        group.bench_function(name, |b| b.iter(|| normalize(black_box(path)).map(|n| n.path.len())));
    }
    let with_parameters = normalize("/files;v=2/a/b;x").unwrap();
    group.bench_function("routing_view/semicolon", |b| {
        b.iter(|| routing_view(black_box(&with_parameters.path), with_parameters.features).map(|v| v.len()))
    });
    group.finish();
}

fn bench_headers(c: &mut Criterion) {
    let set = HeaderSet::from_config(&HeaderNamesConfig::default()).unwrap();
    let names: Vec<HeaderName> = [
        "host",
        "user-agent",
        "accept",
        "accept-language",
        "accept-encoding",
        "authorization",
        "content-type",
        "content-length",
        "cookie",
        "x-request-id",
        "x-forwarded-for",
        "x_authgate_user",
    ]
    .iter()
    .map(|n| HeaderName::from_static(n))
    .collect();
    let mut group = c.benchmark_group("headers");
    group.throughput(Throughput::Elements(1));
    group.bench_function("strip_scan", |b| {
        b.iter(|| black_box(&names).iter().filter(|n| set.is_identity_header(n)).count())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench_path, bench_headers
}
criterion_main!(benches);
