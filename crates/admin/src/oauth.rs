//! The OAuth page's API: resource types and resources as configured (every parameter value masked unless it is
//! one of the public ones: client id, scope, resource...), every user's connections (the Tokens view's facts,
//! no token material), and an administrator's revoke of one (the same store call as the user's own revoke,
//! audited as `oauth.revoke`).

use crate::api::{now, Admin, AdminState, ApiError};
use authgate_apis::outbound::resource::{Catalog, GrantKind, Resource, ResourceType, Stage, StageValues};
use authgate_apis::outbound::service::Outbound;
use authgate_apis::outbound::store::ConnectionRecord;
use authgate_apis::outbound::view;
use authgate_apis::store::admin::AuditRecord;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Parameters whose values are shown: identifiers and what the tokens are for, never credentials. Any other
/// parameter shows as `"set"`.
const PUBLIC: &[&str] = &[
    "client_id",
    "scope",
    "resource",
    "audience",
    "redirect_uri",
    "response_type",
    "response_mode",
    "prompt",
    "access_type",
    "grant_type",
    "requested_token_use",
    "requested_token_type",
    "subject_token_type",
    "domain_hint",
];

fn kind(kind: GrantKind) -> &'static str {
    match kind {
        GrantKind::AuthorizationCode => "authorization_code",
        GrantKind::OnBehalfOf => "on_behalf_of",
        GrantKind::TokenExchange => "token_exchange",
    }
}

/// A parameter's values by stage, masked unless public.
fn values(name: &str, values: &StageValues) -> Value {
    let public = PUBLIC.contains(&name);
    let shown: Map<String, Value> = values
        .iter()
        .map(|(stage, value)| {
            let shown = if public { value.expose() } else { "set" };
            (stage.as_str().to_string(), json!(shown))
        })
        .collect();
    Value::Object(shown)
}

fn resource_type(ty: &ResourceType) -> Value {
    json!({
        "name": ty.name,
        "kind": kind(ty.kind),
        "description": ty.description,
        "pkce": ty.pkce,
        "refresh_token_expiration_days": ty.refresh_token_expiration_days,
        "expiration_warning_days": ty.expiration_warning_days,
        "parameters": ty.parameters.iter().map(|p| json!({
            "name": p.name,
            "description": p.description,
            "stages": p.stages.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "url_encode": p.url_encode,
            "defaults": values(&p.name, &p.defaults),
        })).collect::<Vec<_>>(),
    })
}

/// The value of parameter `name` for `resource`: its own, else its type's default (authorization stage first).
fn value_of<'a>(resource: &'a Resource, ty: Option<&'a ResourceType>, name: &str) -> Option<&'a str> {
    let pick = |values: &'a StageValues| {
        [Stage::Authorization, Stage::Token, Stage::Refresh]
            .iter()
            .find_map(|stage| values.get(stage))
            .map(|v| v.expose())
    };
    resource
        .values
        .get(name)
        .and_then(pick)
        .or_else(|| ty.and_then(|t| t.parameter(name)).and_then(|p| pick(&p.defaults)))
}

fn scopes(scope: Option<&str>) -> Vec<&str> {
    scope.map(|s| s.split_whitespace().collect()).unwrap_or_default()
}

fn resource(catalog: &Catalog, resource: &Resource) -> Value {
    let ty = catalog.type_of(resource);
    let secret_set = value_of(resource, ty, "client_secret").is_some_and(|s| !s.is_empty());
    let mut parameters = Map::new();
    for (name, stages) in &resource.values {
        parameters.insert(name.clone(), values(name, stages));
    }
    json!({
        "name": resource.name,
        "type": resource.type_name,
        "kind": ty.map(|t| kind(t.kind)),
        "description": resource.description,
        "client_id": value_of(resource, ty, "client_id"),
        "client_secret": if secret_set { "set" } else { "not set" },
        "scopes": scopes(value_of(resource, ty, "scope")),
        "resource": value_of(resource, ty, "resource"),
        "audience": value_of(resource, ty, "audience"),
        "authorize_url": resource.authorization_endpoint.as_ref().map(|u| u.as_str()),
        "token_endpoint": resource.token_endpoint.as_str(),
        "refresh_endpoint": resource.refresh_endpoint.as_str(),
        "authorize_path": Outbound::authorize_path(&resource.name),
        "parameters": parameters,
    })
}

/// The catalog as `GET oauth` shows it.
pub fn catalog_view(catalog: &Catalog) -> Value {
    json!({
        "configured": true,
        "resource_types": catalog.types.iter().map(resource_type).collect::<Vec<_>>(),
        "resources": catalog.resources.iter().map(|r| resource(catalog, r)).collect::<Vec<_>>(),
    })
}

/// `GET oauth`.
pub(crate) async fn overview(State(state): State<Arc<AdminState>>) -> Response {
    match state.host().outbound() {
        Some(outbound) => Json(catalog_view(&outbound.catalog())).into_response(),
        None => Json(json!({"configured": false})).into_response(),
    }
}

fn outbound(state: &AdminState) -> Result<Arc<Outbound>, ApiError> {
    state.host().outbound().ok_or_else(|| {
        ApiError::NotConfigured("outbound OAuth is not configured (no oauth: section or no database)".into())
    })
}

fn unix_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn rfc3339(seconds: i64) -> Option<String> {
    jiff::Timestamp::from_second(seconds).ok().map(|t| t.to_string())
}

/// One connection, as the console lists it: no token material.
fn connection(catalog: &Catalog, record: &ConnectionRecord, at: i64) -> Value {
    let row = view::row(catalog, record, at);
    let resource = catalog.resource(&record.resource);
    let scope = resource.and_then(|r| value_of(r, catalog.type_of(r), "scope"));
    json!({
        "user": record.user,
        "user_name": row.user_name,
        "resource": record.resource,
        "resource_type": record.resource_type,
        "audience": row.audience,
        "status": row.status.as_str(),
        "expires_at": record.expires_at.and_then(rfc3339),
        "expires_in_seconds": row.expires_in_seconds,
        "scopes": scopes(scope),
        "created_at": rfc3339(record.created_at),
        "updated_at": rfc3339(record.updated_at),
    })
}

#[derive(Deserialize)]
pub(crate) struct ConnectionsQuery {
    user: Option<String>,
    resource: Option<String>,
}

/// `GET oauth/connections?user=&resource=` (filters exact; a user matches case-insensitively); without
/// outbound OAuth `{configured: false, connections: []}`.
pub(crate) async fn connections(
    State(state): State<Arc<AdminState>>,
    Query(query): Query<ConnectionsQuery>,
) -> Result<Response, ApiError> {
    let Some(outbound) = state.host().outbound() else {
        return Ok(Json(json!({"configured": false, "connections": []})).into_response());
    };
    let records = outbound.store().all_connections().await?;
    let catalog = outbound.catalog();
    let at = unix_seconds();
    let user = query.user.filter(|u| !u.is_empty());
    let wanted = query.resource.filter(|r| !r.is_empty());
    let rows: Vec<Value> = records
        .iter()
        .filter(|r| user.as_ref().is_none_or(|u| r.user.eq_ignore_ascii_case(u)))
        .filter(|r| wanted.as_ref().is_none_or(|w| &r.resource == w))
        .map(|r| connection(&catalog, r, at))
        .collect();
    Ok(Json(json!({"configured": true, "connections": rows})).into_response())
}

/// `DELETE oauth/connections/{resource}/{user}`: the user's connection forgotten (its tokens deleted), as
/// when the user revokes it.
pub(crate) async fn revoke(
    State(state): State<Arc<AdminState>>,
    Extension(Admin(who)): Extension<Admin>,
    Path((resource, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let outbound = outbound(&state)?;
    let resource = outbound.catalog().stored_name(resource);
    let store = outbound.store();
    let missing = || ApiError::Missing(format!("{user:?} has no connection to {resource:?}"));
    let before = store.connection(&user, &resource).await?.ok_or_else(missing)?;
    if !store.revoke(&user, &resource).await? {
        return Err(missing());
    }
    tracing::info!(admin = %who.fqn, user = %before.user, %resource, "outbound OAuth connection revoked by an administrator");
    state
        .audit(AuditRecord {
            who: who.fqn.clone(),
            at: now(),
            action: "oauth.revoke".into(),
            target: format!("{resource}/{}", before.user),
            before: json!({
                "status": before.status.as_str(),
                "expires_at": before.expires_at.and_then(rfc3339),
                "updated_at": rfc3339(before.updated_at),
            }),
            after: Value::Null,
        })
        .await;
    Ok(StatusCode::NO_CONTENT)
}
