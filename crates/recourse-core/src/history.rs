//! Extensions that record what the layers did: the attempt number on each request sent,
//! and the history of steps on the final response.
//!
//! Each layer appends its [`Step`]s to the [`History`] of the response it returns, and a
//! layer that discards an intermediate response (a 3xx it followed, a 503 it retried, a
//! 202 it polled) moves that response's history into the next one with
//! [`History::carry`], so the caller sees every step in order.
//!
//! ```
//! use std::time::Duration;
//! use http::{Response, StatusCode};
//! use recourse_core::{History, Step};
//!
//! let mut res = Response::new(());
//! History::record(&mut res, Step::Retried {
//!     attempt: 2,
//!     status: Some(StatusCode::SERVICE_UNAVAILABLE),
//!     waited: Duration::from_secs(1),
//! });
//! let history = History::of(&res).unwrap();
//! assert_eq!(history.retries(), 1);
//! ```

use std::time::Duration;

use http::{StatusCode, Uri};

/// Which attempt of a request this is (1 for the first send), as a request extension.
///
/// The retry layer sets it on every attempt so inner layers, logs and servers' recordings
/// can tell attempts apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attempt(pub u32);

/// Why a request is being sent again, as a request extension: the retry layer puts it on
/// every resend (next to its [`Attempt`]), so the attempt's span can carry the reason and
/// the wait (`recourse.retry.reason`, `recourse.retry.wait_ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Resend {
    /// The status of the response that caused the resend, or `None` after a transport
    /// error or a try that timed out.
    pub status: Option<StatusCode>,
    /// How long the layer waited before resending.
    pub waited: Duration,
}

/// One thing a layer did on the way to the final response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// The retry layer resent the request.
    Retried {
        /// The attempt that was sent (2 for the first retry).
        attempt: u32,
        /// The status of the response that caused it, or `None` after a transport error.
        status: Option<StatusCode>,
        /// How long the layer waited before resending.
        waited: Duration,
    },
    /// The redirect layer followed a 3xx.
    Redirected {
        /// The redirect status (301, 302, 303, 307 or 308).
        status: StatusCode,
        /// The URI that was redirected.
        from: Uri,
        /// The URI that was requested next.
        to: Uri,
    },
    /// The poll layer queried a status resource.
    Polled {
        /// The poll number (1 for the first poll).
        poll: u32,
        /// The status URI.
        uri: Uri,
        /// The status of that poll's response.
        status: StatusCode,
        /// How long the layer waited before polling.
        waited: Duration,
    },
    /// The cache layer revalidated a stored response with a conditional request.
    Revalidated {
        /// The status the origin answered (304 when the stored copy was still valid).
        status: StatusCode,
    },
    /// The retry layer cancelled a try that had no response head within its per-try
    /// timeout (a retry, if any, follows as [`Step::Retried`] with no status).
    TryTimedOut {
        /// The attempt that timed out (1 for the first send).
        attempt: u32,
        /// How long that try was given: the per-try timeout, or less when the request's
        /// deadline came first.
        after: Duration,
    },
}

/// The steps the layers took for one request, in order, as a response extension.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    steps: Vec<Step>,
}

impl History {
    /// The history of a response, if any layer recorded one.
    pub fn of<B>(res: &http::Response<B>) -> Option<&History> {
        res.extensions().get::<History>()
    }

    /// Appends a step to a response's history, creating it if needed.
    pub fn record<B>(res: &mut http::Response<B>, step: Step) {
        match res.extensions_mut().get_mut::<History>() {
            Some(history) => history.steps.push(step),
            None => {
                res.extensions_mut().insert(History { steps: vec![step] });
            }
        }
    }

    /// Moves the history of a discarded response `from` to the front of `to`'s history,
    /// so that steps stay in the order they happened.
    pub fn carry<A, B>(from: &mut http::Response<A>, to: &mut http::Response<B>) {
        let Some(mut earlier) = from.extensions_mut().remove::<History>() else {
            return;
        };
        if let Some(later) = to.extensions_mut().remove::<History>() {
            earlier.steps.extend(later.steps);
        }
        to.extensions_mut().insert(earlier);
    }

    /// Appends a step.
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// The steps, oldest first.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// How many retries were made.
    pub fn retries(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Retried { .. }))
            .count()
    }

    /// How many redirects were followed.
    pub fn redirects(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Redirected { .. }))
            .count()
    }

    /// How many polls were made.
    pub fn polls(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Polled { .. }))
            .count()
    }

    /// How many tries the retry layer cancelled on its per-try timeout.
    pub fn timeouts(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::TryTimedOut { .. }))
            .count()
    }

    /// The total time spent waiting between attempts and polls.
    pub fn waited(&self) -> Duration {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Retried { waited, .. } | Step::Polled { waited, .. } => *waited,
                _ => Duration::ZERO,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_and_carry_keep_order() {
        let mut first = http::Response::new(());
        History::record(
            &mut first,
            Step::Retried {
                attempt: 2,
                status: Some(StatusCode::INTERNAL_SERVER_ERROR),
                waited: Duration::from_millis(100),
            },
        );
        let mut second = http::Response::new(());
        History::record(
            &mut second,
            Step::Polled {
                poll: 1,
                uri: Uri::from_static("http://a/j"),
                status: StatusCode::OK,
                waited: Duration::from_secs(1),
            },
        );
        History::carry(&mut first, &mut second);
        let h = History::of(&second).unwrap();
        assert_eq!(h.steps().len(), 2);
        assert!(matches!(h.steps()[0], Step::Retried { .. }));
        assert!(matches!(h.steps()[1], Step::Polled { .. }));
        assert_eq!(h.retries(), 1);
        assert_eq!(h.polls(), 1);
        assert_eq!(h.redirects(), 0);
        assert_eq!(h.waited(), Duration::from_millis(1100));
        assert_eq!(h.timeouts(), 0);
        assert!(History::of(&first).is_none());
    }

    #[test]
    fn timed_out_tries_are_counted_and_not_waited() {
        let mut res = http::Response::new(());
        History::record(
            &mut res,
            Step::TryTimedOut {
                attempt: 1,
                after: Duration::from_secs(2),
            },
        );
        History::record(
            &mut res,
            Step::Retried {
                attempt: 2,
                status: None,
                waited: Duration::from_millis(100),
            },
        );
        let h = History::of(&res).unwrap();
        assert_eq!((h.timeouts(), h.retries()), (1, 1));
        assert_eq!(h.waited(), Duration::from_millis(100));
    }

    #[test]
    fn carry_without_history_is_a_no_op() {
        let mut a = http::Response::new(());
        let mut b = http::Response::new(());
        History::carry(&mut a, &mut b);
        assert!(History::of(&b).is_none());
    }
}
