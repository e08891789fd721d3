//! Runs the real gateway binary on loopback for the Workflow API tests: a test users.yaml (Basic users with
//! argon2id hashes), a JWKS file for bearer users, the shipped workflow definitions, and the built-in API
//! socket and database in the test's temporary directory. The child is killed on drop.

#![allow(dead_code)]

use authgate::testkit::{jwks, now, SigningKey, TestAlg, TEST_AUDIENCE, TEST_ISSUER};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// FQNs of the test users.
pub const ALICE: &str = "K2:CONTOSO\\alice";
pub const BOB: &str = "K2:CONTOSO\\bob";
pub const FRAN: &str = "K2:CONTOSO\\fran";
pub const GUS: &str = "K2:CONTOSO\\gus";
pub const EVE: &str = "K2:CONTOSO\\eve";
pub const ERIN: &str = "AAD:erin@contoso.onmicrosoft.com";

const USERS: [(&str, &str, &str, &str); 7] = [
    // name, user manager, groups, manager
    ("alice", "ad", "[Employees]", "bob"),
    ("bob", "ad", "[Employees, Approvers]", ""),
    ("fran", "ad", "[Finance]", ""),
    ("gus", "ad", "[Finance]", ""),
    ("eve", "ad", "[Employees]", "bob"),
    ("dave", "sql", "[Employees]", "bob"),
    ("erin@contoso.onmicrosoft.com", "aad", "[Employees]", "bob"),
];

/// How to configure the gateway.
#[derive(Debug, Clone)]
pub struct Options {
    /// `enabled` of the workflow route.
    pub workflow_enabled: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { workflow_enabled: true }
    }
}

/// A running gateway.
pub struct Gateway {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bearer signing key its provider trusts.
    pub key: SigningKey,
    /// The HTTP client.
    pub client: reqwest::Client,
    /// The temporary directory (config, users, socket, database).
    pub dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Gateway {
    /// Starts the gateway and waits until it is ready and its API socket is listening.
    pub async fn start(options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut users = String::from("users:\n");
        for (name, um, groups, manager) in USERS {
            let hash = authgate::directory::embedded::hash_password(&format!("{name}-password")).unwrap();
            users.push_str(&format!(
                "  - {{name: '{name}', user_manager: {um}, domain: CONTOSO, password_hash: '{hash}', \
                 email: '{name}@contoso.com', display_name: 'User {name}', groups: {groups}{}}}\n",
                if manager.is_empty() {
                    String::new()
                } else {
                    format!(", manager: {manager}")
                }
            ));
        }
        std::fs::write(dir.path().join("users.yaml"), users).unwrap();
        let key = SigningKey::generate(TestAlg::RS256, "k1");
        std::fs::write(dir.path().join("jwks.json"), jwks([&key]).to_string()).unwrap();
        let (port, admin) = (free_port(), free_port());
        let definitions = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies/workflows");
        let config = format!(
            r#"
listeners: [{{address: "127.0.0.1:{port}"}}]
admin: {{address: "127.0.0.1:{admin}"}}
basic: {{directory: users.yaml}}
user_managers:
  ad: {{fqn_prefix: "K2:", domain: CONTOSO}}
  aad: {{fqn_prefix: "AAD:"}}
providers:
  - {{name: test, issuer: "{TEST_ISSUER}", audiences: ["{TEST_AUDIENCE}"], jwks: {{file: jwks.json}}, user_manager: aad}}
builtin: {{socket: api.sock, database: data/workflow.db}}
workflow: {{definitions: "{}"}}
routes:
  - name: workflow
    prefix: /api/workflow/v1
    upstream: builtin
    enabled: {}
    disabled: {{status: 503, message: "The Workflow REST API is switched off on this server."}}
"#,
            definitions.display(),
            options.workflow_enabled
        );
        let config_path = dir.path().join("gateway.yaml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_authgate"))
            .args(["serve", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the authgate binary starts");
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let gateway = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            key,
            client,
            dir,
        };
        gateway.wait_ready(admin).await;
        gateway
    }

    async fn wait_ready(&self, admin: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let socket = self.dir.path().join("api.sock");
        let mut delay = Duration::from_millis(10);
        loop {
            let ready = self
                .client
                .get(format!("http://127.0.0.1:{admin}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready && socket.exists() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not become ready within 30 s"
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(200));
        }
    }

    /// A bearer token for `user` (an `aad` identity) in `groups`.
    pub fn token(&self, user: &str, groups: &[&str]) -> String {
        self.key.mint(&json!({
            "iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "exp": now() + 600, "iat": now(),
            "preferred_username": user, "groups": groups,
        }))
    }

    /// Sends a request to `{base}/api/workflow/v1{path}` as `auth` and returns status, headers and JSON body.
    pub async fn call(&self, auth: &Auth, method: &str, path: &str, body: Option<Value>) -> Reply {
        let url = format!("{}/api/workflow/v1{path}", self.base);
        let mut request = self.client.request(method.parse().unwrap(), url);
        request = match auth {
            Auth::Basic(user) => request.basic_auth(user, Some(format!("{user}-password"))),
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::None => request,
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a request authenticates.
pub enum Auth {
    /// Basic with `<name>-password`.
    Basic(&'static str),
    /// A bearer token.
    Bearer(String),
    /// No credentials.
    None,
}

/// A response.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// JSON body (`Null` when not JSON).
    pub json: Value,
    /// Raw body.
    pub text: String,
}
