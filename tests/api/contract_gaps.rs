//! Contract points that no function's module reached (issue 21's audit): the hashing work for
//! an unknown email, copies of one `client_message_id` at once, Management API errors other
//! than 410, the 64 KiB limits at their exact edge, the connect route with a trailing slash,
//! 503 from every function that reads DynamoDB, a 500 without internals, and expired but
//! present connection items.

use crate::common::{assert_ok, assert_unavailable, take_dynamodb_down, with_token};
use crate::realtime::{Ws, client_frame, new_connection_id, open, ws};
use chat_tests::Function::{
    AuthLogin, ConversationsConnect, ConversationsCreate, ConversationsHistory, ConversationsList, MessagesSend,
    UsersGet, UsersList,
};
use chat_tests::fake_gateway::FakeGateway;
use chat_tests::{Reply, TestEnv, User};
use serde_json::{Value, json};

/// The message frames one connection got, as `message_id`s.
fn message_ids_to(gateway: &FakeGateway, connection: &str) -> Vec<String> {
    gateway
        .frames_to(connection)
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["message_id"].as_str().unwrap().to_string())
        .collect()
}

/// `body` with a `padding` field that makes its JSON exactly `total` bytes long.
fn padded_to(mut body: Value, total: usize) -> String {
    body["padding"] = json!("");
    let bare = body.to_string().len();
    assert!(bare <= total, "{bare} bytes before padding");
    body["padding"] = json!("x".repeat(total - bare));
    let text = body.to_string();
    assert_eq!(text.len(), total);
    text
}

/// Sets a connection item's TTL in the past, leaving the item there (DynamoDB deletes late).
async fn expire(env: &TestEnv, connection: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    env.client
        .update_item()
        .table_name(&env.table)
        .key("PK", AttributeValue::S(format!("CONN#{connection}")))
        .key("SK", AttributeValue::S("CONNECTION".into()))
        .update_expression("SET expires_at = :past")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":past", AttributeValue::N((chrono::Utc::now().timestamp() - 1).to_string()))
        .send()
        .await
        .expect("expire the connection");
}

async fn two_users_and_a_conversation(env: &TestEnv) -> (User, User, String) {
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    (alice, bob, conversation)
}

// ---- login: the same hashing work for an unknown email ----

/// An unknown email (or one that is not an email at all) costs the same argon2 verification as
/// a wrong password: a handler that answered 401 before hashing would save a whole verification.
/// Counted, not timed (timings on a loaded machine flake): each refused login runs exactly one
/// full verification (`Passwords::checks`, one counter per test's app). That the dummy hash
/// costs what a real one does is `auth::password`'s own test.
#[tokio::test]
async fn login_does_the_same_hashing_work_for_an_unknown_email() {
    let env = TestEnv::new().await;
    let user = env.register("alice").await;
    let unknown = format!("nobody-{}@example.com", uuid::Uuid::new_v4().simple());
    for email in [user.email.clone(), unknown, "not an email".to_string(), "ai-agent@agent.invalid".to_string()] {
        let before = env.app.passwords.checks();
        let body = json!({"email": email, "password": "not the password"});
        let reply = env.call(AuthLogin, "POST", "/api/auth/login", None, Some(body)).await;
        assert_eq!(reply.assert_error(401), "invalid email or password");
        assert_eq!(env.app.passwords.checks() - before, 1, "{email}: not exactly one verification");
    }
}

// ---- idempotency: copies at once push nothing again ----

/// Eight copies of one `client_message_id` at once, half over HTTP and half as `sendMessage`
/// frames: one message, one id in every answer, and every connection gets its frame once.
#[tokio::test]
async fn copies_of_one_client_message_id_at_once_push_one_frame() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, conversation) = two_users_and_a_conversation(&env).await;
    let alices = open(&env, &alice, Some(&conversation)).await;
    let bobs = open(&env, &bob, Some(&conversation)).await;
    let client = uuid::Uuid::new_v4().to_string();
    let body =
        json!({"conversation_id": conversation, "sender_id": alice.id, "message": "once", "client_message_id": client});
    let frame = json!({"action": "sendMessage", "conversation_id": conversation, "message": "once", "client_message_id": client})
        .to_string();
    let http = (0..4).map(|_| {
        Box::pin(env.call(MessagesSend, "POST", "/api/messages", Some(&alice.token), Some(body.clone())))
            as std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + '_>>
    });
    let frames = (0..4).map(|_| {
        Box::pin(client_frame(&env, &alices, &frame))
            as std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + '_>>
    });
    let replies = futures::future::join_all(http.chain(frames)).await;
    let ids: Vec<&str> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["message_id"].as_str().unwrap()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "the copies got different ids: {ids:?}");
    let history = env
        .call(ConversationsHistory, "GET", &format!("/api/conversations/{conversation}"), Some(&alice.token), None)
        .await;
    assert_eq!(assert_ok(&history, 200).as_array().unwrap().len(), 1, "{}", history.body);
    for connection in [&alices, &bobs] {
        assert_eq!(message_ids_to(&gateway, connection), [ids[0]], "pushes to {connection}");
    }
}

// ---- a dead connection never fails the request, whatever the Management API says ----

#[tokio::test]
async fn management_api_errors_other_than_410_never_fail_a_send() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, conversation) = two_users_and_a_conversation(&env).await;
    let alices = open(&env, &alice, Some(&conversation)).await;
    let mut failing = Vec::new();
    for status in [403, 429, 500, 503] {
        let connection = open(&env, &bob, Some(&conversation)).await;
        gateway.fail_with(&connection, status);
        failing.push((connection, status));
    }
    let sent = env.send(&alice, &conversation, "over HTTP").await;
    let http_id = assert_ok(&sent, 200)["message_id"].as_str().unwrap().to_string();
    let frame = json!({"action": "sendMessage", "conversation_id": conversation, "message": "over WebSocket"});
    let acked = client_frame(&env, &alices, &frame.to_string()).await;
    assert_eq!((acked.status, &acked.body["type"]), (200, &json!("sent")), "{}", acked.body);
    let ws_id = acked.body["message_id"].as_str().unwrap().to_string();

    // Both stored, the healthy connection got both, every failing one was tried for both.
    let history = env
        .call(ConversationsHistory, "GET", &format!("/api/conversations/{conversation}"), Some(&bob.token), None)
        .await;
    let stored: Vec<&str> =
        assert_ok(&history, 200).as_array().unwrap().iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    assert_eq!(stored, [http_id.as_str(), ws_id.as_str()]);
    assert_eq!(message_ids_to(&gateway, &alices), [http_id.clone(), ws_id.clone()]);
    let posts = gateway.posts();
    for (connection, status) in &failing {
        let answered: Vec<u16> = posts.iter().filter(|p| &p.connection_id == connection).map(|p| p.status).collect();
        // Tried for both messages (throttling may be retried): every answer was the error.
        assert!(
            answered.len() >= 2 && answered.iter().all(|s| s == status),
            "posts to the connection failing with {status}: {answered:?}"
        );
    }
}

// ---- 413 exactly past 64 KiB ----

#[tokio::test]
async fn http_bodies_of_65536_bytes_pass_and_65537_are_413() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, _bob, conversation) = two_users_and_a_conversation(&env).await;
    let connection = open(&env, &alice, Some(&conversation)).await;
    let send = json!({"conversation_id": conversation, "sender_id": alice.id, "message": "edge"});
    let attach = json!({"connection_id": connection});
    let connect_path = format!("/api/conversations/{conversation}/connect");
    for (function, path, body) in
        [(MessagesSend, "/api/messages", send), (ConversationsConnect, &*connect_path, attach)]
    {
        let event = |size| {
            let mut event = chat_tests::event("POST", path, Some(&alice.token), None);
            event["body"] = json!(padded_to(body.clone(), size));
            event.to_string()
        };
        let over = env.refused(413, env.invoke_event(function, &event(64 * 1024 + 1))).await;
        assert_eq!(over, "request body is larger than 65536 bytes", "{path}");
        let at = env.invoke_event(function, &event(64 * 1024)).await;
        assert_eq!(at.status, 200, "{path} with 65536 bytes: {}", at.body);
    }
    assert_eq!(message_ids_to(&gateway, &connection).len(), 1, "the accepted message was pushed once");
}

#[tokio::test]
async fn websocket_frames_of_65536_bytes_pass_and_65537_are_413() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let alice = env.register("alice").await;
    let connection = open(&env, &alice, None).await;
    let whoami = json!({"action": "whoami"});
    let at = client_frame(&env, &connection, &padded_to(whoami.clone(), 64 * 1024)).await;
    assert_eq!(at.status, 200, "{}", at.body);
    assert_eq!(at.body["type"], "whoami", "{}", at.body);
    let before = env.snapshot().await;
    let over = client_frame(&env, &connection, &padded_to(whoami, 64 * 1024 + 1)).await;
    assert_eq!(over.status, 413, "{}", over.body);
    assert_eq!((&over.body["type"], &over.body["error"]["status"]), (&json!("error"), &json!(413)), "{}", over.body);
    assert!(env.snapshot().await == before);
    assert!(gateway.posts().is_empty());
}

// ---- the connect route with a trailing slash ----

#[tokio::test]
async fn the_connect_route_tolerates_a_trailing_slash() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, conversation) = two_users_and_a_conversation(&env).await;
    let connection = open(&env, &alice, None).await;
    let vars = with_token(&alice.token, &[("conversation_id", &conversation), ("connection_id", &connection)]);
    let reply = env.replay(ConversationsConnect, "trailing-slash", &vars).await;
    assert_eq!(assert_ok(&reply, 200), &json!({"status": "WebSocket connected", "conversation_id": conversation}));
    // Registered: bob's message reaches the connection.
    let sent = env.send(&bob, &conversation, "hello").await;
    let id = assert_ok(&sent, 200)["message_id"].as_str().unwrap().to_string();
    assert_eq!(message_ids_to(&gateway, &connection), [id]);
}

// ---- 503 from every function that reads DynamoDB ----

#[tokio::test]
async fn every_http_function_that_reads_dynamodb_answers_503_when_it_is_down() {
    let mut env = TestEnv::new().await;
    let (alice, bob, conversation) = two_users_and_a_conversation(&env).await;
    take_dynamodb_down(&mut env);
    let requests = [
        (UsersList, "GET", "/api/users".to_string(), None),
        (UsersGet, "GET", format!("/api/users/{}", bob.id), None),
        (ConversationsList, "GET", "/api/conversations".to_string(), None),
        (ConversationsCreate, "POST", "/api/conversations".to_string(), Some(json!({"is_ai": true}))),
        (ConversationsHistory, "GET", format!("/api/conversations/{conversation}"), None),
        (
            ConversationsConnect,
            "POST",
            format!("/api/conversations/{conversation}/connect"),
            Some(json!({"connection_id": new_connection_id()})),
        ),
        (
            MessagesSend,
            "POST",
            "/api/messages".to_string(),
            Some(json!({"conversation_id": conversation, "sender_id": alice.id, "message": "hi"})),
        ),
        (
            AuthLogin,
            "POST",
            "/api/auth/login".to_string(),
            Some(json!({"email": alice.email, "password": alice.password})),
        ),
    ];
    for (function, method, path, body) in requests {
        let reply = env.call(function, method, &path, Some(&alice.token), body).await;
        assert_eq!(reply.status, 503, "{method} {path}: {}", reply.body);
        assert_unavailable(&reply);
    }
}

#[tokio::test]
async fn every_websocket_function_answers_503_when_dynamodb_is_down() {
    let (mut env, gateway) = TestEnv::with_realtime().await;
    let (alice, _bob, conversation) = two_users_and_a_conversation(&env).await;
    let connection = open(&env, &alice, None).await;
    take_dynamodb_down(&mut env);
    let unavailable = json!({"type": "error", "error": {"message": "service temporarily unavailable", "status": 503}});

    let fresh = new_connection_id();
    let connect = ws(&env, Ws::Connect, "valid", &[("token", &alice.token), ("connection_id", &fresh)]).await;
    assert_eq!(connect.status, 503, "$connect: {}", connect.body);
    let disconnect = ws(&env, Ws::Disconnect, "valid", &[("connection_id", &connection)]).await;
    assert_eq!(disconnect.status, 503, "$disconnect: {}", disconnect.body);
    for frame in [
        json!({"action": "whoami"}),
        json!({"action": "subscribe", "conversation_id": conversation}),
        json!({"action": "sendMessage", "conversation_id": conversation, "message": "hi"}),
        json!({"action": "typing", "conversation_id": conversation}),
    ] {
        let reply = client_frame(&env, &connection, &frame.to_string()).await;
        assert_eq!((reply.status, &reply.body), (503, &unavailable), "{frame}");
    }
    assert!(gateway.posts().is_empty(), "{:?}", gateway.posts());
}

// ---- a 500 says nothing about why ----

/// A profile item the code cannot read (its `name` is a number): the 500 is the envelope with
/// the generic message, and nothing of the item, the table or the decoder.
#[tokio::test]
async fn a_500_carries_no_internals() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    env.client
        .update_item()
        .table_name(&env.table)
        .key("PK", AttributeValue::S(format!("USER#{}", bob.id)))
        .key("SK", AttributeValue::S("PROFILE".into()))
        .update_expression("SET #name = :number")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_names("#name", "name")
        .expression_attribute_values(":number", AttributeValue::N("42".into()))
        .send()
        .await
        .expect("corrupt bob's profile");
    let reply = env.call(UsersGet, "GET", &format!("/api/users/{}", bob.id), Some(&alice.token), None).await;
    assert_eq!(reply.assert_error(500), "internal server error");
    let text = reply.body.to_string();
    for internal in [env.table.as_str(), "USER#", "PROFILE", "invalid type", "serde", "dynamo", "42", bob.id.as_str()] {
        assert!(!text.to_lowercase().contains(&internal.to_lowercase()), "the 500 says {internal:?}: {text}");
    }
    assert!(reply.headers.keys().all(|h| !h.starts_with("x-amz")), "{:?}", reply.headers);
}

// ---- an expired connection item is a closed connection ----

/// whoami, subscribe and sendMessage on a connection whose item is still there but whose TTL
/// has passed answer exactly as on a connection that was never registered, change nothing and
/// push nothing.
#[tokio::test]
async fn expired_connections_are_refused_like_unknown_ones() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, conversation) = two_users_and_a_conversation(&env).await;
    let expired = open(&env, &alice, Some(&conversation)).await;
    let _bobs = open(&env, &bob, Some(&conversation)).await;
    expire(&env, &expired).await;
    let unknown = new_connection_id();
    for frame in [
        json!({"action": "whoami"}),
        json!({"action": "subscribe", "conversation_id": conversation}),
        json!({"action": "sendMessage", "conversation_id": conversation, "message": "from the past"}),
    ] {
        let before = env.snapshot().await;
        let on_expired = client_frame(&env, &expired, &frame.to_string()).await;
        let on_unknown = client_frame(&env, &unknown, &frame.to_string()).await;
        assert!(on_expired.status >= 400, "{frame} on an expired connection: {}", on_expired.body);
        assert_eq!((on_expired.status, &on_expired.body), (on_unknown.status, &on_unknown.body), "{frame}");
        assert_eq!(on_expired.body["type"], "error", "{frame}");
        assert!(env.snapshot().await == before, "{frame} changed the table");
    }
    assert!(gateway.posts().is_empty(), "{:?}", gateway.posts());
}

// ---- HTTP refusals push nothing ----

/// Refused sends, with every member connected: `refused` checks the table and, on an env with
/// a fake gateway, that nothing was pushed.
#[tokio::test]
async fn refused_http_sends_push_nothing() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, conversation) = two_users_and_a_conversation(&env).await;
    open(&env, &alice, Some(&conversation)).await;
    open(&env, &bob, Some(&conversation)).await;
    let carol = env.register("carol").await;
    let send = |user: &User, sender: &str, text: Value| {
        let body = json!({"conversation_id": conversation, "sender_id": sender, "message": text});
        let token = user.token.clone();
        let env = &env;
        async move { env.call(MessagesSend, "POST", "/api/messages", Some(&token), Some(body)).await }
    };
    env.refused(400, send(&alice, &alice.id, json!("   "))).await;
    env.refused(403, send(&alice, &bob.id, json!("as bob"))).await;
    env.refused(404, send(&carol, &carol.id, json!("not mine"))).await;
    env.refused(401, env.call(MessagesSend, "POST", "/api/messages", None, Some(json!({})))).await;
    assert!(gateway.posts().is_empty(), "{:?}", gateway.posts());
    // And the check itself can see a push: an accepted send posts to both connections.
    assert_ok(&send(&alice, &alice.id, json!("accepted")).await, 200);
    assert_eq!(gateway.posts().len(), 2);
}
