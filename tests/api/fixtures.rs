//! The fixtures themselves: every file under `events/` is an API Gateway HTTP API (payload 2.0)
//! event that routes to its function, and every one is replayed by that function's tests.

use chat_tests::{Function, root};
use serde_json::Value;
use std::collections::BTreeMap;

/// The placeholders `events/README.md` documents.
const PLACEHOLDERS: [&str; 13] = [
    "token",
    "email",
    "password",
    "user_id",
    "participant_id",
    "sender_id",
    "conversation_id",
    "message_id",
    "client_message_id",
    "limit",
    "cursor",
    "connection_id",
    "invitee_id",
];

fn fixtures(function: Function) -> BTreeMap<String, String> {
    let dir = root().join("events").join(function.name());
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut found = BTreeMap::new();
    for entry in entries {
        let path = entry.unwrap().path();
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("json"), "{} is not a fixture", path.display());
        let case = path.file_stem().unwrap().to_str().unwrap().to_string();
        found.insert(case, std::fs::read_to_string(&path).unwrap());
    }
    assert!(!found.is_empty(), "{} has no fixtures", dir.display());
    found
}

fn placeholders(text: &str) -> Vec<&str> {
    text.split("{{").skip(1).map(|rest| rest.split_once("}}").expect("placeholder is closed").0).collect()
}

#[test]
fn every_fixture_is_an_api_gateway_v2_event_for_its_route() {
    for function in Function::ALL {
        for (case, text) in fixtures(function) {
            let at = format!("events/{}/{case}.json", function.name());
            for name in placeholders(&text) {
                assert!(PLACEHOLDERS.contains(&name), "{at}: undocumented placeholder {{{{{name}}}}}");
            }
            let event: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{at} is not JSON: {e}"));
            let context = &event["requestContext"];
            let http = &context["http"];
            assert_eq!(event["version"], "2.0", "{at}");
            assert_eq!(context["stage"], "$default", "{at}");
            assert_eq!(event["routeKey"], context["routeKey"], "{at}");
            assert_eq!(event["rawPath"], http["path"], "{at}");
            assert_eq!(event["isBase64Encoded"], false, "{at}");
            for field in ["accountId", "apiId", "domainName", "domainPrefix", "requestId", "time", "timeEpoch"] {
                assert!(!context[field].is_null(), "{at}: requestContext.{field} missing");
            }
            for field in ["method", "path", "protocol", "sourceIp", "userAgent"] {
                assert!(http[field].is_string(), "{at}: requestContext.http.{field} missing");
            }
            let headers = event["headers"].as_object().unwrap_or_else(|| panic!("{at}: no headers"));
            assert!(headers.keys().all(|k| *k == k.to_lowercase()), "{at}: header names are lowercase");
            assert!(event.get("body").is_none_or(Value::is_string), "{at}: body is a JSON string");

            // rawQueryString and queryStringParameters agree.
            let raw_query = event["rawQueryString"].as_str().unwrap_or_else(|| panic!("{at}: no rawQueryString"));
            let pairs: serde_json::Map<String, Value> = raw_query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').map(|(k, v)| (k.to_string(), Value::from(v))).unwrap())
                .collect();
            let params = event.get("queryStringParameters").cloned().unwrap_or_default();
            assert_eq!(params, if pairs.is_empty() { Value::Null } else { Value::Object(pairs) }, "{at}");

            let method = http["method"].as_str().unwrap();
            let path = event["rawPath"].as_str().unwrap();
            match crate::registry::http_route(function) {
                Some((route_method, pattern)) => {
                    assert_eq!(method, route_method, "{at}");
                    let slash = if path.len() > 1 && path.ends_with('/') { "/" } else { "" };
                    assert_eq!(event["routeKey"], format!("{method} {pattern}{slash}"), "{at}");
                    assert!(chat_core::routes::matches(pattern, path), "{at}: {path} does not match {pattern}");
                    let mut expected = serde_json::Map::new();
                    for (p, v) in pattern.split('/').zip(path.split('/')) {
                        if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                            expected.insert(name.to_string(), Value::from(v));
                        }
                    }
                    let params = event.get("pathParameters").cloned().unwrap_or_default();
                    assert_eq!(params, if expected.is_empty() { Value::Null } else { Value::Object(expected) }, "{at}");
                }
                None => {
                    assert_eq!(event["routeKey"], "$default", "{at}");
                    // API Gateway routes no trailing slash: those come here too (308 or 405).
                    let slash = path.len() > 1 && path.ends_with('/');
                    let routed = chat_core::routes::ROUTES
                        .iter()
                        .any(|(m, p)| *m == method && !slash && chat_core::routes::matches(p, path));
                    assert!(!routed, "{at}: {method} {path} has a route of its own");
                }
            }

            // Filled in, it is an event lambda_http accepts as API Gateway HTTP API payload 2.0.
            let vars: Vec<(&str, &str)> =
                PLACEHOLDERS.iter().map(|p| (*p, "00000000-0000-4000-8000-000000000001")).collect();
            let filled = chat_tests::fixture(function, &case, &vars);
            let request = lambda_http::request::from_str(&filled).unwrap_or_else(|e| panic!("{at}: {e}"));
            use lambda_http::RequestExt;
            assert!(
                matches!(request.request_context(), lambda_http::request::RequestContext::ApiGatewayV2(_)),
                "{at} is not read as a payload 2.0 event"
            );
        }
    }
}

/// Every file under `events/` (every folder, whatever function it belongs to) was replayed
/// through its handler by some test of the run that wrote `$CHAT_TESTS_REPLAY_LOG`
/// ([`chat_tests::record_replay`]). Ignored in a plain `cargo test`: `./infra/test` runs the
/// suite with the variable set, then this test alone, once the suite's binary has exited.
#[test]
#[ignore = "checks the record of a complete run: ./infra/test runs it after the suite"]
fn every_fixture_was_replayed() {
    let log = std::env::var_os(chat_tests::REPLAY_LOG)
        .unwrap_or_else(|| panic!("{} is not set: run the suite with it first", chat_tests::REPLAY_LOG));
    let log = std::path::PathBuf::from(log);
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let replayed: std::collections::BTreeSet<&str> = text.lines().collect();
    let events = root().join("events");
    let mut expected = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&events).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !path.is_dir() {
            assert_eq!(name, "README.md", "events/{name}: only folders of fixtures belong in events/");
            continue;
        }
        let mut cases = 0;
        for fixture in std::fs::read_dir(&path).unwrap() {
            let fixture = fixture.unwrap().path();
            let at = format!("events/{name}/{}", fixture.file_name().unwrap().to_str().unwrap());
            assert_eq!(fixture.extension().and_then(|e| e.to_str()), Some("json"), "{at} is not a fixture");
            expected.insert(format!("{name}/{}", fixture.file_stem().unwrap().to_str().unwrap()));
            cases += 1;
        }
        assert!(cases > 0, "events/{name}/ holds no fixture");
    }
    let missed: Vec<String> = expected
        .iter()
        .filter(|case| !replayed.contains(case.as_str()))
        .map(|case| format!("events/{case}.json"))
        .collect();
    assert!(missed.is_empty(), "replayed by no test ({} of {}): {missed:#?}", missed.len(), expected.len());
    // A line for a fixture that does not exist means the record is not of this tree.
    let unknown: Vec<&&str> = replayed.iter().filter(|line| !expected.contains(**line)).collect();
    assert!(unknown.is_empty(), "{} records fixtures that do not exist: {unknown:?}", log.display());
}
