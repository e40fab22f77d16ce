//! Configuration, read once at cold start from the environment. The same variables are set by
//! `template.yaml` on AWS and by the local stack.

use std::env;

#[derive(Clone)]
pub struct Config {
    /// `TABLE_NAME`: the single DynamoDB table.
    pub table_name: String,
    /// `DYNAMODB_ENDPOINT`: only set locally (the local stack's dynoxide, DynamoDB Local).
    pub dynamodb_endpoint: Option<String>,
    /// The HMAC key that signs and checks tokens, at least 32 bytes (256 bits): `JWT_SECRET`
    /// (locally, tests), or read at cold start from the Secrets Manager secret `JWT_SECRET_ID`
    /// (on AWS: only the functions that sign or check tokens have it). `None` in the others.
    pub jwt_secret: Option<Vec<u8>>,
    /// `JWT_SECRET_ID`: name or ARN of the Secrets Manager secret holding the key.
    pub jwt_secret_id: Option<String>,
    /// `SECRETS_MANAGER_ENDPOINT`: only set locally (the local stack serves GetSecretValue).
    pub secrets_manager_endpoint: Option<String>,
    /// `JWT_ISSUER` / `JWT_AUDIENCE`.
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// `TOKEN_TTL_SECONDS`: 60 s to 24 h, default 1 h.
    pub token_ttl_seconds: u64,
    /// `WEBSOCKET_ENDPOINT`: the API Gateway management endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`).
    pub websocket_endpoint: Option<String>,
    /// `FANOUT_CONCURRENCY`: posts in flight per fan-out, 1 to 1000 (default 128).
    pub fanout_concurrency: usize,
    /// `SERVER_TIMING=1`: benchmark mode, sends answer with `Server-Timing` (store, list, post and
    /// the number of connections posted to). Off by default: the count would tell a sender how
    /// many sockets the other members have open.
    pub server_timing: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} is invalid: {1}")]
    Invalid(&'static str, String),
}

pub const MIN_SECRET_BYTES: usize = 32;
/// Posts in flight at once per fan-out: enough to hide per-post latency, bounded so one busy
/// conversation cannot exhaust sockets or the account's API Gateway request rate.
pub const DEFAULT_FANOUT_CONCURRENCY: usize = 128;
pub const MAX_TOKEN_TTL_SECONDS: u64 = 24 * 60 * 60;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| env::var(key).ok())
    }

    /// Reads through `lookup` so tests can configure without touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |key: &'static str| lookup(key).filter(|v| !v.is_empty()).ok_or(ConfigError::Missing(key));
        let optional = |key: &str| lookup(key).filter(|v| !v.is_empty());

        let jwt_secret = optional("JWT_SECRET").map(|s| check_secret("JWT_SECRET", s.into_bytes())).transpose()?;
        let token_ttl_seconds =
            number("TOKEN_TTL_SECONDS", optional("TOKEN_TTL_SECONDS"), 60..=MAX_TOKEN_TTL_SECONDS, 3600)?;
        let fanout_concurrency =
            number("FANOUT_CONCURRENCY", optional("FANOUT_CONCURRENCY"), 1..=1000, DEFAULT_FANOUT_CONCURRENCY as u64)?
                as usize;
        let server_timing = match optional("SERVER_TIMING").as_deref() {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(_) => return Err(ConfigError::Invalid("SERVER_TIMING", "must be 1, true, 0 or false".into())),
        };
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            dynamodb_endpoint: optional("DYNAMODB_ENDPOINT"),
            jwt_secret,
            jwt_secret_id: optional("JWT_SECRET_ID"),
            secrets_manager_endpoint: optional("SECRETS_MANAGER_ENDPOINT"),
            jwt_issuer: optional("JWT_ISSUER").unwrap_or_else(|| "serverless-chat".into()),
            jwt_audience: optional("JWT_AUDIENCE").unwrap_or_else(|| "serverless-chat-api".into()),
            token_ttl_seconds,
            websocket_endpoint: optional("WEBSOCKET_ENDPOINT"),
            fanout_concurrency,
            server_timing,
        })
    }
}

/// A whole number setting: `default` when unset, else within `range` (every numeric setting of
/// every function is read through this, so they refuse alike).
pub fn number(
    key: &'static str,
    raw: Option<String>,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    raw.parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| ConfigError::Invalid(key, format!("must be {} to {}", range.start(), range.end())))
}

/// A signing key must be at least 256 bits (RFC 7518 §3.2).
pub fn check_secret(source: &'static str, secret: Vec<u8>) -> Result<Vec<u8>, ConfigError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::Invalid(source, format!("must be at least {MIN_SECRET_BYTES} bytes")));
    }
    Ok(secret)
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("table_name", &self.table_name)
            .field("dynamodb_endpoint", &self.dynamodb_endpoint)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field("jwt_secret_id", &self.jwt_secret_id)
            .field("secrets_manager_endpoint", &self.secrets_manager_endpoint)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("token_ttl_seconds", &self.token_ttl_seconds)
            .field("websocket_endpoint", &self.websocket_endpoint)
            .field("fanout_concurrency", &self.fanout_concurrency)
            .field("server_timing", &self.server_timing)
            .finish()
    }
}
