//! A real OpenID Connect provider: the `oidc-provider` npm package (`tests/idp`, installed by
//! `.ci/bootstrap` with `npm ci`), issuing JWT access tokens by client credentials with resource indicators.

use super::{require_tool, wait_for, Killed};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
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
        let node = require_tool("node");
        let idp = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp");
        assert!(
            idp.join("node_modules/oidc-provider/package.json").is_file(),
            "oidc-provider is not installed in {}: run .ci/bootstrap (npm ci there)",
            idp.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("oidc-provider.log");
        let port = crate::support::free_port();
        let child = Command::new(node)
            .arg(idp.join("oidc-server.mjs"))
            .arg(port.to_string())
            .current_dir(&idp)
            .env("NODE_ENV", "development")
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
}

/// The decoded JOSE header of `token`.
pub fn header(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}
