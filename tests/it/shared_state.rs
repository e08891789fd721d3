//! Shared security state (issue 16): two gateway processes sharing one real redis-server count failed logins
//! and rate limits together; with Redis stopped they keep serving under their own local limits (degraded, in
//! the metric and `/readyz`), and come back to the shared counters by themselves when it returns. Also the Lua
//! scripts driven directly, and the password of the URL kept out of `check`.

use crate::servers::redis::Redis;
use crate::support::{base_config, client, echo_route, echo_upstream, until, users_yaml, Gateway};
use authgate::proxy::ratelimit::RateLimiter;
use authgate_core::auth::lockout::Verdict;
use authgate_core::config::{RedisConfig, Secret, SharedStateConfig};
use authgate_core::metrics::Metrics;
use authgate_core::shared::{LockLimits, Reserved, SharedCounters};
use authgate_shared_state::RedisCounters;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The test configuration with `route_extra` on the echo route and the shared state in `redis`.
fn config(upstream: SocketAddr, route_extra: &str, redis: &Redis) -> String {
    format!(
        "{}shared_state: {{redis: {{url: \"{}\", timeout_ms: 500}}}}\nroutes:\n{}",
        base_config(),
        redis.url(),
        echo_route(upstream, route_extra)
    )
}

async fn readyz(gw: &Gateway) -> (u16, Value) {
    let response = client().get(gw.admin_url("/readyz")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_spread_over_two_gateways_lock_the_account_after_max_failures_in_total() {
    // base_config: max_failures_per_user 3.
    let redis = Redis::start().await;
    let upstream = echo_upstream().await;
    let yaml = config(upstream, "", &redis);
    let (a, b) = (Gateway::start(&yaml).await, Gateway::start(&yaml).await);
    assert_eq!(a.get_basic("/api/things", "locky", "wrong-1").await.status(), 401);
    assert_eq!(b.get_basic("/api/things", "locky", "wrong-2").await.status(), 401);
    // Two failures in all: still allowed on either (each replica alone has seen fewer than three).
    assert_eq!(a.get_basic("/api/things", "alice", "alice-pw").await.status(), 200);
    assert_eq!(a.get_basic("/api/things", "locky", "wrong-3").await.status(), 401);
    for gw in [&b, &a] {
        let right = gw.get_basic("/api/things", "locky", "locky-pw").await;
        assert_eq!(
            right.status(),
            429,
            "three failures across two replicas lock the account"
        );
        assert!(right.headers().contains_key("retry-after"));
        let body: Value = right.json().await.unwrap();
        assert_eq!(body["error"], "locked_out");
    }
    assert_eq!(b.get_basic("/api/things", "alice", "alice-pw").await.status(), 200);
    let (status, body) = readyz(&a).await;
    assert_eq!(status, 200);
    assert_eq!(body["shared_state"]["status"], "ok", "{body}");
    assert_eq!(a.metric("authgate_shared_state_degraded", &[]).await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_and_per_ip_rate_limits_are_shared_by_two_gateways() {
    let redis = Redis::start().await;
    let upstream = echo_upstream().await;
    let yaml = config(
        upstream,
        "    rate_limit: {per_ip: {requests_per_second: 0.001, burst: 5}, per_user: {requests_per_second: 0.001, burst: 2}}\n",
        &redis,
    );
    let (a, b) = (Gateway::start(&yaml).await, Gateway::start(&yaml).await);
    // alice: two in all, wherever they land.
    assert_eq!(a.get_basic("/api/things", "alice", "alice-pw").await.status(), 200);
    assert_eq!(b.get_basic("/api/things", "alice", "alice-pw").await.status(), 200);
    for gw in [&a, &b] {
        let refused = gw.get_basic("/api/things", "alice", "alice-pw").await;
        assert_eq!(
            refused.status(),
            429,
            "alice's burst of 2 is spent across both replicas"
        );
        assert!(refused.headers().contains_key("retry-after"));
    }
    // One address (127.0.0.1), five in all: four requests so far (the two the per-user limit refused took an
    // address token too: the per-IP limit comes first), so one more passes, on either replica.
    assert_eq!(b.get_basic("/api/things", "locky", "locky-pw").await.status(), 200);
    assert_eq!(a.get_basic("/api/things", "locky", "locky-pw").await.status(), 429);
    assert_eq!(b.get_basic("/api/things", "locky", "locky-pw").await.status(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_valid_requests_succeed_under_local_limits_and_redis_back_ends_degraded_mode() {
    let mut redis = Redis::start().await;
    let upstream = echo_upstream().await;
    let yaml = config(
        upstream,
        "    rate_limit: {per_user: {requests_per_second: 0.001, burst: 2}}\n",
        &redis,
    );
    let gw = Gateway::start(&yaml).await;
    assert_eq!(gw.get_basic("/api/things", "locky", "locky-pw").await.status(), 200);
    assert_eq!(gw.metric("authgate_shared_state_fallbacks_total", &[]).await, 0.0);

    redis.stop();
    // A valid credential never gets a 5xx: the local bucket (full: it was never used) allows two, then 429.
    let statuses: Vec<u16> = {
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(gw.get_basic("/api/things", "alice", "alice-pw").await.status().as_u16());
        }
        out
    };
    assert_eq!(statuses, [200, 200, 429], "the local limit applies while degraded");
    assert_eq!(gw.metric("authgate_shared_state_degraded", &[]).await, 1.0);
    assert!(gw.metric("authgate_shared_state_fallbacks_total", &[]).await >= 3.0);
    let (status, body) = readyz(&gw).await;
    assert_eq!(status, 200, "degraded stays ready: {body}");
    assert_eq!(body["shared_state"]["status"], "degraded", "{body}");
    assert_eq!(
        gw.log().matches("shared state unavailable").count(),
        1,
        "one log line per transition:\n{}",
        gw.log()
    );

    redis.start_again().await;
    until("the degraded gauge back to 0", || async {
        gw.metric("authgate_shared_state_degraded", &[]).await == 0.0
    })
    .await;
    let (_, body) = readyz(&gw).await;
    assert_eq!(body["shared_state"]["status"], "ok", "{body}");
    assert!(gw.log().contains("shared state reachable again"), "{}", gw.log());
    // Shared again: the restarted (empty) Redis holds a fresh bucket of two for alice (locally spent).
    let fallbacks = gw.metric("authgate_shared_state_fallbacks_total", &[]).await;
    for expected in [200, 200, 429] {
        assert_eq!(
            gw.get_basic("/api/things", "alice", "alice-pw").await.status(),
            expected
        );
    }
    assert_eq!(gw.metric("authgate_shared_state_fallbacks_total", &[]).await, fallbacks);
}

/// The counters of the Redis at `redis` (a short timeout: the tests run on loopback).
fn counters(redis: &Redis) -> Arc<RedisCounters> {
    let cfg = SharedStateConfig {
        redis: RedisConfig {
            url: Secret::new(redis.url()),
            timeout_ms: 500,
        },
    };
    RedisCounters::from_config(&cfg, Arc::new(Metrics::new())).expect("valid settings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scripts_follow_the_local_counters_rules() {
    let redis = Redis::start().await;
    let store = counters(&redis);

    // GCRA: a burst of 3 at 1 per second, then the wait for the next token.
    for _ in 0..3 {
        assert_eq!(store.take_token("r:ip:192.0.2.1", 1.0, 3).await, Ok(Ok(())));
    }
    let wait = store.take_token("r:ip:192.0.2.1", 1.0, 3).await.unwrap().unwrap_err();
    assert!(
        wait > Duration::from_millis(800) && wait <= Duration::from_secs(1),
        "{wait:?}"
    );
    assert_eq!(
        store.take_token("r:ip:192.0.2.2", 1.0, 3).await,
        Ok(Ok(())),
        "keys are independent"
    );

    let limits = LockLimits {
        max: 3,
        window: Duration::from_secs(60),
        lockout: Duration::from_secs(60),
        clear_on_accept: true,
    };
    // Places are taken before the check: three, then full.
    let mut tickets = Vec::new();
    for _ in 0..3 {
        match store.reserve("u:bob", &limits).await.unwrap() {
            Reserved::Taken(ticket) => tickets.push(ticket),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(store.reserve("u:bob", &limits).await, Ok(Reserved::Full));
    // No verdict gives a place back; an accepted login clears the failures.
    store
        .settle("u:bob", tickets[0], Verdict::NoVerdict, &limits)
        .await
        .unwrap();
    assert_eq!(
        store.settle("u:bob", tickets[1], Verdict::Refused, &limits).await,
        Ok(false)
    );
    store
        .settle("u:bob", tickets[2], Verdict::Accepted, &limits)
        .await
        .unwrap();
    assert_eq!(store.locked_for("u:bob").await, Ok(None));
    // Three failures in the window lock, and the lock refuses reservations with its remaining time.
    for i in 0..3 {
        let Reserved::Taken(ticket) = store.reserve("u:bob", &limits).await.unwrap() else {
            panic!("a place after the accepted login cleared the failures ({i})");
        };
        let locked = store.settle("u:bob", ticket, Verdict::Refused, &limits).await.unwrap();
        assert_eq!(locked, i == 2, "the third failure locks");
    }
    let locked_for = store.locked_for("u:bob").await.unwrap().expect("locked");
    assert!(
        locked_for > Duration::from_secs(58) && locked_for <= Duration::from_secs(60),
        "{locked_for:?}"
    );
    assert!(matches!(store.reserve("u:bob", &limits).await, Ok(Reserved::Locked(_))));
    assert_eq!(store.locked_for("u:carol").await, Ok(None));
    // An address's failures are not cleared by a success.
    let ip_limits = LockLimits {
        clear_on_accept: false,
        ..limits
    };
    for verdict in [Verdict::Refused, Verdict::Refused, Verdict::Accepted, Verdict::Refused] {
        let Reserved::Taken(ticket) = store.reserve("ip:192.0.2.9", &ip_limits).await.unwrap() else {
            panic!("a place");
        };
        store.settle("ip:192.0.2.9", ticket, verdict, &ip_limits).await.unwrap();
    }
    assert!(store.locked_for("ip:192.0.2.9").await.unwrap().is_some());
    assert!(!store.degraded());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lockout_counters_are_listed_by_namespace_and_an_unlock_clears_them() {
    let redis = Redis::start().await;
    let store = counters(&redis);
    let limits = LockLimits {
        max: 2,
        window: Duration::from_secs(60),
        lockout: Duration::from_secs(60),
        clear_on_accept: true,
    };
    let fail = |key: &'static str| {
        let store = store.clone();
        async move {
            let Reserved::Taken(ticket) = store.reserve(key, &limits).await.unwrap() else {
                panic!("a place for {key}");
            };
            store.settle(key, ticket, Verdict::Refused, &limits).await.unwrap()
        }
    };
    assert!(!fail("u:alice").await);
    assert!(fail("u:alice").await, "the second failure locks");
    assert!(!fail("u:bob").await);
    assert!(!fail("ip:192.0.2.7").await);

    let users = store.lock_states("u:", 1000).await.unwrap();
    let keys: Vec<&str> = users.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["alice", "bob"], "{users:?}");
    assert!(
        users[0].locked_for.is_some_and(|d| d > Duration::from_secs(58)),
        "{users:?}"
    );
    assert_eq!((users[1].failures, users[1].locked_for), (1, None));
    assert_eq!(store.lock_states("u:", 1).await.unwrap().len(), 1, "bounded");
    let ips = store.lock_states("ip:", 1000).await.unwrap();
    assert_eq!(ips.len(), 1, "{ips:?}");
    assert_eq!((ips[0].key.as_str(), ips[0].failures), ("192.0.2.7", 1));

    // An unlock clears the lock at once and reports what it was; a second finds nothing.
    let before = store.clear_lock("u:alice").await.unwrap().expect("alice was locked");
    assert_eq!(before.key, "alice");
    assert!(before.locked_for.is_some());
    assert_eq!(store.locked_for("u:alice").await, Ok(None));
    assert!(matches!(
        store.reserve("u:alice", &limits).await,
        Ok(Reserved::Taken(_))
    ));
    assert_eq!(store.clear_lock("u:alice").await, Ok(None));
    let left: Vec<String> = store
        .lock_states("u:", 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(left, ["bob"]);
    // An accepted login clears an account's failures: it is no longer listed.
    let Reserved::Taken(ticket) = store.reserve("u:bob", &limits).await.unwrap() else {
        panic!("a place for bob");
    };
    store.settle("u:bob", ticket, Verdict::Accepted, &limits).await.unwrap();
    assert!(store.lock_states("u:", 1000).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limiter_on_a_stopped_redis_falls_back_to_its_local_bucket() {
    let mut redis = Redis::start().await;
    let store = counters(&redis);
    let limiter = RateLimiter::new(0.001, 2).shared(store.clone(), "r:user".into());
    assert_eq!(limiter.check("alice").await, Ok(()));
    redis.stop();
    // Degraded: the local bucket (untouched so far) decides, never "no limit".
    assert_eq!(limiter.check("alice").await, Ok(()));
    assert_eq!(limiter.check("alice").await, Ok(()));
    assert!(limiter.check("alice").await.is_err());
    assert!(store.degraded());
    redis.start_again().await;
    until("recovery", || async { !store.degraded() }).await;
    // Shared again (the restarted server is empty).
    assert_eq!(limiter.check("alice").await, Ok(()));
}

/// Writes a configuration sharing its state in the Redis at `url` (and the test users) into `dir`; returns
/// its path, for `authgate check`.
fn check_config(dir: &tempfile::TempDir, url: &str) -> std::path::PathBuf {
    std::fs::write(dir.path().join("users.yaml"), users_yaml()).unwrap();
    let config = format!(
        "{}shared_state: {{redis: {{url: \"{url}\"}}}}\nroutes: []\n",
        base_config()
            .replace("{PORT}", "18080")
            .replace("{ADMIN}", "18081")
            .replace("{DIR}", &dir.path().display().to_string())
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

/// `check` connects to the configured Redis and says that it answers.
#[tokio::test]
async fn check_says_whether_redis_answers() {
    let redis = Redis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = check_config(&dir, &redis.url());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(&format!("shared state reachable: {}", redis.url())),
        "{stdout}"
    );
}

#[test]
fn check_names_the_store_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = check_config(&dir, "redis://:s3cret-pw@127.0.0.1:1/0");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("shared state: redis://:***@127.0.0.1:1/0"), "{stdout}");
    assert!(
        stdout.contains("shared state UNREACHABLE: redis://:***@127.0.0.1:1/0: "),
        "nothing listens on port 1: {stdout}"
    );
    assert!(
        !stdout.contains("s3cret") && !stderr.contains("s3cret"),
        "{stdout}\n{stderr}"
    );

    let bad = std::fs::read_to_string(&path)
        .unwrap()
        .replace("redis://:s3cret-pw@127.0.0.1:1/0", "http://:s3cret-pw@127.0.0.1:1/0");
    std::fs::write(&path, bad).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("shared_state.redis.url"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}
