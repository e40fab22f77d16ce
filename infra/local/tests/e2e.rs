//! `local-gateway` end to end: started as a subprocess on free ports, driven over real HTTP
//! and real WebSockets. The function binaries must be built first: `cargo build --workspace --bins`.
//! The one test binary (each links the AWS SDK) takes its other modules from `tests/e2e/`.

#[path = "e2e/groups.rs"]
mod groups;
#[path = "e2e/scripts.rs"]
mod scripts;
#[path = "e2e/streams.rs"]
mod streams;
#[path = "e2e/websocket.rs"]
mod websocket;
#[path = "e2e/ws_client.rs"]
mod ws_client;
#[path = "e2e/ws_stand_ins.rs"]
mod ws_stand_ins;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use local_stack::{RouteTable, Template};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const GATEWAY: &str = env!("CARGO_BIN_EXE_local-gateway");
/// The gateway's settings: none may leak in from the shell running the tests.
const SETTINGS: [&str; 14] = [
    "HTTP_PORT",
    "WS_PORT",
    "DYNAMODB_ENDPOINT",
    "DYNAMODB_PORT",
    "LOCAL_DATA_DIR",
    "TABLE_NAME",
    "JWT_SECRET",
    "BIN_DIR",
    "TEMPLATE",
    "MAX_INSTANCES",
    "WS_IDLE_TIMEOUT_SECONDS",
    "WS_MAX_CONNECTION_SECONDS",
    "WS_POST_LATENCY_MS",
    "LOCAL_AI_PROVIDER",
];

fn gateway_command(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(GATEWAY);
    for key in SETTINGS.iter().chain(&local_stack::PASSED_TO_FUNCTIONS) {
        command.env_remove(key);
    }
    command.envs([("HTTP_PORT", "0"), ("WS_PORT", "0")]).envs(env.iter().copied());
    command
}

/// A running `local-gateway`; stopped with SIGTERM when dropped.
struct Gateway {
    child: Child,
    http: String,
    ws: String,
    dynamodb: String,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    fn start(env: &[(&str, &str)]) -> Self {
        let mut child = gateway_command(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("local-gateway starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready) = mpsc::channel();
        let lines = stdout.clone();
        let out = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.starts_with("chat API ready: ") {
                    let _ = ready_tx.send(line.clone());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let err = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            BufReader::new(err).lines().map_while(Result::ok).for_each(|l| eprintln!("gateway stderr: {l}"))
        });
        let line = ready.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("local-gateway never printed its readiness line; output: {:#?}", stdout.lock().unwrap())
        });
        // `chat API ready: http://127.0.0.1:N (HTTP)  ws://127.0.0.1:M (WebSocket)  DynamoDB ...`
        let words: Vec<&str> = line.split_whitespace().collect();
        let (http, ws, dynamodb) = (words[3].to_string(), words[5].to_string(), words[8].to_string());
        assert!(http.starts_with("http://127.0.0.1:") && ws.starts_with("ws://127.0.0.1:"), "{line}");
        Self { child, http, ws, dynamodb, stdout }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http)
    }

    fn output(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Every process the gateway started (the functions).
    fn children(&self) -> Vec<u32> {
        let out = Command::new("pgrep").arg("-P").arg(self.child.id().to_string()).output().expect("pgrep runs");
        String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect()
    }

    fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                return status;
            }
            assert!(Instant::now() < deadline, "local-gateway did not stop within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM: the gateway exits cleanly and no process it started outlives it.
    fn stop_leaving_nothing(mut self) {
        let children = self.children();
        assert!(self.terminate().success());
        let left: Vec<u32> = children.into_iter().filter(|p| running(*p)).collect();
        assert!(left.is_empty(), "processes left behind: {left:?}");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

/// Alive and not a zombie.
fn running(pid: u32) -> bool {
    let out = Command::new("ps").args(["-o", "stat=", "-p", &pid.to_string()]).output().expect("ps runs");
    let stat = String::from_utf8_lossy(&out.stdout);
    !stat.trim().is_empty() && !stat.trim().starts_with('Z')
}

fn bin_dir() -> PathBuf {
    Path::new(GATEWAY).parent().expect("the gateway is in a directory").to_path_buf()
}

/// The functions' binaries are not built by `cargo test`: say so instead of timing out.
fn require_function_binaries() {
    let template = Template::load(&local_stack::project_root().join("template.yaml")).unwrap();
    let missing: Vec<String> =
        template.functions().into_iter().map(|f| f.binary).filter(|b| !bin_dir().join(b).is_file()).collect();
    assert!(
        missing.is_empty(),
        "function binaries missing from {}: {}. Run `cargo build --workspace --bins` before these tests.",
        bin_dir().display(),
        missing.join(", ")
    );
}

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    fn assert_envelope(&self, status: u16) {
        let body = self.json();
        assert_eq!(self.status, status, "{body}");
        assert_eq!(body["error"]["status"], json!(status), "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    }
}

async fn call(method: &str, url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(Full::new(body.into())).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(req))
        .await
        .expect("answered in 30 s")
        .expect("HTTP works");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("a body").to_bytes();
    Reply { status, headers, body }
}

async fn post_json(url: &str, token: Option<&str>, body: Value) -> Reply {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    headers.extend(bearer.as_deref().map(|b| ("authorization", b)));
    call("POST", url, &headers, body.to_string()).await
}

async fn get(url: &str, token: &str) -> Reply {
    call("GET", url, &[("authorization", &format!("Bearer {token}"))], Bytes::new()).await
}

/// A trailing-slash URL: the `$default` fallback answers 308 with a relative `Location`
/// (`../messages`), and the same request there gets the route's answer.
async fn via_redirect(method: &str, url: &str, token: Option<&str>, body: Value) -> Reply {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    headers.extend(bearer.as_deref().map(|b| ("authorization", b)));
    let body = if body.is_null() { String::new() } else { body.to_string() };
    let first = call(method, url, &headers, body.clone()).await;
    assert_eq!(first.status, 308, "{method} {url}: {}", String::from_utf8_lossy(&first.body));
    let location = first.header("location").expect("a 308 has a Location").to_string();
    let (path, _) = url.split_once('?').unwrap_or((url, ""));
    let parent = path.trim_end_matches('/').rsplit_once('/').expect("a parent").0;
    let target = format!("{parent}/{}", location.strip_prefix("../").expect("relative to the parent"));
    call(method, &target, &headers, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_through_the_gateway() {
    require_function_binaries();
    let gw = Gateway::start(&[]);
    let suffix = uuid::Uuid::new_v4().simple().to_string();

    // Register, log in, create a direct conversation, post, read the history.
    let register_url = gw.url("/api/auth/register");
    let register = |name: &str| {
        let body = json!({"email": format!("{name}-{suffix}@example.com"), "password": "correct horse", "name": name});
        post_json(&register_url, None, body)
    };
    let alice = register("alice").await;
    assert_eq!(alice.status, 201, "{}", alice.json());
    assert!(alice.header("apigw-requestid").is_some());
    let bob = register("bob").await;
    assert_eq!(bob.status, 201, "{}", bob.json());
    let bob = bob.json();
    // The seed's trailing slashes: no HTTP API route can have one, the fallback redirects.
    let login = via_redirect(
        "POST",
        &gw.url("/api/auth/login/"),
        None,
        json!({"email": format!("alice-{suffix}@example.com"), "password": "correct horse"}),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.json());
    let token = login.json()["token"].as_str().unwrap().to_string();
    let (alice_id, bob_id) =
        (alice.json()["user_id"].as_str().unwrap().to_string(), bob["user_id"].as_str().unwrap().to_string());

    let created =
        post_json(&gw.url("/api/conversations"), Some(&token), json!({"is_ai": false, "participant_id": bob_id})).await;
    assert_eq!(created.status, 201, "{}", created.json());
    let conversation = created.json()["conversation_id"].as_str().unwrap().to_string();
    for text in ["hello bob", "second"] {
        let sent = via_redirect(
            "POST",
            &gw.url("/api/messages/"),
            Some(&token),
            json!({"conversation_id": conversation, "sender_id": alice_id, "message": text}),
        )
        .await;
        assert_eq!(sent.status, 200, "{}", sent.json());
    }
    let history = get(&gw.url(&format!("/api/conversations/{conversation}")), &token).await;
    assert_eq!(history.status, 200, "{}", history.json());
    let messages = history.json();
    let texts: Vec<&str> = messages.as_array().unwrap().iter().map(|m| m["message"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hello bob", "second"]);

    // Query strings and path parameters arrive (and a trailing slash leads to the same route).
    let page =
        via_redirect("GET", &gw.url(&format!("/api/conversations/{conversation}/?limit=1")), Some(&token), Value::Null)
            .await;
    assert_eq!(page.status, 200, "{}", page.json());
    assert_eq!(page.json().as_array().unwrap().len(), 1);
    assert!(page.header("link").is_some_and(|l| l.contains("limit=1") && l.contains("before=")), "{:?}", page.headers);
    let profile = via_redirect("GET", &gw.url(&format!("/api/users/{bob_id}/")), Some(&token), Value::Null).await;
    assert_eq!(profile.status, 200, "{}", profile.json());
    assert_eq!(profile.json()["user_id"], json!(bob_id));

    // Failures, in the contract's envelope.
    call("GET", &gw.url("/api/nope"), &[], Bytes::new()).await.assert_envelope(404);
    call("DELETE", &gw.url("/api/messages"), &[], Bytes::new()).await.assert_envelope(405);
    call("GET", &gw.url("/api/users"), &[], Bytes::new()).await.assert_envelope(401);
    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
    call("POST", &gw.url("/api/conversations"), &headers, "{").await.assert_envelope(400);
    call("POST", &gw.url("/api/messages"), &headers, vec![b' '; 10 * 1024 * 1024 + 1]).await.assert_envelope(413);
    // The WebSocket port wants an upgrade.
    call("GET", &gw.ws.replace("ws://", "http://"), &[], Bytes::new()).await.assert_envelope(426);

    // CORS from the template's CorsConfiguration.
    let preflight = [("origin", "https://app.example"), ("access-control-request-method", "POST")];
    let reply = call("OPTIONS", &gw.url("/api/messages"), &preflight, Bytes::new()).await;
    assert_eq!((reply.status, reply.header("access-control-allow-origin")), (204, Some("*")));

    // One readiness line, one log line per request without the query string.
    let output = gw.output();
    assert_eq!(output.iter().filter(|l| l.starts_with("chat API ready")).count(), 1);
    assert!(
        output.iter().any(|l| l.starts_with(&format!("GET /api/conversations/{conversation}/ 308 "))),
        "{output:#?}"
    );
    assert!(
        !output.iter().any(|l| l.contains("limit=1") && !l.contains(" | ")),
        "a query string was logged: {output:#?}"
    );

    // SIGTERM stops every function process.
    let children = gw.children();
    assert!(children.len() >= 7, "expected the functions, got {children:?}");
    gw.stop_leaving_nothing();
}

/// A template of stand-in functions (tests/fake_lambda.py) to see exactly what a function
/// receives, and what crashes, errors and timeouts become.
const FAKE_TEMPLATE: &str = r#"
Parameters:
  Level: {Type: String, Default: DEBUG}
Globals:
  Function:
    Timeout: 1
    MemorySize: 512
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        LITERAL: plain
        SECRET: !Sub "{{resolve:secretsmanager:${Secret}:SecretString:secret}}"
        ISSUER: !Sub "x/${AWS::StackName}"
        LEVEL: !Ref Level
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
      KeySchema: [{AttributeName: PK, KeyType: HASH}]
  Secret: {Type: AWS::SecretsManager::Secret}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration: {AllowOrigins: ["https://app.example"], ExposeHeaders: [x-one]}
  EchoFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: echo}}
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {Method: GET, Path: "/echo/{id}"}}
        Post: {Type: HttpApi, Properties: {Method: post, Path: "/echo/{id}"}}
        Greedy: {Type: HttpApi, Properties: {Method: ANY, Path: "/greedy/{proxy+}"}}
  FailFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: fail}}
    Properties: {Events: {Get: {Type: HttpApi, Properties: {Method: GET, Path: /fail}}}}
  CrashFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: crash}}
    Properties: {Events: {Get: {Type: HttpApi, Properties: {Method: GET, Path: /crash}}}}
  DieFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: die}}
    Properties: {Events: {Get: {Type: HttpApi, Properties: {Method: GET, Path: /die}}}}
  OnceFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: once}}
    Properties: {Events: {Get: {Type: HttpApi, Properties: {Method: GET, Path: /once}}}}
  HangFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: hang}}
    Properties: {Events: {Get: {Type: HttpApi, Properties: {Method: GET, Path: /hang}}}}
"#;

/// A fresh directory (`local-gateway-<kind>-<uuid>` in the temp dir) holding the stand-in
/// function, tests/fake_lambda.py, under each of `names` (it behaves after its name): a
/// template's `BIN_DIR`.
fn stand_in_dir(kind: &str, names: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("local-gateway-{kind}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_lambda.py")).unwrap();
    for name in names {
        std::fs::write(dir.join(name), &script).unwrap();
        let _ = Command::new("chmod").arg("+x").arg(dir.join(name)).status();
    }
    dir
}

/// What the local stack's intrinsics resolve to, for the tests that read a template without
/// starting a gateway.
fn test_locals() -> local_stack::LocalValues {
    local_stack::LocalValues {
        stack_name: "chat-local".into(),
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        table_name: "chat-local".into(),
        secret: "s".repeat(40),
        aws_endpoint: "http://127.0.0.1:1".into(),
        apis: Vec::new(),
    }
}

fn fake_stack_dir() -> PathBuf {
    let dir = stand_in_dir("e2e", &["echo", "fail", "crash", "die", "hang", "once"]);
    std::fs::write(dir.join("template.yaml"), FAKE_TEMPLATE).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn events_responses_and_failures() {
    let dir = fake_stack_dir();
    let secret = "s".repeat(40);
    let template = dir.join("template.yaml");
    let env = [
        ("BIN_DIR", dir.to_str().unwrap()),
        ("TEMPLATE", template.to_str().unwrap()),
        ("JWT_SECRET", &secret),
        ("LEAK_CHECK", "1"),
    ];
    let gw = Gateway::start(&env);

    // The payload 2.0 event.
    let headers = [("cookie", "c1=v1; c2=v2"), ("x-rep", "a"), ("x-rep", "b"), ("user-agent", "e2e")];
    let reply = call("GET", &gw.url("/echo/hello%20world?x=1&x=2&y=%C3%A9&flag"), &headers, Bytes::new()).await;
    assert_eq!(reply.status, 201);
    let many: Vec<_> = reply.headers.get_all("x-many").iter().collect();
    assert_eq!((reply.header("x-one"), many.len()), (Some("1"), 2));
    assert_eq!(reply.headers.get_all("set-cookie").iter().count(), 2);
    let echo = reply.json();
    let event = &echo["event"];
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /echo/{id}");
    assert_eq!(event["rawPath"], "/echo/hello%20world");
    assert_eq!(event["rawQueryString"], "x=1&x=2&y=%C3%A9&flag");
    assert_eq!(event["queryStringParameters"], json!({"x": "1,2", "y": "é", "flag": ""}));
    assert_eq!(event["pathParameters"], json!({"id": "hello world"}));
    assert_eq!(event["cookies"], json!(["c1=v1", "c2=v2"]));
    assert_eq!(event["headers"]["x-rep"], "a,b");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(event["isBase64Encoded"], false);
    assert!(event.get("body").is_none());
    let context = &event["requestContext"];
    assert_eq!((context["stage"].as_str(), context["routeKey"].as_str()), (Some("$default"), Some("GET /echo/{id}")));
    assert_eq!(
        context["http"],
        json!({"method": "GET", "path": "/echo/hello%20world", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "e2e"})
    );
    assert!(context["timeEpoch"].is_i64() && context["requestId"].is_string() && context["time"].is_string());

    // The Runtime API's headers and the Lambda environment.
    let deadline = echo["runtime"]["lambda-runtime-deadline-ms"].as_str().unwrap().parse::<u128>().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    assert!(deadline > now - 5_000 && deadline <= now + 1_000, "deadline {deadline} vs now {now}");
    assert!(
        echo["runtime"]["lambda-runtime-invoked-function-arn"]
            .as_str()
            .unwrap()
            .ends_with(":function:chat-local-EchoFunction")
    );
    assert!(echo["runtime"]["lambda-runtime-trace-id"].is_string());
    let fn_env = &echo["env"];
    assert_eq!(fn_env["LITERAL"], "plain");
    assert_eq!(fn_env["SECRET"], secret.as_str());
    assert_eq!(fn_env["ISSUER"], "x/chat-local");
    assert_eq!(fn_env["LEVEL"], "DEBUG");
    assert_eq!(fn_env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "512");
    assert_eq!(fn_env["AWS_REGION"], "us-east-1");
    assert!(fn_env["TABLE_NAME"] == "chat-local" && fn_env["DYNAMODB_ENDPOINT"].is_string());
    assert!(fn_env.get("LEAK_CHECK").is_none(), "the gateway's environment leaked into a function");

    // Bodies: text as is, anything else base64; `ANY` and greedy parameters.
    let text = call("POST", &gw.url("/echo/x"), &[], "héllo").await.json();
    assert_eq!((&text["event"]["body"], &text["event"]["isBase64Encoded"]), (&json!("héllo"), &json!(false)));
    let binary = call("POST", &gw.url("/echo/x"), &[], vec![0xff, 0xfe]).await.json();
    assert_eq!((&binary["event"]["body"], &binary["event"]["isBase64Encoded"]), (&json!("//4="), &json!(true)));
    let greedy = call("DELETE", &gw.url("/greedy/a/b"), &[], Bytes::new()).await.json();
    assert_eq!(greedy["event"]["routeKey"], "ANY /greedy/{proxy+}");
    assert_eq!(greedy["event"]["pathParameters"], json!({"proxy": "a/b"}));

    // CORS: the configured origin only.
    let allowed = call("GET", &gw.url("/echo/x"), &[("origin", "https://app.example")], Bytes::new()).await;
    assert_eq!(allowed.header("access-control-allow-origin"), Some("https://app.example"));
    assert_eq!(allowed.header("access-control-expose-headers"), Some("x-one"));
    let other = call("GET", &gw.url("/echo/x"), &[("origin", "https://evil.example")], Bytes::new()).await;
    assert_eq!(other.header("access-control-allow-origin"), None);

    // No route and no $default: 404. A function error keeps its process; a crash does not.
    call("GET", &gw.url("/nothing"), &[], Bytes::new()).await.assert_envelope(404);
    for _ in 0..2 {
        call("GET", &gw.url("/fail"), &[], Bytes::new()).await.assert_envelope(500);
        call("GET", &gw.url("/crash"), &[], Bytes::new()).await.assert_envelope(500);
        call("GET", &gw.url("/die"), &[], Bytes::new()).await.assert_envelope(500);
    }
    // A warm process that died while idle, just before the next request: the request goes to
    // a fresh process, never to the dead one (which would answer 500 in no time).
    for _ in 0..5 {
        assert_eq!(call("GET", &gw.url("/once"), &[], Bytes::new()).await.status, 201);
    }
    // Timeout: 1 s. Three at once: every busy instance makes another start.
    let started = Instant::now();
    let url = gw.url("/hang");
    let hangs = (0..3).map(|_| {
        let url = url.clone();
        async move { call("GET", &url, &[], Bytes::new()).await }
    });
    for reply in futures_join(hangs).await {
        reply.assert_envelope(504);
    }
    // Three 1 s timeouts; the bound only catches a timeout that is not enforced (a loaded
    // 2-core machine starts processes slowly).
    assert!(started.elapsed() < Duration::from_secs(60), "timeouts took {:?}", started.elapsed());

    let output = gw.output();
    let cold = |label: &str| output.iter().filter(|l| l.starts_with(&format!("{label}: cold start"))).count();
    assert_eq!((cold("echo#1"), cold("echo#2")), (1, 0), "the warm echo was not reused: {output:#?}");
    assert_eq!((cold("fail#1"), cold("fail#2")), (1, 0), "a function error must keep the process: {output:#?}");
    assert_eq!((cold("crash#2"), cold("die#2")), (1, 1), "a crashed process must be replaced: {output:#?}");
    assert_eq!(cold("hang#3"), 1, "three concurrent invocations need three processes: {output:#?}");

    gw.stop_leaving_nothing();
    let _ = std::fs::remove_dir_all(dir);
}

async fn futures_join<F: std::future::Future<Output = Reply> + Send + 'static>(
    calls: impl Iterator<Item = F>,
) -> Vec<Reply> {
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    let mut replies = Vec::new();
    for handle in handles {
        replies.push(handle.await.unwrap());
    }
    replies
}

/// `LOCAL_DATA_DIR` (what `./infra/dev` sets): the accounts and the JWT secret outlive a
/// restart, so an old token still works and the account still logs in; an emptied folder
/// (`./infra/dev --fresh`) starts empty.
#[tokio::test(flavor = "multi_thread")]
async fn data_and_secret_survive_a_restart() {
    require_function_binaries();
    let dir = std::env::temp_dir().join(format!("local-gateway-data-{}", uuid::Uuid::new_v4().simple()));
    let env = [("LOCAL_DATA_DIR", dir.to_str().unwrap())];
    let credentials = json!({"email": "kept@example.com", "password": "correct horse"});
    let gw = Gateway::start(&env);
    let mut body = credentials.clone();
    body["name"] = json!("Kept");
    let registered = post_json(&gw.url("/api/auth/register"), None, body).await;
    assert_eq!(registered.status, 201, "{}", registered.json());
    let token = registered.json()["token"].as_str().unwrap().to_string();
    gw.stop_leaving_nothing();
    assert!(dir.join("dynamodb.sqlite").is_file() && dir.join("jwt-secret").is_file());

    let gw = Gateway::start(&env);
    assert!(gw.output().iter().any(|l| l.contains("exists, reused")), "{:#?}", gw.output());
    assert_eq!(get(&gw.url("/api/users"), &token).await.status, 200, "the old token is refused");
    let login = post_json(&gw.url("/api/auth/login"), None, credentials.clone()).await;
    assert_eq!(login.status, 200, "{}", login.json());
    gw.stop_leaving_nothing();

    std::fs::remove_dir_all(&dir).unwrap();
    let gw = Gateway::start(&env);
    assert_eq!(get(&gw.url("/api/users"), &token).await.status, 401, "a fresh start keeps the old secret");
    assert_eq!(post_json(&gw.url("/api/auth/login"), None, credentials).await.status, 401);
    gw.stop_leaving_nothing();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn startup_problems_are_named() {
    let run = |env: &[(&str, &str)]| {
        let out = gateway_command(env).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (ok, err) = run(&[("HTTP_PORT", &port)]);
    assert!(!ok && err.contains(&format!("127.0.0.1:{port}")) && err.contains("HTTP_PORT"), "{err}");
    let empty = std::env::temp_dir().join(format!("local-gateway-empty-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&empty).unwrap();
    let (ok, err) = run(&[("BIN_DIR", empty.to_str().unwrap())]);
    assert!(!ok && err.contains("auth-login") && err.contains("cargo build --workspace --bins"), "{err}");
    let (ok, err) = run(&[("JWT_SECRET", "short")]);
    assert!(!ok && err.contains("JWT_SECRET"), "{err}");
    let _ = std::fs::remove_dir(empty);
}

/// The gateway's routes are exactly the template's `HttpApi` events, read here independently.
#[test]
fn route_table_is_the_templates_http_api_events() {
    let path = local_stack::project_root().join("template.yaml");
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut expected = Vec::new();
    for resource in yaml["Resources"].as_mapping().unwrap().values() {
        for event in resource["Properties"]["Events"].as_mapping().into_iter().flat_map(|m| m.values()) {
            if event["Type"].as_str() == Some("HttpApi") {
                expected.push(match (event["Properties"]["Method"].as_str(), event["Properties"]["Path"].as_str()) {
                    (Some(method), Some(path)) => format!("{} {path}", method.to_uppercase()),
                    _ => "$default".to_string(),
                });
            }
        }
    }
    expected.sort();
    let table = RouteTable::from_template(&Template::load(&path).unwrap()).unwrap();
    assert_eq!(table.route_keys(), expected);

    // A route added to the template is served with no other change.
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "        AuthLogin:",
        "        AuthLoginNew:\n          Type: HttpApi\n          Properties:\n            Method: PATCH\n            Path: /api/new/{thing}\n        AuthLogin:",
        1,
    );
    let table = RouteTable::from_template(&Template::parse(&text).unwrap()).unwrap();
    let matched = table.find("PATCH", "/api/new/x%2Fy").unwrap();
    assert_eq!(
        (matched.route_key.as_str(), matched.function.as_str()),
        ("PATCH /api/new/{thing}", "AuthLoginFunction")
    );
    assert_eq!(matched.path_params["thing"], "x/y");
    assert_eq!(table.find("PATCH", "/api/new/x/y").unwrap().route_key, "$default");
    // A trailing slash is a segment of its own: no route has it, the fallback gets it.
    assert_eq!(table.find("GET", "/api/users/abc/").unwrap().route_key, "$default");
    assert_eq!(table.find("GET", "/api/users/").unwrap().route_key, "$default");

    // And a template that declares one is refused, as API Gateway's CreateRoute refuses it.
    let slash =
        std::fs::read_to_string(&path).unwrap().replacen("Path: /api/auth/login\n", "Path: /api/auth/login/\n", 1);
    let refused = RouteTable::from_template(&Template::parse(&slash).unwrap()).unwrap_err().to_string();
    assert!(refused.contains("\"/api/auth/login/\" ends with /"), "{refused}");
}

/// Every function's environment as the local stack builds it from the template (what
/// `coldstart-bench` runs the functions with): nothing left unresolved, `!If` evaluated against
/// the parameters' defaults, and a variable that resolves to `AWS::NoValue` left unset.
#[test]
fn every_functions_environment_resolves_from_the_template() {
    let secret = "k".repeat(40);
    let bin = bin_dir();
    let settings = local_stack::Settings::from_lookup(|key| match key {
        "BIN_DIR" => Some(bin.display().to_string()),
        "JWT_SECRET" => Some(secret.clone()),
        _ => None,
    })
    .unwrap();
    let specs = local_stack::function_specs(&settings, "http://127.0.0.1:1", 3000, 3001).unwrap();
    let template = Template::load(&local_stack::project_root().join("template.yaml")).unwrap();
    assert_eq!(specs.len(), template.functions().len());
    // The JWT key is in no function's environment: the functions that sign or check tokens
    // read it from Secrets Manager at cold start (served on the WebSocket port locally).
    let with_tokens = [
        "auth-register",
        "auth-login",
        "users-list",
        "users-get",
        "conversations-list",
        "conversations-create",
        "conversations-history",
        "conversations-connect",
        "conversations-read",
        "conversations-members-list",
        "conversations-members-add",
        "conversations-members-remove",
        "messages-send",
        "ws-connect",
    ];
    for spec in &specs {
        assert!(spec.env.values().all(|v| !v.contains(&secret)), "{}: the key is in the environment", spec.binary);
        assert_eq!(spec.env["DYNAMODB_ENDPOINT"], "http://127.0.0.1:1");
        assert_eq!(spec.env["SECRETS_MANAGER_ENDPOINT"], "http://127.0.0.1:3001");
        assert!(spec.env.contains_key("TABLE_NAME"));
        let id = spec.env.get("JWT_SECRET_ID").map(String::as_str);
        if with_tokens.contains(&spec.binary.as_str()) {
            assert_eq!(id, Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:JwtSecret"), "{}", spec.binary);
        } else {
            assert_eq!(id, None, "{} never sees a token, it gets no key", spec.binary);
        }
    }
    let ai = specs.iter().find(|s| s.binary == "ai-reply").expect("ai-reply");
    // ModelId defaults to "": the Region's Nova Lite inference profile (us-east-1 locally).
    assert_eq!(ai.env["AI_MODEL_ID"], "us.amazon.nova-lite-v1:0");
    // OpenAiApiKeySecret defaults to "", so HasOpenAiApiKey is false and the key is not set.
    assert!(!ai.env.contains_key("OPENAI_API_KEY"), "{:?}", ai.env.keys());
    assert!(ai.env["WEBSOCKET_ENDPOINT"].starts_with("http://127.0.0.1:3001"), "{}", ai.env["WEBSOCKET_ENDPOINT"]);
}
