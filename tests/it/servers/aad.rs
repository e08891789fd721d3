//! A mock Azure AD token endpoint (`/{tenant}/oauth2/token`) answering the password grant the way Azure AD
//! does: tokens for good credentials, `AADSTS` error codes for MFA, wrong passwords, missing consent and a
//! wrong client secret. It records every form it received.
//!
//! For outbound OAuth ("Microsoft Online" resource types) it also serves the authorization code flow, v1 and
//! v2 side by side, as Azure AD differs between them:
//! - `GET /{tenant}/oauth2/authorize` (v1) and `/{tenant}/oauth2/v2.0/authorize` (v2): the user is taken to
//!   be signed in as [`SIGNED_IN`] already; the browser is sent back to `redirect_uri` with `code`, `state`
//!   and `session_state`. The client id, `response_type=code` and `redirect_uri` are checked; v1 wants
//!   `resource` (and refuses `scope`-only requests), v2 wants `scope` and refuses `resource` (AADSTS901002).
//! - `POST /{tenant}/oauth2/token` (v1) and `/{tenant}/oauth2/v2.0/token` (v2), `authorization_code` and
//!   `refresh_token` grants: client id and secret; for a code, single use, the same `redirect_uri` and the
//!   PKCE verifier (S256) when a challenge came with the authorization; v1 REQUIRES `resource` on both
//!   grants (AADSTS50001 otherwise), v2 requires `scope` and refuses `resource`. Access tokens live
//!   [`AadMock::set_lifetime`] seconds (default 3599; v1 says so as a string, as Azure AD v1 does); refresh
//!   tokens rotate on every use and a used one is `invalid_grant`.

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

/// The user the authorize endpoints take to be signed in.
pub const SIGNED_IN: &str = "alice@contoso.com";

/// A running mock.
#[derive(Clone)]
pub struct AadMock {
    /// Where it listens.
    pub addr: SocketAddr,
    forms: Arc<Mutex<Vec<HashMap<String, String>>>>,
    flow: Arc<Mutex<Flow>>,
}

/// The authorization code flow's state.
#[derive(Default)]
struct Flow {
    /// Every authorization request's query, in order.
    authorizations: Vec<HashMap<String, String>>,
    /// Issued codes: what the token request must match.
    codes: HashMap<String, Grant>,
    /// Live refresh tokens (a used one is removed: rotation).
    refresh_tokens: HashMap<String, Grant>,
    /// Tokens issued so far (numbers them).
    issued: usize,
    /// Access-token lifetime in seconds (0: the default, 3599).
    lifetime: i64,
}

/// What a code or refresh token was issued for.
#[derive(Clone)]
struct Grant {
    version: Version,
    redirect_uri: String,
    /// `resource` (v1) or `scope` (v2).
    audience: String,
    /// The PKCE challenge (S256) sent with the authorization, if any.
    challenge: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
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
    if matches!(field("grant_type"), "authorization_code" | "refresh_token") {
        return code_or_refresh(&mock, Version::V1, &form);
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

/// A query or form as a map.
fn fields(text: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes()).into_owned().collect()
}

/// The audience parameter of `version` from `fields`, or the AADSTS refusal.
fn audience(version: Version, fields: &HashMap<String, String>) -> Result<String, (StatusCode, Json<Value>)> {
    let (resource, scope) = (fields.get("resource"), fields.get("scope"));
    match (version, resource, scope) {
        (Version::V1, Some(r), _) if !r.is_empty() => Ok(r.clone()),
        (Version::V1, _, _) => Err(aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            50001,
            "The resource principal named was not found: the v1 endpoint needs 'resource'.",
        )),
        (Version::V2, Some(_), _) => Err(aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            901002,
            "The 'resource' request parameter is not supported.",
        )),
        (Version::V2, None, Some(s)) if !s.is_empty() => Ok(s.clone()),
        (Version::V2, None, _) => Err(aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        )),
    }
}

async fn authorize_v1(state: State<AadMock>, tenant: Path<String>, uri: axum::http::Uri) -> axum::response::Response {
    authorize(state, tenant, uri, Version::V1).await
}

async fn authorize_v2(state: State<AadMock>, tenant: Path<String>, uri: axum::http::Uri) -> axum::response::Response {
    authorize(state, tenant, uri, Version::V2).await
}

async fn authorize(
    State(mock): State<AadMock>,
    Path(tenant): Path<String>,
    uri: axum::http::Uri,
    version: Version,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let query = fields(uri.query().unwrap_or(""));
    let mut flow = mock.flow.lock().unwrap();
    flow.authorizations.push(query.clone());
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    if tenant != TENANT || field("client_id") != CLIENT_ID || field("response_type") != "code" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            700016,
            "Application not found.",
        )
        .into_response();
    }
    let Ok(redirect) = url::Url::parse(&field("redirect_uri")) else {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 50011, "No reply address.").into_response();
    };
    let audience = match audience(version, &query) {
        Ok(a) => a,
        Err(refusal) => return refusal.into_response(),
    };
    let challenge = match (query.get("code_challenge"), query.get("code_challenge_method")) {
        (Some(c), Some(m)) if m == "S256" => Some(c.clone()),
        (None, None) => None,
        _ => {
            return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 50148, "Bad PKCE challenge.").into_response()
        }
    };
    flow.issued += 1;
    let code = format!("aad-code-{}", flow.issued);
    flow.codes.insert(
        code.clone(),
        Grant {
            version,
            redirect_uri: field("redirect_uri"),
            audience,
            challenge,
        },
    );
    let mut back = redirect;
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &field("state"))
        .append_pair("session_state", "5f0e5d1c-0000-4000-8000-000000000000");
    (StatusCode::FOUND, [("location", back.to_string())]).into_response()
}

async fn token_v2(State(mock): State<AadMock>, Path(tenant): Path<String>, body: String) -> (StatusCode, Json<Value>) {
    let form = fields(&body);
    mock.forms.lock().unwrap().push(form.clone());
    if tenant != TENANT {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, "Tenant not found.");
    }
    code_or_refresh(&mock, Version::V2, &form)
}

/// The `authorization_code` and `refresh_token` grants of `version`.
fn code_or_refresh(mock: &AadMock, version: Version, form: &HashMap<String, String>) -> (StatusCode, Json<Value>) {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        );
    }
    let audience = match audience(version, form) {
        Ok(a) => a,
        Err(refusal) => return refusal,
    };
    let mut flow = mock.flow.lock().unwrap();
    let invalid = |text: &str| aad_error(StatusCode::BAD_REQUEST, "invalid_grant", 70008, text);
    let grant = match field("grant_type") {
        "authorization_code" => {
            let Some(grant) = flow.codes.remove(field("code")) else {
                return invalid("The provided authorization code is invalid or has been used.");
            };
            if grant.redirect_uri != field("redirect_uri") {
                return invalid("The reply URL does not match the one of the authorization request.");
            }
            if let Some(challenge) = &grant.challenge {
                use base64::Engine;
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA256,
                    field("code_verifier").as_bytes(),
                ));
                if &computed != challenge {
                    return invalid("The code_verifier does not match the code_challenge.");
                }
            }
            grant
        }
        "refresh_token" => match flow.refresh_tokens.remove(field("refresh_token")) {
            Some(grant) => grant,
            None => return invalid("The refresh token has expired or has been used."),
        },
        _ => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                "Unsupported grant type.",
            )
        }
    };
    if grant.version != version || grant.audience != audience {
        return invalid("The grant was issued for another endpoint or resource.");
    }
    flow.issued += 1;
    let n = flow.issued;
    let refresh_token = format!("aad-rt-{n}");
    flow.refresh_tokens.insert(refresh_token.clone(), grant);
    let lifetime = if flow.lifetime > 0 { flow.lifetime } else { 3599 };
    let mut answer = json!({
        "token_type": "Bearer",
        "access_token": format!("aad-at-{n}"),
        "refresh_token": refresh_token,
        "id_token": id_token(SIGNED_IN),
    });
    match version {
        Version::V1 => {
            answer["expires_in"] = json!(lifetime.to_string());
            answer["resource"] = json!(audience);
        }
        Version::V2 => {
            answer["expires_in"] = json!(lifetime);
            answer["scope"] = json!(audience);
        }
    }
    (StatusCode::OK, Json(answer))
}

impl AadMock {
    /// Starts the mock on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mock = Self {
            addr: listener.local_addr().unwrap(),
            forms: Arc::default(),
            flow: Arc::default(),
        };
        let router = Router::new()
            .route("/{tenant}/oauth2/token", post(token))
            .route("/{tenant}/oauth2/v2.0/token", post(token_v2))
            .route("/{tenant}/oauth2/authorize", axum::routing::get(authorize_v1))
            .route("/{tenant}/oauth2/v2.0/authorize", axum::routing::get(authorize_v2))
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

    /// The forms received with `grant_type`.
    pub fn forms_with_grant(&self, grant_type: &str) -> Vec<HashMap<String, String>> {
        self.forms()
            .into_iter()
            .filter(|f| f.get("grant_type").map(String::as_str) == Some(grant_type))
            .collect()
    }

    /// Every authorization request's query so far.
    pub fn authorizations(&self) -> Vec<HashMap<String, String>> {
        self.flow.lock().unwrap().authorizations.clone()
    }

    /// Access tokens issued from now on live `seconds`.
    pub fn set_lifetime(&self, seconds: i64) {
        self.flow.lock().unwrap().lifetime = seconds;
    }
}
