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

/// The AI agent: a participant with a stable id and a real profile, but no credentials, so
/// nobody can log in as it, and no token ever names it, so nobody can send as it. It is not
/// listed by `GET /api/users`: it is reached through `is_ai`, never as a direct partner.
pub const AGENT_ID: UserId = UserId::from_uuid_const(Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0a1a));

/// The AI agent's address and display name: reserved, nobody can register or take them.
pub const AGENT_EMAIL: &str = "ai-agent@agent.invalid";
pub const AGENT_NAME: &str = "AI Agent";

/// Unicode NFKC: full-width and other compatibility forms fold to one spelling.
fn nfkc(text: &str) -> std::borrow::Cow<'_, str> {
    icu_normalizer::ComposingNormalizerBorrowed::new_nfkc().normalize(text)
}

/// An address in one canonical spelling, so that uniqueness is a plain key: trimmed,
/// NFKC-normalised, lowercased, the domain in its IDNA ASCII form (`x@bücher.de` is
/// `x@xn--bcher-kva.de`), and a top-level domain of letters (or `xn--`), never digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);
text_type!(Email);

impl Email {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(raw: String) -> Result<Self, String> {
        let invalid = || format!("must be a valid email address of at most {} characters", Self::MAX_CHARS);
        let folded = nfkc(raw.trim()).to_lowercase();
        let (local, domain) = folded.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        // Strict UTS #46: STD3 characters only, hyphen rules, DNS lengths (labels 1..=63).
        let domain = idna::domain_to_ascii_strict(domain).map_err(|_| invalid())?;
        let labels: Vec<&str> = domain.split('.').collect();
        let tld = labels.last().copied().unwrap_or_default();
        let tld_ok = tld.starts_with("xn--") || (tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
        let email = format!("{local}@{domain}");
        if local_ok && labels.len() >= 2 && tld_ok && email.chars().count() <= Self::MAX_CHARS {
            Ok(Self(email))
        } else {
            Err(invalid())
        }
    }

    /// The AI agent's own address: it has no credentials, and nobody may claim it.
    pub fn is_reserved(&self) -> bool {
        self.0 == AGENT_EMAIL
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

/// A display name: 1 to 100 characters after trimming, stored trimmed. No control characters,
/// no bidirectional overrides or isolates (they reorder what is shown around the name), at
/// least one visible character, and never the AI agent's name in any spelling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);
text_type!(DisplayName);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: String) -> Result<Self, String> {
        let name = shown_text(&raw, Self::MAX_CHARS)?;
        if skeleton(name) == skeleton(AGENT_NAME) {
            return Err("is reserved".into());
        }
        Ok(Self(name.to_string()))
    }
}

/// A group's title: the name rules (without the agent's reserved name), stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);
text_type!(Title);

impl Title {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: String) -> Result<Self, String> {
        shown_text(&raw, Self::MAX_CHARS).map(|t| Self(t.to_string()))
    }
}

/// Text shown as a label (a name, a title): trimmed, 1 to `max` characters, no control or
/// bidirectional override characters, at least one visible character.
fn shown_text(raw: &str, max: usize) -> Result<&str, String> {
    let text = raw.trim();
    if !(1..=max).contains(&text.chars().count()) {
        return Err(format!("must be 1 to {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if text.chars().any(is_bidi_control) {
        return Err("must not contain bidirectional override or isolate characters".into());
    }
    if text.chars().all(is_invisible) {
        return Err("must contain at least one visible character".into());
    }
    Ok(text)
}

/// What kind of conversation: two people, a group, or one person and the AI agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationKind {
    #[default]
    Direct,
    Group,
    Ai,
}

/// A member's role in a group: admins may remove others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    #[default]
    Member,
}

/// A group holds at most this many members, its creator included.
pub const MAX_GROUP_MEMBERS: usize = 256;

/// U+202A–U+202E (embeddings, overrides) and U+2066–U+2069 (isolates).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Renders as nothing: white space, Unicode's default-ignorable code points (zero-width
/// characters, joiners, variation selectors, the Hangul fillers, ...) and the blank Braille
/// pattern. A name made only of these looks empty.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// What a reader takes the name to say: NFKC, lowercase, letters and digits only
/// ("A.I.  agent" and full-width "ＡＩ Agent" read as "AI Agent").
fn skeleton(name: &str) -> String {
    nfkc(name).to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect()
}

/// An absolute http(s) URL as a WHATWG URL parser reads it, stored in its serialised form: at
/// most 2048 characters (as sent and as serialised), no credentials, no white space, quotes or
/// angle brackets anywhere in what was sent (the parser would percent-encode some of them, but
/// a picture URL that carried them was meant to break out of an attribute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PictureUrl(String);
text_type!(PictureUrl);

impl PictureUrl {
    pub const MAX_CHARS: usize = 2048;

    pub fn parse(raw: String) -> Result<Self, String> {
        let invalid = || format!("must be an http(s) URL of at most {} characters", Self::MAX_CHARS);
        let forbidden = |c: char| c.is_whitespace() || c.is_control() || "\"'`<>".contains(c);
        if raw.chars().count() > Self::MAX_CHARS || raw.chars().any(forbidden) {
            return Err(invalid());
        }
        // The parser would also read `https:example.com` and `https:///x`; an absolute URL here
        // spells out its authority (`http(s)://host`), as `openapi.yaml` says.
        let lower = raw.to_ascii_lowercase();
        let authority = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
        if !authority.is_some_and(|rest| !rest.is_empty() && !rest.starts_with(['/', '\\', '?', '#'])) {
            return Err(invalid());
        }
        let url = url::Url::parse(&raw).map_err(|_| invalid())?;
        let valid = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some_and(|h| !h.is_empty())
            && url.username().is_empty()
            && url.password().is_none()
            && url.as_str().chars().count() <= Self::MAX_CHARS;
        if valid { Ok(Self(url.into())) } else { Err(invalid()) }
    }
}

/// A chat message: 1 to 4000 characters counted as sent (nothing is trimmed, so the count is
/// what is stored), at least one of them not white space, and no control characters besides
/// line feed, carriage return and tab. Stored exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageText(String);
text_type!(MessageText);

impl MessageText {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(raw: String) -> Result<Self, String> {
        if !(1..=Self::MAX_CHARS).contains(&raw.chars().count()) {
            return Err(format!("must be 1 to {} characters", Self::MAX_CHARS));
        }
        if raw.chars().all(char::is_whitespace) {
            return Err("must contain a character that is not white space".into());
        }
        if raw.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err("must not contain control characters other than line feed, carriage return and tab".into());
        }
        Ok(Self(raw))
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
    fn emails_fold_to_one_spelling() {
        let one = |raw: &str| Email::parse(raw.into()).map(String::from);
        assert_eq!(one("x@Bücher.de").unwrap(), "x@xn--bcher-kva.de");
        assert_eq!(one("X@XN--BCHER-KVA.DE").unwrap(), "x@xn--bcher-kva.de");
        assert_eq!(one("ｘ＠ｅｘａｍｐｌｅ．ｃｏｍ").unwrap(), "x@example.com");
        for bad in ["x@1.2", "x@example.123", "x@example.c", "x@example.com.", "x@ex_ample.com", "x@-a.com"] {
            assert!(one(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(AGENT_EMAIL.to_uppercase()).unwrap().is_reserved());
    }

    #[test]
    fn names_must_be_visible_and_not_the_agents() {
        for bad in ["\u{200b}", "\u{3164}", " \u{2800} ", "a\u{202e}b", "a\u{2068}b", "AI agent", "A.I. AGENT"] {
            assert!(DisplayName::parse(bad.into()).is_err(), "{bad:?} accepted");
        }
        for good in ["👩‍💻", "Zoë", "李小龙", "AI Agent Smith", "x\u{200d}y"] {
            assert!(DisplayName::parse(good.into()).is_ok(), "{good:?} refused");
        }
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
        assert!(MessageText::parse(format!("a{}", " ".repeat(4000))).is_err());
        assert!(MessageText::parse("a\u{b}".into()).is_err());
        assert!(MessageText::parse("a\n\r\tb".into()).is_ok());
        assert_eq!(MessageText::parse(" hi ".into()).unwrap().as_ref(), " hi ");
        assert!(MessageText::parse("é".repeat(4000)).is_ok());
        assert!(MessageText::parse("x".repeat(4001)).is_err());
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("😀".repeat(128)).is_ok());
        assert!(DisplayName::parse("  ".into()).is_err());
        assert!(PictureUrl::parse("javascript:alert(1)".into()).is_err());
        for bad in ["https:example.com", "https:///x", "http://", "https://?q", "https://a b", "https://a\"b"] {
            assert!(PictureUrl::parse(bad.into()).is_err(), "{bad:?} accepted");
        }
        assert_eq!(PictureUrl::parse("HTTP://A.example/x y".into()).ok(), None);
        assert_eq!(PictureUrl::parse("HTTP://A.example/ä".into()).unwrap().as_ref(), "http://a.example/%C3%A4");
        assert!(PictureUrl::parse("https://example.com/a.png".into()).is_ok());
    }
}
