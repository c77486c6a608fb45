//! What stops polling: `max_polls`, the time limit, the request's deadline, dropping the future.

use super::*;

#[tokio::test(start_paused = true)]
async fn max_polls_gives_a_resumable_timeout() {
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202)
            .h("location", "/jobs/1")
            .h("retry-after", "1")
            .h("x", "y")],
    );
    backend.script("/jobs/1", [r(202).h("retry-after", "1")]);
    let layer = AsyncPollLayer::new()
        .max_polls(3)
        .final_state(FinalState::OriginalUri);
    let svc = layer.clone().layer(backend.service());
    let mut req = post("http://api.test/start");
    req.headers_mut()
        .insert("authorization", "Bearer t".parse().unwrap());
    let err = svc.oneshot(req).await.unwrap_err();
    assert!(err.is_timeout());
    let timeout = err.into_timeout().unwrap();
    assert_eq!(timeout.reason(), TimeoutReason::MaxPolls(3));
    assert_eq!(timeout.status_url(), "http://api.test/jobs/1");
    assert_eq!(timeout.last_status(), Some(StatusCode::ACCEPTED));
    assert_eq!(timeout.polls(), 3);
    assert_eq!(timeout.elapsed(), Duration::from_secs(3));
    assert_eq!(timeout.next_wait(), Some(Duration::from_secs(1)));
    assert_eq!(backend.seen_at("/jobs/1").len(), 3);

    // Later: the job finished; resuming polls the status URL and honours the final state.
    backend.script("/jobs/1", [r(202).h("retry-after", "2"), r(200)]);
    backend.script("/start", [r(200).body("the resource")]);
    let mut resume = timeout.resume_request(Full::<Bytes>::default());
    resume
        .headers_mut()
        .insert("authorization", "Bearer t".parse().unwrap());
    let t0 = Instant::now();
    let res = layer
        .layer(backend.service())
        .oneshot(resume)
        .await
        .unwrap();
    assert_eq!(gaps_after(&backend, "/jobs/1", 3, t0), secs(&[0, 2]));
    assert_eq!(PollInfo::of(&res).unwrap().polls(), 2);
    assert_eq!(
        PollInfo::of(&res).unwrap().result_uri().unwrap(),
        "http://api.test/start"
    );
    assert_eq!(text(res).await, "the resource");
    let polls = backend.seen_at("/jobs/1");
    assert!(
        polls[3..]
            .iter()
            .all(|s| s.headers["authorization"] == "Bearer t")
    );
    let fetch = backend.seen_at("/start").pop().unwrap();
    assert_eq!(fetch.method, Method::GET);
}

#[tokio::test(start_paused = true)]
async fn total_timeout_stops_before_a_wait_that_would_pass_it() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "2")]);
    backend.script("/jobs/1", [r(202).h("retry-after", "2")]);
    let svc = AsyncPollLayer::new()
        .time_limit(Duration::from_secs(5))
        .layer(backend.service());
    let t0 = Instant::now();
    let err = svc
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    // Polls at 2 s and 4 s; the next would be at 6 s, past the 5 s limit.
    assert_eq!(gaps(&backend, "/jobs/1", t0), secs(&[2, 2]));
    assert_eq!(Instant::now() - t0, Duration::from_secs(4));
    let timeout = err.timeout().unwrap();
    assert_eq!(
        timeout.reason(),
        TimeoutReason::TimeLimit(Duration::from_secs(5))
    );
    assert_eq!(timeout.polls(), 2);
    let message = err.to_string();
    assert!(message.contains("http://api.test/jobs/1"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn a_poll_in_flight_is_cut_off_by_the_timeout() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "1")]);
    backend.script(
        "/jobs/1",
        [
            r(202).h("retry-after", "1"),
            r(200).delay(Duration::from_secs(3600)),
        ],
    );
    let svc = AsyncPollLayer::new()
        .time_limit(Duration::from_secs(10))
        .layer(backend.service());
    let t0 = Instant::now();
    let err = svc
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    assert_eq!(Instant::now() - t0, Duration::from_secs(10));
    let timeout = err.timeout().unwrap();
    assert_eq!(timeout.polls(), 1, "the poll in flight did not complete");
    assert_eq!(timeout.next_wait(), None);
    assert_eq!(timeout.last_status(), Some(StatusCode::ACCEPTED));
    // Every poll carried the effective deadline for the layers below.
    let polls = backend.seen_at("/jobs/1");
    assert!(
        polls
            .iter()
            .all(|s| s.deadline.unwrap().instant() == t0 + Duration::from_secs(10))
    );
}

#[tokio::test(start_paused = true)]
async fn the_request_deadline_is_honoured() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "2")]);
    backend.script("/jobs/1", [r(202).h("retry-after", "2")]);
    let svc = AsyncPollLayer::new().layer(backend.service());
    let t0 = Instant::now();
    let mut req = post("http://api.test/start");
    Deadline::after(Duration::from_secs(7)).insert_into(&mut req);
    let err = svc.oneshot(req).await.unwrap_err();
    assert_eq!(gaps(&backend, "/jobs/1", t0), secs(&[2, 2, 2]));
    let timeout = err.timeout().unwrap();
    assert_eq!(timeout.reason(), TimeoutReason::Deadline);
    assert!(Instant::now() - t0 <= Duration::from_secs(7));
    assert_eq!(
        backend.seen_at("/jobs/1")[0].deadline.unwrap().instant(),
        t0 + Duration::from_secs(7)
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_stops_polling() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "1")]);
    backend.script("/jobs/1", [r(202).h("retry-after", "1")]);
    let svc = AsyncPollLayer::new().layer(backend.service());
    let future = svc.oneshot(post("http://api.test/start"));
    let cut = tokio::time::timeout(Duration::from_millis(2500), future).await;
    assert!(cut.is_err(), "still polling when dropped");
    assert_eq!(backend.seen_at("/jobs/1").len(), 2);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        backend.seen_at("/jobs/1").len(),
        2,
        "no poll after the drop"
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_that_never_finishes_ends_within_the_defaults() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "0")]);
    backend.script("/jobs/1", [r(202).h("retry-after", "0")]);
    let t0 = Instant::now();
    let err = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    let timeout = err.timeout().unwrap();
    assert_eq!(timeout.reason(), TimeoutReason::MaxPolls(100));
    assert_eq!(backend.seen_at("/jobs/1").len(), 100);
    assert_eq!(Instant::now() - t0, Duration::from_millis(250 * 100));
}
