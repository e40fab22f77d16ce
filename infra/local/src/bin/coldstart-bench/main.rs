//! `coldstart-bench` (run it with `infra/coldstart`): how long each function takes from process
//! start to its first response, which is what a Lambda cold start costs in the function's own
//! code.
//!
//! Every sample spawns the function's release binary afresh under the local stack's Lambda
//! Runtime API, with the environment `template.yaml` gives it (configuration and SDK clients
//! load exactly as on AWS), and invokes it once with its `events/` fixture against the local DynamoDB. Each
//! request does real work: the fixtures register users, create conversations, send messages and
//! open connections in turn, so every sample's first response includes its first DynamoDB
//! call. A response that is not a success fails the run.
//!
//! Columns: `init` is process start to the runtime's first `next` (Lambda's Init phase); `first
//! response` adds the invocation; `warm` is the same request again on the same process (the
//! handler's own work, DynamoDB's included); `config`, `SDK config` and `clients` are the function's own
//! `initialized` log line (`chat_core::App::from_env`); `init instructions` is exec to the first
//! `next` counted by callgrind (`callgrind.rs`), when `valgrind` is installed. Prints a table and
//! writes docs/benchmarks/coldstart.md. `COLDSTART_RUNS` (10): samples per function;
//! `COLDSTART_CALLGRIND_RUNS` (3, 0 to skip): callgrind counts per function, median reported;
//! `COLDSTART_ENV`: extra `KEY=value` pairs for every function.

mod callgrind;
mod report;
mod stub;

use bytes::Bytes;
use local_stack::{Children, FunctionSpec, LocalDynamoDb, Pool, Settings, Template};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The bench's own errors and the local stack's, printed alike.
type Outcome<T> = Result<T, Box<dyn std::error::Error>>;

const TABLE: &str = "chat-coldstart";
const PASSWORD: &str = "correct horse battery";

/// One cold start, and the same process's second request.
#[derive(Default)]
pub struct Sample {
    pub init_ms: f64,
    pub first_response_ms: f64,
    /// The next request on the now warm process: the handler's own work (DynamoDB included).
    pub warm_ms: f64,
    /// From the function's `initialized` line, when it logs one.
    pub steps_us: Option<[f64; 3]>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Outcome<()> {
    let runs = std::env::var("COLDSTART_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(10usize).max(1);
    // BIN_DIR: the release binaries (infra/coldstart builds them apart from this bench, so
    // that the bench's own dependencies cannot change the functions' features).
    let mut settings = Settings::from_env()?;
    settings.table_name = TABLE.into();
    let bin_dir = settings.bin_dir.clone();

    let local = LocalDynamoDb::start(None, 0)?;
    let dynamodb = local.endpoint();
    let template = Template::load(&settings.template)?;
    local_stack::ensure_table(&local_stack::local_client(&dynamodb), TABLE, &template.table()?).await?;
    // Posts to `@connections` (ws-default answers `whoami` through it) reach a stub that accepts all.
    let management = stub::start().await?;
    let specs = local_stack::function_specs(&settings, &dynamodb, 0, management)?;
    let mut specs: BTreeMap<String, FunctionSpec> = specs.into_iter().map(|s| (s.binary.clone(), s)).collect();
    // COLDSTART_ENV: `KEY=value` pairs (space-separated) added to every function's environment,
    // to compare configurations (e.g. `TLS_TRUST=system`, the CA bundle instead of the Amazon roots).
    for pair in std::env::var("COLDSTART_ENV").unwrap_or_default().split_whitespace() {
        let (key, value) = pair.split_once('=').ok_or_else(|| format!("COLDSTART_ENV: `{pair}` is not KEY=value"))?;
        for spec in specs.values_mut() {
            spec.env.insert(key.into(), value.into());
        }
    }

    let children = Children::default();
    let mut bench = Bench { specs, children: children.clone(), samples: BTreeMap::new() };
    let result = async {
        for run in 0..runs {
            bench.one_round(run).await?;
            eprintln!("round {}/{runs} done", run + 1);
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    children.stop_all().await;
    drop(local);
    result?;
    let instructions = count_instructions(&bench).await?;

    let text = report::markdown(&bench.samples, &instructions, &bin_dir, runs);
    println!("{text}");
    let out = local_stack::project_root().join("docs/benchmarks/coldstart.md");
    std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("written to {}", out.display());
    Ok(())
}

/// Median callgrind instructions to the first `next`, per function measured (none without
/// valgrind). Init makes no network call, so this needs no DynamoDB.
async fn count_instructions(bench: &Bench) -> Outcome<BTreeMap<String, u64>> {
    let runs = std::env::var("COLDSTART_CALLGRIND_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3usize);
    let mut counts = BTreeMap::new();
    if runs == 0 {
        return Ok(counts);
    }
    if !callgrind::available() {
        eprintln!("valgrind not found: no instruction counts (infra/coldstart installs it with apt-get)");
        return Ok(counts);
    }
    let out_dir = std::env::temp_dir();
    for function in bench.samples.keys() {
        let spec = &bench.specs[function];
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            samples.push(callgrind::count(spec, &out_dir).await?);
        }
        samples.sort_unstable();
        eprintln!("{function}: {samples:?} instructions to the first next");
        counts.insert(function.clone(), samples[samples.len() / 2]);
    }
    Ok(counts)
}

struct Bench {
    specs: BTreeMap<String, FunctionSpec>,
    children: Children,
    samples: BTreeMap<String, Vec<Sample>>,
}

impl Bench {
    /// Every function once, in an order where each request has the ids it needs.
    async fn one_round(&mut self, run: usize) -> Outcome<()> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let (alice, bob) = (format!("alice-{tag}@example.com"), format!("bob-{tag}@example.com"));
        // Bob registers on Alice's warm process: a second registration needs another email.
        let (registered, bob) =
            self.cold_then("auth-register", "valid", &[("email", &alice)], Some(&[("email", &bob)])).await?;
        let (token, alice_id) = (field(&registered, "token")?, field(&registered, "user_id")?);
        let bob_id = field(&bob, "user_id")?;
        self.cold("auth-login", "valid", &[("email", &alice), ("password", PASSWORD)]).await?;
        let t = ("token", token.as_str());
        self.cold("users-list", "valid", &[t]).await?;
        self.cold("users-get", "valid", &[t, ("user_id", &bob_id)]).await?;
        let direct = field(
            &self.cold("conversations-create", "direct", &[t, ("participant_id", &bob_id)]).await?,
            "conversation_id",
        )?;
        let ai = field(&self.cold("conversations-create", "ai", &[t]).await?, "conversation_id")?;
        self.cold("conversations-list", "valid", &[t]).await?;
        self.cold("messages-send", "valid", &[t, ("conversation_id", &direct), ("user_id", &alice_id)]).await?;
        let sent = self.cold("messages-send", "valid", &[t, ("conversation_id", &ai), ("user_id", &alice_id)]).await?;
        self.cold("conversations-history", "valid", &[t, ("conversation_id", &direct)]).await?;
        let connection = format!("cold{run}{}=", &tag[..8]);
        let c = ("connection_id", connection.as_str());
        self.cold("ws-connect", "valid", &[t, c]).await?;
        self.cold("conversations-connect", "valid", &[t, c, ("conversation_id", &direct)]).await?;
        self.cold("ws-default", "whoami", &[c]).await?;
        self.cold("ws-disconnect", "valid", &[c]).await?;
        self.cold("route-fallback", "root", &[]).await?;
        let message_id = field(&sent, "message_id")?;
        let timestamp = field(&sent, "timestamp")?;
        let sequence = format!("{}", 1_000_000 + run);
        self.cold(
            "ai-reply",
            "insert",
            &[
                ("conversation_id", &ai),
                ("message_id", &message_id),
                ("sender_id", &alice_id),
                ("message", "Hello, how are you?"),
                ("timestamp", &timestamp),
                ("sequence_number", &sequence),
            ],
        )
        .await?;
        Ok(())
    }

    /// [`Self::cold_then`] with the same request twice (every fixture used so is repeatable).
    async fn cold(&mut self, function: &str, case: &str, fill: &[(&str, &str)]) -> Outcome<Value> {
        Ok(self.cold_then(function, case, fill, None).await?.0)
    }

    /// Starts `function` afresh, invokes it with the fixture, then again on the warm process
    /// (filled with `warm_fill` if given), and stops it; returns both response bodies (for HTTP
    /// functions) or responses.
    async fn cold_then(
        &mut self,
        function: &str,
        case: &str,
        fill: &[(&str, &str)],
        warm_fill: Option<&[(&str, &str)]>,
    ) -> Outcome<(Value, Value)> {
        let mut spec = self.specs.get(function).ok_or_else(|| format!("no function {function}"))?.clone();
        let (event, warm_event) = (
            local_stack::fixture(function, case, fill)?,
            local_stack::fixture(function, case, warm_fill.unwrap_or(fill))?,
        );
        let (output, mut lines) = mpsc::unbounded_channel();
        spec.output = Some(output);
        let pool = Pool::new(spec, 1, self.children.clone());
        let started = Instant::now();
        let invoked = pool.invoke(Bytes::from(event)).await.map_err(|e| format!("{function}/{case}: {e}"))?;
        let first_response = started.elapsed();
        let started = Instant::now();
        let warm = pool.invoke(Bytes::from(warm_event)).await.map_err(|e| format!("{function}/{case}: {e}"))?;
        let warm_ms = started.elapsed().as_secs_f64() * 1e3;
        drop(pool); // Kills the process: the next sample is a cold start again.
        let parse = |payload: &[u8]| serde_json::from_slice::<Value>(payload).map_err(|e| format!("{function}: {e}"));
        let body = check(function, case, parse(&invoked.payload)?)?;
        let warm_body = check(function, case, parse(&warm.payload)?)?;
        let mut sample = Sample {
            init_ms: invoked.init.unwrap_or_default().as_secs_f64() * 1e3,
            first_response_ms: first_response.as_secs_f64() * 1e3,
            warm_ms,
            steps_us: None,
        };
        // The line was written before the runtime's first `next`; its copy may trail by a moment.
        while let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(200), lines.recv()).await {
            if let Some(steps) = init_steps(&line) {
                sample.steps_us = Some(steps);
                break;
            }
        }
        self.samples.entry(function.to_string()).or_default().push(sample);
        Ok((body, warm_body))
    }
}

/// The body of a successful response; anything else fails the run (a sample of an error path
/// would measure less work than the request it stands for).
fn check(function: &str, case: &str, response: Value) -> Result<Value, String> {
    let Some(status) = response.get("statusCode").and_then(Value::as_u64) else {
        // ai-reply: a stream batch response, successful when nothing is reported failed.
        let failed = response.get("batchItemFailures").and_then(Value::as_array).map_or(1, Vec::len);
        return if failed == 0 { Ok(response) } else { Err(format!("{function}/{case}: {response}")) };
    };
    let body = response.get("body").and_then(Value::as_str).unwrap_or_default();
    let ok = (200..300).contains(&status) || (function == "route-fallback" && status == 404);
    if !ok {
        return Err(format!("{function}/{case}: status {status}: {body}"));
    }
    Ok(serde_json::from_str(body).unwrap_or(Value::Null))
}

fn field(body: &Value, name: &str) -> Result<String, String> {
    body.get(name).and_then(Value::as_str).map(str::to_string).ok_or_else(|| format!("no {name} in {body}"))
}

/// `init_config_us`, `init_sdk_config_us`, `init_clients_us` of an `initialized` JSON line.
fn init_steps(line: &str) -> Option<[f64; 3]> {
    let log: Value = serde_json::from_str(line).ok()?;
    let step = |key: &str| log.get(key).and_then(Value::as_f64);
    Some([step("init_config_us")?, step("init_sdk_config_us")?, step("init_clients_us")?])
}
