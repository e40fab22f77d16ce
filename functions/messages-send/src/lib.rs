//! `POST /api/messages`: stores a message from the caller and pushes it to the conversation.

use chat_core::domain::{ClientMessageId, ConversationId, MessageText, UserId};
use chat_core::http::{caller, json, json_body, serve};
use chat_core::messaging;
use chat_core::{ApiError, ApiResult, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

#[derive(Deserialize)]
struct NewMessage {
    conversation_id: ConversationId,
    sender_id: UserId,
    message: MessageText,
    #[serde(default)]
    client_message_id: Option<ClientMessageId>,
}

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| send(app, req)).await
}

async fn send(app: &App, req: Request) -> ApiResult<Response<Body>> {
    let user = caller(app.tokens()?, &req)?;
    let body: NewMessage = json_body(&req)?;
    if body.sender_id != user {
        return Err(ApiError::Forbidden("sender_id must be the authenticated user".into()));
    }
    let (sent, timings) =
        messaging::send_message(app, user, body.conversation_id, body.message, body.client_message_id).await?;
    let mut response = json(StatusCode::OK, &sent)?;
    // Only in benchmark mode: the header counts the other members' sockets (presence).
    if app.config.server_timing
        && let Ok(value) = timings.server_timing().parse()
    {
        response.headers_mut().insert("server-timing", value);
    }
    Ok(response)
}
