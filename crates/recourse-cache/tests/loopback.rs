//! The cache in front of hyper-util's client, against real servers on 127.0.0.1.
//!
//! These tests run on real time: coalesced requests wait with a timeout, and paused time
//! would let that timeout fire while the runtime waits for the loopback socket.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use recourse_cache::{Cache, CacheLayer, CacheOutcome};
use recourse_core::{History, Step};
use recourse_testkit::{Recorded, Reply, Simulator, TestServer, simulator};
use tower::{Layer, ServiceExt};

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn cache(layer: CacheLayer) -> Cache<HttpClient> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    layer.layer(client)
}

async fn fetch(
    cache: &Cache<HttpClient>,
    req: Request<Empty<Bytes>>,
) -> (StatusCode, Option<CacheOutcome>, Option<History>, Bytes) {
    let res = cache.clone().oneshot(req).await.expect("response");
    let outcome = CacheOutcome::of(&res);
    let history = History::of(&res).cloned();
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, outcome, history, body)
}

fn get(uri: http::Uri) -> Request<Empty<Bytes>> {
    Request::get(uri).body(Empty::new()).unwrap()
}

#[tokio::test]
async fn a_fresh_hit_makes_no_origin_request() {
    let server = TestServer::start().await;
    server.fallback(
        "/fresh",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .body("fresh body"),
    );
    let cache = cache(CacheLayer::new());
    let (_, outcome, _, body) = fetch(&cache, get(server.uri("/fresh"))).await;
    assert_eq!(outcome, Some(CacheOutcome::Miss));
    assert_eq!(body, "fresh body");
    for _ in 0..5 {
        let (status, outcome, _, body) = fetch(&cache, get(server.uri("/fresh"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(outcome, Some(CacheOutcome::Hit));
        assert_eq!(body, "fresh body");
    }
    assert_eq!(server.count("/fresh"), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_revalidation_makes_one_conditional_request() {
    let server = TestServer::start().await;
    server.handle("/doc", |req: &Recorded| {
        let validators = |r: Reply| {
            r.header("etag", "\"d1\"")
                .header("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT")
                .header("cache-control", "no-cache")
        };
        if req.header("if-none-match") == Some("\"d1\"") {
            validators(Reply::status(304).header("x-validated", "yes"))
        } else {
            validators(Reply::ok().body("document"))
        }
    });
    let cache = cache(CacheLayer::new());
    fetch(&cache, get(server.uri("/doc"))).await;
    let (status, outcome, history, body) = fetch(&cache, get(server.uri("/doc"))).await;
    assert_eq!(server.count("/doc"), 2, "one conditional request");
    let seen = &server.requests_to("/doc")[1];
    assert_eq!(seen.header("if-none-match"), Some("\"d1\""));
    assert_eq!(
        seen.header("if-modified-since"),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );
    assert_eq!(status, StatusCode::OK, "the 304 becomes the stored 200");
    assert_eq!(outcome, Some(CacheOutcome::Revalidated));
    assert_eq!(body, "document");
    assert_eq!(
        history.unwrap().steps(),
        &[Step::Revalidated {
            status: StatusCode::NOT_MODIFIED
        }]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_barcode_simulator_304_row() {
    let server = Simulator::start().await;
    let cache = cache(CacheLayer::new());
    let uri = || server.uri("/barcode/cached");
    // First: from the origin.
    let (status, outcome, _, body) = fetch(&cache, get(uri())).await;
    assert_eq!(
        (status, outcome),
        (StatusCode::OK, Some(CacheOutcome::Miss))
    );
    assert_eq!(body, simulator::cached_body(1));
    // Second: the client asks for validation; the origin answers 304 to the stored
    // validators and the body comes from the cache.
    let req = Request::get(uri())
        .header("cache-control", "max-age=0")
        .body(Empty::new())
        .unwrap();
    let (status, outcome, _, body) = fetch(&cache, req).await;
    assert_eq!(
        (status, outcome),
        (StatusCode::OK, Some(CacheOutcome::Revalidated))
    );
    assert_eq!(body, simulator::cached_body(1));
    let conditional = &server.requests_to("/barcode/cached")[1];
    assert_eq!(
        conditional.header("if-none-match"),
        Some(simulator::cached_etag(1).as_str())
    );
    // Third: fresh, no request at all.
    let (_, outcome, _, body) = fetch(&cache, get(uri())).await;
    assert_eq!(outcome, Some(CacheOutcome::Hit));
    assert_eq!(body, simulator::cached_body(1));
    assert_eq!(server.count("/barcode/cached"), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_simultaneous_requests_for_a_cold_key_make_one() {
    let server = TestServer::start().await;
    // The origin takes a moment, so that every request arrives while the first is out.
    server.fallback(
        "/cold",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .body("cold body")
            .delay(Duration::from_millis(200)),
    );
    let cache = cache(CacheLayer::new());
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cache = cache.clone();
            let uri = server.uri("/cold");
            tokio::spawn(async move { fetch(&cache, get(uri)).await })
        })
        .collect();
    let mut misses = 0;
    for task in tasks {
        let (status, outcome, _, body) = task.await.expect("task");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "cold body");
        if outcome == Some(CacheOutcome::Miss) {
            misses += 1;
        }
    }
    assert_eq!(server.count("/cold"), 1, "one origin request");
    assert_eq!(misses, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_stale_response_survives_a_dead_connection() {
    let server = TestServer::start().await;
    server.script(
        "/flaky",
        [
            Reply::ok()
                .header("cache-control", "max-age=0, stale-if-error=600")
                .body("last good"),
            Reply::reset(),
            Reply::status(503),
        ],
    );
    let cache = cache(CacheLayer::new());
    fetch(&cache, get(server.uri("/flaky"))).await;
    // A reset connection, then a 503: both answered from the stale copy.
    for _ in 0..2 {
        let (status, outcome, _, body) = fetch(&cache, get(server.uri("/flaky"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(outcome, Some(CacheOutcome::Stale));
        assert_eq!(body, "last good");
    }
    assert_eq!(server.count("/flaky"), 3);
    server.shutdown().await;
}

#[tokio::test]
async fn a_large_body_streams_through_unstored() {
    let server = TestServer::start().await;
    let chunks: Vec<Bytes> = (0..8).map(|i| Bytes::from(vec![b'a' + i; 1000])).collect();
    server.fallback(
        "/large",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .chunked(chunks, Duration::ZERO),
    );
    let store = recourse_cache::MemoryStore::default().with_max_entry_size(4000);
    let cache = cache(CacheLayer::new().store(store.clone()));
    for _ in 0..2 {
        let (_, outcome, _, body) = fetch(&cache, get(server.uri("/large"))).await;
        assert_eq!(outcome, Some(CacheOutcome::Miss));
        assert_eq!(body.len(), 8000);
        assert_eq!(body[7999], b'h');
    }
    assert_eq!(server.count("/large"), 2);
    assert_eq!(store.entry_count(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_post_invalidates_over_the_network() {
    let server = TestServer::start().await;
    server.fallback(
        "/item",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .body("item"),
    );
    let cache = cache(CacheLayer::new());
    fetch(&cache, get(server.uri("/item"))).await;
    let post = Request::post(server.uri("/item"))
        .body(Empty::new())
        .unwrap();
    let (_, outcome, _, _) = fetch(&cache, post).await;
    assert_eq!(outcome, Some(CacheOutcome::Bypass));
    let (_, outcome, _, _) = fetch(&cache, get(server.uri("/item"))).await;
    assert_eq!(outcome, Some(CacheOutcome::Miss));
    assert_eq!(server.count("/item"), 3);
    server.shutdown().await;
}
