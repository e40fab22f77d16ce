//! Lambda's execution model for one function: a pool of processes, each with its own Runtime
//! API, each handling one invocation at a time. A new process starts (a cold start) when every
//! warm one is busy, up to a cap; a process that crashed, timed out or failed to initialise
//! is thrown away and the next invocation starts a fresh one.

use super::runtime_api::{Invocation, Outcome, RuntimeApi};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

/// Lambda's limit on the init phase.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
    /// The binary's name: the prefix of its log lines.
    pub binary: String,
    pub path: PathBuf,
    /// The whole environment of the process (nothing is inherited, as on Lambda).
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    pub arn: String,
    /// Where the process's output lines go instead of the terminal (benchmarks read them).
    pub output: Option<mpsc::UnboundedSender<String>>,
}

#[derive(Debug)]
pub enum Failure {
    /// The function reported an error (`errorType`); the process lives on.
    Error(String),
    /// The process exited, failed to start or failed to initialise.
    Crashed(String),
    Timeout,
    /// Every instance stayed busy for a whole timeout.
    Busy,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Error(kind) => write!(f, "function error {kind}"),
            Self::Crashed(why) => f.write_str(why),
            Self::Timeout => f.write_str("timed out"),
            Self::Busy => f.write_str("every instance busy"),
        }
    }
}

pub struct Invoked {
    pub payload: Bytes,
    /// Set on a cold start: from spawning the process to its first `next`.
    pub init: Option<Duration>,
}

impl Invoked {
    /// `", cold start: init N ms"` after a cold start, nothing otherwise (for log lines).
    pub fn cold_note(&self) -> String {
        self.init.map(|d| format!(", cold start: init {} ms", d.as_millis())).unwrap_or_default()
    }
}

pub struct Pool {
    spec: Arc<FunctionSpec>,
    idle: Mutex<Vec<Instance>>,
    slots: Arc<Semaphore>,
    started: AtomicUsize,
    children: Children,
}

impl Pool {
    pub fn new(spec: FunctionSpec, max_instances: usize, children: Children) -> Self {
        Self {
            spec: Arc::new(spec),
            idle: Mutex::default(),
            slots: Arc::new(Semaphore::new(max_instances)),
            started: AtomicUsize::new(0),
            children,
        }
    }

    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    pub async fn invoke(&self, event: Bytes) -> Result<Invoked, Failure> {
        let _slot = tokio::time::timeout(self.spec.timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| Failure::Busy)?
            .expect("the semaphore is never closed");
        // A warm process can die while idle a moment before it is picked (its exit not yet
        // seen): the event then reaches no one. Lambda never routes an event to a dead
        // environment, so the event goes to another process, once; it was never delivered.
        let mut rerouted = false;
        let (mut instance, result) = loop {
            let (mut instance, warm) = match self.take_idle() {
                Some(instance) => (instance, true),
                None => {
                    let number = self.started.fetch_add(1, Ordering::Relaxed) + 1;
                    (Instance::spawn(&self.spec, number, &self.children).await?, false)
                }
            };
            let result = instance.invoke(&self.spec, event.clone()).await;
            if warm && !rerouted && result.is_err() && !instance.delivered && instance.exited.borrow().is_some() {
                rerouted = true;
                instance.stop().await;
                continue;
            }
            break (instance, result);
        };
        let init = instance.init.take();
        match &result {
            Ok(_) | Err(Failure::Error(_)) => self.idle.lock().expect("not poisoned").push(instance),
            Err(_) => instance.stop().await,
        }
        result.map(|payload| Invoked { payload, init })
    }

    /// [`Self::invoke`] in a task of its own, so that the invocation runs to the end even if the
    /// caller goes away (a client that disconnects), as an invocation on AWS does.
    pub async fn invoke_to_end(self: Arc<Self>, event: Bytes) -> Result<Invoked, Failure> {
        tokio::spawn(async move { self.invoke(event).await })
            .await
            .unwrap_or_else(|e| Err(Failure::Crashed(format!("the invocation panicked: {e}"))))
    }

    /// The most recently used warm instance (Lambda reuses warm environments first).
    fn take_idle(&self) -> Option<Instance> {
        let mut idle = self.idle.lock().expect("not poisoned");
        // Instances that died while idle are dropped here; the next one starts fresh.
        std::iter::from_fn(|| idle.pop()).find(|i| i.exited.borrow().is_none())
    }
}

struct Instance {
    key: u64,
    label: String,
    runtime: RuntimeApi,
    /// Becomes `Some(status)` once the process has exited.
    exited: watch::Receiver<Option<String>>,
    children: Children,
    spawned_at: Instant,
    warm: bool,
    /// Spawn to first `next`, until the pool takes it.
    init: Option<Duration>,
    /// Whether the process picked up the last event sent to it (`next` returned it).
    delivered: bool,
}

impl Instance {
    /// A process that cannot start is a crash of the invocation that needed it.
    async fn spawn(spec: &FunctionSpec, number: usize, children: &Children) -> Result<Self, Failure> {
        let label = format!("{}#{number}", spec.binary);
        let runtime = RuntimeApi::start()
            .await
            .map_err(|e| Failure::Crashed(format!("cannot start the Runtime API for {label}: {e}")))?;
        let mut child = Command::new(&spec.path)
            .env_clear()
            .envs(&spec.env)
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", runtime.port))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group: a terminal's Ctrl-C reaches the gateway, which stops it.
            .process_group(0)
            .spawn()
            .map_err(|e| Failure::Crashed(format!("cannot start {}: {e}", spec.path.display())))?;
        let pid = child.id().unwrap_or_default();
        let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        forward(child.stdout.take(), label.clone(), false, spec.output.clone());
        forward(child.stderr.take(), label.clone(), true, spec.output.clone());
        if spec.output.is_none() {
            println!("{label}: cold start (pid {pid})");
        }
        let (kill, mut killed) = oneshot::channel::<()>();
        let (exit_tx, exited) = watch::channel(None);
        let registry = children.clone();
        let name = label.clone();
        tokio::spawn(async move {
            let (status, expected) = tokio::select! {
                status = child.wait() => (status, false),
                Ok(()) = &mut killed => {
                    let _ = child.start_kill();
                    (child.wait().await, true)
                }
            };
            let status = describe(status);
            if !expected {
                println!("{name}: process exited ({status})");
            }
            registry.forget(key);
            exit_tx.send_replace(Some(status));
        });
        let instance = Self {
            key,
            label,
            runtime,
            exited: exited.clone(),
            children: children.clone(),
            spawned_at: Instant::now(),
            warm: false,
            init: None,
            delivered: false,
        };
        if !children.register(key, kill, exited) {
            instance.stop().await;
            return Err(Failure::Crashed("the gateway is shutting down".into()));
        }
        Ok(instance)
    }

    async fn invoke(&mut self, spec: &FunctionSpec, event: Bytes) -> Result<Bytes, Failure> {
        let (picked_up, pickup) = oneshot::channel();
        let (outcome, result) = oneshot::channel();
        let request_id = uuid::Uuid::new_v4().to_string();
        let invocation =
            Invocation { request_id, event, function_arn: spec.arn.clone(), timeout: spec.timeout, picked_up, outcome };
        let mut exited = self.exited.clone();
        let mut init_error = self.runtime.init_error.clone();
        let crashed = |exited: &watch::Receiver<Option<String>>| {
            Failure::Crashed(exited.borrow().clone().unwrap_or_else(|| "the process is gone".into()))
        };
        self.delivered = false;
        self.runtime.invocations.send(invocation).await.map_err(|_| crashed(&exited))?;
        let deadline = tokio::select! {
            biased;
            Ok(deadline) = pickup => deadline,
            _ = exited.wait_for(Option::is_some) => return Err(crashed(&self.exited)),
            _ = init_error.wait_for(Option::is_some) => {
                let why = self.runtime.init_error.borrow().clone().unwrap_or_default();
                return Err(Failure::Crashed(format!("init error: {why}")));
            }
            _ = tokio::time::sleep(INIT_TIMEOUT) => {
                let phase = if self.warm { "pick up the event" } else { "initialise" };
                return Err(Failure::Crashed(format!("{} did not {phase} within {INIT_TIMEOUT:?}", self.label)));
            }
        };
        self.delivered = true;
        if !self.warm {
            self.warm = true;
            self.init = Some(self.spawned_at.elapsed());
        }
        tokio::select! {
            biased;
            Ok(outcome) = result => match outcome {
                Outcome::Response(payload) => Ok(payload),
                Outcome::Error(kind) => Err(Failure::Error(kind)),
            },
            _ = exited.wait_for(Option::is_some) => Err(crashed(&self.exited)),
            _ = tokio::time::sleep_until(deadline.into()) => Err(Failure::Timeout),
        }
    }

    /// Kills the process (Lambda discards an environment after a crash or timeout) and waits.
    async fn stop(self) {
        let mut exited = self.exited.clone();
        drop(self);
        let _ = exited.wait_for(Option::is_some).await;
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.children.kill(self.key);
    }
}

/// Every function process, so that shutdown can stop them all.
#[derive(Clone, Default)]
pub struct Children {
    inner: Arc<Mutex<ChildrenInner>>,
}

#[derive(Default)]
struct ChildrenInner {
    closed: bool,
    /// By instance key, not pid: a pid can be reused once its process is reaped.
    live: HashMap<u64, (oneshot::Sender<()>, watch::Receiver<Option<String>>)>,
}

impl Children {
    /// `false` once shutdown has begun: the caller must stop the process itself.
    fn register(&self, key: u64, kill: oneshot::Sender<()>, exited: watch::Receiver<Option<String>>) -> bool {
        let mut inner = self.inner.lock().expect("not poisoned");
        if inner.closed || exited.borrow().is_some() {
            let _ = kill.send(());
            return !inner.closed;
        }
        inner.live.insert(key, (kill, exited));
        true
    }

    fn kill(&self, key: u64) {
        if let Some((kill, _)) = self.inner.lock().expect("not poisoned").live.remove(&key) {
            let _ = kill.send(());
        }
    }

    fn forget(&self, key: u64) {
        self.inner.lock().expect("not poisoned").live.remove(&key);
    }

    /// Kills every process and waits (up to 5 s) until they are gone.
    pub async fn stop_all(&self) {
        let live: Vec<_> = {
            let mut inner = self.inner.lock().expect("not poisoned");
            inner.closed = true;
            inner.live.drain().map(|(_, entry)| entry).collect()
        };
        let mut waits = Vec::new();
        for (kill, mut exited) in live {
            let _ = kill.send(());
            waits.push(async move {
                let _ = exited.wait_for(Option::is_some).await;
            });
        }
        // Every process was signalled above, so waiting in turn is waiting for the slowest.
        let all = async {
            for wait in waits {
                wait.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), all).await;
    }
}

/// Copies a process's output line by line, each prefixed with its instance's label, or sends
/// the lines to `output` as they are.
fn forward(
    stream: Option<impl AsyncRead + Unpin + Send + 'static>,
    label: String,
    stderr: bool,
    output: Option<mpsc::UnboundedSender<String>>,
) {
    let Some(stream) = stream else { return };
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).await.is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            if let Some(output) = &output {
                let _ = output.send(text.to_string());
            } else if stderr {
                eprintln!("{label} | {text}");
            } else {
                println!("{label} | {text}");
            }
            line.clear();
        }
    });
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("unknown status: {e}"),
    }
}

/// Lambda's `YYYY/MM/DD/[$LATEST]<32 hex>`.
fn log_stream_name() -> String {
    format!("{}/[$LATEST]{}", chrono::Utc::now().format("%Y/%m/%d"), uuid::Uuid::new_v4().simple())
}
