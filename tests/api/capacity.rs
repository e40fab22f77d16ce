//! DynamoDB capacity units per request (`chat_tests::capacity`): first that the local DynamoDB
//! charges by DynamoDB's documented sizing rules, on items whose size is worked out by hand; then
//! what each route costs, printed as a table and, with `CAPACITY_REPORT=<file>` (`./infra/capacity`),
//! written to `docs/benchmarks/capacity.md`.

use crate::realtime::{client_frame, open};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chat_core::domain::UserId;
use chat_tests::Function::{
    AuthLogin, AuthRegister, ConversationsCreate, ConversationsHistory, ConversationsList, ConversationsMembersAdd,
    ConversationsMembersList, ConversationsMembersRemove, ConversationsRead, MessagesSend, UsersGet, UsersList,
};
use chat_tests::capacity::{CapacityMeter, Units};
use chat_tests::{Reply, TestEnv, User};
use futures::future::join_all;
use serde_json::{Value, json};
use std::collections::HashMap;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// An item of exactly `size` bytes by DynamoDB's rules: each attribute is its name's UTF-8 bytes
/// plus its value's (a string: its UTF-8 bytes).
fn item(pk: &str, size: usize, indexed: bool) -> HashMap<String, AttributeValue> {
    let mut item: HashMap<String, AttributeValue> = [("PK".into(), s(pk)), ("SK".into(), s("X"))].into();
    if indexed {
        item.insert("GSI1PK".into(), s("CALIBRATE"));
        item.insert("GSI1SK".into(), s(pk));
    }
    let used: usize = item.iter().map(|(name, value)| name.len() + value.as_s().unwrap().len()).sum();
    item.insert("data".into(), s(&"a".repeat(size - used - "data".len())));
    item
}

#[tokio::test]
async fn the_local_dynamodb_charges_by_the_documented_sizing_rules() {
    let env = TestEnv::new().await;
    let meter = CapacityMeter::default();
    let client = Client::from_conf(env.client.config().to_builder().interceptor(meter.clone()).build());
    let put = |item| client.put_item().table_name(&env.table).set_item(Some(item)).send();

    // Writes: 1 unit per started KB of the larger of the old and new item.
    put(item("a", 1024, false)).await.unwrap();
    assert_eq!(meter.take(), Units { read: 0.0, write: 1.0 }, "1,024 bytes: one unit");
    put(item("b", 1025, false)).await.unwrap();
    assert_eq!(meter.take().write, 2.0, "1,025 bytes: two units");
    put(item("b", 100, false)).await.unwrap();
    assert_eq!(meter.take().write, 2.0, "overwriting 1,025 bytes with 100 still costs the larger");
    // A GSI charges its own write for an item it lists (projection ALL: the whole item).
    put(item("c", 1500, true)).await.unwrap();
    assert_eq!(meter.take().write, 4.0, "1,500 bytes in the table and in GSI1");
    // Transactional writes cost twice.
    let transact = Put::builder().table_name(&env.table).set_item(Some(item("d", 1500, false))).build().unwrap();
    client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(transact).build())
        .send()
        .await
        .unwrap();
    assert_eq!(meter.take().write, 4.0, "a transactional write of 1,500 bytes");

    // Reads: 1 unit per started 4 KB, strongly consistent; half that eventually consistent.
    put(item("e", 4097, false)).await.unwrap();
    meter.take();
    let key: HashMap<_, _> = [("PK".to_string(), s("e")), ("SK".to_string(), s("X"))].into();
    let get = |consistent| {
        client.get_item().table_name(&env.table).set_key(Some(key.clone())).consistent_read(consistent).send()
    };
    get(true).await.unwrap();
    assert_eq!(meter.take(), Units { read: 2.0, write: 0.0 }, "4,097 bytes read consistently");
    get(false).await.unwrap();
    assert_eq!(meter.take().read, 1.0, "the same, eventually consistent");
    // A Query rounds the sum of the items it reads, not each item.
    for pk in ["q1", "q2", "q3"] {
        put(item(pk, 1500, true)).await.unwrap();
    }
    meter.take();
    client
        .query()
        .table_name(&env.table)
        .index_name("GSI1")
        .key_condition_expression("GSI1PK = :pk")
        .expression_attribute_values(":pk", s("CALIBRATE"))
        .send()
        .await
        .unwrap();
    // c, q1, q2, q3: 6,000 bytes → 2 units strongly consistent → 1 eventually (a GSI always is).
    assert_eq!(meter.take().read, 1.0, "four 1,500-byte items in one Query");
}

/// One row of the table.
struct Row {
    route: String,
    operations: Vec<String>,
    sequential: usize,
    units: Units,
}

fn measured(env: &TestEnv, route: &str, reply: &Reply) -> Row {
    assert!(reply.status < 300, "{route}: {} {}", reply.status, reply.body);
    measured_since_reset(env, route)
}

/// What the app's calls since the last reset cost (a request, or work off the request path).
fn measured_since_reset(env: &TestEnv, route: &str) -> Row {
    let row = Row {
        route: route.into(),
        operations: env.calls.operations(),
        sequential: env.calls.sequential(),
        units: env.capacity.take(),
    };
    env.calls.reset();
    row
}

/// Forgets what setting up the next measurement cost.
fn start_measuring(env: &TestEnv) {
    env.calls.reset();
    env.capacity.take();
}

fn row<'a>(rows: &'a [Row], route: &str) -> &'a Row {
    rows.iter().find(|r| r.route == route).unwrap_or_else(|| panic!("no row {route}"))
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| request | DynamoDB calls | sequential round trips | read units | write units |\n|---|---:|---:|---:|---:|\n",
    );
    for row in rows {
        out += &format!(
            "| {} | {} | {} | {} | {} |\n",
            row.route,
            row.operations.len(),
            row.sequential,
            row.units.read,
            row.units.write
        );
    }
    out
}

#[tokio::test]
async fn capacity_per_route_in_a_direct_conversation() {
    let (env, _gateway) = TestEnv::with_realtime().await;
    let bob = env.register("bob").await;
    let mut rows = Vec::new();
    start_measuring(&env);

    let body = json!({"email": "ada@example.com", "password": "correct horse", "name": "Ada"});
    let reply = env.call(AuthRegister, "POST", "/api/auth/register", None, Some(body)).await;
    rows.push(measured(&env, "`POST /api/auth/register`", &reply));
    let ada = chat_tests::User {
        id: reply.body["user_id"].as_str().unwrap().into(),
        email: "ada@example.com".into(),
        password: "correct horse".into(),
        token: reply.body["token"].as_str().unwrap().into(),
    };
    let body = json!({"email": ada.email, "password": ada.password});
    let reply = env.call(AuthLogin, "POST", "/api/auth/login", None, Some(body)).await;
    rows.push(measured(&env, "`POST /api/auth/login`", &reply));
    let reply = env.call(UsersList, "GET", "/api/users", Some(&ada.token), None).await;
    rows.push(measured(&env, "`GET /api/users` (2 users)", &reply));
    let reply = env.call(UsersGet, "GET", &format!("/api/users/{}", bob.id), Some(&ada.token), None).await;
    rows.push(measured(&env, "`GET /api/users/{id}`", &reply));

    let direct = json!({"is_ai": false, "participant_id": bob.id});
    let reply = env.call(ConversationsCreate, "POST", "/api/conversations", Some(&ada.token), Some(direct)).await;
    rows.push(measured(&env, "`POST /api/conversations` (direct, new)", &reply));
    let conversation = reply.body["conversation_id"].as_str().unwrap().to_string();
    // Both members listen, one socket each: the send's fan-out reads their subscriber items.
    for user in [&ada, &bob] {
        open(&env, user, Some(&conversation)).await;
    }
    start_measuring(&env);

    let send = |text: String, client_id: Option<&str>| {
        let mut body = json!({"conversation_id": conversation, "sender_id": ada.id, "message": text});
        if let Some(id) = client_id {
            body["client_message_id"] = json!(id);
        }
        env.call(MessagesSend, "POST", "/api/messages", Some(&ada.token), Some(body))
    };
    let reply = send("hi".into(), None).await;
    rows.push(measured(&env, "`POST /api/messages` (2 characters)", &reply));
    let reply = send("hi".into(), Some("0b8f5e2a-4c1d-4f6e-9a3b-2d7c8e1f0a95")).await;
    rows.push(measured(&env, "`POST /api/messages` (2 characters, `client_message_id`)", &reply));
    let connection = open(&env, &ada, None).await;
    start_measuring(&env);
    let frame = json!({"action": "sendMessage", "conversation_id": conversation, "message": "hi"}).to_string();
    let reply = client_frame(&env, &connection, &frame).await;
    rows.push(measured(&env, "WebSocket `sendMessage` (2 characters)", &reply));
    let reply = send("é".repeat(4000), None).await;
    rows.push(measured(&env, "`POST /api/messages` (4,000 characters, 8,000 bytes)", &reply));
    // Every summary item now holds the long message: replacing it is charged at its size.
    let reply = send("hi".into(), None).await;
    rows.push(measured(&env, "`POST /api/messages` (2 characters, after the 4,000)", &reply));
    let reply = env.call(ConversationsList, "GET", "/api/conversations", Some(&ada.token), None).await;
    rows.push(measured(&env, "`GET /api/conversations` (1 conversation)", &reply));
    let path = format!("/api/conversations/{conversation}");
    let reply = env.call(ConversationsHistory, "GET", &path, Some(&ada.token), None).await;
    rows.push(measured(&env, "`GET /api/conversations/{id}` (5 messages, one of 8 KB)", &reply));

    let table = table(&rows);
    println!("{table}");
    // The send is the hot path: a change to what it costs fails here first (and then the figure
    // here and in docs/benchmarks/capacity.md move together).
    let short_send = &row(&rows, "`POST /api/messages` (2 characters)").units;
    assert_eq!(short_send, &Units { read: 4.0, write: 4.0 }, "what a short direct send costs");
    write_report("direct", &format!("## A direct conversation\n\nBoth members with one socket each.\n\n{table}"));
}

/// With `CAPACITY_REPORT=<directory>` (`./infra/capacity`), writes `<directory>/<part>.md`: the
/// tests run in parallel, so each writes its own part and the script puts them together.
fn write_report(part: &str, text: &str) {
    if let Ok(dir) = std::env::var("CAPACITY_REPORT") {
        let path = std::path::Path::new(&dir).join(format!("{part}.md"));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// Groups of 16 and 256 members, every member with one socket (so the send's listeners read
/// finds real items): what grows with the group, and where.
#[tokio::test]
async fn capacity_per_route_in_groups_of_16_and_256() {
    let small = group_rows(16).await;
    let large = group_rows(256).await;
    let send = "`POST /api/messages` (2 characters)";
    let (small_send, large_send) = (row(&small, send), row(&large, send));
    // The send's write does not grow with the group: the message and META (and a check of the
    // sender's membership); the other members' inboxes move off the request path.
    assert_eq!(small_send.units.write, large_send.units.write, "a group send's write units, 16 vs 256 members");
    assert_eq!((small_send.sequential, large_send.sequential), (2, 2), "a group send's round trips");
    // 256 members' connections: 3 BatchGetItems (100 keys each at most), beside the
    // transaction; with the conversation read before them, 4 in all in 2 round trips.
    let batch_gets = |r: &Row| r.operations.iter().filter(|o| *o == "BatchGetItem").count();
    assert_eq!((batch_gets(small_send), batch_gets(large_send)), (2, 4), "{:?}", large_send.operations);

    let mut text = String::new();
    for (size, rows) in [(16, &small), (256, &large)] {
        let table = table(rows);
        println!("{size} members\n{table}");
        text += &format!("## A group of {size} members\n\nEvery member with one socket.\n\n{table}\n");
    }
    write_report("groups", text.trim_end());
}

/// The rows for one group of `size` members (the creator sends; another member reads).
async fn group_rows(size: usize) -> Vec<Row> {
    let (env, _gateway) = TestEnv::with_realtime().await;
    let names: Vec<String> = (0..size).map(|i| format!("member{i}")).collect();
    let mut members: Vec<User> = Vec::new();
    // A few at a time: each costs an argon2 hash, and all 256 at once overrun the handler's
    // time bounds (503) on a busy machine.
    for chunk in names.chunks(16) {
        members.extend(join_all(chunk.iter().map(|name| env.register(name))).await);
    }
    let (creator, reader, leaver) = (&members[0], &members[1], &members[size - 1]);
    let mut rows = Vec::new();

    start_measuring(&env);
    let others: Vec<&str> = members[1..].iter().map(|m| m.id.as_str()).collect();
    let body = json!({"is_ai": false, "participant_ids": others, "title": "team"});
    let reply = env.call(ConversationsCreate, "POST", "/api/conversations", Some(&creator.token), Some(body)).await;
    rows.push(measured(&env, &format!("`POST /api/conversations` (group of {size}, new)"), &reply));
    let conversation = reply.body["conversation_id"].as_str().unwrap().to_string();
    let sockets: Vec<String> = join_all(members.iter().map(|m| open(&env, m, None))).await;

    // The connections of every member, on their own: ⌈members / 100⌉ BatchGetItems at once.
    start_measuring(&env);
    let ids = members.iter().map(|m| UserId::parse(&m.id).unwrap());
    let listeners = env.app.store.listeners(ids).await.unwrap();
    assert_eq!(listeners.len(), size, "one socket per member");
    let batches = size.div_ceil(100);
    assert_eq!(env.calls.operations(), vec!["BatchGetItem"; batches], "the connections of {size} members");
    assert_eq!(env.calls.sequential(), 1, "the connections of {size} members: one round trip");

    start_measuring(&env);
    let send = |text: String| {
        let body = json!({"conversation_id": conversation, "sender_id": creator.id, "message": text});
        env.call(MessagesSend, "POST", "/api/messages", Some(&creator.token), Some(body))
    };
    let reply = send("hi".into()).await;
    rows.push(measured(&env, "`POST /api/messages` (2 characters)", &reply));
    let frame = json!({"action": "sendMessage", "conversation_id": conversation, "message": "hi"}).to_string();
    let reply = client_frame(&env, &sockets[0], &frame).await;
    rows.push(measured(&env, "WebSocket `sendMessage` (2 characters)", &reply));
    let reply = send("é".repeat(4000)).await;
    rows.push(measured(&env, "`POST /api/messages` (4,000 characters, 8,000 bytes)", &reply));
    let reply = send("hi".into()).await;
    rows.push(measured(&env, "`POST /api/messages` (2 characters, after the 4,000)", &reply));
    let last: Value = reply.body.clone();

    // Off the request path: the stream moves the conversation up every member's inbox.
    env.stream_message(&conversation, creator, &last).await;
    rows.push(measured_since_reset(&env, "`inbox-activity`, one message (off the request path)"));

    let reply = env.call(ConversationsList, "GET", "/api/conversations", Some(&reader.token), None).await;
    rows.push(measured(&env, "`GET /api/conversations` (a member: 1 conversation, 4 unread)", &reply));
    let path = format!("/api/conversations/{conversation}");
    let reply = env.call(ConversationsHistory, "GET", &path, Some(&reader.token), None).await;
    rows.push(measured(&env, "`GET /api/conversations/{id}` (4 messages, one of 8 KB)", &reply));
    let members_path = format!("{path}/members");
    let reply = env.call(ConversationsMembersList, "GET", &members_path, Some(&reader.token), None).await;
    rows.push(measured(&env, &format!("`GET /api/conversations/{{id}}/members` ({size} members)"), &reply));
    let leave_path = format!("{members_path}/{}", leaver.id);
    let reply = env.call(ConversationsMembersRemove, "DELETE", &leave_path, Some(&creator.token), None).await;
    rows.push(measured(&env, "`DELETE /api/conversations/{id}/members/{user_id}` (the admin removes 1)", &reply));
    let body = json!({"user_ids": [leaver.id]});
    let reply = env.call(ConversationsMembersAdd, "POST", &members_path, Some(&creator.token), Some(body)).await;
    rows.push(measured(&env, &format!("`POST /api/conversations/{{id}}/members` (1 user, back to {size})"), &reply));
    let body = json!({"message_id": last["message_id"]});
    let reply = env.call(ConversationsRead, "POST", &format!("{path}/read"), Some(&reader.token), Some(body)).await;
    rows.push(measured(&env, "`POST /api/conversations/{id}/read` (the newest message)", &reply));
    rows
}
