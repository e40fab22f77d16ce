//! The WebSocket API end to end with the real functions: real sockets through the local
//! gateway, messages sent over HTTP and over the socket, the management API, and the AI agent
//! answering through the table's stream.

use super::ws_client::{Socket, WAIT};
use super::*;
use std::collections::HashSet;

pub(super) struct User {
    pub(super) id: String,
    pub(super) token: String,
}

pub(super) async fn register(gw: &Gateway, name: &str) -> User {
    let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
    let reply = post_json(
        &gw.url("/api/auth/register"),
        None,
        json!({"email": email, "password": "correct horse", "name": name}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.json());
    let body = reply.json();
    User { id: body["user_id"].as_str().unwrap().into(), token: body["token"].as_str().unwrap().into() }
}

pub(super) fn ws_url(gw: &Gateway, user: &User, conversation: Option<&str>) -> String {
    let mut url = format!("{}/?token={}", gw.ws, user.token);
    if let Some(id) = conversation {
        url.push_str(&format!("&conversation_id={id}"));
    }
    url
}

pub(super) async fn send(gw: &Gateway, user: &User, conversation: &str, text: &str) -> Reply {
    let body = json!({"conversation_id": conversation, "sender_id": user.id, "message": text});
    post_json(&gw.url("/api/messages"), Some(&user.token), body).await
}

/// The connection id a socket has (asked over the socket itself).
async fn whoami(socket: &mut Socket) -> String {
    socket.send_json(json!({"action": "whoami"})).await;
    let frame = socket.next_json().await;
    assert_eq!(frame["type"], "whoami", "{frame}");
    frame["connection_id"].as_str().unwrap().to_string()
}

/// The management endpoint as the functions reach it (`WEBSOCKET_ENDPOINT` has the stage).
fn management(gw: &Gateway, id: &str) -> String {
    let encoded: String = url_encode(id);
    format!("{}/v1/@connections/{encoded}", gw.ws.replace("ws://", "http://"))
}

fn url_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_api_through_the_gateway() {
    require_function_binaries();
    // Benchmark mode, so that the sends' Server-Timing shows how many sockets were posted to.
    let gw = Gateway::start(&[("LOCAL_AI_PROVIDER", "offline"), ("SERVER_TIMING", "1")]);
    let (alice, bob, carol) = (register(&gw, "alice").await, register(&gw, "bob").await, register(&gw, "carol").await);
    let created =
        post_json(&gw.url("/api/conversations"), Some(&alice.token), json!({"is_ai": false, "participant_id": bob.id}))
            .await;
    assert_eq!(created.status, 201, "{}", created.json());
    let conversation = created.json()["conversation_id"].as_str().unwrap().to_string();
    let conv = Some(conversation.as_str());

    // Handshakes: no token, a bad token, a conversation the caller is not in, a bad id.
    let refused = Socket::connect(&format!("{}/", gw.ws)).await.unwrap_err();
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(refused.body.contains("\"status\":401"), "the function's body comes back: {refused:?}");
    let bad = User { id: String::new(), token: "not.a.jwt".into() };
    assert_eq!(Socket::connect(&ws_url(&gw, &bad, None)).await.unwrap_err().status, 401);
    let outsider = Socket::connect(&ws_url(&gw, &carol, conv)).await.unwrap_err();
    assert!([403, 404].contains(&outsider.status), "{outsider:?}");
    assert_eq!(Socket::connect(&ws_url(&gw, &alice, Some("nope"))).await.unwrap_err().status, 400);

    // Sockets of both participants; the stage in the URL is optional.
    let mut a1 = Socket::open(&ws_url(&gw, &alice, conv)).await;
    let mut b1 = Socket::open(&ws_url(&gw, &bob, conv).replacen("/?", "/v1?", 1)).await;
    let a1_id = whoami(&mut a1).await;
    assert_eq!(a1_id.len(), 16, "{a1_id}");
    assert!(a1_id.ends_with('=') && a1_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"=_+/-".contains(&b)));

    // POST /api/messages reaches the other participant's socket and the sender's own.
    let sent = send(&gw, &alice, &conversation, "hello over http").await;
    assert_eq!(sent.status, 200, "{}", sent.json());
    let timing = sent.header("server-timing").unwrap_or_default().to_string();
    assert!(timing.contains("store;dur=") && timing.contains("post;dur="), "{timing}");
    for socket in [&mut a1, &mut b1] {
        let frame = socket.next_json().await;
        assert_eq!(
            (frame["type"].as_str(), frame["message"].as_str(), frame["sender_id"].as_str()),
            (Some("message"), Some("hello over http"), Some(alice.id.as_str())),
            "{frame}"
        );
        assert_eq!(frame["message_id"], sent.json()["message_id"]);
    }

    // sendMessage over the socket: an ack to the sender, the message to everyone.
    b1.send_json(json!({"action": "sendMessage", "conversation_id": conversation, "message": "hi from bob"})).await;
    let mut frames = vec![b1.next_json().await, b1.next_json().await];
    frames.sort_by_key(|f| f["type"].as_str().unwrap_or_default().to_string());
    assert_eq!((frames[0]["type"].as_str(), frames[1]["type"].as_str()), (Some("message"), Some("sent")), "{frames:?}");
    assert_eq!(frames[1]["message_id"], frames[0]["message_id"]);
    let to_alice = a1.next_json().await;
    assert_eq!(
        (to_alice["message"].as_str(), to_alice["sender_id"].as_str()),
        (Some("hi from bob"), Some(bob.id.as_str()))
    );

    // An outsider can neither subscribe nor attach a socket through the connect route.
    let mut c1 = Socket::open(&ws_url(&gw, &carol, None)).await;
    let c1_id = whoami(&mut c1).await;
    c1.send_json(json!({"action": "subscribe", "conversation_id": conversation})).await;
    let refused = c1.next_json().await;
    assert_eq!(
        (refused["type"].as_str(), refused["error"]["status"].as_u64()),
        (Some("error"), Some(404)),
        "{refused}"
    );
    let attach = post_json(
        &gw.url(&format!("/api/conversations/{conversation}/connect")),
        Some(&carol.token),
        json!({"connection_id": c1_id}),
    )
    .await;
    assert_eq!(attach.status, 404, "{}", attach.json());
    // ... nor attach someone else's socket to a conversation of their own.
    let stolen = post_json(
        &gw.url(&format!("/api/conversations/{conversation}/connect")),
        Some(&bob.token),
        json!({"connection_id": a1_id}),
    )
    .await;
    assert_eq!(stolen.status, 403, "{}", stolen.json());

    // Bad frames get error frames and the socket stays usable.
    for bad in ["not json", "[1,2]", r#"{"action":"dance"}"#, r#"{"action":"sendMessage"}"#] {
        a1.send_text(bad).await;
        let frame = a1.next_json().await;
        assert_eq!(
            (frame["type"].as_str(), frame["error"]["status"].as_u64()),
            (Some("error"), Some(400)),
            "{bad}: {frame}"
        );
    }
    assert_eq!(whoami(&mut a1).await, a1_id);

    // Typing reaches only the other participants.
    a1.send_json(json!({"action": "typing", "conversation_id": conversation})).await;
    let typing = b1.next_json().await;
    assert_eq!((typing["type"].as_str(), typing["user_id"].as_str()), (Some("typing"), Some(alice.id.as_str())));
    a1.silent_for(Duration::from_millis(700)).await.expect("the typist gets no typing frame");
    c1.silent_for(Duration::from_millis(100)).await.expect("an outsider gets nothing");

    // The management API: GET describes a connection, POST sends, DELETE closes; 410 once gone.
    let described = call("GET", &management(&gw, &a1_id), &[], Bytes::new()).await;
    assert_eq!(described.status, 200);
    let described = described.json();
    assert!(described["connectedAt"].is_string() && described["lastActiveAt"].is_string(), "{described}");
    assert_eq!(described["identity"]["sourceIp"], "127.0.0.1");
    let posted = call("POST", &management(&gw, &c1_id), &[], r#"{"type":"hello"}"#).await;
    assert_eq!(posted.status, 200);
    assert_eq!(c1.next_json().await, json!({"type": "hello"}));
    let deleted = call("DELETE", &management(&gw, &c1_id), &[], Bytes::new()).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(c1.closed_with().await, Some(1000));
    for method in ["POST", "GET", "DELETE"] {
        let gone = call(method, &management(&gw, &c1_id), &[], "late").await;
        assert_eq!((gone.status, gone.header("x-amzn-errortype")), (410, Some("GoneException")), "{method}");
        assert_eq!(gone.json(), json!({"message": "Gone"}));
    }

    // A client that goes away is cleaned up ($disconnect); a connection whose socket is gone
    // without a $disconnect (missed on AWS) is dropped at the first 410; live sockets still get
    // everything.
    let b2 = Socket::open(&ws_url(&gw, &bob, conv)).await;
    b2.drop_abruptly();
    let stale = plant_stale_connection(&gw, &bob.id).await;
    let sent = send(&gw, &alice, &conversation, "after the stale ones").await;
    assert_eq!(sent.status, 200);
    for socket in [&mut a1, &mut b1] {
        assert_eq!(socket.next_json().await["message"], "after the stale ones");
    }
    let deadline = Instant::now() + WAIT;
    while connections(&gw, &[&alice, &bob]).await.contains(&stale) {
        assert!(Instant::now() < deadline, "the stale connection was never removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gw.output().iter().any(|l| l.starts_with(&format!("WS POST @connections/{stale} 410"))));
    assert_eq!(connections(&gw, &[&alice, &bob]).await.len(), 2, "only the two live sockets remain");

    // 50 sockets all receive one message.
    let mut many = Vec::new();
    for _ in 0..50 {
        many.push(Socket::open(&ws_url(&gw, &bob, conv)).await);
    }
    let sent = send(&gw, &alice, &conversation, "to all fifty").await;
    assert_eq!(sent.status, 200);
    assert!(sent.header("server-timing").unwrap_or_default().contains("52 connections"), "{:?}", sent.headers);
    let received = futures::future::join_all(many.iter_mut().map(|s| s.next_json())).await;
    assert!(received.iter().all(|f| f["message"] == "to all fifty"), "{received:?}");
    for socket in [&mut a1, &mut b1] {
        assert_eq!(socket.next_json().await["message"], "to all fifty");
    }
    futures::future::join_all(many.into_iter().map(Socket::close)).await;

    ai_conversation(&gw, &alice).await;

    // Closing runs $disconnect: no connection is left behind.
    a1.close().await;
    b1.close().await;
    let deadline = Instant::now() + WAIT;
    while !connections(&gw, &[&alice, &bob]).await.is_empty() {
        assert!(Instant::now() < deadline, "$disconnect did not remove the connections");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The gateway logs $disconnect once the function has answered, a moment after its deletes.
    let logged = |output: &[String]| output.iter().any(|l| l.starts_with(&format!("WS DISCONNECT {a1_id} 200 ")));
    while !logged(&gw.output()) {
        assert!(Instant::now() < deadline, "{:#?}", gw.output());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.stop_leaving_nothing();
}

/// An AI conversation: the agent's deltas and its message arrive within seconds, and both
/// messages are in the history.
async fn ai_conversation(gw: &Gateway, alice: &User) {
    let created = post_json(&gw.url("/api/conversations"), Some(&alice.token), json!({"is_ai": true})).await;
    assert_eq!(created.status, 201, "{}", created.json());
    let conversation = created.json()["conversation_id"].as_str().unwrap().to_string();
    let mut socket = Socket::open(&ws_url(gw, alice, Some(&conversation))).await;
    let started = Instant::now();
    socket.send_json(json!({"action": "sendMessage", "conversation_id": conversation, "message": "hello agent"})).await;
    let mut frames = Vec::new();
    let ack = socket.next_of_type("sent", &mut frames).await;
    let question = ack["message_id"].as_str().unwrap().to_string();
    // The user's own message, then the agent's reply (deltas come before it).
    let mut reply = None;
    while reply.is_none() {
        let frame = socket.next_of_type("message", &mut frames).await;
        if frame["sender_id"] != alice.id.as_str() {
            reply = Some(frame);
        }
    }
    let reply = reply.unwrap();
    // Generous: the offline model answers at once, but a loaded machine is slow to start it.
    assert!(started.elapsed() < Duration::from_secs(60), "the agent took {:?}", started.elapsed());
    let deltas: Vec<&Value> = frames.iter().filter(|f| f["type"] == "ai_delta").collect();
    assert!(!deltas.is_empty(), "no ai_delta frames: {frames:?}");
    assert!(deltas.iter().all(|d| d["reply_to"] == question.as_str()), "{deltas:?}");
    let streamed: String = deltas.iter().map(|d| d["delta"].as_str().unwrap()).collect();
    assert_eq!(reply["message"].as_str(), Some(streamed.as_str()), "the deltas add up to the reply");
    assert!(streamed.contains("hello agent"), "{streamed}");

    let history = get(&gw.url(&format!("/api/conversations/{conversation}")), &alice.token).await.json();
    let texts: Vec<&str> = history.as_array().unwrap().iter().map(|m| m["message"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hello agent", reply["message"].as_str().unwrap()]);
    socket.close().await;
}

fn dynamodb(gw: &Gateway) -> aws_sdk_dynamodb::Client {
    local_stack::local_client(&gw.dynamodb)
}

/// The open connections of `users`, read from their connections items (`USER#<id>`/`CONNECTIONS`).
async fn connections(gw: &Gateway, users: &[&User]) -> HashSet<String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut found = HashSet::new();
    for user in users {
        let item = dynamodb(gw)
            .get_item()
            .table_name("chat-local")
            .key("PK", AttributeValue::S(format!("USER#{}", user.id)))
            .key("SK", AttributeValue::S("CONNECTIONS".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("DynamoDB answers");
        let ids = item.item().and_then(|i| i.get("connection_ids")).and_then(|ids| ids.as_ss().ok());
        found.extend(ids.into_iter().flatten().cloned());
    }
    found
}

/// A connection of `user` whose socket is gone without a `$disconnect` (docs/data-model.md):
/// its item and its id in the user's connections, as `$connect` wrote them; its id.
async fn plant_stale_connection(gw: &Gateway, user: &str) -> String {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let id = "StaleConnAAAAA=".to_string();
    dynamodb(gw)
        .put_item()
        .table_name("chat-local")
        .item("PK", A::S(format!("CONN#{id}")))
        .item("SK", A::S("CONNECTION".into()))
        .item("entity_type", A::S("connection".into()))
        .item("connection_id", A::S(id.clone()))
        .item("user_id", A::S(user.into()))
        .item("connected_at", A::S("2026-01-01T00:00:00.000Z".into()))
        .item("expires_at", A::N((chrono_now() + 3600).to_string()))
        .send()
        .await
        .expect("DynamoDB stores the connection");
    dynamodb(gw)
        .update_item()
        .table_name("chat-local")
        .key("PK", A::S(format!("USER#{user}")))
        .key("SK", A::S("CONNECTIONS".into()))
        .update_expression("ADD connection_ids :id")
        .expression_attribute_values(":id", A::Ss(vec![id.clone()]))
        .send()
        .await
        .expect("DynamoDB adds the id");
    id
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}
