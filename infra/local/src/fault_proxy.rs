//! A faulty network in front of the local DynamoDB, driven by the test (issue 14): a TCP proxy
//! on 127.0.0.1 that passes bytes through, or refuses them in one of the ways a real network
//! and a real DynamoDB fail. It wraps whatever endpoint the harness uses (dynoxide, or `DYNAMODB_ENDPOINT`), so the
//! product's own client, with its own timeouts and retries, meets the fault.
//!
//! Changing the mode drops every connection the proxy holds, as a network failure would: a
//! connection pooled in `Pass` never carries a request through a `Blackhole`. `Stall` is the
//! exception: it freezes the open connections, which stay frozen after it (a half-open TCP
//! connection never recovers), while new ones follow the new mode.
//!
//! Used by the API's fault tests (`tests/api/faults.rs`) and the local stack's own
//! (`infra/local/tests/e2e/streams.rs`).

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bytes pass both ways.
    Pass,
    /// Every connection is accepted and closed at once, before any answer (a refused or reset
    /// connection, as when the endpoint is unreachable).
    Cut,
    /// Connections are accepted and requests read, and nothing ever answers (a hung endpoint).
    Blackhole,
    /// Every open connection stops forwarding and stays open, for good; new connections are
    /// accepted and never answered (until the mode changes: then new ones follow it).
    Stall,
    /// Bytes pass, each answer delayed this long (a slow endpoint).
    Slow(Duration),
    /// Reads pass; writes (`PutItem`, `UpdateItem`, `DeleteItem`, `TransactWriteItems`,
    /// `BatchWriteItem`) reach DynamoDB, which applies them, and their answer is dropped and the
    /// connection closed: the response lost after a commit, the outcome unknown to the caller.
    DropWriteAnswers,
}

/// The proxy. Stops when dropped.
pub struct FaultProxy {
    endpoint: String,
    mode: watch::Sender<Mode>,
    server: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FaultProxy {
    /// Binds 127.0.0.1:0 in front of `upstream` (`http://host:port`), in [`Mode::Pass`].
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fault proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("local address"));
        let (mode, watcher) = watch::channel(Mode::Pass);
        let server = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                let mut watcher = watcher.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let current = *watcher.borrow_and_update();
                    let mut client = client;
                    let stalled = tokio::select! {
                        () = serve(&mut client, &upstream, current) => false,
                        // A new mode ends every connection of the old one, except a stall.
                        changed = watcher.changed() => changed.is_ok() && *watcher.borrow() == Mode::Stall,
                    };
                    if stalled || current == Mode::Stall {
                        // Open and silent, whatever the mode becomes, until the client gives up
                        // or the proxy goes.
                        let mut sink = [0u8; 8192];
                        let drained = async { while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {} };
                        let gone = async { while watcher.changed().await.is_ok() {} };
                        tokio::select! {
                            () = drained => {}
                            () = gone => {}
                        }
                    }
                });
            }
        });
        Self { endpoint, mode, server }
    }

    /// Where the product's client should connect.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

async fn serve(client: &mut TcpStream, upstream: &str, mode: Mode) {
    match mode {
        // Closing before reading (the caller drops it): the client sees its connection closed.
        Mode::Cut | Mode::Stall => {}
        Mode::Blackhole => {
            let mut sink = [0u8; 8192];
            while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
            // The client gave up; hold nothing open.
        }
        Mode::Pass | Mode::Slow(_) | Mode::DropWriteAnswers => {
            let client = &mut *client;
            let Ok(mut server) = TcpStream::connect(upstream).await else { return };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (mut client_read, mut client_write) = client.split();
            let (mut server_read, mut server_write) = server.split();
            // Whether the request in flight on this connection is a write (HTTP/1.1: one at a time).
            let write = std::sync::atomic::AtomicBool::new(false);
            let requests = async {
                let mut buffer = vec![0u8; 16 * 1024];
                loop {
                    let n = match client_read.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if let Some(target) = target(&buffer[..n]) {
                        write.store(WRITES.contains(&target.as_str()), std::sync::atomic::Ordering::SeqCst);
                    }
                    if server_write.write_all(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            };
            let answers = async {
                let mut buffer = vec![0u8; 16 * 1024];
                loop {
                    let n = match server_read.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    match mode {
                        // DynamoDB has answered, so it has applied the request: lose the answer.
                        Mode::DropWriteAnswers if write.load(std::sync::atomic::Ordering::SeqCst) => return,
                        Mode::Slow(delay) => tokio::time::sleep(delay).await,
                        _ => {}
                    }
                    if client_write.write_all(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            };
            tokio::select! {
                () = requests => {}
                () = answers => {}
            }
        }
    }
}

const WRITES: [&str; 5] = ["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"];

/// The operation of a DynamoDB request whose headers are in `chunk` (`X-Amz-Target:
/// DynamoDB_20120810.PutItem`), if they are.
fn target(chunk: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(chunk);
    let head = text.split("\r\n\r\n").next()?;
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("x-amz-target") {
            return None;
        }
        Some(value.trim().rsplit('.').next()?.to_string())
    })
}
