//! `POST /api/auth/register`: creates an account and returns it with a token.

use chat_core::domain::{DisplayName, Email, Password, PictureUrl, UserId};
use chat_core::http::{json, json_body, serve};
use chat_core::store::users::{EMAIL_TAKEN, NewUser};
use chat_core::{ApiError, ApiResult, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Registration {
    email: Email,
    password: Password,
    name: DisplayName,
    #[serde(default)]
    profile_picture: Option<PictureUrl>,
}

#[derive(Serialize)]
struct Registered {
    user_id: UserId,
    email: String,
    name: String,
    profile_picture: Option<String>,
    token: String,
}

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| register(app, req)).await
}

async fn register(app: &App, req: Request) -> ApiResult<Response<Body>> {
    let tokens = app.tokens()?;
    let body: Registration = json_body(&req)?;
    // The agent's address has no claim item to collide with: it is refused here, with the
    // answer a taken address gets.
    if body.email.is_reserved() {
        return Err(ApiError::Conflict(EMAIL_TAKEN.into()));
    }
    let password_hash = app.passwords.hash(body.password).await?;
    let user = app
        .store
        .create_user(NewUser {
            email: body.email,
            name: body.name,
            profile_picture: body.profile_picture,
            password_hash,
        })
        .await?;
    let token = tokens.issue(user.user_id)?;
    let profile = user.profile();
    json(
        StatusCode::CREATED,
        &Registered {
            user_id: profile.user_id,
            email: profile.email,
            name: profile.name,
            profile_picture: profile.profile_picture,
            token,
        },
    )
}
