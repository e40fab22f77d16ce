//! Fake AI model endpoints for tests, on 127.0.0.1: a Bedrock runtime that speaks
//! ConverseStream's wire protocol (AWS event-stream frames, encoded with the SDK's own codec),
//! and an OpenAI-compatible chat completions endpoint that speaks server-sent events. Each
//! answers from a script of canned responses, in order, and records every request it gets.

use crate::fake_server::{self, Body, LocalServer, Received};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted response.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Held this long before answering (to overlap concurrent deliveries, or to time out).
    pub delay: Duration,
    /// Held this long after the status and headers, before the body's first byte (a model
    /// that is slow to send its first token).
    pub body_delay: Duration,
}

impl Canned {
    pub fn new(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self { status, headers, body: body.into(), delay: Duration::ZERO, body_delay: Duration::ZERO }
    }

    pub fn body_delayed(mut self, delay: Duration) -> Self {
        self.body_delay = delay;
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Percent-decoded.
    pub path: String,
    /// Lowercase names.
    pub headers: HashMap<String, String>,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
}

#[derive(Default)]
struct State {
    script: VecDeque<Canned>,
    requests: Vec<Recorded>,
}

/// A scripted HTTP server. Stops serving when dropped.
pub struct FakeServer {
    state: Arc<Mutex<State>>,
    server: LocalServer,
}

impl FakeServer {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = LocalServer::start("a fake model", move |req| answer(shared.clone(), req)).await;
        Self { state, server }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        self.server.endpoint()
    }

    /// Queues the next response.
    pub fn push(&self, canned: Canned) {
        self.lock().script.push_back(canned);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn answer(state: Arc<Mutex<State>>, req: Received) -> Response<Body> {
    let method = req.method.to_string();
    let path = fake_server::percent_decode(&req.path);
    let headers =
        req.headers.iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string())).collect();
    let body = serde_json::from_slice(&req.body.unwrap_or_default()).unwrap_or(Value::Null);
    let canned = {
        let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.requests.push(Recorded { method, path, headers, body });
        state.script.pop_front()
    };
    let canned = canned.unwrap_or_else(|| {
        Canned::new(500, &[("content-type", "application/json")], r#"{"message":"the script ran out"}"#)
    });
    tokio::time::sleep(canned.delay).await;
    let mut builder = Response::builder().status(canned.status);
    for (name, value) in &canned.headers {
        builder = builder.header(name, value);
    }
    let body = if canned.body_delay.is_zero() {
        fake_server::full(canned.body)
    } else {
        // Headers now, the body once the delay has passed.
        let (delay, bytes) = (canned.body_delay, Bytes::from(canned.body));
        let chunk = futures::stream::once(async move {
            tokio::time::sleep(delay).await;
            Ok::<_, Infallible>(hyper::body::Frame::data(bytes))
        });
        StreamBody::new(chunk).boxed()
    };
    builder.body(body).expect("canned responses are valid")
}

/// An AWS configuration for clients pointed at the fakes: us-east-1, dummy static credentials.
pub fn sdk_config() -> aws_config::SdkConfig {
    let credentials = aws_sdk_bedrockruntime::config::Credentials::new("test", "test", None, None, "fake-models");
    chat_core::aws::sdk_config("us-east-1", credentials)
}

// ---- Bedrock ConverseStream ----

/// A fake Bedrock runtime (`POST /model/{modelId}/converse-stream`).
pub struct FakeBedrock {
    pub server: FakeServer,
}

impl FakeBedrock {
    pub async fn start() -> Self {
        Self { server: FakeServer::start().await }
    }

    /// What `BEDROCK_ENDPOINT` should be.
    pub fn endpoint(&self) -> &str {
        self.server.endpoint()
    }

    /// A successful stream: messageStart, one contentBlockDelta per delta, contentBlockStop,
    /// messageStop, metadata.
    pub fn reply(&self, deltas: &[&str]) -> &Self {
        self.server.push(converse_stream(deltas, None));
        self
    }

    /// Like [`FakeBedrock::reply`], held `delay` before answering.
    pub fn reply_after(&self, delay: Duration, deltas: &[&str]) -> &Self {
        self.server.push(converse_stream(deltas, None).delayed(delay));
        self
    }

    /// Like [`FakeBedrock::reply`], with the headers at once and the first event `delay` later.
    pub fn reply_slow_first_token(&self, delay: Duration, deltas: &[&str]) -> &Self {
        self.server.push(converse_stream(deltas, None).body_delayed(delay));
        self
    }

    /// A stream that sends these deltas, then an exception event (e.g. `throttlingException`).
    pub fn break_after(&self, deltas: &[&str], exception: &str) -> &Self {
        self.server.push(converse_stream(deltas, Some(exception)));
        self
    }

    /// `429 ThrottlingException`, as Bedrock answers when the account is over its quota.
    pub fn throttle(&self) -> &Self {
        self.fail(429, "ThrottlingException")
    }

    /// An error response with `x-amzn-errortype` (e.g. 403 `AccessDeniedException`).
    pub fn fail(&self, status: u16, error_type: &str) -> &Self {
        let headers = [("content-type", "application/json"), ("x-amzn-errortype", error_type)];
        self.server.push(Canned::new(status, &headers, json!({"message": format!("fake {error_type}")}).to_string()));
        self
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.server.requests()
    }
}

/// A ConverseStream response body: AWS event-stream frames.
pub fn converse_stream(deltas: &[&str], exception: Option<&str>) -> Canned {
    let mut body = Vec::new();
    let mut event = |kind: &'static str, payload: Value| write_frame(&mut body, "event", ":event-type", kind, payload);
    event("messageStart", json!({"role": "assistant"}));
    for delta in deltas {
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": delta}}));
    }
    match exception {
        Some(name) => {
            write_frame(&mut body, "exception", ":exception-type", name, json!({"message": format!("fake {name}")}))
        }
        None => {
            event("contentBlockStop", json!({"contentBlockIndex": 0}));
            event("messageStop", json!({"stopReason": "end_turn"}));
            event(
                "metadata",
                json!({"usage": {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17}, "metrics": {"latencyMs": 42}}),
            );
        }
    }
    let headers = [("content-type", "application/vnd.amazon.eventstream"), ("x-amzn-requestid", "fake-request")];
    Canned::new(200, &headers, body)
}

fn write_frame(out: &mut Vec<u8>, message_type: &'static str, type_header: &'static str, kind: &str, payload: Value) {
    let message = Message::new_from_parts(
        vec![
            Header::new(":message-type", HeaderValue::String(message_type.into())),
            Header::new(type_header, HeaderValue::String(kind.to_string().into())),
            Header::new(":content-type", HeaderValue::String("application/json".into())),
        ],
        payload.to_string().into_bytes(),
    );
    aws_smithy_eventstream::frame::write_message_to(&message, out).expect("event-stream frame encodes");
}

/// The texts of a ConverseStream request's messages, as `(role, text)`.
pub fn bedrock_turns(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            let text =
                m["content"].as_array().expect("content").iter().filter_map(|c| c["text"].as_str()).collect::<String>();
            (m["role"].as_str().expect("role").to_string(), text)
        })
        .collect()
}

// ---- OpenAI-compatible chat completions ----

/// A fake OpenAI-compatible endpoint (`POST /v1/chat/completions`).
pub struct FakeOpenAi {
    pub server: FakeServer,
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        Self { server: FakeServer::start().await }
    }

    /// What `OPENAI_BASE_URL` should be.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.endpoint())
    }

    /// A successful SSE stream: a role chunk, one chunk per delta, a finish chunk, `[DONE]`.
    pub fn reply(&self, deltas: &[&str]) -> &Self {
        let chunk = |delta: Value, finish: Value| {
            let chunk = json!({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "fake",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
            });
            format!("data: {chunk}\n\n")
        };
        let mut body = String::from(": fake keep-alive\n\n");
        body.push_str(&chunk(json!({"role": "assistant", "content": ""}), Value::Null));
        for delta in deltas {
            body.push_str(&chunk(json!({"content": delta}), Value::Null));
        }
        body.push_str(&chunk(json!({}), json!("stop")));
        body.push_str("data: [DONE]\n\n");
        self.server.push(Canned::new(200, &[("content-type", "text/event-stream")], body));
        self
    }

    /// An error response with OpenAI's error body.
    pub fn fail(&self, status: u16) -> &Self {
        let body = json!({"error": {"message": format!("fake error {status}"), "type": "fake", "code": null}});
        self.server.push(Canned::new(status, &[("content-type", "application/json")], body.to_string()));
        self
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.server.requests()
    }
}
