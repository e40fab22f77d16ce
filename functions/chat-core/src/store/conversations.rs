//! Conversations: the META item, one membership item per human participant, and the
//! activity-ordered inbox (GSI1) built from memberships.

use super::items::{ConversationItem, MembershipItem, UserItem};
use super::{Listed, Missing, Store, StoreError, StoreResult, Transact, cursor, keys, to_item};
use crate::domain::{AGENT_ID, ConversationId, UserId};
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
        let now = now_timestamp();
        let summary = ConversationView {
            conversation_id: id,
            is_ai,
            participants,
            created_at: now.clone(),
            updated_at: now,
            last_message: None,
        };
        Self { key: keys::conversation(id), summary, last_message_id: None }
    }

    /// Who gets an inbox entry: every participant except the agent.
    pub fn members(&self) -> impl Iterator<Item = UserId> + '_ {
        self.summary.participants.iter().copied().filter(|p| *p != AGENT_ID)
    }

    pub fn membership_for(&self, user: UserId) -> MembershipItem {
        let summary = &self.summary;
        MembershipItem {
            key: keys::membership(user, self.id()),
            index: keys::Gsi1 {
                pk: keys::inbox_pk(user),
                sk: keys::inbox_sk(&summary.updated_at, &summary.created_at, self.id()),
            },
            summary: summary.clone(),
        }
    }
}

impl Store {
    pub async fn conversation(&self, id: ConversationId) -> StoreResult<Option<ConversationItem>> {
        self.get("get conversation", &keys::conversation(id)).await
    }

    /// The conversation, but only for one of its participants: anyone else gets the same 404
    /// as for a conversation that does not exist.
    pub async fn conversation_for(&self, id: ConversationId, user: UserId) -> StoreResult<ConversationItem> {
        match self.conversation(id).await? {
            Some(conversation) if conversation.has_participant(user) => Ok(conversation),
            _ => Err(StoreError::NotFound(Missing::Conversation)),
        }
    }

    /// A user's profile and a conversation, in one round trip.
    pub async fn user_and_conversation(
        &self,
        user: UserId,
        conversation: ConversationId,
    ) -> StoreResult<(Option<UserItem>, Option<ConversationItem>)> {
        self.get_two("get user and conversation", &keys::user(user), &keys::conversation(conversation)).await
    }

    /// Creates the conversation with its memberships in one transaction. The META put is
    /// conditional, so for a direct pair (whose id is derived from its members) a second
    /// creation — also a racing one — finds the first instead of making a duplicate.
    pub async fn create_conversation(&self, conversation: ConversationItem) -> StoreResult<Created> {
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
        if conversation.summary.is_ai {
            // Idempotent upsert: the agent's profile exists as soon as anyone talks to it.
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&UserItem::agent())?))
                .build()
                .map_err(StoreError::internal)?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact("create conversation", actions).await? {
            Transact::Committed => Ok(Created::New(conversation)),
            Transact::ConditionFailed(failed) if failed.iter().any(|i| checks.contains(i)) => {
                Err(StoreError::NoSuchUser)
            }
            Transact::ConditionFailed(_) => {
                let existing = self
                    .conversation(conversation.id())
                    .await?
                    .ok_or_else(|| StoreError::internal("conversation vanished after a conflict"))?;
                Ok(Created::Existing(existing))
            }
        }
    }

    /// The user's conversations, most recent activity first, after `cursor`.
    pub async fn list_conversations(
        &self,
        user: UserId,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Listed<MembershipItem>> {
        let after = match cursor {
            None => None,
            Some(raw) => {
                let at: InboxCursor = cursor::decode(raw)?;
                // Only the shape this function hands out (`{updated_at}#{created_at}#{id}`):
                // DynamoDB refuses an empty or over-1024-byte sort key in ExclusiveStartKey with
                // a ValidationException, which would be a 500 (moto accepted both; dynoxide accepts an over-long one).
                if at.s.len() > 128 || !at.s.ends_with(&format!("#{}", at.c)) {
                    return Err(StoreError::InvalidCursor);
                }
                Some(keys::IndexKey::new(keys::membership(user, at.c), keys::inbox_pk(user), at.s))
            }
        };
        let cursor_of =
            |m: &MembershipItem| cursor::encode(&InboxCursor { c: m.summary.conversation_id, s: m.index.sk.clone() });
        self.query_index("list conversations", keys::inbox_pk(user), after, limit, true, cursor_of).await
    }
}
