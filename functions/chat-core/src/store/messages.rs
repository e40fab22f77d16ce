//! Messages: stored in their conversation's partition under time-ordered ids, with the
//! conversation's summary and the idempotency record written in the same transaction.

use super::conversations::Conversation;
use super::items::{ConversationItem, IdempotencyItem, MessageItem};
use super::{Missing, Store, StoreError, StoreResult, Transact, from_item, key_item, keys, s, to_item, to_value};
use crate::domain::{ClientMessageId, ConversationId, ConversationKind, MessageId, MessageText, UserId};
use crate::views::MessageView;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

pub enum Posted {
    /// Newly stored: push it.
    Stored(MessageItem),
    /// A retry of a message already stored: answer with it; push it only if it was not
    /// delivered ([`Store::take_delivery`]).
    Replayed(MessageView, Replay),
}

/// Where a replayed message's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    Delivered,
    /// Not delivered yet: another attempt holds the delivery until then (epoch ms), or held it.
    Pending {
        lease_until_ms: i64,
    },
}

/// How long the attempt that stored a message holds its delivery: longer than a send's posts
/// take (each bounded at 2.5 s, `bounds.rs`, and made concurrently), short enough that a retry
/// waiting it out still answers within the request's 5 s.
pub const DELIVERY_LEASE_MS: i64 = 3_000;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[derive(Debug, Clone, Copy)]
pub enum HistoryPage {
    Latest,
    Before(MessageId),
    After(MessageId),
}

pub struct History {
    /// In the order read: nearest the page's anchor first (newest first for Latest and Before,
    /// oldest first for After), so a page cut short keeps those and continues where it stopped.
    pub messages: Vec<MessageItem>,
    /// Whether `messages` runs newest first.
    pub newest_first: bool,
    /// More messages remain beyond the page (older for Latest/Before, newer for After).
    pub more: bool,
}

impl Store {
    /// Stores a message and moves the conversation's summary forward, in one transaction.
    pub async fn post_message(
        &self,
        conversation: &Conversation,
        sender: UserId,
        text: MessageText,
        client_message_id: Option<ClientMessageId>,
    ) -> StoreResult<Posted> {
        self.store_message(conversation, MessageItem::draft(&conversation.item, sender, text, client_message_id)).await
    }

    /// Stores a drafted message (see [`MessageItem::draft`]) as [`Store::post_message`] does.
    pub async fn store_message(&self, conversation: &Conversation, message: MessageItem) -> StoreResult<Posted> {
        self.post_message_if(conversation, message, None)
            .await?
            .ok_or_else(|| StoreError::internal("post message: no guard, yet the guard failed"))
    }

    /// [`Store::store_message`] with one more conditional action in the same transaction
    /// (`guard`, e.g. "this reply's claim is still mine"): when its condition fails, nothing is
    /// stored and the answer is `None`.
    ///
    /// Actions, in order: the idempotency claim (when a `client_message_id` is given), the
    /// message, META, in a group the sender's membership (a condition: a member removed
    /// meanwhile stores nothing), the guard. META moves to the message only if it is newer than
    /// its last one: when a newer one got there first, the message is stored without touching
    /// META, so `last_message` never moves backwards and no send waits on another. Nothing here
    /// grows with the number of members: their inboxes, and the sender's read position, move
    /// off the request path (`inbox-activity`, [`Store::move_up_inboxes`]).
    pub(crate) async fn post_message_if(
        &self,
        conversation: &Conversation,
        message: MessageItem,
        guard: Option<TransactWriteItem>,
    ) -> StoreResult<Option<Posted>> {
        let (id, sender, client_message_id) = (conversation.id(), message.sender_id, message.client_message_id);
        let idempotency = client_message_id.map(|client| IdempotencyItem {
            key: keys::idempotency(id, sender, client),
            message_id: message.message_id,
            message: message.message.clone(),
            timestamp: message.timestamp.clone(),
            delivered: false,
            delivery_lease_ms: now_ms() + DELIVERY_LEASE_MS,
        });
        let removable = conversation.kind() == ConversationKind::Group;
        let mut with_summary = true;
        for _ in 0..2 {
            let mut actions = Vec::new();
            if let Some(claim) = &idempotency {
                actions.push(self.put(to_item(claim)?, Some("attribute_not_exists(PK)"))?);
            }
            actions.push(self.put(to_item(&message)?, Some("attribute_not_exists(PK)"))?);
            let summary_at = actions.len();
            if with_summary {
                actions.push(self.summary_update(&conversation.item, &message)?);
            }
            let member_at = removable.then_some(actions.len());
            if removable {
                actions.push(self.must_exist(&keys::membership(sender, id))?);
            }
            let guard_at = guard.as_ref().map(|g| {
                actions.push(g.clone());
                actions.len() - 1
            });
            match self.transact("post message", actions).await? {
                Transact::Committed => return Ok(Some(Posted::Stored(message))),
                Transact::ConditionFailed(failed) if guard_at.is_some_and(|g| failed.contains(&g)) => return Ok(None),
                Transact::ConditionFailed(failed) if idempotency.is_some() && failed.contains(&0) => {
                    return self.replay(id, sender, client_message_id, &message.message).await.map(Some);
                }
                Transact::ConditionFailed(failed) if member_at.is_some_and(|m| failed.contains(&m)) => {
                    return Err(StoreError::NotFound(Missing::Conversation));
                }
                // A newer message is the last one already: store this one without moving it back.
                Transact::ConditionFailed(failed) if with_summary && failed == [summary_at] => with_summary = false,
                Transact::ConditionFailed(failed) => {
                    return Err(StoreError::internal(format!(
                        "post message: unexpected condition failure at {failed:?}"
                    )));
                }
            }
        }
        Err(StoreError::internal("post message: retries exhausted"))
    }

    /// META: the summary and activity move to the message, if it is newer than the last one.
    fn summary_update(&self, meta: &ConversationItem, message: &MessageItem) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::conversation(meta.conversation_id))?))
            .update_expression("SET updated_at = :ts, last_message = :lm, last_message_id = :mid")
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(last_message_id) OR last_message_id < :mid)",
            )
            .expression_attribute_values(":ts", s(&message.timestamp))
            .expression_attribute_values(":lm", to_value(&message.view())?)
            .expression_attribute_values(":mid", s(message.message_id.to_string()))
            .build()
            .map_err(StoreError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The first message stored under this `client_message_id`, or 409 when the text differs.
    async fn replay(
        &self,
        conversation: ConversationId,
        sender: UserId,
        client_message_id: Option<ClientMessageId>,
        text: &str,
    ) -> StoreResult<Posted> {
        let client = client_message_id.ok_or_else(|| StoreError::internal("replay without client id"))?;
        let claim: IdempotencyItem = self
            .get("get idempotency claim", &keys::idempotency(conversation, sender, client))
            .await?
            .ok_or_else(|| StoreError::internal("idempotency claim vanished"))?;
        if claim.message != text {
            return Err(StoreError::IdempotencyKeyReused);
        }
        let replay = if claim.delivered {
            Replay::Delivered
        } else {
            Replay::Pending { lease_until_ms: claim.delivery_lease_ms }
        };
        Ok(Posted::Replayed(
            MessageView {
                message_id: claim.message_id,
                sender_id: sender,
                message: claim.message,
                timestamp: claim.timestamp,
            },
            replay,
        ))
    }

    /// Where the delivery of the message a `client_message_id` stored stands (a fresh read).
    pub async fn delivery(
        &self,
        conversation: ConversationId,
        sender: UserId,
        client: ClientMessageId,
    ) -> StoreResult<Replay> {
        let claim: Option<IdempotencyItem> =
            self.get("get idempotency claim", &keys::idempotency(conversation, sender, client)).await?;
        let claim = claim.ok_or_else(|| StoreError::internal("idempotency claim vanished"))?;
        Ok(if claim.delivered {
            Replay::Delivered
        } else {
            Replay::Pending { lease_until_ms: claim.delivery_lease_ms }
        })
    }

    /// Takes over the delivery of a stored message whose lease lapsed undelivered: `true` when
    /// this attempt now holds it ([`Store::take_delivery_lease`]).
    pub async fn take_delivery(
        &self,
        conversation: ConversationId,
        sender: UserId,
        client: ClientMessageId,
    ) -> StoreResult<bool> {
        self.take_delivery_lease("take message delivery", &keys::idempotency(conversation, sender, client)).await
    }

    /// Records that the message a `client_message_id` stored reached the sockets.
    pub async fn mark_delivered(
        &self,
        conversation: ConversationId,
        sender: UserId,
        client: ClientMessageId,
    ) -> StoreResult<()> {
        self.mark_delivered_at("mark message delivered", &keys::idempotency(conversation, sender, client)).await
    }

    /// One page of history. Message sort keys are `MSG#<uuid v7>`; the range stays inside the
    /// `MSG#` prefix and excludes the boundary message itself.
    pub async fn history(&self, conversation: ConversationId, page: HistoryPage, limit: usize) -> StoreResult<History> {
        let prefix = keys::MESSAGE_PREFIX;
        let prefix_end = keys::MESSAGES_END;
        let (low, high, boundary, newest_first) = match page {
            HistoryPage::Latest => (prefix.to_string(), prefix_end.to_string(), None, true),
            HistoryPage::Before(id) => (prefix.to_string(), keys::message_sk(id), Some(id), true),
            HistoryPage::After(id) => (keys::message_sk(id), prefix_end.to_string(), Some(id), false),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :low AND :high")
            .expression_attribute_values(":pk", s(keys::conversation_pk(conversation)))
            .expression_attribute_values(":low", s(low))
            .expression_attribute_values(":high", s(high))
            .scan_index_forward(!newest_first)
            .limit(limit as i32 + 2)
            .send()
            .await
            .map_err(|e| StoreError::sdk("read history", e))?;
        let truncated = out.last_evaluated_key.is_some();
        let mut messages: Vec<MessageItem> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item::<MessageItem>)
            .filter(|m| !matches!((m, boundary), (Ok(m), Some(b)) if m.message_id == b))
            .collect::<Result<_, _>>()?;
        let more = messages.len() > limit || truncated;
        messages.truncate(limit);
        Ok(History { messages, newest_first, more })
    }
}
