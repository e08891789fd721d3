//! REST-backed SmartObjects (issue 17, 6b) through the real binary: `Invoice` lives in a REST service in the
//! test (`servers::rest`) that accepts only tokens the Azure-AD-shaped STS (`servers::sts`) issued for it; the
//! gateway gets each user's token on behalf of their inbound bearer token (the OData route forwards it with
//! `auth.forward_credentials: bearer`) and applies the OData query options over the service's rows. Queried by
//! the python-odata client and by hand: paging, `$filter`, `$orderby`, `$top`, `$skip`, `$count`, Read,
//! Create, Update, Delete; the row cap, a failing service, a Basic caller, two users with their own tokens.

use crate::servers::rest::{RestService, SECRET_BODY};
use crate::servers::sts::{self, Sts};
use crate::support::api::{call, Auth, TokenIssuer};
use crate::support::{base_config, Gateway};
use base64::Engine;
use serde_json::{json, Value};
use std::process::Command;

const OBO_TYPE: &str = include_str!("../../policies/oauth/types/microsoft-online-obo.yaml");
/// The service's audience.
const AUDIENCE: &str = "api://invoices";
const BASE: &str = "/api/odata/v4";

fn smartobject(service: &RestService) -> String {
    format!(
        "system_name: Invoice\nkey: Id\nmethods: [List, Read, Create, Update, Delete]\nproperties:\n\
         \x20 - {{name: Id, type: AutoNumber}}\n  - {{name: Title, type: Text}}\n  - {{name: Customer, type: Text}}\n\
         \x20 - {{name: Total, type: Decimal}}\n  - {{name: Paid, type: Boolean}}\n\
         rest:\n  oauth_resource: invoices api\n  base_url: {}\n  max_rows: 60\n\
         \x20 list: {{path: invoices, rows: value}}\n  read: {{path: 'invoices/{{key}}'}}\n  create: {{path: invoices}}\n\
         \x20 update: {{path: 'invoices/{{key}}'}}\n  delete: {{path: 'invoices/{{key}}'}}\n\
         \x20 fields: {{Id: id, Title: title, Customer: customer, Total: total, Paid: paid}}\n",
        service.base_url()
    )
}

/// A gateway trusting `issuer`, with the on-behalf-of resource `Invoices API` at `sts` and the SmartObject
/// over `service`; 20 entities per page.
async fn gateway(issuer: &TokenIssuer, sts: &Sts, service: &RestService) -> Gateway {
    let yaml = format!(
        "{}providers:\n{}oauth:\n  types: oauth/types\n  resources: oauth/resources\n  vault: {{keys: [{{id: k1, key_file: vault.key}}]}}\n\
         odata: {{smartobjects: sos, page_size: 20}}\n\
         routes:\n  - {{name: odata, prefix: {BASE}, upstream: builtin, auth: {{forward_credentials: bearer}}}}\n",
        base_config(),
        TokenIssuer::provider()
    );
    let resource = format!(
        "name: Invoices API\ntype: Microsoft Online on-behalf-of\ntoken_endpoint: {}\nparameters:\n  client_id: {{token: {}}}\n  client_secret: {{token: {}}}\n  scope: {{token: '{AUDIENCE}/.default'}}\n",
        sts.token_url(),
        sts::CLIENT_ID,
        sts::CLIENT_SECRET
    );
    Gateway::start_with_files(
        &yaml,
        &[
            ("jwks.json", &issuer.jwks_file()),
            (
                "vault.key",
                &base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
            ),
            ("oauth/types/obo.yaml", OBO_TYPE),
            ("oauth/resources/invoices.yaml", &resource),
            ("sos/invoice.yaml", &smartobject(service)),
        ],
    )
    .await
}

async fn python_client(gw: &Gateway, token: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/odata_client/rest_client.py");
    let (root, token) = (gw.url(BASE), token.to_string());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, &root, &token])
            .output()
            .expect("python3 runs (installed with python-odata by .ci/bootstrap)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python-odata client failed ({}):\n{stdout}\n{}\ngateway log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        gw.log()
    );
    serde_json::from_str(stdout.trim()).expect("the client prints a JSON summary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_odata_queries_a_rest_service_with_each_users_own_token() {
    let issuer = TokenIssuer::new();
    let sts = Sts::start(&issuer.jwks_file()).await;
    let service = RestService::start(50, sts.validation(AUDIENCE)).await;
    let gw = gateway(&issuer, &sts, &service).await;
    let alice = issuer.token("alice@contoso.com", &[]);

    let summary = python_client(&gw, &alice).await;
    assert_eq!(summary["all"], json!((1..=50).collect::<Vec<_>>()), "paged by nextLink");
    let contoso: Vec<String> = (1..=50)
        .rev()
        .filter(|i| i % 3 == 0 && *i as f64 * 10.5 >= 200.0)
        .map(|i| format!("Invoice {i:03}"))
        .collect();
    assert_eq!(summary["contoso"], json!(contoso), "$filter and $orderby");
    assert_eq!(summary["top"], json!([50, 49, 48]), "$orderby desc and $top");
    assert_eq!(summary["page"], json!([11, 12, 13, 14, 15]), "$skip and $top");
    assert_eq!(summary["unpaid"], 25, "$count");
    assert_eq!(
        summary["seven"],
        json!({"title": "Invoice 007", "customer": "Fabrikam", "total": 73.5, "paid": false})
    );
    let users = service.users();
    assert!(!users.is_empty());
    assert!(users.iter().all(|u| u == "alice@contoso.com"), "{users:?}");
    assert_eq!(sts.calls(), 1, "alice's token is exchanged once and cached");

    // $metadata lists it; a page carries the count and the next link.
    let r = call(
        &gw,
        &Auth::Bearer(alice.clone()),
        "GET",
        &format!("{BASE}/$metadata"),
        None,
    )
    .await;
    assert!(r.text.contains("EntitySet Name=\"Invoice\""), "{}", r.text);
    let r = call(
        &gw,
        &Auth::Bearer(alice.clone()),
        "GET",
        &format!("{BASE}/Invoice?$filter=Paid%20eq%20true&$count=true"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["@odata.count"], 25);
    assert_eq!(r.json["value"].as_array().unwrap().len(), 20);
    assert!(
        r.json["@odata.nextLink"].as_str().unwrap().contains("$skip=20"),
        "{}",
        r.json
    );
    let r = call(
        &gw,
        &Auth::Bearer(alice.clone()),
        "GET",
        &format!("{BASE}/Invoice/$count?$filter=Customer%20eq%20'Northwind'"),
        None,
    )
    .await;
    assert_eq!(r.text, "17");

    // Bob: his own token, never alice's.
    let bob = issuer.token("bob@contoso.com", &[]);
    let r = call(
        &gw,
        &Auth::Bearer(bob.clone()),
        "GET",
        &format!("{BASE}/Invoice?$top=1"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(service.users().last().unwrap(), "bob@contoso.com");
    assert_eq!(sts.calls(), 2);
    let tokens = service.tokens();
    let (alices, bobs): (Vec<_>, Vec<_>) = tokens
        .iter()
        .zip(service.users())
        .partition(|(_, user)| user == "alice@contoso.com");
    assert!(
        bobs.iter().all(|(t, _)| alices.iter().all(|(a, _)| a != t)),
        "bob was called with a token of his own"
    );

    let log = gw.log();
    for secret in tokens.iter().chain([&alice, &bob]) {
        assert!(!log.contains(secret.as_str()), "a token in the log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_entities_are_read_and_changed_and_failures_are_clear_odata_errors() {
    let issuer = TokenIssuer::new();
    let sts = Sts::start(&issuer.jwks_file()).await;
    let service = RestService::start(50, sts.validation(AUDIENCE)).await;
    let gw = gateway(&issuer, &sts, &service).await;
    let alice = Auth::Bearer(issuer.token("alice@contoso.com", &[]));
    let path = |p: &str| format!("{BASE}{p}");

    let r = call(&gw, &alice, "GET", &path("/Invoice(7)"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["Title"], "Invoice 007");
    assert!(r.json.get("internal_note").is_none(), "only the mapped fields");
    assert_eq!(call(&gw, &alice, "GET", &path("/Invoice(999)"), None).await.status, 404);

    let r = call(
        &gw,
        &alice,
        "POST",
        &path("/Invoice"),
        Some(json!({"Title": "New", "Customer": "Contoso", "Total": 1.5, "Paid": false})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["Id"], 51, "the service assigned the key");
    assert!(r.headers["location"].to_str().unwrap().ends_with("/Invoice(51)"));
    let r = call(&gw, &alice, "PATCH", &path("/Invoice(51)"), Some(json!({"Paid": true}))).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        call(&gw, &alice, "GET", &path("/Invoice(51)"), None).await.json["Paid"],
        true
    );
    assert_eq!(
        call(&gw, &alice, "DELETE", &path("/Invoice(51)"), None).await.status,
        204
    );
    assert_eq!(
        call(&gw, &alice, "DELETE", &path("/Invoice(51)"), None).await.status,
        404
    );

    // Past the row cap: a clear error, never a silently cut result (even with a $filter that would match few).
    service.set_rows(61);
    let r = call(&gw, &alice, "GET", &path("/Invoice?$filter=Id%20eq%201"), None).await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "TooManyRows", "{}", r.json);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 60 rows"),
        "{}",
        r.json
    );
    service.set_rows(50);

    // A failing service: 502, and nothing it said.
    service.fail(true);
    for p in ["/Invoice", "/Invoice(3)"] {
        let r = call(&gw, &alice, "GET", &path(p), None).await;
        assert_eq!(r.status, 502, "{p}: {}", r.text);
        assert_eq!(r.json["error"]["code"], "BadGateway");
        assert!(
            r.json["error"]["message"].as_str().unwrap().contains("HTTP 500"),
            "{}",
            r.json
        );
        assert!(!r.text.contains(SECRET_BODY), "{}", r.text);
    }
    service.fail(false);
    assert!(!gw.log().contains(SECRET_BODY));

    // A Basic caller has no bearer token to exchange: 403 in the OData error shape, naming the resource.
    let r = call(&gw, &Auth::Basic("alice"), "GET", &path("/Invoice"), None).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "oauth_no_inbound_token", "{}", r.json);
    assert_eq!(r.json["error"]["innererror"]["resource"], "Invoices API");

    // The STS refuses: 403 with the provider's code, not its description.
    sts.refuse_with(Some("consent_required"));
    let carol = Auth::Bearer(issuer.token("carol@contoso.com", &[]));
    let r = call(&gw, &carol, "GET", &path("/Invoice"), None).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "oauth_refused");
    assert!(!r.text.contains("AADSTS"), "{}", r.text);
}
