//! Changing a group's members: the roster is rewritten whole under a condition on its
//! `version` (optimistic concurrency), in the same transaction as the memberships it adds or
//! deletes. A change that loses a race re-reads the roster and decides again, so concurrent
//! changes never exceed [`MAX_GROUP_MEMBERS`] and never lose a member.
//!
//! The last member leaving keeps the group, with an empty roster: nobody can reach it again
//! (every route checks the roster), and its messages stay as they were.

use super::conversations::Conversation;
use super::items::{Member, MembershipItem, RosterItem, UserItem};
use super::{Item, Store, StoreError, StoreResult, Transact, entity_type, from_item, key_item, keys, n, to_item};
use crate::domain::{ConversationKind, MAX_GROUP_MEMBERS, Role, UserId};
use crate::views::now_timestamp;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use std::collections::HashMap;

/// A transaction holds at most 100 actions.
const TRANSACTION_ACTIONS: usize = 100;

/// How many times a change re-reads the roster after losing a race before giving up (503).
const ATTEMPTS: usize = 10;

/// Why a change was refused; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Only a group's members change.
    NotGroup,
    /// The change would make the group larger than [`MAX_GROUP_MEMBERS`].
    TooMany,
    /// The caller is not (or no longer) a member.
    CallerNotMember,
    /// The user to remove is not a member.
    TargetNotMember,
    /// Only an admin removes someone else.
    NotAdmin,
}

/// A committed change: the conversation before and after it, and who was added or removed
/// (an add of users who are all members already changes nothing: `added` is empty).
pub struct Changed {
    pub before: Conversation,
    pub after: Conversation,
    pub added: Vec<UserId>,
    pub removed: Vec<UserId>,
}

/// What [`Store::member_details`] reads: profiles and read positions, by user.
pub struct MemberDetails {
    pub profiles: HashMap<UserId, UserItem>,
    pub memberships: HashMap<UserId, MembershipItem>,
}

impl Store {
    /// Adds `users` to the group `current` (as read by `by`, a member), ignoring those who are
    /// members already.
    pub async fn add_members(
        &self,
        mut current: Conversation,
        by: UserId,
        users: &[UserId],
    ) -> StoreResult<Result<Changed, Refusal>> {
        for _ in 0..ATTEMPTS {
            let roster = match precheck(&current, by) {
                Ok(roster) => roster.clone(),
                Err(refusal) => return Ok(Err(refusal)),
            };
            let added: Vec<UserId> = users.iter().copied().filter(|u| !current.has_member(*u)).collect();
            if added.is_empty() {
                return Ok(Ok(Changed { before: current.clone(), after: current, added, removed: Vec::new() }));
            }
            if roster.members.len() + added.len() > MAX_GROUP_MEMBERS {
                return Ok(Err(Refusal::TooMany));
            }
            let joined_at = now_timestamp();
            let mut next = roster.clone();
            next.members.extend(added.iter().map(|u| Member {
                user_id: *u,
                role: Role::Member,
                joined_at: joined_at.clone(),
            }));
            next.version += 1;
            let after = Conversation { item: current.item.clone(), roster: Some(next.clone()) };
            let memberships: Vec<Item> =
                added.iter().map(|u| to_item(&after.membership_for(*u))).collect::<Result<_, _>>()?;
            // The roster takes one action of the transaction; memberships fill the rest.
            let (now, later) = memberships.split_at(memberships.len().min(TRANSACTION_ACTIONS - 1));
            let mut actions = vec![self.put_roster(&next, roster.version)?];
            for item in now {
                actions.push(self.put(item.clone(), None)?);
            }
            match self.transact("add members", actions).await? {
                Transact::Committed => {
                    // Too many for one transaction: the rest follow, as for a new group. A
                    // removal racing into this gap could leave its member a stale inbox entry
                    // (never access: every route checks the roster).
                    self.put_all("add memberships", later.to_vec()).await?;
                    return Ok(Ok(Changed { before: current, after, added, removed: Vec::new() }));
                }
                Transact::ConditionFailed(_) => current = self.reread(current.id()).await?,
            }
        }
        Err(StoreError::Unavailable("add members: too many concurrent changes".into()))
    }

    /// Removes `target` from the group `current` (as read by `by`, a member): `by` leaves when
    /// it is their own id; removing another takes an admin. When no admin remains, the
    /// earliest-joined remaining member becomes one.
    pub async fn remove_member(
        &self,
        mut current: Conversation,
        by: UserId,
        target: UserId,
    ) -> StoreResult<Result<Changed, Refusal>> {
        for _ in 0..ATTEMPTS {
            let roster = match precheck(&current, by) {
                Ok(roster) => roster.clone(),
                Err(refusal) => return Ok(Err(refusal)),
            };
            let is_admin = |u: UserId| roster.members.iter().any(|m| m.user_id == u && m.role == Role::Admin);
            if target != by && !is_admin(by) {
                return Ok(Err(Refusal::NotAdmin));
            }
            if !current.has_member(target) {
                return Ok(Err(Refusal::TargetNotMember));
            }
            let mut next = roster.clone();
            next.members.retain(|m| m.user_id != target);
            if !next.members.iter().any(|m| m.role == Role::Admin)
                && let Some(earliest) = next.members.first_mut()
            {
                // Roster order is join order: the first left is the earliest joined.
                earliest.role = Role::Admin;
            }
            next.version += 1;
            let actions =
                vec![self.put_roster(&next, roster.version)?, self.delete(&keys::membership(target, current.id()))?];
            match self.transact("remove member", actions).await? {
                Transact::Committed => {
                    let after = Conversation { item: current.item.clone(), roster: Some(next) };
                    return Ok(Ok(Changed { before: current, after, added: Vec::new(), removed: vec![target] }));
                }
                Transact::ConditionFailed(_) => current = self.reread(current.id()).await?,
            }
        }
        Err(StoreError::Unavailable("remove member: too many concurrent changes".into()))
    }

    /// The members' profiles and read positions, in one round trip (BatchGetItems of 100 keys,
    /// in parallel). The AI agent has no membership; its profile is always known.
    pub async fn member_details(&self, conversation: &Conversation) -> StoreResult<MemberDetails> {
        let mut wanted = Vec::new();
        for user in conversation.member_ids() {
            wanted.push(key_item(&keys::user(user))?);
        }
        // A membership's partition key names its user.
        let mut owners = HashMap::new();
        for user in conversation.humans() {
            let key = keys::membership(user, conversation.id());
            wanted.push(key_item(&key)?);
            owners.insert(key.pk, user);
        }
        let mut details = MemberDetails { profiles: HashMap::new(), memberships: HashMap::new() };
        for item in self.batch_get_all("get members", wanted).await? {
            if entity_type(&item) == Some(<MembershipItem as super::items::Entity>::TYPE) {
                let membership: MembershipItem = from_item(item)?;
                if let Some(user) = owners.get(&membership.key.pk) {
                    details.memberships.insert(*user, membership);
                }
            } else {
                let profile: UserItem = from_item(item)?;
                details.profiles.insert(profile.user_id, profile);
            }
        }
        let agent = UserItem::agent();
        if conversation.has_member(agent.user_id) {
            details.profiles.entry(agent.user_id).or_insert(agent);
        }
        Ok(details)
    }

    async fn reread(&self, id: crate::domain::ConversationId) -> StoreResult<Conversation> {
        self.conversation(id).await?.ok_or_else(|| StoreError::internal("conversation vanished during a change"))
    }

    /// The roster, written only if nobody changed it since `version` was read.
    fn put_roster(&self, roster: &RosterItem, version: u64) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(roster)?))
            .condition_expression("version = :read")
            .expression_attribute_values(":read", n(version))
            .build()
            .map_err(StoreError::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete(&self, key: &keys::Key) -> StoreResult<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(key)?))
            .build()
            .map_err(StoreError::internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

/// A change needs a group whose members include the caller.
fn precheck(conversation: &Conversation, by: UserId) -> Result<&RosterItem, Refusal> {
    if conversation.kind() != ConversationKind::Group {
        return Err(Refusal::NotGroup);
    }
    let roster = conversation.roster.as_ref().ok_or(Refusal::NotGroup)?;
    if !conversation.has_member(by) { Err(Refusal::CallerNotMember) } else { Ok(roster) }
}
