//! No password, token or signing secret ever reaches a log line: every log line the handlers
//! write (at TRACE, the most verbose level, SDK included) during sign-up, login, authenticated
//! requests, refusals, a WebSocket handshake and a DynamoDB outage is captured and searched.

use crate::common::take_dynamodb_down;
use crate::realtime::{Ws, new_connection_id, ws};
use chat_tests::Function::{AuthLogin, AuthRegister, UsersList};
use chat_tests::TestEnv;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let capture = Capture::default();
    let subscriber =
        tracing_subscriber::fmt().json().with_max_level(tracing::Level::TRACE).with_writer(capture.clone()).finish();
    // Global, not thread-scoped: tracing caches per-callsite interest across threads, so a
    // scoped subscriber can miss events while other tests run. Other tests' lines land in the
    // capture too, which only widens the search.
    tracing::subscriber::set_global_default(subscriber).expect("only this test sets a subscriber");

    let mut env = TestEnv::new().await;
    let password = "hunter2-but-longer-and-unique";
    let body = json!({"email": "log-check@example.com", "password": password, "name": "Logs"});
    let registered = env.call(AuthRegister, "POST", "/api/auth/register", None, Some(body.clone())).await;
    assert_eq!(registered.status, 201);
    let token = registered.body["token"].as_str().unwrap().to_string();
    let login = json!({"email": "log-check@example.com", "password": password});
    let logged_in = env.call(AuthLogin, "POST", "/api/auth/login", None, Some(login)).await;
    let login_token = logged_in.body["token"].as_str().unwrap().to_string();
    let wrong = json!({"email": "log-check@example.com", "password": format!("{password}-wrong")});
    assert_eq!(env.call(AuthLogin, "POST", "/api/auth/login", None, Some(wrong)).await.status, 401);
    // The same email, password and name again would be a retry (201): another name is a 409.
    let taken = json!({"email": "log-check@example.com", "password": password, "name": "Someone Else"});
    assert_eq!(env.call(AuthRegister, "POST", "/api/auth/register", None, Some(taken)).await.status, 409);
    assert_eq!(env.call(AuthRegister, "POST", "/api/auth/register", None, Some(body.clone())).await.status, 201);
    assert_eq!(env.call(UsersList, "GET", "/api/users", Some(&token), None).await.status, 200);
    let forged = format!("{token}x");
    assert_eq!(env.call(UsersList, "GET", "/api/users", Some(&forged), None).await.status, 401);
    let handshake = ws(&env, Ws::Connect, "valid", &[("token", &token), ("connection_id", &new_connection_id())]).await;
    assert_eq!(handshake.status, 200);
    let refused = ws(&env, Ws::Connect, "valid", &[("token", &forged), ("connection_id", &new_connection_id())]).await;
    assert_eq!(refused.status, 401);
    take_dynamodb_down(&mut env);
    let login = json!({"email": "log-check@example.com", "password": password});
    assert_eq!(env.call(AuthLogin, "POST", "/api/auth/login", None, Some(login)).await.status, 503);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.lines().count() > 20, "the capture saw the handlers' logs:\n{logs}");
    assert!(logs.contains("\"status\":401") && logs.contains("\"status\":503"), "request logs are captured");
    let secret = String::from_utf8(env.app.config.jwt_secret.clone().unwrap()).unwrap();
    for (what, needle) in
        [("password", password), ("token", &token), ("login token", &login_token), ("JWT secret", &secret)]
    {
        assert!(!logs.contains(needle), "the {what} reached a log line");
    }
    // A token's signature alone is enough to replay it.
    for t in [&token, &login_token] {
        let signature = t.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a token signature reached a log line");
    }
}
