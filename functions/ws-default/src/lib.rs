//! WebSocket `$default`: every client frame, decoded once ([`ClientFrame`]) and answered by its
//! action. Answers (and refusals, as error frames) go back to the sending connection only; the
//! socket stays open either way.

mod client_frame;

pub use client_frame::{ClientFrame, OnConversation, SendMessage};

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use chat_core::realtime::frames;
use chat_core::ws::{self, WsEvent};
use chat_core::{ApiError, ApiResult, App, messaging};
use serde_json::Value;

pub async fn handler(app: &App, event: WsEvent) -> ApiGatewayProxyResponse {
    ws::serve(&event, || Box::pin(dispatch(app, &event))).await
}

async fn dispatch(app: &App, event: &WsEvent) -> ApiResult<Option<Value>> {
    let connection_id = ws::connection_id(event)?;
    match ClientFrame::decode(ws::frame(event)?)? {
        // No read: any open socket may ask, and a keep-alive should cost nothing.
        ClientFrame::Ping => Ok(Some(frames::pong())),
        ClientFrame::Whoami => {
            let connection = app.store.connection(&connection_id).await?.ok_or_else(unregistered)?;
            Ok(Some(frames::whoami(&connection_id, connection.user_id)))
        }
        ClientFrame::Subscribe(OnConversation { conversation_id }) => {
            messaging::subscribe(app, None, &connection_id, conversation_id).await?;
            Ok(Some(frames::subscribed(conversation_id)))
        }
        ClientFrame::SendMessage(SendMessage { conversation_id, message, client_message_id }) => {
            let (connection, conversation) =
                messaging::access(app, None, &connection_id, conversation_id, unregistered).await?;
            let (sent, _) =
                messaging::send_in(app, &conversation, connection.user_id, message, client_message_id).await?;
            let ack = frames::sent(conversation_id, sent.message_id, &sent.message, &sent.timestamp, client_message_id);
            Ok(Some(serde_json::to_value(ack).map_err(ApiError::internal)?))
        }
        ClientFrame::Typing(OnConversation { conversation_id }) => {
            let (connection, conversation) =
                messaging::access(app, None, &connection_id, conversation_id, unregistered).await?;
            let user = connection.user_id;
            if let Some(realtime) = &app.realtime {
                realtime
                    .broadcast(&app.store, &conversation, &frames::typing(conversation_id, user), Some(user))
                    .await?;
            }
            Ok(None)
        }
    }
}

/// A frame on a connection `$connect` never registered, or one since closed. (The `subscribe`
/// action answers 404 "connection not found" instead, as the HTTP connect route does.)
fn unregistered() -> ApiError {
    ApiError::Unauthorized("connection is not registered")
}
