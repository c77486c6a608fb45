//! An HTTP cache as a Tower layer, per RFC 9111 (HTTP Caching) and RFC 5861
//! (`stale-while-revalidate`, `stale-if-error`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::convert::Infallible;
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::BodyExt;
//! use recourse_cache::{CacheLayer, CacheOutcome};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! // An origin that answers 304 when the validator matches.
//! let calls = Arc::new(AtomicUsize::new(0));
//! let counter = calls.clone();
//! let origin = tower::service_fn(move |req: Request<()>| {
//!     counter.fetch_add(1, Ordering::SeqCst);
//!     let res = if req.headers().get("if-none-match").is_some_and(|v| v == "\"v1\"") {
//!         Response::builder().status(StatusCode::NOT_MODIFIED)
//!     } else {
//!         Response::builder()
//!     };
//!     let res = res.header("cache-control", "max-age=60").header("etag", "\"v1\"");
//!     async move { Ok::<_, Infallible>(res.body(String::from("barcode")).unwrap()) }
//! });
//! let client = ServiceBuilder::new().layer(CacheLayer::new()).service(origin);
//! let get = || Request::get("http://api.test/barcode/1").body(()).unwrap();
//!
//! // A miss: the response is stored while its body streams to the caller.
//! let res = client.clone().oneshot(get()).await.unwrap();
//! assert_eq!(CacheOutcome::of(&res), Some(CacheOutcome::Miss));
//! assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "barcode");
//!
//! // Fresh: served from the cache, no request at all.
//! let res = client.clone().oneshot(get()).await.unwrap();
//! assert_eq!(CacheOutcome::of(&res), Some(CacheOutcome::Hit));
//! assert_eq!(calls.load(Ordering::SeqCst), 1);
//!
//! // Stale: one conditional request; the 304 returns the stored body as a 200.
//! tokio::time::advance(Duration::from_secs(61)).await;
//! let res = client.clone().oneshot(get()).await.unwrap();
//! assert_eq!(CacheOutcome::of(&res), Some(CacheOutcome::Revalidated));
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "barcode");
//! assert_eq!(calls.load(Ordering::SeqCst), 2);
//! # }
//! ```
//!
//! # What it does
//!
//! - **Storing** (RFC 9111 §3): GET responses with any final status code (1xx, 206 and 304
//!   aside) when they carry explicit freshness (`max-age`, shared `s-maxage`, `Expires`)
//!   or `public`; without those, only the heuristically cacheable status codes of RFC 9110
//!   §15.1 (with `must-understand`, §5.2.2.3, only when the status is understood, and then
//!   despite `no-store`), in the configured [`Mode`]: [`Mode::Private`] for a client's own cache (the
//!   default), [`Mode::Shared`] for a proxy's, where `private` responses are not stored,
//!   `s-maxage` applies, and responses to requests with `Authorization` only when
//!   `public`, `must-revalidate` or `s-maxage` allows (§3.5). Hop-by-hop fields and the
//!   fields named by a qualified `no-cache` (and, shared, `private`) are not stored
//!   (§3.1, §5.2.2.4, §5.2.2.7).
//! - **Cookies in a shared cache**: `Set-Cookie` does not by itself prevent caching
//!   (RFC 9111 §7.3), but a cookie is addressed to one user (RFC 2965 §3.2.3: a cookie
//!   meant for one user is not cached). In [`Mode::Shared`] a response with `Set-Cookie`
//!   or `Set-Cookie2` is stored only when `public` or `immutable` says it suits everyone
//!   (as `http-cache-semantics` gives it a freshness lifetime only then), and even then
//!   without those fields, as if a qualified `no-cache` named them (§5.2.2.4): the user
//!   whose request fetched it gets the cookie, nobody else does, whether served fresh,
//!   stale (`max-stale`, `stale-if-error`, `stale-while-revalidate`), to a HEAD request,
//!   to a coalesced request or after a 304. A 304's own `Set-Cookie` goes to the user
//!   whose request it answers and is not stored, and cookie fields found in the store (put
//!   there by a private cache sharing it) are never served. [`Mode::Private`] stores and
//!   serves them: the cache is that user's own. For comparison, from their documentation:
//!   nginx does not cache a response with `Set-Cookie` by default (since 0.8.44; caching
//!   it takes `proxy_ignore_headers Set-Cookie`, and hiding the cookie
//!   `proxy_hide_header Set-Cookie`), and Varnish's built-in VCL makes such a response
//!   uncacheable (`vcl_backend_response` turns it into a hit-for-miss object). This cache
//!   is between the two: it stores what the origin marks `public` or `immutable`, never
//!   the cookie itself.
//! - **1xx interim responses** (`100 Continue`, `103 Early Hints`) are never stored (a Tower
//!   service returns final responses only). `recourse-proxy` does not forward `103 Early
//!   Hints`: hyper's server has no API to send an informational response (prototype
//!   hyperium/hyper#3815 for HTTP/1, hyperium/hyper#4114 for HTTP/2, both unmerged).
//! - **Freshness** (§4.2): the lifetime from `s-maxage`, `max-age`, `Expires` or the
//!   `Last-Modified` heuristic (§4.2.2: [`CacheLayer::heuristic_fraction`] of the time
//!   since `Last-Modified`, 10 % by default, at most [`CacheLayer::heuristic_max`], one day
//!   by default; only for heuristically cacheable status codes or `public`). Dates are
//!   exactly the three forms of RFC 9110 §5.6.7 (an invalid `Expires` means already
//!   expired, §5.3; an invalid `Date` counts as absent). The age per §4.2.3, apparent age
//!   from `Date` included, with the first member of a list-valued `Age` (§5.1; an invalid
//!   `Age` is ignored). Served responses carry their current `Age` and keep the origin's
//!   `Date`.
//! - **Validation** (§4.3): a stale response with an `ETag` or `Last-Modified` is
//!   revalidated with `If-None-Match` / `If-Modified-Since`; a 304 updates the stored
//!   fields (§3.2, §4.3.4) and the stored body is returned as the stored status; a full
//!   response replaces the entry, or, when it may not be stored (`no-store`, too large,
//!   ...), removes it so that it is never served stale again (§4.3.3; a 5xx keeps it for
//!   `stale-if-error`). A caller's own `If-None-Match` / `If-Modified-Since`
//!   gets a 304 from a fresh stored 2xx response when they match (RFC 9110 §13.1.2 weak
//!   comparison; `If-Modified-Since` against `Last-Modified`, else `Date`), and is
//!   forwarded otherwise (§4.3.2). An `If-None-Match` that is not `*` or a list of valid
//!   entity-tags (unquoted, lower-case `w/`) is ignored, as is an `If-Modified-Since` that
//!   is not one valid date (§13.1.3);
//!   `If-Match`, `If-Unmodified-Since` and `If-Range` requests bypass the cache.
//! - **Ranges** (RFC 9110 §14, RFC 9111 §3.3, §3.4): a GET asking for one satisfiable
//!   byte range is answered from a fresh, complete stored 200 response with a 206,
//!   `Content-Range` and a slice of the stored body; any other range request (several
//!   ranges, unsatisfiable, another unit, nothing fresh stored) is forwarded with `Range`
//!   untouched and its response passed on unstored. 206 responses are never stored, so a
//!   partial response is never served as a full one; combining partial responses
//!   (§3.4) is not done.
//!   A HEAD request is answered from a fresh stored GET response (§4); HEAD responses
//!   are not stored, but a 200 to a forwarded HEAD updates the stored GET response's
//!   fields (`Content-Length` excepted) and freshness when its `ETag`, `Last-Modified` and
//!   `Content-Length` agree, and invalidates it when they do not (§4.3.5). A 304's fields
//!   replace the stored ones, `ETag` and `Content-Range` included (§3.2, §4.3.4).
//!   Each revalidation is recorded as [`Step::Revalidated`](recourse_core::Step) in the
//!   response's [`History`](recourse_core::History).
//! - **Variants** (§4.1): several responses per URI, selected by the request fields their
//!   `Vary` names (values normalised: list members trimmed; for `Accept`,
//!   `Accept-Language`, `Accept-Encoding` and `Accept-Charset` also lower-cased, stripped
//!   of whitespace and sorted, so `en-GB, fr;q=0.5` and `FR; q=0.5,en-gb` select one stored
//!   response); `Vary: *` is never stored.
//! - **Targeted cache control** (RFC 9213): in [`Mode::Shared`], `CDN-Cache-Control` (or
//!   the fields set with [`CacheLayer::targeted_fields`]) replaces `Cache-Control` for this
//!   cache when valid; an invalid one is ignored as a whole; the field is passed on
//!   unchanged.
//! - **Request directives** (§5.2.1): `no-cache`, `no-store`, `max-age` (`max-age=0`
//!   always validates), `max-stale`, `min-fresh`, and `only-if-cached` (a 504 when
//!   nothing acceptable is stored).
//! - **Live requests**: a request marked [`Live`](recourse_core::Live) (the poll layer
//!   marks its status requests so) must see the origin's current state: it is treated as
//!   a request with `no-cache` (§5.2.1.4). A stored response, fresh or heuristically
//!   fresh, is never served on its own: the request is sent with the stored validators
//!   and a 304 returns the stored body, or, without validators, it is forwarded. It never
//!   waits for a coalesced origin request that began before it. Its response is stored
//!   as any other (an explicit freshness lifetime is kept, for callers without `Live`).
//! - **POST responses** answer later GETs (RFC 9111 §4.2.1, RFC 9110 §9.3.3) when they
//!   are 2xx with explicit freshness (`max-age`, shared `s-maxage`, `Expires`) and a
//!   `Content-Location` equal to the request URI (§8.7), storable as a GET response would
//!   be, and without `Vary` (the POST's header fields are not kept, so nothing could
//!   select a variant; only whether it carried `Authorization`, for §3.5). Stored after the
//!   invalidation of the URI (§4.4), once the body has been read.
//! - **Invalidation** (§4.4): a 2xx or 3xx response to POST, PUT, PATCH, DELETE or any
//!   unknown method removes the target URI and same-origin `Location` /
//!   `Content-Location` URIs.
//! - **Serving stale** (§4.2.4, RFC 5861): within `stale-while-revalidate` the stale
//!   response is served and one background task revalidates, bounded by
//!   [`CacheLayer::refresh_timeout`] and the request's
//!   [`Deadline`](recourse_core::Deadline). The refresh resends the triggering request
//!   with its header fields (`Authorization`, `Cookie`): the origin answers that caller,
//!   and in [`Mode::Shared`] the answer is stored only if a shared cache may store it
//!   (§3.5, and the cookie rule above), as for a foreground miss. Within `stale-if-error`
//!   (from the response, the request or [`CacheLayer::stale_if_error`]) a stale response
//!   replaces a 5xx or a transport error; within [`CacheLayer::stale_if_unreachable`]
//!   (off by default) it replaces a transport error (an origin that closes the connection
//!   or cannot be reached: §4.2.4 lets a disconnected cache serve stale), with
//!   `Cache-Status: ...; fwd=stale; detail=origin-unreachable`. Never against `must-revalidate`, `no-cache`,
//!   or (shared) `proxy-revalidate` / `s-maxage`.
//! - **Coalescing**: concurrent misses for one URI make one origin request; the others
//!   wait (bounded by [`CacheLayer::coalesce_timeout`]) and read the stored response, or
//!   go to the origin themselves when it was not stored. A request in flight for longer
//!   than the timeout (an origin that hangs) is taken over by the next one.
//! - **Stores**: the [`Store`] trait (get, put, remove; bodies as [`Bytes`](bytes::Bytes);
//!   entries are plain data, see [`EntryParts`]), [`MemoryStore`] on `moka`, bounded
//!   by total size with a per-entry limit, and, with the `redis` feature, `RedisStore`
//!   for a cache shared by many processes (see *Choosing a store*). On a miss the body
//!   streams to the caller while it is recorded (chunks are reference-counted, not
//!   copied); past the limit it streams through unstored. A failing store never fails a
//!   request: the error is logged and the request goes to the origin.
//! - **Visibility**: [`CacheOutcome`] in the response extensions, and an optional
//!   `Cache-Status` field (RFC 9211, [`CacheLayer::cache_status`]).
//!
//! A hit clones the stored header map and the body's `Bytes`: its cost does not depend on
//! the body's size, and nothing is decoded.
//!
//! # Choosing a store
//!
//! - [`MemoryStore`] (the default) for one process: a hit clones an `Arc` and the body's
//!   `Bytes`, nothing is decoded, nothing can fail; each process has its own cache, and
//!   a restart empties it.
//! - `RedisStore` (feature `redis`) when several processes (proxies behind a load
//!   balancer, workers) serve the same resources: a response stored through one is a hit
//!   through all, so the origin sees it once rather than once per process, and the cache
//!   survives restarts. A hit costs a round trip to Redis and a decode (the body is not
//!   copied). Every Redis call is bounded by a timeout; when Redis is down, slow, or holds
//!   garbage, requests go to the origin and the store recovers when Redis is back. Each
//!   entry expires when neither fresh nor within a stale window the cache honours.
//!
//! # Features
//!
//! - `redis`: `RedisStore`, on the `redis` crate (tokio, connection manager).
//!
//! # Differences from `http-cache` / `http-cache-tower`
//!
//! - **Semantics**: both use `http-cache-semantics`; this layer computes storability and
//!   freshness itself, because that crate gets them wrong for a conformant cache: it
//!   stores only the status codes it lists even with explicit freshness, reads dates as
//!   RFC 2822 (lenient about whitespace, without RFC 850 and asctime), misreads
//!   `Cache-Control` with quoted strings or upper case (`extension="max-age=100"`,
//!   `No-Store`, `max-age =1`), ignores the apparent age from `Date`, rewrites `Date` on
//!   hits, and drops a 304's new and repeated fields (§3.2).
//! - **Hits**: http-cache-tower stores serialised responses and decodes the body on every
//!   hit; here a stored entry holds [`Bytes`](bytes::Bytes), so a 64 KiB hit costs what a
//!   4 KiB hit costs.
//! - **Misses stream**: with http-cache's in-memory managers (moka among them) a miss is
//!   collected before the caller sees it; here the body reaches the caller as it arrives
//!   and is recorded on the way (http-cache's streaming manager streams through files
//!   on disk instead).
//! - **Beyond the peers**: several variants per URI (`Vary`), request coalescing,
//!   `stale-while-revalidate` in the background, `stale-if-error`, `only-if-cached`,
//!   invalidation of same-origin `Location` / `Content-Location`, RFC 9211
//!   `Cache-Status`, and keys normalised per RFC 3986 (http-cache keys by method and URI
//!   as written).
//! - **No cache modes** (`Default`, `NoStore`, `Reload`, `ForceCache`, ...): the request's
//!   own `Cache-Control` expresses those (`no-store`, `no-cache`, `max-stale`,
//!   `only-if-cached`).
//!
//! # Runtime
//!
//! Time comes from tokio's clock through [`recourse_core::clock::system_now`], so tests
//! drive freshness with paused time. Background revalidation and coalescing need a tokio
//! runtime (with its timer enabled, as `#[tokio::main]` has): without a runtime the layer
//! revalidates in the foreground and does not coalesce.

mod age;
mod body;
mod conditional;
mod config;
mod directives;
mod entry;
mod flight;
mod future;
mod invalidation;
mod key;
mod layer;
mod range;
mod record;
mod refresh;
mod semantics;
mod service;
mod status;
mod store;
mod targeted;
mod vary;

pub use body::CacheBody;
pub use config::Mode;
pub use entry::{Entry, EntryParts, InvalidEntry};
pub use future::ResponseFuture;
pub use key::CacheKey;
pub use layer::CacheLayer;
pub use service::Cache;
pub use status::{CACHE_STATUS, CacheOutcome};
#[cfg(feature = "redis")]
pub use store::{MalformedEntry, RedisFuture, RedisStore, RedisStoreError};
pub use store::{MemoryStore, Store, StoreError, Variants};

#[cfg(test)]
mod tests;
