//! A Tower layer that turns `202 Accepted` into the finished result.
//!
//! A `202 Accepted` says the request was accepted for processing that has not completed
//! (RFC 9110 §15.3.3); the response names a status resource, usually in `Location`, that
//! the client can query. [`AsyncPollLayer`] does that querying for the caller: it `GET`s the
//! status URL until the job reaches a terminal state and returns the final response, so a
//! long-running job looks like an ordinary request.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use recourse_poll::{PollInfo, AsyncPollLayer, PollRequestBody};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! // A backend that accepts a job, reports it running twice, then done.
//! let polls = Arc::new(AtomicU32::new(0));
//! let backend = service_fn(move |req: Request<PollRequestBody<Full<Bytes>>>| {
//!     let polls = polls.clone();
//!     async move {
//!         let res = match req.uri().path() {
//!             "/render" => Response::builder()
//!                 .status(StatusCode::ACCEPTED)
//!                 .header("location", "/jobs/42")
//!                 .header("retry-after", "2")
//!                 .body(Full::<Bytes>::default()),
//!             _ if polls.fetch_add(1, Ordering::SeqCst) < 2 => Response::builder()
//!                 .status(StatusCode::ACCEPTED)
//!                 .header("retry-after", "1")
//!                 .body(Full::<Bytes>::default()),
//!             _ => Response::builder().body(Full::from("rendered")),
//!         };
//!         Ok::<_, http::Error>(res?)
//!     }
//! });
//!
//! let client = ServiceBuilder::new()
//!     .layer(AsyncPollLayer::new().time_limit(Duration::from_secs(60)).max_polls(10))
//!     .service(backend);
//!
//! let req = Request::post("https://api.example/render").body(Full::from("{...}"))?;
//! let res = client.oneshot(req).await?;
//!
//! assert_eq!(res.status(), StatusCode::OK);
//! let info = PollInfo::of(&res).unwrap();
//! assert_eq!(info.polls(), 3);
//! assert_eq!(info.waited(), Duration::from_secs(4)); // Retry-After: 2, 1, 1
//! assert_eq!(info.status_url(), "https://api.example/jobs/42");
//! assert_eq!(res.into_body().collect().await?.to_bytes(), "rendered");
//! # Ok(())
//! # }
//! ```
//!
//! # What it does
//!
//! - **Start.** A response to the original request starts a job when the
//!   [`Policy::start`] says so (by default: a 202) and it names a status URL in one of
//!   the [status headers](AsyncPollLayer::status_headers) (`Location` by default; Azure uses
//!   `Azure-AsyncOperation` and `Operation-Location`), read by the one rule for `Location`
//!   ([`recourse_core::headers::location_value`]: repeated fields with different values
//!   are a typed error, never a guess).
//! - **Where the request is now.** Every URL a response names (a status URL, a 201's or
//!   303's `Location`, a moved status URL, a result URL in the body) is resolved against
//!   the URI that really answered that response (RFC 9110 §10.2.2, RFC 3986 §5): its
//!   [`FinalUri`](recourse_core::FinalUri) when a redirect layer below followed
//!   redirects, else the URI it was requested from. So `POST /v1/submit` redirected to
//!   `/v2/submit` whose 202 says `Location: status/1` polls `/v2/status/1`. Only
//!   `http`/`https` URLs are followed, anything else is a typed error; so is an `http`
//!   URL named by a response that came from an `https` URI ([`Downgrade`], below). Every
//!   other response passes through untouched, with no allocation and no copy.
//! - **Interval.** Before each poll the layer waits the `Retry-After` of the last 202 or
//!   status response (delay-seconds or an HTTP-date, RFC 9110 §10.2.3), shortened to
//!   [`max_retry_after`](AsyncPollLayer::max_retry_after); without a usable one (absent,
//!   negative, fractional, garbage), the [backoff](AsyncPollLayer::backoff): 1 s, doubling,
//!   capped at 30 s, no jitter. Never less than the [floor](AsyncPollLayer::min_interval).
//! - **Polls.** `GET`s without a body ([`PollRequestBody::empty`]), through a clone of
//!   the inner service, so the layers below (retry, redirect, cache, classify) apply to
//!   each poll. A poll carries the [forwarded headers](AsyncPollLayer::forward_headers) of the
//!   original request, its credentials only where they still belong ([`Credentials`]:
//!   by default while the request is at the origin they were given for, and only to
//!   that origin), and the effective [`Deadline`](recourse_core::Deadline).
//! - **Polls see the origin's current state.** Every status poll is marked
//!   [`Live`](recourse_core::Live): a cache below answers it only with what the origin
//!   confirms now (revalidated or forwarded, as for `Cache-Control: no-cache`, RFC 9111
//!   §5.2.1.4), never again and again from one stored response. The final result fetch
//!   is not marked: a result may come from a cache.
//! - **Any request body.** The caller's body type needs no `Default` and is not boxed:
//!   the inner service receives a [`PollRequestBody`], the caller's body on the original
//!   request and an empty one on the layer's own requests (so `hyper::body::Incoming` or
//!   a streaming body go through).
//! - **Terminal state.** By status code: 202 is still running; other 2xx (200, 201, 204)
//!   are done; a 303 See Other means the result is at its `Location`, which is fetched
//!   and returned (RFC 9110 §15.4.4); 4xx and 5xx mean the job (or its status resource)
//!   failed, and that response is returned. The classify layer's verdict
//!   ([`Class`](recourse_core::Class)) is honoured. Optionally a JSON body field refines
//!   2xx responses ([`StatusField`]: Azure's `status`, Google's `done`), and a
//!   [`Policy`] (a closure works) has the last word.
//! - **Result.** The last status response, or per [`FinalState`] the resource named by
//!   its `Location`, by the initial `Location`, or the original URI (Azure's
//!   `final-state-via`). A `201 Created` to the original request can be answered with the
//!   created resource ([`fetch_created`](AsyncPollLayer::fetch_created), RFC 9110 §15.3.2).
//! - **Limits.** A total [polling timeout](AsyncPollLayer::time_limit), a [maximum number of
//!   polls](AsyncPollLayer::max_polls), and the request's
//!   [`Deadline`](recourse_core::Deadline): no wait that would end past a limit is
//!   started, and a poll in flight is cut off when one passes. Either way the error is a
//!   [`PollTimeout`] carrying the status URL and the last status; its
//!   [`resume_request`](PollTimeout::resume_request) (or [`Resume::request`]) picks the
//!   job up later. Dropping the response future stops polling at once.
//! - **Observability.** A `tracing` event per poll (target `recourse_poll`, debug; warn
//!   when a limit stops polling), a [progress callback](AsyncPollLayer::on_progress) and a
//!   per-request [`ProgressSender`] (a `tokio::sync::watch` channel); on the final
//!   response, a [`recourse_core::History`] with one
//!   [`Step::Polled`](recourse_core::Step::Polled) per poll (after the steps of the
//!   discarded responses, carried over) and a [`PollInfo`] (polls, waits, status URL,
//!   outcome).
//! - **Errors.** [`PollError<E>`] keeps the inner service's error `E`
//!   ([`is_inner`](PollError::is_inner), [`into_inner`](PollError::into_inner)) next to
//!   the timeout, unfollowable-`Location` and refused-[`Downgrade`] cases.
//!
//! # Hostile status services
//!
//! A job that never finishes ends at `max_polls` (100) or the timeout (10 min) by
//! default. `Retry-After: 1000000000000` is clamped (and if even the clamped wait does
//! not fit in the limits, the layer stops at once instead of sleeping). `Retry-After: 0`
//! cannot make a tight loop (250 ms floor). A status body is read only up to the field's
//! peek limit (64 KiB, [`recourse_core::limits::DEFAULT_PEEK_LIMIT`]); a longer one, a
//! malformed one or one nested 100,000 levels deep does not decide (`serde_json` bounds
//! recursion; other keys are skipped without being built), and is a typed
//! [protocol violation](PollError::is_protocol_violation) on a 2xx other than 202 while
//! the field is [strict](StatusField::strict) (the default). Status URLs on other origins
//! never receive the credentials by default.
//!
//! A job started over `https` never continues in clear text by default: a status URL
//! (from the 202's `Location` or another status header, or a running 202 that moves it),
//! a 303's `Location`, a [`FinalState`] result URL or a 201's `Location` that is `http`
//! while the response naming it came over `https` is not requested, and the response
//! future fails with [`PollError::is_downgrade`] ([`Downgrade`] carries the `https` URI,
//! the refused `http` URL and the header). Following it would let anyone on the path read
//! and forge the job's status and result, losing what `https` promised the caller (RFC
//! 9110 §4.2.2; the Fetch standard's mixed-content rule blocks the same). The redirect
//! layer refuses `https` to `http` redirects the same way;
//! [`AsyncPollLayer::allow_downgrade`] opts out. `http` to `https` is always followed.
//!
//! The bodies of discarded responses are drained only while waiting anyway, so that the
//! connection can be reused: at most 64 KiB and 1 s
//! ([`recourse_core::limits::DEFAULT_DRAIN_LIMIT`], [`DEFAULT_DRAIN_TIMEOUT`](recourse_core::limits::DEFAULT_DRAIN_TIMEOUT)),
//! and never past the polling limit.
//!
//! # Compared with other pollers
//!
//! - **Azure SDK's LRO poller** (`azure-core` `Poller`): follows `Azure-AsyncOperation`,
//!   `Operation-Location` or `Location`, reads `status` / `provisioningState`, honours
//!   `Retry-After` with a fixed default interval, and resolves the result with
//!   `final-state-via`. Here: [`AsyncPollLayer::status_headers`], [`StatusField::azure`],
//!   [`FinalState`]; it also has a resume token, here [`PollTimeout::resume_request`].
//! - **Google's long-running operations** (`google.longrunning.Operation`): poll
//!   `operations.get` until `done`, the result in `response` or `error`:
//!   [`StatusField::google`] with [`FinalState::StatusResource`].
//! - **AWS SDK waiters**: poll an operation with min/max delay and a maximum wait time,
//!   matching acceptors (success, failure, retry) on the output or status: the
//!   [`Policy`] plays the acceptors, [`AsyncPollLayer::interval`],
//!   [`min_interval`](AsyncPollLayer::min_interval) and [`time_limit`](AsyncPollLayer::time_limit) the
//!   delays and the limit.
//!
//! Unlike those, this is a Tower middleware: the polling is invisible to the caller
//! (the original request returns the finished result), goes through the rest of the
//! stack, and works for any service that speaks HTTP 202.
//!
//! # Differences from tower-http
//!
//! tower-http has no poller. Its `FollowRedirect` shares the shape (a clone of the
//! inner service per request) but needs `B: Default` request bodies for the follow-up
//! `GET`; this layer has a body type of its own for its requests ([`PollRequestBody`]),
//! and adds the timing (paused-time testable: all waits use `tokio::time`), limits with a
//! resumable typed error, and the body-field decision.

mod config;
mod ctx;
mod error;
mod field;
mod future;
mod info;
mod layer;
mod policy;
mod poller;
mod progress;
mod request_body;
mod service;

pub use config::{Credentials, FinalState};
pub use error::{PollError, PollTimeout, ProtocolViolation, TimeoutReason, ViolationKind};
pub use field::StatusField;
pub use future::ResponseFuture;
pub use info::{PollInfo, PollOutcome, Resume};
pub use layer::AsyncPollLayer;
pub use policy::{Decision, JobStatus, Policy, Standard};
pub use progress::{PollProgress, ProgressSender};
pub use recourse_core::body::PeekBody;
pub use recourse_core::json::JsonPath;
pub use recourse_core::origin::Downgrade;
pub use request_body::PollRequestBody;
pub use service::AsyncPoll;

#[cfg(test)]
mod tests;
