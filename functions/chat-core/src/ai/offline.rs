//! The built-in offline responder: no network, no credentials, so a local stack answers in AI
//! conversations out of the box. Its replies say plainly that no model wrote them.

use super::{ModelError, ModelRequest};

pub const PREFIX: &str = "[offline agent]";
/// How much of the user's message is quoted back.
const QUOTE_CHARS: usize = 200;

pub struct OfflineModel;

impl OfflineModel {
    pub fn reply_to(request: &ModelRequest) -> String {
        let said = request.last_user_text().trim();
        let mut quote: String = said.chars().take(QUOTE_CHARS).collect();
        if said.chars().count() > QUOTE_CHARS {
            quote.push('…');
        }
        format!(
            "{PREFIX} This is the built-in offline responder, not an AI model: no model is configured \
             for this deployment (set AI_PROVIDER to bedrock or openai). You said: \"{quote}\""
        )
    }

    /// Streams the canned reply in a few word-aligned pieces, like a model would.
    pub(super) async fn stream_reply(
        &self,
        request: &ModelRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<String, ModelError> {
        let reply = Self::reply_to(request);
        for piece in pieces(&reply, 4) {
            on_delta(piece);
            tokio::task::yield_now().await;
        }
        Ok(reply)
    }
}

/// About `count` pieces, cut after spaces so no piece splits a word or a character.
fn pieces(text: &str, count: usize) -> Vec<&str> {
    let target = text.len().div_ceil(count.max(1));
    let mut out = Vec::new();
    let mut start = 0;
    for (i, _) in text.match_indices(' ') {
        if i + 1 - start >= target {
            out.push(&text[start..=i]);
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::{Role, Turn};

    #[tokio::test]
    async fn streams_the_whole_reply_in_pieces() {
        let request =
            ModelRequest { system: String::new(), turns: vec![Turn { role: Role::User, text: "hé there".into() }] };
        let mut streamed = String::new();
        let mut count = 0;
        let reply = OfflineModel
            .stream_reply(&request, &mut |d| {
                streamed.push_str(d);
                count += 1;
            })
            .await
            .unwrap();
        assert_eq!(streamed, reply);
        assert!(count >= 3, "{count} pieces");
        assert!(reply.starts_with(PREFIX) && reply.contains("\"hé there\""));
    }
}
