//! [`WorkflowStore`] on PostgreSQL: one transaction per request. An action on a task reads it and its instance
//! `FOR UPDATE`, so of two concurrent actions on one task (from any replica) the second waits for the first to
//! commit, then sees the task as the first left it: exactly one sees it open.

use super::query::Param;
use super::Database;
use crate::store::StoreError;
use crate::workflow::error::WorkflowError;
use crate::workflow::item_refs::ItemReferences;
use crate::workflow::store::{
    worklist_groups, Decide, HistoryRecord, InstanceRecord, NewInstance, NewTask, Page, Principal, TaskRecord,
    TaskStatus, WorkflowStore, MAX_GROUP_SCANS,
};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

/// The PostgreSQL workflow store.
pub struct PgWorkflowStore {
    db: Arc<Database>,
}

impl PgWorkflowStore {
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

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, index: usize) -> Result<T, StoreError> {
    row.try_get(index)
        .map_err(|e| StoreError::Backend(format!("column {index}: {e}")))
}

fn json<T: serde::de::DeserializeOwned>(row: &Row, index: usize) -> Result<T, StoreError> {
    let text: String = get(row, index)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Backend(format!("column {index}: {e}")))
}

fn status(text: String) -> Result<TaskStatus, StoreError> {
    TaskStatus::parse(&text).ok_or_else(|| StoreError::Backend(format!("unknown task status '{text}'")))
}

fn instance_from(row: &Row, at: usize) -> Result<InstanceRecord, StoreError> {
    Ok(InstanceRecord {
        id: get(row, at)?,
        workflow_id: get(row, at + 1)?,
        workflow_name: get(row, at + 2)?,
        folio: get(row, at + 3)?,
        priority: get(row, at + 4)?,
        status: get(row, at + 5)?,
        originator: get(row, at + 6)?,
        originator_display_name: get(row, at + 7)?,
        originator_email: get(row, at + 8)?,
        current_activity: get(row, at + 9)?,
        data_fields: json(row, at + 10)?,
        xml_fields: json(row, at + 11)?,
        expected_duration: get(row, at + 12)?,
        started_at: get(row, at + 13)?,
        finished_at: get(row, at + 14)?,
        item_references: json::<ItemReferences>(row, at + 15)?,
    })
}

fn task_from(row: &Row) -> Result<TaskRecord, StoreError> {
    Ok(TaskRecord {
        id: get(row, 0)?,
        instance_id: get(row, 1)?,
        serial_number: get(row, 2)?,
        activity: get(row, 3)?,
        destination_kind: get(row, 4)?,
        destination: get(row, 5)?,
        allocated_to: get(row, 6)?,
        status: status(get(row, 7)?)?,
        prior_status: get::<Option<String>>(row, 8)?.map(status).transpose()?,
        sleep_until: get(row, 9)?,
        action: get(row, 10)?,
        actioned_by: get(row, 11)?,
        created_at: get(row, 12)?,
        completed_at: get(row, 13)?,
    })
}

fn pair(row: &Row) -> Result<(TaskRecord, InstanceRecord), StoreError> {
    Ok((task_from(row)?, instance_from(row, TASK_COLUMN_COUNT)?))
}

/// The task and its instance; `lock` reads them `FOR UPDATE` (inside a transaction).
async fn load_task(
    client: &impl GenericClient,
    task_id: i64,
    lock: bool,
) -> Result<Option<(TaskRecord, InstanceRecord)>, StoreError> {
    let sql = format!(
        "SELECT {TASK_COLUMNS}, {INSTANCE_COLUMNS} FROM wf_tasks t JOIN wf_instances i ON i.id = t.instance_id \
         WHERE t.id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    client
        .query_opt(&sql, &[&task_id])
        .await?
        .as_ref()
        .map(pair)
        .transpose()
}

async fn insert_task(
    client: &impl GenericClient,
    instance_id: i64,
    task: &NewTask,
    now: i64,
) -> Result<String, StoreError> {
    let row = client
        .query_one(
            "INSERT INTO wf_tasks (instance_id, serial_number, activity, destination_kind, destination, \
             allocated_to, status, created_at) VALUES ($1, '', $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                &instance_id,
                &task.activity,
                &task.destination_kind,
                &task.destination,
                &task.allocated_to,
                &task.status.as_str(),
                &now,
            ],
        )
        .await?;
    let id: i64 = get(&row, 0)?;
    let serial = format!("{instance_id}_{id}");
    client
        .execute("UPDATE wf_tasks SET serial_number = $1 WHERE id = $2", &[&serial, &id])
        .await?;
    Ok(serial)
}

async fn insert_history(client: &impl GenericClient, instance_id: i64, h: &HistoryRecord) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO wf_history (instance_id, at, actor, event, activity, serial_number, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &instance_id,
                &h.at,
                &h.actor,
                &h.event,
                &h.activity,
                &h.serial_number,
                &h.detail,
            ],
        )
        .await?;
    Ok(())
}

fn to_json(map: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::Value::Object(map.clone()).to_string()
}

fn refs_json(refs: &ItemReferences) -> String {
    serde_json::Value::Object(refs.to_json()).to_string()
}

#[async_trait]
impl WorkflowStore for PgWorkflowStore {
    async fn start(&self, new: NewInstance) -> Result<(i64, String), StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        let i = &new.instance;
        let row = tx
            .query_one(
                "INSERT INTO wf_instances (workflow_id, workflow_name, folio, priority, status, originator, \
                 originator_display_name, originator_email, current_activity, data_fields, xml_fields, \
                 expected_duration, started_at, item_references) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
                &[
                    &i.workflow_id,
                    &i.workflow_name,
                    &i.folio,
                    &i.priority,
                    &i.status,
                    &i.originator,
                    &i.originator_display_name,
                    &i.originator_email,
                    &i.current_activity,
                    &to_json(&i.data_fields),
                    &to_json(&i.xml_fields),
                    &i.expected_duration,
                    &i.started_at,
                    &refs_json(&i.item_references),
                ],
            )
            .await?;
        let id: i64 = get(&row, 0)?;
        let serial = insert_task(&tx, id, &new.first_task, i.started_at).await?;
        let started = HistoryRecord {
            at: i.started_at,
            actor: i.originator.clone(),
            event: "Started".into(),
            activity: None,
            serial_number: None,
            detail: Some(i.folio.clone()),
        };
        insert_history(&tx, id, &started).await?;
        tx.commit().await?;
        Ok((id, serial))
    }

    async fn worklist(
        &self,
        who: &Principal,
        state: Option<TaskStatus>,
        page: Page,
        now: i64,
    ) -> Result<Vec<(TaskRecord, InstanceRecord)>, StoreError> {
        // One index scan per source (held by the user; untaken in each of their groups), each stopped after
        // the rows this page can need, merged by id: the cost grows with skip + take and the number of
        // groups, never with the length of the worklist. Names match ASCII case-insensitively, as SQLite's
        // NOCASE does (`lower` under "C" maps ASCII only).
        let mut values: Vec<Param> = vec![Param::Text(who.user.clone())];
        let filter = match state {
            Some(s) => {
                values.push(Param::Int(now));
                values.push(Param::Text(s.as_str().to_string()));
                " AND CASE WHEN t.status = 'Sleep' AND t.sleep_until IS NOT NULL AND t.sleep_until <= $2::BIGINT \
                 THEN COALESCE(t.prior_status, 'Allocated') ELSE t.status END = $3::TEXT"
                    .to_string()
            }
            None => String::new(),
        };
        values.push(Param::Int(page.skip.saturating_add(page.take)));
        let enough = values.len();
        let mut branches = vec![format!(
            "(SELECT {TASK_COLUMNS} FROM wf_tasks t WHERE t.completed_at IS NULL \
             AND lower(t.allocated_to) = lower($1::TEXT COLLATE \"C\"){filter} ORDER BY t.id LIMIT ${enough}::BIGINT)"
        )];
        let groups = worklist_groups(&who.groups);
        if groups.len() > MAX_GROUP_SCANS {
            let mut marks = Vec::new();
            for g in groups {
                values.push(Param::Text(g));
                marks.push(format!("lower(${}::TEXT COLLATE \"C\")", values.len()));
            }
            branches.push(format!(
                "(SELECT {TASK_COLUMNS} FROM wf_tasks t WHERE t.completed_at IS NULL \
                 AND t.allocated_to IS NULL AND t.destination_kind = 'group' \
                 AND lower(t.destination) IN ({}){filter} ORDER BY t.id LIMIT ${enough}::BIGINT)",
                marks.join(", ")
            ));
        } else {
            for g in groups {
                values.push(Param::Text(g));
                branches.push(format!(
                    "(SELECT {TASK_COLUMNS} FROM wf_tasks t WHERE t.completed_at IS NULL \
                     AND t.allocated_to IS NULL AND t.destination_kind = 'group' \
                     AND lower(t.destination) = lower(${}::TEXT COLLATE \"C\"){filter} ORDER BY t.id LIMIT ${enough}::BIGINT)",
                    values.len()
                ));
            }
        }
        values.push(Param::Int(page.take));
        let limit = values.len();
        values.push(Param::Int(page.skip));
        let full = format!(
            "SELECT w.*, {INSTANCE_COLUMNS} FROM ({}) w JOIN wf_instances i ON i.id = w.instance_id \
             ORDER BY w.id LIMIT ${limit}::BIGINT OFFSET ${}::BIGINT",
            branches.join(" UNION ALL "),
            limit + 1
        );
        let client = self.db.client().await?;
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let statement = client.prepare_cached(&full).await?;
        client.query(&statement, &params).await?.iter().map(pair).collect()
    }

    async fn task(&self, task_id: i64) -> Result<Option<(TaskRecord, InstanceRecord)>, StoreError> {
        let client = self.db.client().await?;
        load_task(&client, task_id, false).await
    }

    async fn instance(
        &self,
        id: i64,
    ) -> Result<Option<(InstanceRecord, Vec<TaskRecord>, Vec<HistoryRecord>)>, StoreError> {
        let mut client = self.db.client().await?;
        // One snapshot for the three reads.
        let tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead);
        let tx = tx.start().await?;
        let sql = format!("SELECT {INSTANCE_COLUMNS} FROM wf_instances i WHERE i.id = $1");
        let Some(row) = tx.query_opt(&sql, &[&id]).await? else {
            return Ok(None);
        };
        let instance = instance_from(&row, 0)?;
        let tasks = tx
            .query(
                &format!("SELECT {TASK_COLUMNS} FROM wf_tasks t WHERE t.instance_id = $1 ORDER BY t.id"),
                &[&id],
            )
            .await?
            .iter()
            .map(task_from)
            .collect::<Result<Vec<_>, _>>()?;
        let history = tx
            .query(
                "SELECT at, actor, event, activity, serial_number, detail FROM wf_history \
                 WHERE instance_id = $1 ORDER BY id",
                &[&id],
            )
            .await?
            .iter()
            .map(|row| {
                Ok(HistoryRecord {
                    at: get(row, 0)?,
                    actor: get(row, 1)?,
                    event: get(row, 2)?,
                    activity: get(row, 3)?,
                    serial_number: get(row, 4)?,
                    detail: get(row, 5)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit().await?;
        Ok(Some((instance, tasks, history)))
    }

    async fn update_task(
        &self,
        task_id: i64,
        decide: Decide,
    ) -> Result<Result<(TaskRecord, InstanceRecord), WorkflowError>, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        let Some((task, instance)) = load_task(&tx, task_id, true).await? else {
            return Ok(Err(WorkflowError::NotFound(format!(
                "no task with destination id {task_id}"
            ))));
        };
        let transition = match decide(&task, &instance) {
            Ok(t) => t,
            // Nothing was written: dropping the transaction rolls back (and releases the row locks).
            Err(refusal) => return Ok(Err(refusal)),
        };
        let t = &transition.task;
        tx.execute(
            "UPDATE wf_tasks SET destination_kind = $1, destination = $2, allocated_to = $3, status = $4, \
             prior_status = $5, sleep_until = $6, action = $7, actioned_by = $8, completed_at = $9 WHERE id = $10",
            &[
                &t.destination_kind,
                &t.destination,
                &t.allocated_to,
                &t.status.as_str(),
                &t.prior_status.map(TaskStatus::as_str),
                &t.sleep_until,
                &t.action,
                &t.actioned_by,
                &t.completed_at,
                &t.id,
            ],
        )
        .await?;
        let mut instance = instance;
        if let Some(i) = &transition.instance {
            tx.execute(
                "UPDATE wf_instances SET status = $1, current_activity = $2, data_fields = $3, finished_at = $4, \
                 xml_fields = $5, item_references = $6 WHERE id = $7",
                &[
                    &i.status,
                    &i.current_activity,
                    &to_json(&i.data_fields),
                    &i.finished_at,
                    &to_json(&i.xml_fields),
                    &refs_json(&i.item_references),
                    &i.id,
                ],
            )
            .await?;
            instance = i.clone();
        }
        if let Some(next) = &transition.new_task {
            insert_task(&tx, instance.id, next, transition.at).await?;
        }
        for h in &transition.history {
            insert_history(&tx, instance.id, h).await?;
        }
        tx.commit().await?;
        Ok(Ok((transition.task, instance)))
    }
}
