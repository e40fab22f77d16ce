//! `GET /api/users` (events/users-list).

use crate::common::{
    assert_auth_refusals, assert_ok, assert_profile, follow_links, ids, query_value, register_all, with_token,
};
use chat_tests::Function::UsersList;
use chat_tests::TestEnv;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user-{i:03}")).collect()
}

#[tokio::test]
async fn lists_every_profile_in_registration_order_without_secrets() {
    let env = TestEnv::new().await;
    let users = register_all(&env, &names(3)).await;
    let token = &users[0].0.token;
    for fixture in ["valid", "trailing-slash"] {
        let reply = env.replay(UsersList, fixture, &with_token(token, &[])).await;
        let body = assert_ok(&reply, 200);
        assert_eq!(reply.header("link"), None, "a single page has no Link");
        let listed = body.as_array().unwrap();
        assert_eq!(listed.len(), 3);
        for (profile, (user, name)) in listed.iter().zip(&users) {
            assert_profile(profile, &user.id, &user.email, name, None);
        }
    }
}

#[tokio::test]
async fn limit_pages_with_link_headers_to_the_end_without_duplicates() {
    let env = TestEnv::new().await;
    let users = register_all(&env, &names(7)).await;
    let token = &users[0].0.token;
    let all: Vec<String> = users.iter().map(|(u, _)| u.id.clone()).collect();

    let first = env.replay(UsersList, "first-page", &with_token(token, &[("limit", "3")])).await;
    assert_eq!(ids(assert_ok(&first, 200), "user_id"), all[..3]);
    let link = first.next_link().expect("more remain: Link");
    assert!(link.starts_with("/api/users?cursor=") && link.ends_with("&limit=3"), "{link}");

    // The cursor from the Link, replayed through the next-page fixture, gives the next page.
    let cursor = query_value(&link, "cursor");
    let second = env.replay(UsersList, "next-page", &with_token(token, &[("cursor", &cursor), ("limit", "3")])).await;
    assert_eq!(ids(assert_ok(&second, 200), "user_id"), all[3..6]);

    let pages = follow_links(&env, UsersList, "/api/users?limit=3", token).await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.body.as_array().unwrap().len()).collect();
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(pages.last().unwrap().header("link"), None);
    let seen: Vec<String> = pages.iter().flat_map(|p| ids(&p.body, "user_id")).collect();
    assert_eq!(seen, all, "every user once, in order");
}

#[tokio::test]
async fn a_full_last_page_has_no_link() {
    let env = TestEnv::new().await;
    let users = register_all(&env, &names(6)).await;
    let pages = follow_links(&env, UsersList, "/api/users?limit=3", &users[0].0.token).await;
    assert_eq!(pages.len(), 2, "no Link to an empty page");
    let seen: Vec<String> = pages.iter().flat_map(|p| ids(&p.body, "user_id")).collect();
    assert_eq!(seen, users.iter().map(|(u, _)| u.id.clone()).collect::<Vec<_>>());
}

#[tokio::test]
async fn default_page_is_100_and_links_from_a_trailing_slash_are_canonical() {
    let env = TestEnv::new().await;
    let users = register_all(&env, &names(101)).await;
    let token = &users[0].0.token;
    let all: Vec<String> = users.iter().map(|(u, _)| u.id.clone()).collect();

    let reply = env.replay(UsersList, "trailing-slash", &with_token(token, &[])).await;
    assert_eq!(ids(assert_ok(&reply, 200), "user_id"), all[..100]);
    let link = reply.next_link().expect("a 101st user remains");
    assert!(link.starts_with("/api/users?cursor=") && link.ends_with("&limit=100"), "{link}");
    let last = env.call(UsersList, "GET", &link, Some(token), None).await;
    assert_eq!(ids(assert_ok(&last, 200), "user_id"), all[100..]);
    assert_eq!(last.header("link"), None);
}

#[tokio::test]
async fn bad_paging_parameters_are_400() {
    let env = TestEnv::new().await;
    let user = env.register("alice").await;
    let vars = with_token(&user.token, &[]);
    for fixture in ["limit-zero", "limit-too-large", "limit-not-a-number"] {
        let message = env.refused(400, env.replay(UsersList, fixture, &vars)).await;
        assert_eq!(message, "limit must be an integer from 1 to 100", "fixture {fixture}");
    }
    assert_eq!(env.refused(400, env.replay(UsersList, "bad-cursor", &vars)).await, "cursor is invalid");
    // Well-formed base64 of the wrong JSON, and an empty cursor.
    for cursor in ["eyJ4IjoxfQ", ""] {
        let vars = with_token(&user.token, &[("cursor", cursor), ("limit", "3")]);
        assert_eq!(env.refused(400, env.replay(UsersList, "next-page", &vars)).await, "cursor is invalid");
    }
}

#[tokio::test]
async fn refuses_missing_and_bad_tokens() {
    let env = TestEnv::new().await;
    let user = env.register("alice").await;
    let message = env.refused(401, env.replay(UsersList, "basic-auth", &[])).await;
    assert_eq!(message, "malformed authorization header");
    assert_auth_refusals(&env, UsersList, "valid", &user, &[]).await;
}
