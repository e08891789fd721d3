//! The outbound OAuth API on the built-in socket: the browser flow ([`super::flow`]) and each user's own
//! connections (list, revoke one, revoke all). A user only ever sees and revokes their own.
//!
//! | | |
//! |---|---|
//! | `GET /api/oauth/v1/resources/{name}/authorize` | start an authorization (302 to the provider) |
//! | `GET /Identity/token/oauth/2` | the provider's redirect back |
//! | `GET /api/oauth/v1/connections` | the caller's connections (Tokens view rows) |
//! | `DELETE /api/oauth/v1/connections/{resource}` | revoke one |
//! | `DELETE /api/oauth/v1/connections` | revoke all of the caller's |

use super::flow::{authorize, callback, now, outbound};
use super::view::{rows, TokenRow};
use crate::{ApiError, ApiState, Caller};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;

/// The routes under [`super::service::BASE`].
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/resources/{name}/authorize", get(authorize))
        .route("/connections", get(list).delete(revoke_all))
        .route("/connections/{resource}", axum::routing::delete(revoke))
}

/// The callback route (K2's path).
pub fn callback_router() -> Router<Arc<ApiState>> {
    Router::new().route(super::flow::CALLBACK_PATH, get(callback))
}

#[derive(Serialize)]
struct Listed {
    connections: Vec<TokenRow>,
}

async fn list(State(state): State<Arc<ApiState>>, caller: Caller) -> Result<Json<impl Serialize>, ApiError> {
    let outbound = outbound(&state)?;
    let records = outbound.store().connections_of(&caller.user).await?;
    Ok(Json(Listed {
        connections: rows(&outbound.catalog(), &records, now()),
    }))
}

#[derive(Serialize)]
struct Revoked {
    revoked: u64,
}

async fn revoke(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(resource): Path<String>,
) -> Result<StatusCode, ApiError> {
    let outbound = outbound(&state)?;
    let resource = outbound.catalog().stored_name(resource);
    if outbound.store().revoke(&caller.user, &resource).await? {
        tracing::info!(user = %caller.user, %resource, "outbound OAuth connection revoked by its user");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("you have no connection to {resource:?}")))
    }
}

async fn revoke_all(State(state): State<Arc<ApiState>>, caller: Caller) -> Result<Json<impl Serialize>, ApiError> {
    let outbound = outbound(&state)?;
    let revoked = outbound.store().revoke_all(&caller.user).await?;
    tracing::info!(user = %caller.user, revoked, "outbound OAuth connections revoked by their user");
    Ok(Json(Revoked { revoked }))
}
