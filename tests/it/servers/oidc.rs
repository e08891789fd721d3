//! A real OpenID Connect provider: the `oidc-provider` npm package (`tests/idp`, installed by
//! `.ci/bootstrap` with `npm ci`), issuing JWT access tokens by client credentials with resource indicators,
//! or (started with [`OidcProvider::start_authorization_code`]) an authorization server for the gateway as an
//! OAuth client: authorization code + PKCE, rotating refresh tokens, its development login and consent pages.
//! [`TokenCounter`] sits in front of its token endpoint and records every exchange.

use super::{require_tool, wait_for, Killed};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running provider.
pub struct OidcProvider {
    process: Killed,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl OidcProvider {
    /// Starts the provider on a free loopback port and waits for its discovery document.
    pub async fn start() -> Self {
        Self::spawn(crate::support::free_port(), &[]).await
    }

    /// Starts the provider on `port` (taken with `free_port` before the gateways that name it were started)
    /// with the client `authgate-outbound` ([`CLIENT_ID`]) allowed to redirect to `redirect_uris`, issuing
    /// access tokens that live `access_token_ttl` seconds.
    pub async fn start_authorization_code(port: u16, redirect_uris: &[String], access_token_ttl: u32) -> Self {
        Self::spawn(
            port,
            &[
                ("AUTHCODE_REDIRECT_URIS", redirect_uris.join(" ")),
                ("ACCESS_TOKEN_TTL", access_token_ttl.to_string()),
            ],
        )
        .await
    }

    async fn spawn(port: u16, env: &[(&str, String)]) -> Self {
        let node = require_tool("node");
        let idp = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp");
        assert!(
            idp.join("node_modules/oidc-provider/package.json").is_file(),
            "oidc-provider is not installed in {}: run .ci/bootstrap (npm ci there)",
            idp.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("oidc-provider.log");
        let child = Command::new(node)
            .arg(idp.join("oidc-server.mjs"))
            .arg(port.to_string())
            .current_dir(&idp)
            .env("NODE_ENV", "development")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start node");
        let mut process = Killed(Some(child));
        let discovery = format!("http://127.0.0.1:{port}/.well-known/openid-configuration");
        wait_for("oidc-provider", Duration::from_secs(20), &mut process, &log, || async {
            matches!(crate::support::client().get(&discovery).send().await, Ok(r) if r.status() == 200)
        })
        .await;
        Self { process, port, dir }
    }

    /// The issuer (and discovery base) URL.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An access token from the client credentials grant for `resource`.
    pub async fn token(&self, resource: &str) -> String {
        let response = crate::support::client()
            .post(format!("{}/token", self.issuer()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "authgate-tests"),
                ("client_secret", "authgate-tests-secret"),
                ("resource", resource),
                ("scope", "api"),
            ])
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "token request failed: {body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Starts signing with a new key (the old one stays published); returns its `kid`.
    pub async fn rotate(&self) -> String {
        let body: Value = crate::support::client()
            .post(format!("{}/__rotate", self.issuer()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["kid"].as_str().unwrap().to_string()
    }

    /// What the provider's introspection endpoint says of `token` (as the gateway's client).
    pub async fn introspect(&self, token: &str) -> Value {
        crate::support::client()
            .post(format!("{}/token/introspection", self.issuer()))
            .form(&[
                ("token", token),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Revokes `token` at the provider (a refresh token's whole grant goes with it); the HTTP status.
    pub async fn revoke(&self, token: &str) -> u16 {
        crate::support::client()
            .post(format!("{}/token/revocation", self.issuer()))
            .form(&[
                ("token", token),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The provider's answer to `refresh_token` used directly at its token endpoint: (status, body).
    pub async fn refresh_directly(&self, refresh_token: &str) -> (u16, Value) {
        let response = crate::support::client()
            .post(format!("{}/token", self.issuer()))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    /// The provider's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("oidc-provider.log")).unwrap_or_default()
    }
}

/// The gateway's client at the provider in authorization code mode.
pub const CLIENT_ID: &str = "authgate-outbound";
/// Its secret.
pub const CLIENT_SECRET: &str = "authgate-outbound-secret";

/// One exchange at the token endpoint, as [`TokenCounter`] saw it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The form the gateway sent.
    pub form: HashMap<String, String>,
    /// The provider's status and JSON answer.
    pub status: u16,
    pub answer: Value,
}

/// A loopback HTTP proxy in front of the provider's token endpoint (`POST /token` only): it forwards each
/// request unchanged and records it with the answer, so a test counts refresh calls and sees which
/// refresh token was sent and which one came back.
#[derive(Clone)]
pub struct TokenCounter {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<Exchange>>>,
}

impl TokenCounter {
    /// Starts a proxy forwarding to the token endpoint of the provider on `provider_port` (which may start
    /// later).
    pub async fn start(provider_port: u16) -> Self {
        let seen: Arc<Mutex<Vec<Exchange>>> = Arc::default();
        let target = format!("http://127.0.0.1:{provider_port}/token");
        let record = seen.clone();
        let router = axum::Router::new().route(
            "/token",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (target, record) = (target.clone(), record.clone());
                async move {
                    let mut request = crate::support::client().post(&target).body(body.clone());
                    if let Some(ct) = headers.get("content-type") {
                        request = request.header("content-type", ct.as_bytes());
                    }
                    let response = request.send().await.unwrap();
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap_or_default();
                    record.lock().unwrap().push(Exchange {
                        form: url::form_urlencoded::parse(body.as_bytes()).into_owned().collect(),
                        status,
                        answer: serde_json::from_str(&text).unwrap_or(Value::Null),
                    });
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        text,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, seen }
    }

    /// Its token endpoint URL.
    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// Every exchange so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.seen.lock().unwrap().clone()
    }

    /// The exchanges with `grant_type`.
    pub fn with_grant(&self, grant_type: &str) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|e| e.form.get("grant_type").map(String::as_str) == Some(grant_type))
            .collect()
    }
}

/// The decoded JOSE header of `token`.
pub fn header(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}
