//! The local DynamoDB: dynoxide (crates.io `dynoxide-rs`, DynamoDB's JSON API on SQLite) served
//! inside this process on a loopback port, in memory or from a SQLite file that survives
//! restarts. It runs on a thread and a Tokio runtime of its own, so that it outlives the runtime
//! of whoever started it (each `#[tokio::test]` has its own). Why dynoxide and not moto:
//! docs/benchmarks/local-dynamodb.md.

use crate::error::{Error, Result};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A running local DynamoDB; stopped when dropped.
pub struct LocalDynamoDb {
    port: u16,
    file: Option<PathBuf>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl LocalDynamoDb {
    /// Serves on 127.0.0.1:`port` (0: any free port); `file`: the SQLite database to open or
    /// create (its directory too), `None`: in memory, gone when stopped. Expired items (TTL) are
    /// never deleted: see [`LocalDynamoDb::start_with_ttl_sweep`].
    pub fn start(file: Option<&Path>, port: u16) -> Result<Self> {
        Self::start_with_ttl_sweep(file, port, None)
    }

    /// [`LocalDynamoDb::start`], and every `ttl_sweep` the items whose TTL attribute has passed
    /// are deleted (with a `REMOVE` stream record by the service, as DynamoDB's TTL does within
    /// a few days). Each sweep reads every TTL-enabled table, so it is for one table, not the
    /// hundreds a test run creates.
    pub fn start_with_ttl_sweep(file: Option<&Path>, port: u16, ttl_sweep: Option<Duration>) -> Result<Self> {
        let db = match file {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error::DynamoDb(format!("cannot create {}: {e}", dir.display())))?;
                }
                let name = path.to_str().ok_or_else(|| Error::DynamoDb(format!("{} is not UTF-8", path.display())))?;
                dynoxide::Database::new(name)
                    .map_err(|e| Error::DynamoDb(format!("cannot open {}: {e}", path.display())))?
            }
            None => dynoxide::Database::memory()
                .map_err(|e| Error::DynamoDb(format!("cannot open an in-memory database: {e}")))?,
        };
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| Error::DynamoDb(format!("cannot listen on 127.0.0.1:{port} for DynamoDB: {e}")))?;
        listener.set_nonblocking(true).map_err(|e| Error::DynamoDb(e.to_string()))?;
        let port = listener.local_addr().map_err(|e| Error::DynamoDb(e.to_string()))?.port();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (ready_tx, ready) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("dynamodb".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("dynamodb")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        return drop(
                            ready_tx.send(Err(Error::DynamoDb(format!("cannot start DynamoDB's runtime: {e}")))),
                        );
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => return drop(ready_tx.send(Err(Error::DynamoDb(e.to_string())))),
                    };
                    let _ = ready_tx.send(Ok(()));
                    if let Some(every) = ttl_sweep {
                        let db = db.clone();
                        tokio::spawn(async move {
                            let mut tick = tokio::time::interval(every);
                            tick.tick().await;
                            loop {
                                tick.tick().await;
                                let db = db.clone();
                                match tokio::task::spawn_blocking(move || db.sweep_ttl()).await {
                                    Ok(Ok(_)) => {}
                                    Ok(Err(e)) => eprintln!("local DynamoDB: TTL sweep failed: {e}"),
                                    Err(e) => eprintln!("local DynamoDB: TTL sweep failed: {e}"),
                                }
                            }
                        });
                    }
                    let mut signal = stopped.clone();
                    let shutdown = async move {
                        let _ = signal.changed().await;
                    };
                    let mut signal = stopped;
                    // Requests in flight get a moment to finish; a client that never finishes
                    // its request does not hold the stop.
                    let grace = async move {
                        let _ = signal.changed().await;
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    };
                    tokio::select! {
                        served = dynoxide::server::serve_with_shutdown(listener, db, shutdown) => {
                            if let Err(e) = served {
                                eprintln!("local DynamoDB stopped: {e}");
                            }
                        }
                        () = grace => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| Error::DynamoDb(format!("cannot start DynamoDB's thread: {e}")))?;
        ready.recv().map_err(|_| Error::DynamoDb("DynamoDB's thread ended before serving".into()))??;
        Ok(Self { port, file: file.map(Path::to_path_buf), stop: Some(stop), thread: Some(thread) })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What `local-gateway` prints: the endpoint, and where the data is kept.
    pub fn describe(&self) -> String {
        match &self.file {
            Some(file) => format!("{} (dynoxide, {})", self.endpoint(), file.display()),
            None => format!("{} (dynoxide, in memory)", self.endpoint()),
        }
    }
}

impl Drop for LocalDynamoDb {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
