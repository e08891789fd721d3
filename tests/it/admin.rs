//! The admin API on the admin listener (issue 19): authenticated with the gateway's own authenticators and
//! authorized for `admin.administrators` only; state-changing calls need the CSRF token; runtime settings
//! written through it switch the Workflow API off and change the OData exposure on this replica and on a
//! second process sharing the database within 2 s, are audited with before/after, survive a restart, and
//! `authgate check` names their source.

use crate::support;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::odata::{Gateway, SHIPPED};

pub(crate) const ADMIN: (&str, &str) = ("fran", "fran-pw");
pub(crate) const NOT_ADMIN: (&str, &str) = ("alice", "alice-pw");
pub(crate) const OFF_MESSAGE: &str = "Workflow paused for maintenance";

/// The test head with fran as the one administrator; `database` replaces the gateway's own SQLite file.
fn head(database: Option<&str>) -> String {
    let head = support::base_config().replace(
        "admin: {address: \"127.0.0.1:{ADMIN}\"}",
        "admin: {address: \"127.0.0.1:{ADMIN}\", administrators: {users: [\"K2:CONTOSO\\\\fran\"], groups: [Auditors]}}",
    );
    assert!(
        head.contains("administrators"),
        "the test configuration names its administrators"
    );
    match database {
        Some(path) => head.replace("\"{DIR}/db.sqlite\"", &format!("\"{path}\"")),
        None => head,
    }
}

pub(crate) async fn start(database: Option<&str>) -> Gateway {
    Gateway::start_on(head(database), &format!("{{smartobjects: \"{SHIPPED}\"}}"), true, &[]).await
}

/// One admin API call: `(status, headers, JSON body)`.
pub(crate) async fn admin(
    gw: &Gateway,
    method: &str,
    path: &str,
    user: Option<(&str, &str)>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = support::client().request(
        method.parse().expect("a method"),
        gw.inner.admin_url(&format!("/admin/api/v1{path}")),
    );
    if let Some((name, password)) = user {
        request = request.basic_auth(name, Some(password));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the admin listener answers");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({"text": text}));
    (status, headers, body)
}

async fn csrf_token(gw: &Gateway) -> String {
    let (status, _, session) = admin(gw, "GET", "/session", Some(ADMIN), &[], None).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"], "K2:CONTOSO\\fran");
    session["csrf_token"].as_str().expect("a token").to_string()
}

async fn settings(gw: &Gateway) -> Value {
    let (status, _, body) = admin(gw, "GET", "/settings", Some(ADMIN), &[], None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The public Workflow API's answer, as `(status, body)`.
pub(crate) async fn workflow_answer(gw: &Gateway) -> (u16, String) {
    let response = support::client()
        .get(gw.inner.url("/api/workflow/v1/tasks"))
        .basic_auth(NOT_ADMIN.0, Some(NOT_ADMIN.1))
        .send()
        .await
        .expect("the public listener answers");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

/// Polls `gw`'s Workflow API until it is switched off with the stored answer; fails after `deadline`.
pub(crate) async fn until_switched_off(gw: &Gateway, deadline: Instant, which: &str) {
    loop {
        let (status, body) = workflow_answer(gw).await;
        if status == 503 && body.contains(OFF_MESSAGE) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{which}: the Workflow API still answers {status} {body} 2 s after the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn metadata(gw: &Gateway) -> String {
    let response = support::client()
        .get(gw.inner.url("/api/odata/v4/$metadata"))
        .basic_auth(NOT_ADMIN.0, Some(NOT_ADMIN.1))
        .send()
        .await
        .expect("the public listener answers");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap_or_default()
}

#[tokio::test]
async fn only_administrators_reach_the_admin_api_and_everyone_else_is_refused() {
    let gw = start(None).await;
    let token = csrf_token(&gw).await;
    let calls: [(&str, &str); 6] = [
        ("GET", "/session"),
        ("GET", "/settings"),
        ("PUT", "/settings"),
        ("GET", "/audit"),
        ("GET", "/smartobjects"),
        ("GET", "/overview"),
    ];
    for (method, path) in calls {
        let body = (method == "PUT").then(|| json!({"version": 0, "changes": {"odata.page_size": 5}}));
        // A signed-in user who is not an administrator, even with an administrator's CSRF token.
        let (status, _, answer) = admin(
            &gw,
            method,
            path,
            Some(NOT_ADMIN),
            &[("x-csrf-token", &token)],
            body.clone(),
        )
        .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}: {answer}"
        );
        // No credentials: a Basic challenge a browser answers with its sign-in dialog.
        let (status, headers, answer) = admin(&gw, method, path, None, &[], body.clone()).await;
        assert_eq!(status, 401, "{method} {path}: {answer}");
        assert_eq!(
            headers.get("www-authenticate").and_then(|v| v.to_str().ok()),
            Some("Basic realm=\"authgate admin\", charset=\"UTF-8\"")
        );
        // A wrong password is no way in either (gus's: the lockout counts these, and fran signs in below).
        let (status, _, _) = admin(&gw, method, path, Some(("gus", "wrong")), &[], body).await;
        assert_eq!(status, 401, "{method} {path}");
    }
    // The administrator's calls work, and the health endpoints are as they were.
    for (method, path) in calls.iter().filter(|(m, _)| *m == "GET") {
        let (status, headers, answer) = admin(&gw, method, path, Some(ADMIN), &[], None).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_eq!(
            headers.get("cache-control").and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
    }
    let (status, _, unknown) = admin(&gw, "GET", "/nope", Some(ADMIN), &[], None).await;
    assert_eq!((status, unknown["error"].as_str()), (404, Some("not_found")));
    let smartobjects = admin(&gw, "GET", "/smartobjects", Some(ADMIN), &[], None).await.2;
    let names: Vec<&str> = smartobjects["smartobjects"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(
        names.contains(&"Customer") && names.contains(&"1099Vendor"),
        "{smartobjects}"
    );
    let overview = admin(&gw, "GET", "/overview", Some(ADMIN), &[], None).await.2;
    assert!(
        overview["routes"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["name"] == "workflow")),
        "{overview}"
    );
    assert_eq!(overview["version"], env!("CARGO_PKG_VERSION"));
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let status = support::client()
            .get(gw.inner.admin_url(probe))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 200, "{probe}");
    }
}

#[tokio::test]
async fn runtime_settings_apply_on_every_replica_within_two_seconds_are_audited_and_survive_a_restart() {
    let a = start(None).await;
    let database = a.inner.dir.path().join("db.sqlite").display().to_string();
    let b = start(Some(&database)).await;
    let token = csrf_token(&a).await;
    let before = settings(&a).await;
    assert_eq!(before["version"], 0);
    assert_eq!(before["settings"]["workflow"]["source"], "gateway.yaml");
    assert_eq!(before["settings"]["workflow"]["value"]["enabled"], true);
    assert_eq!(workflow_answer(&a).await.0, 200);
    assert_eq!(workflow_answer(&b).await.0, 200);

    let switch_off =
        json!({"version": 0, "changes": {"workflow": {"enabled": false, "status": 503, "message": OFF_MESSAGE}}});
    // Without the CSRF token, with a wrong one, or from a foreign origin: refused, and nothing changes.
    let wrong = token.chars().rev().collect::<String>();
    for headers in [
        vec![],
        vec![("x-csrf-token", wrong.as_str())],
        vec![("x-csrf-token", token.as_str()), ("origin", "http://evil.example")],
    ] {
        let (status, _, answer) = admin(&a, "PUT", "/settings", Some(ADMIN), &headers, Some(switch_off.clone())).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (403, Some("csrf")),
            "{headers:?}: {answer}"
        );
    }
    assert_eq!(settings(&a).await, before, "a refused change changes nothing");
    assert_eq!(workflow_answer(&a).await.0, 200);

    // Switched off through the admin API: this replica and the other answer with the stored status and
    // message within 2 s.
    let origin = format!("http://127.0.0.1:{}", a.inner.admin_port);
    let with_token = [("x-csrf-token", token.as_str()), ("origin", origin.as_str())];
    let (status, _, after) = admin(
        &a,
        "PUT",
        "/settings",
        Some(ADMIN),
        &with_token,
        Some(switch_off.clone()),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(2);
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["version"], 1);
    assert_eq!(after["settings"]["workflow"]["source"], "store");
    assert_eq!(after["settings"]["workflow"]["changed_by"], "K2:CONTOSO\\fran");
    until_switched_off(&a, deadline, "this replica").await;
    until_switched_off(&b, deadline, "the other replica").await;

    // A stale write is a conflict; an unknown SmartObject is refused by name; neither changes anything.
    let (status, _, answer) = admin(&a, "PUT", "/settings", Some(ADMIN), &with_token, Some(switch_off)).await;
    assert_eq!(status, 409, "{answer}");
    let unknown = json!({"version": 1, "changes": {"odata.page_size": 10, "odata.expose": {"mode": "only", "names": ["Customer", "Nobody"]}}});
    let (status, _, answer) = admin(&a, "PUT", "/settings", Some(ADMIN), &with_token, Some(unknown)).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["field"], "odata.expose.names[1]");
    assert!(
        answer["message"].as_str().is_some_and(|m| m.contains("'Nobody'")),
        "{answer}"
    );
    assert_eq!(
        settings(&a).await["settings"]["odata.page_size"]["value"],
        1000,
        "validated before written"
    );

    // The exposure: only Customer is published from now on.
    let full = metadata(&a).await;
    assert!(full.contains("\"Customer\"") && full.contains("1099Vendor"), "{full}");
    let only = json!({"version": 1, "changes": {"odata.expose": {"mode": "only", "names": ["customer"]}}});
    let (status, _, answer) = admin(
        &a,
        "PUT",
        "/settings",
        Some(ADMIN),
        &[("x-csrf-token", &token)],
        Some(only),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    support::until("$metadata without 1099Vendor", || async {
        !metadata(&a).await.contains("1099Vendor")
    })
    .await;
    assert!(metadata(&a).await.contains("\"Customer\""));

    // The audit lists both changes, newest first, with what they changed from and to.
    let (status, _, audit) = admin(&a, "GET", "/audit?limit=10", Some(ADMIN), &[], None).await;
    assert_eq!(status, 200, "{audit}");
    let entries = audit["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "{audit}");
    assert_eq!(entries[0]["target"], "odata.expose");
    assert_eq!(entries[0]["before"], json!({"mode": "all"}));
    assert_eq!(entries[0]["after"], json!({"mode": "only", "names": ["customer"]}));
    assert_eq!(entries[1]["target"], "workflow");
    assert_eq!(entries[1]["who"], "K2:CONTOSO\\fran");
    assert_eq!(entries[1]["before"]["enabled"], true);
    assert_eq!(
        entries[1]["after"],
        json!({"enabled": false, "status": 503, "message": OFF_MESSAGE})
    );
    assert!(
        entries[1]["at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
        "{audit}"
    );

    // `authgate check` shows the effective values and where each comes from.
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(["check", "--config"])
        .arg(a.inner.config_path())
        .output()
        .expect("authgate check runs");
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{out}");
    assert!(
        out.contains("administrators: users [K2:CONTOSO\\fran]; groups [Auditors]"),
        "{out}"
    );
    assert!(out.contains("runtime settings (store version 2):"), "{out}");
    assert!(
        out.contains(&format!(
            "  workflow: {{\"enabled\":false,\"message\":\"{OFF_MESSAGE}\",\"status\":503}} from store (set by K2:CONTOSO\\fran at "
        )),
        "{out}"
    );
    assert!(out.contains("  odata.page_size: 1000 from gateway.yaml"), "{out}");

    // A restarted replica serves the stored settings from its first request.
    drop(b);
    let b = start(Some(&database)).await;
    let (status, body) = workflow_answer(&b).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(OFF_MESSAGE), "{body}");
    assert!(!metadata(&b).await.contains("1099Vendor"));
}
