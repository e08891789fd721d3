//! A mock Azure AD token endpoint (`/{tenant}/oauth2/token`) answering the password grant the way Azure AD
//! does: tokens for good credentials, `AADSTS` error codes for MFA, wrong passwords, missing consent and a
//! wrong client secret. It records every form it received.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The tenant the mock serves.
pub const TENANT: &str = "contoso.onmicrosoft.com";
/// The tenant id in its tokens.
pub const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The gateway's application.
pub const CLIENT_ID: &str = "5d1b6a4e-5f6b-4c1e-9d0a-1b2c3d4e5f60";
/// Its secret.
pub const CLIENT_SECRET: &str = "aad-client-secret-7Qx";

/// Accounts: (user, password, AADSTS code answered after the password was checked; 0 = tokens).
const ACCOUNTS: [(&str, &str, u32); 6] = [
    ("erin@contoso.com", "erin-pw", 0),
    ("mfa@contoso.com", "mfa-pw", 50076),
    ("enrol@contoso.com", "enrol-pw", 50079),
    ("noconsent@contoso.com", "noconsent-pw", 65001),
    ("adminonly@contoso.com", "adminonly-pw", 90094),
    ("disabled@contoso.com", "disabled-pw", 50057),
];

/// A running mock.
#[derive(Clone)]
pub struct AadMock {
    /// Where it listens.
    pub addr: SocketAddr,
    forms: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

fn aad_error(status: StatusCode, error: &str, code: u32, text: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0000\r\nCorrelation ID: 0000"),
            "error_codes": [code],
            "timestamp": "2024-01-01 00:00:00Z",
        })),
    )
}

fn id_token(upn: &str) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        b64(json!({"typ": "JWT", "alg": "RS256", "kid": "mock"})),
        b64(
            json!({"aud": CLIENT_ID, "iss": format!("https://sts.windows.net/{TENANT_ID}/"),
                   "upn": upn, "unique_name": upn, "name": "Erin Example", "tid": TENANT_ID,
                   "groups": ["b2d4c6e8-0000-4000-8000-000000000001"]})
        ),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("not-checked")
    )
}

async fn token(State(mock): State<AadMock>, Path(tenant): Path<String>, body: String) -> (StatusCode, Json<Value>) {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    mock.forms.lock().unwrap().push(form.clone());
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if tenant != TENANT {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, "Tenant not found.");
    }
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        );
    }
    if field("grant_type") != "password" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "Unsupported grant type.",
        );
    }
    let account = ACCOUNTS
        .iter()
        .find(|(user, password, _)| user.eq_ignore_ascii_case(field("username")) && *password == field("password"));
    match account {
        None => aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.",
        ),
        Some((user, _, 0)) => (
            StatusCode::OK,
            Json(json!({
                "token_type": "Bearer",
                "expires_in": "3599",
                "resource": field("resource"),
                "access_token": "opaque-access-token",
                "id_token": id_token(user),
            })),
        ),
        Some((_, _, code @ (50076 | 50079))) => aad_error(
            StatusCode::BAD_REQUEST,
            if *code == 50076 {
                "invalid_grant"
            } else {
                "interaction_required"
            },
            *code,
            "Due to a configuration change made by your administrator, you must use multi-factor authentication.",
        ),
        Some((_, _, 50057)) => aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50057,
            "User account is disabled.",
        ),
        Some((_, _, code)) => aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            *code,
            "The user or administrator has not consented to use the application.",
        ),
    }
}

impl AadMock {
    /// Starts the mock on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mock = Self {
            addr: listener.local_addr().unwrap(),
            forms: Arc::default(),
        };
        let router = Router::new()
            .route("/{tenant}/oauth2/token", post(token))
            .with_state(mock.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        mock
    }

    /// `http://addr` (the authority).
    pub fn authority(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every form received so far.
    pub fn forms(&self) -> Vec<HashMap<String, String>> {
        self.forms.lock().unwrap().clone()
    }
}
