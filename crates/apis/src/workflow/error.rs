//! Why the Workflow API refused a request: the engine's refusals and storage failures, and their HTTP
//! mapping. Below both the engine and the store, which each return it.

use crate::store::StoreError;
use crate::ApiError;
use thiserror::Error;

/// Why the engine refused a request.
#[derive(Debug, Error)]
pub enum WorkflowError {
    /// The request is malformed or names something invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// The thing does not exist or is not the caller's (404, indistinguishable on purpose).
    #[error("{0}")]
    NotFound(String),
    /// The task or instance is not in a state that allows it (409).
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<WorkflowError> for ApiError {
    fn from(err: WorkflowError) -> Self {
        match err {
            WorkflowError::BadRequest(m) => ApiError::bad_request(m),
            WorkflowError::NotFound(m) => ApiError::not_found(m),
            WorkflowError::Conflict(m) => ApiError::conflict(m),
            WorkflowError::Store(e) => e.into(),
        }
    }
}
