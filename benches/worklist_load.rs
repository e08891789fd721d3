//! Whether a worklist page costs the same however long the worklist is: `cargo bench --bench worklist_load`.
//!
//! Runs once on SQLite and once on PostgreSQL (a cluster of its own), then prints both backends side by
//! side. For each: writes open "Manager Approval" tasks through the store traits for three approvers, with
//! 100, 10,000 and 100,000 open tasks each (half held by them, half untaken in a group of theirs, so both
//! halves of the worklist query are exercised), and the `Orders` SmartObject of the OData bench (10,000
//! rows); starts the release binary on loopback; then drives, one after the other at the same concurrency:
//!
//! - `GET /api/whoami`: the built-in floor (authentication, proxy, socket, a handler that reads nothing);
//! - `GET /api/workflow/v1/tasks` (the first page of 100) as each of the three approvers;
//! - the same as a latecomer whose group's 100 untaken tasks are the newest of all, behind every other
//!   untaken task (a worklist query that scans untaken tasks in id order reads them all first);
//! - a filtered, ordered OData page of 100 (`$filter=Region eq .. and Amount gt ..&$orderby=Created desc`).
//!
//! Then prints the ratio of the 100,000-task worklist to the 100-task one (req/s and p50).
//!
//! Environment: `WORKLIST_LOAD_SIZES` (default `100,10000,100000`), `WORKLIST_LOAD_CONNECTIONS` (16),
//! `WORKLIST_LOAD_SECONDS` (5).

#[path = "support/load.rs"]
mod load;
#[path = "support/orders.rs"]
mod orders;

use authgate_apis::store;
use authgate_apis::workflow::store::{InstanceRecord, NewInstance, NewTask, TaskStatus, WorkflowStore};
use load::{answered, env_or, on_sqlite_and_postgres, run_for, selected, user_entry, Figures, Gateway, BASIC_USERS};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const ORDER_ROWS: usize = 10_000;

/// The approver whose worklist has `size` open tasks, and their group.
fn approver(size: usize) -> (String, String) {
    (format!("approver{size}"), format!("Approvers{size}"))
}

fn fqn(name: &str) -> String {
    format!("K2:CONTOSO\\{name}")
}

fn sizes() -> Vec<usize> {
    std::env::var("WORKLIST_LOAD_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 10_000, 100_000])
}

/// Starts one expense claim whose first task is `approver`'s (even `n`) or untaken in `group` (odd `n`).
fn claim(n: usize, approver: &str, group: &str) -> NewInstance {
    let mut data_fields = serde_json::Map::new();
    data_fields.insert("Amount".into(), serde_json::json!(10.0 + (n % 500) as f64));
    data_fields.insert("Currency".into(), "EUR".into());
    data_fields.insert("Description".into(), "Load test".into());
    let first_task = if n.is_multiple_of(2) {
        NewTask {
            activity: "Manager Approval".into(),
            destination_kind: "user".into(),
            destination: fqn(approver),
            allocated_to: Some(fqn(approver)),
            status: TaskStatus::Open,
        }
    } else {
        NewTask {
            activity: "Manager Approval".into(),
            destination_kind: "group".into(),
            destination: group.into(),
            allocated_to: None,
            status: TaskStatus::Available,
        }
    };
    NewInstance {
        instance: InstanceRecord {
            id: 0,
            workflow_id: 1,
            workflow_name: "Expense Claim".into(),
            folio: format!("Claim {n}"),
            priority: 1,
            status: "Active".into(),
            originator: fqn("employee"),
            originator_display_name: None,
            originator_email: None,
            current_activity: Some("Manager Approval".into()),
            data_fields,
            xml_fields: serde_json::Map::new(),
            item_references: Default::default(),
            expected_duration: 4320,
            started_at: 1_700_000_000 + n as i64,
            finished_at: None,
        },
        first_task,
    }
}

/// The user whose group's untaken tasks are written last, and their group.
const LATECOMER: (&str, &str) = ("latecomer", "Latecomers");
/// How many untaken tasks the latecomer's group gets.
const LATE_TASKS: usize = 100;

/// Writes each approver's open tasks through the store, 16 at a time, interleaving the approvers so their
/// tasks' ids are mixed as in a real database; then the latecomer group's untaken tasks.
async fn seed_tasks(store: Arc<dyn WorkflowStore>, sizes: &[usize]) {
    let plan: Arc<Vec<(usize, usize)>> = Arc::new({
        let mut plan = Vec::new();
        let most = sizes.iter().copied().max().unwrap_or(0);
        for n in 0..most {
            for &size in sizes {
                if n < size {
                    plan.push((n, size));
                }
            }
        }
        plan
    });
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (next, plan, store) = (next.clone(), plan.clone(), store.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(n, size)) = plan.get(i) else { return };
                let (name, group) = approver(size);
                store.start(claim(n, &name, &group)).await.expect("a claim is stored");
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("a seeding worker");
    }
    for n in 0..LATE_TASKS {
        // Odd: untaken in the group.
        store
            .start(claim(2 * n + 1, LATECOMER.0, LATECOMER.1))
            .await
            .expect("a claim is stored");
    }
}

async fn start_gateway(dir: &Path, database: &str, sizes: &[usize]) -> Gateway {
    let mut users = String::from("users:\n");
    let everyone = sizes
        .iter()
        .map(|&size| approver(size))
        .chain([(LATECOMER.0.to_string(), LATECOMER.1.to_string())]);
    for (name, group) in everyone {
        users += &user_entry(&name, &format!("{group}, Reporting"), "");
    }
    std::fs::write(dir.join("users.yaml"), users).expect("write users.yaml");
    let rest = format!(
        "{BASIC_USERS}builtin: {{socket: api.sock, database: \"{database}\"}}\n\
         workflow: {{definitions: \"{}\"}}\n\
         odata: {{smartobjects: smartobjects, workflow_statistics: {{enabled: false}}}}\n\
         routes:\n\
         \x20 - {{name: workflow, prefix: /api/workflow/v1, upstream: builtin}}\n\
         \x20 - {{name: odata, prefix: /api/odata/v4, upstream: builtin}}\n\
         \x20 - {{name: whoami, prefix: /api/whoami, upstream: builtin}}\n",
        concat!(env!("CARGO_MANIFEST_DIR"), "/policies/workflows")
    );
    Gateway::start(dir, &rest).await
}

fn main() {
    if !selected("worklist_load") {
        return;
    }
    let sizes = sizes();
    let connections = env_or("WORKLIST_LOAD_CONNECTIONS", 16);
    let seconds = env_or("WORKLIST_LOAD_SECONDS", 5) as u64;
    on_sqlite_and_postgres(|backend, database| run_backend(backend, database, sizes.clone(), connections, seconds));
}

async fn run_backend(
    backend: &str,
    url: Option<String>,
    sizes: Vec<usize>,
    connections: usize,
    seconds: u64,
) -> Vec<Figures> {
    println!("== {backend}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    orders::define(dir.path());
    let database = url.unwrap_or_else(|| dir.path().join("worklist.db").display().to_string());
    let t = Instant::now();
    orders::seed(dir.path(), &database, ORDER_ROWS).await;
    let stores = if database.starts_with("postgres://") {
        store::postgres::open(&database, store::postgres::Options::default()).await
    } else {
        store::sqlite::open(Path::new(&database), 1).await
    }
    .expect("the database opens");
    seed_tasks(stores.workflow.clone(), &sizes).await;
    drop(stores);
    println!(
        "seeded {ORDER_ROWS} orders and {} open tasks in {:.1} s",
        sizes.iter().sum::<usize>() + LATE_TASKS,
        t.elapsed().as_secs_f64()
    );

    let gateway = start_gateway(dir.path(), &database, &sizes).await;
    let root = format!("http://127.0.0.1:{}", gateway.port);
    let (first, _) = approver(sizes[0]);

    let mut figures = Vec::new();
    let url = format!("{root}/api/whoami");
    let user = first.clone();
    figures.push(
        run_for(
            "GET /api/whoami (the built-in floor)",
            connections,
            seconds,
            move |client, _| answered(client.get(&url).basic_auth(&user, Some(&user)), 200),
        )
        .await,
    );
    for &size in &sizes {
        let (name, _) = approver(size);
        let url = format!("{root}/api/workflow/v1/tasks");
        let check: serde_json::Value = load::connection()
            .get(&url)
            .basic_auth(&name, Some(&name))
            .send()
            .await
            .expect("the gateway answers")
            .json()
            .await
            .expect("a JSON worklist");
        assert_eq!(check["itemCount"], 100.min(size), "a full first page for {name}");
        figures.push(
            run_for(
                &format!("GET tasks, first page of 100, {size} open"),
                connections,
                seconds,
                move |client, _| answered(client.get(&url).basic_auth(&name, Some(&name)), 200),
            )
            .await,
        );
    }
    let (name, url) = (LATECOMER.0, format!("{root}/api/workflow/v1/tasks"));
    figures.push(
        run_for(
            &format!("GET tasks, {LATE_TASKS} newest untaken in a group"),
            connections,
            seconds,
            move |client, _| answered(client.get(&url).basic_auth(name, Some(name)), 200),
        )
        .await,
    );
    let base = format!("{root}/api/odata/v4");
    let user = first.clone();
    figures.push(
        run_for(
            "GET Orders?$filter=..&$orderby=..&$top=100",
            connections,
            seconds,
            move |client, i| {
                let (region, threshold) = (orders::REGIONS[i % 4], (i * 37) % 900);
                let request = client
                    .get(format!(
                        "{base}/Orders?$filter=Region eq '{region}' and Amount gt {threshold}&$orderby=Created desc&$top=100"
                    ))
                    .basic_auth(&user, Some(&user));
                answered(request, 200)
            },
        )
        .await,
    );
    let smallest = &figures[1];
    let largest = &figures[sizes.len()];
    println!(
        "{backend}: worklist of {} vs {}: req/s ratio {:.2}, p50 ratio {:.2}",
        sizes[sizes.len() - 1],
        sizes[0],
        largest.rps / smallest.rps,
        largest.p50 / smallest.p50
    );
    figures
}
