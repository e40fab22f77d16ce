//! The AI agent's reply claims: at most one reply per user message.
//!
//! Before calling the model, the `ai-reply` function claims the reply with a conditional put of
//! `CONV#<cid>`/`REPLY#<answered message id>` (status `pending`, a random owner token, a short
//! lease). The reply is stored in one transaction with the claim's move to `done`, conditional
//! on the claim still being this owner's and pending; so however often, and however
//! concurrently, a trigger is delivered, one reply at most is stored. A failed attempt deletes
//! its claim; a claim whose invocation died is taken over once its lease has run out.

use super::conversations::Conversation;
use super::items::{MessageItem, ReplyClaimItem};
use super::messages::{DELIVERY_LEASE_MS, Posted, Replay, now_ms};
use super::{Store, StoreError, StoreResult, key_item, keys, s, to_item};
use crate::domain::AGENT_ID;
use crate::domain::{ConversationId, MessageId, MessageText};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

/// Done claims only have to outlive the stream's 24-hour retention (redeliveries).
pub const CLAIM_TTL_SECONDS: i64 = 2 * 24 * 60 * 60;

const PENDING: &str = "pending";
const DONE: &str = "done";

/// A claim this invocation holds.
#[derive(Debug, Clone)]
pub struct ReplyClaim {
    pub conversation_id: ConversationId,
    pub reply_to: MessageId,
    owner: String,
}

#[derive(Debug)]
pub enum Claimed {
    /// This invocation answers.
    Won(ReplyClaim),
    /// The message has its reply already (`reply_id`); whether it was delivered.
    Answered { reply_id: Option<MessageId>, delivery: Replay },
    /// Another invocation is answering it now.
    InProgress,
}

impl Store {
    /// Claims the reply to one message, or says why not.
    pub async fn claim_reply(
        &self,
        conversation: ConversationId,
        reply_to: MessageId,
        lease_until: i64,
    ) -> StoreResult<Claimed> {
        let key = keys::ai_reply(conversation, reply_to);
        let now = chrono::Utc::now().timestamp();
        let owner = uuid::Uuid::new_v4().to_string();
        let item = ReplyClaimItem {
            key: key.clone(),
            conversation_id: conversation,
            reply_to,
            status: PENDING.into(),
            owner: owner.clone(),
            lease_until,
            claimed_at: crate::views::now_timestamp(),
            expires_at: now + CLAIM_TTL_SECONDS,
            reply_id: None,
            delivered: false,
            delivery_lease_ms: 0,
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(PK) OR (#status = :pending AND lease_until < :now)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(PENDING))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claimed::Won(ReplyClaim { conversation_id: conversation, reply_to, owner })),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let existing: Option<ReplyClaimItem> = self.get("get reply claim", &key).await?;
                Ok(match existing {
                    Some(claim) if claim.status == DONE => Claimed::Answered {
                        reply_id: claim.reply_id,
                        delivery: if claim.delivered {
                            Replay::Delivered
                        } else {
                            Replay::Pending { lease_until_ms: claim.delivery_lease_ms }
                        },
                    },
                    _ => Claimed::InProgress,
                })
            }
            Err(err) => Err(StoreError::sdk("claim reply", err)),
        }
    }

    /// Gives a claim up (the reply failed), so a later delivery may try again. A claim that is
    /// no longer this owner's is left alone.
    pub async fn release_reply(&self, claim: &ReplyClaim) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::ai_reply(claim.conversation_id, claim.reply_to))?))
            .condition_expression("#owner = :owner AND #status = :pending")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(&claim.owner))
            .expression_attribute_values(":pending", s(PENDING))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(err) => Err(StoreError::sdk("release reply claim", err)),
        }
    }

    /// Stores the agent's reply (like any message: `last_message` moves) and marks the claim
    /// done, in one transaction that requires the claim to still be this owner's and pending.
    /// `None`: the claim was lost (taken over after its lease ran out) and nothing was stored.
    pub async fn store_reply(
        &self,
        conversation: &Conversation,
        claim: &ReplyClaim,
        text: MessageText,
    ) -> StoreResult<Option<MessageItem>> {
        let message = MessageItem::draft(&conversation.item, AGENT_ID, text, None);
        let done = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::ai_reply(claim.conversation_id, claim.reply_to))?))
            .update_expression(
                "SET #status = :done, answered_at = :at, reply_id = :reply, delivered = :no, delivery_lease_ms = :lease",
            )
            .expression_attribute_values(":reply", s(message.message_id.to_string()))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":lease", AttributeValue::N((now_ms() + DELIVERY_LEASE_MS).to_string()))
            .condition_expression("#owner = :owner AND #status = :pending")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(&claim.owner))
            .expression_attribute_values(":pending", s(PENDING))
            .expression_attribute_values(":done", s(DONE))
            .expression_attribute_values(":at", s(crate::views::now_timestamp()))
            .build()
            .map_err(StoreError::internal)?;
        let guard = TransactWriteItem::builder().update(done).build();
        match self.post_message_if(conversation, message, Some(guard)).await? {
            Some(Posted::Stored(message)) => Ok(Some(message)),
            Some(Posted::Replayed(..)) => Err(StoreError::internal("store reply: replayed without a client id")),
            None => Ok(None),
        }
    }

    /// Takes over the delivery of a stored reply whose lease lapsed undelivered: `true` when
    /// this delivery now holds it ([`Store::take_delivery_lease`]).
    pub async fn take_reply_delivery(&self, conversation: ConversationId, reply_to: MessageId) -> StoreResult<bool> {
        self.take_delivery_lease("take reply delivery", &keys::ai_reply(conversation, reply_to)).await
    }

    /// Records that the stored reply reached the sockets.
    pub async fn mark_reply_delivered(&self, conversation: ConversationId, reply_to: MessageId) -> StoreResult<()> {
        self.mark_delivered_at("mark reply delivered", &keys::ai_reply(conversation, reply_to)).await
    }

    /// Where the delivery of a stored reply stands (a fresh read).
    pub async fn reply_delivery(&self, conversation: ConversationId, reply_to: MessageId) -> StoreResult<Replay> {
        let claim: Option<ReplyClaimItem> =
            self.get("get reply claim", &keys::ai_reply(conversation, reply_to)).await?;
        Ok(match claim {
            Some(claim) if claim.delivered => Replay::Delivered,
            Some(claim) => Replay::Pending { lease_until_ms: claim.delivery_lease_ms },
            None => Replay::Delivered, // expired: nothing left to deliver
        })
    }

    /// One stored message of a conversation.
    pub async fn message(&self, conversation: ConversationId, id: MessageId) -> StoreResult<Option<MessageItem>> {
        self.get("get message", &keys::message(conversation, id)).await
    }
}
