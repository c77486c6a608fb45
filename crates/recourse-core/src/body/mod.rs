//! Bodies: resending a request body, peeking at a response body, draining one.
//!
//! - [`ReplayBody`]: a request body that redirects and retries can send again.
//! - [`Peek`] and [`PeekBody`]: read a bounded prefix of a response body (to find a code or
//!   a status field in it) and hand the body on unchanged, frame for frame.
//! - [`OrEmpty`]: the caller's body, or none on a request a layer makes of its own.
//! - [`Drain`]: read and discard a response body within a byte limit, a time limit and the
//!   request's [`Deadline`](crate::Deadline), so that its connection can be reused.
//!
//! # Replay
//!
//! [`ReplayBody`] wraps any [`http_body::Body`] so that the redirect and retry layers can
//! resend it:
//!
//! - An empty body (one whose [`Body::is_end_stream`](http_body::Body::is_end_stream) is already true) costs nothing: no
//!   allocation, and clones are free.
//! - A body that is already in memory (one whose first poll yields all of it at once, such
//!   as `Full<Bytes>` or `String`) is held as [`Bytes`](bytes::Bytes): clones are O(1) and share the same
//!   memory, whatever the size. Nothing is copied and the buffering cap does not apply,
//!   since holding it costs no memory that is not already held.
//! - A streaming body is buffered lazily, chunk by chunk (as reference-counted `Bytes`,
//!   never copied), while the first attempt streams it, up to a cap ([`DEFAULT_REPLAY_LIMIT`] by
//!   default). Past the cap buffering stops, the attempt that is streaming goes on
//!   unharmed, and [`ReplayBody::try_clone`] reports [`NotReplayable::TooLarge`]: a clone
//!   never yields an empty or partial body in its place.
//! - Trailers are replayed; an error of the inner body is passed on to the attempt that
//!   met it, and later clones fail with [`ReplayError`] rather than send part of the body.
//!
//! A clone made while an earlier attempt is still streaming (for example a connection that
//! failed halfway) replays what was buffered and then continues reading the inner body
//! where the earlier attempt stopped.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use recourse_core::body::ReplayBody;
//! use recourse_core::limits::DEFAULT_REPLAY_LIMIT;
//!
//! let body = ReplayBody::new(Full::new(Bytes::from_static(b"hello")), DEFAULT_REPLAY_LIMIT);
//! let again = body.try_clone().expect("in-memory bodies always replay");
//!
//! assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
//! assert_eq!(again.collect().await.unwrap().to_bytes(), "hello");
//! # }
//! ```

//!
//! [`DEFAULT_REPLAY_LIMIT`]: crate::limits::DEFAULT_REPLAY_LIMIT

mod drain;
mod or_empty;
mod peek;
mod replay;

pub use drain::{Drain, Drained};
pub use or_empty::OrEmpty;
pub use peek::{Peek, PeekBody, Peeked};
pub use replay::{Never, NotReplayable, ReplayBody, ReplayError};
