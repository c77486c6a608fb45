//! A Tower layer that follows HTTP redirects: 307/308 resubmitted with the same method and
//! body, 301/302/303 handled as the Fetch standard says, with limits, loop detection, no
//! credential leaks across origins and no `https` to `http` downgrade.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use recourse_redirect::{FinalUri, RedirectBody, RedirectError, RedirectHistory, RedirectLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! // A backend: POST /old answers 307 to /new, which echoes the method and body.
//! let backend = tower::service_fn(|req: Request<RedirectBody<Full<Bytes>>>| async move {
//!     let res = if req.uri().path() == "/old" {
//!         Response::builder().status(307).header("location", "/new").body(Full::default())?
//!     } else {
//!         let method = req.method().clone();
//!         let body = req.into_body().collect().await?.to_bytes();
//!         Response::new(Full::new(Bytes::from(format!("{method} {}", String::from_utf8_lossy(&body)))))
//!     };
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(res)
//! });
//!
//! let client = ServiceBuilder::new().layer(RedirectLayer::new()).service(backend);
//! let req = Request::post("http://api.test/old").body(Full::new(Bytes::from("amount=10")))?;
//! let res = client.oneshot(req).await.map_err(RedirectError::into_box_error)?;
//!
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(FinalUri::of(&res).unwrap().uri(), "http://api.test/new");
//! assert_eq!(RedirectHistory::of(&res).unwrap().len(), 1);
//! // The 307 was followed with the same method and the same bytes (RFC 9110 §15.4.8).
//! assert_eq!(res.into_body().collect().await?.to_bytes(), "POST amount=10");
//! # Ok(())
//! # }
//! ```
//!
//! # What it does with each redirect
//!
//! | Status | Next request |
//! |---|---|
//! | 307, 308 (RFC 9110 §15.4.8, §15.4.9) | same method, headers and body |
//! | 301, 302 (§15.4.2, §15.4.3) | POST becomes GET without a body; other methods unchanged ([`keep_post`](RedirectLayer::keep_post) keeps POST) |
//! | 303 (§15.4.4) | GET without a body, except HEAD which stays HEAD |
//!
//! These are the Fetch standard's rules (§4.4, HTTP-redirect fetch, step 12). When the body
//! goes, so do the headers that describe it ([`PAYLOAD_HEADERS`]: `Content-Type`,
//! `Content-Length`, `Content-Encoding`, `Content-Language`, `Content-Location`,
//! `Transfer-Encoding`). 300, 304 and other 3xx statuses are returned as they are.
//!
//! - **The body** is wrapped in a [`ReplayBody`](recourse_core::body::ReplayBody): empty
//!   bodies cost nothing, in-memory bodies are shared without copying, streams are
//!   buffered lazily up to [`replay_limit`](RedirectLayer::replay_limit). When a 307/308
//!   needs a body that cannot be sent again, the 3xx is returned unchanged with
//!   [`NotFollowed::BodyNotReplayable`] in its extensions: an empty body is never sent in
//!   its place. The inner service receives [`RedirectBody`]s.
//! - **`Location`** is resolved against the current URI (relative, absolute,
//!   scheme-relative), and the target inherits the fragment when it has none of its own
//!   (RFC 9110 §10.2.2). A 3xx whose `Location` is missing, unparsable, not UTF-8, or not
//!   `http`/`https` (`javascript:`, `file:`, `data:`) is returned as it is, with the
//!   [`NotFollowed`] reason in its extensions.
//! - **Limits**: 10 redirects by default, then a [`TooManyRedirects`] error carrying the
//!   chain (or, with [`return_last_redirect`](RedirectLayer::return_last_redirect), the last
//!   3xx). A redirect back to a request already made (same method and URI) fails at once
//!   with [`RedirectLoop`] (RFC 9110 §15.4).
//! - **Security**: when the origin (scheme, host, port) changes, `Authorization`,
//!   `Cookie`, `Proxy-Authorization` and the headers you list are removed and stay removed
//!   for the rest of the chain; a `Host` header the caller set is pointed at the new
//!   target; `https` to `http` fails with [`Downgrade`]; only `http` and `https` are
//!   followed; a cross-origin `Location` with credentials in it is not followed (Fetch);
//!   [`SameOriginOnly`](policy::SameOriginOnly) keeps a chain on its origin.
//! - **Connections**: up to [`drain_limit`](RedirectLayer::drain_limit) bytes of each 3xx body
//!   are read and discarded, for at most [`drain_timeout`](RedirectLayer::drain_timeout), so
//!   the HTTP/1.1 connection goes back to the pool before the next hop.
//! - **Deadline**: no hop starts once the request's [`Deadline`](recourse_core::Deadline)
//!   has passed ([`DeadlineExpired`]); the deadline and every other request extension
//!   travel with each hop.
//! - **Extensions**: after at least one hop the response carries [`RedirectHistory`] (each
//!   hop's status and URIs) and [`FinalUri`], and its [`History`](recourse_core::History)
//!   has one [`Step::Redirected`](recourse_core::Step::Redirected) per hop after the steps
//!   inner layers recorded on the discarded responses.
//!
//! # Policies
//!
//! A [`Policy`](policy::Policy) decides each hop; closures are policies, and
//! [`and`](policy::PolicyExt::and) / [`or`](policy::PolicyExt::or) combine them. The
//! default is [`Standard`]: [`Limited`](policy::Limited) +
//! [`FilterCredentials`](policy::FilterCredentials) +
//! [`RefuseDowngrade`](policy::RefuseDowngrade), each part set by a builder method of
//! its own ([`Standard::max_redirects`], [`Standard::remove_on_origin_change`],
//! [`Standard::allow_downgrade`], ...). A custom policy replaces it; write
//! `Standard::default().and(yours)` to keep its protections. [`And`](policy::And) and
//! [`Or`](policy::Or) are the combinators every layer shares, from
//! [`recourse_core::policy`].
//!
//! # Errors
//!
//! The service's error is [`RedirectError<E>`]: the inner service's error `E` unchanged
//! ([`RedirectError::into_inner`]), or one of the layer's typed refusals, each with an
//! `is_*()` predicate and an accessor named like it ([`RedirectError::is_downgrade`] /
//! [`RedirectError::downgrade`]), and the chain of hops ([`RedirectError::chain`]);
//! [`RedirectError::into_box_error`] boxes it for stacks whose errors are boxed, the inner
//! error as it is. See the [`error`] module for why this is one generic error rather than
//! a `Box<dyn Error>`.
//!
//! # Performance
//!
//! When the first response is not a redirect, the layer adds no allocation for a request
//! with an empty body and no headers or extensions, inserts no extension and boxes
//! nothing: it clones the request head (which a redirect needs), wraps the body, and looks
//! at the status. Request headers and extensions are cloned once per request (the cost
//! any redirect follower pays to be able to resend them).
//!
//! # Panics
//!
//! Draining a 3xx body uses a tokio timer: following a redirect whose body is not empty
//! needs a tokio runtime with time enabled, unless [`drain_limit`](RedirectLayer::drain_limit)
//! is 0.
//!
//! # Differences from tower-http's `FollowRedirect`
//!
//! Compared with `tower_http::follow_redirect` 0.7:
//!
//! - **Bodies.** tower-http requires `ReqBody: Default` and resends a body only if the
//!   policy can clone it synchronously before the first send (`Policy::clone_body`, `None`
//!   by default); a body whose `size_hint` is exactly 0 is rebuilt with `Default`. With
//!   the standard policy a non-empty body is never resent: a 307/308 for it is returned
//!   without saying why. Here every body type works: in-memory bodies are replayed without
//!   copying, streams are buffered as they are sent (up to a cap), and a 307/308 that
//!   cannot be replayed comes back with [`NotFollowed::BodyNotReplayable`].
//! - **Errors.** tower-http stops at its limit (20) by returning the last 3xx; errors come
//!   only from a policy and must be of the inner service's error type. Here the limit (10)
//!   and loops are typed errors ([`TooManyRedirects`] with the chain, [`RedirectLoop`]);
//!   tower-http has no loop detection.
//! - **Security.** tower-http's standard policy filters credentials across origins but
//!   follows `https` to `http`, compares hosts case-sensitively, follows any scheme the
//!   `url` crate resolves and `http::Uri` accepts, and leaves a caller's `Host` header
//!   pointing at the first origin. Here the downgrade is refused, only `http`/`https` are
//!   followed, origins are compared per RFC 6454, `Host` follows the target, and a
//!   cross-origin `Location` with credentials is not followed.
//! - **Payload headers.** tower-http drops `Content-Type`, `Content-Length`,
//!   `Content-Encoding` and `Transfer-Encoding` with the body; this layer also drops
//!   `Content-Language` and `Content-Location`, the rest of the Fetch standard's list.
//! - **Connections.** tower-http drops each 3xx body unread, which closes its HTTP/1.1
//!   connection unless hyper already holds all of it; this layer drains a bounded amount
//!   first so that the connection can be reused.
//! - **Request extensions.** tower-http's standard policy drops every request extension on
//!   a cross-origin hop. Extensions never leave the process, so this layer keeps them on
//!   every hop: the [`Deadline`](recourse_core::Deadline), request ids and the like still
//!   reach the layers below.
//! - **Extensions.** tower-http inserts its `RequestUri` into every response, redirect or
//!   not (an allocation per request); this layer inserts nothing on the pass-through path,
//!   and after redirects records each hop and the [`History`](recourse_core::History)
//!   steps, and honours the request's [`Deadline`](recourse_core::Deadline).

pub mod error;
pub mod policy;

mod body;
mod config;
mod extensions;
mod future;
mod head;
mod layer;
mod service;

#[cfg(test)]
mod tests;

pub use body::RedirectBody;
pub use error::{DeadlineExpired, RedirectError, RedirectLoop, TooManyRedirects};
pub use extensions::{Hop, NotFollowed, RedirectHistory};
pub use future::{PAYLOAD_HEADERS, ResponseFuture};
pub use layer::RedirectLayer;
pub use policy::Standard;
/// Where the request really went (re-exported from [`recourse_core`]).
pub use recourse_core::FinalUri;
/// A refused `https` to `http` move (re-exported from [`recourse_core::origin`]).
pub use recourse_core::origin::Downgrade;
pub use service::Redirect;
