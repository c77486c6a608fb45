//! The proxy forwards over real loopback connections: methods, bodies, headers, errors.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{client, config_for, no_layers, start};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use recourse_testkit::{Reply, TestServer};

#[tokio::test]
async fn every_method_passes_through_with_its_body() {
    let upstream = TestServer::start().await;
    upstream.fallback("/echo", Reply::echo());
    let proxy = start(no_layers(config_for(&upstream))).await;
    let client = client();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CUSTOM"] {
        let body = format!("body of {method}");
        let req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(proxy.uri("/echo?m=1"))
            .body(Full::new(Bytes::from(body.clone())))
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{method}");
        assert_eq!(res.headers()["x-echo-method"], method);
        let got = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(got, body.as_bytes(), "{method}");
    }
    let seen = upstream.requests_to("/echo");
    assert_eq!(seen.len(), 7);
    assert_eq!(seen[1].method, Method::POST);
    assert_eq!(seen[1].uri, "/echo?m=1");
    assert_eq!(seen[1].body, "body of POST");
    // HEAD has no body but still passes.
    let req = Request::head(proxy.uri("/echo"))
        .body(Full::default())
        .unwrap();
    assert_eq!(client.request(req).await.unwrap().status(), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let upstream = TestServer::start().await;
    upstream.fallback(
        "/h",
        Reply::ok()
            .header("connection", "x-upstream-private")
            .header("x-upstream-private", "secret")
            .header("keep-alive", "timeout=5")
            .header("x-kept", "yes")
            .body("ok"),
    );
    let proxy = start(no_layers(config_for(&upstream))).await;
    let req = Request::get(proxy.uri("/h"))
        .header("connection", "x-client-private")
        .header("x-client-private", "secret")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic eDp5")
        .header("upgrade", "websocket")
        .header("authorization", "Bearer end-to-end")
        .header("host", "public.example")
        .body(Full::default())
        .unwrap();
    let res = client().request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-upstream-private").is_none());
    assert!(res.headers().get("keep-alive").is_none());
    assert_eq!(res.headers()["x-kept"], "yes");
    assert_eq!(res.headers()["via"], "1.1 recourse");
    let seen = &upstream.requests_to("/h")[0];
    for gone in ["x-client-private", "te", "proxy-authorization", "upgrade"] {
        assert!(seen.headers.get(gone).is_none(), "{gone} was forwarded");
    }
    assert_eq!(seen.headers["authorization"], "Bearer end-to-end");
    assert_eq!(seen.headers["via"], "1.1 recourse");
    assert_eq!(seen.headers["host"], upstream.addr().to_string());
    proxy.stop().await;
}

#[tokio::test]
async fn ten_mib_streams_intact_both_ways() {
    let upstream = TestServer::start().await;
    upstream.fallback("/big", Reply::echo());
    let proxy = start(no_layers(config_for(&upstream))).await;
    let body: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let body = Bytes::from(body);
    let req = Request::put(proxy.uri("/big"))
        .body(Full::new(body.clone()))
        .unwrap();
    let res = client().request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let got = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(got.len(), body.len());
    assert!(got == body, "the body changed on the way");
    assert_eq!(upstream.requests_to("/big")[0].body.len(), body.len());
    proxy.stop().await;
}

#[tokio::test]
async fn redirects_and_accepted_pass_through_by_default() {
    let upstream = TestServer::start().await;
    upstream.fallback(
        "/moved",
        Reply::status(307).header("location", "/elsewhere"),
    );
    upstream.fallback(
        "/job",
        Reply::status(202)
            .header("location", "/jobs/1")
            .header("retry-after", "1"),
    );
    upstream.fallback("/see", Reply::status(303).header("location", "/other"));
    let proxy = start(config_for(&upstream)).await;
    let client = client();
    let res = client
        .request(
            Request::post(proxy.uri("/moved"))
                .body(Full::from("x"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 307);
    assert_eq!(res.headers()["location"], "/elsewhere");
    let res = client
        .request(
            Request::post(proxy.uri("/job"))
                .body(Full::from("x"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(res.headers()["location"], "/jobs/1");
    let res = client.get(proxy.uri("/see")).await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        upstream.count("/elsewhere") + upstream.count("/jobs/1") + upstream.count("/other"),
        0
    );
    proxy.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let upstream = TestServer::start().await;
    upstream.fallback("/up", Reply::echo());
    let mut config = no_layers(config_for(&upstream));
    config.max_body = 1024;
    let proxy = start(config).await;
    let res = client()
        .request(
            Request::post(proxy.uri("/up"))
                .body(Full::new(Bytes::from(vec![1u8; 4096])))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        upstream.count("/up"),
        0,
        "an oversized body must not reach the upstream"
    );
    let res = client()
        .request(
            Request::post(proxy.uri("/up"))
                .body(Full::new(Bytes::from(vec![1u8; 1000])))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn unreachable_upstream_is_502_and_slow_upstream_is_504() {
    let dead = recourse_testkit::refused_uri();
    let mut config = recourse_proxy::Config::for_upstream(
        recourse_proxy::Upstream::parse(&format!("http://{}", dead.authority().unwrap())).unwrap(),
    );
    config.retry = false;
    config.cache = false;
    let proxy = start(config).await;
    let res = client().get(proxy.uri("/x")).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    proxy.stop().await;

    let upstream = TestServer::start().await;
    upstream.fallback("/slow", Reply::never());
    let mut config = no_layers(config_for(&upstream));
    config.upstream_timeout = Duration::from_millis(200);
    let proxy = start(config).await;
    let res = client().get(proxy.uri("/slow")).await.unwrap();
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    proxy.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let upstream = TestServer::start().await;
    upstream.fallback(
        "/slowish",
        Reply::ok()
            .delay(Duration::from_millis(300))
            .body("finished"),
    );
    let proxy = start(no_layers(config_for(&upstream))).await;
    let uri = proxy.uri("/slowish");
    let in_flight = tokio::spawn(async move { client().get(uri).await });
    assert!(
        upstream
            .wait_for_path("/slowish", 1, Duration::from_secs(5))
            .await
    );
    proxy.stop().await;
    let res = in_flight.await.unwrap().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "finished"
    );
}

#[tokio::test]
async fn forwarding_facts_replace_client_claims_by_default() {
    let upstream = TestServer::start().await;
    upstream.fallback("/f", Reply::ok());
    let proxy = start(no_layers(config_for(&upstream))).await;
    let req = Request::get(proxy.uri("/f"))
        .header("host", "shop.example")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("forwarded", "for=6.6.6.6")
        .body(Full::default())
        .unwrap();
    assert_eq!(client().request(req).await.unwrap().status(), 200);
    let seen = &upstream.requests_to("/f")[0];
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(seen.headers["x-forwarded-host"], "shop.example");
    assert!(seen.headers.get("forwarded").is_none());
    assert_eq!(seen.headers["host"], upstream.addr().to_string());
    proxy.stop().await;
}

#[tokio::test]
async fn trusted_forwarding_facts_are_extended() {
    let upstream = TestServer::start().await;
    upstream.fallback("/f", Reply::ok());
    let mut config = no_layers(config_for(&upstream));
    config.trust_forwarded = true;
    let proxy = start(config).await;
    let req = Request::get(proxy.uri("/f"))
        .header("host", "shop.example")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .body(Full::default())
        .unwrap();
    assert_eq!(client().request(req).await.unwrap().status(), 200);
    let seen = &upstream.requests_to("/f")[0];
    assert_eq!(seen.headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    proxy.stop().await;
}

#[tokio::test]
async fn rfc7239_forwarded_when_chosen() {
    let upstream = TestServer::start().await;
    upstream.fallback("/f", Reply::ok());
    let mut config = no_layers(config_for(&upstream));
    config.forwarded_headers = recourse_proxy::ForwardedHeaders::Rfc7239;
    let proxy = start(config).await;
    let req = Request::get(proxy.uri("/f"))
        .header("host", "shop.example:8080")
        .header("x-forwarded-for", "6.6.6.6")
        .body(Full::default())
        .unwrap();
    assert_eq!(client().request(req).await.unwrap().status(), 200);
    let seen = &upstream.requests_to("/f")[0];
    assert_eq!(
        seen.headers["forwarded"],
        "for=127.0.0.1;proto=http;host=\"shop.example:8080\""
    );
    assert!(seen.headers.get("x-forwarded-for").is_none());
    proxy.stop().await;
}
