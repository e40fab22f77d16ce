//! `POST /api/auth/register`: creates an account and returns it with a token.

use chat_core::auth::PasswordCheck;
use chat_core::domain::{DisplayName, Email, Password, PictureUrl, UserId};
use chat_core::http::{json, json_body, serve};
use chat_core::store::StoreError;
use chat_core::store::items::UserItem;
use chat_core::store::users::NewUser;
use chat_core::{ApiResult, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Deserialize)]
struct Registration {
    email: Email,
    password: Password,
    name: DisplayName,
    #[serde(default)]
    profile_picture: Option<PictureUrl>,
}

/// How long after a registration the same registration, retried, answers 201 with the account
/// it created (docs/failures.md).
pub const RETRY_WINDOW: Duration = Duration::from_secs(15 * 60);

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
        return Err(StoreError::EmailTaken.into());
    }
    let retry = body.clone();
    let password_hash = app.passwords.hash(body.password).await?;
    let created = app
        .store
        .create_user(NewUser {
            email: body.email,
            name: body.name,
            profile_picture: body.profile_picture,
            password_hash,
        })
        .await;
    let user = match created {
        Err(StoreError::EmailTaken) => match retried(app, retry).await? {
            Some(user) => user,
            None => return Err(StoreError::EmailTaken.into()),
        },
        other => other?,
    };
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

/// A registration refused because its email is taken may be this same registration, retried
/// after its first attempt committed and its answer was lost (a 503 or a timeout: the outcome
/// was unknown). It is, and answers 201 with that account, when the account is less than
/// [`RETRY_WINDOW`] old, has the same name and picture, and the password verifies against its
/// hash: whoever sends that could log in to the account anyway, so nothing is disclosed that a
/// login would not disclose. Anything else stays the 409 of a taken email. The cheap checks come
/// first, so a plain collision costs no extra password verification.
async fn retried(app: &App, retry: Registration) -> ApiResult<Option<UserItem>> {
    let Some(credentials) = app.store.credentials(&retry.email).await? else { return Ok(None) };
    let Some(user) = app.store.user(credentials.user_id).await? else { return Ok(None) };
    let same_profile = user.name == retry.name.as_ref()
        && user.profile_picture.as_deref() == retry.profile_picture.as_ref().map(AsRef::as_ref);
    if !same_profile || !user.created_within(RETRY_WINDOW) {
        return Ok(None);
    }
    let check = app.passwords.verify(retry.password.expose().to_string(), Some(credentials.password_hash)).await?;
    Ok((check == PasswordCheck::Match).then_some(user))
}
