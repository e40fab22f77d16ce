//! The `$default` route (events/route-fallback): unknown paths and wrong methods.

use chat_tests::Function::RouteFallback;
use chat_tests::TestEnv;

#[tokio::test]
async fn unknown_paths_are_404_in_the_envelope() {
    let env = TestEnv::new().await;
    for fixture in ["unknown-path", "root", "unknown-api-version", "dot-segments"] {
        let message = env.refused(404, env.replay(RouteFallback, fixture, &[("token", "any")])).await;
        assert_eq!(message, "route not found", "fixture {fixture}");
    }
}

#[tokio::test]
async fn wrong_methods_are_405_with_an_allow_header() {
    let env = TestEnv::new().await;
    let cases = [
        ("wrong-method-messages", "DELETE", "POST"),
        ("wrong-method-conversations", "PUT", "GET, POST"),
        ("wrong-method-user", "DELETE", "GET"),
        ("wrong-method-register", "GET", "POST"),
        ("wrong-method-connect", "GET", "POST"),
    ];
    for (fixture, method, allow) in cases {
        let before = env.snapshot().await;
        let reply = env.replay(RouteFallback, fixture, &[("token", "any")]).await;
        assert_eq!(
            reply.assert_error(405),
            format!("method {method} is not allowed on this route"),
            "fixture {fixture}"
        );
        assert_eq!(reply.header("allow"), Some(allow), "fixture {fixture}");
        assert_eq!(env.snapshot().await, before);
    }
}
