//! Many replicas act as one: three gateway processes on loopback sharing one PostgreSQL database for the
//! built-in APIs' state and one Redis for their security counters. A workflow started on one replica is seen
//! and actioned on the others, a SmartObject row written on one is read and changed on the others, concurrent
//! actions on one task from two replicas give exactly one winner, no acknowledged write is lost when a replica
//! is killed; failed logins spread over the replicas lock after the limit in total, a per-user rate limit holds
//! across them, and with Redis stopped mid-run every valid request is still served.

use crate::servers::postgres::Postgres;
use crate::servers::redis::Redis;
use crate::support;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::api::Auth;
use support::workflow::{only_task, serial, start_claim, Gateway};

/// The common head of a replica's configuration: `builtin.database` is `url`.
fn head_on(url: &str) -> String {
    let head = support::base_config().replace("\"{DIR}/db.sqlite\"", &format!("\"{url}\""));
    assert!(head.contains(url), "the test configuration names its database");
    head
}

/// Three replicas of the workflow gateway, each with its own directory and ports, on one database.
async fn replicas(server: &Postgres) -> (String, [Gateway; 3]) {
    let url = server.create_database();
    let name = url.rsplit('/').next().expect("a database name").to_string();
    let head = head_on(&url);
    // Started together, as a scaled Deployment's pods are: the migrations run once, under an advisory lock.
    let (a, b, c) = tokio::join!(
        Gateway::start_with(true, head.clone()),
        Gateway::start_with(true, head.clone()),
        Gateway::start_with(true, head)
    );
    (name, [a, b, c])
}

/// A workflow started on replica A is in the worklist on B, is actioned on C, and its next task and history
/// are seen everywhere.
#[tokio::test]
async fn a_workflow_started_on_one_replica_is_listed_and_actioned_on_the_others() {
    let server = Postgres::start().await;
    let (_, [a, b, c]) = replicas(&server).await;
    let (alice, bob, fran) = (Auth::Basic("alice"), Auth::Basic("bob"), Auth::Basic("fran"));

    let id = start_claim(&a, &alice).await;
    let task = only_task(&b, &bob).await;
    assert_eq!(task["workflowInstanceID"], id);
    let approved = c
        .call(&bob, "POST", &format!("/tasks/{}/actions/Approve", serial(&task)), None)
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);

    for gw in [&a, &b, &c] {
        let listed = gw.call(&bob, "GET", "/tasks", None).await;
        assert_eq!(listed.json["itemCount"], 0, "{}", listed.text);
        assert_eq!(only_task(gw, &fran).await["activityName"], "Finance Review");
        let instance = gw.call(&alice, "GET", &format!("/instances/{id}"), None).await;
        assert_eq!(instance.status, 200, "{}", instance.text);
    }
}

/// A SmartObject row created through replica A is found by `$filter` on B, updated on C, and the update is
/// read back on A.
#[tokio::test]
async fn a_smartobject_row_written_on_one_replica_is_read_and_changed_on_the_others() {
    let server = Postgres::start().await;
    let head = head_on(&server.create_database());
    let odata = format!("{{smartobjects: \"{}\"}}", support::odata::SHIPPED);
    let start = || support::odata::Gateway::start_on(head.clone(), &odata, true, &[]);
    let (a, b, c) = tokio::join!(start(), start(), start());
    let fran = Auth::Basic("fran");

    let created = a
        .call(
            &fran,
            "POST",
            "/Customer",
            Some(json!({"Name": "Contoso", "Region": "North", "CreditLimit": 1500.25})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["CustomerId"].as_i64().expect("a key");
    let found = b
        .call(&fran, "GET", "/Customer?$filter=Region%20eq%20'North'", None)
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.json["value"][0]["CustomerId"], id, "{}", found.text);
    let updated = c
        .call(
            &fran,
            "PATCH",
            &format!("/Customer({id})"),
            Some(json!({"CreditLimit": 2000})),
        )
        .await;
    assert_eq!(updated.status, 204, "{}", updated.text);
    let read = a.call(&fran, "GET", &format!("/Customer({id})"), None).await;
    assert_eq!(read.json["CreditLimit"], 2000.0, "{}", read.text);
}

/// The same task actioned on two replicas at once: exactly one 200 and one 409, fifty times over.
#[tokio::test]
async fn the_same_task_actioned_on_two_replicas_at_once_has_exactly_one_winner() {
    let server = Postgres::start().await;
    let (name, [a, b, c]) = replicas(&server).await;
    let (alice, bob1, bob2) = (Auth::Basic("alice"), Auth::Basic("bob"), Auth::Basic("bob"));
    for round in 0..50 {
        start_claim(&a, &alice).await;
        let path = format!("/tasks/{}/actions/Approve", serial(&only_task(&a, &bob1).await));
        let (x, y) = tokio::join!(b.call(&bob1, "POST", &path, None), c.call(&bob2, "POST", &path, None));
        let mut statuses = [x.status, y.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}: {} / {}", x.text, y.text);
        let loser = if x.status == 409 { &x } else { &y };
        assert_eq!(loser.json["error"], "conflict", "round {round}: {}", loser.text);
    }
    // Fifty approvals, each recorded once: fifty Finance Review tasks, no more.
    let reviews = server.psql(&name, "SELECT count(*) FROM wf_tasks WHERE activity = 'Finance Review'");
    assert_eq!(reviews.trim(), "50");
}

/// Writes acknowledged (201) by a replica that is then killed with SIGKILL in the middle of a write load are
/// all in the database and readable through the other replicas.
#[tokio::test]
async fn no_acknowledged_write_is_lost_when_a_replica_is_killed() {
    let server = Postgres::start().await;
    let (name, [a, b, c]) = replicas(&server).await;
    let acknowledged = std::sync::Mutex::new(BTreeSet::new());
    let enough = tokio::sync::Notify::new();
    let url = a.inner.url("/api/workflow/v1/workflows/1");
    let writer = || {
        let (url, acknowledged, enough) = (&url, &acknowledged, &enough);
        async move {
            let client = support::client();
            for _ in 0..10_000 {
                let sent = client
                    .post(url)
                    .basic_auth("alice", Some("alice-pw"))
                    .json(&support::workflow::claim())
                    .send()
                    .await;
                // Once the replica is gone the connection is refused or cut: that write was never acknowledged.
                let Ok(response) = sent else { return };
                if response.status() != 201 {
                    return;
                }
                let Ok(body) = response.json::<serde_json::Value>().await else {
                    return;
                };
                let id = body.as_i64().expect("the body of a 201 is the instance id");
                let mut ids = acknowledged.lock().unwrap();
                ids.insert(id);
                if ids.len() == 40 {
                    enough.notify_one();
                }
            }
        }
    };
    let killer = async {
        enough.notified().await;
        a.inner.signal("-KILL");
    };
    tokio::time::timeout(Duration::from_secs(120), async {
        tokio::join!(writer(), writer(), writer(), writer(), killer)
    })
    .await
    .expect("the writers stop once the replica is killed");

    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(acknowledged.len() >= 40, "{}", acknowledged.len());
    let stored: BTreeSet<i64> = server
        .psql(&name, "SELECT id FROM wf_instances")
        .lines()
        .map(|l| l.parse().expect("an id"))
        .collect();
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    let alice = Auth::Basic("alice");
    for (i, id) in acknowledged.iter().enumerate() {
        let gw = if i % 2 == 0 { &b } else { &c };
        let instance = gw.call(&alice, "GET", &format!("/instances/{id}"), None).await;
        assert_eq!(instance.status, 200, "instance {id}: {}", instance.text);
    }
}

/// Three replicas sharing `redis` for their security counters, in front of `upstream`, with `route_extra`
/// lines on the echo route (`/api`). The test configuration locks an account after 3 failures.
async fn counted_replicas(redis: &Redis, route_extra: &str) -> [support::Gateway; 3] {
    let upstream = support::echo_upstream().await;
    let yaml = format!(
        "{}shared_state: {{redis: {{url: \"{}\", timeout_ms: 200}}}}\nroutes:\n{}",
        support::base_config(),
        redis.url(),
        support::echo_route(upstream, route_extra)
    );
    let (a, b, c) = tokio::join!(
        support::Gateway::start(&yaml),
        support::Gateway::start(&yaml),
        support::Gateway::start(&yaml)
    );
    [a, b, c]
}

/// Failed logins spread round-robin over three replicas lock the account after `max_failures_per_user` in
/// total (3 in the test configuration) on every replica, even for the right password; another account is not
/// locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_spread_over_three_replicas_lock_the_account_after_the_limit_in_total() {
    let redis = Redis::start().await;
    let gws = counted_replicas(&redis, "").await;
    for (i, gw) in gws.iter().enumerate() {
        let wrong = gw.get_basic("/api/x", "alice", &format!("guess-{i}")).await;
        assert_eq!(wrong.status(), 401, "guess {i}, on replica {i}");
    }
    for (i, gw) in gws.iter().enumerate() {
        let right = gw.get_basic("/api/x", "alice", "alice-pw").await;
        assert_eq!(right.status(), 429, "locked on replica {i}");
        assert!(right.headers().contains_key("retry-after"));
    }
    assert_eq!(
        gws[1]
            .get_basic("/api/x", "erin@contoso.com", "erin@contoso.com-pw")
            .await
            .status(),
        200
    );
}

/// A per-user rate limit holds across three replicas: over four seconds of requests spread over them by six
/// clients, the number let through is within 10% of burst + rate x elapsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_user_rate_limit_holds_across_three_replicas_within_ten_percent() {
    const RATE: f64 = 25.0;
    const BURST: f64 = 10.0;
    let redis = Redis::start().await;
    let gws = counted_replicas(
        &redis,
        &format!("    rate_limit: {{per_user: {{requests_per_second: {RATE}, burst: {BURST}}}}}\n"),
    )
    .await;
    // Warm every replica's credential cache first, so the run measures the limit, not password hashing.
    for gw in &gws {
        assert_eq!(
            gw.get_basic("/api/x", "erin@contoso.com", "erin@contoso.com-pw")
                .await
                .status(),
            200
        );
    }
    let (ok, limited) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let started = Instant::now();
    let run_for = Duration::from_secs(4);
    let client = || {
        let (gws, ok, limited) = (&gws, &ok, &limited);
        async move {
            let client = support::client();
            let mut i = 0;
            while started.elapsed() < run_for {
                i += 1;
                let response = client
                    .get(gws[i % 3].url("/api/x"))
                    .basic_auth("alice", Some("alice-pw"))
                    .send()
                    .await
                    .expect("the gateway answers");
                match response.status().as_u16() {
                    200 => ok.fetch_add(1, Ordering::Relaxed),
                    429 => limited.fetch_add(1, Ordering::Relaxed),
                    other => panic!("status {other}"),
                };
            }
        }
    };
    tokio::join!(client(), client(), client(), client(), client(), client());
    let elapsed = started.elapsed().as_secs_f64();
    let (ok, limited) = (ok.into_inner() as f64, limited.into_inner());
    let allowed = BURST + RATE * elapsed;
    assert!(limited > 0, "the clients asked for more than the limit ({ok} passed)");
    assert!(
        (ok - allowed).abs() <= 0.1 * allowed,
        "{ok} let through in {elapsed:.2}s where {allowed:.0} are allowed ({limited} limited)"
    );
}

/// Redis stopped in the middle of a load run over three replicas: every valid request is still answered 200
/// (each replica counts locally, degraded, in its metric), and all three return to the shared counters by
/// themselves when Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_mid_run_every_valid_request_is_served_and_the_replicas_recover() {
    let mut redis = Redis::start().await;
    let gws = counted_replicas(
        &redis,
        "    rate_limit: {per_user: {requests_per_second: 100000, burst: 100000}}\n",
    )
    .await;
    let degraded = |gw: &support::Gateway| {
        let url = gw.admin_url("/metrics");
        async move {
            let text = support::client().get(url).send().await.unwrap().text().await.unwrap();
            text.lines()
                .find(|l| l.starts_with("authgate_shared_state_degraded"))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse::<f64>().ok())
        }
    };
    let served = AtomicUsize::new(0);
    let stopped = std::sync::atomic::AtomicBool::new(false);
    let load = || {
        let (gws, served, stopped) = (&gws, &served, &stopped);
        async move {
            let client = support::client();
            let mut i = 0;
            while !stopped.load(Ordering::Relaxed) {
                i += 1;
                let response = client
                    .get(gws[i % 3].url("/api/x"))
                    .basic_auth("alice", Some("alice-pw"))
                    .send()
                    .await
                    .expect("the gateway answers");
                assert_eq!(response.status(), 200, "request {i}: {:?}", response.text().await);
                served.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    let outage = async {
        support::until("some requests served", || async { served.load(Ordering::Relaxed) > 50 }).await;
        redis.stop();
        let before = served.load(Ordering::Relaxed);
        for gw in &gws {
            support::until("a replica degraded", || async { degraded(gw).await == Some(1.0) }).await;
        }
        support::until("requests served during the outage", || async {
            served.load(Ordering::Relaxed) > before + 100
        })
        .await;
        redis.start_again().await;
        for gw in &gws {
            support::until("a replica recovered", || async { degraded(gw).await == Some(0.0) }).await;
        }
        let after = served.load(Ordering::Relaxed);
        support::until("requests served after recovery", || async {
            served.load(Ordering::Relaxed) > after + 50
        })
        .await;
        stopped.store(true, Ordering::Relaxed);
    };
    tokio::join!(load(), load(), load(), outage);
    for gw in &gws {
        assert!(
            gw.metric("authgate_shared_state_fallbacks_total", &[]).await > 0.0,
            "the outage was seen by every replica"
        );
    }
}
