//! The layer stack between the proxy's front end and the upstream client.
//!
//! Outermost first: poll (off by default), redirect (off by default), cache (shared mode,
//! on; it obeys `CDN-Cache-Control` (RFC 9213, `--cache-targeted-fields`), serves stale
//! responses for up to a day when the upstream cannot be reached
//! (`--cache-stale-if-unreachable`, RFC 9111 §4.2.4), and adds `Cache-Status:
//! recourse-proxy; ...` (RFC 9211) to every response), retry (on; idempotent requests only, and requests with an `Idempotency-Key`),
//! then the hyper-util client. A reverse proxy passes 3xx and 202 to its clients unless
//! told otherwise. Each stage is boxed so that the switches can be chosen at run time;
//! the cost (one allocation per stage per request) is small next to a network round trip.
//! The classify layer is left out: reading JSON bodies would delay streaming, and retry,
//! cache and poll fall back to the status code without it.

use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use recourse_cache::{CacheLayer, MemoryStore, RedisStore};
use recourse_core::BoxError;
use recourse_poll::AsyncPollLayer;
use recourse_redirect::RedirectLayer;
use recourse_retry::RetryLayer;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

use crate::config::{CacheStore, Config};
use crate::proxy::{ProxyBody, UpstreamService};

/// The cache's name in the `Cache-Status` field of every response (RFC 9211).
const CACHE_STATUS_NAME: &str = "recourse-proxy";

/// Builds the stack the configuration selects, around `client`.
pub(crate) fn build(
    config: &Config,
    client: Client<HttpConnector, ProxyBody>,
) -> Result<UpstreamService, BoxError> {
    let mut service = boxed(client.map_err(BoxError::from));
    if config.retry {
        let retry = RetryLayer::new().max_retries(config.max_retries);
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
        // A poll error that is not the upstream's own (a timeout, a failed job) becomes
        // a message; the proxy answers 502 for either.
        service = boxed(poll.map_err(
            |e: recourse_poll::PollError<BoxError>| match e.into_inner() {
                Ok(inner) => inner,
                Err(own) => BoxError::from(own.to_string()),
            },
        ));
    }
    Ok(service)
}

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
