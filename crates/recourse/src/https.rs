//! The recommended stack around the clients people already use: hyper-util's client over
//! TLS (feature `rustls`) and `reqwest` (feature `reqwest`).

#[cfg(feature = "rustls")]
pub use self::tls::*;

#[cfg(feature = "rustls")]
mod tls {
    use std::sync::Arc;

    use http_body::Body;
    use hyper_rustls::ConfigBuilderExt;
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    use crate::{ClientStack, client};

    /// hyper-rustls's connector over hyper-util's `HttpConnector`: `https` with rustls
    /// (HTTP/2 or HTTP/1.1, as ALPN decides) and plain `http`.
    pub type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

    /// hyper-util's pooled client over [`HttpsConnector`], sending bodies of type `B`.
    pub type HttpsClient<B> = Client<HttpsConnector, B>;

    /// The TLS configuration of [`https_client`]: TLS 1.2 and 1.3 with the Mozilla root
    /// certificates (webpki-roots), and the process's default rustls crypto provider if one
    /// is installed (`CryptoProvider::install_default`), else *ring*. Choosing here means
    /// rustls never has to guess when a program links both *ring* and aws-lc-rs.
    pub fn tls_config() -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the crypto providers of rustls support TLS 1.2 and 1.3")
            .with_webpki_roots()
            .with_no_client_auth()
    }

    /// The installed default provider, or *ring* (which rustls 0.23.48 deprecates for
    /// lacking post-quantum key exchange; install aws-lc-rs as the default to get it).
    #[allow(deprecated)]
    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
    }

    /// A connector for `tls`: `https` and `http` URIs, ALPN offering `h2` then `http/1.1`
    /// (the connection speaks what the server picks; ALPN set in `tls` is replaced).
    pub fn https_connector(tls: rustls::ClientConfig) -> HttpsConnector {
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .build()
    }

    /// The recommended [`ClientStack`] around hyper-util's client over TLS ([`tls_config`]),
    /// HTTP/2 or HTTP/1.1 by ALPN, every layer with its defaults.
    ///
    /// Over HTTP/2, retried and redirected requests go out as new streams on the pooled
    /// connection, with their bodies replayed; a stream the server refused before
    /// processing it (`REFUSED_STREAM`, or beyond a graceful `GOAWAY`: RFC 9113 §8.7) counts
    /// as "not sent" for the retry layer, so even a POST without an idempotency key is sent
    /// again then.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// use tower::ServiceExt;
    ///
    /// let client = recourse::https_client();
    /// let req = http::Request::get("https://example.com/").body(Full::<Bytes>::default())?;
    /// let res = client.oneshot(req).await?;
    /// println!("{:?} {}", res.version(), res.status());
    /// # Ok(())
    /// # }
    /// ```
    pub fn https_client<B>() -> ClientStack<HttpsClient<B>>
    where
        B: Body + Send,
        B::Data: Send,
        crate::ClientStackLayer:
            tower_layer::Layer<HttpsClient<B>, Service = ClientStack<HttpsClient<B>>>,
    {
        https_client_with(tls_config())
    }

    /// [`https_client`] with your own TLS configuration (your roots, a client certificate).
    pub fn https_client_with<B>(tls: rustls::ClientConfig) -> ClientStack<HttpsClient<B>>
    where
        B: Body + Send,
        B::Data: Send,
        crate::ClientStackLayer:
            tower_layer::Layer<HttpsClient<B>, Service = ClientStack<HttpsClient<B>>>,
    {
        client(Client::builder(TokioExecutor::new()).build(https_connector(tls)))
    }
}

/// The recommended [`ClientStack`](crate::ClientStack) around a `reqwest::Client` (build it
/// with `recourse::reqwest::client_builder()`, which leaves redirects and retries to
/// Recourse), the retry layer knowing reqwest's "not sent" errors
/// (`recourse::reqwest::not_sent`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use recourse::classify::Outcome;
/// use tower::ServiceExt;
///
/// # let server = recourse_testkit::Simulator::start().await;
/// # let url = server.uri("/barcode/ok");
/// let client = recourse::reqwest_client(recourse::reqwest::client_builder().build()?);
/// let req = http::Request::post(url).body(Full::new(Bytes::from_static(b"{}")))?;
/// let res = client.oneshot(req).await?;
/// assert!(matches!(Outcome::of(&res), Outcome::Success));
/// # let _ = res.into_body().collect().await?;
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "reqwest")]
pub fn reqwest_client(
    client: recourse_reqwest::reqwest::Client,
) -> crate::ClientStack<recourse_reqwest::ReqwestService> {
    use tower_layer::Layer;
    crate::ClientStackLayer::new()
        .retry(crate::retry::RetryLayer::new().not_sent_when(recourse_reqwest::not_sent))
        .layer(recourse_reqwest::ReqwestService::new(client))
}
