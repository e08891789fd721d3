//! The gateway serving the shipped workflow definitions (`policies/workflows`) to users whose managers and
//! groups those definitions route to.

use super::api::{self, Auth, Reply, TokenIssuer};
use super::{base_config, hash};
use serde_json::{json, Value};

pub const ALICE: &str = "K2:CONTOSO\\alice";
pub const BOB: &str = "K2:CONTOSO\\bob";
pub const FRAN: &str = "K2:CONTOSO\\fran";
pub const ERIN: &str = "AAD:erin@contoso.onmicrosoft.com";

/// Users with the managers and groups the shipped workflow definitions route to.
pub fn users() -> String {
    let mut out = String::from("users:\n");
    for (name, um, groups, manager) in [
        ("alice", "ad", "[Employees]", "bob"),
        ("bob", "ad", "[Employees, Approvers]", ""),
        ("fran", "ad", "[Finance]", ""),
        ("gus", "ad", "[Finance]", ""),
        ("eve", "ad", "[Employees]", "bob"),
        ("paysys", "ad", "[PaymentSystems]", ""),
        ("dave", "sql", "[Employees]", "bob"),
        ("erin@contoso.onmicrosoft.com", "aad", "[Employees]", "bob"),
    ] {
        let domain = if um == "ad" { ", domain: CONTOSO" } else { "" };
        let manager = if manager.is_empty() {
            String::new()
        } else {
            format!(", manager: {manager}")
        };
        out += &format!(
            "  - {{name: '{name}', user_manager: {um}, password_hash: '{}', email: '{name}@contoso.com', \
             display_name: 'User {name}', groups: {groups}{domain}{manager}}}\n",
            hash(&format!("{name}-pw"))
        );
    }
    out
}

/// A gateway serving the shipped workflow definitions, with a bearer issuer it trusts.
pub struct Gateway {
    pub inner: super::Gateway,
    issuer: TokenIssuer,
}

impl Gateway {
    /// Starts with the workflow route on or off.
    pub async fn start(workflow_enabled: bool) -> Self {
        Self::start_with(workflow_enabled, base_config()).await
    }

    /// Starts with `head` (see [`base_config`]) as the start of the configuration.
    pub async fn start_with(workflow_enabled: bool, head: String) -> Self {
        Self::start_full(
            workflow_enabled,
            head,
            concat!(env!("CARGO_MANIFEST_DIR"), "/policies/workflows"),
        )
        .await
    }

    /// Starts with `head` and workflow definitions from `definitions` (`{DIR}` is the gateway's directory).
    pub async fn start_full(workflow_enabled: bool, head: String, definitions: &str) -> Self {
        let issuer = TokenIssuer::new();
        let yaml = format!(
            "{}providers:\n{}workflow: {{definitions: \"{definitions}\"}}\nroutes:\n  - name: workflow\n    prefix: /api/workflow/v1\n    upstream: builtin\n    enabled: {workflow_enabled}\n    disabled: {{status: 503, message: \"The Workflow REST API is switched off on this server.\"}}\n",
            head,
            TokenIssuer::provider(),
        );
        let inner = super::Gateway::launch(&yaml, &users(), &[("jwks.json", &issuer.jwks_file())]).await;
        Self { inner, issuer }
    }

    /// Starts with the shipped definitions and the test ones (`tests/fixtures/workflows`: a server event), with
    /// `workflow.public_url` and `workflow.view_flow_url` set, as a K2 client's server would be.
    pub async fn start_k2() -> Self {
        let issuer = TokenIssuer::new();
        let yaml = format!(
            "{}providers:\n{}workflow:\n  definitions: \"{{DIR}}/workflows\"\n  public_url: \"https://k2.example.com\"\n  view_flow_url: \"{{base}}/ViewFlow/ViewFlow.aspx?ProcessID={{instanceId}}\"\nroutes:\n  - name: workflow\n    prefix: /api/workflow/v1\n    upstream: builtin\n",
            base_config(),
            TokenIssuer::provider(),
        );
        let root = env!("CARGO_MANIFEST_DIR");
        let read = |path: &str| std::fs::read_to_string(format!("{root}/{path}")).unwrap();
        let (claim, leave, payment) = (
            read("policies/workflows/expense-claim.yaml"),
            read("policies/workflows/leave-request.yaml"),
            read("tests/fixtures/workflows/supplier-payment.yaml"),
        );
        let files = [
            ("jwks.json", issuer.jwks_file()),
            ("workflows/expense-claim.yaml", claim),
            ("workflows/leave-request.yaml", leave),
            ("workflows/supplier-payment.yaml", payment),
        ];
        let files: Vec<(&str, &str)> = files.iter().map(|(n, c)| (*n, c.as_str())).collect();
        let inner = super::Gateway::launch(&yaml, &users(), &files).await;
        Self { inner, issuer }
    }

    /// Calls `{base}/api/workflow/v1{path}` with `body` sent exactly as written, and extra `headers`.
    pub async fn call_raw(&self, auth: &Auth, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
        api::call_raw(
            &self.inner,
            auth,
            method,
            &format!("/api/workflow/v1{path}"),
            body,
            headers,
        )
        .await
    }

    /// A bearer token the gateway accepts.
    pub fn token(&self, user: &str, groups: &[&str]) -> String {
        self.issuer.token(user, groups)
    }

    /// Calls `{base}/api/workflow/v1{path}`.
    pub async fn call(&self, auth: &Auth, method: &str, path: &str, body: Option<Value>) -> Reply {
        api::call(&self.inner, auth, method, &format!("/api/workflow/v1{path}"), body).await
    }
}

/// The body of an expense claim the shipped `expense-claim` definition (workflow 1) accepts.
pub fn claim() -> Value {
    json!({"folio": "Conference trip", "priority": 2,
           "dataFields": {"Amount": 310.75, "Currency": "EUR", "Description": "Train and hotel"},
           "xmlFields": {"Receipts": "<receipts/>"}})
}

/// Starts an expense claim as `auth` (201 with its `Location`) and returns the instance id.
pub async fn start_claim(gw: &Gateway, auth: &Auth) -> i64 {
    let reply = gw.call(auth, "POST", "/workflows/1", Some(claim())).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let id = reply.json.as_i64().expect("the body is the instance id");
    assert_eq!(
        reply.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/api/workflow/v1/instances/{id}").as_str())
    );
    id
}

/// The one task in `auth`'s worklist (asserts there is exactly one).
pub async fn only_task(gw: &Gateway, auth: &Auth) -> Value {
    let reply = gw.call(auth, "GET", "/tasks", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["itemCount"], 1, "{}", reply.text);
    reply.json["tasks"][0].clone()
}

/// A task's serial number.
pub fn serial(task: &Value) -> String {
    task["serialNumber"].as_str().expect("a serial number").to_string()
}
