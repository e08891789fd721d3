//! Stored records and definitions turned into the API's JSON shapes.

use super::dates::format_rfc3339;
use super::definitions::{Definition, Definitions};
use super::engine;
use super::model::{
    FieldInfo, HistoryEntry, InstanceDetails, InstanceTask, Originator, Task, TaskActions, TaskDetails,
    WorkflowDetails, WorkflowInfo, WorkflowSummary,
};
use super::store::{HistoryRecord, InstanceRecord, Principal, TaskRecord};
use crate::directory::people::{username_of, People};
use serde_json::{json, Map, Value};

/// A workflow in the list.
pub fn summary(d: &Definition) -> WorkflowSummary {
    WorkflowSummary {
        id: d.id,
        default_version_id: d.version,
        name: d.name.clone(),
        folder: d.folder.clone(),
        system_name: d.system_name.clone(),
    }
}

/// A workflow's details.
pub fn details(d: &Definition) -> WorkflowDetails {
    WorkflowDetails {
        id: d.id,
        default_version_id: d.version,
        workflow_info: WorkflowInfo {
            name: d.name.clone(),
            system_name: d.system_name.clone(),
            folder: d.folder.clone(),
            description: d.description.clone(),
            expected_duration: d.expected_duration,
            data_fields: d
                .fields
                .iter()
                .map(|f| FieldInfo {
                    name: f.name.clone(),
                    kind: f.kind.as_str().into(),
                    required: f.required,
                })
                .collect(),
            xml_fields: d.xml_fields.clone(),
        },
    }
}

/// The JSON schema of a start request for `d`, with its data fields typed.
pub fn start_schema(d: &Definition) -> Value {
    let mut properties = Map::new();
    for f in &d.fields {
        let base = match f.kind {
            super::definitions::FieldType::String => json!({"type": "string"}),
            super::definitions::FieldType::Integer => json!({"type": "integer"}),
            super::definitions::FieldType::Decimal => json!({"type": "number"}),
            super::definitions::FieldType::Boolean => json!({"type": "boolean"}),
            super::definitions::FieldType::Date => json!({"type": "string", "format": "date"}),
            super::definitions::FieldType::Datetime => json!({"type": "string", "format": "date-time"}),
        };
        let schema = if f.required {
            base
        } else {
            json!({"anyOf": [base, {"type": "null"}]})
        };
        properties.insert(f.name.clone(), schema);
    }
    let required: Vec<&str> = d
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.as_str())
        .collect();
    let xml: Map<String, Value> = d
        .xml_fields
        .iter()
        .map(|x| (x.clone(), json!({"type": ["string", "null"]})))
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("Start {}", d.name),
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "folio": {"type": "string", "maxLength": 1024},
            "priority": {"type": "integer", "minimum": 0, "maximum": 2},
            "expectedDuration": {"type": "integer", "minimum": 0},
            "dataFields": {
                "type": "object",
                "additionalProperties": false,
                "properties": properties,
                "required": required,
            },
            "xmlFields": {"type": "object", "additionalProperties": false, "properties": xml},
        },
        "required": if required.is_empty() { json!([]) } else { json!(["dataFields"]) },
    })
}

/// The originator of `instance`, from what was forwarded when it started, completed by the directory.
pub fn originator(instance: &InstanceRecord, people: &dyn People) -> Originator {
    let known = people.person(&instance.originator);
    Originator {
        username: known
            .as_ref()
            .map_or_else(|| username_of(&instance.originator).to_string(), |p| p.username.clone()),
        fqn: instance.originator.clone(),
        display_name: instance
            .originator_display_name
            .clone()
            .or_else(|| known.as_ref().and_then(|p| p.display_name.clone()))
            .unwrap_or_else(|| username_of(&instance.originator).to_string()),
        email: instance
            .originator_email
            .clone()
            .or_else(|| known.and_then(|p| p.email))
            .unwrap_or_default(),
    }
}

/// A worklist task.
pub fn task(
    defs: &Definitions,
    people: &dyn People,
    t: &TaskRecord,
    i: &InstanceRecord,
    who: &Principal,
    now: i64,
) -> Task {
    let activity = defs.get(i.workflow_id).and_then(|d| d.activity(&t.activity));
    let (batchable, non_batchable) = activity.map_or((vec![], vec![]), |a| {
        a.actions.iter().partition::<Vec<_>, _>(|x| x.batchable)
    });
    let status = t.effective_status(now);
    Task {
        serial_number: t.serial_number.clone(),
        status: status.as_str().into(),
        activity_name: t.activity.clone(),
        event_name: activity.map_or_else(|| t.activity.clone(), |a| a.event.clone()),
        instruction: activity.map(|a| a.instruction.clone()).unwrap_or_default(),
        priority: i.priority,
        task_start_date: format_rfc3339(t.created_at),
        allocated_to: t.allocated_to.clone().unwrap_or_default(),
        sleep_until: match (status, t.sleep_until) {
            (super::store::TaskStatus::Sleep, Some(until)) => format_rfc3339(until),
            _ => String::new(),
        },
        workflow_id: i.workflow_id,
        workflow_name: i.workflow_name.clone(),
        workflow_instance_id: i.id,
        workflow_instance_folio: i.folio.clone(),
        originator: originator(i, people),
        actions: TaskActions {
            system_actions: engine::system_actions(t, who, now)
                .into_iter()
                .map(String::from)
                .collect(),
            batchable_actions: batchable.into_iter().map(|a| a.name.clone()).collect(),
            non_batchable_actions: non_batchable.into_iter().map(|a| a.name.clone()).collect(),
        },
    }
}

/// A task with its data fields.
pub fn task_details(
    defs: &Definitions,
    people: &dyn People,
    t: &TaskRecord,
    i: &InstanceRecord,
    who: &Principal,
    now: i64,
) -> TaskDetails {
    let shown = defs
        .get(i.workflow_id)
        .and_then(|d| d.activity(&t.activity))
        .map(|a| a.fields.clone())
        .unwrap_or_default();
    TaskDetails {
        task: task(defs, people, t, i, who, now),
        data_fields: i
            .data_fields
            .iter()
            .filter(|(k, _)| shown.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        workflow_instance_data_fields: i.data_fields.clone(),
    }
}

/// An instance with its tasks and history.
pub fn instance(
    people: &dyn People,
    i: &InstanceRecord,
    tasks: &[TaskRecord],
    history: &[HistoryRecord],
    now: i64,
) -> InstanceDetails {
    InstanceDetails {
        id: i.id,
        workflow_id: i.workflow_id,
        workflow_name: i.workflow_name.clone(),
        folio: i.folio.clone(),
        priority: i.priority,
        status: i.status.clone(),
        originator: originator(i, people),
        current_activity: i.current_activity.clone().unwrap_or_default(),
        start_date: format_rfc3339(i.started_at),
        finish_date: i.finished_at.map(format_rfc3339).unwrap_or_default(),
        expected_duration: i.expected_duration,
        data_fields: i.data_fields.clone(),
        xml_fields: i.xml_fields.clone(),
        tasks: tasks
            .iter()
            .map(|t| InstanceTask {
                serial_number: t.serial_number.clone(),
                activity_name: t.activity.clone(),
                status: t.effective_status(now).as_str().into(),
                destination_type: t.destination_kind.clone(),
                destination: t.destination.clone(),
                allocated_to: t.allocated_to.clone().unwrap_or_default(),
                action: t.action.clone().unwrap_or_default(),
                actioned_by: t.actioned_by.clone().unwrap_or_default(),
                start_date: format_rfc3339(t.created_at),
                finish_date: t.completed_at.map(format_rfc3339).unwrap_or_default(),
            })
            .collect(),
        history: history
            .iter()
            .map(|h| HistoryEntry {
                date: format_rfc3339(h.at),
                user: h.actor.clone(),
                event: h.event.clone(),
                activity_name: h.activity.clone().unwrap_or_default(),
                serial_number: h.serial_number.clone().unwrap_or_default(),
                detail: h.detail.clone().unwrap_or_default(),
            })
            .collect(),
    }
}
