//! Messages: stored in their conversation's partition under time-ordered ids and their `seq`,
//! with the conversation's summary, the sender's read position and the idempotency record
//! written in the same transaction.

use super::conversations::Conversation;
use super::items::{ConversationItem, IdempotencyItem, MessageItem};
use super::{Missing, Store, StoreError, StoreResult, Transact, from_item, key_item, keys, n, s, to_item, to_value};
use crate::domain::{AGENT_ID, ClientMessageId, ConversationId, MessageId, MessageText, UserId};
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

/// How many times a send drafts its message again after other sends took the `seq` it read:
/// each round one of the contending sends wins, so this bounds the burst one conversation
/// absorbs at once (the request's deadline, `bounds.rs`, still applies).
const SEQ_ATTEMPTS: u32 = 64;

impl Store {
    /// Stores a message as the conversation's next (`seq`), moves its summary forward and the
    /// sender's read position to it, in one transaction.
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
    /// (`guard`, e.g. "this reply's claim is still mine", built for the message as drafted):
    /// when its condition fails, nothing is stored and the answer is `None`.
    ///
    /// Actions, in order: the idempotency claim (when a `client_message_id` is given), the
    /// message, META (conditional on the `seq` read: the message is exactly the next one), the
    /// sender's membership (conditional on existing: a member removed meanwhile stores nothing)
    /// and the guard. When another message took the `seq`, META is read again and the message
    /// drafted again with the next one, so ids, timestamps and `seq` keep one order and
    /// `last_message` never moves backwards.
    pub(crate) async fn post_message_if(
        &self,
        conversation: &Conversation,
        mut message: MessageItem,
        guard: Option<&(dyn Fn(&MessageItem) -> StoreResult<TransactWriteItem> + Sync)>,
    ) -> StoreResult<Option<Posted>> {
        let (sender, client_message_id) = (message.sender_id, message.client_message_id);
        let id = conversation.id();
        let mut meta = conversation.item.clone();
        for attempt in 0..SEQ_ATTEMPTS {
            let mut actions = Vec::new();
            if let Some(client) = client_message_id {
                let claim = IdempotencyItem {
                    key: keys::idempotency(id, sender, client),
                    message_id: message.message_id,
                    message: message.message.clone(),
                    timestamp: message.timestamp.clone(),
                    delivered: false,
                    delivery_lease_ms: now_ms() + DELIVERY_LEASE_MS,
                };
                actions.push(self.put(to_item(&claim)?, Some("attribute_not_exists(PK)"))?);
            }
            actions.push(self.put(to_item(&message)?, Some("attribute_not_exists(PK)"))?);
            let meta_at = actions.len();
            actions.push(self.summary_update(&meta, &message)?);
            let member_at = (sender != AGENT_ID).then(|| actions.len());
            if member_at.is_some() {
                actions.push(self.read_by_sender(&meta, &message)?);
            }
            let guard_at = match guard {
                Some(guard) => {
                    actions.push(guard(&message)?);
                    Some(actions.len() - 1)
                }
                None => None,
            };
            match self.transact("post message", actions).await? {
                Transact::Committed => return Ok(Some(Posted::Stored(message))),
                Transact::ConditionFailed(failed) if guard_at.is_some_and(|g| failed.contains(&g)) => return Ok(None),
                Transact::ConditionFailed(failed) if client_message_id.is_some() && failed.contains(&0) => {
                    return self.replay(id, sender, client_message_id, &message.message).await.map(Some);
                }
                Transact::ConditionFailed(failed) if member_at.is_some_and(|m| failed.contains(&m)) => {
                    return Err(StoreError::NotFound(Missing::Conversation));
                }
                Transact::ConditionFailed(failed) if failed == [meta_at] => {
                    meta = self
                        .get("get conversation", &keys::conversation(id))
                        .await?
                        .ok_or(StoreError::NotFound(Missing::Conversation))?;
                    message.redraft(&meta);
                    if attempt > 2 {
                        // Many sends at once: spread them out a little.
                        let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 16;
                        tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
                    }
                }
                Transact::ConditionFailed(failed) => {
                    return Err(StoreError::internal(format!(
                        "post message: unexpected condition failure at {failed:?}"
                    )));
                }
            }
        }
        Err(StoreError::Unavailable("post message: too many concurrent sends in one conversation".into()))
    }

    /// META: the message is its next (`seq`), its summary and activity move to it.
    fn summary_update(&self, meta: &ConversationItem, message: &MessageItem) -> StoreResult<TransactWriteItem> {
        let seq_read = if meta.seq == 0 { "attribute_not_exists(seq) OR seq = :prev" } else { "seq = :prev" };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::conversation(meta.conversation_id))?))
            .update_expression("SET updated_at = :ts, last_message = :lm, last_message_id = :mid, seq = :seq")
            .condition_expression(format!("attribute_exists(PK) AND ({seq_read})"))
            .expression_attribute_values(":ts", s(&message.timestamp))
            .expression_attribute_values(":lm", to_value(&message.view())?)
            .expression_attribute_values(":mid", s(message.message_id.to_string()))
            .expression_attribute_values(":seq", n(message.seq))
            .expression_attribute_values(":prev", n(meta.seq))
            .build()
            .map_err(StoreError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The sender has read their own message, and the conversation moves to the top of their
    /// inbox at once (the other members' inboxes follow from the stream, `inbox-activity`).
    fn read_by_sender(&self, meta: &ConversationItem, message: &MessageItem) -> StoreResult<TransactWriteItem> {
        let sort = keys::inbox_sk(&message.timestamp, &meta.created_at, meta.conversation_id);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::membership(message.sender_id, meta.conversation_id))?))
            .update_expression("SET read_seq = :seq, last_read_message_id = :mid, GSI1SK = :sort")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":seq", n(message.seq))
            .expression_attribute_values(":mid", s(message.message_id.to_string()))
            .expression_attribute_values(":sort", s(sort))
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
        // '$' is the character after '#': "MSG$" is above every message key.
        let prefix_end = "MSG$";
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
