//! The hyper scaffolding the fake endpoints share ([`crate::fake_gateway`], [`crate::fake_models`]):
//! a server on 127.0.0.1:0 that reads each request whole and hands it to the fake's answer
//! function, until it is dropped.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What a fake answers with: a whole body, or one that streams (a slow first token).
pub type Body = BoxBody<Bytes, Infallible>;

/// One request, read whole.
pub struct Received {
    pub method: Method,
    /// As sent (percent-encoded); [`percent_decode`] decodes it.
    pub path: String,
    pub headers: HeaderMap,
    /// `None` when the body could not be read (the client hung up mid-body).
    pub body: Option<Bytes>,
}

/// A running fake: serves until dropped.
pub struct LocalServer {
    endpoint: String,
    task: JoinHandle<()>,
}

impl LocalServer {
    /// Binds 127.0.0.1:0 and answers every request with `answer`. Needs a Tokio runtime;
    /// `what` names the fake in a panic.
    pub async fn start<F, Fut>(what: &str, answer: F) -> Self
    where
        F: Fn(Received) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind {what}: {e}"));
        let endpoint = format!("http://{}", listener.local_addr().expect("local address"));
        let answer = Arc::new(answer);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let answer = answer.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let answer = answer.clone();
                        async move { Ok::<_, Infallible>(answer(Received::read(req).await).await) }
                    });
                    // A client hanging up mid-request is not the fake's concern.
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { endpoint, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Received {
    async fn read(req: Request<Incoming>) -> Self {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.ok().map(|collected| collected.to_bytes());
        Self { method: parts.method, path: parts.uri.path().to_string(), headers: parts.headers, body }
    }
}

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// Percent-decodes a path or a segment of one (the SDKs encode `=`, `+` and `/` in ids).
pub fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
