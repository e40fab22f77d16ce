//! `store-bench`: what the local DynamoDB costs the requests that grow with a conversation,
//! through the whole local stack (gateway, functions, DynamoDB): a history page (`GET
//! /api/conversations/{id}`, the newest 100) at 100 and at 3,000 messages, and a send into the
//! 3,000-message conversation (no socket open). Runs once on the stack's own DynamoDB and once
//! more on each `STORE_BENCH_ENDPOINTS` entry (`name=http://host:port`, comma-separated, e.g. a
//! moto server), then prints one Markdown table. `STORE_BENCH_REPS` (9): measured requests per
//! cell, after one unmeasured; medians in ms.

#[allow(dead_code)]
#[path = "../fanout-bench/stack.rs"]
mod stack;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use stack::Stack;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

const SIZES: [usize; 2] = [100, 3000];
/// Sends in flight while filling the conversation.
const FILLING: usize = 8;

struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Api {
    fn new(base: &str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self { client: Client::builder(TokioExecutor::new()).build(connector), base: base.to_string() }
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Result<Value, String> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        let response = self.client.request(request).await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status >= 300 {
            return Err(format!("{method} {path} answered {status}: {body}"));
        }
        Ok(body)
    }

    async fn register(&self, name: &str) -> Result<(String, String), String> {
        let email = format!("{name}-{}@bench.example", uuid::Uuid::new_v4().simple());
        let body = json!({"email": email, "password": "bench password", "name": name});
        let reply = self.call("POST", "/api/auth/register", None, Some(body)).await?;
        match (reply["user_id"].as_str(), reply["token"].as_str()) {
            (Some(id), Some(token)) => Ok((id.into(), token.into())),
            _ => Err(format!("register answered {reply}")),
        }
    }
}

/// The medians of one store, in ms.
struct Figures {
    store: String,
    history: Vec<f64>,
    send: f64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(bin_dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)) else {
        eprintln!("error: cannot find store-bench's own directory");
        return ExitCode::FAILURE;
    };
    let reps = std::env::var("STORE_BENCH_REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(9usize).max(1);
    let mut stores = vec![("dynoxide (local-gateway's own)".to_string(), None)];
    for entry in std::env::var("STORE_BENCH_ENDPOINTS").unwrap_or_default().split(',').filter(|e| !e.is_empty()) {
        match entry.split_once('=') {
            Some((name, endpoint)) => stores.push((name.to_string(), Some(endpoint.to_string()))),
            None => {
                eprintln!("error: STORE_BENCH_ENDPOINTS entry {entry:?} is not name=endpoint");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut all = Vec::new();
    for (name, endpoint) in stores {
        match measure(&bin_dir, &name, endpoint.as_deref(), reps).await {
            Ok(figures) => all.push(figures),
            Err(e) => {
                eprintln!("error: {name}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("\n| Store | History page at 100 messages | History page at 3,000 messages | Send into 3,000 messages |");
    println!("|---|---|---|---|");
    for f in &all {
        println!("| {} | {:.1} ms | {:.1} ms | {:.1} ms |", f.store, f.history[0], f.history[1], f.send);
    }
    println!("\nMedians of {reps} requests each (after one unmeasured), wall time at the client.");
    ExitCode::SUCCESS
}

async fn measure(bin_dir: &Path, name: &str, endpoint: Option<&str>, reps: usize) -> Result<Figures, String> {
    let table = format!("store-bench-{}", uuid::Uuid::new_v4().simple());
    let mut env = vec![("TABLE_NAME", table.as_str())];
    if let Some(endpoint) = endpoint {
        env.push(("DYNAMODB_ENDPOINT", endpoint));
    }
    let stack = Stack::start(bin_dir, &env, &bin_dir.join("store-bench.log"))?;
    println!("{name}: local stack at {}", stack.http);
    let api = Api::new(&stack.http);
    let ((alice_id, alice), (bob_id, _)) = (api.register("alice").await?, api.register("bob").await?);
    let created = api
        .call("POST", "/api/conversations", Some(&alice), Some(json!({"is_ai": false, "participant_id": bob_id})))
        .await?;
    let conversation = created["conversation_id"].as_str().ok_or("no conversation was created")?.to_string();
    let send = |i: usize| {
        let body = json!({"conversation_id": conversation, "sender_id": alice_id, "message": format!("message {i}")});
        api.call("POST", "/api/messages", Some(&alice), Some(body))
    };
    let history_path = format!("/api/conversations/{conversation}");
    let mut sent = 0;
    let mut history = Vec::new();
    for size in SIZES {
        let started = Instant::now();
        while sent < size {
            let batch = (size - sent).min(FILLING);
            for reply in futures::future::join_all((sent..sent + batch).map(send)).await {
                reply?;
            }
            sent += batch;
        }
        println!("  {size} messages in the conversation ({:.1} s to send)", started.elapsed().as_secs_f64());
        let mut samples = Vec::new();
        for rep in 0..=reps {
            let started = Instant::now();
            let page = api.call("GET", &history_path, Some(&alice), None).await?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let count = page.as_array().map_or(0, Vec::len);
            if count != 100 {
                return Err(format!("a history page held {count} messages, not 100: {page}"));
            }
            if rep > 0 {
                samples.push(ms);
            }
        }
        history.push(median(samples));
    }
    let mut samples = Vec::new();
    for rep in 0..=reps {
        let started = Instant::now();
        send(sent + rep).await?;
        if rep > 0 {
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    drop(stack);
    Ok(Figures { store: name.to_string(), history, send: median(samples) })
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
