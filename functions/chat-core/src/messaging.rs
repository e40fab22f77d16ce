//! The actions shared by the HTTP routes and the WebSocket actions, and those that push frames:
//! creating a conversation, sending a message, checking what a connection may do on a
//! conversation.

use crate::domain::{ClientMessageId, ConnectionId, ConversationId, MessageId, MessageText, UserId};
use crate::realtime::{FanOut, Realtime, frames};
use crate::store::connections::Listener;
use crate::store::conversations::{Conversation, Created};
use crate::store::items::ConnectionItem;
use crate::store::messages::{DELIVERY_LEASE_MS, Posted, Replay, now_ms};
use crate::views::MessageView;
use crate::{ApiError, ApiResult, App};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
pub struct Sent {
    pub message_id: MessageId,
    pub message: String,
    pub timestamp: String,
}

impl From<MessageView> for Sent {
    fn from(view: MessageView) -> Self {
        Self { message_id: view.message_id, message: view.message, timestamp: view.timestamp }
    }
}

/// Where the time of one send went (for logs and the fan-out benchmark).
#[derive(Debug, Default, Clone, Serialize)]
pub struct SendTimings {
    pub store_ms: f64,
    /// `None` when nothing was pushed (a replay, or no WebSocket endpoint configured).
    pub fan_out: Option<FanOut>,
}

impl SendTimings {
    /// A `Server-Timing` header value (store, list, post in milliseconds), so clients and the
    /// benchmark see where a send's time went.
    pub fn server_timing(&self) -> String {
        let mut parts = vec![format!("store;dur={:.2}", self.store_ms)];
        if let Some(f) = &self.fan_out {
            parts.push(format!("list;dur={:.2}", f.list_ms));
            parts.push(format!("post;dur={:.2};desc=\"{} connections\"", f.post_ms, f.connections));
        }
        parts.join(", ")
    }
}

/// `POST /api/messages`: checks membership, then [`send_in`].
pub async fn send_message(
    app: &App,
    sender: UserId,
    conversation_id: ConversationId,
    text: MessageText,
    client_message_id: Option<ClientMessageId>,
) -> ApiResult<(Sent, SendTimings)> {
    let conversation = app.store.conversation_for(conversation_id, sender).await?;
    send_in(app, &conversation, sender, text, client_message_id).await
}

/// Stores the message (at most once per `client_message_id`) and pushes it to every connection
/// registered on the conversation, the sender's included. `sender` is an authenticated
/// participant. The subscriber Query runs alongside the write, so a send costs two sequential
/// round trips plus the posts (and, with a `client_message_id`, one more to record that the
/// message was delivered). Delivery problems are logged, never returned. A replay of a stored
/// message returns it, and pushes it only if no attempt delivered it ([`redeliver`]).
pub async fn send_in(
    app: &App,
    conversation: &Conversation,
    sender: UserId,
    text: MessageText,
    client_message_id: Option<ClientMessageId>,
) -> ApiResult<(Sent, SendTimings)> {
    let id = conversation.id();
    let started = Instant::now();
    let store = async {
        let posted = app.store.post_message(conversation, sender, text, client_message_id).await;
        (posted, started.elapsed())
    };
    let listing = async {
        let realtime = app.realtime.as_ref()?;
        let subscribers = app.store.listeners(conversation.humans()).await;
        Some((realtime, subscribers, started.elapsed()))
    };
    let ((posted, stored_in), listed) = tokio::join!(store, listing);
    let mut timings = SendTimings { store_ms: stored_in.as_secs_f64() * 1000.0, fan_out: None };
    let message = match posted? {
        Posted::Stored(message) => message,
        Posted::Replayed(view, replay) => {
            if let (Some(client), Some(realtime)) = (client_message_id, &app.realtime) {
                redeliver(app, realtime, conversation, sender, client, &view, replay).await;
            }
            return Ok((view.into(), timings));
        }
    };
    let view = message.view();
    match listed {
        Some((realtime, Ok(subscribers), listed_in)) => {
            timings.fan_out = push_message(app, realtime, id, subscribers, &view).await.map(|mut fan_out| {
                fan_out.list_ms = listed_in.as_secs_f64() * 1000.0;
                fan_out
            });
        }
        Some((_, Err(err), _)) => tracing::warn!(conversation_id = %id, error = %err, "could not list connections"),
        None => {}
    }
    if let (Some(client), Some(_)) = (client_message_id, &timings.fan_out) {
        // Unrecorded, a retry after the lease would push it again (clients dedupe by id).
        if let Err(err) = app.store.mark_delivered(id, sender, client).await {
            tracing::warn!(conversation_id = %id, error = %err, "could not record the delivery");
        }
    }
    Ok((view.into(), timings))
}

/// Creates a conversation, and when it is new, pushes `conversation_created` to every member's
/// connections (the creator's included), so clients learn of it without polling. The members'
/// connections are read alongside the write: one round trip, as for a send. Delivery problems
/// are logged, never returned.
pub async fn create_conversation(app: &App, conversation: Conversation) -> ApiResult<Created> {
    let Some(realtime) = &app.realtime else { return Ok(app.store.create_conversation(conversation).await?) };
    let members = conversation.humans();
    let (created, listeners) = tokio::join!(app.store.create_conversation(conversation), app.store.listeners(members));
    let created = created?;
    if let Created::New(conversation) = &created {
        let frame = frames::conversation_created(&conversation.view(None, 0));
        let id = conversation.id();
        match listeners {
            Ok(listeners) => {
                if let Err(err) = realtime.deliver(&app.store, id, listeners, &frame, None).await {
                    tracing::warn!(conversation_id = %id, error = %err, "could not announce the conversation");
                }
            }
            Err(err) => tracing::warn!(conversation_id = %id, error = %err, "could not list connections"),
        }
    }
    Ok(created)
}

/// A retry found its message stored. Unless it was delivered, wait for the attempt holding the
/// delivery (the one that stored it, still posting) to finish; if that attempt's lease lapses
/// undelivered (its answer was lost, or it died), take the delivery over and push. Exactly one
/// attempt pushes: taking over is a conditional write. Copies sent at once therefore push once,
/// and a retry of a send whose answer was lost delivers the message.
async fn redeliver(
    app: &App,
    realtime: &Realtime,
    conversation: &Conversation,
    sender: UserId,
    client: ClientMessageId,
    view: &MessageView,
    mut replay: Replay,
) {
    let id = conversation.id();
    let give_up = Instant::now() + Duration::from_millis(DELIVERY_LEASE_MS as u64 + 1_000);
    loop {
        let Replay::Pending { lease_until_ms } = replay else { return };
        let wait = lease_until_ms - now_ms();
        if wait <= 0 {
            match app.store.take_delivery(id, sender, client).await {
                Ok(true) => {
                    let subscribers = match app.store.listeners(conversation.humans()).await {
                        Ok(subscribers) => subscribers,
                        Err(err) => {
                            return tracing::warn!(conversation_id = %id, error = %err, "could not list connections");
                        }
                    };
                    if push_message(app, realtime, id, subscribers, view).await.is_some()
                        && let Err(err) = app.store.mark_delivered(id, sender, client).await
                    {
                        tracing::warn!(conversation_id = %id, error = %err, "could not record the delivery");
                    }
                    return;
                }
                Ok(false) => {} // another retry took it: read again
                Err(err) => {
                    return tracing::warn!(conversation_id = %id, error = %err, "could not take the delivery over");
                }
            }
        } else if Instant::now() + Duration::from_millis(wait as u64) > give_up {
            return;
        } else {
            tokio::time::sleep(Duration::from_millis((wait as u64).min(REDELIVERY_POLL_MS))).await;
        }
        replay = match app.store.delivery(id, sender, client).await {
            Ok(replay) => replay,
            Err(err) => return tracing::warn!(conversation_id = %id, error = %err, "could not read the delivery"),
        };
    }
}

/// How often a waiting retry looks again whether the message was delivered.
const REDELIVERY_POLL_MS: u64 = 200;

/// Pushes a stored message to the connections listed as a `message` frame (also the AI agent's replies).
/// Delivery problems are logged, never returned.
pub async fn push_message(
    app: &App,
    realtime: &Realtime,
    conversation_id: ConversationId,
    subscribers: Vec<Listener>,
    message: &MessageView,
) -> Option<FanOut> {
    let frame = frames::message(conversation_id, message);
    match realtime.deliver(&app.store, conversation_id, subscribers, &frame, None).await {
        Ok(fan_out) => Some(fan_out),
        Err(err) => {
            tracing::warn!(conversation_id = %conversation_id, error = %err, "fan-out failed");
            None
        }
    }
}

/// The connect route and the `subscribe` action: a connection already gets every conversation
/// of its user's (per-user delivery), so this only checks, as before, that it may: the
/// conversation is its owner's, and with `caller` (the HTTP connect route) the connection is the
/// caller's; without it (the socket's own action) the connection's owner is the caller. An
/// unknown connection is a 404 here. Nothing is written.
pub async fn subscribe(
    app: &App,
    caller: Option<UserId>,
    connection_id: &ConnectionId,
    conversation_id: ConversationId,
) -> ApiResult<()> {
    let unknown = || ApiError::not_found("connection not found");
    access(app, caller, connection_id, conversation_id, unknown).await.map(|_| ())
}

/// The one access check for acting on a conversation through a connection, after reading both
/// in one round trip. The acting user is `caller`, or without one the connection's owner (so an
/// unknown connection, refused with `unknown()`, is refused first: there is nobody to check).
/// The conversation must exist with that user in it (404 "conversation not found"; its
/// existence is not revealed to outsiders), and the connection must be open and theirs.
pub async fn access(
    app: &App,
    caller: Option<UserId>,
    connection_id: &ConnectionId,
    conversation_id: ConversationId,
    unknown: impl Fn() -> ApiError,
) -> ApiResult<(ConnectionItem, Conversation)> {
    let (connection, conversation) = app.store.connection_and_conversation(connection_id, conversation_id).await?;
    let user = match caller {
        Some(user) => user,
        None => connection.as_ref().ok_or_else(&unknown)?.user_id,
    };
    let conversation =
        conversation.filter(|c| c.has_member(user)).ok_or_else(|| ApiError::not_found("conversation not found"))?;
    let connection = connection.ok_or_else(unknown)?;
    if connection.user_id != user {
        return Err(ApiError::Forbidden("the connection belongs to another user".into()));
    }
    Ok((connection, conversation))
}
