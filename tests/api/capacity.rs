//! DynamoDB capacity units per request (`chat_tests::capacity`): first that the local DynamoDB
//! charges by DynamoDB's documented sizing rules, on items whose size is worked out by hand; then
//! what each route costs, printed as a table and, with `CAPACITY_REPORT=<file>` (`./infra/capacity`),
//! written to `docs/benchmarks/capacity.md`.

use crate::realtime::{client_frame, open};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chat_tests::Function::{
    AuthLogin, AuthRegister, ConversationsCreate, ConversationsHistory, ConversationsList, MessagesSend, UsersGet,
    UsersList,
};
use chat_tests::capacity::{CapacityMeter, Units};
use chat_tests::{Reply, TestEnv};
use serde_json::json;
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
    calls: usize,
    sequential: usize,
    units: Units,
}

fn measured(env: &TestEnv, route: &str, reply: &Reply) -> Row {
    assert!(reply.status < 300, "{route}: {} {}", reply.status, reply.body);
    let row = Row {
        route: route.into(),
        calls: env.calls.operations().len(),
        sequential: env.calls.sequential(),
        units: env.capacity.take(),
    };
    env.calls.reset();
    row
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| request | DynamoDB calls | sequential round trips | read units | write units |\n|---|---:|---:|---:|---:|\n",
    );
    for row in rows {
        out += &format!(
            "| {} | {} | {} | {} | {} |\n",
            row.route, row.calls, row.sequential, row.units.read, row.units.write
        );
    }
    out
}

#[tokio::test]
async fn capacity_per_route_in_a_direct_conversation() {
    let (env, _gateway) = TestEnv::with_realtime().await;
    let bob = env.register("bob").await;
    let mut rows = Vec::new();
    env.calls.reset();
    env.capacity.take();

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
    env.calls.reset();
    env.capacity.take();

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
    env.calls.reset();
    env.capacity.take();
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
    let short_send = &rows.iter().find(|r| r.route == "`POST /api/messages` (2 characters)").unwrap().units;
    assert_eq!(short_send, &Units { read: 4.0, write: 4.0 }, "what a short direct send costs");
    if let Ok(path) = std::env::var("CAPACITY_REPORT") {
        write_report(&path, &table);
    }
}

fn write_report(path: &str, table: &str) {
    let text = format!(
        "# DynamoDB capacity per request\n\n\
         Written by `./infra/capacity` (`tests/api/capacity.rs`): each request replayed through its\n\
         handler against the local DynamoDB, which charges by DynamoDB's documented sizing rules (held\n\
         to them by `the_local_dynamodb_charges_by_the_documented_sizing_rules`). Units are on-demand\n\
         request units, table and GSI1 together; transactional writes count twice. A direct\n\
         conversation, both members with one socket each.\n\n{table}"
    );
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{path}: {e}"));
}
