//! `POST /api/conversations/{conversation_id}/members` `{"user_ids": [...]}`: any member adds
//! users to a group; those already members are ignored. Answers the conversation as the
//! caller sees it. Pushes `conversation_created` to the added users' connections, then
//! `members_changed` to every member's.

use chat_core::domain::{ConversationId, ConversationKind, UserId};
use chat_core::http::{caller, json, json_body, path_param, serve};
use chat_core::realtime::frames;
use chat_core::store::connections::Listener;
use chat_core::store::members::{Changed, Refusal};
use chat_core::{ApiError, ApiResult, App, groups};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct AddMembers {
    #[serde(default)]
    user_ids: Option<Value>,
}

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| add(app, req)).await
}

async fn add(app: &App, req: Request) -> ApiResult<Response<Body>> {
    let user = caller(app.tokens()?, &req)?;
    let id = path_param(&req, "conversation_id", ConversationId::parse)?;
    let body: AddMembers = json_body(&req)?;
    // The membership check and the invitees' lookup in one round trip; a non-member learns
    // nothing from the order of refusals (404 first).
    let (conversation, invitees, membership) = tokio::join!(
        app.store.conversation_for(id, user),
        groups::invitees(app, "user_ids", body.user_ids, user),
        app.store.membership(user, id)
    );
    let conversation = conversation?;
    let membership = membership?;
    if conversation.kind() != ConversationKind::Group {
        return Err(Refusal::NotGroup.into());
    }
    let invitees = invitees?;
    // Who may hear of it, read alongside the write; filtered to the final members after it.
    let audience: Vec<UserId> = conversation.humans().into_iter().chain(invitees.iter().copied()).collect();
    let listening = async {
        match &app.realtime {
            Some(_) => Some(app.store.listeners(audience).await),
            None => None,
        }
    };
    let last_read = membership.as_ref().and_then(|m| m.read_position());
    let (changed, listeners, unread) = tokio::join!(
        app.store.add_members(conversation, user, &invitees),
        listening,
        app.store.unread_count(id, user, last_read)
    );
    let changed = changed?.map_err(ApiError::from)?;
    if !changed.added.is_empty() {
        announce(app, &changed, user, listeners).await;
    }
    json(StatusCode::OK, &changed.after.view(membership.as_ref(), unread?))
}

/// Delivery problems are logged, never returned: the change is stored.
async fn announce(
    app: &App,
    changed: &Changed,
    by: UserId,
    listeners: Option<Result<Vec<Listener>, chat_core::store::StoreError>>,
) {
    let (Some(realtime), Some(listeners)) = (&app.realtime, listeners) else { return };
    let id = changed.after.id();
    let listeners = match listeners {
        Ok(listeners) => listeners,
        Err(err) => return tracing::warn!(conversation_id = %id, error = %err, "could not list connections"),
    };
    let members = changed.after.humans();
    let (newcomers, members): (Vec<Listener>, Vec<Listener>) = listeners
        .into_iter()
        .filter(|l| members.contains(&l.user_id))
        .partition(|l| changed.added.contains(&l.user_id));
    // A newcomer reads the whole history: everything so far is unread for them (counted once,
    // for the first of them: a newcomer sent none of it, unless added back after leaving).
    let unread = match app.store.unread_count(id, changed.added[0], None).await {
        Ok(unread) => unread,
        Err(err) => return tracing::warn!(conversation_id = %id, error = %err, "could not count the history"),
    };
    let view = changed.after.view(Some(&changed.after.membership_for(changed.added[0])), unread);
    let created = frames::conversation_created(&view);
    if let Err(err) = realtime.deliver(&app.store, id, newcomers.clone(), &created, None).await {
        tracing::warn!(conversation_id = %id, error = %err, "could not announce the conversation");
    }
    let frame = frames::members_changed(id, &changed.added, &changed.removed, by);
    let everyone = members.into_iter().chain(newcomers).collect();
    if let Err(err) = realtime.deliver(&app.store, id, everyone, &frame, None).await {
        tracing::warn!(conversation_id = %id, error = %err, "could not announce the change");
    }
}
