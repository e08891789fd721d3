//! The JSON shapes of the Workflow REST API (K2-compatible names), with the schemas the OpenAPI document is
//! generated from.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// A JSON error: a short code and a description naming the problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Short code, e.g. `bad_request`, `not_found`, `conflict`.
    pub error: String,
    /// What went wrong.
    pub error_description: String,
}

/// A workflow the caller may start.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSummary {
    /// Workflow id.
    pub id: i64,
    /// Version started by default.
    pub default_version_id: i64,
    /// Display name.
    pub name: String,
    /// Folder.
    pub folder: String,
    /// System name.
    pub system_name: String,
}

/// The workflows the caller may start.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowList {
    /// Number of workflows.
    pub item_count: usize,
    /// The workflows.
    pub workflows: Vec<WorkflowSummary>,
}

/// A data field of a workflow.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldInfo {
    /// Name.
    pub name: String,
    /// `string`, `integer`, `decimal`, `boolean`, `date` or `datetime`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether a start request must give it.
    pub required: bool,
}

/// What a workflow is.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowInfo {
    /// Display name.
    pub name: String,
    /// System name.
    pub system_name: String,
    /// Folder.
    pub folder: String,
    /// Description.
    pub description: String,
    /// Expected duration of an instance, in minutes.
    pub expected_duration: i64,
    /// Data fields.
    pub data_fields: Vec<FieldInfo>,
    /// XML field names.
    pub xml_fields: Vec<String>,
}

/// A workflow's details.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowDetails {
    /// Workflow id.
    pub id: i64,
    /// Version started by default.
    pub default_version_id: i64,
    /// The details.
    pub workflow_info: WorkflowInfo,
}

/// A request to start an instance.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRequest {
    /// Folio (default: the workflow name). At most 1024 characters.
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub folio: Option<String>,
    /// 0 low, 1 normal (default), 2 high.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2)]
    pub priority: Option<i64>,
    /// Expected duration in minutes (default: the workflow's).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 5256000)]
    pub expected_duration: Option<i64>,
    /// Data field values by name, typed as `GET workflows/{id}/schema` describes.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data_fields: Option<Map<String, Value>>,
    /// XML field values (strings) by name.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub xml_fields: Option<Map<String, Value>>,
}

/// Who started an instance.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Originator {
    /// Login name.
    pub username: String,
    /// FQN.
    pub fqn: String,
    /// Display name.
    pub display_name: String,
    /// E-mail (empty when unknown).
    pub email: String,
}

/// The actions a task offers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskActions {
    /// System actions available now (`assign`, `release`, `redirect`, `sleep`, `wake`): `POST tasks/{sn}/{action}`.
    pub system_actions: Vec<String>,
    /// Activity actions that can be taken on many tasks at once: `POST tasks/{sn}/actions/{action}`.
    pub batchable_actions: Vec<String>,
    /// Activity actions to take one task at a time.
    pub non_batchable_actions: Vec<String>,
}

/// A task in a worklist.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// `{instanceId}_{destinationId}`.
    pub serial_number: String,
    /// `Available`, `Allocated`, `Open` or `Sleep`.
    pub status: String,
    /// Activity.
    pub activity_name: String,
    /// Event.
    pub event_name: String,
    /// Instruction.
    pub instruction: String,
    /// Priority of the instance.
    pub priority: i64,
    /// When the task was created (RFC 3339).
    pub task_start_date: String,
    /// FQN of the user holding it (empty while available to a group).
    pub allocated_to: String,
    /// When a sleep ends (RFC 3339; empty unless sleeping until a time).
    pub sleep_until: String,
    /// Workflow id.
    #[serde(rename = "workflowID")]
    pub workflow_id: i64,
    /// Workflow name.
    pub workflow_name: String,
    /// Instance id.
    #[serde(rename = "workflowInstanceID")]
    pub workflow_instance_id: i64,
    /// Instance folio.
    pub workflow_instance_folio: String,
    /// Who started the instance.
    pub originator: Originator,
    /// What can be done with it.
    pub actions: TaskActions,
}

/// The caller's worklist.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskList {
    /// Number of tasks in this response.
    pub item_count: usize,
    /// The tasks, oldest first.
    pub tasks: Vec<Task>,
}

/// A task with its data.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDetails {
    /// The task.
    #[serde(flatten)]
    pub task: Task,
    /// The fields this activity shows and its actions may change.
    #[schema(value_type = Object)]
    pub data_fields: Map<String, Value>,
    /// All data fields of the instance.
    #[schema(value_type = Object)]
    pub workflow_instance_data_fields: Map<String, Value>,
}

/// The worklist filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum TaskStateFilter {
    /// Sent to a group, not taken.
    Available,
    /// Held by the caller.
    Allocated,
    /// Opened by the caller.
    Open,
    /// Sleeping.
    Sleep,
}

/// Worklist query parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// Only tasks in this state.
    pub state: Option<TaskStateFilter>,
    /// Tasks to skip (default 0).
    #[param(minimum = 0)]
    pub skip: Option<i64>,
    /// Tasks at most (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub take: Option<i64>,
}

/// An action on a task, with the data fields it changes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionRequest {
    /// Data field values to set (only the activity's fields).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data_fields: Option<Map<String, Value>>,
}

/// The result of an action.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    /// The task.
    pub serial_number: String,
    /// The action taken.
    pub action: String,
    /// The instance.
    #[serde(rename = "workflowInstanceID")]
    pub workflow_instance_id: i64,
    /// `Active` or `Completed`.
    pub instance_status: String,
    /// The instance's activity now (empty once completed).
    pub current_activity: String,
}

/// Redirect a task to another user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectRequest {
    /// The user's FQN, e.g. `K2:CONTOSO\bob`.
    #[serde(rename = "RedirectTo")]
    #[schema(min_length = 1, max_length = 512)]
    pub redirect_to: String,
}

/// Put a task to sleep, for a number of seconds or until a time: exactly one of `SleepFor` and `SleepUntil`.
///
/// Parsed through [`SleepFields`] so that a body with neither or both gets an error that says so, while the
/// OpenAPI document shows the two accepted shapes (`oneOf`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged, try_from = "SleepFields")]
pub enum SleepRequest {
    /// Sleep this long.
    For {
        /// Seconds from now.
        #[serde(rename = "SleepFor")]
        #[schema(minimum = 1, maximum = 315360000)]
        sleep_for: i64,
    },
    /// Sleep until this time.
    Until {
        /// When to wake (RFC 3339, in the future).
        #[serde(rename = "SleepUntil")]
        #[schema(format = DateTime)]
        sleep_until: String,
    },
}

/// The body of a sleep request as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepFields {
    #[serde(rename = "SleepFor", default)]
    sleep_for: Option<i64>,
    #[serde(rename = "SleepUntil", default)]
    sleep_until: Option<String>,
}

impl TryFrom<SleepFields> for SleepRequest {
    type Error = &'static str;

    fn try_from(fields: SleepFields) -> Result<Self, Self::Error> {
        match (fields.sleep_for, fields.sleep_until) {
            (Some(sleep_for), None) => Ok(Self::For { sleep_for }),
            (None, Some(sleep_until)) => Ok(Self::Until { sleep_until }),
            _ => Err("give exactly one of SleepFor (seconds) and SleepUntil"),
        }
    }
}

/// A task of an instance, finished or not.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceTask {
    /// Serial number.
    pub serial_number: String,
    /// Activity.
    pub activity_name: String,
    /// Status.
    pub status: String,
    /// `user` or `group`.
    pub destination_type: String,
    /// User FQN or group.
    pub destination: String,
    /// Holder (empty when none).
    pub allocated_to: String,
    /// Action taken (empty when none).
    pub action: String,
    /// Who took it (empty when none).
    pub actioned_by: String,
    /// Created (RFC 3339).
    pub start_date: String,
    /// Completed (RFC 3339; empty while open).
    pub finish_date: String,
}

/// An entry of an instance's history.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// When (RFC 3339).
    pub date: String,
    /// Who (FQN).
    pub user: String,
    /// `Started`, `Action`, `Assigned`, `Released`, `Redirected`, `Slept`, `Woken` or `Completed`.
    pub event: String,
    /// Activity (empty for instance events).
    pub activity_name: String,
    /// Task (empty for instance events).
    pub serial_number: String,
    /// Action name, redirect target, sleep end, folio...
    pub detail: String,
}

/// An instance's status, data and history.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceDetails {
    /// Instance id.
    pub id: i64,
    /// Workflow id.
    #[serde(rename = "workflowID")]
    pub workflow_id: i64,
    /// Workflow name.
    pub workflow_name: String,
    /// Folio.
    pub folio: String,
    /// Priority.
    pub priority: i64,
    /// `Active` or `Completed`.
    pub status: String,
    /// Who started it.
    pub originator: Originator,
    /// Current activity (empty once completed).
    pub current_activity: String,
    /// Started (RFC 3339).
    pub start_date: String,
    /// Finished (RFC 3339; empty while active).
    pub finish_date: String,
    /// Expected duration in minutes.
    pub expected_duration: i64,
    /// Data fields.
    #[schema(value_type = Object)]
    pub data_fields: Map<String, Value>,
    /// XML fields.
    #[schema(value_type = Object)]
    pub xml_fields: Map<String, Value>,
    /// Its tasks, oldest first.
    pub tasks: Vec<InstanceTask>,
    /// Who did what, when.
    pub history: Vec<HistoryEntry>,
}
