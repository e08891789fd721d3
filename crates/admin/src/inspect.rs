//! The token inspector's API: `authgate token inspect` (the request path's checks, run collect-all) on a
//! pasted token. The token stays here: it is not logged, audited or echoed (the answer has the decoded header
//! and claims, never the token or its signature), and a malformed body is refused without quoting it.

use crate::api::{AdminState, ApiError};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

/// The body of `POST inspect`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InspectRequest {
    /// The compact JWS, as pasted.
    token: String,
    /// Check against this route's providers only.
    route: Option<String>,
}

/// `POST inspect`.
pub(crate) async fn inspect(State(state): State<Arc<AdminState>>, body: Bytes) -> Result<Response, ApiError> {
    // serde's messages can quote a value: say what is expected instead.
    let request: InspectRequest = serde_json::from_slice(&body).map_err(|_| {
        ApiError::BadRequest("expected a JSON object {\"token\": \"...\", \"route\": optional route name}".into())
    })?;
    let token = request.token.trim();
    if token.is_empty() {
        return Err(ApiError::Field {
            field: "token",
            message: "paste a token (a compact JWS: header.payload.signature)".into(),
        });
    }
    let route = request.route.as_deref().filter(|r| !r.is_empty());
    let report = state
        .host()
        .inspect(token, route)
        .await
        .map_err(|message| ApiError::Field {
            field: "route",
            message,
        })?;
    Ok(Json(report).into_response())
}
