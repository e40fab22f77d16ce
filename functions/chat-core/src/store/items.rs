//! The stored shapes. Each is a serde struct written and read with serde_dynamo.

use crate::domain::MessageText;
use crate::domain::{ClientMessageId, ConversationId, MessageId, UserId};
use crate::store::keys;
use crate::views::{ConversationView, MessageView, Profile, now_timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    /// The users index; absent for the AI agent, which is not listed (it cannot be picked
    /// as a direct partner) but has a profile.
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
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
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub user_id: UserId,
    pub password_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub conversation_id: ConversationId,
    pub is_ai: bool,
    pub participants: Vec<UserId>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<MessageView>,
    /// Mirrors `last_message.message_id` at the top level for the update condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_id: Option<MessageId>,
}

impl ConversationItem {
    pub fn view(&self) -> ConversationView {
        ConversationView {
            conversation_id: self.conversation_id,
            is_ai: self.is_ai,
            participants: self.participants.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            last_message: self.last_message.clone(),
        }
    }

    pub fn has_participant(&self, user: UserId) -> bool {
        self.participants.contains(&user)
    }
}

/// One user's copy of a conversation summary; GSI1 orders a user's copies by activity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembershipItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    pub conversation_id: ConversationId,
    pub is_ai: bool,
    pub participants: Vec<UserId>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<MessageView>,
}

impl MembershipItem {
    pub fn view(&self) -> ConversationView {
        ConversationView {
            conversation_id: self.conversation_id,
            is_ai: self.is_ai,
            participants: self.participants.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            last_message: self.last_message.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
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
        let key = keys::message(conversation.conversation_id, id);
        Self {
            pk: key.pk,
            sk: key.sk,
            conversation_id: conversation.conversation_id,
            message_id: id,
            sender_id: sender,
            message: text.into(),
            timestamp: now_timestamp(),
            client_message_id,
            needs_reply: conversation.is_ai && sender != crate::agent::AGENT_ID,
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
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
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
