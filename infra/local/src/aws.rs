//! What every emulated AWS service shares: the local stack's region, account and stack name,
//! and the SDK configuration its own clients use. A leaf: it imports nothing of the crate.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

pub const STACK_NAME: &str = "chat-local";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT_ID: &str = "123456789012";

/// One SDK configuration for any client of a local endpoint: the local region, throwaway
/// credentials, and the SDK's HTTP client on rustls with ring, as the functions use
/// (`chat_core::aws`; without the SDK's default features no client is built in).
pub fn local_sdk_config(endpoint: &str) -> SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "local",
            "local",
            None,
            None,
            "local-stack",
        )))
        .http_client(http)
        .build()
}
