//! SmartObject definitions: the YAML files under `policies/smartobjects/` (one SmartObject per file), checked
//! once into the runtime [`SmartObject`] the OData service publishes. Every invalid value is a
//! [`ConfigIssue`] with its field path, so a broken file stops a start or a reload with a clear message.

use super::edm::EdmType;
use super::filter::Property as QueryProperty;
use super::rest::{RestFile, RestSource};
use crate::Caller;
use authgate_core::config::{ConfigError, ConfigIssue};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;

/// Longest system name of a SmartObject or property.
const MAX_NAME_LEN: usize = 128;
/// Default `max_length` of a Text property (as K2's Text type).
const DEFAULT_TEXT_LENGTH: u32 = 255;
/// Prefix of published names that would otherwise start with a non-letter.
pub const PUBLISHED_PREFIX: &str = "OData_";

/// One SmartObject file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmartObjectFile {
    /// System name: letters, digits and `_` (e.g. `Customer`, `1099Vendor`). Unique, case-insensitively.
    pub system_name: String,
    /// Display name. Default: the system name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Description, published in `$metadata`.
    #[serde(default)]
    pub description: Option<String>,
    /// The properties, in publication order.
    pub properties: Vec<PropertyFile>,
    /// The key property's system name.
    pub key: String,
    /// The methods that exist: `List`, `Read`, `Create`, `Update`, `Delete`.
    pub methods: Vec<Method>,
    /// Who may read (List, Read). Default: any authenticated AD/AAD user.
    #[serde(default)]
    pub readers: Option<AccessFile>,
    /// Who may write (Create, Update, Delete). Default: any authenticated AD/AAD user.
    #[serde(default)]
    pub writers: Option<AccessFile>,
    /// Database indexes over several properties, each a list of system names in order, e.g.
    /// `[[Region, Created]]` for `$filter=Region eq ...&$orderby=Created desc` on a large SmartObject.
    #[serde(default)]
    pub indexes: Vec<Vec<String>>,
    /// The rows live in a REST service, called with each user's OAuth token for a resource (`oauth:`), not in
    /// the gateway's database: see [`super::rest`]. Default: none (a table of its own).
    #[serde(default)]
    pub rest: Option<RestFile>,
}

/// One property, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyFile {
    /// System name: letters, digits and `_`.
    pub name: String,
    /// SmartObject type.
    #[serde(rename = "type")]
    pub kind: PropertyKind,
    /// Display name. Default: the system name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// A value is required on create (and cannot be set to null). The key always is.
    #[serde(default)]
    pub required: bool,
    /// Longest text of a Text property, in characters. Default 255; Memo is unlimited.
    #[serde(default)]
    pub max_length: Option<u32>,
    /// Keep a database index on this property, for `$filter` / `$orderby` on large objects. Default false.
    #[serde(default)]
    pub indexed: bool,
}

/// The SmartObject property types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PropertyKind {
    /// Text up to `max_length` characters.
    Text,
    /// Text of any length.
    Memo,
    /// 64-bit integer.
    Number,
    /// Decimal number.
    Decimal,
    /// True or false.
    Boolean,
    /// Date and time (UTC on output).
    DateTime,
    /// Calendar date.
    Date,
    /// Time of day.
    Time,
    /// GUID.
    #[serde(rename = "GUID", alias = "Guid")]
    Guid,
    /// Integer the service assigns on create (1, 2, 3...).
    AutoNumber,
    /// GUID the service assigns on create.
    #[serde(alias = "AutoGUID")]
    AutoGuid,
}

impl PropertyKind {
    /// The EDM type it is published as.
    pub fn edm(self) -> EdmType {
        match self {
            Self::Text | Self::Memo => EdmType::String,
            Self::Number | Self::AutoNumber => EdmType::Int64,
            Self::Decimal => EdmType::Decimal,
            Self::Boolean => EdmType::Boolean,
            Self::DateTime => EdmType::DateTimeOffset,
            Self::Date => EdmType::Date,
            Self::Time => EdmType::TimeOfDay,
            Self::Guid | Self::AutoGuid => EdmType::Guid,
        }
    }

    /// Whether the service assigns the value.
    pub fn is_generated(self) -> bool {
        matches!(self, Self::AutoNumber | Self::AutoGuid)
    }
}

/// A SmartObject method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Method {
    /// Query the entity set.
    List,
    /// Read one entity by key.
    Read,
    /// `POST` a new entity.
    Create,
    /// `PATCH` / `PUT` an entity.
    Update,
    /// `DELETE` an entity.
    Delete,
}

impl Method {
    const ALL: [Method; 5] = [Self::List, Self::Read, Self::Create, Self::Update, Self::Delete];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The set of methods a SmartObject has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Methods(u8);

impl Methods {
    /// The set of `methods`.
    pub fn of(methods: &[Method]) -> Self {
        Self(methods.iter().fold(0, |bits, m| bits | m.bit()))
    }

    /// Whether `method` exists.
    pub fn has(self, method: Method) -> bool {
        self.0 & method.bit() != 0
    }

    /// The methods present, in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Method> {
        Method::ALL.into_iter().filter(move |m| self.has(*m))
    }
}

/// Users (FQN or e-mail) and groups, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessFile {
    /// User FQNs (`K2:CONTOSO\alice`) or e-mail addresses, case-insensitive.
    pub users: Vec<String>,
    /// Group names, case-insensitive.
    pub groups: Vec<String>,
}

/// Who may use a set of methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Any authenticated user (the gateway already refused everyone outside AD/AAD).
    Anyone,
    /// Only these users and members of these groups.
    Only { users: Vec<String>, groups: Vec<String> },
}

impl Access {
    /// From the file form; `None` is [`Access::Anyone`].
    pub fn from_file(file: Option<&AccessFile>) -> Self {
        match file {
            None => Self::Anyone,
            Some(f) => Self::Only {
                users: f.users.clone(),
                groups: f.groups.clone(),
            },
        }
    }

    /// Whether `caller` is allowed.
    pub fn allows(&self, caller: &Caller) -> bool {
        match self {
            Self::Anyone => true,
            Self::Only { users, groups } => {
                users
                    .iter()
                    .any(|u| caller.is_user(u) || caller.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(u)))
                    || groups.iter().any(|g| caller.in_group(g))
            }
        }
    }
}

/// Where a SmartObject's rows live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A table of its own, created and extended by the store.
    Table(String),
    /// A read-only view the store defines (the workflow statistics).
    View(String),
    /// A REST service, called with the user's token for an OAuth resource; no table.
    Rest(Box<RestSource>),
}

impl Source {
    /// The table or view name (`""` for a REST service: the stores never see one).
    pub fn name(&self) -> &str {
        match self {
            Self::Table(n) | Self::View(n) => n,
            Self::Rest(_) => "",
        }
    }

    /// The REST service, when the rows live in one.
    pub fn rest(&self) -> Option<&RestSource> {
        match self {
            Self::Rest(source) => Some(source),
            _ => None,
        }
    }
}

/// A property, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartProperty {
    /// System name (also the column name).
    pub system_name: String,
    /// OData name.
    pub published_name: String,
    /// Display name.
    pub display_name: String,
    /// Type.
    pub kind: PropertyKind,
    /// Non-null on create and update.
    pub required: bool,
    /// Longest text in characters (Text only).
    pub max_length: Option<u32>,
}

impl SmartProperty {
    /// Its EDM type.
    pub fn edm(&self) -> EdmType {
        self.kind.edm()
    }
}

/// A SmartObject, checked.
#[derive(Debug, Clone)]
pub struct SmartObject {
    /// System name.
    pub system_name: String,
    /// OData entity set and entity type name.
    pub published_name: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// Properties, in publication order.
    pub properties: Vec<SmartProperty>,
    /// The same properties as the query language sees them (published name, type, column).
    pub query_properties: Vec<QueryProperty>,
    /// Index of the key property.
    pub key: usize,
    /// Methods that exist.
    pub methods: Methods,
    /// Who may List and Read.
    pub readers: Access,
    /// Who may Create, Update and Delete.
    pub writers: Access,
    /// Table or view.
    pub source: Source,
    /// Database indexes, each a list of property indexes (single `indexed` properties included).
    pub indexes: Vec<Vec<usize>>,
}

/// The name as published: `OData_` in front of a name that does not start with a letter.
pub fn published(system_name: &str) -> String {
    if system_name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        system_name.to_string()
    } else {
        format!("{PUBLISHED_PREFIX}{system_name}")
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("is longer than {MAX_NAME_LEN} characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "'{name}' may contain only letters, digits and '_' (it names a database column and an OData identifier)"
        ));
    }
    Ok(())
}

impl SmartObject {
    /// Checks a file into runtime form, stored in its own table, or in the REST service its `rest:` section
    /// names (whose `oauth_resource` the composition root checks against the `oauth:` catalog).
    pub fn from_file(mut file: SmartObjectFile) -> Result<Self, Vec<ConfigIssue>> {
        let Some(rest) = file.rest.take() else {
            let source = Source::Table(format!("so_{}", file.system_name));
            return Self::build(file, source);
        };
        let mut issues = Vec::new();
        if !file.indexes.is_empty() {
            issues.push(ConfigIssue::new(
                "indexes",
                "a REST SmartObject has no database table to index (leave indexes out)",
            ));
        }
        for (i, p) in file.properties.iter().enumerate() {
            if p.indexed {
                issues.push(ConfigIssue::new(
                    format!("properties[{i}].indexed"),
                    "a REST SmartObject has no database table to index",
                ));
            }
        }
        let mut so = match Self::build(file, Source::Table(String::new())) {
            Ok(so) => so,
            Err(mut found) => {
                found.extend(issues);
                return Err(found);
            }
        };
        match RestSource::from_file(&rest, &so) {
            Ok(source) if issues.is_empty() => {
                so.source = Source::Rest(Box::new(source));
                Ok(so)
            }
            Ok(_) => Err(issues),
            Err(found) => {
                issues.extend(found);
                Err(issues)
            }
        }
    }

    /// Checks a definition whose rows come from `source`.
    pub fn build(file: SmartObjectFile, source: Source) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut issue = |path: String, message: String| issues.push(ConfigIssue::new(path, message));
        if let Err(m) = check_name(&file.system_name) {
            issue("system_name".into(), m);
        }
        if file.properties.is_empty() {
            issue("properties".into(), "a SmartObject needs at least one property".into());
        }
        let mut seen = HashSet::new();
        for (i, p) in file.properties.iter().enumerate() {
            if let Err(m) = check_name(&p.name) {
                issue(format!("properties[{i}].name"), m);
            } else if !seen.insert(p.name.to_ascii_lowercase()) {
                issue(
                    format!("properties[{i}].name"),
                    format!("duplicate property '{}' (names are case-insensitive)", p.name),
                );
            }
            match (p.kind, p.max_length) {
                (PropertyKind::Text, Some(0)) => {
                    issue(format!("properties[{i}].max_length"), "must be at least 1".into())
                }
                (PropertyKind::Text, _) | (_, None) => {}
                (kind, Some(_)) => issue(
                    format!("properties[{i}].max_length"),
                    format!("applies to Text properties only, not {kind:?}"),
                ),
            }
        }
        let key = file.properties.iter().position(|p| p.name == file.key);
        match key.map(|k| file.properties[k].kind) {
            None => issue("key".into(), format!("'{}' is not one of the properties", file.key)),
            Some(PropertyKind::Memo | PropertyKind::Decimal | PropertyKind::Boolean) => issue(
                "key".into(),
                "a key must be Text, Number, DateTime, Date, Time, GUID, AutoNumber or AutoGuid".into(),
            ),
            Some(_) => {}
        }
        if file.methods.is_empty() {
            issue(
                "methods".into(),
                "list the methods that exist (List, Read, Create, Update, Delete)".into(),
            );
        }
        if matches!(source, Source::View(_))
            && file
                .methods
                .iter()
                .any(|m| matches!(m, Method::Create | Method::Update | Method::Delete))
        {
            issue("methods".into(), "a view-backed SmartObject is read-only".into());
        }
        for (path, access) in [("readers", &file.readers), ("writers", &file.writers)] {
            if let Some(a) = access {
                if a.users.is_empty() && a.groups.is_empty() {
                    issue(
                        path.into(),
                        "names no users or groups; leave it out to allow any authenticated user".into(),
                    );
                }
            }
        }
        let mut indexes: Vec<Vec<usize>> = Vec::new();
        for (i, columns) in file.indexes.iter().enumerate() {
            let found: Vec<Option<usize>> = columns
                .iter()
                .map(|c| file.properties.iter().position(|p| &p.name == c))
                .collect();
            if columns.is_empty() {
                issue(format!("indexes[{i}]"), "names no properties".into());
            } else if let Some(j) = found.iter().position(Option::is_none) {
                issue(
                    format!("indexes[{i}][{j}]"),
                    format!("'{}' is not one of the properties", columns[j]),
                );
            } else {
                indexes.push(found.into_iter().flatten().collect());
            }
        }
        for (i, p) in file.properties.iter().enumerate() {
            if p.indexed && !indexes.contains(&vec![i]) {
                indexes.push(vec![i]);
            }
        }
        let (Some(key), true) = (key, issues.is_empty()) else {
            return Err(issues);
        };
        let properties: Vec<SmartProperty> = file
            .properties
            .iter()
            .enumerate()
            .map(|(i, p)| SmartProperty {
                published_name: published(&p.name),
                display_name: p.display_name.clone().unwrap_or_else(|| p.name.clone()),
                system_name: p.name.clone(),
                kind: p.kind,
                required: p.required || i == key,
                max_length: match p.kind {
                    PropertyKind::Text => Some(p.max_length.unwrap_or(DEFAULT_TEXT_LENGTH)),
                    _ => None,
                },
            })
            .collect();
        let query_properties = properties
            .iter()
            .map(|p| QueryProperty {
                name: p.published_name.clone(),
                ty: p.edm(),
                column: p.system_name.clone(),
            })
            .collect();
        Ok(Self {
            published_name: published(&file.system_name),
            display_name: file.display_name.clone().unwrap_or_else(|| file.system_name.clone()),
            system_name: file.system_name,
            description: file.description,
            properties,
            query_properties,
            key,
            methods: Methods::of(&file.methods),
            readers: Access::from_file(file.readers.as_ref()),
            writers: Access::from_file(file.writers.as_ref()),
            source,
            indexes,
        })
    }

    /// The key property.
    pub fn key_property(&self) -> &SmartProperty {
        &self.properties[self.key]
    }

    /// The property published as `name`, with its index.
    pub fn property(&self, name: &str) -> Option<(usize, &SmartProperty)> {
        self.properties
            .iter()
            .enumerate()
            .find(|(_, p)| p.published_name == name)
    }
}

/// Loads every SmartObject file in `dir` (sorted by name). A missing directory means none.
pub fn load_dir(dir: &Path) -> Result<Vec<SmartObject>, ConfigError> {
    let mut list: Vec<SmartObject> = Vec::new();
    for (path, file) in authgate_core::config::load_yaml_dir::<SmartObjectFile>(dir, "SmartObject definitions")? {
        let so = SmartObject::from_file(file).map_err(|issues| ConfigError::Invalid {
            file: path.clone(),
            issues,
        })?;
        if list.iter().any(|o| o.system_name.eq_ignore_ascii_case(&so.system_name)) {
            return Err(ConfigError::Invalid {
                file: path,
                issues: vec![ConfigIssue::new(
                    "system_name",
                    format!(
                        "another file already defines SmartObject '{}' (names are case-insensitive)",
                        so.system_name
                    ),
                )],
            });
        }
        list.push(so);
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const CUSTOMER: &str = r#"
system_name: Customer
display_name: Customer
properties:
  - {name: Id, type: AutoNumber}
  - {name: Name, type: Text, max_length: 50, required: true, indexed: true}
  - {name: 2ndLine, type: Memo}
methods: [List, Read, Create, Update, Delete]
key: Id
readers: {groups: [Sales]}
"#;

    fn parse(text: &str) -> Result<SmartObject, String> {
        let file: SmartObjectFile =
            authgate_core::config::parse_yaml(Path::new("so.yaml"), text, |_| None).map_err(|e| e.to_string())?;
        SmartObject::from_file(file)
            .map_err(|issues| issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    }

    #[test]
    fn a_valid_file_is_checked_into_runtime_form() {
        let so = parse(CUSTOMER).unwrap();
        assert_eq!(so.published_name, "Customer");
        assert_eq!(so.source, Source::Table("so_Customer".into()));
        assert_eq!(so.key_property().system_name, "Id");
        assert!(so.key_property().required);
        assert_eq!(so.properties[1].max_length, Some(50));
        assert_eq!(so.properties[2].published_name, "OData_2ndLine");
        assert_eq!(so.query_properties[2].column, "2ndLine");
        assert!(so.methods.has(Method::Delete));
        assert_eq!(so.methods.iter().count(), 5);
        assert!(matches!(so.readers, Access::Only { .. }));
        assert_eq!(so.writers, Access::Anyone);
        assert_eq!(so.indexes, vec![vec![1]]);
    }

    #[test]
    fn names_starting_with_a_non_letter_are_prefixed() {
        assert_eq!(published("1099Vendor"), "OData_1099Vendor");
        assert_eq!(published("_x"), "OData__x");
        assert_eq!(published("Vendor"), "Vendor");
    }

    #[test]
    fn invalid_definitions_name_their_fields() {
        let cases = [
            ("key: Id", "key: Nope", "key: 'Nope' is not one of the properties"),
            ("system_name: Customer", "system_name: Cust-omer", "system_name:"),
            (
                "{name: 2ndLine, type: Memo}",
                "{name: name, type: Memo}",
                "properties[2].name: duplicate",
            ),
            (
                "{name: 2ndLine, type: Memo}",
                "{name: N2, type: Memo, max_length: 5}",
                "properties[2].max_length",
            ),
            (
                "methods: [List, Read, Create, Update, Delete]",
                "methods: []",
                "methods:",
            ),
            ("readers: {groups: [Sales]}", "readers: {}", "readers:"),
            ("key: Id", "key: Id\nindexes: [[Name, Nope]]", "indexes[0][1]: 'Nope'"),
        ];
        for (from, to, expected) in cases {
            let err = parse(&CUSTOMER.replace(from, to)).unwrap_err();
            assert!(err.contains(expected), "{to}: {err}");
        }
        let err = parse(&CUSTOMER.replace("type: Memo", "type: Money")).unwrap_err();
        assert!(err.contains("properties[2].type"), "{err}");
        let err = parse(&CUSTOMER.replace("key: Id", "key: Id\ncolour: red")).unwrap_err();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn access_matches_fqn_email_or_group() {
        let access = Access::Only {
            users: vec!["K2:CONTOSO\\alice".into(), "bob@contoso.com".into()],
            groups: vec!["Finance".into()],
        };
        let caller = |user: &str, email: Option<&str>, groups: &[&str]| Caller {
            user: user.into(),
            user_manager: "ad".into(),
            auth_method: "basic".into(),
            email: email.map(str::to_string),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            tenant: None,
            display_name: None,
        };
        assert!(access.allows(&caller("k2:contoso\\ALICE", None, &[])));
        assert!(access.allows(&caller("K2:CONTOSO\\bob", Some("Bob@contoso.com"), &[])));
        assert!(access.allows(&caller("K2:CONTOSO\\fran", None, &["finance"])));
        assert!(!access.allows(&caller("K2:CONTOSO\\gus", Some("gus@contoso.com"), &["Sales"])));
        assert!(Access::Anyone.allows(&caller("x", None, &[])));
    }

    #[test]
    fn a_rest_section_makes_a_rest_source_without_a_table() {
        let rest = "system_name: Invoice\nkey: Id\nmethods: [List]\nproperties:\n  - {name: Id, type: Number}\n\
                    rest: {oauth_resource: Api, base_url: 'http://127.0.0.1:1/v1', list: {path: invoices}}\n";
        let so = parse(rest).unwrap();
        let source = so.source.rest().expect("a REST source");
        assert_eq!(source.oauth_resource, "Api");
        assert_eq!(so.source.name(), "");
        let err = parse(&rest.replace("type: Number}", "type: Number, indexed: true}")).unwrap_err();
        assert!(
            err.contains("properties[0].indexed: a REST SmartObject has no database table"),
            "{err}"
        );
        let err = parse(&rest.replace("list: {path: invoices}", "read: {path: x}")).unwrap_err();
        assert!(err.contains("rest.list:") && err.contains("rest.read"), "{err}");
    }

    #[test]
    fn the_shipped_examples_load() {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("policies/smartobjects");
        let list = load_dir(&dir).unwrap();
        assert!(list.len() >= 2, "{}", list.len());
        assert!(
            list.iter().all(|so| so.source.rest().is_none()),
            "the REST example is not loaded"
        );
        let example = std::fs::read_to_string(dir.join("invoice.yaml.example")).unwrap();
        let so = parse(&example).unwrap();
        assert_eq!(so.source.rest().unwrap().oauth_resource, "Invoices API");
    }
}
