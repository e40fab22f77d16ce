//! One open WebSocket: reads client frames (each an invocation of its route), writes what is
//! queued for it, enforces API Gateway's limits (32 KB frames, 10 min idle, 2 h lifetime) and
//! runs `$disconnect` once it is closed, by either side.

use super::connections::{Connection, Outgoing};
use super::event::{self as ws_event, Payload};
use super::state::WsGateway;
use crate::http_api::request_id;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Message};

/// API Gateway's frame limit; a larger frame closes the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
/// API Gateway's message limit (a message may span several frames).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// How long a closing socket waits for the other side's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

type Socket = WebSocketStream<TokioIo<Upgraded>>;

pub async fn run(gw: Arc<WsGateway>, conn: Arc<Connection>, upgrade: OnUpgrade, queue: mpsc::Receiver<Outgoing>) {
    let (code, reason) = match upgrade.await {
        Ok(upgraded) => {
            // tungstenite zeroes `read_buffer_size` bytes on every read attempt, and the socket
            // is polled for reading after every frame it sends: 128 KiB (the default) made that
            // the largest cost of a post. API Gateway's frames are small anyway.
            let config = WebSocketConfig::default()
                .read_buffer_size(READ_BUFFER_BYTES)
                .max_frame_size(Some(MAX_FRAME_BYTES))
                .max_message_size(Some(MAX_MESSAGE_BYTES));
            let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
            pump(&gw, &conn, socket, queue).await
        }
        Err(_) => (1006, "the handshake did not complete".to_string()),
    };
    gw.connections.remove(conn.id());
    disconnect(&gw, &conn, code, &reason).await;
}

/// Until the socket closes: the close code and reason (`disconnectStatusCode`, `disconnectReason`).
async fn pump(
    gw: &Arc<WsGateway>,
    conn: &Arc<Connection>,
    socket: Socket,
    mut queue: mpsc::Receiver<Outgoing>,
) -> (u16, String) {
    let (mut sink, mut stream) = socket.split();
    // Two timers for the socket's life, reset only by client activity: a frame out costs none.
    let expires = sleep_until(tokio::time::Instant::now() + gw.max_lifetime);
    let idle = sleep_until(tokio::time::Instant::now() + gw.idle_timeout);
    tokio::pin!(expires, idle);
    loop {
        tokio::select! {
            incoming = stream.next() => {
                if incoming.as_ref().is_some_and(|m| m.is_ok()) {
                    idle.as_mut().reset(tokio::time::Instant::now() + gw.idle_timeout);
                    conn.touch();
                }
                match incoming {
                    Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => on_message(gw.clone(), conn.clone(), message),
                    Some(Ok(Message::Close(frame))) => {
                        gw.connections.remove(conn.id());
                        // tungstenite queued the close reply; sending it completes the closing handshake.
                        let _ = timeout(CLOSE_GRACE, sink.close()).await;
                        return frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(Error::Capacity(_))) => {
                        return close(gw, conn, sink, stream, 1009, "Message too big").await;
                    }
                    Some(Err(_)) | None => return (1006, "Connection closed abnormally".into()),
                }
            }
            outgoing = queue.recv() => match outgoing {
                Some(Outgoing::Frame(message)) => {
                    // Whatever else is queued goes out in the same write. A client that stopped
                    // reading blocks it: a stalled post gives up on the client.
                    let mut closing = None;
                    let written = async {
                        sink.feed(message).await?;
                        while let Ok(next) = queue.try_recv() {
                            match next {
                                Outgoing::Frame(message) => sink.feed(message).await?,
                                Outgoing::Close(code, reason) => {
                                    closing = Some((code, reason));
                                    break;
                                }
                            }
                        }
                        sink.flush().await
                    };
                    let sent = tokio::select! {
                        sent = written => sent.is_ok(),
                        _ = conn.stalled.notified() => false,
                    };
                    if !sent {
                        return (1006, "Connection closed abnormally".into());
                    }
                    if let Some((code, reason)) = closing {
                        return close(gw, conn, sink, stream, code, &reason).await;
                    }
                }
                Some(Outgoing::Close(code, reason)) => return close(gw, conn, sink, stream, code, &reason).await,
                None => return (1006, "Connection closed abnormally".into()),
            },
            _ = conn.stalled.notified() => return close(gw, conn, sink, stream, 1001, "Going away").await,
            _ = &mut idle => return close(gw, conn, sink, stream, 1001, "Going away").await,
            _ = &mut expires => return close(gw, conn, sink, stream, 1001, "Going away").await,
        }
    }
}

/// The server closes: no more posts, a close frame, and a short wait for the client's reply.
async fn close(
    gw: &WsGateway,
    conn: &Connection,
    mut sink: SplitSink<Socket, Message>,
    mut stream: SplitStream<Socket>,
    code: u16,
    reason: &str,
) -> (u16, String) {
    gw.connections.remove(conn.id());
    let frame = CloseFrame { code: code.into(), reason: reason.into() };
    if sink.send(Message::Close(Some(frame))).await.is_ok() {
        let _ = timeout(CLOSE_GRACE, async { while let Some(Ok(_)) = stream.next().await {} }).await;
    }
    (code, reason.to_string())
}

/// Invokes the frame's route without holding up the socket (API Gateway invokes concurrently);
/// a two-way route's answer, and API Gateway's own error frames, go back to the sender.
fn on_message(gw: Arc<WsGateway>, conn: Arc<Connection>, message: Message) {
    tokio::spawn(async move {
        let started = Instant::now();
        let (text, bytes) = match &message {
            Message::Text(text) => (Some(text.as_str()), text.as_bytes()),
            Message::Binary(bytes) => (None, &bytes[..]),
            _ => return,
        };
        let Some(route) = gw.api.select(bytes) else {
            // No matching route and no `$default`: API Gateway's answer.
            let frame = json!({"message": "Forbidden", "connectionId": conn.id(), "requestId": request_id()});
            conn.send(Outgoing::Frame(Message::text(frame.to_string()))).await;
            println!("WS MESSAGE {} - 403 0 ms (no route)", conn.id());
            return;
        };
        let payload = text.map_or(Payload::Binary(bytes), Payload::Text);
        let event = ws_event::message(&conn.context, &route.key, payload);
        let (answer, note) = gw.invoke(route, event).await;
        let ms = started.elapsed().as_millis();
        match answer {
            Some(answer) => {
                println!("WS MESSAGE {} {} {} {ms} ms{note}", conn.id(), route.key, answer.status);
                if let (true, Some(body)) = (route.two_way, answer.body) {
                    let frame = match String::from_utf8(body.to_vec()) {
                        Ok(text) => Message::text(text),
                        Err(_) => Message::binary(body),
                    };
                    conn.send(Outgoing::Frame(frame)).await;
                }
            }
            None => {
                println!("WS MESSAGE {} {} 500 {ms} ms{note}", conn.id(), route.key);
                let frame =
                    json!({"message": "Internal server error", "connectionId": conn.id(), "requestId": request_id()});
                conn.send(Outgoing::Frame(Message::text(frame.to_string()))).await;
            }
        }
    });
}

async fn disconnect(gw: &WsGateway, conn: &Connection, code: u16, reason: &str) {
    let Some(route) = gw.api.route("$disconnect") else { return };
    let started = Instant::now();
    let event = ws_event::disconnect(&conn.context, &route.key, code, reason);
    let (answer, note) = gw.invoke(route, event).await;
    let status = answer.map_or(500, |a| a.status);
    println!("WS DISCONNECT {} {status} {} ms{note} (close {code})", conn.id(), started.elapsed().as_millis());
}
