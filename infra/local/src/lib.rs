//! The pieces of the local stack that tests share with `./infra/dev`: reading `template.yaml`,
//! serving the local DynamoDB (dynoxide), and creating the table the template declares; and
//! `local-gateway`, the local API Gateway (HTTP and WebSocket APIs), Lambda and its DynamoDB
//! stream event sources (docs/local-stack.md).

pub mod connections;
pub mod cors;
pub mod dynamodb;
pub mod event;
pub mod event_sources;
pub mod fault_proxy;
pub mod filter;
pub mod functions;
pub mod gateway;
pub mod http_gateway;
pub mod management;
pub mod routes;
pub mod runtime_api;
pub mod secrets_manager;
pub mod settings;
pub mod socket;
pub mod stream_records;
pub mod streams;
pub mod table;
pub mod template;
pub mod websocket;
pub mod ws_event;
pub mod ws_routes;

use std::path::PathBuf;

/// The repository root (this crate lives in `infra/local`).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the project root exists")
}

/// The SDK's HTTP client on rustls with ring, as the functions use (`chat_core::aws`); without
/// the SDK's default features no client is built in.
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// `events/<function>/<case>.json` with its `{{placeholders}}` filled (events/README.md); an
/// error names the file when one is left unfilled.
pub fn fixture(function: &str, case: &str, vars: &[(&str, &str)]) -> Result<String, String> {
    let path = project_root().join("events").join(function).join(format!("{case}.json"));
    let mut text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for (name, value) in vars {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    match text.find("{{") {
        Some(at) => {
            let near = &text[at..text.len().min(at + 30)];
            Err(format!("{} has unfilled placeholders: {near}", path.display()))
        }
        None => Ok(text),
    }
}
