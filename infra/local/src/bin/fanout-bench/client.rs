//! The bench's clients: the HTTP API (keep-alive) and WebSocket sockets whose readers report
//! when each message frame arrived.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

pub struct Reply {
    pub status: u16,
    pub server_timing: String,
    pub body: Value,
}

pub struct User {
    pub id: String,
    pub token: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self { client: Client::builder(TokioExecutor::new()).build(connector), base: base.to_string() }
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Result<Reply, String> {
        let mut request =
            hyper::Request::post(format!("{}{path}", self.base)).header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Full::new(Bytes::from(body.to_string()))).map_err(|e| e.to_string())?;
        let response = self.client.request(request).await.map_err(|e| format!("POST {path}: {e}"))?;
        let status = response.status().as_u16();
        let server_timing =
            response.headers().get("server-timing").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply { status, server_timing, body })
    }

    pub async fn register(&self, name: &str) -> Result<User, String> {
        let email = format!("{name}-{}@bench.example", uuid::Uuid::new_v4().simple());
        let reply = self
            .post("/api/auth/register", None, json!({"email": email, "password": "bench password", "name": name}))
            .await?;
        match (reply.status, reply.body["user_id"].as_str(), reply.body["token"].as_str()) {
            (201, Some(id), Some(token)) => Ok(User { id: id.into(), token: token.into() }),
            _ => Err(format!("register answered {}: {}", reply.status, reply.body)),
        }
    }
}

/// One `message` frame that reached one socket.
pub struct Receipt {
    pub text: String,
    pub at: Instant,
    /// The frame as it came (the peer row posts a copy of it).
    pub frame: Value,
}

/// Opens a socket of `user` (with `conversation`, its handshake also checks that one); its reader
/// reports every `message` frame on `receipts` until the socket ends. With `whoami`, asks the
/// socket's connection id first (`{"action": "whoami"}`) and answers it.
pub async fn open_socket(
    ws: &str,
    user: &User,
    conversation: Option<&str>,
    whoami: bool,
    receipts: mpsc::UnboundedSender<Receipt>,
) -> Result<Option<String>, String> {
    let mut url = format!("{ws}/?token={}", user.token);
    if let Some(conversation) = conversation {
        url.push_str(&format!("&conversation_id={conversation}"));
    }
    // A small read buffer: tungstenite zeroes all of it on every read, which would make the
    // bench's own receiving the bottleneck of what it measures.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| format!("WebSocket handshake: {e}"))?;
    let (mut _sink, mut stream) = socket.split();
    let connection_id = if whoami { Some(ask_connection_id(&mut _sink, &mut stream).await?) } else { None };
    tokio::spawn(async move {
        // The write half stays alive with the reader, so the socket stays open.
        let _sink = _sink;
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else { continue };
            let at = Instant::now();
            let frame: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
            if let (Some("message"), Some(text)) = (frame["type"].as_str(), frame["message"].as_str()) {
                let text = text.to_string();
                let _ = receipts.send(Receipt { text, at, frame });
            }
        }
    });
    Ok(connection_id)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends `{"action": "whoami"}` and reads up to its answer (a fresh socket gets nothing else
/// first, except frames of conversations created meanwhile, which are skipped).
async fn ask_connection_id(
    sink: &mut futures::stream::SplitSink<Socket, Message>,
    stream: &mut futures::stream::SplitStream<Socket>,
) -> Result<String, String> {
    let ask = json!({"action": "whoami"}).to_string();
    sink.send(Message::text(ask)).await.map_err(|e| format!("whoami: {e}"))?;
    let answer = async {
        while let Some(message) = stream.next().await {
            let Ok(Message::Text(text)) = message else { continue };
            let frame: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
            if let ("whoami", Some(id)) = (frame["type"].as_str().unwrap_or_default(), frame["connection_id"].as_str())
            {
                return Ok(id.to_string());
            }
        }
        Err("the socket closed before answering whoami".to_string())
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), answer)
        .await
        .map_err(|_| "no whoami answer within 30 s".to_string())?
}

/// `store;dur=1.2, list;dur=3.4, post;dur=5.6;desc="…"` → (store, list, post) in ms.
pub fn server_timing(header: &str) -> (Option<f64>, Option<f64>, Option<f64>) {
    let metric =
        |name: &str| {
            header.split(',').map(str::trim).find(|m| m.starts_with(&format!("{name};"))).and_then(|m| {
                m.split(';').find_map(|p| p.trim().strip_prefix("dur=")).and_then(|d| d.parse::<f64>().ok())
            })
        };
    (metric("store"), metric("list"), metric("post"))
}
