//! Lambda's event source mapping for a DynamoDB stream: polls the stream (DescribeStream for
//! shards, GetShardIterator, GetRecords every ~100 ms), drops records the `FilterCriteria`
//! reject, batches the rest (`BatchSize`) per partition-key lane (`ParallelizationFactor`: one
//! batch in flight per lane, so one key's records stay in order) and invokes the function with
//! Lambda's `{"Records": [...]}` event, retrying failed batches (`MaximumRetryAttempts`,
//! `BisectBatchOnFunctionError`, `ReportBatchItemFailures`).

use super::filter;
use super::on_failure::OnFailure;
use super::records as stream_records;
use super::sources::{StartingPosition, StreamSource};
use crate::error::{Error, Result};
use crate::lambda::Pool;
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::error::DisplayErrorContext;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How often the stream is described again to find new shards.
const DESCRIBE_INTERVAL: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One stream request's bounds: a DynamoDB that stops answering (a hung moto, a fault test)
/// fails that poll (logged once), and the next poll, 100 ms later, tries again, instead of
/// stalling the mapping for good.
/// Generous: a loaded machine can take seconds to answer a GetRecords.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(12);

pub fn client(endpoint: &str) -> Client {
    let timeouts = aws_sdk_dynamodbstreams::config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let config = crate::aws::local_sdk_config(endpoint);
    Client::from_conf(aws_sdk_dynamodbstreams::config::Builder::from(&config).timeout_config(timeouts).build())
}

/// Where reading a shard continues.
enum Position {
    /// The shard's start, with a fresh iterator every poll.
    TrimHorizon,
    /// `LATEST` as of the start: its iterator chain, until the first record is seen.
    Iterator(String),
    /// After the last record seen, with a fresh iterator every poll: stock moto (which
    /// `DYNAMODB_ENDPOINT` may be; infra/local/moto_server.py is patched) replaces a table's
    /// stream shard when it rolls back a cancelled transaction, so an old iterator chain would
    /// stop seeing new records (and could see the cancelled ones).
    After(String),
}

struct Mapping {
    source: StreamSource,
    stream_arn: String,
    /// The table's partition key attribute: lanes keep each key's records in order.
    hash_key: String,
    pool: Arc<Pool>,
    client: Client,
    /// `<folder>/<destination>.jsonl`: the on-failure destination, one line per batch given up.
    failures: Option<OnFailure>,
}

/// Starts the mapping: the shards' positions are taken before this returns, so nothing written
/// after start-up is missed. `fresh_table`: the table was just created, so its stream holds
/// nothing older than the mapping (and reading from its start is the same as `LATEST`).
pub async fn start(
    client: Client,
    source: StreamSource,
    stream_arn: String,
    hash_key: String,
    pool: Arc<Pool>,
    fresh_table: bool,
    failures_dir: &Path,
) -> Result<JoinHandle<()>> {
    let failures = source.on_failure.as_ref().map(|name| OnFailure::new(failures_dir, name));
    if let (Some(destination), Some(name)) = (&failures, &source.on_failure) {
        println!(
            "{}.{}: batches given up on go to the on-failure destination {name}: {}",
            source.function,
            source.event,
            destination.path().display()
        );
    }
    let mapping = Arc::new(Mapping { source, stream_arn, hash_key, pool, client, failures });
    let from_start = fresh_table || mapping.source.starting_position == StartingPosition::TrimHorizon;
    let mut shards = HashMap::new();
    for shard in mapping.shards().await? {
        let position = if from_start {
            Position::TrimHorizon
        } else {
            Position::Iterator(mapping.iterator(&shard, ShardIteratorType::Latest, None).await?)
        };
        shards.insert(shard, position);
    }
    Ok(tokio::spawn(mapping.poll(shards)))
}

impl Mapping {
    fn name(&self) -> String {
        format!("{}.{}", self.source.function, self.source.event)
    }

    async fn shards(&self) -> Result<Vec<String>> {
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let described = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .map_err(|e| {
                    Error::DynamoDb(format!("DescribeStream {}: {}", self.stream_arn, DisplayErrorContext(e)))
                })?;
            let description = described
                .stream_description
                .unwrap_or_else(|| aws_sdk_dynamodbstreams::types::StreamDescription::builder().build());
            shards.extend(description.shards.unwrap_or_default().into_iter().filter_map(|s| s.shard_id));
            start = description.last_evaluated_shard_id;
            if start.is_none() {
                return Ok(shards);
            }
        }
    }

    async fn iterator(&self, shard: &str, kind: ShardIteratorType, after: Option<&str>) -> Result<String> {
        self.client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(after.map(str::to_string))
            .send()
            .await
            .map_err(|e| Error::DynamoDb(format!("GetShardIterator: {}", DisplayErrorContext(e))))?
            .shard_iterator
            .ok_or_else(|| Error::DynamoDb("GetShardIterator returned no iterator".into()))
    }

    /// The records after `position` (moving it on); `true` when the shard is closed and done.
    async fn read(&self, shard: &str, position: &mut Position) -> Result<(Vec<Value>, bool)> {
        let iterator = match position {
            Position::Iterator(iterator) => iterator.clone(),
            Position::TrimHorizon => self.iterator(shard, ShardIteratorType::TrimHorizon, None).await?,
            Position::After(seq) => self.iterator(shard, ShardIteratorType::AfterSequenceNumber, Some(seq)).await?,
        };
        let read = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(1000)
            .send()
            .await
            .map_err(|e| Error::DynamoDb(format!("GetRecords: {}", DisplayErrorContext(e))))?;
        let records: Vec<Value> =
            read.records.unwrap_or_default().iter().map(|r| stream_records::to_lambda(r, &self.stream_arn)).collect();
        if let Some(last) = records.last() {
            *position = Position::After(stream_records::sequence_number(last).to_string());
        } else if let (Position::Iterator(_), Some(next)) = (&*position, &read.next_shard_iterator) {
            *position = Position::Iterator(next.clone());
        }
        Ok((records, read.next_shard_iterator.is_none()))
    }

    async fn poll(self: Arc<Self>, mut shards: HashMap<String, Position>) {
        let mut lanes: HashMap<(String, usize), mpsc::UnboundedSender<Value>> = HashMap::new();
        let mut described = Instant::now();
        let mut last_error: Option<Error> = None;
        // Closed shards stay listed for a day: never read them again.
        let mut done: HashSet<String> = HashSet::new();
        loop {
            let mut busy = false;
            let mut finished = Vec::new();
            for (shard, position) in shards.iter_mut() {
                match self.read(shard, position).await {
                    Ok((records, closed)) => {
                        last_error = None;
                        busy |= !records.is_empty();
                        for record in records {
                            self.dispatch(shard, record, &mut lanes);
                        }
                        if closed {
                            finished.push(shard.clone());
                        }
                    }
                    // Said once, not every 100 ms, until it recovers.
                    Err(e) if last_error.as_ref() != Some(&e) => {
                        println!("{}: {e} (retrying)", self.name());
                        last_error = Some(e);
                    }
                    Err(_) => {}
                }
            }
            for shard in finished {
                shards.remove(&shard);
                done.insert(shard);
            }
            if described.elapsed() >= DESCRIBE_INTERVAL {
                described = Instant::now();
                // Shards that appear later (DynamoDB splits and rolls them) are read from their start.
                for shard in self.shards().await.unwrap_or_default() {
                    if !done.contains(&shard) {
                        shards.entry(shard).or_insert(Position::TrimHorizon);
                    }
                }
            }
            if !busy {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
    }

    fn dispatch(
        self: &Arc<Self>,
        shard: &str,
        record: Value,
        lanes: &mut HashMap<(String, usize), mpsc::UnboundedSender<Value>>,
    ) {
        if !filter::passes(&self.source.filters, &record) {
            return;
        }
        let mut hasher = DefaultHasher::new();
        record["dynamodb"]["Keys"][&self.hash_key].to_string().hash(&mut hasher);
        let lane = (hasher.finish() % self.source.parallelization as u64) as usize;
        let sender = lanes.entry((shard.to_string(), lane)).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(self.clone().lane(rx));
            tx
        });
        let _ = sender.send(record);
    }

    /// One batch at a time: what has queued up within the batching window, at most `BatchSize`.
    async fn lane(self: Arc<Self>, mut queue: mpsc::UnboundedReceiver<Value>) {
        while let Some(first) = queue.recv().await {
            let window_ends = tokio::time::Instant::now() + self.source.batching_window;
            let mut batch = vec![first];
            while batch.len() < self.source.batch_size {
                match queue.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) if self.source.batching_window.is_zero() => break,
                    Err(_) => match tokio::time::timeout_at(window_ends, queue.recv()).await {
                        Ok(Some(record)) => batch.push(record),
                        _ => break,
                    },
                }
            }
            self.deliver(batch).await;
        }
    }

    /// Drops the records older than `MaximumRecordAgeInSeconds` (as Lambda does, retrying or not).
    fn unexpired(&self, batch: Vec<Value>) -> Vec<Value> {
        let Some(max_age) = self.source.max_record_age else { return batch };
        let now = chrono::Utc::now().timestamp();
        let (fresh, expired): (Vec<Value>, Vec<Value>) = batch.into_iter().partition(|r| {
            let created = r["dynamodb"]["ApproximateCreationDateTime"].as_i64().unwrap_or(now);
            now - created <= max_age.as_secs() as i64
        });
        if !expired.is_empty() {
            println!("{}: discarding {} record(s) older than {} s", self.name(), expired.len(), max_age.as_secs());
            self.give_up(&expired, "RecordAgeExceeded", 0);
        }
        fresh
    }

    /// Invokes until the batch succeeds or its retries run out. A reported item failure
    /// retries from that record on; a function error retries the batch, halved first when
    /// bisecting (a split does not count as a retry, as on Lambda).
    async fn deliver(&self, batch: Vec<Value>) {
        let mut queue = VecDeque::from([(batch, 0u32)]);
        while let Some((batch, retries)) = queue.pop_front() {
            let batch = self.unexpired(batch);
            if batch.is_empty() {
                continue;
            }
            let started = Instant::now();
            let event = Bytes::from(json!({"Records": batch}).to_string());
            let outcome = self.pool.invoke(event).await;
            let ms = started.elapsed().as_millis();
            let function = &self.pool.spec().binary;
            let count = batch.len();
            let (retry, why) = match outcome {
                Ok(invoked) => match self.first_failure(&batch, &invoked.payload) {
                    None => {
                        println!("{}: {count} record(s) → {function} ok {ms} ms", self.name());
                        continue;
                    }
                    Some(at) => (batch[at..].to_vec(), format!("{} record(s) reported failed", count - at)),
                },
                Err(failure) if self.source.bisect && count > 1 => {
                    println!("{}: {count} record(s) → {function} failed ({failure}) {ms} ms; bisecting", self.name());
                    let mut first = batch;
                    let second = first.split_off(count / 2);
                    queue.push_front((second, retries));
                    queue.push_front((first, retries));
                    continue;
                }
                Err(failure) => (batch, failure.to_string()),
            };
            if self.source.max_retries.is_some_and(|max| retries >= max) {
                println!(
                    "{}: {count} record(s) → {function} failed ({why}) {ms} ms; discarding {} record(s) after {retries} retries",
                    self.name(),
                    retry.len()
                );
                self.give_up(&retry, "RetryAttemptsExhausted", retries + 1);
                continue;
            }
            let backoff = FIRST_BACKOFF.saturating_mul(1 << retries.min(8)).min(MAX_BACKOFF);
            println!(
                "{}: {count} record(s) → {function} failed ({why}) {ms} ms; retry {} in {} ms",
                self.name(),
                retries + 1,
                backoff.as_millis()
            );
            tokio::time::sleep(backoff).await;
            queue.push_front((retry, retries + 1));
        }
    }

    /// Records a batch given up on in the on-failure destination, if the mapping has one.
    fn give_up(&self, records: &[Value], condition: &str, invocations: u32) {
        if let Some(destination) = &self.failures {
            destination.record(&self.name(), &self.pool.spec().arn, &self.stream_arn, records, condition, invocations);
        }
    }

    /// With `ReportBatchItemFailures`: the index of the first record to retry (the earliest
    /// failed one), `Some(0)` for the whole batch (a failure with no or an unknown id).
    fn first_failure(&self, batch: &[Value], payload: &[u8]) -> Option<usize> {
        if !self.source.report_failures {
            return None;
        }
        let response: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        let failures = response.get("batchItemFailures").and_then(Value::as_array)?;
        failures
            .iter()
            .map(|failure| {
                let id = failure.get("itemIdentifier").and_then(Value::as_str).unwrap_or_default();
                // An empty or unknown id fails the whole batch, as on Lambda.
                batch.iter().position(|r| !id.is_empty() && stream_records::sequence_number(r) == id).unwrap_or(0)
            })
            .min()
    }
}
