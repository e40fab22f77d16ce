//! What every emulated AWS service shares: the local stack's region, account and stack name,
//! and the SDK's HTTP client. A leaf: it imports nothing of the crate.

pub const STACK_NAME: &str = "chat-local";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT_ID: &str = "123456789012";

/// The SDK's HTTP client on rustls with ring, as the functions use (`chat_core::aws`); without
/// the SDK's default features no client is built in.
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}
