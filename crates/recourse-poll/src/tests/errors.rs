//! Typed errors, progress reports, history, and `Send` futures.

use super::*;

#[tokio::test(start_paused = true)]
async fn invalid_status_urls_are_typed_errors() {
    for location in ["javascript:alert(1)", "file:///etc/passwd", "http://"] {
        let backend = Backend::new();
        backend.script("/start", [accepted(location)]);
        let err = AsyncPollLayer::new()
            .layer(backend.service())
            .oneshot(post("http://api.test/start"))
            .await
            .unwrap_err();
        assert!(err.is_location(), "{location}: {err}");
        assert_eq!(backend.seen().len(), 1, "nothing polled");
    }
}

#[tokio::test(start_paused = true)]
async fn progress_callback_and_watch_channel() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "1")]);
    backend.script("/jobs/1", [r(202).h("retry-after", "3"), r(200)]);
    let seen = Arc::new(Mutex::new(Vec::<PollProgress>::new()));
    let svc = AsyncPollLayer::new()
        .on_progress({
            let seen = seen.clone();
            move |p: &PollProgress| {
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(p.clone())
            }
        })
        .layer(backend.service());
    let (tx, mut rx) = ProgressSender::channel();
    let mut req = post("http://api.test/start");
    tx.insert_into(&mut req);
    svc.oneshot(req).await.unwrap();
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].poll, 1);
    assert_eq!(seen[0].decision, Decision::Running);
    assert_eq!(seen[0].waited, Duration::from_secs(1));
    assert_eq!(seen[0].next_wait, Some(Duration::from_secs(3)));
    assert_eq!(seen[1].decision, Decision::Succeeded);
    assert_eq!(seen[1].elapsed, Duration::from_secs(4));
    assert_eq!(seen[1].next_wait, None);
    // The sender is gone with the request; the last update stays readable.
    assert_eq!(rx.borrow_and_update().as_ref(), Some(&seen[1]));
}

#[tokio::test(start_paused = true)]
async fn history_of_discarded_responses_is_carried() {
    let backend = Backend::new();
    let retried = Step::Retried {
        attempt: 2,
        status: Some(StatusCode::SERVICE_UNAVAILABLE),
        waited: Duration::from_secs(1),
    };
    backend.script("/start", [accepted("/jobs/1").step(retried.clone())]);
    backend.script("/jobs/1", [r(202).step(retried.clone()), r(200)]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    let steps = History::of(&res).unwrap().steps().to_vec();
    assert_eq!(steps.len(), 4);
    assert_eq!(steps[0], retried);
    assert_eq!(steps[1], retried, "poll 1's own retry, before poll 1");
    assert!(matches!(steps[2], Step::Polled { poll: 1, .. }));
    assert!(matches!(steps[3], Step::Polled { poll: 2, .. }));
}

#[tokio::test(start_paused = true)]
async fn inner_errors_keep_their_type_and_the_status_url() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [R::fail()]);
    let err: PollError<BoxError> = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_inner());
    assert_eq!(err.status_url().unwrap(), "http://api.test/jobs/1");
    assert!(
        err.to_string()
            .contains("while polling http://api.test/jobs/1")
    );
    assert_eq!(err.into_inner().unwrap().to_string(), "connection reset");

    let backend = Backend::new();
    backend.script("/start", [R::fail()]);
    let err = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_inner() && err.status_url().is_none());
}

#[test]
fn futures_and_bodies_are_send() {
    fn assert_send<T: Send + 'static>() {}
    type Svc = AsyncPoll<
        tower::util::BoxCloneSyncService<
            Request<PollRequestBody<Full<Bytes>>>,
            Response<Full<Bytes>>,
            BoxError,
        >,
    >;
    assert_send::<<Svc as Service<Request<Full<Bytes>>>>::Future>();
    assert_send::<PeekBody<Full<Bytes>>>();
    assert_send::<PollError<BoxError>>();
    assert_send::<AsyncPollLayer>();
}
