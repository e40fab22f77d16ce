//! The peer: `infra/peer-fanout/post.mjs` under Node, which posts a frame to connections the way
//! aws-samples/simple-websockets-chat-app does (AWS SDK for JavaScript v3, one unbounded
//! `Promise.all`). One process answers one job per line, as a warm Lambda instance serves many
//! invocations; `infra/bench` installs its packages (`npm ci`).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// What one job answered.
pub struct Posted {
    /// The `Promise.all` alone, measured inside the script.
    pub elapsed_ms: f64,
    pub ok: usize,
    pub failed: usize,
    pub error: Option<String>,
}

pub struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
}

pub fn script() -> PathBuf {
    local_stack::project_root().join("infra/peer-fanout/post.mjs")
}

/// One job: `frame` to every connection of `connection_ids` through the Management API at `endpoint`.
pub fn job(endpoint: &str, connection_ids: &[String], frame: &str) -> String {
    json!({"endpoint": endpoint, "connection_ids": connection_ids, "frame": frame}).to_string()
}

impl Peer {
    /// Starts Node on the script; its stderr goes to `log`. Dummy credentials, as the local
    /// gateway checks no signature (the SDK still signs every post).
    pub fn start(log: &Path) -> Result<Self, String> {
        let script = script();
        if !script.with_file_name("node_modules").is_dir() {
            return Err(format!("{} has no node_modules: run `npm ci` there (infra/bench does)", script.display()));
        }
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new("node")
            .arg(&script)
            .envs([("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"), ("AWS_REGION", "us-east-1")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start node {}: {e}", script.display()))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        Ok(Self { child, stdin, stdout })
    }

    /// Hands the script one job (a line from [`job`]) and waits for its answer.
    pub async fn post(&mut self, job: &str) -> Result<Posted, String> {
        let stdin = self.stdin.as_mut().ok_or("the peer's input is closed")?;
        stdin.write_all(format!("{job}\n").as_bytes()).await.map_err(|e| format!("peer: {e}"))?;
        stdin.flush().await.map_err(|e| format!("peer: {e}"))?;
        let line = self.stdout.next_line().await.map_err(|e| format!("peer: {e}"))?.ok_or("the peer exited")?;
        let answer: Value = serde_json::from_str(&line).map_err(|e| format!("peer answered {line:?}: {e}"))?;
        let count = |key: &str| answer[key].as_u64().unwrap_or(0) as usize;
        Ok(Posted {
            elapsed_ms: answer["elapsed_ms"].as_f64().unwrap_or(f64::NAN),
            ok: count("ok"),
            failed: count("failed"),
            error: answer["error"].as_str().map(str::to_string),
        })
    }

    /// Closes its input, which ends the script, and waits for the process to exit.
    pub async fn finish(mut self) -> Result<(), String> {
        drop(self.stdin.take());
        let status = self.child.wait().await.map_err(|e| format!("peer: {e}"))?;
        if status.success() { Ok(()) } else { Err(format!("the peer exited with {status}")) }
    }
}
