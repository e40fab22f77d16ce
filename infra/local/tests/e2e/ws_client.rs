//! A WebSocket client for the tests: a real socket through the local gateway.

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub const WAIT: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// A refused handshake: its status and body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: String,
}

impl Socket {
    pub async fn connect(url: &str) -> Result<Self, Refused> {
        match tokio::time::timeout(WAIT, connect_async(url)).await.expect("the handshake is answered") {
            Ok((ws, _)) => Ok(Self { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(Refused {
                status: response.status().as_u16(),
                body: String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
            }),
            Err(other) => panic!("handshake with {url} failed: {other}"),
        }
    }

    pub fn from_stream(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self { ws }
    }

    pub async fn open(url: &str) -> Self {
        match Self::connect(url).await {
            Ok(socket) => socket,
            Err(refused) => panic!("handshake refused: {refused:?}"),
        }
    }

    pub async fn send_json(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("the socket takes a frame");
    }

    pub async fn send(&mut self, message: Message) {
        self.ws.send(message).await.expect("the socket takes a frame");
    }

    /// The next data frame as text, within `wait`; `None` if none came.
    pub async fn next_text_within(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?;
            match next {
                Some(Ok(Message::Text(text))) => return Some(text.to_string()),
                Some(Ok(Message::Binary(bytes))) => return Some(String::from_utf8_lossy(&bytes).into_owned()),
                Some(Ok(Message::Close(frame))) => panic!("the socket closed: {frame:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("the socket failed: {e}"),
                None => panic!("the socket ended"),
            }
        }
    }

    /// The next data frame, as JSON.
    pub async fn next_json(&mut self) -> Value {
        let text = self.next_text_within(WAIT).await.expect("a frame within 15 s");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("frame is not JSON ({e}): {text}"))
    }

    /// The next frame of `kind` (`"type"`), skipping others (e.g. AI deltas) but keeping them.
    pub async fn next_of_type(&mut self, kind: &str, skipped: &mut Vec<Value>) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] == kind {
                return frame;
            }
            skipped.push(frame);
        }
    }

    /// No data frame arrives within `wait`.
    pub async fn silent_for(&mut self, wait: Duration) -> Result<(), String> {
        match self.next_text_within(wait).await {
            None => Ok(()),
            Some(text) => Err(text),
        }
    }

    /// Waits for the server to close the socket: its close code.
    pub async fn closed_with(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.expect("the server closes within 15 s") {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// A clean close from the client.
    pub async fn close(mut self) {
        let frame =
            tokio_tungstenite::tungstenite::protocol::CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
        let _ = self.ws.close(Some(frame)).await;
        let _ = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = self.ws.next().await {} }).await;
    }

    /// The client vanishes: the TCP connection drops without a close frame.
    pub fn drop_abruptly(self) {
        drop(self.ws);
    }
}
