//! Real K2 clients work unchanged (issue 14): the bodies, paths and names a client written for K2's Workflow
//! REST API sends (as its documentation's samples and a .NET client's serializers write them) go through the
//! real gateway, and the answers have K2's shapes.

use crate::support;

use serde_json::{json, Value};
use support::api::Auth;
use support::workflow::{Gateway, ALICE, BOB};

const EVE: &str = "K2:CONTOSO\\eve";

/// What a .NET client serializing its `WorkflowInstance` data contract sends: unquoted member names (as the
/// documented sample does), `xmlFields: null`, `\/Date(...)\/` dates, item references in both forms.
const START: &str = r#"{folio: "INV-2024-7", priority: 2, expectedDuration: 600, xmlFields: null,
    dataFields: {"Amount": 1250.5, "Supplier": "Fabrikam", "DueOn": "\/Date(1795987914337+0000)\/", "Urgent": true},
    itemReferences: {
        "Customer": {"1": {"CustomerCode": "AZ200", "Region": 12,}},
        "xmlContent": "<itemReferences> <itemReference name=\"Leave_Request_SmartObject\" displayName=\"Leave Request SmartObject\" type=\"SmartObjectItem\" primary=\"true\" startMode=\"smartForms\"> <settings><method><objectName>Leave_Request_SmartObject</objectName><methodName>Load</methodName> <methodType>Read</methodType><objectTypes><type>Default</type></objectTypes> </method></settings><definition></definition><items lastId=\"1\"><item id=\"1\"> <properties><property name=\"ID\">1</property></properties> <parameters /></item></items></itemReference></itemReferences>"
    }
}"#;

async fn start_payment(gw: &Gateway, headers: &[(&str, &str)]) -> (i64, String) {
    let started = gw
        .call_raw(&Auth::Basic("alice"), "POST", "/workflows/3", START, headers)
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json.as_i64().expect("the body is the instance id");
    let location = started.headers["location"].to_str().unwrap().to_string();
    (id, location)
}

async fn bobs_task(gw: &Gateway) -> Value {
    let list = gw.call(&Auth::Basic("bob"), "GET", "/tasks", None).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json["itemCount"], 1, "{}", list.text);
    list.json["tasks"][0].clone()
}

#[tokio::test]
async fn a_k2_start_request_is_stored_and_shown_in_k2_shapes_with_urls_from_configuration() {
    let gw = Gateway::start_k2().await;
    let forged = [
        ("host", "evil.example.net"),
        ("x-forwarded-host", "evil.example.net"),
        ("x-forwarded-proto", "gopher"),
    ];
    let (id, location) = start_payment(&gw, &forged).await;
    assert_eq!(
        location,
        format!("/api/workflow/v1/instances/{id}"),
        "Location is a path of ours, nothing from Host or X-Forwarded-*"
    );

    let task = bobs_task(&gw).await;
    let sn = task["serialNumber"].as_str().unwrap().to_string();
    let (_, destination) = sn.split_once('_').unwrap();
    assert_eq!(task["priority"], 2);
    assert_eq!(
        task["formURL"],
        format!(
            "https://k2.example.com/Runtime/Runtime/Form/Payment.Approval/?SerialNo={sn}&Activity=Approve%20Payment"
        )
    );
    assert_eq!(
        task["viewFlowURL"],
        format!("https://k2.example.com/ViewFlow/ViewFlow.aspx?ProcessID={id}")
    );
    assert_eq!(task["activityInstanceDestinationID"].to_string(), destination);
    assert_eq!(task["workflowDisplayName"], "Supplier Payment");
    assert_eq!(task["workflowCategory"], "Finance\\Payments");
    assert_eq!(task["eventDescription"], "Approve or reject the supplier payment.");
    assert_eq!(task["originator"]["manager"], BOB);

    let details = gw
        .call_raw(&Auth::Basic("bob"), "GET", &format!("/tasks/{sn}"), "", &forged)
        .await;
    assert_eq!(details.status, 200, "{}", details.text);
    let d = &details.json;
    assert_eq!(d["formURL"], task["formURL"], "the forged Host changes nothing");
    assert_eq!(d["workflowInstanceDataFields"]["DueOn"], "2026-11-29T21:31:54.337Z");
    assert_eq!(d["workflowInstanceDataFields"]["Urgent"], true);
    assert_eq!(
        d["workflowInstanceDataFields"]["Lines"], 0,
        "unset integer: 0, not null"
    );
    assert_eq!(d["workflowInstanceDataFields"]["PaymentReference"], "");
    assert_eq!(d["activityDataFields"], json!({}));
    assert_eq!(
        d["workflowInstanceXmlFields"],
        json!([{"name": "Invoice", "value": null}])
    );
    assert_eq!(
        d["itemReferences"],
        json!({"Customer": {"1": {"CustomerCode": "AZ200", "Region": 12}},
               "Leave_Request_SmartObject": {"1": {"ID": "1"}}})
    );
    assert!(d["itemReferencesString"]
        .as_str()
        .unwrap()
        .starts_with("<itemReferences><itemReference name=\"Customer\""));
    let fields: Value = serde_json::from_str(d["workflowInstanceDataFieldsString"].as_str().unwrap()).unwrap();
    assert_eq!(fields["Amount"], 1250.5);

    let instance = gw
        .call(&Auth::Basic("alice"), "GET", &format!("/instances/{id}"), None)
        .await;
    assert_eq!(instance.json["expectedDuration"], 600);
    assert_eq!(
        instance.json["itemReferences"]["Customer"]["1"]["CustomerCode"],
        "AZ200"
    );
    let workflow = gw.call(&Auth::Basic("alice"), "GET", "/workflows/3", None).await;
    let schema: Value = serde_json::from_str(workflow.json["workflowSchema"].as_str().unwrap()).unwrap();
    assert!(schema["properties"]["itemReferences"].is_object(), "{schema}");
}

#[tokio::test]
async fn malformed_item_reference_xml_is_a_clear_400_and_starts_nothing() {
    let gw = Gateway::start_k2().await;
    let body = START.replace("</itemReference></itemReferences>", "</itemReferences>");
    let refused = gw
        .call_raw(&Auth::Basic("alice"), "POST", "/workflows/3", &body, &[])
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.json["error_description"]
            .as_str()
            .unwrap()
            .contains("itemReferences.xmlContent is not well-formed XML"),
        "{}",
        refused.text
    );
    let list = gw.call(&Auth::Basic("bob"), "GET", "/tasks", None).await;
    assert_eq!(list.json["itemCount"], 0, "{}", list.text);
}

#[tokio::test]
async fn system_actions_at_k2_paths_with_k2_bodies() {
    let gw = Gateway::start_k2().await;
    start_payment(&gw, &[]).await;
    let sn = bobs_task(&gw).await["serialNumber"].as_str().unwrap().to_string();
    let bob = Auth::Basic("bob");
    let path = |action: &str| format!("/tasks/{sn}/actions/{action}");

    // K2's documented sleep body carries both members; a .NET date for SleepUntil.
    let until_ms = (authgate_testkit::now() + 7200) * 1000;
    let sleep = format!(r#"{{"SleepFor": 0,"SleepUntil": "\/Date({until_ms}+0000)\/"}}"#);
    let slept = gw.call_raw(&bob, "POST", &path("sleep"), &sleep, &[]).await;
    assert_eq!(slept.status, 200, "{}", slept.text);
    assert_eq!(slept.json["status"], "Sleep");
    assert_eq!(slept.json["actions"]["systemActions"], json!(["wake"]));
    // The documented wake sends no content at all.
    let woken = gw.call_raw(&bob, "POST", &path("wake"), "", &[]).await;
    assert_eq!(woken.status, 200, "{}", woken.text);
    assert_eq!(woken.json["status"], "Allocated");
    let slept = gw
        .call_raw(&bob, "POST", &path("sleep"), r#"{"SleepFor":60}"#, &[])
        .await;
    assert_eq!(slept.status, 200, "{}", slept.text);
    let woken = gw.call(&bob, "POST", &format!("/tasks/{sn}/wake"), None).await;
    assert_eq!(woken.status, 200, "the old path stays an alias: {}", woken.text);

    // A task sent to bob alone goes back to Available for him, and he takes it again.
    let released = gw.call_raw(&bob, "POST", &path("release"), "", &[]).await;
    assert_eq!(released.status, 200, "{}", released.text);
    assert_eq!(bobs_task(&gw).await["status"], "Available");
    let assigned = gw.call_raw(&bob, "POST", &path("assign"), "", &[]).await;
    assert_eq!(assigned.json["status"], "Allocated", "{}", assigned.text);

    // RedirectTo as K2 clients write it: a bare login name, label:user; to yourself too.
    let redirect = |target: &str| format!(r#"{{"RedirectTo":"{target}"}}"#);
    let moved = gw
        .call_raw(&bob, "POST", &path("redirect"), &redirect("eve"), &[])
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.json["allocatedTo"], EVE);
    let eve = Auth::Basic("eve");
    let back = gw
        .call_raw(&eve, "POST", &path("redirect"), &redirect("K2:bob"), &[])
        .await;
    assert_eq!(back.json["allocatedTo"], BOB, "{}", back.text);
    let to_self = gw
        .call_raw(&bob, "POST", &path("redirect"), &redirect("K2:CONTOSO\\\\bob"), &[])
        .await;
    assert_eq!(to_self.status, 200, "{}", to_self.text);
    let nobody = gw
        .call_raw(&bob, "POST", &path("redirect"), &redirect("zed"), &[])
        .await;
    assert_eq!(nobody.status, 400, "{}", nobody.text);
    assert!(
        nobody.text.contains("names nobody the directory knows"),
        "{}",
        nobody.text
    );

    // The documented completion sample: `{dataFields: {...}}` with an unquoted member name.
    let done = gw
        .call_raw(&bob, "POST", &path("Approve"), r#"{dataFields:{"Colour":"red"}}"#, &[])
        .await;
    assert_eq!(done.status, 400, "not a field of the workflow: {}", done.text);
    let done = gw
        .call_raw(&bob, "POST", &path("Approve"), r#"{dataFields:{"Urgent":false}}"#, &[])
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json["currentActivity"], "Payment System");
}

#[tokio::test]
async fn an_external_system_finishes_a_server_event_with_the_server_event_right() {
    let gw = Gateway::start_k2().await;
    let (id, _) = start_payment(&gw, &[]).await;
    let sn = bobs_task(&gw).await["serialNumber"].as_str().unwrap().to_string();
    let approved = gw
        .call(
            &Auth::Basic("bob"),
            "POST",
            &format!("/tasks/{sn}/actions/Approve"),
            None,
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    let instance = gw
        .call(&Auth::Basic("alice"), "GET", &format!("/instances/{id}"), None)
        .await;
    let event = instance.json["tasks"][1]["serialNumber"].as_str().unwrap().to_string();

    let alice = gw
        .call(&Auth::Basic("alice"), "GET", &format!("/serverEvents/{event}"), None)
        .await;
    assert_eq!(alice.status, 404, "no server-event right: {}", alice.text);
    let paysys = Auth::Basic("paysys");
    let shown = gw.call(&paysys, "GET", &format!("/serverEvents/{event}"), None).await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_eq!(shown.json["serialNumber"], event.as_str());
    assert_eq!(shown.json["workflowInstanceFolio"], "INV-2024-7");
    assert_eq!(shown.json["eventInstance"]["status"], "Active");
    assert_eq!(
        shown.json["viewFlowURL"],
        format!("https://k2.example.com/ViewFlow/ViewFlow.aspx?ProcessID={id}")
    );

    let body = r#"{"dataFields": { "PaymentReference": "PAY-0042", "PaidAt": "\/Date(1714555800000-0500)\/"}}"#;
    let finished = gw
        .call_raw(&paysys, "POST", &format!("/serverEvents/{event}/finish"), body, &[])
        .await;
    assert_eq!(finished.status, 200, "{}", finished.text);
    assert_eq!(finished.json["currentActivity"], "Confirm");
    let again = gw
        .call_raw(&paysys, "POST", &format!("/serverEvents/{event}/finish"), body, &[])
        .await;
    assert_eq!(again.status, 404, "{}", again.text);
    let confirm = gw.call(&Auth::Basic("alice"), "GET", "/tasks", None).await;
    assert_eq!(confirm.json["tasks"][0]["activityName"], "Confirm", "{}", confirm.text);
    assert_eq!(confirm.json["tasks"][0]["originator"]["fqn"], ALICE);
    let instance = gw
        .call(&Auth::Basic("alice"), "GET", &format!("/instances/{id}"), None)
        .await;
    assert_eq!(instance.json["dataFields"]["PaymentReference"], "PAY-0042");
    assert_eq!(instance.json["dataFields"]["PaidAt"], "2024-05-01T09:30:00Z");
}
