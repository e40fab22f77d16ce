//! API Gateway HTTP API's Lambda proxy integration, payload format 2.0: the event a request
//! becomes, and the HTTP response a function's result becomes.

use crate::error::{Error, Result};
use aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use aws_lambda_events::query_map::QueryMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

pub const API_ID: &str = "localhttp0";

/// One request as API Gateway saw it.
pub struct Request<'a> {
    pub method: &'a http::Method,
    /// Still percent-encoded, as received.
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub source_ip: IpAddr,
    pub local_port: u16,
    pub route_key: &'a str,
    pub path_params: &'a BTreeMap<String, String>,
    pub request_id: &'a str,
    pub time: DateTime<Utc>,
}

/// The event, as `aws_lambda_events` types it ([`to_json`] writes it as API Gateway does).
pub fn build(req: &Request) -> ApiGatewayV2httpRequest {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for name in req.headers.keys() {
        let values = req.headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if name == http::header::COOKIE {
            // Payload 2.0 moves cookies out of the headers into their own array.
            for value in values {
                cookies.extend(value.split(';').map(str::trim).filter(|c| !c.is_empty()).map(str::to_string));
            }
        } else {
            headers.insert(name.as_str().to_string(), values.collect::<Vec<_>>().join(","));
        }
    }
    // What API Gateway adds in front of every integration.
    let client = req.source_ip.to_string();
    headers
        .entry("x-forwarded-for".into())
        .and_modify(|v| {
            v.push_str(", ");
            v.push_str(&client);
        })
        .or_insert_with(|| client.clone());
    headers.insert("x-forwarded-port".into(), req.local_port.to_string());
    headers.insert("x-forwarded-proto".into(), "http".into());
    headers.insert("x-amzn-trace-id".into(), trace_id(req.time));

    let host = headers.get("host").cloned().unwrap_or_else(|| "localhost".into());
    let domain_prefix = host.split('.').next().unwrap_or(&host).to_string();
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();

    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = req.method.clone();
    http.path = Some(req.raw_path.into());
    http.protocol = Some("HTTP/1.1".into());
    http.source_ip = Some(client);
    http.user_agent = Some(user_agent);
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.account_id = Some(crate::aws::ACCOUNT_ID.into());
    context.apiid = Some(API_ID.into());
    context.domain_name = Some(host);
    context.domain_prefix = Some(domain_prefix);
    context.http = http;
    context.request_id = Some(req.request_id.into());
    context.route_key = Some(req.route_key.into());
    context.stage = Some("$default".into());
    context.time = Some(req.time.format("%d/%b/%Y:%H:%M:%S +0000").to_string());
    context.time_epoch = req.time.timestamp_millis();

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some(req.route_key.into());
    event.raw_path = Some(req.raw_path.into());
    event.raw_query_string = Some(req.raw_query.into());
    // Values as read (lossily, if not UTF-8), so every one is a valid header value.
    event.headers = headers
        .into_iter()
        .filter_map(|(name, value)| Some((HeaderName::from_bytes(name.as_bytes()).ok()?, value.parse().ok()?)))
        .collect();
    event.request_context = context;
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.query_string_parameters = QueryMap::from(HashMap::from_iter(query_parameters(req.raw_query)));
    event.path_parameters = req.path_params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if !req.body.is_empty() {
        // Text goes as is; anything that is not UTF-8 goes base64-encoded.
        let (body, encoded) = match std::str::from_utf8(req.body) {
            Ok(text) => (text.to_string(), false),
            Err(_) => (BASE64.encode(req.body), true),
        };
        event.body = Some(body);
        event.is_base64_encoded = encoded;
    }
    event
}

/// The event's JSON as API Gateway sends it: the type also writes the fields it keeps for
/// Custom Authorizer v1 payloads (`httpMethod`, `type`, `methodArn`, ...) and an empty
/// `stageVariables`, which payload 2.0 has not.
pub fn to_json(event: &ApiGatewayV2httpRequest) -> Vec<u8> {
    let mut json = serde_json::to_value(event).expect("an event serializes");
    if let Value::Object(fields) = &mut json {
        for v1 in ["type", "methodArn", "httpMethod", "identitySource", "authorizationToken", "resource"] {
            fields.remove(v1);
        }
        if fields.get("stageVariables").and_then(Value::as_object).is_some_and(Map::is_empty) {
            fields.remove("stageVariables");
        }
    }
    serde_json::to_vec(&json).expect("an event serializes")
}

/// Decoded, with repeated keys comma-joined (payload 2.0 has no multi-value map).
pub fn query_parameters(raw: &str) -> BTreeMap<String, String> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        params
            .entry(key.into_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    params
}

/// An X-Ray style id, `Root=1-<epoch hex>-<96 random bits>`.
fn trace_id(time: DateTime<Utc>) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{:08x}-{}", time.timestamp(), &random[..24])
}

/// API Gateway's request id: 14 characters and a `=`, like `JKJaXmPLvHcESHA=`.
pub fn request_id() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    BASE64.encode(&bytes[..10])
}

/// The HTTP response for a function's result. An object with a `statusCode` is a structured
/// response; any other JSON is a 200 `application/json` body, as on API Gateway. Anything
/// malformed is an error (API Gateway answers 500).
pub fn response(payload: &[u8]) -> Result<http::Response<Bytes>> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| Error::InvalidResponse(format!("the function's result is not JSON: {e}")))?;
    let Some(fields) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        return http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Bytes::copy_from_slice(payload))
            .map_err(|e| Error::InvalidResponse(e.to_string()));
    };
    let status = fields["statusCode"]
        .as_u64()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| Error::InvalidResponse(format!("statusCode {} is not an HTTP status", fields["statusCode"])))?;
    let mut builder = http::Response::builder().status(status as u16);
    let headers = builder.headers_mut().expect("the builder is valid so far");
    for (name, value) in object(fields, "headers")? {
        insert(headers, name, value, false)?;
    }
    for (name, values) in object(fields, "multiValueHeaders")? {
        for value in values
            .as_array()
            .ok_or_else(|| Error::InvalidResponse(format!("multiValueHeaders.{name} is not an array")))?
        {
            insert(headers, name, value, true)?;
        }
    }
    for cookie in fields.get("cookies").and_then(Value::as_array).into_iter().flatten() {
        insert(headers, "set-cookie", cookie, true)?;
    }
    let body = match fields.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if fields.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            BASE64.decode(text).map_err(|e| Error::InvalidResponse(format!("body is not valid base64: {e}")))?
        }
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    builder.body(Bytes::from(body)).map_err(|e| Error::InvalidResponse(e.to_string()))
}

fn object<'a>(fields: &'a Map<String, Value>, key: &str) -> Result<impl Iterator<Item = (&'a String, &'a Value)>> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None.into_iter().flatten()),
        Some(Value::Object(map)) => Ok(Some(map.iter()).into_iter().flatten()),
        Some(_) => Err(Error::InvalidResponse(format!("{key} is not an object"))),
    }
}

fn insert(headers: &mut HeaderMap, name: &str, value: &Value, append: bool) -> Result<()> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        _ => return Err(Error::InvalidResponse(format!("header {name} is not a string"))),
    };
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::InvalidResponse(format!("{name:?} is not a header name")))?;
    let value = HeaderValue::from_str(&text)
        .map_err(|_| Error::InvalidResponse(format!("header {name} has an invalid value")))?;
    if append {
        headers.append(name, value);
    } else {
        headers.insert(name, value);
    }
    Ok(())
}
