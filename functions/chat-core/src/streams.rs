//! What the table's stream functions (`ai-reply`, `inbox-activity`) share.

use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

/// The answer to a stream batch: the sequence numbers of the records to retry
/// (`ReportBatchItemFailures`: Lambda retries from the earliest of them).
pub fn retry(sequence_numbers: impl IntoIterator<Item = String>) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for id in sequence_numbers {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(id);
        response.batch_item_failures.push(failure);
    }
    response
}
