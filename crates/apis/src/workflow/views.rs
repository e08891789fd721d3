//! Stored records and definitions turned into the API's JSON shapes. Data fields are shown as K2 shows them:
//! every field of the workflow, an unset one with its type's default (`""`, `0`, `false`), since a .NET client
//! cannot read `null` into an `int` or `bool`.

use super::dates::format_rfc3339;
use super::definitions::{Definition, FieldType};
use super::engine;
use super::links::FormTarget;
use super::model::{
    EventInstance, FieldInfo, HistoryEntry, InstanceDetails, InstanceTask, Originator, ServerEventDetails, Task,
    TaskActions, TaskDetails, WorkflowDetails, WorkflowInfo, WorkflowSummary, XmlField,
};
use super::store::{HistoryRecord, InstanceRecord, Principal, TaskRecord};
use super::WorkflowApi;
use authgate_core::directory::people::{username_of, People};
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
        workflow_schema: start_schema(d).to_string(),
    }
}

/// The JSON schema of a start request for `d`, with its data fields typed.
pub fn start_schema(d: &Definition) -> Value {
    let mut properties = Map::new();
    for f in &d.fields {
        let base = match f.kind {
            FieldType::String => json!({"type": "string"}),
            FieldType::Integer => json!({"type": "integer"}),
            FieldType::Decimal => json!({"type": "number"}),
            FieldType::Boolean => json!({"type": "boolean"}),
            FieldType::Date => json!({"type": "string", "format": "date"}),
            FieldType::Datetime => json!({"type": "string", "format": "date-time"}),
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
    let xml_names: Vec<&String> = d.xml_fields.iter().collect();
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
            "xmlFields": {"anyOf": [
                {"type": "object", "additionalProperties": false, "properties": xml},
                {"type": "array", "items": {
                    "type": "object",
                    "properties": {"name": {"enum": xml_names}, "value": {"type": ["string", "null"]}},
                    "required": ["name"],
                }},
                {"type": "null"},
            ]},
            "itemReferences": {
                "description": "{\"SmartObject\": {\"recordId\": {\"Property\": value}}}, and/or {\"xmlContent\": \"<itemReferences>…\"}",
                "type": ["object", "null"],
                "additionalProperties": {"anyOf": [
                    {"type": "object", "additionalProperties": {"type": "object"}},
                    {"type": "string"},
                ]},
            },
        },
        "required": if required.is_empty() { json!([]) } else { json!(["dataFields"]) },
    })
}

/// The default shown for an unset field of type `kind`.
fn default_of(kind: FieldType) -> Value {
    match kind {
        FieldType::String | FieldType::Date | FieldType::Datetime => json!(""),
        FieldType::Integer | FieldType::Decimal => json!(0),
        FieldType::Boolean => json!(false),
    }
}

/// The instance's data fields as shown: every field of `def`, unset ones with their type's default, and any
/// stored field the definition no longer has, as stored.
pub fn typed_fields(def: Option<&Definition>, data: &Map<String, Value>) -> Map<String, Value> {
    let mut out = data.clone();
    for field in def.map(|d| d.fields.as_slice()).unwrap_or_default() {
        match out.get(&field.name) {
            Some(v) if !v.is_null() => {}
            _ => {
                out.insert(field.name.clone(), default_of(field.kind));
            }
        }
    }
    out
}

/// XML fields as K2's list of `{"name", "value"}`.
fn xml_list(xml: &Map<String, Value>) -> Vec<XmlField> {
    xml.iter()
        .map(|(name, value)| XmlField {
            name: name.clone(),
            value: value.as_str().map(str::to_string),
        })
        .collect()
}

/// The item references in K2's XML form; empty when none.
fn refs_string(i: &InstanceRecord) -> String {
    if i.item_references.is_empty() {
        String::new()
    } else {
        i.item_references.to_xml()
    }
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
            .or_else(|| known.as_ref().and_then(|p| p.email.clone()))
            .unwrap_or_default(),
        manager: known.and_then(|p| p.manager).unwrap_or_default(),
    }
}

/// A worklist task.
pub fn task(api: &WorkflowApi, t: &TaskRecord, i: &InstanceRecord, who: &Principal, now: i64) -> Task {
    let def = api.definitions.get(i.workflow_id);
    let activity = def.and_then(|d| d.activity(&t.activity));
    let (batchable, non_batchable) = activity.map_or((vec![], vec![]), |a| {
        a.actions().iter().partition::<Vec<_>, _>(|x| x.batchable)
    });
    let form_url = match (def, activity) {
        (Some(definition), Some(activity)) => api.links.form_url(&FormTarget {
            definition,
            activity,
            serial_number: &t.serial_number,
            instance_id: i.id,
        }),
        _ => String::new(),
    };
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
        workflow_display_name: def.map_or_else(|| i.workflow_name.clone(), |d| d.name.clone()),
        workflow_category: def.map(|d| d.folder.clone()).unwrap_or_default(),
        activity_instance_id: t.id,
        activity_instance_destination_id: t.id,
        event_description: activity.map(|a| a.description.clone()).unwrap_or_default(),
        form_url,
        view_flow_url: view_flow(api, i),
        originator: originator(i, api.people.as_ref()),
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

fn view_flow(api: &WorkflowApi, i: &InstanceRecord) -> String {
    let system_name = api
        .definitions
        .get(i.workflow_id)
        .map_or_else(|| i.workflow_name.clone(), |d| d.system_name.clone());
    api.links.view_flow_url(i.id, i.workflow_id, &system_name)
}

/// The fields an activity shows, typed.
fn activity_fields(def: Option<&Definition>, activity: &str, all: &Map<String, Value>) -> Map<String, Value> {
    let shown = def
        .and_then(|d| d.activity(activity))
        .map(|a| a.fields.clone())
        .unwrap_or_default();
    all.iter()
        .filter(|(k, _)| shown.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A task with its data fields.
pub fn task_details(api: &WorkflowApi, t: &TaskRecord, i: &InstanceRecord, who: &Principal, now: i64) -> TaskDetails {
    let def = api.definitions.get(i.workflow_id);
    let all = typed_fields(def, &i.data_fields);
    TaskDetails {
        task: task(api, t, i, who, now),
        data_fields: activity_fields(def, &t.activity, &all),
        workflow_instance_data_fields_string: Value::Object(all.clone()).to_string(),
        workflow_instance_data_fields: all,
        workflow_instance_xml_fields: xml_list(&i.xml_fields),
        activity_data_fields: Map::new(),
        item_references: i.item_references.to_json(),
        item_references_string: refs_string(i),
    }
}

/// A server event as the external system that finishes it sees it.
pub fn server_event(api: &WorkflowApi, t: &TaskRecord, i: &InstanceRecord) -> ServerEventDetails {
    let def = api.definitions.get(i.workflow_id);
    let activity = def.and_then(|d| d.activity(&t.activity));
    let all = typed_fields(def, &i.data_fields);
    ServerEventDetails {
        serial_number: t.serial_number.clone(),
        workflow_id: i.workflow_id,
        workflow_name: i.workflow_name.clone(),
        workflow_display_name: def.map_or_else(|| i.workflow_name.clone(), |d| d.name.clone()),
        workflow_category: def.map(|d| d.folder.clone()).unwrap_or_default(),
        workflow_instance_id: i.id,
        workflow_instance_folio: i.folio.clone(),
        activity_instance_id: t.id,
        activity_instance_destination_id: t.id,
        activity_name: t.activity.clone(),
        event_name: activity.map_or_else(|| t.activity.clone(), |a| a.event.clone()),
        event_description: activity.map(|a| a.description.clone()).unwrap_or_default(),
        event_instance: EventInstance {
            name: activity.map_or_else(|| t.activity.clone(), |a| a.event.clone()),
            description: activity.map(|a| a.description.clone()).unwrap_or_default(),
            status: t.status.as_str().into(),
            start_date: format_rfc3339(t.created_at),
        },
        data_fields: activity_fields(def, &t.activity, &all),
        xml_fields: xml_list(&i.xml_fields),
        item_references: i.item_references.to_json(),
        workflow_instance_data_fields_string: Value::Object(all).to_string(),
        item_references_string: refs_string(i),
        view_flow_url: view_flow(api, i),
    }
}

/// An instance with its tasks and history.
pub fn instance(
    api: &WorkflowApi,
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
        originator: originator(i, api.people.as_ref()),
        current_activity: i.current_activity.clone().unwrap_or_default(),
        start_date: format_rfc3339(i.started_at),
        finish_date: i.finished_at.map(format_rfc3339).unwrap_or_default(),
        expected_duration: i.expected_duration,
        data_fields: typed_fields(api.definitions.get(i.workflow_id), &i.data_fields),
        xml_fields: i.xml_fields.clone(),
        item_references: i.item_references.to_json(),
        item_references_string: refs_string(i),
        view_flow_url: view_flow(api, i),
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
