//! The names every layer uses to say what happened: span and attribute names after the
//! OpenTelemetry HTTP client semantic conventions, Recourse's own `recourse.*` attributes,
//! the metric names with their units and labels, and a `url.full` that carries no
//! credentials and, by default, no query.
//!
//! The layers emit `tracing` spans and `metrics` through these names; nothing here
//! allocates or depends on a subscriber or a recorder.
//!
//! ```
//! use http::Uri;
//! use recourse_core::Class;
//! use recourse_core::observe::{self, UrlFull};
//!
//! let uri: Uri = "https://user:secret@api.example:8443/v1/items?token=abc".parse().unwrap();
//! assert_eq!(UrlFull::new(&uri).to_string(), "https://api.example:8443/v1/items");
//! assert_eq!(UrlFull::new(&uri).with_query(true).to_string(), "https://api.example:8443/v1/items?token=abc");
//! assert_eq!(observe::server_port(&uri), Some(8443));
//! assert_eq!(observe::class_label(Class::Retryable), "retryable");
//! ```

use std::fmt;

use http::Uri;

use crate::Class;

pub use crate::listen::{Stopwatch, metrics_enabled};

/// The name of the span of one logical request (outermost layer).
pub const REQUEST_SPAN: &str = "recourse.request";
/// The name of the span of one attempt on the wire (each retry, redirect hop, poll and
/// revalidation).
pub const ATTEMPT_SPAN: &str = "recourse.attempt";

/// Span attribute names: the OpenTelemetry HTTP client semantic conventions, then
/// Recourse's own under `recourse.`.
pub mod attr {
    /// `http.request.method`: `GET`, `POST`, ...
    pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
    /// `url.full`: scheme, host, port and path; no credentials, no query unless allowed.
    pub const URL_FULL: &str = "url.full";
    /// `server.address`: the host of the request URI.
    pub const SERVER_ADDRESS: &str = "server.address";
    /// `server.port`: the port of the request URI, or the scheme's default.
    pub const SERVER_PORT: &str = "server.port";
    /// `http.response.status_code`.
    pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
    /// `http.request.resend_count`: how many times the request was sent before this one
    /// (retries, redirect hops).
    pub const HTTP_REQUEST_RESEND_COUNT: &str = "http.request.resend_count";
    /// `error.type`: a low-cardinality name of the failure (`timeout`, `_OTHER`, ...).
    pub const ERROR_TYPE: &str = "error.type";
    /// `recourse.class`: the verdict's [`Class`](crate::Class), as [`class_label`](super::class_label).
    pub const CLASS: &str = "recourse.class";
    /// `recourse.body_code`: the code a classifier read in the body.
    pub const BODY_CODE: &str = "recourse.body_code";
    /// `recourse.cache.status`: what the cache did, as an RFC 9211 `Cache-Status` kind.
    pub const CACHE_STATUS: &str = "recourse.cache.status";
    /// `recourse.redirect.hops`: how many redirects were followed.
    pub const REDIRECT_HOPS: &str = "recourse.redirect.hops";
    /// `recourse.poll.count`: how many polls were made.
    pub const POLLS: &str = "recourse.poll.count";
    /// `recourse.retry.reason`: why the request was resent (the status that caused it, or `transport_error`).
    pub const RETRY_REASON: &str = "recourse.retry.reason";
    /// `recourse.retry.wait_ms`: how long the layer waited before resending.
    pub const RETRY_WAIT_MS: &str = "recourse.retry.wait_ms";
}

/// Metric names. Units and labels are in the table of `docs/OBSERVE.md`; every label
/// value is one of a fixed set (never a URL or an id).
pub mod metric {
    /// Histogram, seconds: the duration of each attempt on the wire (OpenTelemetry's
    /// `http.client.request.duration`). Labels: `http.request.method` (the nine standard
    /// methods, else `_OTHER`), `recourse.class`.
    pub const REQUEST_DURATION: &str = "http.client.request.duration";
    /// Counter: logical requests by final outcome. Label: `outcome` (see
    /// [`outcome`](super::outcome)).
    pub const OUTCOMES: &str = "recourse.requests";
    /// Counter: resends by reason. Label: `reason` (the status that caused it, `500`,
    /// `503`, ..., or `transport_error`).
    pub const RETRIES: &str = "recourse.retries";
    /// Counter: failures the retry layer gave up on, by why it did not resend. Label:
    /// `reason` (`max_retries`, `budget`, `deadline`, `time_limit`, `not_idempotent`,
    /// `not_replayable`).
    pub const RETRIES_REFUSED: &str = "recourse.retries.refused";
    /// Counter: redirects followed. Label: `status` (301, 302, 303, 307, 308).
    pub const REDIRECTS: &str = "recourse.redirects";
    /// Counter: redirects not followed, by reason. Label: `reason` (`too_many`,
    /// `downgrade`, `policy`, `loop`, `missing_location`, `conflicting_locations`,
    /// `invalid_location`, `credentials_in_location`, `not_replayable`, `cross_origin`,
    /// `stopped`).
    pub const REDIRECTS_REFUSED: &str = "recourse.redirects.refused";
    /// Counter: requests the breaker refused without sending them. Label: `reason`
    /// (`overloaded`: held back by a `Retry-After`; `circuit_open`).
    pub const BREAKER_REFUSALS: &str = "recourse.breaker.refusals";
    /// Counter: status polls made.
    pub const POLLS: &str = "recourse.polls";
    /// Counter: what the cache did, by RFC 9211 `Cache-Status` kind. Label: `status`
    /// (`hit`, `stale`, `revalidated`, `miss`, `bypass`).
    pub const CACHE: &str = "recourse.cache.results";
    /// Gauge: logical requests in flight.
    pub const IN_FLIGHT: &str = "recourse.requests.in_flight";
    /// Counter: poll jobs by how they ended, once per job (a 202 polled to its end, or a
    /// 201 whose resource was fetched). Label: `outcome` (see
    /// [`poll_outcome`](super::poll_outcome)).
    pub const POLL_OUTCOMES: &str = "recourse.poll.outcomes";
}

/// The label values of the `outcome` label of [`metric::POLL_OUTCOMES`].
pub mod poll_outcome {
    /// The job succeeded; its result (or the final status response) was handed back.
    pub const SUCCEEDED: &str = "succeeded";
    /// The job failed or was canceled: the failed status response was handed back.
    pub const FAILED: &str = "failed";
    /// Polling stopped on the layer's time limit.
    pub const TIME_LIMIT: &str = "time_limit";
    /// Polling stopped on the layer's maximum number of polls.
    pub const MAX_POLLS: &str = "max_polls";
    /// Polling stopped on the request's deadline.
    pub const DEADLINE: &str = "deadline";
    /// A status response broke the configured status field's protocol.
    pub const PROTOCOL_VIOLATION: &str = "protocol_violation";
    /// A status or result URL could not be followed (unreadable, or `https` to `http`).
    pub const LOCATION: &str = "location";
    /// The inner service failed (a transport error, a refusal) on a poll or a fetch.
    pub const ERROR: &str = "error";
}

/// The label values of the `outcome` label of [`metric::OUTCOMES`].
pub mod outcome {
    /// The final answer was a success (2xx, 304, or what a classifier maps to success).
    pub const SUCCESS: &str = "success";
    /// A response whose body reports an application-level failure.
    pub const APPLICATION_FAILURE: &str = "application_failure";
    /// A 4xx.
    pub const CLIENT_ERROR: &str = "client_error";
    /// A 5xx (retryable or not) as the final answer.
    pub const SERVER_ERROR: &str = "server_error";
    /// No response: a transport error (or an error no layer names).
    pub const TRANSPORT_ERROR: &str = "transport_error";
    /// The request's deadline passed.
    pub const DEADLINE: &str = "deadline";
    /// A layer refused to send the request (the breaker: a `Retry-After` not yet passed,
    /// an open circuit).
    pub const REFUSED: &str = "refused";
    /// A redirect or a status URL the stack would not follow: too many redirects, a loop,
    /// a move from `https` to `http`, a `Location` or status URL that cannot be used.
    pub const NOT_FOLLOWED: &str = "not_followed";
    /// Polling stopped without a result: the layer's time limit or maximum number of
    /// polls, or a status response that broke the status field's protocol.
    pub const POLL_ERROR: &str = "poll_error";
    /// Anything else (1xx, 3xx or 202 handed back to the caller).
    pub const OTHER: &str = "other";
}

/// The `outcome` label of a final response's [`Class`].
pub const fn outcome_of(class: Class) -> &'static str {
    match class {
        Class::Success | Class::NotModified => outcome::SUCCESS,
        Class::ApplicationFailure => outcome::APPLICATION_FAILURE,
        Class::ClientError => outcome::CLIENT_ERROR,
        Class::Retryable | Class::ServerError => outcome::SERVER_ERROR,
        Class::Informational | Class::Pending | Class::Redirect => outcome::OTHER,
    }
}

/// The span attribute and metric label of a [`Class`]: `success`, `retryable`, ...
pub const fn class_label(class: Class) -> &'static str {
    match class {
        Class::Informational => "informational",
        Class::Success => "success",
        Class::ApplicationFailure => "application_failure",
        Class::Pending => "pending",
        Class::Redirect => "redirect",
        Class::NotModified => "not_modified",
        Class::ClientError => "client_error",
        Class::Retryable => "retryable",
        Class::ServerError => "server_error",
    }
}

/// A bounded label for a method: one of the nine standard methods, else `_OTHER` (as the
/// OpenTelemetry conventions ask, so that a label never carries an arbitrary string).
pub fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::CONNECT => "CONNECT",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::TRACE => "TRACE",
        http::Method::PATCH => "PATCH",
        _ => "_OTHER",
    }
}

/// Records one attempt on the wire in the `http.client.request.duration` histogram
/// ([`metric::REQUEST_DURATION`]), labelled with its method (a [`method_label`]) and its
/// class (a [`class_label`], or `none` when no response came back). The key is a
/// `static` (label values outside the lists become `_OTHER`): nothing is allocated or
/// hashed per call. Every layer and the proxy that times attempts records them here.
pub fn record_attempt_duration(
    method: &'static str,
    class: &'static str,
    elapsed: std::time::Duration,
) {
    crate::metric_with!(
        histogram,
        metric::REQUEST_DURATION,
        "http.request.method" => method; ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"],
        "recourse.class" => class; ["informational", "success", "application_failure", "pending", "redirect", "not_modified", "client_error", "retryable", "server_error", "none"]
    )
    .record(elapsed.as_secs_f64());
}

/// A bounded label for a status code: the codes the layers act on (`301`, `302`, `303`,
/// `307`, `308`, `408`, `429`, `500`, `502`, `503`, `504`) by number, any other by its
/// class (`2xx`, `4xx`, ...).
pub const fn status_label(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        301 => "301",
        302 => "302",
        303 => "303",
        307 => "307",
        308 => "308",
        408 => "408",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The port of `uri`, or its scheme's default (80 for `http`, 443 for `https`).
pub fn server_port(uri: &Uri) -> Option<u16> {
    uri.port_u16().or(match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    })
}

/// `url.full` of a request URI, written without allocating: scheme, host, port and path,
/// never the credentials of the authority, and the query only when allowed
/// ([`with_query`](UrlFull::with_query)). A URI without a scheme or host (origin-form)
/// writes its path alone.
#[derive(Clone, Copy, Debug)]
pub struct UrlFull<'a> {
    uri: &'a Uri,
    query: bool,
}

impl<'a> UrlFull<'a> {
    /// `uri` without its query.
    pub fn new(uri: &'a Uri) -> Self {
        UrlFull { uri, query: false }
    }

    /// Whether to write the query too.
    pub fn with_query(mut self, query: bool) -> Self {
        self.query = query;
        self
    }
}

impl fmt::Display for UrlFull<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(scheme), Some(host)) = (self.uri.scheme_str(), self.uri.host()) {
            write!(f, "{scheme}://{host}")?;
            if let Some(port) = self.uri.port_u16() {
                write!(f, ":{port}")?;
            }
        }
        f.write_str(self.uri.path())?;
        if self.query
            && let Some(query) = self.uri.query()
        {
            write!(f, "?{query}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_full_drops_credentials_and_query() {
        let uri: Uri = "http://u:p@a.test/x/y?q=1".parse().unwrap();
        assert_eq!(UrlFull::new(&uri).to_string(), "http://a.test/x/y");
        assert_eq!(
            UrlFull::new(&uri).with_query(true).to_string(),
            "http://a.test/x/y?q=1"
        );
        let origin_form: Uri = "/only/path?q".parse().unwrap();
        assert_eq!(UrlFull::new(&origin_form).to_string(), "/only/path");
        assert_eq!(server_port(&"https://a.test/".parse().unwrap()), Some(443));
        assert_eq!(server_port(&origin_form), None);
    }

    #[test]
    fn labels_are_bounded() {
        assert_eq!(
            method_label(&http::Method::from_bytes(b"BREW").unwrap()),
            "_OTHER"
        );
        assert_eq!(outcome_of(Class::Retryable), outcome::SERVER_ERROR);
        assert_eq!(outcome_of(Class::NotModified), outcome::SUCCESS);
        assert_eq!(class_label(Class::ClientError), "client_error");
        assert_eq!(status_label(http::StatusCode::SERVICE_UNAVAILABLE), "503");
        assert_eq!(status_label(http::StatusCode::IM_A_TEAPOT), "4xx");
    }
}
