//! WebSocket `$disconnect`: removes the connection and its subscriptions. Best effort on
//! API Gateway's side (it can be missed), hence the TTL on every connection item.

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use chat_core::ws::{self, WsEvent};
use chat_core::{ApiResult, App};
use serde_json::Value;

pub async fn handler(app: &App, event: WsEvent) -> ApiGatewayProxyResponse {
    ws::serve(&event, || disconnect(app, &event)).await
}

async fn disconnect(app: &App, event: &WsEvent) -> ApiResult<Option<Value>> {
    let connection_id = ws::connection_id(event)?;
    app.store.close_connection(&connection_id, None).await?;
    Ok(None)
}
