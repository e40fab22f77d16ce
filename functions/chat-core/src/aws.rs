//! The AWS SDK configuration every function shares, built from what Lambda puts in the
//! environment: the region and the execution role's credentials.
//!
//! Why not `aws_config::load_from_env()`: its provider chains read profile files, and can reach
//! IMDS, STS and SSO, none of which a Lambda uses. They cost cold-start time, and they are linked
//! into every binary. For the same reason there is one TLS stack, rustls on ring, instead of the
//! SDK's defaults (docs/performance.md measures both).

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

/// `AWS_REGION` and the `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`
/// credentials Lambda sets, and the CA bundle ([`tls_context`]). No network.
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

/// The SDK's connector timeout for new connections (its default since BehaviorVersion 2024).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// One connector for every client of the process: one connection pool and one TLS root store,
/// built here. The SDK's own client builds a connector per client when the client is built and
/// again at its first request, each parsing every root certificate (about 1 ms apiece here).
/// The clients' connector settings are the defaults, so a fixed connector loses nothing; the
/// SDK's operation timeouts and retries still apply around it.
pub fn http_client() -> SharedHttpClient {
    let connector = SharedHttpConnector::new(connector(CONNECT_TIMEOUT, None));
    http_client_fn(move |_settings, _components| connector.clone())
}

/// The SDK's hyper connector with rustls on ring and [`tls_context`] (the AI agent's OpenAI
/// client uses one of its own, with other timeouts).
pub fn connector(connect_timeout: Duration, pool_idle_timeout: Option<Duration>) -> Connector {
    let mut builder = Connector::builder()
        .connector_settings(HttpConnectorSettings::builder().connect_timeout(connect_timeout).build());
    if let Some(idle) = pool_idle_timeout {
        builder = builder.pool_idle_timeout(idle);
    }
    builder.tls_provider(TLS).tls_context(tls_context()).build()
}

pub const TLS: Provider = Provider::Rustls(CryptoMode::Ring);

/// Trusts the system's CA bundle file. The SDK's default, rustls-native-certs, also reads every
/// file of the certificate directory (292 here; loading certificates is reported slow on Amazon
/// Linux 2023, aws/aws-lambda-base-images#154). `SSL_CERT_FILE` or
/// `SSL_CERT_DIR`, or a system without a known bundle, keeps the default.
/// Read and checked once per process, however many connectors are built (the AI agent's
/// OpenAI client has its own).
pub fn tls_context() -> TlsContext {
    static CONTEXT: OnceLock<TlsContext> = OnceLock::new();
    CONTEXT
        .get_or_init(|| match ca_bundle() {
            Some(pem) => TlsContext::builder()
                .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
                .build()
                .unwrap_or_default(),
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
mod tests {
    use super::*;

    /// This machine's bundle (tests run where one of CA_BUNDLES exists) parses in full, so the
    /// functions trust it rather than scanning the certificate directory; a bundle with a
    /// certificate that does not parse, or none, leaves the SDK's default in place.
    #[test]
    fn the_ca_bundle_is_used_only_whole() {
        let pem = read_bundle(&CA_BUNDLES).expect("a CA bundle from CA_BUNDLES, every certificate parsable");
        assert!(CertificateDer::pem_slice_iter(&pem).count() > 50);

        let dir = std::env::temp_dir().join(format!("ca-bundle-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (bad, empty) = (dir.join("bad.pem"), dir.join("empty.pem"));
        let mut with_bad = pem.clone();
        with_bad.extend_from_slice(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        std::fs::write(&bad, with_bad).unwrap();
        std::fs::write(&empty, b"").unwrap();
        for path in [&bad, &empty] {
            assert!(read_bundle(&[path.to_str().unwrap()]).is_none(), "{}", path.display());
        }
        assert!(read_bundle(&["/nonexistent/bundle.pem"]).is_none());
        let _ = std::fs::remove_dir_all(dir);
    }
}
