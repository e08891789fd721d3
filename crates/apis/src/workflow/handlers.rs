//! The HTTP handlers: read the caller and the request, ask the engine and the store, answer JSON. Every
//! handler runs as the caller the proxy forwarded (401 without one) and shows only what is theirs: a task
//! or instance that is not theirs is a 404, the same as one that does not exist.
//!
//! System actions are `POST tasks/{sn}/actions/{assign|release|redirect|sleep|wake}` as K2 clients call them
//! (and `POST tasks/{sn}/{action}`, the aliases kept from before). Their names are reserved: a definition cannot
//! give an activity action one of them, so `actions/{name}` runs the system action whatever the case of `name`.

use super::engine::{self, no_server_event, no_task, SystemAction, Update};
use super::error::WorkflowError;
use super::item_refs::ItemReferences;
use super::json::{self as body, JsonBody, OptionalJsonBody, QueryParams};
use super::model::{
    ActionOutcome, ActionRequest, ActionResult, ErrorBody, InstanceDetails, RedirectRequest, ServerEventDetails,
    SleepRequest, StartRequest, TaskActions, TaskDetails, TaskList, TaskQuery, TaskStateFilter, WorkflowDetails,
    WorkflowList,
};
use super::store::{NewInstance, Page, Principal, TaskStatus};
use super::{dates, views, WorkflowApi};
use crate::{ApiError, ApiState, Caller};
use authgate_core::clock::unix_now;
use authgate_core::directory::people::{resolve_user, Resolved};
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::Value;
use std::sync::Arc;

/// A raw request body (within the router's body size limit), for handlers that choose how to parse it.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        body::body(req, state).await.map(RawBody)
    }
}

/// What an action or a finish changes, checked for shape (the engine checks it against the definition).
fn update_of(request: ActionRequest) -> Result<Update, ApiError> {
    Ok(Update {
        data_fields: request.data_fields.unwrap_or_default(),
        xml_fields: engine::xml_values(request.xml_fields)?,
        item_references: ItemReferences::from_request(request.item_references.unwrap_or(Value::Null))
            .map_err(ApiError::bad_request)?,
    })
}

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
    let xml_fields = engine::start_xml(def, engine::xml_values(request.xml_fields)?)?;
    let item_references =
        ItemReferences::from_request(request.item_references.unwrap_or(Value::Null)).map_err(ApiError::bad_request)?;
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
                item_references,
                expected_duration,
                started_at: now,
                finished_at: None,
            },
            first_task,
        })
        .await?;
    tracing::info!(workflow = def.id, instance = instance_id, task = %serial, originator = %caller.user, "workflow started");
    // A path, not a URL: nothing of it comes from the request (`Host`, `X-Forwarded-*` are the client's).
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
    let tasks: Vec<_> = rows.iter().map(|(t, i)| views::task(&api, t, i, &who, now)).collect();
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
    Ok(Json(views::task_details(&api, &t, &i, &who, unix_now())))
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
    Ok(Json(views::task(&api, &t, &i, &who, unix_now()).actions))
}

/// Take an action on a task. An activity action completes it and moves the instance to the next activity;
/// a system action name (`assign`, `release`, `redirect`, `sleep`, `wake`, in any case) is reserved and runs
/// that system action, with its own body.
#[utoipa::path(post, path = "/tasks/{serialNumber}/actions/{actionName}", tag = "Tasks",
    params(
        ("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`"),
        ("actionName" = String, Path, description = "An action of the task's activity (system action names are reserved)"),
    ),
    request_body(content = Option<ActionRequest>, description = "Optional data fields, XML fields and item references to set"),
    responses(
        (status = 200, description = "Done: the action's result, or the task after a system action", body = ActionOutcome),
        (status = 400, description = "Unknown action or invalid data field", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
        (status = 409, description = "Already completed, sleeping, or held by someone else", body = ErrorBody),
    ))]
pub async fn act(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((serial, action)): Path<(String, String)>,
    RawBody(bytes): RawBody,
) -> Result<axum::response::Response, ApiError> {
    let system = match action.to_ascii_lowercase().as_str() {
        "assign" => Some(SystemAction::Assign),
        "release" => Some(SystemAction::Release),
        "wake" => Some(SystemAction::Wake),
        "redirect" => {
            let target = redirect_target(&api(&state), body::parse::<RedirectRequest>(&bytes)?)?;
            Some(SystemAction::Redirect(target))
        }
        "sleep" => Some(SystemAction::Sleep(sleep_until(
            body::parse::<SleepRequest>(&bytes)?,
            unix_now(),
        )?)),
        _ => None,
    };
    if let Some(system) = system {
        return Ok(run_system(&state, &caller, &serial, system).await?.into_response());
    }
    let request: ActionRequest = body::parse_optional(&bytes)?;
    complete(&state, &caller, serial, action, request)
        .await
        .map(IntoResponse::into_response)
}

async fn complete(
    state: &ApiState,
    caller: &Caller,
    serial: String,
    action: String,
    request: ActionRequest,
) -> Result<Json<ActionResult>, ApiError> {
    let api = api(state);
    let id = task_id(&serial)?;
    let who = principal(caller);
    let update = update_of(request)?;
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
                    update,
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
    Ok(Json(views::task_details(&api, &task, &instance, &who, unix_now())))
}

/// The FQN a `RedirectTo` names, resolved through the directory as K2 does.
fn redirect_target(api: &WorkflowApi, request: RedirectRequest) -> Result<String, ApiError> {
    let raw = request.redirect_to.trim().to_string();
    if raw.is_empty() || raw.len() > 512 || raw.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "RedirectTo must name a user: a login name, label:user, label:domain\\user or an FQN (at most 512 characters)",
        ));
    }
    match resolve_user(api.people.as_ref(), &raw) {
        Resolved::Fqn(fqn) => Ok(fqn),
        Resolved::Nobody => Err(ApiError::bad_request(format!(
            "RedirectTo '{raw}' names nobody the directory knows; give a login name, label:user, label:domain\\user or the user's FQN"
        ))),
        Resolved::Ambiguous(fqns) => Err(ApiError::bad_request(format!(
            "RedirectTo '{raw}' names several users ({}); give label:domain\\user or the FQN",
            fqns.join(", ")
        ))),
    }
}

/// When a sleep ends, from a sleep request as K2 clients send it.
fn sleep_until(request: SleepRequest, now: i64) -> Result<i64, ApiError> {
    let sleep_for = request.sleep_for.filter(|s| *s != 0);
    let until = match request.sleep_until.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            let parsed = dates::parse_any_datetime(text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "SleepUntil '{text}' is not a date-time: give RFC 3339 (2024-05-01T09:30:00Z) or a .NET date (\\/Date(1714555800000)\\/)"
                ))
            })?;
            (!parsed.is_dotnet_min_value()).then_some(parsed)
        }
    };
    match (sleep_for, until) {
        (Some(seconds), None) if (1..=315_360_000).contains(&seconds) => Ok(now + seconds),
        (Some(_), None) => Err(ApiError::bad_request("SleepFor must be 1 to 315360000 seconds")),
        (None, Some(until)) => Ok(until.unix_seconds()),
        _ => Err(ApiError::bad_request(
            "give exactly one of SleepFor (seconds) and SleepUntil (a date-time)",
        )),
    }
}

/// Take a task: a group task leaves the other members' worklists; a released task is allocated again.
#[utoipa::path(post, path = "/tasks/{serialNumber}/actions/assign", tag = "Task system actions",
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

/// Give a taken task back: a group task to its group, a task sent to one user Available to them again.
#[utoipa::path(post, path = "/tasks/{serialNumber}/actions/release", tag = "Task system actions",
    params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
    responses(
        (status = 200, description = "The task, available again", body = TaskDetails),
            (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
        (status = 409, description = "Not allocated, or held by someone else", body = ErrorBody),
    ))]
pub async fn release(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(serial): Path<String>,
) -> Result<Json<TaskDetails>, ApiError> {
    run_system(&state, &caller, &serial, SystemAction::Release).await
}

/// Send a task to a user (the caller too), named as K2 clients name users.
#[utoipa::path(post, path = "/tasks/{serialNumber}/actions/redirect", tag = "Task system actions",
    params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
    request_body = RedirectRequest,
    responses(
        (status = 200, description = "The task, now allocated to the user", body = TaskDetails),
        (status = 400, description = "RedirectTo names nobody, or several users", body = ErrorBody),
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
    let target = redirect_target(&api(&state), request)?;
    run_system(&state, &caller, &serial, SystemAction::Redirect(target)).await
}

/// Put a task to sleep for a while or until a time.
#[utoipa::path(post, path = "/tasks/{serialNumber}/actions/sleep", tag = "Task system actions",
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
    let until = sleep_until(request, unix_now())?;
    run_system(&state, &caller, &serial, SystemAction::Sleep(until)).await
}

/// Wake a sleeping task.
#[utoipa::path(post, path = "/tasks/{serialNumber}/actions/wake", tag = "Task system actions",
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

/// The aliases `POST tasks/{sn}/{assign|release|redirect|sleep|wake}`, as served before K2's `actions/`
/// paths; each behaves exactly as its `actions/` path.
pub mod aliases {
    use super::*;

    /// Alias of `POST tasks/{serialNumber}/actions/assign`.
    #[utoipa::path(post, path = "/tasks/{serialNumber}/assign", tag = "Task system actions", operation_id = "assign_alias",
        params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
        responses(
            (status = 200, description = "The task, now allocated to the caller", body = TaskDetails),
            (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
            (status = 401, description = "No credentials", body = ErrorBody),
            (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
            (status = 409, description = "Completed, sleeping, or held by someone else", body = ErrorBody),
        ))]
    pub async fn assign(
        state: State<Arc<ApiState>>,
        caller: Caller,
        serial: Path<String>,
    ) -> Result<Json<TaskDetails>, ApiError> {
        super::assign(state, caller, serial).await
    }

    /// Alias of `POST tasks/{serialNumber}/actions/release`.
    #[utoipa::path(post, path = "/tasks/{serialNumber}/release", tag = "Task system actions", operation_id = "release_alias",
        params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
        responses(
            (status = 200, description = "The task, available again", body = TaskDetails),
            (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
            (status = 401, description = "No credentials", body = ErrorBody),
            (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
            (status = 409, description = "Not allocated, or held by someone else", body = ErrorBody),
        ))]
    pub async fn release(
        state: State<Arc<ApiState>>,
        caller: Caller,
        serial: Path<String>,
    ) -> Result<Json<TaskDetails>, ApiError> {
        super::release(state, caller, serial).await
    }

    /// Alias of `POST tasks/{serialNumber}/actions/redirect`.
    #[utoipa::path(post, path = "/tasks/{serialNumber}/redirect", tag = "Task system actions", operation_id = "redirect_alias",
        params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
        request_body = RedirectRequest,
        responses(
            (status = 200, description = "The task, now allocated to the user", body = TaskDetails),
            (status = 400, description = "RedirectTo names nobody, or several users", body = ErrorBody),
            (status = 401, description = "No credentials", body = ErrorBody),
            (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
            (status = 409, description = "Completed, sleeping, or held by someone else", body = ErrorBody),
        ))]
    pub async fn redirect(
        state: State<Arc<ApiState>>,
        caller: Caller,
        serial: Path<String>,
        request: JsonBody<RedirectRequest>,
    ) -> Result<Json<TaskDetails>, ApiError> {
        super::redirect(state, caller, serial, request).await
    }

    /// Alias of `POST tasks/{serialNumber}/actions/sleep`.
    #[utoipa::path(post, path = "/tasks/{serialNumber}/sleep", tag = "Task system actions", operation_id = "sleep_alias",
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
        state: State<Arc<ApiState>>,
        caller: Caller,
        serial: Path<String>,
        request: JsonBody<SleepRequest>,
    ) -> Result<Json<TaskDetails>, ApiError> {
        super::sleep(state, caller, serial, request).await
    }

    /// Alias of `POST tasks/{serialNumber}/actions/wake`.
    #[utoipa::path(post, path = "/tasks/{serialNumber}/wake", tag = "Task system actions", operation_id = "wake_alias",
        params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
        responses(
            (status = 200, description = "The task, awake", body = TaskDetails),
            (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
            (status = 401, description = "No credentials", body = ErrorBody),
            (status = 404, description = "Not in the caller's worklist", body = ErrorBody),
            (status = 409, description = "Not sleeping", body = ErrorBody),
        ))]
    pub async fn wake(
        state: State<Arc<ApiState>>,
        caller: Caller,
        serial: Path<String>,
    ) -> Result<Json<TaskDetails>, ApiError> {
        super::wake(state, caller, serial).await
    }
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
    Ok(Json(views::instance(&api, &instance, &tasks, &history, unix_now())))
}

/// A server event waiting for an external system, to a caller holding the server-event right of its
/// activity (the definition's `server_event.users` / `groups`).
#[utoipa::path(get, path = "/serverEvents/{serialNumber}", tag = "Server events",
    params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
    responses(
        (status = 200, description = "The server event", body = ServerEventDetails),
            (status = 400, description = "Path refused by the gateway (control characters, malformed escapes)", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "No such server event waiting that the caller may finish", body = ErrorBody),
    ))]
pub async fn get_server_event(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(serial): Path<String>,
) -> Result<Json<ServerEventDetails>, ApiError> {
    let api = api(&state);
    let who = principal(&caller);
    let not_found = || ApiError::from(no_server_event(&serial));
    let id = task_id(&serial).map_err(|_| not_found())?;
    match api.store.task(id).await? {
        Some((t, i))
            if t.serial_number == serial
                && api
                    .definitions
                    .get(i.workflow_id)
                    .is_some_and(|d| engine::may_finish(d, &t, &who)) =>
        {
            Ok(Json(views::server_event(&api, &t, &i)))
        }
        _ => Err(not_found()),
    }
}

/// Finish a server event: the external system reports back, optionally setting data fields, XML fields and
/// item references, and the instance moves on.
#[utoipa::path(post, path = "/serverEvents/{serialNumber}/finish", tag = "Server events",
    params(("serialNumber" = String, Path, description = "`{instanceId}_{destinationId}`")),
    request_body(content = Option<ActionRequest>, description = "Optional data fields, XML fields and item references to set"),
    responses(
        (status = 200, description = "Finished", body = ActionResult),
        (status = 400, description = "Invalid data field, XML field or item reference", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "No such server event waiting that the caller may finish", body = ErrorBody),
        (status = 409, description = "The next activity cannot be routed (e.g. no manager)", body = ErrorBody),
    ))]
pub async fn finish_server_event(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(serial): Path<String>,
    OptionalJsonBody(request): OptionalJsonBody<ActionRequest>,
) -> Result<Json<ActionResult>, ApiError> {
    let api = api(&state);
    let id = task_id(&serial).map_err(|_| ApiError::from(no_server_event(&serial)))?;
    let update = update_of(request)?;
    let who = principal(&caller);
    let decider = api.clone();
    let expected = serial.clone();
    let outcome = api
        .store
        .update_task(
            id,
            Box::new(
                move |task, instance| match decider.definitions.get(instance.workflow_id) {
                    Some(def) if task.serial_number == expected => {
                        engine::finish(def, decider.people.as_ref(), task, instance, &who, update, unix_now())
                    }
                    _ => Err(no_server_event(&expected)),
                },
            ),
        )
        .await?;
    let (task, instance) = outcome.map_err(|e| match e {
        WorkflowError::NotFound(_) => no_server_event(&serial).into(),
        other => ApiError::from(other),
    })?;
    tracing::info!(server_event = %serial, by = %caller.user, instance_status = %instance.status, "server event finished");
    Ok(Json(ActionResult {
        serial_number: task.serial_number,
        action: task.action.unwrap_or_default(),
        workflow_instance_id: instance.id,
        instance_status: instance.status,
        current_activity: instance.current_activity.unwrap_or_default(),
    }))
}
