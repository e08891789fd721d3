//! Load test of the Workflow REST API through the real gateway: `cargo bench --bench workflow_load`.
//!
//! Runs once on SQLite and once on PostgreSQL (a cluster of its own, started by the test kit as the
//! integration tests do), then prints both backends side by side. For each, starts the release binary on loopback with 1,100 Basic users (1,000 employees, 100 approvers as their
//! managers), seeds 10,000 expense-claim instances through the API (100 open approval tasks per approver),
//! then drives two phases at 64 keep-alive connections, each a client of its own:
//!
//! - `GET /api/workflow/v1/tasks` as a random approver for a fixed duration (first page: 100 tasks);
//! - `POST /api/workflow/v1/tasks/{sn}/actions/Approve`, each open approval task actioned once.
//!
//! Prints requests/s and latency percentiles per phase. The load generator shares the machine with the
//! gateway, so figures are for comparing runs on the same machine, not absolute capacity.
//!
//! Environment: `WORKFLOW_LOAD_INSTANCES` (default 10000), `WORKFLOW_LOAD_CONNECTIONS` (64),
//! `WORKFLOW_LOAD_SECONDS` (10, the GET phase).

#[path = "support/load.rs"]
mod load;

use load::{
    answered, connection, env_or, on_sqlite_and_postgres, report, run_for, selected, user_entry, Figures, Gateway,
    Samples, BASIC_USERS,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const APPROVERS: usize = 100;
const EMPLOYEES: usize = 1000;

fn approver(i: usize) -> String {
    format!("mgr{i:03}")
}

fn employee(i: usize) -> String {
    format!("emp{i:04}")
}

/// A gateway on `database` (a fresh SQLite file in its directory when `None`).
async fn start_gateway(database: Option<String>) -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut users = String::from("users:\n");
    for i in 0..APPROVERS {
        let name = approver(i);
        users += &user_entry(&name, "Approvers", "");
    }
    for i in 0..EMPLOYEES {
        let name = employee(i);
        users += &user_entry(&name, "Employees", &format!(", manager: {}", approver(i % APPROVERS)));
    }
    std::fs::write(dir.path().join("users.yaml"), users).expect("write users.yaml");
    let database = database.unwrap_or_else(|| dir.path().join("workflow.db").display().to_string());
    let rest = format!(
        "{BASIC_USERS}builtin: {{socket: api.sock, database: \"{database}\"}}\n\
         workflow: {{definitions: \"{}\"}}\n\
         routes: [{{name: workflow, prefix: /api/workflow/v1, upstream: builtin}}]\n",
        concat!(env!("CARGO_MANIFEST_DIR"), "/policies/workflows")
    );
    (Gateway::start(dir.path(), &rest).await, dir)
}

/// Starts `instances` expense claims, spread over the employees, `connections` at a time.
async fn seed(base: &str, instances: usize, connections: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (next, base, client) = (next.clone(), base.to_string(), connection());
        workers.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= instances {
                    return;
                }
                let user = employee(n % EMPLOYEES);
                let body = json!({"folio": format!("Claim {n}"), "priority": 1,
                    "dataFields": {"Amount": 10.0 + (n % 500) as f64, "Currency": "EUR", "Description": "Load test"}});
                let r = client
                    .post(format!("{base}/workflows/1"))
                    .basic_auth(&user, Some(&user))
                    .json(&body)
                    .send()
                    .await
                    .expect("the gateway answers");
                assert_eq!(
                    r.status(),
                    201,
                    "seeding failed: {}",
                    r.text().await.unwrap_or_default()
                );
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("a seeding worker");
    }
}

/// `GET tasks` as random approvers for `seconds`.
async fn worklist_phase(base: &str, connections: usize, seconds: u64) -> Figures {
    let url = format!("{base}/tasks");
    run_for("GET tasks (100 per page)", connections, seconds, move |client, i| {
        let user = approver(i % APPROVERS);
        answered(client.get(&url).basic_auth(&user, Some(&user)), 200)
    })
    .await
}

/// Every approver's open approval tasks, as `(approver, serial number)`.
async fn open_approvals(base: &str) -> Vec<(String, String)> {
    let client = connection();
    let mut out = Vec::new();
    for i in 0..APPROVERS {
        let user = approver(i);
        let mut skip = 0;
        loop {
            let page: Value = client
                .get(format!("{base}/tasks?skip={skip}&take=1000"))
                .basic_auth(&user, Some(&user))
                .send()
                .await
                .expect("the gateway answers")
                .json()
                .await
                .expect("a JSON worklist");
            let tasks = page["tasks"].as_array().cloned().unwrap_or_default();
            out.extend(
                tasks
                    .iter()
                    .filter_map(|t| t["serialNumber"].as_str())
                    .map(|sn| (user.clone(), sn.to_string())),
            );
            if tasks.len() < 1000 {
                break;
            }
            skip += 1000;
        }
    }
    out
}

/// Approves every task in `tasks`, `connections` at a time.
async fn action_phase(base: &str, connections: usize, tasks: Vec<(String, String)>) -> Figures {
    let queue = Arc::new(Mutex::new(tasks));
    let samples = Arc::new(Mutex::new(Samples::default()));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (queue, samples, base, client) = (queue.clone(), samples.clone(), base.to_string(), connection());
        workers.spawn(async move {
            let mut local = Samples::default();
            loop {
                let Some((user, sn)) = queue.lock().expect("queue lock").pop() else {
                    break;
                };
                let t = Instant::now();
                let request = client
                    .post(format!("{base}/tasks/{sn}/actions/Approve"))
                    .basic_auth(&user, Some(&user))
                    .json(&json!({"dataFields": {"ManagerComment": "approved under load"}}));
                local.record(answered(request, 200).await, t);
            }
            local.merge_into(&samples);
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("an action worker");
    }
    let elapsed = start.elapsed();
    let samples = std::mem::take(&mut *samples.lock().expect("samples lock"));
    report("POST tasks/{sn}/actions/Approve", samples, elapsed)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that does not name this benchmark skips it.
    if !selected("workflow_load") {
        return;
    }
    let instances = env_or("WORKFLOW_LOAD_INSTANCES", 10_000);
    let connections = env_or("WORKFLOW_LOAD_CONNECTIONS", 64);
    let seconds = env_or("WORKFLOW_LOAD_SECONDS", 10) as u64;
    on_sqlite_and_postgres(|backend, database| run_backend(backend, database, instances, connections, seconds));
}

/// Starts a gateway on `database`, seeds it and runs both phases.
async fn run_backend(
    backend: &str,
    database: Option<String>,
    instances: usize,
    connections: usize,
    seconds: u64,
) -> Vec<Figures> {
    println!("== {backend}");
    let (gateway, _dir) = start_gateway(database).await;
    let base = format!("http://127.0.0.1:{}/api/workflow/v1", gateway.port);
    let t = Instant::now();
    seed(&base, instances, connections).await;
    println!(
        "seeded {instances} instances in {:.1} s ({connections} connections)",
        t.elapsed().as_secs_f64()
    );
    let worklist = worklist_phase(&base, connections, seconds).await;
    let tasks = open_approvals(&base).await;
    println!("{} open approval tasks", tasks.len());
    let actions = action_phase(&base, connections, tasks).await;
    vec![worklist, actions]
}
