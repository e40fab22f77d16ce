//! The `$default` route: API Gateway sends here whatever no route matched, and this answers
//! with the contract's envelope instead of API Gateway's own `{"message":"Not Found"}`.

use chat_core::http::serve;
use chat_core::routes::allowed_methods;
use chat_core::{ApiError, ApiResult};
use lambda_http::{Body, Request, RequestExt, Response};

pub async fn handler(req: Request) -> Response<Body> {
    serve(req, |req| async move { fallback(&req) }).await
}

fn fallback(req: &Request) -> ApiResult<Response<Body>> {
    // The path as sent: the request's URI has dot segments resolved (`/api/users/../users` reads
    // as `/api/users`), which would name a route that API Gateway did not match.
    let allow = allowed_methods(req.raw_http_path());
    if allow.is_empty() {
        Err(ApiError::not_found("route not found"))
    } else {
        Err(ApiError::MethodNotAllowed { method: req.method().to_string(), allow })
    }
}
