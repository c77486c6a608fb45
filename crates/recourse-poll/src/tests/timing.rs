//! When polls are sent: `Retry-After` (seconds, dates, garbage, huge) and the backoff.

use super::*;

#[tokio::test(start_paused = true)]
async fn n_polls_then_200_with_backoff_history_and_info() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [r(202), r(202), r(202), r(200).body("the result")],
    );
    let svc = AsyncPollLayer::new().layer(backend.service());
    let t0 = Instant::now();
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    // No Retry-After: backoff 1 s, doubling.
    assert_eq!(gaps(&backend, "/jobs/1", t0), secs(&[1, 2, 4, 8]));
    let polls = backend.seen_at("/jobs/1");
    assert!(
        polls
            .iter()
            .all(|s| s.method == Method::GET && s.body_empty)
    );
    assert_eq!(polls[0].uri, "http://api.test/jobs/1");

    let info = PollInfo::of(&res).unwrap().clone();
    assert_eq!(info.polls(), 4);
    assert_eq!(info.waited(), Duration::from_secs(15));
    assert_eq!(info.elapsed(), Duration::from_secs(15));
    assert_eq!(info.outcome(), PollOutcome::Succeeded);
    assert_eq!(info.status_url(), "http://api.test/jobs/1");
    assert!(info.result_uri().is_none());
    let history = History::of(&res).unwrap();
    assert_eq!(history.polls(), 4);
    assert_eq!(history.waited(), Duration::from_secs(15));
    let statuses: Vec<_> = history
        .steps()
        .iter()
        .map(|s| match s {
            Step::Polled {
                poll, status, uri, ..
            } => {
                assert_eq!(uri, "http://api.test/jobs/1");
                (*poll, status.as_u16())
            }
            other => panic!("unexpected step {other:?}"),
        })
        .collect();
    assert_eq!(statuses, [(1, 202), (2, 202), (3, 202), (4, 200)]);
    assert_eq!(text(res).await, "the result");
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_and_dates_are_honoured_exactly() {
    // HTTP-dates have whole seconds: start on a whole second of the (paused) wall clock.
    let now = recourse_core::clock::system_now();
    let into_second = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    tokio::time::sleep(Duration::from_secs(1) - Duration::from_nanos(into_second.into())).await;
    let backend = Backend::new();
    let date = httpdate::fmt_http_date(
        recourse_core::clock::system_now() + Duration::from_secs(3 + 5 + 7),
    );
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "3")]);
    backend.script(
        "/jobs/1",
        [
            r(202).h("retry-after", "5"),
            // An HTTP-date 7 s after this poll arrives (3 + 5 s from the start).
            r(202).h("retry-after", date),
            r(202).h("retry-after", "0"),
            r(200),
        ],
    );
    let svc = AsyncPollLayer::new().layer(backend.service());
    let t0 = Instant::now();
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    // Retry-After: 0 is raised to the 250 ms floor.
    assert_eq!(
        gaps(&backend, "/jobs/1", t0),
        [
            Duration::from_secs(3),
            Duration::from_secs(5),
            Duration::from_secs(7),
            Duration::from_millis(250)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn garbage_retry_after_falls_back_to_backoff() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "soon")]);
    backend.script(
        "/jobs/1",
        [
            r(202).h("retry-after", "-1"),
            r(202).h("retry-after", "1.5"),
            r(202).h("retry-after", "Wed, 99 Oct 2015 07:29:00 GMT"),
            r(200),
        ],
    );
    let svc = AsyncPollLayer::new()
        .interval(Duration::from_millis(500), 3.0, Duration::from_secs(10))
        .layer(backend.service());
    let t0 = Instant::now();
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        gaps(&backend, "/jobs/1", t0),
        [
            Duration::from_millis(500),
            Duration::from_millis(1500),
            Duration::from_millis(4500),
            Duration::from_secs(10)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn huge_retry_after_is_clamped_or_stops_with_a_resumable_timeout() {
    let backend = Backend::new();
    backend.script(
        "/start",
        [accepted("/jobs/1").h("retry-after", "1000000000000")],
    );
    backend.script("/jobs/1", [r(200)]);
    let svc = AsyncPollLayer::new()
        .max_retry_after(Duration::from_secs(60))
        .layer(backend.service());
    let t0 = Instant::now();
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(gaps(&backend, "/jobs/1", t0), secs(&[60]));

    // With the default 5 min clamp and a 2 min timeout, no wait is started at all.
    let backend = Backend::new();
    backend.script(
        "/start",
        [accepted("/jobs/1").h("retry-after", "1000000000000")],
    );
    let svc = AsyncPollLayer::new()
        .time_limit(Duration::from_secs(120))
        .layer(backend.service());
    let t0 = Instant::now();
    let err = svc
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    assert_eq!(Instant::now(), t0, "returned at once");
    let timeout = err.timeout().unwrap();
    assert_eq!(
        timeout.reason(),
        TimeoutReason::TimeLimit(Duration::from_secs(120))
    );
    assert_eq!(timeout.next_wait(), Some(Duration::from_secs(300)));
    assert_eq!(timeout.polls(), 0);
    assert_eq!(timeout.last_status(), Some(StatusCode::ACCEPTED));
    assert_eq!(backend.seen_at("/jobs/1").len(), 0);
}
