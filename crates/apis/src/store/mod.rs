//! Storage of the built-in APIs. Each API defines the small store trait it needs (`WorkflowStore`,
//! `SmartObjectStore`, ...) next to its handlers; [`Database`] is the SQLite implementation's shared
//! plumbing: WAL mode, durable commits, one writer and a pool of readers, blocking work kept off the async
//! threads. A PostgreSQL backend would implement the same traits.

pub mod sqlite;

pub use sqlite::Database;

use thiserror::Error;

/// Why a storage operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The operation lost a race or violates a state rule (maps to 409).
    #[error("{0}")]
    Conflict(String),
    /// The thing does not exist (or is not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The database could not be opened or migrated.
    #[error("cannot open the database {path}: {reason}")]
    Open { path: String, reason: String },
    /// The blocking task running the operation failed.
    #[error("storage task failed: {0}")]
    Task(String),
}
