//! `inbox-activity` (functions/inbox-activity, events/inbox-activity): stream records of
//! stored messages move their conversation up each member's inbox and each sender's read
//! position to their message, off the request path. Batches are built from the fixture's
//! record, as the stream would deliver them.

use crate::common::{assert_ok, ids, take_dynamodb_down};
use chat_tests::Function::{ConversationsCreate, ConversationsList};
use chat_tests::{TestEnv, User};
use serde_json::{Value, json};

/// One INSERT record of `events/inbox-activity/insert.json` for the message a send answered.
fn record(conversation: &str, sender: &User, sent: &Value) -> Value {
    chat_tests::message_record(conversation, sender, sent)
}

async fn run(env: &TestEnv, records: Vec<Value>) -> Vec<String> {
    let event = serde_json::from_value(json!({ "Records": records })).expect("a DynamoDB stream event");
    let response = inbox_activity::handler(&env.app, event).await;
    response.batch_item_failures.into_iter().filter_map(|f| f.item_identifier).collect()
}

async fn inbox(env: &TestEnv, user: &User) -> Value {
    assert_ok(&env.call(ConversationsList, "GET", "/api/conversations", Some(&user.token), None).await, 200).clone()
}

async fn group(env: &TestEnv, creator: &User, others: &[&User]) -> String {
    let ids: Vec<&str> = others.iter().map(|u| u.id.as_str()).collect();
    let body = json!({"is_ai": false, "participant_ids": ids});
    let created = env.call(ConversationsCreate, "POST", "/api/conversations", Some(&creator.token), Some(body)).await;
    assert_ok(&created, 201)["conversation_id"].as_str().unwrap().to_string()
}

/// The read position a member's inbox shows for a conversation.
fn last_read(inbox: &Value, conversation: &str) -> Value {
    let entry = inbox.as_array().unwrap().iter().find(|c| c["conversation_id"] == json!(conversation)).unwrap();
    entry["last_read_message_id"].clone()
}

#[tokio::test]
async fn one_batch_moves_every_members_inbox_and_each_senders_read_position() {
    let env = TestEnv::new().await;
    let (ann, bob, cy) = (env.register("ann").await, env.register("bob").await, env.register("cy").await);
    let direct = env.direct_conversation(&ann, &bob).await;
    let trio = group(&env, &ann, &[&bob, &cy]).await;
    // Newest first: the group, then the direct one.
    assert_eq!(ids(&inbox(&env, &bob).await, "conversation_id"), [trio.as_str(), &direct]);

    let first = env.send_unsettled(&bob, &direct, "one").await;
    let second = env.send_unsettled(&ann, &direct, "two").await;
    let third = env.send_unsettled(&cy, &trio, "three").await;
    let last = env.send_unsettled(&bob, &direct, "four").await;
    // Nothing moved yet: the sends wrote only their messages and the summaries.
    assert_eq!(ids(&inbox(&env, &cy).await, "conversation_id"), [trio.as_str()]);
    assert_eq!(ids(&inbox(&env, &bob).await, "conversation_id"), [trio.as_str(), &direct]);
    assert_eq!(last_read(&inbox(&env, &bob).await, &direct), Value::Null);

    let batch = vec![
        record(&direct, &bob, &first.body),
        record(&direct, &ann, &second.body),
        record(&trio, &cy, &third.body),
        record(&direct, &bob, &last.body),
    ];
    assert!(run(&env, batch).await.is_empty());
    for user in [&ann, &bob] {
        assert_eq!(ids(&inbox(&env, user).await, "conversation_id"), [direct.as_str(), &trio], "{}", user.id);
    }
    // Each sender's newest message is their read position; the others' stay unread.
    let bobs = inbox(&env, &bob).await;
    assert_eq!(last_read(&bobs, &direct), last.body["message_id"]);
    assert_eq!(bobs[0]["unread_count"], json!(0));
    let anns = inbox(&env, &ann).await;
    assert_eq!(last_read(&anns, &direct), second.body["message_id"]);
    assert_eq!(anns[0]["unread_count"], json!(1), "bob's last message came after ann's");
    assert_eq!(last_read(&inbox(&env, &cy).await, &trio), third.body["message_id"]);
}

#[tokio::test]
async fn a_late_or_repeated_record_never_moves_anything_back() {
    let env = TestEnv::new().await;
    let (ann, bob, cy) = (env.register("ann").await, env.register("bob").await, env.register("cy").await);
    let older = env.direct_conversation(&ann, &bob).await;
    let newer = env.direct_conversation(&ann, &cy).await;
    let early = env.send_unsettled(&ann, &older, "early").await;
    let late = env.send(&ann, &older, "late").await;
    let elsewhere = env.send(&cy, &newer, "elsewhere").await;
    let before = env.snapshot().await;

    // The early message's record arrives after the later ones (a retried batch), twice.
    assert!(run(&env, vec![record(&older, &ann, &early.body), record(&older, &ann, &early.body)]).await.is_empty());
    assert_eq!(env.snapshot().await, before, "nothing moved back");
    assert_eq!(ids(&inbox(&env, &ann).await, "conversation_id"), [newer.as_str(), &older]);
    assert_eq!(last_read(&inbox(&env, &ann).await, &older), late.body["message_id"]);
    let _ = elsewhere;
}

#[tokio::test]
async fn a_member_who_left_is_skipped_and_other_records_are_ignored() {
    let env = TestEnv::new().await;
    let (ann, bob, cy) = (env.register("ann").await, env.register("bob").await, env.register("cy").await);
    let trio = group(&env, &ann, &[&bob, &cy]).await;
    let sent = env.send_unsettled(&bob, &trio, "before leaving").await;
    let path = format!("/api/conversations/{trio}/members/{}", bob.id);
    let left =
        env.call(chat_tests::Function::ConversationsMembersRemove, "DELETE", &path, Some(&bob.token), None).await;
    assert_eq!(left.status, 204, "{}", left.body);

    let mut modify = record(&trio, &bob, &sent.body);
    modify["eventName"] = json!("MODIFY");
    let mut not_a_message = record(&trio, &bob, &sent.body);
    not_a_message["dynamodb"]["NewImage"] = json!({"PK": {"S": "USER#x"}, "SK": {"S": "PROFILE"}});
    let before = env.snapshot().await;
    assert!(run(&env, vec![modify, not_a_message]).await.is_empty());
    assert_eq!(env.snapshot().await, before, "only inserted messages count");

    assert!(run(&env, vec![record(&trio, &bob, &sent.body)]).await.is_empty());
    let snapshot = env.snapshot().await;
    assert!(!snapshot.contains_key(&(format!("USER#{}", bob.id), format!("CONV#{trio}"))), "no membership made up");
    assert_eq!(ids(&inbox(&env, &bob).await, "conversation_id"), Vec::<String>::new());
    assert_eq!(ids(&inbox(&env, &cy).await, "conversation_id"), [trio.as_str()]);
}

#[tokio::test]
async fn dynamodb_down_reports_each_conversations_first_record_for_a_retry() {
    let mut env = TestEnv::new().await;
    let (ann, bob, cy) = (env.register("ann").await, env.register("bob").await, env.register("cy").await);
    let one = env.direct_conversation(&ann, &bob).await;
    let two = env.direct_conversation(&ann, &cy).await;
    let (a, b, c) = (
        env.send_unsettled(&ann, &one, "a").await,
        env.send_unsettled(&bob, &one, "b").await,
        env.send_unsettled(&cy, &two, "c").await,
    );
    let records = vec![record(&one, &ann, &a.body), record(&one, &bob, &b.body), record(&two, &cy, &c.body)];
    let firsts: Vec<String> = [&records[0], &records[2]]
        .iter()
        .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap().to_string())
        .collect();
    take_dynamodb_down(&mut env);
    let mut failed = run(&env, records).await;
    failed.sort();
    let mut expected = firsts;
    expected.sort();
    assert_eq!(failed, expected);
}
