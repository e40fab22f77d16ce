//! Amazon Bedrock's ConverseStream API: one model-independent request shape, text deltas
//! streamed back as AWS event-stream frames.

use super::{AiConfig, ModelError, ModelRequest, Role};
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::StalledStreamProtectionConfig;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, SdkError};
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput, InferenceConfiguration, Message,
    SystemContentBlock,
};

pub struct BedrockModel {
    client: Client,
    model_id: String,
    max_tokens: u32,
}

impl BedrockModel {
    /// The client comes from the shared SDK configuration (region, credentials), with the SDK's
    /// own retries off: the reply flow retries, and must know which attempt streamed what.
    ///
    /// Stalled-stream protection is off, on purpose: a model may think for longer than its 5 s
    /// grace period before the first token (aws-sdk-rust#1287 reports it cutting ConverseStream
    /// off with a custom HTTP client), and the reply flow bounds every attempt itself
    /// (`AI_TIMEOUT_SECONDS`). `ai::a_model_slow_to_send_its_first_token_is_waited_for` holds it.
    pub fn from_sdk(config: &AiConfig, sdk: &aws_config::SdkConfig) -> Self {
        let mut builder = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .retry_config(RetryConfig::disabled())
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
        if let Some(endpoint) = &config.bedrock_endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self::new(Client::from_conf(builder.build()), config)
    }

    /// For tests and tools that build their own client.
    pub fn new(client: Client, config: &AiConfig) -> Self {
        Self { client, model_id: config.model_id.clone(), max_tokens: config.max_tokens }
    }

    pub(super) async fn stream_reply(
        &self,
        request: &ModelRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<String, ModelError> {
        let messages = request
            .turns
            .iter()
            .map(|turn| {
                let role = match turn.role {
                    Role::User => ConversationRole::User,
                    Role::Assistant => ConversationRole::Assistant,
                };
                Message::builder().role(role).content(ContentBlock::Text(turn.text.clone())).build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ModelError::Hard(format!("build request: {e}")))?;
        let mut output = self
            .client
            .converse_stream()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(request.system.clone()))
            .set_messages(Some(messages))
            .inference_config(InferenceConfiguration::builder().max_tokens(self.max_tokens as i32).build())
            .send()
            .await
            .map_err(|err| {
                let status = err.raw_response().map(|raw| raw.status().as_u16());
                classify_send(err, status)
            })?;
        let mut text = String::new();
        let mut stopped = false;
        while let Some(event) = output.stream.recv().await.map_err(classify_stream)? {
            match event {
                ConverseStreamOutput::ContentBlockDelta(block) => {
                    if let Some(ContentBlockDelta::Text(delta)) = block.delta
                        && !delta.is_empty()
                    {
                        on_delta(&delta);
                        text.push_str(&delta);
                    }
                }
                ConverseStreamOutput::MessageStop(stop) => {
                    stopped = true;
                    tracing::debug!(stop_reason = %stop.stop_reason, "bedrock message stop");
                }
                ConverseStreamOutput::Metadata(metadata) => {
                    if let Some(usage) = metadata.usage {
                        tracing::info!(
                            model_id = %self.model_id,
                            input_tokens = usage.input_tokens,
                            output_tokens = usage.output_tokens,
                            "bedrock usage"
                        );
                    }
                }
                _ => {}
            }
        }
        if !stopped {
            return Err(ModelError::Retryable("the stream ended before messageStop".into()));
        }
        Ok(text)
    }
}

/// Throttling, 5xx, model timeouts and dropped connections are retryable; a refused request
/// (validation, access, unknown model) is not.
fn classify_send<R: std::fmt::Debug>(err: SdkError<ConverseStreamError, R>, status: Option<u16>) -> ModelError {
    let retryable = match &err {
        SdkError::ServiceError(service) => {
            let status = status.unwrap_or_default();
            matches!(
                service.err(),
                ConverseStreamError::ThrottlingException(_)
                    | ConverseStreamError::ServiceUnavailableException(_)
                    | ConverseStreamError::InternalServerException(_)
                    | ConverseStreamError::ModelTimeoutException(_)
                    | ConverseStreamError::ModelNotReadyException(_)
                    | ConverseStreamError::ModelStreamErrorException(_)
            ) || status == 429
                || status >= 500
        }
        other => transport_failure(other),
    };
    failure(retryable, &err)
}

/// An exception inside the event stream, after the response started.
fn classify_stream<R: std::fmt::Debug>(err: SdkError<ConverseStreamOutputError, R>) -> ModelError {
    let retryable = match &err {
        SdkError::ServiceError(service) => !matches!(service.err(), ConverseStreamOutputError::ValidationException(_)),
        other => transport_failure(other),
    };
    failure(retryable, &err)
}

fn transport_failure<E, R>(err: &SdkError<E, R>) -> bool {
    matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_))
}

fn failure<E, R>(retryable: bool, err: &SdkError<E, R>) -> ModelError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = format!("bedrock: {}", DisplayErrorContext(err));
    if retryable { ModelError::Retryable(detail) } else { ModelError::Hard(detail) }
}
