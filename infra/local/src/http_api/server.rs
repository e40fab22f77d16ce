//! The HTTP API: route selection, the payload 2.0 event, the invocation and the response,
//! with API Gateway's limits. Failures the functions never see get the contract's envelope.

use super::routes::RouteTable;
use super::{cors, event};
use crate::lambda::{Failure, Pool};
use crate::template::Cors;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

/// API Gateway's limit on a request body.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Lambda's limit on a synchronous invocation's event.
pub const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;

pub struct Gateway {
    pub routes: RouteTable,
    /// By logical id.
    pub pools: HashMap<String, Arc<Pool>>,
    pub cors: Option<Cors>,
}

/// Serves `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    while let Ok((stream, peer)) = listener.accept().await {
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let gateway = gateway.clone();
                async move { Ok::<_, Infallible>(gateway.handle(req, peer, port).await) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

impl Gateway {
    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr, port: u16) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let method = req.method().clone();
        // Never the query string: it can carry tokens.
        let path = req.uri().path().to_string();
        let request_headers = req.headers().clone();
        let (mut response, note) =
            if let (Some(config), true) = (&self.cors, cors::is_preflight(&method, &request_headers)) {
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::NO_CONTENT;
                *response.headers_mut() = cors::preflight_headers(config, &request_headers);
                (response, " (CORS preflight)".to_string())
            } else {
                let (mut response, note) = self.invoke(req, peer, port).await;
                if let Some(config) = &self.cors {
                    cors::apply(config, &request_headers, response.headers_mut());
                }
                (response, note)
            };
        if let Ok(id) = event::request_id().parse() {
            response.headers_mut().insert("apigw-requestid", id);
        }
        let ms = started.elapsed().as_millis();
        println!("{method} {path} {} {ms} ms{note}", response.status().as_u16());
        response
    }

    async fn invoke(&self, req: Request<Incoming>, peer: SocketAddr, port: u16) -> (Response<Full<Bytes>>, String) {
        let (parts, body) = req.into_parts();
        let declared = parts.headers.get("content-length").and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
            discard(body).await;
            return (envelope(StatusCode::PAYLOAD_TOO_LARGE, "request body is too large"), String::new());
        }
        let mut body = body;
        let mut read = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return (envelope(StatusCode::BAD_REQUEST, "the request body could not be read"), String::new());
            };
            let data = frame.data_ref().map_or(&[][..], |d| &d[..]);
            if read.len() + data.len() > MAX_BODY_BYTES {
                discard(body).await;
                return (envelope(StatusCode::PAYLOAD_TOO_LARGE, "request body is too large"), String::new());
            }
            read.extend_from_slice(data);
        }
        let body = Bytes::from(read);
        let Some(matched) = self.routes.find(parts.method.as_str(), parts.uri.path()) else {
            return (envelope(StatusCode::NOT_FOUND, "route not found"), String::new());
        };
        let pool = self.pools[&matched.function].clone();
        let name = pool.spec().binary.clone();
        let request_id = event::request_id();
        let event = event::build(&event::Request {
            method: &parts.method,
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            body: &body,
            source_ip: peer.ip(),
            local_port: port,
            route_key: &matched.route_key,
            path_params: &matched.path_params,
            request_id: &request_id,
            time: chrono::Utc::now(),
        });
        let event = Bytes::from(event::to_json(&event));
        if event.len() > MAX_EVENT_BYTES {
            return (
                envelope(StatusCode::PAYLOAD_TOO_LARGE, "request body is too large"),
                format!(" ({name}: event over 6 MB)"),
            );
        }
        match pool.invoke_to_end(event).await {
            Ok(invoked) => {
                let cold = invoked.cold_note();
                match event::response(&invoked.payload) {
                    Ok(response) => (response.map(Full::new), format!(" ({name}{cold})")),
                    Err(why) => (internal_error(), format!(" ({name}{cold}: invalid response: {why})")),
                }
            }
            Err(Failure::Error(kind)) => (internal_error(), format!(" ({name}: function error {kind})")),
            Err(Failure::Crashed(why)) => (internal_error(), format!(" ({name}: {why})")),
            Err(Failure::Timeout) => {
                let timeout = self.pools[&matched.function].spec().timeout;
                (
                    envelope(StatusCode::GATEWAY_TIMEOUT, "gateway timeout"),
                    format!(" ({name}: timed out after {timeout:?})"),
                )
            }
            Err(Failure::Busy) => (
                envelope(StatusCode::SERVICE_UNAVAILABLE, "service unavailable"),
                format!(" ({name}: every instance busy)"),
            ),
        }
    }
}

/// Reads the rest of a refused body (bounded): answering while the client still sends makes the
/// kernel reset the connection, and the client may then never see the answer.
async fn discard(mut body: Incoming) {
    let mut left = 4 * MAX_BODY_BYTES;
    let drain = async {
        while let Some(Ok(frame)) = body.frame().await {
            left = left.saturating_sub(frame.data_ref().map_or(0, |d| d.len()));
            if left == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), drain).await;
}

fn internal_error() -> Response<Full<Bytes>> {
    envelope(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

/// The contract's error body.
pub fn envelope(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"error": {"message": message, "status": status.as_u16()}}).to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("the response is valid")
}
