//! `?limit=` and `?cursor=` for the user and conversation lists.

use crate::error::ApiError;

pub const MAX_LIMIT: usize = 100;

#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<String>,
}

pub fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    match raw {
        None => Ok(MAX_LIMIT),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit must be an integer from 1 to {MAX_LIMIT}"))),
    }
}

pub struct Page<T> {
    pub items: Vec<T>,
    /// Cursor for the next page, when more remain.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// `items` was fetched with `limit + 1`: the extra one only proves that more remain.
    /// `truncated` is DynamoDB's own hint (a `LastEvaluatedKey`, e.g. at the 1 MB page cap).
    pub fn from_overfetch<S>(
        mut items: Vec<S>,
        limit: usize,
        truncated: bool,
        cursor_of: impl Fn(&S) -> String,
        view: impl Fn(&S) -> T,
    ) -> Self {
        let more = items.len() > limit || (truncated && !items.is_empty());
        items.truncate(limit);
        let next = if more { items.last().map(&cursor_of) } else { None };
        Self { items: items.iter().map(view).collect(), next }
    }
}
