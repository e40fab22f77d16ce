//! `GET /api/conversations` (events/conversations-list).

use crate::common::{
    AGENT_ID, assert_auth_refusals, assert_fields, assert_ok, follow_links, ids, query_value, with_token,
};
use crate::conversations_create::assert_new_conversation;
use chat_tests::Function::{ConversationsCreate, ConversationsList};
use chat_tests::{Reply, TestEnv, User};
use serde_json::{Value, json};

async fn list(env: &TestEnv, user: &User) -> Reply {
    let reply = env.replay(ConversationsList, "valid", &with_token(&user.token, &[])).await;
    assert_ok(&reply, 200);
    reply
}

async fn new_ai(env: &TestEnv, user: &User) -> String {
    let reply = env
        .call(ConversationsCreate, "POST", "/api/conversations", Some(&user.token), Some(json!({"is_ai": true})))
        .await;
    reply.body["conversation_id"].as_str().unwrap_or_else(|| panic!("create: {}", reply.body)).to_string()
}

/// Creates `n` AI conversations one after the other and returns their ids newest first.
async fn new_ais(env: &TestEnv, user: &User, n: usize) -> Vec<String> {
    let mut created = Vec::new();
    for _ in 0..n {
        created.push(new_ai(env, user).await);
    }
    created.reverse();
    created
}

#[tokio::test]
async fn a_new_user_has_no_conversations() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    let reply = list(&env, &alice).await;
    assert_eq!(reply.body, json!([]));
    assert_eq!(reply.header("link"), None);
}

#[tokio::test]
async fn lists_own_conversations_in_full_most_recent_activity_first() {
    let env = TestEnv::new().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let with_bob = env.direct_conversation(&alice, &bob).await;
    let with_carol = env.direct_conversation(&alice, &carol).await;
    let ai = new_ai(&env, &alice).await;
    let not_alices = env.direct_conversation(&bob, &carol).await;

    // Nothing sent yet: newest conversation first; each in the creation response's shape.
    let reply = list(&env, &alice).await;
    assert_eq!(ids(&reply.body, "conversation_id"), [ai.as_str(), &with_carol, &with_bob]);
    assert_new_conversation(&reply.body[0], true, &[&alice.id, AGENT_ID]);
    assert_new_conversation(&reply.body[1], false, &[&alice.id, &carol.id]);
    assert_new_conversation(&reply.body[2], false, &[&alice.id, &bob.id]);
    let created_at_bob = reply.body[2]["created_at"].clone();

    // A message moves its conversation to the top, for both participants, once the stream
    // has run (`inbox-activity`); the summary moves at once.
    let sent = env.send_unsettled(&bob, &with_bob, "hello alice").await;
    assert_ok(&sent, 200);
    let reply = list(&env, &alice).await;
    assert_eq!(ids(&reply.body, "conversation_id"), [ai.as_str(), &with_carol, &with_bob], "not yet");
    assert_last_message(&reply.body[2], &sent.body, &bob.id, "hello alice");
    env.stream_message(&with_bob, &bob, &sent.body).await;
    let reply = list(&env, &alice).await;
    assert_eq!(ids(&reply.body, "conversation_id"), [with_bob.as_str(), &ai, &with_carol]);
    assert_last_message(&reply.body[0], &sent.body, &bob.id, "hello alice");
    assert_eq!(reply.body[0]["created_at"], created_at_bob);
    assert_eq!(ids(&list(&env, &bob).await.body, "conversation_id"), [with_bob.as_str(), &not_alices]);

    let sent = env.send(&alice, &with_carol, "hi carol").await;
    let reply = list(&env, &alice).await;
    assert_eq!(ids(&reply.body, "conversation_id"), [with_carol.as_str(), &with_bob, &ai]);
    assert_last_message(&reply.body[0], &sent.body, &alice.id, "hi carol");
    // Both see the same summary, each with their own read state: the sender has read it.
    let mut carols = list(&env, &carol).await.body[0].clone();
    assert_eq!((&carols["unread_count"], &carols["last_read_message_id"]), (&json!(1), &Value::Null));
    assert_eq!(
        (&reply.body[0]["unread_count"], &reply.body[0]["last_read_message_id"]),
        (&json!(0), &sent.body["message_id"])
    );
    for field in ["unread_count", "last_read_message_id"] {
        carols[field] = reply.body[0][field].clone();
    }
    assert_eq!(carols, reply.body[0], "both participants see the same summary");
}

/// `last_message` is the sent message and `updated_at` its timestamp.
#[track_caller]
pub fn assert_last_message(conversation: &Value, sent: &Value, sender: &str, text: &str) {
    assert_fields(conversation, crate::common::CONVERSATION_FIELDS);
    let expected = json!({
        "message_id": sent["message_id"], "sender_id": sender, "message": text, "timestamp": sent["timestamp"],
    });
    assert_eq!(conversation["last_message"], expected);
    assert_eq!(conversation["updated_at"], sent["timestamp"]);
    assert!(conversation["updated_at"].as_str() > conversation["created_at"].as_str());
}

#[tokio::test]
async fn limit_pages_with_link_headers_to_the_end_without_duplicates() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    let all = new_ais(&env, &alice, 5).await;

    let first = env.replay(ConversationsList, "first-page", &with_token(&alice.token, &[("limit", "2")])).await;
    assert_eq!(ids(assert_ok(&first, 200), "conversation_id"), all[..2]);
    let link = first.next_link().expect("more remain: Link");
    assert!(link.starts_with("/api/conversations?cursor=") && link.ends_with("&limit=2"), "{link}");
    let cursor = query_value(&link, "cursor");
    let vars = with_token(&alice.token, &[("cursor", &cursor), ("limit", "2")]);
    let second = env.replay(ConversationsList, "next-page", &vars).await;
    assert_eq!(ids(assert_ok(&second, 200), "conversation_id"), all[2..4]);

    let pages = follow_links(&env, ConversationsList, "/api/conversations?limit=2", &alice.token).await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.body.as_array().unwrap().len()).collect();
    assert_eq!(sizes, [2, 2, 1]);
    let seen: Vec<String> = pages.iter().flat_map(|p| ids(&p.body, "conversation_id")).collect();
    assert_eq!(seen, all, "every conversation once, in order");

    // Exactly two full pages: the second has no Link.
    let pages = follow_links(&env, ConversationsList, "/api/conversations?limit=5", &alice.token).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(ids(&pages[0].body, "conversation_id"), all);
}

#[tokio::test]
async fn default_page_is_100_and_links_from_a_trailing_slash_are_canonical() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    let all = new_ais(&env, &alice, 101).await;
    let reply = env.replay(ConversationsList, "trailing-slash", &with_token(&alice.token, &[])).await;
    assert_eq!(ids(assert_ok(&reply, 200), "conversation_id"), all[..100]);
    let link = reply.next_link().expect("a 101st conversation remains");
    assert!(link.starts_with("/api/conversations?cursor=") && link.ends_with("&limit=100"), "{link}");
    let last = env.call(ConversationsList, "GET", &link, Some(&alice.token), None).await;
    assert_eq!(ids(assert_ok(&last, 200), "conversation_id"), all[100..]);
    assert_eq!(last.header("link"), None);
}

#[tokio::test]
async fn a_cursor_only_reads_the_callers_own_inbox() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    // Bob's are older than the position alice's cursor holds: the page it opens for bob is his.
    let bobs = new_ais(&env, &bob, 3).await;
    new_ais(&env, &alice, 3).await;
    let alices_link = env.call(ConversationsList, "GET", "/api/conversations?limit=1", Some(&alice.token), None).await;
    let link = alices_link.next_link().unwrap();
    let replayed = env.call(ConversationsList, "GET", &link, Some(&bob.token), None).await;
    let listed = ids(assert_ok(&replayed, 200), "conversation_id");
    assert!(!listed.is_empty(), "the page is empty: nothing shows whose inbox it read");
    assert!(listed.iter().all(|id| bobs.contains(id)), "bob saw alice's conversations: {listed:?}");
}

#[tokio::test]
async fn bad_paging_parameters_are_400() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    new_ais(&env, &alice, 2).await;
    let vars = with_token(&alice.token, &[]);
    for fixture in ["limit-zero", "limit-too-large", "limit-not-a-number"] {
        let message = env.refused(400, env.replay(ConversationsList, fixture, &vars)).await;
        assert_eq!(message, "limit must be an integer from 1 to 100", "fixture {fixture}");
    }
    assert_eq!(env.refused(400, env.replay(ConversationsList, "bad-cursor", &vars)).await, "cursor is invalid");
    for cursor in ["eyJ4IjoxfQ", ""] {
        let vars = with_token(&alice.token, &[("cursor", cursor), ("limit", "1")]);
        assert_eq!(env.refused(400, env.replay(ConversationsList, "next-page", &vars)).await, "cursor is invalid");
    }
}

#[tokio::test]
async fn refuses_missing_and_bad_tokens() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    let message = env.refused(401, env.replay(ConversationsList, "basic-auth", &[])).await;
    assert_eq!(message, "malformed authorization header");
    assert_auth_refusals(&env, ConversationsList, "valid", &alice, &[]).await;
}

/// Found while fuzzing (docs/fuzzing.md): a forged cursor whose position is not one this API
/// hands out is a 400 before DynamoDB sees it. DynamoDB refuses an empty or over-1024-byte sort
/// key in `ExclusiveStartKey` with a ValidationException (a 500); the local stores are laxer.
#[tokio::test]
async fn forged_cursor_positions_are_400() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    let id = new_ai(&env, &alice).await;
    for position in [String::new(), "x".repeat(2000), format!("{id}#"), "2025#2025#someone-else".into()] {
        let cursor = chat_core::store::cursor::encode(&json!({"c": id, "s": position}));
        let path = format!("/api/conversations?cursor={cursor}&limit=1");
        let reply = env.call(ConversationsList, "GET", &path, Some(&alice.token), None).await;
        assert_eq!(reply.assert_error(400), "cursor is invalid", "position {position:?}");
    }
}

/// A membership written before read state (it carried a copy of the summary, no read
/// position): its copied `last_message` counts as read, so an upgrade does not show every older
/// conversation as unread; what arrives after it does count.
#[tokio::test]
async fn an_inbox_entry_from_before_read_state_counts_its_copied_last_message_as_read() {
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let old = env.send(&bob, &conversation, "from before the upgrade").await;
    let copy: std::collections::HashMap<String, Av> = ["message_id", "sender_id", "message", "timestamp"]
        .iter()
        .map(|field| (field.to_string(), Av::S(old.body[*field].as_str().unwrap_or(&bob.id).to_string())))
        .collect();
    env.app
        .store
        .client()
        .update_item()
        .table_name(env.app.store.table())
        .key("PK", Av::S(format!("USER#{}", alice.id)))
        .key("SK", Av::S(format!("CONV#{conversation}")))
        .update_expression("SET last_message = :copy REMOVE last_read_message_id, kind")
        .expression_attribute_values(":copy", Av::M(copy))
        .send()
        .await
        .unwrap();

    let entry = list(&env, &alice).await.body[0].clone();
    assert_eq!((&entry["unread_count"], &entry["last_read_message_id"]), (&json!(0), &old.body["message_id"]));
    env.send(&bob, &conversation, "after the upgrade").await;
    assert_eq!(list(&env, &alice).await.body[0]["unread_count"], json!(1));
}
