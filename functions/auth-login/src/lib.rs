//! `POST /api/auth/login`: exchanges email and password for a token.

use chat_core::auth::PasswordCheck;
use chat_core::domain::{Email, UserId};
use chat_core::http::{json, json_body, serve};
use chat_core::{ApiError, ApiResult, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Login {
    email: String,
    password: String,
}

#[derive(Serialize)]
struct LoggedIn {
    token: String,
    user_id: UserId,
    expires_in: u64,
}

/// One message for every failure, so a caller cannot tell which part was wrong.
const REFUSED: ApiError = ApiError::Unauthorized("invalid email or password");

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| login(app, req)).await
}

async fn login(app: &App, req: Request) -> ApiResult<Response<Body>> {
    let body: Login = json_body(&req)?;
    let credentials = match Email::parse(body.email) {
        Ok(email) => app.store.credentials(&email).await?,
        Err(_) => None,
    };
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.clone());
    // Unknown emails are checked against a dummy hash: the same work, the same answer.
    let check = app.passwords.verify(body.password, stored_hash).await?;
    match (check, credentials) {
        (PasswordCheck::Match, Some(credentials)) => {
            let tokens = app.tokens()?;
            let token = tokens.issue(credentials.user_id)?;
            json(StatusCode::OK, &LoggedIn { token, user_id: credentials.user_id, expires_in: tokens.ttl_seconds() })
        }
        _ => Err(REFUSED),
    }
}
