//! [`PollRequestBody`]: the request body the inner service receives.

use recourse_core::body::OrEmpty;

/// The body of each request the inner service receives from [`AsyncPoll`](crate::AsyncPoll):
/// the caller's body, untouched, on the original request; no body at all on the requests
/// the layer makes of its own (the status `GET`s, the result `GET`, the polls of a resumed
/// job).
///
/// It is core's [`OrEmpty`], the one body type every layer uses for the requests it makes
/// of its own: no `Default` needed of the caller's body (so `hyper::body::Incoming` or any
/// streaming body goes through), no boxing, no copy. Build a `hyper_util` client for it:
/// `Client::builder(TokioExecutor::new()).build_http::<PollRequestBody<Full<Bytes>>>()`.
pub type PollRequestBody<B> = OrEmpty<B>;
