//! Load test of the SmartObject OData API through the real gateway: `cargo bench --bench odata_load`.
//!
//! Runs once on SQLite and once on PostgreSQL (a cluster of its own, started by the test kit as the
//! integration tests do), then prints both backends side by side. For each: defines an `Orders` SmartObject
//! with an index on (Region, Created), writes 100,000 rows through the store traits (schema and rows created
//! by the store itself, so the seeding is the same on both backends), starts the release binary on loopback
//! with Basic users, then drives at 64 keep-alive connections for a fixed duration:
//!
//! - a filtered, ordered page: `$filter=Region eq '<r>' and Amount gt <x>&$orderby=Created desc&$top=100`
//!   with the region and threshold varying per request;
//! - for reference, one entity by key: `Orders(<id>)`.
//!
//! Prints requests/s and latency percentiles per phase. The load generator shares the machine with the
//! gateway, so the figures compare runs on one machine; they are not absolute capacity.
//!
//! Environment: `ODATA_LOAD_ROWS` (default 100000), `ODATA_LOAD_CONNECTIONS` (64), `ODATA_LOAD_SECONDS` (10).

#[path = "support/load.rs"]
mod load;

#[path = "support/orders.rs"]
mod orders;

use load::{answered, env_or, on_sqlite_and_postgres, run_for, selected, user_entry, Figures, Gateway, BASIC_USERS};
use orders::{seed, REGIONS};
use std::path::Path;
use std::time::Instant;

const USERS: usize = 50;
fn user(i: usize) -> String {
    format!("analyst{i:02}")
}

async fn start_gateway(dir: &Path, database: &str) -> Gateway {
    let mut users = String::from("users:\n");
    for i in 0..USERS {
        let name = user(i);
        users += &user_entry(&name, "Reporting", "");
    }
    std::fs::write(dir.join("users.yaml"), users).expect("write users.yaml");
    let rest = format!(
        "{BASIC_USERS}builtin: {{socket: api.sock, database: \"{database}\"}}\n\
         workflow: {{definitions: workflows}}\n\
         odata: {{smartobjects: smartobjects, workflow_statistics: {{enabled: false}}}}\n\
         routes: [{{name: odata, prefix: /api/odata/v4, upstream: builtin}}]\n"
    );
    Gateway::start(dir, &rest).await
}

fn main() {
    if !selected("odata_load") {
        return;
    }
    let rows = env_or("ODATA_LOAD_ROWS", 100_000);
    let connections = env_or("ODATA_LOAD_CONNECTIONS", 64);
    let seconds = env_or("ODATA_LOAD_SECONDS", 10) as u64;
    on_sqlite_and_postgres(|backend, database| run_backend(backend, database, rows, connections, seconds));
}

/// Seeds, starts a gateway on `url` (a fresh SQLite file when `None`) and runs both phases.
async fn run_backend(
    backend: &str,
    url: Option<String>,
    rows: usize,
    connections: usize,
    seconds: u64,
) -> Vec<Figures> {
    println!("== {backend}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    orders::define(dir.path());
    std::fs::create_dir_all(dir.path().join("workflows")).expect("create workflows/");
    let database = url.unwrap_or_else(|| dir.path().join("odata.db").display().to_string());
    let t = Instant::now();
    seed(dir.path(), &database, rows).await;
    println!("seeded {rows} rows in {:.1} s", t.elapsed().as_secs_f64());

    let gateway = start_gateway(dir.path(), &database).await;
    let base = format!("http://127.0.0.1:{}/api/odata/v4", gateway.port);

    let check: serde_json::Value = load::connection()
        .get(format!(
            "{base}/Orders?$filter=Region eq 'North' and Amount gt 500&$orderby=Created desc&$top=100&$count=true"
        ))
        .basic_auth(user(0), Some(user(0)))
        .send()
        .await
        .expect("the gateway answers")
        .json()
        .await
        .expect("an OData collection");
    let page = check["value"].as_array().map_or(0, Vec::len);
    assert_eq!(page, 100.min(rows / 8), "a full page: {check}");
    println!(
        "filter matches {} of {rows} rows; page of {page}",
        check["@odata.count"]
    );

    let list = base.clone();
    let filtered = run_for(
        "GET Orders?$filter=...&$orderby=Created desc&$top=100",
        connections,
        seconds,
        move |client, i| {
            let (region, threshold) = (REGIONS[i % 4], (i * 37) % 900);
            let name = user(i % USERS);
            let request = client
                .get(format!(
                    "{list}/Orders?$filter=Region eq '{region}' and Amount gt {threshold}&$orderby=Created desc&$top=100"
                ))
                .basic_auth(&name, Some(&name));
            answered(request, 200)
        },
    )
    .await;

    let by_key = run_for("GET Orders(<id>)", connections, seconds, move |client, i| {
        let name = user(i % USERS);
        let request = client
            .get(format!("{base}/Orders({})", 1 + (i * 7919) % rows))
            .basic_auth(&name, Some(&name));
        answered(request, 200)
    })
    .await;
    vec![filtered, by_key]
}
