//! Calling the built-in APIs through a running gateway: who authenticates, and the reply as status,
//! headers and JSON.

use super::{client, Gateway};
use authgate_testkit::{jwks, now, SigningKey, TestAlg, TEST_AUDIENCE, TEST_ISSUER};
use serde_json::{json, Value};

/// How a request authenticates.
pub enum Auth {
    /// Basic with the standard test password `<name>-pw`.
    Basic(&'static str),
    /// A bearer token.
    Bearer(String),
    /// No credentials.
    None,
}

/// A response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
    pub text: String,
}

/// A bearer-token issuer the gateway trusts: write [`TokenIssuer::jwks_file`] next to the config as
/// `jwks.json` and use [`TokenIssuer::provider`] in its `providers:` list.
pub struct TokenIssuer {
    key: SigningKey,
}

impl TokenIssuer {
    pub fn new() -> Self {
        Self {
            key: SigningKey::generate(TestAlg::RS256, "k1"),
        }
    }

    /// The JWKS document (contents of `jwks.json`).
    pub fn jwks_file(&self) -> String {
        jwks([&self.key]).to_string()
    }

    /// A `providers:` entry reading `jwks.json`, mapping users to the `aad` user manager.
    pub fn provider() -> String {
        format!(
            "  - {{name: test, issuer: \"{TEST_ISSUER}\", audiences: [\"{TEST_AUDIENCE}\"], jwks: {{file: jwks.json}}, user_manager: aad}}\n"
        )
    }

    /// A token with `claims`, signed with the key the gateway trusts.
    pub fn mint(&self, claims: &Value) -> String {
        self.key.mint(claims)
    }

    /// A valid token for `user` in `groups`.
    pub fn token(&self, user: &str, groups: &[&str]) -> String {
        self.key.mint(&json!({
            "iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "exp": now() + 600, "iat": now(),
            "preferred_username": user, "groups": groups,
        }))
    }
}

/// Sends `method {base}{path}` through `gateway` as `auth`, with an optional JSON body.
pub async fn call(gateway: &Gateway, auth: &Auth, method: &str, path: &str, body: Option<Value>) -> Reply {
    let request = authenticated(gateway, auth, method, path, &[]);
    reply(match body {
        Some(body) => request.json(&body),
        None => request,
    })
    .await
}

/// Sends `method {base}{path}` with `body` exactly as given (`application/json; charset=utf-8`, as .NET's
/// `StringContent` sends it) and extra `headers`.
pub async fn call_raw(
    gateway: &Gateway,
    auth: &Auth,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let request = authenticated(gateway, auth, method, path, headers)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string());
    reply(request).await
}

fn authenticated(
    gateway: &Gateway,
    auth: &Auth,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let mut request = client().request(method.parse().expect("an HTTP method"), gateway.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    match auth {
        Auth::Basic(user) => request.basic_auth(user, Some(format!("{user}-pw"))),
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::None => request,
    }
}

async fn reply(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a complete body");
    Reply {
        status,
        headers,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}
