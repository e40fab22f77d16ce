//! The HTTP API's routes. `template.yaml` declares the same list (a test compares them); the
//! fallback function uses it to tell an unknown path (404) from a wrong method (405).

pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("GET", "/api/users"),
    ("GET", "/api/users/{user_id}"),
    ("GET", "/api/conversations"),
    ("POST", "/api/conversations"),
    ("GET", "/api/conversations/{conversation_id}"),
    ("POST", "/api/conversations/{conversation_id}/connect"),
    ("POST", "/api/conversations/{conversation_id}/read"),
    ("GET", "/api/conversations/{conversation_id}/members"),
    ("POST", "/api/conversations/{conversation_id}/members"),
    ("DELETE", "/api/conversations/{conversation_id}/members/{user_id}"),
    ("POST", "/api/messages"),
];

/// Whether `path` (with or without a trailing slash) matches the route pattern.
pub fn matches(pattern: &str, path: &str) -> bool {
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// The methods allowed on `path`; empty when no route has that path.
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    ROUTES.iter().filter(|(_, p)| matches(p, path)).map(|(m, _)| *m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        assert!(matches("/api/users/{user_id}", "/api/users/abc"));
        assert!(matches("/api/users/{user_id}", "/api/users/abc/"));
        assert!(!matches("/api/users/{user_id}", "/api/users/"));
        assert!(!matches("/api/users", "/api/users/abc"));
        assert_eq!(allowed_methods("/api/conversations/"), vec!["GET", "POST"]);
        assert!(allowed_methods("/nope").is_empty());
    }
}
