//! Sending a message, shared by `POST /api/messages` and the WebSocket `sendMessage` action.

use crate::domain::{ClientMessageId, ConversationId, MessageText, UserId};
use crate::store::messages::Posted;
use crate::views::MessageView;
use crate::{ApiResult, App};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Sent {
    pub message_id: crate::domain::MessageId,
    pub message: String,
    pub timestamp: String,
}

impl From<MessageView> for Sent {
    fn from(view: MessageView) -> Self {
        Self { message_id: view.message_id, message: view.message, timestamp: view.timestamp }
    }
}

/// Checks membership, stores the message (at most once per `client_message_id`) and returns
/// the stored message. The caller has already been authenticated as `sender`.
pub async fn send_message(
    app: &App,
    sender: UserId,
    conversation_id: ConversationId,
    text: MessageText,
    client_message_id: Option<ClientMessageId>,
) -> ApiResult<Sent> {
    let conversation = app.store.conversation_for(conversation_id, sender).await?;
    match app.store.post_message(&conversation, sender, text, client_message_id).await? {
        Posted::Stored(message) => Ok(message.view().into()),
        Posted::Replayed(view) => Ok(view.into()),
    }
}
