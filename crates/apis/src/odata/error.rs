//! Errors in the OData JSON error format: `{"error": {"code", "message", "target"?, "innererror"?}}`.

use crate::store::StoreError;
use crate::ApiError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An OData error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ODataError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short machine-readable code.
    pub code: &'static str,
    /// What went wrong, naming the problem.
    pub message: String,
    /// The query option or property the error is about.
    pub target: Option<String>,
    /// The methods that are allowed (405 only).
    pub allow: Option<String>,
    /// `innererror`: details a client can act on (a REST SmartObject's OAuth resource and authorize URL).
    pub inner: Option<Box<serde_json::Value>>,
}

impl ODataError {
    /// An error with `status`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            target: None,
            allow: None,
            inner: None,
        }
    }

    /// 400 about `target` (a query option or property).
    pub fn bad_request(target: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            target: Some(target.into()),
            ..Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    /// 405 with the methods that are allowed.
    pub fn method_not_allowed(message: impl Into<String>, allow: &[&str]) -> Self {
        Self {
            allow: Some(allow.join(", ")),
            ..Self::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message)
        }
    }
}

impl From<StoreError> for ODataError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, "Conflict", m),
            StoreError::NotFound(m) => Self::not_found(m),
            StoreError::Unavailable(reason) => {
                tracing::warn!(error = %reason, "OData database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    crate::error::UNAVAILABLE,
                )
            }
            other => {
                tracing::error!(error = %other, "OData storage failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "a storage error occurred",
                )
            }
        }
    }
}

impl From<ApiError> for ODataError {
    fn from(err: ApiError) -> Self {
        Self::new(err.status, err.error, err.description)
    }
}

impl IntoResponse for ODataError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(target) = self.target {
            error["target"] = json!(target);
        }
        if let Some(inner) = self.inner {
            error["innererror"] = *inner;
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        response
    }
}
