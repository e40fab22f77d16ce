//! The group rows: a group of `members` (256 by default, the most a group may have), two sockets
//! per member opened with `?token=` alone (every socket of a member gets the group's frames), our
//! send to all of them, then the same frame posted to the same sockets by the peer
//! (`peer.rs`): from a warm Node process, then from a fresh one per post.

use crate::client::{Api, Receipt, User, open_socket};
use crate::peer::{self, Peer};
use crate::stack::Stack;
use crate::{Mode, OPENING, Row, Sample, Setup, deliveries, send, send_keeping_frame};
use futures::StreamExt;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The largest group the contract allows.
pub const MEMBERS: usize = 256;
pub const SOCKETS_PER_MEMBER: usize = 2;
/// Registrations in flight (each hashes a password with argon2).
const REGISTERING: usize = 8;

pub async fn run(stack: &Stack, members: usize, reps: usize, log: &Path) -> Result<Vec<Row>, String> {
    let api = Api::new(&stack.http);
    let started = Instant::now();
    let users: Vec<User> = futures::stream::iter(0..members)
        .map(|i| {
            let api = &api;
            async move { api.register(&format!("member{i}")).await }
        })
        .buffered(REGISTERING)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    println!("  {members} users registered ({:.1} s)", started.elapsed().as_secs_f64());
    let creator = &users[0];
    let others: Vec<&str> = users[1..].iter().map(|u| u.id.as_str()).collect();
    let created = api
        .post(
            "/api/conversations",
            Some(&creator.token),
            json!({"is_ai": false, "participant_ids": others, "title": "bench"}),
        )
        .await?;
    let Some(conversation) = created.body["conversation_id"].as_str().map(str::to_string) else {
        return Err(format!("creating the group answered {}: {}", created.status, created.body));
    };

    let started = Instant::now();
    let (receipts, mut received) = mpsc::unbounded_channel();
    let sockets: Vec<&User> = users.iter().flat_map(|u| std::iter::repeat_n(u, SOCKETS_PER_MEMBER)).collect();
    let mut connection_ids = Vec::with_capacity(sockets.len());
    for batch in sockets.chunks(OPENING) {
        let opening = batch.iter().map(|user| open_socket(&stack.ws, user, None, true, receipts.clone()));
        for opened in futures::future::join_all(opening).await {
            connection_ids.push(opened?.ok_or("no connection id")?);
        }
    }
    let count = sockets.len();
    println!("  {count} sockets open, their ids asked ({:.1} s)", started.elapsed().as_secs_f64());

    // Our send. The warm-up's frame is what the peer posts afterwards.
    let (_, frame) = send_keeping_frame(&api, creator, &conversation, count, &mut received).await?;
    let frame = frame.ok_or("the warm-up send reached no socket")?;
    let mut ours = Vec::new();
    for _ in 0..reps {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sample = send(&api, creator, &conversation, count, &mut received).await?;
        println!(
            "    {:>8.1} ms to the last of {count} (store {:.1}, list {:.1}, post {:.1}), {} delivered",
            sample.total_ms, sample.store_ms, sample.list_ms, sample.post_ms, sample.delivered
        );
        ours.push(sample);
    }

    // The peer, on the same sockets, with the same frame and the endpoint our functions post to.
    let target = Target { endpoint: stack.ws.replacen("ws://", "http://", 1), connection_ids, frame };
    let mut warm = Peer::start(log)?;
    peer_post(&mut warm, &target, &mut received, Instant::now()).await?;
    let mut peer_samples = Vec::new();
    for _ in 0..reps {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sample = peer_post(&mut warm, &target, &mut received, Instant::now()).await?;
        println!(
            "    {:>8.1} ms to the last of {count} (peer, Promise.all {:.1}), {} delivered",
            sample.total_ms, sample.post_ms, sample.delivered
        );
        peer_samples.push(sample);
    }
    warm.finish().await?;

    // Node's start-up and a cold SDK client on top: what a cold Lambda instance of the sample pays.
    let mut fresh_samples = Vec::new();
    for _ in 0..reps {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let spawned = Instant::now();
        let mut fresh = Peer::start(log)?;
        let mut sample = peer_post(&mut fresh, &target, &mut received, spawned).await?;
        fresh.finish().await?;
        sample.wall_ms = spawned.elapsed().as_secs_f64() * 1000.0;
        println!(
            "    {:>8.1} ms to the last of {count} (fresh peer, Promise.all {:.1}, node spawn to exit {:.1}), {} delivered",
            sample.total_ms, sample.post_ms, sample.wall_ms, sample.delivered
        );
        fresh_samples.push(sample);
    }

    let row = |setup, samples| Row { setup, sockets: count, mode: Mode::Concurrent, latency_ms: 0, samples };
    Ok(vec![row(Setup::Group { members }, ours), row(Setup::Peer, peer_samples), row(Setup::PeerFresh, fresh_samples)])
}

/// Where and what the peer posts.
struct Target {
    endpoint: String,
    connection_ids: Vec<String>,
    frame: Value,
}

/// The peer posts the frame, its text made unique so that each delivery is counted as ours are
/// (the same length: the frame's size does not change), and every socket is waited for. The
/// time to the last socket counts from `started`.
async fn peer_post(
    peer: &mut Peer,
    target: &Target,
    received: &mut mpsc::UnboundedReceiver<Receipt>,
    started: Instant,
) -> Result<Sample, String> {
    while received.try_recv().is_ok() {}
    let text = format!("bench {}", uuid::Uuid::new_v4().simple());
    let mut frame = target.frame.clone();
    frame["message"] = Value::String(text.clone());
    let posted = peer.post(&peer::job(&target.endpoint, &target.connection_ids, &frame.to_string())).await?;
    if let Some(error) = &posted.error {
        eprintln!("  the peer: {} of {} posts failed, e.g. {error}", posted.failed, posted.ok + posted.failed);
    }
    let got = deliveries(received, &text, target.connection_ids.len(), started).await;
    Ok(Sample {
        total_ms: (got.last - started).as_secs_f64() * 1000.0,
        store_ms: f64::NAN,
        list_ms: f64::NAN,
        post_ms: posted.elapsed_ms,
        wall_ms: f64::NAN,
        delivered: got.count,
    })
}
