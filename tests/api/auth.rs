use chat_tests::{Function, TestEnv};
use serde_json::json;

#[tokio::test]
async fn register_then_login() {
    let env = TestEnv::new().await;
    let user = env.register("alice").await;
    let reply = env
        .call(
            Function::AuthLogin,
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": user.email, "password": user.password})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["user_id"], json!(user.id));
    assert_eq!(reply.body["expires_in"], json!(3600));
}

#[tokio::test]
async fn duplicate_email_is_409_and_stores_nothing() {
    let env = TestEnv::new().await;
    let user = env.register("bob").await;
    let before = env.snapshot().await;
    let reply = env
        .call(
            Function::AuthRegister,
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"email": user.email.to_uppercase(), "password": "another-password", "name": "Bob 2"})),
        )
        .await;
    reply.assert_error(409);
    assert_eq!(env.snapshot().await, before);
}
