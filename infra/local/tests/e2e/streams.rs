//! DynamoDB Streams → Lambda, as an event source mapping does it: the template's triggers,
//! filters, batches, retries and partial batch failures, with stand-in functions; and the
//! filter patterns on their own.

use super::ws_stand_ins::{recorded, stand_in_stack};
use super::*;
use aws_sdk_dynamodb::types::{AttributeValue as A, PutRequest, WriteRequest};
use local_stack::{StreamSource, filter};

/// Every record the stand-in received, across its invocations.
fn records(dir: &Path, name: &str) -> Vec<Value> {
    recorded(dir, name).iter().flat_map(|e| e["Records"].as_array().cloned().unwrap_or_default()).collect()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn item(pk: &str, kind: &str, n: u32) -> std::collections::HashMap<String, A> {
    [("PK", A::S(pk.into())), ("kind", A::S(kind.into())), ("n", A::N(n.to_string()))]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_triggers_with_stand_ins() {
    let data = std::env::temp_dir().join(format!("stand-in-data-{}", uuid::Uuid::new_v4().simple()));
    let (gw, dir) = stand_in_stack(&[("LOCAL_DATA_DIR", data.to_str().unwrap())]);
    let db = local_stack::local_client(&gw.dynamodb);
    let put =
        |pk: &str, kind: &str, n: u32| db.put_item().table_name("chat-local").set_item(Some(item(pk, kind, n))).send();
    let batch = |items: Vec<_>| {
        let requests = items
            .into_iter()
            .map(|i| {
                WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(i)).build().unwrap()).build()
            })
            .collect();
        db.batch_write_item().request_items("chat-local", requests).send()
    };

    // Inserts and updates that pass the filter arrive as Lambda's event; others never do.
    put("a", "wanted", 1).await.unwrap();
    put("b", "other", 1).await.unwrap();
    put("a", "wanted", 2).await.unwrap();
    wait_for("two records", || records(&dir, "record").len() >= 2).await;
    let got = records(&dir, "record");
    let (insert, modify) = (&got[0], &got[1]);
    assert_eq!((insert["eventName"].as_str(), modify["eventName"].as_str()), (Some("INSERT"), Some("MODIFY")));
    assert_eq!(
        (insert["eventSource"].as_str(), insert["awsRegion"].as_str()),
        (Some("aws:dynamodb"), Some("us-east-1"))
    );
    assert!(insert["eventID"].is_string() && insert["eventVersion"].is_string(), "{insert}");
    assert!(insert["eventSourceARN"].as_str().unwrap().contains(":table/chat-local/stream/"), "{insert}");
    let change = &insert["dynamodb"];
    assert_eq!(change["Keys"], json!({"PK": {"S": "a"}}));
    assert_eq!(change["NewImage"], json!({"PK": {"S": "a"}, "kind": {"S": "wanted"}, "n": {"N": "1"}}));
    assert_eq!(change["StreamViewType"], "NEW_AND_OLD_IMAGES");
    assert!(change["SequenceNumber"].is_string() && change["SizeBytes"].is_u64(), "{change}");
    assert!(change["ApproximateCreationDateTime"].is_number(), "{change}");
    assert_eq!(modify["dynamodb"]["OldImage"]["n"], json!({"N": "1"}));

    // BatchSize 2: five records written at once come in batches of at most two.
    batch((1..=5).map(|n| item(&format!("w{n}"), "wanted", n)).collect()).await.unwrap();
    wait_for("seven records", || records(&dir, "record").len() >= 7).await;
    let events = recorded(&dir, "record");
    assert!(events.iter().all(|e| e["Records"].as_array().unwrap().len() <= 2), "{events:#?}");
    assert!(events.iter().any(|e| e["Records"].as_array().unwrap().len() == 2), "{events:#?}");
    assert!(records(&dir, "record").iter().all(|r| r["dynamodb"]["NewImage"]["kind"]["S"] == "wanted"));

    // ReportBatchItemFailures: the batch is retried from the failed record on.
    batch((1..=3).map(|n| item(&format!("p{n}"), "partial", n)).collect()).await.unwrap();
    wait_for("the partial retry", || recorded(&dir, "partial").len() >= 2).await;
    let keys = |event: &Value| -> Vec<String> {
        event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["dynamodb"]["Keys"]["PK"]["S"].as_str().unwrap().to_string())
            .collect()
    };
    let partial = recorded(&dir, "partial");
    assert_eq!(keys(&partial[0]), ["p1", "p2", "p3"]);
    assert_eq!(keys(&partial[1]), ["p2", "p3"]);

    // A failing function: MaximumRetryAttempts 2 = three invocations, then the record is dropped.
    put("f", "fail-always", 1).await.unwrap();
    wait_for("the retries to run out", || {
        gw.output().iter().any(|l| l.contains("discarding 1 record(s) after 2 retries"))
    })
    .await;
    assert_eq!(recorded(&dir, "fail").len(), 3);
    // ...into the on-failure destination (`LOCAL_DATA_DIR/Failures.jsonl`), as Lambda sends it
    // to SQS: the condition and where the record is in the stream.
    wait_for("the on-failure record", || gw.output().iter().any(|l| l.contains("→ on-failure destination"))).await;
    let given_up: Vec<Value> = std::fs::read_to_string(data.join("Failures.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(given_up.len(), 1, "{given_up:?}");
    assert_eq!(given_up[0]["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(given_up[0]["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(given_up[0]["DDBStreamBatchInfo"]["batchSize"], 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(recorded(&dir, "partial").len(), 2, "a successful retry is not repeated");

    gw.stop_leaving_nothing();
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(data);
}

/// A DynamoDB that stops answering in the middle of a request (a half-open connection, which
/// never recovers) holds the stream poller for one attempt, not for good: its requests are
/// bounded, and the next record still arrives.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_dynamodb_does_not_stall_the_stream_for_good() {
    use local_stack::fault_proxy::{FaultProxy, Mode};
    let dynamodb = local_stack::LocalDynamoDb::start(None, 0).unwrap();
    let proxy = FaultProxy::start(&dynamodb.endpoint()).await;
    let (gw, dir) = stand_in_stack(&[("DYNAMODB_ENDPOINT", proxy.endpoint())]);
    let db = local_stack::local_client(&dynamodb.endpoint());
    let put =
        |pk: &str, kind: &str, n: u32| db.put_item().table_name("chat-local").set_item(Some(item(pk, kind, n))).send();
    put("a", "wanted", 1).await.unwrap();
    wait_for("the first record", || !records(&dir, "record").is_empty()).await;

    // The poller's request in flight, and any it opens meanwhile, never get an answer.
    proxy.set(Mode::Stall);
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.set(Mode::Pass);
    let restored = Instant::now();
    put("a", "wanted", 2).await.unwrap();
    wait_for("the record written after the stall", || records(&dir, "record").len() >= 2).await;
    println!("the stream recovered {:?} after the stall", restored.elapsed());

    gw.stop_leaving_nothing();
    let _ = std::fs::remove_dir_all(dir);
}

/// The template's AI trigger, read as the local stack reads it: its settings, and its filter
/// against the stream event fixtures (events/ai-reply/): the insert passes, the rest do not.
#[test]
fn the_templates_ai_trigger_and_its_filter() {
    let root = local_stack::project_root();
    let template = Template::load(&root.join("template.yaml")).unwrap();
    let locals = test_locals();
    let (sources, skipped) = StreamSource::from_template(&template, &locals).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    // Two triggers on the table's stream: ai-reply and inbox-activity (groups.rs drives the latter).
    let mut functions: Vec<&str> = sources.iter().map(|s| s.function.as_str()).collect();
    functions.sort_unstable();
    assert_eq!(functions, ["AiReplyFunction", "InboxActivityFunction"], "{sources:?}");
    let source = sources.iter().find(|s| s.function == "AiReplyFunction").unwrap();
    assert_eq!(source.table, "ChatTable");
    // The settings as written (read here independently of the local stack).
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join("template.yaml")).unwrap()).unwrap();
    let events = yaml["Resources"]["AiReplyFunction"]["Properties"]["Events"].as_mapping().unwrap();
    let props = &events.values().find(|e| e["Type"] == "DynamoDB").unwrap()["Properties"];
    let number = |key: &str| props[key].as_u64();
    assert_eq!(Some(source.batch_size as u64), number("BatchSize"));
    assert_eq!(source.max_retries.map(u64::from), number("MaximumRetryAttempts"));
    // `!Ref AiReplyParallelization`: the parameter's default.
    let parallelization = yaml["Parameters"]["AiReplyParallelization"]["Default"].as_u64();
    assert_eq!(Some(source.parallelization as u64), parallelization);
    assert_eq!(source.bisect, props["BisectBatchOnFunctionError"].as_bool().unwrap_or(false));
    assert!(source.report_failures);
    let fixture = |name: &str| -> Vec<Value> {
        let text = std::fs::read_to_string(root.join("events/ai-reply").join(name)).unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["Records"].as_array().unwrap().clone()
    };
    assert!(fixture("insert.json").iter().all(|r| filter::passes(&source.filters, r)));
    let ignored = fixture("ignored.json");
    assert!(!ignored.is_empty() && ignored.iter().all(|r| !filter::passes(&source.filters, r)));
}

#[test]
fn filter_patterns_match_like_eventbridge() {
    let record = json!({
        "eventName": "INSERT",
        "dynamodb": {"NewImage": {"n": {"N": "5"}, "name": {"S": "Alice"}, "tags": {"SS": ["a", "b"]}, "flag": {"BOOL": true}}},
    });
    let yes = |pattern: Value| assert!(filter::matches(&pattern, &record), "should match: {pattern}");
    let no = |pattern: Value| assert!(!filter::matches(&pattern, &record), "should not match: {pattern}");
    yes(json!({"eventName": ["MODIFY", "INSERT"]}));
    no(json!({"eventName": ["MODIFY"]}));
    yes(json!({"dynamodb": {"NewImage": {"flag": {"BOOL": [true]}}}}));
    no(json!({"dynamodb": {"NewImage": {"flag": {"BOOL": [false]}}}}));
    no(json!({"dynamodb": {"NewImage": {"missing": {"BOOL": [true]}}}}));
    yes(json!({"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}}));
    yes(json!({"dynamodb": {"NewImage": {"name": {"S": [{"prefix": "Al"}]}}}}));
    yes(json!({"dynamodb": {"NewImage": {"name": {"S": [{"suffix": "ce"}]}}}}));
    yes(json!({"dynamodb": {"NewImage": {"name": {"S": [{"equals-ignore-case": "alice"}]}}}}));
    yes(json!({"dynamodb": {"NewImage": {"name": {"S": [{"prefix": {"equals-ignore-case": "AL"}}]}}}}));
    yes(json!({"dynamodb": {"NewImage": {"name": {"S": [{"wildcard": "A*e"}]}}}}));
    yes(json!({"dynamodb": {"NewImage": {"name": {"S": [{"anything-but": ["Bob"]}]}}}}));
    no(json!({"dynamodb": {"NewImage": {"name": {"S": [{"anything-but": "Alice"}]}}}}));
    no(json!({"dynamodb": {"NewImage": {"missing": {"S": [{"anything-but": "x"}]}}}}));
    yes(json!({"dynamodb": {"NewImage": {"missing": [{"exists": false}]}}}));
    no(json!({"dynamodb": {"NewImage": {"name": [{"exists": false}]}}}));
    yes(json!({"dynamodb": {"NewImage": {"name": [{"exists": true}]}}}));
    yes(json!({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"name": {"S": ["Alice"]}}}}));
    no(json!({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"name": {"S": ["Bob"]}}}}));
    // DynamoDB numbers are strings in the record; numeric filters compare numbers.
    let numbered = json!({"count": 5});
    assert!(filter::matches(&json!({"count": [{"numeric": [">", 1, "<=", 5]}]}), &numbered));
    assert!(!filter::matches(&json!({"count": [{"numeric": ["<", 5]}]}), &numbered));
    assert!(filter::matches(&json!({"count": [5.0]}), &numbered));
    assert!(filter::passes(&[], &record), "no filters: everything passes");
    assert!(
        filter::passes(&[json!({"eventName": ["REMOVE"]}), json!({"eventName": ["INSERT"]})], &record),
        "filters are ORed"
    );
}
