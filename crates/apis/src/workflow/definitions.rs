//! Workflow definitions: the YAML files under `policies/workflows/` (one workflow per file), checked once at
//! start-up into the runtime [`Definition`]s the engine follows. Every invalid value is a [`ConfigIssue`]
//! with its field path, so a broken file stops the gateway with a clear message instead of failing requests.
//!
//! An activity is either a task for people (`destination` and `actions`) or a server event (`server_event`):
//! a wait for an external system, which finishes it through `POST serverEvents/{sn}/finish` with the rights
//! the definition gives, and the instance moves on to `server_event.next`.

use super::links::{UrlTemplate, FORM_PLACEHOLDERS};
use authgate_core::config::{ConfigError, ConfigIssue};
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
    /// Template of the `formURL` of this workflow's tasks, e.g.
    /// `{base}/Runtime/Runtime/Form/Claim/?SerialNo={serialNumber}` (placeholders `{base}` = `workflow.public_url`,
    /// `{serialNumber}`, `{instanceId}`, `{workflowId}`, `{workflowName}`, `{activityName}`). Default none:
    /// `formURL` is empty.
    #[serde(default)]
    pub form_url: Option<String>,
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

/// An activity, as written: a task (`destination` and `actions`) or a server event (`server_event`).
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
    /// Event description (`eventDescription`). Default empty.
    #[serde(default)]
    pub description: String,
    /// Who gets the task (task activities).
    #[serde(default)]
    pub destination: Option<Destination>,
    /// Makes this activity a server event: the instance waits until an external system finishes it.
    #[serde(default)]
    pub server_event: Option<ServerEventFile>,
    /// Data fields the task shows and its actions (or the server event's finish) may change. Default: all.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// The actions of a task; at least one. A server event has none.
    #[serde(default)]
    pub actions: Vec<ActionFile>,
    /// Template of this activity's `formURL`, overriding the workflow's `form_url`. Default none.
    #[serde(default)]
    pub form_url: Option<String>,
}

/// A server event: who may finish it (the server-event right) and what follows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEventFile {
    /// User FQNs who may read and finish it (case-insensitive).
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups whose members may read and finish it (case-insensitive).
    #[serde(default)]
    pub groups: Vec<String>,
    /// The activity that follows; none completes the instance.
    #[serde(default)]
    pub next: Option<String>,
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

/// A checked server event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEvent {
    /// User FQNs who may finish it.
    pub users: Vec<String>,
    /// Groups whose members may finish it.
    pub groups: Vec<String>,
    /// Index of the next activity; `None` completes the instance.
    pub next: Option<usize>,
}

impl ServerEvent {
    /// Whether `user` in `groups` holds the server-event right.
    pub fn may_finish(&self, user: &str, groups: &[String]) -> bool {
        self.users.iter().any(|u| u.eq_ignore_ascii_case(user))
            || groups
                .iter()
                .any(|g| self.groups.iter().any(|s| s.eq_ignore_ascii_case(g)))
    }
}

/// What an activity is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivityKind {
    /// A task for people.
    Task {
        /// Who gets it.
        destination: Destination,
        /// Its actions (at least one).
        actions: Vec<Action>,
    },
    /// A wait for an external system.
    ServerEvent(ServerEvent),
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
    /// Event description.
    pub description: String,
    /// Fields the task shows and may change.
    pub fields: Vec<String>,
    /// Its own `formURL` template.
    pub form_url: Option<UrlTemplate>,
    /// Task or server event.
    pub kind: ActivityKind,
}

impl Activity {
    /// The actions of a task (none for a server event).
    pub fn actions(&self) -> &[Action] {
        match &self.kind {
            ActivityKind::Task { actions, .. } => actions,
            ActivityKind::ServerEvent(_) => &[],
        }
    }

    /// The action called `name` (case-insensitive).
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions().iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The server event, when it is one.
    pub fn server_event(&self) -> Option<&ServerEvent> {
        match &self.kind {
            ActivityKind::ServerEvent(e) => Some(e),
            ActivityKind::Task { .. } => None,
        }
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
    /// `formURL` template of its tasks.
    pub form_url: Option<UrlTemplate>,
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
        let mut template = |path: String, text: &Option<String>| {
            text.as_deref().and_then(|t| {
                UrlTemplate::parse(t, FORM_PLACEHOLDERS)
                    .map_err(|e| issue(path, e))
                    .ok()
            })
        };
        let form_url = template("form_url".into(), &file.form_url);
        let activity_forms: Vec<Option<UrlTemplate>> = file
            .activities
            .iter()
            .enumerate()
            .map(|(i, a)| template(format!("activities[{i}].form_url"), &a.form_url))
            .collect();
        let next_of = |path: String, next: &Option<String>, issue: &mut dyn FnMut(String, String)| match next {
            None => None,
            Some(n) => match index.get(n.as_str()) {
                Some(k) => Some(*k),
                None => {
                    issue(path, format!("no activity named '{n}'"));
                    None
                }
            },
        };
        let mut activities = Vec::new();
        for ((i, a), form_url) in file.activities.iter().enumerate().zip(activity_forms) {
            let path = |field: &str| format!("activities[{i}].{field}");
            if a.name.trim().is_empty() {
                issue(path("name"), "must not be empty".into());
            }
            match (&a.destination, &a.server_event) {
                (Some(_), Some(_)) => issue(
                    format!("activities[{i}]"),
                    "give either destination (a task for people) or server_event (a wait for an external system), not both".into(),
                ),
                (None, None) => issue(
                    format!("activities[{i}]"),
                    "give a destination (a task for people) or a server_event (a wait for an external system)".into(),
                ),
                (Some(Destination::User(u)), None) if !u.contains(':') => issue(
                    path("destination.user"),
                    format!("'{u}' is not an FQN such as 'K2:CONTOSO\\bob'"),
                ),
                (Some(Destination::Group(g)), None) if g.trim().is_empty() => {
                    issue(path("destination.group"), "must not be empty".into())
                }
                (None, Some(e)) if e.users.is_empty() && e.groups.is_empty() => issue(
                    path("server_event"),
                    "name the users or groups who may finish it (the server-event right)".into(),
                ),
                (None, Some(_)) if !a.actions.is_empty() => issue(
                    path("actions"),
                    "a server event has no actions; it continues to server_event.next when finished".into(),
                ),
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
            if a.actions.is_empty() && a.server_event.is_none() {
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
                let next = next_of(apath("next"), &act.next, &mut issue);
                actions.push(Action {
                    name: act.name.clone(),
                    next,
                    batchable: act.batchable,
                });
            }
            let kind = match (&a.server_event, &a.destination) {
                (Some(e), _) => ActivityKind::ServerEvent(ServerEvent {
                    users: e.users.clone(),
                    groups: e.groups.clone(),
                    next: next_of(path("server_event.next"), &e.next, &mut issue),
                }),
                (None, destination) => ActivityKind::Task {
                    destination: destination.clone().unwrap_or(Destination::Originator),
                    actions,
                },
            };
            activities.push(Activity {
                name: a.name.clone(),
                event: a.event.clone().unwrap_or_else(|| a.name.clone()),
                instruction: a.instruction.clone(),
                description: a.description.clone(),
                fields,
                form_url,
                kind,
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
            form_url,
            activities,
        })
    }
}

/// The system actions (`POST tasks/{sn}/actions/{action}`, also `POST tasks/{sn}/{action}`). Their names are
/// reserved: an activity action cannot be called like one, so under `actions/` a system action always wins.
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
        for (path, file) in authgate_core::config::load_yaml_dir::<DefinitionFile>(dir, "workflow definitions")? {
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
            authgate_core::config::parse_yaml(Path::new("wf.yaml"), text, |_| None).map_err(|e| e.to_string())?;
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
        assert!(matches!(
            &d.activities[1].kind,
            ActivityKind::Task { destination: Destination::Group(g), .. } if g == "HR"
        ));
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
    fn a_server_event_waits_for_those_with_the_right_and_moves_on() {
        let text = GOOD.replace(
            "  - name: Record\n    destination: {group: HR}\n    actions: [{name: Done}]\n",
            "  - name: Record\n    server_event: {users: ['K2:C\\svc'], groups: [HRSystem]}\n    fields: [Days]\n",
        );
        let d = parse(&text).unwrap();
        let event = d.activities[1].server_event().unwrap();
        assert_eq!(event.next, None);
        assert!(event.may_finish("k2:c\\SVC", &[]));
        assert!(event.may_finish("K2:C\\x", &["hrsystem".into()]));
        assert!(!event.may_finish("K2:C\\x", &["HR".into()]));
        assert!(d.activities[1].actions().is_empty());

        for (change, expected) in [
            (
                "server_event: {users: [x]}\n    actions: [{name: Go}]",
                "a server event has no actions",
            ),
            ("server_event: {}", "name the users or groups who may finish it"),
            (
                "server_event: {users: [x], next: Nowhere}",
                "server_event.next: no activity named 'Nowhere'",
            ),
            ("destination: originator\n    server_event: {users: [x]}", "not both"),
        ] {
            let text = GOOD.replace("destination: {group: HR}\n    actions: [{name: Done}]", change);
            let err = parse(&text).unwrap_err();
            assert!(err.contains(expected), "{change}: {err}");
        }
        let err = parse(&GOOD.replace("    destination: {group: HR}\n", "")).unwrap_err();
        assert!(err.contains("activities[1]: give a destination"), "{err}");
    }

    #[test]
    fn form_url_templates_are_checked_with_their_paths() {
        let text = GOOD.replace(
            "name: Leave Request\n",
            "name: Leave Request\nform_url: '{base}/Form/Leave?SerialNo={serialNumber}'\n",
        );
        assert!(parse(&text).unwrap().form_url.unwrap().uses_base());
        let err = parse(&text.replace("{serialNumber}", "{sn}")).unwrap_err();
        assert!(
            err.contains("form_url: '{base}/Form/Leave?SerialNo={sn}' uses {sn}"),
            "{err}"
        );
        let err =
            parse(&GOOD.replace("  - name: Record\n", "  - name: Record\n    form_url: /relative\n")).unwrap_err();
        assert!(err.contains("activities[1].form_url"), "{err}");
    }

    #[test]
    fn the_shipped_examples_load() {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("policies/workflows");
        let defs = Definitions::load_dir(&dir).unwrap();
        assert!(defs.all().len() >= 2);
    }
}
