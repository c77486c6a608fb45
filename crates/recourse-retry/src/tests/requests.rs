//! Which requests are resent: idempotent methods (RFC 9110 §9.2.2), idempotency keys,
//! opt-ins, and the attempt numbers.

use super::*;

#[tokio::test(start_paused = true)]
async fn post_without_a_key_is_sent_once() {
    let backend = Backend::new([status(503), status(200)]);
    let res = send(&exact(), &backend, post("amount=10")).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(backend.calls(), 1);
    assert_eq!(
        info(&res),
        RetryInfo {
            attempts: 1,
            stopped: Some(StopReason::NotIdempotent),
            timeouts: 0
        }
    );
    let backend = Backend::new([status(503), status(200)]);
    let patch = Request::patch("http://example.com/x")
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(send(&exact(), &backend, patch).await.unwrap().status(), 503);
    assert_eq!(backend.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn post_with_a_key_is_resent_with_the_same_key_and_body() {
    let backend = Backend::new([status(503), status(500), status(201)]);
    let mut req = post("amount=10&currency=EUR");
    req.headers_mut()
        .insert("idempotency-key", "k-123".parse().unwrap());
    let res = send(&exact(), &backend, req).await.unwrap();
    assert_eq!(res.status(), 201);
    let seen = backend.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.method, Method::POST);
        assert_eq!(s.headers["idempotency-key"], "k-123");
        assert_eq!(s.body, "amount=10&currency=EUR");
    }
}

#[tokio::test(start_paused = true)]
async fn opt_ins_and_key_injection() {
    // Per request.
    let backend = Backend::new([status(503), status(200)]);
    let mut req = post("x");
    req.extensions_mut().insert(Idempotent);
    assert_eq!(send(&exact(), &backend, req).await.unwrap().status(), 200);
    // For the whole layer.
    let backend = Backend::new([status(503), status(200)]);
    let layer = exact().retry_non_idempotent(true);
    assert_eq!(
        send(&layer, &backend, post("x")).await.unwrap().status(),
        200
    );
    // Other key header names.
    let backend = Backend::new([status(503), status(200)]);
    let layer = exact().idempotency_key_headers([http::HeaderName::from_static("x-dedupe")]);
    let mut req = post("x");
    req.headers_mut().insert("x-dedupe", "1".parse().unwrap());
    assert_eq!(send(&layer, &backend, req).await.unwrap().status(), 200);
    // An injected key, the same on every attempt.
    let backend = Backend::new([status(503), status(503), status(200)]);
    let layer = exact().inject_idempotency_key(true);
    assert_eq!(
        send(&layer, &backend, post("x")).await.unwrap().status(),
        200
    );
    let keys: Vec<_> = backend
        .seen()
        .iter()
        .map(|s| s.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| *k == keys[0]));
    assert_eq!(keys[0].len(), 32);
}

#[tokio::test(start_paused = true)]
async fn attempts_are_numbered_on_retries() {
    let backend = Backend::new([status(503), status(503), status(200)]);
    send(&exact(), &backend, get()).await.unwrap();
    let attempts: Vec<_> = backend.seen().iter().map(|s| s.attempt).collect();
    assert_eq!(attempts, [None, Some(2), Some(3)]);
    let backend = Backend::new([status(503), status(200)]);
    send(&exact().tag_first_attempt(true), &backend, get())
        .await
        .unwrap();
    let attempts: Vec<_> = backend.seen().iter().map(|s| s.attempt).collect();
    assert_eq!(attempts, [Some(1), Some(2)]);
}
