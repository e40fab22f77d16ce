//! moto's DynamoDB, served single-threaded by `infra/local/moto_server.py` from the project's
//! virtualenv (`.venv/local`, installed by the infra scripts).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    /// Starts moto on `port` (0: any free port) and waits until it listens.
    pub fn start(root: &Path, port: u16) -> Result<Self, String> {
        let python = root.join(".venv/local/bin/python");
        if !python.exists() {
            return Err(format!(
                "{} is missing: run ./infra/test or ./infra/dev once to install the local tools",
                python.display()
            ));
        }
        let mut child = Command::new(&python)
            .arg(root.join("infra/local/moto_server.py"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start moto with {}: {e}", python.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            // Keep draining so moto never blocks on a full pipe.
            for _ in lines {}
        });
        // moto logs every request to stderr; drain it, keeping only its last words for errors.
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tail = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !line.contains("\" 200 -") {
                    tail.push(line);
                    if tail.len() > 20 {
                        tail.remove(0);
                    }
                }
            }
            let _ = err_tx.send(tail.join("\n"));
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(line)) if line.starts_with("listening ") => {
                let port = line["listening ".len()..].trim().parse().map_err(|_| format!("moto printed {line:?}"))?;
                Ok(Self { child, port })
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let why = err_rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
                Err(format!("moto did not start: {}", why.trim()))
            }
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
