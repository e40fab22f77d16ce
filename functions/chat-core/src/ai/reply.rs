//! Answering one user message in an AI conversation: claim the reply (at most one per message),
//! read the recent history, stream the model's reply to the conversation's sockets as
//! `ai_delta` frames, store it as the agent's message and push it as a `message` frame. When
//! the model fails for good, nothing is stored and the user's sockets get a 503 `error` frame.

use super::{AiConfig, Model, ModelError, ModelRequest};
use crate::domain::{AGENT_ID, ConversationKind};
use crate::domain::{ConversationId, MessageId, MessageText, UserId};
use crate::realtime::frames;
use crate::store::connections::Listener;
use crate::store::conversations::Conversation;
use crate::store::items::MessageItem;
use crate::store::messages::HistoryPage;
use crate::store::messages::{Replay, now_ms};
use crate::store::replies::{Claimed, ReplyClaim};
use crate::{ApiError, App, messaging};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// Kept free before the invocation's deadline to store or release, and to notify.
const DEADLINE_MARGIN: Duration = Duration::from_secs(3);
/// How long a claim holds without its invocation's deadline to bound it sooner.
const LEASE: Duration = Duration::from_secs(30);
/// How often a delivery that found the reply claimed looks again.
const CLAIM_POLL: Duration = Duration::from_millis(500);
/// Longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// What the user's sockets are told when the model fails for good.
pub const UNAVAILABLE_MESSAGE: &str = "the AI agent is unavailable";

/// The agent: its settings and its model, built once at cold start.
pub struct Agent {
    pub config: AiConfig,
    pub model: Model,
}

impl Agent {
    pub fn new(config: AiConfig, model: Model) -> Self {
        Self { config, model }
    }

    pub fn from_config(config: AiConfig, sdk: &aws_config::SdkConfig) -> Result<Self, ModelError> {
        let model = Model::from_config(&config, sdk)?;
        Ok(Self::new(config, model))
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not a message the agent answers (the reason is logged).
    Skipped(&'static str),
    /// The reply was stored (its id) and pushed.
    Replied(MessageId),
    /// An earlier (or concurrent) delivery answered it.
    AlreadyAnswered,
    /// The model failed for good: nothing stored, the user's sockets told (503).
    ModelFailed,
    /// The claim ran out and was taken over while the model was answering: nothing stored.
    ClaimLost,
}

/// Answers one stored message. `Err` is an infrastructure failure (DynamoDB): the claim has been
/// released (if it could be), and the caller should have the trigger retried.
pub async fn answer(
    app: &App,
    agent: &Agent,
    message: &MessageItem,
    deadline: SystemTime,
) -> Result<Outcome, ApiError> {
    if !message.needs_reply || message.sender_id == AGENT_ID {
        return Ok(Outcome::Skipped("the message needs no reply"));
    }
    let Some(conversation) = app.store.conversation(message.conversation_id).await? else {
        return Ok(Outcome::Skipped("the conversation does not exist"));
    };
    if conversation.kind() != ConversationKind::Ai || !conversation.has_member(message.sender_id) {
        return Ok(Outcome::Skipped("not a participant's message in an AI conversation"));
    }
    let claim = loop {
        // The lease only decides when a delivery may take over a claim whose invocation died:
        // the store is conditional on owning the claim, so an overrun lease costs work, never a
        // second reply. It never outlasts the invocation.
        let lease_until = epoch_seconds((SystemTime::now() + LEASE).min(deadline)) + 1;
        match app.store.claim_reply(conversation.id(), message.message_id, lease_until).await? {
            Claimed::Won(claim) => break claim,
            Claimed::Answered { reply_id, delivery } => {
                if let Some(reply_id) = reply_id {
                    deliver_stored(app, &conversation, message.message_id, reply_id, delivery, deadline).await;
                }
                return Ok(Outcome::AlreadyAnswered);
            }
            // Another delivery is answering, or died doing so: wait for its reply, its release or
            // the end of its lease; if this invocation runs out of time first, Lambda retries.
            Claimed::InProgress if SystemTime::now() + CLAIM_POLL + DEADLINE_MARGIN < deadline => {
                tokio::time::sleep(CLAIM_POLL).await;
            }
            Claimed::InProgress => {
                return Err(ApiError::Unavailable("the reply is still claimed by another delivery".into()));
            }
        }
    };
    let result = answer_claimed(app, agent, &conversation, message, &claim, deadline).await;
    if result.is_err()
        && let Err(err) = app.store.release_reply(&claim).await
    {
        tracing::warn!(error = %err, "could not release the reply claim; its lease lapses shortly");
    }
    result
}

async fn answer_claimed(
    app: &App,
    agent: &Agent,
    conversation: &Conversation,
    message: &MessageItem,
    claim: &ReplyClaim,
    deadline: SystemTime,
) -> Result<Outcome, ApiError> {
    let id = conversation.id();
    let earlier = agent.config.history_messages.saturating_sub(1);
    let mut history = if earlier == 0 {
        Vec::new()
    } else {
        // The API's page of the same messages (the same 1 MiB budget), oldest first.
        crate::paging::history_page(app.store.history(id, HistoryPage::Before(message.message_id), earlier).await?).0
    };
    history.push(message.view());
    let request = ModelRequest::from_history(agent.config.system_prompt.clone(), &history);
    let subscribers = listeners(app, conversation.humans()).await;

    let text = match generate(app, agent, &request, id, message.message_id, &subscribers, deadline).await {
        Ok(text) => text,
        Err(err) => {
            tracing::error!(
                conversation_id = %id,
                reply_to = %message.message_id,
                provider = ?agent.model.provider(),
                error = %err,
                "the AI reply failed; nothing stored"
            );
            app.store.release_reply(claim).await?;
            notify_failure(app, id, message.message_id, message.sender_id).await;
            return Ok(Outcome::ModelFailed);
        }
    };
    let stored = match app.store.store_reply(conversation, claim, text).await {
        Ok(stored) => stored,
        Err(err) => {
            // The user may have watched the reply stream in: say it did not arrive, with the
            // sockets listed before (DynamoDB may be what failed). The trigger is retried, and
            // a later attempt that stores the reply pushes it whole.
            notify(app, id, message.message_id, message.sender_id, subscribers).await;
            return Err(err.into());
        }
    };
    let Some(reply) = stored else {
        tracing::warn!(conversation_id = %id, reply_to = %message.message_id, "reply claim lost to a later delivery; reply dropped");
        return Ok(Outcome::ClaimLost);
    };
    if let Some(realtime) = &app.realtime {
        // Listed again: the user may have (re)connected while the model was answering.
        let pushed =
            messaging::push_message(app, realtime, id, listeners_now(app, conversation.humans()).await, &reply.view())
                .await;
        if pushed.is_some()
            && let Err(err) = app.store.mark_reply_delivered(id, message.message_id).await
        {
            tracing::warn!(conversation_id = %id, error = %err, "could not record the reply's delivery");
        }
    }
    Ok(Outcome::Replied(reply.message_id))
}

/// A redelivery found the reply stored. Unless it reached the sockets, wait for the attempt
/// that stored it (still pushing) to finish; when that attempt's hold lapses undelivered (its
/// invocation died, or its answer was lost), take the delivery over and push the stored reply.
/// Exactly one delivery pushes: taking over is a conditional write.
async fn deliver_stored(
    app: &App,
    conversation: &Conversation,
    reply_to: MessageId,
    reply_id: MessageId,
    mut delivery: Replay,
    deadline: SystemTime,
) {
    let Some(realtime) = &app.realtime else { return };
    let id = conversation.id();
    loop {
        let Replay::Pending { lease_until_ms } = delivery else { return };
        let wait = lease_until_ms - now_ms();
        if wait <= 0 {
            match app.store.take_reply_delivery(id, reply_to).await {
                Ok(true) => {
                    let reply = match app.store.message(id, reply_id).await {
                        Ok(Some(reply)) => reply,
                        Ok(None) => return tracing::warn!(conversation_id = %id, "the stored reply is gone"),
                        Err(err) => {
                            return tracing::warn!(conversation_id = %id, error = %err, "could not read the reply");
                        }
                    };
                    let subscribers = listeners_now(app, conversation.humans()).await;
                    if messaging::push_message(app, realtime, id, subscribers, &reply.view()).await.is_some()
                        && let Err(err) = app.store.mark_reply_delivered(id, reply_to).await
                    {
                        tracing::warn!(conversation_id = %id, error = %err, "could not record the reply's delivery");
                    }
                    return;
                }
                Ok(false) => {}
                Err(err) => {
                    return tracing::warn!(conversation_id = %id, error = %err, "could not take the reply's delivery");
                }
            }
        } else if SystemTime::now() + Duration::from_millis(wait as u64) + DEADLINE_MARGIN > deadline {
            return;
        } else {
            tokio::time::sleep(Duration::from_millis((wait as u64).min(200))).await;
        }
        delivery = match app.store.reply_delivery(id, reply_to).await {
            Ok(delivery) => delivery,
            Err(err) => {
                return tracing::warn!(conversation_id = %id, error = %err, "could not read the reply's delivery");
            }
        };
    }
}

/// Calls the model until it answers, a failure is not retryable, or the attempts run out.
/// Deltas are pushed while an attempt streams; once a failed attempt has shown some, later
/// attempts stream silently (their text would not continue what the user saw) and the final
/// `message` frame brings the whole reply.
async fn generate(
    app: &App,
    agent: &Agent,
    request: &ModelRequest,
    conversation: ConversationId,
    reply_to: MessageId,
    subscribers: &[Listener],
    deadline: SystemTime,
) -> Result<MessageText, ModelError> {
    let mut shown = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = deadline.duration_since(SystemTime::now()).unwrap_or_default().saturating_sub(DEADLINE_MARGIN);
        if left.is_zero() {
            return Err(ModelError::Retryable(format!("no time left for attempt {attempt}")));
        }
        let show = !shown && app.realtime.is_some() && !subscribers.is_empty();
        let (sender, deltas) = mpsc::unbounded_channel::<String>();
        let call = async move {
            let mut budget = MessageText::MAX_CHARS;
            let result = agent
                .model
                .stream_reply(request, agent.config.timeout.min(left), |delta| {
                    // Never preview more than can be stored.
                    let clipped: String = delta.chars().take(budget).collect();
                    budget -= clipped.chars().count();
                    if show && !clipped.is_empty() {
                        let _ = sender.send(clipped);
                    }
                })
                .await;
            drop(sender);
            result
        };
        let (result, pushed) = tokio::join!(call, push_deltas(app, conversation, reply_to, subscribers, deltas));
        shown |= pushed;
        let err = match result.and_then(into_text) {
            Ok(text) => return Ok(text),
            Err(err) => err,
        };
        if !err.is_retryable() || attempt >= agent.config.max_attempts {
            return Err(err);
        }
        let pause = backoff(agent.config.retry_base, attempt);
        tracing::warn!(conversation_id = %conversation, reply_to = %reply_to, attempt, error = %err, pause_ms = pause.as_millis() as u64, "model call failed; retrying");
        tokio::time::sleep(pause).await;
    }
}

/// The stored reply: the model's text, cut to what a message may hold; nothing is a failure.
fn into_text(text: String) -> Result<MessageText, ModelError> {
    let text: String = text.chars().take(MessageText::MAX_CHARS).collect();
    MessageText::parse(text).map_err(|_| ModelError::Hard("the model's reply was empty".into()))
}

/// Pushes deltas in order as they come, merging those that queued up during a post: one
/// frame per post, however fast the model is. `true` when anything was pushed.
async fn push_deltas(
    app: &App,
    conversation: ConversationId,
    reply_to: MessageId,
    subscribers: &[Listener],
    mut deltas: mpsc::UnboundedReceiver<String>,
) -> bool {
    let mut pushed = false;
    while let Some(mut delta) = deltas.recv().await {
        while let Ok(more) = deltas.try_recv() {
            delta.push_str(&more);
        }
        let Some(realtime) = &app.realtime else { continue };
        let frame = frames::ai_delta(conversation, reply_to, &delta);
        if let Err(err) = realtime.deliver(&app.store, conversation, subscribers.to_vec(), &frame, None).await {
            tracing::warn!(conversation_id = %conversation, error = %err, "could not push a delta");
        }
        pushed = true;
    }
    pushed
}

/// Tells the author's sockets on this conversation that no reply is coming.
async fn notify_failure(app: &App, conversation: ConversationId, reply_to: MessageId, user: UserId) {
    if app.realtime.is_some() {
        notify(app, conversation, reply_to, user, listeners_now(app, [user]).await).await;
    }
}

/// Pushes the 503 `error` frame to the author's sockets among `subscribers`.
async fn notify(
    app: &App,
    conversation: ConversationId,
    reply_to: MessageId,
    user: UserId,
    subscribers: Vec<Listener>,
) {
    let Some(realtime) = &app.realtime else { return };
    let mine: Vec<Listener> = subscribers.into_iter().filter(|s| s.user_id == user).collect();
    if mine.is_empty() {
        return;
    }
    if let Err(err) =
        realtime.deliver(&app.store, conversation, mine, &unavailable_frame(conversation, reply_to), None).await
    {
        tracing::warn!(conversation_id = %conversation, error = %err, "could not push the failure");
    }
}

/// `{"type":"error","error":{"message":"the AI agent is unavailable","status":503}}`, plus the
/// conversation and the message that went unanswered.
pub fn unavailable_frame(conversation: ConversationId, reply_to: MessageId) -> Value {
    let mut frame = frames::error(&ApiError::Unavailable(UNAVAILABLE_MESSAGE.into()));
    frame["error"]["message"] = json!(UNAVAILABLE_MESSAGE);
    frame["conversation_id"] = json!(conversation);
    frame["reply_to"] = json!(reply_to);
    frame
}

/// The sockets of `users` (the conversation's members), for the deltas; none without a
/// WebSocket endpoint or when they cannot be read (deltas are a nicety, the stored reply is
/// what counts).
async fn listeners(app: &App, users: impl IntoIterator<Item = UserId>) -> Vec<Listener> {
    if app.realtime.is_none() {
        return Vec::new();
    }
    listeners_now(app, users).await
}

async fn listeners_now(app: &App, users: impl IntoIterator<Item = UserId>) -> Vec<Listener> {
    app.store.listeners(users).await.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "could not list connections");
        Vec::new()
    })
}

/// `base · 2^(attempt-1)` plus up to half of that again at random, at most [`MAX_BACKOFF`].
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1 << (attempt - 1).min(10));
    let jitter = exp.mul_f64(f64::from(uuid::Uuid::new_v4().as_bytes()[0]) / 512.0);
    (exp + jitter).min(MAX_BACKOFF)
}

fn epoch_seconds(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let first = backoff(base, 1);
        assert!(first >= base && first <= base * 3 / 2, "{first:?}");
        let third = backoff(base, 3);
        assert!(third >= base * 4 && third <= base * 6, "{third:?}");
        assert_eq!(backoff(Duration::from_secs(10), 4), MAX_BACKOFF);
    }

    #[test]
    fn replies_are_cut_to_a_message() {
        assert_eq!(into_text("x".repeat(5000)).unwrap().as_ref().len(), MessageText::MAX_CHARS);
        assert!(!into_text("  \n".into()).unwrap_err().is_retryable());
    }

    #[test]
    fn the_failure_frame_is_the_error_envelope() {
        let (conversation, reply_to) = (ConversationId::generate(), MessageId::generate());
        let frame = unavailable_frame(conversation, reply_to);
        assert_eq!(frame["type"], "error");
        assert_eq!(frame["error"], json!({"message": UNAVAILABLE_MESSAGE, "status": 503}));
        assert_eq!(frame["reply_to"], json!(reply_to));
    }
}
