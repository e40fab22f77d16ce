//! `openapi.yaml`, the published API description: it parses, and every operation documents its
//! failures with the contract's error envelope; `registry.rs` checks that it lists exactly the
//! routes that `template.yaml` deploys (trailing-slash variants count once). `./infra/fuzz`
//! checks it against the running stack (docs/fuzzing.md).

use chat_tests::root;
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const ENVELOPE: &str = "#/components/schemas/Error";

pub(crate) fn spec() -> Value {
    let path = root().join("openapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    // Into JSON values: this also proves the document is JSON-compatible (every key a string).
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("openapi.yaml does not parse: {e}"))
}

/// `/api/messages/` and `/api/messages` are one route.
pub(crate) fn normalise(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/".into() } else { trimmed.to_string() }
}

/// Every operation as `(METHOD, path as written, operation)`.
pub(crate) fn operations(spec: &Value) -> Vec<(String, String, &Value)> {
    let paths = spec["paths"].as_object().expect("openapi.yaml has paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                out.push((method.to_uppercase(), path.clone(), operation));
            }
        }
    }
    out
}

/// Follows a local `$ref` (`#/components/...`), however many times it chains.
fn deref<'a>(spec: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..32 {
        let Some(target) = value.get("$ref").and_then(Value::as_str) else { return value };
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("{target}: only local references are used"));
        value = spec.pointer(pointer).unwrap_or_else(|| panic!("{target} does not resolve"));
    }
    panic!("a $ref chain is too long (a cycle?)")
}

/// Whether a schema is the error envelope: a `$ref` to it, or an `allOf` that includes it.
fn is_envelope(spec: &Value, schema: &Value) -> bool {
    if schema.get("$ref").and_then(Value::as_str) == Some(ENVELOPE) {
        return true;
    }
    let schema = deref(spec, schema);
    schema.get("allOf").and_then(Value::as_array).is_some_and(|parts| parts.iter().any(|p| is_envelope(spec, p)))
}

/// The `status` the schema pins with `const`, if any (`Error404` pins 404).
fn pinned_status(spec: &Value, schema: &Value) -> Option<u64> {
    let schema = deref(spec, schema);
    if let Some(status) = schema.pointer("/properties/error/properties/status/const").and_then(Value::as_u64) {
        return Some(status);
    }
    schema.get("allOf")?.as_array()?.iter().find_map(|part| pinned_status(spec, part))
}

fn every_ref<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                out.push(target);
            }
            map.values().for_each(|v| every_ref(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| every_ref(v, out)),
        _ => {}
    }
}

#[test]
fn the_spec_parses_and_every_reference_resolves() {
    let spec = spec();
    let version = spec["openapi"].as_str().expect("an `openapi` version");
    assert!(version.starts_with("3.1."), "OpenAPI 3.1 expected, found {version}");
    assert!(spec["info"]["title"].is_string() && spec["info"]["version"].is_string(), "info.title and info.version");
    let mut refs = Vec::new();
    every_ref(&spec, &mut refs);
    assert!(!refs.is_empty());
    for target in refs {
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("{target}: only local references are used"));
        assert!(spec.pointer(pointer).is_some(), "{target} does not resolve");
    }
    // The envelope itself: {"error": {"message": string, "status": integer}}, both required.
    let envelope = spec.pointer("/components/schemas/Error").expect("the Error schema");
    assert_eq!(envelope["required"], serde_json::json!(["error"]));
    let inner = &envelope["properties"]["error"];
    assert_eq!(inner["required"], serde_json::json!(["message", "status"]));
    assert_eq!(inner["properties"]["message"]["type"], "string");
    assert_eq!(inner["properties"]["status"]["type"], "integer");
}

#[test]
fn every_operation_documents_success_and_its_failures_in_the_envelope() {
    let spec = spec();
    let public = ["/api/auth/register", "/api/auth/login"];
    for (method, path, operation) in operations(&spec) {
        let name = format!("{method} {path}");
        let responses = operation["responses"].as_object().unwrap_or_else(|| panic!("{name}: no responses"));
        assert!(responses.keys().any(|code| code.starts_with('2')), "{name}: no 2xx response");
        let errors: Vec<&String> = responses.keys().filter(|code| code.starts_with(['4', '5'])).collect();
        for required in ["400", "500", "503"] {
            assert!(responses.contains_key(required), "{name}: no {required} response");
        }
        for code in errors {
            let response = deref(&spec, &responses[code]);
            let schema = response
                .pointer("/content/application~1json/schema")
                .unwrap_or_else(|| panic!("{name} {code}: no application/json schema"));
            assert!(is_envelope(&spec, schema), "{name} {code}: not the error envelope");
            if let Some(status) = pinned_status(&spec, schema) {
                assert_eq!(status.to_string(), *code, "{name} {code}: the envelope pins another status");
            }
        }
        // Bearer JWT everywhere but register and login, which say so with `security: []`.
        let security = operation.get("security").unwrap_or(&spec["security"]);
        if public.contains(&path.as_str()) {
            assert_eq!(security, &serde_json::json!([]), "{name}: must not require a token");
        } else {
            assert_eq!(security, &serde_json::json!([{ "bearerAuth": [] }]), "{name}: must require the bearer token");
            assert!(responses.contains_key("401"), "{name}: no 401 response");
        }
        // Every `{param}` of the path is declared as a required path parameter.
        let declared: Vec<String> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| deref(&spec, p))
            .filter(|p| p["in"] == "path" && p["required"] == true)
            .filter_map(|p| p["name"].as_str().map(str::to_string))
            .collect();
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let param = segment.trim_matches(['{', '}']);
            assert!(declared.iter().any(|d| d == param), "{name}: path parameter {param} is not declared");
        }
    }
    let security = &spec["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!((security["type"].as_str(), security["scheme"].as_str()), (Some("http"), Some("bearer")));
    assert_eq!(security["bearerFormat"], "JWT");
}

#[test]
fn the_documented_headers_are_there() {
    let spec = spec();
    let header = |pointer: &str, name: &str| {
        let response = deref(&spec, spec.pointer(pointer).unwrap_or_else(|| panic!("{pointer} is missing")));
        response.get("headers").and_then(|h| h.get(name)).is_some()
    };
    for list in ["/api/users", "/api/conversations", "/api/conversations/{conversation_id}"] {
        let pointer = format!("/paths/{}/get/responses/200", list.replace('/', "~1"));
        assert!(header(&pointer, "Link"), "GET {list}: no Link header");
    }
    assert!(header("/paths/~1api~1messages/post/responses/200", "Server-Timing"), "no Server-Timing on sends");
    assert!(header("/components/responses/MethodNotAllowed", "Allow"), "no Allow on 405");
    let not_allowed = deref(&spec, &spec["components"]["responses"]["MethodNotAllowed"]);
    assert_eq!(pinned_status(&spec, &not_allowed["content"]["application/json"]["schema"]), Some(405));
}

#[test]
fn the_websocket_api_is_described() {
    let spec = spec();
    let ws = &spec["x-websocket"];
    assert!(ws["connect"]["query"]["token"]["required"] == true, "x-websocket: the token query parameter");
    assert!(ws["connect"]["query"].get("conversation_id").is_some(), "x-websocket: conversation_id");
    let actions: BTreeSet<&str> = ws["clientFrames"]["actions"]
        .as_object()
        .expect("x-websocket.clientFrames.actions")
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(actions, BTreeSet::from(["whoami", "ping", "subscribe", "sendMessage", "typing"]));
    let error = deref(&spec, &ws["errorFrames"]["schema"]);
    assert_eq!(error["properties"]["type"]["const"], "error");
    assert_eq!(error["properties"]["error"]["required"], serde_json::json!(["message", "status"]));
}
