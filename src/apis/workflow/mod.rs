//! The Workflow REST API (`/api/workflow/v1`): workflows the caller may start, their instances, the
//! caller's worklist and task actions, with an OpenAPI document at `swagger/docs/v1`.
//!
//! - [`definitions`]: workflow definition files (`policies/workflows/*.yaml`) checked into runtime form.
//! - [`engine`]: the rules (visibility, validation, routing, transitions) as pure functions.
//! - [`store`]: the [`store::WorkflowStore`] trait and its SQLite implementation (one transaction a request).
//! - [`handlers`]: HTTP in and out; [`model`] and [`views`]: the JSON shapes; [`json`]: JSON rejections.
//! - [`openapi`]: the generated OpenAPI 3 document.
//!
//! System actions are endpoints of their own, as in K2: `POST tasks/{sn}/assign`, `/release`, `/redirect`,
//! `/sleep`, `/wake`; activity actions are `POST tasks/{sn}/actions/{actionName}`.

pub mod dates;
pub mod definitions;
pub mod engine;
pub mod handlers;
pub mod json;
pub mod model;
pub mod openapi;
pub mod store;
pub mod views;

use crate::apis::ApiState;
use crate::directory::people::People;
use axum::routing::{get, post};
use axum::Router;
use definitions::Definitions;
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
    /// The directory, for managers and originator details.
    pub people: Arc<dyn People>,
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
        .route("/tasks/{sn}/assign", post(handlers::assign))
        .route("/tasks/{sn}/release", post(handlers::release))
        .route("/tasks/{sn}/redirect", post(handlers::redirect))
        .route("/tasks/{sn}/sleep", post(handlers::sleep))
        .route("/tasks/{sn}/wake", post(handlers::wake))
        .route("/instances/{id}", get(handlers::get_instance))
}

#[cfg(test)]
mod handler_tests;
