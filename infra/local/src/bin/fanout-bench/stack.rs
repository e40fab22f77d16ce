//! The local stack as a child process on free ports; stopped (SIGTERM, then waited for) when
//! dropped, so that neither Ctrl-C nor a failure leaves the stack or a function running.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Stack {
    child: Child,
    pub http: String,
    pub ws: String,
}

impl Stack {
    /// Starts `local-gateway` from `bin_dir` (the functions too) with `env` on top; its output
    /// goes to `log`.
    pub fn start(bin_dir: &Path, env: &[(&str, &str)], log: &Path) -> Result<Self, String> {
        let gateway = bin_dir.join("local-gateway");
        let log = File::options().create(true).append(true).open(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new(&gateway)
            .env_clear()
            .envs(std::env::vars().filter(|(k, _)| k == "PATH" || k == "LD_LIBRARY_PATH" || k == "HOME"))
            .envs([("HTTP_PORT", "0"), ("WS_PORT", "0"), ("LOCAL_AI_PROVIDER", "offline")])
            .env("BIN_DIR", bin_dir)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone().map_err(|e| e.to_string())?)
            // Its own process group: a terminal's Ctrl-C reaches the bench, which stops it in order.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", gateway.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (ready_tx, ready) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log = log;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("chat API ready: ") {
                    let _ = ready_tx.send(line.clone());
                }
                let _ = writeln!(log, "{line}");
            }
        });
        let mut stack = Self { child, http: String::new(), ws: String::new() };
        let line = ready.recv_timeout(Duration::from_secs(120)).map_err(|_| {
            "local-gateway did not get ready within 120 s (see target/bench-local/fanout-bench.log)".to_string()
        })?;
        let words: Vec<&str> = line.split_whitespace().collect();
        stack.http = words[3].to_string();
        stack.ws = words[5].to_string();
        Ok(stack)
    }

    fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}
