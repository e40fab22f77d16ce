//! The API Gateway Management API (`execute-api` `@connections`), what the functions reach
//! through `WEBSOCKET_ENDPOINT` with aws-sdk-apigatewaymanagement: `POST` sends a frame, `GET`
//! describes the connection, `DELETE` closes it. Errors are AWS's (`x-amzn-errortype` and
//! `{"message"}`), which the SDK turns into `GoneException` and friends. Signatures are not
//! checked (no IAM locally).

use super::connections::Outgoing;
use super::socket::MAX_MESSAGE_BYTES;
use super::state::WsGateway;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

pub async fn handle(gw: &WsGateway, req: Request<Incoming>, id: &str) -> Response<Full<Bytes>> {
    if !gw.post_latency.is_zero() {
        tokio::time::sleep(gw.post_latency).await;
    }
    let method = req.method().clone();
    let response = match method {
        Method::POST => post(gw, req, id).await,
        Method::GET => match gw.connections.get(id) {
            Some(conn) => {
                let iso = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
                let body = json!({
                    "connectedAt": iso(conn.context.connected_at),
                    "identity": {"sourceIp": conn.context.source_ip, "userAgent": conn.context.user_agent},
                    "lastActiveAt": iso(conn.last_active()),
                });
                respond(StatusCode::OK, None, Bytes::from(body.to_string()))
            }
            None => gone(),
        },
        Method::DELETE => match gw.connections.remove(id) {
            Some(conn) => {
                conn.send(Outgoing::Close(1000, String::new())).await;
                respond(StatusCode::NO_CONTENT, None, Bytes::new())
            }
            None => gone(),
        },
        _ => error(StatusCode::NOT_FOUND, "NotFoundException", "Not Found"),
    };
    // Successful posts are not logged: a fan-out makes thousands.
    if method != Method::POST || response.status() != StatusCode::OK {
        println!("WS {method} @connections/{id} {}", response.status().as_u16());
    }
    response
}

/// `PostToConnection`: the body is the frame (text when it is UTF-8). 200 once it is queued for
/// the socket, in order with the connection's other frames.
async fn post(gw: &WsGateway, req: Request<Incoming>, id: &str) -> Response<Full<Bytes>> {
    let Some(conn) = gw.connections.get(id) else { return gone() };
    let data = match Limited::new(req.into_body(), MAX_MESSAGE_BYTES).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLargeException", "Message too long");
        }
        Err(_) => return error(StatusCode::BAD_REQUEST, "BadRequestException", "the body could not be read"),
    };
    let frame = match Utf8Bytes::try_from(data.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(data),
    };
    if conn.send(Outgoing::Frame(frame)).await { respond(StatusCode::OK, None, Bytes::new()) } else { gone() }
}

/// 410 for a connection that is unknown or closed.
fn gone() -> Response<Full<Bytes>> {
    error(StatusCode::GONE, "GoneException", "Gone")
}

fn error(status: StatusCode, kind: &'static str, message: &str) -> Response<Full<Bytes>> {
    respond(status, Some(kind), Bytes::from(json!({"message": message}).to_string()))
}

fn respond(status: StatusCode, error_type: Option<&'static str>, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(status);
    if !body.is_empty() {
        response = response.header("content-type", "application/json");
    }
    if let Some(kind) = error_type {
        response = response.header("x-amzn-errortype", kind);
    }
    response.body(Full::new(body)).expect("the response is valid")
}
