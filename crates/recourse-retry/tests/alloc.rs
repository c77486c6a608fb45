//! The pass-through path allocates nothing: a request whose first response is not
//! retried, with an empty body and parts that clone without allocating, costs zero
//! allocations in the layer. Counted with a global allocator wrapper; this file holds a
//! single test so that no other test allocates concurrently.

use std::alloc::System;
use std::convert::Infallible;
use std::future::{Ready, ready};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::Empty;
use recourse_core::body::ReplayBody;
use recourse_retry::RetryLayer;
use recourse_testkit::alloc::{INSTRUMENTED_SYSTEM, StatsAlloc, best_of_async, count, count_async};
use tower::{Layer, Service, ServiceExt, service_fn};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const N: usize = 1000;

type Res = Response<Empty<Bytes>>;

fn backend(
    status: u16,
) -> impl Service<
    Request<ReplayBody<Empty<Bytes>>>,
    Response = Res,
    Error = Infallible,
    Future = Ready<Result<Res, Infallible>>,
> + Clone {
    service_fn(move |_req: Request<ReplayBody<Empty<Bytes>>>| {
        let mut res = Response::new(Empty::new());
        *res.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
        ready(Ok(res))
    })
}

fn requests(uri: &Uri, headers: bool) -> Vec<Request<Empty<Bytes>>> {
    (0..N)
        .map(|_| {
            let mut req = Request::get(uri.clone()).body(Empty::new()).unwrap();
            if headers {
                req.headers_mut()
                    .insert("accept", "application/json".parse().unwrap());
                req.headers_mut()
                    .insert("x-request-id", "abc-123".parse().unwrap());
            }
            req
        })
        .collect()
}

#[test]
fn pass_through_allocates_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let uri: Uri = "http://example.com/items?page=2".parse().unwrap();
    rt.block_on(async {
        let mut svc = RetryLayer::new().layer(backend(200));
        // Warm up whatever initialises lazily (the clock pairing, the budget's slots).
        for req in requests(&uri, false) {
            svc.ready().await.unwrap().call(req).await.unwrap();
        }

        // The bare backend, for reference.
        let mut bare = backend(200);
        // (The counter is global to the process: each measurement keeps the best of up
        // to five rounds, see `recourse_testkit::alloc`; a per-request allocation shows
        // up as at least `N` in every round.)
        let stats = best_of_async(0, async || {
            let reqs = requests(&uri, false);
            count_async(GLOBAL, async {
                for req in reqs {
                    let req = req.map(|b| ReplayBody::new(b, 0));
                    bare.ready().await.unwrap().call(req).await.unwrap();
                }
            })
            .await
        })
        .await;
        assert_eq!(stats.allocations, 0, "the bare backend allocates nothing");

        // Through the retry layer: 200s pass through.
        let stats = best_of_async(0, async || {
            let reqs = requests(&uri, false);
            count_async(GLOBAL, async {
                for req in reqs {
                    let res = svc.ready().await.unwrap().call(req).await.unwrap();
                    assert_eq!(res.status(), 200);
                }
            })
            .await
        })
        .await;
        assert_eq!(stats.allocations, 0, "{stats:?}");
        assert_eq!(stats.reallocations, 0, "{stats:?}");

        // So do responses the policy does not retry (404).
        let mut not_found = RetryLayer::new().layer(backend(404));
        let stats = best_of_async(0, async || {
            let reqs = requests(&uri, false);
            count_async(GLOBAL, async {
                for req in reqs {
                    not_found.ready().await.unwrap().call(req).await.unwrap();
                }
            })
            .await
        })
        .await;
        assert_eq!(stats.allocations, 0, "{stats:?}");

        // With headers, the layer costs exactly the clone of the parts it keeps to be
        // able to resend them.
        // (Fresh requests for each count: a first clone of a header value promotes its
        // buffer to a shared one, so later clones are cheaper.)
        let reqs = requests(&uri, true);
        let clone_cost = count(GLOBAL, || {
            for req in &reqs {
                std::hint::black_box(req.headers().clone());
            }
        })
        .allocations;
        assert!(clone_cost > 0);
        let stats = best_of_async(clone_cost, async || {
            let reqs = requests(&uri, true);
            count_async(GLOBAL, async {
                for req in reqs {
                    svc.ready().await.unwrap().call(req).await.unwrap();
                }
            })
            .await
        })
        .await;
        assert_eq!(stats.allocations, clone_cost, "{stats:?}");

        // The counter does see allocations: a retry is not free.
        let mut failing = RetryLayer::new().random_source(|| 0.0).layer(backend(503));
        let reqs = requests(&uri, false);
        let stats = count_async(GLOBAL, async {
            for req in reqs.into_iter().take(10) {
                failing.ready().await.unwrap().call(req).await.unwrap();
            }
        })
        .await;
        assert!(stats.allocations > 0);
    });
}
