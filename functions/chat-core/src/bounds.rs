//! How long anything waits for DynamoDB or the Management API (issue 14, docs/failures.md).
//!
//! A hung dependency must end in the contract's 503 envelope (HTTP) or error frame (WebSocket)
//! well inside the function's timeout, never in API Gateway's own `Internal Server Error` after
//! Lambda kills the function. The arithmetic, checked by the tests below:
//!
//! - one DynamoDB call: `DYNAMODB_ATTEMPTS` × `DYNAMODB_ATTEMPT_TIMEOUT` + the backoffs between
//!   them (each at most `DYNAMODB_MAX_BACKOFF`) < `DYNAMODB_OPERATION_TIMEOUT`
//!   (2 × 1 s + 0.2 s = 2.2 s < 2.5 s);
//! - one Management API post: the same, 2 × 1 s + 0.2 s < 2.5 s;
//! - one request: whatever it does, sequentially or not, is cut at `REQUEST_BUDGET` (5 s) and
//!   answered 503 ([`crate::http::serve`], [`crate::ws::serve`]);
//! - a cold start's secret: 2 × 3 s + 0.2 s < 7 s < Lambda's 10 s init limit;
//! - the function: `REQUEST_BUDGET` < the template's `Timeout` (8 s; `FUNCTION_TIMEOUT`), which
//!   leaves 3 s to write the answer and the log line. ai-reply keeps its own, longer timeout
//!   (a model's answer streams for a while); its DynamoDB calls have the same bounds.
//!
//! A write whose call timed out may still have been applied: its outcome is unknown, and the
//! 503 says so (docs/failures.md). The SDK fills `ClientRequestToken` of TransactWriteItems once
//! per operation, so its own retry of a transaction DynamoDB already applied is not applied twice.

use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use std::time::Duration;

pub const DYNAMODB_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1000);
pub const DYNAMODB_ATTEMPTS: u32 = 2;
pub const DYNAMODB_INITIAL_BACKOFF: Duration = Duration::from_millis(25);
pub const DYNAMODB_MAX_BACKOFF: Duration = Duration::from_millis(200);
pub const DYNAMODB_OPERATION_TIMEOUT: Duration = Duration::from_millis(2500);

pub const MANAGEMENT_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1000);
pub const MANAGEMENT_ATTEMPTS: u32 = 2;
pub const MANAGEMENT_MAX_BACKOFF: Duration = Duration::from_millis(200);
pub const MANAGEMENT_OPERATION_TIMEOUT: Duration = Duration::from_millis(2500);

/// Everything one HTTP request or WebSocket event may take before it is answered 503.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(5);
/// The template's Globals `Timeout` (checked against template.yaml by the tests).
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(8);

/// Each attempt bounded by `attempt`, all of them together by `operation`.
fn timeouts(attempt: Duration, operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder().operation_attempt_timeout(attempt).operation_timeout(operation).build()
}

/// `attempts` in all, with jittered backoff from [`DYNAMODB_INITIAL_BACKOFF`] up to `max_backoff`.
fn retries(attempts: u32, max_backoff: Duration) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(DYNAMODB_INITIAL_BACKOFF)
        .with_max_backoff(max_backoff)
}

/// A DynamoDB client configuration with the bounds above (the product's, and the tests' that
/// put a faulty network in front of the local DynamoDB).
pub fn dynamodb(builder: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    builder
        .timeout_config(timeouts(DYNAMODB_ATTEMPT_TIMEOUT, DYNAMODB_OPERATION_TIMEOUT))
        .retry_config(retries(DYNAMODB_ATTEMPTS, DYNAMODB_MAX_BACKOFF))
}

/// A Management API client configuration with the bounds above: a fan-out cannot hang on a
/// socket that never answers.
pub fn management(
    builder: aws_sdk_apigatewaymanagement::config::Builder,
) -> aws_sdk_apigatewaymanagement::config::Builder {
    builder
        .timeout_config(timeouts(MANAGEMENT_ATTEMPT_TIMEOUT, MANAGEMENT_OPERATION_TIMEOUT))
        .retry_config(retries(MANAGEMENT_ATTEMPTS, MANAGEMENT_MAX_BACKOFF))
}

/// Reading a secret at cold start: 2 attempts of 3 s (a cold TLS handshake with Secrets Manager
/// included), 7 s in all, inside Lambda's 10 s init limit.
pub const SECRETS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
pub const SECRETS_ATTEMPTS: u32 = 2;
pub const SECRETS_OPERATION_TIMEOUT: Duration = Duration::from_secs(7);
/// Lambda's limit on a function's init phase.
pub const INIT_LIMIT: Duration = Duration::from_secs(10);

/// A Secrets Manager client configuration with the bounds above.
pub fn secrets(builder: aws_sdk_secretsmanager::config::Builder) -> aws_sdk_secretsmanager::config::Builder {
    builder
        .timeout_config(timeouts(SECRETS_ATTEMPT_TIMEOUT, SECRETS_OPERATION_TIMEOUT))
        .retry_config(retries(SECRETS_ATTEMPTS, DYNAMODB_MAX_BACKOFF))
}

/// Runs one request's work, or gives up on it at [`REQUEST_BUDGET`] with a 503: whatever it
/// was waiting for is dropped (a write in flight may or may not be applied: outcome unknown).
pub async fn within_budget<T>(
    work: impl std::future::Future<Output = crate::error::ApiResult<T>>,
) -> crate::error::ApiResult<T> {
    match tokio::time::timeout(REQUEST_BUDGET, work).await {
        Ok(result) => result,
        Err(_) => Err(crate::error::ApiError::Unavailable(format!(
            "request budget of {} ms exceeded",
            REQUEST_BUDGET.as_millis()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worst_case(attempts: u32, attempt: Duration, backoff: Duration) -> Duration {
        attempt * attempts + backoff * (attempts - 1)
    }

    #[test]
    fn retries_fit_in_the_operation_timeout() {
        let dynamodb = worst_case(DYNAMODB_ATTEMPTS, DYNAMODB_ATTEMPT_TIMEOUT, DYNAMODB_MAX_BACKOFF);
        assert!(dynamodb < DYNAMODB_OPERATION_TIMEOUT, "{dynamodb:?}");
        let management = worst_case(MANAGEMENT_ATTEMPTS, MANAGEMENT_ATTEMPT_TIMEOUT, MANAGEMENT_MAX_BACKOFF);
        assert!(management < MANAGEMENT_OPERATION_TIMEOUT, "{management:?}");
        let secrets = worst_case(SECRETS_ATTEMPTS, SECRETS_ATTEMPT_TIMEOUT, DYNAMODB_MAX_BACKOFF);
        assert!(secrets < SECRETS_OPERATION_TIMEOUT && SECRETS_OPERATION_TIMEOUT < INIT_LIMIT, "{secrets:?}");
    }

    #[test]
    fn one_call_fits_in_the_request_budget_which_fits_in_the_function_timeout() {
        assert!(DYNAMODB_OPERATION_TIMEOUT < REQUEST_BUDGET);
        assert!(MANAGEMENT_OPERATION_TIMEOUT < REQUEST_BUDGET);
        assert!(REQUEST_BUDGET + Duration::from_secs(2) <= FUNCTION_TIMEOUT);
    }
}
