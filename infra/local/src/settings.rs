//! `local-gateway`'s settings, all from environment variables (documented in docs/local-stack.md).

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub const MIN_SECRET_BYTES: usize = 32;

/// The functions' own tuning knobs that the template does not set: passed from the gateway's
/// environment to every function, so that `FANOUT_CONCURRENCY=1 ./infra/dev` works. Nothing else
/// is inherited, as on Lambda.
pub const PASSED_TO_FUNCTIONS: [&str; 13] = [
    "FANOUT_CONCURRENCY",
    "SERVER_TIMING",
    "AI_MODEL_ID",
    "AI_SYSTEM_PROMPT",
    "AI_HISTORY_MESSAGES",
    "AI_MAX_ATTEMPTS",
    "AI_MAX_TOKENS",
    "AI_TIMEOUT_SECONDS",
    "AI_RETRY_BASE_MS",
    "BEDROCK_ENDPOINT",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_MODEL",
];
const AI_PROVIDERS: [&str; 3] = ["offline", "openai", "bedrock"];

#[derive(Clone)]
pub struct Settings {
    /// `HTTP_PORT` (3000; 0 = any free port).
    pub http_port: u16,
    /// `WS_PORT` (3001; 0 = any free port): the WebSocket API and its `@connections` endpoint.
    pub ws_port: u16,
    /// `WS_IDLE_TIMEOUT_SECONDS` (600): API Gateway closes a socket idle this long.
    pub ws_idle_timeout: Duration,
    /// `WS_MAX_CONNECTION_SECONDS` (7200): API Gateway closes every socket after this long.
    pub ws_max_lifetime: Duration,
    /// `WS_POST_LATENCY_MS` (0): every `@connections` request waits this long first, a stand-in
    /// for the network round trip a function pays per post on AWS (for benchmarks).
    pub ws_post_latency: Duration,
    /// `DYNAMODB_ENDPOINT`: an already running DynamoDB; unset = serve the local one (dynoxide,
    /// in this process).
    pub dynamodb_endpoint: Option<String>,
    /// `DYNAMODB_PORT` (0 = any free port): where the local DynamoDB listens.
    pub dynamodb_port: u16,
    /// `LOCAL_DATA_DIR`: where the local DynamoDB's data (`dynamodb.sqlite`) and the JWT secret
    /// (`jwt-secret`) are kept across restarts (`./infra/dev` sets `.local/dev`); unset = in
    /// memory and a fresh secret each start.
    pub data_dir: Option<PathBuf>,
    /// `TABLE_NAME` (`chat-local`): created from template.yaml unless it exists.
    pub table_name: String,
    /// `JWT_SECRET`: unless set, a random 256-bit key, drawn once and kept in `LOCAL_DATA_DIR`
    /// when that is set, drawn afresh each start otherwise.
    pub jwt_secret: String,
    /// `BIN_DIR`: where the function binaries are (the directory of `local-gateway` itself,
    /// i.e. `target/debug` under `./infra/dev`).
    pub bin_dir: PathBuf,
    /// `TEMPLATE` (`template.yaml` at the project root).
    pub template: PathBuf,
    /// `MAX_INSTANCES` (8): concurrent processes per function.
    pub max_instances: usize,
    /// Set in every function over the template's values: `AI_PROVIDER` from `LOCAL_AI_PROVIDER`
    /// (`offline`: the template's default, Bedrock, needs AWS), and the [`PASSED_TO_FUNCTIONS`]
    /// that are set.
    pub function_env: BTreeMap<String, String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("http_port", &self.http_port)
            .field("ws_port", &self.ws_port)
            .field("dynamodb_endpoint", &self.dynamodb_endpoint)
            .field("dynamodb_port", &self.dynamodb_port)
            .field("data_dir", &self.data_dir)
            .field("table_name", &self.table_name)
            .field("jwt_secret", &"***")
            .field("bin_dir", &self.bin_dir)
            .field("template", &self.template)
            .field("max_instances", &self.max_instances)
            .field("ws_idle_timeout", &self.ws_idle_timeout)
            .field("ws_max_lifetime", &self.ws_max_lifetime)
            .field("ws_post_latency", &self.ws_post_latency)
            // Names only: OPENAI_API_KEY is a secret.
            .field("function_env", &self.function_env.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Settings {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let number = |key: &str, default: u64, max: u64| env_number(&lookup, key, default, max);
        let port = |key: &str, default: u16| number(key, default.into(), u16::MAX.into()).map(|n| n as u16);
        let data_dir = lookup("LOCAL_DATA_DIR").map(PathBuf::from);
        let jwt_secret = match lookup("JWT_SECRET") {
            Some(secret) if secret.len() < MIN_SECRET_BYTES => {
                return Err(Error::Setting(format!(
                    "JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes (256 bits): set a longer one, or unset it for a random key"
                )));
            }
            Some(secret) => secret,
            None => match &data_dir {
                Some(dir) => kept_secret(dir)?,
                None => random_secret()?,
            },
        };
        let bin_dir = match lookup("BIN_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(PathBuf::from))
                .ok_or_else(|| Error::Setting("cannot find local-gateway's own directory: set BIN_DIR".into()))?,
        };
        let max_instances = number("MAX_INSTANCES", 8, 64)? as usize;
        if max_instances == 0 {
            return Err(Error::Setting("MAX_INSTANCES must be at least 1".into()));
        }
        let seconds = |key: &str, default: u64| -> Result<Duration> {
            match number(key, default, 7 * 24 * 3600)? {
                0 => Err(Error::Setting(format!("{key} must be at least 1"))),
                n => Ok(Duration::from_secs(n)),
            }
        };
        let mut function_env: BTreeMap<String, String> =
            PASSED_TO_FUNCTIONS.iter().filter_map(|key| Some((key.to_string(), lookup(key)?))).collect();
        let provider = lookup("LOCAL_AI_PROVIDER").unwrap_or_else(|| "offline".into()).to_ascii_lowercase();
        if !AI_PROVIDERS.contains(&provider.as_str()) {
            return Err(Error::Setting(format!(
                "LOCAL_AI_PROVIDER={provider:?} is not one of {}",
                AI_PROVIDERS.join(", ")
            )));
        }
        function_env.insert("AI_PROVIDER".into(), provider);
        Ok(Self {
            http_port: port("HTTP_PORT", 3000)?,
            ws_port: port("WS_PORT", 3001)?,
            ws_idle_timeout: seconds("WS_IDLE_TIMEOUT_SECONDS", 600)?,
            ws_max_lifetime: seconds("WS_MAX_CONNECTION_SECONDS", 7200)?,
            ws_post_latency: Duration::from_millis(number("WS_POST_LATENCY_MS", 0, 10_000)?),
            dynamodb_endpoint: lookup("DYNAMODB_ENDPOINT"),
            dynamodb_port: port("DYNAMODB_PORT", 0)?,
            data_dir,
            table_name: lookup("TABLE_NAME").unwrap_or_else(|| "chat-local".into()),
            jwt_secret,
            bin_dir,
            template: lookup("TEMPLATE")
                .map_or_else(|| crate::project::project_root().join("template.yaml"), PathBuf::from),
            max_instances,
            function_env,
        })
    }
}

/// The setting `key`: `default` when unset, else a whole number from 0 to `max` (every number
/// setting is read here, so that they all refuse alike).
fn env_number(lookup: &impl Fn(&str) -> Option<String>, key: &str, default: u64, max: u64) -> Result<u64> {
    match lookup(key) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| Error::Setting(format!("{key}={raw:?} is not a number from 0 to {max}"))),
    }
}

/// 256 random bits, hex-encoded (the functions read the secret's bytes, not a decoding of it).
fn random_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Setting(format!("cannot draw a random JWT secret: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The secret kept in `dir/jwt-secret`, drawn and written (owner-only) the first time, so that
/// tokens stay valid across restarts of `./infra/dev`.
fn kept_secret(dir: &std::path::Path) -> Result<String> {
    let path = dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(kept) if kept.trim().len() >= MIN_SECRET_BYTES => return Ok(kept.trim().to_string()),
        Ok(_) => {
            return Err(Error::Setting(format!(
                "{} holds a secret shorter than {MIN_SECRET_BYTES} bytes: delete it (./infra/dev --fresh)",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::Setting(format!("cannot read {}: {e}", path.display()))),
    }
    let secret = random_secret()?;
    std::fs::create_dir_all(dir).map_err(|e| Error::Setting(format!("cannot create {}: {e}", dir.display())))?;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| file.write_all(secret.as_bytes()))
        .map_err(|e| Error::Setting(format!("cannot write {}: {e}", path.display())))?;
    Ok(secret)
}
