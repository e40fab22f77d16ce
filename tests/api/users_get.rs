//! `GET /api/users/{user_id}` (events/users-get).

use crate::common::{
    AGENT_ID, assert_auth_refusals, assert_ok, assert_profile, assert_unavailable, take_dynamodb_down, with_token,
};
use chat_tests::Function::{ConversationsCreate, UsersGet};
use chat_tests::TestEnv;
use serde_json::json;

#[tokio::test]
async fn returns_the_profile_without_secrets() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    for fixture in ["valid", "trailing-slash"] {
        let reply = env.replay(UsersGet, fixture, &with_token(&alice.token, &[("user_id", &bob.id)])).await;
        assert_profile(assert_ok(&reply, 200), &bob.id, &bob.email, "bob", None);
    }
    let own = env.replay(UsersGet, "valid", &with_token(&alice.token, &[("user_id", &alice.id)])).await;
    assert_profile(assert_ok(&own, 200), &alice.id, &alice.email, "alice", None);
    // Any case of the same UUID finds the same user; the answer spells it in lowercase.
    let upper =
        env.call(UsersGet, "GET", &format!("/api/users/{}", bob.id.to_uppercase()), Some(&alice.token), None).await;
    assert_profile(assert_ok(&upper, 200), &bob.id, &bob.email, "bob", None);
}

#[tokio::test]
async fn the_agent_has_a_profile_before_and_after_its_first_conversation() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    let vars = with_token(&alice.token, &[]);
    let before = env.replay(UsersGet, "agent", &vars).await;
    assert_profile(assert_ok(&before, 200), AGENT_ID, "ai-agent@agent.invalid", "AI Agent", None);

    let ai = env
        .call(ConversationsCreate, "POST", "/api/conversations", Some(&alice.token), Some(json!({"is_ai": true})))
        .await;
    assert_ok(&ai, 201);
    let after = env.replay(UsersGet, "agent", &vars).await;
    assert_eq!(assert_ok(&after, 200), &before.body);
}

#[tokio::test]
async fn unknown_user_is_404_and_a_bad_id_is_400() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    let vars = with_token(&alice.token, &[]);
    assert_eq!(env.refused(404, env.replay(UsersGet, "unknown-user", &vars)).await, "user not found");
    assert_eq!(env.refused(400, env.replay(UsersGet, "bad-uuid", &vars)).await, "user_id: user id must be a UUID");
    let unhyphenated = format!("/api/users/{}", alice.id.replace('-', ""));
    let message = env.refused(400, env.call(UsersGet, "GET", &unhyphenated, Some(&alice.token), None)).await;
    assert_eq!(message, "user_id: user id must be a UUID");
}

#[tokio::test]
async fn refuses_missing_and_bad_tokens() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    assert_auth_refusals(&env, UsersGet, "valid", &alice, &[("user_id", &bob.id)]).await;
}

#[tokio::test]
async fn dynamodb_unavailable_is_503_without_internals() {
    let mut env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    take_dynamodb_down(&mut env);
    assert_unavailable(&env.replay(UsersGet, "valid", &with_token(&alice.token, &[("user_id", &bob.id)])).await);
}
