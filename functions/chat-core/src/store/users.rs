//! Users: registration (email claim + profile in one transaction), login lookup, profiles.

use super::items::{CredentialsItem, UserItem};
use super::{Listed, Store, StoreError, StoreResult, Transact, cursor, from_item, key_item, keys, to_item};
use crate::domain::{DisplayName, Email, PictureUrl, UserId};
use crate::views::now_timestamp;
use std::collections::HashMap;

pub struct NewUser {
    pub email: Email,
    pub name: DisplayName,
    pub profile_picture: Option<PictureUrl>,
    pub password_hash: String,
}

impl Store {
    /// One transaction: both puts are conditional, so a taken email (also in a race) stores nothing.
    pub async fn create_user(&self, new: NewUser) -> StoreResult<UserItem> {
        let user_id = UserId::generate();
        let email_key = keys::email(&new.email);
        let user = UserItem {
            key: keys::user(user_id),
            index: Some(keys::Gsi1 { pk: keys::USERS_INDEX_PK.into(), sk: keys::users_index_sk(user_id) }),
            user_id,
            email: new.email.into(),
            name: new.name.into(),
            profile_picture: new.profile_picture.map(Into::into),
            created_at: now_timestamp(),
        };
        let credentials = CredentialsItem { key: email_key, user_id, password_hash: new.password_hash };
        let actions = vec![
            self.put(to_item(&credentials)?, Some("attribute_not_exists(PK)"))?,
            self.put(to_item(&user)?, Some("attribute_not_exists(PK)"))?,
        ];
        match self.transact("register", actions).await? {
            Transact::Committed => Ok(user),
            Transact::ConditionFailed(_) => Err(StoreError::EmailTaken),
        }
    }

    pub async fn credentials(&self, email: &Email) -> StoreResult<Option<CredentialsItem>> {
        self.get("get credentials", &keys::email(email)).await
    }

    pub async fn user(&self, id: UserId) -> StoreResult<Option<UserItem>> {
        self.get("get user", &keys::user(id)).await
    }

    /// Profiles by id, in one round trip (BatchGetItems of 100, in parallel); unknown ids are
    /// absent from the map.
    pub async fn users(&self, ids: &[UserId]) -> StoreResult<HashMap<UserId, UserItem>> {
        let wanted = ids.iter().map(|id| key_item(&keys::user(*id))).collect::<Result<_, _>>()?;
        let found = self.batch_get_all("get users", wanted).await?;
        found.into_iter().map(|item| from_item::<UserItem>(item).map(|u| (u.user_id, u))).collect()
    }

    /// Users in registration order, from the USERS partition of GSI1, after `cursor`.
    pub async fn list_users(&self, limit: usize, cursor: Option<&str>) -> StoreResult<Listed<UserItem>> {
        let after = match cursor {
            None => None,
            Some(raw) => {
                let after: UserId = cursor::decode(raw)?;
                let position = keys::users_index_sk(after);
                Some(keys::IndexKey::new(keys::user(after), keys::USERS_INDEX_PK.into(), position))
            }
        };
        let cursor_of = |u: &UserItem| cursor::encode(&u.user_id);
        self.query_index("list users", keys::USERS_INDEX_PK.into(), after, limit, false, cursor_of).await
    }
}

impl UserItem {
    /// Whether the account was created less than `window` ago (a registration retried after an
    /// answer that was lost comes within minutes; auth-register).
    pub fn created_within(&self, window: std::time::Duration) -> bool {
        let Ok(created) = chrono::DateTime::parse_from_rfc3339(&self.created_at) else { return false };
        let age = chrono::Utc::now().signed_duration_since(created);
        age >= chrono::TimeDelta::zero() && age.to_std().is_ok_and(|age| age < window)
    }
}
