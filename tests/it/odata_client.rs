//! A real third-party OData v4 client (the PyPI package `python-odata`, installed by `.ci/bootstrap`) against
//! the gateway: it reflects `$metadata`, pages through 2,500 rows by `@odata.nextLink`, filters, selects,
//! orders, counts, and creates, updates and deletes. The script is `tests/odata_client/client.py`.

use crate::support;

use serde_json::json;
use std::process::Command;
use support::odata::{Gateway, SHIPPED};

const ROWS: usize = 2500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_odata_lists_pages_filters_and_changes_data() {
    let gw = Gateway::start_with(&format!("{{smartobjects: \"{SHIPPED}\", page_size: 1000}}"), true, &[]).await;
    let url = format!("{}/Customer", gw.root());
    let regions = ["North", "South", "East", "West"];
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let url = url.clone();
        tasks.spawn(async move {
            let client = support::client();
            for i in (worker..ROWS).step_by(8) {
                let row = json!({"Name": format!("Customer {i:04}"), "Region": regions[i % 4],
                                 "CreditLimit": i, "Active": i % 2 == 0});
                let reply = client
                    .post(&url)
                    .basic_auth("fran", Some("fran-pw"))
                    .json(&row)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status(), 201);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("seeding worker");
    }

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/odata_client/client.py");
    let root = gw.root();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, &root, "fran", "fran-pw"])
            .output()
            .expect("python3 runs (installed with python-odata by .ci/bootstrap)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python-odata client failed ({}):\n{stdout}\n{stderr}\ngateway log:\n{}",
        output.status,
        gw.inner.log()
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("the client prints a JSON summary");
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["listed"], ROWS);
}
