//! The proxy server: accepts connections, forwards requests through the layer stack to
//! the upstream, and streams bodies both ways.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use recourse_core::BoxError;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tracing::Instrument;

use crate::config::Config;
use crate::conn::{IdleIo, InFlight, InFlightGuard};
use crate::forwarded::{self, ClientFacts};
use crate::hop::{Via, strip_for_forwarding};
use crate::{stack, tls};

/// The body type inside the proxy: any body, boxed.
pub type ProxyBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// The service a request goes through once it is addressed to the upstream: the layer
/// stack around the HTTP client.
pub type UpstreamService = BoxCloneSyncService<Request<ProxyBody>, Response<ProxyBody>, BoxError>;

/// How long in-flight requests may run after a shutdown signal before connections are cut.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A configured reverse proxy, ready to serve.
#[derive(Clone, Debug)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    service: UpstreamService,
    via: Via,
    host: HeaderValue,
    /// TLS on the listener.
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The HTTP client the proxy uses to reach the upstream: hyper-util's pooled client over
/// `http` and `https` ([`recourse::HttpsConnector`]: rustls, HTTP/2 or HTTP/1.1 by ALPN),
/// TLS as [`Config`] says (`upstream_ca`, `upstream_insecure_skip_verify`), HTTP/2 only
/// when `upstream_http2` is set (prior knowledge over cleartext).
///
/// # Errors
///
/// When the CA file cannot be read or holds no usable certificate.
pub fn upstream_client(
    config: &Config,
) -> Result<Client<recourse::HttpsConnector, ProxyBody>, BoxError> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    http.enforce_http(false);
    // The facade's `https_connector` over this `HttpConnector` (its timeouts, no Nagle).
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls::upstream_tls(config)?)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .http2_only(config.upstream_http2);
    Ok(builder.build(connector))
}

impl Proxy {
    /// Builds the proxy for `config`: the layer stack its switches select around a
    /// hyper-util client.
    ///
    /// # Errors
    ///
    /// When a configured part cannot be built (for example the cache store).
    pub fn new(config: Config) -> Result<Self, BoxError> {
        let service = stack::build(&config, upstream_client(&config)?)?;
        let mut proxy = Self::with_service(config, service);
        if let Some((cert, key)) = &proxy.inner.config.tls {
            let acceptor = tls::listener_acceptor(cert, key)?;
            if let Some(inner) = Arc::get_mut(&mut proxy.inner) {
                inner.tls = Some(acceptor);
            }
        }
        Ok(proxy)
    }

    /// A proxy that sends upstream requests through `service` instead of the standard
    /// stack (for embedding and tests).
    pub fn with_service(config: Config, service: UpstreamService) -> Self {
        let host = HeaderValue::from_str(config.upstream.authority().as_str())
            .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        Self {
            inner: Arc::new(Inner {
                config,
                service,
                via: Via::new("recourse"),
                host,
                tls: None,
            }),
        }
    }

    /// The configuration.
    pub fn get_config(&self) -> &Config {
        &self.inner.config
    }

    /// Binds the configured listen address.
    ///
    /// # Errors
    ///
    /// The bind error (address in use, permission denied...).
    pub async fn bind(&self) -> io::Result<TcpListener> {
        TcpListener::bind(self.inner.config.listen).await
    }

    /// Binds the admin listener (`--admin-listen`), if one is configured.
    ///
    /// # Errors
    ///
    /// The bind error.
    pub async fn bind_admin(&self) -> io::Result<Option<TcpListener>> {
        match self.inner.config.admin_listen {
            Some(addr) => TcpListener::bind(addr).await.map(Some),
            None => Ok(None),
        }
    }

    /// Serves the admin routes (`GET /healthz`: `200 ok`) on `listener` until `shutdown`
    /// completes.
    ///
    /// # Errors
    ///
    /// Only errors of the listener itself.
    pub async fn serve_admin(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> io::Result<()> {
        crate::admin::serve(listener, shutdown).await
    }

    /// Serves connections from `listener` until `shutdown` completes, then stops
    /// accepting, lets in-flight requests finish (up to 10 s) and returns.
    ///
    /// # Errors
    ///
    /// Only errors of the listener itself; connection errors are logged.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> io::Result<()> {
        let config = &self.inner.config;
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        let slots = Arc::new(Semaphore::new(config.max_connections));
        tokio::pin!(shutdown);
        loop {
            // Back-pressure: at the connection limit, stop accepting until one closes.
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: log, back off a little, go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let proxy = self.clone();
            let builder = builder.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let in_flight = InFlight::default();
                let timeout = proxy.inner.config.idle_timeout;
                let io = IdleIo::new(stream, timeout, in_flight.clone());
                let result = match proxy.inner.tls.clone() {
                    None => proxy.serve_io(&builder, watcher, io, peer, in_flight).await,
                    Some(acceptor) => {
                        // The handshake gets the time a request header gets.
                        let limit = proxy.inner.config.header_read_timeout;
                        match tokio::time::timeout(limit, acceptor.accept(io)).await {
                            Ok(Ok(io)) => {
                                proxy.serve_io(&builder, watcher, io, peer, in_flight).await
                            }
                            Ok(Err(e)) => Err(e.into()),
                            Err(_) => Err("TLS handshake timed out".into()),
                        }
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                drop(slot);
            });
        }
        drop(listener);
        tracing::info!("shutting down: waiting for in-flight requests");
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests still running after the grace period; closing");
        }
        Ok(())
    }

    /// Serves one client connection (plain or TLS) until it closes.
    async fn serve_io<I>(
        self,
        builder: &auto::Builder<TokioExecutor>,
        watcher: Watcher,
        io: I,
        peer: SocketAddr,
        in_flight: InFlight,
    ) -> Result<(), BoxError>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let facts = ClientFacts::new(peer, self.inner.tls.is_some());
        let service = hyper::service::service_fn(move |req| {
            let guard = in_flight.enter();
            self.clone().handle(req, peer, facts.clone(), guard)
        });
        let conn = builder.serve_connection(TokioIo::new(io), service);
        watcher.watch(conn.into_owned()).await
    }

    async fn handle(
        self,
        req: Request<Incoming>,
        peer: SocketAddr,
        facts: ClientFacts,
        in_flight: InFlightGuard,
    ) -> Result<Response<ProxyBody>, Infallible> {
        // This proxy answers in its own protocol version, the client's (RFC 9110 §6.2),
        // whatever version the upstream answered in.
        let version = req.version();
        if !self.inner.config.access_log {
            let mut res = self.forward(req, &facts).await;
            *res.version_mut() = version;
            drop(in_flight);
            return Ok(res);
        }
        let span =
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), %peer);
        async move {
            let start = tokio::time::Instant::now();
            let mut res = self.forward(req, &facts).await;
            *res.version_mut() = version;
            drop(in_flight);
            tracing::info!(
                status = res.status().as_u16(),
                elapsed_ms = start.elapsed().as_secs_f64() * 1000.0,
                "done"
            );
            Ok(res)
        }
        .instrument(span)
        .await
    }

    async fn forward(&self, req: Request<Incoming>, facts: &ClientFacts) -> Response<ProxyBody> {
        let inner = &*self.inner;
        let max_body = inner.config.max_body;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_body) {
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        let (mut parts, body) = req.into_parts();
        let uri = match inner.config.upstream.uri_for(parts.uri.path_and_query()) {
            Ok(uri) => uri,
            Err(_) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "request target cannot be forwarded",
                );
            }
        };
        strip_for_forwarding(&mut parts.headers);
        inner.via.append(&mut parts.headers, parts.version);
        // The host the client asked for: its Host, or an HTTP/2 request's authority.
        let asked_host = match parts.headers.insert(header::HOST, inner.host.clone()) {
            Some(host) => Some(host),
            None => parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
        };
        forwarded::apply(
            &mut parts.headers,
            facts,
            asked_host,
            inner.config.forwarded_headers,
            inner.config.trust_forwarded,
        );
        parts.uri = uri;
        // The upstream connection speaks its own protocol version.
        parts.version = http::Version::HTTP_11;
        let limit = usize::try_from(max_body).unwrap_or(usize::MAX);
        let upstream_req = Request::from_parts(parts, limited(body, limit));
        let call = call_upstream(&inner.service, upstream_req);
        let result = tokio::time::timeout(inner.config.upstream_timeout, call).await;
        match result {
            Ok(Ok(mut res)) => {
                strip_for_forwarding(res.headers_mut());
                let version = res.version();
                inner.via.append(res.headers_mut(), version);
                res
            }
            Ok(Err(e)) => upstream_error(&e),
            Err(_) => error_response(StatusCode::GATEWAY_TIMEOUT, "upstream timed out"),
        }
    }
}

/// The request body, limited to `limit` bytes, boxed.
fn limited(body: Incoming, limit: usize) -> ProxyBody {
    Limited::new(body, limit).boxed_unsync()
}

/// The future of an upstream call.
type UpstreamFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, BoxError>> + Send>>;

/// Starts the upstream call. The future is boxed as `dyn Future + Send` here, outside any
/// `async fn`, because rustc cannot prove `Send` for the service's future through the
/// higher-ranked lifetimes of `Box<dyn Error>` inside an `async fn` (rust-lang/rust#102211).
fn call_upstream(service: &UpstreamService, req: Request<ProxyBody>) -> UpstreamFuture {
    Box::pin(service.clone().oneshot(req))
}

/// Maps an upstream failure to the status a client should see, and logs it with its
/// whole chain of causes (for TLS, the certificate problem: "invalid peer certificate:
/// UnknownIssuer").
fn upstream_error(e: &BoxError) -> Response<ProxyBody> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&**e);
    let mut causes = String::new();
    let mut tls = false;
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        tls = tls || is_tls_error(err);
        let text = err.to_string();
        // Wrappers often repeat their cause's text; keep each piece once.
        if !causes.contains(&text) {
            if !causes.is_empty() {
                causes.push_str(": ");
            }
            causes.push_str(&text);
        }
        source = err.source();
    }
    if tls {
        tracing::warn!(error = %causes, "upstream TLS handshake failed");
    } else {
        tracing::warn!(error = %causes, "upstream request failed");
    }
    error_response(StatusCode::BAD_GATEWAY, "upstream request failed")
}

/// Whether `err` is rustls's, or an `io::Error` (nested, as hyper-rustls and tokio-rustls
/// hand it over) around rustls's: `io::Error::source()` skips the error it wraps.
fn is_tls_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    // Bounded: an io::Error wraps at most a few layers.
    for _ in 0..8 {
        let Some(err) = current else { break };
        if err.is::<rustls::Error>() {
            return true;
        }
        current = err
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .map(|inner| inner as &(dyn std::error::Error + 'static));
    }
    false
}

/// A small plain-text response made by the proxy itself.
pub(crate) fn error_response(status: StatusCode, message: &'static str) -> Response<ProxyBody> {
    let mut res = Response::new(
        Full::new(Bytes::from_static(message.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}
