//! Inbox order, kept off the request path: a send moves the conversation up its sender's
//! inbox only (its write cost must not grow with the group); `inbox-activity`, triggered by
//! the table's stream, moves it up every other member's with [`Store::move_up_inboxes`].

use super::conversations::Conversation;
use super::{Store, StoreError, StoreResult, key_item, keys, s};
use futures::StreamExt;

/// Membership updates in flight at once for one conversation.
const CONCURRENCY: usize = 32;

impl Store {
    /// Moves `conversation` to its activity at `timestamp` in each member's inbox. Only ever
    /// forward (a condition), so a redelivered or late batch changes nothing, and a member who
    /// left (no membership) is skipped.
    pub async fn move_up_inboxes(&self, conversation: &Conversation, timestamp: &str) -> StoreResult<()> {
        let id = conversation.id();
        let sort = keys::inbox_sk(timestamp, &conversation.item.created_at, id);
        let results: Vec<StoreResult<()>> = futures::stream::iter(conversation.humans())
            .map(|member| {
                let sort = sort.clone();
                async move {
                    let out = self
                        .client
                        .update_item()
                        .table_name(&self.table)
                        .set_key(Some(key_item(&keys::membership(member, id))?))
                        .update_expression("SET GSI1SK = :sort")
                        .condition_expression("attribute_exists(PK) AND GSI1SK < :sort")
                        .expression_attribute_values(":sort", s(sort))
                        .send()
                        .await;
                    match out {
                        Ok(_) => Ok(()),
                        Err(err)
                            if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                        {
                            Ok(())
                        }
                        Err(err) => Err(StoreError::sdk("move up inbox", err)),
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }
}
