//! API Gateway's CORS handling for an HTTP API with a `CorsConfiguration`: it answers preflight
//! requests itself and sets the CORS headers of every response, ignoring the function's own.

use crate::template::Cors;
use http::header::{HeaderMap, HeaderValue};

/// A preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
pub fn is_preflight(method: &http::Method, headers: &HeaderMap) -> bool {
    method == http::Method::OPTIONS
        && headers.contains_key("origin")
        && headers.contains_key("access-control-request-method")
}

/// The headers of the 204 answer to a preflight (none when the origin is not allowed).
pub fn preflight_headers(cors: &Cors, request: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(origin) = allowed_origin(cors, request) {
        headers.insert("access-control-allow-origin", origin);
        set(&mut headers, "access-control-allow-methods", &cors.allow_methods.join(","));
        set(&mut headers, "access-control-allow-headers", &cors.allow_headers.join(","));
        if let Some(age) = cors.max_age {
            set(&mut headers, "access-control-max-age", &age.to_string());
        }
        if cors.allow_credentials {
            set(&mut headers, "access-control-allow-credentials", "true");
        }
    }
    headers
}

/// Replaces the function's CORS headers with the configured ones.
pub fn apply(cors: &Cors, request: &HeaderMap, response: &mut HeaderMap) {
    let theirs: Vec<_> = response.keys().filter(|k| k.as_str().starts_with("access-control-")).cloned().collect();
    for name in theirs {
        response.remove(name);
    }
    if let Some(origin) = allowed_origin(cors, request) {
        response.insert("access-control-allow-origin", origin);
        set(response, "access-control-expose-headers", &cors.expose_headers.join(","));
        if cors.allow_credentials {
            set(response, "access-control-allow-credentials", "true");
        }
    }
}

fn allowed_origin(cors: &Cors, request: &HeaderMap) -> Option<HeaderValue> {
    let origin = request.get("origin")?;
    if cors.allow_origins.iter().any(|o| o == "*") {
        return Some(HeaderValue::from_static("*"));
    }
    let text = origin.to_str().ok()?;
    cors.allow_origins.iter().any(|o| o.eq_ignore_ascii_case(text)).then(|| origin.clone())
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if !value.is_empty()
        && let Ok(value) = HeaderValue::from_str(value)
    {
        headers.insert(name, value);
    }
}
