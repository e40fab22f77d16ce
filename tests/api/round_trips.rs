//! The DynamoDB round-trip budget of every endpoint (docs/data-model.md, "Access patterns"):
//! which calls a request makes and how many it waits for one after another. A regression that
//! adds a call, or serializes calls that ran in parallel, fails here.

use crate::realtime::{Ws, client_frame, open, subscribe, ws};
use chat_tests::Function::{
    AuthLogin, AuthRegister, ConversationsConnect, ConversationsCreate, ConversationsHistory, ConversationsList,
    MessagesSend, UsersGet, UsersList,
};
use chat_tests::{Reply, TestEnv};
use serde_json::json;

/// Asserts the calls made since the last reset (as a multiset: parallel calls start in any
/// order) and the sequential depth, then resets.
#[track_caller]
fn budget(env: &TestEnv, reply: &Reply, expected: &[&str], sequential: usize) {
    assert!(reply.status < 300, "the measured request failed: {} {}", reply.status, reply.body);
    let mut made = env.calls.operations();
    let mut wanted: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    made.sort();
    wanted.sort();
    assert_eq!(made, wanted, "DynamoDB calls");
    assert_eq!(env.calls.sequential(), sequential, "sequential round trips");
    env.calls.reset();
}

#[tokio::test]
async fn http_endpoints_stay_within_their_round_trip_budget() {
    let (env, _gateway) = TestEnv::with_realtime().await;
    let bob = env.register("bob").await;
    env.calls.reset();

    let body = json!({"email": "ada@example.com", "password": "correct horse", "name": "Ada"});
    let reply = env.call(AuthRegister, "POST", "/api/auth/register", None, Some(body)).await;
    budget(&env, &reply, &["TransactWriteItems"], 1);
    let ada_token = reply.body["token"].as_str().unwrap().to_string();
    let ada_id = reply.body["user_id"].as_str().unwrap().to_string();

    let body = json!({"email": "ada@example.com", "password": "correct horse"});
    let reply = env.call(AuthLogin, "POST", "/api/auth/login", None, Some(body)).await;
    budget(&env, &reply, &["GetItem"], 1);

    let reply = env.call(UsersList, "GET", "/api/users", Some(&ada_token), None).await;
    budget(&env, &reply, &["Query"], 1);
    let reply = env.call(UsersGet, "GET", &format!("/api/users/{}", bob.id), Some(&ada_token), None).await;
    budget(&env, &reply, &["GetItem"], 1);

    let direct = json!({"is_ai": false, "participant_id": bob.id});
    let reply =
        env.call(ConversationsCreate, "POST", "/api/conversations", Some(&ada_token), Some(direct.clone())).await;
    // The members' connections are read alongside the write, for `conversation_created`.
    budget(&env, &reply, &["BatchGetItem", "TransactWriteItems", "BatchGetItem"], 2);
    let conversation = reply.body["conversation_id"].as_str().unwrap().to_string();
    // The existing conversation, then the caller's unread count in it.
    let reply = env.call(ConversationsCreate, "POST", "/api/conversations", Some(&ada_token), Some(direct)).await;
    budget(&env, &reply, &["BatchGetItem", "Query"], 2);
    let reply = env
        .call(ConversationsCreate, "POST", "/api/conversations", Some(&ada_token), Some(json!({"is_ai": true})))
        .await;
    budget(&env, &reply, &["TransactWriteItems", "BatchGetItem"], 1);

    // The page of memberships, then its conversations and unread counts at once.
    let reply = env.call(ConversationsList, "GET", "/api/conversations", Some(&ada_token), None).await;
    budget(&env, &reply, &["Query", "BatchGetItem", "Query", "Query"], 2);

    // The members' connections are read alongside the write: two round trips before the posts.
    let body = json!({"conversation_id": conversation, "sender_id": ada_id, "message": "hi"});
    let reply = env.call(MessagesSend, "POST", "/api/messages", Some(&ada_token), Some(body)).await;
    budget(&env, &reply, &["BatchGetItem", "TransactWriteItems", "BatchGetItem"], 2);

    // The membership check and the page read run in parallel: one round trip.
    let path = format!("/api/conversations/{conversation}");
    let reply = env.call(ConversationsHistory, "GET", &path, Some(&ada_token), None).await;
    budget(&env, &reply, &["BatchGetItem", "Query"], 1);

    let ada = chat_tests::User { id: ada_id, email: String::new(), password: String::new(), token: ada_token };
    let connection = open(&env, &ada, None).await;
    env.calls.reset();
    let path = format!("/api/conversations/{conversation}/connect");
    let reply = env
        .call(ConversationsConnect, "POST", &path, Some(&ada.token), Some(json!({"connection_id": connection})))
        .await;
    budget(&env, &reply, &["BatchGetItem"], 1);
}

#[tokio::test]
async fn websocket_events_stay_within_their_round_trip_budget() {
    let (env, _gateway) = TestEnv::with_realtime().await;
    let (ada, bob) = (env.register("ada").await, env.register("bob").await);
    let conversation = env.direct_conversation(&ada, &bob).await;
    env.calls.reset();

    let connection = open(&env, &ada, Some(&conversation)).await;
    let connected = Reply { status: 200, body: json!(null), headers: Default::default() };
    budget(&env, &connected, &["BatchGetItem", "TransactWriteItems"], 2);

    let reply = client_frame(&env, &connection, r#"{"action":"whoami"}"#).await;
    budget(&env, &reply, &["GetItem"], 1);

    subscribe(&env, &connection, &conversation).await;
    budget(&env, &connected, &["BatchGetItem"], 1);

    let frame = json!({"action": "sendMessage", "conversation_id": conversation, "message": "hi"}).to_string();
    let reply = client_frame(&env, &connection, &frame).await;
    budget(&env, &reply, &["BatchGetItem", "TransactWriteItems", "BatchGetItem"], 2);

    let frame = json!({"action": "typing", "conversation_id": conversation}).to_string();
    let reply = client_frame(&env, &connection, &frame).await;
    budget(&env, &reply, &["BatchGetItem", "BatchGetItem"], 2);

    let reply = ws(&env, Ws::Disconnect, "valid", &[("connection_id", &connection)]).await;
    budget(&env, &reply, &["Query", "BatchWriteItem", "UpdateItem"], 2);
}
