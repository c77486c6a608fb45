//! The proxy's breaker (`--breaker`, on by default), over real loopback connections with
//! paused time: a refused request gets `503` with `Retry-After` set to when the upstream
//! takes requests again, and never reaches the upstream.

mod common;

use std::time::Duration;

use common::{client, config_for, start};
use http::StatusCode;
use recourse_testkit::{Reply, TestServer};

fn retry_after(res: &http::Response<hyper::body::Incoming>) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_from_the_upstream_is_told_to_every_client_until_it_passes() {
    let upstream = TestServer::start().await;
    upstream.script(
        "/items",
        [
            Reply::status(503)
                .header("retry-after", "30")
                .body("maintenance"),
            Reply::ok().body("items"),
        ],
    );
    let mut config = config_for(&upstream);
    // The proxy's own retry would wait out the 30 s; this is about the others.
    config.retry = false;
    let proxy = start(config).await;
    let client = client();

    let res = client.get(proxy.uri("/items")).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the upstream's own 503"
    );
    for _ in 0..5 {
        let res = client.get(proxy.uri("/items")).await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after(&res), 30, "until the upstream reopens");
    }
    assert_eq!(
        upstream.count("/items"),
        1,
        "refused requests never reach the upstream"
    );

    tokio::time::sleep(Duration::from_secs(10)).await;
    let res = client.get(proxy.uri("/items")).await.unwrap();
    assert_eq!(retry_after(&res), 20, "the time left");

    tokio::time::sleep(Duration::from_secs(20)).await;
    let res = client.get(proxy.uri("/items")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(upstream.count("/items"), 2);
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_upstream_opens_the_circuit_and_clients_get_503_with_retry_after() {
    let upstream = TestServer::start().await;
    upstream.fallback("/broken", Reply::status(500));
    let mut config = config_for(&upstream);
    config.retry = false;
    config.breaker_failures = 3;
    config.breaker_break = Duration::from_secs(5);
    let proxy = start(config).await;
    let client = client();
    for _ in 0..3 {
        let res = client.get(proxy.uri("/broken")).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let res = client.get(proxy.uri("/broken")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after(&res), 5);
    assert_eq!(upstream.count("/broken"), 3);

    // After the break a probe goes through; the upstream recovered, so the circuit closes.
    upstream.fallback("/broken", Reply::ok());
    tokio::time::sleep(Duration::from_secs(5)).await;
    for _ in 0..3 {
        let res = client.get(proxy.uri("/broken")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(upstream.count("/broken"), 6);
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn with_retry_on_a_refusal_is_answered_at_once_not_retried() {
    let upstream = TestServer::start().await;
    upstream.fallback("/broken", Reply::status(500));
    let mut config = config_for(&upstream);
    config.breaker_failures = 3;
    let proxy = start(config).await;
    let client = client();
    // GETs are retried (2 retries): the first request's three tries open the circuit.
    let res = client.get(proxy.uri("/broken")).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(upstream.count("/broken"), 3);
    let started = tokio::time::Instant::now();
    let res = client.get(proxy.uri("/broken")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(started.elapsed(), Duration::ZERO, "answered at once");
    assert_eq!(upstream.count("/broken"), 3);

    // Off: every request reaches the upstream.
    let mut config = config_for(&upstream);
    config.breaker = false;
    config.retry = false;
    let proxy2 = start(config).await;
    for _ in 0..10 {
        let res = client.get(proxy2.uri("/broken")).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(upstream.count("/broken"), 13);
    proxy.stop().await;
    proxy2.stop().await;
}
