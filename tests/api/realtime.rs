//! The real-time pieces: the WebSocket functions (`events/ws-connect`, `events/ws-disconnect`,
//! `events/ws-default`), the connect route (`events/conversations-connect`) and the fan-out of
//! messages, against a fake API Gateway Management endpoint that records every post.

use crate::common::{UNKNOWN_ID, assert_auth_refusals, assert_ok, assert_timestamp, assert_uuid, with_token};
use aws_lambda_events::encodings::Body;
use chat_core::store::connections::CONNECTION_TTL_SECONDS;
use chat_core::ws::WsEvent;
use chat_tests::Function::{ConversationsConnect, ConversationsHistory, MessagesSend};
use chat_tests::fake_gateway::FakeGateway;
use chat_tests::{Reply, TestEnv, User};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;

type Snapshot = BTreeMap<(String, String), Value>;

/// The three WebSocket functions (not HTTP: they take API Gateway WebSocket proxy events).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ws {
    Connect,
    Disconnect,
    Default,
}

impl Ws {
    fn dir(self) -> &'static str {
        match self {
            Self::Connect => "ws-connect",
            Self::Disconnect => "ws-disconnect",
            Self::Default => "ws-default",
        }
    }
}

/// Loads `events/<ws function>/<name>.json` and fills its `{{placeholders}}`.
pub(crate) fn ws_fixture(ws: Ws, name: &str, vars: &[(&str, &str)]) -> String {
    let path = chat_tests::root().join("events").join(ws.dir()).join(format!("{name}.json"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (key, value) in vars {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    assert!(!text.contains("{{"), "{} has unfilled placeholders", path.display());
    text
}

/// Runs one WebSocket event through its function; the reply's body is the frame the route
/// response sends back to the client (`Null` when there is none).
pub(crate) async fn invoke_ws(env: &TestEnv, ws: Ws, event: &str) -> Reply {
    let event: WsEvent = serde_json::from_str(event).unwrap_or_else(|e| panic!("not a WebSocket event: {e}"));
    let response = match ws {
        Ws::Connect => ws_connect::handler(&env.app, event).await,
        Ws::Disconnect => ws_disconnect::handler(&env.app, event).await,
        Ws::Default => ws_default::handler(&env.app, event).await,
    };
    let body = match &response.body {
        None => Value::Null,
        Some(Body::Text(text)) => {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("frame is not JSON ({e}): {text}"))
        }
        Some(other) => panic!("unexpected body kind: {other:?}"),
    };
    Reply { status: u16::try_from(response.status_code).expect("a status code"), body, headers: HashMap::new() }
}

/// Replays `events/<ws function>/<name>.json` (filled now, run when awaited).
pub(crate) fn ws<'a>(env: &'a TestEnv, ws: Ws, name: &str, vars: &[(&str, &str)]) -> impl Future<Output = Reply> + 'a {
    let event = ws_fixture(ws, name, vars);
    let name = name.to_string();
    async move {
        let reply = invoke_ws(env, ws, &event).await;
        chat_tests::record_replay(ws.dir(), &name);
        reply
    }
}

/// A `$default` event carrying `body` as the client's frame (the `whoami` fixture, re-bodied).
pub(crate) fn client_frame<'a>(env: &'a TestEnv, connection: &str, body: &str) -> impl Future<Output = Reply> + 'a {
    let mut event: Value =
        serde_json::from_str(&ws_fixture(Ws::Default, "whoami", &[("connection_id", connection)])).unwrap();
    event["body"] = json!(body);
    async move { invoke_ws(env, Ws::Default, &event.to_string()).await }
}

/// A connection id shaped like API Gateway's (15 base64 characters and `=`), unique per call.
pub(crate) fn new_connection_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut id: String = bytes[..15].iter().map(|b| ALPHABET[usize::from(b % 64)] as char).collect();
    id.push('=');
    id
}

/// Opens a connection for `user` (optionally registered on `conversation` at once).
pub(crate) async fn open(env: &TestEnv, user: &User, conversation: Option<&str>) -> String {
    open_as(env, &new_connection_id(), user, conversation).await
}

async fn open_as(env: &TestEnv, connection: &str, user: &User, conversation: Option<&str>) -> String {
    let reply = match conversation {
        None => ws(env, Ws::Connect, "valid", &[("token", &user.token), ("connection_id", connection)]).await,
        Some(c) => {
            ws(
                env,
                Ws::Connect,
                "with-conversation",
                &[("token", &user.token), ("connection_id", connection), ("conversation_id", c)],
            )
            .await
        }
    };
    assert_eq!((reply.status, &reply.body), (200, &Value::Null), "$connect refused");
    connection.to_string()
}

/// The `subscribe` action, which must succeed.
pub(crate) async fn subscribe(env: &TestEnv, connection: &str, conversation: &str) {
    let reply =
        ws(env, Ws::Default, "subscribe", &[("connection_id", connection), ("conversation_id", conversation)]).await;
    assert_eq!(reply.status, 200, "subscribe refused: {}", reply.body);
    assert_eq!(reply.body, json!({"type": "subscribed", "conversation_id": conversation}));
}

/// The contract's error frame, exactly, with the same status on the route response.
#[track_caller]
fn assert_error_frame(reply: &Reply, status: u16, message: &str) {
    assert_eq!(reply.status, status, "unexpected status, frame: {}", reply.body);
    assert_eq!(reply.body, json!({"type": "error", "error": {"message": message, "status": status}}));
}

/// A request that must be refused with this error frame, storing nothing and posting nothing.
async fn ws_refused(
    env: &TestEnv,
    gateway: &FakeGateway,
    status: u16,
    message: &str,
    request: impl std::future::Future<Output = Reply>,
) {
    let before = env.snapshot().await;
    let posted = gateway.posts().len();
    let reply = request.await;
    assert_error_frame(&reply, status, message);
    assert!(env.snapshot().await == before, "refused frame changed the table ({message})");
    assert_eq!(gateway.posts().len(), posted, "refused frame posted something ({message})");
}

/// The keys `after` has and `before` has not; asserts nothing was removed or changed.
#[track_caller]
fn added(before: &Snapshot, after: &Snapshot) -> BTreeSet<(String, String)> {
    for (key, value) in before {
        assert_eq!(after.get(key), Some(value), "item {key:?} was changed or removed");
    }
    after.keys().filter(|k| !before.contains_key(*k)).cloned().collect()
}

fn key(pk: String, sk: String) -> (String, String) {
    (pk, sk)
}

/// The item listing a user's open connections, which every fan-out to the user reads.
fn connections_key(user: &User) -> (String, String) {
    key(format!("USER#{}", user.id), "CONNECTIONS".into())
}

/// Asserts the user's connections item holds exactly `ids` (a set: in no particular order).
#[track_caller]
fn assert_connections(snapshot: &Snapshot, user: &User, ids: &[&str]) {
    let item = &snapshot[&connections_key(user)];
    assert_eq!(
        (item["entity_type"].as_str(), item["user_id"].as_str()),
        (Some("user_connections"), Some(user.id.as_str())),
        "{item}"
    );
    let stored = item["connection_ids"].as_array().expect("connection_ids is a list");
    let stored: BTreeSet<&str> = stored.iter().map(|id| id.as_str().expect("ids are strings")).collect();
    assert_eq!(stored, ids.iter().copied().collect());
}

fn connection_key(connection: &str) -> (String, String) {
    key(format!("CONN#{connection}"), "CONNECTION".into())
}

/// `expires_at` is about two hours and ten minutes from now.
#[track_caller]
fn assert_ttl(item: &Value) -> i64 {
    let expires = item["expires_at"].as_i64().unwrap_or_else(|| panic!("no numeric expires_at: {item}"));
    let expected = chrono::Utc::now().timestamp() + CONNECTION_TTL_SECONDS;
    assert_eq!(CONNECTION_TTL_SECONDS, 7800);
    assert!((expected - 30..=expected).contains(&expires), "expires_at {expires} is not now + 2h10m ({expected})");
    expires
}

/// The message frame the contract specifies for a stored message.
fn message_frame(conversation: &str, message_id: &str, sender: &str, text: &str, timestamp: &str) -> Value {
    json!({
        "type": "message",
        "conversation_id": conversation,
        "message_id": message_id,
        "sender_id": sender,
        "message": text,
        "timestamp": timestamp,
    })
}

/// Posts since the last `take`, grouped by connection: every post answered 200 unless gone.
fn frames_by_connection(gateway: &FakeGateway) -> BTreeMap<String, Vec<Value>> {
    let mut grouped: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for post in gateway.take() {
        grouped.entry(post.connection_id.clone()).or_default().push(post.frame());
    }
    grouped
}

/// Exactly these connections got exactly this one frame each.
#[track_caller]
fn assert_pushed(gateway: &FakeGateway, connections: &[&str], frame: &Value) {
    let got = frames_by_connection(gateway);
    let want: BTreeMap<String, Vec<Value>> = connections.iter().map(|c| (c.to_string(), vec![frame.clone()])).collect();
    assert_eq!(got, want);
    assert_eq!(gateway.unexpected(), Vec::<String>::new());
}

async fn history(env: &TestEnv, user: &User, conversation: &str) -> Value {
    let reply = env
        .call(ConversationsHistory, "GET", &format!("/api/conversations/{conversation}"), Some(&user.token), None)
        .await;
    assert_ok(&reply, 200).clone()
}

async fn send_with_client_id(env: &TestEnv, user: &User, conversation: &str, text: &str, client: &str) -> Reply {
    env.call(
        MessagesSend,
        "POST",
        "/api/messages",
        Some(&user.token),
        Some(json!({"conversation_id": conversation, "sender_id": user.id, "message": text, "client_message_id": client})),
    )
    .await
}

// ---- $connect ----

#[tokio::test]
async fn connect_stores_the_connection_in_its_owners_connections() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let alice = env.register("alice").await;
    let connection = new_connection_id();
    let before = env.snapshot().await;
    let reply = ws(&env, Ws::Connect, "valid", &[("token", &alice.token), ("connection_id", &connection)]).await;
    assert_eq!((reply.status, &reply.body), (200, &Value::Null));

    let after = env.snapshot().await;
    assert_eq!(added(&before, &after), BTreeSet::from([connection_key(&connection), connections_key(&alice)]));
    assert_connections(&after, &alice, &[&connection]);
    let item = &after[&connection_key(&connection)];
    let expires = assert_ttl(item);
    let connected_at = assert_timestamp(&item["connected_at"]);
    assert_eq!(
        item,
        &json!({
            "PK": format!("CONN#{connection}"),
            "SK": "CONNECTION",
            "entity_type": "connection",
            "connection_id": connection,
            "user_id": alice.id,
            "connected_at": connected_at,
            "expires_at": expires,
        })
    );
    // The socket is not open yet during $connect: nothing may be posted to it.
    assert!(gateway.posts().is_empty());
}

#[tokio::test]
async fn connect_with_a_conversation_checks_it_and_stores_the_same() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let connection = new_connection_id();
    let before = env.snapshot().await;
    let vars = [("token", alice.token.as_str()), ("connection_id", &connection), ("conversation_id", &conversation)];
    let reply = ws(&env, Ws::Connect, "with-conversation", &vars).await;
    assert_eq!((reply.status, &reply.body), (200, &Value::Null));

    let after = env.snapshot().await;
    assert_eq!(added(&before, &after), BTreeSet::from([connection_key(&connection), connections_key(&alice)]));
    assert_connections(&after, &alice, &[&connection]);
    assert_ttl(&after[&connection_key(&connection)]);
    assert!(gateway.posts().is_empty());

    // Bob's message reaches the connection.
    let sent = env.send(&bob, &conversation, "hi alice").await;
    let body = assert_ok(&sent, 200);
    let frame = message_frame(
        &conversation,
        body["message_id"].as_str().unwrap(),
        &bob.id,
        "hi alice",
        body["timestamp"].as_str().unwrap(),
    );
    assert_pushed(&gateway, &[&connection], &frame);
}

/// Second edition, "Real-time delivery": a socket gets every conversation of its user's from
/// its `$connect` on, including one started after it opened, with nothing registered.
#[tokio::test]
async fn a_socket_gets_a_conversation_started_after_it_opened() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let alice_conn = open(&env, &alice, None).await;
    let conversation = env.direct_conversation(&bob, &alice).await;
    let announced = gateway.take();
    assert_eq!(announced.len(), 1);
    assert_eq!(announced[0].frame()["conversation"]["conversation_id"], json!(conversation));
    let sent = env.send(&bob, &conversation, "did you get this?").await;
    let body = assert_ok(&sent, 200);
    let frame = message_frame(
        &conversation,
        body["message_id"].as_str().unwrap(),
        &bob.id,
        "did you get this?",
        body["timestamp"].as_str().unwrap(),
    );
    assert_pushed(&gateway, &[&alice_conn], &frame);

    // Subscribing on top changes nothing: the frame still arrives once.
    subscribe(&env, &alice_conn, &conversation).await;
    subscribe(&env, &alice_conn, &conversation).await;
    let sent = env.send(&bob, &conversation, "once?").await;
    let body = assert_ok(&sent, 200);
    let frame = message_frame(
        &conversation,
        body["message_id"].as_str().unwrap(),
        &bob.id,
        "once?",
        body["timestamp"].as_str().unwrap(),
    );
    assert_pushed(&gateway, &[&alice_conn], &frame);
}

/// Second edition: members learn of a new conversation on every socket, once, also when
/// creations of one pair race.
#[tokio::test]
async fn a_new_conversation_is_announced_to_every_members_sockets_once() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let alice_conn = open(&env, &alice, None).await;
    let bob_phone = open(&env, &bob, None).await;
    let bob_laptop = open(&env, &bob, None).await;
    let carol_conn = open(&env, &carol, None).await;
    let create = |user: &User, body: Value| {
        let token = user.token.clone();
        let env = &env;
        async move {
            env.call(chat_tests::Function::ConversationsCreate, "POST", "/api/conversations", Some(&token), Some(body))
                .await
        }
    };
    let direct = json!({"is_ai": false, "participant_id": bob.id});
    let created = create(&alice, direct.clone()).await;
    let frame = json!({"type": "conversation_created", "conversation": assert_ok(&created, 201)});
    assert!(gateway.frames_to(&carol_conn).is_empty());
    assert_pushed(&gateway, &[&alice_conn, &bob_phone, &bob_laptop], &frame);

    // Found again (200): nothing is announced.
    assert_eq!(create(&bob, json!({"is_ai": false, "participant_id": alice.id})).await.status, 200);
    assert_eq!(create(&alice, direct).await.status, 200);
    assert!(gateway.take().is_empty());

    // Eight racing creations of one pair: one conversation, announced once to each socket.
    let racing =
        futures::future::join_all((0..8).map(|_| create(&carol, json!({"is_ai": false, "participant_id": alice.id}))))
            .await;
    let new: Vec<&Reply> = racing.iter().filter(|r| r.status == 201).collect();
    assert_eq!(new.len(), 1, "{racing:?}");
    let frame = json!({"type": "conversation_created", "conversation": new[0].body});
    assert_pushed(&gateway, &[&alice_conn, &carol_conn], &frame);

    // An AI conversation: the creator's sockets (the agent has none).
    let ai = create(&alice, json!({"is_ai": true})).await;
    let frame = json!({"type": "conversation_created", "conversation": assert_ok(&ai, 201)});
    assert_pushed(&gateway, &[&alice_conn], &frame);
}

#[tokio::test]
async fn connect_refusals_store_nothing() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let connection = new_connection_id();
    let c = connection.as_str();

    ws_refused(&env, &gateway, 401, "missing token", ws(&env, Ws::Connect, "missing-token", &[("connection_id", c)]))
        .await;
    ws_refused(
        &env,
        &gateway,
        401,
        "invalid or expired token",
        ws(&env, Ws::Connect, "bad-token", &[("connection_id", c)]),
    )
    .await;
    let secret = env.app.config.jwt_secret.clone().unwrap();
    for token in [
        env.forge_token(&alice.id, -7200, -3600, &secret),
        env.forge_token(&alice.id, 0, 600, b"another-deployment-secret-of-32-bytes!"),
    ] {
        let refused = ws(&env, Ws::Connect, "valid", &[("token", &token), ("connection_id", c)]);
        ws_refused(&env, &gateway, 401, "invalid or expired token", refused).await;
    }
    // A conversation the caller is not in, and one that does not exist, look the same.
    for target in [conversation.as_str(), UNKNOWN_ID] {
        let vars = [("token", carol.token.as_str()), ("connection_id", c), ("conversation_id", target)];
        ws_refused(
            &env,
            &gateway,
            404,
            "conversation not found",
            ws(&env, Ws::Connect, "outsider-conversation", &vars),
        )
        .await;
    }
    let vars = [("token", alice.token.as_str()), ("connection_id", c)];
    let malformed = ws(&env, Ws::Connect, "malformed-conversation-id", &vars);
    ws_refused(&env, &gateway, 400, "conversation_id: conversation id must be a UUID", malformed).await;

    // The same connection id with a good token and conversation is then accepted.
    open_as(&env, c, &alice, Some(&conversation)).await;
    assert!(env.snapshot().await.contains_key(&connection_key(c)));
}

// ---- $disconnect ----

#[tokio::test]
async fn disconnect_removes_the_connection_and_nothing_else() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let first = env.direct_conversation(&alice, &bob).await;
    let second = env.direct_conversation(&alice, &carol).await;
    // Alice's other connection on the same conversation must survive.
    let other = open(&env, &alice, Some(&first)).await;
    let before = env.snapshot().await;

    let leaving = open(&env, &alice, Some(&first)).await;
    subscribe(&env, &leaving, &second).await;
    let open_now = env.snapshot().await;
    assert!(open_now.contains_key(&connection_key(&leaving)));
    assert_connections(&open_now, &alice, &[&other, &leaving]);

    let reply = ws(&env, Ws::Disconnect, "valid", &[("connection_id", &leaving)]).await;
    assert_eq!((reply.status, &reply.body), (200, &Value::Null));
    assert!(env.snapshot().await == before, "disconnect left items behind or removed others");

    // Idempotent: API Gateway may deliver it twice, or after a 410 already cleaned up.
    let again = ws(&env, Ws::Disconnect, "valid", &[("connection_id", &leaving)]).await;
    assert_eq!((again.status, &again.body), (200, &Value::Null));
    assert!(env.snapshot().await == before);

    // Only the remaining connection gets the next message.
    let sent = env.send(&bob, &first, "still there?").await;
    let body = assert_ok(&sent, 200);
    let frame = message_frame(
        &first,
        body["message_id"].as_str().unwrap(),
        &bob.id,
        "still there?",
        body["timestamp"].as_str().unwrap(),
    );
    assert_pushed(&gateway, &[&other], &frame);
}

// ---- $default ----

#[tokio::test]
async fn whoami_names_the_connection_and_its_user() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let alice = env.register("alice").await;
    let connection = open(&env, &alice, None).await;
    let before = env.snapshot().await;
    let reply = ws(&env, Ws::Default, "whoami", &[("connection_id", &connection)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({"type": "whoami", "connection_id": connection, "user_id": alice.id}));
    assert!(env.snapshot().await == before);
    // The answer travels back on the route response, not through the Management API.
    assert!(gateway.posts().is_empty());

    let stranger = new_connection_id();
    let unknown = ws(&env, Ws::Default, "whoami", &[("connection_id", &stranger)]);
    ws_refused(&env, &gateway, 401, "connection is not registered", unknown).await;
}

/// Second edition: `ping` keeps a socket inside API Gateway's idle limit, at no DynamoDB cost.
#[tokio::test]
async fn ping_answers_pong_and_reads_nothing() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let alice = env.register("alice").await;
    let connection = open(&env, &alice, None).await;
    env.calls.reset();
    let reply = ws(&env, Ws::Default, "ping", &[("connection_id", &connection)]).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({"type": "pong"})));
    assert_eq!(env.calls.operations(), Vec::<String>::new());
    assert!(gateway.posts().is_empty());
}

#[tokio::test]
async fn subscribe_checks_access_and_stores_nothing() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let connection = open(&env, &alice, None).await;
    let before = env.snapshot().await;

    // The connection gets the conversation already: subscribing answers as before, and twice
    // is as harmless as once.
    subscribe(&env, &connection, &conversation).await;
    subscribe(&env, &connection, &conversation).await;
    assert!(env.snapshot().await == before);
    assert!(gateway.posts().is_empty());
}

#[tokio::test]
async fn subscribe_refusals_store_nothing() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let outsider = open(&env, &carol, None).await;

    for target in [conversation.as_str(), UNKNOWN_ID] {
        let refused = ws(&env, Ws::Default, "subscribe", &[("connection_id", &outsider), ("conversation_id", target)]);
        ws_refused(&env, &gateway, 404, "conversation not found", refused).await;
    }
    let malformed =
        ws(&env, Ws::Default, "subscribe", &[("connection_id", &outsider), ("conversation_id", "not-a-uuid")]);
    ws_refused(&env, &gateway, 400, "conversation_id: conversation id must be a UUID", malformed).await;
    let missing = client_frame(&env, &outsider, r#"{"action": "subscribe"}"#);
    ws_refused(&env, &gateway, 400, "conversation_id is required", missing).await;
    // A connection that was never opened (or is closed) cannot subscribe.
    let stranger = new_connection_id();
    let unregistered =
        ws(&env, Ws::Default, "subscribe", &[("connection_id", &stranger), ("conversation_id", &conversation)]);
    ws_refused(&env, &gateway, 404, "connection not found", unregistered).await;
}

#[tokio::test]
async fn send_message_acks_stores_and_pushes_to_every_connection_of_every_member() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let elsewhere = env.direct_conversation(&alice, &carol).await;
    let sender = open(&env, &alice, Some(&conversation)).await;
    let alice_other = open(&env, &alice, None).await;
    subscribe(&env, &alice_other, &conversation).await;
    let bob_conn = open(&env, &bob, Some(&conversation)).await;
    // A member's sockets get it however they were opened; a non-member's get nothing.
    let alice_idle = open(&env, &alice, None).await;
    let carol_conn = open(&env, &carol, Some(&elsewhere)).await;
    let alice_elsewhere = open(&env, &alice, Some(&elsewhere)).await;

    let reply =
        ws(&env, Ws::Default, "send-message", &[("connection_id", &sender), ("conversation_id", &conversation)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let message_id = assert_uuid(&reply.body["message_id"]);
    let timestamp = assert_timestamp(&reply.body["timestamp"]);
    assert_eq!(
        reply.body,
        json!({
            "type": "sent",
            "conversation_id": conversation,
            "message_id": message_id,
            "message": "Hello over the socket",
            "timestamp": timestamp,
        })
    );

    let frame = message_frame(&conversation, &message_id, &alice.id, "Hello over the socket", &timestamp);
    assert!(gateway.frames_to(&carol_conn).is_empty());
    assert_pushed(&gateway, &[&sender, &alice_other, &bob_conn, &alice_idle, &alice_elsewhere], &frame);

    // Stored exactly like POST /api/messages stores it, and the conversation moved on.
    let stored = json!([{"message_id": message_id, "sender_id": alice.id, "message": "Hello over the socket", "timestamp": timestamp}]);
    assert_eq!(history(&env, &bob, &conversation).await, stored);
    let list =
        env.call(chat_tests::Function::ConversationsList, "GET", "/api/conversations", Some(&bob.token), None).await;
    assert_eq!(assert_ok(&list, 200)[0]["last_message"], stored[0]);
    assert_eq!(list.body[0]["updated_at"], json!(timestamp));
}

#[tokio::test]
async fn send_message_refusals_store_and_push_nothing() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    open(&env, &alice, Some(&conversation)).await;
    let outsider = open(&env, &carol, None).await;

    let refused =
        ws(&env, Ws::Default, "send-message", &[("connection_id", &outsider), ("conversation_id", &conversation)]);
    ws_refused(&env, &gateway, 404, "conversation not found", refused).await;
    let unknown =
        ws(&env, Ws::Default, "send-message", &[("connection_id", &outsider), ("conversation_id", UNKNOWN_ID)]);
    ws_refused(&env, &gateway, 404, "conversation not found", unknown).await;
    let stranger = new_connection_id();
    let unregistered =
        ws(&env, Ws::Default, "send-message", &[("connection_id", &stranger), ("conversation_id", &conversation)]);
    ws_refused(&env, &gateway, 401, "connection is not registered", unregistered).await;

    let member = open(&env, &bob, None).await;
    let body = json!({"action": "sendMessage", "conversation_id": conversation, "message": "   "}).to_string();
    ws_refused(
        &env,
        &gateway,
        400,
        "message: must contain a character that is not white space",
        client_frame(&env, &member, &body),
    )
    .await;
    let body =
        json!({"action": "sendMessage", "conversation_id": conversation, "message": "hi", "client_message_id": "nope"});
    ws_refused(
        &env,
        &gateway,
        400,
        "client_message_id: client_message_id must be a UUID",
        client_frame(&env, &member, &body.to_string()),
    )
    .await;
    assert_eq!(history(&env, &alice, &conversation).await, json!([]));
}

#[tokio::test]
async fn typing_reaches_only_the_other_participants() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let elsewhere = env.direct_conversation(&bob, &carol).await;
    let typist = open(&env, &alice, Some(&conversation)).await;
    let alice_other = open(&env, &alice, Some(&conversation)).await;
    let bob_phone = open(&env, &bob, Some(&conversation)).await;
    let bob_laptop = open(&env, &bob, Some(&conversation)).await;
    let bob_elsewhere = open(&env, &bob, Some(&elsewhere)).await;
    let carol_conn = open(&env, &carol, Some(&elsewhere)).await;
    let before = env.snapshot().await;

    let reply =
        ws(&env, Ws::Default, "typing", &[("connection_id", &typist), ("conversation_id", &conversation)]).await;
    assert_eq!((reply.status, &reply.body), (200, &Value::Null));
    let frame = json!({"type": "typing", "conversation_id": conversation, "user_id": alice.id});
    for quiet in [&typist, &alice_other, &carol_conn] {
        assert!(gateway.frames_to(quiet).is_empty());
    }
    // Every socket of the other member, however it was opened.
    assert_pushed(&gateway, &[&bob_phone, &bob_laptop, &bob_elsewhere], &frame);
    assert!(env.snapshot().await == before, "typing stored something");
    assert_eq!(history(&env, &alice, &conversation).await, json!([]));

    // Carol is not in the conversation: refused, nobody hears about it.
    let outsider =
        ws(&env, Ws::Default, "typing", &[("connection_id", &carol_conn), ("conversation_id", &conversation)]);
    ws_refused(&env, &gateway, 404, "conversation not found", outsider).await;
}

#[tokio::test]
async fn bad_frames_get_a_400_error_frame_and_change_nothing() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let connection = open(&env, &alice, Some(&conversation)).await;
    open(&env, &bob, Some(&conversation)).await;
    let vars = [("connection_id", connection.as_str()), ("conversation_id", conversation.as_str())];

    let cases = [
        (
            "unknown-action",
            "action: unknown action \"dance\" (expected whoami, subscribe, sendMessage, typing or ping)",
        ),
        ("not-json", "frame is not valid JSON"),
        ("missing-action", "action is required"),
        ("send-message-missing-text", "message is required"),
    ];
    for (fixture, message) in cases {
        ws_refused(&env, &gateway, 400, message, ws(&env, Ws::Default, fixture, &vars)).await;
    }
    ws_refused(&env, &gateway, 400, "frame must be a JSON object", client_frame(&env, &connection, "[1, 2]")).await;
    ws_refused(&env, &gateway, 400, "frame must be a JSON object", client_frame(&env, &connection, "")).await;
    ws_refused(&env, &gateway, 400, "action: must be a string", client_frame(&env, &connection, r#"{"action": 7}"#))
        .await;
    assert_eq!(history(&env, &alice, &conversation).await, json!([]));

    // The socket stays usable after each of them.
    let reply = ws(&env, Ws::Default, "whoami", &[("connection_id", &connection)]).await;
    assert_eq!(reply.body, json!({"type": "whoami", "connection_id": connection, "user_id": alice.id}));
}

// ---- fan-out of POST /api/messages ----

#[tokio::test]
async fn posted_messages_are_pushed_to_every_connection_of_every_member() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    // An id with the characters that need percent-encoding in the Management API's path.
    let alice_conn = open_as(&env, "Ab+cD/eF9=gHiJ_k-L=", &alice, Some(&conversation)).await;
    let bob_conn = open(&env, &bob, Some(&conversation)).await;
    let bob_idle = open(&env, &bob, None).await;

    let sent = env.send(&bob, &conversation, "pushed?").await;
    let body = assert_ok(&sent, 200).clone();
    let message_id = assert_uuid(&body["message_id"]);
    let timestamp = assert_timestamp(&body["timestamp"]);
    assert_eq!(body, json!({"message_id": message_id, "message": "pushed?", "timestamp": timestamp}));
    let frame = message_frame(&conversation, &message_id, &bob.id, "pushed?", &timestamp);
    assert_pushed(&gateway, &[&alice_conn, &bob_conn, &bob_idle], &frame);

    // A second message: each connection gets exactly the new frame, in order of sending.
    let sent = env.send(&alice, &conversation, "yes").await;
    let body = assert_ok(&sent, 200).clone();
    let frame = message_frame(
        &conversation,
        body["message_id"].as_str().unwrap(),
        &alice.id,
        "yes",
        body["timestamp"].as_str().unwrap(),
    );
    assert_pushed(&gateway, &[&alice_conn, &bob_conn, &bob_idle], &frame);
}

#[tokio::test]
async fn gone_connections_are_unregistered_and_the_others_keep_receiving() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let elsewhere = env.direct_conversation(&alice, &carol).await;
    let live = open(&env, &alice, Some(&conversation)).await;
    let bob_conn = open(&env, &bob, Some(&conversation)).await;
    let before = env.snapshot().await;
    // A socket that closed without a $disconnect, registered on two conversations.
    let dead = open(&env, &alice, Some(&conversation)).await;
    subscribe(&env, &dead, &elsewhere).await;
    gateway.mark_gone(&dead);

    let sent = env.send(&bob, &conversation, "anyone?").await;
    let body = assert_ok(&sent, 200).clone();
    let first = message_frame(
        &conversation,
        body["message_id"].as_str().unwrap(),
        &bob.id,
        "anyone?",
        body["timestamp"].as_str().unwrap(),
    );
    let posts = gateway.take();
    let mut statuses: Vec<(String, u16)> = posts.iter().map(|p| (p.connection_id.clone(), p.status)).collect();
    statuses.sort();
    let mut want = vec![(live.clone(), 200), (bob_conn.clone(), 200), (dead.clone(), 410)];
    want.sort();
    assert_eq!(statuses, want);
    assert!(posts.iter().all(|p| p.frame() == first), "every connection got the same frame");

    // Every item of the dead connection is gone, in both conversations; nothing else changed
    // but the message and the conversation summaries.
    let after = env.snapshot().await;
    assert!(
        after.keys().all(|(pk, sk)| !pk.contains(&dead) && !sk.contains(&dead)),
        "items of the gone connection remain"
    );
    assert_connections(&after, &alice, &[&live]);
    for (k, v) in before.iter().filter(|((pk, sk), _)| pk.starts_with("CONN#") || sk.starts_with("CONN#")) {
        assert_eq!(after.get(k), Some(v), "a live connection's item changed");
    }

    // The next message reaches the live connections and no longer tries the dead one.
    let sent = env.send(&alice, &conversation, "I am here").await;
    let body = assert_ok(&sent, 200).clone();
    let second = message_frame(
        &conversation,
        body["message_id"].as_str().unwrap(),
        &alice.id,
        "I am here",
        body["timestamp"].as_str().unwrap(),
    );
    assert_pushed(&gateway, &[&live, &bob_conn], &second);
}

#[tokio::test]
async fn a_replayed_client_message_id_pushes_nothing() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let alice_conn = open(&env, &alice, Some(&conversation)).await;
    let bob_conn = open(&env, &bob, Some(&conversation)).await;

    // Over HTTP.
    let client = uuid::Uuid::new_v4().to_string();
    let first = send_with_client_id(&env, &alice, &conversation, "once", &client).await;
    let body = assert_ok(&first, 200).clone();
    let frame = message_frame(
        &conversation,
        body["message_id"].as_str().unwrap(),
        &alice.id,
        "once",
        body["timestamp"].as_str().unwrap(),
    );
    assert_pushed(&gateway, &[&alice_conn, &bob_conn], &frame);
    let before = env.snapshot().await;
    let retry = send_with_client_id(&env, &alice, &conversation, "once", &client).await;
    assert_eq!(assert_ok(&retry, 200), &body);
    assert!(gateway.posts().is_empty(), "a replay pushed: {:?}", gateway.posts());
    assert!(env.snapshot().await == before);

    // Over the socket, with the connection's user as the sender.
    let client = uuid::Uuid::new_v4().to_string();
    let text = json!({"action": "sendMessage", "conversation_id": conversation, "message": "twice?", "client_message_id": client}).to_string();
    let ack = client_frame(&env, &bob_conn, &text).await;
    assert_eq!(ack.status, 200, "{}", ack.body);
    let message_id = assert_uuid(&ack.body["message_id"]);
    let timestamp = assert_timestamp(&ack.body["timestamp"]);
    let expected = json!({
        "type": "sent",
        "conversation_id": conversation,
        "message_id": message_id,
        "message": "twice?",
        "timestamp": timestamp,
        "client_message_id": client,
    });
    assert_eq!(ack.body, expected);
    assert_pushed(
        &gateway,
        &[&alice_conn, &bob_conn],
        &message_frame(&conversation, &message_id, &bob.id, "twice?", &timestamp),
    );
    let before = env.snapshot().await;
    let again = client_frame(&env, &bob_conn, &text).await;
    assert_eq!((again.status, &again.body), (200, &expected));
    assert!(gateway.posts().is_empty());
    assert!(env.snapshot().await == before);

    // The same id with another text is a conflict, and pushes nothing either.
    let other = json!({"action": "sendMessage", "conversation_id": conversation, "message": "changed", "client_message_id": client});
    ws_refused(
        &env,
        &gateway,
        409,
        "client_message_id was already used for a different message",
        client_frame(&env, &bob_conn, &other.to_string()),
    )
    .await;
    assert_eq!(history(&env, &alice, &conversation).await.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn fifty_registered_connections_all_receive_one_message() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let mut connections = Vec::new();
    for i in 0..50 {
        let user = if i % 2 == 0 { &alice } else { &bob };
        connections.push(open(&env, user, Some(&conversation)).await);
    }

    let sent = env.send(&alice, &conversation, "hello, everyone").await;
    let body = assert_ok(&sent, 200).clone();
    let frame = message_frame(
        &conversation,
        body["message_id"].as_str().unwrap(),
        &alice.id,
        "hello, everyone",
        body["timestamp"].as_str().unwrap(),
    );
    let targets: Vec<&str> = connections.iter().map(String::as_str).collect();
    assert_eq!(targets.iter().collect::<BTreeSet<_>>().len(), 50);
    assert_pushed(&gateway, &targets, &frame);
}

// ---- POST /api/conversations/{id}/connect ----

#[tokio::test]
async fn the_connect_route_checks_a_connection_and_stores_nothing() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let connection = open(&env, &alice, None).await;
    let vars = with_token(&alice.token, &[("conversation_id", &conversation), ("connection_id", &connection)]);
    let before = env.snapshot().await;

    let reply = env.replay(ConversationsConnect, "valid", &vars).await;
    assert_eq!(assert_ok(&reply, 200), &json!({"status": "WebSocket connected", "conversation_id": conversation}));
    assert!(env.snapshot().await == before);

    // Twice is harmless: same answer, same items.
    let again = env.replay(ConversationsConnect, "valid", &vars).await;
    assert_eq!(assert_ok(&again, 200), &reply.body);
    assert!(env.snapshot().await == before);
    assert!(gateway.posts().is_empty());

    let sent = env.send(&bob, &conversation, "via the connect route").await;
    let body = assert_ok(&sent, 200);
    let frame = message_frame(
        &conversation,
        body["message_id"].as_str().unwrap(),
        &bob.id,
        "via the connect route",
        body["timestamp"].as_str().unwrap(),
    );
    assert_pushed(&gateway, &[&connection], &frame);
}

#[tokio::test]
async fn the_connect_route_refusals_store_nothing() {
    let (env, gateway) = TestEnv::with_realtime().await;
    let (alice, bob, carol) = (env.register("alice").await, env.register("bob").await, env.register("carol").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let alice_conn = open(&env, &alice, None).await;
    let bob_conn = open(&env, &bob, None).await;
    let carol_conn = open(&env, &carol, None).await;
    let conv = conversation.as_str();

    let vars = with_token(&alice.token, &[("conversation_id", conv), ("connection_id", &bob_conn)]);
    let message = env.refused(403, env.replay(ConversationsConnect, "other-users-connection", &vars)).await;
    assert_eq!(message, "the connection belongs to another user");

    let vars = with_token(&alice.token, &[("conversation_id", conv)]);
    let message = env.refused(404, env.replay(ConversationsConnect, "unknown-connection", &vars)).await;
    assert_eq!(message, "connection not found");

    let vars = with_token(&carol.token, &[("conversation_id", conv), ("connection_id", &carol_conn)]);
    let message = env.refused(404, env.replay(ConversationsConnect, "not-participant", &vars)).await;
    assert_eq!(message, "conversation not found");
    let vars = with_token(&alice.token, &[("conversation_id", UNKNOWN_ID), ("connection_id", &alice_conn)]);
    let message = env.refused(404, env.replay(ConversationsConnect, "valid", &vars)).await;
    assert_eq!(message, "conversation not found");

    let vars = with_token(&alice.token, &[("conversation_id", conv), ("connection_id", &alice_conn)]);
    let message = env.refused(400, env.replay(ConversationsConnect, "bad-body", &vars)).await;
    assert_eq!(message, "connection_id is required");
    let bad_path = env.call(
        ConversationsConnect,
        "POST",
        "/api/conversations/not-a-uuid/connect",
        Some(&alice.token),
        Some(json!({"connection_id": alice_conn})),
    );
    let message = env.refused(400, bad_path).await;
    assert_eq!(message, "conversation_id: conversation id must be a UUID");

    // A closed connection is unknown: after $disconnect, and once its TTL has passed even if
    // the item is still there (DynamoDB deletes expired items late).
    let closed = open(&env, &alice, None).await;
    let reply = ws(&env, Ws::Disconnect, "valid", &[("connection_id", &closed)]).await;
    assert_eq!(reply.status, 200);
    let vars = with_token(&alice.token, &[("conversation_id", conv), ("connection_id", &closed)]);
    assert_eq!(env.refused(404, env.replay(ConversationsConnect, "valid", &vars)).await, "connection not found");
    let expired = open(&env, &alice, None).await;
    env.client
        .update_item()
        .table_name(&env.table)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("CONN#{expired}")))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("CONNECTION".into()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N((chrono::Utc::now().timestamp() - 1).to_string()),
        )
        .send()
        .await
        .expect("expire the connection");
    gateway.mark_gone(&expired);
    let vars = with_token(&alice.token, &[("conversation_id", conv), ("connection_id", &expired)]);
    assert_eq!(env.refused(404, env.replay(ConversationsConnect, "valid", &vars)).await, "connection not found");
    assert!(gateway.posts().is_empty());

    // Missing, bad, expired and foreign tokens; then the valid fixture with the real token.
    assert_auth_refusals(
        &env,
        ConversationsConnect,
        "valid",
        &alice,
        &[("conversation_id", conv), ("connection_id", &alice_conn)],
    )
    .await;
    let sent = env.send(&bob, conv, "alice only").await;
    let body = assert_ok(&sent, 200);
    let frame = message_frame(
        conv,
        body["message_id"].as_str().unwrap(),
        &bob.id,
        "alice only",
        body["timestamp"].as_str().unwrap(),
    );
    // The members' sockets (not carol's); the expired one is gone on the gateway, as on AWS.
    assert!(gateway.frames_to(&carol_conn).is_empty());
    assert_eq!(gateway.frames_to(&alice_conn), std::slice::from_ref(&frame));
    assert_eq!(gateway.frames_to(&bob_conn), [frame]);
}

// ---- the fixtures themselves ----

#[test]
fn every_websocket_fixture_is_an_api_gateway_websocket_event() {
    let events = chat_tests::root().join("events");
    let cases = |dir: &str| -> BTreeMap<String, String> {
        let path = events.join(dir);
        let entries = std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        entries
            .map(|entry| {
                let path = entry.unwrap().path();
                assert_eq!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("json"),
                    "{} is not a fixture",
                    path.display()
                );
                (path.file_stem().unwrap().to_str().unwrap().to_string(), std::fs::read_to_string(&path).unwrap())
            })
            .collect()
    };
    for (ws, route, kind) in [
        (Ws::Connect, "$connect", "CONNECT"),
        (Ws::Disconnect, "$disconnect", "DISCONNECT"),
        (Ws::Default, "$default", "MESSAGE"),
    ] {
        let found = cases(ws.dir());
        assert!(!found.is_empty(), "events/{} has no fixtures", ws.dir());
        for (case, text) in found {
            let at = format!("events/{}/{case}.json", ws.dir());
            for name in text.split("{{").skip(1).map(|rest| rest.split_once("}}").expect("placeholder is closed").0) {
                assert!(
                    ["token", "connection_id", "conversation_id"].contains(&name),
                    "{at}: unexpected placeholder {name}"
                );
            }
            let event: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{at} is not JSON: {e}"));
            let context = &event["requestContext"];
            assert_eq!(
                (context["routeKey"].as_str(), context["eventType"].as_str()),
                (Some(route), Some(kind)),
                "{at}"
            );
            assert_eq!(context["connectionId"], "{{connection_id}}", "{at}");
            assert_eq!(context["messageDirection"], "IN", "{at}");
            assert_eq!(event["isBase64Encoded"], false, "{at}");
            for field in ["extendedRequestId", "requestTime", "stage", "requestId", "domainName", "apiId"] {
                assert!(context[field].is_string(), "{at}: requestContext.{field} missing");
            }
            for field in ["connectedAt", "requestTimeEpoch"] {
                assert!(context[field].is_i64(), "{at}: requestContext.{field} missing");
            }
            assert!(context["identity"]["sourceIp"].is_string(), "{at}: requestContext.identity.sourceIp missing");
            // Single- and multi-value forms agree, as API Gateway sends them.
            for (single, multi) in
                [("headers", "multiValueHeaders"), ("queryStringParameters", "multiValueQueryStringParameters")]
            {
                let expected = event
                    .get(single)
                    .and_then(Value::as_object)
                    .map(|map| Value::Object(map.iter().map(|(k, v)| (k.clone(), json!([v]))).collect()));
                assert_eq!(event.get(multi), expected.as_ref(), "{at}: {multi} disagrees with {single}");
            }
            match ws {
                Ws::Connect => assert!(event["headers"]["Sec-WebSocket-Key"].is_string(), "{at}: not a handshake"),
                Ws::Disconnect => {
                    assert!(context["disconnectStatusCode"].is_i64() && context["disconnectReason"].is_string(), "{at}")
                }
                Ws::Default => {
                    assert!(context["messageId"].is_string() && event["body"].is_string(), "{at}");
                    assert!(event.get("headers").is_none(), "{at}: MESSAGE events carry no headers");
                }
            }
            let filled = ws_fixture(
                ws,
                &case,
                &[("token", "t"), ("connection_id", "L0SM9cOFvHcCIhw="), ("conversation_id", UNKNOWN_ID)],
            );
            let parsed: WsEvent =
                serde_json::from_str(&filled).unwrap_or_else(|e| panic!("{at} is not a WebSocket event: {e}"));
            assert_eq!(parsed.request_context.connection_id.as_deref(), Some("L0SM9cOFvHcCIhw="), "{at}");
        }
    }
    // That each is replayed: `fixtures::every_fixture_was_replayed`, from the record of a run.
}
