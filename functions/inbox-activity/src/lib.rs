//! Moves conversations up their members' inboxes (`GET /api/conversations` is ordered by
//! activity) and senders' read positions to what they sent: DynamoDB stream records of
//! inserted messages, filtered by the event source mapping. A send writes neither, so that its
//! write cost stays the same whatever the group's size (`docs/data-model.md`); this catches up
//! a moment later, off the request path. A batch is coalesced per conversation (its newest
//! message, each sender's newest), and positions only move forward, so redelivered or late
//! batches are harmless.
//!
//! A conversation that could not be updated (DynamoDB unavailable) reports its first record
//! as a batch item failure, so Lambda retries from there (`ReportBatchItemFailures`).

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use chat_core::App;
use chat_core::domain::{AGENT_ID, ConversationId, MessageId, UserId};
use chat_core::store::items::MessageItem;
use futures::StreamExt;
use std::collections::BTreeMap;

/// Conversations of one batch updated at once.
const CONCURRENCY: usize = 4;

/// The newest message of one conversation in a batch, each sender's newest, and the batch's
/// first record of the conversation.
struct Latest {
    timestamp: String,
    senders: BTreeMap<UserId, MessageId>,
    first_record: String,
}

pub async fn handler(app: &App, event: Event) -> DynamoDbEventResponse {
    let mut latest: BTreeMap<ConversationId, Latest> = BTreeMap::new();
    for record in event.records {
        if record.event_name != "INSERT" {
            continue;
        }
        let sequence = record.change.sequence_number.clone().unwrap_or_default();
        let message: MessageItem = match serde_dynamo::from_item(record.change.new_image) {
            Ok(message) => message,
            Err(err) => {
                tracing::debug!(error = %err, "not a message item; skipped");
                continue;
            }
        };
        let entry = latest.entry(message.conversation_id).or_insert(Latest {
            timestamp: String::new(),
            senders: BTreeMap::new(),
            first_record: sequence,
        });
        if message.timestamp > entry.timestamp {
            entry.timestamp = message.timestamp;
        }
        if message.sender_id != AGENT_ID {
            let newest = entry.senders.entry(message.sender_id).or_insert(message.message_id);
            *newest = (*newest).max(message.message_id);
        }
    }
    let failed: Vec<String> = futures::stream::iter(latest)
        .map(|(id, latest)| async move { (!move_up(app, id, &latest).await).then_some(latest.first_record) })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
    chat_core::streams::retry(failed)
}

/// `false` when it must be retried.
async fn move_up(app: &App, id: ConversationId, latest: &Latest) -> bool {
    let conversation = match app.store.conversation(id).await {
        Ok(Some(conversation)) => conversation,
        Ok(None) => return true,
        Err(err) => {
            tracing::error!(conversation_id = %id, error = %err, "could not read the conversation; will be retried");
            return false;
        }
    };
    let senders: Vec<(UserId, MessageId)> = latest.senders.iter().map(|(u, m)| (*u, *m)).collect();
    match app.store.move_up_inboxes(&conversation, &latest.timestamp, &senders).await {
        Ok(()) => true,
        Err(err) => {
            tracing::error!(conversation_id = %id, error = %err, "could not move the inboxes up; will be retried");
            false
        }
    }
}
