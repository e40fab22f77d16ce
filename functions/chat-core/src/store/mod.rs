//! DynamoDB access. Every operation is a GetItem, BatchGetItem, Query or transaction on keys
//! from [`keys`]; nothing here scans.

pub mod connections;
pub mod conversations;
mod delivery;
pub mod items;
pub mod keys;
pub mod messages;
pub mod replies;
pub mod users;

use crate::error::ApiError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::time::Duration;

pub type Item = HashMap<String, AttributeValue>;

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

pub(crate) fn to_item<T: Serialize>(value: &T) -> Result<Item, ApiError> {
    serde_dynamo::to_item(value).map_err(|e| ApiError::internal(format!("serialize item: {e}")))
}

pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, ApiError> {
    serde_dynamo::from_item(item).map_err(|e| ApiError::internal(format!("corrupt item: {e}")))
}

pub(crate) fn to_value<T: Serialize>(value: &T) -> Result<AttributeValue, ApiError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| ApiError::internal(format!("serialize value: {e}")))
}

pub(crate) fn key_item(key: &keys::Key) -> Result<Item, ApiError> {
    to_item(key)
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// Throttling and outages are 503 (the client may retry); anything else is a 500.
pub(crate) fn sdk_error<E, R>(op: &str, err: SdkError<E, R>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let unavailable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ServiceError(service) => matches!(
            service.err().code(),
            Some(
                "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "LimitExceededException"
            )
        ),
        _ => false,
    };
    let detail = format!("{op}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&err));
    if unavailable { ApiError::Unavailable(detail) } else { ApiError::Internal(detail) }
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
    pub(crate) async fn transact(&self, op: &str, actions: Vec<TransactWriteItem>) -> Result<Transact, ApiError> {
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
            let Some(reasons) = reasons else { return Err(sdk_error(op, err)) };
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
                return Err(sdk_error(op, err));
            }
            let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 20;
            tokio::time::sleep(Duration::from_millis(10 * 2u64.pow(attempt) + jitter)).await;
        }
        unreachable!("the loop returns on its last attempt")
    }

    pub(crate) fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, ApiError> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A condition on another item inside a transaction: it must exist (e.g. "this user is
    /// real"), or the whole transaction stores nothing.
    pub(crate) fn must_exist(&self, key: &keys::Key) -> Result<TransactWriteItem, ApiError> {
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(key)?))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Reads two items of different kinds in one BatchGetItem (strongly consistent).
    pub(crate) async fn get_two<A: DeserializeOwned, B: DeserializeOwned>(
        &self,
        op: &str,
        a: &keys::Key,
        b: &keys::Key,
    ) -> Result<(Option<A>, Option<B>), ApiError> {
        let wanted = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
            .keys(key_item(a)?)
            .keys(key_item(b)?)
            .consistent_read(true)
            .build()
            .map_err(ApiError::internal)?;
        let mut request: HashMap<_, _> = [(self.table.clone(), wanted)].into();
        let (mut found_a, mut found_b) = (None, None);
        // BatchGetItem may hand back keys unprocessed under load; ask again for just those.
        for attempt in 0..5u32 {
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(|e| sdk_error(op, e))?;
            for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                let key: keys::Key = from_item(item.clone())?;
                if key == *a {
                    found_a = Some(from_item(item)?);
                } else if key == *b {
                    found_b = Some(from_item(item)?);
                }
            }
            match out.unprocessed_keys.filter(|k| !k.is_empty()) {
                Some(rest) => request = rest,
                None => return Ok((found_a, found_b)),
            }
            tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
        }
        Err(ApiError::Unavailable(format!("{op}: keys left unprocessed")))
    }

    /// One page of a GSI1 partition, asking for `limit + 1` items: the extra one only proves
    /// that another page exists, so `Link` never points at an empty page. Returns the items
    /// and whether DynamoDB stopped early (`LastEvaluatedKey`).
    pub(crate) async fn query_index<T: DeserializeOwned>(
        &self,
        op: &str,
        partition: String,
        after: Option<keys::IndexKey>,
        limit: usize,
        newest_first: bool,
    ) -> Result<(Vec<T>, bool), ApiError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(partition))
            .scan_index_forward(!newest_first)
            .set_exclusive_start_key(after.as_ref().map(to_item).transpose()?)
            .limit(limit as i32 + 1)
            .send()
            .await
            .map_err(|e| sdk_error(op, e))?;
        let truncated = out.last_evaluated_key.is_some();
        let items = out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((items, truncated))
    }

    /// Reads one item, strongly consistent: callers act on what they read.
    pub(crate) async fn get<T: DeserializeOwned>(&self, op: &str, key: &keys::Key) -> Result<Option<T>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)?))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(op, e))?;
        out.item.map(from_item).transpose()
    }
}

/// An opaque page cursor: base64url of a small JSON value. Anything that does not decode to
/// the expected shape is a 400, never a 500.
pub mod cursor {
    use crate::error::ApiError;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    pub fn encode<T: Serialize>(value: &T) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("cursor serializes"))
    }

    pub fn decode<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
        URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| ApiError::bad_request("cursor is invalid"))
    }
}
