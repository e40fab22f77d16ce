//! The stored shapes. Each is a serde struct written and read with serde_dynamo: its key (and
//! GSI1 position) flattened from [`keys`], and an [`Entity`] type that every write records.

use crate::domain::{AGENT_EMAIL, AGENT_ID, AGENT_NAME, MessageText};
use crate::domain::{ClientMessageId, ConnectionId, ConversationId, MessageId, UserId};
use crate::store::keys::{self, Gsi1, Key};
use crate::views::{ConversationView, MessageView, Profile, now_timestamp};
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

/// A conversation: its summary (what the API shows, `last_message` included) and the id of
/// that last message at the top level, for the update condition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationItem {
    #[serde(flatten)]
    pub key: Key,
    #[serde(flatten)]
    pub summary: ConversationView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_id: Option<MessageId>,
}

impl ConversationItem {
    pub fn id(&self) -> ConversationId {
        self.summary.conversation_id
    }

    pub fn has_participant(&self, user: UserId) -> bool {
        self.summary.participants.contains(&user)
    }
}

/// One user's copy of a conversation's summary; GSI1 orders a user's copies by activity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembershipItem {
    #[serde(flatten)]
    pub key: Key,
    #[serde(flatten)]
    pub index: Gsi1,
    #[serde(flatten)]
    pub summary: ConversationView,
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
            key: keys::message(conversation.id(), id),
            conversation_id: conversation.id(),
            message_id: id,
            sender_id: sender,
            message: text.into(),
            timestamp: now_timestamp(),
            client_message_id,
            needs_reply: conversation.summary.is_ai && sender != AGENT_ID,
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
