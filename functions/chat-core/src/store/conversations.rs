//! Conversations: the META item (summary and `seq`), a group's roster, and one membership item
//! per human member (the user's read position, and the conversation's place in the user's
//! activity-ordered inbox, GSI1).
//!
//! A send writes META and the sender's membership only. The other members' inbox positions are
//! moved off the request path (`inbox-activity`, from the table's stream), and the inbox reads
//! summaries and unread counts from the META items of the page it lists.

use super::items::{ConversationItem, Member, MembershipItem, RosterItem, UserItem};
use super::{
    Item, Listed, Missing, Store, StoreError, StoreResult, Transact, cursor, from_item, key_item, keys, s, to_item,
};
use crate::domain::{AGENT_ID, ConversationId, ConversationKind, MessageId, Role, Title, UserId};
use crate::views::ConversationView;
use aws_sdk_dynamodb::types::{Put, Select, TransactWriteItem};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A transaction holds at most 100 actions.
const TRANSACTION_ACTIONS: usize = 100;

pub enum Created {
    New(Conversation),
    Existing(Conversation),
}

impl Created {
    pub fn conversation(&self) -> &Conversation {
        match self {
            Self::New(c) | Self::Existing(c) => c,
        }
    }
}

/// A conversation as read: its META item and, for a group, its roster.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub item: ConversationItem,
    pub roster: Option<RosterItem>,
}

impl Conversation {
    /// A new direct conversation of two users, or an AI one (`[user, AGENT_ID]`).
    pub fn pair(id: ConversationId, kind: ConversationKind, participants: [UserId; 2]) -> Self {
        Self { item: ConversationItem::new(id, kind, None, participants.to_vec()), roster: None }
    }

    /// A new group: `creator` (its admin) first, then `others` in the order given.
    pub fn group(id: ConversationId, creator: UserId, others: &[UserId], title: Option<Title>) -> Self {
        let item = ConversationItem::new(id, ConversationKind::Group, title, Vec::new());
        let member = |user_id, role| Member { user_id, role, joined_at: item.created_at.clone() };
        let members = std::iter::once(member(creator, Role::Admin))
            .chain(others.iter().map(|u| member(*u, Role::Member)))
            .collect();
        let roster = RosterItem { key: keys::roster(id), conversation_id: id, members, version: 1 };
        Self { item, roster: Some(roster) }
    }

    pub fn id(&self) -> ConversationId {
        self.item.conversation_id
    }

    pub fn kind(&self) -> ConversationKind {
        self.item.kind()
    }

    /// Its members in join order. A direct or AI conversation's two have no roster: they are
    /// plain members, joined when it was created.
    pub fn members(&self) -> Vec<Member> {
        match &self.roster {
            Some(roster) => roster.members.clone(),
            None => self
                .item
                .participants
                .iter()
                .map(|u| Member { user_id: *u, role: Role::Member, joined_at: self.item.created_at.clone() })
                .collect(),
        }
    }

    pub fn member_ids(&self) -> Vec<UserId> {
        match &self.roster {
            Some(roster) => roster.members.iter().map(|m| m.user_id).collect(),
            None => self.item.participants.clone(),
        }
    }

    pub fn has_member(&self, user: UserId) -> bool {
        match &self.roster {
            Some(roster) => roster.members.iter().any(|m| m.user_id == user),
            None => self.item.participants.contains(&user),
        }
    }

    /// Who has an inbox and sockets: every member except the AI agent.
    pub fn humans(&self) -> Vec<UserId> {
        self.member_ids().into_iter().filter(|u| *u != AGENT_ID).collect()
    }

    /// The conversation as `reader` sees it: their read position (their membership; `None` for
    /// a new conversation) and their `unread` count ([`Store::unread_count`]).
    pub fn view(&self, reader: Option<&MembershipItem>, unread: u64) -> ConversationView {
        let item = &self.item;
        ConversationView {
            conversation_id: item.conversation_id,
            kind: self.kind(),
            is_ai: item.is_ai,
            title: item.title.clone(),
            participants: self.member_ids(),
            created_at: item.created_at.clone(),
            updated_at: item.updated_at.clone(),
            last_message: item.last_message.clone(),
            unread_count: unread,
            last_read_message_id: reader.and_then(MembershipItem::read_position),
        }
    }

    /// A new member's membership: at the top of their inbox as of the conversation's last
    /// activity, everything so far unread (a member added to a group reads its whole history).
    pub fn membership_for(&self, user: UserId) -> MembershipItem {
        let item = &self.item;
        MembershipItem {
            key: keys::membership(user, self.id()),
            index: keys::Gsi1 {
                pk: keys::inbox_pk(user),
                sk: keys::inbox_sk(&item.updated_at, &item.created_at, self.id()),
            },
            conversation_id: self.id(),
            kind: self.kind(),
            last_read_message_id: None,
            legacy_last_message: None,
        }
    }
}

/// One entry of a user's inbox: their membership, the conversation it points at, and how many
/// of its messages they have not read.
pub struct InboxEntry {
    pub membership: MembershipItem,
    pub conversation: Conversation,
    pub unread: u64,
}

impl InboxEntry {
    pub fn view(&self) -> ConversationView {
        self.conversation.view(Some(&self.membership), self.unread)
    }
}

/// Unread counts stop here: "100" reads "100 or more" (CONTRACT.md allows a documented cap).
pub const UNREAD_CAP: u64 = 100;

/// Position in a user's inbox; the GSI key is rebuilt from it for the caller only, so a
/// forged cursor can never read someone else's inbox.
#[derive(Serialize, Deserialize)]
struct InboxCursor {
    c: ConversationId,
    s: String,
}

impl Store {
    /// A conversation with its roster, in one round trip (one BatchGetItem).
    pub async fn conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>> {
        let mut found = self.conversations(&[id]).await?;
        Ok(found.remove(&id))
    }

    /// The conversation, but only for one of its members: anyone else gets the same 404 as
    /// for a conversation that does not exist.
    pub async fn conversation_for(&self, id: ConversationId, user: UserId) -> StoreResult<Conversation> {
        match self.conversation(id).await? {
            Some(conversation) if conversation.has_member(user) => Ok(conversation),
            _ => Err(StoreError::NotFound(Missing::Conversation)),
        }
    }

    /// Conversations by id with their rosters: META and roster keys together, 100 keys per
    /// BatchGetItem, in parallel (one round trip).
    pub async fn conversations(&self, ids: &[ConversationId]) -> StoreResult<HashMap<ConversationId, Conversation>> {
        let mut wanted = Vec::with_capacity(ids.len() * 2);
        for id in ids {
            wanted.push(key_item(&keys::conversation(*id))?);
            wanted.push(key_item(&keys::roster(*id))?);
        }
        let mut metas = HashMap::new();
        let mut rosters = HashMap::new();
        for item in self.batch_get_all("get conversations", wanted).await? {
            match super::sort_key(&item) {
                Some(keys::ROSTER_SK) => {
                    let roster: RosterItem = from_item(item)?;
                    rosters.insert(roster.conversation_id, roster);
                }
                _ => {
                    let meta: ConversationItem = from_item(item)?;
                    metas.insert(meta.conversation_id, meta);
                }
            }
        }
        Ok(metas.into_iter().map(|(id, item)| (id, Conversation { item, roster: rosters.remove(&id) })).collect())
    }

    /// A user's membership of a conversation (their read position), if they are a member.
    pub async fn membership(&self, user: UserId, conversation: ConversationId) -> StoreResult<Option<MembershipItem>> {
        self.get("get membership", &keys::membership(user, conversation)).await
    }

    /// How many messages of `conversation` after `last_read` (all, when `None`) were sent by
    /// others than `user`, up to [`UNREAD_CAP`]: one Query of at most `UNREAD_CAP + 1` items
    /// (the user's own messages after their read position, rare since sending moves it, are
    /// read and not counted). Counted when read, so that a send writes no counter per member.
    pub async fn unread_count(
        &self,
        conversation: ConversationId,
        user: UserId,
        last_read: Option<MessageId>,
    ) -> StoreResult<u64> {
        // Just after the read message ("MSG#<id>" and then any suffix sorts above "MSG#<id>").
        let low = match last_read {
            Some(id) => format!("{}~", keys::message_sk(id)),
            None => keys::MESSAGE_PREFIX.to_string(),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :low AND :high")
            .filter_expression("sender_id <> :me")
            .expression_attribute_values(":pk", s(keys::conversation_pk(conversation)))
            .expression_attribute_values(":low", s(low))
            .expression_attribute_values(":high", s(keys::MESSAGES_END))
            .expression_attribute_values(":me", s(user.to_string()))
            .select(Select::Count)
            .limit(UNREAD_CAP as i32 + 1)
            .send()
            .await
            .map_err(|e| StoreError::sdk("count unread", e))?;
        Ok((out.count.max(0) as u64).min(UNREAD_CAP))
    }

    /// For creating a direct conversation, in one round trip: the partner's profile, and the
    /// conversation if it exists with the caller's membership of it.
    pub async fn partner_and_conversation(
        &self,
        partner: UserId,
        caller: UserId,
        conversation: ConversationId,
    ) -> StoreResult<(Option<UserItem>, Option<(Conversation, Option<MembershipItem>)>)> {
        let wanted = [keys::user(partner), keys::conversation(conversation), keys::membership(caller, conversation)];
        let wanted = wanted.iter().map(key_item).collect::<Result<_, _>>()?;
        let (mut profile, mut meta, mut membership) = (None, None, None);
        for item in self.batch_get("get user and conversation", wanted).await? {
            match super::sort_key(&item) {
                Some(keys::PROFILE_SK) => profile = Some(from_item::<UserItem>(item)?),
                Some(keys::META_SK) => meta = Some(from_item::<ConversationItem>(item)?),
                _ => membership = Some(from_item::<MembershipItem>(item)?),
            }
        }
        Ok((profile, meta.map(|item| (Conversation { item, roster: None }, membership))))
    }

    /// Creates the conversation: META (conditional, so a direct pair, whose id is derived from
    /// its members, is never created twice, also under a race), the roster of a group, and
    /// the memberships, in one transaction as far as they fit (a direct or AI conversation
    /// always does); a large group's other memberships follow in batches. Every human member
    /// is checked to exist in the transaction, except a group's invitees, which the caller
    /// read already (users are never deleted).
    pub async fn create_conversation(&self, conversation: Conversation) -> StoreResult<Created> {
        let mut actions: Vec<TransactWriteItem> =
            vec![self.put(to_item(&conversation.item)?, Some("attribute_not_exists(PK)"))?];
        if let Some(roster) = &conversation.roster {
            actions.push(self.put(to_item(roster)?, Some("attribute_not_exists(PK)"))?);
        }
        let humans = conversation.humans();
        let checked: Vec<UserId> = match conversation.kind() {
            ConversationKind::Group => humans.iter().take(1).copied().collect(),
            _ => humans.clone(),
        };
        let checks = actions.len()..actions.len() + checked.len();
        for user in &checked {
            actions.push(self.must_exist(&keys::user(*user))?);
        }
        let room = TRANSACTION_ACTIONS - actions.len() - usize::from(conversation.kind() == ConversationKind::Ai);
        let (now, later) = humans.split_at(humans.len().min(room));
        for user in now {
            actions.push(self.put(to_item(&conversation.membership_for(*user))?, None)?);
        }
        if conversation.kind() == ConversationKind::Ai {
            // Idempotent upsert: the agent's profile exists as soon as anyone talks to it.
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&UserItem::agent())?))
                .build()
                .map_err(StoreError::internal)?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact("create conversation", actions).await? {
            Transact::Committed => {}
            Transact::ConditionFailed(failed) if failed.iter().any(|i| checks.contains(i)) => {
                return Err(StoreError::NoSuchUser);
            }
            Transact::ConditionFailed(_) => {
                let existing = self
                    .conversation(conversation.id())
                    .await?
                    .ok_or_else(|| StoreError::internal("conversation vanished after a conflict"))?;
                return Ok(Created::Existing(existing));
            }
        }
        let rest: Vec<Item> =
            later.iter().map(|u| to_item(&conversation.membership_for(*u))).collect::<Result<_, _>>()?;
        self.put_all("add memberships", rest).await?;
        Ok(Created::New(conversation))
    }

    /// The user's conversations, most recent activity first, after `cursor`: a page of their
    /// memberships (GSI1), then those conversations (one round trip of BatchGetItems).
    pub async fn list_conversations(
        &self,
        user: UserId,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Listed<InboxEntry>> {
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
        let cursor_of = |e: &InboxEntry| {
            cursor::encode(&InboxCursor { c: e.membership.conversation_id, s: e.membership.index.sk.clone() })
        };
        let page: Listed<MembershipItem> =
            self.query_index("list conversations", keys::inbox_pk(user), after, limit, true, |_| String::new()).await?;
        let ids: Vec<ConversationId> = page.items.iter().map(|m| m.conversation_id).collect();
        // The page's conversations and its unread counts, all at once: one more round trip.
        let counts = page.items.iter().map(|m| self.unread_count(m.conversation_id, user, m.read_position()));
        let (found, counts) =
            futures::future::join(self.conversations(&ids), futures::future::try_join_all(counts)).await;
        let (mut found, counts) = (found?, counts?);
        let entries = page
            .items
            .into_iter()
            .zip(counts)
            .filter_map(|(membership, unread)| {
                let Some(conversation) = found.remove(&membership.conversation_id) else {
                    tracing::warn!(conversation_id = %membership.conversation_id, "membership without a conversation");
                    return None;
                };
                Some(InboxEntry { membership, conversation, unread })
            })
            .collect();
        Ok(Listed::new(entries, page.more, cursor_of))
    }
}
