//! The [`CacheLayer`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use tower_layer::Layer;

use crate::config::{Config, Mode, cache_status_name};
use crate::flight::Flights;
use crate::service::{Cache, Shared};
use crate::store::{MemoryStore, Store};

/// Applies [`Cache`] to a service.
///
/// Every service the layer wraps shares its store and its registry of in-flight
/// requests, so several clients (or several routes of a proxy) built from one layer share
/// one cache.
///
/// ```
/// use std::time::Duration;
/// use recourse_cache::{CacheLayer, MemoryStore, Mode};
///
/// // A proxy's cache: shared mode, 512 MiB in memory, a Cache-Status field.
/// let layer = CacheLayer::shared()
///     .store(MemoryStore::new(512 * 1024 * 1024))
///     .cache_status("recourse")
///     .coalesce_timeout(Duration::from_secs(5));
/// assert_eq!(layer.get_mode(), Mode::Shared);
/// ```
#[derive(Clone)]
pub struct CacheLayer<St = MemoryStore> {
    config: Config,
    store: St,
    flights: Arc<Flights>,
}

impl CacheLayer {
    /// A private cache (a client's own: see [`Mode::Private`]) in a default
    /// [`MemoryStore`] (64 MiB, 1 MiB per entry).
    pub fn new() -> Self {
        CacheLayer {
            config: Config::default(),
            store: MemoryStore::default(),
            flights: Arc::default(),
        }
    }

    /// A shared cache (a proxy's: see [`Mode::Shared`]) in a default [`MemoryStore`].
    pub fn shared() -> Self {
        CacheLayer::new().mode(Mode::Shared)
    }
}

impl Default for CacheLayer {
    fn default() -> Self {
        CacheLayer::new()
    }
}

impl<St> CacheLayer<St> {
    /// Sets private or shared mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.config.mode = mode;
        self
    }

    /// The mode.
    pub fn get_mode(&self) -> Mode {
        self.config.mode
    }

    /// Stores responses in `store` instead.
    pub fn store<St2: Store>(self, store: St2) -> CacheLayer<St2> {
        CacheLayer {
            config: self.config,
            store,
            flights: self.flights,
        }
    }

    /// The store.
    pub fn get_store(&self) -> &St {
        &self.store
    }

    /// Adds a `Cache-Status` member (RFC 9211) naming this cache `name` to every response:
    /// `hit`, `fwd` (`uri-miss`, `vary-miss`, `stale`, `request`, `method`, `bypass`),
    /// `fwd-status`, `ttl`, `stored` and `collapsed`. A `name` that is not an RFC 8941
    /// token is sent as a quoted string. Off by default.
    pub fn cache_status(mut self, name: &str) -> Self {
        self.config.cache_status = Some(cache_status_name(name));
        self
    }

    /// Whether concurrent misses for one URI make one origin request (default: on).
    ///
    /// The first request goes to the origin; the others wait until its response is stored
    /// (or found not storable, or fails), then use the stored response or go to the
    /// origin themselves. Only requests without `Cache-Control` directives, without
    /// preconditions and not marked [`Live`](recourse_core::Live) are coalesced.
    pub fn coalesce(mut self, on: bool) -> Self {
        self.config.coalesce = on;
        self
    }

    /// How long a coalesced request waits for the one in flight before going to the
    /// origin itself (default 10 s).
    ///
    /// A request in flight for longer than this no longer holds the others back: the next
    /// request for its URI goes to the origin itself, and the requests after that wait for
    /// it instead.
    pub fn coalesce_timeout(mut self, timeout: Duration) -> Self {
        self.config.coalesce_timeout = timeout;
        self
    }

    /// How long a background `stale-while-revalidate` refresh may take, response body
    /// included (default 10 s), and at most until the triggering request's
    /// [`Deadline`](recourse_core::Deadline) when it has one. A refresh that runs out of
    /// time is abandoned: the stale response stays stored, the URI is free again for the
    /// next request that needs the origin, and a later stale hit starts a new refresh.
    pub fn refresh_timeout(mut self, timeout: Duration) -> Self {
        self.config.refresh_timeout = timeout;
        self
    }

    /// How long a URI whose response was not storable is exempt from coalescing, so that
    /// concurrent requests to an uncacheable resource do not queue behind each other
    /// (default 10 s; zero disables).
    pub fn uncacheable_ttl(mut self, ttl: Duration) -> Self {
        self.config.pass_ttl = ttl;
        self
    }

    /// A `stale-if-error` window (RFC 5861 §4) for responses that do not give one: a
    /// stored response stale by no more than `window` is served when the origin fails (a
    /// 5xx or a transport error). Default zero: only when the response or the request
    /// allows it. Never for responses with `must-revalidate`, `no-cache` or (shared)
    /// `proxy-revalidate` / `s-maxage`.
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.config.stale_if_error = window;
        self
    }

    /// How stale a stored response may be to be served when the origin cannot be reached
    /// at all (the inner service fails: connection refused or closed, unreachable host,
    /// timeout), even without a `stale-if-error` from the response or the request: RFC 9111
    /// §4.2.4 lets a disconnected cache serve stale. Default zero (off). Never for
    /// responses with `must-revalidate`, `no-cache` or (shared) `proxy-revalidate` /
    /// `s-maxage`, nor for requests with `no-cache`. With
    /// [`cache_status`](Self::cache_status) on, such a response says
    /// `fwd=stale; detail=origin-unreachable`. A 5xx from a reachable origin is an answer:
    /// see [`stale_if_error`](Self::stale_if_error).
    pub fn stale_if_unreachable(mut self, window: Duration) -> Self {
        self.config.stale_if_unreachable = window;
        self
    }

    /// Whether to honour `stale-while-revalidate` (RFC 5861 §3) by serving stale and
    /// refreshing in a background task (default: on). The refresh is spawned on the
    /// current tokio runtime; without one, the cache revalidates in the foreground.
    ///
    /// The refresh resends the request that found the response stale, its header fields
    /// (`Authorization`, `Cookie`) included, so the origin sees it as that caller's. In
    /// [`Mode::Shared`] its response is stored only if a shared cache may store it (RFC
    /// 9111 §3.5; cookies never), as for a foreground miss. See
    /// [`refresh_timeout`](Self::refresh_timeout) for its bound.
    pub fn stale_while_revalidate(mut self, on: bool) -> Self {
        self.config.stale_while_revalidate = on;
        self
    }

    /// The fraction of the time since `Last-Modified` used as a heuristic freshness
    /// lifetime (RFC 9111 §4.2.2; default 0.1). Clamped to `0.0..=1.0`.
    pub fn heuristic_fraction(mut self, fraction: f32) -> Self {
        self.config.heuristic_fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// The targeted cache-control fields this cache obeys in [`Mode::Shared`] (RFC 9213),
    /// in order of precedence; default `CDN-Cache-Control` (§3). The first of them that a
    /// response carries with a valid value (an RFC 8941 Dictionary) replaces its
    /// `Cache-Control` for this cache: `max-age`, `s-maxage`, `no-store`, `no-cache`,
    /// `private`, `public`, `must-revalidate`, `proxy-revalidate`, `must-understand`,
    /// `immutable`, `stale-while-revalidate` and `stale-if-error` come from it alone
    /// (§2.2). An invalid field is ignored as a whole (§2.1). Responses keep the field:
    /// caches further downstream may be its target too. An empty list turns this off.
    ///
    /// ```
    /// use http::HeaderName;
    /// use recourse_cache::CacheLayer;
    ///
    /// let layer = CacheLayer::shared().targeted_fields([
    ///     HeaderName::from_static("recourse-cache-control"),
    ///     HeaderName::from_static("cdn-cache-control"),
    /// ]);
    /// # let _ = layer;
    /// ```
    pub fn targeted_fields(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.config.targeted = names.into_iter().collect();
        self
    }

    /// The longest heuristic freshness lifetime (RFC 9111 §4.2.2; default one day): a
    /// resource unchanged for a year is not thereby fresh for 36 days.
    pub fn heuristic_max(mut self, max: Duration) -> Self {
        self.config.heuristic_max = max;
        self
    }
}

impl<S, St: Store> Layer<S> for CacheLayer<St> {
    type Service = Cache<S, St>;

    fn layer(&self, inner: S) -> Self::Service {
        Cache::from_shared(
            inner,
            Arc::new(Shared {
                config: self.config.clone(),
                store: self.store.clone(),
                flights: self.flights.clone(),
            }),
        )
    }
}

impl<St: fmt::Debug> fmt::Debug for CacheLayer<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayer")
            .field("mode", &self.config.mode)
            .field("store", &self.store)
            .field("coalesce", &self.config.coalesce)
            .field("refresh_timeout", &self.config.refresh_timeout)
            .finish()
    }
}
