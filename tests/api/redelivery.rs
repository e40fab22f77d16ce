//! A retry delivers what its first attempt stored but never pushed (issue 14): the contract's
//! "a send retried with the same `client_message_id` is always safe, and the retry delivers the
//! message to the sockets if it had not been delivered" - and still "pushes nothing again" when
//! it had been.

use crate::realtime::open;
use chat_core::App;
use chat_core::domain::{ClientMessageId, ConversationId, MessageText, UserId};
use chat_tests::Function::MessagesSend;
use chat_tests::TestEnv;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_retry_pushes_a_message_its_first_attempt_stored_but_never_delivered() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let bobs_socket = open(&env, &bob, Some(&conversation)).await;
    let client = uuid::Uuid::new_v4().to_string();

    // The first attempt stores the message and then pushes nothing, as one whose function died
    // (or whose answer DynamoDB lost) after the write: the same store, no WebSocket endpoint.
    let first_attempt = App::with_store(env.app.config.clone(), env.app.store.clone());
    let (sent, _) = chat_core::messaging::send_message(
        &first_attempt,
        UserId::parse(&alice.id).unwrap(),
        ConversationId::parse(&conversation).unwrap(),
        MessageText::parse("lost on the way".into()).unwrap(),
        Some(ClientMessageId::parse(&client).unwrap()),
    )
    .await
    .unwrap();
    assert!(gateway.frames_to(&bobs_socket).is_empty());

    // The client retries: the same id, after the first attempt's hold on the delivery lapsed.
    let body = json!({"conversation_id": conversation, "sender_id": alice.id, "message": "lost on the way", "client_message_id": client});
    let started = Instant::now();
    let retry = env.call(MessagesSend, "POST", "/api/messages", Some(&alice.token), Some(body.clone())).await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(retry.body["message_id"], json!(sent.message_id));
    assert!(started.elapsed() < Duration::from_secs(15), "the retry waited {:?}", started.elapsed());
    let frames = gateway.frames_to(&bobs_socket);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["message_id"], json!(sent.message_id));

    // Delivered now: another retry pushes nothing again.
    let again = env.call(MessagesSend, "POST", "/api/messages", Some(&alice.token), Some(body)).await;
    assert_eq!(again.body["message_id"], json!(sent.message_id));
    assert_eq!(gateway.frames_to(&bobs_socket).len(), 1, "delivered twice");
    assert_eq!(
        env.call(
            chat_tests::Function::ConversationsHistory,
            "GET",
            &format!("/api/conversations/{conversation}"),
            Some(&bob.token),
            None
        )
        .await
        .body
        .as_array()
        .unwrap()
        .len(),
        1
    );
}
