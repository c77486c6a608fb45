//! Request bodies replayed within the replay limit, and failed response bodies drained
//! within their limits.

use super::*;

#[tokio::test(start_paused = true)]
async fn a_large_in_memory_body_is_resent_without_a_copy() {
    let data = Bytes::from(vec![b'x'; 1024 * 1024]);
    let original = data.as_ptr() as usize;
    let pointers = Arc::new(Mutex::new(Vec::new()));
    let seen = pointers.clone();
    let svc = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
        let seen = seen.clone();
        async move {
            let mut body = req.into_body();
            let mut total = 0;
            while let Some(frame) = body.frame().await {
                let data = frame?.into_data().unwrap_or_default();
                total += data.len();
                seen.lock().unwrap().push(data.as_ptr() as usize);
            }
            assert_eq!(total, 1024 * 1024);
            let code = if seen.lock().unwrap().len() < 3 {
                503
            } else {
                200
            };
            Ok::<_, BoxError>(
                Response::builder()
                    .status(code)
                    .body(Empty::<Bytes>::new())?,
            )
        }
    });
    let req = Request::put("http://example.com/blob")
        .body(Full::new(data))
        .unwrap();
    let res = tower::Layer::layer(&exact(), svc)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // One frame per attempt, each pointing into the caller's buffer.
    assert_eq!(*pointers.lock().unwrap(), [original; 3]);
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_over_the_cap_is_sent_once() {
    let (tx, body) = channel(8);
    tokio::spawn(async move {
        for _ in 0..4 {
            let _ = tx.send(Bytes::from(vec![b'y'; 1024])).await;
        }
    });
    let backend = Backend::new([status(503), status(200)]);
    let mut req = Request::put("http://example.com/upload")
        .body(body)
        .unwrap();
    req.headers_mut()
        .insert("x-request-id", "req-9".parse().unwrap());
    let layer = exact().replay_limit(2048);
    let res = send(&layer, &backend, req).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(backend.calls(), 1);
    assert_eq!(
        backend.seen()[0].body.len(),
        4096,
        "the one attempt got the whole body"
    );
    assert_eq!(
        info(&res).stopped,
        Some(StopReason::NotReplayable(NotReplayable::TooLarge {
            limit: 2048
        }))
    );
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_under_the_cap_is_replayed() {
    let (tx, body) = channel(8);
    tokio::spawn(async move {
        for chunk in ["part one, ", "part two"] {
            let _ = tx.send(Bytes::from_static(chunk.as_bytes())).await;
        }
    });
    let backend = Backend::new([status(500), status(200)]);
    let req = Request::put("http://example.com/upload")
        .body(body)
        .unwrap();
    let res = send(&exact(), &backend, req).await.unwrap();
    assert_eq!(res.status(), 200);
    let bodies: Vec<_> = backend.seen().iter().map(|s| s.body.clone()).collect();
    assert_eq!(bodies, ["part one, part two", "part one, part two"]);
}

#[tokio::test(start_paused = true)]
async fn failed_bodies_are_drained_within_bounds() {
    // A body that never ends is read up to the byte limit, then dropped.
    let read = Arc::new(AtomicU64::new(0));
    let counter = read.clone();
    let calls = Arc::new(Mutex::new(0));
    let n = calls.clone();
    let svc = service_fn(move |_req: Request<ReplayBody<Empty<Bytes>>>| {
        *n.lock().unwrap() += 1;
        let code = if *n.lock().unwrap() == 1 { 503 } else { 200 };
        let res = Response::builder()
            .status(code)
            .body(Endless::counting(counter.clone()))
            .unwrap();
        async move { Ok::<_, Infallible>(res) }
    });
    let layer = exact().drain_limit(10 * 1024);
    let res = tower::Layer::layer(&layer, svc)
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        read.load(Ordering::SeqCst),
        11 * 1024,
        "read just past the limit, then stopped"
    );

    // A body that stalls is given up after the drain timeout; the retry waits for it.
    let calls2 = Arc::new(Mutex::new(Vec::new()));
    let seen = calls2.clone();
    let svc = service_fn(move |_req: Request<ReplayBody<Empty<Bytes>>>| {
        seen.lock().unwrap().push(Instant::now());
        let code = if seen.lock().unwrap().len() == 1 {
            503
        } else {
            200
        };
        let res = Response::builder()
            .status(code)
            .body(Stalled::after("x"))
            .unwrap();
        async move { Ok::<_, Infallible>(res) }
    });
    let layer = exact().drain_timeout(Duration::from_millis(700));
    let res = tower::Layer::layer(&layer, svc)
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let at = calls2.lock().unwrap().clone();
    assert_eq!(
        at[1] - at[0],
        700 * MS,
        "the drain timeout, longer than the 100 ms wait"
    );
    let _ = calls;
}

#[tokio::test(start_paused = true)]
async fn draining_never_outlasts_the_request_deadline() {
    // The drain timeout is long, the deadline is not: the drain ends at the deadline
    // (core's `Drain` is bounded by both), not after the drain timeout.
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let svc = service_fn(move |_req: Request<ReplayBody<Empty<Bytes>>>| {
        seen.lock().unwrap().push(Instant::now());
        let code = if seen.lock().unwrap().len() == 1 {
            503
        } else {
            200
        };
        let res = Response::builder()
            .status(code)
            .body(Stalled::after("x"))
            .unwrap();
        async move { Ok::<_, Infallible>(res) }
    });
    let layer = exact().drain_timeout(Duration::from_secs(10));
    let mut req = get();
    Deadline::after(400 * MS).insert_into(&mut req);
    let res = tower::Layer::layer(&layer, svc).oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let at = calls.lock().unwrap().clone();
    assert_eq!(
        at[1] - at[0],
        400 * MS,
        "the deadline, sooner than the 10 s drain timeout"
    );
}
