//! The one error type every handler returns, and the one place storage errors become API
//! errors. `crate::http` turns it into a response, `crate::ws` into an error frame.

use crate::store::StoreError;
use crate::store::members::Refusal;
use http::StatusCode;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method {method} is not allowed on this route")]
    MethodNotAllowed { method: String, allow: Vec<&'static str> },
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Every 429 says when to come back (`Retry-After`, whole seconds).
    #[error("too many requests, retry in {retry_after_seconds} s")]
    Throttled { retry_after_seconds: u64 },
    /// A dependency (DynamoDB, the AI provider) is unavailable. The detail is logged, never sent.
    #[error("service temporarily unavailable")]
    Unavailable(String),
    /// Anything unexpected. The detail is logged, never sent.
    #[error("internal server error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The seed's envelope: `{"error":{"message":…,"status":N}}`.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": { "message": self.to_string(), "status": self.status().as_u16() } })
    }

    /// Logs the error with the detail clients must not see (once, wherever it is answered).
    pub fn log(&self) {
        match self {
            Self::Internal(detail) => tracing::error!(error = %detail, "request failed"),
            Self::Unavailable(detail) => tracing::warn!(error = %detail, "dependency unavailable"),
            _ => tracing::debug!(error = %self, "request refused"),
        }
    }
}

/// Storage speaks storage; this is where its answers take the contract's statuses and words.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            StoreError::NoSuchUser => Self::Unauthorized("invalid or expired token"),
            StoreError::EmailTaken | StoreError::IdempotencyKeyReused => Self::Conflict(err.to_string()),
            StoreError::InvalidCursor => Self::bad_request(err.to_string()),
            StoreError::Unavailable(detail) => Self::Unavailable(detail),
            StoreError::Internal(detail) => Self::Internal(detail),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A refused change of a group's members, in the contract's statuses and words.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotGroup => Self::Conflict("only a group's members change".into()),
            Refusal::TooMany => {
                Self::Conflict(format!("a group has at most {} members", crate::domain::MAX_GROUP_MEMBERS))
            }
            Refusal::CallerNotMember => Self::not_found("conversation not found"),
            Refusal::TargetNotMember => Self::not_found("member not found"),
            Refusal::NotAdmin => Self::Forbidden("only an admin removes another member".into()),
        }
    }
}
