//! The AI agent's settings, read once at cold start (like [`crate::config::Config`]).

use crate::config::ConfigError;
use std::env;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Amazon Bedrock's ConverseStream API, with the function's IAM role.
    Bedrock,
    /// Any OpenAI-compatible `/chat/completions` endpoint with `stream: true`.
    OpenAi,
    /// A built-in responder: no network, no credentials. The default.
    Offline,
}

#[derive(Clone)]
pub struct AiConfig {
    /// `AI_PROVIDER`: `bedrock`, `openai` or `offline` (default).
    pub provider: Provider,
    /// `AI_MODEL_ID`: the Bedrock model or inference profile id; required for `bedrock`.
    pub model_id: String,
    /// `AI_SYSTEM_PROMPT`.
    pub system_prompt: String,
    /// `AI_HISTORY_MESSAGES`: messages sent to the model, the answered one included; 1 to 100, default 20.
    pub history_messages: usize,
    /// `AI_MAX_ATTEMPTS`: model calls per reply when failures are retryable; 1 to 10, default 3.
    pub max_attempts: u32,
    /// `AI_MAX_TOKENS`: the reply's token budget; 1 to 8192, default 1024.
    pub max_tokens: u32,
    /// `AI_TIMEOUT_SECONDS`: one model call, from request to last token; 1 to 900, default 60.
    pub timeout: Duration,
    /// `AI_RETRY_BASE_MS`: first backoff between attempts (doubled each time, jittered); default 250.
    pub retry_base: Duration,
    /// `BEDROCK_ENDPOINT`: overrides the Bedrock runtime endpoint (tests, VPC endpoints).
    pub bedrock_endpoint: Option<String>,
    /// `OPENAI_BASE_URL`: default `https://api.openai.com/v1`.
    pub openai_base_url: String,
    /// `OPENAI_API_KEY`: sent as a bearer token when set; never logged. On AWS it is read at
    /// cold start from the Secrets Manager secret `OPENAI_API_KEY_SECRET_ID` instead.
    pub openai_api_key: Option<String>,
    /// `OPENAI_API_KEY_SECRET_ID`: name or ARN of the secret holding the key.
    pub openai_api_key_secret_id: Option<String>,
    /// `OPENAI_MODEL`: required for `openai` (falls back to `AI_MODEL_ID`).
    pub openai_model: String,
}

pub const DEFAULT_SYSTEM_PROMPT: &str =
    "You are the AI assistant of a chat app. Answer the user helpfully and concisely, in plain text.";
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

impl AiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| env::var(key).ok())
    }

    /// Reads through `lookup` so tests can configure without touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let optional = |key: &str| lookup(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let number = |key: &'static str, min: u64, max: u64, default: u64| {
            crate::config::number(key, optional(key), min..=max, default)
        };
        let provider = match optional("AI_PROVIDER").map(|p| p.to_ascii_lowercase()).as_deref() {
            None | Some("offline") => Provider::Offline,
            Some("bedrock") => Provider::Bedrock,
            Some("openai") => Provider::OpenAi,
            Some(_) => return Err(ConfigError::Invalid("AI_PROVIDER", "must be bedrock, openai or offline".into())),
        };
        let model_id = optional("AI_MODEL_ID").unwrap_or_default();
        if provider == Provider::Bedrock && model_id.is_empty() {
            return Err(ConfigError::Missing("AI_MODEL_ID"));
        }
        let openai_model = optional("OPENAI_MODEL").unwrap_or_else(|| model_id.clone());
        if provider == Provider::OpenAi && openai_model.is_empty() {
            return Err(ConfigError::Missing("OPENAI_MODEL"));
        }
        let openai_base_url = optional("OPENAI_BASE_URL")
            .unwrap_or_else(|| DEFAULT_OPENAI_BASE_URL.into())
            .trim_end_matches('/')
            .to_string();
        let url_ok = ["http://", "https://"].iter().any(|scheme| openai_base_url.starts_with(scheme))
            && openai_base_url.parse::<http::Uri>().is_ok();
        if !url_ok {
            return Err(ConfigError::Invalid("OPENAI_BASE_URL", "must be an http(s) URL".into()));
        }
        Ok(Self {
            provider,
            model_id,
            system_prompt: optional("AI_SYSTEM_PROMPT").unwrap_or_else(|| DEFAULT_SYSTEM_PROMPT.into()),
            history_messages: number("AI_HISTORY_MESSAGES", 1, 100, 20)? as usize,
            max_attempts: number("AI_MAX_ATTEMPTS", 1, 10, 3)? as u32,
            max_tokens: number("AI_MAX_TOKENS", 1, 8192, 1024)? as u32,
            timeout: Duration::from_secs(number("AI_TIMEOUT_SECONDS", 1, 900, 60)?),
            retry_base: Duration::from_millis(number("AI_RETRY_BASE_MS", 0, 10_000, 250)?),
            bedrock_endpoint: optional("BEDROCK_ENDPOINT"),
            openai_base_url,
            openai_api_key: optional("OPENAI_API_KEY"),
            openai_api_key_secret_id: optional("OPENAI_API_KEY_SECRET_ID"),
            openai_model,
        })
    }
}

impl std::fmt::Debug for AiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiConfig")
            .field("provider", &self.provider)
            .field("model_id", &self.model_id)
            .field("history_messages", &self.history_messages)
            .field("max_attempts", &self.max_attempts)
            .field("max_tokens", &self.max_tokens)
            .field("timeout", &self.timeout)
            .field("retry_base", &self.retry_base)
            .field("bedrock_endpoint", &self.bedrock_endpoint)
            .field("openai_base_url", &self.openai_base_url)
            .field("openai_api_key", &self.openai_api_key.as_ref().map(|_| "***"))
            .field("openai_model", &self.openai_model)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<AiConfig, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AiConfig::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn defaults_are_offline_and_bounded() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.provider, Provider::Offline);
        assert_eq!(config.history_messages, 20);
        assert_eq!(config.max_attempts, 3);
        assert_eq!(config.openai_base_url, DEFAULT_OPENAI_BASE_URL);
    }

    #[test]
    fn providers_need_their_model() {
        assert!(matches!(parse(&[("AI_PROVIDER", "bedrock")]), Err(ConfigError::Missing("AI_MODEL_ID"))));
        assert!(matches!(parse(&[("AI_PROVIDER", "openai")]), Err(ConfigError::Missing("OPENAI_MODEL"))));
        let openai =
            parse(&[("AI_PROVIDER", "OpenAI"), ("AI_MODEL_ID", "m"), ("OPENAI_BASE_URL", "http://127.0.0.1:1/v1/")])
                .unwrap();
        assert_eq!((openai.provider, openai.openai_model.as_str()), (Provider::OpenAi, "m"));
        assert_eq!(openai.openai_base_url, "http://127.0.0.1:1/v1");
        assert!(parse(&[("AI_PROVIDER", "gpt")]).is_err());
        assert!(parse(&[("OPENAI_BASE_URL", "ftp://x")]).is_err());
    }

    #[test]
    fn numbers_are_bounded() {
        assert!(parse(&[("AI_HISTORY_MESSAGES", "0")]).is_err());
        assert!(parse(&[("AI_HISTORY_MESSAGES", "101")]).is_err());
        assert!(parse(&[("AI_MAX_ATTEMPTS", "x")]).is_err());
        assert_eq!(parse(&[("AI_MAX_ATTEMPTS", "1")]).unwrap().max_attempts, 1);
    }

    #[test]
    fn the_key_is_not_logged() {
        let config = parse(&[("OPENAI_API_KEY", "sk-secret")]).unwrap();
        assert!(!format!("{config:?}").contains("sk-secret"));
    }
}
