//! A DynamoDB Streams record (as the SDK reads it) in the shape Lambda gives functions:
//! `{eventID, eventName, eventVersion, eventSource, awsRegion, dynamodb: {...}, eventSourceARN}`
//! with attribute values in DynamoDB JSON (`{"S": "..."}`).

// Built by hand: `aws_lambda_events`' `dynamodb::EventRecord` writes an empty `NewImage` or
// `OldImage` where Lambda leaves it out, and a filter on `dynamodb.NewImage` would see the difference.
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

pub fn to_lambda(record: &Record, stream_arn: &str) -> Value {
    let mut out = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            out.insert(key.to_string(), value);
        }
    };
    put("eventID", record.event_id.clone().map(Value::from));
    put("eventName", record.event_name.as_ref().map(|n| json!(n.as_str())));
    put("eventVersion", record.event_version.clone().map(Value::from));
    put("eventSource", Some(json!(record.event_source.as_deref().unwrap_or("aws:dynamodb"))));
    // The stack's region, as Lambda reports the table's: dynoxide's records (and ARNs) name the
    // region `dynoxide` whatever the client's (docs/local-stack.md, "Differences").
    put("awsRegion", Some(json!(crate::aws::REGION)));
    if let Some(change) = &record.dynamodb {
        let mut dynamodb = Map::new();
        let mut add = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                dynamodb.insert(key.to_string(), value);
            }
        };
        // Lambda gives epoch seconds.
        add("ApproximateCreationDateTime", change.approximate_creation_date_time.map(|t| json!(t.secs())));
        add("Keys", change.keys.as_ref().map(item));
        add("NewImage", change.new_image.as_ref().map(item));
        add("OldImage", change.old_image.as_ref().map(item));
        add("SequenceNumber", change.sequence_number.clone().map(Value::from));
        add("SizeBytes", change.size_bytes.map(Value::from));
        add("StreamViewType", change.stream_view_type.as_ref().map(|t| json!(t.as_str())));
        put("dynamodb", Some(Value::Object(dynamodb)));
    }
    put("eventSourceARN", Some(json!(stream_arn)));
    if let Some(identity) = &record.user_identity {
        put("userIdentity", Some(json!({"principalId": identity.principal_id, "type": identity.r#type})));
    }
    Value::Object(out)
}

/// The record's sequence number (what `batchItemFailures` name).
pub fn sequence_number(record: &Value) -> &str {
    record["dynamodb"]["SequenceNumber"].as_str().unwrap_or_default()
}

fn item(attributes: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(attributes.iter().map(|(k, v)| (k.clone(), attribute(v))).collect())
}

fn attribute(value: &AttributeValue) -> Value {
    let blob = |b: &aws_sdk_dynamodbstreams::primitives::Blob| json!(BASE64.encode(b.as_ref()));
    match value {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::B(b) => json!({"B": blob(b)}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(n) => json!({"NULL": n}),
        AttributeValue::Ss(items) => json!({"SS": items}),
        AttributeValue::Ns(items) => json!({"NS": items}),
        AttributeValue::Bs(items) => json!({"BS": items.iter().map(blob).collect::<Vec<_>>()}),
        AttributeValue::L(items) => json!({"L": items.iter().map(attribute).collect::<Vec<_>>()}),
        AttributeValue::M(map) => json!({"M": item(map)}),
        _ => Value::Null,
    }
}
