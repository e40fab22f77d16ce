//! A client frame, decoded once into what it asks for. The refusals keep the API's order: the
//! frame must be a JSON object, then its `action` must be known, then the action's fields
//! (which validate themselves while decoding) must be right.

use chat_core::ApiResult;
use chat_core::domain::{ClientMessageId, ConversationId, MessageText};
use chat_core::http::decode;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug)]
pub enum ClientFrame {
    Whoami,
    /// Keeps an idle socket inside API Gateway's 10-minute idle limit.
    Ping,
    Subscribe(OnConversation),
    SendMessage(SendMessage),
    Typing(OnConversation),
}

#[derive(Debug, Deserialize)]
pub struct OnConversation {
    pub conversation_id: ConversationId,
}

#[derive(Debug, Deserialize)]
pub struct SendMessage {
    pub conversation_id: ConversationId,
    pub message: MessageText,
    #[serde(default)]
    pub client_message_id: Option<ClientMessageId>,
}

impl ClientFrame {
    /// Decodes a frame's JSON object: the `action` first, so an unknown one is refused before
    /// any field is looked at, then the fields that action takes (others are ignored).
    pub fn decode(object: Value) -> ApiResult<Self> {
        let Envelope { action } = decode(&object)?;
        Ok(match action {
            Action::Whoami => Self::Whoami,
            Action::Ping => Self::Ping,
            Action::Subscribe => Self::Subscribe(decode(object)?),
            Action::SendMessage => Self::SendMessage(decode(object)?),
            Action::Typing => Self::Typing(decode(object)?),
        })
    }
}

#[derive(Deserialize)]
struct Envelope {
    action: Action,
}

/// Decoded from a string by hand (not a serde tag) so that an unknown action is refused with
/// the list of known ones, and a missing one like any missing field.
#[derive(Deserialize)]
#[serde(try_from = "String")]
enum Action {
    Whoami,
    Ping,
    Subscribe,
    SendMessage,
    Typing,
}

impl TryFrom<String> for Action {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        match name.as_str() {
            "whoami" => Ok(Self::Whoami),
            "ping" => Ok(Self::Ping),
            "subscribe" => Ok(Self::Subscribe),
            "sendMessage" => Ok(Self::SendMessage),
            "typing" => Ok(Self::Typing),
            other => Err(format!("unknown action {other:?} (expected whoami, subscribe, sendMessage, typing or ping)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::ApiError;
    use chat_core::http::json_object;

    const ID: &str = "0190a6e4-6b1c-7d3e-8f00-0123456789ab";

    fn decoded(raw: &str) -> ApiResult<ClientFrame> {
        json_object("frame", raw.as_bytes()).and_then(ClientFrame::decode)
    }

    fn refusal(raw: &str) -> String {
        match decoded(raw) {
            Err(ApiError::BadRequest(message)) => message,
            other => panic!("expected a 400 for {raw}, got {other:?}"),
        }
    }

    #[test]
    fn the_frame_must_be_a_json_object() {
        for raw in ["", "  \n", "[1, 2]", "7", r#""whoami""#, "null"] {
            assert_eq!(refusal(raw), "frame must be a JSON object", "{raw:?}");
        }
        for raw in ["{", "not json", r#"{"action": "whoami",}"#] {
            assert_eq!(refusal(raw), "frame is not valid JSON", "{raw:?}");
        }
    }

    #[test]
    fn the_action_is_checked_before_any_field() {
        assert_eq!(refusal("{}"), "action is required");
        assert_eq!(refusal(r#"{"conversation_id": "nope"}"#), "action is required");
        assert_eq!(refusal(r#"{"action": 7}"#), "action: must be a string");
        assert_eq!(refusal(r#"{"action": null}"#), "action: must be a string");
        assert_eq!(
            refusal(r#"{"action": "dance", "conversation_id": "nope"}"#),
            r#"action: unknown action "dance" (expected whoami, subscribe, sendMessage, typing or ping)"#
        );
        assert_eq!(
            refusal(r#"{"action": "say \"hi\"\n"}"#),
            r#"action: unknown action "say \"hi\"\n" (expected whoami, subscribe, sendMessage, typing or ping)"#
        );
        // Names are case-sensitive.
        assert!(refusal(r#"{"action": "WhoAmI"}"#).starts_with(r#"action: unknown action "WhoAmI""#));
    }

    #[test]
    fn each_action_names_its_bad_field() {
        for action in ["subscribe", "typing", "sendMessage"] {
            let missing = format!(r#"{{"action": "{action}"}}"#);
            assert_eq!(refusal(&missing), "conversation_id is required", "{action}");
            let malformed = format!(r#"{{"action": "{action}", "conversation_id": "not-a-uuid"}}"#);
            assert_eq!(refusal(&malformed), "conversation_id: conversation id must be a UUID", "{action}");
            let number = format!(r#"{{"action": "{action}", "conversation_id": 5}}"#);
            assert_eq!(refusal(&number), "conversation_id: must be a string", "{action}");
        }
        let send = |rest: &str| refusal(&format!(r#"{{"action": "sendMessage", "conversation_id": "{ID}"{rest}}}"#));
        assert_eq!(send(""), "message is required");
        assert_eq!(send(r#", "message": "   ""#), "message: must contain a character that is not white space");
        assert_eq!(send(r#", "message": 1"#), "message: must be a string");
        assert_eq!(
            send(r#", "message": "hi", "client_message_id": "nope""#),
            "client_message_id: client_message_id must be a UUID"
        );
    }

    #[test]
    fn a_frame_decodes_into_its_action() {
        // Fields an action does not take are ignored.
        assert!(matches!(decoded(r#"{"action": "whoami", "conversation_id": 5}"#), Ok(ClientFrame::Whoami)));
        assert!(matches!(decoded(r#"{"action": "ping"}"#), Ok(ClientFrame::Ping)));
        let subscribe = decoded(&format!(r#"{{"action": "subscribe", "conversation_id": "{ID}"}}"#));
        assert!(
            matches!(subscribe, Ok(ClientFrame::Subscribe(OnConversation { conversation_id })) if conversation_id.to_string() == ID)
        );
        let typing = decoded(&format!(r#"{{"conversation_id": "{ID}", "action": "typing"}}"#));
        assert!(matches!(typing, Ok(ClientFrame::Typing(_))));
        let raw = format!(
            r#"{{"action": "sendMessage", "conversation_id": "{ID}", "message": "hi", "client_message_id": "{ID}", "client_message_id_x": 1}}"#
        );
        let Ok(ClientFrame::SendMessage(send)) = decoded(&raw) else { panic!("{raw}") };
        assert_eq!(send.message.as_ref(), "hi");
        assert_eq!(send.client_message_id.map(|id| id.to_string()).as_deref(), Some(ID));
        let raw = format!(
            r#"{{"action": "sendMessage", "conversation_id": "{ID}", "message": "hi", "client_message_id": null}}"#
        );
        assert!(matches!(decoded(&raw), Ok(ClientFrame::SendMessage(SendMessage { client_message_id: None, .. }))));
    }
}
