//! `GET /api/conversations/{conversation_id}`: one page of messages, oldest first.

use chat_core::domain::{ConversationId, MessageId};
use chat_core::http::{caller, canonical_path, json, path_param, query_param, serve, with_next_link};
use chat_core::paging::{history_page, parse_limit};
use chat_core::store::messages::HistoryPage;
use chat_core::{ApiError, ApiResult, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

pub async fn handler(app: &App, req: Request) -> Response<Body> {
    serve(req, |req| history(app, req)).await
}

async fn history(app: &App, req: Request) -> ApiResult<Response<Body>> {
    let user = caller(app.tokens()?, &req)?;
    let id = path_param(&req, "conversation_id", ConversationId::parse)?;
    let limit = parse_limit(query_param(&req, "limit"))?;
    let message_id = |name: &str| {
        query_param(&req, name)
            .map(|raw| MessageId::parse(raw).map_err(|m| ApiError::bad_request(format!("{name}: {m}"))))
            .transpose()
    };
    let page = match (message_id("before")?, message_id("after")?) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("use either before or after, not both")),
        (Some(before), None) => HistoryPage::Before(before),
        (None, Some(after)) => HistoryPage::After(after),
        (None, None) => HistoryPage::Latest,
    };
    // The membership check and the page read run concurrently: one round trip of latency.
    // The page is dropped unread when the caller is not a participant.
    let (conversation, history) =
        tokio::join!(app.store.conversation_for(id, user), app.store.history(id, page, limit));
    conversation?;
    let (messages, more) = history_page(history?);
    let next = match (more, page, messages.first(), messages.last()) {
        (true, HistoryPage::After(_), _, Some(newest)) => Some(format!("after={}", newest.message_id)),
        (true, _, Some(oldest), _) => Some(format!("before={}", oldest.message_id)),
        _ => None,
    }
    .map(|query| format!("{}?{query}&limit={limit}", canonical_path(&req)));
    with_next_link(json(StatusCode::OK, &messages)?, next)
}
