use super::*;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_types::body::SdkBody;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{Read, Write};
use std::sync::{Arc, mpsc};

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

/// The compiled-in roots are the five Amazon Trust Services roots exactly as Mozilla's root
/// program (`webpki-root-certs`, from the CCADB) ships them, and every one parses as a trust
/// anchor (the SDK panics on one that does not).
#[test]
fn the_amazon_roots_are_mozillas() {
    let roots = CertificateDer::pem_slice_iter(AMAZON_ROOTS_PEM).collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(roots.len(), 5);
    for root in &roots {
        assert!(webpki_root_certs::TLS_SERVER_ROOT_CERTS.contains(root), "not in Mozilla's roots: {root:?}");
    }
    let (parsed, unparsable) = rustls::RootCertStore::empty().add_parsable_certificates(roots);
    assert_eq!((parsed, unparsable), (5, 0));
    let text = String::from_utf8_lossy(AMAZON_ROOTS_PEM);
    for name in ["Amazon Root CA 1", "Amazon Root CA 2", "Amazon Root CA 3", "Amazon Root CA 4", "Starfield Services"] {
        assert!(text.contains(name), "{name}");
    }
}

#[test]
fn trust_is_amazon_unless_a_host_outside_aws_can_be_reached() {
    let trust = |vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Trust::from_lookup(|key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    };
    let aws = [("AWS_REGION", "eu-west-1")];
    assert_eq!(trust(&aws).unwrap(), Trust::Amazon);
    for region in ["us-east-1", "ap-southeast-2", "il-central-1", "us-gov-west-1", "mx-central-1"] {
        assert_eq!(trust(&[("AWS_REGION", region)]).unwrap(), Trust::Amazon, "{region}");
    }
    for region in ["cn-north-1", "cn-northwest-1", "us-iso-east-1", "us-isob-east-1", "eusc-de-east-1", "", "local"] {
        assert_eq!(trust(&[("AWS_REGION", region)]).unwrap(), Trust::System, "{region}");
    }
    let with = |key: &'static str, value: &'static str| [aws[0], (key, value)];
    assert_eq!(trust(&with("TLS_TRUST", "system")).unwrap(), Trust::System);
    assert_eq!(trust(&with("TLS_TRUST", "SYSTEM")).unwrap(), Trust::System);
    assert_eq!(trust(&[("AWS_REGION", "cn-north-1"), ("TLS_TRUST", "amazon")]).unwrap(), Trust::Amazon);
    assert!(trust(&with("TLS_TRUST", "none")).is_err());
    assert_eq!(trust(&with("SSL_CERT_FILE", "/etc/my-ca.pem")).unwrap(), Trust::System);
    assert_eq!(trust(&with("SSL_CERT_DIR", "/etc/my-certs")).unwrap(), Trust::System);
    // The local stack (plain HTTP) and AWS endpoints keep the Amazon roots; any other TLS host
    // gets the system's.
    assert_eq!(trust(&with("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000")).unwrap(), Trust::Amazon);
    assert_eq!(
        trust(&with("WEBSOCKET_ENDPOINT", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod")).unwrap(),
        Trust::Amazon
    );
    assert_eq!(trust(&with("WEBSOCKET_ENDPOINT", "https://ws.example.com/prod")).unwrap(), Trust::System);
    assert_eq!(trust(&with("DYNAMODB_ENDPOINT", "https://alternator.example.com")).unwrap(), Trust::System);
    assert_eq!(trust(&with("DYNAMODB_ENDPOINT", "https://evil.amazonaws.com.example.com")).unwrap(), Trust::System);
    let vpce = "https://vpce-0a1b-c2d3.bedrock-runtime.us-east-1.vpce.amazonaws.com";
    assert_eq!(trust(&with("BEDROCK_ENDPOINT", vpce)).unwrap(), Trust::Amazon);
    assert_eq!(trust(&with("BEDROCK_ENDPOINT", "https://127.0.0.1:9443")).unwrap(), Trust::System);
    assert_eq!(trust(&with("SECRETS_MANAGER_ENDPOINT", "https://secrets.example.com")).unwrap(), Trust::System);
    assert_eq!(trust(&with("SECRETS_MANAGER_ENDPOINT", "http://127.0.0.1:3001")).unwrap(), Trust::Amazon);
}

/// A test certificate authority, and a `localhost` server certificate it signed.
struct TestPki {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
}

fn test_pki() -> TestPki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "chat test CA (untrusted)");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();
    TestPki {
        ca_pem: ca_cert.pem(),
        server_chain: vec![server_cert.der().clone(), ca_cert.der().clone()],
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
    }
}

/// An HTTPS server on localhost answering `200 ok` to every request; every connection's
/// outcome (a served request, or why the handshake or read failed) comes out of the receiver.
fn serve(pki: &TestPki) -> (u16, mpsc::Receiver<Result<(), String>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (outcomes, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config.clone()).unwrap(), stream);
            let outcome = (|| {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = tls.read(&mut buf).map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Err("closed before a request".to_string());
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    .map_err(|e| e.to_string())?;
                tls.conn.send_close_notify();
                tls.flush().map_err(|e| e.to_string())
            })();
            if outcomes.send(outcome).is_err() {
                return;
            }
        }
    });
    (port, received)
}

async fn get(connector: &Connector, port: u16) -> Result<u16, String> {
    let request: aws_smithy_runtime_api::http::Request =
        http::Request::get(format!("https://localhost:{port}/")).body(SdkBody::empty()).unwrap().try_into().unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), connector.call(request))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    Ok(response.status().as_u16())
}

fn outcome(outcomes: &mpsc::Receiver<Result<(), String>>) -> Result<(), String> {
    outcomes.recv_timeout(Duration::from_secs(20)).expect("the server saw a connection")
}

/// The functions' connector (the compiled-in Amazon roots) refuses a server whose certificate
/// chains to a CA it does not trust: no request reaches it. The same connector built to trust
/// that CA gets the server's answer, so the refusal is the certificate's and nothing else's.
#[tokio::test]
async fn a_server_with_an_untrusted_certificate_is_refused() {
    let pki = test_pki();
    let (port, outcomes) = serve(&pki);

    for trust in [Trust::Amazon, Trust::System] {
        let product = connector(CONNECT_TIMEOUT, None, tls_context(trust));
        let refused = get(&product, port).await.expect_err("an untrusted certificate must be refused");
        assert!(refused.contains("UnknownIssuer"), "{trust:?}: {refused}");
        let served = outcome(&outcomes).expect_err("no request may reach the server");
        assert!(served.contains("alert"), "{trust:?}: the client must abort the handshake: {served}");
    }

    let trusting_the_test_ca = connector(CONNECT_TIMEOUT, None, trusting_only(pki.ca_pem.as_bytes()));
    assert_eq!(get(&trusting_the_test_ca, port).await, Ok(200));
    assert_eq!(outcome(&outcomes), Ok(()));
}

/// The same through an SDK client built as the functions build theirs ([`sdk_config`]): the
/// first request's TLS handshake verifies the endpoint's certificate.
#[tokio::test]
async fn an_sdk_client_refuses_an_untrusted_endpoint() {
    let pki = test_pki();
    let (port, outcomes) = serve(&pki);
    let credentials = aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test");
    let sdk = sdk_config("eu-west-1", credentials);
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(format!("https://localhost:{port}"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let error = client.list_tables().send().await.expect_err("an untrusted endpoint must be refused");
    let error = format!("{:?}", aws_smithy_types::error::display::DisplayErrorContext(&error));
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert!(outcome(&outcomes).expect_err("no request may reach the server").contains("alert"));
}
