//! `?limit=` and `?cursor=` for the user and conversation lists.

use crate::error::ApiError;
use crate::store::Listed;
use crate::store::items::MessageItem;
use crate::store::messages::History;
use crate::views::MessageView;
use serde::Serialize;

pub const MAX_LIMIT: usize = 100;

/// No response body exceeds 1 MiB: a page that would grow past it ends early, with its `Link`
/// to the rest. (A message's 4,000 characters can take 16 KB of JSON, and a conversation summary
/// carries its last message: 100 of either would pass Lambda's 6 MB response limit otherwise.)
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// Keeps the longest prefix of `items` whose JSON array fits in `budget` bytes, and at least
/// one item (so paging always advances). Returns whether items were dropped.
pub fn fit_to_budget<T: Serialize>(items: &mut Vec<T>, budget: usize) -> bool {
    let mut total = 2; // the array's brackets
    for (index, item) in items.iter().enumerate() {
        let size = serde_json::to_vec(item).map_or(usize::MAX / 2, |json| json.len()) + usize::from(index > 0);
        total += size;
        if total > budget && index > 0 {
            items.truncate(index);
            return true;
        }
    }
    false
}

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

/// A response page: the items' views, and the cursor of the next page when more remain.
pub struct Page<T> {
    pub items: Vec<T>,
    /// Cursor for the next page, when more remain.
    pub next: Option<String>,
}

impl<T: Serialize> Page<T> {
    /// The views of a page read from storage, ending early at [`MAX_PAGE_BYTES`] (the next
    /// page then starts after the last view kept).
    pub fn of<S>(listed: Listed<S>, view: impl Fn(&S) -> T) -> Self {
        let mut views: Vec<T> = listed.items.iter().map(view).collect();
        let cut = fit_to_budget(&mut views, MAX_PAGE_BYTES);
        let last_kept = listed.items.get(views.len().wrapping_sub(1));
        let next = if listed.more || cut { last_kept.map(|item| listed.cursor_after(item)) } else { None };
        Self { items: views, next }
    }
}

/// A history page as the API returns it: oldest first, and cut at [`MAX_PAGE_BYTES`] keeping the
/// messages nearest its anchor, so its `Link` continues where it stopped. Also whether more
/// remain beyond it.
pub fn history_page(history: History) -> (Vec<MessageView>, bool) {
    let mut messages: Vec<MessageView> = history.messages.iter().map(MessageItem::view).collect();
    let cut = fit_to_budget(&mut messages, MAX_PAGE_BYTES);
    if history.newest_first {
        messages.reverse();
    }
    (messages, history.more || cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_end_at_the_byte_budget_but_always_hold_one_item() {
        let mut items = vec!["x".repeat(10); 5]; // 12 bytes of JSON each, 1 comma between
        assert!(!fit_to_budget(&mut items.clone(), 2 + 5 * 12 + 4));
        assert!(fit_to_budget(&mut items, 2 + 5 * 12 + 3));
        assert_eq!(items.len(), 4);
        let mut huge = vec!["x".repeat(100), "y".into()];
        assert!(fit_to_budget(&mut huge, 10));
        assert_eq!(huge, vec!["x".repeat(100)]);
    }

    #[test]
    fn a_page_cut_by_the_budget_links_to_the_rest() {
        let listed = |items: Vec<usize>, more| Listed::new(items, more, |i| i.to_string());
        let page = Page::of(listed((0..100).collect(), false), |_| "é".repeat(15_000));
        // 15,000 two-byte characters: 30 KB of JSON each, 34 fit in 1 MiB.
        assert_eq!(page.items.len(), MAX_PAGE_BYTES / 30_003);
        assert_eq!(page.next.as_deref(), Some("33"));
        assert!(serde_json::to_vec(&page.items).unwrap().len() <= MAX_PAGE_BYTES);
        let small = Page::of(listed(vec![1, 2], false), |i| *i);
        assert_eq!((small.items, small.next), (vec![1, 2], None));
    }
}
