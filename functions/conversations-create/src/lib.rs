//! `POST /api/conversations`: a direct conversation (one per pair of users) or a new AI one.

use chat_core::domain::{AGENT_ID, ConversationId, UserId};
use chat_core::http::{caller, json, json_body, serve};
use chat_core::store::conversations::Created;
use chat_core::store::items::ConversationItem;
use chat_core::{ApiError, ApiResult, App, messaging};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

#[derive(Deserialize)]
struct NewConversation {
    is_ai: bool,
    /// Parsed only for direct conversations: with `is_ai` it is ignored, whatever it holds.
    #[serde(default)]
    participant_id: Option<serde_json::Value>,
}

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| create(app, req)).await
}

async fn create(app: &App, req: Request) -> ApiResult<Response<Body>> {
    let user = caller(app.tokens()?, &req)?;
    let body: NewConversation = json_body(&req)?;
    let created = if body.is_ai {
        let conversation = ConversationItem::new(ConversationId::generate(), true, vec![user, AGENT_ID]);
        messaging::create_conversation(app, conversation).await?
    } else {
        let other = participant(body.participant_id, user)?;
        let id = ConversationId::for_pair(user, other);
        let (profile, existing) = app.store.user_and_conversation(other, id).await?;
        match (profile, existing) {
            (None, _) => return Err(ApiError::not_found("participant_id: no such user")),
            (Some(_), Some(existing)) => Created::Existing(existing),
            (Some(_), None) => {
                let conversation = ConversationItem::new(id, false, vec![user, other]);
                messaging::create_conversation(app, conversation).await?
            }
        }
    };
    match created {
        Created::New(c) => json(StatusCode::CREATED, &c.summary),
        Created::Existing(c) => json(StatusCode::OK, &c.summary),
    }
}

fn participant(raw: Option<serde_json::Value>, caller: UserId) -> ApiResult<UserId> {
    let raw = match raw {
        None | Some(serde_json::Value::Null) => {
            return Err(ApiError::bad_request("participant_id is required when is_ai is false"));
        }
        Some(raw) => raw,
    };
    let id = raw
        .as_str()
        .ok_or_else(|| ApiError::bad_request("participant_id: must be a string"))
        .and_then(|s| UserId::parse(s).map_err(|m| ApiError::bad_request(format!("participant_id: {m}"))))?;
    if id == caller {
        return Err(ApiError::bad_request("participant_id: must be another user than yourself"));
    }
    if id == AGENT_ID {
        return Err(ApiError::bad_request("participant_id: use is_ai to talk to the AI agent"));
    }
    Ok(id)
}
