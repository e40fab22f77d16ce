//! Conversations: the META item, one membership item per human participant, and the
//! activity-ordered inbox (GSI1) built from memberships.

use super::items::{ConversationItem, MembershipItem, UserItem};
use super::{Store, Transact, cursor, keys, to_item};
use crate::agent;
use crate::domain::{ConversationId, UserId};
use crate::error::ApiError;
use crate::paging::{Page, PageRequest};
use crate::views::{ConversationView, now_timestamp};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

pub enum Created {
    New(ConversationItem),
    Existing(ConversationItem),
}

/// Position in a user's inbox; the GSI key is rebuilt from it for the caller only, so a
/// forged cursor can never read someone else's inbox.
#[derive(Serialize, Deserialize)]
struct InboxCursor {
    c: ConversationId,
    s: String,
}

impl ConversationItem {
    pub fn new(id: ConversationId, is_ai: bool, participants: Vec<UserId>) -> Self {
        let key = keys::conversation(id);
        let now = now_timestamp();
        Self {
            pk: key.pk,
            sk: key.sk,
            conversation_id: id,
            is_ai,
            participants,
            created_at: now.clone(),
            updated_at: now,
            last_message: None,
            last_message_id: None,
        }
    }

    /// Who gets an inbox entry: every participant except the agent.
    pub fn members(&self) -> impl Iterator<Item = UserId> + '_ {
        self.participants.iter().copied().filter(|p| *p != agent::AGENT_ID)
    }

    pub fn membership_for(&self, user: UserId) -> MembershipItem {
        let key = keys::membership(user, self.conversation_id);
        MembershipItem {
            pk: key.pk,
            sk: key.sk,
            gsi1pk: keys::inbox_pk(user),
            gsi1sk: keys::inbox_sk(&self.updated_at, &self.created_at, self.conversation_id),
            conversation_id: self.conversation_id,
            is_ai: self.is_ai,
            participants: self.participants.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            last_message: self.last_message.clone(),
        }
    }
}

impl Store {
    pub async fn conversation(&self, id: ConversationId) -> Result<Option<ConversationItem>, ApiError> {
        self.get("get conversation", &keys::conversation(id)).await
    }

    /// The conversation, but only for one of its participants: anyone else gets the same 404
    /// as for a conversation that does not exist.
    pub async fn conversation_for(&self, id: ConversationId, user: UserId) -> Result<ConversationItem, ApiError> {
        match self.conversation(id).await? {
            Some(conversation) if conversation.has_participant(user) => Ok(conversation),
            _ => Err(ApiError::not_found("conversation not found")),
        }
    }

    /// A user's profile and a conversation, in one round trip.
    pub async fn user_and_conversation(
        &self,
        user: UserId,
        conversation: ConversationId,
    ) -> Result<(Option<UserItem>, Option<ConversationItem>), ApiError> {
        self.get_two("get user and conversation", &keys::user(user), &keys::conversation(conversation)).await
    }

    /// Creates the conversation with its memberships in one transaction. The META put is
    /// conditional, so for a direct pair (whose id is derived from its members) a second
    /// creation — also a racing one — finds the first instead of making a duplicate.
    pub async fn create_conversation(&self, conversation: ConversationItem) -> Result<Created, ApiError> {
        let mut actions: Vec<TransactWriteItem> =
            vec![self.put(to_item(&conversation)?, Some("attribute_not_exists(PK)"))?];
        for member in conversation.members() {
            actions.push(self.put(to_item(&conversation.membership_for(member))?, None)?);
        }
        // Every human member is a registered user: a validly signed token whose `sub` names
        // nobody creates nothing (the direct partner was read already; this covers the caller).
        let checks = actions.len();
        for member in conversation.members() {
            actions.push(self.must_exist(&keys::user(member))?);
        }
        let checks = checks..actions.len();
        if conversation.is_ai {
            // Idempotent upsert: the agent's profile exists as soon as anyone talks to it.
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&agent::profile_item())?))
                .build()
                .map_err(ApiError::internal)?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact("create conversation", actions).await? {
            Transact::Committed => Ok(Created::New(conversation)),
            Transact::ConditionFailed(failed) if failed.iter().any(|i| checks.contains(i)) => {
                Err(ApiError::Unauthorized("invalid or expired token"))
            }
            Transact::ConditionFailed(_) => {
                let existing = self
                    .conversation(conversation.conversation_id)
                    .await?
                    .ok_or_else(|| ApiError::internal("conversation vanished after a conflict"))?;
                Ok(Created::Existing(existing))
            }
        }
    }

    /// The user's conversations, most recent activity first.
    pub async fn list_conversations(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Page<ConversationView>, ApiError> {
        let after = match &page.cursor {
            None => None,
            Some(raw) => {
                let at: InboxCursor = cursor::decode(raw)?;
                // Only the shape this function hands out (`{updated_at}#{created_at}#{id}`):
                // DynamoDB refuses an empty or over-1024-byte sort key in ExclusiveStartKey with
                // a ValidationException, which would be a 500 (moto accepted both; dynoxide accepts an over-long one).
                if at.s.len() > 128 || !at.s.ends_with(&format!("#{}", at.c)) {
                    return Err(ApiError::bad_request("cursor is invalid"));
                }
                Some(keys::IndexKey::new(keys::membership(user, at.c), keys::inbox_pk(user), at.s))
            }
        };
        let (items, truncated): (Vec<MembershipItem>, _) =
            self.query_index("list conversations", keys::inbox_pk(user), after, page.limit, true).await?;
        Ok(Page::from_overfetch(
            items,
            page.limit,
            truncated,
            |m| cursor::encode(&InboxCursor { c: m.conversation_id, s: m.gsi1sk.clone() }),
            MembershipItem::view,
        ))
    }
}
