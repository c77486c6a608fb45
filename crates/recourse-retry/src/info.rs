//! What the layer tells the caller: [`RetryInfo`] on the response, [`StopReason`], and
//! the [`Idempotent`] opt-in a caller puts on a request.

use std::fmt;
use std::time::Duration;

use recourse_core::body::NotReplayable;

/// How the retry layer ended, as an extension of the response it returns.
///
/// Present when the layer retried at least once, or when it returned a response it would
/// have retried but could not ([`stopped`](Self::stopped) says why). A response that
/// passed straight through carries none, so that the pass-through path inserts nothing.
///
/// Read it with [`RetryInfo::of`], then one accessor per fact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryInfo {
    pub(crate) attempts: u32,
    pub(crate) stopped: Option<StopReason>,
    pub(crate) timeouts: u32,
}

impl RetryInfo {
    /// The retry information of a response, if the layer left any.
    pub fn of<B>(res: &http::Response<B>) -> Option<&RetryInfo> {
        res.extensions().get::<RetryInfo>()
    }

    /// Attempts sent, the first included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Why the layer stopped although the response asked for a retry, if it did.
    pub fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }

    /// How many tries were cancelled on the per-try timeout
    /// ([`RetryLayer::per_try_timeout`](crate::RetryLayer::per_try_timeout)) before this
    /// response arrived.
    pub fn timeouts(&self) -> u32 {
        self.timeouts
    }
}

/// Why the layer returned a response (or error) that asked for a retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// All `max` retries were spent.
    MaxRetries {
        /// The configured maximum.
        max: u32,
    },
    /// The shared retry budget was exhausted.
    Budget,
    /// The wait would have ended past the request's [`Deadline`](recourse_core::Deadline).
    Deadline {
        /// The wait that was not taken.
        wait: Duration,
        /// The time that was left before the deadline.
        remaining: Duration,
    },
    /// The wait would have ended past the layer's total time limit.
    TimeLimit {
        /// The wait that was not taken.
        wait: Duration,
        /// The configured limit.
        limit: Duration,
    },
    /// The request is not idempotent (RFC 9110 §9.2.2), carries no idempotency key and was
    /// not opted in, and it may have reached the server: sending it again could repeat
    /// its effect.
    NotIdempotent,
    /// The request body could not be sent again.
    NotReplayable(NotReplayable),
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::MaxRetries { max } => write!(f, "all {max} retries were spent"),
            StopReason::Budget => f.write_str("the retry budget is exhausted"),
            StopReason::Deadline { wait, remaining } => write!(
                f,
                "waiting {wait:?} would pass the request deadline ({remaining:?} left)"
            ),
            StopReason::TimeLimit { wait, limit } => write!(
                f,
                "waiting {wait:?} would pass the retry time limit of {limit:?}"
            ),
            StopReason::NotIdempotent => f.write_str(
                "the request is not idempotent and carries no idempotency key, so it is not resent",
            ),
            StopReason::NotReplayable(why) => fmt::Display::fmt(why, f),
        }
    }
}

/// A request extension by which the caller declares a request safe to resend although
/// its method is not idempotent (a POST the server deduplicates by other means).
///
/// ```
/// use recourse_retry::Idempotent;
///
/// let mut req = http::Request::post("http://example.com/charge").body(()).unwrap();
/// req.extensions_mut().insert(Idempotent);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Idempotent;
