//! A fake API Gateway Management API for tests: an HTTP server on 127.0.0.1 that records every
//! `POST /@connections/{id}` (the `PostToConnection` call) and answers 200, or 410
//! `GoneException` for connections marked gone, as API Gateway does for closed sockets, or any
//! other error a test sets for a connection (`fail_with`: 403, 429, 500, ...).

use crate::fake_server::{self, Body, LocalServer, Received};
use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Credentials, Region};
use hyper::{Method, Response, StatusCode};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// One `PostToConnection` call the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// The connection id, percent-decoded (as API Gateway gave it to `$connect`).
    pub connection_id: String,
    pub body: Vec<u8>,
    /// What the fake answered: 200, 410 for a connection marked gone, or its `fail_with` status.
    pub status: u16,
}

impl Post {
    /// The posted frame as JSON (every frame the product sends is JSON).
    #[track_caller]
    pub fn frame(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("frame posted to {} is not JSON ({e}): {}", self.connection_id, String::from_utf8_lossy(&self.body))
        })
    }
}

#[derive(Default)]
struct State {
    posts: Vec<Post>,
    gone: HashSet<String>,
    failing: HashMap<String, u16>,
    /// Requests that were not `POST /@connections/{id}` (method and path): the product should send none.
    unexpected: Vec<String>,
}

/// The fake endpoint. Clones share it; it stops serving when the last clone is dropped.
#[derive(Clone)]
pub struct FakeGateway {
    state: Arc<Mutex<State>>,
    server: Arc<LocalServer>,
}

impl FakeGateway {
    /// Binds 127.0.0.1:0 and serves until dropped. Needs a Tokio runtime.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = LocalServer::start("the fake gateway", move |req| answer(shared.clone(), req)).await;
        Self { state, server: Arc::new(server) }
    }

    /// `http://127.0.0.1:<port>`, what `WEBSOCKET_ENDPOINT` would be.
    pub fn endpoint(&self) -> &str {
        self.server.endpoint()
    }

    /// A Management API client pointed at this fake (us-east-1, dummy static credentials).
    pub fn client(&self) -> aws_sdk_apigatewaymanagement::Client {
        let config = aws_sdk_apigatewaymanagement::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "fake-gateway"))
            .http_client(chat_core::aws::http_client())
            .endpoint_url(self.endpoint())
            .build();
        aws_sdk_apigatewaymanagement::Client::from_conf(config)
    }

    /// From now on, posts to this connection are answered 410 `GoneException`.
    pub fn mark_gone(&self, connection_id: &str) {
        self.lock().gone.insert(connection_id.to_string());
    }

    /// From now on, posts to this connection are answered with this error status (e.g. 403
    /// `ForbiddenException`, 429 `LimitExceededException`, 500 `InternalServerErrorException`).
    pub fn fail_with(&self, connection_id: &str, status: u16) {
        assert!(status >= 400 && status != 410, "fail_with takes an error other than 410 (mark_gone)");
        self.lock().failing.insert(connection_id.to_string(), status);
    }

    /// Every post so far, in arrival order.
    pub fn posts(&self) -> Vec<Post> {
        self.lock().posts.clone()
    }

    /// Every post so far, and forgets them (for the next step of a test).
    pub fn take(&self) -> Vec<Post> {
        std::mem::take(&mut self.lock().posts)
    }

    /// The frames posted to one connection so far, in arrival order.
    pub fn frames_to(&self, connection_id: &str) -> Vec<Value> {
        self.lock().posts.iter().filter(|p| p.connection_id == connection_id).map(Post::frame).collect()
    }

    /// Requests that were not `POST /@connections/{id}`, as "METHOD path".
    pub fn unexpected(&self) -> Vec<String> {
        self.lock().unexpected.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn answer(state: Arc<Mutex<State>>, req: Received) -> Response<Body> {
    let Received { method, path, body, .. } = req;
    let Some(body) = body.map(|b| b.to_vec()) else {
        return reply(StatusCode::BAD_REQUEST, None, "{\"message\":\"unreadable body\"}");
    };
    // The endpoint may carry a stage (`/prod/@connections/…`); the id is the last segment.
    let id = path
        .split_once("/@connections/")
        .map(|(_, id)| id)
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .map(fake_server::percent_decode);
    let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match (method, id) {
        (Method::POST, Some(connection_id)) => {
            let gone = state.gone.contains(&connection_id);
            let failing = state.failing.get(&connection_id).copied();
            let status = if gone { 410 } else { failing.unwrap_or(200) };
            state.posts.push(Post { connection_id, body, status });
            match (gone, failing) {
                (true, _) => reply(StatusCode::GONE, Some("GoneException"), "{\"message\":\"Gone\"}"),
                (false, Some(status)) => {
                    let error_type = match status {
                        403 => "ForbiddenException",
                        429 => "LimitExceededException",
                        _ => "InternalServerErrorException",
                    };
                    let status = StatusCode::from_u16(status).expect("a valid status");
                    reply(status, Some(error_type), "{\"message\":\"failed\"}")
                }
                (false, None) => reply(StatusCode::OK, None, "{}"),
            }
        }
        (method, _) => {
            state.unexpected.push(format!("{method} {path}"));
            reply(StatusCode::NOT_FOUND, Some("NotFoundException"), "{\"message\":\"Not Found\"}")
        }
    }
}

fn reply(status: StatusCode, error_type: Option<&str>, body: &'static str) -> Response<Body> {
    let mut builder = Response::builder().status(status).header("content-type", "application/json");
    if let Some(error_type) = error_type {
        builder = builder.header("x-amzn-errortype", error_type);
    }
    builder.body(fake_server::full(body)).expect("static response parts are valid")
}
