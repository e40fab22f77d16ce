//! What a red-team pass found (issue 12), one test per finding: input rules from the contract's
//! second edition (emails, names, pictures, message text, page sizes, the agent's reserved
//! identity, tokens) and the answers that leaked or contradicted themselves.

use crate::common::{AGENT_ID, assert_ok, follow_links, ids};
use crate::realtime::{Ws, new_connection_id, ws};
use chat_tests::Function::{
    AuthLogin, AuthRegister, ConversationsCreate, ConversationsHistory, ConversationsList, MessagesSend, UsersGet,
};
use chat_tests::{Reply, TestEnv};
use serde_json::{Value, json};

/// No response body exceeds this (the contract's "Common rules").
const MAX_BODY: usize = 1024 * 1024;

async fn register(env: &TestEnv, email: &str, name: &str, picture: Option<&str>) -> Reply {
    let body = json!({"email": email, "password": "correct horse battery", "name": name, "profile_picture": picture});
    env.call(AuthRegister, "POST", "/api/auth/register", None, Some(body)).await
}

async fn login(env: &TestEnv, email: &str) -> u16 {
    let body = json!({"email": email, "password": "correct horse battery"});
    env.call(AuthLogin, "POST", "/api/auth/login", None, Some(body)).await.status
}

fn body_len(reply: &Reply) -> usize {
    serde_json::to_vec(&reply.body).unwrap().len()
}

// 2. The 4,000-character limit counts the text as sent, and control characters are refused.
#[tokio::test]
async fn message_text_is_counted_as_sent_and_control_characters_are_refused() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;

    let padded = format!("a{}", " ".repeat(60_000));
    let message = env.refused(400, env.send(&alice, &conversation, &padded)).await;
    assert_eq!(message, "message: must be 1 to 4000 characters");
    let vertical_tabs = format!("a{}", "\u{b}".repeat(100));
    let message = env.refused(400, env.send(&alice, &conversation, &vertical_tabs)).await;
    assert_eq!(message, "message: must not contain control characters other than line feed, carriage return and tab");
    let vars = [("token", alice.token.as_str()), ("conversation_id", &conversation), ("user_id", &alice.id)];
    let message = env.refused(400, env.replay(MessagesSend, "control-characters", &vars)).await;
    assert!(message.starts_with("message: must not contain control characters"), "{message}");
    for control in ['\0', '\u{7f}', '\u{85}', '\u{1b}'] {
        env.refused(400, env.send(&alice, &conversation, &format!("hi{control}"))).await;
    }

    // Exactly 4,000 as sent, white space and line breaks included, stored as sent.
    let at_limit = format!("a\tb\r\n{}", " ".repeat(3995));
    assert_eq!(at_limit.chars().count(), 4000);
    assert_ok(&env.send(&alice, &conversation, &at_limit).await, 200);
    let history = env
        .call(ConversationsHistory, "GET", &format!("/api/conversations/{conversation}"), Some(&bob.token), None)
        .await;
    assert_eq!(assert_ok(&history, 200)[0]["message"], json!(at_limit));
    env.refused(400, env.send(&alice, &conversation, &format!("{at_limit} "))).await;
}

/// `chars` characters that weigh more as JSON than as a stored item: quotes (1 byte stored, 2 in
/// JSON) and four-byte emoji. 100 of them are 0.9 MB stored (DynamoDB's 1 MB Query cap does not
/// cut the page) but 1.1 MB as JSON.
fn heavy(chars: usize) -> String {
    let quotes = chars * 3 / 5;
    format!("{}{}", "\"".repeat(quotes), "😀".repeat(chars - quotes))
}

// 2. Every page stays under 1 MiB: it ends early, and its Link leads to the rest.
#[tokio::test]
async fn history_pages_stay_under_one_mebibyte_and_link_to_the_rest() {
    let env = TestEnv::new().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    let mut sent = Vec::new();
    for i in 0..100 {
        let text = format!("{i:04}{}", heavy(3996));
        let reply = env.send(&alice, &conversation, &text).await;
        sent.push(assert_ok(&reply, 200)["message_id"].as_str().unwrap().to_string());
    }
    let first = env
        .call(ConversationsHistory, "GET", &format!("/api/conversations/{conversation}"), Some(&bob.token), None)
        .await;
    let page = assert_ok(&first, 200).as_array().unwrap().len();
    assert!(body_len(&first) <= MAX_BODY, "{} bytes", body_len(&first));
    assert!((1..100).contains(&page), "a page of {page} messages");
    assert_eq!(ids(&first.body, "message_id"), sent[100 - page..], "the newest messages, oldest first");

    let pages =
        follow_links(&env, ConversationsHistory, &format!("/api/conversations/{conversation}"), &bob.token).await;
    assert!(pages.len() >= 2);
    let mut seen: Vec<String> = Vec::new();
    for reply in pages.iter().rev() {
        assert!(body_len(reply) <= MAX_BODY, "{} bytes", body_len(reply));
        seen.extend(ids(&reply.body, "message_id"));
    }
    assert_eq!(seen, sent, "every message exactly once, in order");
}

#[tokio::test]
async fn conversation_pages_stay_under_one_mebibyte_and_link_to_the_rest() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    // Each summary carries its last message: 100 AI conversations with a heavy one each.
    let mut created = Vec::new();
    for _ in 0..100 {
        let reply = env
            .call(ConversationsCreate, "POST", "/api/conversations", Some(&alice.token), Some(json!({"is_ai": true})))
            .await;
        let id = assert_ok(&reply, 201)["conversation_id"].as_str().unwrap().to_string();
        assert_ok(&env.send(&alice, &id, &heavy(4000)).await, 200);
        created.push(id);
    }
    let pages = follow_links(&env, ConversationsList, "/api/conversations", &alice.token).await;
    assert!(pages.len() >= 2, "one page of {} bytes", body_len(&pages[0]));
    let mut seen: Vec<String> = Vec::new();
    for reply in &pages {
        assert!(body_len(reply) <= MAX_BODY, "{} bytes", body_len(reply));
        seen.extend(ids(&reply.body, "conversation_id"));
    }
    created.reverse(); // most recent activity first
    assert_eq!(seen, created, "every conversation exactly once, in order");
}

// 3. Nobody can impersonate the agent: not its address, not its name in any spelling.
#[tokio::test]
async fn the_agents_address_and_name_are_reserved() {
    let env = TestEnv::new().await;
    let message = env.refused(409, env.replay(AuthRegister, "agent-email", &[])).await;
    assert_eq!(message, "email is already registered");
    for email in ["ai-agent@agent.invalid", " AI-AGENT@AGENT.INVALID "] {
        env.refused(409, register(&env, email, "Mallory", None)).await;
    }
    let message = env.refused(400, env.replay(AuthRegister, "agent-name", &[("email", "m@example.com")])).await;
    assert_eq!(message, "name: is reserved");
    for name in ["AI Agent", "ai agent", " AI  AGENT ", "A.I. Agent", "ＡＩ　Ａｇｅｎｔ", "ai-agent"] {
        let message = env.refused(400, register(&env, "m@example.com", name, None)).await;
        assert_eq!(message, "name: is reserved", "{name:?}");
    }
    // Names that merely contain the words are fine.
    assert_ok(&register(&env, "m@example.com", "AI Agent Smith", None).await, 201);
}

// 4. A send tells nobody how many sockets the other members have open.
#[tokio::test]
async fn sends_carry_no_server_timing_outside_benchmark_mode() {
    let (env, _gateway) = TestEnv::with_realtime().await;
    let (alice, bob) = (env.register("alice").await, env.register("bob").await);
    let conversation = env.direct_conversation(&alice, &bob).await;
    crate::realtime::open(&env, &bob, Some(&conversation)).await;
    crate::realtime::open(&env, &bob, Some(&conversation)).await;
    let reply = env.send(&alice, &conversation, "hello").await;
    assert_ok(&reply, 200);
    assert_eq!(reply.header("server-timing"), None, "{:?}", reply.headers);
    assert!(!format!("{:?}", reply.headers).contains("connections"));
}

// 5. One address, one spelling: NFKC, lowercase, IDNA domain, letter TLDs.
#[tokio::test]
async fn emails_are_normalised_to_one_account() {
    let env = TestEnv::new().await;
    let reply = env.replay(AuthRegister, "idn-email", &[]).await;
    assert_eq!(assert_ok(&reply, 201)["email"], json!("x@xn--bcher-kva.de"));
    for same in ["x@xn--bcher-kva.de", "X@BÜCHER.DE", "ｘ＠ｂüｃｈｅｒ．ｄｅ"] {
        // Another name: the same registration again would be a retry, answered 201.
        let message = env.refused(409, register(&env, same, "Xavier Again", None)).await;
        assert_eq!(message, "email is already registered", "{same}");
        assert_eq!(login(&env, same).await, 200, "{same}");
    }
    let full_width = register(&env, "ａｄａ＠ｅｘａｍｐｌｅ．ｃｏｍ", "Ada", None).await;
    assert_eq!(assert_ok(&full_width, 201)["email"], json!("ada@example.com"));

    let message = env.refused(400, env.replay(AuthRegister, "numeric-tld", &[])).await;
    assert!(message.starts_with("email: must be a valid email address"), "{message}");
    for bad in [
        "x@example.123",
        "x@1.2.3.4",
        "x@[127.0.0.1]",
        "x@exa_mple.com",
        "x@-example.com",
        "x@example.c",
        "x@example.com.",
    ] {
        env.refused(400, register(&env, bad, "Xavier", None)).await;
    }
}

// 6. Names that spoof or vanish, and picture URLs that break out, are refused.
#[tokio::test]
async fn spoofing_names_and_breakout_urls_are_refused() {
    let env = TestEnv::new().await;
    let vars = [("email", "n@example.com")];
    let message = env.refused(400, env.replay(AuthRegister, "bidi-name", &vars)).await;
    assert_eq!(message, "name: must not contain bidirectional override or isolate characters");
    let message = env.refused(400, env.replay(AuthRegister, "invisible-name", &vars)).await;
    assert_eq!(message, "name: must contain at least one visible character");
    for name in ["\u{200b}", "\u{3164}", "\u{200b}\u{200c}\u{2060}", "\u{115f}\u{feff}", "\u{2800}", "a\u{2066}b"] {
        env.refused(400, register(&env, "n@example.com", name, None)).await;
    }
    let message = env.refused(400, env.replay(AuthRegister, "picture-breaks-out", &vars)).await;
    assert_eq!(message, "profile_picture: must be an http(s) URL of at most 2048 characters");
    for url in [
        "https://example.com/a b.png",
        "https://example.com/a'.png",
        "https://example.com/<a>.png",
        "https://user:secret@example.com/a.png",
        "ftp://example.com/a.png",
        "//example.com/a.png",
    ] {
        env.refused(400, register(&env, "n@example.com", "Nora", Some(url))).await;
    }
    // An emoji sequence joined with U+200D is a name; a URL is kept in its serialised form.
    let reply = register(&env, "n@example.com", "👩‍💻 Nora", Some("HTTPS://Example.COM/ä.png")).await;
    let body = assert_ok(&reply, 201);
    assert_eq!(
        (body["name"].as_str(), body["profile_picture"].as_str()),
        (Some("👩‍💻 Nora"), Some("https://example.com/%C3%A4.png"))
    );
}

// 8. Tokens: the scheme in any case; no future `iat`, no pending `nbf`; only real users.
#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let env = TestEnv::new().await;
    let alice = env.register("alice").await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let mut event = chat_tests::event("GET", &format!("/api/users/{}", alice.id), None, None);
        event["headers"]["authorization"] = json!(format!("{scheme} {}", alice.token));
        let reply = env.invoke_event(UsersGet, &event.to_string()).await;
        assert_ok(&reply, 200);
    }
}

fn sign(env: &TestEnv, claims: Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(env.app.config.jwt_secret.as_deref().unwrap());
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key).unwrap()
}

fn claims(env: &TestEnv, sub: &str, iat: i64, exp: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": sub, "iat": now + iat, "exp": now + exp, "iss": env.app.config.jwt_issuer, "aud": env.app.config.jwt_audience})
}

#[tokio::test]
async fn tokens_from_the_future_pending_tokens_and_tokens_for_nobody_are_refused() {
    let (env, _gateway) = TestEnv::with_realtime().await;
    let alice = env.register("alice").await;
    let path = format!("/api/users/{}", alice.id);
    let mut pending = claims(&env, &alice.id, 0, 600);
    pending["nbf"] = json!(chrono::Utc::now().timestamp() + 300);
    let refused = [
        sign(&env, claims(&env, &alice.id, 86_400, 90_000)), // issued tomorrow: valid for a day more
        sign(&env, pending),
        sign(&env, claims(&env, AGENT_ID, 0, 600)),
    ];
    for token in &refused {
        let message = env.refused(401, env.call(UsersGet, "GET", &path, Some(token), None)).await;
        assert_eq!(message, "invalid or expired token");
    }

    // A validly signed token naming no user creates nothing: no conversation, no connection.
    let ghost = sign(&env, claims(&env, &uuid::Uuid::now_v7().to_string(), 0, 600));
    let ai = env.call(ConversationsCreate, "POST", "/api/conversations", Some(&ghost), Some(json!({"is_ai": true})));
    assert_eq!(env.refused(401, ai).await, "invalid or expired token");
    let direct = json!({"is_ai": false, "participant_id": alice.id});
    let direct = env.call(ConversationsCreate, "POST", "/api/conversations", Some(&ghost), Some(direct));
    assert_eq!(env.refused(401, direct).await, "invalid or expired token");
    let before = env.snapshot().await;
    let connection = new_connection_id();
    let reply = ws(&env, Ws::Connect, "valid", &[("token", &ghost), ("connection_id", &connection)]).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["error"]["message"], "invalid or expired token");
    assert!(env.snapshot().await == before, "a refused $connect stored something");
    // The agent's id cannot open a socket either.
    let agent = sign(&env, claims(&env, AGENT_ID, 0, 600));
    let reply = ws(&env, Ws::Connect, "valid", &[("token", &agent), ("connection_id", &connection)]).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
}
