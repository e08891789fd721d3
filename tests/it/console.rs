//! The management console (issue 19) in a real browser: headless Chromium (Debian's `chromium`) driven by
//! playwright-core (`tests/console/run.mjs`, installed by `.ci/bootstrap`). An administrator signs in, turns
//! the Workflow API off in the page (this gateway and a second one sharing the database answer with the
//! switched-off message), changes the OData exposure (`$metadata` changes), meets a stale save, and reads the
//! audit; the keyboard reaches the switches, no page scrolls sideways at 390 px; a non-administrator gets 403
//! on every page and API call, no credentials get the Basic challenge, and a call without the CSRF token is
//! refused; an administrator unlocks a locked-out user, inspects a token whose audience lacks the trailing
//! slash, and revokes a user's OAuth connection. With `AUTHGATE_CONSOLE_SCREENSHOTS=docs/console` the run also
//! refreshes the README's screenshots.

use crate::admin::{self, ADMIN, API_CALLS, LOCKY, NOT_ADMIN, OFF_MESSAGE};
use crate::servers::require_tool;
use crate::support;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The console's pages (paths after `/admin/`).
const PAGES: [&str; 8] = ["", "apis", "consent", "oauth", "lockouts", "inspect", "live", "audit"];

/// Runs `tests/console/run.mjs` with `plan`; the report by scenario. A scenario that failed fails the test
/// with the browser's error.
async fn browser(plan: Value) -> Value {
    let node = require_tool("node");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console");
    assert!(
        dir.join("node_modules/playwright-core/package.json").is_file(),
        "playwright-core is not installed in {}: run .ci/bootstrap (npm ci there)",
        dir.display()
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file(),
        "{chromium} is missing: run .ci/bootstrap (it installs Debian's chromium), or set CHROMIUM"
    );
    let child = tokio::process::Command::new(node)
        .arg(dir.join("run.mjs"))
        .arg(plan.to_string())
        .current_dir(&dir)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the browser run finishes within 2 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "run.mjs failed: {stderr}\n{stdout}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    let failed: Vec<String> = report
        .as_object()
        .expect("a report")
        .iter()
        .filter(|(_, result)| result["ok"] != true)
        .map(|(name, result)| format!("scenario {name}: {}", result["error"].as_str().unwrap_or_default()))
        .collect();
    assert!(failed.is_empty(), "{}\n{stdout}", failed.join("\n"));
    report
}

fn screenshots_dir(temp: &Path) -> PathBuf {
    match std::env::var("AUTHGATE_CONSOLE_SCREENSHOTS") {
        Ok(dir) if !dir.is_empty() => Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
        _ => temp.join("screenshots"),
    }
}

#[tokio::test]
async fn an_administrator_runs_the_console_in_a_browser_and_everyone_else_is_refused() {
    let a = admin::start(None).await;
    let database = a.inner.dir.path().join("db.sqlite").display().to_string();
    let b = admin::start(Some(&database)).await;
    let shots = screenshots_dir(a.inner.dir.path());
    let report = browser(json!({
        "admin": format!("http://127.0.0.1:{}", a.inner.admin_port),
        "administrator": [ADMIN.0, ADMIN.1],
        "other": [NOT_ADMIN.0, NOT_ADMIN.1],
        "message": OFF_MESSAGE,
        "expose": ["Customer"],
        "api_calls": API_CALLS,
        "screenshots": shots,
        "scenarios": ["anonymous", "signin", "keyboard", "nonAdmin", "csrf", "workflowOff", "exposure", "conflict", "audit", "phone", "screenshots"],
    }))
    .await;
    let deadline = Instant::now() + Duration::from_secs(2);

    // Without credentials: the Basic challenge the browser's sign-in dialog answers.
    let anonymous = &report["anonymous"];
    assert_eq!(anonymous["status"], 401, "{anonymous}");
    assert_eq!(
        anonymous["challenge"],
        "Basic realm=\"authgate admin\", charset=\"UTF-8\""
    );

    // The administrator sees the overview, served with the strict headers.
    let signin = &report["signin"];
    assert_eq!(signin["status"], 200, "{signin}");
    assert!(
        signin["who"]
            .as_str()
            .is_some_and(|w| w.starts_with("Signed in as ") && w.ends_with("(K2:CONTOSO\\fran)")),
        "{signin}"
    );
    assert_eq!(
        (&signin["h1"], &signin["current"]),
        (&json!("Overview"), &json!("Overview"))
    );
    assert!(signin["routes"].as_u64().is_some_and(|n| n >= 3), "{signin}");
    let csp = signin["csp"].as_str().unwrap_or_default();
    for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(signin["nosniff"], "nosniff");
    assert_eq!(signin["cache"], "no-store");
    assert_eq!(signin["type"], "text/html; charset=utf-8");
    assert_eq!(
        signin["errors"],
        json!([]),
        "no script errors (nothing the CSP refused)"
    );

    // The keyboard: the skip link first, then Tab reaches the switch and Space flips it.
    let keyboard = &report["keyboard"];
    assert_eq!(keyboard["first"], "Skip to content", "{keyboard}");
    assert_eq!(keyboard["reached"], true, "{keyboard}");
    assert_eq!(
        (&keyboard["before"], &keyboard["after"]),
        (&json!("true"), &json!("false"))
    );
    assert_ne!(keyboard["outline"], "none", "the focused switch is visibly focused");

    // A signed-in non-administrator: 403 on every page, asset and API call.
    let refused = &report["nonAdmin"];
    for page in PAGES.iter().copied().chain(["assets/common.js"]) {
        assert_eq!(refused["pages"][page], 403, "/admin/{page}: {refused}");
    }
    for (method, path) in API_CALLS {
        assert_eq!(
            refused["api"][format!("{method} {path}")],
            403,
            "{method} {path}: {refused}"
        );
    }

    // Without the CSRF token a change is refused (and changes nothing: see the audit below).
    let csrf = &report["csrf"];
    assert_eq!(
        (&csrf["status"], &csrf["body"]["error"]),
        (&json!(403), &json!("csrf")),
        "{csrf}"
    );

    // The Workflow API switched off in the page: visibly off, and both gateways answer with the message.
    let off = &report["workflowOff"];
    assert_eq!(
        (&off["before"], &off["after"]),
        (&json!("true"), &json!("false")),
        "{off}"
    );
    assert_eq!(off["badge"], "Off", "{off}");
    assert!(
        off["off"]
            .as_str()
            .is_some_and(|t| t.contains(OFF_MESSAGE) && t.contains("503")),
        "{off}"
    );
    assert!(off["cardClass"].as_str().is_some_and(|c| c.contains("off")), "{off}");
    admin::until_switched_off(&a, deadline, "this gateway").await;
    admin::until_switched_off(&b, deadline, "the second gateway").await;

    // The exposure: only Customer in $metadata.
    let exposure = &report["exposure"];
    assert_eq!(exposure["checked"], json!(["Customer"]), "{exposure}");
    let metadata = admin::metadata(&a).await;
    assert!(
        metadata.contains("\"Customer\"") && !metadata.contains("1099Vendor"),
        "{metadata}"
    );
    support::until("the second gateway's $metadata without 1099Vendor", || async {
        !admin::metadata(&b).await.contains("1099Vendor")
    })
    .await;

    // A stale save is announced, and the page shows what was saved meanwhile.
    let conflict = &report["conflict"];
    assert!(
        conflict["alert"]
            .as_str()
            .is_some_and(|t| t.contains("changed meanwhile")),
        "{conflict}"
    );
    assert_eq!(conflict["limit"], "500", "{conflict}");

    // The audit, in the page and in the API: exactly the three saves, by fran.
    let audit = &report["audit"];
    assert_eq!(
        audit["targets"],
        json!(["odata.page_size", "odata.expose", "workflow"]),
        "{audit}"
    );
    assert_eq!(audit["who"], "K2:CONTOSO\\fran");
    let (status, _, entries) = admin::admin(&a, "GET", "/audit", Some(ADMIN), &[], None).await;
    assert_eq!(status, 200);
    assert_eq!(entries["entries"].as_array().map(Vec::len), Some(3), "{entries}");

    // At 390 px no page scrolls sideways.
    for (page, widths) in report["phone"]["widths"].as_object().expect("widths") {
        let (scroll, inner) = (widths[0].as_u64().unwrap_or(u64::MAX), widths[1].as_u64().unwrap_or(0));
        assert!(scroll <= inner, "{page}: {scroll} px wide in a {inner} px window");
    }

    // A PNG of every page.
    let files = report["screenshots"]["files"].as_array().expect("files");
    assert_eq!(files.len(), PAGES.len());
    for file in files {
        let bytes = std::fs::read(file.as_str().unwrap_or_default()).expect("the screenshot exists");
        assert!(bytes.starts_with(b"\x89PNG"), "{file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_browser_an_administrator_unlocks_a_user_inspects_a_token_and_revokes_a_connection() {
    use crate::servers::aad::{AadMock, CLIENT_SECRET};
    use authgate_testkit::{now, TEST_AUDIENCE, TEST_ISSUER};

    // Alice locked out by three wrong passwords on the public listener; a token whose audience lacks the
    // provider's trailing slash.
    let gw = admin::start(None).await;
    for _ in 0..3 {
        assert_eq!(admin::alice_signs_in(&gw, "wrong").await, 401);
    }
    assert_ne!(
        admin::alice_signs_in(&gw, NOT_ADMIN.1).await,
        200,
        "alice is locked out"
    );
    let aud = TEST_AUDIENCE.trim_end_matches('/');
    let pasted = gw.mint(&json!({
        "iss": TEST_ISSUER, "aud": aud, "exp": now() + 600, "iat": now(), "preferred_username": "erin@contoso.com",
    }));
    let report = browser(json!({
        "admin": format!("http://127.0.0.1:{}", gw.inner.admin_port),
        "administrator": [ADMIN.0, ADMIN.1],
        "locked": NOT_ADMIN.0,
        "token": pasted,
        "screenshots": screenshots_dir(gw.inner.dir.path()),
        "scenarios": ["unlock", "inspect"],
    }))
    .await;

    let unlock = &report["unlock"];
    assert!(
        unlock["lockedUntil"].as_str().is_some_and(|t| t != "not locked"),
        "{unlock}"
    );
    assert_eq!(unlock["note"], "Unlocked alice.", "{unlock}");
    assert_eq!(unlock["after"], 1, "the list is empty afterwards: {unlock}");
    assert_eq!(
        admin::alice_signs_in(&gw, NOT_ADMIN.1).await,
        200,
        "alice signs in at once"
    );
    let (_, _, audit) = admin::admin(&gw, "GET", "/audit?limit=1", Some(ADMIN), &[], None).await;
    assert_eq!(
        (&audit["entries"][0]["action"], &audit["entries"][0]["target"]),
        (&json!("lockout.unlock"), &json!("alice")),
        "{audit}"
    );

    let inspect = &report["inspect"];
    assert_eq!(inspect["verdict"], "Verdict: invalid", "{inspect}");
    assert_eq!(inspect["result"], "✘ Fail", "{inspect}");
    let detail = inspect["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("trailing slash") && detail.contains(TEST_AUDIENCE),
        "the audience explanation: {detail}"
    );
    assert!(
        inspect["url"].as_str().is_some_and(|u| u.ends_with("/admin/inspect")),
        "the token is not in the URL: {inspect}"
    );
    assert_eq!(inspect["stored"], "{}{}", "nor in the browser's storage: {inspect}");
    let signature = pasted.rsplit('.').next().unwrap_or_default();
    assert!(!gw.inner.log().contains(signature), "nor in the log");
    for scenario in ["unlock", "inspect"] {
        assert_eq!(report[scenario]["errors"], json!([]), "{scenario}: no script errors");
    }

    // A real OAuth connection (alice, SharePoint through the AAD mock), revoked in the Tokens view.
    let aad = AadMock::start().await;
    let oauth = admin::connected_gateway(&aad).await;
    let report = browser(json!({
        "admin": format!("http://127.0.0.1:{}", oauth.admin_port),
        "administrator": [LOCKY.0, LOCKY.1],
        "revoke": {"user": "K2:CONTOSO\\alice", "resource": "SharePoint"},
        "screenshots": screenshots_dir(oauth.dir.path()),
        "scenarios": ["revoke"],
    }))
    .await;
    let revoke = &report["revoke"];
    assert_eq!(revoke["secret"], "set (hidden)", "{revoke}");
    assert!(!revoke.to_string().contains(CLIENT_SECRET), "{revoke}");
    assert!(
        revoke["dialogs"][0]
            .as_str()
            .is_some_and(|m| m.contains("Revoke K2:CONTOSO\\alice's tokens for SharePoint")),
        "a confirmation first: {revoke}"
    );
    assert_eq!(
        revoke["note"], "Revoked K2:CONTOSO\\alice's connection to SharePoint.",
        "{revoke}"
    );
    assert_eq!(revoke["after"], 1, "{revoke}");
    assert_eq!(revoke["errors"], json!([]), "{revoke}");
    let (status, _, left) = admin::admin_on(&oauth, "GET", "/oauth/connections", Some(LOCKY), &[], None).await;
    assert_eq!((status, &left["connections"]), (200, &json!([])), "{left}");
    assert!(
        crate::outbound_oidc::connections(&oauth).await.is_empty(),
        "alice's own view agrees"
    );
}
