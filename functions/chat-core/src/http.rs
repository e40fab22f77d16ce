//! Request parsing and response building shared by the HTTP functions.

use crate::auth::TokenKeys;
use crate::domain::UserId;
use crate::error::{ApiError, ApiResult};
use crate::paging::{PageRequest, parse_limit};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use std::future::Future;
use std::time::Instant;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole `main` of an HTTP function: logging, then everything built once at cold start,
/// then `handler` for every request. The `App` lives as long as the process (leaked once), so
/// each request's future can borrow it and still be `Send + 'static`, as `lambda_http` wants.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static crate::App, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    crate::telemetry::init();
    let app: &'static crate::App = Box::leak(Box::new(crate::App::from_env().await?));
    let handler = &handler;
    lambda_http::run(lambda_http::service_fn(move |req| {
        let response = handler(app, req);
        async move { Ok::<_, std::convert::Infallible>(response.await) }
    }))
    .await
}

/// Runs one request and logs its method, path, status and latency (never headers, query
/// strings or bodies: they can carry tokens and passwords).
pub async fn serve<F, Fut>(req: Request, handle: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = ApiResult<Response<Body>>>,
{
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let response = crate::bounds::within_budget(handle(req)).await.unwrap_or_else(error_response);
    tracing::info!(
        method,
        path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// Logs the error, then answers with the contract's envelope and the headers its status needs.
pub fn error_response(err: ApiError) -> Response<Body> {
    err.log();
    let mut builder = Response::builder().status(err.status()).header("content-type", "application/json");
    match &err {
        ApiError::MethodNotAllowed { allow, .. } => builder = builder.header("allow", allow.join(", ")),
        ApiError::Throttled { retry_after_seconds } => {
            builder = builder.header("retry-after", retry_after_seconds.max(&1).to_string())
        }
        _ => {}
    }
    builder.body(Body::from(err.body().to_string())).expect("static response parts are valid")
}

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> ApiResult<Response<Body>> {
    let text = serde_json::to_string(body).map_err(ApiError::internal)?;
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(text))
        .map_err(ApiError::internal)
}

/// Adds `Link: <target>; rel="next"`.
pub fn with_next_link(mut response: Response<Body>, target: Option<String>) -> ApiResult<Response<Body>> {
    if let Some(target) = target {
        let value = HeaderValue::from_str(&format!("<{target}>; rel=\"next\"")).map_err(ApiError::internal)?;
        response.headers_mut().insert("link", value);
    }
    Ok(response)
}

/// Decodes a JSON object body into `T`. Field types validate themselves while decoding, so a
/// bad field fails here with a message that names it.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> ApiResult<T> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    parse_json(bytes)
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    decode(json_object("request body", bytes)?)
}

/// `bytes` as a JSON object; refusals call them `noun` (the WebSocket API says "frame").
pub fn json_object(noun: &str, bytes: &[u8]) -> ApiResult<serde_json::Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!("{noun} must be a JSON object")));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| ApiError::bad_request(format!("{noun} is not valid JSON")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!("{noun} must be a JSON object")));
    }
    Ok(value)
}

/// Decodes `T` from a JSON object: an owned `Value`, or a borrowed one to decode more than one
/// type from it. A bad field fails with a message that names it.
pub fn decode<'de, T: Deserialize<'de>>(object: impl Deserializer<'de>) -> ApiResult<T> {
    serde_path_to_error::deserialize(object).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        ApiError::bad_request(field_message(&path, &inner))
    })
}

fn field_message(path: &str, inner: &str) -> String {
    if let Some(rest) = inner.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        return match path {
            "." | "" => format!("{field} is required"),
            parent => format!("{parent}.{field} is required"),
        };
    }
    // Our own validators say what is wrong; serde's type errors get a friendlier wording.
    let message = if inner.starts_with("invalid type") {
        inner.split(", expected").nth(1).map_or_else(|| inner.to_string(), |e| format!("must be {}", e.trim()))
    } else {
        inner.to_string()
    };
    format!("{path}: {message}")
}

/// The caller's id from `Authorization: Bearer <JWT>`, or 401. The scheme is case-insensitive
/// (RFC 9110 §11.1): `Bearer`, `bearer` and `BEARER` are one scheme.
pub fn caller(tokens: &TokenKeys, req: &Request) -> ApiResult<UserId> {
    let header = req.headers().get("authorization").ok_or(ApiError::Unauthorized("missing bearer token"))?;
    let token =
        header.to_str().ok().and_then(bearer_token).ok_or(ApiError::Unauthorized("malformed authorization header"))?;
    tokens.verify(token)
}

/// The credentials of a `Bearer` authorization value: the scheme in any case, then white space.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A path parameter, parsed; a missing or malformed one is a 400 naming it.
pub fn path_param<T>(req: &Request, name: &str, parse: impl Fn(&str) -> Result<T, String>) -> ApiResult<T> {
    let params = req.path_parameters_ref();
    let raw = params.and_then(|p| p.first(name)).ok_or_else(|| ApiError::bad_request(format!("{name} is required")))?;
    parse(raw).map_err(|message| ApiError::bad_request(format!("{name}: {message}")))
}

pub fn query_param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query_string_parameters_ref().and_then(|q| q.first(name))
}

pub fn page_request(req: &Request) -> ApiResult<PageRequest> {
    let limit = parse_limit(query_param(req, "limit"))?;
    let cursor = query_param(req, "cursor").map(str::to_string);
    if cursor.as_deref() == Some("") {
        return Err(ApiError::bad_request("cursor is invalid"));
    }
    Ok(PageRequest { limit, cursor })
}

/// The request's path without a trailing slash: the base for `Link` targets.
pub fn canonical_path(req: &Request) -> String {
    let path = req.raw_http_path();
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/".into() } else { trimmed.to_string() }
}

/// Percent-encodes a query value (cursors are base64url already; this is belt and braces).
pub fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: crate::domain::Email,
        is_ai: bool,
    }

    fn err(raw: &str) -> String {
        match parse_json::<Body>(raw.as_bytes()) {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn every_429_carries_retry_after_in_whole_seconds() {
        let response = error_response(ApiError::Throttled { retry_after_seconds: 7 });
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["error"]["status"], 429);
        // Never "come back in 0 seconds": clients would spin.
        let response = error_response(ApiError::Throttled { retry_after_seconds: 0 });
        assert_eq!(response.headers()["retry-after"], "1");
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR  abc ", "Bearer\tabc"] {
            assert_eq!(bearer_token(value), Some("abc"), "{value:?}");
        }
        for value in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", "abc", ""] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(err(r#"{"is_ai":true}"#), "email is required");
        assert!(err(r#"{"email":"nope","is_ai":true}"#).starts_with("email: must be a valid email"));
        assert_eq!(err(r#"{"email":"a@b.co","is_ai":"yes"}"#), "is_ai: must be a boolean");
        assert_eq!(err("{"), "request body is not valid JSON");
        assert_eq!(err("[1]"), "request body must be a JSON object");
        assert_eq!(err(""), "request body must be a JSON object");
    }
}
