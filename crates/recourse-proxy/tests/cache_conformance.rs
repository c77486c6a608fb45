//! The proxy's cache defaults over loopback (issue 14): targeted cache control (RFC 9213)
//! and serving stale when the upstream cannot be reached (RFC 9111 §4.2.4).

mod common;

use std::time::Duration;

use common::{client, config_for, start};
use http_body_util::BodyExt;
use recourse_testkit::{Reply, TestServer};

/// Sends a GET and reads its body to the end.
async fn fetch(
    client: &hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    uri: http::Uri,
) {
    let res = client.get(uri).await.unwrap();
    res.into_body().collect().await.unwrap();
}

#[tokio::test]
async fn cdn_cache_control_governs_the_proxy_and_passes_downstream_unchanged() {
    let upstream = TestServer::start().await;
    // Cache-Control forbids storing; CDN-Cache-Control lets this cache keep it.
    upstream.fallback(
        "/cdn",
        Reply::ok()
            .header("cache-control", "no-store")
            .header("cdn-cache-control", "max-age=600")
            .body("for the edge"),
    );
    // An invalid targeted field is ignored: Cache-Control's no-store applies.
    upstream.fallback(
        "/bad",
        Reply::ok()
            .header("cache-control", "no-store")
            .header("cdn-cache-control", "max-age=600,")
            .body("not stored"),
    );
    let proxy = start(config_for(&upstream)).await;
    let client = client();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let res = client.get(proxy.uri("/cdn")).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cdn-cache-control"], "max-age=600");
        assert_eq!(res.headers()["cache-control"], "no-store");
        statuses.push(res.headers()["cache-status"].to_str().unwrap().to_owned());
        assert_eq!(
            res.into_body().collect().await.unwrap().to_bytes(),
            "for the edge"
        );
    }
    assert_eq!(upstream.count("/cdn"), 1, "the second request is a hit");
    assert!(
        statuses[1].starts_with("recourse-proxy; hit"),
        "{statuses:?}"
    );
    for _ in 0..2 {
        let res = client.get(proxy.uri("/bad")).await.unwrap();
        assert_eq!(res.headers()["cdn-cache-control"], "max-age=600,");
        res.into_body().collect().await.unwrap();
    }
    assert_eq!(upstream.count("/bad"), 2);
    proxy.stop().await;
}

#[tokio::test]
async fn stale_is_served_when_the_upstream_closes_or_refuses() {
    let upstream = TestServer::start().await;
    // Already stale when it arrives (Age beyond max-age), with a validator.
    let stale = || {
        Reply::ok()
            .header("cache-control", "max-age=10")
            .header("age", "60")
            .header("etag", "\"s\"")
            .body("stale but better than nothing")
    };
    upstream.script("/closing", [stale()]);
    upstream.fallback("/closing", Reply::close());
    // must-revalidate forbids it: the client gets the proxy's error.
    upstream.script(
        "/strict",
        [Reply::ok()
            .header("cache-control", "max-age=10, must-revalidate")
            .header("age", "60")
            .header("etag", "\"s\"")
            .body("strict")],
    );
    upstream.fallback("/strict", Reply::close());
    let proxy = start(config_for(&upstream)).await;
    let client = client();

    let first = client.get(proxy.uri("/closing")).await.unwrap();
    first.into_body().collect().await.unwrap();
    let res = client.get(proxy.uri("/closing")).await.unwrap();
    assert_eq!(res.status(), 200);
    let status = res.headers()["cache-status"].to_str().unwrap().to_owned();
    assert!(
        status.contains("fwd=stale") && status.contains("detail=origin-unreachable"),
        "{status}"
    );
    assert!(res.headers().contains_key("age"));
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "stale but better than nothing"
    );
    assert!(upstream.count("/closing") >= 2, "the upstream was tried");

    fetch(&client, proxy.uri("/strict")).await;
    let res = client.get(proxy.uri("/strict")).await.unwrap();
    assert!(res.status().is_server_error(), "{}", res.status());
    res.into_body().collect().await.unwrap();

    // The upstream gone altogether (connection refused): still served stale.
    upstream.shutdown().await;
    let res = tokio::time::timeout(Duration::from_secs(30), client.get(proxy.uri("/closing")))
        .await
        .expect("bounded")
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "stale but better than nothing"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn stale_if_unreachable_can_be_turned_off() {
    let upstream = TestServer::start().await;
    upstream.script(
        "/x",
        [Reply::ok()
            .header("cache-control", "max-age=10")
            .header("age", "60")
            .header("etag", "\"s\"")
            .body("x")],
    );
    upstream.fallback("/x", Reply::close());
    let mut config = config_for(&upstream);
    config.cache_stale_if_unreachable = Duration::ZERO;
    let proxy = start(config).await;
    let client = client();
    fetch(&client, proxy.uri("/x")).await;
    let res = client.get(proxy.uri("/x")).await.unwrap();
    assert!(res.status().is_server_error(), "{}", res.status());
    res.into_body().collect().await.unwrap();
    proxy.stop().await;
}

#[tokio::test]
async fn a_range_is_served_from_the_stored_response() {
    let upstream = TestServer::start().await;
    upstream.fallback(
        "/file",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .body("0123456789"),
    );
    let proxy = start(config_for(&upstream)).await;
    let client = client();
    fetch(&client, proxy.uri("/file")).await;
    let req = http::Request::get(proxy.uri("/file"))
        .header("range", "bytes=3-5")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let res = client.request(req).await.unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.headers()["content-range"], "bytes 3-5/10");
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "345");
    assert_eq!(upstream.count("/file"), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn statuses_ages_dates_and_variants_through_the_proxy() {
    let upstream = TestServer::start().await;
    // Any final status with explicit freshness is stored (RFC 9111 §3), even one that is
    // not heuristically cacheable.
    upstream.fallback(
        "/error",
        // 502: the proxy's retry layer resends 500 and 503.
        Reply::status(502)
            .header("cache-control", "max-age=600")
            .body("cached error"),
    );
    // Arrived two hours old (`Age: 7200, 0`, RFC 9111 §5.1): stale at once.
    upstream.fallback(
        "/old",
        Reply::ok()
            .header("cache-control", "max-age=3600")
            .header("age", "7200, 0")
            .body("old"),
    );
    // Two spaces in an IMF date: an invalid Expires, already expired (§5.3).
    upstream.fallback(
        "/bad-date",
        Reply::ok()
            .header("expires", "Thu, 18  Aug  2050 02:01:18 GMT")
            .body("bad date"),
    );
    // Accept-Language variants differing in order, case and whitespace are one.
    upstream.fallback(
        "/lang",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .header("vary", "Accept-Language")
            .body("lang"),
    );
    let proxy = start(config_for(&upstream)).await;
    let client = client();
    for path in ["/error", "/old", "/bad-date"] {
        fetch(&client, proxy.uri(path)).await;
        fetch(&client, proxy.uri(path)).await;
    }
    assert_eq!(upstream.count("/error"), 1);
    assert_eq!(upstream.count("/old"), 2);
    assert_eq!(upstream.count("/bad-date"), 2);
    for lang in ["en-GB, fr;q=0.5", "FR;q=0.5,en-gb", " en-gb , fr ; q=0.5"] {
        let req = http::Request::get(proxy.uri("/lang"))
            .header("accept-language", lang)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let res = client.request(req).await.unwrap();
        res.into_body().collect().await.unwrap();
    }
    assert_eq!(upstream.count("/lang"), 1);
    proxy.stop().await;
}
