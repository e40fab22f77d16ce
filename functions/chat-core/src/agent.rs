//! The AI agent: a participant with a stable id and a real profile, but no credentials, so
//! nobody can log in as it, and no token ever names it, so nobody can send as it. It is not
//! listed by `GET /api/users`: it is reached through `is_ai`, never as a direct partner.

use crate::domain::{AGENT_EMAIL, AGENT_NAME, UserId};
use crate::store::items::UserItem;
use crate::store::keys;
use uuid::Uuid;

pub const AGENT_ID: UserId = UserId::from_uuid_const(Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0a1a));

pub fn profile_item() -> UserItem {
    let key = keys::user(AGENT_ID);
    UserItem {
        pk: key.pk,
        sk: key.sk,
        gsi1pk: None,
        gsi1sk: None,
        user_id: AGENT_ID,
        email: AGENT_EMAIL.into(),
        name: AGENT_NAME.into(),
        profile_picture: None,
        created_at: "2025-01-01T00:00:00.000000Z".into(),
    }
}
