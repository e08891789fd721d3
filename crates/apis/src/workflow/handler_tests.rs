//! The handlers in-process: the router driven with `oneshot` and forwarded identity headers, covering the
//! validation and visibility rules without a gateway in front.

use super::definitions::Definitions;
use super::links::Links;
use super::WorkflowApi;
use crate::store::sqlite::{Database, SqliteSmartObjectStore, SqliteWorkflowStore};
use crate::{router, ApiState};
use authgate_core::auth::HeaderSet;
use authgate_core::config::HeaderNamesConfig;
use authgate_core::directory::embedded::{EmbeddedDirectory, UserEntry};
use authgate_core::directory::people::PeopleIndex;
use authgate_core::identity::FqnFormats;
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
const PAYSYS: &str = "K2:CONTOSO\\paysys";

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
        user("paysys", &["PaymentSystems"], None),
    ])
    .unwrap();
    let people = PeopleIndex::from_directory(&directory, &FqnFormats::new(Default::default()));
    // The repository root: the shipped policies and the test fixtures live there.
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut list = Definitions::load_dir(&root.join("policies/workflows"))
        .unwrap()
        .all()
        .to_vec();
    list.extend_from_slice(
        Definitions::load_dir(&root.join("tests/fixtures/workflows"))
            .unwrap()
            .all(),
    );
    let definitions = Definitions::new(list);
    let links = Links::from_config(&authgate_core::config::WorkflowConfig {
        public_url: Some("https://k2.example.com".into()),
        view_flow_url: Some("{base}/ViewFlow/ViewFlow.aspx?ProcessID={instanceId}".into()),
        ..Default::default()
    })
    .unwrap();
    let state = Arc::new(ApiState {
        headers: Arc::new(HeaderSet::from_config(&HeaderNamesConfig::default()).unwrap()),
        workflow: arc_swap::ArcSwap::from_pointee(WorkflowApi {
            definitions: Arc::new(definitions),
            store: Arc::new(SqliteWorkflowStore::new(db.clone())),
            people: Arc::new(people),
            links: Arc::new(links),
        }),
        odata: arc_swap::ArcSwap::from_pointee(crate::odata::ODataApi {
            catalog: Arc::default(),
            store: Arc::new(SqliteSmartObjectStore::new(db)),
            page_size: 1000,
            base_paths: authgate_core::config::OdataConfig::default().base_paths.into(),
            public_url: None,
        }),
        outbound: None,
        remote: None,
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
        PAYSYS => "PaymentSystems",
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
    assert_eq!(body["itemCount"], 3);
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
    assert_eq!(
        task["actions"]["systemActions"],
        json!(["release", "redirect", "sleep"])
    );

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
    assert_eq!(
        body["workflowInstanceDataFields"]["PaidOn"], "",
        "unset: its type's default"
    );

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
    for (body, expected) in [
        (r#"{}"#, "missing field `RedirectTo`"),
        (r#"{"RedirectTo": ""}"#, "must name a user"),
        (r#"{"RedirectTo": "nobody"}"#, "names nobody the directory knows"),
        (r#"{"RedirectTo": "OTHER\\bob"}"#, "names nobody"),
        (r#"{"RedirectTo": "K2:"}"#, "names nobody"),
    ] {
        let (status, answer) = api
            .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/redirect"), Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(error_of(&answer).contains(expected), "{body}: {answer}");
    }
    let (status, body) = api
        .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/release"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a task sent to bob alone is released to him: {body}"
    );
    assert_eq!(body["status"], "Available");
    assert_eq!(api.worklist(BOB).await[0]["status"], "Available");
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
        "/tasks/{serialNumber}/actions/assign",
        "/tasks/{serialNumber}/actions/release",
        "/tasks/{serialNumber}/actions/redirect",
        "/tasks/{serialNumber}/actions/sleep",
        "/tasks/{serialNumber}/actions/wake",
        "/instances/{id}",
        "/serverEvents/{serialNumber}",
        "/serverEvents/{serialNumber}/finish",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    let start = &doc["components"]["schemas"]["StartRequest"]["properties"];
    assert!(start.get("itemReferences").is_some(), "{start}");
    let schemas = &doc["components"]["schemas"];
    let task = format!("{}{}", schemas["Task"], schemas["TaskDetails"]);
    for member in [
        "formURL",
        "viewFlowURL",
        "itemReferencesString",
        "workflowInstanceXmlFields",
    ] {
        assert!(task.contains(member), "TaskDetails lacks {member}");
    }
    assert_eq!(doc["servers"][0]["url"], "/api/workflow/v1");
}

// ---- What K2 clients send (issue 14) ----

/// Starts a supplier payment as alice, the way a .NET K2 client writes it: unquoted member names, .NET dates,
/// `xmlFields: null`, item references in both forms.
async fn start_payment(api: &Api) -> i64 {
    let body = r#"{folio: "INV-7", priority: 2, expectedDuration: 600, xmlFields: null,
        dataFields: {"Amount": 99.5, "Supplier": "Fabrikam", "DueOn": "\/Date(1795987914337+0000)\/",
                     "InvoiceDate": "\/Date(1714514400000+0200)\/", "Urgent": false},
        itemReferences: {"Customer": {"1": {"CustomerCode": "AZ200", "Region": 12,}},
                         "xmlContent": "<itemReferences><itemReference name=\"Invoice_SmartObject\" type=\"SmartObjectItem\"><items lastId=\"4\"><item id=\"4\"><properties><property name=\"ID\">4</property></properties><parameters /></item></items></itemReference></itemReferences>"},
    }"#;
    let (status, id) = api.call(Some(ALICE), "POST", "/workflows/3", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{id}");
    id.as_i64().unwrap()
}

#[tokio::test]
async fn a_start_as_k2_clients_write_it_is_stored_and_shown_in_k2_shapes() {
    let api = api();
    let id = start_payment(&api).await;
    let (status, instance) = api.call(Some(ALICE), "GET", &format!("/instances/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (instance["priority"].as_i64(), instance["expectedDuration"].as_i64()),
        (Some(2), Some(600))
    );
    let fields = &instance["dataFields"];
    assert_eq!(
        fields["DueOn"], "2026-11-29T21:31:54.337Z",
        "a .NET date is stored as RFC 3339"
    );
    assert_eq!(fields["InvoiceDate"], "2024-05-01", "the date where the sender was");
    assert_eq!(
        (&fields["Lines"], &fields["Urgent"], &fields["PaymentReference"]),
        (&json!(0), &json!(false), &json!("")),
        "unset fields have their type's default, not null"
    );
    assert_eq!(
        instance["itemReferences"],
        json!({"Customer": {"1": {"CustomerCode": "AZ200", "Region": 12}},
               "Invoice_SmartObject": {"4": {"ID": "4"}}})
    );
    assert!(instance["itemReferencesString"]
        .as_str()
        .unwrap()
        .contains(r#"<itemReference name="Customer" type="SmartObjectItem">"#));
    assert_eq!(
        instance["viewFlowURL"],
        format!("https://k2.example.com/ViewFlow/ViewFlow.aspx?ProcessID={id}")
    );

    let task = &api.worklist(BOB).await[0];
    let sn = task["serialNumber"].as_str().unwrap().to_string();
    let destination: i64 = sn.split_once('_').unwrap().1.parse().unwrap();
    assert_eq!(task["activityInstanceDestinationID"], destination);
    assert_eq!(task["activityInstanceID"], destination);
    assert_eq!(task["workflowDisplayName"], "Supplier Payment");
    assert_eq!(task["workflowCategory"], "Finance\\Payments");
    assert_eq!(task["eventDescription"], "Approve or reject the supplier payment.");
    assert_eq!(
        task["formURL"],
        format!(
            "https://k2.example.com/Runtime/Runtime/Form/Payment.Approval/?SerialNo={sn}&Activity=Approve%20Payment"
        )
    );
    assert_eq!(task["originator"]["manager"], BOB);
    let (_, details) = api.call(Some(BOB), "GET", &format!("/tasks/{sn}"), None).await;
    for member in [
        "activityDataFields",
        "itemReferences",
        "itemReferencesString",
        "workflowInstanceDataFieldsString",
        "workflowInstanceXmlFields",
    ] {
        assert!(details.get(member).is_some(), "task lacks {member}: {details}");
    }
    assert_eq!(
        details["workflowInstanceXmlFields"],
        json!([{"name": "Invoice", "value": null}])
    );
    let as_string: Value = serde_json::from_str(details["workflowInstanceDataFieldsString"].as_str().unwrap()).unwrap();
    assert_eq!(as_string, details["workflowInstanceDataFields"]);
    assert_eq!(details["itemReferences"]["Customer"]["1"]["Region"], 12);

    let (_, workflow) = api.call(Some(ALICE), "GET", "/workflows/3", None).await;
    let schema: Value = serde_json::from_str(workflow["workflowSchema"].as_str().unwrap()).unwrap();
    assert!(schema["properties"]["itemReferences"].is_object(), "{schema}");
    assert_eq!(
        schema["properties"]["dataFields"]["required"],
        json!(["Amount", "Supplier"])
    );
}

#[tokio::test]
async fn bad_item_references_and_dates_are_400_and_start_nothing() {
    let api = api();
    for (body, expected) in [
        (
            r#"{dataFields: {Amount: 1, Supplier: "x"}, itemReferences: {xmlContent: "<itemReferences><itemReference name='A'></itemReferences>"}}"#,
            "itemReferences.xmlContent is not well-formed XML",
        ),
        (
            r#"{dataFields: {Amount: 1, Supplier: "x"}, itemReferences: {"Customer": 5}}"#,
            "itemReferences.Customer must be an object",
        ),
        (
            r#"{dataFields: {Amount: 1, Supplier: "x", DueOn: "\/Date(soon)\/"}}"#,
            "'DueOn' is of type datetime",
        ),
        (
            r#"{dataFields: {Amount: 1, Supplier: "x"}, xmlFields: [{"name": "Nope", "value": "<a/>"}]}"#,
            "no XML field 'Nope'",
        ),
        (
            r#"{dataFields: {Amount: 1, Supplier: "x"}, xmlFields: 5}"#,
            "xmlFields must be an object",
        ),
    ] {
        let (status, answer) = api.call(Some(ALICE), "POST", "/workflows/3", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(error_of(&answer).contains(expected), "{body}: {answer}");
    }
    assert!(api.worklist(BOB).await.is_empty(), "a refused start created a task");
    let list = r#"{dataFields: {Amount: 1, Supplier: "x"}, XmlFields: [{"Name": "Invoice", "Value": "<invoice/>"}]}"#;
    let (status, id) = api.call(Some(ALICE), "POST", "/workflows/3", Some(list)).await;
    assert_eq!(status, StatusCode::CREATED, "{id}");
    let (_, instance) = api.call(Some(ALICE), "GET", &format!("/instances/{id}"), None).await;
    assert_eq!(instance["xmlFields"]["Invoice"], "<invoice/>");
}

#[tokio::test]
async fn system_actions_are_served_under_actions_as_k2_calls_them() {
    let api = api();
    api.start_claim(ALICE).await;
    let sn = api.worklist(BOB).await[0]["serialNumber"].as_str().unwrap().to_string();
    // K2's documented sample body: both members, SleepFor 0, SleepUntil a .NET date.
    let until = (authgate_core::clock::unix_now() + 3600) * 1000;
    let body = format!(r#"{{"SleepFor": 0, "SleepUntil": "\/Date({until}+0000)\/"}}"#);
    let (status, slept) = api
        .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/sleep"), Some(&body))
        .await;
    assert_eq!(status, StatusCode::OK, "{slept}");
    assert_eq!(slept["status"], "Sleep");
    assert_eq!(slept["sleepUntil"], super::dates::format_rfc3339(until / 1000));
    let (status, woken) = api
        .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/wake"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{woken}");
    assert_eq!(woken["status"], "Allocated");
    // A .NET client with a non-nullable DateTime sends DateTime.MinValue for SleepUntil.
    let body = r#"{"SleepFor": 60, "SleepUntil": "\/Date(-62135596800000)\/"}"#;
    let (status, slept) = api
        .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/Sleep"), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "any case reaches the system action: {slept}");
    let (status, woken) = api
        .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/WAKE"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{woken}");
    for (body, expected) in [
        (
            r#"{"SleepFor": 60, "SleepUntil": "2099-01-01T00:00:00Z"}"#,
            "exactly one",
        ),
        (r#"{"SleepFor": 0, "SleepUntil": null}"#, "exactly one"),
        (r#"{"SleepUntil": "\/Date(12x)\/"}"#, "is not a date-time"),
    ] {
        let (status, answer) = api
            .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/sleep"), Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(error_of(&answer).contains(expected), "{body}: {answer}");
    }
    let (status, released) = api
        .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/release"), None)
        .await;
    assert_eq!(
        (status, released["status"].as_str()),
        (StatusCode::OK, Some("Available"))
    );
    let (status, assigned) = api
        .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/assign"), None)
        .await;
    assert_eq!(
        (status, assigned["status"].as_str()),
        (StatusCode::OK, Some("Allocated"))
    );
    // Redirect to yourself is allowed; then to a bare login name and to label:user.
    for (target, holder) in [("K2:CONTOSO\\\\bob", BOB), ("eve", EVE)] {
        let body = format!(r#"{{"RedirectTo": "{target}"}}"#);
        let (status, moved) = api
            .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/redirect"), Some(&body))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}: {moved}");
        assert_eq!(moved["allocatedTo"], holder);
    }
    let (status, moved) = api
        .call(
            Some(EVE),
            "POST",
            &format!("/tasks/{sn}/actions/redirect"),
            Some(r#"{RedirectTo: 'K2:bob'}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["allocatedTo"], BOB);
    // The activity action still completes the task.
    let (status, done) = api
        .call(
            Some(BOB),
            "POST",
            &format!("/tasks/{sn}/actions/Approve"),
            Some(r#"{dataFields:{"ManagerComment":"ok"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["currentActivity"], "Finance Review");
}

#[tokio::test]
async fn a_server_event_is_read_and_finished_only_by_those_with_the_right() {
    let api = api();
    let id = start_payment(&api).await;
    let sn = api.worklist(BOB).await[0]["serialNumber"].as_str().unwrap().to_string();
    let (status, body) = api
        .call(Some(BOB), "POST", &format!("/tasks/{sn}/actions/Approve"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["currentActivity"], "Payment System");
    let (_, instance) = api.call(Some(ALICE), "GET", &format!("/instances/{id}"), None).await;
    let event = instance["tasks"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (event["destinationType"].as_str(), event["status"].as_str()),
        (Some("server"), Some("Active"))
    );
    let esn = event["serialNumber"].as_str().unwrap().to_string();
    for who in [ALICE, BOB, PAYSYS] {
        assert!(api.worklist(who).await.is_empty(), "a server event is nobody's task");
    }
    for who in [ALICE, BOB] {
        let (status, _) = api.call(Some(who), "GET", &format!("/serverEvents/{esn}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who} holds no server-event right");
        let (status, _) = api
            .call(Some(who), "POST", &format!("/serverEvents/{esn}/finish"), Some("{}"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, shown) = api
        .call(Some(PAYSYS), "GET", &format!("/serverEvents/{esn}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["activityName"], "Payment System");
    assert_eq!(shown["eventInstance"]["status"], "Active");
    assert_eq!(shown["dataFields"], json!({"PaymentReference": "", "PaidAt": ""}));
    assert_eq!(shown["workflowInstanceID"], id);
    let (status, refused) = api
        .call(
            Some(PAYSYS),
            "POST",
            &format!("/serverEvents/{esn}/finish"),
            Some(r#"{"dataFields": {"Amount": 1}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not a field of the event: {refused}");
    let (status, finished) = api
        .call(
            Some(PAYSYS),
            "POST",
            &format!("/serverEvents/{esn}/finish"),
            Some(r#"{"dataFields": {"PaymentReference": "PAY-42", "PaidAt": "\/Date(1714555800000)\/"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{finished}");
    assert_eq!(finished["currentActivity"], "Confirm");
    let (status, _) = api
        .call(Some(PAYSYS), "POST", &format!("/serverEvents/{esn}/finish"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "finished once");
    let confirm = api.worklist(ALICE).await;
    assert_eq!(confirm[0]["activityName"], "Confirm");
    let (_, instance) = api.call(Some(ALICE), "GET", &format!("/instances/{id}"), None).await;
    assert_eq!(instance["dataFields"]["PaymentReference"], "PAY-42");
    assert_eq!(instance["dataFields"]["PaidAt"], "2024-05-01T09:30:00Z");
    let events: Vec<&str> = instance["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["Started", "Action", "Finished"]);
}
