//! [`SmartObjectStore`] on PostgreSQL. Each operator SmartObject has a table `so_<SystemName>` with one column
//! per property (named by its system name, quoted so its case is kept), created and extended by
//! [`SmartObjectStore::sync_schema`] in one transaction under the schema advisory lock (replicas reloading
//! together change the schema once); the workflow statistics are views over the workflow tables
//! (migration 3). Queries are the `$filter` / `$orderby` translations of [`super::query`].

use super::migrations::LOCK;
use super::query::{filter_sql, order_sql, quote, sql_value, Param, Sql};
use super::Database;
use crate::odata::catalog::Catalog;
use crate::odata::edm::{EdmType, Value};
use crate::odata::filter::Filter;
use crate::odata::smartobject::{PropertyKind, SmartObject, Source};
use crate::odata::store::{ListQuery, Row, SmartObjectStore};
use crate::store::StoreError;
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

/// [`SmartObjectStore`] on PostgreSQL.
pub struct PgSmartObjectStore {
    db: Arc<Database>,
}

impl PgSmartObjectStore {
    /// Uses `db` (opened, so migrated: the statistics views exist).
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }
}

fn column_type(ty: EdmType) -> &'static str {
    match ty {
        EdmType::Int64 => "BIGINT",
        EdmType::Boolean => "BOOLEAN",
        EdmType::Decimal => "DOUBLE PRECISION",
        _ => "TEXT COLLATE \"C\"",
    }
}

fn select_list(so: &SmartObject) -> String {
    so.properties
        .iter()
        .map(|p| quote(&p.system_name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn cell<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    index: usize,
) -> Result<Option<T>, StoreError> {
    row.try_get(index)
        .map_err(|e| StoreError::Backend(format!("column {index}: {e}")))
}

/// The EDM value of column `index`, by the column's SQL type and the property's EDM type.
fn decode(row: &tokio_postgres::Row, index: usize, ty: EdmType) -> Result<Value, StoreError> {
    let sql_type = row.columns()[index].type_().clone();
    let value = match sql_type {
        Type::INT8 => cell::<i64>(row, index)?.map(|i| match ty {
            EdmType::Boolean => Value::Bool(i != 0),
            EdmType::Decimal => Value::Decimal(i as f64),
            _ => Value::Int(i),
        }),
        Type::INT4 => cell::<i32>(row, index)?.map(|i| match ty {
            EdmType::Decimal => Value::Decimal(f64::from(i)),
            _ => Value::Int(i64::from(i)),
        }),
        Type::FLOAT8 => cell::<f64>(row, index)?.map(|f| match ty {
            EdmType::Int64 => Value::Int(f as i64),
            _ => Value::Decimal(f),
        }),
        Type::BOOL => cell::<bool>(row, index)?.map(Value::Bool),
        _ => cell::<String>(row, index)?.map(|text| match ty {
            EdmType::DateTimeOffset => Value::DateTimeOffset(text),
            EdmType::Date => Value::Date(text),
            EdmType::TimeOfDay => Value::TimeOfDay(text),
            EdmType::Guid => Value::Guid(text),
            _ => Value::String(text),
        }),
    };
    Ok(value.unwrap_or(Value::Null))
}

fn row_of(so: &SmartObject, row: &tokio_postgres::Row) -> Result<Row, StoreError> {
    so.properties
        .iter()
        .enumerate()
        .map(|(i, p)| decode(row, i, p.edm()))
        .collect()
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

async fn read_row(client: &impl GenericClient, so: &SmartObject, key: &Value) -> Result<Option<Row>, StoreError> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {} = $1",
        select_list(so),
        quote(so.source.name()),
        quote(&so.key_property().system_name)
    );
    let statement = client.prepare_cached(&sql).await?;
    let key = sql_value(key);
    client
        .query_opt(&statement, &[&key])
        .await?
        .map(|row| row_of(so, &row))
        .transpose()
}

/// Existing columns of `table` (lower-cased name → whether it is in the primary key), empty when it does not
/// exist.
async fn existing_columns(client: &impl GenericClient, table: &str) -> Result<HashMap<String, bool>, StoreError> {
    let rows = client
        .query(
            "SELECT a.attname::TEXT, EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid \
             AND i.indisprimary AND a.attnum = ANY(i.indkey)) \
             FROM pg_attribute a WHERE a.attrelid = to_regclass($1::TEXT) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&quote(table)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get(0).map_err(|e| StoreError::Backend(e.to_string()))?;
            let pk: bool = r.try_get(1).map_err(|e| StoreError::Backend(e.to_string()))?;
            Ok((name.to_ascii_lowercase(), pk))
        })
        .collect()
}

async fn sync_table(client: &impl GenericClient, so: &SmartObject, table: &str) -> Result<(), StoreError> {
    let existing = existing_columns(client, table).await?;
    let key = so.key_property();
    if existing.is_empty() {
        let columns: Vec<String> = so
            .properties
            .iter()
            .map(|p| {
                let name = quote(&p.system_name);
                match p {
                    _ if p.system_name != key.system_name => format!("{name} {}", column_type(p.edm())),
                    _ if p.kind == PropertyKind::AutoNumber => {
                        format!("{name} BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
                    }
                    _ => format!("{name} {} NOT NULL PRIMARY KEY", column_type(p.edm())),
                }
            })
            .collect();
        client
            .batch_execute(&format!("CREATE TABLE {} ({})", quote(table), columns.join(", ")))
            .await?;
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
                client
                    .batch_execute(&format!(
                        "ALTER TABLE {} ADD COLUMN {} {}",
                        quote(table),
                        quote(&p.system_name),
                        column_type(p.edm())
                    ))
                    .await?;
                tracing::info!(smartobject = %so.system_name, property = %p.system_name, "added a column");
            }
        }
    }
    for columns in so.indexes.iter().filter(|c| c.as_slice() != [so.key]) {
        let names: Vec<&str> = columns.iter().map(|&i| so.properties[i].system_name.as_str()).collect();
        // NULLS FIRST: the order `$orderby` asks for ascending (and, scanned backwards, descending).
        client
            .batch_execute(&format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                quote(&format!("{table}__{}", names.join("__"))),
                quote(table),
                names
                    .iter()
                    .map(|n| format!("{} NULLS FIRST", quote(n)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .await?;
    }
    Ok(())
}

/// ` WHERE ...` for `filter` (empty without one) and its parameters.
fn where_clause(so: &SmartObject, filter: Option<&Filter>) -> Sql {
    let mut sql = Sql::default();
    if let Some(filter) = filter {
        sql.text.push_str(" WHERE ");
        filter_sql(filter, &so.query_properties, &mut sql);
    }
    sql
}

/// The `SELECT` of one page and its parameters.
fn list_sql(so: &SmartObject, query: &ListQuery) -> Sql {
    let condition = where_clause(so, query.filter.as_ref());
    let order = order_sql(&query.order, &so.query_properties, &so.key_property().system_name);
    let mut sql = Sql {
        text: format!(
            "SELECT {} FROM {}{} ORDER BY {order} LIMIT ",
            select_list(so),
            quote(so.source.name()),
            condition.text
        ),
        params: condition.params,
    };
    sql.bind(Param::Int(query.limit.min(i64::MAX as u64) as i64));
    sql.text.push_str(" OFFSET ");
    sql.bind(Param::Int(query.skip.min(i64::MAX as u64) as i64));
    sql
}

#[async_trait]
impl SmartObjectStore for PgSmartObjectStore {
    async fn sync_schema(&self, catalog: &Catalog) -> Result<(), StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK]).await?;
        for so in catalog.defined() {
            if let Source::Table(table) = &so.source {
                sync_table(&tx, so, table).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list(&self, so: Arc<SmartObject>, query: ListQuery) -> Result<Vec<Row>, StoreError> {
        let sql = list_sql(&so, &query);
        let client = self.db.client().await?;
        let statement = client.prepare_cached(&sql.text).await?;
        client
            .query(&statement, &sql.refs())
            .await?
            .iter()
            .map(|r| row_of(&so, r))
            .collect()
    }

    async fn count(&self, so: Arc<SmartObject>, filter: Option<Filter>) -> Result<u64, StoreError> {
        let condition = where_clause(&so, filter.as_ref());
        let sql = format!("SELECT COUNT(*) FROM {}{}", quote(so.source.name()), condition.text);
        let client = self.db.client().await?;
        let statement = client.prepare_cached(&sql).await?;
        let row = client.query_one(&statement, &condition.refs()).await?;
        let n: i64 = row.try_get(0).map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(n.max(0) as u64)
    }

    async fn read(&self, so: Arc<SmartObject>, key: Value) -> Result<Option<Row>, StoreError> {
        let client = self.db.client().await?;
        read_row(&client, &so, &key).await
    }

    async fn create(&self, so: Arc<SmartObject>, values: Vec<(usize, Value)>) -> Result<Row, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        let table = quote(so.source.name());
        let mut row: Row = vec![Value::Null; so.properties.len()];
        for (i, v) in values {
            row[i] = v;
        }
        let mut locked = false;
        for (i, p) in so.properties.iter().enumerate() {
            row[i] = match p.kind {
                PropertyKind::AutoGuid => Value::Guid(uuid::Uuid::new_v4().to_string()),
                // The key's identity column assigns it on insert.
                PropertyKind::AutoNumber if i == so.key => continue,
                PropertyKind::AutoNumber => {
                    // Concurrent inserts (from any replica) wait here, so two never get the same number.
                    if !locked {
                        tx.batch_execute(&format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
                            .await?;
                        locked = true;
                    }
                    let sql = format!("SELECT COALESCE(MAX({}), 0) + 1 FROM {table}", quote(&p.system_name));
                    let next: i64 = tx
                        .query_one(&sql, &[])
                        .await?
                        .try_get(0)
                        .map_err(|e| StoreError::Backend(e.to_string()))?;
                    Value::Int(next)
                }
                _ => continue,
            };
        }
        let generated_key = so.key_property().kind == PropertyKind::AutoNumber;
        let inserted: Vec<usize> = (0..row.len()).filter(|&i| !(generated_key && i == so.key)).collect();
        let columns: Vec<String> = inserted.iter().map(|&i| quote(&so.properties[i].system_name)).collect();
        let marks: Vec<String> = (1..=inserted.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({}) RETURNING {}",
            columns.join(", "),
            marks.join(", "),
            quote(&so.key_property().system_name)
        );
        let params: Vec<Param> = inserted.iter().map(|&i| sql_value(&row[i])).collect();
        let statement = tx.prepare_cached(&sql).await?;
        let returned = match tx.query_one(&statement, &refs(&params)).await {
            Ok(r) => r,
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                return Err(StoreError::Conflict(format!(
                    "an entity with this {} already exists",
                    so.key_property().published_name
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let key = decode(&returned, 0, so.key_property().edm())?;
        let stored = read_row(&tx, &so, &key)
            .await?
            .ok_or_else(|| StoreError::NotFound("the new entity vanished".into()))?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn update(
        &self,
        so: Arc<SmartObject>,
        key: Value,
        values: Vec<(usize, Value)>,
    ) -> Result<Option<Row>, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        if !values.is_empty() {
            let assignments: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(n, (i, _))| format!("{} = ${}", quote(&so.properties[*i].system_name), n + 1))
                .collect();
            let sql = format!(
                "UPDATE {} SET {} WHERE {} = ${}",
                quote(so.source.name()),
                assignments.join(", "),
                quote(&so.key_property().system_name),
                values.len() + 1
            );
            let params: Vec<Param> = values
                .iter()
                .map(|(_, v)| sql_value(v))
                .chain(std::iter::once(sql_value(&key)))
                .collect();
            let statement = tx.prepare_cached(&sql).await?;
            if tx.execute(&statement, &refs(&params)).await? == 0 {
                return Ok(None);
            }
        }
        let row = read_row(&tx, &so, &key).await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn delete(&self, so: Arc<SmartObject>, key: Value) -> Result<bool, StoreError> {
        let sql = format!(
            "DELETE FROM {} WHERE {} = $1",
            quote(so.source.name()),
            quote(&so.key_property().system_name)
        );
        let client = self.db.client().await?;
        let statement = client.prepare_cached(&sql).await?;
        let key = sql_value(&key);
        Ok(client.execute(&statement, &[&key]).await? > 0)
    }
}
