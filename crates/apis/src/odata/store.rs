//! SmartObject data: the [`SmartObjectStore`] trait the handlers use, and its SQLite implementation on
//! [`Database`]. Each operator SmartObject has a table `so_<SystemName>` with one column per property (named
//! by its system name); the workflow statistics are views over the workflow tables. Queries are the `$filter`
//! / `$orderby` translations of [`super::sql`]: SQL text from the definition, every value a bound parameter.

use super::catalog::Catalog;
use super::edm::{EdmType, Value};
use super::filter::{Filter, OrderKey};
use super::smartobject::{PropertyKind, SmartObject, Source};
use super::sql::{filter_sql, order_sql, quote};
use super::statistics;
use crate::store::{Database, StoreError};
use async_trait::async_trait;
use rusqlite::types::ValueRef;
use rusqlite::{params_from_iter, Connection, Row as SqlRow};
use std::collections::HashMap;
use std::sync::Arc;

/// Property values in the SmartObject's property order.
pub type Row = Vec<Value>;

/// One page of an entity set query.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `$filter`.
    pub filter: Option<Filter>,
    /// `$orderby`; the key breaks ties, so pages are stable.
    pub order: Vec<OrderKey>,
    /// Rows to pass over.
    pub skip: u64,
    /// Most rows to return.
    pub limit: u64,
}

/// What the OData handlers need from storage.
#[async_trait]
pub trait SmartObjectStore: Send + Sync {
    /// Creates or extends the tables of every defined SmartObject (new properties become new columns; data is
    /// never dropped). Runs before a catalog is served.
    fn sync_schema(&self, catalog: &Catalog) -> Result<(), StoreError>;
    /// A page of rows.
    async fn list(&self, so: Arc<SmartObject>, query: ListQuery) -> Result<Vec<Row>, StoreError>;
    /// How many rows match `filter`.
    async fn count(&self, so: Arc<SmartObject>, filter: Option<Filter>) -> Result<u64, StoreError>;
    /// The row with `key`.
    async fn read(&self, so: Arc<SmartObject>, key: Value) -> Result<Option<Row>, StoreError>;
    /// Inserts `values` (generated properties are assigned here) and returns the stored row.
    /// A duplicate key is [`StoreError::Conflict`].
    async fn create(&self, so: Arc<SmartObject>, values: Vec<(usize, Value)>) -> Result<Row, StoreError>;
    /// Sets `values` on the row with `key`; `None` when there is no such row.
    async fn update(
        &self,
        so: Arc<SmartObject>,
        key: Value,
        values: Vec<(usize, Value)>,
    ) -> Result<Option<Row>, StoreError>;
    /// Deletes the row with `key`; false when there was none.
    async fn delete(&self, so: Arc<SmartObject>, key: Value) -> Result<bool, StoreError>;
}

/// [`SmartObjectStore`] on SQLite.
pub struct SqliteSmartObjectStore {
    db: Arc<Database>,
}

impl SqliteSmartObjectStore {
    /// Uses `db`, defining the statistics views (after the workflow tables they read).
    pub fn new(db: Arc<Database>) -> Result<Self, StoreError> {
        db.migrate("workflow_001", crate::workflow::store::MIGRATION_001)?;
        db.migrate("odata_statistics_001", statistics::MIGRATION_001)?;
        Ok(Self { db })
    }
}

fn column_type(ty: EdmType) -> &'static str {
    match ty {
        EdmType::Int64 | EdmType::Boolean => "INTEGER",
        EdmType::Decimal => "REAL",
        _ => "TEXT",
    }
}

fn select_list(so: &SmartObject) -> String {
    so.properties
        .iter()
        .map(|p| quote(&p.system_name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn decode(value: ValueRef<'_>, ty: EdmType) -> Value {
    match (value, ty) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(i), EdmType::Boolean) => Value::Bool(i != 0),
        (ValueRef::Integer(i), EdmType::Decimal) => Value::Decimal(i as f64),
        (ValueRef::Integer(i), _) => Value::Int(i),
        (ValueRef::Real(r), EdmType::Int64) => Value::Int(r as i64),
        (ValueRef::Real(r), _) => Value::Decimal(r),
        (ValueRef::Text(t) | ValueRef::Blob(t), ty) => {
            let text = String::from_utf8_lossy(t).into_owned();
            match ty {
                EdmType::DateTimeOffset => Value::DateTimeOffset(text),
                EdmType::Date => Value::Date(text),
                EdmType::TimeOfDay => Value::TimeOfDay(text),
                EdmType::Guid => Value::Guid(text),
                _ => Value::String(text),
            }
        }
    }
}

fn row_of(so: &SmartObject, row: &SqlRow<'_>) -> rusqlite::Result<Row> {
    so.properties
        .iter()
        .enumerate()
        .map(|(i, p)| Ok(decode(row.get_ref(i)?, p.edm())))
        .collect()
}

fn read_row(conn: &Connection, so: &SmartObject, key: &Value) -> Result<Option<Row>, StoreError> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {} = ?1",
        select_list(so),
        quote(so.source.name()),
        quote(&so.key_property().system_name)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([key.to_sql()])?;
    Ok(match rows.next()? {
        Some(row) => Some(row_of(so, row)?),
        None => None,
    })
}

fn is_constraint(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Existing columns of `table` (lower-cased name → whether it is the primary key), empty when it does not exist.
fn existing_columns(conn: &Connection, table: &str) -> Result<HashMap<String, bool>, StoreError> {
    let mut stmt = conn.prepare("SELECT name, pk FROM pragma_table_info(?1)")?;
    let columns = stmt
        .query_map([table], |r| {
            Ok((r.get::<_, String>(0)?.to_ascii_lowercase(), r.get::<_, i64>(1)? > 0))
        })?
        .collect::<Result<HashMap<_, _>, _>>()?;
    Ok(columns)
}

fn sync_table(conn: &Connection, so: &SmartObject, table: &str) -> Result<(), StoreError> {
    let existing = existing_columns(conn, table)?;
    let key = so.key_property();
    if existing.is_empty() {
        let columns: Vec<String> = so
            .properties
            .iter()
            .map(|p| {
                let column = format!("{} {}", quote(&p.system_name), column_type(p.edm()));
                match p {
                    _ if p.system_name != key.system_name => column,
                    _ if p.kind == PropertyKind::AutoNumber => format!("{column} PRIMARY KEY AUTOINCREMENT"),
                    _ => format!("{column} NOT NULL PRIMARY KEY"),
                }
            })
            .collect();
        conn.execute_batch(&format!("CREATE TABLE {} ({})", quote(table), columns.join(", ")))?;
    } else {
        if existing.get(&key.system_name.to_ascii_lowercase()) != Some(&true) {
            return Err(StoreError::Conflict(format!(
                "SmartObject '{}': the key is now '{}', but its table {table} was created with another key; \
                 move the data to a new SmartObject instead of changing the key",
                so.system_name, key.system_name
            )));
        }
        for p in &so.properties {
            if !existing.contains_key(&p.system_name.to_ascii_lowercase()) {
                conn.execute_batch(&format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    quote(table),
                    quote(&p.system_name),
                    column_type(p.edm())
                ))?;
                tracing::info!(smartobject = %so.system_name, property = %p.system_name, "added a column");
            }
        }
    }
    for columns in so.indexes.iter().filter(|c| c.as_slice() != [so.key]) {
        let names: Vec<&str> = columns.iter().map(|&i| so.properties[i].system_name.as_str()).collect();
        conn.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
            quote(&format!("{table}__{}", names.join("__"))),
            quote(table),
            names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(", ")
        ))?;
    }
    Ok(())
}

fn next_number(conn: &Connection, so: &SmartObject, column: &str) -> Result<i64, StoreError> {
    let sql = format!(
        "SELECT COALESCE(MAX({}), 0) + 1 FROM {}",
        quote(column),
        quote(so.source.name())
    );
    Ok(conn.query_row(&sql, [], |r| r.get(0))?)
}

/// ` WHERE ...` for `filter` (empty without one) and its parameters.
fn where_clause(so: &SmartObject, filter: Option<&Filter>) -> (String, Vec<rusqlite::types::Value>) {
    match filter.map(|f| filter_sql(f, &so.query_properties)) {
        Some(condition) => (format!(" WHERE {}", condition.text), condition.params),
        None => (String::new(), Vec::new()),
    }
}

/// The `SELECT` of one page and its parameters.
fn list_sql(so: &SmartObject, query: &ListQuery) -> (String, Vec<rusqlite::types::Value>) {
    let (condition, mut params) = where_clause(so, query.filter.as_ref());
    let order = order_sql(&query.order, &so.query_properties, &so.key_property().system_name);
    let sql = format!(
        "SELECT {} FROM {}{condition} ORDER BY {order} LIMIT ? OFFSET ?",
        select_list(so),
        quote(so.source.name()),
    );
    params.push(rusqlite::types::Value::Integer(query.limit.min(i64::MAX as u64) as i64));
    params.push(rusqlite::types::Value::Integer(query.skip.min(i64::MAX as u64) as i64));
    (sql, params)
}

#[async_trait]
impl SmartObjectStore for SqliteSmartObjectStore {
    fn sync_schema(&self, catalog: &Catalog) -> Result<(), StoreError> {
        self.db.write_blocking(|tx| {
            for so in catalog.defined() {
                if let Source::Table(table) = &so.source {
                    sync_table(tx, so, table)?;
                }
            }
            Ok(())
        })
    }

    async fn list(&self, so: Arc<SmartObject>, query: ListQuery) -> Result<Vec<Row>, StoreError> {
        self.db
            .read(move |conn| {
                let (sql, params) = list_sql(&so, &query);
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt
                    .query_map(params_from_iter(params), |r| row_of(&so, r))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn count(&self, so: Arc<SmartObject>, filter: Option<Filter>) -> Result<u64, StoreError> {
        self.db
            .read(move |conn| {
                let (condition, params) = where_clause(&so, filter.as_ref());
                let sql = format!("SELECT COUNT(*) FROM {}{condition}", quote(so.source.name()));
                let n: i64 = conn
                    .prepare_cached(&sql)?
                    .query_row(params_from_iter(params), |r| r.get(0))?;
                Ok(n.max(0) as u64)
            })
            .await
    }

    async fn read(&self, so: Arc<SmartObject>, key: Value) -> Result<Option<Row>, StoreError> {
        self.db.read(move |conn| read_row(conn, &so, &key)).await
    }

    async fn create(&self, so: Arc<SmartObject>, values: Vec<(usize, Value)>) -> Result<Row, StoreError> {
        self.db
            .write(move |tx| {
                let mut row: Row = vec![Value::Null; so.properties.len()];
                for (i, v) in values {
                    row[i] = v;
                }
                for (i, p) in so.properties.iter().enumerate() {
                    row[i] = match p.kind {
                        PropertyKind::AutoGuid => Value::Guid(uuid::Uuid::new_v4().to_string()),
                        // The key's INTEGER PRIMARY KEY AUTOINCREMENT assigns it on insert.
                        PropertyKind::AutoNumber if i == so.key => Value::Null,
                        PropertyKind::AutoNumber => Value::Int(next_number(tx, &so, &p.system_name)?),
                        _ => continue,
                    };
                }
                let sql = format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    quote(so.source.name()),
                    select_list(&so),
                    vec!["?"; row.len()].join(", ")
                );
                tx.prepare_cached(&sql)?
                    .execute(params_from_iter(row.iter().map(Value::to_sql)))
                    .map_err(|e| {
                        if is_constraint(&e) {
                            StoreError::Conflict(format!(
                                "an entity with this {} already exists",
                                so.key_property().published_name
                            ))
                        } else {
                            e.into()
                        }
                    })?;
                let key = match so.key_property().kind {
                    PropertyKind::AutoNumber => Value::Int(tx.last_insert_rowid()),
                    _ => row[so.key].clone(),
                };
                read_row(tx, &so, &key)?.ok_or_else(|| StoreError::NotFound("the new entity vanished".into()))
            })
            .await
    }

    async fn update(
        &self,
        so: Arc<SmartObject>,
        key: Value,
        values: Vec<(usize, Value)>,
    ) -> Result<Option<Row>, StoreError> {
        self.db
            .write(move |tx| {
                if !values.is_empty() {
                    let assignments: Vec<String> = values
                        .iter()
                        .map(|(i, _)| format!("{} = ?", quote(&so.properties[*i].system_name)))
                        .collect();
                    let sql = format!(
                        "UPDATE {} SET {} WHERE {} = ?",
                        quote(so.source.name()),
                        assignments.join(", "),
                        quote(&so.key_property().system_name)
                    );
                    let params = values
                        .iter()
                        .map(|(_, v)| v.to_sql())
                        .chain(std::iter::once(key.to_sql()));
                    if tx.prepare_cached(&sql)?.execute(params_from_iter(params))? == 0 {
                        return Ok(None);
                    }
                }
                read_row(tx, &so, &key)
            })
            .await
    }

    async fn delete(&self, so: Arc<SmartObject>, key: Value) -> Result<bool, StoreError> {
        self.db
            .write(move |tx| {
                let sql = format!(
                    "DELETE FROM {} WHERE {} = ?1",
                    quote(so.source.name()),
                    quote(&so.key_property().system_name)
                );
                Ok(tx.prepare_cached(&sql)?.execute([key.to_sql()])? > 0)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::filter::parse_filter;
    use crate::odata::smartobject::SmartObjectFile;
    use authgate_core::config::OdataConfig;
    use std::path::Path;

    const ITEM: &str = r#"
system_name: Item
key: Id
methods: [List, Read, Create, Update, Delete]
properties:
  - {name: Id, type: AutoNumber}
  - {name: Ref, type: AutoGuid}
  - {name: Seq, type: AutoNumber}
  - {name: Name, type: Text, indexed: true}
  - {name: Price, type: Decimal}
  - {name: Active, type: Boolean}
"#;

    fn catalog(text: &str) -> Catalog {
        let file: SmartObjectFile = authgate_core::config::parse_yaml(Path::new("x.yaml"), text, |_| None).unwrap();
        Catalog::build(vec![SmartObject::from_file(file).unwrap()], &OdataConfig::default()).unwrap()
    }

    fn store() -> (tempfile::TempDir, SqliteSmartObjectStore) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::open(&dir.path().join("t.db"), 2).unwrap());
        (dir, SqliteSmartObjectStore::new(db).unwrap())
    }

    #[tokio::test]
    async fn rows_round_trip_with_generated_values() {
        let (_dir, store) = store();
        let cat = catalog(ITEM);
        store.sync_schema(&cat).unwrap();
        let so = cat.defined()[0].clone();
        for (name, price) in [("b", 2.5), ("a", 1.0), ("c", 3.0)] {
            store
                .create(
                    so.clone(),
                    vec![
                        (3, Value::String(name.into())),
                        (4, Value::Decimal(price)),
                        (5, Value::Bool(true)),
                    ],
                )
                .await
                .unwrap();
        }
        let first = store.read(so.clone(), Value::Int(1)).await.unwrap().unwrap();
        assert_eq!(first[0], Value::Int(1));
        assert!(matches!(&first[1], Value::Guid(g) if g.len() == 36));
        assert_eq!(first[2], Value::Int(1));
        assert_eq!(first[5], Value::Bool(true));
        let third = store.read(so.clone(), Value::Int(3)).await.unwrap().unwrap();
        assert_eq!(third[2], Value::Int(3));

        let filter = parse_filter("Price gt 1", so.query_properties.as_slice()).unwrap();
        let order = crate::odata::filter::parse_orderby("Name desc", so.query_properties.as_slice()).unwrap();
        let page = store
            .list(
                so.clone(),
                ListQuery {
                    filter: Some(filter.clone()),
                    order,
                    skip: 0,
                    limit: 10,
                },
            )
            .await
            .unwrap();
        let names: Vec<&Value> = page.iter().map(|r| &r[3]).collect();
        assert_eq!(names, [&Value::String("c".into()), &Value::String("b".into())]);
        assert_eq!(store.count(so.clone(), Some(filter)).await.unwrap(), 2);

        let updated = store
            .update(so.clone(), Value::Int(2), vec![(4, Value::Null)])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(updated[4], Value::Null);
        assert!(store
            .update(so.clone(), Value::Int(9), vec![(4, Value::Null)])
            .await
            .unwrap()
            .is_none());
        assert!(store.delete(so.clone(), Value::Int(2)).await.unwrap());
        assert!(!store.delete(so.clone(), Value::Int(2)).await.unwrap());
        assert_eq!(store.count(so, None).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn duplicate_keys_conflict_and_new_properties_add_columns() {
        let (_dir, store) = store();
        let text = "system_name: Tag\nkey: Code\nmethods: [List, Create]\nproperties:\n  - {name: Code, type: Text}\n";
        let cat = catalog(text);
        store.sync_schema(&cat).unwrap();
        let so = cat.defined()[0].clone();
        store
            .create(so.clone(), vec![(0, Value::String("x".into()))])
            .await
            .unwrap();
        let err = store
            .create(so, vec![(0, Value::String("x".into()))])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");

        let wider = catalog(&format!("{text}  - {{name: Note, type: Text}}\n"));
        store.sync_schema(&wider).unwrap();
        let so = wider.defined()[0].clone();
        let row = store.read(so, Value::String("x".into())).await.unwrap().unwrap();
        assert_eq!(row, vec![Value::String("x".into()), Value::Null]);

        let rekeyed = catalog(&format!(
            "{}  - {{name: Note, type: Text}}\n",
            text.replace("key: Code", "key: Note")
        ));
        let err = store.sync_schema(&rekeyed).unwrap_err();
        assert!(err.to_string().contains("another key"), "{err}");
    }

    #[tokio::test]
    async fn filtered_ordered_pages_are_served_from_an_index_without_sorting() {
        let (_dir, store) = store();
        let text = "system_name: Orders\nkey: Id\nmethods: [List]\nindexes: [[Region, Created]]\nproperties:\n  \
                    - {name: Id, type: AutoNumber}\n  - {name: Region, type: Text}\n  - {name: Amount, type: Decimal}\n  \
                    - {name: Created, type: DateTime}\n";
        let cat = catalog(text);
        store.sync_schema(&cat).unwrap();
        let so = cat.defined()[0].clone();
        let props = so.query_properties.as_slice();
        let query = ListQuery {
            filter: Some(parse_filter("Region eq 'North' and Amount gt 500", props).unwrap()),
            order: crate::odata::filter::parse_orderby("Created desc", props).unwrap(),
            skip: 0,
            limit: 100,
        };
        let (sql, params) = list_sql(&so, &query);
        let plan: Vec<String> = store
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows = stmt
                    .query_map(params_from_iter(params), |r| r.get::<_, String>(3))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
            .unwrap();
        let plan = plan.join("; ");
        assert!(
            plan.contains("USING INDEX so_Orders__Region__Created (Region=?)"),
            "{plan}"
        );
        assert!(
            !plan.contains("TEMP B-TREE"),
            "the rows must come in index order: {plan}"
        );
    }

    #[tokio::test]
    async fn statistics_views_present_workflow_rows() {
        let (_dir, store) = store();
        let cat = Catalog::build(Vec::new(), &OdataConfig::default()).unwrap();
        store
            .db
            .write(|tx| {
                tx.execute_batch(
                    "INSERT INTO wf_instances (workflow_id, workflow_name, folio, priority, status, originator, \
                     data_fields, started_at, finished_at) VALUES (1, 'Expense Claim', 'F1', 1, 'Completed', \
                     'K2:CONTOSO\\alice', '{}', 1709287200, 1709290800);
                     INSERT INTO wf_tasks (instance_id, serial_number, activity, destination_kind, destination, \
                     status, created_at, completed_at) VALUES (1, '1_1', 'Approve', 'user', 'bob', 'Completed', \
                     1709287200, 1709287260);",
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let instances = cat.entity_set("WorkflowInstances").unwrap().clone();
        let row = store.read(instances.clone(), Value::Int(1)).await.unwrap().unwrap();
        assert_eq!(row[8], Value::DateTimeOffset("2024-03-01T10:00:00.0000000Z".into()));
        assert_eq!(row[9], Value::DateTimeOffset("2024-03-01T11:00:00.0000000Z".into()));
        assert_eq!(row[10], Value::Int(3600));
        let filter = parse_filter(
            "year(StartDate) eq 2024 and DurationSeconds ge 3600",
            instances.query_properties.as_slice(),
        );
        assert_eq!(store.count(instances, Some(filter.unwrap())).await.unwrap(), 1);
        let tasks = cat.entity_set("WorkflowTasks").unwrap().clone();
        let task = store.read(tasks, Value::String("1_1".into())).await.unwrap().unwrap();
        assert_eq!(task[2], Value::String("Expense Claim".into()));
        assert_eq!(task[13], Value::Int(60));
    }
}
