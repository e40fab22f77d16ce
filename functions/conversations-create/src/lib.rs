//! `POST /api/conversations`: a direct conversation (one per pair of users), a new AI one, or
//! a new group.

use chat_core::domain::{AGENT_ID, ConversationId, ConversationKind, Title, UserId};
use chat_core::http::{caller, json, json_body, serve};
use chat_core::store::conversations::{Conversation, Created};
use chat_core::{ApiError, ApiResult, App, groups, messaging};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct NewConversation {
    is_ai: bool,
    /// Parsed only for direct conversations: with `is_ai` it is ignored, whatever it holds.
    #[serde(default)]
    participant_id: Option<Value>,
    /// A group's other members.
    #[serde(default)]
    participant_ids: Option<Value>,
    /// A group's title.
    #[serde(default)]
    title: Option<Value>,
}

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| create(app, req)).await
}

async fn create(app: &App, req: Request) -> ApiResult<Response<Body>> {
    let user = caller(app.tokens()?, &req)?;
    let body: NewConversation = json_body(&req)?;
    let group = present(&body.participant_ids);
    if group && present(&body.participant_id) {
        return Err(ApiError::bad_request("use either participant_id or participant_ids, not both"));
    }
    if group && body.is_ai {
        return Err(ApiError::bad_request("participant_ids: an AI conversation has no other members"));
    }
    if !group && present(&body.title) {
        return Err(ApiError::bad_request("title: only a group has a title"));
    }
    let created = if group {
        let title = title(body.title)?;
        let others = groups::invitees(app, "participant_ids", body.participant_ids, user).await?;
        let conversation = Conversation::group(ConversationId::generate(), user, &others, title);
        messaging::create_conversation(app, conversation).await?
    } else if body.is_ai {
        let conversation = Conversation::pair(ConversationId::generate(), ConversationKind::Ai, [user, AGENT_ID]);
        messaging::create_conversation(app, conversation).await?
    } else {
        let other = participant(body.participant_id, user)?;
        let id = ConversationId::for_pair(user, other);
        let (profile, existing) = app.store.partner_and_conversation(other, user, id).await?;
        match (profile, existing) {
            (None, _) => return Err(ApiError::not_found("participant_id: no such user")),
            // The caller's read position in it comes with it.
            (Some(_), Some((existing, membership))) => {
                let last_read = membership.as_ref().and_then(|m| m.read_position());
                let unread = app.store.unread_count(id, user, last_read).await?;
                return json(StatusCode::OK, &existing.view(membership.as_ref(), unread));
            }
            (Some(_), None) => {
                let conversation = Conversation::pair(id, ConversationKind::Direct, [user, other]);
                messaging::create_conversation(app, conversation).await?
            }
        }
    };
    match created {
        Created::New(c) => json(StatusCode::CREATED, &c.view(None, 0)),
        // Lost a race to create the same pair: nothing of it can have been sent yet.
        Created::Existing(c) => json(StatusCode::OK, &c.view(None, 0)),
    }
}

fn present(value: &Option<Value>) -> bool {
    !matches!(value, None | Some(Value::Null))
}

fn title(raw: Option<Value>) -> ApiResult<Option<Title>> {
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Title::parse(s).map(Some).map_err(|m| ApiError::bad_request(format!("title: {m}"))),
        Some(_) => Err(ApiError::bad_request("title: must be a string")),
    }
}

fn participant(raw: Option<Value>, caller: UserId) -> ApiResult<UserId> {
    let raw = match raw {
        None | Some(Value::Null) => {
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
