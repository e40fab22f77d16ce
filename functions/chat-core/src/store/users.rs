//! Users: registration (email claim + profile in one transaction), login lookup, profiles.

use super::items::{CredentialsItem, UserItem};
use super::{Store, Transact, cursor, keys, to_item};
use crate::domain::{DisplayName, Email, PictureUrl, UserId};
use crate::error::ApiError;
use crate::paging::{Page, PageRequest};
use crate::views::{Profile, now_timestamp};

pub const EMAIL_TAKEN: &str = "email is already registered";

pub struct NewUser {
    pub email: Email,
    pub name: DisplayName,
    pub profile_picture: Option<PictureUrl>,
    pub password_hash: String,
}

impl Store {
    /// One transaction: both puts are conditional, so a taken email (also in a race) stores nothing.
    pub async fn create_user(&self, new: NewUser) -> Result<UserItem, ApiError> {
        let user_id = UserId::generate();
        let profile_key = keys::user(user_id);
        let email_key = keys::email(&new.email);
        let user = UserItem {
            pk: profile_key.pk,
            sk: profile_key.sk,
            gsi1pk: Some(keys::USERS_INDEX_PK.into()),
            gsi1sk: Some(keys::users_index_sk(user_id)),
            user_id,
            email: new.email.into(),
            name: new.name.into(),
            profile_picture: new.profile_picture.map(Into::into),
            created_at: now_timestamp(),
        };
        let credentials =
            CredentialsItem { pk: email_key.pk, sk: email_key.sk, user_id, password_hash: new.password_hash };
        let actions = vec![
            self.put(to_item(&credentials)?, Some("attribute_not_exists(PK)"))?,
            self.put(to_item(&user)?, Some("attribute_not_exists(PK)"))?,
        ];
        match self.transact("register", actions).await? {
            Transact::Committed => Ok(user),
            Transact::ConditionFailed(_) => Err(ApiError::Conflict(EMAIL_TAKEN.into())),
        }
    }

    pub async fn credentials(&self, email: &Email) -> Result<Option<CredentialsItem>, ApiError> {
        self.get("get credentials", &keys::email(email)).await
    }

    pub async fn user(&self, id: UserId) -> Result<Option<UserItem>, ApiError> {
        self.get("get user", &keys::user(id)).await
    }

    /// Profiles in registration order, from the USERS partition of GSI1.
    pub async fn list_users(&self, page: &PageRequest) -> Result<Page<Profile>, ApiError> {
        let after = match &page.cursor {
            None => None,
            Some(raw) => {
                let after: UserId = cursor::decode(raw)?;
                let position = keys::users_index_sk(after);
                Some(keys::IndexKey::new(keys::user(after), keys::USERS_INDEX_PK.into(), position))
            }
        };
        let (users, truncated): (Vec<UserItem>, _) =
            self.query_index("list users", keys::USERS_INDEX_PK.into(), after, page.limit, false).await?;
        Ok(Page::from_overfetch(users, page.limit, truncated, |u| cursor::encode(&u.user_id), |u| u.profile()))
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
