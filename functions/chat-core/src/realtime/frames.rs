//! The frames the WebSocket API sends (see CONTRACT.md, "WebSocket API").

use crate::domain::{ClientMessageId, ConnectionId, ConversationId, MessageId, UserId};
use crate::error::ApiError;
use crate::views::{ConversationView, MessageView};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Serialize)]
pub struct MessageFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub conversation_id: ConversationId,
    #[serde(flatten)]
    pub message: &'a MessageView,
}

pub fn message(conversation_id: ConversationId, message: &MessageView) -> MessageFrame<'_> {
    MessageFrame { kind: "message", conversation_id, message }
}

pub fn typing(conversation_id: ConversationId, user_id: UserId) -> Value {
    json!({"type": "typing", "conversation_id": conversation_id, "user_id": user_id})
}

pub fn ai_delta(conversation_id: ConversationId, reply_to: MessageId, delta: &str) -> Value {
    json!({"type": "ai_delta", "conversation_id": conversation_id, "reply_to": reply_to, "delta": delta})
}

/// Sent to every member's connections when a conversation is created.
pub fn conversation_created(conversation: &ConversationView) -> Value {
    json!({"type": "conversation_created", "conversation": conversation})
}

/// Sent to every member's connections (the reader's own included) when a member's read
/// position moves.
pub fn read(conversation_id: ConversationId, user_id: UserId, message_id: MessageId) -> Value {
    json!({"type": "read", "conversation_id": conversation_id, "user_id": user_id, "message_id": message_id})
}

/// Sent to every member before and after a change of a group's members (the removed included).
pub fn members_changed(conversation_id: ConversationId, added: &[UserId], removed: &[UserId], by: UserId) -> Value {
    json!({"type": "members_changed", "conversation_id": conversation_id, "added": added, "removed": removed, "by": by})
}

pub fn pong() -> Value {
    json!({"type": "pong"})
}

pub fn whoami(connection_id: &ConnectionId, user_id: UserId) -> Value {
    json!({"type": "whoami", "connection_id": connection_id, "user_id": user_id})
}

pub fn subscribed(conversation_id: ConversationId) -> Value {
    json!({"type": "subscribed", "conversation_id": conversation_id})
}

/// The `sent` ack of a `sendMessage` frame: the stored message, with the client's id for it
/// when the frame gave one.
#[derive(Debug, Serialize)]
pub struct SentFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub message: &'a str,
    pub timestamp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<ClientMessageId>,
}

pub fn sent<'a>(
    conversation_id: ConversationId,
    message_id: MessageId,
    message: &'a str,
    timestamp: &'a str,
    client_message_id: Option<ClientMessageId>,
) -> SentFrame<'a> {
    SentFrame { kind: "sent", conversation_id, message_id, message, timestamp, client_message_id }
}

/// The error envelope as a frame: `{"type":"error","error":{"message","status"}}`.
pub fn error(err: &ApiError) -> Value {
    let mut body = err.body();
    body["type"] = json!("error");
    body
}
