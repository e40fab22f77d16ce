//! The crate's one error. Each kind says which part of the local stack refused, and carries
//! the message printed to the user as it always was (with its `Fix:` hint where one helps).

/// What went wrong, by where: the text is the whole message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `template.yaml` cannot be read, or declares something the local stack cannot serve.
    #[error("{0}")]
    Template(String),
    /// An environment variable of `local-gateway` is invalid, or a setting cannot be made.
    #[error("{0}")]
    Setting(String),
    /// An `events/` fixture cannot be read or filled.
    #[error("{0}")]
    Fixture(String),
    /// The local DynamoDB, its table or its stream failed or refused.
    #[error("{0}")]
    DynamoDb(String),
    /// Something `local-gateway` starts (a port, a function binary, a signal handler) cannot start.
    #[error("{0}")]
    Startup(String),
    /// A function's result is not what API Gateway accepts (API Gateway answers 500).
    #[error("{0}")]
    InvalidResponse(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
