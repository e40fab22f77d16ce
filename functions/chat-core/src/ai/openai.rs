//! Any OpenAI-compatible chat completions endpoint (`POST {base}/chat/completions` with
//! `stream: true`): server-sent events whose `data:` lines carry JSON chunks, ending with
//! `data: [DONE]`. The HTTP client is the AWS SDK's own connector (hyper and rustls on ring, as in
//! `crate::aws`), so the agent links no second HTTP stack.

use super::{AiConfig, ModelError, ModelRequest, Role};
use crate::aws::Trust;
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_types::body::SdkBody;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::Duration;

/// Longest SSE line accepted (a chunk is a few hundred bytes).
const MAX_LINE_BYTES: usize = 1 << 20;
/// How much of an error response's body ends up in the log.
const MAX_ERROR_BYTES: usize = 2048;

pub struct OpenAiModel {
    connector: Connector,
    url: http::Uri,
    api_key: Option<String>,
    model: String,
    max_tokens: u32,
}

impl OpenAiModel {
    pub fn from_config(config: &AiConfig) -> Result<Self, ModelError> {
        let url: http::Uri = format!("{}/chat/completions", config.openai_base_url)
            .parse()
            .map_err(|e| ModelError::Hard(format!("OPENAI_BASE_URL: {e}")))?;
        // Any host: the system's CA bundle, read here, only where this provider is configured
        // (the SDK clients trust the Amazon roots alone, `crate::aws::Trust`). Plain HTTP (a
        // local server) needs no roots.
        let trust = if url.scheme_str() == Some("https") { Trust::System } else { Trust::Amazon };
        // Lambda freezes between invocations; do not reuse connections the server has dropped.
        let connector = crate::aws::connector(
            Duration::from_secs(5),
            Some(Duration::from_secs(20)),
            crate::aws::tls_context(trust),
        );
        Ok(Self {
            connector,
            url,
            api_key: config.openai_api_key.clone(),
            model: config.openai_model.clone(),
            max_tokens: config.max_tokens,
        })
    }

    pub(super) async fn stream_reply(
        &self,
        request: &ModelRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<String, ModelError> {
        let mut messages = vec![json!({"role": "system", "content": request.system})];
        messages.extend(request.turns.iter().map(|turn| {
            let role = match turn.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({"role": role, "content": turn.text})
        }));
        let body = json!({"model": self.model, "messages": messages, "stream": true, "max_tokens": self.max_tokens});
        let mut builder =
            http::Request::post(&self.url).header(CONTENT_TYPE, "application/json").header(ACCEPT, "text/event-stream");
        if let Some(key) = &self.api_key {
            builder = builder.header(AUTHORIZATION, format!("Bearer {key}"));
        }
        let http_request: aws_smithy_runtime_api::http::Request = builder
            .body(SdkBody::from(body.to_string()))
            .map_err(|e| ModelError::Hard(format!("openai: build request: {e}")))?
            .try_into()
            .map_err(|e| ModelError::Hard(format!("openai: build request: {e}")))?;
        let response = self
            .connector
            .call(http_request)
            .await
            .map_err(|e| ModelError::Retryable(format!("openai: request failed: {e}")))?;
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let mut detail = Vec::new();
            while detail.len() < MAX_ERROR_BYTES {
                match body.frame().await {
                    Some(Ok(frame)) => detail.extend_from_slice(frame.data_ref().map_or(&[][..], |d| d.as_ref())),
                    _ => break,
                }
            }
            detail.truncate(MAX_ERROR_BYTES);
            return Err(ModelError::from_status(
                status.as_u16(),
                format!("openai: {}", String::from_utf8_lossy(&detail)),
            ));
        }

        let mut lines = SseLines::default();
        let mut reply = Reply::default();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ModelError::Retryable(format!("openai: stream broke: {e}")))?;
            let Some(data) = frame.data_ref() else { continue };
            for line in lines.push(data)? {
                if reply.line(&line, on_delta)? {
                    return Ok(reply.text);
                }
            }
        }
        if let Some(line) = lines.finish()
            && reply.line(&line, on_delta)?
        {
            return Ok(reply.text);
        }
        if reply.finished {
            // Some servers omit the final [DONE]; a finish_reason is as good.
            return Ok(reply.text);
        }
        Err(ModelError::Retryable("openai: the stream ended before [DONE]".into()))
    }
}

/// Splits a byte stream into lines (`\n` or `\r\n`), across chunk boundaries.
#[derive(Default)]
struct SseLines {
    pending: Vec<u8>,
}

impl SseLines {
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, ModelError> {
        self.pending.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = self.pending.drain(..=end).collect();
            lines.push(decode(&raw[..end])?);
        }
        if self.pending.len() > MAX_LINE_BYTES {
            return Err(ModelError::Hard("openai: an event line is too long".into()));
        }
        Ok(lines)
    }

    /// What is left after the last newline.
    fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        if rest.is_empty() { None } else { decode(&rest).ok() }
    }
}

fn decode(line: &[u8]) -> Result<String, ModelError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8(line.to_vec()).map_err(|_| ModelError::Hard("openai: the stream is not UTF-8".into()))
}

#[derive(Default)]
struct Reply {
    text: String,
    finished: bool,
}

impl Reply {
    /// Handles one SSE line; `Ok(true)` at `data: [DONE]`.
    fn line(&mut self, line: &str, on_delta: &mut dyn FnMut(&str)) -> Result<bool, ModelError> {
        // Comments (`: keep-alive`), `event:`/`id:`/`retry:` fields and blank separators carry no text.
        let Some(data) = line.strip_prefix("data:") else { return Ok(false) };
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let chunk: Value =
            serde_json::from_str(data).map_err(|e| ModelError::Hard(format!("openai: bad chunk ({e}): {data}")))?;
        if let Some(error) = chunk.get("error") {
            return Err(ModelError::Retryable(format!("openai: error in stream: {error}")));
        }
        let Some(choice) = chunk["choices"].get(0) else { return Ok(false) };
        if let Some(delta) = choice["delta"]["content"].as_str()
            && !delta.is_empty()
        {
            on_delta(delta);
            self.text.push_str(delta);
        }
        if choice["finish_reason"].is_string() {
            self.finished = true;
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks() {
        let mut lines = SseLines::default();
        assert_eq!(lines.push(b"data: {\"a\"").unwrap(), Vec::<String>::new());
        assert_eq!(lines.push(b":1}\r\n\r\ndata: [DO").unwrap(), ["data: {\"a\":1}", ""]);
        assert_eq!(lines.push(b"NE]\n").unwrap(), ["data: [DONE]"]);
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn chunks_yield_deltas_until_done() {
        let mut reply = Reply::default();
        let mut seen = Vec::new();
        let mut on_delta = |d: &str| seen.push(d.to_string());
        let chunk =
            |content: &str| format!("data: {}", json!({"choices": [{"index": 0, "delta": {"content": content}}]}));
        assert!(!reply.line(": keep-alive", &mut on_delta).unwrap());
        assert!(!reply.line("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}", &mut on_delta).unwrap());
        assert!(!reply.line(&chunk("Hel"), &mut on_delta).unwrap());
        assert!(!reply.line(&chunk("lo"), &mut on_delta).unwrap());
        assert!(reply.line("data: [DONE]", &mut on_delta).unwrap());
        assert_eq!(seen, ["Hel", "lo"]);
        assert_eq!(reply.text, "Hello");
        let err = Reply::default().line("data: {\"error\":{\"message\":\"overloaded\"}}", &mut |_| {}).unwrap_err();
        assert!(err.is_retryable());
    }
}
