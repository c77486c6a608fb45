//! The layer stack between the proxy's front end and the upstream client.
//!
//! Outermost first: the deadline (`--upstream-timeout`, the facade's `SetDeadline`, which
//! also opens the `recourse.request` span and records the stack's metrics), poll (off by default), redirect (off by default), cache (shared mode,
//! on; it obeys `CDN-Cache-Control` (RFC 9213, `--cache-targeted-fields`), serves stale
//! responses for up to a day when the upstream cannot be reached
//! (`--cache-stale-if-unreachable`, RFC 9111 §4.2.4), and adds `Cache-Status:
//! recourse-proxy; ...` (RFC 9211) to every response), retry (on; idempotent requests only, and requests with an `Idempotency-Key`),
//! breaker (on, `--no-breaker`; a refused request gets 503 with `Retry-After`), then the
//! hyper-util client, timed per request on the wire (`http.client.request.duration`). A reverse proxy passes 3xx and 202 to its clients unless
//! told otherwise. Each stage is boxed so that the switches can be chosen at run time;
//! the cost (one allocation per stage per request) is small next to a network round trip.
//! The classify layer is left out: reading JSON bodies would delay streaming, and retry,
//! cache and poll fall back to the status code without it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use recourse::{DeadlineError, SetDeadlineLayer};
use recourse_breaker::{BreakerError, BreakerLayer};
use recourse_cache::{CacheLayer, MemoryStore, RedisStore};
use recourse_core::observe::{Stopwatch, class_label, method_label};
use recourse_core::{BoxError, Class};
use recourse_poll::AsyncPollLayer;
use recourse_redirect::RedirectLayer;
use recourse_retry::policy::{Attempted, PolicyExt};
use recourse_retry::{RetryLayer, Standard};
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

use crate::config::{CacheStore, Config};
use crate::proxy::{ProxyBody, UpstreamService, error_response};

/// The cache's name in the `Cache-Status` field of every response (RFC 9211).
const CACHE_STATUS_NAME: &str = "recourse-proxy";

/// Builds the stack the configuration selects, around `client`.
pub(crate) fn build(
    config: &Config,
    client: Client<recourse::HttpsConnector, ProxyBody>,
) -> Result<UpstreamService, BoxError> {
    let mut service = boxed(Timed(client));
    if config.breaker {
        service = breaker(config, service);
    }
    if config.retry {
        // A refusal of the breaker is the proxy's answer: it is not retried here, the
        // client hears when the upstream takes requests again.
        let not_refused =
            |a: &Attempted<'_, ProxyBody, BoxError>| a.error().is_none_or(|e| !e.is::<Refusal>());
        let retry = RetryLayer::new()
            .max_retries(config.max_retries)
            .policy(Standard::new().and(not_refused));
        service = boxed(retry.layer(rebox_requests(service)).map_err(BoxError::from));
    }
    if config.cache {
        let max_entry = usize::try_from(config.cache_entry_max_bytes).unwrap_or(usize::MAX);
        // A reverse proxy is the cache targeted fields address (RFC 9213), and it may
        // serve stale when the upstream cannot be reached (RFC 9111 §4.2.4), saying so in
        // Cache-Status (RFC 9211).
        let cache = CacheLayer::shared()
            .cache_status(CACHE_STATUS_NAME)
            .stale_if_unreachable(config.cache_stale_if_unreachable)
            .targeted_fields(config.cache_targeted_fields.iter().cloned());
        service = match &config.cache_store {
            CacheStore::Memory => {
                let store = MemoryStore::new(config.cache_max_bytes).with_max_entry_size(max_entry);
                boxed(cache.store(store).layer(service))
            }
            CacheStore::Redis(url) => {
                // No I/O: the store connects on first use, so the proxy starts (and serves
                // from the upstream) while Redis is down.
                let store = RedisStore::new(url)?.with_max_entry_size(max_entry);
                report_redis(&store);
                boxed(cache.store(store).layer(service))
            }
        };
    }
    if config.follow_redirects {
        let redirect = RedirectLayer::new().layer(rebox_requests(service));
        service = boxed(redirect.map_err(recourse_redirect::RedirectError::into_box_error));
    }
    if config.poll {
        let poll = AsyncPollLayer::new().layer(rebox_requests(service));
        // A poll error that is not the upstream's own (a timeout, a failed job) is boxed
        // as its public type, which the outermost stage names in `recourse.requests`
        // (`poll_error`, `deadline`); the proxy answers 502 for either.
        service = boxed(poll.map_err(recourse_poll::PollError::into_box_error));
    }
    if config.breaker {
        service = answer_refusals(service);
    }
    Ok(deadline(config, service))
}

/// The outermost stage: the facade's `SetDeadline` puts one `Deadline` of
/// `upstream_timeout` on the request, which every layer below honours (retry starts no
/// wait that would end past it), and answers `DeadlineError::Elapsed` when it passes (the
/// proxy's 504). Outermost, it is also where the stack observes each request: the
/// `recourse.request` span, and the metrics read from the final answer
/// (`recourse.requests`, `recourse.requests.in_flight`, `recourse.retries`,
/// `recourse.redirects`, `recourse.polls`, `recourse.cache.results`).
fn deadline(config: &Config, service: UpstreamService) -> UpstreamService {
    let stage = SetDeadlineLayer::new(config.upstream_timeout).layer(service);
    boxed(stage.map_err(DeadlineError::into_box_error))
}

/// The breaker stage, next to the upstream client (below retry): a 503 or 429 with
/// `Retry-After` closes the upstream to every request until then, failures open the
/// circuit; a refused request is answered `503 Service Unavailable` with `Retry-After`
/// set to when the upstream takes requests again (RFC 9110 §10.2.3, whole seconds rounded
/// up), never sent upstream. The proxy has no request deadline to wait within, so the
/// breaker does not hold requests: it answers at once.
fn breaker(config: &Config, service: UpstreamService) -> UpstreamService {
    let layer = BreakerLayer::new()
        .wait(false)
        .consecutive_failures(config.breaker_failures)
        .failure_ratio(config.breaker_failure_ratio)
        .minimum_throughput(config.breaker_min_requests)
        .break_duration(config.breaker_break);
    // A refusal stays an error through retry and cache (to the cache, an upstream that
    // cannot be reached: it may serve stale, RFC 9111 §4.2.4); `answer_refusals` turns it
    // into the 503 at the top of the stack.
    let stage =
        layer
            .layer(service)
            .map_err(|err: BreakerError<BoxError>| match err.into_inner() {
                Ok(upstream) => upstream,
                Err(refusal) => Box::new(Refusal::of(&refusal)) as BoxError,
            });
    BoxCloneSyncService::new(stage)
}

/// The outermost stage: a request the breaker refused gets its 503 with `Retry-After`.
fn answer_refusals(service: UpstreamService) -> UpstreamService {
    BoxCloneSyncService::new(
        service.map_result(
            |result: Result<Response<ProxyBody>, BoxError>| match result {
                Err(err) => match err.downcast::<Refusal>() {
                    Ok(refusal) => Ok(refusal.response()),
                    Err(err) => Err(err),
                },
                ok => ok,
            },
        ),
    )
}

/// A request the breaker refused, on its way to become the proxy's 503.
#[derive(Debug)]
struct Refusal {
    message: String,
    /// Whole seconds, rounded up, until the upstream takes requests again.
    retry_after: u64,
}

impl Refusal {
    fn of(err: &BreakerError<BoxError>) -> Self {
        // Half-open (a probe decides): come back in a second.
        let wait = err.retry_after().unwrap_or(Duration::from_secs(1));
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self {
            message: err.to_string(),
            retry_after: secs.max(1),
        }
    }

    /// The 503 for a refused request, with `Retry-After`.
    fn response(&self) -> Response<ProxyBody> {
        let mut res = error_response(StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable");
        res.headers_mut().insert(
            http::header::RETRY_AFTER,
            HeaderValue::from(self.retry_after),
        );
        tracing::info!(
            reason = %self.message,
            retry_after = self.retry_after,
            "breaker refused an upstream request"
        );
        res
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// Logs, once, whether the Redis cache store answers (the proxy works either way).
fn report_redis(store: &RedisStore) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let store = store.clone();
    runtime.spawn(async move {
        match store.ping().await {
            Ok(()) => tracing::info!(?store, "cache store: Redis answers"),
            Err(error) => tracing::warn!(
                %error,
                ?store,
                "cache store: Redis does not answer; requests go to the upstream until it does"
            ),
        }
    });
}

/// Boxes a stage, and its response body.
fn boxed<S, B>(service: S) -> UpstreamService
where
    S: tower::Service<Request<ProxyBody>, Response = Response<B>, Error = BoxError>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(
        service.map_response(|res: Response<B>| res.map(|b| b.map_err(Into::into).boxed_unsync())),
    )
}

/// A stage whose request bodies are boxed back into [`ProxyBody`].
type Reboxed<B> = tower::util::MapRequest<UpstreamService, fn(Request<B>) -> Request<ProxyBody>>;

/// Adapts a stage that takes [`ProxyBody`] to a layer that wraps request bodies (retry's
/// `ReplayBody`, redirect's `RedirectBody`, poll's `PollRequestBody`).
fn rebox_requests<B>(service: UpstreamService) -> Reboxed<B>
where
    B: Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    service.map_request(|req: Request<B>| req.map(|b| b.map_err(Into::into).boxed_unsync()))
}

// === impl Timed ===

/// The upstream client, each request on the wire timed into the OpenTelemetry
/// `http.client.request.duration` histogram (seconds; labels `http.request.method` and
/// `recourse.class` of the status, `none` for an error), as the classify layer records it
/// in a client stack (the proxy leaves classify out). Each retry is timed on its own.
#[derive(Clone, Debug)]
struct Timed(Client<recourse::HttpsConnector, ProxyBody>);

impl tower::Service<Request<ProxyBody>> for Timed {
    type Response = Response<hyper::body::Incoming>;
    type Error = BoxError;
    type Future = TimedFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(BoxError::from)
    }

    fn call(&mut self, req: Request<ProxyBody>) -> TimedFuture {
        let method = method_label(req.method());
        TimedFuture {
            watch: Stopwatch::start(),
            method,
            inner: self.0.call(req),
        }
    }
}

/// The future of [`Timed`].
struct TimedFuture {
    inner: hyper_util::client::legacy::ResponseFuture,
    method: &'static str,
    /// Running only when a `metrics` recorder listens: no clock read otherwise.
    watch: Stopwatch,
}

impl Future for TimedFuture {
    type Output = Result<Response<hyper::body::Incoming>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = std::task::ready!(Pin::new(&mut self.inner).poll(cx));
        let Some(elapsed) = self.watch.elapsed() else {
            return Poll::Ready(result.map_err(BoxError::from));
        };
        let class = match &result {
            Ok(res) => class_label(Class::from_status(res.status())),
            Err(_) => "none",
        };
        recourse_core::observe::record_attempt_duration(self.method, class, elapsed);
        Poll::Ready(result.map_err(BoxError::from))
    }
}
