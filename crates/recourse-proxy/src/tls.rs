//! TLS: to `https://` upstreams (rustls through hyper-rustls, the facade's
//! [`recourse::tls_config`]) and on the listener (tokio-rustls).

use std::path::Path;
use std::sync::Arc;

use recourse_core::BoxError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsAcceptor;

use crate::config::Config;

/// The TLS configuration for `https://` upstreams: the facade's [`recourse::tls_config`]
/// (TLS 1.2 and 1.3, the Mozilla roots), with the roots replaced by `--upstream-ca`'s
/// certificates when given. SNI and verification are always on, unless
/// `--upstream-insecure-skip-verify` says otherwise.
pub(crate) fn upstream_tls(config: &Config) -> Result<rustls::ClientConfig, BoxError> {
    let mut tls = recourse::tls_config();
    let provider = tls.crypto_provider().clone();
    if let Some(path) = &config.upstream_ca {
        let roots = read_roots(path)?;
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| format!("--upstream-ca {}: {e}", path.display()))?;
        tls.dangerous().set_certificate_verifier(verifier);
    }
    if config.upstream_insecure_skip_verify {
        tracing::warn!(
            "--upstream-insecure-skip-verify: certificates of https upstreams are NOT verified; \
             anyone on the path can read and change the traffic"
        );
        tls.dangerous()
            .set_certificate_verifier(Arc::new(NoVerification(provider)));
    }
    Ok(tls)
}

/// The CA certificates of a PEM file, as a root store.
fn read_roots(path: &Path) -> Result<rustls::RootCertStore, BoxError> {
    let bad =
        |why: String| -> BoxError { format!("--upstream-ca {}: {why}", path.display()).into() };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in the file".to_owned()));
    }
    Ok(roots)
}

/// The listener's TLS acceptor: the certificate chain and key of `--tls-cert` and
/// `--tls-key`, HTTP/2 and HTTP/1.1 by ALPN (RFC 7301), h2 preferred.
pub(crate) fn listener_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, BoxError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("--tls-cert {}: no certificate in the file", cert.display()).into());
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    let provider = recourse::tls_config().crypto_provider().clone();
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// Accepts every server certificate (`--upstream-insecure-skip-verify`); handshake
/// signatures are still checked, so the peer holds the key of what it presented.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
