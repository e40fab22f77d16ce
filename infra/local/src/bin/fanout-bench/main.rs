//! `fanout-bench` (run it with `infra/bench`): how long one message takes to reach 1, 100 and
//! 1,000 sockets through the local stack, and where the time goes (storing it, listing the
//! connections, posting to them: the send's `Server-Timing`), with the fan-out's default
//! concurrency and sequentially (`FANOUT_CONCURRENCY=1`); then both again for 1,000 sockets
//! with `WS_POST_LATENCY_MS` (`FANOUT_BENCH_LATENCY_MS`, default 5; 0 skips it), a stand-in for
//! the round trip each post costs on AWS. Then a 256-member group with 2 sockets per member,
//! and the same frame posted to the same sockets as AWS's simple-websockets-chat-app does it
//! (`group.rs`, `peer.rs`). Prints a table and writes docs/benchmarks/fanout.md.
//! Every delivery is counted: a lost frame fails the run.

mod client;
mod group;
mod peer;
mod report;
mod stack;

use client::{Api, Receipt, User, open_socket, server_timing};
use serde_json::{Value, json};
use stack::Stack;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// Sockets per run, unless `FANOUT_BENCH_SIZES` (comma-separated, ascending) says otherwise.
const SIZES: [usize; 3] = [1, 100, 1000];
/// Handshakes in flight while opening sockets (each runs `$connect` against DynamoDB).
const OPENING: usize = 16;
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The functions' default `FANOUT_CONCURRENCY`.
    Concurrent,
    /// `FANOUT_CONCURRENCY=1`.
    Sequential,
}

/// What a row measures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// Two users, one direct conversation, the sockets half each user's.
    Direct,
    /// Our send to a group of this many members.
    Group { members: usize },
    /// The peer posting our frame to the group's sockets, from a warm Node process.
    Peer,
    /// The same, from a fresh Node process per post (start-up included in `wall_ms`).
    PeerFresh,
}

/// One measured send.
pub struct Sample {
    pub total_ms: f64,
    pub store_ms: f64,
    pub list_ms: f64,
    pub post_ms: f64,
    /// The peer's process from spawn to exit (fresh processes only; NaN otherwise).
    pub wall_ms: f64,
    pub delivered: usize,
}

/// Sockets of the runs with an emulated latency per post.
pub const LATENCY_SOCKETS: usize = 500;

/// The samples of one size, mode and emulated latency.
pub struct Row {
    pub setup: Setup,
    pub sockets: usize,
    pub mode: Mode,
    /// `WS_POST_LATENCY_MS` of the stack.
    pub latency_ms: u64,
    pub samples: Vec<Sample>,
}

/// One stack: how it posts, its emulated latency, and the socket counts measured on it.
struct Scenario {
    mode: Mode,
    latency_ms: u64,
    sizes: Vec<usize>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(bin_dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)) else {
        eprintln!("error: cannot find fanout-bench's own directory");
        return ExitCode::FAILURE;
    };
    let reps = std::env::var("FANOUT_BENCH_REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(7usize).max(1);
    let sizes: Vec<usize> = std::env::var("FANOUT_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|s: &Vec<usize>| !s.is_empty())
        .unwrap_or_else(|| SIZES.to_vec());
    let latency_ms = std::env::var("FANOUT_BENCH_LATENCY_MS").ok().and_then(|l| l.parse().ok()).unwrap_or(5u64);
    // Which rows: `direct` (the sizes above), `group` (the group and the peer); both by default.
    let wanted = std::env::var("FANOUT_BENCH_ROWS").unwrap_or_else(|_| "direct,group".into());
    let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
    let members = std::env::var("FANOUT_BENCH_GROUP_MEMBERS")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(group::MEMBERS)
        .clamp(2, group::MEMBERS);
    let group_members = wanted.contains(&"group").then_some(members);
    let largest = sizes.iter().copied().max().unwrap_or(1);
    let mut scenarios: Vec<Scenario> = [Mode::Concurrent, Mode::Sequential]
        .into_iter()
        .map(|mode| Scenario { mode, latency_ms: 0, sizes: sizes.clone() })
        .collect();
    if !wanted.contains(&"direct") {
        scenarios.clear();
    } else if latency_ms > 0 {
        // At most 500 sockets: posting one at a time with 5 ms each to 1,000 would outlast a
        // request's 5 s budget (`chat_core::bounds`) and be cut with a 503.
        scenarios.extend([Mode::Concurrent, Mode::Sequential].map(|mode| Scenario {
            mode,
            latency_ms,
            sizes: vec![largest.min(LATENCY_SOCKETS)],
        }));
    }
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        eprintln!("error: cannot listen for signals");
        return ExitCode::FAILURE;
    };
    // On a signal the run is dropped, and with it the stack, which is stopped in order.
    let rows = tokio::select! {
        rows = run(&bin_dir, &scenarios, group_members, reps) => rows,
        _ = interrupt.recv() => Err("interrupted".into()),
        _ = terminate.recv() => Err("terminated".into()),
    };
    match rows {
        Ok(rows) => {
            let markdown = report::markdown(&rows, reps);
            println!("\n{markdown}");
            let path = local_stack::project_root().join("docs/benchmarks/fanout.md");
            let written = std::fs::create_dir_all(path.parent().expect("a parent"))
                .and_then(|()| std::fs::write(&path, &markdown));
            if let Err(e) = written {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            println!("written to {}", path.display());
            let delivered: usize = rows.iter().flat_map(|r| &r.samples).map(|s| s.delivered).sum();
            let expected: usize = rows.iter().map(|r| r.sockets * r.samples.len()).sum();
            if delivered != expected {
                eprintln!("error: {} of {expected} deliveries were lost", expected - delivered);
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    bin_dir: &Path,
    scenarios: &[Scenario],
    group_members: Option<usize>,
    reps: usize,
) -> Result<Vec<Row>, String> {
    let log: PathBuf = bin_dir.join("fanout-bench.log");
    let _ = std::fs::remove_file(&log);
    let mut rows = Vec::new();
    for scenario in scenarios {
        let mode = scenario.mode;
        let stack = start_stack(bin_dir, mode, scenario.latency_ms, &log)?;
        println!(
            "{}, {} ms added per post: local stack at {} and {}",
            report::mode_name(mode),
            scenario.latency_ms,
            stack.http,
            stack.ws
        );
        let api = Api::new(&stack.http);
        let (alice, bob) = (api.register("alice").await?, api.register("bob").await?);
        let created = api
            .post("/api/conversations", Some(&alice.token), json!({"is_ai": false, "participant_id": bob.id}))
            .await?;
        let conversation = created.body["conversation_id"].as_str().ok_or("no conversation was created")?.to_string();
        let (receipts, mut received) = mpsc::unbounded_channel();
        let mut open = 0;
        for &sockets in &scenario.sizes {
            let started = Instant::now();
            while open < sockets {
                let batch = (sockets - open).min(OPENING);
                let users = (open..open + batch).map(|i| if i % 2 == 0 { &bob } else { &alice });
                let opening =
                    users.map(|user| open_socket(&stack.ws, user, Some(&conversation), false, receipts.clone()));
                for opened in futures::future::join_all(opening).await {
                    opened?;
                }
                open += batch;
            }
            println!("  {sockets} socket(s) open ({:.1} s)", started.elapsed().as_secs_f64());
            // Not measured: warms the function instances and their connections to the WebSocket API.
            send(&api, &alice, &conversation, sockets, &mut received).await?;
            let mut samples = Vec::new();
            for _ in 0..reps {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let sample = send(&api, &alice, &conversation, sockets, &mut received).await?;
                println!(
                    "    {:>8.1} ms to the last of {} (store {:.1}, list {:.1}, post {:.1}), {} delivered",
                    sample.total_ms, sockets, sample.store_ms, sample.list_ms, sample.post_ms, sample.delivered
                );
                samples.push(sample);
            }
            rows.push(Row { setup: Setup::Direct, sockets, mode, latency_ms: scenario.latency_ms, samples });
        }
        drop(stack);
    }
    if let Some(members) = group_members {
        let stack = start_stack(bin_dir, Mode::Concurrent, 0, &log)?;
        println!("group of {members}: local stack at {} and {}", stack.http, stack.ws);
        rows.extend(group::run(&stack, members, reps, &log).await?);
    }
    Ok(rows)
}

/// A stack posting in `mode`, with `latency_ms` added per post, in benchmark mode.
fn start_stack(bin_dir: &Path, mode: Mode, latency_ms: u64, log: &Path) -> Result<Stack, String> {
    let latency = latency_ms.to_string();
    // Benchmark mode: sends answer with Server-Timing, which splits each send's time.
    let mut env = vec![("WS_POST_LATENCY_MS", latency.as_str()), ("SERVER_TIMING", "1")];
    // Another DynamoDB-compatible server instead of the stack's own (e.g. for a comparison).
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").ok().filter(|e| !e.is_empty());
    if let Some(endpoint) = &endpoint {
        env.push(("DYNAMODB_ENDPOINT", endpoint.as_str()));
    }
    if mode == Mode::Sequential {
        env.push(("FANOUT_CONCURRENCY", "1"));
    }
    Stack::start(bin_dir, &env, log)
}

/// Sends one message and waits until every socket has it: the time to the last one.
pub async fn send(
    api: &Api,
    sender: &User,
    conversation: &str,
    sockets: usize,
    received: &mut mpsc::UnboundedReceiver<Receipt>,
) -> Result<Sample, String> {
    send_keeping_frame(api, sender, conversation, sockets, received).await.map(|(sample, _)| sample)
}

/// [`send`], also answering the frame as the first socket got it.
pub async fn send_keeping_frame(
    api: &Api,
    sender: &User,
    conversation: &str,
    sockets: usize,
    received: &mut mpsc::UnboundedReceiver<Receipt>,
) -> Result<(Sample, Option<Value>), String> {
    while received.try_recv().is_ok() {}
    let text = format!("bench {}", uuid::Uuid::new_v4().simple());
    let started = Instant::now();
    let body = json!({"conversation_id": conversation, "sender_id": sender.id, "message": text});
    let reply = api.post("/api/messages", Some(&sender.token), body).await?;
    if reply.status != 200 {
        return Err(format!("POST /api/messages answered {}: {}", reply.status, reply.body));
    }
    let got = deliveries(received, &text, sockets, started).await;
    let (store, list, post) = server_timing(&reply.server_timing);
    let sample = Sample {
        total_ms: (got.last - started).as_secs_f64() * 1000.0,
        store_ms: store.unwrap_or(f64::NAN),
        list_ms: list.unwrap_or(f64::NAN),
        post_ms: post.unwrap_or(f64::NAN),
        wall_ms: f64::NAN,
        delivered: got.count,
    };
    Ok((sample, got.frame))
}

/// The sockets that got one message.
pub struct Delivered {
    pub count: usize,
    /// When the last of them got it (the start when none did).
    pub last: Instant,
    /// The frame as the first of them got it.
    pub frame: Option<Value>,
}

/// Waits until `sockets` sockets have the message `text` (or the timeout).
pub async fn deliveries(
    received: &mut mpsc::UnboundedReceiver<Receipt>,
    text: &str,
    sockets: usize,
    started: Instant,
) -> Delivered {
    let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
    let mut got = Delivered { count: 0, last: started, frame: None };
    while got.count < sockets {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some(receipt)) if receipt.text == text => {
                got.count += 1;
                got.last = got.last.max(receipt.at);
                got.frame.get_or_insert(receipt.frame);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    got
}
