//! Plumbing for the WebSocket API's functions (`$connect`, `$disconnect`, `$default`), which
//! receive API Gateway WebSocket proxy events and answer with a status and an optional body.

use crate::App;
use crate::domain::ConnectionId;
use crate::error::{ApiError, ApiResult};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::convert::Infallible;
use std::future::Future;
use std::time::Instant;

pub type WsEvent = ApiGatewayWebsocketProxyRequest;

/// Largest frame the `$default` route accepts (API Gateway itself caps frames at 32 KB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// The `main` of each WebSocket function: builds the [`App`] once, then answers every event
/// with `handler`.
pub async fn run(handler: impl AsyncFn(&App, WsEvent) -> ApiGatewayProxyResponse) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let app = App::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<WsEvent>| async {
        Ok::<_, Infallible>(handler(&app, event.payload).await)
    }))
    .await
}

/// Runs one event and logs route, status and latency (never the query string: it carries the
/// token). `Ok(Some(frame))` is sent back to the client as a frame by the route response.
pub async fn serve<F, Fut>(event: &WsEvent, handle: F) -> ApiGatewayProxyResponse
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Option<Value>>>,
{
    let started = Instant::now();
    let (status, body) = match crate::bounds::within_budget(handle()).await {
        Ok(body) => (200, body),
        Err(err) => {
            let status = err.status().as_u16();
            let frame = crate::realtime::frames::error(&err);
            // The detail goes to the log; the client sees only the envelope.
            err.log();
            (status, Some(frame))
        }
    };
    let context = &event.request_context;
    tracing::info!(
        route = context.route_key.as_deref().unwrap_or(""),
        connection_id = context.connection_id.as_deref().unwrap_or(""),
        status,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "websocket event"
    );
    response(status, body)
}

pub fn response(status: u16, body: Option<Value>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(status);
    response.body = body.map(|b| Body::Text(b.to_string()));
    response
}

/// The connection id API Gateway put in the request context.
pub fn connection_id(event: &WsEvent) -> ApiResult<ConnectionId> {
    let raw =
        event.request_context.connection_id.clone().ok_or_else(|| ApiError::internal("event has no connection id"))?;
    ConnectionId::parse(raw).map_err(ApiError::internal)
}

pub fn query<'a>(event: &'a WsEvent, name: &str) -> Option<&'a str> {
    event.query_string_parameters.first(name)
}

/// The frame's text (API Gateway base64-encodes binary frames).
pub fn body(event: &WsEvent) -> ApiResult<Vec<u8>> {
    let raw = event.body.as_deref().unwrap_or("");
    let bytes = if event.is_base64_encoded {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| ApiError::bad_request("frame is not valid JSON"))?
    } else {
        raw.as_bytes().to_vec()
    };
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_FRAME_BYTES));
    }
    Ok(bytes)
}

/// The frame as a JSON object; refusals call it "frame".
pub fn frame(event: &WsEvent) -> ApiResult<Value> {
    crate::http::json_object("frame", &body(event)?)
}
