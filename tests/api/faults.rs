//! When DynamoDB fails (issue 14, docs/failures.md): a fault proxy
//! (`chat_tests::fault_proxy`) between the app and the local DynamoDB cuts, blackholes, slows
//! or loses answers, and the app's client has the product's bounds (`chat_core::bounds`).
//!
//! - during a cut and a blackhole every request answers the 503 envelope (HTTP) or the 503
//!   error frame (WebSocket) within the bound;
//! - after restore everything works, without a new client;
//! - every message answered 200 appears once in history, and a retry with the same
//!   `client_message_id` of every failed send answers 200 and reaches the other member's socket;
//! - an answer lost after a commit (outcome unknown) is a 503 and its retry is safe;
//! - an AI reply whose DynamoDB is cut mid-stream ends stored and pushed once, or with the 503
//!   error frame and nothing stored.
//!
//! Events are built in code (no fixtures). The handlers run in-process, with no Lambda timeout:
//! "within the bound" is each request's own wall time.

use crate::common::{AGENT_ID, assert_ok, assert_unavailable};
use crate::realtime::{Ws, client_frame, invoke_ws, new_connection_id, open, subscribe, ws_fixture};
use aws_lambda_events::event::dynamodb::Event;
use chat_core::ai::AiConfig;
use chat_core::ai::reply::{Agent, UNAVAILABLE_MESSAGE};
use chat_core::bounds::{FUNCTION_TIMEOUT, REQUEST_BUDGET};
use chat_core::domain::{ConnectionId, ConversationId, UserId};
use chat_tests::Function::{
    AuthLogin, AuthRegister, ConversationsConnect, ConversationsCreate, ConversationsHistory, ConversationsList,
    MessagesSend, UsersGet, UsersList,
};
use chat_tests::fake_gateway::FakeGateway;
use chat_tests::fake_models::{FakeBedrock, sdk_config};
use chat_tests::fault_proxy::{FaultProxy, Mode};
use chat_tests::{Reply, TestEnv, User, root};
use futures::future::{BoxFuture, FutureExt, join_all};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

/// The issue's bound for an answer while DynamoDB is down (generous: a loaded 2-core box).
const BOUND: Duration = Duration::from_secs(5);

/// Two members of a direct conversation; Bob has a socket registered on it. The app reaches
/// DynamoDB through the proxy.
struct World {
    env: TestEnv,
    gateway: FakeGateway,
    proxy: FaultProxy,
    ann: User,
    bob: User,
    conversation: String,
    bob_socket: String,
}

impl World {
    async fn new() -> Self {
        let (mut env, gateway) = TestEnv::with_realtime().await;
        let proxy = env.behind_fault_proxy().await;
        let ann = env.register("ann").await;
        let bob = env.register("bob").await;
        let conversation = env.direct_conversation(&ann, &bob).await;
        let bob_socket = open(&env, &bob, None).await;
        subscribe(&env, &bob_socket, &conversation).await;
        gateway.take();
        Self { env, gateway, proxy, ann, bob, conversation, bob_socket }
    }

    async fn send(&self, text: &str, client: &str) -> Reply {
        self.env
            .call(
                MessagesSend,
                "POST",
                "/api/messages",
                Some(&self.ann.token),
                Some(json!({"conversation_id": self.conversation, "sender_id": self.ann.id, "message": text, "client_message_id": client})),
            )
            .await
    }

    fn ws_send(&self, connection: &str, text: &str, client: &str) -> BoxFuture<'_, Reply> {
        let frame = json!({"action": "sendMessage", "conversation_id": self.conversation, "message": text, "client_message_id": client});
        client_frame(&self.env, connection, &frame.to_string()).boxed()
    }

    /// The conversation's messages with this text (history is read as Ann).
    async fn in_history(&self, text: &str) -> Vec<Value> {
        let path = format!("/api/conversations/{}?limit=100", self.conversation);
        let reply = self.env.call(ConversationsHistory, "GET", &path, Some(&self.ann.token), None).await;
        assert_ok(&reply, 200).as_array().unwrap().iter().filter(|m| m["message"] == text).cloned().collect()
    }

    /// The `message` frames with this text pushed to Bob's socket since the last look.
    fn pushed_to_bob(&self, text: &str) -> usize {
        self.gateway
            .frames_to(&self.bob_socket)
            .iter()
            .filter(|f| f["type"] == "message" && f["message"] == text)
            .count()
    }
}

/// A request to run later, with a label for the assertions.
type Labelled<'a> = (String, BoxFuture<'a, Reply>);

/// `env.call`, owning its arguments (to be run later, with others).
fn call<'a>(
    env: &'a TestEnv,
    function: chat_tests::Function,
    method: &'static str,
    path: String,
    token: Option<&str>,
    body: Option<Value>,
) -> BoxFuture<'a, Reply> {
    let token = token.map(str::to_string);
    async move { env.call(function, method, &path, token.as_deref(), body).await }.boxed()
}

/// Every route and WebSocket action that touches DynamoDB, once each, as (label, request).
/// The sends carry the `client_message_id`s returned, for their retries.
fn every_request<'a>(world: &'a World, ann_socket: &'a str, tag: &str) -> (Vec<Labelled<'a>>, Vec<(String, String)>) {
    let env = &world.env;
    let (ann, bob) = (&world.ann, &world.bob);
    let conversation = world.conversation.as_str();
    let email = format!("new-{}@example.com", uuid::Uuid::new_v4().simple());
    let mut requests: Vec<Labelled<'a>> = Vec::new();
    let mut http = |label: &str, reply: BoxFuture<'a, Reply>| requests.push((format!("HTTP {label}"), reply));
    http(
        "register",
        call(
            env,
            AuthRegister,
            "POST",
            "/api/auth/register".into(),
            None,
            Some(json!({"email": email, "password": "new-password", "name": "New"})),
        ),
    );
    let login = json!({"email": ann.email, "password": ann.password});
    http("login", call(env, AuthLogin, "POST", "/api/auth/login".into(), None, Some(login)));
    http("users list", call(env, UsersList, "GET", "/api/users".into(), Some(&ann.token), None));
    http("users get", call(env, UsersGet, "GET", format!("/api/users/{}", bob.id), Some(&ann.token), None));
    http(
        "conversations list",
        call(env, ConversationsList, "GET", "/api/conversations".into(), Some(&ann.token), None),
    );
    let ai = Some(json!({"is_ai": true}));
    http(
        "conversations create",
        call(env, ConversationsCreate, "POST", "/api/conversations".into(), Some(&ann.token), ai),
    );
    let path = format!("/api/conversations/{conversation}");
    http("history", call(env, ConversationsHistory, "GET", path, Some(&ann.token), None));
    let path = format!("/api/conversations/{conversation}/connect");
    let body = Some(json!({"connection_id": ann_socket}));
    http("connect", call(env, ConversationsConnect, "POST", path, Some(&ann.token), body));
    let mut sends = Vec::new();
    let http_text = format!("{tag}: over HTTP");
    let http_client = uuid::Uuid::new_v4().to_string();
    let (text, client) = (http_text.clone(), http_client.clone());
    requests.push(("HTTP send".into(), async move { world.send(&text, &client).await }.boxed()));
    sends.push((http_text, http_client));
    let ws_text = format!("{tag}: over the socket");
    let ws_client = uuid::Uuid::new_v4().to_string();
    requests.push(("WS sendMessage".into(), world.ws_send(ann_socket, &ws_text, &ws_client)));
    sends.push((ws_text, ws_client));

    let connect = ws_fixture(Ws::Connect, "valid", &[("token", &ann.token), ("connection_id", &new_connection_id())]);
    requests.push(("WS $connect".into(), async move { invoke_ws(env, Ws::Connect, &connect).await }.boxed()));
    let subscribe = json!({"action": "subscribe", "conversation_id": conversation}).to_string();
    requests.push(("WS subscribe".into(), client_frame(env, ann_socket, &subscribe).boxed()));
    requests.push(("WS whoami".into(), client_frame(env, ann_socket, r#"{"action":"whoami"}"#).boxed()));
    let typing = json!({"action": "typing", "conversation_id": conversation}).to_string();
    requests.push(("WS typing".into(), client_frame(env, ann_socket, &typing).boxed()));
    let disconnect = ws_fixture(Ws::Disconnect, "valid", &[("connection_id", ann_socket)]);
    requests.push(("WS $disconnect".into(), async move { invoke_ws(env, Ws::Disconnect, &disconnect).await }.boxed()));
    (requests, sends)
}

/// Runs the requests at once, each timed; asserts each is the 503 envelope or error frame
/// within [`BOUND`]. Returns the slowest answer.
async fn all_unavailable(mode: Mode, requests: Vec<Labelled<'_>>) -> Duration {
    let timed = requests.into_iter().map(|(label, request)| async move {
        let started = Instant::now();
        let reply = request.await;
        (label, reply, started.elapsed())
    });
    let mut slowest = Duration::ZERO;
    for (label, reply, took) in join_all(timed).await {
        if label.starts_with("WS") {
            assert_eq!(
                (reply.status, &reply.body),
                (
                    503,
                    &json!({"type": "error", "error": {"message": "service temporarily unavailable", "status": 503}})
                ),
                "{label} during {mode:?}"
            );
        } else {
            assert_eq!(reply.status, 503, "{label} during {mode:?}: {}", reply.body);
            assert_unavailable(&reply);
        }
        assert!(took <= BOUND, "{label} answered after {took:?} during {mode:?}");
        slowest = slowest.max(took);
    }
    eprintln!("{mode:?}: every request answered 503, the slowest after {slowest:?}");
    slowest
}

#[tokio::test]
async fn a_cut_and_a_blackhole_answer_503_within_the_bound_and_nothing_is_lost_after_restore() {
    let world = World::new().await;
    let ann_socket = open(&world.env, &world.ann, None).await;
    let mut failed_sends = Vec::new();
    for (tag, mode) in [("cut", Mode::Cut), ("blackhole", Mode::Blackhole)] {
        world.proxy.set(mode);
        let (requests, sends) = every_request(&world, &ann_socket, tag);
        let slowest = all_unavailable(mode, requests).await;
        if mode == Mode::Blackhole {
            // The client's own timeouts ended it, not an answer from anyone.
            assert!(slowest >= Duration::from_millis(900), "{slowest:?}");
        }
        failed_sends.extend(sends);
        let pushed = world.gateway.take();
        assert!(pushed.iter().all(|p| p.frame()["type"] != "message"), "a failed send pushed: {pushed:?}");
    }

    // Restored: the same app, the same client, the same pool.
    world.proxy.set(Mode::Pass);
    let sent = world.send("after restore", &uuid::Uuid::new_v4().to_string()).await;
    assert_ok(&sent, 200);
    for (text, client) in &failed_sends {
        let reply = if text.ends_with("over the socket") {
            world.ws_send(&ann_socket, text, client).await
        } else {
            world.send(text, client).await
        };
        assert_eq!(reply.status, 200, "retry of {text:?}: {}", reply.body);
        assert_eq!(world.in_history(text).await.len(), 1, "{text:?} once in history");
        assert_eq!(world.pushed_to_bob(text), 1, "{text:?} pushed to Bob once");
        // A second retry is answered 200 and stores nothing more.
        let again = world.send(text, client).await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(world.in_history(text).await.len(), 1, "{text:?} once in history after a second retry");
    }
    assert_eq!(world.in_history("after restore").await.len(), 1);
}

#[tokio::test]
async fn a_slow_dynamodb_answers_within_the_bound() {
    let world = World::new().await;
    // Slower than an attempt may take: 503 after the attempts, whatever each call was doing.
    world.proxy.set(Mode::Slow(Duration::from_millis(1500)));
    let client = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let reply = world.send("slow", &client).await;
    let took = started.elapsed();
    assert_unavailable(&reply);
    assert!(took <= BOUND, "answered after {took:?}");
    eprintln!("slow DynamoDB (1.5 s per answer): 503 after {took:?}");
    // Slow but within an attempt: answered normally.
    world.proxy.set(Mode::Slow(Duration::from_millis(100)));
    let reply = world.send("slow", &client).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    world.proxy.set(Mode::Pass);
    let again = world.send("slow", &client).await;
    assert_eq!((again.status, &again.body["message_id"]), (200, &reply.body["message_id"]));
    assert_eq!(world.in_history("slow").await.len(), 1);
}

/// A write DynamoDB applied whose answer was lost: the client sees 503 (outcome unknown), and
/// retrying the same request is safe.
#[tokio::test]
async fn a_lost_answer_after_a_commit_is_a_503_and_the_retry_is_safe() {
    let world = World::new().await;
    let client = uuid::Uuid::new_v4().to_string();
    let email = format!("lost-{}@example.com", uuid::Uuid::new_v4().simple());
    let registration = json!({"email": email, "password": "lost-password", "name": "Lost"});

    world.proxy.set(Mode::DropWriteAnswers);
    let started = Instant::now();
    assert_unavailable(&world.send("committed, answer lost", &client).await);
    let registered = world.env.call(AuthRegister, "POST", "/api/auth/register", None, Some(registration.clone())).await;
    assert_unavailable(&registered);
    assert!(started.elapsed() <= BOUND * 2, "{:?}", started.elapsed());
    // DynamoDB did apply them.
    assert_eq!(world.in_history_direct("committed, answer lost").await, 1);

    world.proxy.set(Mode::Pass);
    // The send's retry: 200, the message once.
    let retried = world.send("committed, answer lost", &client).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(world.in_history("committed, answer lost").await.len(), 1);
    // The registration's retry: 201 with the account its first attempt created, not 409.
    let retried = world.env.call(AuthRegister, "POST", "/api/auth/register", None, Some(registration.clone())).await;
    let account = assert_ok(&retried, 201).clone();
    let login = world
        .env
        .call(AuthLogin, "POST", "/api/auth/login", None, Some(json!({"email": email, "password": "lost-password"})))
        .await;
    assert_eq!(assert_ok(&login, 200)["user_id"], account["user_id"], "{}", login.body);
    // The same email with another password, or another name, is still taken.
    let other = json!({"email": email, "password": "other-password", "name": "Lost"});
    world.env.call(AuthRegister, "POST", "/api/auth/register", None, Some(other)).await.assert_error(409);
    let renamed = json!({"email": email, "password": "lost-password", "name": "Someone"});
    world.env.call(AuthRegister, "POST", "/api/auth/register", None, Some(renamed)).await.assert_error(409);
}

/// A Management API that never answers cannot hold a send: each post gives up at its bound
/// (`chat_core::bounds::management`), and the send answers 200 (the message is stored; a socket
/// never fails the request).
#[tokio::test]
async fn a_hung_management_api_cannot_hold_a_send() {
    let mut world = World::new().await;
    let hung = FaultProxy::start(world.gateway.endpoint()).await;
    let client = world.gateway.client();
    let config = chat_core::bounds::management(client.config().to_builder()).endpoint_url(hung.endpoint()).build();
    let realtime = chat_core::realtime::Realtime::new(aws_sdk_apigatewaymanagement::Client::from_conf(config), 128);
    world.env.app =
        chat_core::App::with_clients(world.env.app.config.clone(), world.env.app.store.clone(), Some(realtime));
    hung.set(Mode::Blackhole);
    let started = Instant::now();
    let sent = world.send("into the void", &uuid::Uuid::new_v4().to_string()).await;
    let took = started.elapsed();
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(took <= BOUND, "answered after {took:?}");
    assert!(took >= Duration::from_millis(900), "the post was not held: {took:?}");
    assert_eq!(world.pushed_to_bob("into the void"), 0);
    assert_eq!(world.in_history("into the void").await.len(), 1);
    eprintln!("hung Management API: the send answered 200 after {took:?}");
}

/// The retry of a send whose first attempt committed and lost its answer delivers the stored
/// message to the other member's socket (`messaging::redeliver`).
#[tokio::test]
async fn the_retry_of_a_committed_send_reaches_the_other_member() {
    let world = World::new().await;
    let client = uuid::Uuid::new_v4().to_string();
    world.proxy.set(Mode::DropWriteAnswers);
    assert_unavailable(&world.send("delivered late", &client).await);
    world.proxy.set(Mode::Pass);
    assert_eq!(world.send("delivered late", &client).await.status, 200);
    assert_eq!(world.pushed_to_bob("delivered late"), 1);
}

impl World {
    /// Messages with this text, read by the harness's own client (not through the proxy).
    async fn in_history_direct(&self, text: &str) -> usize {
        let conversation = ConversationId::parse(&self.conversation).unwrap();
        let snapshot = self.env.snapshot().await;
        snapshot
            .iter()
            .filter(|((pk, sk), item)| {
                pk == &format!("CONV#{conversation}") && sk.starts_with("MSG#") && item["message"] == text
            })
            .count()
    }
}

// ---- The AI agent ----

async fn bedrock_agent(bedrock: &FakeBedrock) -> Agent {
    let vars: HashMap<String, String> = [
        ("AI_RETRY_BASE_MS", "5"),
        ("AI_PROVIDER", "bedrock"),
        ("AI_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("BEDROCK_ENDPOINT", bedrock.endpoint()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = AiConfig::from_lookup(|k| vars.get(k).cloned()).expect("test AI config is valid");
    Agent::from_config(config, &sdk_config()).expect("the model builds")
}

/// The stream record of a stored user message (`events/ai-reply/insert.json`, filled).
fn insert_event(conversation: &str, sent: &Value, sender: &str) -> Event {
    let path = root().join("events/ai-reply/insert.json");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let sequence = (u128::from_le_bytes(*uuid::Uuid::new_v4().as_bytes()) % 1_000_000_000_000).to_string();
    let escaped = serde_json::to_string(sent["message"].as_str().unwrap()).unwrap();
    for (key, value) in [
        ("conversation_id", conversation),
        ("message_id", sent["message_id"].as_str().unwrap()),
        ("sender_id", sender),
        ("message", &escaped[1..escaped.len() - 1]),
        ("timestamp", sent["timestamp"].as_str().unwrap()),
        ("sequence_number", &sequence),
    ] {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    chat_tests::record_replay("ai-reply", "insert");
    serde_json::from_str(&text).expect("a DynamoDB stream event")
}

/// DynamoDB cut while the model streams its answer, then restored; Lambda redelivers the
/// record while the handler reports it failed. The end: the reply stored once and pushed once,
/// or the 503 error frame and nothing stored.
#[tokio::test]
async fn an_ai_reply_cut_mid_stream_ends_stored_and_pushed_once_or_with_the_503_frame() {
    let (mut env, gateway) = TestEnv::with_realtime().await;
    let proxy = env.behind_fault_proxy().await;
    let user = env.register("ann").await;
    let created = env
        .call(ConversationsCreate, "POST", "/api/conversations", Some(&user.token), Some(json!({"is_ai": true})))
        .await;
    let conversation = assert_ok(&created, 201)["conversation_id"].as_str().unwrap().to_string();
    let connection = new_connection_id();
    env.app
        .store
        .open_connection(&ConnectionId::parse(connection.clone()).unwrap(), UserId::parse(&user.id).unwrap())
        .await
        .unwrap();
    let sent = env.send(&user, &conversation, "tell me a story").await;
    let event = insert_event(&conversation, assert_ok(&sent, 200), &user.id);
    gateway.take();

    let bedrock = FakeBedrock::start().await;
    bedrock.reply_slow_first_token(Duration::from_millis(400), &["Once", " upon", " a time."]);
    for _ in 0..4 {
        bedrock.reply(&["Once", " upon", " a time."]);
    }
    let agent = bedrock_agent(&bedrock).await;
    // Cut as soon as the model has been asked: the reply streams while DynamoDB is unreachable.
    let cutter = async {
        while bedrock.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        proxy.set(Mode::Cut);
    };
    // A short invocation: the claim it cannot release while DynamoDB is cut lapses with it
    // (its lease ends at the deadline), so the redelivery takes over within seconds.
    let first_deadline = SystemTime::now() + Duration::from_secs(5);
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let started = Instant::now();
    let (response, ()) = tokio::join!(ai_reply::handler(&env.app, &agent, event.clone(), first_deadline), cutter);
    let mut failures = response.batch_item_failures.len();
    eprintln!("AI reply with DynamoDB cut: {failures} failure(s) after {:?}", started.elapsed());
    proxy.set(Mode::Pass);
    // Lambda retries a failed record; at most a few times here.
    for _ in 0..3 {
        if failures == 0 {
            break;
        }
        failures = ai_reply::handler(&env.app, &agent, event.clone(), deadline).await.batch_item_failures.len();
    }

    let path = format!("/api/conversations/{conversation}");
    let history = env.call(ConversationsHistory, "GET", &path, Some(&user.token), None).await;
    let replies: Vec<Value> =
        assert_ok(&history, 200).as_array().unwrap().iter().filter(|m| m["sender_id"] == AGENT_ID).cloned().collect();
    let frames = gateway.frames_to(&connection);
    let messages: Vec<&Value> = frames.iter().filter(|f| f["type"] == "message").collect();
    let errors: Vec<&Value> = frames.iter().filter(|f| f["type"] == "error").collect();
    match replies.as_slice() {
        [reply] => {
            eprintln!("AI reply cut mid-stream: stored and pushed once ({} model requests)", bedrock.requests().len());
            assert_eq!(reply["message"], "Once upon a time.");
            assert_eq!(messages.len(), 1, "the stored reply pushed once: {frames:?}");
            assert_eq!(messages[0]["message_id"], reply["message_id"]);
            // The attempt that streamed while DynamoDB was cut said the reply did not arrive
            // (at most once per failed attempt), before a retry stored and pushed it whole.
            let last_error = frames.iter().rposition(|f| f["type"] == "error");
            let message_at = frames.iter().position(|f| f["type"] == "message");
            assert!(last_error < message_at, "an error frame after the stored reply: {frames:?}");
            assert!(errors.len() <= 1, "{frames:?}");
        }
        [] => {
            eprintln!("AI reply cut mid-stream: given up with the 503 frame");
            assert!(messages.is_empty(), "{frames:?}");
            assert_eq!(errors.len(), 1, "one 503 error frame: {frames:?}");
            assert_eq!(errors[0]["error"], json!({"message": UNAVAILABLE_MESSAGE, "status": 503}));
        }
        more => panic!("the reply stored {} times: {more:?}", more.len()),
    }
}

/// The template's function timeouts agree with the bounds the handlers answer within.
#[test]
fn function_timeouts_agree_with_the_bounds() {
    let template = local_stack::Template::load(&root().join("template.yaml")).unwrap();
    for function in template.functions() {
        let timeout = Duration::from_secs(function.timeout_seconds);
        if function.binary == "ai-reply" {
            assert!(timeout > FUNCTION_TIMEOUT, "ai-reply streams a model's answer: {timeout:?}");
        } else {
            assert_eq!(timeout, FUNCTION_TIMEOUT, "{}", function.binary);
            assert!(REQUEST_BUDGET + Duration::from_secs(2) <= timeout, "{}", function.binary);
        }
    }
}
