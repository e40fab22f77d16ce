//! The Lambda Runtime API (2018-06-01) for one execution environment: the function process
//! long-polls `next`, then posts the invocation's response or error.
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Lambda's limit on a synchronous invocation's response.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
const PREFIX: &str = "/2018-06-01/runtime";

pub struct Invocation {
    pub request_id: String,
    pub event: Bytes,
    pub function_arn: String,
    pub timeout: Duration,
    /// Told when the process picks the event up, with the invocation's deadline.
    pub picked_up: oneshot::Sender<Instant>,
    pub outcome: oneshot::Sender<Outcome>,
}

#[derive(Debug)]
pub enum Outcome {
    Response(Bytes),
    /// The `errorType` the function posted (its error document is read, not kept: nothing
    /// shows it).
    Error(String),
}

struct State {
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: watch::Sender<Option<String>>,
}

pub struct RuntimeApi {
    pub port: u16,
    pub invocations: mpsc::Sender<Invocation>,
    /// Set when the process reports `init/error`.
    pub init_error: watch::Receiver<Option<String>>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let (invocations, queue) = mpsc::channel(1);
        let (init_error, init_error_rx) = watch::channel(None);
        let state = Arc::new(State { queue: tokio::sync::Mutex::new(queue), in_flight: Mutex::default(), init_error });
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    // No header timeout: `next` is a long poll that may wait for hours.
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { port, invocations, init_error: init_error_rx, server })
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().strip_prefix(PREFIX).unwrap_or_default().to_string();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    Ok(match (req.method(), parts.as_slice()) {
        (&Method::GET, ["invocation", "next"]) => next(&state).await,
        (&Method::POST, ["invocation", id, kind @ ("response" | "error")]) => {
            let error_type = req
                .headers()
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let id = id.to_string();
            let is_error = *kind == "error";
            let body = Limited::new(req.into_body(), MAX_RESPONSE_BYTES).collect().await.map(|b| b.to_bytes());
            let Some(reply) = state.in_flight.lock().expect("not poisoned").remove(&id) else {
                return Ok(error(StatusCode::BAD_REQUEST, "InvalidRequestID", "unknown request id"));
            };
            let outcome = match body {
                Err(_) => {
                    let _ = reply.send(Outcome::Error("Function.ResponseSizeTooLarge".into()));
                    return Ok(error(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", "response is over 6 MB"));
                }
                Ok(_) if is_error => Outcome::Error(error_type.unwrap_or_else(|| "Unhandled".into())),
                Ok(body) => Outcome::Response(body),
            };
            let _ = reply.send(outcome);
            accepted()
        }
        (&Method::POST, ["init", "error"]) => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            state.init_error.send_replace(Some(String::from_utf8_lossy(&body).into_owned()));
            accepted()
        }
        _ => error(StatusCode::NOT_FOUND, "NotFound", "no such Runtime API resource"),
    })
}

async fn next(state: &State) -> Response<Full<Bytes>> {
    // Receiving is cancel-safe: a poll abandoned before an event arrives loses nothing.
    let Some(invocation) = state.queue.lock().await.recv().await else {
        // The environment is being discarded and its process killed. Any answer would make the
        // runtime panic first (lambda_runtime expects an event), so there is none, as on Lambda.
        return std::future::pending().await;
    };
    let deadline = Instant::now() + invocation.timeout;
    let deadline_ms =
        (SystemTime::now() + invocation.timeout).duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    state.in_flight.lock().expect("not poisoned").insert(invocation.request_id.clone(), invocation.outcome);
    let _ = invocation.picked_up.send(deadline);
    let trace =
        format!("Root=1-{:08x}-{};Sampled=0", deadline_ms / 1000, &invocation.request_id.replace('-', "")[..24]);
    Response::builder()
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &invocation.request_id)
        .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
        .header("lambda-runtime-invoked-function-arn", &invocation.function_arn)
        .header("lambda-runtime-trace-id", trace)
        .body(Full::new(invocation.event))
        .expect("the response is valid")
}

fn accepted() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(br#"{"status":"OK"}"#)));
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"errorType": kind, "errorMessage": message}).to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}
