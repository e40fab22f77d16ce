//! The AWS SDK configuration every function shares, built from what Lambda puts in the
//! environment: the region and the execution role's credentials.
//!
//! Why not `aws_config::load_from_env()`: its provider chains read profile files, and can reach
//! IMDS, STS and SSO, none of which a Lambda uses. They cost cold-start time, and they are linked
//! into every binary. For the same reason there is one TLS stack, rustls on ring, instead of the
//! SDK's defaults (docs/performance.md measures both).
//!
//! Which certificates the SDK's connections trust: [`Trust`] (docs/performance.md, "Trusting AWS
//! endpoints").

use crate::config::ConfigError;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::Connector;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    HttpConnectorSettings, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use rustls::pki_types::{CertificateDer, pem::PemObject};
use std::sync::OnceLock;
use std::time::Duration;

/// The system's CA bundle as one file: Amazon Linux (Lambda's provided.al2023), then Debian.
const CA_BUNDLES: [&str; 2] = ["/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt"];

/// The Amazon Trust Services roots (Amazon Root CA 1 to 4, and Starfield Services Root CA G2,
/// which cross-signs Amazon Root CA 1 for older clients), every AWS service endpoint's trust
/// anchors. Five certificates of Mozilla's root program, byte for byte (a test compares them
/// with `webpki-root-certs`); the SDK decodes these 7 KB instead of the system's 220 KB bundle.
pub const AMAZON_ROOTS_PEM: &[u8] = include_bytes!("aws/amazon-roots.pem");

/// The environment variable that chooses [`Trust`]: `amazon` or `system`.
pub const TLS_TRUST: &str = "TLS_TRUST";

/// Which root certificates the SDK's connections trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// [`AMAZON_ROOTS_PEM`] alone: every host the SDK clients talk to on AWS (DynamoDB, the
    /// `execute-api` Management API, Bedrock) has a certificate under one of them. The default.
    Amazon,
    /// The system's CA bundle (or the SDK's native roots, `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    System,
}

impl Trust {
    /// `TLS_TRUST` (`amazon` or `system`) when set. Otherwise [`Trust::System`] where a host
    /// outside the AWS commercial and GovCloud partitions may be reached: `SSL_CERT_FILE` or
    /// `SSL_CERT_DIR` set, a region of another partition (China, ISO, the European Sovereign
    /// Cloud: other certificate authorities), or an `https` `DYNAMODB_ENDPOINT`,
    /// `WEBSOCKET_ENDPOINT`, `BEDROCK_ENDPOINT` or `SECRETS_MANAGER_ENDPOINT` outside `amazonaws.com` (VPC endpoints,
    /// `*.vpce.amazonaws.com`, are inside); [`Trust::Amazon`] else.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        match lookup(TLS_TRUST).as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("amazon") => return Ok(Trust::Amazon),
            Some("system") => return Ok(Trust::System),
            Some(_) => return Err(ConfigError::Invalid(TLS_TRUST, "must be amazon or system".into())),
            None => {}
        }
        let custom_bundle = lookup("SSL_CERT_FILE").is_some() || lookup("SSL_CERT_DIR").is_some();
        let region = lookup("AWS_REGION").or_else(|| lookup("AWS_DEFAULT_REGION")).unwrap_or_default();
        let outside_aws = ["DYNAMODB_ENDPOINT", "WEBSOCKET_ENDPOINT", "BEDROCK_ENDPOINT", "SECRETS_MANAGER_ENDPOINT"]
            .into_iter()
            .filter_map(&lookup)
            .any(|endpoint| !endpoint_under_amazon_roots(&endpoint));
        Ok(if custom_bundle || !amazon_roots_region(&region) || outside_aws { Trust::System } else { Trust::Amazon })
    }
}

/// A region of the `aws` partition (`us-east-1`, `ap-southeast-2`, …) or `aws-us-gov`
/// (`us-gov-west-1`), whose endpoints are `*.amazonaws.com` under the Amazon roots. Not China
/// (`cn-north-1`, `*.amazonaws.com.cn`), the ISO partitions (`us-iso-east-1`, private CAs) or
/// the European Sovereign Cloud (`eusc-de-east-1`).
fn amazon_roots_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let numbered = |last: &str| !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        ["us", "gov", direction, number] => direction.bytes().all(|b| b.is_ascii_lowercase()) && numbered(number),
        [prefix, direction, number] => {
            ["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"].contains(prefix)
                && !direction.is_empty()
                && direction.bytes().all(|b| b.is_ascii_lowercase())
                && numbered(number)
        }
        _ => false,
    }
}

/// Plain `http` (the local stack), or `https` to a host under `amazonaws.com`.
fn endpoint_under_amazon_roots(endpoint: &str) -> bool {
    let Ok(uri) = endpoint.parse::<http::Uri>() else {
        return false;
    };
    match uri.scheme_str() {
        Some("http") => true,
        Some("https") => uri.host().is_some_and(|host| host.to_ascii_lowercase().ends_with(".amazonaws.com")),
        _ => false,
    }
}

/// `AWS_REGION` and the `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`
/// credentials Lambda sets, and [`Trust::from_env`]. No network.
pub fn sdk_config_from_env() -> Result<SdkConfig, ConfigError> {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
        .filter(|r| !r.is_empty())
        .ok_or(ConfigError::Missing("AWS_REGION"))?;
    let trust = Trust::from_env()?;
    Ok(sdk_config_trusting(region, EnvironmentVariableCredentialsProvider::new(), trust))
}

/// A configuration with the given region and credentials, and [`http_client`] (the Amazon roots).
pub fn sdk_config(region: impl Into<String>, credentials: impl ProvideCredentials + 'static) -> SdkConfig {
    sdk_config_trusting(region, credentials, Trust::Amazon)
}

fn sdk_config_trusting(
    region: impl Into<String>,
    credentials: impl ProvideCredentials + 'static,
    trust: Trust,
) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.into()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(http_client_trusting(trust))
        .build()
}

/// The SDK's connector timeout for new connections (its default since BehaviorVersion 2024).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// [`http_client_trusting`] the Amazon roots.
pub fn http_client() -> SharedHttpClient {
    http_client_trusting(Trust::Amazon)
}

/// One connector for every client of the process: one connection pool and one TLS root store,
/// built here. The SDK's own client builds a connector per client when the client is built and
/// again at its first request, each parsing every root certificate (about 1 ms apiece here).
/// The clients' connector settings are the defaults, so a fixed connector loses nothing; the
/// SDK's operation timeouts and retries still apply around it.
pub fn http_client_trusting(trust: Trust) -> SharedHttpClient {
    let connector = SharedHttpConnector::new(connector(CONNECT_TIMEOUT, None, tls_context(trust)));
    http_client_fn(move |_settings, _components| connector.clone())
}

/// The SDK's hyper connector with rustls on ring and the given roots (the AI agent's OpenAI
/// client uses one of its own, with other timeouts and [`Trust::System`]).
pub fn connector(connect_timeout: Duration, pool_idle_timeout: Option<Duration>, tls: TlsContext) -> Connector {
    let mut builder = Connector::builder()
        .connector_settings(HttpConnectorSettings::builder().connect_timeout(connect_timeout).build());
    if let Some(idle) = pool_idle_timeout {
        builder = builder.pool_idle_timeout(idle);
    }
    builder.tls_provider(TLS).tls_context(tls).build()
}

pub const TLS: Provider = Provider::Rustls(CryptoMode::Ring);

/// The roots of `trust`, decoded by the SDK when a connector is built from them.
pub fn tls_context(trust: Trust) -> TlsContext {
    match trust {
        Trust::Amazon => trusting_only(AMAZON_ROOTS_PEM),
        Trust::System => system_tls_context(),
    }
}

/// A context that trusts the PEM certificates given and nothing else.
pub fn trusting_only(pem: &[u8]) -> TlsContext {
    TlsContext::builder().with_trust_store(TrustStore::empty().with_pem_certificate(pem)).build().unwrap_or_default()
}

/// Trusts the system's CA bundle file. The SDK's default, rustls-native-certs, also reads every
/// file of the certificate directory (292 here; loading certificates is reported slow on Amazon
/// Linux 2023, aws/aws-lambda-base-images#154). `SSL_CERT_FILE` or
/// `SSL_CERT_DIR`, or a system without a known bundle, keeps the default.
/// Read and checked once per process, however many connectors are built: about 17 M instructions
/// for Debian's 144 certificates (decoded twice, by the check and by the SDK), paid only where
/// [`Trust::System`] is chosen (and by the OpenAI provider, when configured).
fn system_tls_context() -> TlsContext {
    static CONTEXT: OnceLock<TlsContext> = OnceLock::new();
    CONTEXT
        .get_or_init(|| match ca_bundle() {
            Some(pem) => trusting_only(&pem),
            None => TlsContext::default(),
        })
        .clone()
}

fn ca_bundle() -> Option<Vec<u8>> {
    if std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some() {
        return None;
    }
    read_bundle(&CA_BUNDLES)
}

fn read_bundle(paths: &[&str]) -> Option<Vec<u8>> {
    let pem = paths.iter().find_map(|path| std::fs::read(path).ok())?;
    // The SDK refuses (panics on) a trusted certificate it cannot parse, where the default skips
    // it: take the bundle only when every certificate in it parses.
    let certificates = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().ok()?;
    let (parsed, unparsable) = rustls::RootCertStore::empty().add_parsable_certificates(certificates);
    (parsed > 0 && unparsable == 0).then_some(pem)
}

#[cfg(test)]
mod tests;
