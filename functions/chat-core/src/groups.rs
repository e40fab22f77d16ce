//! What group routes share: reading the list of users a caller invites.

use crate::domain::{AGENT_ID, MAX_GROUP_MEMBERS, UserId};
use crate::{ApiError, ApiResult, App};
use serde_json::Value;
use std::collections::HashSet;

/// The users named by `field` (a JSON array of 1 to 255 distinct user ids), each an existing
/// user and not the AI agent, in the order given. The caller's own id is dropped: they are in
/// the group already. Every refusal is a 400 naming `field`; nothing is written.
pub async fn invitees(app: &App, field: &str, raw: Option<Value>, caller: UserId) -> ApiResult<Vec<UserId>> {
    let bad = |why: String| ApiError::bad_request(format!("{field}: {why}"));
    let items = match raw {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => return Err(bad("is required".into())),
        Some(_) => return Err(bad("must be an array of user ids".into())),
    };
    let most = MAX_GROUP_MEMBERS - 1;
    if items.is_empty() || items.len() > most {
        return Err(bad(format!("must hold 1 to {most} user ids")));
    }
    let mut seen = HashSet::new();
    let mut ids = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let id = item
            .as_str()
            .ok_or_else(|| bad(format!("item {i} must be a string")))
            .and_then(|s| UserId::parse(s).map_err(|m| bad(format!("item {i}: {m}"))))?;
        if !seen.insert(id) {
            return Err(bad(format!("item {i}: {id} is listed twice")));
        }
        if id == AGENT_ID {
            return Err(bad("the AI agent cannot be a group member".into()));
        }
        if id != caller {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(bad("must name at least one user other than yourself".into()));
    }
    let found = app.store.users(&ids).await?;
    if let Some(unknown) = ids.iter().find(|id| !found.contains_key(id)) {
        return Err(bad(format!("no such user: {unknown}")));
    }
    Ok(ids)
}
