//! TLS and HTTP/2 over real loopback connections, with a CA and certificates made in the
//! test (rcgen): `https://` upstreams (a private CA, a wrong one, verification turned
//! off), HTTP/2 to the upstream (ALPN, and prior knowledge over cleartext), and TLS on the
//! listener (h2 and http/1.1 by ALPN).

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::{config_for, no_layers, start};
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use recourse_proxy::{Config, Upstream};
use recourse_testkit::tls::{H2, HTTP11, TestPki, TlsFront};
use recourse_testkit::{Reply, TestServer};

/// A directory of files for one test, removed when the test ends.
struct TempFiles(PathBuf);

impl TempFiles {
    fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("recourse-proxy-tls-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `text` to the file `name`.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn https_config(front: &TlsFront) -> Config {
    let upstream = Upstream::parse(&front.uri("")).unwrap();
    no_layers(Config::for_upstream(upstream))
}

/// A log sink for one test (current-thread runtime: the default subscriber is per thread).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn https_upstream_with_a_private_ca_speaks_h2_by_alpn() {
    let upstream = TestServer::start().await;
    upstream.fallback("/hello", Reply::ok().body("over tls"));
    let pki = TestPki::generate();
    let front = TlsFront::start(&upstream, &pki, &[H2, HTTP11]).await;
    let mut config = https_config(&front);
    let files = TempFiles::new();
    config.upstream_ca = Some(files.write("ca.pem", pki.ca_pem()));
    let proxy = start(config).await;
    let res = common::client().get(proxy.uri("/hello")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The client spoke HTTP/1.1 to the proxy and is answered in it.
    assert_eq!(res.version(), Version::HTTP_11);
    assert_eq!(res.headers()["via"], "2 recourse");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "over tls");
    assert_eq!(front.alpn(), [Some(H2.to_vec())]);
    let seen = &upstream.requests_to("/hello")[0];
    assert_eq!(seen.version, Version::HTTP_2);
    proxy.stop().await;
}

#[tokio::test]
async fn https_upstream_speaking_only_http11_gets_http11() {
    let upstream = TestServer::start().await;
    upstream.fallback("/hello", Reply::ok().body("over tls"));
    let pki = TestPki::generate();
    let front = TlsFront::start(&upstream, &pki, &[HTTP11]).await;
    let mut config = https_config(&front);
    let files = TempFiles::new();
    config.upstream_ca = Some(files.write("ca.pem", pki.ca_pem()));
    let proxy = start(config).await;
    let res = common::client().get(proxy.uri("/hello")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(front.alpn(), [Some(HTTP11.to_vec())]);
    assert_eq!(upstream.requests_to("/hello")[0].version, Version::HTTP_11);
    proxy.stop().await;
}

#[tokio::test]
async fn a_wrong_ca_is_refused_with_502_and_a_clear_log_line() {
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let upstream = TestServer::start().await;
    upstream.fallback("/hello", Reply::ok().body("secret"));
    let pki = TestPki::generate();
    let other = TestPki::generate();
    let front = TlsFront::start(&upstream, &pki, &[H2, HTTP11]).await;
    let mut config = https_config(&front);
    let files = TempFiles::new();
    config.upstream_ca = Some(files.write("other-ca.pem", other.ca_pem()));
    config.breaker = false;
    let proxy = start(config).await;
    let res = common::client().get(proxy.uri("/hello")).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(upstream.count("/hello"), 0, "nothing reached the upstream");
    let text = logs.text();
    assert!(text.contains("upstream TLS handshake failed"), "{text}");
    assert!(text.contains("invalid peer certificate"), "{text}");
    proxy.stop().await;
}

#[tokio::test]
async fn the_default_roots_do_not_trust_a_private_ca() {
    let upstream = TestServer::start().await;
    upstream.fallback("/hello", Reply::ok());
    let pki = TestPki::generate();
    let front = TlsFront::start(&upstream, &pki, &[H2, HTTP11]).await;
    let proxy = start(https_config(&front)).await;
    let res = common::client().get(proxy.uri("/hello")).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(upstream.count("/hello"), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn insecure_skip_verify_accepts_an_unknown_certificate() {
    let upstream = TestServer::start().await;
    upstream.fallback("/hello", Reply::ok().body("unverified"));
    let pki = TestPki::generate();
    let front = TlsFront::start(&upstream, &pki, &[H2, HTTP11]).await;
    let mut config = https_config(&front);
    config.upstream_insecure_skip_verify = true;
    let proxy = start(config).await;
    let res = common::client().get(proxy.uri("/hello")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    proxy.stop().await;
}

#[tokio::test]
async fn cleartext_http2_upstream_by_prior_knowledge() {
    let upstream = TestServer::start().await;
    upstream.fallback("/h2", Reply::echo());
    let mut config = no_layers(config_for(&upstream));
    config.upstream_http2 = true;
    let proxy = start(config).await;
    let req = Request::post(proxy.uri("/h2"))
        .body(Full::new(Bytes::from_static(b"ping")))
        .unwrap();
    let res = common::client().request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), Version::HTTP_11);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "ping");
    assert_eq!(upstream.requests_to("/h2")[0].version, Version::HTTP_2);
    proxy.stop().await;
}

#[tokio::test]
async fn tls_listener_speaks_h2_and_http11_by_alpn() {
    let upstream = TestServer::start().await;
    upstream.fallback("/hello", Reply::ok().body("hi"));
    let pki = TestPki::generate();
    let mut config = no_layers(config_for(&upstream));
    let files = TempFiles::new();
    config.tls = Some((
        files.write("cert.pem", pki.cert_pem()),
        files.write("key.pem", pki.key_pem()),
    ));
    let proxy = start(config).await;
    let uri = format!("https://localhost:{}/hello", proxy.addr.port());
    for version in [Version::HTTP_2, Version::HTTP_11] {
        // The client offers one protocol by ALPN.
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(pki.client_config())
            .https_only();
        let connector = if version == Version::HTTP_2 {
            builder.enable_http2().build()
        } else {
            builder.enable_http1().build()
        };
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
        let res = client.get(uri.parse().unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.version(), version);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "hi");
    }
    // A cleartext request to the TLS port is not served.
    let plain = common::client().get(proxy.uri("/hello")).await;
    assert!(plain.is_err() || plain.unwrap().status() != StatusCode::OK);
    proxy.stop().await;
}
