//! The pass-through path allocates nothing once the origin is known: a request to a
//! closed, ungated origin, answered with a success. Counted with a global allocator
//! wrapper; this file holds a single test so that no other test allocates concurrently.

use std::alloc::System;
use std::convert::Infallible;
use std::future::{Ready, ready};

use http::{Request, Response, Uri};
use recourse_breaker::BreakerLayer;
use recourse_testkit::alloc::{INSTRUMENTED_SYSTEM, StatsAlloc, best_of_async, count_async};
use tower::{Layer, Service, ServiceExt, service_fn};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const N: usize = 1000;

fn backend(
    status: u16,
) -> impl Service<
    Request<()>,
    Response = Response<()>,
    Error = Infallible,
    Future = Ready<Result<Response<()>, Infallible>>,
> + Clone {
    service_fn(move |_req: Request<()>| {
        let mut res = Response::new(());
        *res.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
        ready(Ok(res))
    })
}

fn requests(uris: &[Uri]) -> Vec<Request<()>> {
    (0..N)
        .map(|n| Request::get(uris[n % uris.len()].clone()).body(()).unwrap())
        .collect()
}

#[test]
fn pass_through_allocates_nothing_once_the_origin_is_known() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let one: Vec<Uri> = vec!["http://example.com/items?page=2".parse().unwrap()];
    let two: Vec<Uri> = vec![
        "http://example.com/items".parse().unwrap(),
        "https://other.example/x".parse().unwrap(),
    ];
    rt.block_on(async {
        let layer = BreakerLayer::new();
        let mut svc = layer.layer(backend(200));
        // Learn the origins.
        for req in requests(&two).into_iter().chain(requests(&one)) {
            svc.ready().await.unwrap().call(req).await.unwrap();
        }

        // One origin (the service remembers it), then two alternating (a registry lookup
        // each time), then a client error (not a failure): no allocation in any.
        for (uris, status) in [(&one, 200), (&two, 200), (&one, 404)] {
            let mut svc = layer.layer(backend(status));
            let stats = best_of_async(0, async || {
                let reqs = requests(uris);
                count_async(GLOBAL, async {
                    for req in reqs {
                        let res = svc.ready().await.unwrap().call(req).await.unwrap();
                        assert_eq!(res.status(), status);
                    }
                })
                .await
            })
            .await;
            assert_eq!(stats.allocations, 0, "{status} {uris:?}: {stats:?}");
            assert_eq!(stats.reallocations, 0, "{stats:?}");
        }

        // The counter does see allocations: a new origin is not free.
        let reqs: Vec<_> = (0..10)
            .map(|n| {
                Request::get(format!("http://new{n}.example/"))
                    .body(())
                    .unwrap()
            })
            .collect();
        let stats = count_async(GLOBAL, async {
            for req in reqs {
                svc.ready().await.unwrap().call(req).await.unwrap();
            }
        })
        .await;
        assert!(stats.allocations > 0);
    });
}
