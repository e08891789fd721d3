//! The handlers in-process: the router driven with `oneshot` and forwarded identity headers, covering the
//! validation and visibility rules without a gateway in front.

use super::definitions::Definitions;
use super::store::SqliteWorkflowStore;
use super::WorkflowApi;
use crate::apis::{router, ApiState};
use crate::auth::basic::FqnFormats;
use crate::auth::HeaderSet;
use crate::config::HeaderNamesConfig;
use crate::directory::embedded::{EmbeddedDirectory, UserEntry};
use crate::directory::people::PeopleIndex;
use crate::store::Database;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

const ALICE: &str = "K2:CONTOSO\\alice";
const BOB: &str = "K2:CONTOSO\\bob";
const FRAN: &str = "K2:CONTOSO\\fran";
const EVE: &str = "K2:CONTOSO\\eve";

struct Api {
    app: Router,
    _dir: tempfile::TempDir,
}

fn user(name: &str, groups: &[&str], manager: Option<&str>) -> UserEntry {
    UserEntry {
        name: name.into(),
        user_manager: "ad".into(),
        domain: Some("CONTOSO".into()),
        password_hash: None,
        mfa: false,
        email: Some(format!("{name}@contoso.com")),
        display_name: Some(format!("{name} (display)")),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        manager: manager.map(str::to_string),
        disabled: false,
    }
}

fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Database::open(&dir.path().join("wf.db"), 2).unwrap());
    let directory = EmbeddedDirectory::from_entries(vec![
        user("alice", &["Employees"], Some("bob")),
        user("bob", &["Employees", "Approvers"], None),
        user("fran", &["Finance"], None),
        user("eve", &["Employees"], Some("bob")),
    ])
    .unwrap();
    let people = PeopleIndex::from_directory(&directory, &FqnFormats::new(Default::default()));
    let definitions =
        Definitions::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/workflows")).unwrap();
    let state = Arc::new(ApiState {
        headers: Arc::new(HeaderSet::from_config(&HeaderNamesConfig::default()).unwrap()),
        db: db.clone(),
        workflow: arc_swap::ArcSwap::from_pointee(WorkflowApi {
            definitions: Arc::new(definitions),
            store: Arc::new(SqliteWorkflowStore::new(db.clone()).unwrap()),
            people: Arc::new(people),
        }),
        odata: arc_swap::ArcSwap::from_pointee(crate::apis::odata::ODataApi {
            catalog: Arc::default(),
            store: Arc::new(crate::apis::odata::store::SqliteSmartObjectStore::new(db).unwrap()),
            page_size: 1000,
            base_paths: crate::config::OdataConfig::default().base_paths.into(),
            public_url: None,
        }),
    });
    Api {
        app: router(state),
        _dir: dir,
    }
}

fn groups_of(fqn: &str) -> &'static str {
    match fqn {
        ALICE | EVE => "Employees",
        BOB => "Employees,Approvers",
        FRAN => "Finance",
        _ => "",
    }
}

impl Api {
    async fn call(&self, who: Option<&str>, method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(format!("/api/workflow/v1{path}"));
        if let Some(who) = who {
            request = request
                .header("x-authgate-user", who)
                .header("x-authgate-user-manager", "ad")
                .header("x-authgate-auth-method", "basic")
                .header("x-authgate-groups", groups_of(who));
        }
        let request = request
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {}", String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    async fn start_claim(&self, who: &str) -> i64 {
        let (status, body) = self
            .call(
                Some(who),
                "POST",
                "/workflows/1",
                Some(
                    r#"{"folio": "Trip", "dataFields": {"Amount": 120.5, "Currency": "EUR", "Description": "Train"}}"#,
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body.as_i64().unwrap()
    }

    async fn worklist(&self, who: &str) -> Vec<Value> {
        let (status, body) = self.call(Some(who), "GET", "/tasks", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["itemCount"].as_u64().unwrap() as usize,
            body["tasks"].as_array().unwrap().len()
        );
        body["tasks"].as_array().unwrap().clone()
    }
}

fn error_of(body: &Value) -> String {
    body["error_description"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn requests_without_the_forwarded_identity_are_refused() {
    let api = api();
    let (status, body) = api.call(None, "GET", "/tasks", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthenticated");
}

#[tokio::test]
async fn workflows_are_listed_only_to_those_who_may_start_them() {
    let api = api();
    let (_, body) = api.call(Some(ALICE), "GET", "/workflows", None).await;
    assert_eq!(body["itemCount"], 2);
    assert_eq!(body["workflows"][0]["systemName"], "ExpenseClaim");
    assert_eq!(body["workflows"][0]["defaultVersionId"], 1);
    let (_, body) = api.call(Some(FRAN), "GET", "/workflows", None).await;
    assert_eq!(body["itemCount"], 0);
    let (status, _) = api.call(Some(FRAN), "GET", "/workflows/1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api.call(Some(ALICE), "GET", "/workflows/1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["workflowInfo"]["expectedDuration"], 4320);
    assert_eq!(body["workflowInfo"]["folder"], "Finance\\Claims");
    for missing in ["/workflows/99", "/workflows/abc", "/workflows/99/schema"] {
        let (status, body) = api.call(Some(ALICE), "GET", missing, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(body["error"], "not_found");
    }
}

#[tokio::test]
async fn the_start_schema_types_the_data_fields() {
    let api = api();
    let (status, schema) = api.call(Some(ALICE), "GET", "/workflows/1/schema", None).await;
    assert_eq!(status, StatusCode::OK);
    let fields = &schema["properties"]["dataFields"];
    assert_eq!(fields["properties"]["Amount"]["type"], "number");
    assert_eq!(fields["properties"]["ExpenseDate"]["anyOf"][0]["format"], "date");
    assert_eq!(fields["required"], json!(["Amount", "Currency", "Description"]));
}

#[tokio::test]
async fn invalid_start_requests_are_400_naming_the_problem_and_change_nothing() {
    let api = api();
    let cases = [
        ("{not json", "invalid JSON body"),
        ("", "a JSON body is required"),
        (
            r#"{"dataFields": {"Amount": "lots", "Currency": "EUR", "Description": "x"}}"#,
            "'Amount' is of type decimal",
        ),
        (
            r#"{"dataFields": {"Currency": "EUR", "Description": "x"}}"#,
            "required data field 'Amount' is missing",
        ),
        (
            r#"{"dataFields": {"Amount": 1, "Currency": "EUR", "Description": "x", "Colour": 1}}"#,
            "no data field 'Colour'",
        ),
        (
            r#"{"dataFields": {"Amount": 1, "Currency": "EUR", "Description": "x", "ExpenseDate": "2024-02-30"}}"#,
            "'ExpenseDate' is of type date",
        ),
        (
            r#"{"priority": 7, "dataFields": {"Amount": 1, "Currency": "EUR", "Description": "x"}}"#,
            "priority",
        ),
        (r#"{"colour": "red"}"#, "unknown field `colour`"),
        (
            r#"{"dataFields": {"Amount": 1, "Currency": "EUR", "Description": "x"}, "xmlFields": {"Nope": "<a/>"}}"#,
            "no XML field 'Nope'",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = api.call(Some(ALICE), "POST", "/workflows/1", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"], "bad_request");
        assert!(error_of(&answer).contains(expected), "{body}: {answer}");
    }
    let (status, _) = api
        .call(Some(ALICE), "POST", "/workflows/42", Some(r#"{"dataFields": {}}"#))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(api.worklist(BOB).await.is_empty(), "a refused start created a task");
}

#[tokio::test]
async fn an_originator_without_a_manager_cannot_start_a_manager_approval() {
    let api = api();
    let (status, body) = api
        .call(
            Some(BOB),
            "POST",
            "/workflows/1",
            Some(r#"{"dataFields": {"Amount": 1, "Currency": "EUR", "Description": "x"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_of(&body).contains("no manager"), "{body}");
}

#[tokio::test]
async fn approval_flow_moves_from_manager_to_finance_and_completes() {
    let api = api();
    let id = api.start_claim(ALICE).await;
    assert!(api.worklist(ALICE).await.is_empty());
    assert!(api.worklist(EVE).await.is_empty());
    let tasks = api.worklist(BOB).await;
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    let sn = task["serialNumber"].as_str().unwrap().to_string();
    assert!(sn.starts_with(&format!("{id}_")));
    assert_eq!(task["status"], "Allocated");
    assert_eq!(task["activityName"], "Manager Approval");
    assert_eq!(task["eventName"], "Approve Claim");
    assert_eq!(task["workflowInstanceFolio"], "Trip");
    assert_eq!(task["workflowID"], 1);
    assert_eq!(task["originator"]["fqn"], ALICE);
    assert_eq!(task["originator"]["username"], "alice");
    assert_eq!(task["originator"]["email"], "alice@contoso.com");
    assert_eq!(task["actions"]["batchableActions"], json!(["Approve", "Reject"]));
    assert_eq!(task["actions"]["nonBatchableActions"], json!(["Send Back"]));
    assert_eq!(task["actions"]["systemActions"], json!(["redirect", "sleep"]));

    let (status, _) = api.call(Some(EVE), "GET", &format!("/tasks/{sn}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not the destination");
    let (status, _) = api
        .call(Some(EVE), "POST", &format!("/tasks/{sn}/actions/Approve"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not the destination");
    let (status, body) = api.call(Some(BOB), "GET", &format!("/tasks/{sn}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["dataFields"]["Amount"], 120.5);
    assert!(body["dataFields"].get("PaidOn").is_none());
    assert_eq!(body["workflowInstanceDataFields"]["PaidOn"], Value::Null);

    let (status, body) = api
        .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/Escalate"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).contains("Approve, Reject, Send Back"), "{body}");
    let (status, body) = api
        .call(
            Some(BOB),
            "POST",
            &format!("/tasks/{sn}/actions/Approve"),
            Some(r#"{"dataFields": {"PaidOn": "2024-01-01"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not a field of this activity: {body}");
    let (status, body) = api
        .call(
            Some(BOB),
            "POST",
            &format!("/tasks/{sn}/actions/Approve"),
            Some(r#"{"dataFields": {"ManagerComment": "fine"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["currentActivity"], "Finance Review");
    assert_eq!(body["instanceStatus"], "Active");
    let (status, _) = api
        .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/Approve"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "already completed");
    assert!(api.worklist(BOB).await.is_empty());

    let finance = api.worklist(FRAN).await;
    assert_eq!(finance.len(), 1);
    assert_eq!(finance[0]["status"], "Available");
    assert_eq!(
        finance[0]["actions"]["systemActions"],
        json!(["assign", "redirect", "sleep"])
    );
    let sn2 = finance[0]["serialNumber"].as_str().unwrap().to_string();
    let (status, body) = api
        .call(
            Some(FRAN),
            "POST",
            &format!("/tasks/{sn2}/actions/pay"),
            Some(r#"{"dataFields": {"PaidOn": "2024-06-01"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["instanceStatus"], "Completed");

    let (status, instance) = api.call(Some(ALICE), "GET", &format!("/instances/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(instance["status"], "Completed");
    assert_eq!(instance["currentActivity"], "");
    assert_eq!(instance["dataFields"]["ManagerComment"], "fine");
    assert_eq!(instance["dataFields"]["PaidOn"], "2024-06-01");
    let events: Vec<&str> = instance["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["Started", "Action", "Action", "Completed"]);
    assert_eq!(instance["history"][1]["user"], BOB);
    assert_eq!(instance["tasks"][1]["actionedBy"], FRAN);
    let (status, _) = api.call(Some(EVE), "GET", &format!("/instances/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "eve took no part");
}

#[tokio::test]
async fn two_concurrent_actions_on_one_task_one_wins_the_other_conflicts() {
    let api = api();
    api.start_claim(ALICE).await;
    let sn = api.worklist(BOB).await[0]["serialNumber"].as_str().unwrap().to_string();
    let path = format!("/tasks/{sn}/actions/Approve");
    let (a, b) = tokio::join!(
        api.call(Some(BOB), "POST", &path, None),
        api.call(Some(BOB), "POST", &path, None)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{a:?} {b:?}");
    assert_eq!(api.worklist(FRAN).await.len(), 1, "exactly one next task");
}

#[tokio::test]
async fn sleep_needs_exactly_one_time_and_blocks_actions_until_woken() {
    let api = api();
    api.start_claim(ALICE).await;
    let sn = api.worklist(BOB).await[0]["serialNumber"].as_str().unwrap().to_string();
    for body in [
        r#"{}"#,
        r#"{"SleepFor": 60, "SleepUntil": "2099-01-01T00:00:00Z"}"#,
        r#"{"SleepFor": 0}"#,
        r#"{"SleepUntil": "tomorrow"}"#,
        r#"{"SleepUntil": "2001-01-01T00:00:00Z"}"#,
    ] {
        let (status, answer) = api
            .call(Some(BOB), "POST", &format!("/tasks/{sn}/sleep"), Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    let (status, body) = api
        .call(
            Some(BOB),
            "POST",
            &format!("/tasks/{sn}/sleep"),
            Some(r#"{"SleepUntil": "2099-01-01T00:00:00Z"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "Sleep");
    assert_eq!(body["sleepUntil"], "2099-01-01T00:00:00Z");
    assert_eq!(body["actions"]["systemActions"], json!(["wake"]));
    let (_, list) = api.call(Some(BOB), "GET", "/tasks?state=Sleep", None).await;
    assert_eq!(list["itemCount"], 1);
    let (_, list) = api.call(Some(BOB), "GET", "/tasks?state=Allocated", None).await;
    assert_eq!(list["itemCount"], 0);
    let (status, _) = api
        .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/Approve"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = api.call(Some(BOB), "POST", &format!("/tasks/{sn}/wake"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "Allocated");
    let (status, _) = api.call(Some(BOB), "POST", &format!("/tasks/{sn}/wake"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn bad_serial_numbers_queries_and_redirects_are_rejected_as_json() {
    let api = api();
    api.start_claim(ALICE).await;
    let sn = api.worklist(BOB).await[0]["serialNumber"].as_str().unwrap().to_string();
    for bad in [
        "/tasks/abc",
        "/tasks/1_",
        "/tasks/01_1",
        "/tasks/999_999",
        "/tasks/abc/actions",
    ] {
        let (status, body) = api.call(Some(BOB), "GET", bad, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(body["error"], "not_found");
    }
    for query in [
        "/tasks?state=Done",
        "/tasks?take=0",
        "/tasks?take=x",
        "/tasks?colour=red",
    ] {
        let (status, body) = api.call(Some(BOB), "GET", query, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
    for body in [
        r#"{}"#,
        r#"{"RedirectTo": ""}"#,
        r#"{"RedirectTo": "bob"}"#,
        r#"{"RedirectTo": "K2:CONTOSO\\bob"}"#,
    ] {
        let (status, answer) = api
            .call(Some(BOB), "POST", &format!("/tasks/{sn}/redirect"), Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    let (status, body) = api.call(Some(BOB), "POST", &format!("/tasks/{sn}/release"), None).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a task sent to bob alone cannot be released: {body}"
    );
    let (status, body) = api
        .call(
            Some(BOB),
            "POST",
            &format!("/tasks/{sn}/redirect"),
            Some(r#"{"RedirectTo": "K2:CONTOSO\\eve"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(api.worklist(BOB).await.is_empty());
    assert_eq!(api.worklist(EVE).await.len(), 1);
}

#[tokio::test]
async fn the_openapi_document_is_generated_and_lists_every_endpoint() {
    let api = api();
    let (status, doc) = api.call(Some(ALICE), "GET", "/swagger/docs/v1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/workflows",
        "/workflows/{id}",
        "/workflows/{id}/schema",
        "/tasks",
        "/tasks/{serialNumber}",
        "/tasks/{serialNumber}/actions",
        "/tasks/{serialNumber}/actions/{actionName}",
        "/tasks/{serialNumber}/assign",
        "/tasks/{serialNumber}/release",
        "/tasks/{serialNumber}/redirect",
        "/tasks/{serialNumber}/sleep",
        "/tasks/{serialNumber}/wake",
        "/instances/{id}",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    assert_eq!(doc["servers"][0]["url"], "/api/workflow/v1");
}
