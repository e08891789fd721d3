//! The OpenAPI 3 document of the Workflow REST API, generated from the handlers' annotations and the model
//! types, served at `{base}/swagger/docs/v1`.

use super::handlers;
use super::model;
use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "authgate Workflow REST API",
        description = "Workflows, instances, worklist and task actions, as the caller the gateway authenticated.",
        version = "1.0.0"
    ),
    servers((url = "/api/workflow/v1")),
    paths(
        handlers::list_workflows,
        handlers::get_workflow,
        handlers::workflow_schema,
        handlers::start_workflow,
        handlers::list_tasks,
        handlers::get_task,
        handlers::task_actions,
        handlers::act,
        handlers::assign,
        handlers::release,
        handlers::redirect,
        handlers::sleep,
        handlers::wake,
        handlers::aliases::assign,
        handlers::aliases::release,
        handlers::aliases::redirect,
        handlers::aliases::sleep,
        handlers::aliases::wake,
        handlers::get_instance,
        handlers::get_server_event,
        handlers::finish_server_event,
    ),
    components(schemas(model::ErrorBody, model::TaskStateFilter)),
    modifiers(&Security),
    security(("basic" = []), ("bearer" = []))
)]
pub struct WorkflowApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// `GET {base}/swagger/docs/v1`.
pub async fn document(_caller: crate::Caller) -> Json<utoipa::openapi::OpenApi> {
    Json(WorkflowApiDoc::openapi())
}
