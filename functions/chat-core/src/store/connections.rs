//! WebSocket connections, delivered to per user.
//!
//! A connection item (`CONN#<id>`/`CONNECTION`, with a TTL: `$disconnect` can be missed) says
//! who owns the socket, and the owner's connections item (`USER#<uid>`/`CONNECTIONS`) holds the
//! ids of all their open sockets in one string set, changed only by atomic `ADD`/`DELETE`. A
//! fan-out reads the members' connections items (one BatchGetItem per 100 members, in parallel),
//! so every socket of every member gets every frame of the conversation, from `$connect` on,
//! with nothing to register per conversation.
//!
//! Versions before this one registered sockets per conversation (`CONV#<cid>`/`CONN#<id>` and
//! `CONN#<id>`/`SUB#<cid>`): nothing reads those any more; disconnect still deletes them.

use super::conversations::Conversation;
use super::items::{ConnectionItem, ConversationItem, Entity, RosterItem, SubscriptionItem, UserConnectionsItem};
use super::{
    Item, Store, StoreError, StoreResult, Transact, entity_type, from_item, key_item, keys, s, sort_key, to_item,
};
use crate::domain::{ConnectionId, ConversationId, UserId};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use std::collections::HashMap;

/// API Gateway closes every socket after 2 hours; keep items a little longer.
pub const CONNECTION_TTL_SECONDS: i64 = 2 * 60 * 60 + 10 * 60;

/// One open socket of one user: where a fan-out posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub user_id: UserId,
    pub connection_id: ConnectionId,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[derive(Clone, Copy)]
enum SetOp {
    Add,
    Delete,
}

/// The update that adds or removes one id in a user's connections (a string set: `ADD` and
/// `DELETE` are atomic and idempotent, so concurrent connects and disconnects never lose one).
struct ConnectionsChange {
    key: Item,
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl ConnectionsChange {
    fn new(user: UserId, connection_id: &ConnectionId, op: SetOp) -> StoreResult<Self> {
        let op = match op {
            SetOp::Add => "ADD",
            SetOp::Delete => "DELETE",
        };
        Ok(Self {
            key: key_item(&keys::user_connections(user))?,
            expression: format!("SET #type = :type, user_id = :user {op} connection_ids :ids"),
            names: [("#type".to_string(), super::items::ENTITY_TYPE.to_string())].into(),
            values: [
                (":type".to_string(), s(UserConnectionsItem::TYPE)),
                (":user".to_string(), s(user.to_string())),
                (":ids".to_string(), AttributeValue::Ss(vec![connection_id.to_string()])),
            ]
            .into(),
        })
    }
}

impl Store {
    /// Records a new connection of `user`: its item, and its id in the user's connections, in
    /// one transaction that also requires the user to exist (a validly signed token for nobody
    /// opens nothing).
    pub async fn open_connection(&self, connection_id: &ConnectionId, user: UserId) -> StoreResult<ConnectionItem> {
        let connection = ConnectionItem {
            key: keys::connection(connection_id),
            connection_id: connection_id.clone(),
            user_id: user,
            connected_at: crate::views::now_timestamp(),
            expires_at: now() + CONNECTION_TTL_SECONDS,
        };
        let actions = vec![
            self.must_exist(&keys::user(user))?,
            self.put(to_item(&connection)?, None)?,
            self.user_connections_update(user, connection_id, SetOp::Add)?,
        ];
        match self.transact("open connection", actions).await? {
            Transact::Committed => Ok(connection),
            Transact::ConditionFailed(failed) if failed == [0] => Err(StoreError::NoSuchUser),
            Transact::ConditionFailed(_) => Err(StoreError::internal("open connection: unexpected condition failure")),
        }
    }

    /// `ADD` or `DELETE` one id in a user's connections, inside a transaction.
    fn user_connections_update(
        &self,
        user: UserId,
        connection_id: &ConnectionId,
        op: SetOp,
    ) -> StoreResult<TransactWriteItem> {
        let change = ConnectionsChange::new(user, connection_id, op)?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(change.key))
            .update_expression(change.expression)
            .set_expression_attribute_names(Some(change.names))
            .set_expression_attribute_values(Some(change.values))
            .build()
            .map_err(StoreError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub async fn connection(&self, connection_id: &ConnectionId) -> StoreResult<Option<ConnectionItem>> {
        let found: Option<ConnectionItem> = self.get("get connection", &keys::connection(connection_id)).await?;
        // TTL deletion lags by up to days: an expired item is a closed connection.
        Ok(found.filter(|c| c.expires_at > now()))
    }

    /// A connection and a conversation (with its roster), in one round trip.
    pub async fn connection_and_conversation(
        &self,
        connection_id: &ConnectionId,
        conversation: ConversationId,
    ) -> StoreResult<(Option<ConnectionItem>, Option<Conversation>)> {
        let wanted = [keys::connection(connection_id), keys::conversation(conversation), keys::roster(conversation)];
        let wanted = wanted.iter().map(key_item).collect::<Result<_, _>>()?;
        let (mut connection, mut meta, mut roster) = (None, None, None);
        for item in self.batch_get("get connection and conversation", wanted).await? {
            // Told apart by sort key: items written before types were recorded have none.
            match sort_key(&item) {
                Some(keys::CONNECTION_SK) => connection = Some(from_item::<ConnectionItem>(item)?),
                Some(keys::ROSTER_SK) => roster = Some(from_item::<RosterItem>(item)?),
                _ => meta = Some(from_item::<ConversationItem>(item)?),
            }
        }
        let conversation = meta.map(|item| Conversation { item, roster });
        Ok((connection.filter(|c| c.expires_at > now()), conversation))
    }

    /// The open connections of `users`: their connections items, strongly consistent (a socket
    /// gets every frame from its `$connect` on), one BatchGetItem per 100 users, in parallel.
    pub async fn listeners(&self, users: impl IntoIterator<Item = UserId>) -> StoreResult<Vec<Listener>> {
        let keys: Vec<Item> =
            users.into_iter().map(|u| key_item(&keys::user_connections(u))).collect::<Result<_, _>>()?;
        let mut listeners = Vec::new();
        for item in self.batch_get_all("list connections", keys).await? {
            let item: UserConnectionsItem = from_item(item)?;
            let user_id = item.user_id;
            listeners.extend(item.connection_ids.into_iter().map(|connection_id| Listener { user_id, connection_id }));
        }
        Ok(listeners)
    }

    /// Removes a connection: its item, its id in its owner's connections, and what older
    /// versions registered for it. Idempotent: also used for connections found gone while
    /// posting, whose item may have expired already (`owner` then says whose it was).
    pub async fn close_connection(&self, connection_id: &ConnectionId, owner: Option<UserId>) -> StoreResult<()> {
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
        let mut owner = owner;
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
            if entity_type(&item) == Some(ConnectionItem::TYPE) {
                owner = Some(from_item::<ConnectionItem>(item)?.user_id);
            } else if subscription {
                let subscription: SubscriptionItem = from_item(item)?;
                doomed.push(keys::subscription(connection_id, subscription.conversation_id));
                doomed.push(keys::subscriber(subscription.conversation_id, connection_id));
            }
        }
        let keys: Vec<Item> = doomed.iter().map(key_item).collect::<Result<_, _>>()?;
        let forget = async {
            let Some(user) = owner else { return Ok(()) };
            let change = ConnectionsChange::new(user, connection_id, SetOp::Delete)?;
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(change.key))
                .update_expression(change.expression)
                .set_expression_attribute_names(Some(change.names))
                .set_expression_attribute_values(Some(change.values))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| StoreError::sdk("forget connection", e))
        };
        futures::future::try_join(self.delete_all("delete connection items", keys), forget).await.map(|_| ())
    }
}
