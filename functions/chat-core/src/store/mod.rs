//! DynamoDB access. Every operation is a GetItem, BatchGetItem, Query or transaction on keys
//! from [`keys`]; nothing here scans.

pub mod connections;
pub mod conversations;
mod delivery;
pub mod error;
pub mod inbox;
pub mod items;
pub mod keys;
pub mod members;
pub mod messages;
pub mod reads;
pub mod replies;
pub mod users;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, TransactWriteItem, WriteRequest,
};
pub use error::{Missing, StoreError, StoreResult};
use items::{ENTITY_TYPE, Entity};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::time::Duration;

pub type Item = HashMap<String, AttributeValue>;

/// BatchGetItem takes at most 100 keys.
pub(crate) const BATCH_GET_KEYS: usize = 100;

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// An item to write: its fields (key included) and its entity type.
pub(crate) fn to_item<T: Entity>(value: &T) -> StoreResult<Item> {
    let mut item = encode(value)?;
    item.insert(ENTITY_TYPE.into(), s(T::TYPE));
    Ok(item)
}

/// A stored item, read as `T`; an item recorded as another entity type is corrupt, not a `T`.
pub(crate) fn from_item<T: Entity>(item: Item) -> StoreResult<T> {
    match entity_type(&item) {
        Some(found) if found != T::TYPE => {
            Err(StoreError::internal(format!("corrupt item: a {found} where a {} was expected", T::TYPE)))
        }
        _ => decode(item),
    }
}

/// The entity type an item was written with (items written before types were recorded have none).
pub(crate) fn entity_type(item: &Item) -> Option<&str> {
    item.get(ENTITY_TYPE).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// An item's sort key.
pub(crate) fn sort_key(item: &Item) -> Option<&str> {
    item.get(keys::SK).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn encode<T: Serialize>(value: &T) -> StoreResult<Item> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::internal(format!("serialize item: {e}")))
}

fn decode<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::internal(format!("corrupt item: {e}")))
}

pub(crate) fn to_value<T: Serialize>(value: &T) -> StoreResult<AttributeValue> {
    serde_dynamo::to_attribute_value(value).map_err(|e| StoreError::internal(format!("serialize value: {e}")))
}

pub(crate) fn key_item(key: &keys::Key) -> StoreResult<Item> {
    encode(key)
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// One page of a listing, as read: items in order, and whether more remain after the last.
/// The edge may end a page early: [`Listed::cursor_after`] resumes after any item.
pub struct Listed<T> {
    pub items: Vec<T>,
    pub more: bool,
    cursor_of: fn(&T) -> String,
}

impl<T> Listed<T> {
    pub fn new(items: Vec<T>, more: bool, cursor_of: fn(&T) -> String) -> Self {
        Self { items, more, cursor_of }
    }

    /// The opaque cursor of the page that starts right after `item`.
    pub fn cursor_after(&self, item: &T) -> String {
        (self.cursor_of)(item)
    }
}

/// Outcome of a transaction whose conditions may legitimately fail.
pub(crate) enum Transact {
    Committed,
    /// Indexes of the actions whose condition failed.
    ConditionFailed(Vec<usize>),
}

impl Store {
    /// Runs a transaction, retrying (with jittered backoff) only when DynamoDB cancels it for a
    /// conflict with another transaction on the same items; conditions are reported, not retried.
    pub(crate) async fn transact(&self, op: &str, actions: Vec<TransactWriteItem>) -> StoreResult<Transact> {
        const ATTEMPTS: u32 = 6;
        for attempt in 1..=ATTEMPTS {
            let result = self.client.transact_write_items().set_transact_items(Some(actions.clone())).send().await;
            let err = match result {
                Ok(_) => return Ok(Transact::Committed),
                Err(err) => err,
            };
            let reasons: Option<Vec<Option<String>>> = match &err {
                SdkError::ServiceError(service) => match service.err() {
                    TransactWriteItemsError::TransactionCanceledException(cancel) => {
                        Some(cancel.cancellation_reasons().iter().map(|r| r.code().map(str::to_string)).collect())
                    }
                    _ => None,
                },
                _ => None,
            };
            let Some(reasons) = reasons else { return Err(StoreError::sdk(op, err)) };
            let failed: Vec<usize> = reasons
                .iter()
                .enumerate()
                .filter(|(_, code)| code.as_deref() == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i)
                .collect();
            if !failed.is_empty() {
                return Ok(Transact::ConditionFailed(failed));
            }
            let conflict = reasons.iter().any(|code| {
                matches!(
                    code.as_deref(),
                    Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
                )
            });
            if !conflict || attempt == ATTEMPTS {
                return Err(StoreError::sdk(op, err));
            }
            let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 20;
            tokio::time::sleep(Duration::from_millis(10 * 2u64.pow(attempt) + jitter)).await;
        }
        unreachable!("the loop returns on its last attempt")
    }

    pub(crate) fn put(&self, item: Item, condition: Option<&str>) -> StoreResult<TransactWriteItem> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .build()
            .map_err(StoreError::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A condition on another item inside a transaction: it must exist (e.g. "this user is
    /// real"), or the whole transaction stores nothing.
    pub(crate) fn must_exist(&self, key: &keys::Key) -> StoreResult<TransactWriteItem> {
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(key)?))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(StoreError::internal)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Reads up to 100 items in one BatchGetItem (strongly consistent), asking again for the
    /// keys DynamoDB hands back unprocessed under load. The items come in no particular order.
    pub(crate) async fn batch_get(&self, op: &str, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let wanted = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(StoreError::internal)?;
        let mut request: HashMap<_, _> = [(self.table.clone(), wanted)].into();
        let mut found = Vec::new();
        // Under load DynamoDB hands keys back unprocessed: ask again, backing off (~2.5 s in all).
        for attempt in 0..8u32 {
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(|e| StoreError::sdk(op, e))?;
            found.extend(out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
            match out.unprocessed_keys.filter(|k| !k.is_empty()) {
                Some(rest) => request = rest,
                None => return Ok(found),
            }
            tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
        }
        Err(StoreError::Unavailable(format!("{op}: keys left unprocessed")))
    }

    /// Reads any number of items: BatchGetItems of 100 keys, in parallel (one round trip).
    pub(crate) async fn batch_get_all(&self, op: &str, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let batches = keys.chunks(BATCH_GET_KEYS).map(|chunk| self.batch_get(op, chunk.to_vec()));
        Ok(futures::future::try_join_all(batches).await?.into_iter().flatten().collect())
    }

    /// Puts items unconditionally: BatchWriteItems of 25, in parallel.
    pub(crate) async fn put_all(&self, op: &str, items: Vec<Item>) -> StoreResult<()> {
        let requests = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item)).build().map_err(StoreError::internal)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.write_all(op, requests).await
    }

    /// Deletes items by key: BatchWriteItems of 25, in parallel.
    pub(crate) async fn delete_all(&self, op: &str, keys: Vec<Item>) -> StoreResult<()> {
        let requests = keys
            .into_iter()
            .map(|key| {
                let delete = DeleteRequest::builder().set_key(Some(key)).build().map_err(StoreError::internal)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.write_all(op, requests).await
    }

    /// BatchWriteItem in chunks of 25, in parallel, resending what DynamoDB leaves unprocessed.
    async fn write_all(&self, op: &str, requests: Vec<WriteRequest>) -> StoreResult<()> {
        let batches = requests.chunks(25).map(|chunk| async move {
            let mut requests = chunk.to_vec();
            for attempt in 0..5u32 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| StoreError::sdk(op, e))?;
                requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
            Err(StoreError::Unavailable(format!("{op}: items left unprocessed")))
        });
        futures::future::try_join_all(batches).await.map(|_| ())
    }

    /// One page of a GSI1 partition, asking for `limit + 1` items: the extra one only proves
    /// that another page exists, so a next page is never empty. DynamoDB stopping early (a
    /// `LastEvaluatedKey`, e.g. at its 1 MB cap) also means more remain.
    pub(crate) async fn query_index<T: Entity>(
        &self,
        op: &str,
        partition: String,
        after: Option<keys::IndexKey>,
        limit: usize,
        newest_first: bool,
        cursor_of: fn(&T) -> String,
    ) -> StoreResult<Listed<T>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(partition))
            .scan_index_forward(!newest_first)
            .set_exclusive_start_key(after.as_ref().map(encode).transpose()?)
            .limit(limit as i32 + 1)
            .send()
            .await
            .map_err(|e| StoreError::sdk(op, e))?;
        let truncated = out.last_evaluated_key.is_some();
        let mut items: Vec<T> = out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
        let more = items.len() > limit || (truncated && !items.is_empty());
        items.truncate(limit);
        Ok(Listed::new(items, more, cursor_of))
    }

    /// Reads one item, strongly consistent: callers act on what they read.
    pub(crate) async fn get<T: Entity>(&self, op: &str, key: &keys::Key) -> StoreResult<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)?))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk(op, e))?;
        out.item.map(from_item).transpose()
    }
}

/// An opaque page cursor: base64url of a small JSON value. Anything that does not decode to
/// the expected shape is [`StoreError::InvalidCursor`] (a 400), never a 500.
pub mod cursor {
    use super::StoreError;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    pub fn encode<T: Serialize>(value: &T) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("cursor serializes"))
    }

    pub fn decode<T: DeserializeOwned>(raw: &str) -> Result<T, StoreError> {
        URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(StoreError::InvalidCursor)
    }
}
