//! The outermost span of a logical request, the metrics read from its final answer, and
//! what a request that ended in an error ended in (its outcome, a breaker's refusal).

use std::any::Any;

use http::{Request, Response};
use recourse_core::sent::{self, Sent};

use crate::report::Refusal;
use recourse_core::observe::{
    attr, class_label, metric, metrics_enabled, outcome, outcome_of, status_label,
};
use recourse_core::{Class, History, Step};

/// The span and metric state of one logical request, kept by [`DeadlineFuture`](crate::DeadlineFuture).
///
/// It costs nothing when nobody listens: the span is disabled when no subscriber wants it
/// (nothing formatted, nothing recorded), and the metrics are touched only when a
/// `metrics` recorder listens ([`metrics_enabled`]), which also spares reading the final
/// response's class, history and cache outcome for them.
pub(crate) struct Logical {
    pub(crate) span: tracing::Span,
    /// The in-flight gauge that counted this request, when a recorder listened as it
    /// started: it goes down in that same gauge, whatever recorder is in effect when the
    /// request ends (installed meanwhile, or another thread's).
    in_flight: Option<metrics::Gauge>,
}

/// The in-flight gauge's key, made once (the `metrics` macros hash a key whose name is
/// not a literal on every call).
static IN_FLIGHT_KEY: metrics::Key = metrics::Key::from_static_name(metric::IN_FLIGHT);
static IN_FLIGHT_METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The in-flight gauge of the recorder in effect.
fn in_flight() -> metrics::Gauge {
    metrics::with_recorder(|recorder| recorder.register_gauge(&IN_FLIGHT_KEY, &IN_FLIGHT_METADATA))
}

impl Logical {
    /// Opens the `recourse.request` span (disabled when no subscriber listens) and counts
    /// the request in flight (when a recorder listens).
    pub(crate) fn start<B>(req: &Request<B>) -> Logical {
        let span = recourse_core::http_client_span!(
            "recourse.request",
            req,
            recourse.cache.status = tracing::field::Empty,
            recourse.redirect.hops = tracing::field::Empty,
            recourse.poll.count = tracing::field::Empty,
        );
        let in_flight = metrics_enabled().then(|| {
            let gauge = in_flight();
            gauge.increment(1.0);
            gauge
        });
        Logical { span, in_flight }
    }

    /// Enters the span for the rest of the caller's scope, when it is enabled (a disabled
    /// span is not entered: there is nothing to enter).
    pub(crate) fn enter(&self) -> Option<tracing::span::EnteredSpan> {
        (!self.span.is_disabled()).then(|| self.span.clone().entered())
    }

    /// Records the final response: its span attributes and the counters of what the
    /// layers did (from its [`History`]).
    pub(crate) fn response<B>(&mut self, res: &Response<B>) {
        self.done();
        let metrics = metrics_enabled();
        if !metrics && self.span.is_disabled() {
            return;
        }
        let class = Class::of(res);
        let history = History::of(res);
        let cache = cache_status(res);
        if metrics {
            recourse_core::metric_with!(counter, metric::OUTCOMES, "outcome" => outcome_of(class); ["success", "application_failure", "client_error", "server_error", "transport_error", "deadline", "refused", "not_followed", "poll_error", "other"])
                .increment(1);
            if let Some(history) = history {
                count_steps(history);
            }
            if let Some(cache) = cache {
                recourse_core::metric_with!(counter, metric::CACHE, "status" => cache; ["hit", "stale", "revalidated", "miss", "bypass"])
                    .increment(1);
            }
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

    /// Records a failure without a response: its `outcome` (see [`failure`]; `deadline`
    /// when the deadline passed) in the counter and as the span's `error.type` (`timeout`
    /// for the deadline, as OpenTelemetry names it).
    pub(crate) fn error(&mut self, outcome: &'static str) {
        self.done();
        if metrics_enabled() {
            recourse_core::metric_with!(counter, metric::OUTCOMES, "outcome" => outcome; ["success", "application_failure", "client_error", "server_error", "transport_error", "deadline", "refused", "not_followed", "poll_error", "other"])
                .increment(1);
        }
        if !self.span.is_disabled() {
            let error = if outcome == outcome::DEADLINE {
                "timeout"
            } else {
                outcome
            };
            self.span.record(attr::ERROR_TYPE, error);
        }
    }

    fn done(&mut self) {
        if let Some(gauge) = self.in_flight.take() {
            gauge.decrement(1.0);
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
    crate::cache::CacheOutcome::of(res).map(crate::cache::CacheOutcome::as_str)
}

#[cfg(not(feature = "cache"))]
fn cache_status<B>(_res: &Response<B>) -> Option<&'static str> {
    None
}

/// What a request that ended in an error ended in.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The `outcome` label: `refused`, `not_followed`, `poll_error`, `deadline` or
    /// `transport_error`.
    pub(crate) outcome: &'static str,
    /// The breaker's refusal, when that is what it was and its type could be read.
    pub(crate) refusal: Option<Refusal>,
}

/// Names the failure `error` stands for, looking through the errors the layers wrap with
/// [`recourse_core::sent`] (the mechanism the retry layer uses to find a refusal): a
/// registered error hands over the error it wraps, a refusal says it was not sent
/// ([`Sent::No`], [`Sent::Refused`] with the reason and reopening time: `refused`), and the poll and redirect layers hand over their own reasons
/// as public types, named here. A boxed error (`Box<dyn Error>`, as a stack that boxes
/// its errors holds) is read down its `source()` chain with the same table
/// ([`own_reason`]). Anything else is a `transport_error`.
pub(crate) fn failure<E: 'static>(error: &E) -> Failure {
    let mut current: &(dyn Any + 'static) = error;
    // Layers wrap errors a few deep at most; the bound guards a pathological chain.
    for _ in 0..16 {
        if let Some(failure) = own_reason(current) {
            return failure;
        }
        if let Some(boxed) = boxed(current) {
            return failure_in_chain(boxed);
        }
        match sent::verdict(current) {
            Sent::No => {
                return Failure {
                    outcome: outcome::REFUSED,
                    refusal: None,
                };
            }
            // The refusing layer hands over why (the breaker's `Overloaded` or
            // `CircuitOpen`), named by the same table as everything else.
            Sent::Refused(why) => {
                return own_reason(why).unwrap_or(Failure {
                    outcome: outcome::REFUSED,
                    refusal: None,
                });
            }
            Sent::Inner(inner) => current = inner,
            Sent::Unknown => break,
        }
    }
    Failure {
        outcome: outcome::TRANSPORT_ERROR,
        refusal: None,
    }
}

/// The error a boxed error holds, if `error` is one.
fn boxed<'a>(error: &'a (dyn Any + 'static)) -> Option<&'a (dyn std::error::Error + 'static)> {
    use std::error::Error;
    if let Some(e) = error.downcast_ref::<Box<dyn Error + Send + Sync>>() {
        return Some(&**e);
    }
    if let Some(e) = error.downcast_ref::<Box<dyn Error + Send>>() {
        return Some(&**e);
    }
    error.downcast_ref::<Box<dyn Error>>().map(|e| &**e)
}

/// Names the failure a boxed error stands for: the first error of its `source()` chain
/// that [`own_reason`] names, else a `transport_error`.
fn failure_in_chain(error: &(dyn std::error::Error + 'static)) -> Failure {
    let mut next = Some(error);
    // The same bound as the typed walk.
    for _ in 0..16 {
        let Some(error) = next else { break };
        if let Some(failure) = own_reason(error) {
            return failure;
        }
        next = error.source();
    }
    Failure {
        outcome: outcome::TRANSPORT_ERROR,
        refusal: None,
    }
}

/// An error seen either as `dyn Any` (a typed error) or as `dyn Error` (a link of a boxed
/// error's chain), so that [`own_reason`] is one table for both.
trait Look {
    fn get<T: std::error::Error + 'static>(&self) -> Option<&T>;
}

impl Look for dyn Any {
    fn get<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.downcast_ref()
    }
}

impl Look for dyn std::error::Error {
    fn get<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.downcast_ref()
    }
}

/// The failure the layers' own public error types stand for: the poll and redirect
/// layers' reasons, the deadline, the breaker's refusals, a request body over its limit
/// (`client_error`: the request's fault, RFC 9110 §15.5.14).
fn own_reason<L: Look + ?Sized>(error: &L) -> Option<Failure> {
    use recourse_core::headers::LocationError;
    use recourse_core::origin::Downgrade;
    let named = |outcome| {
        Some(Failure {
            outcome,
            refusal: None,
        })
    };
    #[cfg(feature = "poll")]
    {
        use crate::poll::{PollTimeout, ProtocolViolation, TimeoutReason};
        if let Some(timeout) = error.get::<PollTimeout>() {
            return named(match timeout.reason() {
                TimeoutReason::Deadline => outcome::DEADLINE,
                _ => outcome::POLL_ERROR,
            });
        }
        if error.get::<ProtocolViolation>().is_some() {
            return named(outcome::POLL_ERROR);
        }
    }
    #[cfg(feature = "redirect")]
    {
        use crate::redirect::{DeadlineExpired, RedirectLoop, TooManyRedirects};
        if error.get::<DeadlineExpired>().is_some() {
            return named(outcome::DEADLINE);
        }
        if error.get::<TooManyRedirects>().is_some() || error.get::<RedirectLoop>().is_some() {
            return named(outcome::NOT_FOLLOWED);
        }
    }
    #[cfg(feature = "breaker")]
    {
        if let Some(o) = error.get::<crate::breaker::Overloaded>() {
            return Some(breaker_refusals::overloaded(o));
        }
        if let Some(open) = error.get::<crate::breaker::CircuitOpen>() {
            return Some(breaker_refusals::circuit_open(open));
        }
    }
    if error.get::<Downgrade>().is_some() || error.get::<LocationError>().is_some() {
        return named(outcome::NOT_FOLLOWED);
    }
    if error
        .get::<crate::DeadlineError<std::convert::Infallible>>()
        .is_some()
    {
        return named(outcome::DEADLINE);
    }
    if error.get::<http_body_util::LengthLimitError>().is_some() {
        return named(outcome::CLIENT_ERROR);
    }
    None
}

#[cfg(feature = "breaker")]
mod breaker_refusals {
    use crate::breaker::{CircuitOpen, Overloaded};
    use crate::observe::Failure;
    use crate::report::Refusal;
    use recourse_core::observe::outcome;

    /// A request held back by an origin's `Retry-After`.
    pub(super) fn overloaded(o: &Overloaded) -> Failure {
        Failure {
            outcome: outcome::REFUSED,
            refusal: Some(Refusal {
                reason: "overloaded",
                origin: o.origin().to_owned(),
                until: Some(o.until()),
            }),
        }
    }

    /// A request refused by an origin's open circuit.
    pub(super) fn circuit_open(open: &CircuitOpen) -> Failure {
        Failure {
            outcome: outcome::REFUSED,
            refusal: Some(Refusal {
                reason: "circuit_open",
                origin: open.origin().to_owned(),
                until: open.until(),
            }),
        }
    }
}

#[cfg(all(test, feature = "breaker"))]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use bytes::Bytes;
    use http::{Request, Response, StatusCode};
    use http_body_util::Empty;
    use tower::{Layer, ServiceExt};

    use crate::SetDeadlineLayer;
    use crate::breaker::BreakerLayer;
    use crate::report::{Report, Reporting};

    /// An error type no other test uses, so that no earlier request registered how to
    /// read a `BreakerError<Unique>`.
    #[derive(Debug)]
    struct Unique;

    fn get(uri: &str) -> Request<()> {
        let mut req = Request::new(());
        *req.uri_mut() = uri.parse().unwrap();
        req
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_stack_reads_its_first_request_refused() {
        let breaker = BreakerLayer::new().wait(false);
        // Another stack, sharing the breaker, is told to come back in 20 s.
        let busy = tower::service_fn(|_req: Request<()>| async {
            let res = Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header("retry-after", "20")
                .body(Empty::<Bytes>::new())
                .unwrap();
            Ok::<_, std::convert::Infallible>(res)
        });
        let res = breaker
            .layer(busy)
            .oneshot(get("http://origin.test/a"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

        // A fresh stack whose inner error type no request has seen: its first request
        // is refused without reaching the service below the breaker.
        let reports = Arc::new(Mutex::new(Vec::<Report>::new()));
        let sink = reports.clone();
        let never = tower::service_fn(|_req: Request<()>| async {
            Err::<Response<Empty<Bytes>>, _>(Unique)
        });
        let stack = SetDeadlineLayer::new(Duration::from_secs(5))
            .report(Reporting::new(move |r: Report| {
                sink.lock().unwrap().push(r)
            }))
            .layer(breaker.layer(never));
        let err = stack
            .oneshot(get("http://origin.test/b"))
            .await
            .unwrap_err();
        let failure = super::failure(err.inner().expect("the breaker's error"));
        assert_eq!(failure.outcome, "refused");
        let refusal = failure.refusal.expect("the refusal is read");
        assert_eq!(refusal.reason, "overloaded");
        assert_eq!(refusal.origin, "http://origin.test:80");
        assert_eq!(refusal.retry_after(), Some(Duration::from_secs(20)));
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].refusal.as_ref(), Some(&refusal));
    }
}
