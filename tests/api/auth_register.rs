//! `POST /api/auth/register` (events/auth-register).

use crate::common::{
    assert_fields, assert_ok, assert_profile, assert_unavailable, assert_uuid, claims, oversized, take_dynamodb_down,
};
use chat_tests::Function::{AuthLogin, AuthRegister, UsersGet};
use chat_tests::TestEnv;
use futures::future::join_all;
use serde_json::{Value, json};

const EMAIL: &str = "alice@example.com";

async fn login(env: &TestEnv, email: &str, password: &str) -> u16 {
    env.call(AuthLogin, "POST", "/api/auth/login", None, Some(json!({"email": email, "password": password})))
        .await
        .status
}

/// The registration response: the profile plus a token for the same user.
#[track_caller]
fn assert_registered(env: &TestEnv, body: &Value, email: &str, name: &str, picture: Option<&str>) -> String {
    assert_fields(body, &["user_id", "email", "name", "profile_picture", "token"]);
    let user_id = assert_uuid(&body["user_id"]);
    let mut profile = body.clone();
    profile.as_object_mut().unwrap().remove("token");
    assert_profile(&profile, &user_id, email, name, picture);
    let token = body["token"].as_str().expect("token is a string");
    let claims = claims(env, token);
    assert_eq!(claims.sub, user_id);
    assert!(claims.exp > claims.iat && claims.exp - claims.iat <= 24 * 3600);
    user_id
}

#[tokio::test]
async fn valid_registration_returns_profile_and_token_and_stores_only_a_hash() {
    let env = TestEnv::new().await;
    let reply = env.replay(AuthRegister, "valid", &[("email", EMAIL)]).await;
    let user_id = assert_registered(&env, assert_ok(&reply, 201), EMAIL, "Alice Example", None);

    let items = env.snapshot().await;
    assert_eq!(items.len(), 2, "one credentials item and one profile: {items:?}");
    let credentials = &items[&("EMAIL#alice@example.com".to_string(), "EMAIL".to_string())];
    assert_eq!(credentials["user_id"], json!(user_id));
    let hash = credentials["password_hash"].as_str().unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    assert!(!hash.contains("correct horse battery"));
    let profile = &items[&(format!("USER#{user_id}"), "PROFILE".to_string())];
    assert!(profile.get("password_hash").is_none() && !profile.to_string().contains("argon2"), "{profile}");

    assert_eq!(login(&env, EMAIL, "correct horse battery").await, 200);
    assert_eq!(login(&env, EMAIL, "correct horse batter").await, 401);
}

#[tokio::test]
async fn picture_is_returned_and_kept_on_the_profile() {
    let env = TestEnv::new().await;
    let reply = env.replay(AuthRegister, "valid-with-picture", &[("email", EMAIL)]).await;
    let picture = Some("https://example.com/alice.jpg");
    let body = assert_ok(&reply, 201);
    let user_id = assert_registered(&env, body, EMAIL, "Alice Example", picture);

    let token = body["token"].as_str().unwrap();
    let profile = env.call(UsersGet, "GET", &format!("/api/users/{user_id}"), Some(token), None).await;
    assert_profile(assert_ok(&profile, 200), &user_id, EMAIL, "Alice Example", picture);
}

#[tokio::test]
async fn email_and_name_are_trimmed_and_email_lowercased_but_password_is_kept_as_typed() {
    let env = TestEnv::new().await;
    let reply = env.replay(AuthRegister, "untrimmed", &[("email", "Alice@Example.COM")]).await;
    assert_registered(&env, assert_ok(&reply, 201), EMAIL, "Alice Example", None);
    assert_eq!(login(&env, "ALICE@example.com", "  spaces count  ").await, 200);
    assert_eq!(login(&env, EMAIL, "spaces count").await, 401);
}

#[tokio::test]
async fn trailing_slash_is_tolerated() {
    let env = TestEnv::new().await;
    let reply = env.replay(AuthRegister, "trailing-slash", &[("email", EMAIL)]).await;
    assert_registered(&env, assert_ok(&reply, 201), EMAIL, "Alice Example", None);
}

#[tokio::test]
async fn invalid_fields_are_400_naming_the_field_and_store_nothing() {
    let env = TestEnv::new().await;
    let cases = [
        ("missing-email", "email is required"),
        ("invalid-email", "email: must be a valid email address of at most 254 characters"),
        ("missing-password", "password is required"),
        ("short-password", "password: must be 8 to 128 characters"),
        ("long-password", "password: must be 8 to 128 characters"),
        ("missing-name", "name is required"),
        ("blank-name", "name: must be 1 to 100 characters"),
        ("long-name", "name: must be 1 to 100 characters"),
        ("name-not-a-string", "name: must be a string"),
        ("bad-picture-url", "profile_picture: must be an http(s) URL of at most 2048 characters"),
        ("malformed-json", "request body is not valid JSON"),
        ("not-an-object", "request body must be a JSON object"),
        ("empty-body", "request body must be a JSON object"),
    ];
    for (fixture, expected) in cases {
        let message = env.refused(400, env.replay(AuthRegister, fixture, &[("email", EMAIL)])).await;
        assert_eq!(message, expected, "fixture {fixture}");
    }
    assert!(env.snapshot().await.is_empty());
}

#[tokio::test]
async fn limits_are_exact() {
    let env = TestEnv::new().await;
    let register = |email: String, password: String, name: String, picture: Option<String>| {
        let body = json!({"email": email, "password": password, "name": name, "profile_picture": picture});
        env.call(AuthRegister, "POST", "/api/auth/register", None, Some(body))
    };
    // Local part and labels at their own maxima (64, 63), the whole address at `len`.
    let email_of =
        |len: usize| format!("{}@{}.{}.{}.com", "a".repeat(64), "b".repeat(63), "c".repeat(63), "d".repeat(len - 197));
    let (long_email, too_long_email) = (email_of(254), email_of(255));
    assert_eq!((long_email.len(), too_long_email.len()), (254, 255));
    let message = env.refused(400, register(too_long_email, "x".repeat(8), "n".into(), None)).await;
    assert!(message.starts_with("email: "), "{message}");
    let picture_2049 = format!("https://example.com/{}", "p".repeat(2029));
    assert_eq!(picture_2049.len(), 2049);
    let message = env.refused(400, register(EMAIL.into(), "x".repeat(8), "n".into(), Some(picture_2049))).await;
    assert!(message.starts_with("profile_picture: "), "{message}");

    // The largest accepted values.
    let picture_2048 = format!("https://example.com/{}", "p".repeat(2028));
    let reply = register(long_email.clone(), "é".repeat(128), "ü".repeat(100), Some(picture_2048.clone())).await;
    assert_registered(&env, assert_ok(&reply, 201), &long_email, &"ü".repeat(100), Some(&picture_2048));
    assert_eq!(login(&env, &long_email, &"é".repeat(128)).await, 200);
}

#[tokio::test]
async fn body_over_64_kib_is_413() {
    let env = TestEnv::new().await;
    let body = oversized(json!({"email": EMAIL, "password": "correct horse battery", "name": "Alice"}));
    let message = env.refused(413, env.call(AuthRegister, "POST", "/api/auth/register", None, Some(body))).await;
    assert_eq!(message, "request body is larger than 65536 bytes");
}

#[tokio::test]
async fn dynamodb_unavailable_is_503_without_internals() {
    let mut env = TestEnv::new().await;
    take_dynamodb_down(&mut env);
    assert_unavailable(&env.replay(AuthRegister, "valid", &[("email", EMAIL)]).await);
}

#[tokio::test]
async fn taken_email_is_409_whatever_its_case() {
    let env = TestEnv::new().await;
    // Another name than the fixture's: the same registration again would be a retry (below).
    let first = json!({"email": EMAIL, "password": "correct horse battery", "name": "Alice First"});
    assert_ok(&env.call(AuthRegister, "POST", "/api/auth/register", None, Some(first)).await, 201);
    for email in [EMAIL, "ALICE@EXAMPLE.COM", " alice@example.com "] {
        let message = env.refused(409, env.replay(AuthRegister, "valid", &[("email", email)])).await;
        assert_eq!(message, "email is already registered");
    }
}

/// A registration whose answer was lost (a 5xx after DynamoDB committed it) is retried with the
/// same body: that answers 201 with the account it created, within 15 minutes; anything else
/// that claims the email stays a 409 (docs/failures.md).
#[tokio::test]
async fn the_same_registration_retried_answers_201_with_its_account() {
    let env = TestEnv::new().await;
    let body = json!({"email": EMAIL, "password": "correct horse battery", "name": "Alice", "profile_picture": "https://example.com/a.png"});
    let first = env.call(AuthRegister, "POST", "/api/auth/register", None, Some(body.clone())).await;
    let user_id = assert_ok(&first, 201)["user_id"].clone();
    let before = env.snapshot().await;
    let retried = env.call(AuthRegister, "POST", "/api/auth/register", None, Some(body.clone())).await;
    assert_eq!(assert_ok(&retried, 201)["user_id"], user_id);
    assert_eq!(retried.body["name"], "Alice");
    assert!(retried.body["token"].is_string());
    assert!(env.snapshot().await == before, "a retried registration changed the table");
    // The same email in another case is the same account, and the same retry.
    let mut upper = body.clone();
    upper["email"] = json!(EMAIL.to_uppercase());
    assert_eq!(
        assert_ok(&env.call(AuthRegister, "POST", "/api/auth/register", None, Some(upper)).await, 201)["user_id"],
        user_id
    );
    // Another password, name or picture is someone else: the email is taken.
    for (field, value) in
        [("password", json!("another password")), ("name", json!("Alicia")), ("profile_picture", json!(null))]
    {
        let mut other = body.clone();
        other[field] = value;
        let message = env.refused(409, env.call(AuthRegister, "POST", "/api/auth/register", None, Some(other))).await;
        assert_eq!(message, "email is already registered", "{field}");
    }
    // An account older than the retry window: the email is taken.
    let user = format!("USER#{}", user_id.as_str().unwrap());
    env.client
        .update_item()
        .table_name(&env.table)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(user.clone()))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()))
        .update_expression("SET created_at = :old")
        .expression_attribute_values(
            ":old",
            aws_sdk_dynamodb::types::AttributeValue::S("2026-01-01T00:00:00.000000Z".into()),
        )
        .send()
        .await
        .unwrap();
    let message = env.refused(409, env.call(AuthRegister, "POST", "/api/auth/register", None, Some(body))).await;
    assert_eq!(message, "email is already registered");
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_have_exactly_one_winner() {
    let env = TestEnv::new().await;
    let attempts = (0..16).map(|i| {
        let email = if i % 2 == 0 { EMAIL.to_string() } else { EMAIL.to_uppercase() };
        let body = json!({"email": email, "password": format!("password-{i}"), "name": format!("Alice {i}")});
        env.call(AuthRegister, "POST", "/api/auth/register", None, Some(body))
    });
    let replies = join_all(attempts).await;

    let winners: Vec<usize> = (0..16).filter(|i| replies[*i].status == 201).collect();
    assert_eq!(winners.len(), 1, "statuses: {:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    for (i, reply) in replies.iter().enumerate().filter(|(i, _)| *i != winners[0]) {
        assert_eq!(reply.assert_error(409), "email is already registered", "attempt {i}");
    }
    let winner = winners[0];
    let user_id = assert_registered(&env, &replies[winner].body, EMAIL, &format!("Alice {winner}"), None);

    let items = env.snapshot().await;
    let credentials: Vec<_> = items.keys().filter(|(pk, _)| pk.starts_with("EMAIL#")).collect();
    let profiles: Vec<_> = items.keys().filter(|(_, sk)| sk == "PROFILE").collect();
    assert_eq!(credentials.len(), 1, "{items:?}");
    assert_eq!(profiles, vec![&(format!("USER#{user_id}"), "PROFILE".to_string())]);
    assert_eq!(items.len(), 2);
    assert_eq!(login(&env, EMAIL, &format!("password-{winner}")).await, 200);
}
