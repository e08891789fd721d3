//! The HTTP handlers: read the caller and the request, ask the engine and the store, answer JSON. Every
//! handler runs as the caller the proxy forwarded (401 without one) and shows only what is theirs: a task
//! or instance that is not theirs is a 404, the same as one that does not exist.

use super::engine::{self, no_task, SystemAction, WorkflowError};
use super::json::{JsonBody, OptionalJsonBody, QueryParams};
use super::model::{
    ActionRequest, ActionResult, ErrorBody, InstanceDetails, RedirectRequest, SleepRequest, StartRequest, TaskActions,
    TaskDetails, TaskList, TaskQuery, TaskStateFilter, WorkflowDetails, WorkflowList,
};
use super::store::{NewInstance, Page, Principal, TaskStatus};
use super::{dates, views, WorkflowApi};
use crate::apis::{ApiError, ApiState, Caller};
use crate::clock::unix_now;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{Map, Value};
use std::sync::Arc;

fn principal(caller: &Caller) -> Principal {
    Principal {
        user: caller.user.clone(),
        groups: caller.groups.clone(),
    }
}

/// The API as of now: a reload swaps definitions and directory, requests in flight keep theirs.
fn api(state: &ApiState) -> Arc<WorkflowApi> {
    state.workflow.load_full()
}

/// A workflow the caller may start, or 404.
fn startable<'a>(
    api: &'a WorkflowApi,
    id: &str,
    caller: &Caller,
) -> Result<&'a super::definitions::Definition, ApiError> {
    id.parse::<i64>()
        .ok()
        .and_then(|id| api.definitions.get(id))
        .filter(|d| d.may_start(&caller.user, &caller.groups))
        .ok_or_else(|| ApiError::not_found(format!("no workflow '{id}' that you may start")))
}

/// The destination id in a serial number `{instanceId}_{destinationId}`.
fn task_id(serial: &str) -> Result<i64, ApiError> {
    serial
        .split_once('_')
        .and_then(|(instance, task)| Some((instance.parse::<i64>().ok()?, task.parse::<i64>().ok()?)))
        .filter(|(instance, task)| format!("{instance}_{task}") == serial)
        .map(|(_, task)| task)
        .ok_or_else(|| no_task(serial).into())
}

/// List the workflows the caller may start.
#[utoipa::path(get, path = "/workflows", tag = "Workflows",
    responses(
        (status = 200, description = "Workflows the caller may start", body = WorkflowList),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Refused by a platform rule", body = ErrorBody),
    ))]
pub async fn list_workflows(State(state): State<Arc<ApiState>>, caller: Caller) -> Json<WorkflowList> {
    let workflows: Vec<_> = api(&state)
        .definitions
        .all()
        .iter()
        .filter(|d| d.may_start(&caller.user, &caller.groups))
        .map(views::summary)
        .collect();
    Json(WorkflowList {
        item_count: workflows.len(),
        workflows,
    })
}

/// A workflow's details.
#[utoipa::path(get, path = "/workflows/{id}", tag = "Workflows",
    params(("id" = i64, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "The workflow", body = WorkflowDetails),
        (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "No such workflow that the caller may start", body = ErrorBody),
    ))]
pub async fn get_workflow(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WorkflowDetails>, ApiError> {
    Ok(Json(views::details(startable(&api(&state), &id, &caller)?)))
}

/// The JSON schema of a start request for a workflow (its data fields, typed).
#[utoipa::path(get, path = "/workflows/{id}/schema", tag = "Workflows",
    params(("id" = i64, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "JSON schema (2020-12) of the start request body", body = Object),
        (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "No such workflow that the caller may start", body = ErrorBody),
    ))]
pub async fn workflow_schema(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(views::start_schema(startable(&api(&state), &id, &caller)?)))
}

/// Start an instance; answers its id.
#[utoipa::path(post, path = "/workflows/{id}", tag = "Workflows",
    params(("id" = i64, Path, description = "Workflow id")),
    request_body = StartRequest,
    responses(
        (status = 201, description = "Started; the body is the new instance id", body = i64,
            headers(("Location" = String, description = "The instance"))),
        (status = 400, description = "Invalid request (names the field)", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "No such workflow that the caller may start", body = ErrorBody),
        (status = 409, description = "The first task cannot be routed (e.g. no manager)", body = ErrorBody),
    ))]
pub async fn start_workflow(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<StartRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let api = api(&state);
    let def = startable(&api, &id, &caller)?;
    let priority = request.priority.unwrap_or(1);
    if !(0..=2).contains(&priority) {
        return Err(ApiError::bad_request(
            "priority must be 0 (low), 1 (normal) or 2 (high)",
        ));
    }
    let expected_duration = request.expected_duration.unwrap_or(def.expected_duration);
    if !(0..=5_256_000).contains(&expected_duration) {
        return Err(ApiError::bad_request("expectedDuration must be 0 to 5256000 minutes"));
    }
    let folio = request.folio.unwrap_or_else(|| def.name.clone());
    if folio.chars().count() > 1024 || folio.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "folio must be at most 1024 characters without control characters",
        ));
    }
    let data_fields = engine::start_fields(def, request.data_fields.unwrap_or_default())?;
    let xml_fields = engine::start_xml(def, request.xml_fields.unwrap_or_default())?;
    let first = &def.activities[def.start];
    let first_task = engine::route(first, &caller.user, api.people.as_ref())?;
    let now = unix_now();
    let (instance_id, serial) = api
        .store
        .start(NewInstance {
            instance: super::store::InstanceRecord {
                id: 0,
                workflow_id: def.id,
                workflow_name: def.name.clone(),
                folio,
                priority,
                status: "Active".into(),
                originator: caller.user.clone(),
                originator_display_name: caller.display_name.clone(),
                originator_email: caller.email.clone(),
                current_activity: Some(first.name.clone()),
                data_fields,
                xml_fields,
                expected_duration,
                started_at: now,
                finished_at: None,
            },
            first_task,
        })
        .await?;
    tracing::info!(workflow = def.id, instance = instance_id, task = %serial, originator = %caller.user, "workflow started");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("{}/instances/{instance_id}", super::BASE))],
        Json(instance_id),
    ))
}

/// The caller's worklist: tasks they hold and their groups' untaken tasks.
#[utoipa::path(get, path = "/tasks", tag = "Tasks",
    params(TaskQuery),
    responses(
        (status = 200, description = "The worklist", body = TaskList),
        (status = 400, description = "Invalid query parameter", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
    ))]
pub async fn list_tasks(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    QueryParams(query): QueryParams<TaskQuery>,
) -> Result<Json<TaskList>, ApiError> {
    let api = api(&state);
    let skip = query.skip.unwrap_or(0);
    let take = query.take.unwrap_or(100);
    if skip < 0 || !(1..=1000).contains(&take) {
        return Err(ApiError::bad_request("skip must be >= 0 and take between 1 and 1000"));
    }
    let state_filter = query.state.map(|s| match s {
        TaskStateFilter::Available => TaskStatus::Available,
        TaskStateFilter::Allocated => TaskStatus::Allocated,
        TaskStateFilter::Open => TaskStatus::Open,
        TaskStateFilter::Sleep => TaskStatus::Sleep,
    });
    let who = principal(&caller);
    let now = unix_now();
    let rows = api.store.worklist(&who, state_filter, Page { skip, take }, now).await?;
    let tasks: Vec<_> = rows
        .iter()
        .map(|(t, i)| views::task(&api.definitions, api.people.as_ref(), t, i, &who, now))
        .collect();
    Ok(Json(TaskList {
        item_count: tasks.len(),
        tasks,
    }))
}

async fn visible_task(
    api: &WorkflowApi,
    serial: &str,
    who: &Principal,
) -> Result<(super::store::TaskRecord, super::store::InstanceRecord), ApiError> {
    let id = task_id(serial)?;
    match api.store.task(id).await? {
        Some((t, i)) if t.serial_number == serial && engine::visible(&t, who) => Ok((t, i)),
        _ => Err(no_task(serial).into()),
    }
}

/// A task with its data fields.
#[utoipa::path(get, path = "/tasks/{serialNumber}", tag = "Tasks",
    params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
    responses(
        (status = 200, description = "The task", body = TaskDetails),
        (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
    ))]
pub async fn get_task(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(serial): Path<String>,
) -> Result<Json<TaskDetails>, ApiError> {
    let api = api(&state);
    let who = principal(&caller);
    let (t, i) = visible_task(&api, &serial, &who).await?;
    Ok(Json(views::task_details(
        &api.definitions,
        api.people.as_ref(),
        &t,
        &i,
        &who,
        unix_now(),
    )))
}

/// The actions a task offers.
#[utoipa::path(get, path = "/tasks/{serialNumber}/actions", tag = "Tasks",
    params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
    responses(
        (status = 200, description = "The actions", body = TaskActions),
        (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
    ))]
pub async fn task_actions(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(serial): Path<String>,
) -> Result<Json<TaskActions>, ApiError> {
    let api = api(&state);
    let who = principal(&caller);
    let (t, i) = visible_task(&api, &serial, &who).await?;
    Ok(Json(
        views::task(&api.definitions, api.people.as_ref(), &t, &i, &who, unix_now()).actions,
    ))
}

/// Take an activity action on a task: completes it and moves the instance to the next activity.
#[utoipa::path(post, path = "/tasks/{serialNumber}/actions/{actionName}", tag = "Tasks",
    params(
        ("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`"),
        ("actionName" = String, Path, description = "An action of the task's activity"),
    ),
    request_body(content = Option<ActionRequest>, description = "Optional data fields to set"),
    responses(
        (status = 200, description = "Done", body = ActionResult),
        (status = 400, description = "Unknown action or invalid data field", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
        (status = 409, description = "Already completed, sleeping, or held by someone else", body = ErrorBody),
    ))]
pub async fn act(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((serial, action)): Path<(String, String)>,
    OptionalJsonBody(request): OptionalJsonBody<ActionRequest>,
) -> Result<Json<ActionResult>, ApiError> {
    let api = api(&state);
    let id = task_id(&serial)?;
    let who = principal(&caller);
    let fields: Map<String, Value> = request.data_fields.unwrap_or_default();
    let decider = api.clone();
    let expected = serial.clone();
    let name = action.clone();
    let outcome = api
        .store
        .update_task(
            id,
            Box::new(move |task, instance| {
                if task.serial_number != expected {
                    return Err(no_task(&expected));
                }
                let def = decider.definitions.get(instance.workflow_id).ok_or_else(|| {
                    WorkflowError::Conflict(format!("workflow {} is no longer deployed", instance.workflow_id))
                })?;
                engine::complete(
                    def,
                    decider.people.as_ref(),
                    task,
                    instance,
                    &who,
                    &name,
                    fields,
                    unix_now(),
                )
            }),
        )
        .await?;
    let (task, instance) = outcome.map_err(|e| match e {
        WorkflowError::NotFound(_) => no_task(&serial).into(),
        other => ApiError::from(other),
    })?;
    tracing::info!(task = %serial, action = %action, by = %caller.user, instance_status = %instance.status, "task actioned");
    Ok(Json(ActionResult {
        serial_number: task.serial_number,
        action: task.action.unwrap_or(action),
        workflow_instance_id: instance.id,
        instance_status: instance.status,
        current_activity: instance.current_activity.unwrap_or_default(),
    }))
}

async fn run_system(
    state: &ApiState,
    caller: &Caller,
    serial: &str,
    action: SystemAction,
) -> Result<Json<TaskDetails>, ApiError> {
    let api = api(state);
    let id = task_id(serial)?;
    let who = principal(caller);
    let actor = who.clone();
    let expected = serial.to_string();
    let outcome = api
        .store
        .update_task(
            id,
            Box::new(move |task, _instance| {
                if task.serial_number != expected {
                    return Err(no_task(&expected));
                }
                engine::system(task, &actor, &action, unix_now())
            }),
        )
        .await?;
    let (task, instance) = outcome.map_err(|e| match e {
        WorkflowError::NotFound(_) => no_task(serial).into(),
        other => ApiError::from(other),
    })?;
    Ok(Json(views::task_details(
        &api.definitions,
        api.people.as_ref(),
        &task,
        &instance,
        &who,
        unix_now(),
    )))
}

/// Take a group task: it leaves the other members' worklists.
#[utoipa::path(post, path = "/tasks/{serialNumber}/assign", tag = "Task system actions",
    params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
    responses(
        (status = 200, description = "The task, now allocated to the caller", body = TaskDetails),
        (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
        (status = 409, description = "Completed, sleeping, or held by someone else", body = ErrorBody),
    ))]
pub async fn assign(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(serial): Path<String>,
) -> Result<Json<TaskDetails>, ApiError> {
    run_system(&state, &caller, &serial, SystemAction::Assign).await
}

/// Give a taken group task back to its group.
#[utoipa::path(post, path = "/tasks/{serialNumber}/release", tag = "Task system actions",
    params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
    responses(
        (status = 200, description = "The task, available to the group again", body = TaskDetails),
        (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
        (status = 409, description = "Not allocated, not a group task, or held by someone else", body = ErrorBody),
    ))]
pub async fn release(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(serial): Path<String>,
) -> Result<Json<TaskDetails>, ApiError> {
    run_system(&state, &caller, &serial, SystemAction::Release).await
}

/// Send a task to another user.
#[utoipa::path(post, path = "/tasks/{serialNumber}/redirect", tag = "Task system actions",
    params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
    request_body = RedirectRequest,
    responses(
        (status = 200, description = "The task, now allocated to the new user", body = TaskDetails),
        (status = 400, description = "Invalid RedirectTo", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
        (status = 409, description = "Completed, sleeping, or held by someone else", body = ErrorBody),
    ))]
pub async fn redirect(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(serial): Path<String>,
    JsonBody(request): JsonBody<RedirectRequest>,
) -> Result<Json<TaskDetails>, ApiError> {
    run_system(&state, &caller, &serial, SystemAction::Redirect(request.redirect_to)).await
}

/// Put a task to sleep for a while or until a time.
#[utoipa::path(post, path = "/tasks/{serialNumber}/sleep", tag = "Task system actions",
    params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
    request_body = SleepRequest,
    responses(
        (status = 200, description = "The sleeping task", body = TaskDetails),
        (status = 400, description = "Neither or both of SleepFor and SleepUntil, or a time in the past", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
        (status = 409, description = "Completed, already sleeping, or held by someone else", body = ErrorBody),
    ))]
pub async fn sleep(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(serial): Path<String>,
    JsonBody(request): JsonBody<SleepRequest>,
) -> Result<Json<TaskDetails>, ApiError> {
    let now = unix_now();
    let until = match request {
        SleepRequest::For { sleep_for } if (1..=315_360_000).contains(&sleep_for) => now + sleep_for,
        SleepRequest::For { .. } => return Err(ApiError::bad_request("SleepFor must be 1 to 315360000 seconds")),
        SleepRequest::Until { sleep_until } => dates::parse_rfc3339(&sleep_until)
            .ok_or_else(|| ApiError::bad_request(format!("SleepUntil '{sleep_until}' is not an RFC 3339 date-time")))?,
    };
    run_system(&state, &caller, &serial, SystemAction::Sleep(until)).await
}

/// Wake a sleeping task.
#[utoipa::path(post, path = "/tasks/{serialNumber}/wake", tag = "Task system actions",
    params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
    responses(
        (status = 200, description = "The task, awake", body = TaskDetails),
        (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
        (status = 409, description = "Not sleeping", body = ErrorBody),
    ))]
pub async fn wake(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(serial): Path<String>,
) -> Result<Json<TaskDetails>, ApiError> {
    run_system(&state, &caller, &serial, SystemAction::Wake).await
}

/// An instance's status, data fields, current activity and history. Visible to its originator and to
/// everyone it was sent to.
#[utoipa::path(get, path = "/instances/{id}", tag = "Instances",
    params(("id" = i64, Path, description = "Instance id")),
    responses(
        (status = 200, description = "The instance", body = InstanceDetails),
        (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "No such instance that the caller took part in", body = ErrorBody),
    ))]
pub async fn get_instance(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<InstanceDetails>, ApiError> {
    let api = api(&state);
    let who = principal(&caller);
    let not_found = || ApiError::not_found(format!("no instance '{id}' that you took part in"));
    let number = id.parse::<i64>().map_err(|_| not_found())?;
    let (instance, tasks, history) = api.store.instance(number).await?.ok_or_else(not_found)?;
    let involved = caller.is_user(&instance.originator)
        || tasks
            .iter()
            .any(|t| engine::eligible(t, &who) || t.actioned_by.as_deref().is_some_and(|a| caller.is_user(a)));
    if !involved {
        return Err(not_found());
    }
    Ok(Json(views::instance(
        api.people.as_ref(),
        &instance,
        &tasks,
        &history,
        unix_now(),
    )))
}
