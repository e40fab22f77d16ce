//! Groups end to end with the real functions: who hears what on real sockets (creation,
//! messages, members added and removed, read receipts) and the inbox order that the stream
//! function `inbox-activity` keeps, through the table's real stream mapping.
//!
//! "Exactly once" and "nothing" are checked without sleeping: a `ping` answered with `pong`
//! closes the list of what a socket got. The gateway keeps one queue per socket, every push
//! of a request is made before the request answers, and the pong is queued after all of them.

use super::websocket::{User, register, send, ws_url};
use super::ws_client::Socket;
use super::*;

/// How long a removed member's socket is watched for a late frame, beyond the pong barrier.
const QUIET: Duration = Duration::from_millis(500);
/// The inbox is reordered by the stream (polled every 100 ms): bound on the wait for it.
const SETTLE: Duration = Duration::from_secs(5);

/// Everything the socket got so far, in order (see the module's note).
async fn drain(socket: &mut Socket) -> Vec<Value> {
    socket.send_json(json!({"action": "ping"})).await;
    let mut frames = Vec::new();
    loop {
        let frame = socket.next_json().await;
        if frame == json!({"type": "pong"}) {
            return frames;
        }
        frames.push(frame);
    }
}

/// The one frame a socket got since the last drain; fails on none, several, or another type.
#[track_caller]
fn only(frames: Vec<Value>, kind: &str, who: &str) -> Value {
    assert_eq!(frames.len(), 1, "{who}: expected one {kind} frame, got {frames:#?}");
    assert_eq!(frames[0]["type"], kind, "{who}: {frames:#?}");
    frames.into_iter().next().unwrap()
}

fn id_of(reply: &Reply) -> String {
    reply.json()["conversation_id"].as_str().expect("a conversation_id").to_string()
}

async fn delete(url: &str, token: &str) -> Reply {
    call("DELETE", url, &[("authorization", &format!("Bearer {token}"))], Bytes::new()).await
}

/// The caller's inbox, in order.
async fn inbox(gw: &Gateway, user: &User) -> Vec<Value> {
    let reply = get(&gw.url("/api/conversations"), &user.token).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    reply.json().as_array().unwrap().clone()
}

/// Polls `user`'s inbox until `done` holds for it (bounded by [`SETTLE`]); the last inbox.
async fn inbox_until(gw: &Gateway, user: &User, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let conversations = inbox(gw, user).await;
        if done(&conversations) {
            return conversations;
        }
        assert!(Instant::now() < deadline, "{what} within {SETTLE:?}; inbox: {conversations:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_through_the_gateway() {
    require_function_binaries();
    let gw = Gateway::start(&[]);
    let (a, b) = (register(&gw, "alice").await, register(&gw, "bob").await);
    let (c, d) = (register(&gw, "carol").await, register(&gw, "dave").await);
    // An older conversation, before any socket is open: its move up the inbox comes last.
    let direct =
        post_json(&gw.url("/api/conversations"), Some(&a.token), json!({"is_ai": false, "participant_id": b.id})).await;
    assert_eq!(direct.status, 201, "{}", direct.json());
    let direct = id_of(&direct);

    // Sockets opened before the group exists, with no conversation_id and no subscribe.
    let open = |user: &User| {
        let url = ws_url(&gw, user, None);
        async move { Socket::open(&url).await }
    };
    let (mut a1, mut a2, mut b1, mut c1, mut d1) =
        (open(&a).await, open(&a).await, open(&b).await, open(&c).await, open(&d).await);

    // 5. ping → pong, answered to the socket that asked.
    a1.send_json(json!({"action": "ping"})).await;
    assert_eq!(a1.next_json().await, json!({"type": "pong"}));

    // 1. A group of three: every member's sockets hear of it once, as that member sees it.
    let created = post_json(
        &gw.url("/api/conversations"),
        Some(&a.token),
        json!({"is_ai": false, "participant_ids": [b.id, c.id], "title": "e2e group"}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json());
    let group = id_of(&created);
    for (who, socket) in [("a1", &mut a1), ("a2", &mut a2), ("b1", &mut b1), ("c1", &mut c1)] {
        let frame = only(drain(socket).await, "conversation_created", who);
        let conversation = &frame["conversation"];
        assert_eq!(
            (conversation["conversation_id"].as_str(), conversation["kind"].as_str()),
            (Some(group.as_str()), Some("group")),
            "{who}: {frame}"
        );
        let mut members: Vec<&str> =
            conversation["participants"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        members.sort_unstable();
        let mut expected = [a.id.as_str(), b.id.as_str(), c.id.as_str()];
        expected.sort_unstable();
        assert_eq!(members, expected, "{who}: {frame}");
    }
    assert_eq!(drain(&mut d1).await, Vec::<Value>::new(), "d1 is no member yet");

    // A message reaches every socket of every member once; subscribing (twice) adds no copy.
    let first = send(&gw, &a, &group, "hello group").await;
    assert_eq!(first.status, 200, "{}", first.json());
    for (who, socket) in [("a1", &mut a1), ("a2", &mut a2), ("b1", &mut b1), ("c1", &mut c1)] {
        let frame = only(drain(socket).await, "message", who);
        assert_eq!(
            (frame["conversation_id"].as_str(), frame["message_id"].clone()),
            (Some(group.as_str()), first.json()["message_id"].clone()),
            "{who}: {frame}"
        );
    }
    for _ in 0..2 {
        a1.send_json(json!({"action": "subscribe", "conversation_id": group})).await;
        assert_eq!(a1.next_json().await, json!({"type": "subscribed", "conversation_id": group}));
    }
    let second = send(&gw, &b, &group, "after two subscribes").await;
    assert_eq!(second.status, 200, "{}", second.json());
    for (who, socket) in [("a1", &mut a1), ("a2", &mut a2), ("b1", &mut b1), ("c1", &mut c1)] {
        let frame = only(drain(socket).await, "message", who);
        assert_eq!(frame["message_id"], second.json()["message_id"], "{who}: {frame}");
    }

    // 2. A adds D: D hears of the conversation, and everyone (D included) of the change, once.
    let members = gw.url(&format!("/api/conversations/{group}/members"));
    let added = post_json(&members, Some(&a.token), json!({"user_ids": [d.id]})).await;
    assert_eq!(added.status, 200, "{}", added.json());
    let change = |added: &[&str], removed: &[&str]| json!({"type": "members_changed", "conversation_id": group, "added": added, "removed": removed, "by": a.id});
    let mut to_d = drain(&mut d1).await;
    to_d.sort_by_key(|f| f["type"].as_str().unwrap_or_default().to_string());
    assert_eq!(to_d.len(), 2, "{to_d:#?}");
    assert_eq!(
        (to_d[0]["type"].as_str(), to_d[0]["conversation"]["conversation_id"].as_str()),
        (Some("conversation_created"), Some(group.as_str())),
        "{to_d:#?}"
    );
    assert_eq!(to_d[1], change(&[d.id.as_str()], &[]));
    for (who, socket) in [("a1", &mut a1), ("a2", &mut a2), ("b1", &mut b1), ("c1", &mut c1)] {
        assert_eq!(only(drain(socket).await, "members_changed", who), change(&[d.id.as_str()], &[]), "{who}");
    }

    // A removes B: B and the others hear of it once; then B hears nothing more of the group.
    let removed = delete(&format!("{members}/{}", b.id), &a.token).await;
    assert_eq!(removed.status, 204, "{}", String::from_utf8_lossy(&removed.body));
    for (who, socket) in [("a1", &mut a1), ("a2", &mut a2), ("b1", &mut b1), ("c1", &mut c1), ("d1", &mut d1)] {
        assert_eq!(only(drain(socket).await, "members_changed", who), change(&[], &[b.id.as_str()]), "{who}");
    }
    let after = send(&gw, &a, &group, "after bob left").await;
    assert_eq!(after.status, 200, "{}", after.json());
    let last = after.json()["message_id"].as_str().unwrap().to_string();
    for (who, socket) in [("a1", &mut a1), ("a2", &mut a2), ("c1", &mut c1), ("d1", &mut d1)] {
        assert_eq!(only(drain(socket).await, "message", who)["message_id"], last.as_str(), "{who}");
    }
    assert_eq!(drain(&mut b1).await, Vec::<Value>::new(), "a removed member got a frame of the group");
    b1.silent_for(QUIET).await.expect("a removed member got a late frame of the group");
    let history = get(&gw.url(&format!("/api/conversations/{group}")), &b.token).await;
    history.assert_envelope(404);
    send(&gw, &b, &group, "still here?").await.assert_envelope(404);
    let read_url = gw.url(&format!("/api/conversations/{group}/read"));
    post_json(&read_url, Some(&b.token), json!({"message_id": last})).await.assert_envelope(404);
    get(&members, &b.token).await.assert_envelope(404);
    assert!(
        !inbox(&gw, &b).await.iter().any(|c| c["conversation_id"] == group.as_str()),
        "the group stayed in B's inbox"
    );

    // 3. C reads: every member's sockets (C's own included) get one `read`; again, nothing.
    let read = post_json(&read_url, Some(&c.token), json!({"message_id": last})).await;
    assert_eq!(read.status, 200, "{}", read.json());
    assert_eq!(
        (read.json()["last_read_message_id"].as_str(), read.json()["unread_count"].as_u64()),
        (Some(last.as_str()), Some(0))
    );
    let receipt = json!({"type": "read", "conversation_id": group, "user_id": c.id, "message_id": last});
    for (who, socket) in [("a1", &mut a1), ("a2", &mut a2), ("c1", &mut c1), ("d1", &mut d1)] {
        assert_eq!(only(drain(socket).await, "read", who), receipt, "{who}");
    }
    let again = post_json(&read_url, Some(&c.token), json!({"message_id": last})).await;
    assert_eq!(again.status, 200, "{}", again.json());
    for (who, socket) in [("a1", &mut a1), ("a2", &mut a2), ("b1", &mut b1), ("c1", &mut c1), ("d1", &mut d1)] {
        assert_eq!(drain(socket).await, Vec::<Value>::new(), "{who}: the same read pushed again");
    }

    // 4. B sends in the older direct conversation: it moves first in A's inbox through the
    // stream, with one unread; B's read position becomes B's message.
    assert_eq!(inbox(&gw, &a).await[0]["conversation_id"], group.as_str(), "the group is A's latest activity");
    let from_b = send(&gw, &b, &direct, "back to direct").await;
    assert_eq!(from_b.status, 200, "{}", from_b.json());
    let from_b = from_b.json()["message_id"].as_str().unwrap().to_string();
    // B's socket still works: it was only the group that went quiet.
    assert_eq!(only(drain(&mut b1).await, "message", "b1")["message_id"], from_b.as_str());
    let first_for_a = inbox_until(&gw, &a, "the direct conversation first in A's inbox", |inbox| {
        inbox.first().is_some_and(|c| c["conversation_id"] == direct.as_str())
    })
    .await;
    assert_eq!(first_for_a[0]["unread_count"], 1, "{:#?}", first_for_a[0]);
    inbox_until(&gw, &b, "B's read position at B's message", |inbox| {
        inbox.iter().any(|c| c["conversation_id"] == direct.as_str() && c["last_read_message_id"] == from_b.as_str())
    })
    .await;

    for socket in [a1, a2, b1, c1, d1] {
        socket.close().await;
    }
    gw.stop_leaving_nothing();
}
