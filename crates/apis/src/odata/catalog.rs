//! The catalog: every defined SmartObject (the store keeps their tables) and the ones the exposure rules
//! publish as entity sets, with the `$metadata` document rendered once per configuration.

use super::metadata;
use super::smartobject::{AccessFile, Method, SmartObject};
use super::statistics;
use authgate_core::config::{ConfigIssue, ExposeConfig, OdataConfig};
use std::collections::HashMap;
use std::sync::Arc;

/// Defined and published SmartObjects.
#[derive(Debug, Default)]
pub struct Catalog {
    defined: Vec<Arc<SmartObject>>,
    published: Vec<Arc<SmartObject>>,
    by_name: HashMap<String, usize>,
    metadata: String,
}

impl Catalog {
    /// Builds the catalog from operator SmartObjects (already loaded from their directory) and the `odata`
    /// configuration: adds the workflow statistics objects, then applies the exposure rules.
    pub fn build(mut defined: Vec<SmartObject>, cfg: &OdataConfig) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let stats = &cfg.workflow_statistics;
        if stats.enabled {
            let readers = (!stats.reader_users.is_empty() || !stats.reader_groups.is_empty()).then(|| AccessFile {
                users: stats.reader_users.clone(),
                groups: stats.reader_groups.clone(),
            });
            for so in statistics::smartobjects(readers)? {
                if defined
                    .iter()
                    .any(|d| d.system_name.eq_ignore_ascii_case(&so.system_name))
                {
                    issues.push(ConfigIssue::new(
                        "odata.smartobjects",
                        format!(
                            "'{}' is the name of a workflow statistics SmartObject; rename yours or set \
                             odata.workflow_statistics.enabled: false",
                            so.system_name
                        ),
                    ));
                }
                defined.push(so);
            }
        }
        let find = |name: &str| defined.iter().position(|d| d.system_name.eq_ignore_ascii_case(name));
        let mut check_names = |path: &str, names: &[String]| {
            for (i, name) in names.iter().enumerate() {
                if find(name).is_none() {
                    issues.push(ConfigIssue::new(
                        format!("odata.expose.{path}[{i}]"),
                        format!("no SmartObject is called '{name}'"),
                    ));
                }
            }
        };
        let publish: Vec<bool> = match &cfg.expose {
            ExposeConfig::All => defined.iter().map(|d| d.methods.has(Method::List)).collect(),
            ExposeConfig::Only(names) => {
                check_names("only", names);
                defined
                    .iter()
                    .map(|d| names.iter().any(|n| n.eq_ignore_ascii_case(&d.system_name)))
                    .collect()
            }
            ExposeConfig::AllExcept(names) => {
                check_names("all_except", names);
                defined
                    .iter()
                    .map(|d| {
                        d.methods.has(Method::List) && !names.iter().any(|n| n.eq_ignore_ascii_case(&d.system_name))
                    })
                    .collect()
            }
        };
        let defined: Vec<Arc<SmartObject>> = defined.into_iter().map(Arc::new).collect();
        let published: Vec<Arc<SmartObject>> = defined
            .iter()
            .zip(publish)
            .filter(|(_, p)| *p)
            .map(|(d, _)| d.clone())
            .collect();
        let mut by_name = HashMap::new();
        for (i, so) in published.iter().enumerate() {
            if let Some(other) = by_name.insert(so.published_name.clone(), i) {
                issues.push(ConfigIssue::new(
                    "odata.expose",
                    format!(
                        "'{}' and '{}' would both be published as '{}'",
                        published[other].system_name, so.system_name, so.published_name
                    ),
                ));
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        let metadata = metadata::csdl(&published);
        Ok(Self {
            defined,
            published,
            by_name,
            metadata,
        })
    }

    /// Every defined SmartObject, published or not.
    pub fn defined(&self) -> &[Arc<SmartObject>] {
        &self.defined
    }

    /// The published SmartObjects, in definition order.
    pub fn published(&self) -> &[Arc<SmartObject>] {
        &self.published
    }

    /// The published entity set called `name` (case-sensitive, as OData identifiers are).
    pub fn entity_set(&self, name: &str) -> Option<&Arc<SmartObject>> {
        self.by_name.get(name).map(|&i| &self.published[i])
    }

    /// The `$metadata` CSDL XML.
    pub fn metadata(&self) -> &str {
        &self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::smartobject::SmartObjectFile;
    use std::path::Path;

    fn so(name: &str, methods: &str) -> SmartObject {
        let text = format!(
            "system_name: {name}\nkey: Id\nmethods: {methods}\nproperties:\n  - {{name: Id, type: AutoNumber}}\n"
        );
        let file: SmartObjectFile = authgate_core::config::parse_yaml(Path::new("x.yaml"), &text, |_| None).unwrap();
        SmartObject::from_file(file).unwrap()
    }

    fn names(c: &Catalog) -> Vec<&str> {
        c.published().iter().map(|s| s.published_name.as_str()).collect()
    }

    fn objects() -> Vec<SmartObject> {
        vec![
            so("Customer", "[List, Read]"),
            so("1099Vendor", "[List]"),
            so("Audit", "[Read]"),
        ]
    }

    #[test]
    fn all_publishes_every_object_with_a_list_method() {
        let c = Catalog::build(objects(), &OdataConfig::default()).unwrap();
        assert_eq!(
            names(&c),
            ["Customer", "OData_1099Vendor", "WorkflowInstances", "WorkflowTasks"]
        );
        assert!(c.entity_set("OData_1099Vendor").is_some());
        assert!(c.entity_set("1099Vendor").is_none());
        assert!(c.entity_set("Audit").is_none());
        assert_eq!(c.defined().len(), 5);
    }

    #[test]
    fn only_and_all_except_select_by_system_name() {
        let only = OdataConfig {
            expose: ExposeConfig::Only(vec!["audit".into(), "1099Vendor".into()]),
            ..OdataConfig::default()
        };
        assert_eq!(
            names(&Catalog::build(objects(), &only).unwrap()),
            ["OData_1099Vendor", "Audit"]
        );
        let except = OdataConfig {
            expose: ExposeConfig::AllExcept(vec!["Customer".into(), "WorkflowTasks".into()]),
            ..OdataConfig::default()
        };
        assert_eq!(
            names(&Catalog::build(objects(), &except).unwrap()),
            ["OData_1099Vendor", "WorkflowInstances"]
        );
    }

    #[test]
    fn statistics_readers_and_switch_come_from_the_configuration() {
        use crate::odata::smartobject::Access;
        use authgate_core::config::WorkflowStatisticsConfig;
        let restricted = OdataConfig {
            workflow_statistics: WorkflowStatisticsConfig {
                reader_groups: vec!["Managers".into()],
                ..WorkflowStatisticsConfig::default()
            },
            ..OdataConfig::default()
        };
        let c = Catalog::build(Vec::new(), &restricted).unwrap();
        let readers = &c.entity_set("WorkflowTasks").unwrap().readers;
        assert!(matches!(readers, Access::Only { groups, .. } if groups == &["Managers".to_string()]));
        let off = OdataConfig {
            workflow_statistics: WorkflowStatisticsConfig {
                enabled: false,
                ..WorkflowStatisticsConfig::default()
            },
            ..OdataConfig::default()
        };
        assert!(Catalog::build(Vec::new(), &off).unwrap().defined().is_empty());
    }

    #[test]
    fn unknown_names_and_collisions_are_refused() {
        let typo = OdataConfig {
            expose: ExposeConfig::Only(vec!["Custmer".into()]),
            ..OdataConfig::default()
        };
        let issues = Catalog::build(objects(), &typo).unwrap_err();
        assert_eq!(issues[0].path, "odata.expose.only[0]");
        let clash = vec![so("1A", "[List]"), so("OData_1A", "[List]")];
        let issues = Catalog::build(clash, &OdataConfig::default()).unwrap_err();
        assert!(
            issues[0].message.contains("both be published as 'OData_1A'"),
            "{issues:?}"
        );
        let reserved = vec![so("WorkflowTasks", "[List]")];
        assert!(Catalog::build(reserved, &OdataConfig::default()).is_err());
    }
}
