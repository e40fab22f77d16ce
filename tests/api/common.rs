//! Assertions and request helpers shared by the function modules.

use chat_core::auth::Claims;
use chat_tests::{Function, Reply, TestEnv, User};
use serde_json::{Value, json};

/// The AI agent's stable id (`chat_core::domain::AGENT_ID`), as fixtures spell it.
pub const AGENT_ID: &str = "00000000-0000-4000-8000-000000000a1a";
/// The id the `unknown-*` fixtures use: a valid UUID that nothing in a fresh table has.
pub const UNKNOWN_ID: &str = "3f0c1a52-9d7e-4b1a-8c55-2e6f0b9d4a11";

/// `vars` with `("token", token)` in front.
pub fn with_token<'a>(token: &'a str, vars: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("token", token)];
    all.extend_from_slice(vars);
    all
}

/// Asserts a successful JSON reply with this status and returns its body.
/// The fields of a conversation body (CONTRACT.md, "Conversations").
pub const CONVERSATION_FIELDS: &[&str] = &[
    "conversation_id",
    "kind",
    "is_ai",
    "title",
    "participants",
    "created_at",
    "updated_at",
    "last_message",
    "unread_count",
    "last_read_message_id",
];

#[track_caller]
pub fn assert_ok(reply: &Reply, status: u16) -> &Value {
    assert_eq!(reply.status, status, "unexpected status, body: {}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    &reply.body
}

/// Asserts that `value` is an object with exactly these fields.
#[track_caller]
pub fn assert_fields(value: &Value, fields: &[&str]) {
    let object = value.as_object().unwrap_or_else(|| panic!("not an object: {value}"));
    let mut got: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut want = fields.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "fields of {value}");
}

/// A lowercase hyphenated UUID; returns it.
#[track_caller]
pub fn assert_uuid(value: &Value) -> String {
    let raw = value.as_str().unwrap_or_else(|| panic!("id is not a string: {value}"));
    let parsed = uuid::Uuid::try_parse(raw).unwrap_or_else(|e| panic!("{raw} is not a UUID: {e}"));
    assert_eq!(raw, parsed.hyphenated().to_string(), "ids are lowercase and hyphenated");
    raw.to_string()
}

/// An RFC 3339 timestamp in UTC with a `Z` suffix; returns it.
#[track_caller]
pub fn assert_timestamp(value: &Value) -> String {
    let raw = value.as_str().unwrap_or_else(|| panic!("timestamp is not a string: {value}"));
    assert!(raw.ends_with('Z'), "{raw} is not UTC with a Z suffix");
    chrono::DateTime::parse_from_rfc3339(raw).unwrap_or_else(|e| panic!("{raw} is not RFC 3339: {e}"));
    raw.to_string()
}

/// A profile in the seed's shape and nothing more (in particular, no password hash).
#[track_caller]
pub fn assert_profile(value: &Value, user_id: &str, email: &str, name: &str, picture: Option<&str>) {
    assert_fields(value, &["user_id", "email", "name", "profile_picture"]);
    assert_eq!(value, &json!({"user_id": user_id, "email": email, "name": name, "profile_picture": picture}));
    assert!(!value.to_string().contains("argon2"), "a profile carries a password hash: {value}");
}

/// The claims of a token this deployment issued (checks signature, issuer and audience).
pub fn claims(env: &TestEnv, token: &str) -> Claims {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[&env.app.config.jwt_issuer]);
    validation.set_audience(&[&env.app.config.jwt_audience]);
    let key = jsonwebtoken::DecodingKey::from_secret(env.app.config.jwt_secret.as_deref().unwrap());
    jsonwebtoken::decode::<Claims>(token, &key, &validation).expect("token is ours").claims
}

/// The value of one query parameter in a path like `/api/users?cursor=abc&limit=3`.
#[track_caller]
pub fn query_value(target: &str, name: &str) -> String {
    let (_, query) = target.split_once('?').unwrap_or_else(|| panic!("no query in {target}"));
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name} in {target}"))
        .to_string()
}

/// GETs `first`, then follows `Link: rel="next"` until a page has none. Returns every page.
pub async fn follow_links(env: &TestEnv, function: Function, first: &str, token: &str) -> Vec<Reply> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(target) = next {
        assert!(pages.len() < 50, "paging does not end");
        let reply = env.call(function, "GET", &target, Some(token), None).await;
        assert_ok(&reply, 200);
        next = reply.next_link();
        pages.push(reply);
    }
    pages
}

/// A body just over the 64 KiB limit that is otherwise valid JSON.
pub fn oversized(mut body: Value) -> Value {
    body["padding"] = json!("x".repeat(64 * 1024));
    body
}

/// The refusals every authenticated route shares, each proved to change nothing: the route's
/// `no-token` and `bad-token` fixtures, and its `valid` fixture with an expired token, a token
/// signed with another secret, and a token that lives longer than any we issue. Finally `valid`
/// is replayed with the user's real token and must succeed (so it may change the table).
pub async fn assert_auth_refusals(env: &TestEnv, function: Function, valid: &str, user: &User, vars: &[(&str, &str)]) {
    let missing = env.refused(401, env.replay(function, "no-token", vars)).await;
    assert_eq!(missing, "missing bearer token");
    let bad = env.refused(401, env.replay(function, "bad-token", vars)).await;
    assert_eq!(bad, "invalid or expired token");

    let secret = env.app.config.jwt_secret.clone().unwrap();
    let expired = env.forge_token(&user.id, -7200, -3600, &secret);
    let foreign = env.forge_token(&user.id, 0, 600, b"another-deployment-secret-of-32-bytes!");
    let overlong = env.forge_token(&user.id, 0, 90_000, &secret);
    for token in [expired, foreign, overlong] {
        let message = env.refused(401, env.replay(function, valid, &with_token(&token, vars))).await;
        assert_eq!(message, "invalid or expired token");
    }
    // The same fixture with the real token is accepted: the refusals above were the token's.
    let reply = env.replay(function, valid, &with_token(&user.token, vars)).await;
    assert!(reply.status < 400, "valid fixture refused: {}", reply.body);
}

/// Registers `names.len()` users, a few at a time (each costs an argon2 hash), and returns
/// them with their names in registration order (= id order, = the user list's order).
pub async fn register_all(env: &TestEnv, names: &[String]) -> Vec<(User, String)> {
    let mut users = Vec::new();
    for chunk in names.chunks(8) {
        let registered = futures::future::join_all(chunk.iter().map(|name| env.register(name))).await;
        users.extend(registered.into_iter().zip(chunk.iter().cloned()));
    }
    users.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    users
}

/// The `user_id`s (or any other id field) of a page, in order.
pub fn ids(page: &Value, field: &str) -> Vec<String> {
    page.as_array()
        .unwrap_or_else(|| panic!("not an array: {page}"))
        .iter()
        .map(|item| item[field].as_str().unwrap_or_else(|| panic!("no {field} in {item}")).to_string())
        .collect()
}

/// Points the env's app at a DynamoDB that refuses connections (tokens stay valid, and pushes
/// still go to the fake gateway, if any): every request that reaches the table must then be a
/// 503 that says nothing about why.
pub fn take_dynamodb_down(env: &mut TestEnv) {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:1")
        .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
        .http_client(chat_core::aws::http_client())
        .retry_config(RetryConfig::disabled())
        .build();
    let store = chat_core::store::Store::new(aws_sdk_dynamodb::Client::from_conf(config), env.table.clone());
    env.app = chat_core::App::with_clients(env.app.config.clone(), store, env.app.realtime.clone());
}

/// The 503 of an unavailable dependency: the envelope and a generic message, no internals.
#[track_caller]
pub fn assert_unavailable(reply: &Reply) {
    assert_eq!(reply.assert_error(503), "service temporarily unavailable");
}
