//! `local-gateway`'s settings, all from environment variables (documented in docs/local-stack.md).

use std::path::PathBuf;

pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Clone)]
pub struct Settings {
    /// `HTTP_PORT` (3000; 0 = any free port).
    pub http_port: u16,
    /// `WS_PORT` (3001; 0 = any free port): reserved for the WebSocket API, answers 404 for now.
    pub ws_port: u16,
    /// `DYNAMODB_ENDPOINT`: an already running DynamoDB; unset = start moto.
    pub dynamodb_endpoint: Option<String>,
    /// `MOTO_PORT` (0 = any free port).
    pub moto_port: u16,
    /// `TABLE_NAME` (`chat-local`): created from template.yaml unless it exists.
    pub table_name: String,
    /// `JWT_SECRET`: a fresh random 256-bit key each start unless set.
    pub jwt_secret: String,
    /// `BIN_DIR`: where the function binaries are (the directory of `local-gateway` itself,
    /// i.e. `target/debug` under `./infra/dev`).
    pub bin_dir: PathBuf,
    /// `TEMPLATE` (`template.yaml` at the project root).
    pub template: PathBuf,
    /// `MAX_INSTANCES` (8): concurrent processes per function.
    pub max_instances: usize,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("http_port", &self.http_port)
            .field("ws_port", &self.ws_port)
            .field("dynamodb_endpoint", &self.dynamodb_endpoint)
            .field("moto_port", &self.moto_port)
            .field("table_name", &self.table_name)
            .field("jwt_secret", &"***")
            .field("bin_dir", &self.bin_dir)
            .field("template", &self.template)
            .field("max_instances", &self.max_instances)
            .finish()
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let number = |key: &str, default: u64, max: u64| -> Result<u64, String> {
            match lookup(key) {
                None => Ok(default),
                Some(raw) => raw
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| format!("{key}={raw:?} is not a number from 0 to {max}")),
            }
        };
        let port = |key: &str, default: u16| number(key, default.into(), u16::MAX.into()).map(|n| n as u16);
        let jwt_secret = match lookup("JWT_SECRET") {
            Some(secret) if secret.len() < MIN_SECRET_BYTES => {
                return Err(format!(
                    "JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes (256 bits): set a longer one, or unset it for a random key"
                ));
            }
            Some(secret) => secret,
            None => random_secret()?,
        };
        let bin_dir = match lookup("BIN_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(PathBuf::from))
                .ok_or("cannot find local-gateway's own directory: set BIN_DIR")?,
        };
        let max_instances = number("MAX_INSTANCES", 8, 64)? as usize;
        if max_instances == 0 {
            return Err("MAX_INSTANCES must be at least 1".into());
        }
        Ok(Self {
            http_port: port("HTTP_PORT", 3000)?,
            ws_port: port("WS_PORT", 3001)?,
            dynamodb_endpoint: lookup("DYNAMODB_ENDPOINT"),
            moto_port: port("MOTO_PORT", 0)?,
            table_name: lookup("TABLE_NAME").unwrap_or_else(|| "chat-local".into()),
            jwt_secret,
            bin_dir,
            template: lookup("TEMPLATE").map_or_else(|| crate::project_root().join("template.yaml"), PathBuf::from),
            max_instances,
        })
    }
}

/// 256 random bits, hex-encoded (the functions read the secret's bytes, not a decoding of it).
fn random_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot draw a random JWT secret: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
