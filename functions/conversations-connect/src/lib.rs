//! `POST /api/conversations/{conversation_id}/connect`: registers one of the caller's open
//! WebSocket connections for real-time delivery of the conversation.

use chat_core::domain::{ConnectionId, ConversationId};
use chat_core::http::{caller, json, json_body, path_param, serve};
use chat_core::{ApiResult, App, messaging};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Connect {
    connection_id: ConnectionId,
}

#[derive(Serialize)]
struct Connected {
    status: &'static str,
    conversation_id: ConversationId,
}

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| connect(app, req)).await
}

async fn connect(app: &App, req: Request) -> ApiResult<Response<Body>> {
    let user = caller(app.tokens()?, &req)?;
    let conversation_id = path_param(&req, "conversation_id", ConversationId::parse)?;
    let body: Connect = json_body(&req)?;
    messaging::subscribe(app, Some(user), &body.connection_id, conversation_id).await?;
    json(StatusCode::OK, &Connected { status: "WebSocket connected", conversation_id })
}
