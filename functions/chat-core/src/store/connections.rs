//! WebSocket connections and their conversation subscriptions.
//!
//! A connection item (`CONN#<id>`/`CONNECTION`) says who owns the socket. Subscribing writes a
//! subscriber item in the conversation's partition (`CONV#<cid>`/`CONN#<id>`, so fan-out is one
//! Query) and its mirror in the connection's partition (`CONN#<id>`/`SUB#<cid>`, so disconnect
//! finds everything to delete with one Query). All carry a TTL: `$disconnect` can be missed.

use super::items::{ConnectionItem, ConversationItem, Entity, SubscriberItem, SubscriptionItem};
use super::{
    Item, Missing, Store, StoreError, StoreResult, Transact, entity_type, from_item, key_item, keys, s, to_item,
};
use crate::domain::{ConnectionId, ConversationId, UserId};
use aws_sdk_dynamodb::types::{ConditionCheck, DeleteRequest, TransactWriteItem, WriteRequest};

use std::time::Duration;

/// API Gateway closes every socket after 2 hours; keep items a little longer.
pub const CONNECTION_TTL_SECONDS: i64 = 2 * 60 * 60 + 10 * 60;

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
    ) -> StoreResult<ConnectionItem> {
        let connection = ConnectionItem {
            key: keys::connection(connection_id),
            connection_id: connection_id.clone(),
            user_id: user,
            connected_at: crate::views::now_timestamp(),
            expires_at: now() + CONNECTION_TTL_SECONDS,
        };
        // The token's user must exist: a validly signed token for nobody opens nothing.
        let mut actions = vec![self.must_exist(&keys::user(user))?, self.put(to_item(&connection)?, None)?];
        if let Some(conversation) = subscribe_to {
            actions.extend(self.subscription_puts(&connection, conversation.id())?);
        }
        match self.transact("open connection", actions).await? {
            Transact::Committed => Ok(connection),
            Transact::ConditionFailed(failed) if failed == [0] => Err(StoreError::NoSuchUser),
            Transact::ConditionFailed(_) => Err(StoreError::internal("open connection: unexpected condition failure")),
        }
    }

    pub async fn connection(&self, connection_id: &ConnectionId) -> StoreResult<Option<ConnectionItem>> {
        let found: Option<ConnectionItem> = self.get("get connection", &keys::connection(connection_id)).await?;
        // TTL deletion lags by up to days: an expired item is a closed connection.
        Ok(found.filter(|c| c.expires_at > now()))
    }

    /// A connection and a conversation, in one round trip.
    pub async fn connection_and_conversation(
        &self,
        connection_id: &ConnectionId,
        conversation: ConversationId,
    ) -> StoreResult<(Option<ConnectionItem>, Option<ConversationItem>)> {
        let (connection, conversation): (Option<ConnectionItem>, _) = self
            .get_two(
                "get connection and conversation",
                &keys::connection(connection_id),
                &keys::conversation(conversation),
            )
            .await?;
        Ok((connection.filter(|c| c.expires_at > now()), conversation))
    }

    fn subscription_puts(
        &self,
        connection: &ConnectionItem,
        conversation: ConversationId,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let subscriber = SubscriberItem {
            key: keys::subscriber(conversation, &connection.connection_id),
            connection_id: connection.connection_id.clone(),
            user_id: connection.user_id,
            expires_at: connection.expires_at,
        };
        let mirror = SubscriptionItem {
            key: keys::subscription(&connection.connection_id, conversation),
            conversation_id: conversation,
            expires_at: connection.expires_at,
        };
        Ok(vec![self.put(to_item(&subscriber)?, None)?, self.put(to_item(&mirror)?, None)?])
    }

    /// Subscribes an open connection; a connection closed meanwhile is a 404 and writes nothing.
    pub async fn subscribe(&self, connection: &ConnectionItem, conversation: ConversationId) -> StoreResult<()> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::connection(&connection.connection_id))?))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(StoreError::internal)?;
        let mut actions = vec![TransactWriteItem::builder().condition_check(check).build()];
        actions.extend(self.subscription_puts(connection, conversation)?);
        match self.transact("subscribe", actions).await? {
            Transact::Committed => Ok(()),
            Transact::ConditionFailed(_) => Err(StoreError::NotFound(Missing::Connection)),
        }
    }

    /// The live connections registered on a conversation: one Query (paged past 1 MB).
    pub async fn subscribers(&self, conversation: ConversationId) -> StoreResult<Vec<SubscriberItem>> {
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
                .map_err(|e| StoreError::sdk("list subscribers", e))?;
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
    pub async fn close_connection(&self, connection_id: &ConnectionId) -> StoreResult<()> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::connection_pk(connection_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk("list connection items", e))?;
        let mut doomed = vec![keys::connection(connection_id)];
        // The partition holds the connection item and its subscriptions, told apart by type;
        // an item written before types were recorded, by its sort key (else a stale one would
        // be posted to, and found gone, on every send until its TTL).
        for item in out.items.unwrap_or_default() {
            let subscription = match entity_type(&item) {
                Some(kind) => kind == SubscriptionItem::TYPE,
                None => item
                    .get(keys::SK)
                    .and_then(|sk| sk.as_s().ok())
                    .is_some_and(|sk| sk.starts_with(keys::SUBSCRIPTION_PREFIX)),
            };
            if subscription {
                let subscription: SubscriptionItem = from_item(item)?;
                doomed.push(keys::subscription(connection_id, subscription.conversation_id));
                doomed.push(keys::subscriber(subscription.conversation_id, connection_id));
            }
        }
        let keys: Vec<Item> = doomed.iter().map(key_item).collect::<Result<_, _>>()?;
        self.delete_all(keys).await
    }

    /// BatchWriteItem in chunks of 25, resending what DynamoDB leaves unprocessed.
    async fn delete_all(&self, keys: Vec<Item>) -> StoreResult<()> {
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(StoreError::internal)
                })
                .collect::<Result<_, _>>()?;
            for attempt in 0..5u32 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| StoreError::sdk("delete connection items", e))?;
                requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt == 4 {
                    return Err(StoreError::Unavailable("batch delete kept leaving items unprocessed".into()));
                }
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
        }
        Ok(())
    }
}
