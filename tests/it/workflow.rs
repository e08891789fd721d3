//! The Workflow REST API through the real gateway on loopback: Basic and bearer callers, the whole approval
//! flow, group tasks, redirect, sleep and wake, visibility, concurrency and the route switch.

use crate::support;

use serde_json::{json, Value};
use support::api::Auth;

use support::workflow::{claim, only_task, serial, start_claim, Gateway, ALICE, BOB, ERIN, FRAN};

#[tokio::test]
async fn approval_flow_started_by_one_user_is_approved_reviewed_and_completed() {
    let gw = Gateway::start(true).await;
    let (alice, bob, fran) = (Auth::Basic("alice"), Auth::Basic("bob"), Auth::Basic("fran"));
    let workflows = gw.call(&alice, "GET", "/workflows", None).await;
    assert_eq!(workflows.status, 200);
    assert_eq!(workflows.json["itemCount"], 2);
    assert_eq!(workflows.json["workflows"][0]["name"], "Expense Claim");

    let id = start_claim(&gw, &alice).await;
    let task = only_task(&gw, &bob).await;
    assert_eq!(task["workflowInstanceID"], id);
    assert_eq!(task["priority"], 2);
    assert_eq!(task["originator"]["fqn"], ALICE);
    assert_eq!(task["originator"]["displayName"], "User alice");
    let sn = serial(&task);

    let actions = gw.call(&bob, "GET", &format!("/tasks/{sn}/actions"), None).await;
    assert_eq!(actions.json["batchableActions"], json!(["Approve", "Reject"]));
    let done = gw
        .call(
            &bob,
            "POST",
            &format!("/tasks/{sn}/actions/Approve"),
            Some(json!({"dataFields": {"ManagerComment": "ok"}})),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json["currentActivity"], "Finance Review");

    let review = only_task(&gw, &fran).await;
    assert_eq!(review["status"], "Available");
    let paid = gw
        .call(
            &fran,
            "POST",
            &format!("/tasks/{}/actions/Pay", serial(&review)),
            Some(json!({"dataFields": {"PaidOn": "2024-07-01"}})),
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.json["instanceStatus"], "Completed");

    let instance = gw.call(&alice, "GET", &format!("/instances/{id}"), None).await;
    assert_eq!(instance.status, 200);
    assert_eq!(instance.json["status"], "Completed");
    assert_eq!(instance.json["xmlFields"]["Receipts"], "<receipts/>");
    let history: Vec<(String, String)> = instance.json["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["event"].as_str().unwrap().into(), h["user"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        history,
        [
            ("Started".into(), ALICE.into()),
            ("Action".into(), BOB.into()),
            ("Action".into(), FRAN.into()),
            ("Completed".into(), FRAN.into())
        ]
    );
}

#[tokio::test]
async fn group_task_is_assigned_released_and_redirected() {
    let gw = Gateway::start(true).await;
    start_claim(&gw, &Auth::Basic("alice")).await;
    let sn = serial(&only_task(&gw, &Auth::Basic("bob")).await);
    let approved = gw
        .call(
            &Auth::Basic("bob"),
            "POST",
            &format!("/tasks/{sn}/actions/Approve"),
            None,
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);

    let (fran, gus) = (Auth::Basic("fran"), Auth::Basic("gus"));
    let review = serial(&only_task(&gw, &gus).await);
    let taken = gw.call(&fran, "POST", &format!("/tasks/{review}/assign"), None).await;
    assert_eq!(taken.status, 200, "{}", taken.text);
    assert_eq!(taken.json["status"], "Allocated");
    assert_eq!(taken.json["allocatedTo"], FRAN);
    let others = gw.call(&gus, "GET", "/tasks", None).await;
    assert_eq!(others.json["itemCount"], 0, "taken tasks leave the group's worklists");
    let stolen = gw.call(&gus, "POST", &format!("/tasks/{review}/assign"), None).await;
    assert_eq!(stolen.status, 409, "{}", stolen.text);
    assert_eq!(stolen.json["error"], "conflict");

    let released = gw.call(&fran, "POST", &format!("/tasks/{review}/release"), None).await;
    assert_eq!(released.status, 200, "{}", released.text);
    assert_eq!(only_task(&gw, &gus).await["status"], "Available");

    let redirected = gw
        .call(
            &gus,
            "POST",
            &format!("/tasks/{review}/redirect"),
            Some(json!({"RedirectTo": BOB})),
        )
        .await;
    assert_eq!(redirected.status, 200, "{}", redirected.text);
    assert_eq!(gw.call(&fran, "GET", "/tasks", None).await.json["itemCount"], 0);
    let bobs = only_task(&gw, &Auth::Basic("bob")).await;
    assert_eq!(
        (bobs["activityName"].as_str(), bobs["status"].as_str()),
        (Some("Finance Review"), Some("Allocated"))
    );
    let gone = gw
        .call(&gus, "POST", &format!("/tasks/{review}/actions/Pay"), None)
        .await;
    assert_eq!(gone.status, 404, "redirected away from gus: {}", gone.text);
}

#[tokio::test]
async fn sleeping_task_cannot_be_actioned_until_woken() {
    let gw = Gateway::start(true).await;
    let bob = Auth::Basic("bob");
    start_claim(&gw, &Auth::Basic("alice")).await;
    let sn = serial(&only_task(&gw, &bob).await);
    let slept = gw
        .call(
            &bob,
            "POST",
            &format!("/tasks/{sn}/sleep"),
            Some(json!({"SleepFor": 3600})),
        )
        .await;
    assert_eq!(slept.status, 200, "{}", slept.text);
    assert_eq!(slept.json["status"], "Sleep");
    let sleeping = gw.call(&bob, "GET", "/tasks?state=Sleep", None).await;
    assert_eq!(sleeping.json["itemCount"], 1);
    let refused = gw
        .call(&bob, "POST", &format!("/tasks/{sn}/actions/Approve"), None)
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    let woken = gw.call(&bob, "POST", &format!("/tasks/{sn}/wake"), None).await;
    assert_eq!(woken.status, 200, "{}", woken.text);
    assert_eq!(woken.json["status"], "Allocated");
    let approved = gw
        .call(&bob, "POST", &format!("/tasks/{sn}/actions/Approve"), None)
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
}

#[tokio::test]
async fn a_user_who_is_not_the_destination_gets_nothing() {
    let gw = Gateway::start(true).await;
    let id = start_claim(&gw, &Auth::Basic("alice")).await;
    let sn = serial(&only_task(&gw, &Auth::Basic("bob")).await);
    let eve = Auth::Basic("eve");
    assert_eq!(gw.call(&eve, "GET", "/tasks", None).await.json["itemCount"], 0);
    for (method, path) in [
        ("GET", format!("/tasks/{sn}")),
        ("GET", format!("/tasks/{sn}/actions")),
        ("POST", format!("/tasks/{sn}/actions/Approve")),
        ("POST", format!("/tasks/{sn}/assign")),
        ("GET", format!("/instances/{id}")),
    ] {
        let reply = gw.call(&eve, method, &path, None).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text);
        assert_eq!(reply.json["error"], "not_found");
    }
    let missing = gw.call(&eve, "GET", "/tasks/999999_999999", None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json["error"], "not_found",
        "a foreign task looks like a missing one"
    );
}

#[tokio::test]
async fn forged_identity_headers_from_the_client_are_ignored() {
    let gw = Gateway::start(true).await;
    start_claim(&gw, &Auth::Basic("alice")).await;
    let reply = support::client()
        .get(gw.inner.url("/api/workflow/v1/tasks"))
        .basic_auth("eve", Some("eve-pw"))
        .header("X-Authgate-User", BOB)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["itemCount"], 0, "eve does not become bob by saying so");
    let anonymous = gw.call(&Auth::None, "GET", "/tasks", None).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn bearer_user_starts_a_leave_request_and_the_base_path_is_case_insensitive() {
    let gw = Gateway::start(true).await;
    let erin = Auth::Bearer(gw.token("erin@contoso.onmicrosoft.com", &["Employees"]));
    let started = gw
        .call(
            &erin,
            "POST",
            "/workflows/2",
            Some(json!({"dataFields": {"StartDate": "2024-08-01", "EndDate": "2024-08-05", "Days": 5}})),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let reply = support::client()
        .get(gw.inner.url("/API/Workflow/V1/tasks"))
        .basic_auth("bob", Some("bob-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["tasks"][0]["originator"]["fqn"], ERIN);
    assert_eq!(body["tasks"][0]["workflowName"], "Leave Request");
    let wrong = gw
        .call(
            &erin,
            "POST",
            "/workflows/2",
            Some(json!({"dataFields": {"StartDate": "2024-08-01", "EndDate": "2024-08-05", "Days": "five"}})),
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(
        wrong.json["error_description"]
            .as_str()
            .unwrap()
            .contains("'Days' is of type integer"),
        "{}",
        wrong.text
    );
}

#[tokio::test]
async fn two_concurrent_actions_on_the_same_task_one_wins_and_one_gets_409() {
    let gw = Gateway::start(true).await;
    start_claim(&gw, &Auth::Basic("alice")).await;
    let sn = serial(&only_task(&gw, &Auth::Basic("bob")).await);
    let path = format!("/tasks/{sn}/actions/Approve");
    let (bob1, bob2) = (Auth::Basic("bob"), Auth::Basic("bob"));
    let (a, b) = tokio::join!(gw.call(&bob1, "POST", &path, None), gw.call(&bob2, "POST", &path, None));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
    assert_eq!(
        only_task(&gw, &Auth::Basic("fran")).await["activityName"],
        "Finance Review"
    );
}

#[tokio::test]
async fn sql_manager_user_is_refused_at_the_gateway() {
    let gw = Gateway::start(true).await;
    let reply = gw.call(&Auth::Basic("dave"), "GET", "/tasks", None).await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    let started = gw
        .call(&Auth::Basic("dave"), "POST", "/workflows/1", Some(claim()))
        .await;
    assert_eq!(started.status, 403);
}

#[tokio::test]
async fn switched_off_workflow_api_returns_the_configured_refusal() {
    let gw = Gateway::start(false).await;
    let reply = gw.call(&Auth::Basic("alice"), "GET", "/workflows", None).await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert!(
        reply
            .text
            .contains("The Workflow REST API is switched off on this server."),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn a_workflow_definition_added_on_disk_is_served_after_sighup_and_a_broken_one_changes_nothing() {
    let gw = Gateway::start_full(true, support::base_config(), "{DIR}/workflows").await;
    let alice = Auth::Basic("alice");
    let before = gw.call(&alice, "GET", "/workflows", None).await;
    assert_eq!(before.json["itemCount"], 0, "{}", before.text);

    let dir = gw.inner.dir.path().join("workflows");
    std::fs::create_dir(&dir).unwrap();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/workflows/leave-request.yaml");
    std::fs::copy(shipped, dir.join("leave-request.yaml")).unwrap();
    gw.inner.reload_and_wait("ok").await;
    let after = gw.call(&alice, "GET", "/workflows", None).await;
    assert_eq!(after.json["itemCount"], 1, "{}", after.text);
    assert_eq!(after.json["workflows"][0]["name"], "Leave Request");

    std::fs::write(dir.join("broken.yaml"), "id: 3\nname: [not a name\n").unwrap();
    gw.inner.reload_and_wait("error").await;
    let still = gw.call(&alice, "GET", "/workflows", None).await;
    assert_eq!(
        still.json["itemCount"], 1,
        "the running definitions stay: {}",
        still.text
    );
    assert!(
        gw.inner.log().contains("broken.yaml"),
        "the refusal names the file:\n{}",
        gw.inner.log()
    );
}

/// `builtin.database` a `postgres://` URL: the workflow state lives in that PostgreSQL database (a workflow
/// started over HTTP is in the worklist and in `wf_instances`), and the URL's password never reaches the log.
#[tokio::test]
async fn workflow_state_lives_in_postgres_when_the_database_is_a_postgres_url() {
    let server = crate::servers::postgres::Postgres::start().await;
    let url = server.create_database();
    let name = url.rsplit('/').next().expect("a database name").to_string();
    // Trust authentication ignores the password: it is there to prove it is never printed.
    let with_password = url.replacen("authgate@", "authgate:never-logged-pw@", 1);
    let head = support::base_config().replace("\"{DIR}/db.sqlite\"", &format!("\"{with_password}\""));
    assert!(head.contains("never-logged-pw"));
    let gw = Gateway::start_with(true, head).await;
    let (alice, bob) = (Auth::Basic("alice"), Auth::Basic("bob"));
    let id = start_claim(&gw, &alice).await;
    let task = only_task(&gw, &bob).await;
    assert_eq!(task["workflowInstanceID"], id);
    assert_eq!(
        server.psql(&name, "SELECT id, folio FROM wf_instances"),
        format!("{id}|Conference trip\n")
    );
    let log = gw.inner.log();
    assert!(!log.contains("never-logged-pw"), "{log}");
}

/// PostgreSQL stopped under a running gateway: the Workflow API answers 503 with its JSON error (not a 500,
/// no hang: well within the configured timeouts), a route to an external upstream still answers, `/readyz`
/// stays ready (upstream routes are served), and the API recovers by itself once the server is back.
#[tokio::test]
async fn the_workflow_api_answers_503_while_postgres_is_down_and_recovers_when_it_returns() {
    use std::time::{Duration, Instant};
    let mut server = crate::servers::postgres::Postgres::start().await;
    let url = server.create_database();
    let with_password = url.replacen("authgate@", "authgate:never-shown-pw@", 1);
    let upstream = support::echo_upstream().await;
    let (connect_ms, statement_ms) = (500, 1000);
    let head = support::base_config().replace(
        "database: \"{DIR}/db.sqlite\"",
        &format!(
            "database: \"{with_password}\", postgres: {{connect_timeout_ms: {connect_ms}, statement_timeout_ms: {statement_ms}}}"
        ),
    );
    assert!(head.contains("never-shown-pw"));
    let yaml = format!(
        "{head}providers: []\nworkflow: {{definitions: \"{}/policies/workflows\"}}\nroutes:\n  \
         - {{name: workflow, prefix: /api/workflow/v1, upstream: builtin}}\n  \
         - {{name: echo, prefix: /echo, upstream: \"{upstream}\"}}\n",
        env!("CARGO_MANIFEST_DIR")
    );
    let gw = support::Gateway::launch(&yaml, &support::workflow::users(), &[]).await;
    let tasks = || gw.get_basic("/api/workflow/v1/tasks", "bob", "bob-pw");
    assert_eq!(tasks().await.status(), 200);

    server.stop();
    let bound = Duration::from_millis(3 * statement_ms.max(connect_ms));
    for _ in 0..3 {
        let began = Instant::now();
        let reply = tasks().await;
        let took = began.elapsed();
        let status = reply.status().as_u16();
        let body: serde_json::Value = reply.json().await.expect("a JSON body");
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "unavailable", "{body}");
        let description = body["error_description"].as_str().expect("a description");
        assert!(description.contains("database"), "{body}");
        assert!(
            !description.contains("never-shown-pw") && !description.contains("SELECT"),
            "{body}"
        );
        assert!(took < bound, "answered after {took:?}, more than {bound:?}");
    }
    let echoed = gw.get_basic("/echo/ping", "bob", "bob-pw").await;
    assert_eq!(echoed.status(), 200, "routes to external upstreams are unaffected");
    let ready = support::client()
        .get(gw.admin_url("/readyz"))
        .send()
        .await
        .expect("the admin listener answers");
    assert_eq!(ready.status(), 200, "upstream routes are still served");

    server.restart().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = tasks().await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "only 503 while the pool reconnects");
        assert!(Instant::now() < deadline, "the API did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!gw.log().contains("never-shown-pw"), "{}", gw.log());
}
