//! The per-try timeout: [`RetryLayer::per_try_timeout`](crate::RetryLayer::per_try_timeout),
//! the error it makes ([`RetryError`], [`TryTimedOut`]), and the two modes of the layer
//! ([`NoTryTimeout`], [`TryTimeout`]) that decide its error type.
//!
//! Without a per-try timeout the layer's error is the inner service's own, untouched: the
//! retry layer adds no error of its own. With one, a try may end in a way the inner service
//! cannot express (no response head in time, and the request may not be resent), so the
//! error becomes [`RetryError<E>`]: the inner service's error, or a [`TryTimedOut`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use http::{Request, Response};
//! use recourse_core::body::ReplayBody;
//! use recourse_retry::RetryLayer;
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! // A backend that never answers.
//! let backend = service_fn(|_req: Request<ReplayBody<String>>| async {
//!     std::future::pending::<Result<Response<String>, std::io::Error>>().await
//! });
//! let client = RetryLayer::new()
//!     .per_try_timeout(Duration::from_secs(2))
//!     .layer(backend);
//! // A POST without an idempotency key is never resent: it ends in a typed error.
//! let req = Request::post("http://example.com/charge").body(String::new()).unwrap();
//! let err = client.oneshot(req).await.unwrap_err();
//! let timed_out = err.try_timed_out().unwrap();
//! assert_eq!((timed_out.attempts(), timed_out.after()), (1, Duration::from_secs(2)));
//! # }
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use recourse_core::BoxError;

use crate::info::StopReason;

mod sealed {
    pub trait Sealed {}
}

/// How the layer treats tries that take too long, and so what its error type is: the
/// inner service's error with [`NoTryTimeout`], [`RetryError`] with [`TryTimeout`].
///
/// Sealed: the two modes are the only ones.
pub trait TryTimeoutMode<E>: sealed::Sealed {
    /// The error type of the retry service.
    type Error;

    /// The inner service's error, as the layer's.
    fn inner(error: E) -> Self::Error;

    /// A try that timed out and ends the request, as the layer's error; `None` when the
    /// mode has no per-try timeout (then no try ever times out).
    fn timed_out(timed_out: TryTimedOut) -> Option<Self::Error>;
}

/// The default mode: tries are not timed, and the error is the inner service's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoTryTimeout;

/// The mode [`RetryLayer::per_try_timeout`](crate::RetryLayer::per_try_timeout) selects:
/// every try is timed, and the error is [`RetryError`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TryTimeout;

impl sealed::Sealed for NoTryTimeout {}
impl sealed::Sealed for TryTimeout {}

impl<E> TryTimeoutMode<E> for NoTryTimeout {
    type Error = E;

    #[inline]
    fn inner(error: E) -> E {
        error
    }

    fn timed_out(_: TryTimedOut) -> Option<E> {
        None
    }
}

impl<E> TryTimeoutMode<E> for TryTimeout {
    type Error = RetryError<E>;

    #[inline]
    fn inner(error: E) -> RetryError<E> {
        RetryError {
            kind: Kind::Inner(error),
        }
    }

    fn timed_out(timed_out: TryTimedOut) -> Option<RetryError<E>> {
        Some(RetryError {
            kind: Kind::TryTimedOut(timed_out),
        })
    }
}

/// A try that had no response head within its time, after which the layer stopped: the
/// request may not be resent (a POST without an idempotency key may have been processed),
/// or a limit ended the retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TryTimedOut {
    pub(crate) attempts: u32,
    pub(crate) after: Duration,
    pub(crate) stopped: StopReason,
}

impl TryTimedOut {
    /// Attempts sent, the one that timed out included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// How long the last try was given: the per-try timeout, or what was left of the
    /// request's [`Deadline`](recourse_core::Deadline) when that was less.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// Why the layer did not try again.
    pub fn stopped(&self) -> StopReason {
        self.stopped
    }
}

impl fmt::Display for TryTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attempt {} had no response within {:?}, and it was not sent again: {}",
            self.attempts, self.after, self.stopped
        )
    }
}

impl StdError for TryTimedOut {}

/// The error of a retry service with a per-try timeout: the inner service's error, or a
/// [`TryTimedOut`].
pub struct RetryError<E> {
    kind: Kind<E>,
}

enum Kind<E> {
    Inner(E),
    TryTimedOut(TryTimedOut),
}

impl<E> RetryError<E> {
    /// Whether the inner service failed.
    pub fn is_inner(&self) -> bool {
        matches!(self.kind, Kind::Inner(_))
    }

    /// The inner service's error, if that is what this is.
    pub fn inner(&self) -> Option<&E> {
        match &self.kind {
            Kind::Inner(e) => Some(e),
            Kind::TryTimedOut(_) => None,
        }
    }

    /// The inner service's error, or this error back when it is not one.
    pub fn into_inner(self) -> Result<E, Self> {
        match self.kind {
            Kind::Inner(e) => Ok(e),
            kind => Err(Self { kind }),
        }
    }

    /// Whether the last try timed out and the layer stopped.
    pub fn is_try_timed_out(&self) -> bool {
        matches!(self.kind, Kind::TryTimedOut(_))
    }

    /// The timed-out try, if that is what this is.
    pub fn try_timed_out(&self) -> Option<&TryTimedOut> {
        match &self.kind {
            Kind::TryTimedOut(t) => Some(t),
            Kind::Inner(_) => None,
        }
    }

    /// A boxed error: the inner service's own error (not wrapped again), or the
    /// [`TryTimedOut`].
    pub fn into_box_error(self) -> BoxError
    where
        E: Into<BoxError>,
    {
        match self.kind {
            Kind::Inner(e) => e.into(),
            Kind::TryTimedOut(t) => Box::new(t),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Inner(e) => f.debug_tuple("Inner").field(e).finish(),
            Kind::TryTimedOut(t) => f.debug_tuple("TryTimedOut").field(t).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Inner(e) => fmt::Display::fmt(e, f),
            Kind::TryTimedOut(t) => fmt::Display::fmt(t, f),
        }
    }
}

impl<E: StdError + 'static> StdError for RetryError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.kind {
            Kind::Inner(e) => Some(e),
            Kind::TryTimedOut(t) => Some(t),
        }
    }
}
