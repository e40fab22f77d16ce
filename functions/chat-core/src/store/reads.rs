//! Read positions: a member marks a conversation read up to one of its messages
//! (`POST /api/conversations/{id}/read`). A send moves the sender's position a moment later,
//! off the request path (`inbox-activity`, `Store::move_up_inboxes`); this is the explicit route.
//!
//! Two sequential round trips: the conversation (META + roster) and the message, in parallel;
//! then one conditional UpdateItem on the caller's membership that only ever moves it forward,
//! alongside the count of what is unread after the new position.

use super::conversations::Conversation;
use super::items::{MembershipItem, MessageItem};
use super::{Missing, Store, StoreError, StoreResult, from_item, key_item, keys, s};
use crate::domain::{ConversationId, MessageId, UserId};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use serde::Serialize;

/// The caller's read state, as the route answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadState {
    pub conversation_id: ConversationId,
    pub last_read_message_id: Option<MessageId>,
    pub unread_count: u64,
}

/// What marking a message read did.
#[derive(Debug)]
pub enum Marked {
    /// The position moved to the message: members are told (`read` frame).
    Moved(ReadState),
    /// The position was at or past the message already: nothing changed.
    Unchanged(ReadState),
}

impl Marked {
    pub fn state(&self) -> &ReadState {
        match self {
            Self::Moved(state) | Self::Unchanged(state) => state,
        }
    }
}

impl Store {
    /// Round 1: the conversation, only for a member (404 otherwise), and the message of it
    /// with that id (`None`: not a message of this conversation), read in parallel. The message
    /// read is strongly consistent: a message just sent can be marked read at once.
    pub async fn read_target(
        &self,
        conversation: ConversationId,
        user: UserId,
        message: MessageId,
    ) -> StoreResult<(Conversation, Option<MessageItem>)> {
        let message_key = keys::message(conversation, message);
        let (found, message) = tokio::join!(
            self.conversation_for(conversation, user),
            self.get::<MessageItem>("get message", &message_key)
        );
        Ok((found?, message?))
    }

    /// Round 2: moves `user`'s read position to `message` unless it is there or further
    /// already, and counts what is unread after it, at once. The condition keeps concurrent
    /// reads from moving it backwards; when it fails, the membership as it stood answers
    /// (returned by the failed write, or read again when DynamoDB does not return it) and its
    /// own position is counted from (one more round trip, only then). A membership that is
    /// gone (the member left meanwhile) is a 404.
    pub async fn mark_read(
        &self,
        conversation: &Conversation,
        user: UserId,
        message: &MessageItem,
    ) -> StoreResult<Marked> {
        let id = conversation.id();
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::membership(user, id))?))
            .update_expression("SET last_read_message_id = :mid")
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(last_read_message_id) OR last_read_message_id < :mid)",
            )
            .expression_attribute_values(":mid", s(message.message_id.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        let (result, unread) = tokio::join!(update, self.unread_count(id, user, Some(message.message_id)));
        let old = match result {
            Ok(_) => {
                let state = ReadState {
                    conversation_id: id,
                    last_read_message_id: Some(message.message_id),
                    unread_count: unread?,
                };
                return Ok(Marked::Moved(state));
            }
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => failed.item().cloned(),
                _ => return Err(StoreError::sdk("mark read", err)),
            },
        };
        let membership: Option<MembershipItem> = match old {
            Some(item) => Some(from_item(item)?),
            None => self.membership(user, id).await?,
        };
        let membership = membership.ok_or(StoreError::NotFound(Missing::Conversation))?;
        let last = membership.read_position();
        let unread_count = self.unread_count(id, user, last).await?;
        Ok(Marked::Unchanged(ReadState { conversation_id: id, last_read_message_id: last, unread_count }))
    }
}
