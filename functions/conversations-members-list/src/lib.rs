//! `GET /api/conversations/{conversation_id}/members`: a conversation's members in join order,
//! with their profiles and read positions. Two round trips: the conversation (membership
//! check), then profiles and memberships together.

use chat_core::domain::ConversationId;
use chat_core::http::{caller, json, path_param, serve};
use chat_core::views::MemberView;
use chat_core::{ApiResult, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| list(app, req)).await
}

async fn list(app: &App, req: Request) -> ApiResult<Response<Body>> {
    let user = caller(app.tokens()?, &req)?;
    let id = path_param(&req, "conversation_id", ConversationId::parse)?;
    let conversation = app.store.conversation_for(id, user).await?;
    let mut details = app.store.member_details(&conversation).await?;
    let members: Vec<MemberView> = conversation
        .members()
        .into_iter()
        .filter_map(|member| {
            // Users are never deleted: a missing profile is a broken item, logged, not a 500 for everyone.
            let Some(profile) = details.profiles.remove(&member.user_id) else {
                tracing::warn!(conversation_id = %id, user_id = %member.user_id, "member without a profile");
                return None;
            };
            let read = details.memberships.remove(&member.user_id);
            Some(MemberView {
                user_id: member.user_id,
                name: profile.name,
                profile_picture: profile.profile_picture,
                role: member.role,
                joined_at: member.joined_at,
                last_read_message_id: read.and_then(|m| m.read_position()),
            })
        })
        .collect();
    json(StatusCode::OK, &members)
}
