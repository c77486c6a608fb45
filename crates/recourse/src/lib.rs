//! Recourse: Tower layers that make HTTP clients and proxies do what each response code
//! asks.
//!
//! This crate re-exports every layer behind a feature (all on by default):
//!
//! | feature | module | layer | rows of the table |
//! |---|---|---|---|
//! | `classify` | [`classify`] | `ClassifyLayer` | 200 (body code), 201, 400 (`Errors`), 401, 403, 404, 405 (`Allow`), 409 |
//! | `retry` | [`retry`] | `RetryLayer` | 500, 503 |
//! | `redirect` | [`redirect`] | `RedirectLayer` | 307 (and 301, 302, 303, 308) |
//! | `cache` | [`cache`] | `CacheLayer` | 304 |
//! | `poll` | [`poll`] | `AsyncPollLayer` | 202 (and 201's `Location`) |
//! | `breaker` | [`breaker`] | `BreakerLayer` | 503 and 429 `Retry-After` for every request to the origin; failing origins cut off |
//!
//! plus [`SetDeadlineLayer`], one deadline for the whole request that every layer honours.
//!
//! Two more features, off by default, put the recommended stack around the clients people
//! already use: `rustls` (`https_client()`: hyper-util's client over rustls, HTTP/2 and
//! HTTP/1.1 by ALPN) and `reqwest` (`reqwest_client()` and the [`recourse-reqwest`] crate
//! as `recourse::reqwest`).
//!
//! [`recourse-reqwest`]: https://docs.rs/recourse-reqwest
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use http::{Request, Response};
//! use recourse::{Class, Deadline, SetDeadlineLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! let backend = tower::service_fn(|req: Request<()>| async move {
//!     // Every layer below sees the same deadline.
//!     assert!(Deadline::of(&req).is_some());
//!     let body = http_body_util::Empty::<bytes::Bytes>::new();
//!     Ok::<_, Infallible>(Response::builder().status(503).body(body).unwrap())
//! });
//! let client = ServiceBuilder::new()
//!     .layer(SetDeadlineLayer::new(Duration::from_secs(10)))
//!     .service(backend);
//! let res = client.oneshot(Request::new(())).await.unwrap();
//! assert!(Class::of(&res).is_retryable());
//! # }
//! ```

mod deadline;
mod ext;
mod observe;
pub mod report;
#[cfg(all(
    feature = "classify",
    feature = "retry",
    feature = "redirect",
    feature = "cache",
    feature = "poll"
))]
mod stack;

pub use deadline::{DeadlineError, DeadlineFuture, SetDeadline, SetDeadlineLayer};
pub use ext::ServiceBuilderExt;
pub use recourse_core as core;
pub use recourse_core::body::ReplayBody;
pub use recourse_core::{Attempt, Class, Deadline, History, Step};
#[cfg(all(
    feature = "classify",
    feature = "retry",
    feature = "redirect",
    feature = "cache",
    feature = "poll"
))]
pub use stack::{ClientStack, ClientStackLayer, DEFAULT_DEADLINE, client};

#[cfg(all(
    any(feature = "rustls", feature = "reqwest"),
    feature = "classify",
    feature = "retry",
    feature = "redirect",
    feature = "cache",
    feature = "poll"
))]
mod https;
#[cfg(all(
    feature = "reqwest",
    feature = "classify",
    feature = "retry",
    feature = "redirect",
    feature = "cache",
    feature = "poll"
))]
pub use https::reqwest_client;
#[cfg(all(
    feature = "rustls",
    feature = "classify",
    feature = "retry",
    feature = "redirect",
    feature = "cache",
    feature = "poll"
))]
pub use https::{
    HttpsClient, HttpsConnector, https_client, https_client_with, https_connector, tls_config,
};

#[cfg(feature = "breaker")]
pub use recourse_breaker as breaker;
#[cfg(feature = "cache")]
pub use recourse_cache as cache;
#[cfg(feature = "classify")]
pub use recourse_classify as classify;
#[cfg(feature = "poll")]
pub use recourse_poll as poll;
#[cfg(feature = "redirect")]
pub use recourse_redirect as redirect;
#[cfg(feature = "reqwest")]
pub use recourse_reqwest as reqwest;
#[cfg(feature = "retry")]
pub use recourse_retry as retry;

/// The README's Rust examples, compiled as doctests so that the front door stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
