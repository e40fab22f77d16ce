//! WebSocket connections and their conversation subscriptions.
//!
//! A connection item (`CONN#<id>`/`CONNECTION`) says who owns the socket. Subscribing writes a
//! subscriber item in the conversation's partition (`CONV#<cid>`/`CONN#<id>`, so fan-out is one
//! Query) and its mirror in the connection's partition (`CONN#<id>`/`SUB#<cid>`, so disconnect
//! finds everything to delete with one Query). All carry a TTL: `$disconnect` can be missed.

use super::items::ConversationItem;
use super::{Item, Store, Transact, from_item, key_item, keys, s, sdk_error, to_item};
use crate::domain::{ConnectionId, ConversationId, UserId};
use crate::error::ApiError;
use aws_sdk_dynamodb::types::{ConditionCheck, DeleteRequest, TransactWriteItem, WriteRequest};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// API Gateway closes every socket after 2 hours; keep items a little longer.
pub const CONNECTION_TTL_SECONDS: i64 = 2 * 60 * 60 + 10 * 60;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub connection_id: ConnectionId,
    pub user_id: UserId,
    pub connected_at: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriberItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub connection_id: ConnectionId,
    pub user_id: UserId,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub conversation_id: ConversationId,
    pub expires_at: i64,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Store {
    /// Records a new connection, optionally already subscribed to one conversation.
    pub async fn open_connection(
        &self,
        connection_id: &ConnectionId,
        user: UserId,
        subscribe_to: Option<&ConversationItem>,
    ) -> Result<ConnectionItem, ApiError> {
        let key = keys::connection(connection_id.as_ref());
        let connection = ConnectionItem {
            pk: key.pk,
            sk: key.sk,
            connection_id: connection_id.clone(),
            user_id: user,
            connected_at: crate::views::now_timestamp(),
            expires_at: now() + CONNECTION_TTL_SECONDS,
        };
        // The token's user must exist: a validly signed token for nobody opens nothing.
        let mut actions = vec![self.must_exist(&keys::user(user))?, self.put(to_item(&connection)?, None)?];
        if let Some(conversation) = subscribe_to {
            actions.extend(self.subscription_puts(&connection, conversation.conversation_id)?);
        }
        match self.transact("open connection", actions).await? {
            Transact::Committed => Ok(connection),
            Transact::ConditionFailed(failed) if failed == [0] => {
                Err(ApiError::Unauthorized("invalid or expired token"))
            }
            Transact::ConditionFailed(_) => Err(ApiError::internal("open connection: unexpected condition failure")),
        }
    }

    pub async fn connection(&self, connection_id: &ConnectionId) -> Result<Option<ConnectionItem>, ApiError> {
        let found: Option<ConnectionItem> =
            self.get("get connection", &keys::connection(connection_id.as_ref())).await?;
        // TTL deletion lags by up to days: an expired item is a closed connection.
        Ok(found.filter(|c| c.expires_at > now()))
    }

    /// A connection and a conversation, in one round trip.
    pub async fn connection_and_conversation(
        &self,
        connection_id: &ConnectionId,
        conversation: ConversationId,
    ) -> Result<(Option<ConnectionItem>, Option<ConversationItem>), ApiError> {
        let (connection, conversation): (Option<ConnectionItem>, _) = self
            .get_two(
                "get connection and conversation",
                &keys::connection(connection_id.as_ref()),
                &keys::conversation(conversation),
            )
            .await?;
        Ok((connection.filter(|c| c.expires_at > now()), conversation))
    }

    fn subscription_puts(
        &self,
        connection: &ConnectionItem,
        conversation: ConversationId,
    ) -> Result<Vec<TransactWriteItem>, ApiError> {
        let subscriber_key = keys::subscriber(conversation, connection.connection_id.as_ref());
        let subscriber = SubscriberItem {
            pk: subscriber_key.pk,
            sk: subscriber_key.sk,
            connection_id: connection.connection_id.clone(),
            user_id: connection.user_id,
            expires_at: connection.expires_at,
        };
        let mirror_key = keys::subscription(connection.connection_id.as_ref(), conversation);
        let mirror = SubscriptionItem {
            pk: mirror_key.pk,
            sk: mirror_key.sk,
            conversation_id: conversation,
            expires_at: connection.expires_at,
        };
        Ok(vec![self.put(to_item(&subscriber)?, None)?, self.put(to_item(&mirror)?, None)?])
    }

    /// Subscribes an open connection; a connection closed meanwhile is a 404 and writes nothing.
    pub async fn subscribe(&self, connection: &ConnectionItem, conversation: ConversationId) -> Result<(), ApiError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::connection(connection.connection_id.as_ref()))?))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(ApiError::internal)?;
        let mut actions = vec![TransactWriteItem::builder().condition_check(check).build()];
        actions.extend(self.subscription_puts(connection, conversation)?);
        match self.transact("subscribe", actions).await? {
            Transact::Committed => Ok(()),
            Transact::ConditionFailed(_) => Err(ApiError::not_found("connection not found")),
        }
    }

    /// The live connections registered on a conversation: one Query (paged past 1 MB).
    pub async fn subscribers(&self, conversation: ConversationId) -> Result<Vec<SubscriberItem>, ApiError> {
        let mut found = Vec::new();
        let mut start = None;
        let now = now();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(keys::conversation_pk(conversation)))
                .expression_attribute_values(":prefix", s(keys::SUBSCRIBER_PREFIX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("list subscribers", e))?;
            for item in out.items.unwrap_or_default() {
                let subscriber: SubscriberItem = from_item(item)?;
                if subscriber.expires_at > now {
                    found.push(subscriber);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// Removes a connection and every subscription of it. Idempotent: also used for stale
    /// connections found while posting.
    pub async fn close_connection(&self, connection_id: &ConnectionId) -> Result<(), ApiError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::connection_pk(connection_id.as_ref())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("list connection items", e))?;
        let mut doomed = vec![keys::connection(connection_id.as_ref())];
        for item in out.items.unwrap_or_default() {
            if let Ok(subscription) = from_item::<SubscriptionItem>(item) {
                doomed.push(keys::subscription(connection_id.as_ref(), subscription.conversation_id));
                doomed.push(keys::subscriber(subscription.conversation_id, connection_id.as_ref()));
            }
        }
        let keys: Vec<Item> = doomed.iter().map(key_item).collect::<Result<_, _>>()?;
        self.delete_all(keys).await
    }

    /// BatchWriteItem in chunks of 25, resending what DynamoDB leaves unprocessed.
    async fn delete_all(&self, keys: Vec<Item>) -> Result<(), ApiError> {
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(ApiError::internal)
                })
                .collect::<Result<_, _>>()?;
            for attempt in 0..5u32 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| sdk_error("delete connection items", e))?;
                requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt == 4 {
                    return Err(ApiError::Unavailable("batch delete kept leaving items unprocessed".into()));
                }
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
        }
        Ok(())
    }
}
