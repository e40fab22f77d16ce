//! WebSocket `$default`: every client frame, routed on its `action`. Answers (and refusals, as
//! error frames) go back to the sending connection only; the socket stays open either way.

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use chat_core::domain::{ClientMessageId, ConversationId, MessageText};
use chat_core::http::parse_json;
use chat_core::realtime::frames;
use chat_core::store::items::ConnectionItem;
use chat_core::ws::{self, WsEvent};
use chat_core::{ApiError, ApiResult, App, messaging};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Envelope {
    action: String,
}

#[derive(Deserialize)]
struct Subscribe {
    conversation_id: ConversationId,
}

#[derive(Deserialize)]
struct SendMessage {
    conversation_id: ConversationId,
    message: MessageText,
    #[serde(default)]
    client_message_id: Option<ClientMessageId>,
}

pub async fn handler(app: &App, event: WsEvent) -> ApiGatewayProxyResponse {
    ws::serve(&event, || Box::pin(dispatch(app, &event))).await
}

async fn dispatch(app: &App, event: &WsEvent) -> ApiResult<Option<Value>> {
    let connection_id = ws::connection_id(event)?;
    let frame = ws::body(event)?;
    let Envelope { action } = parse_json(&frame).map_err(|err| match err {
        ApiError::BadRequest(m) if m.starts_with("request body") => {
            ApiError::bad_request(m.replace("request body", "frame"))
        }
        other => other,
    })?;
    match action.as_str() {
        "whoami" => {
            let connection = open_connection(app, event).await?;
            Ok(Some(frames::whoami(&connection_id, connection.user_id)))
        }
        "subscribe" => {
            let Subscribe { conversation_id } = parse_json(&frame)?;
            messaging::subscribe(app, None, &connection_id, conversation_id).await?;
            Ok(Some(frames::subscribed(conversation_id)))
        }
        "sendMessage" => {
            let body: SendMessage = parse_json(&frame)?;
            let (connection, conversation) =
                app.store.connection_and_conversation(&connection_id, body.conversation_id).await?;
            let user = connection.ok_or(ApiError::Unauthorized("connection is not registered"))?.user_id;
            let conversation = conversation
                .filter(|c| c.has_participant(user))
                .ok_or_else(|| ApiError::not_found("conversation not found"))?;
            let (sent, _) = messaging::send_in(app, &conversation, user, body.message, body.client_message_id).await?;
            let mut ack = json!({"type": "sent", "conversation_id": body.conversation_id});
            ack["message_id"] = json!(sent.message_id);
            ack["message"] = json!(sent.message);
            ack["timestamp"] = json!(sent.timestamp);
            if let Some(client) = body.client_message_id {
                ack["client_message_id"] = json!(client);
            }
            Ok(Some(ack))
        }
        "typing" => {
            let Subscribe { conversation_id } = parse_json(&frame)?;
            let (connection, conversation) =
                app.store.connection_and_conversation(&connection_id, conversation_id).await?;
            let user = connection.ok_or(ApiError::Unauthorized("connection is not registered"))?.user_id;
            if !conversation.is_some_and(|c| c.has_participant(user)) {
                return Err(ApiError::not_found("conversation not found"));
            }
            if let Some(realtime) = &app.realtime {
                realtime
                    .broadcast(&app.store, conversation_id, &frames::typing(conversation_id, user), Some(user))
                    .await?;
            }
            Ok(None)
        }
        other => Err(ApiError::bad_request(format!(
            "action: unknown action {other:?} (expected whoami, subscribe, sendMessage or typing)"
        ))),
    }
}

async fn open_connection(app: &App, event: &WsEvent) -> ApiResult<ConnectionItem> {
    let id = ws::connection_id(event)?;
    app.store.connection(&id).await?.ok_or(ApiError::Unauthorized("connection is not registered"))
}
