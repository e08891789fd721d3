//! A client generated from the gateway's live `$metadata` by the SAP Cloud SDK for OData v4 (npm
//! `@sap-cloud-sdk/generator` with `--transpile`, pinned by `tests/odata_sap/package-lock.json` and installed
//! by `.ci/bootstrap`), used through K2's endpoint `/api/odatav4/v4`: it reads, updates and deletes by key
//! (Edm.Int64 keys, which the SDK writes `Customer(1107L)`), creates and filters, sending its CSRF-token `HEAD`
//! before every write. The script is `tests/odata_sap/client.js`; the rows it changed are checked here.

use crate::support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::api::Auth;
use support::odata::{Gateway, K2_BASE};

const SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/odata_sap");

/// Runs `node` with `args` in `dir`, without proxy settings (every request goes to loopback).
async fn node(dir: &Path, args: Vec<String>) -> Output {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(&args)
            .current_dir(dir)
            .env("NO_PROXY", "*")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .output()
            .expect("node runs (installed by .ci/bootstrap)")
    })
    .await
    .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sap_cloud_sdk_client_generated_from_metadata_reads_updates_and_deletes_by_key() {
    let modules = Path::new(SDK).join("node_modules");
    assert!(
        modules.join("@sap-cloud-sdk/generator/package.json").exists(),
        "the SAP Cloud SDK is not installed: run .ci/bootstrap (npm ci in tests/odata_sap)"
    );
    let gw = Gateway::start().await;
    const FRAN: Auth = Auth::Basic("fran");
    let mut ids = Vec::new();
    for (name, region) in [
        ("Keep and update", "North"),
        ("Delete me", "South"),
        ("Stay west", "West"),
    ] {
        let created = gw
            .call_at(
                K2_BASE,
                &FRAN,
                "POST",
                "/Customer",
                Some(json!({"Name": name, "Region": region})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        ids.push(created.json["CustomerId"].as_i64().unwrap());
    }

    // Generate the client from the live $metadata into a temporary directory whose node_modules is the
    // pinned SDK, so the generated TypeScript transpiles against it.
    let work = tempfile::tempdir().unwrap();
    let metadata = gw.call_at(K2_BASE, &FRAN, "GET", "/$metadata", None).await;
    assert_eq!(metadata.status, 200);
    let input = work.path().join("edmx");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("SmartObjects.edmx"), &metadata.text).unwrap();
    let out: PathBuf = work.path().join("client");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&modules, out.join("node_modules")).unwrap();
    let generator = modules.join("@sap-cloud-sdk/generator/dist/cli.js");
    let generated = node(
        work.path(),
        vec![
            generator.display().to_string(),
            "--input".into(),
            input.display().to_string(),
            "--outputDir".into(),
            out.display().to_string(),
            "--transpile".into(),
            "--skipValidation".into(),
        ],
    )
    .await;
    assert!(generated.status.success(), "generation failed:\n{}", text(&generated));
    assert!(out.join("SmartObjects/CustomerApi.js").exists(), "{}", text(&generated));

    let ran = node(
        work.path(),
        vec![
            format!("{SDK}/client.js"),
            out.display().to_string(),
            gw.inner.url(K2_BASE),
            "fran".into(),
            "fran-pw".into(),
            ids[0].to_string(),
            ids[1].to_string(),
        ],
    )
    .await;
    let output = text(&ran);
    assert!(
        ran.status.success(),
        "the generated client failed:\n{output}\ngateway log:\n{}",
        gw.inner.log()
    );
    // The SDK fetches a CSRF token with HEAD before each write and warns when that fails (a 405 did).
    assert!(!output.contains("Failed to get CSRF token"), "{output}");
    let log = gw.inner.log();
    let heads: Vec<&str> = log.lines().filter(|l| l.contains("method=HEAD")).collect();
    assert!(
        heads.len() >= 3 && heads.iter().all(|l| l.contains("status=200")),
        "one answered HEAD per write at least:\n{}",
        heads.join("\n")
    );
    let result: Value = output
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or_else(|| panic!("no RESULT line:\n{output}"));
    assert_eq!(result["before"], json!({"name": "Keep and update", "region": "North"}));
    assert_eq!(
        result["after"],
        json!({"name": "Keep and update", "region": "Updated by SAP SDK", "creditLimit": "4321.5"})
    );
    assert_eq!(result["west"], json!(["Created by SAP SDK", "Stay west"]));

    // What changed, seen without the SDK.
    let updated = gw.call(&FRAN, "GET", &format!("/Customer({})", ids[0]), None).await;
    assert_eq!(updated.status, 200);
    assert_eq!(
        (&updated.json["Region"], &updated.json["CreditLimit"]),
        (&json!("Updated by SAP SDK"), &json!(4321.5))
    );
    let deleted = gw.call(&FRAN, "GET", &format!("/Customer({})", ids[1]), None).await;
    assert_eq!(deleted.status, 404, "{}", deleted.text);
    let created: i64 = result["created"].as_str().unwrap().parse().unwrap();
    let created = gw.call(&FRAN, "GET", &format!("/Customer({created})"), None).await;
    assert_eq!(created.json["Name"], "Created by SAP SDK");
    assert_eq!(gw.call(&FRAN, "GET", "/Customer/$count", None).await.text, "3");
}
