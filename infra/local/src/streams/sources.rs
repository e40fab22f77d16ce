//! The functions' `Type: DynamoDB` events: Lambda event source mappings on the table's stream,
//! with their batching, retry and filter settings, as the template declares them.

use crate::error::{Error, Result};
use crate::template::{LocalValues, Template, get_att};
use serde_json::Value as Json;
use serde_yaml_ng::Value;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    Latest,
    TrimHorizon,
}

#[derive(Debug, Clone)]
pub struct StreamSource {
    /// The function's logical id, and the event's name (for logs).
    pub function: String,
    pub event: String,
    /// The logical id of the table whose stream it reads.
    pub table: String,
    pub starting_position: StartingPosition,
    /// `BatchSize` (Lambda's default for DynamoDB: 100).
    pub batch_size: usize,
    /// `MaximumRetryAttempts`; `None` (Lambda's default, -1): until the record expires.
    pub max_retries: Option<u32>,
    /// `MaximumRecordAgeInSeconds`; `None` (-1): records never expire locally.
    pub max_record_age: Option<Duration>,
    /// `MaximumBatchingWindowInSeconds`: how long a batch waits to fill up.
    pub batching_window: Duration,
    /// `BisectBatchOnFunctionError`.
    pub bisect: bool,
    /// `ParallelizationFactor` (1 to 10): concurrent batches per shard, ordered per partition key.
    pub parallelization: usize,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_failures: bool,
    /// `DestinationConfig.OnFailure.Destination`'s resource (e.g. `AiReplyFailures`): where a
    /// batch given up on is recorded.
    pub on_failure: Option<String>,
    /// `FilterCriteria.Filters[].Pattern`, parsed.
    pub filters: Vec<Json>,
}

impl StreamSource {
    /// Every enabled `DynamoDB` event of every function whose `Stream` is a table's `StreamArn`.
    /// Others (a literal ARN of a stream elsewhere) are reported in the second list and skipped.
    pub fn from_template(template: &Template, locals: &LocalValues) -> Result<(Vec<Self>, Vec<String>)> {
        let mut sources = Vec::new();
        let mut skipped = Vec::new();
        for (function, resource) in template.resources_of_type("AWS::Serverless::Function") {
            let events = resource.get("Properties").and_then(|p| p.get("Events")).and_then(Value::as_mapping);
            for (name, event) in events.into_iter().flat_map(|m| m.iter()) {
                if event.get("Type").and_then(Value::as_str) != Some("DynamoDB") {
                    continue;
                }
                let event_name = name.as_str().unwrap_or_default().to_string();
                let props = event
                    .get("Properties")
                    .ok_or_else(|| Error::Template(format!("{function}.{event_name} has no Properties")))?;
                let what = format!("{function}.{event_name}");
                let source = Self::parse(template, locals, function, &event_name, props)
                    .map_err(|e| Error::Template(format!("{what}: {e}")))?;
                match source {
                    Some(source) => sources.push(source),
                    None => skipped.push(what),
                }
            }
        }
        Ok((sources, skipped))
    }

    fn parse(
        template: &Template,
        locals: &LocalValues,
        function: &str,
        event: &str,
        props: &Value,
    ) -> Result<Option<Self>> {
        let resolved = |key: &str| props.get(key).map(|v| template.resolve(v, locals)).transpose();
        if resolved("Enabled")?.is_some_and(|v| v == "false") {
            return Ok(None);
        }
        let table = match props.get("Stream").and_then(get_att) {
            Some((table, attribute)) if attribute == "StreamArn" => table,
            _ => return Ok(None),
        };
        if template.resource_type(&table) != Some("AWS::DynamoDB::Table") {
            return Ok(None);
        }
        let number = |key: &str, default: i64, min: i64, max: i64| -> Result<i64> {
            match resolved(key)? {
                None => Ok(default),
                Some(text) => text
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| Error::Template(format!("{key} {text:?} is not a number from {min} to {max}"))),
            }
        };
        let starting_position = match resolved("StartingPosition")?.as_deref() {
            Some("TRIM_HORIZON") => StartingPosition::TrimHorizon,
            Some("LATEST") | None => StartingPosition::Latest,
            Some(other) => return Err(Error::Template(format!("StartingPosition {other} is not served locally"))),
        };
        let max_retries = number("MaximumRetryAttempts", -1, -1, 10_000)?;
        let max_record_age = number("MaximumRecordAgeInSeconds", -1, -1, 604_800)?;
        let response_types = props.get("FunctionResponseTypes").and_then(Value::as_sequence);
        // `!GetAtt Queue.Arn` (or a literal ARN): the destination is named, not served.
        let on_failure =
            props.get("DestinationConfig").and_then(|d| d.get("OnFailure")).and_then(|f| f.get("Destination"));
        let on_failure = on_failure.map(|d| match d {
            Value::Tagged(tagged) if tagged.tag == "GetAtt" => {
                let target = tagged.value.as_str().map(str::to_string).unwrap_or_else(|| {
                    tagged
                        .value
                        .as_sequence()
                        .and_then(|s| s.first())
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                });
                target.split('.').next().unwrap_or_default().to_string()
            }
            other => other.as_str().unwrap_or("on-failure").rsplit(':').next().unwrap_or_default().to_string(),
        });
        let report_failures =
            response_types.into_iter().flatten().any(|t| t.as_str() == Some("ReportBatchItemFailures"));
        let filters = props
            .get("FilterCriteria")
            .and_then(|c| c.get("Filters"))
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .map(|filter| parse_pattern(filter.get("Pattern")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Self {
            function: function.to_string(),
            event: event.to_string(),
            table,
            starting_position,
            batch_size: number("BatchSize", 100, 1, 10_000)? as usize,
            max_retries: u32::try_from(max_retries).ok(),
            max_record_age: u64::try_from(max_record_age).ok().map(Duration::from_secs),
            batching_window: Duration::from_secs(number("MaximumBatchingWindowInSeconds", 0, 0, 300)? as u64),
            bisect: resolved("BisectBatchOnFunctionError")?.is_some_and(|v| v == "true"),
            parallelization: number("ParallelizationFactor", 1, 1, 10)? as usize,
            report_failures,
            on_failure,
            filters,
        }))
    }
}

/// A pattern is JSON text in the template (as CloudFormation wants it), or a YAML mapping.
fn parse_pattern(pattern: Option<&Value>) -> Result<Json> {
    let parsed = match pattern {
        Some(Value::String(text)) => {
            serde_json::from_str(text).map_err(|e| Error::Template(format!("filter pattern {text:?}: {e}")))?
        }
        Some(other @ Value::Mapping(_)) => serde_json::to_value(other).map_err(|e| Error::Template(e.to_string()))?,
        _ => return Err(Error::Template("a filter has no Pattern".into())),
    };
    match parsed {
        Json::Object(_) => Ok(parsed),
        other => Err(Error::Template(format!("filter pattern {other} is not an object"))),
    }
}
