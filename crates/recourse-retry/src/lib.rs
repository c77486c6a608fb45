//! A Tower retry layer for HTTP clients: resubmit 500 and 503 later, safely.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use recourse_core::History;
//! use recourse_core::body::ReplayBody;
//! use recourse_retry::{RetryInfo, RetryLayer};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! // A backend that is down for maintenance twice, then answers.
//! let calls = Arc::new(AtomicU32::new(0));
//! let backend = {
//!     let calls = calls.clone();
//!     service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
//!         let n = calls.fetch_add(1, Ordering::SeqCst);
//!         async move {
//!             let body = req.into_body().collect().await?.to_bytes();
//!             let res = match n {
//!                 0 => Response::builder().status(503).header("retry-after", "2"),
//!                 1 => Response::builder().status(500),
//!                 _ => Response::builder().status(200),
//!             };
//!             Ok::<_, recourse_core::BoxError>(res.body(Full::new(body))?)
//!         }
//!     })
//! };
//!
//! let client = ServiceBuilder::new()
//!     .layer(RetryLayer::new().max_retries(3).random_source(|| 0.5))
//!     .service(backend);
//!
//! let req = Request::put("http://example.com/items/7").body(Full::from("payload"))?;
//! let res = client.oneshot(req).await?;
//!
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(calls.load(Ordering::SeqCst), 3);
//! let info = RetryInfo::of(&res).unwrap();
//! assert_eq!((info.attempts(), info.stopped()), (3, None));
//! // Waits: Retry-After said 2 s; then full jitter drew half of 200 ms.
//! assert_eq!(History::of(&res).unwrap().waited(), Duration::from_millis(2100));
//! assert_eq!(res.into_body().collect().await?.to_bytes(), "payload");
//! # Ok(())
//! # }
//! ```
//!
//! # What it does
//!
//! **Which responses.** By default, a response whose [`Class`](recourse_core::Class) is
//! retryable: the classify layer's verdict when it ran, else the status code, for which
//! 500 (RFC 9110 §15.6.1) and 503 (§15.6.4) are retryable, as the source table says
//! ("resubmit the request later"). More statuses (429, 502, 504...) with
//! [`RetryLayer::retry_on`]; any rule with a [`Policy`] (closures are policies).
//!
//! **Which errors.** A transport error that proves the request was never sent (the
//! connection could not be made: [`is_connect_error`], found through the error's source
//! chain, or any check given to [`RetryLayer::not_sent_when`]) is retried for every
//! request. Other transport errors (a reset after the request went out, a timeout) are
//! retried only for idempotent requests, since the server may have acted on it.
//!
//! **Which requests.** Idempotent methods (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE,
//! PUT, DELETE). POST and PATCH only when they carry an idempotency key header
//! ([`RetryLayer::idempotency_key_headers`], default `Idempotency-Key`), when the caller
//! marks the request [`Idempotent`] or opts in for all with
//! [`RetryLayer::retry_non_idempotent`]. [`RetryLayer::inject_idempotency_key`] adds a
//! random key to POST and PATCH requests that have none, the same on every attempt.
//! The layer enforces this gate whatever the policy says.
//!
//! **When.** After the `Retry-After` of the response (RFC 9110 §10.2.3, seconds or an
//! HTTP-date; clamped to [`RetryLayer::max_retry_after`], 30 s by default), else after a
//! [`Backoff`](recourse_core::backoff::Backoff): exponential from 100 ms, capped at 30 s
//! before full jitter, overflow-safe at any attempt, with an injectable random source
//! ([`RetryLayer::random_source`]) so tests are exact. A wait that would end past the
//! request's [`Deadline`](recourse_core::Deadline), or past the layer's
//! [`time_limit`](RetryLayer::time_limit), is not taken.
//!
//! **How long each try.** With [`RetryLayer::per_try_timeout`], a try that has no
//! response head in time (nor before the request's deadline) is cancelled and retried
//! when the request may be resent; otherwise it ends in a typed
//! [`RetryError::try_timed_out`] (see the [`timeout`] module). Without it, a try lasts
//! as long as the inner service and the request's deadline let it.
//!
//! **How many.** At most [`max_retries`](RetryLayer::max_retries) (3), within a
//! [`RetryBudget`] shared by every clone of the layer: a fraction of recent requests plus
//! a floor per second, so that an outage does not multiply the load. With
//! [`RetryLayer::budget_per_origin`], one budget per origin ([`OriginBudgets`]), so that
//! one failing host cannot spend the retries of the others.
//!
//! **Bodies.** The inner service receives `Request<ReplayBody<B>>`
//! ([`ReplayBody`](recourse_core::body::ReplayBody)): empty bodies cost nothing, bodies
//! already in memory are resent without a copy whatever their size, streamed bodies are
//! buffered up to [`replay_limit`](RetryLayer::replay_limit) (64 KiB); past it the request
//! is sent once. Before the next attempt, the failed response's body is drained (bounded
//! in bytes, in time and by the request's [`Deadline`](recourse_core::Deadline):
//! [`recourse_core::body::Drain`]) so that its connection goes back to the pool.
//!
//! **After the last attempt.** The last response is returned as it is, never turned into
//! an error. When the layer retried, or stopped although the response asked for a retry,
//! the response carries a [`RetryInfo`] (attempts, and the [`StopReason`]) and a
//! [`History`](recourse_core::History) with one
//! [`Step::Retried`](recourse_core::Step::Retried) (status, wait) per retry. Each retry's
//! request carries [`Attempt`](recourse_core::Attempt)`(n)`, n ≥ 2; the first attempt
//! is sent as the caller made it, so the pass-through path inserts nothing (no `Attempt`
//! means the first; [`RetryLayer::tag_first_attempt`] tags it too). When the layer gives
//! up on a failure it logs a `tracing` event at warn level naming the method, URI,
//! attempts, last status, reason and request id ([`RetryLayer::request_id_header`],
//! default `x-request-id`).
//!
//! **Pass-through.** A response the policy does not retry is returned untouched: the
//! future is not boxed, nothing is inserted in extensions, and with an empty body and
//! parts that clone without allocating (a request without headers; a parsed URI only
//! gains reference counts) the layer allocates nothing. To be able to resend, the layer
//! clones the request's method, URI, headers and extensions once per request; that clone
//! is most of the pass-through cost, and tower's `Retry` makes it too. Header values
//! built from strings allocate on their first clone. The retry budget costs one relaxed
//! atomic increment per request. `call` is inlined so that the future is built where the
//! caller keeps it rather than copied there, and the parts of the future only a retry or
//! a per-try timeout needs (the timer, the wait, the drain of a failed body) are behind
//! pointers, allocated when used.
//!
//! # Differences from tower's `Retry`
//!
//! - tower's `Retry` is protocol-agnostic: its `Policy` clones the request and decides
//!   everything. This layer knows HTTP: the idempotency gate, `Retry-After`, the
//!   request [`Deadline`](recourse_core::Deadline), the classify layer's verdict and
//!   the draining of failed bodies come built in, and a policy only judges outcomes.
//! - Bodies: tower needs `Clone` requests (a `Full<Bytes>` body, or a copy); this layer
//!   replays any body through [`ReplayBody`](recourse_core::body::ReplayBody), bounded for
//!   streams, and reports why it did not resend ([`StopReason::NotReplayable`]).
//! - Outcome: the last response comes back with [`RetryInfo`] and the history in its
//!   extensions, and the give-up is logged.
//! - Budget: tower's `Budget` trait is reused (any tower budget plugs in with
//!   [`RetryLayer::shared_budget`]); the default [`RetryBudget`] replaces `TpsBudget`
//!   because `TpsBudget` locks a mutex and reads the clock on every deposit, which the
//!   pass-through path cannot afford (see the [`budget`] module).
//! - Backoff: tower's `Backoff` trait yields a `Sleep`, not a duration, so the wait
//!   could not be weighed against `Retry-After`, the deadline and the time limit before
//!   it starts; and its `ExponentialBackoff` adds jitter on top of the delay (never
//!   below it) rather than drawing the full jitter that spreads retries best. The shared
//!   [`Backoff`](recourse_core::backoff::Backoff) of `recourse-core` is used instead.
//!
//! # Differences from reqwest-retry
//!
//! - reqwest-retry (a `reqwest-middleware` middleware) retries every 5xx, 408 and 429
//!   and network errors for any method, POST included; this layer retries 500 and 503
//!   (configurable), and non-idempotent requests only with a key, an opt-in, or proof
//!   that they were not sent.
//! - reqwest-retry does not read `Retry-After` by default (companion crates add it);
//!   here it is honoured, clamped, and checked against the request deadline.
//! - reqwest-retry has no retry budget; and it can retry only requests that reqwest can
//!   clone, so streamed bodies are not retried at all, while here streams are replayed
//!   up to a cap.
//! - This is a Tower layer for any `Service<http::Request<_>>` (hyper-util's client, a
//!   proxy), not a reqwest middleware.

pub mod budget;
pub mod origin_budget;
pub mod policy;
pub mod timeout;

mod config;
mod future;
mod info;
mod layer;
mod service;

pub use budget::{InvalidBudget, RetryBudget};
pub use config::{
    DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_AFTER, IDEMPOTENCY_KEY, X_REQUEST_ID, is_connect_error,
    is_idempotent_method,
};
pub use future::ResponseFuture;
pub use info::{Idempotent, RetryInfo, StopReason};
pub use layer::RetryLayer;
pub use origin_budget::OriginBudgets;
pub use policy::{Policy, PolicyExt, Standard};
pub use service::Retry;
pub use timeout::{NoTryTimeout, RetryError, TryTimedOut, TryTimeout, TryTimeoutMode};

#[cfg(test)]
mod tests;
