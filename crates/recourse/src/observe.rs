//! The outermost span of a logical request and the metrics read from its final answer.

use http::{Request, Response};
use recourse_core::observe::{attr, class_label, metric, outcome, outcome_of, status_label};
use recourse_core::{Class, History, Step};

/// The span and metric state of one logical request, kept by [`DeadlineFuture`](crate::DeadlineFuture).
pub(crate) struct Logical {
    pub(crate) span: tracing::Span,
    in_flight: bool,
}

impl Logical {
    /// Opens the `recourse.request` span (disabled when no subscriber listens) and counts
    /// the request in flight.
    pub(crate) fn start<B>(req: &Request<B>) -> Logical {
        let span = recourse_core::http_client_span!(
            "recourse.request",
            req,
            recourse.cache.status = tracing::field::Empty,
            recourse.redirect.hops = tracing::field::Empty,
            recourse.poll.count = tracing::field::Empty,
        );
        metrics::gauge!(metric::IN_FLIGHT).increment(1.0);
        Logical {
            span,
            in_flight: true,
        }
    }

    /// Records the final response: its span attributes and the counters of what the
    /// layers did (from its [`History`]).
    pub(crate) fn response<B>(&mut self, res: &Response<B>) {
        self.done();
        let class = Class::of(res);
        recourse_core::metric_with!(counter, metric::OUTCOMES, "outcome" => outcome_of(class); ["success", "application_failure", "client_error", "server_error", "transport_error", "deadline", "other"])
            .increment(1);
        let history = History::of(res);
        if let Some(history) = history {
            count_steps(history);
        }
        let cache = cache_status(res);
        if let Some(cache) = cache {
            recourse_core::metric_with!(counter, metric::CACHE, "status" => cache; ["hit", "stale", "revalidated", "miss", "bypass"])
                .increment(1);
        }
        if self.span.is_disabled() {
            return;
        }
        let span = &self.span;
        span.record(attr::HTTP_RESPONSE_STATUS_CODE, res.status().as_u16());
        if res.status().as_u16() >= 400 {
            span.record(attr::ERROR_TYPE, res.status().as_str());
        }
        span.record(attr::CLASS, class_label(class));
        if let Some(cache) = cache {
            span.record(attr::CACHE_STATUS, cache);
        }
        if let Some(history) = history {
            let resends = history.retries() + history.redirects();
            span.record(attr::HTTP_REQUEST_RESEND_COUNT, resends as u64);
            span.record(attr::REDIRECT_HOPS, history.redirects() as u64);
            span.record(attr::POLLS, history.polls() as u64);
        }
    }

    /// Records a failure without a response.
    pub(crate) fn error(&mut self, elapsed: bool) {
        self.done();
        let label = if elapsed {
            outcome::DEADLINE
        } else {
            outcome::TRANSPORT_ERROR
        };
        recourse_core::metric_with!(counter, metric::OUTCOMES, "outcome" => label; ["success", "application_failure", "client_error", "server_error", "transport_error", "deadline", "other"])
            .increment(1);
        if !self.span.is_disabled() {
            let error = if elapsed { "timeout" } else { "_OTHER" };
            self.span.record(attr::ERROR_TYPE, error);
        }
    }

    fn done(&mut self) {
        if std::mem::take(&mut self.in_flight) {
            metrics::gauge!(metric::IN_FLIGHT).decrement(1.0);
        }
    }
}

impl Drop for Logical {
    fn drop(&mut self) {
        // A request dropped before its answer is no longer in flight.
        self.done();
    }
}

/// Counts retries by reason, redirects followed and polls from a final history.
fn count_steps(history: &History) {
    for step in history.steps() {
        match step {
            Step::Retried { status, .. } => {
                let reason = match status {
                    Some(status) => status_label(*status),
                    None => "transport_error",
                };
                recourse_core::metric_with!(counter, metric::RETRIES, "reason" => reason; ["301", "302", "303", "307", "308", "408", "429", "500", "502", "503", "504", "1xx", "2xx", "3xx", "4xx", "5xx", "transport_error"])
                    .increment(1);
            }
            Step::Redirected { status, .. } => {
                recourse_core::metric_with!(counter, metric::REDIRECTS, "status" => status_label(*status); ["301", "302", "303", "307", "308", "408", "429", "500", "502", "503", "504", "1xx", "2xx", "3xx", "4xx", "5xx", "transport_error"])
                    .increment(1);
            }
            Step::Polled { .. } => metrics::counter!(metric::POLLS).increment(1),
            _ => {}
        }
    }
}

/// The RFC 9211 kind of what the cache did, when a cache layer took part.
#[cfg(feature = "cache")]
fn cache_status<B>(res: &Response<B>) -> Option<&'static str> {
    use crate::cache::CacheOutcome;
    Some(match CacheOutcome::of(res)? {
        CacheOutcome::Hit => "hit",
        CacheOutcome::Stale => "stale",
        CacheOutcome::Revalidated => "revalidated",
        CacheOutcome::Miss => "miss",
        _ => "bypass",
    })
}

#[cfg(not(feature = "cache"))]
fn cache_status<B>(_res: &Response<B>) -> Option<&'static str> {
    None
}
