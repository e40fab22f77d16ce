//! `GET /api/conversations/{conversation_id}` (events/conversations-history).

use crate::common::{assert_auth_refusals, assert_fields, assert_ok, follow_links, ids, with_token};
use chat_tests::Function::ConversationsHistory;
use chat_tests::{Reply, TestEnv, User};
use serde_json::{Value, json};

/// Alice, Bob, their conversation, and `n` messages sent in turn; returns the message ids in order.
async fn chat(env: &TestEnv, n: usize) -> (User, User, String, Vec<String>) {
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let mut sent = Vec::new();
    for i in 0..n {
        let sender = if i % 2 == 0 { &alice } else { &bob };
        let reply = env.send(sender, &conversation, &format!("message {i}")).await;
        sent.push(assert_ok(&reply, 200)["message_id"].as_str().unwrap().to_string());
    }
    (alice, bob, conversation, sent)
}

async fn page(env: &TestEnv, user: &User, fixture: &str, vars: &[(&str, &str)]) -> Reply {
    let reply = env.replay(ConversationsHistory, fixture, &with_token(&user.token, vars)).await;
    assert_ok(&reply, 200);
    reply
}

fn link(conversation: &str, query: &str) -> Option<String> {
    Some(format!("/api/conversations/{conversation}?{query}"))
}

#[tokio::test]
async fn an_empty_conversation_has_no_messages_and_no_link() {
    let env = TestEnv::new().await;
    let (alice, _, conversation, _) = chat(&env, 0).await;
    let reply = page(&env, &alice, "valid", &[("conversation_id", &conversation)]).await;
    assert_eq!(reply.body, json!([]));
    assert_eq!(reply.header("link"), None);
}

#[tokio::test]
async fn returns_every_message_oldest_first_with_its_id() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let mut expected = Vec::new();
    for (sender, text) in [(&alice, "Hi, how are you?"), (&bob, "I'm good, thanks!"), (&alice, "  stored as sent \n")] {
        let sent = env.send(sender, &conversation, text).await;
        let body = assert_ok(&sent, 200);
        expected.push(json!({
            "message_id": body["message_id"], "sender_id": sender.id, "message": text, "timestamp": body["timestamp"],
        }));
    }
    for (user, fixture) in [(&alice, "valid"), (&bob, "trailing-slash")] {
        let reply = page(&env, user, fixture, &[("conversation_id", &conversation)]).await;
        assert_eq!(reply.body, Value::Array(expected.clone()), "fixture {fixture}");
        assert_fields(&reply.body[0], &["message_id", "sender_id", "message", "timestamp"]);
        assert_eq!(reply.header("link"), None, "the whole conversation fits in a page");
    }
}

#[tokio::test]
async fn default_page_is_the_newest_100_with_a_link_to_older() {
    let env = TestEnv::new().await;
    let (alice, _, conversation, sent) = chat(&env, 105).await;
    let reply = page(&env, &alice, "trailing-slash", &[("conversation_id", &conversation)]).await;
    assert_eq!(ids(&reply.body, "message_id"), sent[5..]);
    assert_eq!(reply.next_link(), link(&conversation, &format!("before={}&limit=100", sent[5])));

    let older = env.call(ConversationsHistory, "GET", &reply.next_link().unwrap(), Some(&alice.token), None).await;
    assert_eq!(ids(assert_ok(&older, 200), "message_id"), sent[..5]);
    assert_eq!(older.header("link"), None);
}

#[tokio::test]
async fn limit_and_before_page_backwards_to_the_first_message() {
    let env = TestEnv::new().await;
    let (alice, bob, conversation, sent) = chat(&env, 25).await;
    let id = ("conversation_id", conversation.as_str());

    let newest = page(&env, &bob, "limit", &[id, ("limit", "10")]).await;
    assert_eq!(ids(&newest.body, "message_id"), sent[15..]);
    assert_eq!(newest.next_link(), link(&conversation, &format!("before={}&limit=10", sent[15])));

    let before = page(&env, &alice, "before", &[id, ("message_id", &sent[15]), ("limit", "10")]).await;
    assert_eq!(ids(&before.body, "message_id"), sent[5..15]);
    assert_eq!(before.next_link(), link(&conversation, &format!("before={}&limit=10", sent[5])));
    let first = page(&env, &alice, "before", &[id, ("message_id", &sent[5]), ("limit", "10")]).await;
    assert_eq!(ids(&first.body, "message_id"), sent[..5]);
    assert_eq!(first.header("link"), None, "nothing older remains");
    let nothing = page(&env, &alice, "before", &[id, ("message_id", &sent[0]), ("limit", "10")]).await;
    assert_eq!((nothing.body.clone(), nothing.header("link")), (json!([]), None));

    // Following the links from the newest page reaches the first message, each message once.
    let pages =
        follow_links(&env, ConversationsHistory, &format!("/api/conversations/{conversation}?limit=10"), &alice.token)
            .await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.body.as_array().unwrap().len()).collect();
    assert_eq!(sizes, [10, 10, 5]);
    let seen: Vec<String> = pages.iter().rev().flat_map(|p| ids(&p.body, "message_id")).collect();
    assert_eq!(seen, sent);

    // A page that ends exactly at the first message has no link either.
    let exact = page(&env, &alice, "before", &[id, ("message_id", &sent[10]), ("limit", "10")]).await;
    assert_eq!(ids(&exact.body, "message_id"), sent[..10]);
    assert_eq!(exact.header("link"), None);
}

#[tokio::test]
async fn after_returns_the_messages_just_after_for_catching_up() {
    let env = TestEnv::new().await;
    let (alice, _, conversation, sent) = chat(&env, 25).await;
    let id = ("conversation_id", conversation.as_str());

    let next = page(&env, &alice, "after", &[id, ("message_id", &sent[4]), ("limit", "5")]).await;
    assert_eq!(ids(&next.body, "message_id"), sent[5..10]);
    // Newer messages remain: the link continues the catch-up after the newest in the page.
    assert_eq!(next.next_link(), link(&conversation, &format!("after={}&limit=5", sent[9])));

    let tail = page(&env, &alice, "after", &[id, ("message_id", &sent[19]), ("limit", "10")]).await;
    assert_eq!(ids(&tail.body, "message_id"), sent[20..]);
    assert_eq!(tail.header("link"), None, "caught up");
    let exact = page(&env, &alice, "after", &[id, ("message_id", &sent[14]), ("limit", "10")]).await;
    assert_eq!(ids(&exact.body, "message_id"), sent[15..]);
    assert_eq!(exact.header("link"), None, "caught up exactly at the page's end");
    let nothing = page(&env, &alice, "after", &[id, ("message_id", &sent[24]), ("limit", "10")]).await;
    assert_eq!((nothing.body.clone(), nothing.header("link")), (json!([]), None));
}

#[tokio::test]
async fn bad_parameters_are_400_naming_them() {
    let env = TestEnv::new().await;
    let (alice, _, conversation, sent) = chat(&env, 3).await;
    let vars = [("conversation_id", conversation.as_str()), ("message_id", &sent[1])];
    let cases = [
        ("before-and-after", "use either before or after, not both"),
        ("bad-before", "before: message id must be a UUID"),
        ("bad-after", "after: message id must be a UUID"),
        ("limit-zero", "limit must be an integer from 1 to 100"),
        ("limit-too-large", "limit must be an integer from 1 to 100"),
        ("bad-uuid", "conversation_id: conversation id must be a UUID"),
    ];
    for (fixture, expected) in cases {
        let message =
            env.refused(400, env.replay(ConversationsHistory, fixture, &with_token(&alice.token, &vars))).await;
        assert_eq!(message, expected, "fixture {fixture}");
    }
}

#[tokio::test]
async fn unknown_conversation_and_outsiders_get_the_same_404() {
    let env = TestEnv::new().await;
    let (alice, _, conversation, _) = chat(&env, 2).await;
    let carol = env.register("carol").await;
    let unknown = env
        .refused(404, env.replay(ConversationsHistory, "unknown-conversation", &with_token(&alice.token, &[])))
        .await;
    let vars = with_token(&carol.token, &[("conversation_id", &conversation)]);
    let outsider = env.refused(404, env.replay(ConversationsHistory, "valid", &vars)).await;
    assert_eq!(unknown, "conversation not found");
    assert_eq!(outsider, unknown, "indistinguishable");
}

#[tokio::test]
async fn refuses_missing_and_bad_tokens() {
    let env = TestEnv::new().await;
    let (alice, _, conversation, _) = chat(&env, 1).await;
    assert_auth_refusals(&env, ConversationsHistory, "valid", &alice, &[("conversation_id", &conversation)]).await;
}
