//! The stored shapes. Each is a serde struct written and read with serde_dynamo: its key (and
//! GSI1 position) flattened from [`keys`], and an [`Entity`] type that every write records.

use crate::domain::{AGENT_EMAIL, AGENT_ID, AGENT_NAME, ConversationKind, MessageText, Role, Title};
use crate::domain::{ClientMessageId, ConnectionId, ConversationId, MessageId, UserId};
use crate::store::keys::{self, Gsi1, Key};
use crate::views::{MessageView, Profile, now_timestamp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The attribute naming an item's type: a Query over a partition that holds several kinds
/// tells them apart by it, not by trying to decode each.
pub const ENTITY_TYPE: &str = "entity_type";

/// A kind of stored item. [`super::Store`] writes `entity_type` = [`Entity::TYPE`] with every
/// item, and refuses to decode an item recorded as another kind.
pub trait Entity: Serialize + DeserializeOwned {
    const TYPE: &'static str;
}

macro_rules! entities {
    ($($item:ty => $name:literal),* $(,)?) => {
        $(impl Entity for $item {
            const TYPE: &'static str = $name;
        })*
    };
}

entities! {
    UserItem => "user",
    CredentialsItem => "credentials",
    ConversationItem => "conversation",
    RosterItem => "roster",
    MembershipItem => "membership",
    MessageItem => "message",
    IdempotencyItem => "idempotency",
    ConnectionItem => "connection",
    UserConnectionsItem => "user_connections",
    SubscriptionItem => "subscription",
    ReplyClaimItem => "reply_claim",
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserItem {
    #[serde(flatten)]
    pub key: Key,
    /// The users index; absent for the AI agent, which is not listed (it cannot be picked
    /// as a direct partner) but has a profile.
    #[serde(flatten)]
    pub index: Option<Gsi1>,
    pub user_id: UserId,
    /// Plain strings: they were checked when written, and a stored profile must stay readable
    /// when a later version's input rules grow stricter.
    pub email: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_picture: Option<String>,
    pub created_at: String,
}

impl UserItem {
    /// The AI agent's profile (stored with its first conversation; it exists from the start).
    pub fn agent() -> Self {
        Self {
            key: keys::user(AGENT_ID),
            index: None,
            user_id: AGENT_ID,
            email: AGENT_EMAIL.into(),
            name: AGENT_NAME.into(),
            profile_picture: None,
            created_at: "2025-01-01T00:00:00.000000Z".into(),
        }
    }

    pub fn profile(&self) -> Profile {
        Profile {
            user_id: self.user_id,
            email: self.email.clone(),
            name: self.name.clone(),
            profile_picture: self.profile_picture.clone(),
        }
    }
}

/// Claims an email address and holds the password hash, apart from the profile so that no
/// profile read can ever carry the hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialsItem {
    #[serde(flatten)]
    pub key: Key,
    pub user_id: UserId,
    pub password_hash: String,
}

/// A conversation's META item: what every member sees of it. Kept small: every send rewrites
/// it, so its size is part of every send's write cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationItem {
    #[serde(flatten)]
    pub key: Key,
    pub conversation_id: ConversationId,
    /// Absent on items written before groups: those are direct or AI (`is_ai`).
    #[serde(default)]
    pub kind: ConversationKind,
    pub is_ai: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Direct and AI conversations: their two participants, fixed for life. Empty for a group,
    /// whose members change and are kept in its [`RosterItem`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<UserId>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub last_message: Option<MessageView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_id: Option<MessageId>,
}

impl ConversationItem {
    pub fn new(id: ConversationId, kind: ConversationKind, title: Option<Title>, participants: Vec<UserId>) -> Self {
        let now = now_timestamp();
        Self {
            key: keys::conversation(id),
            conversation_id: id,
            kind,
            is_ai: kind == ConversationKind::Ai,
            title: title.map(String::from),
            participants: if kind == ConversationKind::Group { Vec::new() } else { participants },
            created_at: now.clone(),
            updated_at: now,
            last_message: None,
            last_message_id: None,
        }
    }

    pub fn kind(&self) -> ConversationKind {
        if self.is_ai { ConversationKind::Ai } else { self.kind }
    }
}

/// A group's members in join order (its creator first), apart from the META item so that a
/// send's write does not grow with the group: written only when members change, under an
/// optimistic `version` condition, so concurrent changes never exceed the limit or lose one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RosterItem {
    #[serde(flatten)]
    pub key: Key,
    pub conversation_id: ConversationId,
    pub members: Vec<Member>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: String,
}

/// A user's place in a conversation: its position in the user's inbox (GSI1, by activity) and
/// the user's read position. Summaries are not copied here: the inbox reads them from the
/// conversations' META items, so a send writes one summary whatever the number of members.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembershipItem {
    #[serde(flatten)]
    pub key: Key,
    #[serde(flatten)]
    pub index: Gsi1,
    pub conversation_id: ConversationId,
    /// Tells the inbox whether to read a roster too (items from before groups: direct or AI).
    #[serde(default)]
    pub kind: ConversationKind,
    /// The user's read position: ids are UUIDv7, so "after it" is "greater". Absent (never
    /// null) until set, so that conditions can compare it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_message_id: Option<MessageId>,
    /// Items written before read state copied the conversation's summary here: its last
    /// message counts as read, so that an upgrade does not mark every older conversation unread.
    #[serde(default, rename = "last_message", skip_serializing)]
    pub legacy_last_message: Option<MessageView>,
}

impl MembershipItem {
    /// The last message the user has read, if any.
    pub fn read_position(&self) -> Option<MessageId> {
        self.last_read_message_id.or_else(|| self.legacy_last_message.as_ref().map(|m| m.message_id))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageItem {
    #[serde(flatten)]
    pub key: Key,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub sender_id: UserId,
    pub message: String,
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<ClientMessageId>,
    /// A user's message in an AI conversation: the table's stream filter sends exactly these
    /// to the `ai-reply` function.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_reply: bool,
}

impl MessageItem {
    /// A new message from `sender`, not stored yet: its id (UUIDv7, time-ordered) and timestamp
    /// are taken now.
    pub fn draft(
        conversation: &ConversationItem,
        sender: UserId,
        text: MessageText,
        client_message_id: Option<ClientMessageId>,
    ) -> Self {
        let id = MessageId::generate();
        Self {
            key: keys::message(conversation.conversation_id, id),
            conversation_id: conversation.conversation_id,
            message_id: id,
            sender_id: sender,
            message: text.into(),
            timestamp: now_timestamp(),
            client_message_id,
            needs_reply: conversation.kind() == ConversationKind::Ai && sender != AGENT_ID,
        }
    }

    pub fn view(&self) -> MessageView {
        MessageView {
            message_id: self.message_id,
            sender_id: self.sender_id,
            message: self.message.clone(),
            timestamp: self.timestamp.clone(),
        }
    }
}

/// Remembers which message a `client_message_id` produced, and whether it reached the sockets:
/// a retry of a send whose answer was lost delivers the message if nobody did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdempotencyItem {
    #[serde(flatten)]
    pub key: Key,
    pub message_id: MessageId,
    pub message: String,
    pub timestamp: String,
    /// Set once the message was pushed to its conversation's sockets.
    #[serde(default)]
    pub delivered: bool,
    /// Epoch milliseconds until which one attempt holds the delivery: the storing attempt from
    /// its write on, or a retry that took it over after it lapsed.
    #[serde(default)]
    pub delivery_lease_ms: i64,
}

/// A live WebSocket connection and its owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionItem {
    #[serde(flatten)]
    pub key: Key,
    pub connection_id: ConnectionId,
    pub user_id: UserId,
    pub connected_at: String,
    pub expires_at: i64,
}

/// A user's open connections: every fan-out to the user reads this one item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserConnectionsItem {
    #[serde(flatten)]
    pub key: Key,
    pub user_id: UserId,
    /// A string set; DynamoDB drops the attribute when its last id is deleted.
    #[serde(default)]
    pub connection_ids: Vec<ConnectionId>,
}

/// What versions before per-user delivery registered per conversation, in the connection's
/// partition (its mirror, `CONV#<cid>`/`CONN#<id>`, is found from it): only deleted now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionItem {
    #[serde(flatten)]
    pub key: Key,
    pub conversation_id: ConversationId,
    pub expires_at: i64,
}

/// The claim on the AI agent's reply to one user message (`super::replies`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplyClaimItem {
    #[serde(flatten)]
    pub key: Key,
    pub conversation_id: ConversationId,
    pub reply_to: MessageId,
    /// `pending` while a reply is being generated, `done` once it is stored.
    pub status: String,
    /// Random per attempt: only the owner may store the reply or release the claim.
    pub owner: String,
    /// Epoch seconds after which a pending claim may be taken over (its invocation is gone).
    pub lease_until: i64,
    pub claimed_at: String,
    pub expires_at: i64,
    /// Once `done`: the stored reply, and whether it reached the sockets. The attempt that
    /// stored it holds its delivery until `delivery_lease_ms` (epoch ms); a redelivery of the
    /// trigger takes a lapsed, undelivered one over and pushes the reply.
    #[serde(default)]
    pub reply_id: Option<MessageId>,
    #[serde(default)]
    pub delivered: bool,
    #[serde(default)]
    pub delivery_lease_ms: i64,
}
