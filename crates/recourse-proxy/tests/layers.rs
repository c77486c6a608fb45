//! The layers inside the proxy, over real loopback connections.

mod common;

use bytes::Bytes;
use common::{client, config_for, start};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use recourse_testkit::{Reply, Simulator, TestServer};

#[tokio::test]
async fn a_cache_hit_makes_no_upstream_request() {
    let upstream = TestServer::start().await;
    upstream.fallback(
        "/fresh",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .header("etag", "\"a\"")
            .body("cached body"),
    );
    let proxy = start(config_for(&upstream)).await;
    let client = client();
    for _ in 0..3 {
        let res = client.get(proxy.uri("/fresh")).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.into_body().collect().await.unwrap().to_bytes(),
            "cached body"
        );
    }
    assert_eq!(
        upstream.count("/fresh"),
        1,
        "only the first request reaches the upstream"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn the_shared_cache_keeps_private_responses_out() {
    let upstream = TestServer::start().await;
    upstream.fallback(
        "/mine",
        Reply::ok()
            .header("cache-control", "private, max-age=60")
            .body("for one user"),
    );
    let proxy = start(config_for(&upstream)).await;
    let client = client();
    for _ in 0..2 {
        let res = client.get(proxy.uri("/mine")).await.unwrap();
        assert_eq!(
            res.into_body().collect().await.unwrap().to_bytes(),
            "for one user"
        );
    }
    assert_eq!(
        upstream.count("/mine"),
        2,
        "a shared cache must not store a private response"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_503_is_retried_and_a_post_without_a_key_is_not() {
    let upstream = TestServer::start().await;
    upstream.script(
        "/flaky",
        [
            Reply::status(503).header("retry-after", "0"),
            Reply::ok().body("second time"),
        ],
    );
    upstream.fallback("/post", Reply::status(503).header("retry-after", "0"));
    let proxy = start(config_for(&upstream)).await;
    let client = client();
    let res = client.get(proxy.uri("/flaky")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "second time"
    );
    assert_eq!(upstream.count("/flaky"), 2);

    let res = client
        .request(
            Request::post(proxy.uri("/post"))
                .body(Full::from("charge"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        upstream.count("/post"),
        1,
        "a POST without an idempotency key is sent once"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn retry_can_be_switched_off() {
    let upstream = TestServer::start().await;
    upstream.script(
        "/flaky",
        [Reply::status(503).header("retry-after", "0"), Reply::ok()],
    );
    let mut config = config_for(&upstream);
    config.retry = false;
    let proxy = start(config).await;
    let res = client().get(proxy.uri("/flaky")).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(upstream.count("/flaky"), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn redirects_are_followed_when_switched_on() {
    let upstream = Simulator::start().await;
    let mut config = config_for(&upstream);
    config.follow_redirects = true;
    let proxy = start(config).await;
    let body = Bytes::from_static(b"{\"Data\":\"012345678905\"}");
    let res = client()
        .request(
            Request::post(proxy.uri("/barcode/old"))
                .body(Full::new(body.clone()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-echo-method"], "POST");
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), body);
    let seen = upstream.requests_to("/barcode/new");
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].body, body,
        "the 307 target gets the byte-identical body"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn accepted_jobs_are_polled_when_switched_on() {
    let upstream = Simulator::start().await;
    let mut config = config_for(&upstream);
    config.poll = true;
    let proxy = start(config).await;
    let res = client()
        .request(
            Request::post(proxy.uri("/barcode/async?polls=1&retry_after=0"))
                .body(Full::from("{}"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, recourse_testkit::simulator::JOB_SUCCEEDED_BODY);
    assert_eq!(upstream.count("/jobs/1"), 2);
    proxy.stop().await;
}
