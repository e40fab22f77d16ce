//! API Gateway WebSocket API's Lambda proxy events (`CONNECT`, `MESSAGE`, `DISCONNECT`, the
//! REST-style 1.0 payload) and what an integration's answer means.
//!
//! Built by hand: `aws_lambda_events`' `ApiGatewayWebsocketProxyRequest` keeps headers in an
//! `http::HeaderMap`, which lower-cases their names, where this payload shows them capitalized.

use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// `apiId` (API Gateway's are 10 lower-case characters).
pub const API_ID: &str = "localwsapi";

/// What every event of one connection shares.
#[derive(Debug, Clone)]
pub struct ConnectionContext {
    pub connection_id: String,
    pub connected_at: DateTime<Utc>,
    pub source_ip: String,
    pub user_agent: String,
    /// The `Host` header of the handshake: `domainName`.
    pub domain_name: String,
    pub stage: String,
}

/// One frame's payload as API Gateway passes it on: text as is, binary base64-encoded.
pub enum Payload<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

fn request_context(ctx: &ConnectionContext, route_key: &str, event_type: &str) -> Map<String, Value> {
    let now = Utc::now();
    let request_id = crate::http_api::request_id();
    let context = json!({
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
        "messageDirection": "IN",
        "stage": ctx.stage,
        "connectedAt": ctx.connected_at.timestamp_millis(),
        "requestTimeEpoch": now.timestamp_millis(),
        "identity": {"sourceIp": ctx.source_ip, "userAgent": ctx.user_agent},
        "requestId": request_id,
        "domainName": ctx.domain_name,
        "connectionId": ctx.connection_id,
        "apiId": API_ID,
    });
    match context {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// `$connect`: the handshake's headers (with what API Gateway adds) and query string.
pub fn connect(ctx: &ConnectionContext, route_key: &str, headers: &HeaderMap, raw_query: &str, port: u16) -> Value {
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        multi.entry(title_case(name.as_str())).or_default().push(String::from_utf8_lossy(value.as_bytes()).into());
    }
    // What API Gateway adds in front of every integration.
    let forwarded = match multi.get("X-Forwarded-For") {
        Some(earlier) => format!("{}, {}", earlier.join(", "), ctx.source_ip),
        None => ctx.source_ip.clone(),
    };
    multi.insert("X-Forwarded-For".into(), vec![forwarded]);
    multi.insert("X-Forwarded-Port".into(), vec![port.to_string()]);
    multi.insert("X-Forwarded-Proto".into(), vec!["http".into()]);
    multi.insert("X-Amzn-Trace-Id".into(), vec![trace_id()]);
    let single: BTreeMap<&String, String> = multi.iter().map(|(k, v)| (k, v.join(","))).collect();

    let mut event = json!({
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": request_context(ctx, route_key, "CONNECT"),
        "isBase64Encoded": false,
    });
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        query.entry(key.into_owned()).or_default().push(value.into_owned());
    }
    if !query.is_empty() {
        // As in REST payloads: the last of repeated values, and all of them in the multi-value map.
        let last: BTreeMap<&String, &String> = query.iter().filter_map(|(k, v)| Some((k, v.last()?))).collect();
        event["queryStringParameters"] = json!(last);
        event["multiValueQueryStringParameters"] = json!(query);
    }
    event
}

/// A client frame.
pub fn message(ctx: &ConnectionContext, route_key: &str, payload: Payload) -> Value {
    let mut context = request_context(ctx, route_key, "MESSAGE");
    context.insert("messageId".into(), json!(crate::http_api::request_id()));
    let (body, encoded) = match payload {
        Payload::Text(text) => (text.to_string(), false),
        Payload::Binary(bytes) => (BASE64.encode(bytes), true),
    };
    json!({"requestContext": context, "body": body, "isBase64Encoded": encoded})
}

/// The socket closed, by either side, with this close code and reason.
pub fn disconnect(ctx: &ConnectionContext, route_key: &str, code: u16, reason: &str) -> Value {
    let mut context = request_context(ctx, route_key, "DISCONNECT");
    context.insert("disconnectStatusCode".into(), json!(code));
    context.insert("disconnectReason".into(), json!(reason));
    let headers = json!({"Host": ctx.domain_name, "X-Forwarded-For": ctx.source_ip});
    let multi = json!({"Host": [ctx.domain_name], "X-Forwarded-For": [ctx.source_ip]});
    json!({"headers": headers, "multiValueHeaders": multi, "requestContext": context, "isBase64Encoded": false})
}

/// An integration's answer: `{statusCode, headers, body, isBase64Encoded}`. Any other JSON is a
/// 200 whose body is that JSON, as for the HTTP API.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
}

impl Answer {
    pub fn parse(payload: &[u8]) -> Result<Self> {
        let value: Value = serde_json::from_slice(payload)
            .map_err(|e| Error::InvalidResponse(format!("the function's result is not JSON: {e}")))?;
        let Some(fields) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
            let body = (!value.is_null()).then(|| Bytes::copy_from_slice(payload));
            return Ok(Self { status: 200, headers: HeaderMap::new(), body });
        };
        let status = fields["statusCode"].as_u64().filter(|s| (100..=599).contains(s)).ok_or_else(|| {
            Error::InvalidResponse(format!("statusCode {} is not an HTTP status", fields["statusCode"]))
        })? as u16;
        let mut headers = HeaderMap::new();
        for (name, value) in fields.get("headers").and_then(Value::as_object).into_iter().flatten() {
            if let (Ok(name), Some(Ok(value))) =
                (name.parse::<http::HeaderName>(), value.as_str().map(http::HeaderValue::from_str))
            {
                headers.insert(name, value);
            }
        }
        let body = match fields.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if fields.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
                Some(Bytes::from(
                    BASE64
                        .decode(text)
                        .map_err(|e| Error::InvalidResponse(format!("body is not valid base64: {e}")))?,
                ))
            }
            Some(Value::String(text)) => Some(Bytes::from(text.clone())),
            Some(other) => Some(Bytes::from(other.to_string())),
        };
        Ok(Self { status, headers, body })
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// `sec-websocket-key` → `Sec-Websocket-Key`: hyper keeps no header case, and API Gateway's
/// 1.0 payload shows names as the client sent them, which is usually this.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn trace_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{:08x}-{}", Utc::now().timestamp(), &random[..24])
}
