//! TLS on loopback: a certificate authority made on the spot ([`TestPki`], with rcgen) and
//! a TLS front for a [`TestServer`] ([`TlsFront`]) that speaks HTTP/2 or HTTP/1.1 as ALPN
//! decides, so every scripted route and the whole simulator are served over `https`.
//!
//! The front terminates TLS and copies the bytes of each connection to a new connection
//! to the test server, which speaks HTTP/1.1, and HTTP/2 when a connection opens with its
//! preface: the protocol ALPN picked is the one the server sees.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use recourse_testkit::Simulator;
//! use recourse_testkit::tls::{TestPki, TlsFront, H2, HTTP11};
//!
//! let server = Simulator::start().await;
//! let pki = TestPki::generate();
//! let front = TlsFront::start(&server, &pki, &[H2, HTTP11]).await;
//! assert!(front.uri("/barcode/ok").starts_with("https://localhost:"));
//! // A client trusting only this CA: `pki.client_config()`.
//! let _config = pki.client_config();
//! // The same CA, certificate and key in PEM, for programs that read files.
//! assert!(pki.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(pki.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(pki.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
//! assert_eq!(front.connections(), 0);
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::TestServer;

/// The ALPN protocol id of HTTP/2 (RFC 9113 §3.2).
pub const H2: &[u8] = b"h2";
/// The ALPN protocol id of HTTP/1.1.
pub const HTTP11: &[u8] = b"http/1.1";

/// rustls's *ring* provider, chosen explicitly so that no process-wide default is needed.
#[allow(deprecated)] // rustls 0.23.48 deprecates ring's provider for lacking post-quantum kx.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate authority made for one test, and a certificate it signed for `localhost`
/// and `127.0.0.1`.
#[derive(Debug)]
pub struct TestPki {
    ca: CertificateDer<'static>,
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

impl TestPki {
    /// A new CA (fresh keys every call) and a server certificate it signed.
    pub fn generate() -> Self {
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).expect("no names to parse");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Recourse test CA");
        let ca_key = rcgen::KeyPair::generate().expect("rcgen generates a key pair");
        let ca_cert = ca_params.self_signed(&ca_key).expect("rcgen signs the CA");
        let issuer = rcgen::Issuer::new(ca_params, &ca_key);

        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("valid names");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let key = rcgen::KeyPair::generate().expect("rcgen generates a key pair");
        let cert = params
            .signed_by(&key, &issuer)
            .expect("rcgen signs the certificate");
        Self {
            ca: ca_cert.der().clone(),
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The CA's certificate (DER).
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca
    }

    /// The CA's certificate in PEM, for programs that read a CA file.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server certificate (for `localhost` and `127.0.0.1`) in PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The server certificate's private key (PKCS#8) in PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A client configuration that trusts this CA only (TLS 1.2 and 1.3, *ring*).
    pub fn client_config(&self) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca.clone())
            .expect("rcgen's CA certificate parses");
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// A server configuration presenting the signed certificate, offering `alpn` in order.
    pub fn server_config(&self, alpn: &[&[u8]]) -> rustls::ServerConfig {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .expect("rcgen's key matches its certificate");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }

    /// A TLS acceptor for [`TestPki::server_config`].
    pub fn acceptor(&self, alpn: &[&[u8]]) -> TlsAcceptor {
        TlsAcceptor::from(Arc::new(self.server_config(alpn)))
    }
}

/// A TLS front on `127.0.0.1` for a [`TestServer`]: every connection is decrypted and its
/// bytes copied to a new connection to the server. It counts connections and records the
/// ALPN protocol each one agreed. Its task ends with the runtime.
#[derive(Debug)]
pub struct TlsFront {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    alpn: Arc<Mutex<Vec<Option<Vec<u8>>>>>,
}

impl TlsFront {
    /// Starts a front for `server` presenting `pki`'s certificate and offering `alpn`.
    pub async fn start(server: &TestServer, pki: &TestPki, alpn: &[&[u8]]) -> Self {
        let backend = server.addr();
        let acceptor = pki.acceptor(alpn);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let connections = Arc::new(AtomicUsize::new(0));
        let agreed = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (connections.clone(), agreed.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (acceptor, seen) = (acceptor.clone(), seen.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let protocol = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                    seen.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(protocol);
                    let Ok(mut upstream) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
        Self {
            addr,
            connections,
            alpn: agreed,
        }
    }

    /// The front's address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://localhost:PORT` followed by `path_and_query` (the certificate names
    /// `localhost`).
    pub fn uri(&self, path_and_query: &str) -> String {
        format!("https://localhost:{}{path_and_query}", self.addr.port())
    }

    /// How many TCP connections the front accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The ALPN protocol each completed handshake agreed (`None`: no ALPN), in order.
    pub fn alpn(&self) -> Vec<Option<Vec<u8>>> {
        self.alpn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
