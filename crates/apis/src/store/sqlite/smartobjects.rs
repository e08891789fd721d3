//! [`SmartObjectStore`] on SQLite. Each operator SmartObject has a table `so_<SystemName>` with one column per
//! property (named by its system name), created and extended by [`SmartObjectStore::sync_schema`]; the
//! workflow statistics are views over the workflow tables (migration 3). Queries are the `$filter` /
//! `$orderby` translations of [`super::query`]: SQL text from the definition, every value a bound parameter.

use super::query::{filter_sql, order_sql, quote, sql_value};
use super::Database;
use crate::odata::catalog::Catalog;
use crate::odata::edm::{EdmType, Value};
use crate::odata::filter::Filter;
use crate::odata::smartobject::{PropertyKind, SmartObject, Source};
use crate::odata::store::{ListQuery, Row, SmartObjectStore};
use crate::store::StoreError;
use async_trait::async_trait;
use rusqlite::types::ValueRef;
use rusqlite::{params_from_iter, Connection, Row as SqlRow};
use std::collections::HashMap;
use std::sync::Arc;

/// [`SmartObjectStore`] on SQLite.
pub struct SqliteSmartObjectStore {
    db: Arc<Database>,
}

impl SqliteSmartObjectStore {
    /// Uses `db` (opened, so migrated: the statistics views exist).
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
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
    let mut rows = stmt.query([sql_value(key)])?;
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
    async fn sync_schema(&self, catalog: &Catalog) -> Result<(), StoreError> {
        let defined = catalog.defined().to_vec();
        self.db
            .write(move |tx| {
                for so in &defined {
                    if let Source::Table(table) = &so.source {
                        sync_table(tx, so, table)?;
                    }
                }
                Ok(())
            })
            .await
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
                    .execute(params_from_iter(row.iter().map(sql_value)))
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
                        .map(|(_, v)| sql_value(v))
                        .chain(std::iter::once(sql_value(&key)));
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
                Ok(tx.prepare_cached(&sql)?.execute([sql_value(&key)])? > 0)
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

    fn catalog(text: &str) -> Catalog {
        let file: SmartObjectFile = authgate_core::config::parse_yaml(Path::new("x.yaml"), text, |_| None).unwrap();
        Catalog::build(vec![SmartObject::from_file(file).unwrap()], &OdataConfig::default()).unwrap()
    }

    fn store() -> (tempfile::TempDir, SqliteSmartObjectStore) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::open(&dir.path().join("t.db"), 2).unwrap());
        (dir, SqliteSmartObjectStore::new(db))
    }

    #[tokio::test]
    async fn filtered_ordered_pages_are_served_from_an_index_without_sorting() {
        let (_dir, store) = store();
        let text = "system_name: Orders\nkey: Id\nmethods: [List]\nindexes: [[Region, Created]]\nproperties:\n  \
                    - {name: Id, type: AutoNumber}\n  - {name: Region, type: Text}\n  - {name: Amount, type: Decimal}\n  \
                    - {name: Created, type: DateTime}\n";
        let cat = catalog(text);
        store.sync_schema(&cat).await.unwrap();
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
}
