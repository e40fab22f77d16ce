//! Instructions from exec to the runtime's first `GET /runtime/invocation/next`, counted by
//! callgrind (Debian's `valgrind`). Milliseconds vary with the machine and its load;
//! instructions repeat to a fraction of a percent, so a change to init shows up at once.
//!
//! How the end point is found: the function runs under callgrind with `AWS_LAMBDA_RUNTIME_API`
//! pointing at a listener of ours that never answers. When the first request on it is the
//! `next` poll, the function has finished its init and is blocked waiting; we send SIGTERM,
//! which callgrind turns into a normal dump (`summary:`) of everything executed since exec:
//! the dynamic loader, `main`, `App::from_env`, the runtime's first request. Nothing past that
//! point runs (the process sleeps in `recv` until the signal). Any other first request (an init
//! error report) fails the count.

use local_stack::FunctionSpec;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::process::Command;

/// Whether `valgrind` runs here (`infra/coldstart` installs it when it can).
pub fn available() -> bool {
    std::process::Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One count for `spec`'s binary: instructions (callgrind's `Ir`) to the first `next`.
pub async fn count(spec: &FunctionSpec, out_dir: &Path) -> Result<u64, String> {
    let function = &spec.binary;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let out = out_dir.join(format!("callgrind.out.{function}"));
    let _ = std::fs::remove_file(&out);
    let mut child = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&spec.path)
        .env_clear()
        .envs(&spec.env)
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "callgrind")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{function}: cannot start valgrind: {e}"))?;
    let pid = child.id().ok_or_else(|| format!("{function}: valgrind exited at once"))?;
    let first_request = async {
        let (mut stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_string();
        // Keep the connection open until the process is gone: it stays blocked on it.
        Ok::<_, String>((line, stream))
    };
    let (line, _stream) = tokio::time::timeout(Duration::from_secs(120), first_request)
        .await
        .map_err(|_| format!("{function}: no request to the Runtime API within 120 s under callgrind"))??;
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = tokio::time::timeout(Duration::from_secs(60), pipe.read_to_string(&mut stderr)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(60), child.wait()).await;
    if !(line.starts_with("GET ") && line.contains("/runtime/invocation/next")) {
        return Err(format!("{function}: the first request under callgrind was `{line}`, not `next`:\n{stderr}"));
    }
    let profile = std::fs::read_to_string(&out).map_err(|e| format!("{function}: {}: {e}\n{stderr}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    profile
        .lines()
        .find_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")))
        .and_then(|n| n.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("{function}: no instruction total in {}", out.display()))
}
