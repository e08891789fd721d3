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

/// Every admin API call, for the checks that everyone but an administrator is refused on each.
pub(crate) const API_CALLS: [(&str, &str); 15] = [
    ("GET", "/session"),
    ("GET", "/settings"),
    ("PUT", "/settings"),
    ("GET", "/audit"),
    ("GET", "/smartobjects"),
    ("GET", "/overview"),
    ("GET", "/lockouts"),
    ("DELETE", "/lockouts/users/gus"),
    ("DELETE", "/lockouts/ips/127.0.0.1"),
    ("POST", "/inspect"),
    ("GET", "/oauth"),
    ("GET", "/oauth/connections"),
    ("DELETE", "/oauth/connections/SharePoint/K2:CONTOSO%5Calice"),
    (
        "GET",
        "/consent-url?tenant=contoso.com&client_id=app&redirect_uri=https://app/cb",
    ),
    ("GET", "/live"),
];

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
    admin_on(&gw.inner, method, path, user, headers, body).await
}

/// [`admin`] on any gateway process.
pub(crate) async fn admin_on(
    gw: &support::Gateway,
    method: &str,
    path: &str,
    user: Option<(&str, &str)>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = support::client().request(
        method.parse().expect("a method"),
        gw.admin_url(&format!("/admin/api/v1{path}")),
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
    let calls = API_CALLS;
    for (method, path) in calls {
        let body = match method {
            "PUT" => Some(json!({"version": 0, "changes": {"odata.page_size": 5}})),
            "POST" => Some(json!({"token": "a.b.c"})),
            _ => None,
        };
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
    assert_eq!(
        (
            overview["directory"]["kind"].as_str(),
            overview["directory"]["ok"].as_bool()
        ),
        (Some("embedded"), Some(true)),
        "{overview}"
    );
    assert_eq!(overview["storage"]["healthy"], true, "{overview}");
    let providers = overview["providers"].as_array().expect("providers");
    assert!(
        !providers.is_empty()
            && providers.iter().all(|p| p["last_key_refresh"]["ok"] == true
                && p["last_key_refresh"]["at"].as_str().is_some_and(|t| t.ends_with('Z'))),
        "{overview}"
    );
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

    // Both replicas beat into the shared store: the overview sees them.
    support::until("two replicas seen", || async {
        let overview = admin(&a, "GET", "/overview", Some(ADMIN), &[], None).await.2;
        overview["replicas_seen"]["replicas"]
            .as_array()
            .is_some_and(|r| r.len() == 2 && r.iter().all(|r| r["version"] == env!("CARGO_PKG_VERSION")))
    })
    .await;

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

/// `user`'s CSRF token on `gw`.
async fn csrf_token_on(gw: &support::Gateway, user: (&str, &str)) -> String {
    let (status, _, session) = admin_on(gw, "GET", "/session", Some(user), &[], None).await;
    assert_eq!(status, 200, "{session}");
    session["csrf_token"].as_str().expect("a token").to_string()
}

/// The newest audit entry.
async fn last_audit(gw: &support::Gateway, user: (&str, &str)) -> Value {
    let (status, _, audit) = admin_on(gw, "GET", "/audit?limit=1", Some(user), &[], None).await;
    assert_eq!(status, 200, "{audit}");
    audit["entries"][0].clone()
}

/// A public request as alice with `password`: its status.
pub(crate) async fn alice_signs_in(gw: &Gateway, password: &str) -> u16 {
    support::client()
        .get(gw.inner.url("/api/workflow/v1/tasks"))
        .basic_auth(NOT_ADMIN.0, Some(password))
        .send()
        .await
        .expect("the public listener answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_locked_out_user_is_listed_and_an_audited_unlock_lets_her_sign_in_at_once() {
    let gw = start(None).await;
    let token = csrf_token(&gw).await;
    for _ in 0..3 {
        assert_eq!(alice_signs_in(&gw, "wrong").await, 401);
    }
    assert_ne!(alice_signs_in(&gw, NOT_ADMIN.1).await, 200, "alice is locked out");

    let (status, _, listed) = admin(&gw, "GET", "/lockouts", Some(ADMIN), &[], None).await;
    assert_eq!(status, 200, "{listed}");
    let alice = listed["users"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["name"] == "alice"))
        .unwrap_or_else(|| panic!("alice is listed: {listed}"));
    let until = alice["locked_until"].as_str().unwrap_or_default();
    assert!(
        until.len() == 20 && until.as_bytes()[10] == b'T' && until.ends_with('Z'),
        "an RFC 3339 lock end: {alice}"
    );
    assert!(listed["ips"].is_array(), "{listed}");

    // Without the CSRF token nothing changes.
    let (status, _, refused) = admin(&gw, "DELETE", "/lockouts/users/alice", Some(ADMIN), &[], None).await;
    assert_eq!((status, refused["error"].as_str()), (403, Some("csrf")), "{refused}");
    assert_ne!(alice_signs_in(&gw, NOT_ADMIN.1).await, 200, "still locked");

    let with_token = [("x-csrf-token", token.as_str())];
    let (status, _, answer) = admin(&gw, "DELETE", "/lockouts/users/alice", Some(ADMIN), &with_token, None).await;
    assert_eq!(status, 204, "{answer}");
    assert_eq!(alice_signs_in(&gw, NOT_ADMIN.1).await, 200, "unlocked at once");
    let entry = last_audit(&gw.inner, ADMIN).await;
    assert_eq!(
        (&entry["action"], &entry["target"], &entry["who"], &entry["after"]),
        (
            &json!("lockout.unlock"),
            &json!("alice"),
            &json!("K2:CONTOSO\\fran"),
            &Value::Null
        ),
        "{entry}"
    );
    assert!(entry["before"]["locked_until"].is_string(), "{entry}");
    let (_, _, listed) = admin(&gw, "GET", "/lockouts", Some(ADMIN), &[], None).await;
    assert!(
        listed["users"]
            .as_array()
            .is_some_and(|u| u.iter().all(|u| u["name"] != "alice")),
        "{listed}"
    );

    // Nothing left to unlock, and addresses are checked.
    let (status, _, answer) = admin(&gw, "DELETE", "/lockouts/users/alice", Some(ADMIN), &with_token, None).await;
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")), "{answer}");
    let (status, _, answer) = admin(&gw, "DELETE", "/lockouts/ips/127.0.0.1", Some(ADMIN), &with_token, None).await;
    assert_eq!(status, 404, "{answer}");
    let (status, _, answer) = admin(&gw, "DELETE", "/lockouts/ips/not-an-ip", Some(ADMIN), &with_token, None).await;
    assert_eq!((status, answer["field"].as_str()), (400, Some("ip")), "{answer}");
}

/// locky administers the gateways of [`connected_gateway`].
pub(crate) const LOCKY: (&str, &str) = ("locky", "locky-pw");

/// A gateway with outbound OAuth through `aad` and `locky` as its administrator, where alice has connected
/// to SharePoint.
pub(crate) async fn connected_gateway(aad: &crate::servers::aad::AadMock) -> support::Gateway {
    use crate::outbound_microsoft::{connect, gateway_with};
    let head = support::base_config().replace(
        "admin: {address: \"127.0.0.1:{ADMIN}\"}",
        "admin: {address: \"127.0.0.1:{ADMIN}\", administrators: {users: [\"K2:CONTOSO\\\\locky\"]}}",
    );
    let gw = gateway_with(aad, &head).await;
    connect(&gw, aad, "SharePoint").await;
    gw
}

/// `POST /inspect` as the administrator, with the given headers.
async fn inspect(gw: &Gateway, headers: &[(&str, &str)], body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
    admin(gw, "POST", "/inspect", Some(ADMIN), headers, Some(body)).await
}

#[tokio::test]
async fn the_inspector_explains_a_missing_trailing_slash_and_never_echoes_or_logs_the_token() {
    use authgate_testkit::{now, TEST_AUDIENCE, TEST_ISSUER};
    let gw = start(None).await;
    let token = csrf_token(&gw).await;
    let with_token = [("x-csrf-token", token.as_str())];
    let aud = TEST_AUDIENCE.trim_end_matches('/');
    assert_ne!(aud, TEST_AUDIENCE, "the provider's audience ends with a slash");
    let pasted = gw.mint(&json!({
        "iss": TEST_ISSUER, "aud": aud, "exp": now() + 600, "iat": now(), "preferred_username": "erin@contoso.com",
    }));
    let signature = pasted.rsplit('.').next().expect("a signature").to_string();

    // A POST: the CSRF token is needed.
    let (status, _, refused) = inspect(&gw, &[], json!({"token": pasted})).await;
    assert_eq!((status, refused["error"].as_str()), (403, Some("csrf")), "{refused}");

    let (status, _, report) = inspect(&gw, &with_token, json!({"token": pasted})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["verdict"], "invalid", "{report}");
    let audience = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "audience"))
        .unwrap_or_else(|| panic!("an audience check: {report}"));
    assert_eq!(audience["ok"], false, "{audience}");
    let detail = audience["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("trailing slash"), "{detail}");
    assert!(detail.contains(TEST_AUDIENCE), "{detail}");
    assert_eq!(report["claims"]["aud"], aud);
    assert!(report["checks"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["name"] == "signature" && c["ok"] == true)));
    let text = report.to_string();
    assert!(
        !text.contains(&signature) && !text.contains(&pasted),
        "the token is not echoed"
    );

    // A token the gateway accepts, on a named route; an unknown route is a field error.
    let good = gw.token("erin@contoso.com", &[]);
    let (status, _, report) = inspect(&gw, &with_token, json!({"token": good, "route": "workflow"})).await;
    assert_eq!((status, report["verdict"].as_str()), (200, Some("valid")), "{report}");
    let (status, _, answer) = inspect(&gw, &with_token, json!({"token": good, "route": "nope"})).await;
    assert_eq!((status, answer["field"].as_str()), (400, Some("route")), "{answer}");
    let (status, _, answer) = inspect(&gw, &with_token, json!({"token": 42})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(!answer.to_string().contains("42"), "a bad body is not quoted: {answer}");

    let log = gw.inner.log();
    assert!(!log.contains(&signature), "the token is never logged");
    let (_, _, audit) = admin(&gw, "GET", "/audit", Some(ADMIN), &[], None).await;
    assert!(!audit.to_string().contains(&signature), "nor audited: {audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_shows_resources_masked_and_an_administrator_revokes_a_real_connection() {
    use crate::outbound_microsoft::SHAREPOINT;
    use crate::servers::aad::{AadMock, CLIENT_ID, CLIENT_SECRET};
    let aad = AadMock::start().await;
    let gw = connected_gateway(&aad).await;

    let (status, _, oauth) = admin_on(&gw, "GET", "/oauth", Some(LOCKY), &[], None).await;
    assert_eq!((status, &oauth["configured"]), (200, &json!(true)), "{oauth}");
    let sharepoint = oauth["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "SharePoint"))
        .unwrap_or_else(|| panic!("SharePoint is listed: {oauth}"));
    assert_eq!(sharepoint["client_id"], CLIENT_ID, "{sharepoint}");
    assert_eq!(sharepoint["client_secret"], "set", "{sharepoint}");
    assert_eq!(sharepoint["resource"], SHAREPOINT, "{sharepoint}");
    assert!(sharepoint["authorize_url"]
        .as_str()
        .is_some_and(|u| u.ends_with("/authorize")));
    assert!(
        oauth["resource_types"].as_array().is_some_and(|t| !t.is_empty()),
        "{oauth}"
    );
    assert!(!oauth.to_string().contains(CLIENT_SECRET), "no secret: {oauth}");

    let (status, _, listed) = admin_on(&gw, "GET", "/oauth/connections", Some(LOCKY), &[], None).await;
    assert_eq!(status, 200, "{listed}");
    let rows = listed["connections"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!(
        (&rows[0]["user"], &rows[0]["resource"], &rows[0]["status"]),
        (&json!("K2:CONTOSO\\alice"), &json!("SharePoint"), &json!("connected")),
        "{listed}"
    );
    assert!(rows[0]["updated_at"].is_string(), "{listed}");
    let (_, _, none) = admin_on(&gw, "GET", "/oauth/connections?resource=Graph", Some(LOCKY), &[], None).await;
    assert_eq!(none["connections"], json!([]), "{none}");

    let path = "/oauth/connections/SharePoint/K2:CONTOSO%5Calice";
    let (status, _, refused) = admin_on(&gw, "DELETE", path, Some(LOCKY), &[], None).await;
    assert_eq!((status, refused["error"].as_str()), (403, Some("csrf")), "{refused}");
    let (_, _, still) = admin_on(&gw, "GET", "/oauth/connections", Some(LOCKY), &[], None).await;
    assert_eq!(
        still["connections"].as_array().map(Vec::len),
        Some(1),
        "nothing changed: {still}"
    );

    let token = csrf_token_on(&gw, LOCKY).await;
    let with_token = [("x-csrf-token", token.as_str())];
    let (status, _, answer) = admin_on(&gw, "DELETE", path, Some(LOCKY), &with_token, None).await;
    assert_eq!(status, 204, "{answer}\n{}", gw.log());
    let (_, _, after) = admin_on(&gw, "GET", "/oauth/connections", Some(LOCKY), &[], None).await;
    assert_eq!(after["connections"], json!([]), "{after}");
    // Alice's own view agrees: the connection is gone.
    let mine = crate::outbound_oidc::connections(&gw).await;
    assert!(mine.is_empty(), "{mine:?}");
    let entry = last_audit(&gw, LOCKY).await;
    assert_eq!(
        (&entry["action"], &entry["target"], &entry["after"]),
        (
            &json!("oauth.revoke"),
            &json!("SharePoint/K2:CONTOSO\\alice"),
            &Value::Null
        ),
        "{entry}"
    );
    let (status, _, answer) = admin_on(&gw, "DELETE", path, Some(LOCKY), &with_token, None).await;
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")), "{answer}");
}

/// The workflow route's request count in a `live` snapshot.
fn workflow_requests(live: &Value) -> u64 {
    live["requests"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| r["route"] == "workflow")
                .filter_map(|r| r["count"].as_u64())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn live_counters_grow_with_public_requests_and_the_consent_url_is_the_seed_s() {
    let gw = start(None).await;
    let (status, _, before) = admin(&gw, "GET", "/live", Some(ADMIN), &[], None).await;
    assert_eq!(status, 200, "{before}");
    assert!(before["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{before}");
    assert!(before["uptime_seconds"].is_u64(), "{before}");
    assert!(before["token_verify"]["count"].is_u64(), "{before}");
    assert!(
        before["caches"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == "credentials")),
        "{before}"
    );
    for _ in 0..3 {
        assert_eq!(workflow_answer(&gw).await.0, 200);
    }
    let bearer = gw.token("erin@contoso.com", &[]);
    let status = support::client()
        .get(gw.inner.url("/api/workflow/v1/tasks"))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("the public listener answers")
        .status();
    assert_eq!(status.as_u16(), 200);
    let (_, _, after) = admin(&gw, "GET", "/live", Some(ADMIN), &[], None).await;
    assert!(
        workflow_requests(&after) >= workflow_requests(&before) + 4,
        "{before}\n{after}"
    );
    assert!(
        after["token_verify"]["count"].as_u64() > before["token_verify"]["count"].as_u64(),
        "{after}"
    );
    assert!(after["token_verify"]["p50_ms"].is_f64(), "{after}");

    let query = "/consent-url?tenant=contoso.onmicrosoft.com&client_id=57928c92-7074-45f8-b89e-fe2556ac187f\
                 &redirect_uri=https%3A%2F%2Fhelp.nintex.com%2Fen-US%2FHELP_DOC%2FAADpages%2FAADSuccess.html";
    let (status, _, consent) = admin(&gw, "GET", query, Some(ADMIN), &[], None).await;
    assert_eq!(status, 200, "{consent}");
    assert_eq!(
        consent["url"],
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/authorize\
         ?client_id=57928c92-7074-45f8-b89e-fe2556ac187f&response_type=code\
         &redirect_uri=https%3A%2F%2Fhelp.nintex.com%2Fen-US%2FHELP_DOC%2FAADpages%2FAADSuccess.html\
         &resource=https%3A%2F%2Fapi.k2.com&prompt=admin_consent"
    );
    assert!(
        consent["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("AADSTS90094")),
        "{consent}"
    );
    for (query, field) in [
        (
            "/consent-url?tenant=a/b&client_id=x&redirect_uri=https://app/cb",
            "tenant",
        ),
        (
            "/consent-url?tenant=contoso.com&redirect_uri=https://app/cb",
            "client_id",
        ),
        (
            "/consent-url?tenant=contoso.com&client_id=x&redirect_uri=nope",
            "redirect_uri",
        ),
    ] {
        let (status, _, answer) = admin(&gw, "GET", query, Some(ADMIN), &[], None).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (400, Some(field)),
            "{query}: {answer}"
        );
    }
}
