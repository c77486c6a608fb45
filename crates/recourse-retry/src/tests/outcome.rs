//! After the last attempt: the history, the warning, cancellation, tower budgets, the
//! service's accessors.

use super::*;

#[tokio::test(start_paused = true)]
async fn inner_history_is_kept_in_order() {
    let n = Arc::new(Mutex::new(0u16));
    let counter = n.clone();
    let svc = service_fn(move |_req: Request<ReplayBody<Empty<Bytes>>>| {
        let attempt = {
            let mut n = counter.lock().unwrap();
            *n += 1;
            *n
        };
        let code = if attempt < 3 { 503 } else { 200 };
        let mut res = Response::builder()
            .status(code)
            .body(Empty::<Bytes>::new())
            .unwrap();
        // An inner layer records a step on every response.
        History::record(
            &mut res,
            Step::Revalidated {
                status: StatusCode::from_u16(code).unwrap(),
            },
        );
        async move { Ok::<_, Infallible>(res) }
    });
    let res = tower::Layer::layer(&exact(), svc)
        .oneshot(get())
        .await
        .unwrap();
    let steps = History::of(&res).unwrap().steps().to_vec();
    let s503 = StatusCode::SERVICE_UNAVAILABLE;
    assert_eq!(
        steps,
        [
            Step::Revalidated { status: s503 },
            Step::Retried {
                attempt: 2,
                status: Some(s503),
                waited: 100 * MS
            },
            Step::Revalidated { status: s503 },
            Step::Retried {
                attempt: 3,
                status: Some(s503),
                waited: 200 * MS
            },
            Step::Revalidated {
                status: StatusCode::OK
            },
        ]
    );
}

/// Captures formatted `tracing` output.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn giving_up_is_reported_at_warn_with_the_request_id() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        // Another test thread may have registered the warn callsite while no subscriber
        // wanted it; tracing caches that interest process-wide. Rebuild it now that this
        // thread's subscriber exists, so the event cannot be filtered out by a stale cache.
        tracing::callsite::rebuild_interest_cache();
        rt.block_on(async {
            let backend = Backend::new([status(503)]);
            let mut req = get();
            req.headers_mut()
                .insert("x-request-id", "req-42".parse().unwrap());
            send(&exact().max_retries(2), &backend, req).await.unwrap();
            // A success after retries is not a failure to report.
            let backend = Backend::new([status(503), status(200)]);
            let mut req = get();
            req.headers_mut()
                .insert("x-request-id", "req-43".parse().unwrap());
            send(&exact(), &backend, req).await.unwrap();
            // The request id header name is configurable; a POST refused is reported too.
            let backend = Backend::new([status(500)]);
            let mut req = post("x");
            req.headers_mut()
                .insert("x-correlation-id", "corr-7".parse().unwrap());
            let layer =
                exact().request_id_header(http::HeaderName::from_static("x-correlation-id"));
            send(&layer, &backend, req).await.unwrap();
        })
    });
    let out = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let first = lines[0];
    for needle in [
        "WARN",
        "method=GET",
        "uri=http://example.com/r",
        "attempts=3",
        "last=503 Service Unavailable",
        "request_id=\"req-42\"",
        "all 2 retries were spent",
    ] {
        assert!(first.contains(needle), "{needle:?} missing from {first}");
    }
    assert!(
        lines[1].contains("method=POST") && lines[1].contains("corr-7"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("not idempotent"), "{}", lines[1]);
    assert!(!out.contains("req-43"));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_cancels_the_wait() {
    let backend = Backend::new([with_header(503, "retry-after", "10"), status(200)]);
    let svc = tower::Layer::layer(&exact(), backend.service::<Empty<Bytes>>());
    let fut = svc.oneshot(get());
    let timed = tokio::time::timeout(Duration::from_secs(1), fut).await;
    assert!(timed.is_err());
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(backend.calls(), 1, "no attempt after the caller gave up");
}

#[tokio::test(start_paused = true)]
async fn tower_budgets_plug_in() {
    use tower::retry::budget::TpsBudget;
    // One retry per request deposited, no floor.
    let budget = Arc::new(TpsBudget::new(Duration::from_secs(1), 0, 1.0));
    let layer = exact().max_retries(3).shared_budget(budget);
    let backend = Backend::new([status(503)]);
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(
        backend.calls(),
        2,
        "the deposit of the request pays for one retry"
    );
    assert_eq!(info(&res).stopped, Some(StopReason::Budget));
}

#[tokio::test(start_paused = true)]
async fn the_service_mirrors_the_layer() {
    let backend = Backend::new([status(503), status(200)]);
    let mut svc = crate::Retry::new(backend.service::<Empty<Bytes>>());
    let _ = svc.get_ref();
    let _ = svc.get_mut();
    assert_eq!(*svc.get_policy(), crate::Standard::new());
    let res = svc.clone().oneshot(get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(backend.calls(), 2);
    let _inner = svc.into_inner();
    let custom = crate::Retry::with_policy((), crate::Standard::new().retry_errors(false));
    assert!(format!("{custom:?}").contains("Retry"));
    assert!(format!("{:?}", crate::Retry::<()>::layer()).contains("max_retries: 3"));
}
