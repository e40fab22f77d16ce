//! The on-failure destination of a stream mapping (`DestinationConfig.OnFailure`): a batch
//! given up on is recorded as Lambda sends it to SQS, one JSON line per batch in
//! `<folder>/<destination>.jsonl`, and logged.

use super::records;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The record is built by hand: `aws_lambda_events` types the SQS message, not this body.
pub struct OnFailure {
    path: PathBuf,
}

impl OnFailure {
    /// The destination named `name` (the resource `DestinationConfig` names), under `folder`.
    pub fn new(folder: &Path, name: &str) -> Self {
        Self { path: folder.join(format!("{name}.jsonl")) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What was invoked, why it stopped, and where in the stream the records are (not the
    /// records themselves: they stay in the stream for 24 hours). `name` is the mapping's, for
    /// the log line.
    pub fn record(
        &self,
        name: &str,
        function_arn: &str,
        stream_arn: &str,
        batch: &[Value],
        condition: &str,
        invocations: u32,
    ) {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else { return };
        let path = &self.path;
        let arrival = |r: &Value| {
            let at = r["dynamodb"]["ApproximateCreationDateTime"].as_i64().unwrap_or_default();
            chrono::DateTime::from_timestamp(at, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let message = json!({
            "requestContext": {
                "requestId": uuid::Uuid::new_v4().to_string(),
                "functionArn": function_arn,
                "condition": condition,
                "approximateInvokeCount": invocations,
            },
            "version": "1.0",
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "DDBStreamBatchInfo": {
                "startSequenceNumber": records::sequence_number(first),
                "endSequenceNumber": records::sequence_number(last),
                "approximateArrivalOfFirstRecord": arrival(first),
                "approximateArrivalOfLastRecord": arrival(last),
                "batchSize": batch.len(),
                "streamArn": stream_arn,
            },
        });
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, format!("{message}\n").as_bytes()));
        match written {
            Ok(()) => println!("{name}: {} record(s) → on-failure destination {}", batch.len(), path.display()),
            Err(e) => println!("{name}: could not record the batch given up on in {}: {e}", path.display()),
        }
    }
}
