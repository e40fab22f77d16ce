//! The AI agent's model: one narrow interface ([`Model::stream_reply`]) over three providers —
//! Amazon Bedrock (ConverseStream), any OpenAI-compatible chat completions endpoint, and a
//! built-in offline responder — chosen by [`AiConfig`] at cold start. [`reply`] is the flow
//! that answers one user message with it. See `docs/ai-agent.md`.

pub mod bedrock;
pub mod config;
pub mod offline;
pub mod openai;
pub mod reply;

pub use config::{AiConfig, Provider};

use crate::domain::AGENT_ID;
use crate::views::MessageView;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
}

/// What the model is asked: a system prompt and the conversation so far, oldest first. The turns
/// start with the user's and alternate (what every provider accepts); the last one is the user
/// message being answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRequest {
    pub system: String,
    pub turns: Vec<Turn>,
}

impl ModelRequest {
    /// Builds the request from stored messages (oldest first): the agent's are the assistant's
    /// turns, everyone else's the user's. Leading assistant turns are dropped and consecutive
    /// turns of one role merged (a user message that never got a reply, say).
    pub fn from_history(system: impl Into<String>, messages: &[MessageView]) -> Self {
        let mut turns: Vec<Turn> = Vec::with_capacity(messages.len());
        for message in messages {
            let role = if message.sender_id == AGENT_ID { Role::Assistant } else { Role::User };
            match turns.last_mut() {
                None if role == Role::Assistant => {}
                Some(last) if last.role == role => {
                    last.text.push_str("\n\n");
                    last.text.push_str(&message.message);
                }
                _ => turns.push(Turn { role, text: message.message.clone() }),
            }
        }
        Self { system: system.into(), turns }
    }

    /// The text of the last user turn (what is being answered).
    pub fn last_user_text(&self) -> &str {
        self.turns.iter().rev().find(|t| t.role == Role::User).map_or("", |t| t.text.as_str())
    }
}

/// Why a model call failed. Retryable failures (throttling, 5xx, timeouts, dropped connections)
/// may succeed if tried again; hard failures (bad request, access denied, unknown model) will not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("retryable model failure: {0}")]
    Retryable(String),
    #[error("model failure: {0}")]
    Hard(String),
}

impl ModelError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }

    /// The retryability an HTTP status implies: 408, 429 and 5xx may pass on a later try.
    pub fn from_status(status: u16, detail: impl std::fmt::Display) -> Self {
        let detail = format!("HTTP {status}: {detail}");
        if status == 408 || status == 429 || status >= 500 { Self::Retryable(detail) } else { Self::Hard(detail) }
    }
}

/// The configured provider, built once at cold start.
pub enum Model {
    Bedrock(bedrock::BedrockModel),
    // Boxed: the HTTP client is large, the other variants are a pointer or nothing.
    OpenAi(Box<openai::OpenAiModel>),
    Offline(offline::OfflineModel),
}

impl Model {
    /// Builds the configured provider's client from the shared AWS SDK configuration.
    pub fn from_config(config: &AiConfig, sdk: &aws_config::SdkConfig) -> Result<Self, ModelError> {
        Ok(match config.provider {
            Provider::Bedrock => Self::Bedrock(bedrock::BedrockModel::from_sdk(config, sdk)),
            Provider::OpenAi => Self::OpenAi(Box::new(openai::OpenAiModel::from_config(config)?)),
            Provider::Offline => Self::Offline(offline::OfflineModel),
        })
    }

    pub fn provider(&self) -> Provider {
        match self {
            Self::Bedrock(_) => Provider::Bedrock,
            Self::OpenAi(_) => Provider::OpenAi,
            Self::Offline(_) => Provider::Offline,
        }
    }

    /// Streams one reply: `on_delta` gets each piece of text as it arrives, and the whole text
    /// is returned at the end. At most `timeout` is spent (a timeout is retryable).
    pub async fn stream_reply(
        &self,
        request: &ModelRequest,
        timeout: Duration,
        mut on_delta: impl FnMut(&str),
    ) -> Result<String, ModelError> {
        let call = async {
            match self {
                Self::Bedrock(model) => model.stream_reply(request, &mut on_delta).await,
                Self::OpenAi(model) => model.stream_reply(request, &mut on_delta).await,
                Self::Offline(model) => model.stream_reply(request, &mut on_delta).await,
            }
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(ModelError::Retryable(format!("no complete reply within {} ms", timeout.as_millis()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageId, UserId};

    fn view(sender: UserId, text: &str) -> MessageView {
        MessageView {
            message_id: MessageId::generate(),
            sender_id: sender,
            message: text.into(),
            timestamp: String::new(),
        }
    }

    #[test]
    fn history_becomes_alternating_turns() {
        let user = UserId::generate();
        let messages = [
            view(AGENT_ID, "orphaned reply"),
            view(user, "one"),
            view(user, "two"),
            view(AGENT_ID, "answer"),
            view(user, "three"),
        ];
        let request = ModelRequest::from_history("be nice", &messages);
        let roles: Vec<Role> = request.turns.iter().map(|t| t.role).collect();
        assert_eq!(roles, [Role::User, Role::Assistant, Role::User]);
        assert_eq!(request.turns[0].text, "one\n\ntwo");
        assert_eq!(request.last_user_text(), "three");
        assert_eq!(request.system, "be nice");
    }

    #[test]
    fn statuses_classify() {
        assert!(ModelError::from_status(429, "slow down").is_retryable());
        assert!(ModelError::from_status(503, "down").is_retryable());
        assert!(ModelError::from_status(408, "timeout").is_retryable());
        assert!(!ModelError::from_status(400, "bad").is_retryable());
        assert!(!ModelError::from_status(401, "who").is_retryable());
    }
}
