//! `POST /api/conversations` (events/conversations-create).

use crate::common::{
    AGENT_ID, assert_auth_refusals, assert_fields, assert_ok, assert_profile, assert_timestamp, assert_uuid, ids,
    oversized, with_token,
};
use chat_tests::Function::{ConversationsCreate, ConversationsList, UsersGet};
use chat_tests::{TestEnv, User};
use futures::future::join_all;
use serde_json::{Value, json};

/// A conversation as created: the contract's fields, these participants, no message yet.
#[track_caller]
pub fn assert_new_conversation(body: &Value, is_ai: bool, participants: &[&str]) -> String {
    assert_fields(body, crate::common::CONVERSATION_FIELDS);
    let id = assert_uuid(&body["conversation_id"]);
    assert_eq!(body["is_ai"], json!(is_ai));
    assert_eq!(body["participants"], json!(participants));
    let created = assert_timestamp(&body["created_at"]);
    assert_eq!(body["updated_at"], json!(created), "nothing happened since creation");
    assert_eq!(body["last_message"], Value::Null);
    id
}

async fn create(env: &TestEnv, user: &User, fixture: &str, participant: &str) -> chat_tests::Reply {
    env.replay(
        ConversationsCreate,
        fixture,
        &with_token(&user.token, &[("participant_id", participant), ("user_id", &user.id)]),
    )
    .await
}

#[tokio::test]
async fn direct_conversation_is_created_once_for_the_pair() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let first = create(&env, &alice, "direct", &bob.id).await;
    let id = assert_new_conversation(assert_ok(&first, 201), false, &[&alice.id, &bob.id]);

    let items = env.snapshot().await;
    assert!(items.contains_key(&(format!("CONV#{id}"), "META".to_string())));
    for user in [&alice, &bob] {
        assert!(
            items.contains_key(&(format!("USER#{}", user.id), format!("CONV#{id}"))),
            "{} has no membership",
            user.id
        );
    }

    // Again, through the trailing-slash route, and from the other side: the same conversation, 200.
    let again = create(&env, &alice, "trailing-slash", &bob.id).await;
    assert_eq!(assert_ok(&again, 200), &first.body);
    let reverse = create(&env, &bob, "direct", &alice.id).await;
    assert_eq!(assert_ok(&reverse, 200), &first.body);
    assert_eq!(env.snapshot().await, items, "finding the existing conversation stores nothing");
}

#[tokio::test]
async fn trailing_slash_is_tolerated() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let reply = create(&env, &alice, "trailing-slash", &bob.id).await;
    assert_new_conversation(assert_ok(&reply, 201), false, &[&alice.id, &bob.id]);
}

#[tokio::test]
async fn every_ai_conversation_is_new_and_includes_the_agent() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    let first = create(&env, &alice, "ai", "").await;
    let a = assert_new_conversation(assert_ok(&first, 201), true, &[&alice.id, AGENT_ID]);
    // participant_id is ignored with is_ai, even when it is not a UUID.
    let second = create(&env, &alice, "ai-ignores-participant", "").await;
    let b = assert_new_conversation(assert_ok(&second, 201), true, &[&alice.id, AGENT_ID]);
    assert_ne!(a, b);
    let with_bob = env.register("bob").await;
    let third = create(&env, &alice, "ai", &with_bob.id).await;
    let c = assert_new_conversation(assert_ok(&third, 201), true, &[&alice.id, AGENT_ID]);

    let listed = env.call(ConversationsList, "GET", "/api/conversations", Some(&alice.token), None).await;
    assert_eq!(ids(assert_ok(&listed, 200), "conversation_id"), [c, b, a]);
    let agent = env.call(UsersGet, "GET", &format!("/api/users/{AGENT_ID}"), Some(&alice.token), None).await;
    assert_profile(assert_ok(&agent, 200), AGENT_ID, "ai-agent@agent.invalid", "AI Agent", None);
}

#[tokio::test]
async fn invalid_requests_are_refused_and_store_nothing() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let cases = [
        ("missing-participant", 400, "participant_id is required when is_ai is false"),
        ("bad-participant-uuid", 400, "participant_id: user id must be a UUID"),
        ("participant-not-a-string", 400, "participant_id: must be a string"),
        ("self-participant", 400, "participant_id: must be another user than yourself"),
        ("agent-participant", 400, "participant_id: use is_ai to talk to the AI agent"),
        ("missing-is-ai", 400, "is_ai is required"),
        ("is-ai-not-a-boolean", 400, "is_ai: must be a boolean"),
        ("malformed-json", 400, "request body is not valid JSON"),
        ("not-an-object", 400, "request body must be a JSON object"),
        ("unknown-participant", 404, "participant_id: no such user"),
    ];
    for (fixture, status, expected) in cases {
        let message = env.refused(status, create(&env, &alice, fixture, &bob.id)).await;
        assert_eq!(message, expected, "fixture {fixture}");
    }
    let body = oversized(json!({"is_ai": false, "participant_id": bob.id}));
    let message = env
        .refused(413, env.call(ConversationsCreate, "POST", "/api/conversations", Some(&alice.token), Some(body)))
        .await;
    assert_eq!(message, "request body is larger than 65536 bytes");
}

#[tokio::test]
async fn refuses_missing_and_bad_tokens() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    assert_auth_refusals(&env, ConversationsCreate, "direct", &alice, &[("participant_id", &bob.id)]).await;
}

#[tokio::test]
async fn concurrent_creations_of_one_pair_make_one_conversation() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let attempts = (0..16).map(|i| {
        let (me, other) = if i % 2 == 0 { (&alice, &bob) } else { (&bob, &alice) };
        let body = json!({"is_ai": false, "participant_id": other.id});
        env.call(ConversationsCreate, "POST", "/api/conversations", Some(&me.token), Some(body))
    });
    let replies = join_all(attempts).await;

    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 15, "{statuses:?}");
    let id = replies[0].body["conversation_id"].as_str().unwrap().to_string();
    for reply in &replies {
        assert_eq!(reply.body, replies[0].body, "every caller sees the same conversation");
    }

    let items = env.snapshot().await;
    let conversations: Vec<_> = items.keys().filter(|(_, sk)| sk == "META").collect();
    assert_eq!(conversations, [&(format!("CONV#{id}"), "META".to_string())]);
    let memberships: Vec<_> =
        items.keys().filter(|(pk, sk)| pk.starts_with("USER#") && sk.starts_with("CONV#")).collect();
    assert_eq!(memberships.len(), 2, "{memberships:?}");
    for user in [&alice, &bob] {
        let listed = env.call(ConversationsList, "GET", "/api/conversations", Some(&user.token), None).await;
        assert_eq!(ids(assert_ok(&listed, 200), "conversation_id"), [id.as_str()]);
    }
}
