//! [`WorkflowStore`] on SQLite: one immediate transaction per request, so of two concurrent actions on one task
//! exactly one sees it open.

use super::Database;
use crate::store::StoreError;
use crate::workflow::error::WorkflowError;
use crate::workflow::item_refs::ItemReferences;
use crate::workflow::store::{
    worklist_groups, Decide, HistoryRecord, InstanceRecord, NewInstance, NewTask, Page, Principal, TaskRecord,
    TaskStatus, WorkflowStore, MAX_GROUP_SCANS,
};
use async_trait::async_trait;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use std::sync::Arc;

/// The SQLite workflow store.
pub struct SqliteWorkflowStore {
    db: Arc<Database>,
}

impl SqliteWorkflowStore {
    /// Uses `db` (opened, so migrated).
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }
}

const INSTANCE_COLUMNS: &str = "i.id, i.workflow_id, i.workflow_name, i.folio, i.priority, i.status, i.originator, \
     i.originator_display_name, i.originator_email, i.current_activity, i.data_fields, i.xml_fields, \
     i.expected_duration, i.started_at, i.finished_at, i.item_references";
const TASK_COLUMNS: &str = "t.id, t.instance_id, t.serial_number, t.activity, t.destination_kind, t.destination, \
     t.allocated_to, t.status, t.prior_status, t.sleep_until, t.action, t.actioned_by, t.created_at, t.completed_at";
const TASK_COLUMN_COUNT: usize = 14;

fn json_object(text: String) -> rusqlite::Result<serde_json::Map<String, serde_json::Value>> {
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn item_references(text: String) -> rusqlite::Result<ItemReferences> {
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn status(text: String, column: usize) -> rusqlite::Result<TaskStatus> {
    TaskStatus::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            format!("unknown task status '{text}'").into(),
        )
    })
}

fn instance_from(row: &Row<'_>, at: usize) -> rusqlite::Result<InstanceRecord> {
    Ok(InstanceRecord {
        id: row.get(at)?,
        workflow_id: row.get(at + 1)?,
        workflow_name: row.get(at + 2)?,
        folio: row.get(at + 3)?,
        priority: row.get(at + 4)?,
        status: row.get(at + 5)?,
        originator: row.get(at + 6)?,
        originator_display_name: row.get(at + 7)?,
        originator_email: row.get(at + 8)?,
        current_activity: row.get(at + 9)?,
        data_fields: json_object(row.get(at + 10)?)?,
        xml_fields: json_object(row.get(at + 11)?)?,
        expected_duration: row.get(at + 12)?,
        started_at: row.get(at + 13)?,
        finished_at: row.get(at + 14)?,
        item_references: item_references(row.get(at + 15)?)?,
    })
}

fn task_from(row: &Row<'_>) -> rusqlite::Result<TaskRecord> {
    Ok(TaskRecord {
        id: row.get(0)?,
        instance_id: row.get(1)?,
        serial_number: row.get(2)?,
        activity: row.get(3)?,
        destination_kind: row.get(4)?,
        destination: row.get(5)?,
        allocated_to: row.get(6)?,
        status: status(row.get(7)?, 7)?,
        prior_status: row.get::<_, Option<String>>(8)?.map(|s| status(s, 8)).transpose()?,
        sleep_until: row.get(9)?,
        action: row.get(10)?,
        actioned_by: row.get(11)?,
        created_at: row.get(12)?,
        completed_at: row.get(13)?,
    })
}

fn load_task(conn: &Connection, task_id: i64) -> Result<Option<(TaskRecord, InstanceRecord)>, StoreError> {
    let sql = format!(
        "SELECT {TASK_COLUMNS}, {INSTANCE_COLUMNS} FROM wf_tasks t JOIN wf_instances i ON i.id = t.instance_id \
         WHERE t.id = ?1"
    );
    Ok(conn
        .query_row(&sql, [task_id], |row| {
            Ok((task_from(row)?, instance_from(row, TASK_COLUMN_COUNT)?))
        })
        .optional()?)
}

fn insert_task(conn: &Connection, instance_id: i64, task: &NewTask, now: i64) -> Result<String, StoreError> {
    conn.execute(
        "INSERT INTO wf_tasks (instance_id, serial_number, activity, destination_kind, destination, allocated_to, \
         status, created_at) VALUES (?1, '', ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            instance_id,
            task.activity,
            task.destination_kind,
            task.destination,
            task.allocated_to,
            task.status.as_str(),
            now
        ],
    )?;
    let id = conn.last_insert_rowid();
    let serial = format!("{instance_id}_{id}");
    conn.execute(
        "UPDATE wf_tasks SET serial_number = ?1 WHERE id = ?2",
        params![serial, id],
    )?;
    Ok(serial)
}

fn insert_history(conn: &Connection, instance_id: i64, h: &HistoryRecord) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO wf_history (instance_id, at, actor, event, activity, serial_number, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            instance_id,
            h.at,
            h.actor,
            h.event,
            h.activity,
            h.serial_number,
            h.detail
        ],
    )?;
    Ok(())
}

/// The worklist page query and its parameters. One ordered index scan per source (held by the user; untaken
/// in each of their groups), merged by id (SQLite's "MERGE (UNION ALL)" co-routines stop once the page is
/// full): the cost grows with skip + take and the number of groups, never with the length of the worklist.
/// No LIMIT inside the branches: SQLite would materialise and sort each one.
fn worklist_query(
    who: &Principal,
    state: Option<TaskStatus>,
    page: Page,
    now: i64,
) -> (String, Vec<rusqlite::types::Value>) {
    let effective = "CASE WHEN t.status = 'Sleep' AND t.sleep_until IS NOT NULL AND t.sleep_until <= ?2 \
                         THEN COALESCE(t.prior_status, 'Allocated') ELSE t.status END";
    let mut values: Vec<rusqlite::types::Value> = vec![who.user.clone().into(), now.into()];
    let filter = match state {
        Some(s) => {
            values.push(s.as_str().to_string().into());
            format!(" AND {effective} = ?{}", values.len())
        }
        None => String::new(),
    };
    let mut branches = vec![format!(
        "SELECT {TASK_COLUMNS} FROM wf_tasks t WHERE t.completed_at IS NULL \
             AND t.allocated_to = ?1 COLLATE NOCASE{filter}"
    )];
    let groups = worklist_groups(&who.groups);
    if groups.len() > MAX_GROUP_SCANS {
        // Past this many groups, one scan of all of them, sorted (an IN list's index ranges
        // are not merged in order): bounded by those groups' untaken tasks.
        let mut marks = Vec::new();
        for g in groups {
            values.push(g.into());
            marks.push(format!("?{}", values.len()));
        }
        branches.push(format!(
            "SELECT {TASK_COLUMNS} FROM wf_tasks t WHERE t.completed_at IS NULL \
                 AND t.allocated_to IS NULL AND t.destination_kind = 'group' \
                 AND t.destination COLLATE NOCASE IN ({}){filter}",
            marks.join(", ")
        ));
    } else {
        for g in groups {
            values.push(g.into());
            branches.push(format!(
                "SELECT {TASK_COLUMNS} FROM wf_tasks t WHERE t.completed_at IS NULL \
                     AND t.allocated_to IS NULL AND t.destination_kind = 'group' \
                     AND t.destination = ?{} COLLATE NOCASE{filter}",
                values.len()
            ));
        }
    }
    values.push(page.take.into());
    let limit = values.len();
    values.push(page.skip.into());
    let full = format!(
        "SELECT w.*, {INSTANCE_COLUMNS} FROM ({}) w JOIN wf_instances i ON i.id = w.instance_id \
             ORDER BY w.id LIMIT ?{limit} OFFSET ?{}",
        branches.join(" UNION ALL "),
        limit + 1
    );
    (full, values)
}

fn to_json(map: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::Value::Object(map.clone()).to_string()
}

fn refs_json(refs: &ItemReferences) -> String {
    serde_json::Value::Object(refs.to_json()).to_string()
}

#[async_trait]
impl WorkflowStore for SqliteWorkflowStore {
    async fn start(&self, new: NewInstance) -> Result<(i64, String), StoreError> {
        self.db
            .write(move |tx| {
                let i = &new.instance;
                tx.execute(
                    "INSERT INTO wf_instances (workflow_id, workflow_name, folio, priority, status, originator, \
                     originator_display_name, originator_email, current_activity, data_fields, xml_fields, \
                     expected_duration, started_at, item_references) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                    params![
                        i.workflow_id,
                        i.workflow_name,
                        i.folio,
                        i.priority,
                        i.status,
                        i.originator,
                        i.originator_display_name,
                        i.originator_email,
                        i.current_activity,
                        to_json(&i.data_fields),
                        to_json(&i.xml_fields),
                        i.expected_duration,
                        i.started_at,
                        refs_json(&i.item_references)
                    ],
                )?;
                let id = tx.last_insert_rowid();
                let serial = insert_task(tx, id, &new.first_task, i.started_at)?;
                let started = HistoryRecord {
                    at: i.started_at,
                    actor: i.originator.clone(),
                    event: "Started".into(),
                    activity: None,
                    serial_number: None,
                    detail: Some(i.folio.clone()),
                };
                insert_history(tx, id, &started)?;
                Ok((id, serial))
            })
            .await
    }

    async fn worklist(
        &self,
        who: &Principal,
        state: Option<TaskStatus>,
        page: Page,
        now: i64,
    ) -> Result<Vec<(TaskRecord, InstanceRecord)>, StoreError> {
        let who = who.clone();
        self.db
            .read(move |conn| {
                let (full, values) = worklist_query(&who, state, page, now);
                let mut stmt = conn.prepare_cached(&full)?;
                let rows = stmt
                    .query_map(params_from_iter(values), |row| {
                        Ok((task_from(row)?, instance_from(row, TASK_COLUMN_COUNT)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn task(&self, task_id: i64) -> Result<Option<(TaskRecord, InstanceRecord)>, StoreError> {
        self.db.read(move |conn| load_task(conn, task_id)).await
    }

    async fn instance(
        &self,
        id: i64,
    ) -> Result<Option<(InstanceRecord, Vec<TaskRecord>, Vec<HistoryRecord>)>, StoreError> {
        self.db
            .read(move |conn| {
                let sql = format!("SELECT {INSTANCE_COLUMNS} FROM wf_instances i WHERE i.id = ?1");
                let Some(instance) = conn.query_row(&sql, [id], |row| instance_from(row, 0)).optional()? else {
                    return Ok(None);
                };
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {TASK_COLUMNS} FROM wf_tasks t WHERE t.instance_id = ?1 ORDER BY t.id"
                ))?;
                let tasks = stmt.query_map([id], task_from)?.collect::<Result<Vec<_>, _>>()?;
                let mut stmt = conn.prepare_cached(
                    "SELECT at, actor, event, activity, serial_number, detail FROM wf_history \
                     WHERE instance_id = ?1 ORDER BY id",
                )?;
                let history = stmt
                    .query_map([id], |row| {
                        Ok(HistoryRecord {
                            at: row.get(0)?,
                            actor: row.get(1)?,
                            event: row.get(2)?,
                            activity: row.get(3)?,
                            serial_number: row.get(4)?,
                            detail: row.get(5)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some((instance, tasks, history)))
            })
            .await
    }

    async fn update_task(
        &self,
        task_id: i64,
        decide: Decide,
    ) -> Result<Result<(TaskRecord, InstanceRecord), WorkflowError>, StoreError> {
        self.db
            .write(move |tx| {
                let Some((task, instance)) = load_task(tx, task_id)? else {
                    return Ok(Err(WorkflowError::NotFound(format!(
                        "no task with destination id {task_id}"
                    ))));
                };
                let transition = match decide(&task, &instance) {
                    Ok(t) => t,
                    // Nothing was written: committing the empty transaction changes nothing.
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let t = &transition.task;
                tx.execute(
                    "UPDATE wf_tasks SET destination_kind = ?1, destination = ?2, allocated_to = ?3, status = ?4, \
                     prior_status = ?5, sleep_until = ?6, action = ?7, actioned_by = ?8, completed_at = ?9 \
                     WHERE id = ?10",
                    params![
                        t.destination_kind,
                        t.destination,
                        t.allocated_to,
                        t.status.as_str(),
                        t.prior_status.map(TaskStatus::as_str),
                        t.sleep_until,
                        t.action,
                        t.actioned_by,
                        t.completed_at,
                        t.id
                    ],
                )?;
                let mut instance = instance;
                if let Some(i) = &transition.instance {
                    tx.execute(
                        "UPDATE wf_instances SET status = ?1, current_activity = ?2, data_fields = ?3, \
                         finished_at = ?4, xml_fields = ?5, item_references = ?6 WHERE id = ?7",
                        params![
                            i.status,
                            i.current_activity,
                            to_json(&i.data_fields),
                            i.finished_at,
                            to_json(&i.xml_fields),
                            refs_json(&i.item_references),
                            i.id
                        ],
                    )?;
                    instance = i.clone();
                }
                if let Some(next) = &transition.new_task {
                    insert_task(tx, instance.id, next, transition.at)?;
                }
                for h in &transition.history {
                    insert_history(tx, instance.id, h)?;
                }
                Ok(Ok((transition.task, instance)))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::store::Transition;

    /// A database written by the code before `workflow_002` (no item references) and before numbered
    /// migrations opens, is adopted, reads and updates.
    #[tokio::test]
    async fn a_database_from_before_item_references_opens_and_keeps_working() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // The layout the code before this version wrote: named migrations, the workflow tables only.
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL);
                 INSERT INTO schema_migrations VALUES ('workflow_001', 1700000000);",
            )
            .unwrap();
            old.execute_batch(super::super::migrations::MIGRATIONS[0].sql).unwrap();
            old.execute_batch(
                "INSERT INTO wf_instances (workflow_id, workflow_name, folio, priority, status, originator, \
                     current_activity, data_fields, started_at) VALUES (1, 'Expense Claim', 'Old', 1, 'Active', \
                     'K2:CONTOSO\\alice', 'Manager Approval', '{\"Amount\": 5}', 1700000000);
                     INSERT INTO wf_tasks (instance_id, serial_number, activity, destination_kind, destination, \
                     allocated_to, status, created_at) VALUES (1, '1_1', 'Manager Approval', 'user', \
                     'K2:CONTOSO\\bob', 'K2:CONTOSO\\bob', 'Allocated', 1700000000);",
            )
            .unwrap();
        }
        drop(Database::open(&path, 2).unwrap());
        let db = Arc::new(Database::open(&path, 2).expect("migrations apply once"));
        let versions = db.read(super::super::migrations::applied).await.unwrap();
        let every: Vec<i64> = super::super::migrations::MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(versions, every, "every migration applied once");
        let store = SqliteWorkflowStore::new(db);
        let (task, instance) = store.task(1).await.unwrap().unwrap();
        assert_eq!(instance.folio, "Old");
        assert!(instance.item_references.is_empty());
        let refs = ItemReferences::from_request(serde_json::json!({"Customer": {"1": {"Code": "A"}}})).unwrap();
        let outcome = store
            .update_task(
                task.id,
                Box::new(move |t, i| {
                    let mut next = i.clone();
                    next.item_references = refs;
                    Ok(Transition {
                        at: 1_700_000_100,
                        task: t.clone(),
                        instance: Some(next),
                        new_task: None,
                        history: vec![],
                    })
                }),
            )
            .await
            .unwrap();
        assert!(outcome.is_ok());
        let (_, instance) = store.task(1).await.unwrap().unwrap();
        assert_eq!(instance.item_references.to_json()["Customer"]["1"]["Code"], "A");
    }

    /// The worklist page is a merge of ordered index scans, whatever the number of groups up to
    /// `MAX_GROUP_SCANS`: no temporary sort, no materialised branch, so its cost does not grow with the
    /// number of open tasks (`benches/worklist_load.rs` measures it).
    #[tokio::test]
    async fn the_worklist_page_merges_ordered_index_scans() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("plan.db"), 1).unwrap();
        let plan = |groups: Vec<String>, state: Option<TaskStatus>| {
            let who = Principal {
                user: "K2:CONTOSO\\bob".into(),
                groups,
            };
            let (sql, values) = worklist_query(&who, state, Page { skip: 100, take: 100 }, 1000);
            let db = &db;
            async move {
                db.read(move |conn| {
                    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let rows = stmt
                        .query_map(params_from_iter(values), |row| row.get::<_, String>(3))?
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(rows)
                })
                .await
                .unwrap()
            }
        };
        let groups = |n: usize| (0..n).map(|i| format!("Group{i}")).collect::<Vec<_>>();
        for (n, state) in [
            (0, None),
            (1, None),
            (3, Some(TaskStatus::Available)),
            (MAX_GROUP_SCANS, None),
        ] {
            let steps = plan(groups(n), state).await;
            let text = steps.join(" | ");
            assert!(
                !text.contains("TEMP B-TREE") && !text.contains("MATERIALIZE") && !text.contains("SCAN t"),
                "{n} groups: {text}"
            );
            assert_eq!(
                steps.iter().filter(|s| s.starts_with("SEARCH t USING INDEX")).count(),
                n + 1,
                "{n} groups: one index search per source: {text}"
            );
            if n > 0 {
                assert!(text.contains("MERGE (UNION ALL)"), "{n} groups: {text}");
            }
        }
        // Past MAX_GROUP_SCANS the planner picks between scanning the untaken tasks in id order and sorting
        // those groups' tasks; the conformance suite checks that its pages are right.
    }
}
