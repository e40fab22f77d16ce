//! `POST /api/conversations/{conversation_id}/read` (events/conversations-read): read positions,
//! the unread counts they give the conversation bodies, and the `read` frame.

use crate::common::{AGENT_ID, assert_auth_refusals, assert_fields, assert_ok, with_token};
use crate::realtime::open;
use chat_core::ai::AiConfig;
use chat_core::ai::reply::Agent;
use chat_tests::Function::{ConversationsCreate, ConversationsList, ConversationsRead};
use chat_tests::fake_models::sdk_config;
use chat_tests::{Reply, TestEnv, User, root};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// Alice, Bob, their conversation, and `n` messages from `sender` (0: Alice, 1: Bob).
async fn chat(env: &TestEnv, n: usize, sender: usize) -> (User, User, String, Vec<String>) {
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let mut sent = Vec::new();
    for i in 0..n {
        let from = if sender == 0 { &alice } else { &bob };
        let reply = env.send(from, &conversation, &format!("message {i}")).await;
        sent.push(assert_ok(&reply, 200)["message_id"].as_str().unwrap().to_string());
    }
    (alice, bob, conversation, sent)
}

async fn read(env: &TestEnv, user: &User, fixture: &str, conversation: &str, message: &str) -> Reply {
    let vars = with_token(&user.token, &[("conversation_id", conversation), ("message_id", message)]);
    env.replay(ConversationsRead, fixture, &vars).await
}

/// Reads through a built request (for many requests at once).
async fn read_call(env: &TestEnv, user: &User, conversation: &str, message: &str) -> Reply {
    let path = format!("/api/conversations/{conversation}/read");
    env.call(ConversationsRead, "POST", &path, Some(&user.token), Some(json!({"message_id": message}))).await
}

fn state(conversation: &str, last: Option<&str>, unread: u64) -> Value {
    json!({"conversation_id": conversation, "last_read_message_id": last, "unread_count": unread})
}

/// The conversation as `user` sees it in `GET /api/conversations`.
async fn listed(env: &TestEnv, user: &User, conversation: &str) -> Value {
    let reply = env.call(ConversationsList, "GET", "/api/conversations", Some(&user.token), None).await;
    let all = assert_ok(&reply, 200).as_array().unwrap().clone();
    all.into_iter().find(|c| c["conversation_id"] == conversation).expect("the conversation is listed")
}

/// `(unread_count, last_read_message_id)` of a conversation body.
fn position(body: &Value) -> (u64, Value) {
    (body["unread_count"].as_u64().expect("unread_count"), body["last_read_message_id"].clone())
}

#[tokio::test]
async fn reading_moves_forward_only_and_answers_the_state() {
    let env = TestEnv::new().await;
    let (alice, _, conversation, sent) = chat(&env, 3, 1).await;

    let reply = read(&env, &alice, "valid", &conversation, &sent[1]).await;
    assert_fields(assert_ok(&reply, 200), &["conversation_id", "last_read_message_id", "unread_count"]);
    assert_eq!(reply.body, state(&conversation, Some(&sent[1]), 1));
    let reply = read(&env, &alice, "trailing-slash", &conversation, &sent[2]).await;
    assert_eq!(assert_ok(&reply, 200), &state(&conversation, Some(&sent[2]), 0));

    // An older id, or the same one again: the current state, and nothing changes.
    for (fixture, message) in [("older-message", &sent[0]), ("older-message", &sent[1]), ("valid", &sent[2])] {
        let before = env.snapshot().await;
        let reply = read(&env, &alice, fixture, &conversation, message).await;
        assert_eq!(assert_ok(&reply, 200), &state(&conversation, Some(&sent[2]), 0));
        assert!(env.snapshot().await == before, "reading {message} again changed the table");
    }
}

#[tokio::test]
async fn refusals_store_nothing() {
    let env = TestEnv::new().await;
    let (alice, bob, conversation, sent) = chat(&env, 2, 1).await;
    let carol = env.register("carol").await;
    let elsewhere = env.direct_conversation(&bob, &carol).await;
    let foreign = assert_ok(&env.send(&bob, &elsewhere, "not in alice's conversation").await, 200)["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    let vars = |message: &str| {
        vec![
            ("token", alice.token.clone()),
            ("conversation_id", conversation.clone()),
            ("message_id", message.to_string()),
        ]
    };
    let cases = [
        ("unknown-message", 400, sent[0].as_str(), "message_id: not a message of this conversation"),
        ("valid", 400, foreign.as_str(), "message_id: not a message of this conversation"),
        ("not-a-uuid", 400, sent[0].as_str(), "message_id: message id must be a UUID"),
        ("missing-message-id", 400, sent[0].as_str(), "message_id is required"),
        ("not-json", 400, sent[0].as_str(), "request body is not valid JSON"),
        ("bad-conversation-id", 400, sent[0].as_str(), "conversation_id: conversation id must be a UUID"),
        ("unknown-conversation", 404, sent[0].as_str(), "conversation not found"),
    ];
    for (fixture, status, message, expected) in cases {
        let owned = vars(message);
        let vars: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let got = env.refused(status, env.replay(ConversationsRead, fixture, &vars)).await;
        assert_eq!(got, expected, "fixture {fixture}");
    }
    // Someone else's conversation: the same 404 as one that does not exist.
    let vars = with_token(&carol.token, &[("conversation_id", &conversation), ("message_id", &sent[0])]);
    let outsider = env.refused(404, env.replay(ConversationsRead, "not-a-member", &vars)).await;
    assert_eq!(outsider, "conversation not found");
    assert_auth_refusals(
        &env,
        ConversationsRead,
        "valid",
        &alice,
        &[("conversation_id", &conversation), ("message_id", &sent[1])],
    )
    .await;
    assert_eq!(position(&listed(&env, &alice, &conversation).await), (0, json!(sent[1])));
}

#[tokio::test]
async fn unread_counts_follow_sends_and_reads_in_the_list_and_the_create_body() {
    let env = TestEnv::new().await;
    let (alice, bob, conversation, sent) = chat(&env, 2, 0).await;
    // Sending moved Alice's own position: nothing of hers is unread.
    assert_eq!(position(&listed(&env, &alice, &conversation).await), (0, json!(sent[1])));
    assert_eq!(position(&listed(&env, &bob, &conversation).await), (2, Value::Null));
    let found_again = env
        .call(
            ConversationsCreate,
            "POST",
            "/api/conversations",
            Some(&bob.token),
            Some(json!({"is_ai": false, "participant_id": alice.id})),
        )
        .await;
    assert_eq!(position(assert_ok(&found_again, 200)), (2, Value::Null));

    assert_eq!(assert_ok(&read_call(&env, &bob, &conversation, &sent[0]).await, 200)["unread_count"], 1);
    assert_eq!(position(&listed(&env, &bob, &conversation).await), (1, json!(sent[0])));

    // Bob answers: his position moves to his message; Alice has one unread.
    let answer = env.send(&bob, &conversation, "hi").await;
    let answer = assert_ok(&answer, 200)["message_id"].clone();
    assert_eq!(position(&listed(&env, &bob, &conversation).await), (0, answer.clone()));
    assert_eq!(position(&listed(&env, &alice, &conversation).await), (1, json!(sent[1])));
    let found_again = env
        .call(
            ConversationsCreate,
            "POST",
            "/api/conversations",
            Some(&alice.token),
            Some(json!({"is_ai": false, "participant_id": bob.id})),
        )
        .await;
    assert_eq!(position(assert_ok(&found_again, 200)), (1, json!(sent[1])));
    read_call(&env, &alice, &conversation, answer.as_str().unwrap()).await;
    assert_eq!(position(&listed(&env, &alice, &conversation).await), (0, answer));
}

#[tokio::test]
async fn the_agents_reply_is_unread_until_read() {
    let env = TestEnv::new().await;
    let ann = env.register("ann").await;
    let created = env
        .call(ConversationsCreate, "POST", "/api/conversations", Some(&ann.token), Some(json!({"is_ai": true})))
        .await;
    let conversation = assert_ok(&created, 201)["conversation_id"].as_str().unwrap().to_string();
    let sent = env.send(&ann, &conversation, "hello agent").await;
    let sent = assert_ok(&sent, 200).clone();
    let asked = sent["message_id"].as_str().unwrap();
    assert_eq!(position(&listed(&env, &ann, &conversation).await), (0, json!(asked)));

    // The offline responder answers, as ai-reply does from the stream record of the send.
    let vars = [("AI_RETRY_BASE_MS", "5"), ("AI_SYSTEM_PROMPT", "You are the test agent.")];
    let config = AiConfig::from_lookup(|k| vars.iter().find(|(name, _)| *name == k).map(|(_, v)| v.to_string()))
        .expect("the offline agent's config");
    let agent = Agent::from_config(config, &sdk_config()).unwrap();
    let mut text = std::fs::read_to_string(root().join("events/ai-reply/insert.json")).unwrap();
    for (key, value) in [
        ("conversation_id", conversation.as_str()),
        ("message_id", asked),
        ("sender_id", &ann.id),
        ("message", "hello agent"),
        ("timestamp", sent["timestamp"].as_str().unwrap()),
        ("sequence_number", "1"),
    ] {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    let event = serde_json::from_str(&text).unwrap();
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let response = ai_reply::handler(&env.app, &agent, event, deadline).await;
    assert!(response.batch_item_failures.is_empty());
    chat_tests::record_replay("ai-reply", "insert");

    let listed_now = listed(&env, &ann, &conversation).await;
    assert_eq!(position(&listed_now), (1, json!(asked)));
    let reply = &listed_now["last_message"];
    assert_eq!(reply["sender_id"], AGENT_ID);
    let read = read_call(&env, &ann, &conversation, reply["message_id"].as_str().unwrap()).await;
    assert_eq!(assert_ok(&read, 200), &state(&conversation, reply["message_id"].as_str(), 0));
}

#[tokio::test]
async fn concurrent_reads_end_at_the_newest_and_never_move_backwards() {
    let env = TestEnv::new().await;
    let (alice, bob, conversation, sent) = chat(&env, 20, 0).await;
    // Interleaved so that older reads often land after newer ones.
    let order: Vec<usize> = (0..20).map(|i| (i * 7) % 20).collect();
    let reads = order.iter().map(|&i| {
        let (env, bob, conversation, sent) = (&env, &bob, &conversation, &sent);
        async move {
            let reply = read_call(env, bob, conversation, &sent[i]).await;
            // Once this read is answered the position is at message i or past it.
            let answered = assert_ok(&reply, 200)["unread_count"].as_u64().unwrap();
            assert!(answered <= 19 - i as u64, "read of message {i} answered {answered} unread");
            let (unread, last) = position(&listed(env, bob, conversation).await);
            assert!(unread <= 19 - i as u64, "after reading message {i}: {unread} unread");
            let at = sent.iter().position(|m| json!(m) == last).expect("a message of the conversation");
            assert!(at >= i && 19 - at as u64 == unread, "after reading message {i}: at {at}, {unread} unread");
        }
    });
    futures::future::join_all(reads).await;
    assert_eq!(position(&listed(&env, &bob, &conversation).await), (0, json!(sent[19])));
    assert_eq!(position(&listed(&env, &alice, &conversation).await), (0, json!(sent[19])));
}

#[tokio::test]
async fn the_read_frame_reaches_every_members_sockets_only_when_the_position_moves() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, conversation, sent) = chat(&env, 3, 0).await;
    let carol = env.register("carol").await;
    let alice_conn = open(&env, &alice, None).await;
    let bob_phone = open(&env, &bob, None).await;
    let bob_laptop = open(&env, &bob, None).await;
    let carol_conn = open(&env, &carol, None).await;
    gateway.take();

    assert_ok(&read(&env, &bob, "valid", &conversation, &sent[1]).await, 200);
    let frame = json!({"type": "read", "conversation_id": conversation, "user_id": bob.id, "message_id": sent[1]});
    for connection in [&alice_conn, &bob_phone, &bob_laptop] {
        assert_eq!(gateway.frames_to(connection), vec![frame.clone()], "connection {connection}");
    }
    assert!(gateway.frames_to(&carol_conn).is_empty());
    assert_eq!(gateway.take().len(), 3);

    // Nothing moved: nothing is pushed.
    assert_ok(&read(&env, &bob, "older-message", &conversation, &sent[0]).await, 200);
    assert_ok(&read(&env, &bob, "valid", &conversation, &sent[1]).await, 200);
    assert!(gateway.take().is_empty());

    // A send moves the sender's position without a read frame: the message frame says it.
    assert_ok(&env.send(&alice, &conversation, "one more").await, 200);
    let pushed = gateway.take();
    assert!(pushed.iter().all(|p| p.frame()["type"] == "message"), "{pushed:?}");
    // And refusals push nothing.
    let vars = with_token(&carol.token, &[("conversation_id", &conversation), ("message_id", &sent[2])]);
    env.refused(404, env.replay(ConversationsRead, "not-a-member", &vars)).await;
}
