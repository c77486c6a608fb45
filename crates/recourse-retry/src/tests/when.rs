//! When the next attempt starts: backoff, full jitter, `Retry-After` (RFC 9110 §10.2.3),
//! the deadline and the time limit.

use super::*;

#[tokio::test(start_paused = true)]
async fn exact_backoff_delays_then_the_last_response() {
    let backend = Backend::new([status(503)]);
    let res = send(&exact(), &backend, get()).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(backend.calls(), 4);
    assert_eq!(backend.gaps(), [100 * MS, 200 * MS, 400 * MS]);
    assert_eq!(
        info(&res),
        RetryInfo {
            attempts: 4,
            stopped: Some(StopReason::MaxRetries { max: 3 }),
            timeouts: 0
        }
    );
    assert_eq!(
        retried_steps(&res),
        [
            (2, Some(503), 100 * MS),
            (3, Some(503), 200 * MS),
            (4, Some(503), 400 * MS)
        ]
    );
    // The last response is returned as it is, body included.
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "reply body"
    );
}

#[tokio::test(start_paused = true)]
async fn seeded_full_jitter_is_reproducible() {
    let backend = Backend::new([status(500), status(500), status(500), status(200)]);
    let layer = RetryLayer::new().random_source(FastRand::seeded(42));
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    let mut rng = FastRand::seeded(42);
    let expected: Vec<_> = (1..=3)
        .map(|n| Backoff::default().delay(n, &mut rng))
        .collect();
    let waited: Vec<_> = retried_steps(&res).iter().map(|s| s.2).collect();
    assert_eq!(waited, expected);
    // tokio's timer has a millisecond resolution: each sleep ends on the next millisecond.
    assert_eq!(
        backend.gaps(),
        expected.iter().map(|d| ceil_ms(*d)).collect::<Vec<_>>()
    );
    for (n, gap) in expected.iter().enumerate() {
        let ceiling = Backoff::default().ceiling(n as u32 + 1);
        assert!(*gap <= ceiling, "full jitter never exceeds the ceiling");
    }
    assert_eq!(
        info(&res),
        RetryInfo {
            attempts: 4,
            stopped: None,
            timeouts: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_cap_applies_before_jitter() {
    let backend = Backend::new([status(503)]);
    let layer = exact().max_retries(6).backoff(Backoff::exponential(
        Duration::from_secs(1),
        Duration::from_secs(5),
    ));
    send(&layer, &backend, get()).await.unwrap();
    let secs: Vec<_> = backend.gaps().iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [1, 2, 4, 5, 5, 5]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_in_seconds() {
    let backend = Backend::new([with_header(503, "retry-after", "3"), status(200)]);
    let res = send(&exact(), &backend, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(backend.gaps(), [Duration::from_secs(3)]);
    assert_eq!(
        retried_steps(&res),
        [(2, Some(503), Duration::from_secs(3))]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date() {
    // HTTP-dates have whole seconds: the wait is the time until that second.
    let date = httpdate::fmt_http_date(clock::system_now() + Duration::from_secs(5));
    let expected = httpdate::parse_http_date(&date)
        .unwrap()
        .duration_since(clock::system_now())
        .unwrap();
    let backend = Backend::new([with_header(503, "retry-after", date), status(200)]);
    let res = send(&exact(), &backend, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(retried_steps(&res), [(2, Some(503), expected)]);
    assert_eq!(backend.gaps(), [ceil_ms(expected)]);
    assert!(expected > Duration::from_secs(4) && expected <= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn huge_or_garbage_retry_after_is_clamped_or_ignored() {
    let backend = Backend::new([
        with_header(503, "retry-after", "1000000000000"),
        with_header(503, "retry-after", "soon, maybe"),
        with_header(503, "retry-after", "-5"),
        status(200),
    ]);
    let layer = exact().max_retry_after(Duration::from_secs(10));
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    // Clamped to the maximum; then the backoff, as if there were no header.
    assert_eq!(
        backend.gaps(),
        [Duration::from_secs(10), 200 * MS, 400 * MS]
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_past_the_deadline_is_not_taken() {
    let backend = Backend::new([with_header(503, "retry-after", "5"), status(200)]);
    let mut req = get();
    Deadline::after(Duration::from_secs(2)).insert_into(&mut req);
    let started = Instant::now();
    let res = send(&exact(), &backend, req).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(backend.calls(), 1);
    assert_eq!(Instant::now(), started, "returned at once, without waiting");
    assert_eq!(
        info(&res).stopped,
        Some(StopReason::Deadline {
            wait: Duration::from_secs(5),
            remaining: Duration::from_secs(2)
        })
    );
    // A wait that fits is taken.
    let backend = Backend::new([with_header(503, "retry-after", "1"), status(200)]);
    let mut req = get();
    Deadline::after(Duration::from_secs(2)).insert_into(&mut req);
    assert_eq!(send(&exact(), &backend, req).await.unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn the_time_limit_bounds_the_waits() {
    let backend = Backend::new([status(503)]);
    let layer = exact()
        .max_retries(10)
        .backoff(Backoff::constant(Duration::from_millis(600)))
        .time_limit(Duration::from_secs(1));
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(backend.calls(), 2, "a second wait would end at 1.2 s");
    assert_eq!(
        info(&res).stopped,
        Some(StopReason::TimeLimit {
            wait: Duration::from_millis(600),
            limit: Duration::from_secs(1)
        })
    );
}
