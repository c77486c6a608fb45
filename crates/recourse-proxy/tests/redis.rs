//! `--cache-store redis://...`: proxies sharing one cache in a real `redis-server`, started
//! by each test on a free port on 127.0.0.1 and killed after.
//!
//! Without `redis-server` on the `PATH` these tests say so loudly and return, except under
//! `CI=true`, where they fail. They run on real time (Redis is a real socket).

mod common;

use std::time::Duration;

use common::{client, config_for, start};
use http_body_util::BodyExt;
use recourse_proxy::{CacheStore, Proxy};
use recourse_testkit::redis::RedisServer;
use recourse_testkit::{Reply, TestServer};

async fn get_body(
    client: &hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    uri: http::Uri,
) -> String {
    let res = tokio::time::timeout(Duration::from_secs(10), client.get(uri))
        .await
        .expect("the proxy answers")
        .expect("a response");
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.expect("a body").to_bytes();
    String::from_utf8(body.to_vec()).expect("UTF-8")
}

#[tokio::test]
async fn two_proxies_on_one_redis_share_the_cache() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let upstream = TestServer::start().await;
    for path in ["/a", "/b"] {
        upstream.fallback(
            path,
            Reply::ok()
                .header("cache-control", "max-age=60")
                .body(format!("shared {path}")),
        );
    }
    let mut config = config_for(&upstream);
    config.cache_store = CacheStore::Redis(redis.url());
    let first = start(config.clone()).await;
    let second = start(config).await;
    let client = client();

    // The store's write can land a moment after the response reached the client: wait
    // for it (bounded) before asking the other proxy.
    assert_eq!(get_body(&client, first.uri("/a")).await, "shared /a");
    assert!(
        redis.wait_for_keys(1).await,
        "the first response reaches Redis"
    );
    let stored = redis.key_count().await.expect("redis answers");
    assert_eq!(get_body(&client, second.uri("/a")).await, "shared /a");
    assert_eq!(get_body(&client, second.uri("/b")).await, "shared /b");
    assert!(
        redis.wait_for_keys(stored + 1).await,
        "the second response reaches Redis"
    );
    assert_eq!(get_body(&client, first.uri("/b")).await, "shared /b");
    assert_eq!(
        (upstream.count("/a"), upstream.count("/b")),
        (1, 1),
        "a response stored through one proxy is a hit through the other"
    );
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_proxy_starts_and_serves_while_redis_is_down() {
    let Some(mut redis) = RedisServer::not_started() else {
        return;
    };
    let upstream = TestServer::start().await;
    upstream.fallback(
        "/doc",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .body("document"),
    );
    let mut config = config_for(&upstream);
    config.cache_store = CacheStore::Redis(redis.url());
    let proxy = start(config).await;
    let client = client();
    for _ in 0..2 {
        assert_eq!(get_body(&client, proxy.uri("/doc")).await, "document");
    }
    assert_eq!(
        upstream.count("/doc"),
        2,
        "no Redis: every request goes upstream"
    );

    // Redis comes up: the cache starts working, with no restart of the proxy.
    redis.restart().await;
    let mut hit = false;
    for _ in 0..100 {
        let before = upstream.count("/doc");
        assert_eq!(get_body(&client, proxy.uri("/doc")).await, "document");
        if upstream.count("/doc") == before {
            hit = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hit, "the proxy's cache recovers once Redis answers");
    proxy.stop().await;
}

#[test]
fn a_bad_redis_url_is_a_start_up_error() {
    let upstream = recourse_proxy::Upstream::parse("http://127.0.0.1:9").unwrap();
    let mut config = recourse_proxy::Config::for_upstream(upstream);
    config.cache_store = CacheStore::Redis("redis://127.0.0.1:99999/0".into());
    let Err(err) = Proxy::new(config) else {
        panic!("a bad Redis URL must be refused at start-up");
    };
    assert!(err.to_string().contains("invalid Redis URL"), "{err}");
}
