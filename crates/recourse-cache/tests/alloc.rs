//! What a fresh hit and an uncacheable pass-through allocate, counted with a global
//! allocator wrapper; this file holds a single test so that no other test allocates
//! concurrently.
//!
//! - A hit allocates only what its response needs: the copy of the stored header map
//!   (two allocations: its index table and its entries) and the extension map that carries
//!   the [`CacheOutcome`] (three: the map, its table, the boxed value). The key shares the
//!   request URI's bytes, the store lookup clones an `Arc`, the body clones the stored
//!   `Bytes`, and nothing is formatted.
//! - A response that may not be stored (`no-store`), once its URI is known to be
//!   uncacheable, costs what the origin's response costs plus one allocation for the
//!   cache's record of the forwarded request, and the extension map (three).

use std::alloc::System;
use std::convert::Infallible;
use std::future::{Ready, ready};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::{Empty, Full};
use recourse_cache::{CacheLayer, CacheOutcome};
use recourse_testkit::alloc::{INSTRUMENTED_SYSTEM, StatsAlloc, best_of_async, count_async};
use tower::{Layer, Service, ServiceExt, service_fn};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const N: usize = 1000;

/// Allocations of a hit: header map copy (2) and extension map with the outcome (3).
const PER_HIT: usize = 5;
/// Allocations the cache adds to an uncacheable response: the record of the forwarded
/// request (1) and the extension map with the outcome (3).
const PER_PASS: usize = 4;

/// The origin's future: its answer, ready at once.
type Answer = Ready<Result<Response<Full<Bytes>>, Infallible>>;

/// An origin answering every request with `cache_control` and a 4 KiB body.
fn origin(
    cache_control: &'static str,
) -> impl Service<
    Request<Empty<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = Answer,
> + Clone {
    static BODY: [u8; 4096] = [b'x'; 4096];
    service_fn(move |_req: Request<Empty<Bytes>>| {
        let mut res = Response::new(Full::new(Bytes::from_static(&BODY)));
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            http::HeaderValue::from_static(cache_control),
        );
        ready(Ok(res))
    })
}

/// `n` GET requests to one URI, each parsed anew (not static), as a real client builds
/// them.
fn same_uri(n: usize) -> Vec<Request<Empty<Bytes>>> {
    (0..n)
        .map(|_| {
            let mut req = Request::new(Empty::new());
            *req.uri_mut() = String::from("http://api.test/items/1?q=1")
                .parse()
                .expect("a valid URI");
            req
        })
        .collect()
}

/// Sends each request and drops the response after checking its outcome and polling its
/// body once (a hit's body is the stored `Bytes`, ready at once).
async fn send<S, B>(svc: &mut S, reqs: Vec<Request<Empty<Bytes>>>, outcome: Option<CacheOutcome>)
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>, Error = Infallible>,
    B: Body + Unpin,
{
    for req in reqs {
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(CacheOutcome::of(&res), outcome);
        let mut body = res.into_body();
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        assert!(frame.is_some_and(|f| f.is_ok()));
    }
}

#[test]
fn hits_and_uncacheable_responses_allocate_only_what_the_response_needs() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        // Fresh hits: one request primes the cache, then every request is a hit.
        let mut cache = CacheLayer::new().layer(origin("max-age=3600"));
        let one = || same_uri(N);
        let prime = one().into_iter().take(1).collect();
        send(&mut cache, prime, Some(CacheOutcome::Miss)).await;
        let hits = best_of_async(N * PER_HIT, async || {
            let reqs = one();
            count_async(GLOBAL, send(&mut cache, reqs, Some(CacheOutcome::Hit))).await
        })
        .await;
        // The store's own upkeep (moka applies recorded reads in batches) allocates now
        // and then: fewer than one allocation per hundred hits.
        let upkeep = hits.allocations.checked_sub(N * PER_HIT);
        assert!(upkeep.is_some_and(|n| n < N / 100), "hits: {hits:?}");
        assert_eq!(hits.reallocations, 0, "hits: {hits:?}");

        // Uncacheable: what the origin alone allocates, then the same through the cache
        // once the URI is known to be uncacheable.
        let mut bare = origin("no-store");
        let alone = best_of_async(0, async || {
            let reqs = one();
            count_async(GLOBAL, send(&mut bare, reqs, None)).await
        })
        .await;
        assert!(
            alone.allocations >= N,
            "the origin builds a header map: {alone:?}"
        );
        let mut cache = CacheLayer::new().layer(origin("no-store"));
        let prime = one().into_iter().take(1).collect();
        send(&mut cache, prime, Some(CacheOutcome::Miss)).await;
        let expected = alone.allocations + N * PER_PASS;
        let passes = best_of_async(expected, async || {
            let reqs = one();
            count_async(GLOBAL, send(&mut cache, reqs, Some(CacheOutcome::Miss))).await
        })
        .await;
        let upkeep = passes.allocations.checked_sub(expected);
        assert!(
            upkeep.is_some_and(|n| n < N / 100),
            "no-store: {passes:?}, origin alone: {alone:?}"
        );
        assert_eq!(passes.reallocations, alone.reallocations, "{passes:?}");
    });
}
