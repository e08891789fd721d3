//! Load test of the SmartObject OData API through the real gateway: `cargo bench --bench odata_load`.
//!
//! Defines an `Orders` SmartObject with an index on (Region, Created), writes 100,000 rows into its table
//! (schema created by the store itself, rows inserted in one transaction), starts the release binary on
//! loopback with Basic users, then drives at 64 keep-alive connections for a fixed duration:
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

use authgate_apis::odata::catalog::Catalog;
use authgate_apis::odata::smartobject::load_dir;
use authgate_core::config::OdataConfig;
use load::{answered, env_or, hash, run_for, runtime, selected, Gateway};
use std::path::Path;
use std::time::Instant;

const USERS: usize = 50;
const REGIONS: [&str; 4] = ["North", "South", "East", "West"];

const ORDERS: &str = r#"
system_name: Orders
key: Id
methods: [List, Read]
indexes: [[Region, Created]]
properties:
  - {name: Id, type: AutoNumber}
  - {name: Customer, type: Text}
  - {name: Region, type: Text}
  - {name: Amount, type: Decimal}
  - {name: Status, type: Text}
  - {name: Created, type: DateTime}
"#;

/// Creates the table through the store, then inserts `rows` rows in one transaction.
fn seed(dir: &Path, rows: usize) {
    let defined = load_dir(&dir.join("smartobjects")).expect("the bench SmartObject loads");
    let catalog = Catalog::build(defined, &OdataConfig::default()).expect("a catalog");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let stores = authgate_apis::store::sqlite::open(&dir.join("odata.db"), 1)
            .await
            .expect("the database opens");
        stores
            .smartobjects
            .sync_schema(&catalog)
            .await
            .expect("the table is created");
    });
    let mut conn = rusqlite::Connection::open(dir.join("odata.db")).expect("the database opens");
    let tx = conn.transaction().expect("a transaction");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO so_Orders (Customer, Region, Amount, Status, Created) \
                 VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%S.0000000Z', ?5, 'unixepoch'))",
            )
            .expect("the insert statement");
        for i in 0..rows {
            insert
                .execute(rusqlite::params![
                    format!("Customer {}", i % 997),
                    REGIONS[i % 4],
                    (i * 7919 % 100_000) as f64 / 100.0,
                    ["Open", "Shipped", "Closed"][i % 3],
                    1_700_000_000 + (i as i64) * 37,
                ])
                .expect("a row inserts");
        }
    }
    tx.commit().expect("the rows commit");
}

fn user(i: usize) -> String {
    format!("analyst{i:02}")
}

async fn start_gateway(dir: &Path) -> Gateway {
    let mut users = String::from("users:\n");
    for i in 0..USERS {
        let name = user(i);
        users += &format!(
            "  - {{name: {name}, user_manager: ad, domain: CONTOSO, password_hash: '{}', groups: [Reporting]}}\n",
            hash(&name)
        );
    }
    std::fs::write(dir.join("users.yaml"), users).expect("write users.yaml");
    let rest = "basic: {directory: users.yaml, lockout: {max_failures_per_user: 0, max_failures_per_ip: 0}}\n\
                user_managers: {ad: {fqn_prefix: \"K2:\", domain: CONTOSO}}\n\
                builtin: {socket: api.sock, database: odata.db}\n\
                workflow: {definitions: workflows}\n\
                odata: {smartobjects: smartobjects, workflow_statistics: {enabled: false}}\n\
                routes: [{name: odata, prefix: /api/odata/v4, upstream: builtin}]\n";
    Gateway::start(dir, rest).await
}

fn main() {
    if !selected("odata_load") {
        return;
    }
    let rows = env_or("ODATA_LOAD_ROWS", 100_000);
    let connections = env_or("ODATA_LOAD_CONNECTIONS", 64);
    let seconds = env_or("ODATA_LOAD_SECONDS", 10) as u64;
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("smartobjects")).expect("create smartobjects/");
    std::fs::create_dir_all(dir.path().join("workflows")).expect("create workflows/");
    std::fs::write(dir.path().join("smartobjects/orders.yaml"), ORDERS).expect("write orders.yaml");
    let t = Instant::now();
    seed(dir.path(), rows);
    println!("seeded {rows} rows in {:.1} s", t.elapsed().as_secs_f64());

    runtime().block_on(async {
        let gateway = start_gateway(dir.path()).await;
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
        println!("filter matches {} of {rows} rows; page of {page}", check["@odata.count"]);

        let list = base.clone();
        run_for(
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

        run_for("GET Orders(<id>)", connections, seconds, move |client, i| {
            let name = user(i % USERS);
            let request = client
                .get(format!("{base}/Orders({})", 1 + (i * 7919) % rows))
                .basic_auth(&name, Some(&name));
            answered(request, 200)
        })
        .await;
    });
}
