//! `GET /api/users/{user_id}`: one profile.

use chat_core::domain::{AGENT_ID, UserId};
use chat_core::http::{caller, json, path_param, serve};
use chat_core::store::items::UserItem;
use chat_core::{ApiError, ApiResult, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| get_user(app, req)).await
}

async fn get_user(app: &App, req: Request) -> ApiResult<Response<Body>> {
    caller(app.tokens()?, &req)?;
    let id = path_param(&req, "user_id", UserId::parse)?;
    let user = match app.store.user(id).await? {
        Some(user) => user,
        // The agent's profile is stored with its first conversation but exists from the start.
        None if id == AGENT_ID => UserItem::agent(),
        None => return Err(ApiError::not_found("user not found")),
    };
    json(StatusCode::OK, &user.profile())
}
