//! The Workflow REST API (`/api/workflow/v1`): workflows the caller may start, their instances, the
//! caller's worklist and task actions, with an OpenAPI document at `swagger/docs/v1`.
//!
//! - [`definitions`]: workflow definition files (`policies/workflows/*.yaml`) checked into runtime form.
//! - [`engine`]: the rules (visibility, validation, routing, transitions) as pure functions.
//! - [`store`]: the [`store::WorkflowStore`] trait and its SQLite implementation (one transaction a request).
//! - [`handlers`]: HTTP in and out; [`model`] and [`views`]: the JSON shapes; [`json`]: request bodies as
//!   K2's server (Json.NET) reads them, JSON rejections; [`dates`]: RFC 3339 and .NET dates.
//! - [`item_refs`]: item references (JSON and K2's XML form); [`links`]: `formURL` / `viewFlowURL` from
//!   configuration.
//! - [`openapi`]: the generated OpenAPI 3 document.
//!
//! System actions are `POST tasks/{sn}/actions/assign`, `/release`, `/redirect`, `/sleep`, `/wake`, as K2
//! clients call them; `POST tasks/{sn}/assign`... stay as aliases. Activity actions are
//! `POST tasks/{sn}/actions/{actionName}`; system action names are reserved (a definition cannot use them),
//! so under `actions/` a system action always wins. Server events (activities that wait for an external
//! system) are `GET serverEvents/{sn}` and `POST serverEvents/{sn}/finish`.

pub mod dates;
pub mod definitions;
pub mod engine;
pub mod error;
pub mod handlers;
pub mod item_refs;
pub mod json;
pub mod links;
pub mod model;
pub mod openapi;
pub mod store;
pub mod views;

use crate::ApiState;
use authgate_core::directory::people::People;
use axum::routing::{get, post};
use axum::Router;
use definitions::Definitions;
use links::Links;
use std::sync::Arc;
use store::WorkflowStore;

/// The API's base path.
pub const BASE: &str = "/api/workflow/v1";

/// What the Workflow API works with.
pub struct WorkflowApi {
    /// Loaded workflow definitions.
    pub definitions: Arc<Definitions>,
    /// Instance and task storage.
    pub store: Arc<dyn WorkflowStore>,
    /// The directory, for managers, originator details and redirect targets.
    pub people: Arc<dyn People>,
    /// `formURL` / `viewFlowURL` settings.
    pub links: Arc<Links>,
}

/// The routes, relative to [`BASE`].
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/swagger/docs/v1", get(openapi::document))
        .route("/workflows", get(handlers::list_workflows))
        .route(
            "/workflows/{id}",
            get(handlers::get_workflow).post(handlers::start_workflow),
        )
        .route("/workflows/{id}/schema", get(handlers::workflow_schema))
        .route("/tasks", get(handlers::list_tasks))
        .route("/tasks/{sn}", get(handlers::get_task))
        .route("/tasks/{sn}/actions", get(handlers::task_actions))
        .route("/tasks/{sn}/actions/{action}", post(handlers::act))
        .route("/tasks/{sn}/actions/assign", post(handlers::assign))
        .route("/tasks/{sn}/actions/release", post(handlers::release))
        .route("/tasks/{sn}/actions/redirect", post(handlers::redirect))
        .route("/tasks/{sn}/actions/sleep", post(handlers::sleep))
        .route("/tasks/{sn}/actions/wake", post(handlers::wake))
        .route("/tasks/{sn}/assign", post(handlers::aliases::assign))
        .route("/tasks/{sn}/release", post(handlers::aliases::release))
        .route("/tasks/{sn}/redirect", post(handlers::aliases::redirect))
        .route("/tasks/{sn}/sleep", post(handlers::aliases::sleep))
        .route("/tasks/{sn}/wake", post(handlers::aliases::wake))
        .route("/instances/{id}", get(handlers::get_instance))
        .route("/serverEvents/{sn}", get(handlers::get_server_event))
        .route("/serverEvents/{sn}/finish", post(handlers::finish_server_event))
}

#[cfg(test)]
mod handler_tests;
