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

/// API Gateway's HTTP APIs cannot route a path ending in `/`, so the seed's `POST /api/messages/`
/// arrives here: a route's path plus a trailing slash, with a method the route allows, is a 308
/// to the route (relative, so it survives a custom domain's base path), and changes nothing.
#[tokio::test]
async fn trailing_slashes_are_redirected_to_their_route() {
    let env = TestEnv::new().await;
    let vars = [("token", "any"), ("conversation_id", "c"), ("user_id", "u")];
    let cases = [
        ("trailing-slash-send", "../messages", "/api/messages"),
        (
            "trailing-slash-history",
            "../3f0c1a52-9d7e-4b1a-8c55-2e6f0b9d4a11?limit=5",
            "/api/conversations/3f0c1a52-9d7e-4b1a-8c55-2e6f0b9d4a11",
        ),
    ];
    for (fixture, location, canonical) in cases {
        let before = env.snapshot().await;
        let reply = env.replay(RouteFallback, fixture, &vars).await;
        assert_eq!(reply.status, 308, "{fixture}: {}", reply.body);
        assert_eq!(reply.header("location"), Some(location), "{fixture}");
        assert_eq!(reply.body, serde_json::json!({ "location": canonical }), "{fixture}");
        assert_eq!(env.snapshot().await, before);
    }
    // A method the route does not allow is still a 405, slash or not.
    let reply = env.replay(RouteFallback, "trailing-slash-wrong-method", &vars).await;
    assert_eq!(reply.assert_error(405), "method DELETE is not allowed on this route");
    assert_eq!(reply.header("allow"), Some("POST"));
}
