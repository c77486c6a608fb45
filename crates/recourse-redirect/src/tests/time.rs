//! The request's deadline between hops, and draining a 3xx body within its limits.

use super::*;

#[tokio::test(start_paused = true)]
async fn no_hop_starts_after_the_deadline() {
    let (svc, log) = backend(|s| match s.uri.path() {
        "/slow" => redirect(302, "/next"),
        _ => ok("next"),
    });
    let slow = tower::service_fn(move |req: Request<RedirectBody<Full<Bytes>>>| {
        let mut svc = svc.clone();
        async move {
            if req.uri().path() == "/slow" {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            svc.ready().await?.call(req).await
        }
    });
    let mut req = get("http://a.test/slow");
    Deadline::after(Duration::from_secs(1)).insert_into(&mut req);
    let err = Redirect::new(slow.clone()).oneshot(req).await.unwrap_err();
    assert!(err.is_deadline_expired(), "{err}");
    assert_eq!(
        err.deadline_expired().unwrap().next().unwrap(),
        "http://a.test/next"
    );
    assert_eq!(seen(&log).len(), 1);

    // With time left, the hop starts and carries the deadline (and every extension).
    let mut req = get("http://a.test/slow");
    Deadline::after(Duration::from_secs(10)).insert_into(&mut req);
    let res = Redirect::new(slow).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let seen = seen(&log);
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].deadline, seen[1].deadline);
    assert!(seen[2].deadline.is_some());
}

#[tokio::test(start_paused = true)]
async fn draining_a_stalled_redirect_body_is_bounded_in_time() {
    let (svc, _) = backend(|s| match s.uri.path() {
        "/old" => Ok(Response::builder()
            .status(302)
            .header(LOCATION, "/new")
            .body(Stalled::new().boxed())?),
        _ => ok("new"),
    });
    let start = tokio::time::Instant::now();
    let res = RedirectLayer::new()
        .drain_timeout(Duration::from_millis(250))
        .layer(svc.clone())
        .oneshot(get("http://a.test/old"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "new");
    assert_eq!(start.elapsed(), Duration::from_millis(250));

    // A deadline closer than the drain timeout bounds the drain too, then stops the chain.
    let mut req = get("http://a.test/old");
    Deadline::after(Duration::from_millis(100)).insert_into(&mut req);
    let start = tokio::time::Instant::now();
    let err = Redirect::new(svc.clone()).oneshot(req).await.unwrap_err();
    assert!(err.is_deadline_expired());
    assert_eq!(start.elapsed(), Duration::from_millis(100));

    // Draining can be turned off: the body is dropped unread.
    let start = tokio::time::Instant::now();
    let res = RedirectLayer::new()
        .drain_limit(0)
        .layer(svc)
        .oneshot(get("http://a.test/old"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(start.elapsed(), Duration::ZERO);
}
