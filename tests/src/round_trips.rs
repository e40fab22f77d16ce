//! Counts DynamoDB round trips: an SDK interceptor records every call (operation, start, end)
//! so tests can assert each endpoint's documented budget (docs/data-model.md).

use aws_sdk_dynamodb::config::interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::sync::{Arc, Mutex};
use std::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone)]
pub struct Call {
    pub operation: String,
    start: Instant,
    end: Option<Instant>,
}

/// The calls made through one client, shared by its clones.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

#[derive(Debug, Clone, Copy)]
struct CallIndex(usize);

impl Storable for CallIndex {
    type Storer = StoreReplace<Self>;
}

impl CallLog {
    /// Forgets everything recorded so far (e.g. the calls that set a test up).
    pub fn reset(&self) {
        self.0.lock().unwrap().clear();
    }

    /// The operations, in the order they started.
    pub fn operations(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|c| c.operation.clone()).collect()
    }

    /// The longest chain of calls each starting after the previous one ended: the number of
    /// round trips a request waits for one after another (calls made in parallel count once).
    pub fn sequential(&self) -> usize {
        let calls = self.0.lock().unwrap().clone();
        let mut depth = vec![1usize; calls.len()];
        for j in 0..calls.len() {
            for i in 0..j {
                if calls[i].end.is_some_and(|end| end <= calls[j].start) {
                    depth[j] = depth[j].max(depth[i] + 1);
                }
            }
        }
        depth.into_iter().max().unwrap_or(0)
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    // Once per attempt: a retried call is another round trip.
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context.request().headers().get("x-amz-target").unwrap_or("unknown");
        let operation = target.rsplit('.').next().unwrap_or(target).to_string();
        let mut calls = self.0.lock().unwrap();
        calls.push(Call { operation, start: Instant::now(), end: None });
        cfg.interceptor_state().store_put(CallIndex(calls.len() - 1));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(CallIndex(i)) = cfg.load::<CallIndex>().copied()
            && let Some(call) = self.0.lock().unwrap().get_mut(i)
        {
            call.end = Some(Instant::now());
        }
        Ok(())
    }
}
