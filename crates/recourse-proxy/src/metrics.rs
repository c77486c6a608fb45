//! The proxy's own metrics, and their Prometheus exposition (`--metrics-listen`).
//!
//! # Overview
//!
//! The proxy records through the [`metrics`](https://docs.rs/metrics) facade, like every
//! Recourse layer: with no recorder installed, recording costs a few atomic loads and no
//! allocation after a label set's first use. The binary installs a Prometheus recorder
//! ([`Prometheus::install`]) only when `--metrics-listen ADDR` is given, and serves its
//! text exposition at `GET /metrics` on that address (never on the proxied port); a
//! program embedding the proxy keeps whatever recorder it installs itself.
//!
//! Besides the layers' metrics (the names of `recourse_core::observe::metric`: outcomes,
//! in-flight requests, retries, cache results, breaker refusals, ...), the proxy counts
//! what it sees itself. Every label value comes from a fixed set: never a URL, a host or an
//! id.
//!
//! | name | kind | unit | labels |
//! |---|---|---|---|
//! | [`CONNECTIONS`] | counter | connections | — |
//! | [`CONNECTIONS_OPEN`] | gauge | connections | — |
//! | [`REQUESTS`] | counter | requests | `http.request.method`, `http.response.status_code` |
//! | [`REQUEST_DURATION`] | histogram | s | `http.request.method`, `http.response.status_code` |
//! | [`UPSTREAM_ERRORS`] | counter | errors | `error.type`: the kinds of [`upstream_error`] |
//! | [`REQUEST_BODY_SIZE`] | counter | bytes | — |
//! | [`RESPONSE_BODY_SIZE`] | counter | bytes | — |
//!
//! `http.request.method` is one of the nine standard methods or `_OTHER`
//! ([`recourse_core::observe::method_label`]); `http.response.status_code` is the
//! three-digit code (`100` to `599`) or `_OTHER`.
//!
//! # Examples
//!
//! ```
//! use recourse_proxy::metrics::{Prometheus, REQUESTS};
//!
//! // Not installed globally here: the recorder is used for this block only.
//! let (prometheus, recorder) = Prometheus::build();
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::counter!(REQUESTS, "http.request.method" => "GET", "http.response.status_code" => "200")
//!         .increment(2);
//! });
//! let text = prometheus.render();
//! assert!(text.contains(
//!     r#"recourse_proxy_requests_total{http_request_method="GET",http_response_status_code="200"} 2"#
//! ));
//! ```

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{Key, Label, Level, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use recourse_core::observe::{metric, metrics_enabled};

/// Client connections the proxy accepted (counter, connections). Exported as
/// `recourse_proxy_connections_total`.
pub const CONNECTIONS: &str = "recourse.proxy.connections";
/// Client connections open now (gauge, connections). Exported as
/// `recourse_proxy_connections_open`.
pub const CONNECTIONS_OPEN: &str = "recourse.proxy.connections.open";
/// Requests the proxy answered, counted when the response body ends (counter, requests;
/// labels `http.request.method`, `http.response.status_code`). Exported as
/// `recourse_proxy_requests_total`.
pub const REQUESTS: &str = "recourse.proxy.requests";
/// The proxy's time per request, from the request head to the end of the response body
/// (histogram, seconds; the labels of [`REQUESTS`]; the buckets of [`DURATION_BUCKETS`]).
/// Exported as `recourse_proxy_request_duration_seconds`.
pub const REQUEST_DURATION: &str = "recourse.proxy.request.duration";
/// Requests the upstream did not answer (counter, errors; label `error.type`, the kinds of
/// [`upstream_error`]): the client got 502 or 504. Exported as
/// `recourse_proxy_upstream_errors_total`.
pub const UPSTREAM_ERRORS: &str = "recourse.proxy.upstream.errors";
/// Request body bytes received from clients (counter, bytes; header fields not
/// counted). Exported as `recourse_proxy_request_body_size_bytes_total`.
pub const REQUEST_BODY_SIZE: &str = "recourse.proxy.request.body.size";
/// Response body bytes sent to clients (counter, bytes; header fields not counted).
/// Exported as `recourse_proxy_response_body_size_bytes_total`.
pub const RESPONSE_BODY_SIZE: &str = "recourse.proxy.response.body.size";

/// The values of the `error.type` label of [`UPSTREAM_ERRORS`].
pub mod upstream_error {
    /// The connection to the upstream could not be made (refused, unreachable, DNS,
    /// connect timeout).
    pub const CONNECT: &str = "connect";
    /// The TLS handshake with an `https://` upstream failed (an untrusted certificate...).
    pub const TLS: &str = "tls";
    /// No response head within `--upstream-timeout` (the client got 504).
    pub const TIMEOUT: &str = "timeout";
    /// The upstream closed or reset the connection before its response head.
    pub const CLOSED: &str = "closed";
    /// The upstream's answer was not valid HTTP.
    pub const PROTOCOL: &str = "protocol";
    /// Any other failure.
    pub const OTHER: &str = "_OTHER";
}

/// The histogram buckets of [`REQUEST_DURATION`] and `http.client.request.duration`, in
/// seconds: the boundaries the OpenTelemetry HTTP semantic conventions advise for
/// `http.server.request.duration` and `http.client.request.duration`.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// How often [`serve_admin`](crate::Proxy::serve_admin) drains recorded histogram samples
/// into their buckets when no scrape does, so memory stays bounded.
pub(crate) const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

// === Prometheus ===

/// A Prometheus recorder's handle: renders the text exposition of every metric recorded
/// through the `metrics` facade (the proxy's and the layers').
///
/// Counters get the suffix `_total` and names the unit (`_seconds`, `_bytes`), as the
/// Prometheus naming conventions ask; dots in names and label keys become underscores
/// (`recourse.cache.results` is `recourse_cache_results_total`, `http.request.method`
/// is `http_request_method`). The duration histograms use [`DURATION_BUCKETS`].
///
/// # Clone
///
/// Clones share one recorder.
#[derive(Clone)]
pub struct Prometheus {
    handle: PrometheusHandle,
}

impl fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prometheus").finish_non_exhaustive()
    }
}

impl Prometheus {
    /// A recorder with the proxy's buckets and metric descriptions, not installed, and the
    /// handle that renders it. Install the recorder as you like (globally with
    /// `metrics::set_global_recorder`, or for a scope with `metrics::with_local_recorder`).
    pub fn build() -> (Prometheus, PrometheusRecorder) {
        let named = || PrometheusBuilder::new().with_recommended_naming(true);
        let buckets = |name: &str| Matcher::Full(name.to_owned());
        // Cannot fail: the bucket list is not empty.
        let builder = named()
            .set_buckets_for_metric(buckets(REQUEST_DURATION), &DURATION_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(buckets(metric::REQUEST_DURATION), &DURATION_BUCKETS)
            })
            .unwrap_or_else(|_| named());
        let recorder = builder.build_recorder();
        describe(&recorder);
        let handle = recorder.handle();
        (Prometheus { handle }, recorder)
    }

    /// Builds the recorder ([`build`](Self::build)) and installs it as the process's
    /// global `metrics` recorder.
    ///
    /// # Errors
    ///
    /// [`MetricsError`] when a global recorder is already installed.
    pub fn install() -> Result<Prometheus, MetricsError> {
        let (prometheus, recorder) = Self::build();
        ::metrics::set_global_recorder(recorder).map_err(|_| MetricsError(()))?;
        Ok(prometheus)
    }

    /// The Prometheus text exposition format (version 0.0.4) of every metric recorded so
    /// far.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Drains recorded histogram samples into their buckets. Rendering does it too; call it
    /// now and then when scrapes may be rare (the metrics listener does, every 5 s).
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// [`Prometheus::install`] failed: the process already has a global `metrics` recorder.
#[derive(Debug)]
pub struct MetricsError(());

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a global metrics recorder is already installed")
    }
}

impl std::error::Error for MetricsError {}

/// The HELP lines and units of every metric the proxy and its layers record.
fn describe(recorder: &PrometheusRecorder) {
    let metrics: [(&'static str, Kind, Option<Unit>, &'static str); 18] = [
        (
            CONNECTIONS,
            Kind::Counter,
            Some(Unit::Count),
            "Client connections accepted",
        ),
        (
            CONNECTIONS_OPEN,
            Kind::Gauge,
            Some(Unit::Count),
            "Client connections open",
        ),
        (
            REQUESTS,
            Kind::Counter,
            Some(Unit::Count),
            "Requests answered by the proxy",
        ),
        (
            REQUEST_DURATION,
            Kind::Histogram,
            Some(Unit::Seconds),
            "Time from the request head to the end of the response body",
        ),
        (
            UPSTREAM_ERRORS,
            Kind::Counter,
            Some(Unit::Count),
            "Requests the upstream did not answer (502 or 504), by kind",
        ),
        (
            REQUEST_BODY_SIZE,
            Kind::Counter,
            Some(Unit::Bytes),
            "Request body bytes received from clients",
        ),
        (
            RESPONSE_BODY_SIZE,
            Kind::Counter,
            Some(Unit::Bytes),
            "Response body bytes sent to clients",
        ),
        (
            metric::REQUEST_DURATION,
            Kind::Histogram,
            Some(Unit::Seconds),
            "Duration of each request on the wire to the upstream",
        ),
        (
            metric::OUTCOMES,
            Kind::Counter,
            Some(Unit::Count),
            "Logical requests by outcome",
        ),
        (
            metric::IN_FLIGHT,
            Kind::Gauge,
            Some(Unit::Count),
            "Logical requests in flight",
        ),
        (
            metric::RETRIES,
            Kind::Counter,
            Some(Unit::Count),
            "Resends by the retry layer, by reason",
        ),
        (
            metric::RETRIES_REFUSED,
            Kind::Counter,
            Some(Unit::Count),
            "Failures not retried, by reason",
        ),
        (
            metric::REDIRECTS,
            Kind::Counter,
            Some(Unit::Count),
            "Redirects followed, by status",
        ),
        (
            metric::REDIRECTS_REFUSED,
            Kind::Counter,
            Some(Unit::Count),
            "Redirects not followed, by reason",
        ),
        (
            metric::POLLS,
            Kind::Counter,
            Some(Unit::Count),
            "Polls of a 202's status URL",
        ),
        (
            metric::POLL_OUTCOMES,
            Kind::Counter,
            Some(Unit::Count),
            "Poll jobs by how they ended",
        ),
        (
            metric::CACHE,
            Kind::Counter,
            Some(Unit::Count),
            "Cache results by RFC 9211 kind",
        ),
        (
            metric::BREAKER_REFUSALS,
            Kind::Counter,
            Some(Unit::Count),
            "Requests the breaker refused, by reason",
        ),
    ];
    for (name, kind, unit, help) in metrics {
        let help = SharedString::const_str(help);
        match kind {
            Kind::Counter => recorder.describe_counter(name.into(), unit, help),
            Kind::Gauge => recorder.describe_gauge(name.into(), unit, help),
            Kind::Histogram => recorder.describe_histogram(name.into(), unit, help),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

// === recording ===

/// The metadata of the proxy's metrics (as the `metrics` macros would make it).
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The methods of the `http.request.method` label, then `_OTHER`.
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];
/// Status codes labelled by number: 100 to 599; any other is `_OTHER`.
const FIRST_CODE: u16 = 100;
const CODES: usize = 500;

/// `"100101102...599"`: every labelled code's three digits, so that a label is a
/// `&'static str` sliced from it.
static DIGITS: [u8; CODES * 3] = digits();

const fn digits() -> [u8; CODES * 3] {
    let mut out = [0u8; CODES * 3];
    let mut i = 0;
    while i < CODES {
        let code = FIRST_CODE as usize + i;
        out[i * 3] = b'0' + (code / 100) as u8;
        out[i * 3 + 1] = b'0' + (code / 10 % 10) as u8;
        out[i * 3 + 2] = b'0' + (code % 10) as u8;
        i += 1;
    }
    out
}

/// The `http.response.status_code` label: the three digits, or `_OTHER` outside 100..=599.
pub(crate) fn status_code_label(status: http::StatusCode) -> &'static str {
    let Some(i) = code_index(status) else {
        return "_OTHER";
    };
    std::str::from_utf8(&DIGITS[i * 3..i * 3 + 3]).unwrap_or("_OTHER")
}

fn code_index(status: http::StatusCode) -> Option<usize> {
    let i = usize::from(status.as_u16().checked_sub(FIRST_CODE)?);
    (i < CODES).then_some(i)
}

/// The index of a method in [`METHODS`].
pub(crate) fn method_index(method: &http::Method) -> usize {
    let label = recourse_core::observe::method_label(method);
    METHODS
        .iter()
        .position(|m| *m == label)
        .unwrap_or(METHODS.len() - 1)
}

/// One `(method, status)` label set's keys: [`REQUESTS`] and [`REQUEST_DURATION`].
type RequestKeys = [Key; 2];

/// The keys of every label set, made on first use (each once: nothing is allocated per
/// request). Index: method × (codes + `_OTHER`) + code.
static REQUEST_KEYS: [OnceLock<RequestKeys>; METHODS.len() * (CODES + 1)] =
    [const { OnceLock::new() }; METHODS.len() * (CODES + 1)];

fn request_keys(method: usize, status: http::StatusCode) -> &'static RequestKeys {
    let code = code_index(status).unwrap_or(CODES);
    let method = method.min(METHODS.len() - 1);
    REQUEST_KEYS[method * (CODES + 1) + code].get_or_init(|| {
        let labels = [
            Label::from_static_parts("http.request.method", METHODS[method]),
            Label::from_static_parts("http.response.status_code", status_code_label(status)),
        ];
        [
            Key::from_parts(REQUESTS, labels.to_vec()),
            Key::from_parts(REQUEST_DURATION, labels.to_vec()),
        ]
    })
}

/// Records one answered request: [`REQUESTS`], [`REQUEST_DURATION`] (when it was timed)
/// and the response body bytes. Nothing at all (not even the label set's key, made on its
/// first use) when no recorder listens.
pub(crate) fn record_request(
    method: usize,
    status: http::StatusCode,
    elapsed: Option<Duration>,
    body_bytes: u64,
) {
    if !metrics_enabled() {
        return;
    }
    let [requests, duration] = request_keys(method, status);
    ::metrics::with_recorder(|recorder| {
        recorder.register_counter(requests, &METADATA).increment(1);
        if let Some(elapsed) = elapsed {
            recorder
                .register_histogram(duration, &METADATA)
                .record(elapsed.as_secs_f64());
        }
    });
    if body_bytes > 0 {
        ::metrics::counter!(RESPONSE_BODY_SIZE).increment(body_bytes);
    }
}

/// Records request body bytes received.
pub(crate) fn record_request_body(bytes: u64) {
    if bytes > 0 {
        ::metrics::counter!(REQUEST_BODY_SIZE).increment(bytes);
    }
}

/// Records an upstream failure of kind `kind` (one of [`upstream_error`]).
pub(crate) fn record_upstream_error(kind: &'static str) {
    recourse_core::metric_with!(counter, UPSTREAM_ERRORS, "error.type" => kind; ["connect", "tls", "timeout", "closed", "protocol"])
        .increment(1);
}

/// Counts an accepted connection, open until the guard drops.
pub(crate) fn connection_opened() -> OpenConnection {
    if !metrics_enabled() {
        return OpenConnection { open: None };
    }
    ::metrics::counter!(CONNECTIONS).increment(1);
    let open = ::metrics::gauge!(CONNECTIONS_OPEN);
    open.increment(1.0);
    OpenConnection { open: Some(open) }
}

/// One open client connection in [`CONNECTIONS_OPEN`], if it was counted (a recorder
/// listened when it opened). It keeps the gauge it went up in, so it goes down in that
/// same gauge whatever recorder is in effect when the connection closes (installed
/// meanwhile, or another thread's).
#[derive(Debug)]
pub(crate) struct OpenConnection {
    open: Option<::metrics::Gauge>,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if let Some(open) = self.open.take() {
            open.decrement(1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, StatusCode};

    #[test]
    fn labels_are_bounded_and_exact() {
        assert_eq!(status_code_label(StatusCode::OK), "200");
        assert_eq!(status_code_label(StatusCode::NOT_FOUND), "404");
        assert_eq!(status_code_label(StatusCode::CONTINUE), "100");
        assert_eq!(status_code_label(StatusCode::from_u16(599).unwrap()), "599");
        assert_eq!(
            status_code_label(StatusCode::from_u16(600).unwrap()),
            "_OTHER"
        );
        assert_eq!(METHODS[method_index(&Method::PATCH)], "PATCH");
        assert_eq!(
            METHODS[method_index(&Method::from_bytes(b"BREW").unwrap())],
            "_OTHER"
        );
        let keys = request_keys(method_index(&Method::GET), StatusCode::IM_A_TEAPOT);
        let labels: Vec<_> = keys[0].labels().map(|l| (l.key(), l.value())).collect();
        assert_eq!(
            labels,
            [
                ("http.request.method", "GET"),
                ("http.response.status_code", "418")
            ]
        );
        assert_eq!(keys[1].name(), REQUEST_DURATION);
        // One key per label set, made once.
        assert!(std::ptr::eq(
            keys,
            request_keys(method_index(&Method::GET), StatusCode::IM_A_TEAPOT)
        ));
    }

    #[test]
    fn rendered_names_follow_the_prometheus_conventions() {
        let (prometheus, recorder) = Prometheus::build();
        ::metrics::with_local_recorder(&recorder, || {
            record_request(0, StatusCode::OK, Some(Duration::from_millis(30)), 12);
            record_request_body(5);
            record_upstream_error(upstream_error::CONNECT);
            record_upstream_error("something else");
            drop(connection_opened());
            ::metrics::histogram!(metric::REQUEST_DURATION).record(0.2);
        });
        let text = prometheus.render();
        for line in [
            r#"recourse_proxy_requests_total{http_request_method="GET",http_response_status_code="200"} 1"#,
            r#"recourse_proxy_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",le="0.05"} 1"#,
            r#"recourse_proxy_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",le="0.025"} 0"#,
            r#"recourse_proxy_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200"} 1"#,
            "recourse_proxy_response_body_size_bytes_total 12",
            "recourse_proxy_request_body_size_bytes_total 5",
            r#"recourse_proxy_upstream_errors_total{error_type="connect"} 1"#,
            r#"recourse_proxy_upstream_errors_total{error_type="_OTHER"} 1"#,
            "recourse_proxy_connections_total 1",
            "recourse_proxy_connections_open 0",
            r#"http_client_request_duration_seconds_bucket{le="0.25"} 1"#,
            "# TYPE recourse_proxy_request_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
    }

    #[test]
    fn a_connection_closes_in_the_gauge_that_counted_it() {
        let (first, counted) = Prometheus::build();
        let (second, other) = Prometheus::build();
        let open = ::metrics::with_local_recorder(&counted, connection_opened);
        // Another recorder is in effect when the connection closes.
        ::metrics::with_local_recorder(&other, || drop(open));
        let first = first.render();
        assert!(
            first
                .lines()
                .any(|l| l == "recourse_proxy_connections_open 0"),
            "{first}"
        );
        let second = second.render();
        assert!(
            !second.contains("recourse_proxy_connections_open"),
            "{second}"
        );
    }

    #[test]
    fn every_facade_metric_is_described() {
        let (prometheus, recorder) = Prometheus::build();
        let counters = [
            metric::OUTCOMES,
            metric::RETRIES,
            metric::RETRIES_REFUSED,
            metric::REDIRECTS,
            metric::REDIRECTS_REFUSED,
            metric::BREAKER_REFUSALS,
            metric::POLLS,
            metric::CACHE,
            metric::POLL_OUTCOMES,
        ];
        ::metrics::with_local_recorder(&recorder, || {
            for name in counters {
                ::metrics::counter!(name).increment(1);
            }
            ::metrics::gauge!(metric::IN_FLIGHT).increment(1.0);
            ::metrics::histogram!(metric::REQUEST_DURATION).record(0.1);
        });
        let text = prometheus.render();
        for name in counters {
            let help = format!("# HELP {}_total ", name.replace('.', "_"));
            assert!(text.contains(&help), "no `{help}` in:\n{text}");
        }
        for help in [
            "# HELP recourse_requests_in_flight ",
            "# HELP http_client_request_duration_seconds ",
        ] {
            assert!(text.contains(help), "no `{help}` in:\n{text}");
        }
    }
}
