//! The AWS SDK configuration every function shares, built from what Lambda puts in the
//! environment: the region and the execution role's credentials.
//!
//! Why not `aws_config::load_from_env()`: its provider chains read profile files, and can reach
//! IMDS, STS and SSO, none of which a Lambda uses. They cost cold-start time, and they are linked
//! into every binary. For the same reason there is one TLS stack, rustls on ring, instead of the
//! SDK's defaults (docs/benchmarks/sizes.md measures both).

use crate::config::ConfigError;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// `AWS_REGION` and the `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`
/// credentials Lambda sets. Reads nothing else and does no I/O.
pub fn sdk_config_from_env() -> Result<SdkConfig, ConfigError> {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
        .filter(|r| !r.is_empty())
        .ok_or(ConfigError::Missing("AWS_REGION"))?;
    Ok(sdk_config(region, EnvironmentVariableCredentialsProvider::new()))
}

/// A configuration with the given region and credentials, and [`http_client`].
pub fn sdk_config(region: impl Into<String>, credentials: impl ProvideCredentials + 'static) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.into()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(http_client())
        .build()
}

/// The SDK's hyper client with rustls on ring. Root certificates load on first use, not here.
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}
