//! The WebSocket API on `WS_PORT`, as API Gateway serves it: `$connect` runs before the
//! handshake completes (a non-2xx answer refuses it with that status), every frame goes to the
//! route the selection expression picks (a two-way route's answer comes back as a frame), and
//! a closed socket runs `$disconnect`. The management API (`@connections`) shares the port.

use super::connections::Connection;
use super::event::{self as ws_event, ConnectionContext};
use super::state::WsGateway;
use super::{management, socket};
use crate::http_api::envelope;
use crate::secrets_manager;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Serves `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, gateway: Arc<WsGateway>) {
    while let Ok((stream, peer)) = listener.accept().await {
        // Frames and management answers are small writes: Nagle's algorithm would hold them back.
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let gateway = gateway.clone();
                async move { Ok::<_, Infallible>(gateway.handle(req, peer).await) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades().await;
        });
    }
}

/// The WebSocket port of a template without a WebSocket API: every request gets a 404 envelope.
pub async fn serve_placeholder(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let service = service_fn(|req: Request<Incoming>| async move {
                println!("WS {} {} 404 0 ms (the template has no WebSocket API)", req.method(), req.uri().path());
                Ok::<_, Infallible>(envelope(StatusCode::NOT_FOUND, "the template has no WebSocket API"))
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

impl WsGateway {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        // Any prefix (a stage) may come before `/@connections`, as with the SDK's endpoint URL.
        if let Some((_, id)) = req.uri().path().split_once("/@connections/") {
            let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy().into_owned();
            return management::handle(&self, req, &id).await;
        }
        if secrets_manager::is_call(&req) {
            return secrets_manager::handle(&self.secrets, req).await;
        }
        let path = req.uri().path().to_string();
        let refuse = |status: StatusCode, message: &str| {
            println!("WS {} {path} {} 0 ms ({message})", req.method(), status.as_u16());
            envelope(status, message)
        };
        if path != "/" && path.trim_matches('/') != self.api.stage {
            return refuse(StatusCode::NOT_FOUND, "not found: connect to / or /{stage}");
        }
        let upgrade = req.headers().get("upgrade").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
        if !upgrade {
            return refuse(StatusCode::UPGRADE_REQUIRED, "upgrade required: this is the WebSocket API");
        }
        let version = req.headers().get("sec-websocket-version").is_some_and(|v| v == "13");
        if !version || !req.headers().contains_key("sec-websocket-key") || req.method() != hyper::Method::GET {
            return refuse(StatusCode::BAD_REQUEST, "bad WebSocket handshake");
        }
        self.handshake(req, peer).await
    }

    async fn handshake(self: Arc<Self>, mut req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let on_upgrade = hyper::upgrade::on(&mut req);
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let context = ConnectionContext {
            connection_id: self.connections.new_id(),
            connected_at: chrono::Utc::now(),
            source_ip: peer.ip().to_string(),
            user_agent: header("user-agent"),
            domain_name: header("host"),
            stage: self.api.stage.clone(),
        };
        let id = context.connection_id.clone();
        // The subprotocol the function chose, which the client requires back in the 101.
        let mut protocol = None;
        if let Some(route) = self.api.route("$connect") {
            let query = req.uri().query().unwrap_or_default();
            let event = ws_event::connect(&context, &route.key, req.headers(), query, self.port);
            let (answer, note) = self.invoke(route, event).await;
            let ms = started.elapsed().as_millis();
            match answer {
                Some(answer) if answer.is_success() => {
                    println!("WS CONNECT {id} {} {ms} ms{note}", answer.status);
                    protocol = answer.headers.get("sec-websocket-protocol").cloned();
                }
                Some(answer) => {
                    println!("WS CONNECT {id} {} {ms} ms{note} (handshake refused)", answer.status);
                    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    let mut response = Response::new(Full::new(answer.body.unwrap_or_default()));
                    *response.status_mut() = status;
                    if let Some(kind) = answer.headers.get("content-type") {
                        response.headers_mut().insert("content-type", kind.clone());
                    }
                    return response;
                }
                None => {
                    println!("WS CONNECT {id} 500 {ms} ms{note}");
                    return envelope(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
                }
            }
        }
        // Registered before the 101 goes out: a post that races the client's first read is
        // queued, not refused.
        let (connection, queue) = Connection::new(context);
        self.connections.insert(connection.clone());
        tokio::spawn(socket::run(self.clone(), connection, on_upgrade, queue));

        let key = req.headers().get("sec-websocket-key").map(|k| k.as_bytes()).unwrap_or_default();
        let mut response = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", derive_accept_key(key));
        if let Some(protocol) = protocol {
            response = response.header("sec-websocket-protocol", protocol);
        }
        response.body(Full::new(Bytes::new())).expect("the response is valid")
    }
}
