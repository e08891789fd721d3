//! The browser side of the authorization-code flow, on the built-in API socket:
//!
//! - `GET /api/oauth/v1/resources/{name}/authorize[?return_url=/relative]`: a new `state` (256 random bits,
//!   stored as its SHA-256 with the user, the resource, the sealed PKCE verifier and a digest of a fresh
//!   browser-binding cookie, for 10 minutes), then 302 to the provider's authorization endpoint with the
//!   authorization-stage parameters, `state` and the S256 `code_challenge`.
//! - `GET /Identity/token/oauth/2?code=..&state=..` (K2's callback path): the state is consumed first (single
//!   use, whatever happens next), then checked: not expired, the binding cookie of this browser, the same
//!   user. The code is exchanged with the token-stage parameters and the tokens are sealed and stored. Every
//!   refusal is an HTML page that stores nothing.

use super::endpoint::request_token;
use super::params::{parameters, Parameter};
use super::resource::{GrantKind, Stage};
use super::service::Outbound;
use super::store::{AuthorizationState, TokenUpdate};
use super::vault::{Binding, ACCESS_TOKEN, PKCE_VERIFIER, REFRESH_TOKEN};
use crate::{ApiError, ApiState, Caller};
use authgate_core::config::Secret;
use aws_lc_rs::digest::{digest, SHA256};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// How long a user has to come back from the provider.
pub const STATE_LIFETIME_SECONDS: i64 = 600;
/// The callback path (K2's).
pub const CALLBACK_PATH: &str = "/Identity/token/oauth/2";
/// The path the binding cookie is sent to.
const COOKIE_PATH: &str = "/Identity/token/oauth";
/// The binding cookie's name prefix; the rest is the start of the state's id, so two authorizations under way
/// in one browser do not overwrite each other's cookie.
const COOKIE_PREFIX: &str = "authgate_oauth_";
/// How long the code exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no random bytes"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Lower-case hex of the SHA-256 of `text`.
fn sha256_hex(text: &str) -> String {
    digest(&SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The S256 code challenge of `verifier` (RFC 7636 §4.2).
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()).as_ref())
}

fn cookie_name(state_id: &str) -> String {
    format!("{COOKIE_PREFIX}{}", &state_id[..16.min(state_id.len())])
}

/// A `return_url` the browser may be sent to: a path on this gateway (`/x`), never another origin (`//host`,
/// `/\host`, `https://...`), without control characters.
pub fn valid_return_url(url: &str) -> bool {
    url.starts_with('/')
        && !url.starts_with("//")
        && !url.starts_with("/\\")
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_control() || c == '\\')
}

fn not_configured() -> ApiError {
    ApiError::not_found("outbound OAuth is not configured on this gateway (no `oauth:` section)")
}

pub(crate) fn outbound(state: &ApiState) -> Result<&Arc<Outbound>, ApiError> {
    state.outbound.as_ref().ok_or_else(not_configured)
}

/// Whether the request reached the gateway over TLS (the proxy sets `X-Forwarded-Proto`).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

#[derive(Deserialize)]
pub(crate) struct AuthorizeQuery {
    return_url: Option<String>,
}

/// `GET /api/oauth/v1/resources/{name}/authorize`.
pub(crate) async fn authorize(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<AuthorizeQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let outbound = outbound(&state)?;
    let catalog = outbound.catalog();
    let resource = catalog
        .resource(&name)
        .ok_or_else(|| ApiError::not_found(format!("no OAuth resource named {name:?}")))?;
    let ty = catalog
        .type_of(resource)
        .ok_or_else(|| ApiError::not_found(format!("no OAuth resource named {name:?}")))?;
    if ty.kind != GrantKind::AuthorizationCode {
        return Err(ApiError::bad_request(format!(
            "{:?} obtains its tokens without a browser (type '{}'); there is nothing to authorize",
            resource.name, ty.name
        )));
    }
    let Some(endpoint) = resource.authorization_endpoint.clone() else {
        return Err(ApiError::bad_request(format!(
            "{:?} has no authorization endpoint",
            resource.name
        )));
    };
    if let Some(url) = &query.return_url {
        if !valid_return_url(url) {
            return Err(ApiError::bad_request(
                "return_url must be a path on this gateway (starting with a single '/'), not another site",
            ));
        }
    }
    let state_value = random_token()?;
    let id = sha256_hex(&state_value);
    let cookie_value = random_token()?;
    let vault = outbound.vault();
    let mut params: Vec<Parameter> = parameters(ty, resource, Stage::Authorization);
    let pkce_verifier = if ty.pkce {
        let verifier = random_token()?;
        params.push(param("code_challenge", code_challenge(&verifier)));
        params.push(param("code_challenge_method", "S256".into()));
        let sealed = vault
            .seal(
                Binding {
                    user: &caller.user,
                    resource: &resource.name,
                    field: PKCE_VERIFIER,
                },
                verifier.as_bytes(),
            )
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
        Some(sealed)
    } else {
        None
    };
    params.push(param("state", state_value));
    let now = now();
    let store = outbound.store();
    if let Err(e) = store.purge_expired_states(now).await {
        tracing::warn!(error = %e, "cannot purge expired OAuth authorization states");
    }
    store
        .create_state(AuthorizationState {
            id: id.clone(),
            user: caller.user.clone(),
            resource: resource.name.clone(),
            pkce_verifier,
            return_url: query.return_url,
            browser_binding: sha256_hex(&cookie_value),
            expires_at: now + STATE_LIFETIME_SECONDS,
        })
        .await?;
    let mut location = endpoint.to_string();
    location.push(if endpoint.query().is_some() { '&' } else { '?' });
    location.push_str(&super::params::render(&params));
    let cookie = format!(
        "{}={cookie_value}; HttpOnly; SameSite=Lax; Path={COOKIE_PATH}; Max-Age={STATE_LIFETIME_SECONDS}{}",
        cookie_name(&id),
        if over_tls(&headers) { "; Secure" } else { "" }
    );
    tracing::info!(user = %caller.user, resource = %resource.name, "outbound OAuth authorization started");
    let mut response = StatusCode::FOUND.into_response();
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&location)
            .map_err(|_| ApiError::bad_request("the authorization URL is not a valid header"))?,
    );
    h.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|_| ApiError::bad_request("cookie"))?,
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn param(name: &str, value: String) -> Parameter {
    Parameter {
        name: name.into(),
        value: Secret::new(value),
        url_encode: true,
    }
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// A small HTML page (every text escaped).
pub(crate) fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{m}</p></body></html>\n",
        t = escape(title),
        m = escape(message)
    );
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The value of cookie `name` in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The code shown from a provider's `error` parameter: its own character set, else `invalid_request`.
fn shown_code(code: &str) -> &str {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        code
    } else {
        "invalid_request"
    }
}

const INVALID_STATE: &str = "This authorization link is not valid: it has expired (after 10 minutes), was \
     already used, or was not issued by this gateway. Nothing was stored. Start the authorization again.";

/// `GET /Identity/token/oauth/2`.
pub(crate) async fn callback(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    match handle_callback(&state, caller, query, &headers).await {
        Ok(response) | Err(response) => response,
    }
}

async fn handle_callback(
    state: &ApiState,
    caller: Caller,
    query: CallbackQuery,
    headers: &HeaderMap,
) -> Result<Response, Response> {
    let title = "Authorization failed";
    let outbound = outbound(state).map_err(IntoResponse::into_response)?;
    let Some(state_value) = query.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 512) else {
        return Err(page(
            StatusCode::BAD_REQUEST,
            title,
            "The provider's answer has no state. Nothing was stored.",
        ));
    };
    let id = sha256_hex(state_value);
    let now = now();
    // Consumed before anything is checked: whatever happens below, this state cannot be used again.
    let pending = match outbound.store().consume_state(&id, now).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return Err(page(StatusCode::BAD_REQUEST, title, INVALID_STATE)),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the OAuth authorization state");
            return Err(page(
                StatusCode::SERVICE_UNAVAILABLE,
                title,
                "The gateway's database is unavailable; try again later.",
            ));
        }
    };
    let clear_cookie = format!(
        "{}=; HttpOnly; SameSite=Lax; Path={COOKIE_PATH}; Max-Age=0",
        cookie_name(&id)
    );
    let with_clear = |mut response: Response| {
        if let Ok(value) = HeaderValue::from_str(&clear_cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        response
    };
    let bound = cookie(headers, &cookie_name(&id))
        .map(|value| sha256_hex(&value))
        .is_some_and(|got| {
            aws_lc_rs::constant_time::verify_slices_are_equal(got.as_bytes(), pending.browser_binding.as_bytes())
                .is_ok()
        });
    if !bound {
        tracing::warn!(user = %caller.user, resource = %pending.resource, "OAuth callback from another browser refused");
        return Err(with_clear(page(
            StatusCode::BAD_REQUEST,
            title,
            "This authorization was started in another browser (or its cookie is gone). Nothing was stored. \
             Start the authorization again in this browser.",
        )));
    }
    if !caller.is_user(&pending.user) {
        tracing::warn!(user = %caller.user, resource = %pending.resource, "OAuth callback for another user refused");
        return Err(with_clear(page(
            StatusCode::FORBIDDEN,
            title,
            "This authorization was started by another user. Nothing was stored.",
        )));
    }
    if let Some(error) = query.error.as_deref() {
        let code = shown_code(error);
        return Err(with_clear(page(
            if code == "access_denied" {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_GATEWAY
            },
            title,
            &format!(
                "The provider of {} did not authorize the connection ({code}). Nothing was stored.",
                pending.resource
            ),
        )));
    }
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
        return Err(with_clear(page(
            StatusCode::BAD_REQUEST,
            title,
            "The provider's answer has no code. Nothing was stored.",
        )));
    };
    let catalog = outbound.catalog();
    let (Some(resource), Some(ty)) = (
        catalog.resource(&pending.resource),
        catalog.resource(&pending.resource).and_then(|r| catalog.type_of(r)),
    ) else {
        return Err(with_clear(page(
            StatusCode::NOT_FOUND,
            title,
            &format!(
                "The resource {} is no longer configured. Nothing was stored.",
                pending.resource
            ),
        )));
    };
    let vault = outbound.vault();
    let internal = |what: &str| {
        tracing::error!(resource = %resource.name, "{what}");
        with_clear(page(
            StatusCode::INTERNAL_SERVER_ERROR,
            title,
            "The gateway could not complete the authorization. Nothing was stored.",
        ))
    };
    let mut params = parameters(ty, resource, Stage::Token);
    params.push(param("code", code.to_string()));
    if let Some(sealed) = &pending.pkce_verifier {
        let verifier = vault
            .open(
                Binding {
                    user: &pending.user,
                    resource: &pending.resource,
                    field: PKCE_VERIFIER,
                },
                sealed,
            )
            .map_err(|e| internal(&format!("cannot open the PKCE verifier: {e}")))?;
        params.push(param("code_verifier", verifier.expose().to_string()));
    }
    let tokens = match request_token(outbound.client(), &resource.token_endpoint, &params, EXCHANGE_TIMEOUT).await {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::warn!(resource = %resource.name, error = %e, "OAuth code exchange failed");
            let shown = match &e {
                super::endpoint::EndpointError::Refused { error, .. } => format!("it refused ({error})"),
                _ => "it could not be reached or gave an unusable answer".to_string(),
            };
            return Err(with_clear(page(
                StatusCode::BAD_GATEWAY,
                title,
                &format!(
                    "The gateway could not exchange the authorization code at the provider of {}: {shown}. \
                     Nothing was stored.",
                    resource.name
                ),
            )));
        }
    };
    let seal = |field: &'static str, text: &str| {
        vault.seal(
            Binding {
                user: &pending.user,
                resource: &resource.name,
                field,
            },
            text.as_bytes(),
        )
    };
    let access = seal(ACCESS_TOKEN, &tokens.access_token).map_err(|e| internal(&e.to_string()))?;
    let refresh = match &tokens.refresh_token {
        Some(t) => Some(seal(REFRESH_TOKEN, t).map_err(|e| internal(&e.to_string()))?),
        None => None,
    };
    let update = TokenUpdate {
        resource_type: ty.name.clone(),
        access_token: access,
        refresh_token: refresh,
        expires_at: tokens.expires_in.map(|s| now + s),
    };
    if let Err(e) = outbound
        .store()
        .upsert_connection(&pending.user, &resource.name, update, now)
        .await
    {
        tracing::error!(error = %e, "cannot store the OAuth connection");
        return Err(with_clear(page(
            StatusCode::SERVICE_UNAVAILABLE,
            title,
            "The gateway's database is unavailable; nothing was stored. Try again later.",
        )));
    }
    tracing::info!(user = %pending.user, resource = %resource.name, "outbound OAuth connection stored");
    Ok(with_clear(match pending.return_url.filter(|u| valid_return_url(u)) {
        Some(url) => {
            let mut response = StatusCode::FOUND.into_response();
            if let Ok(value) = HeaderValue::from_str(&url) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        None => page(
            StatusCode::OK,
            &format!("Connected to {}", resource.name),
            &format!(
                "The gateway can now act on your behalf against {}. You can close this page.",
                resource.name
            ),
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_urls_stay_on_this_gateway() {
        assert!(valid_return_url("/apps/x?y=1"));
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "x",
            "",
            "/a\nb",
            "/a\\b",
        ] {
            assert!(!valid_return_url(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_code_challenge_is_rfc_7636s() {
        // RFC 7636 Appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pages_escape_what_they_show() {
        let shown = escape("<script>&'\"");
        assert_eq!(shown, "&lt;script&gt;&amp;&#39;&quot;");
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; authgate_oauth_ab=xyz; b=2".parse().unwrap());
        assert_eq!(cookie(&h, "authgate_oauth_ab").as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "authgate_oauth_cd"), None);
    }
}
