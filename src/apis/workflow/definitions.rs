//! Workflow definitions: the YAML files under `policies/workflows/` (one workflow per file), checked once at
//! start-up into the runtime [`Definition`]s the engine follows. Every invalid value is a [`ConfigIssue`]
//! with its field path, so a broken file stops the gateway with a clear message instead of failing requests.

use crate::config::{ConfigError, ConfigIssue};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// One workflow definition file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefinitionFile {
    /// Stable numeric id (URLs and stored instances use it). Unique across files.
    pub id: i64,
    /// Version id reported as `defaultVersionId`. Default 1.
    #[serde(default = "one")]
    pub version: i64,
    /// Display name, e.g. `Expense Claim`.
    pub name: String,
    /// System name, e.g. `ExpenseClaim`. Default: the name without spaces.
    #[serde(default)]
    pub system_name: Option<String>,
    /// Folder, e.g. `Finance\Claims`. Default empty.
    #[serde(default)]
    pub folder: String,
    /// Description shown in the workflow details. Default empty.
    #[serde(default)]
    pub description: String,
    /// Expected duration of an instance, in minutes. Default 0 (none).
    #[serde(default)]
    pub expected_duration_minutes: i64,
    /// Who may start instances.
    pub start_rights: StartRightsFile,
    /// Data fields of an instance, with their types.
    #[serde(default)]
    pub data_fields: Vec<FieldFile>,
    /// Names of the XML fields of an instance (string values).
    #[serde(default)]
    pub xml_fields: Vec<String>,
    /// The first activity. Default: the first in `activities`.
    #[serde(default)]
    pub start: Option<String>,
    /// The activities.
    pub activities: Vec<ActivityFile>,
}

fn one() -> i64 {
    1
}

/// Start rights: users by FQN and groups by name (case-insensitive), or everyone.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StartRightsFile {
    /// User FQNs, e.g. `K2:CONTOSO\alice`.
    pub users: Vec<String>,
    /// Group names.
    pub groups: Vec<String>,
    /// Anyone who reaches the API may start it. Default false.
    pub everyone: bool,
}

/// A data field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldFile {
    /// Name, unique in the workflow.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Whether a start request must give it. Default false.
    #[serde(default)]
    pub required: bool,
}

/// The type of a data field and the JSON values it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A JSON string.
    String,
    /// A JSON integer (64-bit).
    Integer,
    /// A JSON number.
    Decimal,
    /// `true` or `false`.
    Boolean,
    /// A string `YYYY-MM-DD`.
    Date,
    /// A string in RFC 3339, e.g. `2024-05-01T09:30:00Z`.
    Datetime,
}

impl FieldType {
    /// The name used in messages and definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Decimal => "decimal",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Datetime => "datetime",
        }
    }
}

/// Who gets an activity's task.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Destination {
    /// One user, by FQN.
    User(String),
    /// Any member of a group; one of them takes it.
    Group(String),
    /// The manager of the instance's originator, as the directory names them.
    OriginatorManager,
    /// The originator.
    Originator,
}

/// An activity, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityFile {
    /// Name, unique in the workflow.
    pub name: String,
    /// Event name of its task. Default: the activity name.
    #[serde(default)]
    pub event: Option<String>,
    /// Instruction shown on the task. Default empty.
    #[serde(default)]
    pub instruction: String,
    /// Who gets the task.
    pub destination: Destination,
    /// Data fields the task shows and its actions may change. Default: all.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// The actions; at least one.
    pub actions: Vec<ActionFile>,
}

/// An action of an activity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionFile {
    /// Name, unique in the activity.
    pub name: String,
    /// The activity that follows; none completes the instance.
    #[serde(default)]
    pub next: Option<String>,
    /// Whether it can be taken on many tasks at once. Default true.
    #[serde(default = "yes")]
    pub batchable: bool,
}

fn yes() -> bool {
    true
}

/// A checked data field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Name.
    pub name: String,
    /// Type.
    pub kind: FieldType,
    /// Required at start.
    pub required: bool,
}

/// A checked action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Name.
    pub name: String,
    /// Index of the next activity; `None` completes the instance.
    pub next: Option<usize>,
    /// Batchable.
    pub batchable: bool,
}

/// A checked activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Name.
    pub name: String,
    /// Event name.
    pub event: String,
    /// Instruction.
    pub instruction: String,
    /// Who gets the task.
    pub destination: Destination,
    /// Fields the task shows and may change.
    pub fields: Vec<String>,
    /// Actions.
    pub actions: Vec<Action>,
}

impl Activity {
    /// The action called `name` (case-insensitive).
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A checked workflow definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// Id.
    pub id: i64,
    /// Version id.
    pub version: i64,
    /// Display name.
    pub name: String,
    /// System name.
    pub system_name: String,
    /// Folder.
    pub folder: String,
    /// Description.
    pub description: String,
    /// Expected duration in minutes.
    pub expected_duration: i64,
    /// Lower-cased FQNs allowed to start.
    pub start_users: Vec<String>,
    /// Lower-cased groups allowed to start.
    pub start_groups: Vec<String>,
    /// Anyone may start.
    pub start_everyone: bool,
    /// Data fields.
    pub fields: Vec<Field>,
    /// XML field names.
    pub xml_fields: Vec<String>,
    /// Index of the first activity.
    pub start: usize,
    /// Activities.
    pub activities: Vec<Activity>,
}

impl Definition {
    /// Whether `user` (FQN) in `groups` may start instances.
    pub fn may_start(&self, user: &str, groups: &[String]) -> bool {
        self.start_everyone
            || self.start_users.iter().any(|u| u.eq_ignore_ascii_case(user))
            || groups
                .iter()
                .any(|g| self.start_groups.iter().any(|s| s.eq_ignore_ascii_case(g)))
    }

    /// The activity called `name`.
    pub fn activity(&self, name: &str) -> Option<&Activity> {
        self.activities.iter().find(|a| a.name == name)
    }

    /// The data field called `name` (exact name).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Checks a parsed file, reporting every problem with its path.
    pub fn from_file(file: DefinitionFile) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut issue = |path: String, message: String| issues.push(ConfigIssue::new(path, message));
        if file.id < 1 {
            issue("id".into(), "must be a positive integer".into());
        }
        if file.name.trim().is_empty() {
            issue("name".into(), "must not be empty".into());
        }
        let s = &file.start_rights;
        if !s.everyone && s.users.is_empty() && s.groups.is_empty() {
            issue(
                "start_rights".into(),
                "name the users or groups who may start it (or everyone: true)".into(),
            );
        }
        let mut names = HashSet::new();
        for (i, f) in file.data_fields.iter().enumerate() {
            if f.name.trim().is_empty() {
                issue(format!("data_fields[{i}].name"), "must not be empty".into());
            } else if !names.insert(f.name.clone()) {
                issue(
                    format!("data_fields[{i}].name"),
                    format!("duplicate data field '{}'", f.name),
                );
            }
        }
        let mut xml = HashSet::new();
        for (i, x) in file.xml_fields.iter().enumerate() {
            if x.trim().is_empty() || !xml.insert(x.clone()) {
                issue(
                    format!("xml_fields[{i}]"),
                    format!("empty or duplicate XML field '{x}'"),
                );
            }
        }
        let index: HashMap<&str, usize> = file
            .activities
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.as_str(), i))
            .collect();
        if file.activities.is_empty() {
            issue("activities".into(), "define at least one activity".into());
        }
        if index.len() != file.activities.len() {
            let mut seen = HashSet::new();
            for (i, a) in file.activities.iter().enumerate() {
                if !seen.insert(a.name.as_str()) {
                    issue(
                        format!("activities[{i}].name"),
                        format!("duplicate activity '{}'", a.name),
                    );
                }
            }
        }
        let start = match &file.start {
            None => 0,
            Some(name) => index.get(name.as_str()).copied().unwrap_or_else(|| {
                issue("start".into(), format!("no activity named '{name}'"));
                0
            }),
        };
        let mut activities = Vec::new();
        for (i, a) in file.activities.iter().enumerate() {
            let path = |field: &str| format!("activities[{i}].{field}");
            if a.name.trim().is_empty() {
                issue(path("name"), "must not be empty".into());
            }
            match &a.destination {
                Destination::User(u) if !u.contains(':') => issue(
                    path("destination.user"),
                    format!("'{u}' is not an FQN such as 'K2:CONTOSO\\bob'"),
                ),
                Destination::Group(g) if g.trim().is_empty() => {
                    issue(path("destination.group"), "must not be empty".into())
                }
                _ => {}
            }
            let fields = match &a.fields {
                None => file.data_fields.iter().map(|f| f.name.clone()).collect(),
                Some(list) => {
                    for (j, f) in list.iter().enumerate() {
                        if !names.contains(f) {
                            issue(
                                format!("activities[{i}].fields[{j}]"),
                                format!("no data field named '{f}'"),
                            );
                        }
                    }
                    list.clone()
                }
            };
            if a.actions.is_empty() {
                issue(path("actions"), "define at least one action".into());
            }
            let mut action_names = HashSet::new();
            let mut actions = Vec::new();
            for (j, act) in a.actions.iter().enumerate() {
                let apath = |field: &str| format!("activities[{i}].actions[{j}].{field}");
                if act.name.trim().is_empty() || act.name.contains('/') {
                    issue(apath("name"), "must be a non-empty name without '/'".into());
                } else if is_system_action(&act.name) {
                    issue(
                        apath("name"),
                        format!("'{}' is a system action name; choose another", act.name),
                    );
                } else if !action_names.insert(act.name.to_lowercase()) {
                    issue(apath("name"), format!("duplicate action '{}'", act.name));
                }
                let next = match &act.next {
                    None => None,
                    Some(n) => match index.get(n.as_str()) {
                        Some(k) => Some(*k),
                        None => {
                            issue(apath("next"), format!("no activity named '{n}'"));
                            None
                        }
                    },
                };
                actions.push(Action {
                    name: act.name.clone(),
                    next,
                    batchable: act.batchable,
                });
            }
            activities.push(Activity {
                name: a.name.clone(),
                event: a.event.clone().unwrap_or_else(|| a.name.clone()),
                instruction: a.instruction.clone(),
                destination: a.destination.clone(),
                fields,
                actions,
            });
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Self {
            id: file.id,
            version: file.version,
            system_name: file
                .system_name
                .unwrap_or_else(|| file.name.chars().filter(|c| !c.is_whitespace()).collect()),
            name: file.name,
            folder: file.folder,
            description: file.description,
            expected_duration: file.expected_duration_minutes.max(0),
            start_users: file.start_rights.users,
            start_groups: file.start_rights.groups,
            start_everyone: file.start_rights.everyone,
            fields: file
                .data_fields
                .into_iter()
                .map(|f| Field {
                    name: f.name,
                    kind: f.kind,
                    required: f.required,
                })
                .collect(),
            xml_fields: file.xml_fields,
            start,
            activities,
        })
    }
}

/// The system actions, which are endpoints of their own (`POST tasks/{sn}/{action}`).
pub const SYSTEM_ACTIONS: [&str; 5] = ["assign", "release", "redirect", "sleep", "wake"];

fn is_system_action(name: &str) -> bool {
    SYSTEM_ACTIONS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// Every loaded definition, by id.
#[derive(Debug, Default)]
pub struct Definitions {
    by_id: Vec<Definition>,
}

impl Definitions {
    /// Wraps already-checked definitions (tests, tools).
    pub fn new(mut list: Vec<Definition>) -> Self {
        list.sort_by_key(|d| d.id);
        Self { by_id: list }
    }

    /// Loads every `*.yaml` / `*.yml` file in `dir` (sorted by name). A missing directory means no workflows.
    pub fn load_dir(dir: &Path) -> Result<Self, ConfigError> {
        let mut list: Vec<Definition> = Vec::new();
        for (path, file) in crate::config::load_yaml_dir::<DefinitionFile>(dir, "workflow definitions")? {
            let definition = Definition::from_file(file).map_err(|issues| ConfigError::Invalid {
                file: path.clone(),
                issues,
            })?;
            if let Some(other) = list.iter().find(|d| d.id == definition.id) {
                return Err(ConfigError::Invalid {
                    file: path,
                    issues: vec![ConfigIssue::new(
                        "id",
                        format!("id {} is already used by workflow '{}'", definition.id, other.name),
                    )],
                });
            }
            list.push(definition);
        }
        Ok(Self::new(list))
    }

    /// The definition with `id`.
    pub fn get(&self, id: i64) -> Option<&Definition> {
        self.by_id.iter().find(|d| d.id == id)
    }

    /// Every definition, by id.
    pub fn all(&self) -> &[Definition] {
        &self.by_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Definition, String> {
        let file: DefinitionFile =
            crate::config::parse_yaml(Path::new("wf.yaml"), text, |_| None).map_err(|e| e.to_string())?;
        Definition::from_file(file)
            .map_err(|issues| issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    }

    const GOOD: &str = r#"
id: 7
name: Leave Request
start_rights: {groups: [Employees]}
data_fields:
  - {name: Days, type: integer, required: true}
activities:
  - name: Approve
    destination: originator_manager
    actions:
      - {name: Approve, next: Record}
      - {name: Decline}
  - name: Record
    destination: {group: HR}
    actions: [{name: Done}]
"#;

    #[test]
    fn a_valid_definition_is_checked_into_runtime_form() {
        let d = parse(GOOD).unwrap();
        assert_eq!(d.system_name, "LeaveRequest");
        assert_eq!(d.activities[0].action("approve").unwrap().next, Some(1));
        assert_eq!(d.activities[0].action("Decline").unwrap().next, None);
        assert_eq!(d.activities[1].destination, Destination::Group("HR".into()));
        assert!(d.may_start("K2:X\\y", &["employees".into()]));
        assert!(!d.may_start("K2:X\\y", &["Other".into()]));
    }

    #[test]
    fn invalid_values_are_reported_with_their_paths() {
        let text = GOOD
            .replace("next: Record", "next: Nowhere")
            .replace("{name: Done}", "{name: sleep}")
            .replace("{groups: [Employees]}", "{}");
        let err = parse(&text).unwrap_err();
        assert!(
            err.contains("activities[0].actions[0].next: no activity named 'Nowhere'"),
            "{err}"
        );
        assert!(
            err.contains("activities[1].actions[0].name: 'sleep' is a system action"),
            "{err}"
        );
        assert!(err.contains("start_rights:"), "{err}");
    }

    #[test]
    fn unknown_fields_and_types_name_the_path() {
        let err = parse(&GOOD.replace("type: integer", "type: money")).unwrap_err();
        assert!(err.contains("data_fields[0].type"), "{err}");
        let err = parse(&GOOD.replace("name: Leave Request", "name: Leave Request\ncolour: red")).unwrap_err();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn the_shipped_examples_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/workflows");
        let defs = Definitions::load_dir(&dir).unwrap();
        assert!(defs.all().len() >= 2);
    }
}
