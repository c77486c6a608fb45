//! Shared building blocks of the Recourse layers.
//!
//! This crate holds what several layers need and nothing else:
//!
//! - [`body`]: [`ReplayBody`](body::ReplayBody), a request body that can be sent again
//!   (redirects, retries), bounded and lazily buffered, with O(1) clones of bodies already
//!   in memory; [`Peek`](body::Peek), a bounded look at a response body that hands it on
//!   unchanged; [`Drain`](body::Drain), the bounded discarding of a response body.
//! - [`json`]: values at paths in a JSON body, in one pass, one rule for duplicate keys.
//! - [`headers`]: `Retry-After`, and `Location` read and resolved by one rule.
//! - [`origin`]: origins, credential headers and the `https` to `http` [`Downgrade`](origin::Downgrade).
//! - [`hop`]: hop-by-hop fields, for the cache and the proxy.
//! - [`sent`]: how a layer's error type says that it refused a request before sending it.
//! - [`limits`]: the one default of each shared limit.
//! - [`observe`]: span, attribute and metric names (OpenTelemetry HTTP client conventions
//!   plus `recourse.*`), bounded labels, and a `url.full` without credentials or query.
//! - [`policy`]: the [`And`](policy::And) and [`Or`](policy::Or) combinators every layer's
//!   policy trait implements.
//! - [`FinalUri`]: where a request really went, after redirects; [`Live`]: a request that
//!   must see the origin's current state; [`InlineUri`]: a request URI kept cheaply.
//! - [`Deadline`]: one deadline for the whole request, in its extensions.
//! - [`Class`]: the coarse verdict on a response that classify writes and the others read.
//! - [`History`], [`Step`], [`Attempt`], [`Resend`]: what the layers did, in extensions.
//! - [`backoff`]: exponential backoff with jitter and an injectable random source.
//! - [`clock`]: wall-clock time driven by tokio's clock, so paused-time tests cover dates.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use http::{HeaderValue, Request, Response};
//! use recourse_core::{Class, Deadline, clock, headers};
//!
//! // A caller bounds the whole request...
//! let mut req = Request::new(());
//! Deadline::after(Duration::from_secs(10)).insert_into(&mut req);
//!
//! // ...and a layer decides what a 503 asks for, and whether it can wait that long.
//! let res = Response::builder().status(503).header("retry-after", "2").body(()).unwrap();
//! assert!(Class::of(&res).is_retryable());
//! let wait = headers::retry_after(res.headers(), clock::system_now()).unwrap();
//! assert!(Deadline::of(&req).unwrap().allows(wait));
//! # }
//! ```

pub mod backoff;
pub mod body;
pub mod clock;
pub mod headers;
pub mod hop;
pub mod json;
pub mod limits;
pub mod observe;
pub mod origin;
pub mod policy;
pub mod sent;

mod class;
mod deadline;
mod history;
mod listen;
mod live;
mod macros;
mod uri;

pub use class::Class;
pub use deadline::Deadline;
pub use history::{Attempt, History, Resend, Step};
pub use live::Live;
pub use uri::{FinalUri, InlineUri};

/// The boxed error type used where errors of different sources meet (body errors).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
