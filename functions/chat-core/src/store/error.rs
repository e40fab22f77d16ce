//! What storage answers when it cannot do what was asked, in storage terms. The edges (HTTP
//! and WebSocket) turn it into the contract's envelope in one place: `From<StoreError> for
//! ApiError` in `crate::error`.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write needed this item and it is not there (or not the caller's to see).
    #[error("{0} not found")]
    NotFound(Missing),
    /// The user a write names as its author does not exist: a validly signed token for nobody.
    #[error("the acting user does not exist")]
    NoSuchUser,
    /// The email address is claimed already.
    #[error("email is already registered")]
    EmailTaken,
    /// The `client_message_id` stored a different text before.
    #[error("client_message_id was already used for a different message")]
    IdempotencyKeyReused,
    /// A page cursor this store did not hand out.
    #[error("cursor is invalid")]
    InvalidCursor,
    /// DynamoDB throttled or could not be reached in time: the outcome of a write is unknown
    /// and a retry is safe.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: a bug or an item that does not decode.
    #[error("{0}")]
    Internal(String),
}

/// What a [`StoreError::NotFound`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Conversation,
    Connection,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Conversation => "conversation",
            Self::Connection => "connection",
        })
    }
}

impl StoreError {
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    /// Throttling and outages are [`StoreError::Unavailable`]; anything else is internal.
    pub(crate) fn sdk<E, R>(op: &str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let unavailable = match &err {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
            SdkError::ServiceError(service) => matches!(
                service.err().code(),
                Some(
                    "ThrottlingException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                        | "LimitExceededException"
                )
            ),
            _ => false,
        };
        let detail = format!("{op}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&err));
        if unavailable { Self::Unavailable(detail) } else { Self::Internal(detail) }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
