//! Storage of the built-in APIs, behind one trait per API whose records, values and errors name no backend:
//! [`WorkflowStore`] (beside the Workflow handlers) and [`SmartObjectStore`] (beside the OData handlers).
//! A backend opens both on one database ([`Stores`]): the OData workflow-statistics views read the workflow
//! tables, so the two share one versioned schema. [`sqlite`] is the embedded default (its dialect, DDL,
//! functions and migrations live there); [`postgres`] implements the same traits for replicas sharing one
//! database, with the same migrations, and both run the same [`conformance`] suite.
//!
//! [`WorkflowStore`]: crate::workflow::store::WorkflowStore
//! [`SmartObjectStore`]: crate::odata::store::SmartObjectStore

pub mod admin;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod postgres;
pub mod sqlite;

use crate::odata::store::SmartObjectStore;
use crate::outbound::store::OAuthStore;
use crate::workflow::store::WorkflowStore;
use admin::AdminStore;
use std::sync::Arc;
use thiserror::Error;

/// Why a storage operation failed, whatever the backend.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The thing does not exist (or is not visible to the caller); maps to 404.
    #[error("{0}")]
    NotFound(String),
    /// The operation lost a race or violates a state rule (a duplicate key...); maps to 409.
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be opened, reached or migrated.
    #[error("{0}")]
    Unavailable(String),
    /// The backend reported an error (its own message, for the log only).
    #[error("database error: {0}")]
    Backend(String),
}

/// Both APIs' stores and the outbound OAuth store, opened by a backend on one database.
#[derive(Clone)]
pub struct Stores {
    /// Workflow instances, tasks and history.
    pub workflow: Arc<dyn WorkflowStore>,
    /// SmartObject rows and the workflow-statistics views.
    pub smartobjects: Arc<dyn SmartObjectStore>,
    /// Outbound OAuth connections and authorization states.
    pub oauth: Arc<dyn OAuthStore>,
    /// The admin API's settings, audit log and keys.
    pub admin: Arc<dyn AdminStore>,
}
