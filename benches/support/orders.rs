//! The `Orders` SmartObject of the OData load benchmarks: its definition and its seeding through the store
//! traits. Included with `#[path]` by the benchmarks that query it.

use authgate_apis::datetime::from_unix_seconds;
use authgate_apis::odata::catalog::Catalog;
use authgate_apis::odata::edm::{normalize_datetime, Value};
use authgate_apis::odata::smartobject::load_dir;
use authgate_apis::store;
use authgate_core::config::OdataConfig;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The regions the rows are spread over (a quarter each).
pub const REGIONS: [&str; 4] = ["North", "South", "East", "West"];

/// The SmartObject: orders with an index on (Region, Created).
pub const ORDERS: &str = r#"
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

/// Creates the table and inserts `rows` rows through the store traits (`SmartObjectStore::create`, 16 at a
/// time), the same way on both backends. `database` is a SQLite file or a `postgres://` URL.
pub async fn seed(dir: &Path, database: &str, rows: usize) {
    let defined = load_dir(&dir.join("smartobjects")).expect("the bench SmartObject loads");
    let catalog = Catalog::build(defined, &OdataConfig::default()).expect("a catalog");
    let stores = if database.starts_with("postgres://") {
        store::postgres::open(database, store::postgres::Options::default()).await
    } else {
        store::sqlite::open(Path::new(database), 1).await
    }
    .expect("the database opens");
    stores
        .smartobjects
        .sync_schema(&catalog)
        .await
        .expect("the table is created");
    let orders = catalog.entity_set("Orders").expect("the Orders entity set").clone();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (next, orders, store) = (next.clone(), orders.clone(), stores.smartobjects.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= rows {
                    return;
                }
                let created = from_unix_seconds(1_700_000_000 + (i as i64) * 37).expect("a date in range");
                let values = vec![
                    (1, Value::String(format!("Customer {}", i % 997))),
                    (2, Value::String(REGIONS[i % 4].to_string())),
                    (3, Value::Decimal((i * 7919 % 100_000) as f64 / 100.0)),
                    (4, Value::String(["Open", "Shipped", "Closed"][i % 3].to_string())),
                    (
                        5,
                        Value::DateTimeOffset(normalize_datetime(&format!("{created}Z")).expect("a UTC date-time")),
                    ),
                ];
                store.create(orders.clone(), values).await.expect("a row inserts");
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("a seeding worker");
    }
}

/// Writes the SmartObject definition into `dir/smartobjects/orders.yaml`.
pub fn define(dir: &Path) {
    std::fs::create_dir_all(dir.join("smartobjects")).expect("create smartobjects/");
    std::fs::write(dir.join("smartobjects/orders.yaml"), ORDERS).expect("write orders.yaml");
}
