//! What the API returns, in the contract's field names.

use crate::domain::{ConversationId, ConversationKind, MessageId, Role, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub profile_picture: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub message_id: MessageId,
    pub sender_id: UserId,
    pub message: String,
    pub timestamp: String,
}

/// A conversation as one member sees it: `unread_count` and `last_read_message_id` are theirs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationView {
    pub conversation_id: ConversationId,
    pub kind: ConversationKind,
    pub is_ai: bool,
    pub title: Option<String>,
    pub participants: Vec<UserId>,
    pub created_at: String,
    pub updated_at: String,
    pub last_message: Option<MessageView>,
    pub unread_count: u64,
    pub last_read_message_id: Option<MessageId>,
}

/// One member in `GET /api/conversations/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: UserId,
    pub name: String,
    pub profile_picture: Option<String>,
    pub role: Role,
    pub joined_at: String,
    pub last_read_message_id: Option<MessageId>,
}

/// RFC 3339, UTC, `Z`, fixed microsecond precision so timestamps also sort as strings.
pub fn now_timestamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
