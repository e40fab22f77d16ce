//! `DELETE /api/conversations/{conversation_id}/members/{user_id}`: a member leaves (their own
//! id) or an admin removes another. Pushes `members_changed` to every member before and after
//! the change (the removed included, once). 204, no body.

use chat_core::domain::{ConversationId, UserId};
use chat_core::http::{caller, path_param, serve};
use chat_core::realtime::frames;
use chat_core::store::StoreError;
use chat_core::store::connections::Listener;
use chat_core::store::members::Changed;
use chat_core::{ApiError, ApiResult, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| remove(app, req)).await
}

async fn remove(app: &App, req: Request) -> ApiResult<Response<Body>> {
    let user = caller(app.tokens()?, &req)?;
    let id = path_param(&req, "conversation_id", ConversationId::parse)?;
    let target = path_param(&req, "user_id", UserId::parse)?;
    let conversation = app.store.conversation_for(id, user).await?;
    // Everyone who may hear of it, read alongside the write.
    let audience = conversation.humans();
    let listening = async {
        match &app.realtime {
            Some(_) => Some(app.store.listeners(audience).await),
            None => None,
        }
    };
    let (changed, listeners) = tokio::join!(app.store.remove_member(conversation, user, target), listening);
    let changed = changed?.map_err(ApiError::from)?;
    announce(app, &changed, user, listeners).await;
    Response::builder().status(StatusCode::NO_CONTENT).body(Body::Empty).map_err(ApiError::internal)
}

/// Delivery problems are logged, never returned: the change is stored.
async fn announce(app: &App, changed: &Changed, by: UserId, listeners: Option<Result<Vec<Listener>, StoreError>>) {
    let (Some(realtime), Some(listeners)) = (&app.realtime, listeners) else { return };
    let id = changed.after.id();
    let listeners = match listeners {
        Ok(listeners) => listeners,
        Err(err) => return tracing::warn!(conversation_id = %id, error = %err, "could not list connections"),
    };
    // Members before the change, less any a concurrent change removed first.
    let (before, after) = (changed.before.humans(), changed.after.humans());
    let audience: Vec<Listener> = listeners
        .into_iter()
        .filter(|l| after.contains(&l.user_id) || (changed.removed.contains(&l.user_id) && before.contains(&l.user_id)))
        .collect();
    let frame = frames::members_changed(id, &changed.added, &changed.removed, by);
    if let Err(err) = realtime.deliver(&app.store, id, audience, &frame, None).await {
        tracing::warn!(conversation_id = %id, error = %err, "could not announce the change");
    }
}
