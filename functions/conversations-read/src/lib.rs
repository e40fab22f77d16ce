//! `POST /api/conversations/{conversation_id}/read`: the caller has read every message up to
//! and including `message_id`. Only moves forward; when it moves, every member's connections
//! (the reader's own included) get a `read` frame.

use chat_core::domain::{ConversationId, MessageId, UserId};
use chat_core::http::{caller, json, json_body, path_param, serve};
use chat_core::realtime::frames;
use chat_core::store::conversations::Conversation;
use chat_core::store::items::MessageItem;
use chat_core::store::reads::Marked;
use chat_core::{ApiError, ApiResult, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

#[derive(Deserialize)]
struct Read {
    message_id: MessageId,
}

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| read(app, req)).await
}

async fn read(app: &App, req: Request) -> ApiResult<Response<Body>> {
    let user = caller(app.tokens()?, &req)?;
    let conversation_id = path_param(&req, "conversation_id", ConversationId::parse)?;
    let body: Read = json_body(&req)?;
    let (conversation, message) = app.store.read_target(conversation_id, user, body.message_id).await?;
    let message = message.ok_or_else(|| ApiError::bad_request("message_id: not a message of this conversation"))?;
    let marked = mark_and_announce(app, &conversation, user, &message).await?;
    json(StatusCode::OK, marked.state())
}

/// Moves the read position; the members' connections are read alongside the write (one round
/// trip), and the `read` frame is pushed only when the position moved. Delivery problems are
/// logged, never returned.
async fn mark_and_announce(
    app: &App,
    conversation: &Conversation,
    user: UserId,
    message: &MessageItem,
) -> ApiResult<Marked> {
    let Some(realtime) = &app.realtime else { return Ok(app.store.mark_read(conversation, user, message).await?) };
    let (marked, listeners) =
        tokio::join!(app.store.mark_read(conversation, user, message), app.store.listeners(conversation.humans()));
    let marked = marked?;
    if let Marked::Moved(_) = &marked {
        let id = conversation.id();
        let frame = frames::read(id, user, message.message_id);
        match listeners {
            Ok(listeners) => {
                if let Err(err) = realtime.deliver(&app.store, id, listeners, &frame, None).await {
                    tracing::warn!(conversation_id = %id, error = %err, "could not announce the read position");
                }
            }
            Err(err) => tracing::warn!(conversation_id = %id, error = %err, "could not list connections"),
        }
    }
    Ok(marked)
}
