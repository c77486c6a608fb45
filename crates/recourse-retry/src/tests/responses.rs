//! Which responses are retried: the class (500 and 503, RFC 9110 §15.6.1, §15.6.4), the
//! configured statuses, the classify verdict, closures.

use super::*;

#[tokio::test(start_paused = true)]
async fn only_retryable_responses_are_retried() {
    for code in [200, 201, 202, 304, 400, 404, 409, 429, 501, 502, 504] {
        let backend = Backend::new([status(code)]);
        let res = send(&exact(), &backend, get()).await.unwrap();
        assert_eq!(res.status(), code);
        assert_eq!(backend.calls(), 1, "{code} is not retried by default");
        assert!(RetryInfo::of(&res).is_none());
        assert!(History::of(&res).is_none());
    }
}

#[tokio::test(start_paused = true)]
async fn configured_statuses_are_retried() {
    let layer = exact().retry_on([
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::BAD_GATEWAY,
        StatusCode::GATEWAY_TIMEOUT,
    ]);
    let backend = Backend::new([
        with_header(429, "retry-after", "2"),
        status(502),
        status(504),
        status(200),
    ]);
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(backend.gaps(), [Duration::from_secs(2), 200 * MS, 400 * MS]);
}

#[tokio::test(start_paused = true)]
async fn the_classify_verdict_wins_over_the_status() {
    let classified = |class: Class, code: u16| {
        let calls = Arc::new(Mutex::new(0));
        let counter = calls.clone();
        let svc = service_fn(move |_req: Request<ReplayBody<Empty<Bytes>>>| {
            *counter.lock().unwrap() += 1;
            let mut res = Response::builder()
                .status(code)
                .body(Empty::<Bytes>::new())
                .unwrap();
            // Only the first response carries the verdict.
            if *counter.lock().unwrap() == 1 {
                res.extensions_mut().insert(class);
            }
            async move { Ok::<_, Infallible>(res) }
        });
        (calls, svc)
    };
    let (calls, svc) = classified(Class::Retryable, 200);
    let res = tower::Layer::layer(&exact(), svc)
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!((*calls.lock().unwrap(), res.status().as_u16()), (2, 200));
    let (calls, svc) = classified(Class::ServerError, 503);
    let res = tower::Layer::layer(&exact(), svc)
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!((*calls.lock().unwrap(), res.status().as_u16()), (1, 503));
}

#[tokio::test(start_paused = true)]
async fn closures_are_policies() {
    // Retry only 404s (an eventually consistent read), at most twice.
    let layer = exact()
        .max_retries(2)
        .policy(|a: &Attempted<'_, Full<Bytes>, BoxError>| {
            a.status() == Some(StatusCode::NOT_FOUND)
        });
    let backend = Backend::new([status(404), status(503)]);
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(backend.calls(), 2);
    assert_eq!(
        info(&res),
        RetryInfo {
            attempts: 2,
            stopped: None,
            timeouts: 0
        }
    );
}
