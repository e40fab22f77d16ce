//! The open WebSocket connections by id: what `@connections/{id}` finds, and the queue each
//! socket's task writes out. A connection is here from its accepted `$connect` until the socket
//! starts closing, so that posting to it answers 410 from then on, as on API Gateway.

use super::event::ConnectionContext;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// Frames waiting for a slow client; a post waits (back-pressure) once this many are queued.
const QUEUE: usize = 256;
/// A client that takes no frame for this long while its queue is full is disconnected, so
/// that it cannot hold up a fan-out (API Gateway never makes a post wait on a client).
const STALLED: Duration = Duration::from_secs(5);

pub enum Outgoing {
    Frame(Message),
    /// Close the socket with this code and reason (`DeleteConnection`).
    Close(u16, String),
}

pub struct Connection {
    pub context: ConnectionContext,
    last_active_ms: AtomicI64,
    queue: mpsc::Sender<Outgoing>,
    /// Told when the client stalled: the socket's task closes it.
    pub stalled: Notify,
}

impl Connection {
    /// The connection and the receiving end of its queue (for the socket's task).
    pub fn new(context: ConnectionContext) -> (Arc<Self>, mpsc::Receiver<Outgoing>) {
        let (queue, rx) = mpsc::channel(QUEUE);
        let last_active_ms = AtomicI64::new(context.connected_at.timestamp_millis());
        (Arc::new(Self { context, last_active_ms, queue, stalled: Notify::new() }), rx)
    }

    pub fn id(&self) -> &str {
        &self.context.connection_id
    }

    /// Queues a frame or a close; `false` once the socket's task has ended, or when the
    /// client stalled (and is being disconnected).
    pub async fn send(&self, outgoing: Outgoing) -> bool {
        match tokio::time::timeout(STALLED, self.queue.send(outgoing)).await {
            Ok(sent) => sent.is_ok(),
            Err(_) => {
                self.stalled.notify_one();
                false
            }
        }
    }

    /// The client sent something (`lastActiveAt`).
    pub fn touch(&self) {
        self.last_active_ms.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    pub fn last_active(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.last_active_ms.load(Ordering::Relaxed)).unwrap_or_default()
    }
}

#[derive(Default)]
pub struct Connections {
    // Read-mostly (every post is a lookup), so a read-write lock; posts never hold it across an await.
    open: RwLock<HashMap<String, Arc<Connection>>>,
}

impl Connections {
    /// A fresh id shaped like API Gateway's: 16 base64 characters ending in `=` (11 random bytes).
    pub fn new_id(&self) -> String {
        loop {
            let mut bytes = [0u8; 11];
            getrandom::fill(&mut bytes).expect("the OS has randomness");
            let id = BASE64.encode(bytes);
            if !self.open.read().expect("not poisoned").contains_key(&id) {
                return id;
            }
        }
    }

    pub fn insert(&self, connection: Arc<Connection>) {
        self.open.write().expect("not poisoned").insert(connection.id().to_string(), connection);
    }

    pub fn get(&self, id: &str) -> Option<Arc<Connection>> {
        self.open.read().expect("not poisoned").get(id).cloned()
    }

    pub fn remove(&self, id: &str) -> Option<Arc<Connection>> {
        self.open.write().expect("not poisoned").remove(id)
    }
}
