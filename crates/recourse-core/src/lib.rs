//! Shared building blocks of the Recourse layers.
//!
//! This crate holds what several layers need and nothing else:
//!
//! - [`ReplayBody`](body::ReplayBody): a request body that can be sent again (redirects,
//!   retries), bounded and lazily buffered, with O(1) clones of bodies already in memory;
//!   and [`Drain`](body::Drain), the bounded discarding of a response body.
//! - [`headers`]: `Retry-After` and `Location` parsing, origin checks.
//! - [`Deadline`]: one deadline for the whole request, in its extensions.
//! - [`Class`]: the coarse verdict on a response that classify writes and the others read.
//! - [`History`], [`Step`], [`Attempt`]: what the layers did, in extensions.
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
pub mod clock;
pub mod headers;

pub mod body;

mod class;
mod deadline;
mod history;

pub use class::Class;
pub use deadline::Deadline;
pub use history::{Attempt, History, Step};

/// The boxed error type used where errors of different sources meet (body errors).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
