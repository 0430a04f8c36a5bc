//! The one error shape every endpoint answers with:
//! `{"error": "<machine_code>", "message": "<human text>", "details": ...}`.

use http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use super::{Response, json_response};
use crate::domain::FieldError;
use crate::queue::QueueError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds, sent as `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
    /// Methods the path does allow, sent as `Allow` (405).
    pub allow: Option<&'static str>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None, retry_after: None, allow: None }
    }

    pub fn with_details(mut self, details: impl Serialize) -> Self {
        self.details = serde_json::to_value(details).ok();
        self
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let summary =
            errors.iter().map(|e| format!("{} {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        Self::new(StatusCode::BAD_REQUEST, "validation_failed", summary).with_details(errors)
    }

    pub fn invalid_json(err: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_json", format!("request body is not valid JSON: {err}"))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this path accepts {allow}"),
        );
        error.allow = Some(allow);
        error
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", message)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    }

    pub fn throttled(retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            format!("rate limit exceeded; retry after {retry_after_secs} s"),
        );
        error.retry_after = Some(retry_after_secs);
        error
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message);
        error.retry_after = Some(1);
        error
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; it has been logged")
    }

    pub fn into_response(self) -> Response {
        let body = Body { error: self.code, message: &self.message, details: self.details.as_ref() };
        let mut response = json_response(self.status, &body);
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(http::header::RETRY_AFTER, seconds.into());
        }
        if let Some(allow) = self.allow {
            headers.insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
        }
        response
    }
}

impl From<crate::gateway::GatewayError> for ApiError {
    fn from(err: crate::gateway::GatewayError) -> Self {
        tracing::warn!(error = %err, "key gateway unavailable");
        ApiError::unavailable("the API key gateway is temporarily unavailable")
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "store unavailable");
                ApiError::unavailable("the data store is temporarily unavailable")
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        match err {
            QueueError::Unavailable(reason) => {
                tracing::warn!(%reason, "queue unavailable");
                ApiError::unavailable("the ingestion queue is temporarily unavailable")
            }
            other => {
                tracing::error!(error = %other, "queue failure");
                ApiError::internal()
            }
        }
    }
}
