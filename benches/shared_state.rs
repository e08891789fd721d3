//! The cost of a rate-limit check per request: the in-memory limiter against the Redis-backed one (issue 16),
//! in the same run (criterion). Run: `cargo bench --bench shared_state` (needs `redis-server` on PATH:
//! `.ci/bootstrap`; the bench starts its own on a free loopback port and kills it at the end).
//! - `ratelimit/in_memory`, `ratelimit/redis`: one `RateLimiter::check` awaited at a time (latency per check).
//! - `ratelimit_concurrent/*`: 64 tasks checking at once on a 2-thread runtime, 64 checks per iteration
//!   (checks per second under concurrency: the Redis path is one multiplexed connection, pipelined).
//!
//! Keys rotate over 1000 users so buckets never run empty (every check is an allowed one, the common case).

use authgate::proxy::ratelimit::RateLimiter;
use authgate_core::config::{RedisConfig, Secret, SharedStateConfig};
use authgate_core::metrics::Metrics;
use authgate_shared_state::RedisCounters;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A redis-server of the bench's own, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(runtime: &tokio::runtime::Runtime) -> (Server, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = std::env::temp_dir();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is not installed: run .ci/bootstrap");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    runtime.block_on(async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    (server, port)
}

fn limiters(port: u16) -> (Arc<RateLimiter>, Arc<RateLimiter>, Arc<RedisCounters>) {
    let store = RedisCounters::from_config(
        &SharedStateConfig {
            redis: RedisConfig {
                url: Secret::new(format!("redis://127.0.0.1:{port}/0")),
                timeout_ms: 1000,
            },
        },
        Arc::new(Metrics::new()),
    )
    .expect("valid settings");
    let local = Arc::new(RateLimiter::new(1_000_000.0, 1_000_000));
    let shared = Arc::new(RateLimiter::new(1_000_000.0, 1_000_000).shared(store.clone(), "bench:user".into()));
    (local, shared, store)
}

fn bench_ratelimit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_server, port) = start_redis(&runtime);
    let (local, shared, store) = limiters(port);
    let users: Arc<Vec<String>> = Arc::new((0..1000).map(|i| format!("K2:CONTOSO\\user{i}")).collect());

    let mut group = c.benchmark_group("ratelimit");
    group.throughput(Throughput::Elements(1));
    for (name, limiter) in [("in_memory", &local), ("redis", &shared)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (limiter, users) = (limiter.clone(), users.clone());
                runtime.block_on(async move {
                    let started = Instant::now();
                    for i in 0..iters {
                        let user = &users[(i % 1000) as usize];
                        assert!(limiter.check(user).await.is_ok());
                    }
                    started.elapsed()
                })
            })
        });
    }
    group.finish();

    const TASKS: u64 = 64;
    let mut group = c.benchmark_group("ratelimit_concurrent");
    group.throughput(Throughput::Elements(TASKS));
    for (name, limiter) in [("in_memory", &local), ("redis", &shared)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (limiter, users) = (limiter.clone(), users.clone());
                runtime.block_on(async move {
                    let started = Instant::now();
                    let mut tasks = tokio::task::JoinSet::new();
                    for t in 0..TASKS {
                        let (limiter, users) = (limiter.clone(), users.clone());
                        tasks.spawn(async move {
                            for i in 0..iters {
                                let user = &users[((i * TASKS + t) % 1000) as usize];
                                assert!(limiter.check(user).await.is_ok());
                            }
                        });
                    }
                    while let Some(done) = tasks.join_next().await {
                        done.expect("task");
                    }
                    started.elapsed()
                })
            })
        });
    }
    group.finish();
    use authgate_core::shared::SharedCounters;
    assert!(
        !store.degraded(),
        "the Redis path fell back to the local limiter during the bench"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = bench_ratelimit
}
criterion_main!(benches);
