//! Parsed values: once a request field becomes one of these types it is known to be valid.
//! Each type deserializes through its parser, so a bad field fails JSON decoding with its name.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($name:ident, $what:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, String> {
                parse_uuid(raw).map(Self).ok_or_else(|| format!("{} must be a UUID", $what))
            }
            pub const fn from_uuid_const(id: Uuid) -> Self {
                Self(id)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(raw: String) -> Result<Self, String> {
                Self::parse(&raw)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Lowercase, hyphenated: the only form the API emits.
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

/// Accepts only the hyphenated form, in any case, so one id has one spelling in keys.
fn parse_uuid(raw: &str) -> Option<Uuid> {
    if raw.len() != 36 {
        return None;
    }
    Uuid::try_parse(raw).ok()
}

uuid_id!(UserId, "user id");
uuid_id!(ConversationId, "conversation id");
uuid_id!(MessageId, "message id");
uuid_id!(ClientMessageId, "client_message_id");

impl UserId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl MessageId {
    /// Time-ordered, so a conversation's messages sort by id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl ConversationId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// A direct conversation's id is derived from its two members, so "one conversation per
    /// pair" is a plain key-uniqueness condition in DynamoDB instead of a separate lock item.
    pub fn for_pair(a: UserId, b: UserId) -> Self {
        const NAMESPACE: Uuid = Uuid::from_u128(0x5c1b_6f0e_2d43_4e7a_9a51_0c4f_d2e8_b7a3);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        Self(Uuid::new_v5(&NAMESPACE, format!("{lo}:{hi}").as_bytes()))
    }
}

macro_rules! text_type {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(raw: String) -> Result<Self, String> {
                Self::parse(raw)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// An API Gateway WebSocket connection id (e.g. `L0SM9cOFvHcCIhw=`): opaque, but bounded to
/// the characters API Gateway uses so it is safe in keys, URLs and logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectionId(String);
text_type!(ConnectionId);

impl ConnectionId {
    pub fn parse(raw: String) -> Result<Self, String> {
        let valid =
            (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"=_+-/".contains(&b));
        if valid { Ok(Self(raw)) } else { Err("must be a WebSocket connection id".into()) }
    }
}

/// Trimmed and lowercased; uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);
text_type!(Email);

impl Email {
    pub fn parse(raw: String) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        let invalid = || "must be a valid email address of at most 254 characters".to_string();
        if email.is_empty() || email.chars().count() > 254 {
            return Err(invalid());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if labels_ok && local_ok { Ok(Self(email)) } else { Err(invalid()) }
    }
}

/// A password as typed: 8 to 128 characters, never trimmed, never logged.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self, String> {
        match raw.chars().count() {
            8..=128 => Ok(Self(raw)),
            _ => Err("must be 8 to 128 characters".into()),
        }
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Password {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(raw)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A display name: 1 to 100 characters after trimming; stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);
text_type!(DisplayName);

impl DisplayName {
    pub fn parse(raw: String) -> Result<Self, String> {
        let name = raw.trim();
        match name.chars().count() {
            1..=100 if !name.chars().any(char::is_control) => Ok(Self(name.to_string())),
            1..=100 => Err("must not contain control characters".into()),
            _ => Err("must be 1 to 100 characters".into()),
        }
    }
}

/// An absolute http(s) URL of at most 2048 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PictureUrl(String);
text_type!(PictureUrl);

impl PictureUrl {
    pub fn parse(raw: String) -> Result<Self, String> {
        let url = raw.trim();
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        let valid = url.len() <= 2048
            && host.is_some_and(|h| !h.is_empty() && !h.contains('@'))
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid { Ok(Self(url.to_string())) } else { Err("must be an http(s) URL of at most 2048 characters".into()) }
    }
}

/// A chat message: 1 to 4000 characters once trimmed, but stored exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageText(String);
text_type!(MessageText);

impl MessageText {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(raw: String) -> Result<Self, String> {
        match raw.trim().chars().count() {
            1..=Self::MAX_CHARS => Ok(Self(raw)),
            _ => Err(format!("must be 1 to {} characters", Self::MAX_CHARS)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse(" A.B@Example.COM ".into()).unwrap().as_ref(), "a.b@example.com");
        for bad in ["", "a", "a@b", "@b.com", "a@.com", "a..b@c.com", "a b@c.com", "a@b..com"] {
            assert!(Email::parse(bad.into()).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn ids_accept_only_hyphenated_uuids() {
        let id = UserId::generate().to_string();
        assert_eq!(UserId::parse(&id.to_uppercase()).unwrap().to_string(), id);
        assert!(UserId::parse(&id.replace('-', "")).is_err());
        assert!(UserId::parse("not-a-uuid").is_err());
    }

    #[test]
    fn pair_ids_ignore_order() {
        let (a, b) = (UserId::generate(), UserId::generate());
        assert_eq!(ConversationId::for_pair(a, b), ConversationId::for_pair(b, a));
        assert_ne!(ConversationId::for_pair(a, b), ConversationId::for_pair(a, UserId::generate()));
    }

    #[test]
    fn text_limits() {
        assert!(MessageText::parse("   ".into()).is_err());
        assert_eq!(MessageText::parse(" hi ".into()).unwrap().as_ref(), " hi ");
        assert!(MessageText::parse("é".repeat(4000)).is_ok());
        assert!(MessageText::parse("x".repeat(4001)).is_err());
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("😀".repeat(128)).is_ok());
        assert!(DisplayName::parse("  ".into()).is_err());
        assert!(PictureUrl::parse("javascript:alert(1)".into()).is_err());
        assert!(PictureUrl::parse("https://example.com/a.png".into()).is_ok());
    }
}
