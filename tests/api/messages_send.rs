//! `POST /api/messages` (events/messages-send).

use crate::common::{
    AGENT_ID, assert_auth_refusals, assert_fields, assert_ok, assert_timestamp, assert_unavailable, assert_uuid, ids,
    oversized, take_dynamodb_down,
};
use crate::conversations_list::assert_last_message;
use chat_tests::Function::{ConversationsCreate, ConversationsHistory, ConversationsList, MessagesSend};
use chat_tests::{Reply, TestEnv, User};
use futures::future::join_all;
use serde_json::{Value, json};

const CLIENT_ID: &str = "6d1f3b2a-8c4e-4f7a-9b0d-1e2f3a4b5c6d";

async fn pair(env: &TestEnv) -> (User, User, String) {
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    (alice, bob, conversation)
}

async fn replay(env: &TestEnv, fixture: &str, user: &User, conversation: &str) -> Reply {
    let vars = [
        ("token", user.token.as_str()),
        ("user_id", &user.id),
        ("conversation_id", conversation),
        ("client_message_id", CLIENT_ID),
    ];
    env.replay(MessagesSend, fixture, &vars).await
}

async fn history(env: &TestEnv, user: &User, conversation: &str) -> Value {
    let path = format!("/api/conversations/{conversation}?limit=100");
    let reply = env.call(ConversationsHistory, "GET", &path, Some(&user.token), None).await;
    assert_ok(&reply, 200).clone()
}

/// The send response: the stored message's id, text and time.
#[track_caller]
fn assert_sent(body: &Value, text: &str) -> String {
    assert_fields(body, &["message_id", "message", "timestamp"]);
    let id = assert_uuid(&body["message_id"]);
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7, "message ids are time-ordered");
    assert_eq!(body["message"], json!(text));
    assert_timestamp(&body["timestamp"]);
    id
}

#[tokio::test]
async fn stores_the_message_and_moves_the_conversation_forward() {
    let env = TestEnv::new().await;
    let (alice, bob, conversation) = pair(&env).await;
    let reply = replay(&env, "valid", &alice, &conversation).await;
    let id = assert_sent(assert_ok(&reply, 200), "Hello, how are you?");

    let expected = json!([{
        "message_id": id, "sender_id": alice.id, "message": "Hello, how are you?", "timestamp": reply.body["timestamp"],
    }]);
    assert_eq!(history(&env, &bob, &conversation).await, expected);
    for user in [&alice, &bob] {
        let listed = env.call(ConversationsList, "GET", "/api/conversations", Some(&user.token), None).await;
        assert_last_message(&assert_ok(&listed, 200)[0], &reply.body, &alice.id, "Hello, how are you?");
    }
    // The conversation itself (as a repeated create returns it) carries the same summary.
    let again = env
        .call(
            ConversationsCreate,
            "POST",
            "/api/conversations",
            Some(&bob.token),
            Some(json!({"is_ai": false, "participant_id": alice.id})),
        )
        .await;
    assert_last_message(assert_ok(&again, 200), &reply.body, &alice.id, "Hello, how are you?");

    // The seed's path, with its trailing slash.
    let reply = replay(&env, "trailing-slash", &bob, &conversation).await;
    let second = assert_sent(assert_ok(&reply, 200), "Sent to the seed's path");
    assert!(second > id, "later messages have larger ids");
    assert_eq!(ids(&history(&env, &alice, &conversation).await, "message_id"), [id, second]);
}

#[tokio::test]
async fn text_is_stored_exactly_as_sent_up_to_4000_characters() {
    let env = TestEnv::new().await;
    let (alice, _, conversation) = pair(&env).await;
    // 4,000 characters as sent, the surrounding spaces included.
    let longest = format!(" {} ", "é".repeat(3998));
    for text in ["  padded\n", "emoji 😀 and \"quotes\"", longest.as_str()] {
        let reply = env.send(&alice, &conversation, text).await;
        assert_sent(assert_ok(&reply, 200), text);
    }
    let stored: Vec<Value> =
        history(&env, &alice, &conversation).await.as_array().unwrap().iter().map(|m| m["message"].clone()).collect();
    assert_eq!(stored, [json!("  padded\n"), json!("emoji 😀 and \"quotes\""), json!(longest)]);
}

#[tokio::test]
async fn invalid_messages_are_400_naming_the_field_and_store_nothing() {
    let env = TestEnv::new().await;
    let (alice, _, conversation) = pair(&env).await;
    let cases = [
        ("bad-conversation-uuid", "conversation_id: conversation id must be a UUID"),
        ("missing-sender", "sender_id is required"),
        ("missing-message", "message is required"),
        ("blank-message", "message: must contain a character that is not white space"),
        ("message-not-a-string", "message: must be a string"),
        ("bad-client-id", "client_message_id: client_message_id must be a UUID"),
        ("malformed-json", "request body is not valid JSON"),
        ("not-an-object", "request body must be a JSON object"),
    ];
    for (fixture, expected) in cases {
        let message = env.refused(400, replay(&env, fixture, &alice, &conversation)).await;
        assert_eq!(message, expected, "fixture {fixture}");
    }
    let message = env.refused(400, env.send(&alice, &conversation, &"x".repeat(4001))).await;
    assert_eq!(message, "message: must be 1 to 4000 characters");
    let body = oversized(json!({"conversation_id": conversation, "sender_id": alice.id, "message": "hi"}));
    let message =
        env.refused(413, env.call(MessagesSend, "POST", "/api/messages", Some(&alice.token), Some(body))).await;
    assert_eq!(message, "request body is larger than 65536 bytes");
}

#[tokio::test]
async fn sending_as_someone_else_is_403() {
    let env = TestEnv::new().await;
    let (alice, bob, conversation) = pair(&env).await;
    let vars = [("token", alice.token.as_str()), ("conversation_id", &conversation), ("sender_id", &bob.id)];
    let message = env.refused(403, env.replay(MessagesSend, "sender-mismatch", &vars)).await;
    assert_eq!(message, "sender_id must be the authenticated user");

    // Nobody can send with the agent's id, not even in their own AI conversation.
    let ai = env
        .call(ConversationsCreate, "POST", "/api/conversations", Some(&alice.token), Some(json!({"is_ai": true})))
        .await;
    let ai = assert_ok(&ai, 201)["conversation_id"].as_str().unwrap().to_string();
    let vars = [("token", alice.token.as_str()), ("conversation_id", &ai), ("sender_id", AGENT_ID)];
    let message = env.refused(403, env.replay(MessagesSend, "sender-mismatch", &vars)).await;
    assert_eq!(message, "sender_id must be the authenticated user");
}

#[tokio::test]
async fn unknown_conversation_and_outsiders_get_the_same_404() {
    let env = TestEnv::new().await;
    let (alice, _, conversation) = pair(&env).await;
    let carol = env.register("carol").await;
    let unknown = env.refused(404, replay(&env, "unknown-conversation", &alice, &conversation)).await;
    let outsider = env.refused(404, replay(&env, "valid", &carol, &conversation)).await;
    assert_eq!(unknown, "conversation not found");
    assert_eq!(outsider, unknown);
}

#[tokio::test]
async fn a_retry_with_the_same_client_message_id_returns_the_first_message() {
    let env = TestEnv::new().await;
    let (alice, bob, conversation) = pair(&env).await;
    let first = replay(&env, "with-client-id", &alice, &conversation).await;
    let id = assert_sent(assert_ok(&first, 200), "Are you there?");

    let stored = env.snapshot().await;
    let retry = replay(&env, "with-client-id", &alice, &conversation).await;
    assert_eq!(assert_ok(&retry, 200), &first.body, "the retry answers with the first message");
    assert_eq!(env.snapshot().await, stored, "a retry stores nothing");

    let message = env.refused(409, replay(&env, "client-id-conflict", &alice, &conversation)).await;
    assert_eq!(message, "client_message_id was already used for a different message");
    assert_eq!(ids(&history(&env, &bob, &conversation).await, "message_id"), [id.as_str()]);

    // The id is scoped to the sender (and the conversation): bob may use the same one.
    let bobs = replay(&env, "with-client-id", &bob, &conversation).await;
    let bobs = assert_sent(assert_ok(&bobs, 200), "Are you there?");
    assert_ne!(bobs, id);
    let elsewhere = env.direct_conversation(&alice, &env.register("carol").await).await;
    let other = replay(&env, "with-client-id", &alice, &elsewhere).await;
    assert_ne!(assert_sent(assert_ok(&other, 200), "Are you there?"), id);
}

#[tokio::test]
async fn dynamodb_unavailable_is_503_without_internals() {
    let mut env = TestEnv::new().await;
    let (alice, _, conversation) = pair(&env).await;
    take_dynamodb_down(&mut env);
    assert_unavailable(&replay(&env, "valid", &alice, &conversation).await);
}

#[tokio::test]
async fn refuses_missing_and_bad_tokens() {
    let env = TestEnv::new().await;
    let (alice, _, conversation) = pair(&env).await;
    let vars = [("user_id", alice.id.as_str()), ("conversation_id", &conversation)];
    assert_auth_refusals(&env, MessagesSend, "valid", &alice, &vars).await;
}

#[tokio::test]
async fn sixty_concurrent_messages_are_all_stored_and_the_newest_is_last() {
    let env = TestEnv::new().await;
    let (alice, bob, conversation) = pair(&env).await;
    let texts: Vec<String> = (0..60).map(|i| format!("concurrent {i}")).collect();
    let sends =
        texts.iter().enumerate().map(|(i, text)| env.send(if i % 2 == 0 { &alice } else { &bob }, &conversation, text));
    let replies = join_all(sends).await;
    let mut sent: Vec<(String, String, String, Value)> = replies
        .iter()
        .enumerate()
        .map(|(i, reply)| {
            let sender = if i % 2 == 0 { &alice.id } else { &bob.id };
            (assert_sent(assert_ok(reply, 200), &texts[i]), sender.clone(), texts[i].clone(), reply.body.clone())
        })
        .collect();
    sent.sort_by(|a, b| a.0.cmp(&b.0));
    sent.dedup_by(|a, b| a.0 == b.0);
    assert_eq!(sent.len(), 60, "60 distinct message ids");

    let stored = history(&env, &alice, &conversation).await;
    let expected: Vec<Value> = sent
        .iter()
        .map(|(id, sender, text, body)| {
            json!({"message_id": id, "sender_id": sender, "message": text, "timestamp": body["timestamp"]})
        })
        .collect();
    assert_eq!(stored, Value::Array(expected), "history: all 60, oldest (smallest id) first");

    let (_, newest_sender, newest_text, newest) = sent.last().unwrap();
    for user in [&alice, &bob] {
        let listed = env.call(ConversationsList, "GET", "/api/conversations", Some(&user.token), None).await;
        assert_last_message(&assert_ok(&listed, 200)[0], newest, newest_sender, newest_text);
    }
    let messages = env
        .snapshot()
        .await
        .into_keys()
        .filter(|(pk, sk)| pk == &format!("CONV#{conversation}") && sk.starts_with("MSG#"))
        .count();
    assert_eq!(messages, 60);
}

#[tokio::test]
async fn one_client_message_id_sent_eight_times_at_once_is_stored_once() {
    let env = TestEnv::new().await;
    let (alice, bob, conversation) = pair(&env).await;
    let replies = join_all((0..8).map(|_| replay(&env, "with-client-id", &alice, &conversation))).await;
    let id = assert_sent(assert_ok(&replies[0], 200), "Are you there?");
    for reply in &replies {
        assert_eq!(assert_ok(reply, 200), &replies[0].body, "every copy answers with the same message");
    }
    assert_eq!(ids(&history(&env, &bob, &conversation).await, "message_id"), [id]);
    let messages = env.snapshot().await.into_keys().filter(|(_, sk)| sk.starts_with("MSG#")).count();
    assert_eq!(messages, 1);
}

/// Two sends whose commits arrive out of order (the older message last): the older one is
/// stored, but `last_message` and the inbox order stay on the newer one. the local store serializes
/// requests, so the race is staged by committing two drafts in reverse order.
#[tokio::test]
async fn last_message_never_moves_backwards() {
    use chat_core::domain::{ConversationId, MessageText, UserId};
    use chat_core::store::items::MessageItem;

    let env = TestEnv::new().await;
    let (alice, bob, conversation) = pair(&env).await;
    let id = ConversationId::parse(&conversation).unwrap();
    let stored = env.app.store.conversation(id).await.unwrap().unwrap();
    let sender = UserId::parse(&alice.id).unwrap();
    let text = |t: &str| MessageText::parse(t.to_string()).unwrap();
    let older = MessageItem::draft(&stored.item, sender, text("older"), None);
    let newer = MessageItem::draft(&stored.item, sender, text("newer"), None);
    assert!(older.message_id < newer.message_id);

    env.app.store.store_message(&stored, newer.clone()).await.unwrap();
    env.app.store.store_message(&stored, older.clone()).await.unwrap();

    let texts: Vec<Value> =
        history(&env, &bob, &conversation).await.as_array().unwrap().iter().map(|m| m["message"].clone()).collect();
    assert_eq!(texts, [json!("older"), json!("newer")], "both stored, in id order");
    for user in [&alice, &bob] {
        let list = env.call(ConversationsList, "GET", "/api/conversations", Some(&user.token), None).await;
        let summary = &assert_ok(&list, 200)[0];
        assert_eq!(summary["last_message"]["message"], json!("newer"));
        assert_eq!(summary["last_message"]["message_id"], json!(newer.message_id.to_string()));
        assert_eq!(summary["updated_at"], json!(newer.timestamp));
    }
}
