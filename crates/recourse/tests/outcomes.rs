//! Requests that end without a response are counted and reported too (issue 15): one
//! `recourse.requests` count per logical request with its outcome (`deadline`,
//! `transport_error`, `refused` for the breaker), the in-flight gauge back to 0, one report
//! for a request the breaker refused (its reason, when the origin reopens, no attempt on
//! the wire), and a bounded excerpt of a reported body that the caller still reads whole.
//! Real servers on 127.0.0.1, paused time, metrics-util's debugging recorder.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use recourse::ClientStackLayer;
use recourse::breaker::BreakerLayer;
use recourse::report::{DEFAULT_EXCERPT, DEFAULT_EXCERPT_WAIT, Report, Reporting};
use recourse_testkit::{Reply, TestServer};
use support::{HANG, Stack, get, stack_with, text};
use tokio::time::{Instant, timeout};
use tower::ServiceExt;

/// The counters and gauges recorded since the last snapshot, by name and labels.
fn recorded(snapshotter: &Snapshotter) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let (_, key) = key.into_parts();
        let mut name = key.name().to_owned();
        for label in key.labels() {
            name.push_str(&format!(" {}={}", label.key(), label.value()));
        }
        match value {
            DebugValue::Counter(n) => {
                out.insert(name, n);
            }
            DebugValue::Gauge(v) => {
                out.insert(format!("{name} (gauge)"), v.into_inner() as u64);
            }
            DebugValue::Histogram(_) => {}
        }
    }
    out
}

/// The `recourse.requests` counts with a non-zero value, by outcome.
fn outcomes(got: &BTreeMap<String, u64>) -> BTreeMap<&str, u64> {
    got.iter()
        .filter(|(_, n)| **n > 0)
        .filter_map(|(name, n)| Some((name.strip_prefix("recourse.requests outcome=")?, *n)))
        .collect()
}

/// A stack configured by `layer`, reporting with the defaults into the returned list.
fn reporting(layer: ClientStackLayer) -> (Stack, Arc<Mutex<Vec<Report>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let layer = layer.report(Reporting::new(move |r: Report| {
        sink.lock().unwrap().push(r)
    }));
    (stack_with(layer), seen)
}

#[tokio::test(start_paused = true)]
async fn a_passed_deadline_is_counted_once() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let server = TestServer::start().await;
    server.script("/slow", [Reply::never()]);
    let stack = stack_with(ClientStackLayer::new().deadline(Duration::from_secs(2)));
    let t0 = Instant::now();
    let err = timeout(HANG, stack.oneshot(get(server.uri("/slow"))))
        .await
        .expect("in time")
        .expect_err("the deadline passes");
    assert!(err.is_elapsed(), "{err}");
    assert_eq!(Instant::now() - t0, Duration::from_secs(2));
    let got = recorded(&snapshotter);
    assert_eq!(
        outcomes(&got),
        BTreeMap::from([("deadline", 1)]),
        "{got:#?}"
    );
    assert_eq!(got.get("recourse.requests.in_flight (gauge)"), Some(&0));
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_a_transport_error_counted_once() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let stack = stack_with(ClientStackLayer::new().deadline(Duration::from_secs(5)));
    let uri = recourse_testkit::refused_uri();
    let err = timeout(HANG, stack.oneshot(get(uri)))
        .await
        .expect("in time")
        .expect_err("nothing listens");
    assert!(err.is_inner(), "the connect error, not the deadline: {err}");
    let got = recorded(&snapshotter);
    assert_eq!(
        outcomes(&got),
        BTreeMap::from([("transport_error", 1)]),
        "{got:#?}"
    );
    assert_eq!(got.get("recourse.requests.in_flight (gauge)"), Some(&0));
}

#[tokio::test(start_paused = true)]
async fn a_breaker_refusal_is_counted_and_reported_once() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let server = TestServer::start().await;
    server.script(
        "/codes",
        [Reply::status(503)
            .header("retry-after", "30")
            .body("down for maintenance")],
    );
    // Circuit breaking on; the Retry-After gate is on either way.
    let layer = ClientStackLayer::new()
        .deadline(Duration::from_secs(5))
        .breaker(BreakerLayer::new());
    let (stack, seen) = reporting(layer);
    let t0 = Instant::now();

    // The 503 asks for 30 s, longer than the deadline: the retry layer gives up, and the
    // 503 is reported.
    let res = timeout(HANG, stack.clone().oneshot(get(server.uri("/codes"))))
        .await
        .expect("in time")
        .expect("the 503");
    assert_eq!(res.status(), 503);
    assert_eq!(text(res).await.unwrap(), "down for maintenance");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        // The default excerpt: the whole (short) body.
        assert_eq!(
            seen[0].excerpt_text().as_deref(),
            Some("down for maintenance")
        );
        assert!(DEFAULT_EXCERPT > "down for maintenance".len());
    }

    // The next request meets the gate: refused, never sent.
    let err = timeout(HANG, stack.clone().oneshot(get(server.uri("/codes?n=2"))))
        .await
        .expect("in time")
        .expect_err("refused by the breaker");
    assert!(err.is_inner(), "{err}");
    assert_eq!(server.total(), 1, "the refused request was not sent");

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one report for the 503, one for the refusal");
    assert_eq!(seen[0].status.map(|s| s.as_u16()), Some(503));
    assert!(seen[0].refusal.is_none());
    let refused = &seen[1];
    assert_eq!(refused.status, None);
    assert_eq!(refused.path, "/codes");
    assert!(refused.attempts.is_empty(), "{refused:?}");
    assert_eq!(refused.excerpt, None);
    let refusal = refused.refusal.as_ref().expect("the refusal");
    assert_eq!(refusal.reason, "overloaded");
    assert_eq!(
        refusal.origin,
        format!("http://{}", server.uri("/").authority().unwrap())
    );
    // The 503 arrived at t0 and asked for 30 s.
    assert_eq!(refusal.until, Some(t0 + Duration::from_secs(30)));
    let text = refused.to_string();
    assert!(
        text.contains("refused by the breaker (overloaded)"),
        "{text}"
    );

    let got = recorded(&snapshotter);
    assert_eq!(
        outcomes(&got),
        BTreeMap::from([("refused", 1), ("server_error", 1)]),
        "{got:#?}"
    );
    assert_eq!(got.get("recourse.requests.in_flight (gauge)"), Some(&0));
}

#[tokio::test(start_paused = true)]
async fn refusals_are_not_reported_when_turned_off() {
    let server = TestServer::start().await;
    server.script("/codes", [Reply::status(503).header("retry-after", "30")]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let layer = ClientStackLayer::new()
        .deadline(Duration::from_secs(5))
        .report(Reporting::new(move |r: Report| sink.lock().unwrap().push(r)).refusals(false));
    let stack = stack_with(layer);
    let res = stack
        .clone()
        .oneshot(get(server.uri("/codes")))
        .await
        .unwrap();
    text(res).await.unwrap();
    let err = stack.oneshot(get(server.uri("/codes"))).await;
    assert!(err.is_err());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "the 503 only");
    assert!(seen[0].refusal.is_none());
}

#[tokio::test(start_paused = true)]
async fn the_excerpt_is_the_first_bytes_and_the_caller_reads_the_whole_body() {
    let server = TestServer::start().await;
    let body: Bytes = (0..4096u32)
        .map(|i| b'a' + (i % 26) as u8)
        .collect::<Vec<u8>>()
        .into();
    // Several frames, so that the excerpt ends inside one.
    let chunks = body.chunks(700).map(Bytes::copy_from_slice).collect();
    server.script(
        "/down",
        [Reply::status(503).chunked(chunks, Duration::from_millis(10))],
    );
    server.script("/up", [Reply::ok().body(body.clone())]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let layer = ClientStackLayer::new()
        .retry(recourse::retry::RetryLayer::new().max_retries(0))
        .report(Reporting::new(move |r: Report| sink.lock().unwrap().push(r)).excerpt(1000));
    let stack = stack_with(layer);

    let res = timeout(HANG, stack.clone().oneshot(get(server.uri("/down"))))
        .await
        .expect("in time")
        .expect("the 503");
    assert_eq!(res.status(), 503);
    assert!(res.body().is_peeked(), "a reported failure is read ahead");
    let excerpt = {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "reported once the excerpt is read");
        seen[0].excerpt.clone().expect("an excerpt")
    };
    assert_eq!(excerpt, body.slice(..1000));
    // The caller reads every byte, in the frames the server sent.
    let mut frames = Vec::new();
    let mut body_read = res.into_body();
    for _ in 0..64 {
        let Some(frame) = body_read.frame().await else {
            break;
        };
        if let Ok(data) = frame.expect("a frame").into_data() {
            frames.push(data);
        }
    }
    assert_eq!(frames.concat(), body.to_vec());
    assert_eq!(
        frames.len(),
        6,
        "4096 bytes in frames of 700: {:?}",
        frames.len()
    );

    // A success is never read ahead, and not reported.
    let res = timeout(HANG, stack.clone().oneshot(get(server.uri("/up"))))
        .await
        .expect("in time")
        .expect("the 200");
    assert!(!res.body().is_peeked(), "a success is handed on untouched");
    assert_eq!(text(res).await.unwrap(), body);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn reading_the_excerpt_stops_at_the_deadline() {
    let server = TestServer::start().await;
    // Ten bytes a second: the 1 KiB excerpt cannot be read in the 3 s deadline.
    let chunks = (0..20).map(|_| Bytes::from_static(b"0123456789")).collect();
    server.script(
        "/trickle",
        [Reply::status(503).chunked(chunks, Duration::from_secs(1))],
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let layer = ClientStackLayer::new()
        .deadline(Duration::from_secs(3))
        .retry(recourse::retry::RetryLayer::new().max_retries(0))
        // A wait longer than the deadline: the deadline caps it.
        .report(
            Reporting::new(move |r: Report| sink.lock().unwrap().push(r))
                .excerpt_wait(Duration::from_secs(60)),
        );
    let stack = stack_with(layer);
    let t0 = Instant::now();
    let res = timeout(HANG, stack.oneshot(get(server.uri("/trickle"))))
        .await
        .expect("in time")
        .expect("the 503, handed back at the deadline");
    assert_eq!(
        Instant::now() - t0,
        Duration::from_secs(3),
        "at the deadline"
    );
    let excerpt = seen.lock().unwrap()[0]
        .excerpt
        .clone()
        .expect("what was read");
    assert!(
        !excerpt.is_empty() && excerpt.len() < 200,
        "a prefix: {excerpt:?}"
    );
    assert!(b"0123456789".repeat(20).starts_with(&excerpt));
    // What was read is still the caller's: the body starts with it.
    let mut body = res.into_body();
    let first = body.frame().await.expect("a frame").expect("data");
    assert!(excerpt.starts_with(first.data_ref().expect("data")));
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_gives_up_mid_excerpt_still_gets_the_failure_reported_once() {
    let server = TestServer::start().await;
    // Ten bytes a second, the first at once.
    let chunks = (0..20).map(|_| Bytes::from_static(b"0123456789")).collect();
    server.script(
        "/trickle",
        [Reply::status(503).chunked(chunks, Duration::from_secs(1))],
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let layer = ClientStackLayer::new()
        .deadline(Duration::from_secs(60))
        .retry(recourse::retry::RetryLayer::new().max_retries(0))
        .report(
            Reporting::new(move |r: Report| sink.lock().unwrap().push(r))
                .excerpt_wait(Duration::from_secs(30)),
        );
    let stack = stack_with(layer);
    // The caller's own timeout drops the request's future while the excerpt is read
    // (chunks at 0, 1 and 2 s came; the 1 KiB and the 30 s wait are far off).
    let gave_up = timeout(
        Duration::from_millis(2500),
        stack.oneshot(get(server.uri("/trickle"))),
    )
    .await;
    assert!(gave_up.is_err(), "the caller's timeout fired first");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "reported when the future was dropped");
        assert_eq!(seen[0].status.map(|s| s.as_u16()), Some(503));
        assert_eq!(
            seen[0].excerpt.as_deref(),
            Some(&b"0123456789".repeat(3)[..]),
            "what was read before the drop"
        );
    }
    // Nothing else reports it later.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(seen.lock().unwrap().len(), 1, "exactly once");
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_holds_the_response_back_only_for_the_excerpt_wait() {
    let server = TestServer::start().await;
    // The first bytes at once, the rest 20 s later: far short of the 1 KiB excerpt.
    let chunks = vec![
        Bytes::from_static(b"{\"error\":"),
        Bytes::from_static(b"\"maintenance\"}"),
    ];
    server.script(
        "/stall",
        [Reply::status(503).chunked(chunks, Duration::from_secs(20))],
    );
    let (stack, seen) = reporting(
        ClientStackLayer::new()
            .deadline(Duration::from_secs(60))
            .retry(recourse::retry::RetryLayer::new().max_retries(0)),
    );
    let t0 = Instant::now();
    let res = timeout(HANG, stack.oneshot(get(server.uri("/stall"))))
        .await
        .expect("in time")
        .expect("the 503");
    assert_eq!(res.status(), 503);
    assert_eq!(
        Instant::now() - t0,
        DEFAULT_EXCERPT_WAIT,
        "handed over after the excerpt's wait, not at the body's end or the deadline"
    );
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "reported when handed over");
        assert_eq!(seen[0].excerpt_text().as_deref(), Some("{\"error\":"));
    }
    // The caller still reads every byte, as the server sends them.
    assert_eq!(text(res).await.unwrap(), "{\"error\":\"maintenance\"}");
    assert_eq!(Instant::now() - t0, Duration::from_secs(20));
    assert_eq!(seen.lock().unwrap().len(), 1, "reported once");
}
