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

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Response, StatusCode, Uri};
use recourse_core::{Class, History, Step};

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
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}{}", self.method, self.origin, self.path)?;
        match (self.status, &self.error) {
            (Some(status), _) => write!(f, " -> {status}")?,
            (None, Some(error)) => write!(f, " -> {error}")?,
            (None, None) => {}
        }
        write!(f, " after {} attempt(s)", self.attempts.len())
    }
}

/// Which failures to report and how: the reporter, the classes (by default
/// [`Class::Retryable`]: 500 and 503 once the retries ran out), the request-id header
/// (`x-request-id` by default) and whether the query may appear in the path.
#[derive(Clone)]
pub struct Reporting {
    reporter: Arc<dyn Reporter>,
    classes: u16,
    errors: bool,
    header: HeaderName,
    query: bool,
}

impl fmt::Debug for Reporting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporting")
            .field("classes", &self.classes)
            .field("errors", &self.errors)
            .field("header", &self.header)
            .field("query", &self.query)
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
            header: HeaderName::from_static("x-request-id"),
            query: false,
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

    /// Reports `res` if its class is reported.
    pub(crate) fn response<B>(self, res: &Response<B>) {
        let class = Class::of(res);
        if self.reporting.classes & bit(class) == 0 {
            return;
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
        self.reporting.reporter.report(report);
    }

    /// Reports an error, when errors are reported.
    pub(crate) fn error(self, error: String) {
        if self.reporting.errors {
            let mut report = self.report(None, None, Some(error));
            report.attempts = attempts(None, None);
            self.reporting.reporter.report(report);
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
