//! The error every built-in handler returns: a status and `{"error", "error_description"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// What a caller is told when the database cannot be reached or did not answer in time (the reason, which
/// may name the server, goes to the log only).
pub const UNAVAILABLE: &str = "the database of the built-in APIs is unavailable; try again later";

/// A JSON error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short code.
    pub error: &'static str,
    /// What went wrong, naming the problem.
    pub description: String,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    /// 400.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", description)
    }

    /// 404.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    /// 403.
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", description)
    }

    /// 409.
    pub fn conflict(description: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", description)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::Conflict(m) => Self::conflict(m),
            StoreError::NotFound(m) => Self::not_found(m),
            StoreError::Unavailable(reason) => {
                tracing::warn!(error = %reason, "database unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", UNAVAILABLE)
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "a storage error occurred",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn an_unreachable_database_is_503_and_its_reason_stays_in_the_log() {
        let err = ApiError::from(StoreError::Unavailable("connect to db.internal:5432 refused".into()));
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.error, "unavailable");
        assert!(!err.description.contains("db.internal"), "{}", err.description);
        let odata = crate::odata::error::ODataError::from(StoreError::Unavailable("x".into()));
        assert_eq!(odata.status, StatusCode::SERVICE_UNAVAILABLE);
        let other = ApiError::from(StoreError::Backend("syntax error at SELECT".into()));
        assert_eq!(other.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!other.description.contains("SELECT"));
    }
}
