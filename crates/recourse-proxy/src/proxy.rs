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
use hyper_util::server::graceful::GracefulShutdown;
use recourse_core::BoxError;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tracing::Instrument;

use crate::config::Config;
use crate::conn::{IdleIo, InFlight, InFlightGuard};
use crate::hop::{append_via, strip_for_forwarding};
use crate::stack;

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
    via: HeaderValue,
    host: HeaderValue,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The HTTP client the proxy uses to reach the upstream.
pub fn upstream_client() -> Client<HttpConnector, ProxyBody> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(connector)
}

impl Proxy {
    /// Builds the proxy for `config`: the layer stack its switches select around a
    /// hyper-util client.
    ///
    /// # Errors
    ///
    /// When a configured part cannot be built (for example the cache store).
    pub fn new(config: Config) -> Result<Self, BoxError> {
        let service = stack::build(&config, upstream_client())?;
        Ok(Self::with_service(config, service))
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
                via: HeaderValue::from_static("recourse"),
                host,
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
        let slots = Arc::new(Semaphore::new(config.max_connections));
        let idle_timeout = config.idle_timeout;
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
            let in_flight = InFlight::default();
            let proxy = self.clone();
            let requests = in_flight.clone();
            let service = hyper::service::service_fn(move |req| {
                let guard = requests.enter();
                proxy.clone().handle(req, peer, guard)
            });
            let io = IdleIo::new(stream, idle_timeout, in_flight);
            let conn = builder.serve_connection(TokioIo::new(io), service);
            let conn = conn.into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
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

    async fn handle(
        self,
        req: Request<Incoming>,
        peer: SocketAddr,
        in_flight: InFlightGuard,
    ) -> Result<Response<ProxyBody>, Infallible> {
        // This proxy answers in its own protocol version, the client's (RFC 9110 §6.2),
        // whatever version the upstream answered in.
        let version = req.version();
        if !self.inner.config.access_log {
            let mut res = self.forward(req).await;
            *res.version_mut() = version;
            drop(in_flight);
            return Ok(res);
        }
        let span =
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), %peer);
        async move {
            let start = tokio::time::Instant::now();
            let mut res = self.forward(req).await;
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

    async fn forward(&self, req: Request<Incoming>) -> Response<ProxyBody> {
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
        append_via(&mut parts.headers, parts.version, &inner.via);
        parts.headers.insert(header::HOST, inner.host.clone());
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
                append_via(res.headers_mut(), version, &inner.via);
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

/// Maps an upstream failure to the status a client should see.
fn upstream_error(e: &BoxError) -> Response<ProxyBody> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&**e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        source = err.source();
    }
    tracing::warn!(error = %e, "upstream request failed");
    error_response(StatusCode::BAD_GATEWAY, "upstream request failed")
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
