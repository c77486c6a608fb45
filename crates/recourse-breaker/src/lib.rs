//! A Tower circuit breaker per origin for HTTP clients, that takes 503's `Retry-After`
//! seriously.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use http::{Request, Response};
//! use recourse_breaker::{BreakerLayer, BreakerState};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! // An origin down for maintenance: 503, come back in 30 s.
//! let backend = service_fn(|_req: Request<()>| async {
//!     let res = Response::builder().status(503).header("retry-after", "30").body(())?;
//!     Ok::<_, http::Error>(res)
//! });
//! let layer = BreakerLayer::new().wait(false);
//! let handle = layer.handle();
//! let client = layer.layer(backend);
//!
//! let uri = "http://api.example/items";
//! let res = client.clone().oneshot(Request::get(uri).body(()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 503);
//!
//! // Every other request to that origin is refused, unsent, until the 30 s are over.
//! let err = client.clone().oneshot(Request::get(uri).body(()).unwrap()).await.unwrap_err();
//! let overloaded = err.overloaded().unwrap();
//! assert_eq!(overloaded.origin(), "http://api.example:80");
//! assert_eq!(overloaded.retry_after(), Duration::from_secs(30));
//! assert_eq!(handle.state(&uri.parse().unwrap()), Some(BreakerState::Closed));
//! # }
//! ```
//!
//! # What it does
//!
//! The breaker keeps a state per origin (scheme, host and port, RFC 6454 §4), bounded to
//! [`BreakerLayer::max_origins`] (10,000 by default: past it, the oldest quiet origin is
//! forgotten). It reads each response's verdict: the classify layer's
//! [`Class`](recourse_core::Class) when it ran, else the status code's; retryable and
//! server errors (5xx), 429 and transport errors count as failures of the origin.
//!
//! **`Retry-After`, a signal for everyone.** A 503 (RFC 9110 §15.6.4) or a 429 (RFC 6585
//! §4; [`BreakerLayer::gate_on_429`]) carrying `Retry-After` (RFC 9110 §10.2.3) closes its
//! origin to new requests until then, clamped to [`BreakerLayer::max_retry_after`]
//! (30 s). A request that arrives meanwhile waits for the opening when the wait fits in
//! its [`Deadline`](recourse_core::Deadline) (or it has none), else fails at once with
//! [`BreakerError::overloaded`]: an [`Overloaded`] naming the origin and when it opens.
//! Never a silent drop. [`BreakerLayer::wait`]`(false)` fails fast always.
//!
//! **Circuit breaking.** The circuit of an origin opens after
//! [`consecutive_failures`](BreakerLayer::consecutive_failures) failures in a row (5, as
//! Envoy's `consecutive_5xx`), or when the failure ratio over a sliding
//! [`sampling_duration`](BreakerLayer::sampling_duration) (30 s) of at least
//! [`minimum_throughput`](BreakerLayer::minimum_throughput) requests (20) reaches
//! [`failure_ratio`](BreakerLayer::failure_ratio) (0.5) — Polly's `FailureRatio`,
//! `MinimumThroughput` and `SamplingDuration`. While open, requests fail at once with
//! [`BreakerError::circuit_open`] ([`CircuitOpen`]). After
//! [`break_duration`](BreakerLayer::break_duration) (5 s) it is half-open: up to
//! [`probes`](BreakerLayer::probes) (1) requests go through; when as many succeed, it
//! closes; a failed probe opens it again for twice the previous break, up to
//! [`max_break_duration`](BreakerLayer::max_break_duration) (60 s).
//!
//! **What it tells.** Responses that waited, were probes, or changed the state carry a
//! [`BreakerInfo`]; refusals are typed errors with the origin and the time; every
//! transition is a `tracing` event (info when the origin closes, opens or recovers, warn
//! when the circuit opens); a [`BreakerHandle`] reads and resets the state per origin.
//!
//! **Where in a stack.** Below the retry layer: a refusal is an error that proves the
//! request was not sent ([`BreakerError::is_refused`]), so the retry layer may wait and try
//! again within the deadline, and its retries go through the breaker (a retry storm meets
//! an open circuit). Above the classify layer, so the breaker reads its verdict.
//!
//! **Pass-through.** A request to a known origin whose circuit is closed and not gated
//! reads two atomics, counts a success with one atomic increment, reads no clock, inserts
//! nothing and allocates nothing; a service that sees the same scheme and authority as
//! last time, written the same way, skips the registry lookup (another spelling of the
//! same origin finds the same state through the registry).

mod config;
mod error;
mod future;
mod handle;
mod info;
mod layer;
mod service;
mod state;

pub use config::{
    DEFAULT_BREAK_DURATION, DEFAULT_CONSECUTIVE_FAILURES, DEFAULT_FAILURE_RATIO,
    DEFAULT_MAX_BREAK_DURATION, DEFAULT_MAX_ORIGINS, DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_MINIMUM_THROUGHPUT, DEFAULT_PROBES, DEFAULT_SAMPLING_DURATION,
};
pub use error::{BreakerError, CircuitOpen, Overloaded};
pub use future::ResponseFuture;
pub use handle::{BreakerHandle, BreakerState};
pub use info::BreakerInfo;
pub use layer::BreakerLayer;
pub use service::Breaker;

#[cfg(test)]
mod tests;
