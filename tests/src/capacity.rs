//! Measures DynamoDB capacity units: an SDK interceptor asks every call for its consumed capacity
//! (`ReturnConsumedCapacity = INDEXES`) and adds up what the server reports, table and indexes.
//! The local DynamoDB (dynoxide) charges by DynamoDB's documented sizing rules, larger of the old
//! and new image included; `tests/api/capacity.rs` holds it to those rules on items whose size is
//! computed by hand, so the figures in `docs/benchmarks/capacity.md` are what AWS would bill.
//! A write refused by its condition is charged by DynamoDB too, but its error carries no figure:
//! refusals are not measured.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput};
use aws_sdk_dynamodb::operation::delete_item::{DeleteItemInput, DeleteItemOutput};
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_get_items::{TransactGetItemsInput, TransactGetItemsOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use std::sync::{Arc, Mutex};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Read and write units, table and indexes together.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
}

/// The units consumed through one client, shared by its clones.
#[derive(Debug, Clone, Default)]
pub struct CapacityMeter(Arc<Mutex<Units>>);

impl CapacityMeter {
    /// What was consumed since the last call, and starts counting afresh.
    pub fn take(&self) -> Units {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// `CapacityUnits` is each figure's total (table and indexes); the operation says whether
    /// it was read or written (not every server fills in the split).
    fn add(&self, consumed: &[ConsumedCapacity], read: bool) {
        let total: f64 = consumed.iter().filter_map(|c| c.capacity_units).sum();
        let mut units = self.0.lock().unwrap();
        if read { units.read += total } else { units.write += total }
    }
}

/// Sets `ReturnConsumedCapacity` on each operation the product uses.
macro_rules! ask_for_capacity {
    ($input:expr, $($kind:ty),*) => {
        $(if let Some(input) = $input.downcast_mut::<$kind>() {
            input.return_consumed_capacity = Some(ReturnConsumedCapacity::Indexes);
        })*
    };
}

/// Adds up what each kind of output reports (one figure, or one per table for batches).
macro_rules! read_capacity {
    ($meter:expr, $output:expr, $($kind:ty => $read:literal, $shape:ident);* $(;)?) => {
        $(if let Some(output) = $output.downcast_ref::<$kind>() {
            $meter.add(read_capacity!(@$shape output), $read);
        })*
    };
    (@one $output:ident) => { $output.consumed_capacity.as_slice() };
    (@many $output:ident) => { $output.consumed_capacity.as_deref().unwrap_or_default() };
}

impl Intercept for CapacityMeter {
    fn name(&self) -> &'static str {
        "CapacityMeter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        ask_for_capacity!(
            input,
            GetItemInput,
            PutItemInput,
            UpdateItemInput,
            DeleteItemInput,
            QueryInput,
            BatchGetItemInput,
            BatchWriteItemInput,
            TransactGetItemsInput,
            TransactWriteItemsInput
        );
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(output) = context.output_or_error() {
            read_capacity!(
                self,
                output,
                GetItemOutput => true, one;
                QueryOutput => true, one;
                BatchGetItemOutput => true, many;
                TransactGetItemsOutput => true, many;
                PutItemOutput => false, one;
                UpdateItemOutput => false, one;
                DeleteItemOutput => false, one;
                BatchWriteItemOutput => false, many;
                TransactWriteItemsOutput => false, many;
            );
        }
        Ok(())
    }
}
