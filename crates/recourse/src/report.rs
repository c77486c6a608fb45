//! The report the response-code table asks for: "resubmit the request later. Report the
//! issue" (500), "... Report the outage" (503). A [`Reporter`] is called once for every
//! request whose final answer is a failure of a class it reports, after the retries ran
//! out, with a [`Report`] of what happened.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::sync::{Arc, Mutex};
//! use recourse::report::{Report, Reporting};
//! use recourse::{ClientStackLayer, retry::RetryLayer};
//! use tower::{Layer, ServiceExt};
//!
//! let seen = Arc::new(Mutex::new(Vec::<Report>::new()));
//! let sink = seen.clone();
//! let layer = ClientStackLayer::new()
//!     .retry(RetryLayer::new().max_retries(1))
//!     .report(Reporting::new(move |report: Report| sink.lock().unwrap().push(report)));
//! let origin = tower::service_fn(|_req: http::Request<_>| async {
//!     let res = http::Response::builder().status(503).body(http_body_util::Full::<bytes::Bytes>::default());
//!     Ok::<_, std::convert::Infallible>(res.unwrap())
//! });
//! let client = layer.layer(origin);
//! let req = http::Request::get("http://api.test/v1/codes?secret=1")
//!     .body(http_body_util::Full::<bytes::Bytes>::default())
//!     .unwrap();
//! let res = client.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 503);
//! let seen = seen.lock().unwrap();
//! assert_eq!(seen.len(), 1);
//! assert_eq!(seen[0].path, "/v1/codes"); // no query
//! assert_eq!(seen[0].attempts.len(), 2);
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Response, StatusCode, Uri};
use recourse_core::{Class, History, Step};
use tokio::time::Instant;

use crate::observe::Failure;

/// The default of [`Reporting::excerpt`]: the first KiB of a reported response's body.
pub const DEFAULT_EXCERPT: usize = 1024;

/// The default of [`Reporting::excerpt_wait`]: 250 ms.
///
/// An error body is usually written with the head or right behind it: a quarter of a
/// second lets it arrive from a server that flushes the head first, even an
/// intercontinental round trip (about 150 ms) away, while a body that trickles or stalls
/// holds back a failure the caller is waiting for by a quarter of a second at most, not
/// up to the request's deadline.
pub const DEFAULT_EXCERPT_WAIT: Duration = Duration::from_millis(250);

/// Receives the [`Report`] of each request whose final answer is a failure to report.
///
/// Closures `Fn(Report)` implement it. It is called on the task that awaited the request,
/// once the answer is known; hand slow work (a webhook) to another task, through a
/// channel.
pub trait Reporter: Send + Sync + 'static {
    /// Reports one request.
    fn report(&self, report: Report);
}

impl<F: Fn(Report) + Send + Sync + 'static> Reporter for F {
    fn report(&self, report: Report) {
        self(report)
    }
}

/// The default reporter: one structured `warn` event (target `recourse`) per report.
#[derive(Clone, Copy, Debug, Default)]
pub struct WarnReporter;

impl Reporter for WarnReporter {
    fn report(&self, report: Report) {
        tracing::warn!(
            target: "recourse",
            request_id = %report.request_id,
            http.request.method = %report.method,
            origin = %report.origin,
            path = %report.path,
            http.response.status_code = report.status.map(|s| s.as_u16()),
            attempts = report.attempts.len(),
            recourse.body_code = report.body_code,
            error = report.error.as_deref(),
            refusal = report.refusal.as_ref().map(|r| r.reason),
            retry_after_ms = report
                .refusal
                .as_ref()
                .and_then(Refusal::retry_after)
                .map(|d| d.as_millis() as u64),
            body = report.excerpt_text().as_deref(),
            "request failed: {}",
            report
        );
    }
}

/// One request on the wire, as the report lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReportAttempt {
    /// The attempt number (1 for the first send).
    pub attempt: u32,
    /// The status it got, or `None` for a transport error or a timed-out try.
    pub status: Option<StatusCode>,
    /// How long the stack waited before sending it.
    pub waited: Duration,
    /// Why another attempt followed (the status that caused the retry, or
    /// `transport_error`), `None` for the last.
    pub next: Option<&'static str>,
}

/// A request the breaker refused: it was never sent (RFC 9110 §15.6.4: the origin asked
/// for no requests until its `Retry-After`, or its circuit is open).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// Why: `overloaded` (a `Retry-After` not yet passed) or `circuit_open`, the label of
    /// `recourse.breaker.refusals`.
    pub reason: &'static str,
    /// The origin, as `scheme://host:port`.
    pub origin: String,
    /// When the origin takes requests again (the gate opens, the break ends); `None`
    /// while the circuit is half-open and its probes decide.
    pub until: Option<Instant>,
}

impl Refusal {
    /// How long from now until the origin takes requests again, if known (zero once
    /// passed).
    pub fn retry_after(&self) -> Option<Duration> {
        self.until
            .map(|until| until.saturating_duration_since(Instant::now()))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused by the breaker ({}) for {}",
            self.reason, self.origin
        )?;
        if let Some(wait) = self.retry_after() {
            write!(f, ", reopening in {wait:?}")?;
        }
        f.write_str("; not sent")
    }
}

/// What happened to a request that failed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// The request id: the configured header's value, else one made up for the report.
    pub request_id: String,
    /// The request method.
    pub method: Method,
    /// `scheme://host[:port]`, never the credentials.
    pub origin: String,
    /// The path, with the query only when [`Reporting::with_query`] allows it.
    pub path: String,
    /// Each retry attempt, oldest first (from the response's [`History`]).
    pub attempts: Vec<ReportAttempt>,
    /// The final status, `None` when the request ended in an error.
    pub status: Option<StatusCode>,
    /// The final verdict.
    pub class: Option<Class>,
    /// The body's code, when classify read one.
    pub body_code: Option<i64>,
    /// The body's message, when classify read one.
    pub message: Option<String>,
    /// The body's `Errors` block, when classify read one.
    #[cfg(feature = "classify")]
    pub errors: Option<crate::classify::Errors>,
    /// The error, for a request that got no response.
    pub error: Option<String>,
    /// The breaker's refusal, for a request that was never sent (no attempt on the wire).
    pub refusal: Option<Refusal>,
    /// The first bytes of the final response's body (at most [`Reporting::excerpt`]),
    /// read without taking them from the caller; `None` for an error or when off.
    pub excerpt: Option<Bytes>,
}

impl Report {
    /// [`excerpt`](Self::excerpt) as text (invalid UTF-8 replaced by `U+FFFD`).
    pub fn excerpt_text(&self) -> Option<Cow<'_, str>> {
        self.excerpt
            .as_ref()
            .map(|bytes| String::from_utf8_lossy(bytes))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}{}", self.method, self.origin, self.path)?;
        match (self.status, &self.error) {
            (Some(status), _) => write!(f, " -> {status}")?,
            (None, _) if self.refusal.is_some() => {
                if let Some(refusal) = &self.refusal {
                    write!(f, " -> {refusal}")?;
                }
            }
            (None, Some(error)) => write!(f, " -> {error}")?,
            (None, None) => {}
        }
        write!(f, " after {} attempt(s)", self.attempts.len())?;
        if let Some(body) = self.excerpt_text()
            && !body.is_empty()
        {
            write!(f, ": {body:?}")?;
        }
        Ok(())
    }
}

/// Which failures to report and how: the reporter, the classes (by default
/// [`Class::Retryable`]: 500 and 503 once the retries ran out), the breaker's refusals (on
/// by default), the request-id header (`x-request-id` by default), whether the query may
/// appear in the path, how much of a reported body to keep ([`DEFAULT_EXCERPT`]) and how
/// long to wait for it ([`DEFAULT_EXCERPT_WAIT`]).
#[derive(Clone)]
pub struct Reporting {
    reporter: Arc<dyn Reporter>,
    classes: u16,
    errors: bool,
    refusals: bool,
    header: HeaderName,
    query: bool,
    excerpt: usize,
    excerpt_wait: Duration,
}

impl fmt::Debug for Reporting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporting")
            .field("classes", &self.classes)
            .field("errors", &self.errors)
            .field("refusals", &self.refusals)
            .field("header", &self.header)
            .field("query", &self.query)
            .field("excerpt", &self.excerpt)
            .field("excerpt_wait", &self.excerpt_wait)
            .finish_non_exhaustive()
    }
}

const fn bit(class: Class) -> u16 {
    1 << match class {
        Class::Informational => 0,
        Class::Success => 1,
        Class::ApplicationFailure => 2,
        Class::Pending => 3,
        Class::Redirect => 4,
        Class::NotModified => 5,
        Class::ClientError => 6,
        Class::Retryable => 7,
        Class::ServerError => 8,
        _ => 9,
    }
}

impl Reporting {
    /// Reports final answers of class [`Class::Retryable`] (500 and 503 after the retries
    /// ran out) to `reporter`.
    pub fn new(reporter: impl Reporter) -> Self {
        Reporting {
            reporter: Arc::new(reporter),
            classes: bit(Class::Retryable),
            errors: false,
            refusals: true,
            header: HeaderName::from_static("x-request-id"),
            query: false,
            excerpt: DEFAULT_EXCERPT,
            excerpt_wait: DEFAULT_EXCERPT_WAIT,
        }
    }

    /// Also reports final answers of `class` (for example [`Class::ServerError`]).
    pub fn class(mut self, class: Class) -> Self {
        self.classes |= bit(class);
        self
    }

    /// Also reports requests that ended in an error (no response, or the deadline).
    pub fn errors(mut self, errors: bool) -> Self {
        self.errors = errors;
        self
    }

    /// Whether to report the requests an open breaker refused (on by default: the origin
    /// is down or asked for no requests, the report the table asks for on a 503).
    pub fn refusals(mut self, refusals: bool) -> Self {
        self.refusals = refusals;
        self
    }

    /// Keeps at most `limit` bytes of the body of each reported response in
    /// [`Report::excerpt`] ([`DEFAULT_EXCERPT`] by default; 0: none, and the report is
    /// sent as soon as the head arrives).
    ///
    /// They are read ahead before the response is handed back, until `limit` bytes came,
    /// the body ended, or [`excerpt_wait`](Self::excerpt_wait) passed (never past the
    /// request's deadline), whichever is first; the report then holds what came. The
    /// caller still reads the whole body, byte for byte, in the frames the server sent;
    /// responses that are not reported are never read ahead.
    ///
    /// The report is sent exactly once: when the response is handed back, or, if the
    /// caller drops the request's future while the excerpt is being read (its own timeout,
    /// a `select!`), then, with what was read so far.
    pub fn excerpt(mut self, limit: usize) -> Self {
        self.excerpt = limit;
        self
    }

    /// Holds a reported response back at most `wait` while its [`excerpt`](Self::excerpt)
    /// is read ([`DEFAULT_EXCERPT_WAIT`] by default), and never past the request's
    /// deadline: a failure whose body trickles or stalls reaches the caller `wait` after
    /// its head at the latest, and its report keeps the bytes that came by then (none,
    /// with [`Duration::ZERO`], unless they were already there). The caller still reads
    /// the rest of the body as it arrives.
    pub fn excerpt_wait(mut self, wait: Duration) -> Self {
        self.excerpt_wait = wait;
        self
    }

    /// How many bytes of a reported body to keep.
    pub(crate) fn excerpt_limit(&self) -> usize {
        self.excerpt
    }

    /// How long to hold a reported response back for its excerpt.
    pub(crate) fn excerpt_wait_limit(&self) -> Duration {
        self.excerpt_wait
    }

    /// Hands `report` to the reporter.
    pub(crate) fn send(&self, report: Report) {
        self.reporter.report(report);
    }

    /// The request header whose value is the request id.
    pub fn request_id_header(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Whether the report's path may carry the query (off by default: queries carry
    /// tokens and personal data).
    pub fn with_query(mut self, query: bool) -> Self {
        self.query = query;
        self
    }
}

/// What a report needs from the request, kept from the call to the answer (only when a
/// reporter is installed).
pub(crate) struct Pending {
    reporting: Reporting,
    method: Method,
    uri: Uri,
    request_id: Option<HeaderValue>,
}

impl Pending {
    pub(crate) fn new<B>(reporting: &Reporting, req: &http::Request<B>) -> Pending {
        Pending {
            reporting: reporting.clone(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            request_id: req.headers().get(&reporting.header).cloned(),
        }
    }

    /// The report of `res` if its class is reported (its excerpt not yet read).
    pub(crate) fn response<B>(self, res: &Response<B>) -> Option<(Reporting, Report)> {
        let class = Class::of(res);
        if self.reporting.classes & bit(class) == 0 {
            return None;
        }
        let mut report = self.report(Some(res.status()), Some(class), None);
        report.attempts = attempts(History::of(res), Some(res.status()));
        #[cfg(feature = "classify")]
        {
            use crate::classify::Outcome;
            let outcome = Outcome::of(res);
            report.errors = outcome.errors().cloned();
            if let Outcome::ApplicationFailure { code, message } = outcome {
                report.body_code = Some(code);
                report.message = message;
            }
        }
        Some((self.reporting, report))
    }

    /// Reports an error: a breaker's refusal (when refusals are reported), any other when
    /// errors are reported. `error` names it (the deadline's message, else the type).
    pub(crate) fn error(self, failure: Failure, error: impl FnOnce() -> String) {
        let reporting = &self.reporting;
        if failure.outcome == recourse_core::observe::outcome::REFUSED {
            if reporting.refusals || reporting.errors {
                let text = failure.refusal.as_ref().map_or_else(
                    || "refused before it was sent".to_owned(),
                    Refusal::to_string,
                );
                // Never sent: no attempt on the wire.
                let mut report = self.report(None, None, Some(text));
                report.refusal = failure.refusal;
                self.reporting.send(report);
            }
        } else if self.reporting.errors {
            let mut report = self.report(None, None, Some(error()));
            report.attempts = attempts(None, None);
            self.reporting.send(report);
        }
    }

    fn report(
        &self,
        status: Option<StatusCode>,
        class: Option<Class>,
        error: Option<String>,
    ) -> Report {
        let origin = match (self.uri.scheme_str(), self.uri.host()) {
            (Some(scheme), Some(host)) => match self.uri.port_u16() {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            },
            _ => String::new(),
        };
        let path = match self.uri.query() {
            Some(query) if self.reporting.query => format!("{}?{query}", self.uri.path()),
            _ => self.uri.path().to_owned(),
        };
        let request_id = match self.request_id.as_ref().and_then(|v| v.to_str().ok()) {
            Some(id) => id.to_owned(),
            None => format!("{:016x}", fastrand::u64(..)),
        };
        Report {
            request_id,
            method: self.method.clone(),
            origin,
            path,
            attempts: Vec::new(),
            status,
            class,
            body_code: None,
            message: None,
            #[cfg(feature = "classify")]
            errors: None,
            error,
            refusal: None,
            excerpt: None,
        }
    }
}

/// The attempts of a request from its history: each retry says the status of the attempt
/// before it and how long the stack waited.
fn attempts(history: Option<&History>, last: Option<StatusCode>) -> Vec<ReportAttempt> {
    let mut out = vec![ReportAttempt {
        attempt: 1,
        status: last,
        waited: Duration::ZERO,
        next: None,
    }];
    let Some(history) = history else {
        return out;
    };
    for step in history.steps() {
        if let Step::Retried {
            attempt,
            status,
            waited,
        } = step
        {
            if let Some(previous) = out.last_mut() {
                previous.status = *status;
                previous.next =
                    Some(status.map_or("transport_error", recourse_core::observe::status_label));
            }
            out.push(ReportAttempt {
                attempt: *attempt,
                status: last,
                waited: *waited,
                next: None,
            });
        }
    }
    out
}
