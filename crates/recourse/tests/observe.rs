//! What the stack reports about a request (issue 15): the `recourse.request` span around
//! one `recourse.attempt` span per request on the wire, attributed after the OpenTelemetry
//! HTTP client conventions, checked with a capturing `tracing` layer; and the metrics of
//! the barcode rows, checked with `metrics-util`'s debugging recorder.

mod support;

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use recourse_testkit::Simulator;
use recourse_testkit::simulator::ROWS;
use recourse_testkit::spans::{Captured, Spans};
use support::{HANG, full_stack, get, text};
use tokio::time::timeout;
use tower::ServiceExt;

async fn send(req: Request<Full<Bytes>>, stack: &support::Stack) -> StatusCode {
    let res = timeout(HANG, stack.clone().oneshot(req))
        .await
        .expect("the stack answered in time")
        .expect("a response");
    let status = res.status();
    text(res).await.expect("the body");
    status
}

fn field<'a>(span: &'a Captured, name: &str) -> Option<&'a str> {
    span.field(name)
}

/// The logical request span and its attempt spans, checking that every attempt is its
/// child.
fn tree(spans: &[Captured]) -> (&Captured, Vec<&Captured>) {
    let roots: Vec<usize> = (0..spans.len())
        .filter(|&i| spans[i].name == "recourse.request")
        .collect();
    assert_eq!(roots.len(), 1, "one logical request span: {spans:#?}");
    let attempts: Vec<&Captured> = spans
        .iter()
        .filter(|s| s.name == "recourse.attempt")
        .collect();
    for attempt in &attempts {
        assert_eq!(
            attempt.parent,
            Some(roots[0]),
            "every attempt nests in the request: {spans:#?}"
        );
    }
    (&spans[roots[0]], attempts)
}

#[tokio::test(start_paused = true)]
async fn a_retried_503_is_one_request_span_around_two_attempts() {
    let server = Simulator::start().await;
    let stack = full_stack();
    let (spans, _guard) = Spans::install();
    let status = send(get(server.uri("/barcode/maintenance?failures=1")), &stack).await;
    assert_eq!(status, StatusCode::OK);
    let spans = spans.take();
    let (request, attempts) = tree(&spans);
    assert_eq!(field(request, "http.request.method"), Some("GET"));
    assert_eq!(field(request, "http.response.status_code"), Some("200"));
    assert_eq!(field(request, "http.request.resend_count"), Some("1"));
    assert_eq!(field(request, "recourse.class"), Some("success"));
    assert_eq!(field(request, "server.address"), Some("127.0.0.1"));
    assert_eq!(
        field(request, "server.port"),
        Some(server.uri("/").port_u16().unwrap().to_string().as_str())
    );
    let url = field(request, "url.full").unwrap();
    assert!(
        url.ends_with("/barcode/maintenance"),
        "no query in url.full: {url}"
    );
    assert_eq!(attempts.len(), 2, "{spans:#?}");
    assert_eq!(field(attempts[0], "http.response.status_code"), Some("503"));
    assert_eq!(field(attempts[0], "error.type"), Some("503"));
    assert_eq!(field(attempts[0], "recourse.class"), Some("retryable"));
    assert_eq!(field(attempts[0], "http.request.resend_count"), Some("0"));
    assert_eq!(field(attempts[1], "http.response.status_code"), Some("200"));
    assert_eq!(field(attempts[1], "http.request.resend_count"), Some("1"));
    assert_eq!(field(attempts[1], "error.type"), None);
    // The resend says why and after how long (the simulator's 503 asks for no wait).
    assert_eq!(field(attempts[0], "recourse.retry.reason"), None);
    assert_eq!(field(attempts[1], "recourse.retry.reason"), Some("503"));
    let waited = field(attempts[1], "recourse.retry.wait_ms").expect("wait recorded");
    assert!(waited.parse::<u64>().is_ok(), "wait in ms: {waited}");
}

#[tokio::test(start_paused = true)]
async fn a_followed_307_is_one_attempt_per_hop() {
    let server = Simulator::start().await;
    let stack = full_stack();
    let (spans, _guard) = Spans::install();
    assert_eq!(
        send(get(server.uri("/barcode/old")), &stack).await,
        StatusCode::OK
    );
    let spans = spans.take();
    let (request, attempts) = tree(&spans);
    assert_eq!(field(request, "recourse.redirect.hops"), Some("1"));
    assert_eq!(field(request, "http.request.resend_count"), Some("1"));
    assert_eq!(attempts.len(), 2, "{spans:#?}");
    assert_eq!(field(attempts[0], "http.response.status_code"), Some("307"));
    assert!(
        field(attempts[0], "url.full")
            .unwrap()
            .ends_with("/barcode/old")
    );
    assert_eq!(field(attempts[1], "http.response.status_code"), Some("200"));
    assert!(
        field(attempts[1], "url.full")
            .unwrap()
            .ends_with("/barcode/new")
    );
}

#[tokio::test(start_paused = true)]
async fn a_polled_202_is_one_attempt_per_poll() {
    let server = Simulator::start().await;
    let stack = full_stack();
    let (spans, _guard) = Spans::install();
    let req = Request::post(server.uri("/barcode/async?polls=1&retry_after=1"))
        .body(Full::from("{}"))
        .unwrap();
    assert_eq!(send(req, &stack).await, StatusCode::OK);
    let spans = spans.take();
    let (request, attempts) = tree(&spans);
    assert_eq!(field(request, "recourse.poll.count"), Some("2"));
    assert_eq!(field(request, "http.request.method"), Some("POST"));
    assert_eq!(attempts.len(), 3, "the POST and two polls: {spans:#?}");
    assert_eq!(field(attempts[0], "http.request.method"), Some("POST"));
    assert_eq!(field(attempts[0], "http.response.status_code"), Some("202"));
    assert_eq!(field(attempts[0], "recourse.class"), Some("pending"));
    for poll in &attempts[1..] {
        assert_eq!(field(poll, "http.request.method"), Some("GET"));
        assert!(field(poll, "url.full").unwrap().ends_with("/jobs/1"));
    }
    assert_eq!(field(attempts[2], "http.response.status_code"), Some("200"));
}

#[tokio::test(start_paused = true)]
async fn a_cache_hit_is_a_request_span_without_attempts() {
    let server = Simulator::start().await;
    let stack = full_stack();
    send(get(server.uri("/barcode/cached")), &stack).await;
    let (spans, _guard) = Spans::install();
    assert_eq!(
        send(get(server.uri("/barcode/cached")), &stack).await,
        StatusCode::OK
    );
    let spans = spans.take();
    let (request, attempts) = tree(&spans);
    assert_eq!(field(request, "recourse.cache.status"), Some("hit"));
    assert!(attempts.is_empty(), "a hit sends nothing: {spans:#?}");
    assert_eq!(server.total(), 1);
}

/// The counters of a debugging recorder, by name and sorted labels.
fn counters(snapshot: metrics_util::debugging::Snapshot) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (key, _, _, value) in snapshot.into_vec() {
        let (_, key) = key.into_parts();
        let mut name = key.name().to_owned();
        for label in key.labels() {
            name.push_str(&format!(" {}={}", label.key(), label.value()));
        }
        match value {
            DebugValue::Counter(n) => {
                out.insert(name, n);
            }
            DebugValue::Histogram(values) => {
                out.insert(format!("{name} (histogram)"), values.len() as u64);
            }
            DebugValue::Gauge(v) => {
                out.insert(format!("{name} (gauge)"), v.into_inner() as u64);
            }
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn the_barcode_rows_are_counted() {
    let server = Simulator::start().await;
    let stack = full_stack();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    for row in ROWS {
        let res = timeout(HANG, stack.clone().oneshot(row.request(&server)))
            .await
            .expect("in time")
            .expect("a response");
        text(res).await.expect("the body");
    }
    let got = counters(snapshotter.snapshot());
    let count = |name: &str| got.get(name).copied().unwrap_or(0);
    // 14 rows, one final outcome each (the 202 ends in its job's 200, the 307 in the
    // target's 200, the 304 row's conditional GET in its 304).
    assert_eq!(count("recourse.requests outcome=success"), 5, "{got:#?}");
    assert_eq!(count("recourse.requests outcome=application_failure"), 1);
    assert_eq!(count("recourse.requests outcome=client_error"), 6);
    assert_eq!(count("recourse.requests outcome=server_error"), 2);
    assert_eq!(count("recourse.requests outcome=transport_error"), 0);
    // 500 and 503: three retries each (the default), then the retry layer gives up.
    assert_eq!(count("recourse.retries reason=500"), 3);
    assert_eq!(count("recourse.retries reason=503"), 3);
    assert_eq!(count("recourse.retries.refused reason=max_retries"), 2);
    assert_eq!(count("recourse.redirects status=307"), 1);
    assert_eq!(count("recourse.polls"), 3);
    // POSTs bypass the cache; every GET row is a miss on a fresh cache.
    assert_eq!(count("recourse.cache.results status=bypass"), 7);
    assert_eq!(count("recourse.cache.results status=miss"), 7);
    assert_eq!(count("recourse.requests.in_flight (gauge)"), 0);
    let attempts: u64 = got
        .iter()
        .filter(|(name, _)| name.starts_with("http.client.request.duration"))
        .map(|(_, n)| n)
        .sum();
    // One duration per request on the wire: 14 first sends, 6 retries, 3 polls, 1 hop.
    assert_eq!(attempts, 24, "{got:#?}");
    assert_eq!(attempts, server.total() as u64);
}
