//! The built-in APIs, served in this process by axum on a unix socket that only the proxy connects to
//! (file mode 0600), so nothing outside the process can reach them with forged identity headers.
//!
//! - [`identity`]: the [`Caller`] extractor (the identity the proxy forwarded; refused when absent).
//! - [`error`]: the JSON error type handlers return.
//! - [`server`]: serves the router on the socket.
//! - [`builtin`]: [`BuiltinApis`], what the composition root opens on a backend's stores and reloads.
//! - [`store`]: the storage seam (errors, the backends, the conformance suite).
//! - [`outbound`]: outbound OAuth (seed 004): resource types and resources, the token vault, its store.
//! - [`datetime`]: the strict shapes of dates and offsets clients write, read into jiff's calendar types.
//!
//! `/api/whoami` echoes the forwarded identity. The Workflow REST API ([`workflow`], `/api/workflow/v1`) and
//! the SmartObject OData API ([`odata`], at its configured base paths, by default `/api/odata/v4` and
//! `/api/odatav4/v4`) are merged here.

pub mod body;
pub mod builtin;
pub mod datetime;
pub mod error;
pub mod identity;
pub mod odata;
pub mod outbound;
pub mod server;
pub mod store;
pub mod workflow;

pub use builtin::{ApiParts, BuiltinApis, OAuthParts};
pub use error::ApiError;
pub use identity::Caller;

use authgate_core::auth::HeaderSet;
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// Fixed base paths of the built-in APIs; matched case-insensitively (the rest of the path is left as sent).
/// The OData API's base paths are configuration (`odata.base_paths`) and matched by its handler.
pub const BASE_PATHS: [&str; 4] = [
    "/api/workflow/v1",
    "/api/whoami",
    outbound::service::BASE,
    outbound::flow::CALLBACK_PATH,
];

/// What every built-in handler can reach.
pub struct ApiState {
    /// Identity header names (to read the caller).
    pub headers: Arc<HeaderSet>,
    /// The Workflow REST API's definitions, store and directory; swapped whole when the configuration reloads.
    pub workflow: arc_swap::ArcSwap<workflow::WorkflowApi>,
    /// The OData API's catalog and store; swapped whole when the configuration reloads.
    pub odata: arc_swap::ArcSwap<odata::ODataApi>,
    /// Outbound OAuth, when `oauth:` is configured (it reloads its catalog and vault itself).
    pub outbound: Option<Arc<outbound::service::Outbound>>,
    /// The caller of REST SmartObjects' services, when `oauth:` is configured (their tokens come from it).
    pub remote: Option<Arc<odata::remote::Remote>>,
}

/// The router of every built-in API.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api/whoami", get(whoami))
        .nest(workflow::BASE, workflow::router())
        .nest(outbound::service::BASE, outbound::handlers::router())
        .merge(outbound::handlers::callback_router())
        // OData paths are not router patterns and its base paths reload with the configuration: its handler
        // takes whatever is left and answers 404 for paths under none of them.
        .fallback(odata::handlers::handle)
        .with_state(state)
}

async fn whoami(caller: Caller) -> Json<Caller> {
    Json(caller)
}

/// Lower-cases a known base path at the start of `uri`'s path (`/API/Workflow/V1/tasks` ->
/// `/api/workflow/v1/tasks`), leaving the rest untouched.
pub fn normalize_base_path(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let base = BASE_PATHS.iter().find(|base| {
        path.len() >= base.len()
            && path.as_bytes()[..base.len()].eq_ignore_ascii_case(base.as_bytes())
            && (path.len() == base.len() || path.as_bytes()[base.len()] == b'/')
            && &path[..base.len()] != **base
    })?;
    let mut rewritten = format!("{}{}", base, &path[base.len()..]);
    if let Some(query) = uri.query() {
        rewritten.push('?');
        rewritten.push_str(query);
    }
    rewritten.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_are_normalised_case_insensitively() {
        let uri: Uri = "/API/Workflow/V1/Tasks?state=Open".parse().unwrap();
        assert_eq!(
            normalize_base_path(&uri).unwrap().to_string(),
            "/api/workflow/v1/Tasks?state=Open"
        );
        assert!(normalize_base_path(&"/api/workflow/v1/tasks".parse().unwrap()).is_none());
        assert!(normalize_base_path(&"/API/workflow/v10".parse().unwrap()).is_none());
    }
}
