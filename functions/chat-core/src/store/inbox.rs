//! Inbox order and the sender's read position, kept off the request path: a send writes its
//! message and the conversation's META only (its write cost must not grow with the group, and
//! the memberships are in GSI1, so every update of one is also an index write).
//! `inbox-activity`, triggered by the table's stream, then moves the conversation up every
//! member's inbox and each sender's read position to their message, with
//! [`Store::move_up_inboxes`].

use super::conversations::Conversation;
use super::{Store, StoreError, StoreResult, key_item, keys, s};
use crate::domain::{MessageId, UserId};
use futures::StreamExt;

/// Membership updates in flight at once for one conversation.
const CONCURRENCY: usize = 32;

impl Store {
    /// Moves `conversation` to its activity at `timestamp` in each member's inbox, and each of
    /// `senders` to their newest message (`(user, message)`): they have read what they sent.
    /// Only ever forward (conditions), so a redelivered or late batch changes nothing, and a
    /// member who left (no membership) is skipped.
    pub async fn move_up_inboxes(
        &self,
        conversation: &Conversation,
        timestamp: &str,
        senders: &[(UserId, MessageId)],
    ) -> StoreResult<()> {
        let id = conversation.id();
        let sort = keys::inbox_sk(timestamp, &conversation.item.created_at, id);
        let mut updates = Vec::new();
        for member in conversation.humans() {
            updates.push((member, "SET GSI1SK = :v", "attribute_exists(PK) AND GSI1SK < :v", sort.clone()));
        }
        for (sender, message) in senders {
            let moved =
                "attribute_exists(PK) AND (attribute_not_exists(last_read_message_id) OR last_read_message_id < :v)";
            updates.push((*sender, "SET last_read_message_id = :v", moved, message.to_string()));
        }
        let results: Vec<StoreResult<()>> = futures::stream::iter(updates)
            .map(|(member, expression, condition, value)| async move {
                let out = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key_item(&keys::membership(member, id))?))
                    .update_expression(expression)
                    .condition_expression(condition)
                    .expression_attribute_values(":v", s(value))
                    .send()
                    .await;
                match out {
                    Ok(_) => Ok(()),
                    Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                        Ok(())
                    }
                    Err(err) => Err(StoreError::sdk("move up inbox", err)),
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }
}
