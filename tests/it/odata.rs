//! The SmartObject OData v4 API through the real gateway: service document and `$metadata`, queries,
//! paging, CRUD mapped to SmartObject methods, exposure, who sees what, the workflow statistics, K2's
//! `/api/odatav4/v4` endpoint, `HEAD`, and links that never follow the client's `Host`.

use crate::support;

use serde_json::{json, Value};
use support::api::{Auth, Reply};
use support::odata::{Gateway, K2_BASE, SHIPPED};

const FRAN: Auth = Auth::Basic("fran");
const ALICE: Auth = Auth::Basic("alice");

fn names(reply: &Reply, property: &str) -> Vec<String> {
    reply.json["value"]
        .as_array()
        .unwrap_or_else(|| panic!("no value array: {}", reply.text))
        .iter()
        .map(|e| e[property].as_str().unwrap_or("").to_string())
        .collect()
}

/// GETs a link (a next link) as alice.
async fn get_json(gw: &Gateway, link: &str) -> Value {
    let reply = support::client()
        .get(gw.follow(link))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(reply.status(), 200);
    reply.json().await.expect("a JSON body")
}

/// Creates `rows` as fran, eight requests at a time.
async fn create_customers(gw: &Gateway, rows: &[Value]) {
    let url = format!("{}/Customer", gw.root());
    for chunk in rows.chunks(8) {
        let mut tasks = tokio::task::JoinSet::new();
        for row in chunk {
            let request = support::client()
                .post(&url)
                .basic_auth("fran", Some("fran-pw"))
                .json(row);
            tasks.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
        }
        while let Some(status) = tasks.join_next().await {
            assert_eq!(status.unwrap().unwrap(), 201);
        }
    }
}

fn customer(i: usize) -> Value {
    let region = ["North", "South", "East"][i % 3];
    json!({
        "Name": format!("Customer {i:02}"),
        "Email": format!("c{i}@example.com"),
        "Region": region,
        "CreditLimit": (i as f64) * 100.5,
        "Active": i.is_multiple_of(2),
        "Since": format!("20{:02}-0{}-15", 10 + i % 10, 1 + i % 9),
    })
}

#[tokio::test]
async fn service_document_and_metadata_describe_the_published_smartobjects() {
    let gw = Gateway::start().await;
    let doc = gw.call(&ALICE, "GET", "/", None).await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    assert_eq!(doc.headers["odata-version"], "4.0");
    assert!(doc.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(doc.json["@odata.context"], format!("{}/$metadata", gw.link_root()));
    let sets: Vec<&str> = doc.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        sets,
        ["Customer", "OData_1099Vendor", "WorkflowInstances", "WorkflowTasks"]
    );

    let metadata = gw.call(&ALICE, "GET", "/$metadata", None).await;
    assert_eq!(metadata.status, 200);
    assert_eq!(metadata.headers["odata-version"], "4.0");
    assert!(metadata.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/xml"));
    for expected in [
        r#"<edmx:Edmx Version="4.0""#,
        r#"<EntityType Name="Customer"><Key><PropertyRef Name="CustomerId"/></Key>"#,
        r#"<Property Name="Name" Type="Edm.String" Nullable="false" MaxLength="100">"#,
        r#"<EntityType Name="OData_1099Vendor">"#,
        r#"<Property Name="PaymentWindowOpens" Type="Edm.TimeOfDay""#,
        r#"<EntitySet Name="WorkflowTasks" EntityType="SmartObjects.WorkflowTasks">"#,
    ] {
        assert!(metadata.text.contains(expected), "missing {expected}");
    }
    // Without the gateway's identity nothing is served, and the refusal is the gateway's.
    assert_eq!(gw.call(&Auth::None, "GET", "/", None).await.status, 401);
}

#[tokio::test]
async fn crud_maps_to_the_smartobject_methods() {
    let gw = Gateway::start().await;
    let created = gw
        .call(&FRAN, "POST", "/Customer", Some(json!({"@odata.type": "#SmartObjects.Customer", "Name": "Contoso", "Region": "North", "CreditLimit": 1500.25, "Active": true, "Since": "2020-02-29"})))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["CustomerId"].as_i64().unwrap();
    assert_eq!(
        created.headers["location"],
        format!("{}/Customer({id})", gw.link_root())
    );
    assert_eq!(
        created.json["@odata.context"],
        format!("{}/$metadata#Customer/$entity", gw.link_root())
    );
    assert_eq!(created.json["Email"], Value::Null);

    let read = gw.call(&ALICE, "GET", &format!("/Customer({id})"), None).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json["Name"], "Contoso");
    assert_eq!(read.json["CreditLimit"], 1500.25);
    assert_eq!(read.json["Since"], "2020-02-29");

    let patched = gw
        .call(
            &FRAN,
            "PATCH",
            &format!("/Customer({id})"),
            Some(json!({"Email": "it@contoso.com"})),
        )
        .await;
    assert_eq!(patched.status, 204, "{}", patched.text);
    let read = gw
        .call(
            &FRAN,
            "GET",
            &format!("/Customer(CustomerId={id})?$select=Name,Email"),
            None,
        )
        .await;
    assert_eq!(
        read.json,
        json!({"@odata.context": format!("{}/$metadata#Customer/$entity", gw.link_root()), "Name": "Contoso", "Email": "it@contoso.com"})
    );

    // PUT replaces: what is left out becomes null; the key may be repeated but not changed.
    let put = gw
        .call(
            &FRAN,
            "PUT",
            &format!("/Customer({id})"),
            Some(json!({"CustomerId": id, "Name": "Contoso Ltd"})),
        )
        .await;
    assert_eq!(put.status, 204, "{}", put.text);
    let read = gw.call(&FRAN, "GET", &format!("/Customer({id})"), None).await;
    assert_eq!(
        (read.json["Name"].as_str(), read.json["Region"].is_null()),
        (Some("Contoso Ltd"), true)
    );
    let rekey = gw
        .call(
            &FRAN,
            "PATCH",
            &format!("/Customer({id})"),
            Some(json!({"CustomerId": id + 1})),
        )
        .await;
    assert_eq!(rekey.status, 400);
    assert!(rekey.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot be changed"));

    let deleted = gw.call(&FRAN, "DELETE", &format!("/Customer({id})"), None).await;
    assert_eq!(deleted.status, 204);
    let gone = gw.call(&FRAN, "GET", &format!("/Customer({id})"), None).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json["error"]["code"], "NotFound");
    assert_eq!(gone.headers["odata-version"], "4.0");
    assert_eq!(
        gw.call(&FRAN, "DELETE", &format!("/Customer({id})"), None).await.status,
        404
    );

    // The vendor SmartObject has only List and Read.
    let refused = gw
        .call(&FRAN, "POST", "/OData_1099Vendor", Some(json!({"Name": "Acme"})))
        .await;
    assert_eq!(refused.status, 405, "{}", refused.text);
    assert_eq!(refused.headers["allow"], "GET, HEAD");
    assert!(refused.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("methods are List, Read"));
    let refused = gw
        .call(
            &FRAN,
            "DELETE",
            "/OData_1099Vendor(0a1b2c3d-0000-4000-8000-000000000001)",
            None,
        )
        .await;
    assert_eq!(
        (refused.status, refused.headers["allow"].to_str().unwrap()),
        (405, "GET, HEAD")
    );

    // Bad bodies change nothing.
    for (body, expected) in [
        (json!({"Name": "x", "Colour": "red"}), "no property 'Colour'"),
        (json!({"Region": "North"}), "'Name' is required"),
        (json!({"Name": "x", "CustomerId": 7}), "assigned by the service"),
        (json!({"Name": "x", "Since": "2021-02-29"}), "'Since' is not a date"),
        (json!({"Name": "x".repeat(101)}), "maximum of 100"),
    ] {
        let reply = gw.call(&FRAN, "POST", "/Customer", Some(body)).await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        assert!(
            reply.json["error"]["message"].as_str().unwrap().contains(expected),
            "{}",
            reply.text
        );
    }
    assert_eq!(gw.call(&FRAN, "GET", "/Customer/$count", None).await.text, "0");
}

#[tokio::test]
async fn readers_and_writers_decide_who_sees_what() {
    let gw = Gateway::start().await;
    // alice (Employees) may read customers but not change them; Customer's writers are Sales and Finance.
    assert_eq!(gw.call(&ALICE, "GET", "/Customer", None).await.status, 200);
    let refused = gw.call(&ALICE, "POST", "/Customer", Some(json!({"Name": "x"}))).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("may not change Customer"));
    // Vendors are for Finance only.
    assert_eq!(gw.call(&ALICE, "GET", "/OData_1099Vendor", None).await.status, 403);
    assert_eq!(gw.call(&FRAN, "GET", "/OData_1099Vendor", None).await.status, 200);
    // Bearer users: by group claim.
    let finance = Auth::Bearer(gw.token("erin@contoso.onmicrosoft.com", &["Finance"]));
    let employee = Auth::Bearer(gw.token("erin@contoso.onmicrosoft.com", &["Employees"]));
    assert_eq!(
        gw.call(&finance, "POST", "/Customer", Some(json!({"Name": "by token"})))
            .await
            .status,
        201
    );
    assert_eq!(gw.call(&employee, "GET", "/Customer/$count", None).await.text, "1");
    assert_eq!(gw.call(&employee, "GET", "/OData_1099Vendor", None).await.status, 403);
    // Users of other user managers never reach the API.
    assert_eq!(
        gw.call(&Auth::Basic("dave"), "GET", "/Customer", None).await.status,
        403
    );
}

#[tokio::test]
async fn queries_filter_order_select_count_and_refuse_invalid_options() {
    let gw = Gateway::start().await;
    create_customers(&gw, &(0..30).map(customer).collect::<Vec<_>>()).await;
    let get = |q: &str| {
        let path = format!("/Customer?{q}");
        let gw = &gw;
        async move { gw.call(&ALICE, "GET", &path, None).await }
    };

    let r = get("$filter=Region eq 'North' and CreditLimit gt 1000&$orderby=Name desc&$select=Name,Region").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        names(&r, "Name"),
        [
            "Customer 27",
            "Customer 24",
            "Customer 21",
            "Customer 18",
            "Customer 15",
            "Customer 12"
        ]
    );
    assert_eq!(
        r.json["@odata.context"],
        format!("{}/$metadata#Customer(Name,Region)", gw.link_root())
    );
    assert_eq!(r.json["value"][0].as_object().unwrap().len(), 2);

    let r = get("$filter=startswith(tolower(Name), 'customer 1') or endswith(Email, '5@example.com')&$orderby=Region asc,Name desc&$count=true&$top=3&$skip=1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["@odata.count"], 12);
    assert_eq!(names(&r, "Name"), ["Customer 14", "Customer 11", "Customer 05"]);
    assert!(r.json.get("@odata.nextLink").is_none(), "$top=3 is met: {}", r.text);

    let r = get("$filter=year(Since) eq 2015 and not (Active eq true) and length(Name) eq 11 and contains(Email, 'c') and CreditLimit lt 2000").await;
    assert_eq!(names(&r, "Name"), ["Customer 05", "Customer 15"]);
    let r = get("$filter=Email eq null or Since lt 2011-01-01").await;
    assert_eq!(names(&r, "Name"), ["Customer 00", "Customer 10", "Customer 20"]);
    // A quote in a literal is data, not SQL.
    let r = get("$filter=Name eq 'x'' OR 1=1 --'").await;
    assert_eq!((r.status, r.json["value"].as_array().unwrap().len()), (200, 0));

    let count = gw
        .call(&ALICE, "GET", "/Customer/$count?$filter=Active eq true", None)
        .await;
    assert_eq!((count.status, count.text.as_str()), (200, "15"));
    assert!(count.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));

    for (query, expected) in [
        ("$top=-1", "$top must be a non-negative integer, not '-1'"),
        ("$skip=abc", "$skip must be a non-negative integer, not 'abc'"),
        ("$filter=Colour eq 'red'", "unknown property 'Colour'"),
        ("$filter=Name eq 5", "Edm.String"),
        ("$filter=Name eq 'a' and", "position"),
        ("$orderby=Name sideways", "expected asc or desc"),
        ("$select=Name,Nope", "no property 'Nope'"),
        ("$expand=Orders", "not supported"),
    ] {
        let r = get(query).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        let message = r.json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{query}: {message}");
        assert!(r.json["error"]["target"].is_string(), "{query}: {}", r.text);
    }
    let unknown = gw.call(&ALICE, "GET", "/Orders", None).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no entity set 'Orders'"));
    let old = support::client()
        .get(gw.inner.url("/api/odata/v4/Customer"))
        .basic_auth("alice", Some("alice-pw"))
        .header("OData-MaxVersion", "3.0")
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 400);
}

#[tokio::test]
async fn server_driven_paging_follows_next_links() {
    let gw = Gateway::start_with(&format!("{{smartobjects: \"{SHIPPED}\", page_size: 10}}"), true, &[]).await;
    create_customers(&gw, &(0..25).map(customer).collect::<Vec<_>>()).await;
    let mut url = format!("{}/Customer?$orderby=Name&$count=true&$select=Name", gw.root());
    let (mut seen, mut pages) = (Vec::new(), 0);
    loop {
        let page = get_json(&gw, &url).await;
        pages += 1;
        assert_eq!(page["@odata.count"], 25);
        seen.extend(
            page["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["Name"].as_str().unwrap().to_string()),
        );
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("Customer {i:02}")).collect();
    assert_eq!(seen, expected);

    // A client $top larger than a page: the next link carries what is left of it.
    let first = gw.call(&ALICE, "GET", "/Customer?$top=15&$skip=2", None).await;
    assert_eq!(first.json["value"].as_array().unwrap().len(), 10);
    let next = first.json["@odata.nextLink"].as_str().unwrap();
    assert!(next.ends_with("/Customer?$skip=12&$top=5"), "{next}");
    assert!(next.starts_with("/api/odata/v4/"), "{next}");
    let second = get_json(&gw, next).await;
    assert_eq!(second["value"].as_array().unwrap().len(), 5);
    assert!(second.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn exposure_rules_publish_only_what_the_operator_chose() {
    let gw = Gateway::start_with(
        &format!("{{smartobjects: \"{SHIPPED}\", expose: {{only: [1099Vendor, WorkflowTasks]}}}}"),
        true,
        &[],
    )
    .await;
    let doc = gw.call(&FRAN, "GET", "/", None).await;
    let sets: Vec<&str> = doc.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(sets, ["OData_1099Vendor", "WorkflowTasks"]);
    let metadata = gw.call(&FRAN, "GET", "/$metadata", None).await.text;
    assert!(
        !metadata.contains("Customer") && !metadata.contains("WorkflowInstances"),
        "{metadata}"
    );
    let hidden = gw.call(&FRAN, "GET", "/Customer", None).await;
    assert_eq!(hidden.status, 404);
    assert_eq!(gw.call(&FRAN, "GET", "/Customer/$count", None).await.status, 404);
    assert_eq!(gw.call(&FRAN, "GET", "/OData_1099Vendor", None).await.status, 200);
    drop(gw);

    let gw = Gateway::start_with(
        &format!("{{smartobjects: \"{SHIPPED}\", expose: {{all_except: [WorkflowInstances, WorkflowTasks]}}}}"),
        false,
        &[],
    )
    .await;
    let off = gw.call(&FRAN, "GET", "/", None).await;
    assert_eq!(off.status, 503, "the route is switched off: {}", off.text);
    assert!(off.text.contains("switched off"));
}

#[tokio::test]
async fn workflow_statistics_report_instances_and_tasks() {
    let gw = Gateway::start().await;
    let started = support::api::call(
        &gw.inner,
        &ALICE,
        "POST",
        "/api/workflow/v1/workflows/1",
        Some(json!({"folio": "Trip to Oslo", "dataFields": {"Amount": 120.5, "Currency": "NOK", "Description": "Flights"}})),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);

    let r = gw
        .call(&FRAN, "GET", "/WorkflowInstances?$filter=Folio eq 'Trip to Oslo'", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let instance = &r.json["value"][0];
    assert_eq!(instance["Workflow"], "Expense Claim");
    assert_eq!(instance["Status"], "Active");
    assert_eq!(instance["Originator"], "K2:CONTOSO\\alice");
    assert!(instance["StartDate"].as_str().unwrap().ends_with('Z'));
    assert_eq!(instance["FinishDate"], Value::Null);
    let id = instance["Id"].as_i64().unwrap();

    let tasks = gw
        .call(
            &FRAN,
            "GET",
            &format!("/WorkflowTasks?$filter=InstanceId eq {id}&$select=Activity,Destination,Status"),
            None,
        )
        .await;
    assert_eq!(tasks.status, 200, "{}", tasks.text);
    assert_eq!(tasks.json["value"].as_array().unwrap().len(), 1, "{}", tasks.text);
    assert_eq!(tasks.json["value"][0]["Destination"], "K2:CONTOSO\\bob");
    let today = gw
        .call(
            &FRAN,
            "GET",
            "/WorkflowInstances/$count?$filter=year(StartDate) ge 2024 and FinishDate eq null",
            None,
        )
        .await;
    assert_eq!(today.text, "1");
    // Read-only.
    let refused = gw
        .call(&FRAN, "POST", "/WorkflowInstances", Some(json!({"Folio": "x"})))
        .await;
    assert_eq!(refused.status, 405);
}

#[tokio::test]
async fn smartobject_definitions_reload_and_broken_ones_are_refused() {
    let order = "system_name: Order\nkey: Id\nmethods: [List, Create]\nproperties:\n  - {name: Id, type: AutoNumber}\n  - {name: Title, type: Text}\n";
    let gw = Gateway::start_with("{smartobjects: \"{DIR}/so\"}", true, &[("so/order.yaml", order)]).await;
    let dir = gw.inner.config_path().parent().unwrap().join("so");
    assert_eq!(
        gw.call(&FRAN, "POST", "/Order", Some(json!({"Title": "first"})))
            .await
            .status,
        201
    );

    // A new property: the table gains a column, existing rows keep their data.
    std::fs::write(
        dir.join("order.yaml"),
        format!("{order}  - {{name: Due, type: Date}}\n"),
    )
    .unwrap();
    gw.inner.reload_and_wait("ok").await;
    let r = gw.call(&FRAN, "GET", "/Order(1)", None).await;
    assert_eq!(r.status, 405, "Order has no Read method: {}", r.text);
    let r = gw.call(&FRAN, "GET", "/Order?$filter=Due eq null", None).await;
    assert_eq!(names(&r, "Title"), ["first"]);

    // A broken file is refused; the running definitions keep serving.
    std::fs::write(dir.join("order.yaml"), order.replace("key: Id", "key: Nope")).unwrap();
    gw.inner.reload_and_wait("error").await;
    let r = gw.call(&FRAN, "GET", "/Order?$select=Due", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Sends `method` to `url` as fran with `headers`; returns status, headers and body.
async fn send(
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = support::client()
        .request(method, url)
        .basic_auth("fran", Some("fran-pw"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// Issue 14 item 9: K2's v4 endpoint serves the API, with links for the path the client used.
#[tokio::test]
async fn k2_v4_endpoint_serves_the_api_with_links_for_the_path_used() {
    let gw = Gateway::start_with(&format!("{{smartobjects: \"{SHIPPED}\", page_size: 2}}"), true, &[]).await;
    let k2 = |path: &str| gw.inner.url(&format!("{K2_BASE}{path}"));

    let (status, _, body) = send(reqwest::Method::GET, &k2("/"), &[], None).await;
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["@odata.context"], "/api/odatav4/v4/$metadata");
    assert_eq!(doc["value"][0]["url"], "Customer");
    // The base path is matched case-insensitively; links use its configured spelling.
    let (status, _, body) = send(reqwest::Method::GET, &gw.inner.url("/API/ODataV4/V4"), &[], None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""@odata.context":"/api/odatav4/v4/$metadata""#),
        "{body}"
    );

    let (status, headers, metadata) = send(reqwest::Method::GET, &k2("/$metadata"), &[], None).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/xml"));
    assert!(metadata.contains(r#"<EntitySet Name="Customer" EntityType="SmartObjects.Customer">"#));

    let mut ids = Vec::new();
    for i in 0..3 {
        let (status, headers, body) = send(reqwest::Method::POST, &k2("/Customer"), &[], Some(customer(i))).await;
        assert_eq!(status, 201, "{body}");
        let created: Value = serde_json::from_str(&body).unwrap();
        let id = created["CustomerId"].as_i64().unwrap();
        assert_eq!(headers["location"], format!("/api/odatav4/v4/Customer({id})").as_str());
        assert_eq!(created["@odata.context"], "/api/odatav4/v4/$metadata#Customer/$entity");
        ids.push(id);
    }

    let (status, _, body) = send(reqwest::Method::GET, &k2("/Customer?$orderby=Name"), &[], None).await;
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["@odata.context"], "/api/odatav4/v4/$metadata#Customer");
    let next = page["@odata.nextLink"].as_str().expect("a next link");
    assert_eq!(next, "/api/odatav4/v4/Customer?$orderby=Name&$skip=2");
    let second = get_json(&gw, next).await;
    assert_eq!(second["value"].as_array().unwrap().len(), 1);

    // Keys as the SAP Cloud SDK writes Edm.Int64 (issue 14 item 11), in the path and in $filter.
    let (status, _, body) = send(reqwest::Method::GET, &k2(&format!("/Customer({}L)", ids[0])), &[], None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"Name\":\"Customer 00\""), "{body}");
    let filter = format!("/Customer/$count?$filter=CustomerId%20eq%20{}L", ids[1]);
    let (status, _, body) = send(reqwest::Method::GET, &k2(&filter), &[], None).await;
    assert_eq!((status, body.as_str()), (200, "1"));
}

/// Issue 13 item 8: links are built from the configuration, so a spoofed `Host` / `X-Forwarded-*` appears in
/// none of them.
#[tokio::test]
async fn links_never_follow_the_clients_host_or_forwarded_headers() {
    let gw = Gateway::start_with(&format!("{{smartobjects: \"{SHIPPED}\", page_size: 1}}"), true, &[]).await;
    let spoofed = [
        ("host", "evil.example"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
        ("forwarded", "host=evil.example;proto=https"),
    ];
    let url = |path: &str| gw.inner.url(&format!("/api/odata/v4{path}"));
    let mut seen = String::new();
    for (method, path, body, extra) in [
        (reqwest::Method::POST, "/Customer", Some(customer(1)), None),
        (
            reqwest::Method::POST,
            "/Customer",
            Some(customer(2)),
            Some(("prefer", "return=minimal")),
        ),
        (reqwest::Method::GET, "/", None, None),
        (reqwest::Method::GET, "/Customer", None, None),
        (reqwest::Method::GET, "/Customer(1)", None, None),
        (
            reqwest::Method::PATCH,
            "/Customer(1)",
            Some(json!({"Region": "West"})),
            Some(("prefer", "return=representation")),
        ),
    ] {
        let mut headers = spoofed.to_vec();
        headers.extend(extra);
        let (status, response_headers, text) = send(method.clone(), &url(path), &headers, body).await;
        assert!(status < 300, "{method} {path}: {status} {text}");
        for (name, value) in &response_headers {
            seen.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
        }
        seen.push_str(&text);
        seen.push('\n');
    }
    for link in [
        "/api/odata/v4/$metadata",
        "location: /api/odata/v4/Customer(1)",
        "odata-entityid: /api/odata/v4/Customer(2)",
        "\"@odata.nextLink\":\"/api/odata/v4/Customer?$skip=1\"",
    ] {
        assert!(seen.contains(link), "missing {link} in:\n{seen}");
    }
    assert!(
        !seen.contains("evil.example") && !seen.contains("https:"),
        "a link follows the client's Host or forwarded headers:\n{seen}"
    );
}

/// Issue 14 item 10: HEAD wherever GET is allowed, with GET's headers and no body.
#[tokio::test]
async fn head_answers_wherever_get_does_with_the_same_headers() {
    let gw = Gateway::start().await;
    create_customers(&gw, &[customer(1)]).await;
    let id = gw.call(&FRAN, "GET", "/Customer", None).await.json["value"][0]["CustomerId"]
        .as_i64()
        .unwrap();
    for path in [
        "/".to_string(),
        "/$metadata".to_string(),
        "/Customer?$filter=Region eq 'South'".to_string(),
        "/Customer/$count".to_string(),
        format!("/Customer({id})"),
        format!("/Customer({id}L)/"),
        "/OData_1099Vendor".to_string(),
    ] {
        for base in ["/api/odata/v4", K2_BASE] {
            let url = gw.inner.url(&format!("{base}{path}"));
            let (get_status, get_headers, get_body) = send(reqwest::Method::GET, &url, &[], None).await;
            let (status, headers, body) = send(reqwest::Method::HEAD, &url, &[], None).await;
            assert_eq!((status, get_status), (200, 200), "HEAD {base}{path}: {get_body}");
            assert_eq!(body, "", "HEAD {base}{path} has no body");
            for name in ["content-type", "odata-version"] {
                assert_eq!(headers.get(name), get_headers.get(name), "HEAD {base}{path}: {name}");
            }
            assert_eq!(
                headers.get("content-length").and_then(|v| v.to_str().ok()),
                Some(get_body.len().to_string().as_str()),
                "HEAD {base}{path}: Content-Length of the GET response"
            );
        }
    }
    // HEAD refuses what GET refuses, without a body.
    let (status, _, body) = send(
        reqwest::Method::HEAD,
        &gw.inner.url("/api/odata/v4/Customer(999999)"),
        &[],
        None,
    )
    .await;
    assert_eq!((status, body.as_str()), (404, ""));
    let (status, _, body) = send(reqwest::Method::HEAD, &gw.inner.url("/api/odata/v4/Nope"), &[], None).await;
    assert_eq!((status, body.as_str()), (404, ""));
    // 405's Allow lists HEAD beside GET.
    let refused = gw.call(&FRAN, "DELETE", "/$metadata", None).await;
    assert_eq!(
        (refused.status, refused.headers["allow"].to_str().unwrap()),
        (405, "GET, HEAD")
    );
    let refused = gw.call(&FRAN, "PATCH", "/Customer", None).await;
    assert_eq!(
        (refused.status, refused.headers["allow"].to_str().unwrap()),
        (405, "GET, HEAD, POST")
    );
}

/// With `odata.public_url`, links are absolute: that URL and the base path the request came in on. Base paths
/// are configuration: one left out is not served even where a route leads to it.
#[tokio::test]
async fn public_url_and_base_paths_come_from_the_configuration() {
    let gw = Gateway::start_with(
        &format!("{{smartobjects: \"{SHIPPED}\", public_url: \"https://k2.example.com/gw\"}}"),
        true,
        &[],
    )
    .await;
    for base in ["/api/odata/v4", K2_BASE] {
        let doc = gw.call_at(base, &FRAN, "GET", "/", None).await;
        assert_eq!(
            doc.json["@odata.context"],
            format!("https://k2.example.com/gw{base}/$metadata")
        );
        let created = gw.call_at(base, &FRAN, "POST", "/Customer", Some(customer(1))).await;
        let id = created.json["CustomerId"].as_i64().unwrap();
        assert_eq!(
            created.headers["location"],
            format!("https://k2.example.com/gw{base}/Customer({id})").as_str()
        );
    }
    drop(gw);

    let gw = Gateway::start_with(
        &format!("{{smartobjects: \"{SHIPPED}\", base_paths: [/api/odatav4/v4]}}"),
        true,
        &[],
    )
    .await;
    assert_eq!(gw.call_at(K2_BASE, &FRAN, "GET", "/Customer", None).await.status, 200);
    let unserved = gw.call(&FRAN, "GET", "/Customer", None).await;
    assert_eq!(unserved.status, 404, "{}", unserved.text);
    assert!(
        unserved.text.contains("no built-in API at this path"),
        "{}",
        unserved.text
    );
}
