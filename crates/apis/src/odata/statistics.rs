//! The workflow statistics SmartObjects: read-only views over the Workflow REST API's tables, so a report can
//! chart throughput (instances started and finished per day), bottlenecks (task durations per activity) and
//! who holds the work. They are defined in the same YAML form as operator SmartObjects and published by the
//! same exposure rules.
//!
//! Times are stored by the workflow store as Unix seconds; the views present them in the EDM storage form
//! (`YYYY-MM-DDTHH:MM:SS.fffffffZ`) so `$filter` / `$orderby` on them work like on any DateTime property.

use super::smartobject::{AccessFile, SmartObject, SmartObjectFile, Source};
use authgate_core::config::ConfigIssue;
use std::path::Path;

/// System name of the instance statistics.
pub const INSTANCES: &str = "WorkflowInstances";
/// System name of the task statistics.
pub const TASKS: &str = "WorkflowTasks";

const INSTANCES_VIEW: &str = "odata_workflow_instances";
const TASKS_VIEW: &str = "odata_workflow_tasks";

const INSTANCES_YAML: &str = r#"
system_name: WorkflowInstances
display_name: Workflow Instances
description: One row per workflow instance, with its status and timings (read-only).
key: Id
methods: [List, Read]
properties:
  - {name: Id, type: Number, display_name: Instance ID}
  - {name: Workflow, type: Text}
  - {name: Folio, type: Text}
  - {name: Status, type: Text}
  - {name: Priority, type: Number}
  - {name: Originator, type: Text, display_name: Originator FQN}
  - {name: OriginatorName, type: Text, display_name: Originator Name}
  - {name: CurrentActivity, type: Text, display_name: Current Activity}
  - {name: StartDate, type: DateTime, display_name: Start Date}
  - {name: FinishDate, type: DateTime, display_name: Finish Date}
  - {name: DurationSeconds, type: Number, display_name: Duration (s)}
  - {name: ExpectedDurationSeconds, type: Number, display_name: Expected Duration (s)}
"#;

const TASKS_YAML: &str = r#"
system_name: WorkflowTasks
display_name: Workflow Tasks
description: One row per task (activity destination instance), with who held it and how long it took (read-only).
key: SerialNumber
methods: [List, Read]
properties:
  - {name: SerialNumber, type: Text, display_name: Serial Number}
  - {name: InstanceId, type: Number, display_name: Instance ID}
  - {name: Workflow, type: Text}
  - {name: Folio, type: Text}
  - {name: Activity, type: Text}
  - {name: DestinationType, type: Text, display_name: Destination Type}
  - {name: Destination, type: Text}
  - {name: AllocatedTo, type: Text, display_name: Allocated To}
  - {name: Status, type: Text}
  - {name: Action, type: Text}
  - {name: ActionedBy, type: Text, display_name: Actioned By}
  - {name: StartDate, type: DateTime, display_name: Start Date}
  - {name: FinishDate, type: DateTime, display_name: Finish Date}
  - {name: DurationSeconds, type: Number, display_name: Duration (s)}
"#;

/// The two statistics SmartObjects, readable by `readers` (`None`: any authenticated user).
pub fn smartobjects(readers: Option<AccessFile>) -> Result<Vec<SmartObject>, Vec<ConfigIssue>> {
    [(INSTANCES_YAML, INSTANCES_VIEW), (TASKS_YAML, TASKS_VIEW)]
        .into_iter()
        .map(|(yaml, view)| {
            let mut file: SmartObjectFile =
                authgate_core::config::parse_yaml(Path::new("statistics.yaml"), yaml, |_| None)
                    .map_err(|e| vec![ConfigIssue::new("odata.workflow_statistics", e.to_string())])?;
            file.readers = readers.clone();
            SmartObject::build(file, Source::View(view.into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::smartobject::Method;

    #[test]
    fn both_are_read_only_views() {
        let list = smartobjects(None).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].system_name, INSTANCES);
        assert_eq!(list[1].system_name, TASKS);
        for so in &list {
            assert!(matches!(so.source, Source::View(_)));
            assert!(so.methods.has(Method::List) && !so.methods.has(Method::Create));
        }
    }
}
