//! Delivery leases, shared by the two records that say whether something stored reached the
//! sockets: a message's idempotency claim and an AI reply's claim. The attempt that stored the
//! thing holds its delivery for [`DELIVERY_LEASE_MS`]; once that lapses undelivered, a retry
//! (or a redelivery of the trigger) takes it over with a conditional write, so exactly one
//! attempt pushes, and records `delivered` when the push went out.

use super::messages::{DELIVERY_LEASE_MS, now_ms};
use super::{Store, StoreError, StoreResult, key_item, keys};
use aws_sdk_dynamodb::types::AttributeValue;

impl Store {
    /// `true` when this attempt now holds the delivery of `key`'s record: it exists, is not
    /// delivered, and its lease lapsed. (A reply claim is read as `done` before this is asked:
    /// `done` is final, so the condition need not repeat it.)
    pub(crate) async fn take_delivery_lease(&self, op: &str, key: &keys::Key) -> StoreResult<bool> {
        let now = now_ms();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)?))
            .update_expression("SET delivery_lease_ms = :until")
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(delivered) OR delivered = :no) AND \
                 (attribute_not_exists(delivery_lease_ms) OR delivery_lease_ms < :now)",
            )
            .expression_attribute_values(":until", AttributeValue::N((now + DELIVERY_LEASE_MS).to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(StoreError::sdk(op, err)),
        }
    }

    /// Records that `key`'s stored thing reached the sockets.
    pub(crate) async fn mark_delivered_at(&self, op: &str, key: &keys::Key) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)?))
            .update_expression("SET delivered = :yes")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| StoreError::sdk(op, err))
    }
}
