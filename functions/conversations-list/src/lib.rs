//! `GET /api/conversations`: the caller's conversations, most recent activity first, paged.

use chat_core::http::{caller, canonical_path, json, page_request, query_escape, serve, with_next_link};
use chat_core::paging::Page;
use chat_core::{ApiResult, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| list_conversations(app, req)).await
}

async fn list_conversations(app: &App, req: Request) -> ApiResult<Response<Body>> {
    let user = caller(app.tokens()?, &req)?;
    let page = page_request(&req)?;
    let listed = app.store.list_conversations(user, page.limit, page.cursor.as_deref()).await?;
    let conversations = Page::of(listed, |entry| entry.view());
    let next = conversations
        .next
        .map(|cursor| format!("{}?cursor={}&limit={}", canonical_path(&req), query_escape(&cursor), page.limit));
    with_next_link(json(StatusCode::OK, &conversations.items)?, next)
}
