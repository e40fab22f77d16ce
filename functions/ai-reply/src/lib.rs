//! The AI agent's trigger: DynamoDB stream records of the chat table, filtered (by the event
//! source mapping) to inserted messages with `needs_reply = true`. Each is answered by
//! [`chat_core::ai::reply::answer`]; see `docs/ai-agent.md`.
//!
//! Model failures are handled (the user is told, nothing is stored) and count as processed.
//! Only infrastructure failures (DynamoDB unavailable) are reported back as batch item
//! failures, so that Lambda retries those records (`ReportBatchItemFailures`).

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use chat_core::App;
use chat_core::ai::reply::{self, Agent, Outcome};
use chat_core::store::items::MessageItem;
use futures::StreamExt;
use std::time::SystemTime;

/// Records of one batch answered at once (each mostly waits on the model).
pub const CONCURRENCY: usize = 4;

pub async fn handler(app: &App, agent: &Agent, event: Event, deadline: SystemTime) -> DynamoDbEventResponse {
    let failed: Vec<String> = futures::stream::iter(event.records)
        .map(|record| async move {
            let id = record.change.sequence_number.clone().unwrap_or_default();
            process(app, agent, record, deadline).await.then_some(id)
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
    // A record without a sequence number (an empty identifier) makes Lambda retry the whole
    // batch, which the claims make safe.
    chat_core::streams::retry(failed)
}

/// Handles one record; `true` when it must be retried.
async fn process(app: &App, agent: &Agent, record: EventRecord, deadline: SystemTime) -> bool {
    if record.event_name != "INSERT" {
        tracing::debug!(event_name = %record.event_name, "not an insert; skipped");
        return false;
    }
    let message: MessageItem = match serde_dynamo::from_item(record.change.new_image) {
        Ok(message) => message,
        Err(err) => {
            tracing::debug!(error = %err, "not a message item; skipped");
            return false;
        }
    };
    let (conversation_id, message_id) = (message.conversation_id, message.message_id);
    match reply::answer(app, agent, &message, deadline).await {
        Ok(outcome) => {
            match outcome {
                Outcome::Skipped(why) => tracing::debug!(%conversation_id, %message_id, why, "skipped"),
                outcome => tracing::info!(%conversation_id, %message_id, ?outcome, "handled"),
            }
            false
        }
        Err(err) => {
            tracing::error!(%conversation_id, %message_id, error = ?err, "could not answer; the record will be retried");
            true
        }
    }
}
