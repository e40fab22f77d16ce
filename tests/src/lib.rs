//! Test harness: one local DynamoDB per test binary (dynoxide in memory, or `DYNAMODB_ENDPOINT`), a fresh table per test (created from
//! `template.yaml`), and helpers that replay API Gateway events through the real handlers.

use aws_sdk_dynamodb::Client;
use chat_core::App;
use chat_core::config::Config;
use chat_core::store::Store;
use lambda_http::{Body, Request, Response};
use local_stack::LocalDynamoDb;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::OnceLock;
use tokio::sync::OnceCell;

pub mod capacity;
pub mod fake_gateway;
pub mod fake_models;
pub mod fake_server;
pub use local_stack::fault_proxy;
pub mod round_trips;

/// The HTTP API's functions under test: `Variant => crate`, once each (`without_app` for a
/// handler that takes only the request). `tests/api/registry.rs` checks this list against the
/// template's `HttpApi` functions; the WebSocket and stream functions are called by their tests.
macro_rules! functions {
    ($($variant:ident => $krate:ident $([$flag:ident])?),* $(,)?) => {
        /// A function of the HTTP API, by crate name (= `events/<name>/`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Function {
            $($variant),*
        }

        impl Function {
            pub const ALL: [Function; [$(stringify!($variant)),*].len()] = [$(Self::$variant),*];

            /// The crate name: the crate's Rust name with `-` for `_`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => {
                        const NAME: [u8; stringify!($krate).len()] = crate_name(stringify!($krate));
                        match std::str::from_utf8(&NAME) {
                            Ok(name) => name,
                            Err(_) => unreachable!(),
                        }
                    })*
                }
            }

            pub async fn call(self, app: &App, req: Request) -> Response<Body> {
                match self {
                    $(Self::$variant => handler!($krate, app, req $(, $flag)?)),*
                }
            }
        }
    };
}

/// One handler call: `handler(app, req)`, or `handler(req)` for one marked `without_app`.
macro_rules! handler {
    ($krate:ident, $app:ident, $req:ident) => {
        $krate::handler($app, $req).await
    };
    ($krate:ident, $app:ident, $req:ident, without_app) => {
        $krate::handler($req).await
    };
}

functions! {
    AuthRegister => auth_register,
    AuthLogin => auth_login,
    UsersList => users_list,
    UsersGet => users_get,
    ConversationsList => conversations_list,
    ConversationsCreate => conversations_create,
    ConversationsHistory => conversations_history,
    MessagesSend => messages_send,
    RouteFallback => route_fallback [without_app],
    ConversationsConnect => conversations_connect,
    ConversationsRead => conversations_read,
    ConversationsMembersList => conversations_members_list,
    ConversationsMembersAdd => conversations_members_add,
    ConversationsMembersRemove => conversations_members_remove,
}

/// The stream's INSERT record of the message a send answered (`sent`, its 200 body):
/// `events/inbox-activity/insert.json` filled, each with its own sequence number.
pub fn message_record(conversation: &str, sender: &User, sent: &Value) -> Value {
    let sequence = STREAM_SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string();
    let path = root().join("events/inbox-activity/insert.json");
    let mut text = std::fs::read_to_string(&path).expect("events/inbox-activity/insert.json reads");
    for (key, value) in [
        ("conversation_id", conversation),
        ("message_id", sent["message_id"].as_str().expect("a sent message's id")),
        ("sender_id", &sender.id),
        ("timestamp", sent["timestamp"].as_str().expect("a sent message's timestamp")),
        ("sequence_number", &sequence),
    ] {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    let event: Value = serde_json::from_str(&text).expect("the fixture is JSON");
    event["Records"][0].clone()
}

/// `users_get` becomes `users-get`, at compile time.
const fn crate_name<const N: usize>(ident: &str) -> [u8; N] {
    let bytes = ident.as_bytes();
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] = if bytes[i] == b'_' { b'-' } else { bytes[i] };
        i += 1;
    }
    out
}

static DYNAMODB: OnceLock<String> = OnceLock::new();
static STREAM_SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
static TABLE_DEF: OnceCell<local_stack::TableDefinition> = OnceCell::const_new();

pub fn root() -> PathBuf {
    local_stack::project_root()
}

/// `DYNAMODB_ENDPOINT` when set (any DynamoDB-compatible server), else dynoxide served in this
/// process, in memory, for as long as the test binary runs.
fn dynamodb_endpoint() -> String {
    DYNAMODB
        .get_or_init(|| match std::env::var("DYNAMODB_ENDPOINT").ok().filter(|e| !e.is_empty()) {
            Some(endpoint) => endpoint,
            None => {
                let local = LocalDynamoDb::start(None, 0).unwrap_or_else(|e| panic!("{e}"));
                let endpoint = local.endpoint();
                std::mem::forget(local);
                endpoint
            }
        })
        .clone()
}

/// A response, decoded.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: HashMap<String, String>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The target of `Link: <target>; rel="next"`, when the response has one.
    #[track_caller]
    pub fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        let target = link
            .strip_prefix('<')
            .and_then(|rest| rest.strip_suffix(">; rel=\"next\""))
            .unwrap_or_else(|| panic!("malformed Link header: {link}"));
        Some(target.to_string())
    }

    /// Asserts the contract's error envelope with this status, and returns the message.
    #[track_caller]
    pub fn assert_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "unexpected status, body: {}", self.body);
        assert_eq!(self.body["error"]["status"], json!(status), "envelope status: {}", self.body);
        assert_eq!(self.body.as_object().map(|o| o.len()), Some(1), "envelope has extra fields: {}", self.body);
        let message = self.body["error"]["message"].as_str().expect("envelope message is a string");
        assert!(!message.is_empty());
        message.to_string()
    }
}

pub struct User {
    pub id: String,
    pub email: String,
    pub password: String,
    pub token: String,
}

/// One test's world: its own table on the shared DynamoDB, its own secret.
pub struct TestEnv {
    pub app: App,
    pub client: Client,
    pub table: String,
    /// Every DynamoDB call the app made (the harness's own calls use `client`, uncounted).
    pub calls: round_trips::CallLog,
    /// The capacity units those calls consumed.
    pub capacity: capacity::CapacityMeter,
    /// The fake Management API the app pushes to ([`TestEnv::with_realtime`]); [`TestEnv::refused`]
    /// then also checks that a refused request pushed nothing.
    pub gateway: Option<fake_gateway::FakeGateway>,
}

impl TestEnv {
    pub async fn new() -> Self {
        let endpoint = dynamodb_endpoint();
        let client = local_stack::local_client(&endpoint);
        let def = TABLE_DEF
            .get_or_init(|| async {
                local_stack::Template::load(&root().join("template.yaml"))
                    .and_then(|t| t.table())
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .await;
        let table = format!("chat-test-{}", uuid::Uuid::new_v4().simple());
        local_stack::create_table(&client, &table, def).await.unwrap_or_else(|e| panic!("{e}"));
        let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let vars: HashMap<&str, String> =
            [("TABLE_NAME", table.clone()), ("JWT_SECRET", secret), ("DYNAMODB_ENDPOINT", endpoint)].into();
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config is valid");
        let calls = round_trips::CallLog::default();
        let capacity = capacity::CapacityMeter::default();
        let counted = Client::from_conf(
            client.config().to_builder().interceptor(calls.clone()).interceptor(capacity.clone()).build(),
        );
        let app = App::with_store(config, Store::new(counted, table.clone()));
        Self { app, client, table, calls, capacity, gateway: None }
    }

    /// Like [`TestEnv::new`], but the app pushes WebSocket frames to a fresh
    /// [`fake_gateway::FakeGateway`] (returned alongside), as it would to API Gateway.
    pub async fn with_realtime() -> (Self, fake_gateway::FakeGateway) {
        let mut env = Self::new().await;
        let gateway = fake_gateway::FakeGateway::start().await;
        let realtime = chat_core::realtime::Realtime::new(gateway.client(), 128);
        env.app = App::with_clients(env.app.config.clone(), env.app.store.clone(), Some(realtime));
        env.gateway = Some(gateway.clone());
        (env, gateway)
    }

    /// Puts a [`fault_proxy::FaultProxy`] (returned, in `Pass` mode) between the app and the
    /// local DynamoDB, and gives the app's client the product's timeouts and retries
    /// (`chat_core::bounds`), as `App::from_sdk` does on AWS. The harness's own client (`client`,
    /// snapshots) still goes straight to DynamoDB.
    pub async fn behind_fault_proxy(&mut self) -> fault_proxy::FaultProxy {
        let upstream = self.app.config.dynamodb_endpoint.clone().expect("the tests set DYNAMODB_ENDPOINT");
        let proxy = fault_proxy::FaultProxy::start(&upstream).await;
        let config = chat_core::bounds::dynamodb(self.client.config().to_builder())
            .endpoint_url(proxy.endpoint())
            .interceptor(self.calls.clone())
            .interceptor(self.capacity.clone())
            .build();
        let store = Store::new(Client::from_conf(config), self.table.clone());
        self.app = App::with_clients(self.app.config.clone(), store, self.app.realtime.clone());
        proxy
    }

    /// Replays a raw API Gateway event through a function's handler.
    pub async fn invoke_event(&self, function: Function, event: &str) -> Reply {
        let req = lambda_http::request::from_str(event)
            .unwrap_or_else(|e| panic!("fixture is not an API Gateway event: {e}"));
        let response = function.call(&self.app, req).await;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect::<HashMap<_, _>>();
        let bytes: &[u8] = response.body().as_ref();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(bytes).expect("every response body is JSON")
        };
        if status >= 400 {
            assert_eq!(headers.get("content-type").map(String::as_str), Some("application/json"));
        }
        Reply { status, body, headers }
    }

    /// Loads `events/<function>/<name>.json`, fills `{{placeholders}}`, and replays it.
    /// Records the replay (see [`record_replay`]) once the handler has answered.
    pub async fn replay(&self, function: Function, name: &str, vars: &[(&str, &str)]) -> Reply {
        let event = fixture(function, name, vars);
        let reply = self.invoke_event(function, &event).await;
        record_replay(function.name(), name);
        reply
    }

    /// Builds an event in code (for tests that generate many requests).
    pub async fn call(
        &self,
        function: Function,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let event = event(method, path, token, body.map(|b| b.to_string()));
        self.invoke_event(function, &event.to_string()).await
    }

    pub async fn register(&self, name: &str) -> User {
        let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
        let password = format!("{name}-password");
        let reply = self
            .call(
                Function::AuthRegister,
                "POST",
                "/api/auth/register",
                None,
                Some(json!({"email": email, "password": password, "name": name})),
            )
            .await;
        assert_eq!(reply.status, 201, "register: {}", reply.body);
        User {
            id: reply.body["user_id"].as_str().unwrap().to_string(),
            email,
            password,
            token: reply.body["token"].as_str().unwrap().to_string(),
        }
    }

    pub async fn direct_conversation(&self, a: &User, b: &User) -> String {
        let reply = self
            .call(
                Function::ConversationsCreate,
                "POST",
                "/api/conversations",
                Some(&a.token),
                Some(json!({"is_ai": false, "participant_id": b.id})),
            )
            .await;
        assert!(reply.status == 201 || reply.status == 200, "create conversation: {}", reply.body);
        reply.body["conversation_id"].as_str().unwrap().to_string()
    }

    /// Sends as `user`, then lets the table's stream run as it does a moment after a send
    /// ([`TestEnv::stream_message`]): inbox order and the sender's read position settled.
    pub async fn send(&self, user: &User, conversation: &str, text: &str) -> Reply {
        let reply = self.send_unsettled(user, conversation, text).await;
        if reply.status == 200 {
            self.stream_message(conversation, user, &reply.body).await;
        }
        reply
    }

    /// Sends as `user` (`POST /api/messages`) and nothing more: what the sender sees at once.
    pub async fn send_unsettled(&self, user: &User, conversation: &str, text: &str) -> Reply {
        self.call(
            Function::MessagesSend,
            "POST",
            "/api/messages",
            Some(&user.token),
            Some(json!({"conversation_id": conversation, "sender_id": user.id, "message": text})),
        )
        .await
    }

    /// What the table's stream does a moment after a send: `inbox-activity` moves the
    /// conversation up its members' inboxes to the message `sent` (a send's 200 body).
    pub async fn stream_message(&self, conversation: &str, sender: &User, sent: &Value) {
        let event = json!({ "Records": [message_record(conversation, sender, sent)] });
        let event = serde_json::from_value(event).expect("the fixture is a DynamoDB stream event");
        let response = inbox_activity::handler(&self.app, event).await;
        assert!(response.batch_item_failures.is_empty(), "inbox-activity failed the record");
        record_replay("inbox-activity", "insert");
    }

    /// A token signed like the product's (HS256, our issuer and audience) with `iat`/`exp` at
    /// the given offsets from now (seconds) and with `secret`: expired or foreign tokens.
    pub fn forge_token(&self, sub: &str, iat_offset: i64, exp_offset: i64, secret: &[u8]) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = chat_core::auth::Claims {
            sub: sub.to_string(),
            iat: (now + iat_offset) as u64,
            exp: (now + exp_offset) as u64,
            iss: self.app.config.jwt_issuer.clone(),
            aud: self.app.config.jwt_audience.clone(),
        };
        let key = jsonwebtoken::EncodingKey::from_secret(secret);
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key)
            .expect("token signs")
    }

    /// Runs a request that must be refused: asserts the error envelope with `status`, that the
    /// table is exactly as before ("a failed request changes nothing") and, with a fake gateway
    /// ([`TestEnv::with_realtime`]), that nothing was pushed. Returns the message.
    #[track_caller]
    pub fn refused<'a>(
        &'a self,
        status: u16,
        request: impl std::future::Future<Output = Reply> + 'a,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + 'a>> {
        let caller = std::panic::Location::caller();
        // Boxed (the request too): handler futures are large, and a test awaiting many of these
        // in a row would otherwise carry them all in its own future, on the test thread's stack.
        let request = Box::pin(request);
        Box::pin(async move {
            let before = self.snapshot().await;
            let posted = self.gateway.as_ref().map(|g| g.posts().len());
            let reply = request.await;
            assert_eq!(reply.status, status, "unexpected status at {caller}, body: {}", reply.body);
            let message = reply.assert_error(status);
            assert!(self.snapshot().await == before, "refused request at {caller} changed the table");
            if let (Some(gateway), Some(posted)) = (&self.gateway, posted) {
                let pushed = &gateway.posts()[posted..];
                assert!(pushed.is_empty(), "refused request at {caller} pushed {pushed:?}");
            }
            message
        })
    }

    /// Every item in the table, keyed by (PK, SK). Test-only: the product never scans; tests
    /// take this snapshot to prove that a refused request changed nothing.
    pub async fn snapshot(&self) -> BTreeMap<(String, String), Value> {
        let mut items = BTreeMap::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("snapshot scan");
            for item in out.items.unwrap_or_default() {
                let value: Value = serde_dynamo::from_item(item).expect("item decodes");
                let key = (value["PK"].as_str().unwrap().to_string(), value["SK"].as_str().unwrap().to_string());
                items.insert(key, value);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }
}

/// The environment variable naming the file where [`record_replay`] appends what was replayed.
pub const REPLAY_LOG: &str = "CHAT_TESTS_REPLAY_LOG";

/// Notes that `events/<dir>/<case>.json` went through its handler in this run: appends the line
/// `<dir>/<case>` to the file `$CHAT_TESTS_REPLAY_LOG` names (nothing when it is unset). The file
/// outlives the test binary: `./infra/test` sets the variable for `cargo test`, then runs
/// `fixtures::every_fixture_was_replayed` (ignored otherwise), which fails on any fixture, or
/// folder of `events/`, that no test replayed. A record per process, not a test that looks at a
/// global set: the tests of one binary run in parallel, in no fixed order.
pub fn record_replay(dir: &str, case: &str) {
    use std::io::Write;
    static SEEN: std::sync::Mutex<Option<std::collections::BTreeSet<String>>> = std::sync::Mutex::new(None);
    let Some(path) = std::env::var_os(REPLAY_LOG) else { return };
    let line = format!("{dir}/{case}");
    let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !seen.get_or_insert_default().insert(line.clone()) {
        return;
    }
    // Under the lock: one line per write, never interleaved.
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", PathBuf::from(&path).display()));
    file.write_all(format!("{line}\n").as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", PathBuf::from(&path).display()));
}

/// `events/<function>/<name>.json` with its placeholders filled. Loading is not replaying:
/// [`TestEnv::replay`] records the replay once the handler has run it.
pub fn fixture(function: Function, name: &str, vars: &[(&str, &str)]) -> String {
    local_stack::fixture(function.name(), name, vars).unwrap_or_else(|e| panic!("{e}"))
}

/// An API Gateway HTTP API (payload 2.0) event, as API Gateway would send it.
pub fn event(method: &str, path_and_query: &str, token: Option<&str>, body: Option<String>) -> Value {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let mut headers =
        json!({"content-type": "application/json", "host": "api.example.com", "user-agent": "chat-tests"});
    if let Some(token) = token {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    let mut query_params = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query_params.insert(k.to_string(), json!(v));
    }
    let (route, params) = route_for(method, path);
    json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": if query_params.is_empty() { Value::Null } else { Value::Object(query_params) },
        "pathParameters": if params.is_empty() { Value::Null } else { Value::Object(params) },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "chat-tests"},
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route,
            "stage": "$default",
            "time": "24/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_000_000_000_i64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// The matching route of `chat_core::routes`, with its path parameters, like API Gateway.
fn route_for(method: &str, path: &str) -> (String, serde_json::Map<String, Value>) {
    for (m, pattern) in chat_core::routes::ROUTES {
        if *m == method && chat_core::routes::matches(pattern, path) {
            let mut params = serde_json::Map::new();
            for (p, v) in pattern.split('/').zip(path.split('/')) {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    params.insert(name.to_string(), json!(v));
                }
            }
            return (format!("{method} {pattern}"), params);
        }
    }
    ("$default".into(), serde_json::Map::new())
}
