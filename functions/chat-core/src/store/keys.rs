//! Every partition and sort key the table uses is built here and nowhere else.
//! The access patterns they serve are listed in `docs/data-model.md`.

use crate::domain::{ClientMessageId, ConnectionId, ConversationId, Email, MessageId, UserId};
use serde::{Deserialize, Serialize};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
/// Epoch seconds; DynamoDB TTL deletes the item some time after.
pub const TTL: &str = "expires_at";

/// A primary key. Every item type flattens it (`#[serde(flatten)] key: Key`), so `PK`/`SK` are
/// spelled here once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
}

/// An item's place in GSI1, flattened into the item types the index lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gsi1 {
    #[serde(rename = "GSI1PK")]
    pub pk: String,
    #[serde(rename = "GSI1SK")]
    pub sk: String,
}

/// An item's position in GSI1 (table key and index key), as `ExclusiveStartKey` wants it.
#[derive(Debug, Clone, Serialize)]
pub struct IndexKey {
    #[serde(flatten)]
    pub key: Key,
    #[serde(flatten)]
    pub index: Gsi1,
}

impl IndexKey {
    pub fn new(key: Key, gsi1pk: String, gsi1sk: String) -> Self {
        Self { key, index: Gsi1 { pk: gsi1pk, sk: gsi1sk } }
    }
}

fn key(pk: String, sk: impl Into<String>) -> Key {
    Key { pk, sk: sk.into() }
}

pub const PROFILE_SK: &str = "PROFILE";
pub const META_SK: &str = "META";

pub fn user(id: UserId) -> Key {
    key(format!("USER#{id}"), PROFILE_SK)
}

/// The email's claim: unique per address, holds the credentials.
pub fn email(email: &Email) -> Key {
    key(format!("EMAIL#{email}"), "EMAIL")
}

pub fn conversation(id: ConversationId) -> Key {
    key(format!("CONV#{id}"), META_SK)
}

pub const ROSTER_SK: &str = "MEMBERS";

/// A group's members (its roster).
pub fn roster(id: ConversationId) -> Key {
    key(conversation_pk(id), ROSTER_SK)
}

pub fn conversation_pk(id: ConversationId) -> String {
    format!("CONV#{id}")
}

/// A user's membership of a conversation (read position), indexed by activity in GSI1.
pub fn membership(user: UserId, conversation: ConversationId) -> Key {
    key(format!("USER#{user}"), format!("CONV#{conversation}"))
}

pub const MESSAGE_PREFIX: &str = "MSG#";
/// Above every message sort key ('$' is the character after '#').
pub const MESSAGES_END: &str = "MSG$";

pub fn message(conversation: ConversationId, id: MessageId) -> Key {
    key(conversation_pk(conversation), message_sk(id))
}

pub fn message_sk(id: MessageId) -> String {
    format!("{MESSAGE_PREFIX}{id}")
}

pub fn idempotency(conversation: ConversationId, sender: UserId, client: ClientMessageId) -> Key {
    key(conversation_pk(conversation), format!("IDEM#{sender}#{client}"))
}

/// GSI1 partition holding every user profile, sorted by id (v7: by registration time).
pub const USERS_INDEX_PK: &str = "USERS";

pub fn users_index_sk(id: UserId) -> String {
    format!("USER#{id}")
}

/// GSI1 partition of one user's conversations, sorted by last activity.
pub fn inbox_pk(user: UserId) -> String {
    format!("INBOX#{user}")
}

/// Sorts by activity, then creation time, then id: "most recent first, ties newer first".
pub fn inbox_sk(updated_at: &str, created_at: &str, id: ConversationId) -> String {
    format!("{updated_at}#{created_at}#{id}")
}

pub const CONNECTION_SK: &str = "CONNECTION";
pub const SUBSCRIPTION_PREFIX: &str = "SUB#";
pub const SUBSCRIBER_PREFIX: &str = "CONN#";

/// A live WebSocket connection and its owner.
pub fn connection(connection_id: &ConnectionId) -> Key {
    key(format!("CONN#{connection_id}"), CONNECTION_SK)
}

pub fn connection_pk(connection_id: &ConnectionId) -> String {
    format!("CONN#{connection_id}")
}

/// A user's open connections (one string set), read by every fan-out to the user.
pub fn user_connections(user: UserId) -> Key {
    key(format!("USER#{user}"), "CONNECTIONS")
}

/// Versions before per-user delivery registered a connection on each conversation here...
pub fn subscriber(conversation: ConversationId, connection_id: &ConnectionId) -> Key {
    key(conversation_pk(conversation), format!("{SUBSCRIBER_PREFIX}{connection_id}"))
}

/// ...and mirrored it in the connection's partition, where disconnect still finds and deletes both.
pub fn subscription(connection_id: &ConnectionId, conversation: ConversationId) -> Key {
    key(connection_pk(connection_id), format!("{SUBSCRIPTION_PREFIX}{conversation}"))
}

/// The reply to one user message: its existence makes replies at-most-once.
pub fn ai_reply(conversation: ConversationId, answered: MessageId) -> Key {
    key(conversation_pk(conversation), format!("REPLY#{answered}"))
}
