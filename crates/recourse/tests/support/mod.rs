//! Shared helpers of the facade's integration tests: the full client stack around
//! hyper-util's legacy client, typed names for what it returns, outcome sorting and the
//! process's memory as Linux reports it.

#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{self, Client};
use hyper_util::rt::TokioExecutor;
use recourse::breaker::BreakerError;
use recourse::cache::CacheBody;
use recourse::classify::PeekBody;
use recourse::poll::{PollError, PollRequestBody};
use recourse::redirect::{RedirectBody, RedirectError};
use recourse::{ClientStack, ClientStackLayer, DeadlineError, ReplayBody};
use tower::Layer;

/// What the stack hands hyper-util's client: the retry layer's replayable body around the
/// redirect layer's, around the poll layer's.
pub(crate) type WireBody = ReplayBody<RedirectBody<PollRequestBody<Full<Bytes>>>>;

/// hyper-util's legacy client as the stack's innermost service.
pub(crate) type HyperClient = Client<HttpConnector, WireBody>;

/// The full recommended stack around [`HyperClient`], with any layer configuration.
pub(crate) type Stack<PP = recourse::poll::Standard, RP = recourse::redirect::Standard> =
    ClientStack<HyperClient, PP, RP>;

/// The body of a response that went through the whole stack: the deadline layer's (which
/// reads a reported failure's first bytes), the poll layer's, the cache's, classify's.
pub(crate) type StackBody = PeekBody<PeekBody<CacheBody<PeekBody<Incoming>>>>;

/// The error of the whole stack: every layer's typed error around hyper-util's.
pub(crate) type StackError = DeadlineError<PollError<RedirectError<BreakerError<legacy::Error>>>>;

/// A fresh hyper-util client (HTTP/1.1, its own connection pool).
pub(crate) fn hyper_client() -> HyperClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// The recommended stack, every default, around a fresh hyper-util client.
pub(crate) fn full_stack() -> Stack {
    recourse::client(hyper_client())
}

/// The recommended stack as configured by `layer`, around a fresh hyper-util client.
pub(crate) fn stack_with<PP, RP>(layer: ClientStackLayer<PP, RP>) -> Stack<PP, RP>
where
    ClientStackLayer<PP, RP>: Layer<HyperClient, Service = Stack<PP, RP>>,
{
    layer.layer(hyper_client())
}

/// A GET with an empty body.
pub(crate) fn get(uri: http::Uri) -> Request<Full<Bytes>> {
    Request::get(uri)
        .body(Full::default())
        .expect("a GET with a parsed URI is valid")
}

/// Reads a whole response body, or says why it could not.
pub(crate) async fn text(res: Response<StackBody>) -> Result<Bytes, String> {
    res.into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|e| format!("body error: {e}"))
}

/// Where an error of the whole stack came from: one typed variant per layer, and the
/// transport error underneath.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ErrorKind {
    /// The request's deadline passed ([`DeadlineError::Elapsed`]).
    Deadline,
    /// Polling stopped on a limit (`PollTimeout`).
    PollTimeout,
    /// A status URL could not be followed.
    PollLocation,
    /// A status or result URL would have taken an `https` job to `http`.
    PollDowngrade,
    /// The redirect limit.
    TooManyRedirects,
    /// A redirect loop.
    RedirectLoop,
    /// An https to http redirect.
    Downgrade,
    /// The deadline passed between redirect hops.
    RedirectDeadline,
    /// A custom redirect policy refused.
    RedirectPolicy,
    /// hyper-util's client failed before a response arrived (connect, reset, closed).
    Transport,
    /// The breaker refused the request (not sent): the origin's `Retry-After` had not
    /// passed, or its circuit was open.
    Refused,
}

/// Sorts an error of the whole stack; every error must be one of these typed kinds.
pub(crate) fn kind<E>(
    error: &DeadlineError<PollError<RedirectError<BreakerError<E>>>>,
) -> ErrorKind {
    let poll = match error {
        DeadlineError::Elapsed => return ErrorKind::Deadline,
        DeadlineError::Inner(poll) => poll,
    };
    if poll.is_timeout() {
        return ErrorKind::PollTimeout;
    }
    if poll.is_location() {
        return ErrorKind::PollLocation;
    }
    if poll.is_downgrade() {
        return ErrorKind::PollDowngrade;
    }
    let Some(redirect) = poll.inner() else {
        unreachable!("a PollError of a kind these tests do not know")
    };
    if redirect.is_too_many_redirects() {
        ErrorKind::TooManyRedirects
    } else if redirect.is_redirect_loop() {
        ErrorKind::RedirectLoop
    } else if redirect.is_downgrade() {
        ErrorKind::Downgrade
    } else if redirect.is_deadline_expired() {
        ErrorKind::RedirectDeadline
    } else if redirect.is_policy_error() {
        ErrorKind::RedirectPolicy
    } else if redirect.inner().is_some_and(BreakerError::is_refused) {
        ErrorKind::Refused
    } else {
        ErrorKind::Transport
    }
}

/// The process's resident set size in bytes (`VmRSS` of `/proc/self/status`), or `None`
/// where Linux's proc filesystem is not available.
pub(crate) fn rss_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|kib| kib * 1024)
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Mebibytes, for messages.
pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A bound on every wait in these tests, in tokio time (paused: it costs nothing).
pub(crate) const HANG: Duration = Duration::from_secs(600);
