//! The admin API's routes under `/admin/api/v1/`. Every request is authenticated with the gateway's own
//! authenticators (401 with a Basic challenge, so a browser can sign in) and authorized for the administrators
//! (403 JSON); every state-changing one needs the CSRF token and a same-origin `Origin`/`Referer` (403
//! `{"error":"csrf"}`, nothing changes) and is audited. Answers are JSON, `Cache-Control: no-store`.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `session` | `{user, name, display_name, csrf_token}` |
//! | GET | `settings` | `{version, settings: {key: {value, source, changed_by?, changed_at?}}, limits}`, `ETag` |
//! | PUT | `settings` | body `{version, changes: {key: value or null}}` → the new settings; 400 / 409 |
//! | GET | `audit?limit=&before=` | `{entries: [{id, at, who, action, target, before, after}], next_before}` |
//! | GET | `smartobjects` | `{smartobjects: [{name, published_name, listable, published}]}` |
//! | GET | `overview` | the host's overview, with `replicas_seen` from the store's heartbeats |
//! | GET | `lockouts` | `{users: [{name, failures, locked_until}], ips: [{ip, failures, locked_until}]}` |
//! | DELETE | `lockouts/users/{name}`, `lockouts/ips/{ip}` | 204, 404 when nothing is active; audited |
//! | POST | `inspect` | body `{token, route?}` → `{verdict, checks: [{name, ok, outcome, detail}], header, claims}` |
//! | GET | `oauth` | `{configured, resource_types, resources}` (every secret masked) |
//! | GET | `oauth/connections?user=&resource=` | `{connections: [{user, resource, status, expires_at, ...}]}` |
//! | DELETE | `oauth/connections/{resource}/{user}` | 204, 404 when none; audited |
//! | GET | `consent-url?tenant=&client_id=&redirect_uri=&resource=` | `{url, explanation}`; 400 naming the field |
//! | GET | `live` | `{at, uptime_seconds, requests, decisions, token_verify, caches}` (counters since start) |

use crate::csrf::{self, CsrfKey};
use crate::host::AdminHost;
use crate::settings::{self, effective, Invalid, Overrides, SettingKey, Source};
use crate::{consent, inspect, lockouts, oauth};
use authgate_apis::store::admin::{AdminStore, AuditRecord};
use authgate_apis::store::StoreError;
use authgate_core::identity::Identity;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The base path of the API.
pub const BASE: &str = "/admin/api/v1";

/// The client address, put in the request's extensions by the server in front.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

/// The admin API's state.
pub struct AdminState {
    host: Arc<dyn AdminHost>,
    store: Option<Arc<dyn AdminStore>>,
    csrf: OnceCell<CsrfKey>,
    /// When the API was built (the process's start, near enough), for `live`'s uptime.
    started: std::time::Instant,
}

impl AdminState {
    /// The API over `host`, with the settings and audit in `store` (`None`: no database is configured, and
    /// those calls answer 503).
    pub fn new(host: Arc<dyn AdminHost>, store: Option<Arc<dyn AdminStore>>) -> Arc<Self> {
        Arc::new(Self {
            host,
            store,
            csrf: OnceCell::new(),
            started: std::time::Instant::now(),
        })
    }

    async fn csrf_key(&self) -> Result<&CsrfKey, ApiError> {
        self.csrf
            .get_or_try_init(|| async {
                let Some(fresh) = CsrfKey::random_bytes() else {
                    tracing::error!("no randomness for the CSRF key");
                    return Err(ApiError::NoRandomness);
                };
                let bytes = match &self.store {
                    Some(store) => store.key("csrf", fresh).await?,
                    None => fresh,
                };
                Ok(CsrfKey::new(&bytes))
            })
            .await
    }

    fn store(&self) -> Result<&Arc<dyn AdminStore>, ApiError> {
        self.store.as_ref().ok_or(ApiError::NoStore)
    }

    pub(crate) fn host(&self) -> &Arc<dyn AdminHost> {
        &self.host
    }

    /// Audits a change that has been made: in the store's audit log when there is one (a failure to write it
    /// is logged, the change stands), and always as a log line (who, action, target; never a secret).
    pub(crate) async fn audit(&self, record: AuditRecord) {
        tracing::info!(user = %record.who, action = %record.action, target = %record.target, "admin API: audited change");
        if let Some(store) = &self.store {
            if let Err(e) = store.append_audit(record).await {
                tracing::error!(error = %e, "admin API: the audit record could not be written");
            }
        }
    }
}

/// The signed-in administrator.
#[derive(Debug, Clone)]
pub(crate) struct Admin(pub(crate) Arc<Identity>);

/// A refusal, as JSON.
#[derive(Debug)]
pub(crate) enum ApiError {
    Unauthenticated(String),
    Forbidden,
    Csrf,
    NotFound,
    /// Not found, with what was looked for.
    Missing(String),
    BadRequest(String),
    /// A named field is wrong.
    Field {
        field: &'static str,
        message: String,
    },
    /// A feature that is not configured.
    NotConfigured(String),
    Invalid(Invalid),
    Conflict(String),
    NoStore,
    /// The system's random source failed: no CSRF key can be made.
    NoRandomness,
    Store(StoreError),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Conflict(m),
            other => Self::Store(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::Unauthenticated(reason) => {
                let mut response = (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"error": "unauthenticated", "message": reason})),
                )
                    .into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"authgate admin\", charset=\"UTF-8\""),
                );
                return response;
            }
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                json!({"error": "forbidden", "message": "you are not an administrator of this gateway"}),
            ),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                json!({"error": "csrf", "message": "missing or wrong X-CSRF-Token, or a foreign Origin; get the token from GET /admin/api/v1/session"}),
            ),
            Self::NotFound => (StatusCode::NOT_FOUND, json!({"error": "not_found"})),
            Self::Missing(message) => (StatusCode::NOT_FOUND, json!({"error": "not_found", "message": message})),
            Self::Field { field, message } => (
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid", "field": field, "message": message}),
            ),
            Self::NotConfigured(message) => (
                StatusCode::NOT_FOUND,
                json!({"error": "not_configured", "message": message}),
            ),
            Self::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                json!({"error": "bad_request", "message": message}),
            ),
            Self::Invalid(invalid) => (
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid", "field": invalid.field, "message": invalid.message}),
            ),
            Self::Conflict(message) => (StatusCode::CONFLICT, json!({"error": "conflict", "message": message})),
            Self::NoStore => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "no_store", "message": "settings and audit need the built-in APIs' database (a builtin route)"}),
            ),
            Self::NoRandomness => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "unavailable", "message": "the system's random source failed; no CSRF token can be made"}),
            ),
            Self::Store(e) => {
                tracing::error!(error = %e, "admin API: the store failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": "store_unavailable", "message": "the database is unavailable"}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

/// The admin API's router (paths under [`BASE`]).
pub fn router(state: Arc<AdminState>) -> Router {
    let api = Router::new()
        .route("/session", get(session))
        .route("/settings", get(get_settings).put(put_settings))
        .route("/audit", get(audit))
        .route("/smartobjects", get(smartobjects))
        .route("/overview", get(overview))
        .route("/lockouts", get(lockouts::list))
        .route("/lockouts/users/{name}", delete(lockouts::unlock_user))
        .route("/lockouts/ips/{ip}", delete(lockouts::unlock_ip))
        .route("/inspect", post(inspect::inspect))
        .route("/oauth", get(oauth::overview))
        .route("/oauth/connections", get(oauth::connections))
        .route("/oauth/connections/{resource}/{user}", delete(oauth::revoke))
        .route("/consent-url", get(consent::consent_url))
        .route("/live", get(live))
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state.clone());
    // The console's pages and assets, behind the same guard.
    let console = crate::console::routes().layer(middleware::from_fn_with_state(state, guard));
    Router::new()
        .nest(BASE, api)
        .merge(console)
        .layer(middleware::map_response(|mut response: Response| async move {
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }))
}

/// Authentication, authorization and CSRF, before any handler.
async fn guard(State(state): State<Arc<AdminState>>, mut request: Request, next: Next) -> Response {
    let client = request.extensions().get::<ClientAddr>().and_then(|c| c.0);
    let (method, path, headers) = (
        request.method().clone(),
        request.uri().path().to_string(),
        request.headers().clone(),
    );
    match admit(&state, &method, &path, &headers, client).await {
        Ok(admin) => {
            request.extensions_mut().insert(admin);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

async fn admit(
    state: &AdminState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    client: Option<IpAddr>,
) -> Result<Admin, ApiError> {
    let authorization: Vec<&[u8]> = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if authorization.is_empty() {
        return Err(ApiError::Unauthenticated("sign in as an administrator".into()));
    }
    let identity = state
        .host
        .authenticate(&authorization, client)
        .await
        .map_err(ApiError::Unauthenticated)?;
    if !state.host.administrators().admits(&identity) {
        tracing::warn!(user = %identity.fqn, path = %path, "admin API: not an administrator");
        return Err(ApiError::Forbidden);
    }
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let token_ok = match headers.get(csrf::HEADER).and_then(|v| v.to_str().ok()) {
            Some(token) => state.csrf_key().await?.verify(&identity.fqn, token),
            None => false,
        };
        if !token_ok || !csrf::same_origin(text(header::HOST), text(header::ORIGIN), text(header::REFERER)) {
            tracing::warn!(user = %identity.fqn, path = %path, "admin API: CSRF check failed");
            return Err(ApiError::Csrf);
        }
    }
    Ok(Admin(Arc::new(identity)))
}

async fn session(
    State(state): State<Arc<AdminState>>,
    Extension(Admin(who)): Extension<Admin>,
) -> Result<Response, ApiError> {
    let token = state.csrf_key().await?.token(&who.fqn);
    Ok(Json(json!({
        "user": who.fqn,
        "name": who.name,
        "display_name": who.display_name,
        "csrf_token": token,
    }))
    .into_response())
}

/// The settings as the API shows them.
async fn settings_view(state: &AdminState) -> Result<Response, ApiError> {
    let snapshot = state.store()?.settings().await?;
    let (overrides, problems) = Overrides::from_snapshot(&snapshot);
    for problem in problems {
        tracing::warn!(%problem, "admin API: stored setting ignored");
    }
    let mut settings = serde_json::Map::new();
    for e in effective(&state.host.configured(), &overrides) {
        let mut entry = json!({"value": e.value.to_json()});
        if let (Some(obj), Ok(serde_json::Value::Object(source))) =
            (entry.as_object_mut(), serde_json::to_value(&e.source))
        {
            obj.extend(source);
        }
        if let Source::GatewayYaml = e.source {
            entry["source"] = json!("gateway.yaml");
        }
        settings.insert(e.key.as_str().into(), entry);
    }
    let mut response = Json(json!({
        "version": snapshot.version,
        "settings": settings,
        "limits": {"page_size_max": settings::PAGE_SIZE_MAX, "message_max": settings::MESSAGE_MAX, "status": [404, 503]},
    }))
    .into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", snapshot.version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

async fn get_settings(State(state): State<Arc<AdminState>>) -> Result<Response, ApiError> {
    settings_view(&state).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsChange {
    /// The version the change is based on (or an `If-Match` header).
    version: Option<i64>,
    /// New values by key; `null` resets a key to `gateway.yaml`.
    changes: serde_json::Map<String, serde_json::Value>,
}

/// Now, RFC 3339 to the second.
pub(crate) fn now() -> String {
    rfc3339(jiff::Timestamp::now())
}

/// `at` to the second, RFC 3339 in UTC.
pub(crate) fn rfc3339(at: jiff::Timestamp) -> String {
    at.round(jiff::Unit::Second)
        .map_or_else(|_| at.to_string(), |t| t.to_string())
}

async fn put_settings(
    State(state): State<Arc<AdminState>>,
    Extension(Admin(who)): Extension<Admin>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let change: SettingsChange = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("expected {{version, changes}}: {e}")))?;
    let if_match = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().trim_start_matches("W/").trim_matches('"').parse::<i64>().ok());
    let Some(version) = change.version.or(if_match) else {
        return Err(ApiError::BadRequest(
            "name the version the change is based on (version or If-Match)".into(),
        ));
    };
    let store = state.store()?;
    let snapshot = store.settings().await?;
    if snapshot.version != version {
        return Err(ApiError::Conflict(format!(
            "the settings changed meanwhile (now version {}); reload them",
            snapshot.version
        )));
    }
    let configured = state.host.configured();
    let defined: Vec<String> = state.host.smartobjects().into_iter().map(|s| s.name).collect();
    // Everything is validated before anything is written.
    let mut validated = Vec::new();
    for (name, value) in &change.changes {
        let key = SettingKey::parse(name).ok_or_else(|| {
            ApiError::Invalid(Invalid {
                field: name.clone(),
                message: format!(
                    "unknown setting; the settings are {}",
                    SettingKey::ALL.map(SettingKey::as_str).join(", ")
                ),
            })
        })?;
        let value = settings::validate(key, value, &configured, &defined).map_err(ApiError::Invalid)?;
        validated.push((key, value));
    }
    let (before, _) = Overrides::from_snapshot(&snapshot);
    let before_values = before.over(&configured);
    let (at, user) = (now(), who.fqn.clone());
    let mut records = Vec::new();
    let mut audit = Vec::new();
    for (key, value) in validated {
        let stored = before.entries.get(&key).map(|o| &o.value);
        if stored == value.as_ref() {
            continue;
        }
        let mut after = before.clone();
        match &value {
            Some(v) => {
                after.entries.insert(
                    key,
                    settings::Override {
                        value: v.clone(),
                        changed_by: user.clone(),
                        changed_at: at.clone(),
                    },
                );
            }
            None => {
                after.entries.remove(&key);
            }
        }
        audit.push(AuditRecord {
            who: user.clone(),
            at: at.clone(),
            action: if value.is_some() {
                "settings.update"
            } else {
                "settings.reset"
            }
            .into(),
            target: key.as_str().into(),
            before: before_values.get(key).to_json(),
            after: after.over(&configured).get(key).to_json(),
        });
        records.push(settings::record(key, value.as_ref(), &user, &at));
    }
    if !records.is_empty() {
        store.write_settings(version, records, audit).await?;
        tracing::info!(user = %user, "admin API: settings changed");
        state.host.settings_written();
    }
    settings_view(&state).await
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<u32>,
    before: Option<i64>,
}

async fn audit(State(state): State<Arc<AdminState>>, Query(query): Query<AuditQuery>) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let entries = state.store()?.audit(query.before, limit).await?;
    let next_before = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let entries: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id,
                "at": e.record.at,
                "who": e.record.who,
                "action": e.record.action,
                "target": e.record.target,
                "before": e.record.before,
                "after": e.record.after,
            })
        })
        .collect();
    Ok(Json(json!({"entries": entries, "next_before": next_before})).into_response())
}

async fn smartobjects(State(state): State<Arc<AdminState>>) -> Response {
    Json(json!({"smartobjects": state.host.smartobjects()})).into_response()
}

async fn overview(State(state): State<Arc<AdminState>>) -> Response {
    let mut overview = state.host.overview().await;
    if let (Some(store), Some(map)) = (&state.store, overview.as_object_mut()) {
        let (replicas, healthy) = match crate::replicas::seen(store.as_ref()).await {
            Ok(seen) => (
                json!({"within_seconds": crate::replicas::SEEN_WITHIN_SECS, "replicas": seen}),
                true,
            ),
            Err(e) => {
                tracing::warn!(error = %e, "admin API: cannot list the replicas");
                (json!({"error": "the database is unavailable"}), false)
            }
        };
        map.insert("replicas_seen".into(), replicas);
        if let Some(storage) = map.get_mut("storage").and_then(|s| s.as_object_mut()) {
            storage.insert("healthy".into(), json!(healthy));
        }
    }
    Json(overview).into_response()
}

async fn live(State(state): State<Arc<AdminState>>) -> Response {
    let snapshot = crate::live::snapshot(&state.host.metrics(), now(), state.started.elapsed().as_secs());
    Json(snapshot).into_response()
}
