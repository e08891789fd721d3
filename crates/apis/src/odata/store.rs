//! SmartObject data: the [`SmartObjectStore`] trait the handlers use, naming no backend (SQLite implements it
//! in `crate::store::sqlite::smartobjects`). Each operator SmartObject has a table of its own whose columns
//! follow its properties; the workflow statistics are views over the workflow tables. Queries arrive as the
//! typed `$filter` / `$orderby` ASTs; each backend translates them into its dialect.

use super::catalog::Catalog;
use super::edm::Value;
use super::filter::{Filter, OrderKey};
use super::smartobject::SmartObject;
use crate::store::StoreError;
use async_trait::async_trait;
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
    /// never dropped), all or nothing. Runs before a catalog is served. Not a numbered migration: the tables
    /// follow the operator's definitions.
    async fn sync_schema(&self, catalog: &Catalog) -> Result<(), StoreError>;
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
