//! The SmartObject OData v4 API (`/api/odata/v4`): SmartObjects defined in YAML, published by the exposure
//! rules, queried with `$filter` / `$orderby` / `$select` / `$top` / `$skip` / `$count`, changed with POST /
//! PATCH / PUT / DELETE where the SmartObject has the method.
//!
//! - [`smartobject`]: definition files (`policies/smartobjects/*.yaml`) checked into runtime form.
//! - [`statistics`]: the read-only workflow statistics SmartObjects over the workflow tables.
//! - [`catalog`]: defined vs published SmartObjects (the exposure rules) and the rendered `$metadata`.
//! - [`metadata`]: CSDL XML and the service document.
//! - [`edm`]: EDM types, values and their SQLite storage form.
//! - [`filter`]: `$filter` / `$orderby` parsing into a typed AST, with positioned errors.
//! - [`sql`]: AST → SQL with bound parameters; [`eval`]: the reference evaluator the SQL is tested against.
//! - [`query`]: resource paths, keys and the system query options.
//! - [`json`]: entities out, request bodies in.
//! - [`store`]: the [`store::SmartObjectStore`] trait and its SQLite implementation.
//! - [`handlers`]: HTTP; [`error`]: the OData JSON error format.

pub mod catalog;
pub mod edm;
pub mod error;
pub mod eval;
pub mod filter;
pub mod handlers;
pub mod json;
pub mod metadata;
pub mod query;
pub mod smartobject;
pub mod sql;
pub mod statistics;
pub mod store;

use crate::apis::ApiState;
use axum::routing::any;
use axum::Router;
use catalog::Catalog;
use std::sync::Arc;
use store::SmartObjectStore;

/// The service root.
pub const BASE: &str = "/api/odata/v4";

/// What the OData API works with; swapped whole when the configuration reloads.
pub struct ODataApi {
    /// Defined and published SmartObjects.
    pub catalog: Arc<Catalog>,
    /// Their data.
    pub store: Arc<dyn SmartObjectStore>,
    /// Most entities in one response.
    pub page_size: u64,
    /// The service root as clients see it, when configured.
    pub public_url: Option<String>,
}

/// The routes: everything under [`BASE`] goes to one handler (OData paths are not router patterns).
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route(BASE, any(handlers::handle))
        .route(&format!("{BASE}/"), any(handlers::handle))
        .route(&format!("{BASE}/{{*rest}}"), any(handlers::handle))
}
