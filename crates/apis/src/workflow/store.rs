//! Workflow state: the [`WorkflowStore`] trait the handlers use and the records it stores, naming no backend
//! (SQLite implements it in `crate::store::sqlite::workflow`). Each request is one transaction: a start writes the instance, its first task and history
//! together; an action on a task reads, decides and writes under the single writer's immediate transaction,
//! so of two concurrent actions on one task exactly one sees it open.
//!
//! The tables `wf_instances` and `wf_tasks` are also read by the OData workflow-statistics SmartObjects:
//! their column names and meanings are a contract (see `docs/architecture.md`).

use super::error::WorkflowError;
use super::item_refs::ItemReferences;
use crate::store::StoreError;
use async_trait::async_trait;

/// `destination_kind` of a task sent to one user.
pub const DESTINATION_USER: &str = "user";
/// `destination_kind` of a task sent to a group.
pub const DESTINATION_GROUP: &str = "group";
/// `destination_kind` of a server event (no destination: an external system finishes it).
pub const DESTINATION_SERVER: &str = "server";

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// Sent to a group, taken by nobody yet.
    Available,
    /// Held by one user.
    Allocated,
    /// Opened by the user holding it (accepted as stored; this API allocates rather than opens).
    Open,
    /// Put aside until a time or until woken.
    Sleep,
    /// An action was taken.
    Completed,
    /// Withdrawn without an action.
    Cancelled,
    /// A server event waiting for an external system to finish it.
    Active,
}

impl TaskStatus {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "Available",
            Self::Allocated => "Allocated",
            Self::Open => "Open",
            Self::Sleep => "Sleep",
            Self::Completed => "Completed",
            Self::Cancelled => "Cancelled",
            Self::Active => "Active",
        }
    }

    /// Parses a stored or requested name (case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Available,
            Self::Allocated,
            Self::Open,
            Self::Sleep,
            Self::Completed,
            Self::Cancelled,
            Self::Active,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(text))
    }

    /// Whether no more actions can happen.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }
}

/// Who is asking: an FQN and the caller's groups.
#[derive(Debug, Clone)]
pub struct Principal {
    /// FQN.
    pub user: String,
    /// Group names.
    pub groups: Vec<String>,
}

/// A stored instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    /// Id.
    pub id: i64,
    /// Workflow definition id.
    pub workflow_id: i64,
    /// Workflow name when started.
    pub workflow_name: String,
    /// Folio.
    pub folio: String,
    /// Priority (0 low, 1 normal, 2 high).
    pub priority: i64,
    /// `Active` or `Completed`.
    pub status: String,
    /// Originator FQN.
    pub originator: String,
    /// Originator display name, as forwarded when started.
    pub originator_display_name: Option<String>,
    /// Originator e-mail, as forwarded when started.
    pub originator_email: Option<String>,
    /// Current activity; `None` once completed.
    pub current_activity: Option<String>,
    /// Data fields (a JSON object).
    pub data_fields: serde_json::Map<String, serde_json::Value>,
    /// XML fields (a JSON object of strings).
    pub xml_fields: serde_json::Map<String, serde_json::Value>,
    /// Item references.
    pub item_references: ItemReferences,
    /// Expected duration in minutes.
    pub expected_duration: i64,
    /// Start, Unix seconds.
    pub started_at: i64,
    /// End, Unix seconds.
    pub finished_at: Option<i64>,
}

/// A stored task (a destination of an activity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// Destination id.
    pub id: i64,
    /// Instance id.
    pub instance_id: i64,
    /// `{instance_id}_{id}`.
    pub serial_number: String,
    /// Activity name.
    pub activity: String,
    /// `user`, `group` or `server` ([`DESTINATION_USER`]...).
    pub destination_kind: String,
    /// User FQN or group name (empty for a server event).
    pub destination: String,
    /// FQN of the user holding it.
    pub allocated_to: Option<String>,
    /// Stored status.
    pub status: TaskStatus,
    /// Status to return to on waking.
    pub prior_status: Option<TaskStatus>,
    /// When a sleep ends, Unix seconds (`None`: until woken).
    pub sleep_until: Option<i64>,
    /// Action taken.
    pub action: Option<String>,
    /// Who took it.
    pub actioned_by: Option<String>,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Completed, Unix seconds.
    pub completed_at: Option<i64>,
}

impl TaskRecord {
    /// The status at `now`: a sleep whose time has passed is over.
    pub fn effective_status(&self, now: i64) -> TaskStatus {
        match (self.status, self.sleep_until) {
            (TaskStatus::Sleep, Some(until)) if until <= now => self.prior_status.unwrap_or(TaskStatus::Allocated),
            (status, _) => status,
        }
    }
}

/// A history entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// When, Unix seconds.
    pub at: i64,
    /// Who (FQN).
    pub actor: String,
    /// What: `Started`, `Action`, `Assigned`, `Released`, `Redirected`, `Slept`, `Woken`, `Completed`.
    pub event: String,
    /// Activity concerned.
    pub activity: Option<String>,
    /// Task concerned.
    pub serial_number: Option<String>,
    /// Details (action name, redirect target, ...).
    pub detail: Option<String>,
}

/// A task to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// Activity name.
    pub activity: String,
    /// `user` or `group`.
    pub destination_kind: String,
    /// FQN or group.
    pub destination: String,
    /// Holder (user destinations).
    pub allocated_to: Option<String>,
    /// Initial status.
    pub status: TaskStatus,
}

/// An instance to create with its first task.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// The instance (its `id` is ignored).
    pub instance: InstanceRecord,
    /// Its first task.
    pub first_task: NewTask,
}

/// The changes one task action makes, decided by the engine from the current records.
#[derive(Debug, Clone)]
pub struct Transition {
    /// When it happens, Unix seconds.
    pub at: i64,
    /// The task's new state.
    pub task: TaskRecord,
    /// The instance's new state, when it changes.
    pub instance: Option<InstanceRecord>,
    /// The next activity's task.
    pub new_task: Option<NewTask>,
    /// History entries (actor, event, activity, detail) to append.
    pub history: Vec<HistoryRecord>,
}

/// The engine's decision about a task, given its current state.
pub type Decide = Box<dyn FnOnce(&TaskRecord, &InstanceRecord) -> Result<Transition, WorkflowError> + Send>;

/// A page of the worklist.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Rows to skip.
    pub skip: i64,
    /// Rows at most.
    pub take: i64,
}

/// Most groups whose untaken tasks a backend reads with one ordered index scan each when it builds a worklist
/// page (each scan stopped after skip + take rows, so the page costs the same however many tasks are open).
/// A caller in more groups gets one scan over all of them, whichever way the database plans it.
pub const MAX_GROUP_SCANS: usize = 64;

/// The caller's groups as the worklist reads them: each once, compared as the stores compare names (ASCII
/// case-insensitively), the first spelling kept. A group named twice would otherwise be scanned twice and
/// its tasks listed twice.
pub fn worklist_groups(groups: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    groups
        .iter()
        .filter(|g| seen.insert(g.to_ascii_lowercase()))
        .cloned()
        .collect()
}

/// Workflow state storage. SQLite implements it today; PostgreSQL can implement it later.
#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// Creates an instance and its first task; returns the instance id and the task's serial number.
    async fn start(&self, new: NewInstance) -> Result<(i64, String), StoreError>;
    /// The open tasks `who` holds or may take (their groups' untaken tasks), oldest first, with their
    /// instances, optionally only those with status `state` at `now`.
    async fn worklist(
        &self,
        who: &Principal,
        state: Option<TaskStatus>,
        page: Page,
        now: i64,
    ) -> Result<Vec<(TaskRecord, InstanceRecord)>, StoreError>;
    /// A task and its instance, by destination id.
    async fn task(&self, task_id: i64) -> Result<Option<(TaskRecord, InstanceRecord)>, StoreError>;
    /// An instance with its tasks and history.
    async fn instance(
        &self,
        id: i64,
    ) -> Result<Option<(InstanceRecord, Vec<TaskRecord>, Vec<HistoryRecord>)>, StoreError>;
    /// Applies `decide` to a task atomically: reads it, lets the engine decide, writes the result, all in one
    /// transaction. `Ok(Err(_))` is the engine's refusal (nothing written); a missing task is `NotFound`.
    async fn update_task(
        &self,
        task_id: i64,
        decide: Decide,
    ) -> Result<Result<(TaskRecord, InstanceRecord), WorkflowError>, StoreError>;
}
