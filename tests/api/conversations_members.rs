//! Group members: `GET|POST /api/conversations/{conversation_id}/members` and
//! `DELETE /api/conversations/{conversation_id}/members/{user_id}`
//! (events/conversations-members-{list,add,remove}).

use crate::common::{assert_auth_refusals, assert_ok, with_token};
use crate::realtime::open;
use chat_core::domain::UserId;
use chat_core::store::items::{Entity, UserItem};
use chat_core::store::keys;
use chat_tests::Function::{
    ConversationsCreate, ConversationsHistory, ConversationsList, ConversationsMembersAdd as Add,
    ConversationsMembersList as List, ConversationsMembersRemove as Remove,
};
use chat_tests::{Reply, TestEnv, User};
use serde_json::{Value, json};

const AGENT: &str = "00000000-0000-4000-8000-000000000a1a";

async fn group(env: &TestEnv, creator: &User, others: &[&str]) -> String {
    let body = json!({"is_ai": false, "participant_ids": others, "title": "team"});
    let reply = env.call(ConversationsCreate, "POST", "/api/conversations", Some(&creator.token), Some(body)).await;
    assert_ok(&reply, 201)["conversation_id"].as_str().unwrap().to_string()
}

async fn list(env: &TestEnv, user: &User, conversation: &str) -> Reply {
    env.call(List, "GET", &format!("/api/conversations/{conversation}/members"), Some(&user.token), None).await
}

async fn add(env: &TestEnv, token: &str, conversation: &str, ids: &[String]) -> Reply {
    let path = format!("/api/conversations/{conversation}/members");
    env.call(Add, "POST", &path, Some(token), Some(json!({"user_ids": ids}))).await
}

async fn remove(env: &TestEnv, token: &str, conversation: &str, target: &str) -> Reply {
    env.call(Remove, "DELETE", &format!("/api/conversations/{conversation}/members/{target}"), Some(token), None).await
}

async fn history(env: &TestEnv, user: &User, conversation: &str) -> Reply {
    env.call(ConversationsHistory, "GET", &format!("/api/conversations/{conversation}"), Some(&user.token), None).await
}

/// The members' ids and roles, in order.
async fn roster(env: &TestEnv, user: &User, conversation: &str) -> Vec<(String, String)> {
    let reply = list(env, user, conversation).await;
    assert_ok(&reply, 200)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_str().unwrap().to_string(), m["role"].as_str().unwrap().to_string()))
        .collect()
}

/// `n` users written straight into the table (registering costs an argon2 hash each), with
/// tokens for them.
async fn seed_users(env: &TestEnv, n: usize) -> Vec<(String, String)> {
    let secret = env.app.config.jwt_secret.clone().unwrap();
    let users: Vec<(String, String)> = (0..n)
        .map(|_| {
            let id = uuid::Uuid::new_v4().to_string();
            let token = env.forge_token(&id, 0, 600, &secret);
            (id, token)
        })
        .collect();
    for chunk in users.chunks(25) {
        let requests = chunk
            .iter()
            .map(|(id, _)| {
                let user_id = UserId::parse(id).unwrap();
                let user = UserItem {
                    key: keys::user(user_id),
                    index: None,
                    user_id,
                    email: format!("{id}@example.com"),
                    name: "seeded".into(),
                    profile_picture: None,
                    created_at: "2026-01-01T00:00:00.000000Z".into(),
                };
                let mut item: std::collections::HashMap<_, _> = serde_dynamo::to_item(&user).unwrap();
                item.insert("entity_type".into(), aws_sdk_dynamodb::types::AttributeValue::S(UserItem::TYPE.into()));
                let put = aws_sdk_dynamodb::types::PutRequest::builder().set_item(Some(item)).build().unwrap();
                aws_sdk_dynamodb::types::WriteRequest::builder().put_request(put).build()
            })
            .collect();
        env.client.batch_write_item().request_items(&env.table, requests).send().await.unwrap();
    }
    users
}

fn ids(users: &[(String, String)]) -> Vec<String> {
    users.iter().map(|(id, _)| id.clone()).collect()
}

/// Membership items of a conversation, by owner.
async fn memberships(env: &TestEnv, conversation: &str) -> Vec<String> {
    let sk = format!("CONV#{conversation}");
    env.snapshot()
        .await
        .into_keys()
        .filter(|(pk, s)| *s == sk && pk.starts_with("USER#"))
        .map(|(pk, _)| pk.trim_start_matches("USER#").to_string())
        .collect()
}

#[tokio::test]
async fn lists_a_groups_members_in_join_order() {
    let env = TestEnv::new().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let conversation = group(&env, &alice, &[&bob.id, &carol.id]).await;
    let sent = env.send(&bob, &conversation, "hello").await;
    let message_id = assert_ok(&sent, 200)["message_id"].clone();
    let vars = [("conversation_id", conversation.as_str())];
    for (user, fixture) in [(&alice, "valid"), (&carol, "trailing-slash")] {
        let reply = env.replay(List, fixture, &with_token(&user.token, &vars)).await;
        let body = assert_ok(&reply, 200).as_array().unwrap().clone();
        let got: Vec<(&str, &str, &str)> = body
            .iter()
            .map(|m| (m["user_id"].as_str().unwrap(), m["name"].as_str().unwrap(), m["role"].as_str().unwrap()))
            .collect();
        assert_eq!(got, [(&*alice.id, "alice", "admin"), (&*bob.id, "bob", "member"), (&*carol.id, "carol", "member")]);
        for member in &body {
            let keys: Vec<&str> = member.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys.len(), 6, "{member}");
            assert!(member["joined_at"].is_string());
            assert!(member["profile_picture"].is_null());
        }
        // The sender's send moved their own read position.
        assert_eq!(body[1]["last_read_message_id"], message_id);
        assert_eq!(body[2]["last_read_message_id"], Value::Null);
    }
    assert_auth_refusals(&env, List, "valid", &alice, &vars).await;
}

#[tokio::test]
async fn lists_direct_and_ai_conversations_as_two_plain_members() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let direct = env.direct_conversation(&alice, &bob).await;
    let body = assert_ok(&list(&env, &bob, &direct).await, 200).clone();
    let ids: Vec<&str> = body.as_array().unwrap().iter().map(|m| m["user_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&alice.id.as_str()) && ids.contains(&bob.id.as_str()));
    assert!(body.as_array().unwrap().iter().all(|m| m["role"] == "member" && m["joined_at"] == body[0]["joined_at"]));

    let ai =
        env.call(ConversationsCreate, "POST", "/api/conversations", Some(&alice.token), Some(json!({"is_ai": true})));
    let ai = assert_ok(&ai.await, 201)["conversation_id"].as_str().unwrap().to_string();
    let body = assert_ok(&list(&env, &alice, &ai).await, 200).clone();
    assert_eq!(body[0]["user_id"], alice.id);
    assert_eq!(body[1]["user_id"], AGENT);
    assert!(body[1]["name"].is_string());
    assert_eq!(body[1]["last_read_message_id"], Value::Null);
}

#[tokio::test]
async fn list_refusals() {
    let env = TestEnv::new().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let conversation = group(&env, &alice, &[&bob.id]).await;
    let vars = with_token(&carol.token, &[("conversation_id", &conversation)]);
    let message = env.refused(404, env.replay(List, "valid", &vars)).await;
    assert_eq!(message, "conversation not found");
    let message = env.refused(404, env.replay(List, "unknown-conversation", &vars)).await;
    assert_eq!(message, "conversation not found");
    env.refused(400, env.replay(List, "bad-uuid", &vars)).await;
}

#[tokio::test]
async fn any_member_adds_and_the_added_read_the_whole_history() {
    let env = TestEnv::new().await;
    let (alice, bob, dave, erin) = (
        env.register("alice").await,
        env.register("bob").await,
        env.register("dave").await,
        env.register("erin").await,
    );
    let conversation = group(&env, &alice, &[&bob.id]).await;
    assert_ok(&env.send(&alice, &conversation, "before dave").await, 200);

    let vars = [("conversation_id", conversation.as_str()), ("invitee_id", dave.id.as_str())];
    let reply = env.replay(Add, "valid", &with_token(&bob.token, &vars)).await;
    let body = assert_ok(&reply, 200);
    assert_eq!(body["conversation_id"], conversation);
    assert_eq!(body["participants"], json!([alice.id, bob.id, dave.id]));
    assert_eq!(body["unread_count"], 1, "as bob sees it: alice's message is unread for him");
    let history = history(&env, &dave, &conversation).await;
    assert_eq!(assert_ok(&history, 200).as_array().unwrap().len(), 1, "dave reads the history");
    assert_eq!(
        roster(&env, &dave, &conversation).await,
        [(alice.id.clone(), "admin".into()), (bob.id.clone(), "member".into()), (dave.id.clone(), "member".into())]
    );

    // Members already: ignored, nothing written.
    let before = env.snapshot().await;
    let again = add(&env, &dave.token, &conversation, &[alice.id.clone(), dave.id.clone()]).await;
    assert_eq!(assert_ok(&again, 200)["participants"], json!([alice.id, bob.id, dave.id]));
    assert!(env.snapshot().await == before, "adding members again wrote something");

    let vars = [("conversation_id", conversation.as_str()), ("invitee_id", erin.id.as_str())];
    let reply = env.replay(Add, "trailing-slash", &with_token(&alice.token, &vars)).await;
    assert_eq!(assert_ok(&reply, 200)["participants"].as_array().unwrap().len(), 4);
    let mut stored = memberships(&env, &conversation).await;
    stored.sort();
    let mut expected = vec![alice.id.clone(), bob.id.clone(), dave.id.clone(), erin.id.clone()];
    expected.sort();
    assert_eq!(stored, expected);
    let frank = env.register("frank").await;
    let vars = [("conversation_id", conversation.as_str()), ("invitee_id", frank.id.as_str())];
    assert_auth_refusals(&env, Add, "valid", &alice, &vars).await;
}

#[tokio::test]
async fn add_refusals_store_nothing() {
    let env = TestEnv::new().await;
    let (alice, bob, carol, dave) = (
        env.register("alice").await,
        env.register("bob").await,
        env.register("carol").await,
        env.register("dave").await,
    );
    let conversation = group(&env, &alice, &[&bob.id]).await;
    let direct = env.direct_conversation(&alice, &bob).await;
    let vars = [("conversation_id", conversation.as_str()), ("invitee_id", dave.id.as_str())];
    let as_alice = with_token(&alice.token, &vars);
    for (fixture, status, message) in [
        ("bad-uuid", 400, None),
        ("bad-body", 400, None),
        ("missing-user-ids", 400, Some("user_ids: is required")),
        ("empty-user-ids", 400, Some("user_ids: must hold 1 to 255 user ids")),
        ("not-an-array", 400, Some("user_ids: must be an array of user ids")),
        ("duplicate-user-ids", 400, None),
        ("unknown-user", 400, None),
        ("agent", 400, Some("user_ids: the AI agent cannot be a group member")),
        ("unknown-conversation", 404, Some("conversation not found")),
    ] {
        let got = env.refused(status, env.replay(Add, fixture, &as_alice)).await;
        if let Some(message) = message {
            assert_eq!(got, message, "{fixture}");
        }
        assert!(
            got.starts_with("user_ids") || status != 400 || fixture == "bad-uuid" || fixture == "bad-body",
            "{got}"
        );
    }
    let outsider = with_token(&carol.token, &vars);
    assert_eq!(env.refused(404, env.replay(Add, "valid", &outsider)).await, "conversation not found");
    let on_direct = with_token(&alice.token, &[("conversation_id", &direct), ("invitee_id", &dave.id)]);
    assert_eq!(env.refused(409, env.replay(Add, "valid", &on_direct)).await, "only a group's members change");
}

#[tokio::test]
async fn a_group_holds_at_most_256_members() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    let seeded = seed_users(&env, 256).await;
    let conversation = group(&env, &alice, &[&seeded[0].0]).await;
    let first = ids(&seeded[1..201]);
    assert_eq!(
        assert_ok(&add(&env, &alice.token, &conversation, &first).await, 200)["participants"].as_array().unwrap().len(),
        202
    );
    // 202 + 55 = 257: refused, nothing added.
    let message = env.refused(409, add(&env, &alice.token, &conversation, &ids(&seeded[201..256]))).await;
    assert_eq!(message, "a group has at most 256 members");
    // 202 + 54 = 256 fits.
    let reply = add(&env, &alice.token, &conversation, &ids(&seeded[201..255])).await;
    assert_eq!(assert_ok(&reply, 200)["participants"].as_array().unwrap().len(), 256);
    assert_eq!(memberships(&env, &conversation).await.len(), 256);
}

#[tokio::test]
async fn concurrent_adds_never_exceed_256_nor_lose_a_member() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let seeded = seed_users(&env, 400).await;
    let conversation = group(&env, &alice, &[&bob.id]).await;
    let (a, b) = (ids(&seeded[..200]), ids(&seeded[200..]));
    let (ra, rb) = tokio::join!(add(&env, &alice.token, &conversation, &a), add(&env, &bob.token, &conversation, &b));
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "exactly one of two batches of 200 fits: {} / {}", ra.body, rb.body);
    let winner = if ra.status == 200 { &a } else { &b };
    let members = roster(&env, &alice, &conversation).await;
    assert_eq!(members.len(), 202);
    let got: Vec<&String> = members.iter().map(|(id, _)| id).skip(2).collect();
    assert_eq!(got, winner.iter().collect::<Vec<_>>());
    assert_eq!(memberships(&env, &conversation).await.len(), 202);

    // Two batches that fit together both land, whatever their order.
    let conversation = group(&env, &alice, &[&bob.id]).await;
    let (a, b) = (ids(&seeded[..27]), ids(&seeded[27..54]));
    let (ra, rb) = tokio::join!(add(&env, &alice.token, &conversation, &a), add(&env, &bob.token, &conversation, &b));
    assert_ok(&ra, 200);
    assert_ok(&rb, 200);
    let members = roster(&env, &alice, &conversation).await;
    assert_eq!(members.len(), 56);
    for id in a.iter().chain(&b) {
        assert!(members.iter().any(|(m, _)| m == id), "lost {id}");
    }
    assert_eq!(memberships(&env, &conversation).await.len(), 56);
}

#[tokio::test]
async fn concurrent_add_and_remove_both_land() {
    let env = TestEnv::new().await;
    let (alice, bob, carol, dave) = (
        env.register("alice").await,
        env.register("bob").await,
        env.register("carol").await,
        env.register("dave").await,
    );
    let conversation = group(&env, &alice, &[&bob.id, &carol.id]).await;
    let (removed, added) = tokio::join!(
        remove(&env, &alice.token, &conversation, &bob.id),
        add(&env, &carol.token, &conversation, std::slice::from_ref(&dave.id))
    );
    assert_eq!(removed.status, 204, "{}", removed.body);
    assert_ok(&added, 200);
    let members: Vec<String> = roster(&env, &alice, &conversation).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(members, [alice.id.clone(), carol.id.clone(), dave.id.clone()]);
    let mut stored = memberships(&env, &conversation).await;
    stored.sort();
    let mut expected = members.clone();
    expected.sort();
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn adding_pushes_conversation_created_to_the_added_and_members_changed_to_all() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, dave) = (env.register("alice").await, env.register("bob").await, env.register("dave").await);
    let conversation = group(&env, &alice, &[&bob.id]).await;
    assert_ok(&env.send(&alice, &conversation, "hi").await, 200);
    let (a, b, d) = (open(&env, &alice, None).await, open(&env, &bob, None).await, open(&env, &dave, None).await);
    gateway.take();
    assert_ok(&add(&env, &bob.token, &conversation, std::slice::from_ref(&dave.id)).await, 200);
    let changed = json!({"type": "members_changed", "conversation_id": conversation, "added": [dave.id], "removed": [], "by": bob.id});
    assert_eq!(gateway.frames_to(&a), std::slice::from_ref(&changed));
    assert_eq!(gateway.frames_to(&b), std::slice::from_ref(&changed));
    let to_dave = gateway.frames_to(&d);
    assert_eq!(to_dave.len(), 2, "{to_dave:?}");
    assert_eq!(to_dave[0]["type"], "conversation_created");
    assert_eq!(to_dave[0]["conversation"]["participants"], json!([alice.id, bob.id, dave.id]));
    assert_eq!(to_dave[0]["conversation"]["unread_count"], 1, "the history is unread for dave");
    assert_eq!(to_dave[1], changed);
}

#[tokio::test]
async fn a_removed_member_loses_access_and_frames_at_once() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let conversation = group(&env, &alice, &[&bob.id, &carol.id]).await;
    let (a, b) = (open(&env, &alice, None).await, open(&env, &bob, None).await);
    gateway.take();
    let vars = [("conversation_id", conversation.as_str()), ("user_id", bob.id.as_str())];
    let reply = env.replay(Remove, "valid", &with_token(&alice.token, &vars)).await;
    assert_eq!((reply.status, &reply.body), (204, &Value::Null), "{}", reply.body);
    let changed = json!({"type": "members_changed", "conversation_id": conversation, "added": [], "removed": [bob.id], "by": alice.id});
    assert_eq!(gateway.frames_to(&a), std::slice::from_ref(&changed));
    assert_eq!(gateway.frames_to(&b), [changed], "the removed hear of it, once");
    assert!(!memberships(&env, &conversation).await.contains(&bob.id));

    gateway.take();
    assert_ok(&env.send(&alice, &conversation, "after bob").await, 200);
    assert!(gateway.frames_to(&b).is_empty(), "bob still gets frames");
    history(&env, &bob, &conversation).await.assert_error(404);
    env.send(&bob, &conversation, "still here?").await.assert_error(404);
    list(&env, &bob, &conversation).await.assert_error(404);
    env.refused(404, remove(&env, &bob.token, &conversation, &carol.id)).await;
    let inbox = env.call(ConversationsList, "GET", "/api/conversations", Some(&bob.token), None).await;
    assert!(crate::common::ids(assert_ok(&inbox, 200), "conversation_id").is_empty(), "it left bob's inbox");
}

#[tokio::test]
async fn remove_refusals_store_nothing() {
    let env = TestEnv::new().await;
    let (alice, bob, carol, dave) = (
        env.register("alice").await,
        env.register("bob").await,
        env.register("carol").await,
        env.register("dave").await,
    );
    let conversation = group(&env, &alice, &[&bob.id, &carol.id]).await;
    let direct = env.direct_conversation(&alice, &bob).await;
    let vars = [("conversation_id", conversation.as_str()), ("user_id", carol.id.as_str())];
    let message = env.refused(403, env.replay(Remove, "valid", &with_token(&bob.token, &vars))).await;
    assert_eq!(message, "only an admin removes another member");
    let as_alice = with_token(&alice.token, &vars);
    assert_eq!(env.refused(404, env.replay(Remove, "not-a-member", &as_alice)).await, "member not found");
    assert_eq!(env.refused(404, env.replay(Remove, "unknown-conversation", &as_alice)).await, "conversation not found");
    env.refused(400, env.replay(Remove, "bad-uuid", &as_alice)).await;
    env.refused(400, env.replay(Remove, "bad-user-id", &as_alice)).await;
    let outsider = with_token(&dave.token, &vars);
    assert_eq!(env.refused(404, env.replay(Remove, "valid", &outsider)).await, "conversation not found");
    let on_direct = with_token(&alice.token, &[("conversation_id", &direct), ("user_id", &bob.id)]);
    assert_eq!(env.refused(409, env.replay(Remove, "valid", &on_direct)).await, "only a group's members change");
    let vars = [("conversation_id", conversation.as_str()), ("user_id", carol.id.as_str())];
    assert_auth_refusals(&env, Remove, "valid", &alice, &vars).await;
}

#[tokio::test]
async fn the_last_admin_leaving_hands_over_to_the_earliest_joined() {
    let env = TestEnv::new().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let conversation = group(&env, &alice, &[&bob.id, &carol.id]).await;
    let vars = [("conversation_id", conversation.as_str()), ("user_id", alice.id.as_str())];
    let reply = env.replay(Remove, "trailing-slash", &with_token(&alice.token, &vars)).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(
        roster(&env, &carol, &conversation).await,
        [(bob.id.clone(), "admin".into()), (carol.id.clone(), "member".into())]
    );
    // Bob, now admin, may remove carol; then leaves: the group stays, with nobody in it.
    assert_eq!(remove(&env, &bob.token, &conversation, &carol.id).await.status, 204);
    assert_eq!(remove(&env, &bob.token, &conversation, &bob.id).await.status, 204);
    list(&env, &bob, &conversation).await.assert_error(404);
    assert!(memberships(&env, &conversation).await.is_empty());
    let snapshot = env.snapshot().await;
    let roster = &snapshot[&(format!("CONV#{conversation}"), "MEMBERS".to_string())];
    assert_eq!(roster["members"], json!([]));
}

#[tokio::test]
async fn each_route_waits_for_two_round_trips_whatever_the_group_size() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    let seeded = seed_users(&env, 152).await;
    let first: Vec<&str> = seeded[..150].iter().map(|(id, _)| id.as_str()).collect();
    let conversation = group(&env, &alice, &first).await;

    env.calls.reset();
    assert_eq!(assert_ok(&list(&env, &alice, &conversation).await, 200).as_array().unwrap().len(), 151);
    assert_eq!(env.calls.sequential(), 2, "list: {:?}", env.calls.operations());

    env.calls.reset();
    assert_ok(&add(&env, &seeded[0].1, &conversation, &ids(&seeded[150..152])).await, 200);
    assert_eq!(env.calls.sequential(), 2, "add: {:?}", env.calls.operations());

    env.calls.reset();
    assert_eq!(remove(&env, &alice.token, &conversation, &seeded[151].0).await.status, 204);
    assert_eq!(env.calls.sequential(), 2, "remove: {:?}", env.calls.operations());
}
