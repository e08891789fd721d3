//! An Azure-AD-shaped token endpoint for token exchange: `/{tenant}/oauth2/v2.0/token` answers the
//! on-behalf-of grant (`urn:ietf:params:oauth:grant-type:jwt-bearer`, `requested_token_use=on_behalf_of`) and
//! RFC 8693 token exchange as Azure AD and a security token service do. The `assertion` / `subject_token` must
//! be a valid token for the gateway's audience (signature, issuer, audience, expiry checked against the inbound
//! issuer's public key); the token it issues is signed with its own key, its `aud` the downstream resource
//! (`scope` without `/.default`, or `audience`/`resource`) and its user the subject's. It counts its calls.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use authgate_testkit::{now, SigningKey, TestAlg, TEST_AUDIENCE, TEST_ISSUER};

/// The tenant it serves.
pub const TENANT: &str = "contoso.onmicrosoft.com";
/// The gateway's application (the middle tier of on-behalf-of).
pub const CLIENT_ID: &str = "0f0e0d0c-1111-4222-8333-444455556666";
/// Its secret.
pub const CLIENT_SECRET: &str = "obo-client-secret-Zq1";
/// The issuer of the tokens it issues.
pub const ISSUER: &str = "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/";

/// A running token endpoint.
#[derive(Clone)]
pub struct Sts {
    pub addr: SocketAddr,
    state: Arc<Inner>,
}

struct Inner {
    /// The public key inbound tokens are checked with.
    inbound: jsonwebtoken::DecodingKey,
    /// The key it signs with.
    key: SigningKey,
    calls: AtomicUsize,
    forms: Mutex<Vec<HashMap<String, String>>>,
    /// Error code answered instead of a token, if set.
    refuse: Mutex<Option<String>>,
}

fn error(status: StatusCode, code: &str, text: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({"error": code, "error_description": format!("AADSTS50000: {text}"), "error_codes": [50000]})),
    )
}

async fn token(State(sts): State<Sts>, Path(tenant): Path<String>, body: String) -> (StatusCode, Json<Value>) {
    let state = &sts.state;
    state.calls.fetch_add(1, Ordering::SeqCst);
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    state.forms.lock().unwrap().push(form.clone());
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if tenant != TENANT {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "Tenant not found.");
    }
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client secret provided.",
        );
    }
    if let Some(code) = state.refuse.lock().unwrap().clone() {
        return error(StatusCode::BAD_REQUEST, &code, "Refused by the test.");
    }
    let (subject, audience) = match field("grant_type") {
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            if field("requested_token_use") != "on_behalf_of" {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "requested_token_use missing.",
                );
            }
            let scope = field("scope");
            let audience = scope
                .split(' ')
                .next()
                .unwrap_or_default()
                .trim_end_matches("/.default");
            (field("assertion"), audience.to_string())
        }
        "urn:ietf:params:oauth:grant-type:token-exchange" => {
            if field("subject_token_type") != "urn:ietf:params:oauth:token-type:access_token" {
                return error(StatusCode::BAD_REQUEST, "invalid_request", "subject_token_type.");
            }
            let audience = [field("audience"), field("resource")]
                .into_iter()
                .find(|a| !a.is_empty());
            (field("subject_token"), audience.unwrap_or_default().to_string())
        }
        _ => return error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Grant type."),
    };
    if audience.is_empty() {
        return error(StatusCode::BAD_REQUEST, "invalid_scope", "No resource named.");
    }
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[TEST_AUDIENCE]);
    validation.set_issuer(&[TEST_ISSUER]);
    let claims = match jsonwebtoken::decode::<Value>(subject, &state.inbound, &validation) {
        Ok(data) => data.claims,
        Err(_) => return error(StatusCode::BAD_REQUEST, "invalid_grant", "Assertion is not valid."),
    };
    let user = claims["preferred_username"].as_str().unwrap_or_default();
    let issued = state.key.mint(&json!({
        "iss": ISSUER, "aud": audience, "exp": now() + 3600, "iat": now(), "nbf": now(),
        "upn": user, "appid": CLIENT_ID, "n": state.calls.load(Ordering::SeqCst),
    }));
    (
        StatusCode::OK,
        Json(json!({
            "token_type": "Bearer", "scope": field("scope"), "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": issued,
        })),
    )
}

impl Sts {
    /// Starts it, checking inbound tokens with the first key of the JWKS document `inbound_jwks`.
    pub async fn start(inbound_jwks: &str) -> Self {
        let jwks: Value = serde_json::from_str(inbound_jwks).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sts = Sts {
            addr: listener.local_addr().unwrap(),
            state: Arc::new(Inner {
                inbound: jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
                key: SigningKey::generate(TestAlg::RS256, "sts"),
                calls: AtomicUsize::new(0),
                forms: Mutex::new(Vec::new()),
                refuse: Mutex::new(None),
            }),
        };
        let router = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .with_state(sts.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        sts
    }

    /// The token endpoint URL.
    pub fn token_url(&self) -> String {
        format!("http://{}/{TENANT}/oauth2/v2.0/token", self.addr)
    }

    /// Token requests received.
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// The forms received.
    pub fn forms(&self) -> Vec<HashMap<String, String>> {
        self.state.forms.lock().unwrap().clone()
    }

    /// Answers `code` instead of a token from now on (`None`: tokens again).
    pub fn refuse_with(&self, code: Option<&str>) {
        *self.state.refuse.lock().unwrap() = code.map(str::to_string);
    }

    /// A validation of the tokens it issues for `audience` (what a downstream service checks).
    pub fn validation(&self, audience: &str) -> (jsonwebtoken::DecodingKey, jsonwebtoken::Validation) {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(self.state.key.public_jwk()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[ISSUER]);
        (jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(), validation)
    }
}
