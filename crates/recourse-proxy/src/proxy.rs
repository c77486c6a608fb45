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
use recourse_core::observe::{Stopwatch, UrlFull, server_port};
use recourse_core::{BoxError, History};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tracing::Instrument;

use crate::config::Config;
use crate::conn::{IdleIo, InFlight, InFlightGuard};
use crate::counted::{ResponseBody, request_body, response_body};
use crate::forwarded::{self, ClientFacts};
use crate::hop::{Via, strip_for_forwarding};
use crate::metrics::{self, Prometheus, upstream_error as kind};
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

#[derive(Clone)]
struct Inner {
    config: Config,
    service: UpstreamService,
    via: Via,
    host: HeaderValue,
    /// TLS on the listener.
    tls: Option<TlsAcceptor>,
    /// Whether `service` enforces `upstream_timeout` itself (the standard stack's
    /// deadline); otherwise [`Proxy::forward`] does.
    deadline_in_stack: bool,
    /// The Prometheus handle behind `GET /metrics` on the admin and metrics listeners.
    metrics: Option<Prometheus>,
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
        let inner = Arc::make_mut(&mut proxy.inner);
        inner.deadline_in_stack = true;
        if let Some((cert, key)) = &inner.config.tls {
            inner.tls = Some(tls::listener_acceptor(cert, key)?);
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
                deadline_in_stack: false,
                metrics: None,
            }),
        }
    }

    /// Serves `GET /metrics` (the Prometheus text exposition of `prometheus`) on the
    /// admin and metrics listeners ([`serve_admin`](Self::serve_admin)). The proxy records
    /// its metrics through the `metrics` facade whether or not this is called; this only
    /// exposes a Prometheus recorder's.
    pub fn with_metrics(mut self, prometheus: Prometheus) -> Self {
        Arc::make_mut(&mut self.inner).metrics = Some(prometheus);
        self
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

    /// Binds the metrics listener (`--metrics-listen`), if one is configured at an address
    /// of its own: when it is the admin listener's address, that listener serves
    /// `GET /metrics` and this returns `None`.
    ///
    /// # Errors
    ///
    /// The bind error.
    pub async fn bind_metrics(&self) -> io::Result<Option<TcpListener>> {
        let config = &self.inner.config;
        match config.metrics_listen {
            Some(addr) if config.admin_listen != Some(addr) => {
                TcpListener::bind(addr).await.map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Serves the admin routes on `listener` until `shutdown` completes: `GET /healthz`
    /// (`200 ok`), and `GET /metrics` (the Prometheus text format) when
    /// [`with_metrics`](Self::with_metrics) gave a recorder. Both the admin and the metrics
    /// listener serve these routes.
    ///
    /// # Errors
    ///
    /// Only errors of the listener itself.
    pub async fn serve_admin(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> io::Result<()> {
        crate::admin::serve(listener, shutdown, self.inner.metrics.clone()).await
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
            // Held to the task's end, after the connection left the open-connections
            // gauge: a shutdown returns only once every connection is out of it.
            let closing = graceful.watcher();
            let open = metrics::connection_opened();
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
                drop(open);
                drop(slot);
                drop(closing);
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
    ) -> Result<Response<ResponseBody>, Infallible> {
        let watch = Stopwatch::start();
        let method = metrics::method_index(req.method());
        // This proxy answers in its own protocol version, the client's (RFC 9110 §6.2),
        // whatever version the upstream answered in.
        let version = req.version();
        let mut res = match self
            .inner
            .config
            .upstream
            .uri_for(req.uri().path_and_query())
        {
            Err(_) => {
                if self.inner.config.access_log {
                    tracing::info!(
                        http.request.method = %req.method(),
                        client.address = %peer.ip(),
                        http.response.status_code = 400,
                        "request target cannot be forwarded"
                    );
                }
                error_response(
                    StatusCode::BAD_REQUEST,
                    "request target cannot be forwarded",
                )
            }
            Ok(uri) if self.inner.config.access_log => {
                self.forward_logged(req, uri, peer, &facts).await
            }
            Ok(uri) => self.forward(req, uri, &facts).await.0,
        };
        *res.version_mut() = version;
        drop(in_flight);
        let status = res.status();
        Ok(res.map(|body| response_body(body, method, status, watch)))
    }

    /// [`forward`](Self::forward) in the access log's span, then the access log line. The
    /// span carries the fields of the `recourse.request` span (OpenTelemetry HTTP client
    /// conventions, for the upstream request: `url.full` without credentials or query)
    /// and the client's address; the line adds the answer's.
    async fn forward_logged(
        &self,
        req: Request<Incoming>,
        uri: http::Uri,
        peer: SocketAddr,
        facts: &ClientFacts,
    ) -> Response<ProxyBody> {
        let start = tokio::time::Instant::now();
        let span = tracing::info_span!(
            "request",
            http.request.method = %req.method(),
            url.full = %UrlFull::new(&uri),
            server.address = uri.host(),
            server.port = server_port(&uri),
            client.address = %peer.ip(),
            client.port = peer.port(),
        );
        let (res, failure) = self.forward(req, uri, facts).instrument(span.clone()).await;
        let status = res.status();
        let error_type = failure.or((status.as_u16() >= 400).then(|| status.as_str()));
        let resend_count = History::of(&res).map(|h| (h.retries() + h.redirects()) as u64);
        span.in_scope(|| {
            tracing::info!(
                http.response.status_code = status.as_u16(),
                error.type = error_type,
                recourse.cache.status = cache_status(&res),
                http.request.resend_count = resend_count,
                elapsed_ms = start.elapsed().as_secs_f64() * 1000.0,
                "done"
            );
        });
        res
    }

    /// Forwards a request to `uri` upstream; the response, and the kind of upstream failure
    /// (one of [`metrics::upstream_error`]) when the proxy answers 502 or 504 itself.
    async fn forward(
        &self,
        req: Request<Incoming>,
        uri: http::Uri,
        facts: &ClientFacts,
    ) -> (Response<ProxyBody>, Option<&'static str>) {
        let inner = &*self.inner;
        let max_body = inner.config.max_body;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_body) {
            let res = error_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
            return (res, None);
        }
        let (mut parts, body) = req.into_parts();
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
        let result = if inner.deadline_in_stack {
            // The stack's deadline answers at `upstream_timeout` (DeadlineError::Elapsed).
            Ok(call.await)
        } else {
            tokio::time::timeout(inner.config.upstream_timeout, call).await
        };
        match result {
            Ok(Ok(mut res)) => {
                strip_for_forwarding(res.headers_mut());
                let version = res.version();
                inner.via.append(res.headers_mut(), version);
                (res, None)
            }
            Ok(Err(e)) => upstream_error(&e),
            Err(_) => timed_out(),
        }
    }
}

/// The RFC 9211 kind of what the cache did with a response, when the cache took part.
fn cache_status<B>(res: &Response<B>) -> Option<&'static str> {
    recourse_cache::CacheOutcome::of(res).map(recourse_cache::CacheOutcome::as_str)
}

/// The request body, counted and limited to `limit` bytes, boxed.
fn limited(body: Incoming, limit: usize) -> ProxyBody {
    Limited::new(request_body(body), limit).boxed_unsync()
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

/// The upstream did not answer within `upstream_timeout`: 504, counted and logged.
fn timed_out() -> (Response<ProxyBody>, Option<&'static str>) {
    metrics::record_upstream_error(kind::TIMEOUT);
    tracing::warn!(error.type = kind::TIMEOUT, "upstream timed out");
    let res = error_response(StatusCode::GATEWAY_TIMEOUT, "upstream timed out");
    (res, Some(kind::TIMEOUT))
}

/// Maps an upstream failure to the status a client should see and the kind of failure
/// (`None` for a request body over the limit, the client's fault), counts it, and logs
/// it with its whole chain of causes (for TLS, the certificate problem: "invalid peer
/// certificate: UnknownIssuer").
fn upstream_error(e: &BoxError) -> (Response<ProxyBody>, Option<&'static str>) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&**e);
    let mut causes = String::new();
    let mut failure = kind::OTHER;
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            let res = error_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
            return (res, None);
        }
        if err
            .downcast_ref::<recourse::DeadlineError<Infallible>>()
            .is_some_and(recourse::DeadlineError::is_elapsed)
        {
            return timed_out();
        }
        failure = more_precise(failure, error_kind(err));
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
    metrics::record_upstream_error(failure);
    if failure == kind::TLS {
        tracing::warn!(error = %causes, error.type = failure, "upstream TLS handshake failed");
    } else {
        tracing::warn!(error = %causes, error.type = failure, "upstream request failed");
    }
    let res = error_response(StatusCode::BAD_GATEWAY, "upstream request failed");
    (res, Some(failure))
}

/// The kind of upstream failure one error of the chain shows, if any.
fn error_kind(err: &(dyn std::error::Error + 'static)) -> &'static str {
    if is_tls_error(err) {
        return kind::TLS;
    }
    if let Some(e) = err.downcast_ref::<hyper_util::client::legacy::Error>() {
        if e.is_connect() {
            return kind::CONNECT;
        }
    } else if let Some(e) = err.downcast_ref::<hyper::Error>() {
        if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
            return kind::PROTOCOL;
        }
        if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
            return kind::CLOSED;
        }
    } else if let Some(e) = err.downcast_ref::<io::Error>() {
        return match e.kind() {
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::AddrNotAvailable => kind::CONNECT,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => kind::CLOSED,
            _ => kind::OTHER,
        };
    }
    kind::OTHER
}

/// Of two kinds found along a chain of causes, the one that says most: a TLS failure is a
/// connect failure too, and a closed connection may be reported as a protocol error.
fn more_precise(a: &'static str, b: &'static str) -> &'static str {
    let rank = |k: &str| match k {
        kind::TLS => 4,
        kind::CONNECT => 3,
        kind::CLOSED => 2,
        kind::PROTOCOL => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
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
