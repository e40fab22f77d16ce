//! WebSocket `$connect`: the handshake. `?token=<JWT>` authenticates it (browsers cannot set
//! headers); the connection then gets every frame of every conversation of its user's. The
//! optional `&conversation_id=` is checked (the handshake fails without access to it), as the
//! first edition did. A non-200 answer makes API Gateway refuse the handshake with that status.

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use chat_core::domain::ConversationId;
use chat_core::ws::{self, WsEvent};
use chat_core::{ApiError, ApiResult, App};
use serde_json::Value;

pub async fn handler(app: &App, event: WsEvent) -> ApiGatewayProxyResponse {
    ws::serve(&event, || connect(app, &event)).await
}

async fn connect(app: &App, event: &WsEvent) -> ApiResult<Option<Value>> {
    let connection_id = ws::connection_id(event)?;
    let token = ws::query(event, "token").ok_or(ApiError::Unauthorized("missing token"))?;
    let user = app.tokens()?.verify(token)?;
    if let Some(raw) = ws::query(event, "conversation_id") {
        let id = ConversationId::parse(raw).map_err(|m| ApiError::bad_request(format!("conversation_id: {m}")))?;
        app.store.conversation_for(id, user).await?;
    }
    // No frame may be posted from here: the socket is not open until this returns.
    app.store.open_connection(&connection_id, user).await?;
    Ok(None)
}
