//! `POST /api/auth/login` (events/auth-login).

use crate::common::{assert_fields, assert_ok, claims, oversized};
use chat_tests::Function::{AuthLogin, ConversationsCreate, UsersList};
use chat_tests::{TestEnv, User};
use serde_json::json;

const REFUSED: &str = "invalid email or password";

fn vars(user: &User) -> [(&str, &str); 2] {
    [("email", user.email.as_str()), ("password", user.password.as_str())]
}

#[tokio::test]
async fn valid_login_returns_a_token_for_the_user() {
    let env = TestEnv::new().await;
    let user = env.register("alice").await;
    for fixture in ["valid", "trailing-slash"] {
        let reply = env.replay(AuthLogin, fixture, &vars(&user)).await;
        let body = assert_ok(&reply, 200);
        assert_fields(body, &["token", "user_id", "expires_in"]);
        assert_eq!(body["user_id"], json!(user.id));
        assert_eq!(body["expires_in"], json!(3600));
        let token = body["token"].as_str().unwrap();
        let claims = claims(&env, token);
        assert_eq!(claims.sub, user.id);
        assert_eq!(claims.exp - claims.iat, 3600);
        // The token opens the protected routes.
        let users = env.call(UsersList, "GET", "/api/users", Some(token), None).await;
        assert_eq!(assert_ok(&users, 200)[0]["user_id"], json!(user.id));
    }
}

#[tokio::test]
async fn email_is_case_insensitive() {
    let env = TestEnv::new().await;
    let user = env.register("alice").await;
    let shouted = format!("  {}  ", user.email.to_uppercase());
    let reply = env.replay(AuthLogin, "valid", &[("email", &shouted), ("password", &user.password)]).await;
    assert_eq!(assert_ok(&reply, 200)["user_id"], json!(user.id));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let env = TestEnv::new().await;
    let user = env.register("alice").await;
    for fixture in ["wrong-password", "unknown-email", "invalid-email"] {
        let message = env.refused(401, env.replay(AuthLogin, fixture, &vars(&user))).await;
        assert_eq!(message, REFUSED, "fixture {fixture}");
    }
    // Another user's password does not open this account.
    let bob = env.register("bob").await;
    let message =
        env.refused(401, env.replay(AuthLogin, "valid", &[("email", &user.email), ("password", &bob.password)])).await;
    assert_eq!(message, REFUSED);
}

#[tokio::test]
async fn nobody_can_log_in_as_the_agent() {
    let env = TestEnv::new().await;
    let user = env.register("alice").await;
    let ai = env
        .call(ConversationsCreate, "POST", "/api/conversations", Some(&user.token), Some(json!({"is_ai": true})))
        .await;
    assert_ok(&ai, 201);
    let agent = [("email", "ai-agent@agent.invalid"), ("password", "any password at all")];
    assert_eq!(env.refused(401, env.replay(AuthLogin, "valid", &agent)).await, REFUSED);
}

#[tokio::test]
async fn malformed_requests_are_400_naming_the_field() {
    let env = TestEnv::new().await;
    let user = env.register("alice").await;
    let cases = [
        ("missing-password", "password is required"),
        ("missing-email", "email is required"),
        ("malformed-json", "request body is not valid JSON"),
    ];
    for (fixture, expected) in cases {
        assert_eq!(env.refused(400, env.replay(AuthLogin, fixture, &vars(&user))).await, expected, "fixture {fixture}");
    }
    let body = json!({"email": user.email, "password": 12345678});
    let message = env.refused(400, env.call(AuthLogin, "POST", "/api/auth/login", None, Some(body))).await;
    assert_eq!(message, "password: must be a string");
}

#[tokio::test]
async fn body_over_64_kib_is_413() {
    let env = TestEnv::new().await;
    let user = env.register("alice").await;
    let body = oversized(json!({"email": user.email, "password": user.password}));
    let message = env.refused(413, env.call(AuthLogin, "POST", "/api/auth/login", None, Some(body))).await;
    assert_eq!(message, "request body is larger than 65536 bytes");
}
