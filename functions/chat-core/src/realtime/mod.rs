//! Pushing frames to WebSocket connections through the API Gateway Management API.

pub mod frames;

use crate::domain::{ConnectionId, ConversationId, UserId};
use crate::error::ApiError;
use crate::store::Store;
use crate::store::connections::Listener;
use crate::store::conversations::Conversation;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures::StreamExt;
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Realtime {
    client: Client,
    concurrency: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    Delivered,
    /// 410: the socket is closed; its items are removed.
    Gone,
    Failed,
}

/// What one fan-out did, with the time spent in each part (also logged).
#[derive(Debug, Default, Clone, Serialize)]
pub struct FanOut {
    pub connections: usize,
    pub delivered: usize,
    pub gone: usize,
    pub failed: usize,
    pub list_ms: f64,
    pub post_ms: f64,
}

impl Realtime {
    pub fn new(client: Client, concurrency: usize) -> Self {
        Self { client, concurrency: concurrency.max(1) }
    }

    /// Posts one frame to one connection. Never fails the caller: the outcome says what happened.
    pub async fn post(&self, connection: &ConnectionId, payload: &[u8]) -> PostOutcome {
        let result =
            self.client.post_to_connection().connection_id(connection.as_ref()).data(Blob::new(payload)).send().await;
        match result {
            Ok(_) => PostOutcome::Delivered,
            Err(err) if matches!(err.as_service_error(), Some(PostToConnectionError::GoneException(_))) => {
                PostOutcome::Gone
            }
            Err(err) => {
                tracing::warn!(
                    connection_id = %connection,
                    error = %aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&err),
                    "post to connection failed"
                );
                PostOutcome::Failed
            }
        }
    }

    /// Sends `frame` to every connection of every member of the conversation, except those of
    /// `skip_user`: their connections read (one round trip), then the posts.
    pub async fn broadcast<T: Serialize>(
        &self,
        store: &Store,
        conversation: &Conversation,
        frame: &T,
        skip_user: Option<UserId>,
    ) -> Result<FanOut, ApiError> {
        let started = Instant::now();
        let listeners = store.listeners(conversation.humans()).await?;
        let list_ms = ms(started.elapsed());
        let mut report = self.deliver(store, conversation.id(), listeners, frame, skip_user).await?;
        report.list_ms = list_ms;
        Ok(report)
    }

    /// Posts `frame` to the given connections, at most `concurrency` at a time. Connections
    /// found gone (410) are removed as they are found: that one, not the sender's.
    pub async fn deliver<T: Serialize>(
        &self,
        store: &Store,
        conversation: ConversationId,
        listeners: Vec<Listener>,
        frame: &T,
        skip_user: Option<UserId>,
    ) -> Result<FanOut, ApiError> {
        let payload = serde_json::to_vec(frame).map_err(ApiError::internal)?;
        let started = Instant::now();
        let targets = listeners.into_iter().filter(|l| Some(l.user_id) != skip_user);
        let outcomes: Vec<PostOutcome> = futures::stream::iter(targets)
            .map(|listener| {
                let payload = &payload;
                async move {
                    let connection = &listener.connection_id;
                    let outcome = self.post(connection, payload).await;
                    if outcome == PostOutcome::Gone
                        && let Err(err) = store.close_connection(connection, Some(listener.user_id)).await
                    {
                        tracing::warn!(connection_id = %connection, error = %err, "could not remove a stale connection");
                    }
                    outcome
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let count = |wanted: PostOutcome| outcomes.iter().filter(|o| **o == wanted).count();
        let report = FanOut {
            connections: outcomes.len(),
            delivered: count(PostOutcome::Delivered),
            gone: count(PostOutcome::Gone),
            failed: count(PostOutcome::Failed),
            list_ms: 0.0,
            post_ms: ms(started.elapsed()),
        };
        tracing::info!(
            conversation_id = %conversation,
            connections = report.connections,
            delivered = report.delivered,
            gone = report.gone,
            failed = report.failed,
            post_ms = report.post_ms,
            "fan-out"
        );
        Ok(report)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
