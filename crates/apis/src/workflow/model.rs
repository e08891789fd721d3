//! The JSON shapes of the Workflow REST API (K2-compatible names), with the schemas the OpenAPI document is
//! generated from. Request bodies list their member names ([`Members`]) so clients may spell them in any case,
//! as K2's server (Json.NET) allows.

use super::json::Members;
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
    /// The JSON schema of a start request (as `GET workflows/{id}/schema` returns it), serialized as a string.
    pub workflow_schema: String,
}

/// An XML field value as K2 clients send and read it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct XmlField {
    /// The XML field's name.
    pub name: String,
    /// Its value (an XML document as a string; null when unset).
    pub value: Option<String>,
}

/// XML field values: an object by name, or K2's list of `{"name", "value"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // documents the accepted shapes; bodies are read as JSON values
pub enum XmlFieldValues {
    /// `{"Receipts": "<receipts/>"}`.
    ByName(std::collections::BTreeMap<String, Option<String>>),
    /// `[{"name": "Receipts", "value": "<receipts/>"}]`.
    List(Vec<XmlField>),
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
    /// XML field values (strings): an object by name or K2's list of `{"name", "value"}`.
    #[serde(default)]
    #[schema(value_type = Option<XmlFieldValues>)]
    pub xml_fields: Option<Value>,
    /// Item references: `{"SmartObject": {"recordId": {"Property": value}}}`, and/or K2's XML form as
    /// `{"xmlContent": "<itemReferences>…</itemReferences>"}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub item_references: Option<Value>,
}

impl Members for StartRequest {
    const NAMES: &'static [&'static str] = &[
        "folio",
        "priority",
        "expectedDuration",
        "dataFields",
        "xmlFields",
        "itemReferences",
    ];
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
    /// The manager's FQN, as the directory names them (empty when unknown).
    pub manager: String,
}

/// The actions a task offers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskActions {
    /// System actions available now (`assign`, `release`, `redirect`, `sleep`, `wake`):
    /// `POST tasks/{sn}/actions/{action}`.
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
    /// The workflow's display name.
    pub workflow_display_name: String,
    /// The workflow's folder.
    pub workflow_category: String,
    /// The activity instance (one task per activity instance here: the destination id).
    #[serde(rename = "activityInstanceID")]
    pub activity_instance_id: i64,
    /// The activity instance destination (the second part of the serial number).
    #[serde(rename = "activityInstanceDestinationID")]
    pub activity_instance_destination_id: i64,
    /// The activity's description.
    pub event_description: String,
    /// The task's form, from the workflow's `form_url` template (empty without one).
    #[serde(rename = "formURL")]
    pub form_url: String,
    /// The instance's view-flow page, from `workflow.view_flow_url` (empty without one).
    #[serde(rename = "viewFlowURL")]
    pub view_flow_url: String,
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
    /// The fields this activity shows and its actions may change; unset ones have their type's default
    /// (`""`, `0`, `false`).
    #[schema(value_type = Object)]
    pub data_fields: Map<String, Value>,
    /// All data fields of the instance, unset ones with their type's default.
    #[schema(value_type = Object)]
    pub workflow_instance_data_fields: Map<String, Value>,
    /// `workflowInstanceDataFields` as a JSON string.
    pub workflow_instance_data_fields_string: String,
    /// The instance's XML fields.
    pub workflow_instance_xml_fields: Vec<XmlField>,
    /// Activity-level data fields (workflow definitions here have none: always empty).
    #[schema(value_type = Object)]
    pub activity_data_fields: Map<String, Value>,
    /// The instance's item references (JSON form).
    #[schema(value_type = Object)]
    pub item_references: Map<String, Value>,
    /// The instance's item references in K2's XML form (empty when none).
    pub item_references_string: String,
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

/// What an action on a task or the finish of a server event changes (K2's `UpdateFieldsRequest`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionRequest {
    /// Data field values to set (only the activity's fields).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data_fields: Option<Map<String, Value>>,
    /// XML field values to set: an object by name or K2's list of `{"name", "value"}`.
    #[serde(default)]
    #[schema(value_type = Option<XmlFieldValues>)]
    pub xml_fields: Option<Value>,
    /// Item references to add or update (JSON form and/or `{"xmlContent": "…"}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub item_references: Option<Value>,
}

impl Members for ActionRequest {
    const NAMES: &'static [&'static str] = &["dataFields", "xmlFields", "itemReferences"];
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

/// What `POST tasks/{sn}/actions/{actionName}` answers: the result of an activity action, or the task after a
/// system action (a reserved name).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // documents the two answers; the handler returns either type directly
pub enum ActionOutcome {
    /// An activity action was taken.
    Done(ActionResult),
    /// A system action was taken.
    System(Box<TaskDetails>),
}

/// Redirect a task to a user (the caller themselves too).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectRequest {
    /// The user: an FQN (`K2:CONTOSO\bob`), `label:user`, `label:domain\user`, `domain\user` or a login name
    /// (`bob`), resolved through the directory.
    #[serde(rename = "RedirectTo")]
    #[schema(min_length = 1, max_length = 512)]
    pub redirect_to: String,
}

impl Members for RedirectRequest {
    const NAMES: &'static [&'static str] = &["RedirectTo"];
}

/// Put a task to sleep, for a number of seconds (`SleepFor`) or until a time (`SleepUntil`: RFC 3339, a .NET
/// date `\/Date(ms)\/`, or ISO 8601 without an offset, taken as UTC). Give one of them; as K2 clients send both
/// members, `SleepFor: 0` and a `SleepUntil` that is null, empty or .NET's `DateTime.MinValue` count as not
/// given.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepRequest {
    /// Seconds from now (1 to 315360000; 0 means not given).
    #[serde(rename = "SleepFor", default)]
    #[schema(minimum = 0, maximum = 315360000)]
    pub sleep_for: Option<i64>,
    /// When to wake (in the future).
    #[serde(rename = "SleepUntil", default)]
    pub sleep_until: Option<String>,
}

impl Members for SleepRequest {
    const NAMES: &'static [&'static str] = &["SleepFor", "SleepUntil"];
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
    /// `user`, `group` or `server` (a server event).
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

/// A server event as the external system that finishes it sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerEventDetails {
    /// `{instanceId}_{destinationId}`.
    pub serial_number: String,
    /// Workflow id.
    #[serde(rename = "workflowID")]
    pub workflow_id: i64,
    /// Workflow name.
    pub workflow_name: String,
    /// The workflow's display name.
    pub workflow_display_name: String,
    /// The workflow's folder.
    pub workflow_category: String,
    /// Instance id.
    #[serde(rename = "workflowInstanceID")]
    pub workflow_instance_id: i64,
    /// Instance folio.
    pub workflow_instance_folio: String,
    /// The activity instance (the destination id).
    #[serde(rename = "activityInstanceID")]
    pub activity_instance_id: i64,
    /// The activity instance destination (the second part of the serial number).
    #[serde(rename = "activityInstanceDestinationID")]
    pub activity_instance_destination_id: i64,
    /// Activity.
    pub activity_name: String,
    /// Event.
    pub event_name: String,
    /// The activity's description.
    pub event_description: String,
    /// The waiting event.
    pub event_instance: EventInstance,
    /// The fields the finish may set, unset ones with their type's default.
    #[schema(value_type = Object)]
    pub data_fields: Map<String, Value>,
    /// The instance's XML fields.
    pub xml_fields: Vec<XmlField>,
    /// The instance's item references (JSON form).
    #[schema(value_type = Object)]
    pub item_references: Map<String, Value>,
    /// All data fields of the instance as a JSON string.
    pub workflow_instance_data_fields_string: String,
    /// The item references in K2's XML form (empty when none).
    pub item_references_string: String,
    /// The instance's view-flow page (empty without `workflow.view_flow_url`).
    #[serde(rename = "viewFlowURL")]
    pub view_flow_url: String,
}

/// The waiting event of a server event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventInstance {
    /// Event name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `Active` while waiting.
    pub status: String,
    /// Since when (RFC 3339).
    pub start_date: String,
}

/// An entry of an instance's history.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// When (RFC 3339).
    pub date: String,
    /// Who (FQN).
    pub user: String,
    /// `Started`, `Action`, `Assigned`, `Released`, `Redirected`, `Slept`, `Woken`, `Finished` (a server
    /// event) or `Completed`.
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
    /// Item references (JSON form).
    #[schema(value_type = Object)]
    pub item_references: Map<String, Value>,
    /// Item references in K2's XML form (empty when none).
    pub item_references_string: String,
    /// The instance's view-flow page (empty without `workflow.view_flow_url`).
    #[serde(rename = "viewFlowURL")]
    pub view_flow_url: String,
    /// Its tasks (and server events), oldest first.
    pub tasks: Vec<InstanceTask>,
    /// Who did what, when.
    pub history: Vec<HistoryEntry>,
}
