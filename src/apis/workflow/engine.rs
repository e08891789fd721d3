//! The workflow rules, as pure functions of definitions and stored records: who may see and act on a task,
//! what a start request must contain, where an activity's task goes, and what each action changes. The store
//! applies the [`Transition`]s these return inside one transaction.

use super::dates;
use super::definitions::{Activity, Definition, Destination, Field, FieldType};
use super::store::{HistoryRecord, InstanceRecord, NewTask, Principal, TaskRecord, TaskStatus, Transition};
use crate::apis::ApiError;
use crate::directory::people::People;
use crate::store::StoreError;
use serde_json::{Map, Value};
use thiserror::Error;

/// Why the engine refused a request.
#[derive(Debug, Error)]
pub enum WorkflowError {
    /// The request is malformed or names something invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// The thing does not exist or is not the caller's (404, indistinguishable on purpose).
    #[error("{0}")]
    NotFound(String),
    /// The task or instance is not in a state that allows it (409).
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<WorkflowError> for ApiError {
    fn from(err: WorkflowError) -> Self {
        match err {
            WorkflowError::BadRequest(m) => ApiError::bad_request(m),
            WorkflowError::NotFound(m) => ApiError::not_found(m),
            WorkflowError::Conflict(m) => ApiError::conflict(m),
            WorkflowError::Store(e) => e.into(),
        }
    }
}

/// The 404 for a task that does not exist or is not the caller's.
pub fn no_task(serial: &str) -> WorkflowError {
    WorkflowError::NotFound(format!("no task '{serial}' in your worklist"))
}

/// Whether the task was sent to `who`: held by them, destined to them, or destined to one of their groups.
pub fn eligible(task: &TaskRecord, who: &Principal) -> bool {
    let held = task
        .allocated_to
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(&who.user));
    let destined = match task.destination_kind.as_str() {
        "user" => task.destination.eq_ignore_ascii_case(&who.user),
        "group" => who.groups.iter().any(|g| g.eq_ignore_ascii_case(&task.destination)),
        _ => false,
    };
    held || destined
}

/// Whether the task is in `who`'s worklist: open, sent to them, and held by nobody else.
pub fn visible(task: &TaskRecord, who: &Principal) -> bool {
    task.completed_at.is_none()
        && !task.status.is_final()
        && eligible(task, who)
        && task
            .allocated_to
            .as_deref()
            .is_none_or(|a| a.eq_ignore_ascii_case(&who.user))
}

/// The system actions `who` can take on a visible task at `now`.
pub fn system_actions(task: &TaskRecord, who: &Principal, now: i64) -> Vec<&'static str> {
    match task.effective_status(now) {
        TaskStatus::Available => vec!["assign", "redirect", "sleep"],
        TaskStatus::Allocated | TaskStatus::Open if task.destination_kind == "group" => {
            vec!["release", "redirect", "sleep"]
        }
        TaskStatus::Allocated | TaskStatus::Open => vec!["redirect", "sleep"],
        TaskStatus::Sleep if eligible(task, who) => vec!["wake"],
        _ => vec![],
    }
}

/// Checks `value` against a field's type; the message names the field and the expected type.
pub fn check_value(field: &Field, value: &Value) -> Result<(), String> {
    let ok = match (field.kind, value) {
        (_, Value::Null) => !field.required,
        (FieldType::String, Value::String(_)) => true,
        (FieldType::Integer, Value::Number(n)) => n.is_i64(),
        (FieldType::Decimal, Value::Number(_)) => true,
        (FieldType::Boolean, Value::Bool(_)) => true,
        (FieldType::Date, Value::String(s)) => dates::parse_date(s).is_some(),
        (FieldType::Datetime, Value::String(s)) => dates::parse_rfc3339(s).is_some(),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let expected = match field.kind {
        FieldType::Date => "a date string YYYY-MM-DD",
        FieldType::Datetime => "an RFC 3339 date-time string",
        FieldType::String => "a string",
        FieldType::Integer => "an integer",
        FieldType::Decimal => "a number",
        FieldType::Boolean => "true or false",
    };
    Err(format!(
        "data field '{}' is of type {}: expected {expected}{}",
        field.name,
        field.kind.as_str(),
        if value.is_null() { " (it is required)" } else { "" }
    ))
}

/// Validates the data fields of a start request: known names, right types, required ones present.
/// Returns every declared field, `null` where not given.
pub fn start_fields(def: &Definition, given: Map<String, Value>) -> Result<Map<String, Value>, WorkflowError> {
    let mut problems = Vec::new();
    for name in given.keys() {
        if def.field(name).is_none() {
            problems.push(format!("workflow '{}' has no data field '{name}'", def.name));
        }
    }
    let mut fields = Map::new();
    for field in &def.fields {
        let value = given.get(&field.name).cloned().unwrap_or(Value::Null);
        if field.required && value.is_null() {
            problems.push(format!("required data field '{}' is missing", field.name));
        } else if let Err(p) = check_value(field, &value) {
            problems.push(p);
        }
        fields.insert(field.name.clone(), value);
    }
    if problems.is_empty() {
        Ok(fields)
    } else {
        Err(WorkflowError::BadRequest(problems.join("; ")))
    }
}

/// Validates the XML fields of a start request (declared names, string values).
pub fn start_xml(def: &Definition, given: Map<String, Value>) -> Result<Map<String, Value>, WorkflowError> {
    let mut out = Map::new();
    for name in &def.xml_fields {
        out.insert(name.clone(), Value::Null);
    }
    for (name, value) in given {
        if !def.xml_fields.contains(&name) {
            return Err(WorkflowError::BadRequest(format!(
                "workflow '{}' has no XML field '{name}'",
                def.name
            )));
        }
        if !(value.is_string() || value.is_null()) {
            return Err(WorkflowError::BadRequest(format!(
                "XML field '{name}' must be a string"
            )));
        }
        out.insert(name, value);
    }
    Ok(out)
}

/// Merges an action's data fields into the instance's, allowing only the activity's fields.
pub fn merge_fields(
    def: &Definition,
    activity: &Activity,
    data: &mut Map<String, Value>,
    given: Map<String, Value>,
) -> Result<(), WorkflowError> {
    for (name, value) in &given {
        let Some(field) = def.field(name).filter(|_| activity.fields.contains(name)) else {
            return Err(WorkflowError::BadRequest(format!(
                "activity '{}' has no data field '{name}'; it takes: {}",
                activity.name,
                activity.fields.join(", ")
            )));
        };
        if value.is_null() && field.required {
            return Err(WorkflowError::BadRequest(format!(
                "required data field '{name}' cannot be cleared"
            )));
        }
        check_value(field, value).map_err(WorkflowError::BadRequest)?;
    }
    data.extend(given);
    Ok(())
}

/// Where an activity's task goes for an instance started by `originator`.
pub fn route(activity: &Activity, originator: &str, people: &dyn People) -> Result<NewTask, WorkflowError> {
    let user = |fqn: String| NewTask {
        activity: activity.name.clone(),
        destination_kind: "user".into(),
        destination: fqn.clone(),
        allocated_to: Some(fqn),
        status: TaskStatus::Allocated,
    };
    Ok(match &activity.destination {
        Destination::User(fqn) => user(fqn.clone()),
        Destination::Originator => user(originator.to_string()),
        Destination::OriginatorManager => {
            let manager = people.person(originator).and_then(|p| p.manager).ok_or_else(|| {
                WorkflowError::Conflict(format!(
                    "activity '{}' goes to the originator's manager, but the directory names no manager for {originator}",
                    activity.name
                ))
            })?;
            user(manager)
        }
        Destination::Group(group) => NewTask {
            activity: activity.name.clone(),
            destination_kind: "group".into(),
            destination: group.clone(),
            allocated_to: None,
            status: TaskStatus::Available,
        },
    })
}

fn history(at: i64, who: &Principal, event: &str, task: &TaskRecord, detail: Option<String>) -> HistoryRecord {
    HistoryRecord {
        at,
        actor: who.user.clone(),
        event: event.into(),
        activity: Some(task.activity.clone()),
        serial_number: Some(task.serial_number.clone()),
        detail,
    }
}

/// Refuses when the task is finished, sleeping (unless `sleep_ok`), or held by someone other than `who`.
fn check_open(task: &TaskRecord, who: &Principal, now: i64, sleep_ok: bool) -> Result<TaskStatus, WorkflowError> {
    let status = task.effective_status(now);
    if !eligible(task, who) {
        return Err(no_task(&task.serial_number));
    }
    if status.is_final() {
        return Err(WorkflowError::Conflict(format!(
            "task '{}' is already {}",
            task.serial_number,
            status.as_str().to_lowercase()
        )));
    }
    if let Some(holder) = task
        .allocated_to
        .as_deref()
        .filter(|h| !h.eq_ignore_ascii_case(&who.user))
    {
        let _ = holder;
        return Err(WorkflowError::Conflict(format!(
            "task '{}' is allocated to another user",
            task.serial_number
        )));
    }
    if status == TaskStatus::Sleep && !sleep_ok {
        return Err(WorkflowError::Conflict(format!(
            "task '{}' is sleeping; wake it first",
            task.serial_number
        )));
    }
    Ok(status)
}

/// Wakes a task whose sleep time has passed, in the record written back.
fn settle(task: &TaskRecord, now: i64) -> TaskRecord {
    let mut t = task.clone();
    if t.status == TaskStatus::Sleep && t.effective_status(now) != TaskStatus::Sleep {
        t.status = t.effective_status(now);
        t.prior_status = None;
        t.sleep_until = None;
    }
    t
}

/// Completes a task with the activity's action `action`, merging `fields`, and moves the instance on.
#[allow(clippy::too_many_arguments)]
pub fn complete(
    def: &Definition,
    people: &dyn People,
    task: &TaskRecord,
    instance: &InstanceRecord,
    who: &Principal,
    action: &str,
    fields: Map<String, Value>,
    now: i64,
) -> Result<Transition, WorkflowError> {
    if !eligible(task, who) {
        return Err(no_task(&task.serial_number));
    }
    let activity = def.activity(&task.activity).ok_or_else(|| {
        WorkflowError::Conflict(format!(
            "activity '{}' is no longer in workflow '{}'",
            task.activity, def.name
        ))
    })?;
    let Some(chosen) = activity.action(action) else {
        let names: Vec<&str> = activity.actions.iter().map(|a| a.name.as_str()).collect();
        return Err(WorkflowError::BadRequest(format!(
            "activity '{}' has no action '{action}'; its actions are: {}",
            activity.name,
            names.join(", ")
        )));
    };
    check_open(task, who, now, false)?;
    let mut next_instance = instance.clone();
    merge_fields(def, activity, &mut next_instance.data_fields, fields)?;
    let mut t = settle(task, now);
    t.status = TaskStatus::Completed;
    t.allocated_to = Some(who.user.clone());
    t.action = Some(chosen.name.clone());
    t.actioned_by = Some(who.user.clone());
    t.completed_at = Some(now);
    let mut events = vec![history(now, who, "Action", task, Some(chosen.name.clone()))];
    let new_task = match chosen.next {
        Some(index) => {
            let next = &def.activities[index];
            let routed = route(next, &instance.originator, people)?;
            next_instance.current_activity = Some(next.name.clone());
            Some(routed)
        }
        None => {
            next_instance.status = "Completed".into();
            next_instance.current_activity = None;
            next_instance.finished_at = Some(now);
            events.push(HistoryRecord {
                at: now,
                actor: who.user.clone(),
                event: "Completed".into(),
                activity: None,
                serial_number: None,
                detail: Some(chosen.name.clone()),
            });
            None
        }
    };
    Ok(Transition {
        at: now,
        task: t,
        instance: Some(next_instance),
        new_task,
        history: events,
    })
}

/// A system action on a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemAction {
    /// Take a group task.
    Assign,
    /// Give a taken group task back to the group.
    Release,
    /// Send the task to another user (FQN).
    Redirect(String),
    /// Put the task aside until a time (Unix seconds).
    Sleep(i64),
    /// End a sleep.
    Wake,
}

/// Applies a system action.
pub fn system(
    task: &TaskRecord,
    who: &Principal,
    action: &SystemAction,
    now: i64,
) -> Result<Transition, WorkflowError> {
    let mut t = settle(task, now);
    let event = match action {
        SystemAction::Assign => {
            let status = check_open(task, who, now, false)?;
            if status == TaskStatus::Available {
                t.allocated_to = Some(who.user.clone());
                t.status = TaskStatus::Allocated;
            }
            history(now, who, "Assigned", task, None)
        }
        SystemAction::Release => {
            let status = check_open(task, who, now, false)?;
            if status == TaskStatus::Available {
                return Err(WorkflowError::Conflict(format!(
                    "task '{}' is not allocated; nothing to release",
                    task.serial_number
                )));
            }
            if task.destination_kind != "group" {
                return Err(WorkflowError::Conflict(format!(
                    "task '{}' was sent to you alone; redirect it instead of releasing it",
                    task.serial_number
                )));
            }
            t.allocated_to = None;
            t.status = TaskStatus::Available;
            history(now, who, "Released", task, None)
        }
        SystemAction::Redirect(target) => {
            let target = target.trim();
            if target.is_empty() || !target.contains(':') || target.len() > 512 || target.chars().any(char::is_control)
            {
                return Err(WorkflowError::BadRequest(format!(
                    "RedirectTo '{target}' is not a user FQN such as 'K2:CONTOSO\\bob'"
                )));
            }
            if target.eq_ignore_ascii_case(&who.user) {
                return Err(WorkflowError::BadRequest(
                    "RedirectTo names you; redirect to another user".into(),
                ));
            }
            check_open(task, who, now, false)?;
            t.destination_kind = "user".into();
            t.destination = target.to_string();
            t.allocated_to = Some(target.to_string());
            t.status = TaskStatus::Allocated;
            history(now, who, "Redirected", task, Some(target.to_string()))
        }
        SystemAction::Sleep(until) => {
            let status = check_open(task, who, now, false)?;
            if *until <= now {
                return Err(WorkflowError::BadRequest("the sleep must end in the future".into()));
            }
            t.prior_status = Some(status);
            t.status = TaskStatus::Sleep;
            t.sleep_until = Some(*until);
            history(now, who, "Slept", task, Some(dates::format_rfc3339(*until)))
        }
        SystemAction::Wake => {
            let status = check_open(task, who, now, true)?;
            if status != TaskStatus::Sleep {
                return Err(WorkflowError::Conflict(format!(
                    "task '{}' is not sleeping",
                    task.serial_number
                )));
            }
            t.status = task.prior_status.unwrap_or(TaskStatus::Allocated);
            t.prior_status = None;
            t.sleep_until = None;
            history(now, who, "Woken", task, None)
        }
    };
    Ok(Transition {
        at: now,
        task: t,
        instance: None,
        new_task: None,
        history: vec![event],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::people::{PeopleIndex, Person};

    struct OneManager;
    impl People for OneManager {
        fn person(&self, fqn: &str) -> Option<Person> {
            (fqn == "K2:C\\alice").then(|| Person {
                fqn: fqn.into(),
                username: "alice".into(),
                display_name: None,
                email: None,
                manager: Some("K2:C\\bob".into()),
            })
        }
    }

    fn def() -> Definition {
        let text = r#"
id: 1
name: Claim
start_rights: {everyone: true}
data_fields:
  - {name: Amount, type: decimal, required: true}
  - {name: Note, type: string}
  - {name: On, type: date}
activities:
  - name: Approve
    destination: originator_manager
    fields: [Note]
    actions: [{name: Approve, next: Pay}, {name: Reject}]
  - name: Pay
    destination: {group: Finance}
    actions: [{name: Paid}]
"#;
        let file = crate::config::parse_yaml(std::path::Path::new("x.yaml"), text, |_| None).unwrap();
        Definition::from_file(file).unwrap()
    }

    fn who(user: &str, groups: &[&str]) -> Principal {
        Principal {
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn task(kind: &str, dest: &str, allocated: Option<&str>, status: TaskStatus) -> TaskRecord {
        TaskRecord {
            id: 2,
            instance_id: 1,
            serial_number: "1_2".into(),
            activity: if kind == "group" { "Pay" } else { "Approve" }.into(),
            destination_kind: kind.into(),
            destination: dest.into(),
            allocated_to: allocated.map(str::to_string),
            status,
            prior_status: None,
            sleep_until: None,
            action: None,
            actioned_by: None,
            created_at: 10,
            completed_at: None,
        }
    }

    fn instance() -> InstanceRecord {
        InstanceRecord {
            id: 1,
            workflow_id: 1,
            workflow_name: "Claim".into(),
            folio: "f".into(),
            priority: 1,
            status: "Active".into(),
            originator: "K2:C\\alice".into(),
            originator_display_name: None,
            originator_email: None,
            current_activity: Some("Approve".into()),
            data_fields: Map::new(),
            xml_fields: Map::new(),
            expected_duration: 0,
            started_at: 10,
            finished_at: None,
        }
    }

    #[test]
    fn start_fields_report_unknown_missing_and_mistyped_fields() {
        let d = def();
        let given: Map<String, Value> =
            serde_json::from_str(r#"{"Note": 5, "Colour": "red", "On": "2024-02-30"}"#).unwrap();
        let err = start_fields(&d, given).unwrap_err().to_string();
        assert!(err.contains("no data field 'Colour'"), "{err}");
        assert!(err.contains("'Amount' is missing"), "{err}");
        assert!(err.contains("'Note' is of type string"), "{err}");
        assert!(err.contains("'On' is of type date"), "{err}");
        let ok = start_fields(&d, serde_json::from_str(r#"{"Amount": 12.5}"#).unwrap()).unwrap();
        assert_eq!(ok["Note"], Value::Null);
    }

    #[test]
    fn manager_destination_needs_a_manager() {
        let d = def();
        let routed = route(&d.activities[0], "K2:C\\alice", &OneManager).unwrap();
        assert_eq!(routed.allocated_to.as_deref(), Some("K2:C\\bob"));
        assert!(matches!(
            route(&d.activities[0], "K2:C\\zed", &PeopleIndex::default()),
            Err(WorkflowError::Conflict(_))
        ));
        let group = route(&d.activities[1], "K2:C\\alice", &OneManager).unwrap();
        assert_eq!((group.status, group.allocated_to), (TaskStatus::Available, None));
    }

    #[test]
    fn completing_moves_to_the_next_activity_or_completes() {
        let d = def();
        let bob = who("k2:c\\BOB", &[]);
        let t = task("user", "K2:C\\bob", Some("K2:C\\bob"), TaskStatus::Allocated);
        let fields = serde_json::from_str(r#"{"Note": "ok"}"#).unwrap();
        let tr = complete(&d, &OneManager, &t, &instance(), &bob, "approve", fields, 20).unwrap();
        assert_eq!(tr.task.status, TaskStatus::Completed);
        assert_eq!(tr.task.action.as_deref(), Some("Approve"));
        let i = tr.instance.unwrap();
        assert_eq!(i.current_activity.as_deref(), Some("Pay"));
        assert_eq!(i.data_fields["Note"], "ok");
        assert_eq!(tr.new_task.unwrap().destination, "Finance");
        let done = complete(&d, &OneManager, &t, &instance(), &bob, "Reject", Map::new(), 20).unwrap();
        assert_eq!(done.instance.unwrap().status, "Completed");
        let bad_field = serde_json::from_str(r#"{"Amount": 1}"#).unwrap();
        assert!(matches!(
            complete(&d, &OneManager, &t, &instance(), &bob, "Approve", bad_field, 20),
            Err(WorkflowError::BadRequest(_))
        ));
        assert!(matches!(
            complete(&d, &OneManager, &t, &instance(), &bob, "Escalate", Map::new(), 20),
            Err(WorkflowError::BadRequest(_))
        ));
        let eve = who("K2:C\\eve", &["Finance"]);
        assert!(matches!(
            complete(&d, &OneManager, &t, &instance(), &eve, "Approve", Map::new(), 20),
            Err(WorkflowError::NotFound(_))
        ));
        let mut finished = t.clone();
        finished.status = TaskStatus::Completed;
        finished.completed_at = Some(15);
        assert!(matches!(
            complete(&d, &OneManager, &finished, &instance(), &bob, "Approve", Map::new(), 20),
            Err(WorkflowError::Conflict(_))
        ));
    }

    #[test]
    fn group_tasks_are_assigned_released_and_hidden_from_others_while_held() {
        let erin = who("K2:C\\erin", &["finance"]);
        let frank = who("K2:C\\frank", &["Finance"]);
        let t = task("group", "Finance", None, TaskStatus::Available);
        assert!(visible(&t, &erin) && visible(&t, &frank));
        let taken = system(&t, &erin, &SystemAction::Assign, 20).unwrap().task;
        assert_eq!(taken.status, TaskStatus::Allocated);
        assert!(visible(&taken, &erin) && !visible(&taken, &frank));
        assert!(matches!(
            system(&taken, &frank, &SystemAction::Assign, 21),
            Err(WorkflowError::Conflict(_))
        ));
        let released = system(&taken, &erin, &SystemAction::Release, 22).unwrap().task;
        assert_eq!(
            (released.status, released.allocated_to.clone()),
            (TaskStatus::Available, None)
        );
        assert!(matches!(
            system(&released, &erin, &SystemAction::Release, 23),
            Err(WorkflowError::Conflict(_))
        ));
    }

    #[test]
    fn sleep_ends_by_wake_or_by_time_and_redirect_moves_the_task() {
        let bob = who("K2:C\\bob", &[]);
        let t = task("user", "K2:C\\bob", Some("K2:C\\bob"), TaskStatus::Allocated);
        let asleep = system(&t, &bob, &SystemAction::Sleep(100), 20).unwrap().task;
        assert_eq!(asleep.effective_status(50), TaskStatus::Sleep);
        assert_eq!(asleep.effective_status(100), TaskStatus::Allocated);
        assert!(matches!(
            system(&asleep, &bob, &SystemAction::Sleep(200), 50),
            Err(WorkflowError::Conflict(_))
        ));
        let awake = system(&asleep, &bob, &SystemAction::Wake, 50).unwrap().task;
        assert_eq!((awake.status, awake.sleep_until), (TaskStatus::Allocated, None));
        assert!(matches!(
            system(&awake, &bob, &SystemAction::Wake, 51),
            Err(WorkflowError::Conflict(_))
        ));
        assert!(matches!(
            system(&t, &bob, &SystemAction::Sleep(5), 20),
            Err(WorkflowError::BadRequest(_))
        ));
        let moved = system(&t, &bob, &SystemAction::Redirect("K2:C\\carl".into()), 20)
            .unwrap()
            .task;
        assert_eq!(moved.allocated_to.as_deref(), Some("K2:C\\carl"));
        assert!(!eligible(&moved, &bob));
        assert!(matches!(
            system(&t, &bob, &SystemAction::Redirect("nobody".into()), 20),
            Err(WorkflowError::BadRequest(_))
        ));
    }
}
