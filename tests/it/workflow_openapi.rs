//! The Workflow REST API's OpenAPI document is true: schemathesis (installed by `.ci/bootstrap`) generates
//! requests from the document the gateway serves, sends them through the real gateway as an authenticated
//! user, and checks every response against the document (status codes, content types, response schemas,
//! no server errors, invalid data refused). Settings: `tests/schemathesis/workflow.toml`.

use crate::support;

use serde_json::json;
use std::process::Command;
use support::api::Auth;
use support::workflow::Gateway;
use support::{base_config, client};

#[tokio::test]
async fn schemathesis_finds_no_difference_between_the_document_and_the_api() {
    let gw = Gateway::start_with(
        true,
        base_config().replace("max_failures_per_user: 3", "max_failures_per_user: 0"),
    )
    .await;
    let started = gw
        .call(
            &Auth::Basic("alice"),
            "POST",
            "/workflows/1",
            Some(json!({"folio": "Fuzz", "dataFields": {"Amount": 12.5, "Currency": "EUR", "Description": "Seed"}})),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let tasks = gw.call(&Auth::Basic("bob"), "GET", "/tasks", None).await;
    let serial = tasks.json["tasks"][0]["serialNumber"]
        .as_str()
        .expect("bob has the approval task")
        .to_string();

    let document = client()
        .get(gw.inner.url("/api/workflow/v1/swagger/docs/v1"))
        .basic_auth("bob", Some("bob-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(document.status(), 200);
    let path = gw.inner.dir.path().join("workflow-openapi.json");
    std::fs::write(&path, document.bytes().await.unwrap()).unwrap();

    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis/workflow.toml");
    let base = gw.inner.url("/api/workflow/v1");
    let workdir = gw.inner.dir.path().to_path_buf(); // schemathesis keeps a cache in its working directory
    let run = tokio::task::spawn_blocking(move || {
        Command::new("schemathesis")
            .current_dir(&workdir)
            .args(["--config-file", config, "run"])
            .arg(&path)
            .args([
                "--url",
                &base,
                "--auth",
                "bob:bob-pw",
                "--checks",
                "all",
                "--seed",
                "20261123",
            ])
            .args(["--workers", "2", "--max-failures", "20", "--no-color"])
            .env("WF_SERIAL", &serial)
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
    })
    .await
    .unwrap()
    .expect("schemathesis is installed (.ci/bootstrap installs it with pip)");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "schemathesis found differences:\n{report}");
    assert!(report.contains("Tested: 21"), "every operation was tested:\n{report}");
}
