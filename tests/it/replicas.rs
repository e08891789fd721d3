//! Many replicas act as one: three gateway processes on loopback sharing one PostgreSQL database for the
//! built-in APIs' state. A workflow started on one replica is seen and actioned on the others, a SmartObject
//! row written on one is read and changed on the others, concurrent actions on one task from two replicas give
//! exactly one winner, and no acknowledged write is lost when a replica is killed.

use crate::servers::postgres::Postgres;
use crate::support;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
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
