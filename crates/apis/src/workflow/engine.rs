//! The workflow rules, as pure functions of definitions and stored records: who may see and act on a task,
//! what a start request must contain, where an activity's task goes, and what each action changes. The store
//! applies the [`Transition`]s these return inside one transaction.

use super::dates;
use super::definitions::{Activity, ActivityKind, Definition, Destination, Field, FieldType};
use super::error::WorkflowError;
use super::item_refs::ItemReferences;
use super::store::{
    HistoryRecord, InstanceRecord, NewTask, Principal, TaskRecord, TaskStatus, Transition, DESTINATION_GROUP,
    DESTINATION_SERVER, DESTINATION_USER,
};
use authgate_core::directory::people::People;
use serde_json::{Map, Value};

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
        DESTINATION_USER => task.destination.eq_ignore_ascii_case(&who.user),
        DESTINATION_GROUP => who.groups.iter().any(|g| g.eq_ignore_ascii_case(&task.destination)),
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
        TaskStatus::Allocated | TaskStatus::Open => vec!["release", "redirect", "sleep"],
        TaskStatus::Sleep if eligible(task, who) => vec!["wake"],
        _ => vec![],
    }
}

/// Checks `value` against a field's type and returns it as stored: dates and date-times sent in a .NET or
/// offset-less form become `YYYY-MM-DD` / RFC 3339. The message names the field and the expected type.
pub fn check_value(field: &Field, value: &Value) -> Result<Value, String> {
    let stored = match (field.kind, value) {
        (_, Value::Null) if !field.required => Some(Value::Null),
        (FieldType::String, Value::String(_)) | (FieldType::Boolean, Value::Bool(_)) => Some(value.clone()),
        (FieldType::Integer, Value::Number(n)) if n.is_i64() => Some(value.clone()),
        (FieldType::Decimal, Value::Number(_)) => Some(value.clone()),
        (FieldType::Date, Value::String(s)) => dates::parse_any_date(s).map(Value::String),
        (FieldType::Datetime, Value::String(s)) => dates::parse_any_datetime(s).map(|d| Value::String(d.to_rfc3339())),
        _ => None,
    };
    if let Some(stored) = stored {
        return Ok(stored);
    }
    let expected = match field.kind {
        FieldType::Date => "a date string YYYY-MM-DD (or a .NET date \\/Date(ms)\\/)",
        FieldType::Datetime => "an RFC 3339 date-time string (or a .NET date \\/Date(ms)\\/)",
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
            continue;
        }
        match check_value(field, &value) {
            Ok(stored) => {
                fields.insert(field.name.clone(), stored);
            }
            Err(p) => problems.push(p),
        }
    }
    if problems.is_empty() {
        Ok(fields)
    } else {
        Err(WorkflowError::BadRequest(problems.join("; ")))
    }
}

/// XML field values as K2 clients send them: an object by name, or an array of `{"name", "value"}` (member
/// names in any case); `null` is none.
pub fn xml_values(given: Option<Value>) -> Result<Map<String, Value>, WorkflowError> {
    let bad = || {
        WorkflowError::BadRequest(
            "xmlFields must be an object {\"Name\": \"<xml/>\"} or an array [{\"name\": \"Name\", \"value\": \"<xml/>\"}]"
                .into(),
        )
    };
    match given {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(Value::Array(items)) => {
            let mut out = Map::new();
            for item in items {
                let Value::Object(pair) = item else {
                    return Err(bad());
                };
                let member = |key: &str| pair.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v);
                let (Some(Value::String(name)), value) = (member("name"), member("value")) else {
                    return Err(bad());
                };
                if pair.len() > 2 || (pair.len() == 2 && value.is_none()) {
                    return Err(bad());
                }
                out.insert(name.clone(), value.cloned().unwrap_or(Value::Null));
            }
            Ok(out)
        }
        Some(_) => Err(bad()),
    }
}

/// Validates the XML fields of a start request (declared names, string values).
pub fn start_xml(def: &Definition, given: Map<String, Value>) -> Result<Map<String, Value>, WorkflowError> {
    let mut out = Map::new();
    for name in &def.xml_fields {
        out.insert(name.clone(), Value::Null);
    }
    merge_xml(def, &mut out, given)?;
    Ok(out)
}

/// Merges XML field values into `xml` (declared names, string or null values).
pub fn merge_xml(
    def: &Definition,
    xml: &mut Map<String, Value>,
    given: Map<String, Value>,
) -> Result<(), WorkflowError> {
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
        xml.insert(name, value);
    }
    Ok(())
}

/// What an action or a server event's finish may change on its instance.
#[derive(Debug, Default)]
pub struct Update {
    /// Data fields (only the activity's).
    pub data_fields: Map<String, Value>,
    /// XML fields.
    pub xml_fields: Map<String, Value>,
    /// Item references to add or update.
    pub item_references: ItemReferences,
}

/// Applies `update` to `instance` as `activity` allows.
fn apply(
    def: &Definition,
    activity: &Activity,
    instance: &mut InstanceRecord,
    update: Update,
) -> Result<(), WorkflowError> {
    merge_fields(def, activity, &mut instance.data_fields, update.data_fields)?;
    merge_xml(def, &mut instance.xml_fields, update.xml_fields)?;
    instance.item_references.merge(update.item_references);
    Ok(())
}

/// Merges an action's data fields into the instance's, allowing only the activity's fields.
pub fn merge_fields(
    def: &Definition,
    activity: &Activity,
    data: &mut Map<String, Value>,
    given: Map<String, Value>,
) -> Result<(), WorkflowError> {
    let mut checked = Map::new();
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
        checked.insert(
            name.clone(),
            check_value(field, value).map_err(WorkflowError::BadRequest)?,
        );
    }
    data.extend(checked);
    Ok(())
}

/// Where an activity's task goes for an instance started by `originator`; a server event waits, held by
/// nobody.
pub fn route(activity: &Activity, originator: &str, people: &dyn People) -> Result<NewTask, WorkflowError> {
    let user = |fqn: String| NewTask {
        activity: activity.name.clone(),
        destination_kind: DESTINATION_USER.into(),
        destination: fqn.clone(),
        allocated_to: Some(fqn),
        status: TaskStatus::Allocated,
    };
    let destination = match &activity.kind {
        ActivityKind::Task { destination, .. } => destination,
        ActivityKind::ServerEvent(_) => {
            return Ok(NewTask {
                activity: activity.name.clone(),
                destination_kind: DESTINATION_SERVER.into(),
                destination: String::new(),
                allocated_to: None,
                status: TaskStatus::Active,
            })
        }
    };
    Ok(match destination {
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
            destination_kind: DESTINATION_GROUP.into(),
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

/// Completes a task with the activity's action `action`, applying `update`, and moves the instance on.
#[allow(clippy::too_many_arguments)]
pub fn complete(
    def: &Definition,
    people: &dyn People,
    task: &TaskRecord,
    instance: &InstanceRecord,
    who: &Principal,
    action: &str,
    update: Update,
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
        let names: Vec<&str> = activity.actions().iter().map(|a| a.name.as_str()).collect();
        return Err(WorkflowError::BadRequest(format!(
            "activity '{}' has no action '{action}'; its actions are: {}",
            activity.name,
            names.join(", ")
        )));
    };
    check_open(task, who, now, false)?;
    let mut next_instance = instance.clone();
    apply(def, activity, &mut next_instance, update)?;
    let mut t = settle(task, now);
    t.allocated_to = Some(who.user.clone());
    finish_and_move_on(
        def,
        people,
        t,
        next_instance,
        who,
        history(now, who, "Action", task, Some(chosen.name.clone())),
        &chosen.name,
        chosen.next,
        now,
    )
}

/// Marks `task` completed with `outcome` and routes the instance to `next` (or completes it).
#[allow(clippy::too_many_arguments)]
fn finish_and_move_on(
    def: &Definition,
    people: &dyn People,
    mut task: TaskRecord,
    mut instance: InstanceRecord,
    who: &Principal,
    event: HistoryRecord,
    outcome: &str,
    next: Option<usize>,
    now: i64,
) -> Result<Transition, WorkflowError> {
    task.status = TaskStatus::Completed;
    task.action = Some(outcome.to_string());
    task.actioned_by = Some(who.user.clone());
    task.completed_at = Some(now);
    let mut events = vec![event];
    let new_task = match next {
        Some(index) => {
            let next = &def.activities[index];
            let routed = route(next, &instance.originator, people)?;
            instance.current_activity = Some(next.name.clone());
            Some(routed)
        }
        None => {
            instance.status = "Completed".into();
            instance.current_activity = None;
            instance.finished_at = Some(now);
            events.push(HistoryRecord {
                at: now,
                actor: who.user.clone(),
                event: "Completed".into(),
                activity: None,
                serial_number: None,
                detail: Some(outcome.to_string()),
            });
            None
        }
    };
    Ok(Transition {
        at: now,
        task,
        instance: Some(instance),
        new_task,
        history: events,
    })
}

/// The 404 for a server event that does not exist, is finished, or that `who` holds no right on.
pub fn no_server_event(serial: &str) -> WorkflowError {
    WorkflowError::NotFound(format!("no server event '{serial}' waiting that you may finish"))
}

/// Whether `task` is a server event waiting that `who` may read and finish, by `def`.
pub fn may_finish(def: &Definition, task: &TaskRecord, who: &Principal) -> bool {
    task.destination_kind == DESTINATION_SERVER
        && task.status == TaskStatus::Active
        && task.completed_at.is_none()
        && def
            .activity(&task.activity)
            .and_then(Activity::server_event)
            .is_some_and(|e| e.may_finish(&who.user, &who.groups))
}

/// Finishes a server event as `who` (an external system holding the server-event right), applying `update`,
/// and moves the instance on.
pub fn finish(
    def: &Definition,
    people: &dyn People,
    task: &TaskRecord,
    instance: &InstanceRecord,
    who: &Principal,
    update: Update,
    now: i64,
) -> Result<Transition, WorkflowError> {
    if !may_finish(def, task, who) {
        return Err(no_server_event(&task.serial_number));
    }
    let Some((activity, event)) = def
        .activity(&task.activity)
        .and_then(|a| a.server_event().map(|e| (a, e)))
    else {
        return Err(no_server_event(&task.serial_number));
    };
    let mut next_instance = instance.clone();
    apply(def, activity, &mut next_instance, update)?;
    let finished = HistoryRecord {
        at: now,
        actor: who.user.clone(),
        event: "Finished".into(),
        activity: Some(task.activity.clone()),
        serial_number: Some(task.serial_number.clone()),
        detail: None,
    };
    finish_and_move_on(
        def,
        people,
        task.clone(),
        next_instance,
        who,
        finished,
        "Finish",
        event.next,
        now,
    )
}

/// A system action on a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemAction {
    /// Take a group task.
    Assign,
    /// Give a taken group task back to the group.
    Release,
    /// Send the task to a user (FQN, resolved by the handler; the caller themselves too).
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
            // A group task goes back to the group; a task sent to one user stays theirs, Available again
            // (as K2 does): only the allocation is undone.
            if task.destination_kind == DESTINATION_GROUP {
                t.allocated_to = None;
            }
            t.status = TaskStatus::Available;
            history(now, who, "Released", task, None)
        }
        SystemAction::Redirect(target) => {
            let target = target.trim();
            if target.is_empty() || target.len() > 512 || target.chars().any(char::is_control) {
                return Err(WorkflowError::BadRequest(format!(
                    "RedirectTo '{target}' is not a user such as 'K2:CONTOSO\\bob'"
                )));
            }
            check_open(task, who, now, false)?;
            t.destination_kind = DESTINATION_USER.into();
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
    use authgate_core::directory::people::{PeopleIndex, Person};

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
        let file = authgate_core::config::parse_yaml(std::path::Path::new("x.yaml"), text, |_| None).unwrap();
        Definition::from_file(file).unwrap()
    }

    fn data(fields: Map<String, Value>) -> Update {
        Update {
            data_fields: fields,
            ..Update::default()
        }
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
            item_references: ItemReferences::default(),
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
        let tr = complete(&d, &OneManager, &t, &instance(), &bob, "approve", data(fields), 20).unwrap();
        assert_eq!(tr.task.status, TaskStatus::Completed);
        assert_eq!(tr.task.action.as_deref(), Some("Approve"));
        let i = tr.instance.unwrap();
        assert_eq!(i.current_activity.as_deref(), Some("Pay"));
        assert_eq!(i.data_fields["Note"], "ok");
        assert_eq!(tr.new_task.unwrap().destination, "Finance");
        let done = complete(&d, &OneManager, &t, &instance(), &bob, "Reject", Update::default(), 20).unwrap();
        assert_eq!(done.instance.unwrap().status, "Completed");
        let bad_field = serde_json::from_str(r#"{"Amount": 1}"#).unwrap();
        assert!(matches!(
            complete(&d, &OneManager, &t, &instance(), &bob, "Approve", data(bad_field), 20),
            Err(WorkflowError::BadRequest(_))
        ));
        assert!(matches!(
            complete(
                &d,
                &OneManager,
                &t,
                &instance(),
                &bob,
                "Escalate",
                Update::default(),
                20
            ),
            Err(WorkflowError::BadRequest(_))
        ));
        let eve = who("K2:C\\eve", &["Finance"]);
        assert!(matches!(
            complete(&d, &OneManager, &t, &instance(), &eve, "Approve", Update::default(), 20),
            Err(WorkflowError::NotFound(_))
        ));
        let mut finished = t.clone();
        finished.status = TaskStatus::Completed;
        finished.completed_at = Some(15);
        assert!(matches!(
            complete(
                &d,
                &OneManager,
                &finished,
                &instance(),
                &bob,
                "Approve",
                Update::default(),
                20
            ),
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
            system(&t, &bob, &SystemAction::Redirect(" ".into()), 20),
            Err(WorkflowError::BadRequest(_))
        ));
        let to_self = system(&t, &bob, &SystemAction::Redirect("K2:C\\bob".into()), 20)
            .unwrap()
            .task;
        assert_eq!(to_self.allocated_to.as_deref(), Some("K2:C\\bob"));
    }

    #[test]
    fn releasing_a_task_sent_to_one_user_makes_it_available_to_them_again() {
        let bob = who("K2:C\\bob", &[]);
        let t = task("user", "K2:C\\bob", Some("K2:C\\bob"), TaskStatus::Allocated);
        assert_eq!(system_actions(&t, &bob, 20), ["release", "redirect", "sleep"]);
        let released = system(&t, &bob, &SystemAction::Release, 20).unwrap().task;
        assert_eq!(released.status, TaskStatus::Available);
        assert!(visible(&released, &bob), "still in bob's worklist");
        assert_eq!(system_actions(&released, &bob, 21), ["assign", "redirect", "sleep"]);
        let taken = system(&released, &bob, &SystemAction::Assign, 22).unwrap().task;
        assert_eq!(
            (taken.status, taken.allocated_to.as_deref()),
            (TaskStatus::Allocated, Some("K2:C\\bob"))
        );
        assert!(matches!(
            system(&released, &bob, &SystemAction::Release, 23),
            Err(WorkflowError::Conflict(_))
        ));
    }

    #[test]
    fn dates_sent_by_dotnet_clients_are_stored_in_the_api_form() {
        let d = def();
        let given = serde_json::from_str(r#"{"Amount": 1, "On": "/Date(1714514400000+0200)/"}"#).unwrap();
        let fields = start_fields(&d, given).unwrap();
        assert_eq!(fields["On"], "2024-05-01");
        let err = start_fields(&d, serde_json::from_str(r#"{"Amount": 1, "On": "/Date(x)/"}"#).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("'On' is of type date"), "{err}");
    }

    #[test]
    fn a_server_event_is_finished_only_with_the_right_and_moves_the_instance_on() {
        let text = r#"
id: 3
name: Wait
start_rights: {everyone: true}
data_fields: [{name: Reference, type: string}, {name: Other, type: string}]
activities:
  - name: External
    server_event: {groups: [Systems], next: Check}
    fields: [Reference]
  - name: Check
    destination: originator
    actions: [{name: Done}]
"#;
        let file = authgate_core::config::parse_yaml(std::path::Path::new("x.yaml"), text, |_| None).unwrap();
        let d = Definition::from_file(file).unwrap();
        let waiting = route(&d.activities[0], "K2:C\\alice", &OneManager).unwrap();
        assert_eq!(
            (waiting.destination_kind.as_str(), waiting.status, waiting.allocated_to),
            ("server", TaskStatus::Active, None)
        );
        let mut t = task("user", "", None, TaskStatus::Active);
        t.activity = "External".into();
        t.destination_kind = "server".into();
        let system = who("K2:C\\svc", &["systems"]);
        let alice = who("K2:C\\alice", &["Employees"]);
        assert!(!visible(&t, &system) && !visible(&t, &alice), "never in a worklist");
        assert!(may_finish(&d, &t, &system) && !may_finish(&d, &t, &alice));
        assert!(matches!(
            finish(&d, &OneManager, &t, &instance(), &alice, Update::default(), 20),
            Err(WorkflowError::NotFound(_))
        ));
        let other = data(serde_json::from_str(r#"{"Other": "x"}"#).unwrap());
        assert!(matches!(
            finish(&d, &OneManager, &t, &instance(), &system, other, 20),
            Err(WorkflowError::BadRequest(_))
        ));
        let reference = data(serde_json::from_str(r#"{"Reference": "PAY-1"}"#).unwrap());
        let tr = finish(&d, &OneManager, &t, &instance(), &system, reference, 20).unwrap();
        assert_eq!(tr.task.status, TaskStatus::Completed);
        assert_eq!(tr.task.actioned_by.as_deref(), Some("K2:C\\svc"));
        let i = tr.instance.unwrap();
        assert_eq!(i.data_fields["Reference"], "PAY-1");
        assert_eq!(i.current_activity.as_deref(), Some("Check"));
        assert_eq!(tr.new_task.unwrap().destination, "K2:C\\alice");
    }
}
