//! Response classification: a typed verdict on every response, in its extensions.
//!
//! [`ClassifyLayer`] wraps an HTTP client (any `Service<Request<_>, Response = Response<_>>`)
//! and attaches to each response the coarse [`Class`] that the retry, poll and cache layers
//! read, and a detailed [`Outcome`] with what the response tells the client to act on: the
//! `Response.Code` of a 200's JSON body, the `Location` of a 201, the `Retry-After` of a
//! 503, the `Errors` block of a 400, the `Allow` of a 405...
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use recourse_classify::{ClassifyLayer, Outcome};
//! use recourse_core::Class;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! // A backend that answers 200 but reports a failure in its JSON body.
//! let backend = tower::service_fn(|_req: Request<()>| async {
//!     let body = r#"{"Response":{"Code":7,"Message":"Unsupported symbology"}}"#;
//!     let res = Response::builder()
//!         .header("content-type", "application/json")
//!         .body(Full::<Bytes>::from(body))
//!         .unwrap();
//!     Ok::<_, Infallible>(res)
//! });
//! let client = ServiceBuilder::new().layer(ClassifyLayer::new()).service(backend);
//!
//! let res = client.oneshot(Request::new(())).await?;
//! assert_eq!(res.status(), 200);
//! assert_eq!(Class::of(&res), Class::ApplicationFailure);
//! assert_eq!(
//!     Outcome::of(&res),
//!     Outcome::ApplicationFailure { code: 7, message: Some("Unsupported symbology".into()) },
//! );
//! // The body still arrives byte for byte.
//! let body = res.into_body().collect().await?.to_bytes();
//! assert_eq!(body, r#"{"Response":{"Code":7,"Message":"Unsupported symbology"}}"#);
//! # Ok(())
//! # }
//! ```
//!
//! # The table
//!
//! The response-code table below is the API contract this crate was written for: each of
//! its rows has its own [`Outcome`], and the codes it does not list get their nearest
//! standard meaning (RFC 9110 §15). The repository's `docs/BEHAVIOUR.md` describes the
//! same table and how the other layers act on each verdict.
//!
//! | Status | [`Outcome`] | [`Class`] |
//! |---|---|---|
//! | 200, `Response.Code` 0 or absent | [`Success`](Outcome::Success) | `Success` |
//! | 200, `Response.Code` ≠ 0 | [`ApplicationFailure { code, message }`](Outcome::ApplicationFailure) | `ApplicationFailure` |
//! | 201 | [`Created { location }`](Outcome::Created) | `Success` |
//! | 202 | [`Accepted { location, retry_after }`](Outcome::Accepted) | `Pending` |
//! | 304 | [`NotModified`](Outcome::NotModified) | `NotModified` |
//! | 307 (and 301, 302, 303, 308, other 3xx) | [`Redirect { status, location }`](Outcome::Redirect) | `Redirect` |
//! | 400 | [`BadRequest { errors }`](Outcome::BadRequest), the parsed `Errors` block | `ClientError` |
//! | 401 | [`Unauthorized`](Outcome::Unauthorized) | `ClientError` |
//! | 403 | [`Forbidden`](Outcome::Forbidden) | `ClientError` |
//! | 404 | [`NotFound`](Outcome::NotFound) | `ClientError` |
//! | 405 | [`MethodNotAllowed { allow }`](Outcome::MethodNotAllowed), the parsed `Allow` | `ClientError` |
//! | 409 | [`Conflict`](Outcome::Conflict) | `ClientError` |
//! | 500, 503 | [`Retryable { status, retry_after }`](Outcome::Retryable) | `Retryable` |
//! | other 2xx | [`Success`](Outcome::Success) | `Success` |
//! | 429 | [`TooManyRequests { retry_after }`](Outcome::TooManyRequests) | `ClientError` |
//! | other 4xx | [`ClientError { status, errors }`](Outcome::ClientError) | `ClientError` |
//! | other 5xx, and above 599 | [`ServerError { status }`](Outcome::ServerError) | `ServerError` |
//! | 1xx | [`Informational { status }`](Outcome::Informational) | `Informational` |
//!
//! The table is configurable: [`StatusTable`] remaps codes
//! (`.retryable([StatusCode::TOO_MANY_REQUESTS])`, `.success([StatusCode::NOT_FOUND])`,
//! `.map_range(first..=last, kind)`, all with [`http::StatusCode`]s), and any [`Policy`]
//! (closures included) can decide instead.
//!
//! # Body-level codes
//!
//! For a response whose status carries codes (200 for `Response.Code`, 400 for `Errors`;
//! see [`BodyCodes`]) and whose `Content-Type` is JSON, the response future reads the body
//! until it ends or passes a bound (64 KiB by default,
//! [`DEFAULT_PEEK_LIMIT`](recourse_core::limits::DEFAULT_PEEK_LIMIT), in at most one frame
//! per 256 bytes of the bound and no fewer than 64: see [`BodyCodes::peek_limit`]), then
//! parses it in one streaming pass that only descends along the configured paths (keys
//! matched ASCII-case-insensitively; when an object repeats a key the last value wins,
//! RFC 8259 §4 leaving duplicates to the implementation; the code may be a JSON integer or
//! a numeric string). JSON means `application/json` or any `*/*+json` type (RFC 8259 §11,
//! RFC 6839 §3.1). Reading and parsing are Recourse's shared mechanisms,
//! [`recourse_core::body::Peek`] and [`recourse_core::json::scan`], the same as the poll
//! layer's status field uses. The frames read are kept as they came (no copy for the
//! caller) and the returned [`PeekBody`] yields them, then streams the rest of the inner
//! body: the caller receives the body byte for byte, trailers included. Frames that carry
//! no bytes are dropped rather than held, and count toward neither bound.
//!
//! Nothing about the body ever fails the request. A body over the bound (in bytes or in
//! frames), malformed JSON, a captured value nested deeper than serde_json's recursion
//! limit, or a body that fails while being read keeps the status-level verdict; a body
//! error is handed to the caller through the body, after the frames read before it. Note
//! that the response is returned once the prefix is read, so a JSON response on one of
//! those statuses that streams forever under the bound is held back: turn body codes off
//! for such endpoints
//! ([`ClassifyLayer::without_body_codes`]).
//!
//! # Cost
//!
//! For responses whose body is not inspected (every status but 200 and 400, and those two
//! when not JSON), the layer polls the inner future, asks the policy (a table lookup
//! with the default [`StatusTable`]), and stores nothing at all when the verdict is the
//! standard one for the status: [`Class::of`] and [`Outcome::of`] derive it again from
//! the status and headers. It allocates nothing, takes no reference count, and never
//! polls the body, which it passes through behind an enum tag ([`PeekBody`]).
//! Extensions are written only when they add information (a remapped code, a body code,
//! an `Errors` block, a `Location` resolved as RFC 9110 §10.2.2 and RFC 3986 §5 say,
//! against the URI that answered: the request URI, or the
//! [`FinalUri`](recourse_core::FinalUri) a redirect layer inside this one recorded); see
//! [`Outcome`'s storage notes](Outcome#storage). The request URI is kept for that
//! resolution by copying its text inline rather than cloning it
//! ([`ClassifyLayer::resolve_locations`]).
//!
//! Inspecting a JSON body costs three allocations (the box that holds the peek and the
//! response head while the body is read, which keeps the response future as small as a
//! pass-through needs; the peeked body's box; its frame queue) plus what the captured
//! values need, and one pass of serde_json over the prefix; the
//! body's frames are kept, never copied (except to make a body split over several
//! frames contiguous for the parser).
//!
//! # `Result` semantics
//!
//! [`ClassifyLayer::into_result`] (or [`IntoResultLayer`] on its own) turns failure
//! verdicts into a [`ClassifiedError`] holding a [`Failure`], which keeps the [`Outcome`]
//! and the whole response; an error of the inner service becomes a [`ClassifiedError`]
//! that gives it back by value ([`ClassifiedError::into_inner`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use recourse_classify::{ClassifyLayer, Outcome};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! let backend = tower::service_fn(|_req: Request<()>| async {
//!     Ok::<_, Infallible>(Response::builder().status(404).body(String::new()).unwrap())
//! });
//! let client = ServiceBuilder::new()
//!     .layer(ClassifyLayer::new().into_result())
//!     .service(backend);
//! let err = client.oneshot(Request::new(())).await.unwrap_err();
//! assert_eq!(err.outcome(), Some(&Outcome::NotFound));
//! assert_eq!(err.to_string(), "request failed with status 404 Not Found: not found");
//! # }
//! ```
//!
//! # Differences from tower-http's classify
//!
//! tower-http's `classify` module (`ServerErrorsAsFailures`, `StatusInRangeAsFailures`,
//! `GrpcErrorsAsFailures`, the `ClassifyResponse`/`ClassifyEos` traits) feeds its `Trace`
//! and metrics layers with a two-way verdict: success, or a failure class (a status code).
//! It is not a layer of its own and leaves nothing on the response. Here:
//!
//! - classification is a layer, and its verdict travels with the response in its
//!   extensions, where the other Recourse layers (and the caller) read it;
//! - the verdict is rich: one [`Outcome`] per row of the table with its data, and a coarse
//!   [`Class`] that separates retryable from final failures, redirects, pending work and
//!   304s, where `ServerErrorsAsFailures` only knows "5xx or not";
//! - the body can decide: a 200 that reports an error in its JSON body is a failure,
//!   while tower-http's end-of-stream classification sees only trailers (gRPC status);
//! - 4xx are failures by default (tower-http's default counts only 5xx), and which codes
//!   are retryable is configurable per code;
//! - failures can become errors ([`IntoResult`]), which tower-http never does.
//!
//! # Examples of configuration
//!
//! ```
//! use http::StatusCode;
//! use recourse_classify::{BodyCodes, ClassifyLayer, StatusTable};
//!
//! let layer = ClassifyLayer::new()
//!     // 429, 502 and 504 are worth resubmitting; a 404 on this API means "nothing yet".
//!     .policy(
//!         StatusTable::new()
//!             .retryable([
//!                 StatusCode::TOO_MANY_REQUESTS,
//!                 StatusCode::BAD_GATEWAY,
//!                 StatusCode::GATEWAY_TIMEOUT,
//!             ])
//!             .success([StatusCode::NOT_FOUND]),
//!     )
//!     // This API reports its code at `result.status`, on 200 and 201, and its bodies stay
//!     // under 16 KiB.
//!     .body_codes(
//!         BodyCodes::new()
//!             .code_path("result.status")
//!             .code_statuses([StatusCode::OK, StatusCode::CREATED])
//!             .peek_limit(16 * 1024),
//!     );
//! # let _ = layer;
//! ```

mod codes;
mod errors;
mod future;
mod kind;
mod layer;
mod outcome;
mod policy;
mod result;
mod service;
mod table;

#[cfg(test)]
mod tests;

pub use codes::BodyCodes;
pub use errors::{ApiError, Errors};
pub use future::ResponseFuture;
pub use kind::Kind;
pub use layer::ClassifyLayer;
pub use outcome::{Location, Outcome};
pub use policy::{Head, Policy};
pub use recourse_core::Class;
pub use recourse_core::body::PeekBody;
pub use recourse_core::json::JsonPath;
pub use result::{
    ClassifiedError, Failure, IntoResult, IntoResultFuture, IntoResultLayer, IsFailure,
};
pub use service::Classify;
pub use table::StatusTable;
