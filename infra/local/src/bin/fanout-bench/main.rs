//! `fanout-bench` (run it with `infra/bench`): how long one message takes to reach 1, 100 and
//! 1,000 sockets through the local stack, and where the time goes (storing it, listing the
//! connections, posting to them: the send's `Server-Timing`), with the fan-out's default
//! concurrency and sequentially (`FANOUT_CONCURRENCY=1`); then both again for 1,000 sockets
//! with `WS_POST_LATENCY_MS` (`FANOUT_BENCH_LATENCY_MS`, default 5; 0 skips it), a stand-in for
//! the round trip each post costs on AWS. Prints a table and writes docs/benchmarks/fanout.md.
//! Every delivery is counted: a lost frame fails the run.

mod client;
mod report;
mod stack;

use client::{Api, Receipt, User, open_socket, server_timing};
use serde_json::json;
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

/// One measured send.
pub struct Sample {
    pub total_ms: f64,
    pub store_ms: f64,
    pub list_ms: f64,
    pub post_ms: f64,
    pub delivered: usize,
}

/// The samples of one size, mode and emulated latency.
pub struct Row {
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
    let largest = sizes.iter().copied().max().unwrap_or(1);
    let mut scenarios: Vec<Scenario> = [Mode::Concurrent, Mode::Sequential]
        .into_iter()
        .map(|mode| Scenario { mode, latency_ms: 0, sizes: sizes.clone() })
        .collect();
    if latency_ms > 0 {
        scenarios.extend([Mode::Concurrent, Mode::Sequential].map(|mode| Scenario {
            mode,
            latency_ms,
            sizes: vec![largest],
        }));
    }
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        eprintln!("error: cannot listen for signals");
        return ExitCode::FAILURE;
    };
    // On a signal the run is dropped, and with it the stack, which is stopped in order.
    let rows = tokio::select! {
        rows = run(&bin_dir, &scenarios, reps) => rows,
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

async fn run(bin_dir: &Path, scenarios: &[Scenario], reps: usize) -> Result<Vec<Row>, String> {
    let log: PathBuf = bin_dir.join("fanout-bench.log");
    let _ = std::fs::remove_file(&log);
    let mut rows = Vec::new();
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").ok().filter(|e| !e.is_empty());
    for scenario in scenarios {
        let mode = scenario.mode;
        let latency = scenario.latency_ms.to_string();
        // Benchmark mode: sends answer with Server-Timing, which splits each send's time.
        let mut env = vec![("WS_POST_LATENCY_MS", latency.as_str()), ("SERVER_TIMING", "1")];
        // Another DynamoDB-compatible server instead of the stack's own (e.g. for a comparison).
        if let Some(endpoint) = &endpoint {
            env.push(("DYNAMODB_ENDPOINT", endpoint.as_str()));
        }
        if mode == Mode::Sequential {
            env.push(("FANOUT_CONCURRENCY", "1"));
        }
        let stack = Stack::start(bin_dir, &env, &log)?;
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
                let opening = users.map(|user| open_socket(&stack.ws, user, &conversation, receipts.clone()));
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
            rows.push(Row { sockets, mode, latency_ms: scenario.latency_ms, samples });
        }
        drop(stack);
    }
    Ok(rows)
}

/// Sends one message and waits until every socket has it: the time to the last one.
async fn send(
    api: &Api,
    sender: &User,
    conversation: &str,
    sockets: usize,
    received: &mut mpsc::UnboundedReceiver<Receipt>,
) -> Result<Sample, String> {
    while received.try_recv().is_ok() {}
    let text = format!("bench {}", uuid::Uuid::new_v4().simple());
    let started = Instant::now();
    let body = json!({"conversation_id": conversation, "sender_id": sender.id, "message": text});
    let reply = api.post("/api/messages", Some(&sender.token), body).await?;
    if reply.status != 200 {
        return Err(format!("POST /api/messages answered {}: {}", reply.status, reply.body));
    }
    let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
    let (mut delivered, mut last) = (0, started);
    while delivered < sockets {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some(receipt)) if receipt.text == text => {
                delivered += 1;
                last = last.max(receipt.at);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let (store, list, post) = server_timing(&reply.server_timing);
    Ok(Sample {
        total_ms: (last - started).as_secs_f64() * 1000.0,
        store_ms: store.unwrap_or(f64::NAN),
        list_ms: list.unwrap_or(f64::NAN),
        post_ms: post.unwrap_or(f64::NAN),
        delivered,
    })
}
