//! The `$default` route: API Gateway sends here whatever no route matched, and this answers
//! with the contract's envelope instead of API Gateway's own `{"message":"Not Found"}`.
//!
//! It also serves the seed's trailing-slash paths. An HTTP API cannot declare a route ending in
//! `/` (CreateRoute refuses it), so `POST /api/messages/` lands here: a path that is a route's
//! path plus one trailing slash, with a method that route allows, is answered `308 Permanent
//! Redirect` to the route (same method, same body: browsers' `fetch`, curl `-L` and the usual
//! HTTP clients follow it).

use chat_core::http::serve;
use chat_core::routes::allowed_methods;
use chat_core::{ApiError, ApiResult};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

pub async fn handler(req: Request) -> Response<Body> {
    serve(req, |req| async move { fallback(&req) }).await
}

fn fallback(req: &Request) -> ApiResult<Response<Body>> {
    // The path as sent: the request's URI has dot segments resolved (`/api/users/../users` reads
    // as `/api/users`), which would name a route that API Gateway did not match.
    let path = req.raw_http_path();
    let allow = allowed_methods(path);
    let method = req.method().as_str();
    if allow.is_empty() {
        return Err(ApiError::not_found("route not found"));
    }
    match path.strip_suffix('/') {
        Some(canonical) if allow.contains(&method) => redirect(canonical, req.uri().query()),
        _ => Err(ApiError::MethodNotAllowed { method: method.to_string(), allow }),
    }
}

/// `308` to the route without its trailing slash. The `Location` is relative to the request
/// (`../messages` from `/api/messages/`), so it stays right behind a custom domain whose base
/// path API Gateway strips before the function sees the path.
fn redirect(canonical: &str, query: Option<&str>) -> ApiResult<Response<Body>> {
    let last = canonical.rsplit('/').next().unwrap_or_default();
    let location = match query {
        Some(query) if !query.is_empty() => format!("../{last}?{query}"),
        _ => format!("../{last}"),
    };
    // A segment that cannot be a header value (raw non-ASCII) names no resource of ours.
    let location = HeaderValue::from_str(&location).map_err(|_| ApiError::not_found("route not found"))?;
    Response::builder()
        .status(StatusCode::PERMANENT_REDIRECT)
        .header("location", location)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::json!({ "location": canonical }).to_string()))
        .map_err(ApiError::internal)
}
