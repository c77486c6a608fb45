//! The deadline layer's pass-through allocates nothing of its own: a request answered by
//! the inner service costs the allocations of the bare service plus, for a request whose
//! extensions are still empty, those of putting its `Deadline` in them (what any layer
//! that hands the deadline down must do: `http::Extensions` allocates its map and a box
//! for the value on its first insert), and nothing more; a request that already carries a
//! deadline costs nothing. This holds whether the inner future is ready at once or
//! pending once (the timer is then armed: tokio's timer wheel is intrusive, it allocates
//! nothing). No subscriber, no recorder, no reporter. Its own test binary, so that the
//! counting allocator sees only this test.

use std::alloc::System;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use recourse::{Deadline, SetDeadlineLayer};
use recourse_testkit::alloc::{INSTRUMENTED_SYSTEM, StatsAlloc, best_of_async, count_async};
use tower::{Layer, Service, ServiceExt, service_fn};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const N: usize = 100;

static BODY: &[u8] = b"{\"Response\":{\"Code\":0}}";

/// A backend that checks the request carries a deadline, then answers; `yields`: after
/// being pending once (as over a network).
fn backend(
    yields: bool,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send,
> + Clone {
    service_fn(move |req: Request<Full<Bytes>>| async move {
        assert!(
            Deadline::of(&req).is_some(),
            "the request carries its deadline"
        );
        drop(req);
        if yields {
            tokio::task::yield_now().await;
        }
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
    })
}

/// `N` GETs; with `deadline`, each already carries a (later) deadline.
fn requests(deadline: bool) -> Vec<Request<Full<Bytes>>> {
    (0..N)
        .map(|i| {
            let uri: http::Uri = format!("http://api.test/items/{i}?q=1").parse().unwrap();
            let mut req = Request::get(uri)
                .header("accept", "application/json")
                .body(Full::new(Bytes::from_static(b"")))
                .unwrap();
            if deadline {
                Deadline::after(Duration::from_secs(3600)).insert_into(&mut req);
            }
            req
        })
        .collect()
}

/// Allocations made while sending `reqs` through `svc` and reading the bodies; with
/// `insert`, each request gets its deadline by hand first (inside the count: the bare
/// service's reference for a request the layer must put the deadline on).
async fn count<S, B>(svc: &mut S, reqs: Vec<Request<Full<Bytes>>>, insert: bool) -> usize
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut total = 0;
    for mut req in reqs {
        let stats = count_async(GLOBAL, async {
            if insert {
                Deadline::after(Duration::from_secs(30)).insert_into(&mut req);
            }
            let ready = svc.ready().await.unwrap();
            let mut res = ready.call(req).await.unwrap();
            while let Some(frame) = res.body_mut().frame().await {
                drop(frame.unwrap());
            }
            drop(res);
        })
        .await;
        total += stats.allocations + stats.reallocations;
    }
    total
}

#[test]
fn the_deadline_pass_through_allocates_nothing_of_its_own() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        for yields in [false, true] {
            let mut bare = backend(yields);
            let mut layered = SetDeadlineLayer::new(Duration::from_secs(30)).layer(backend(yields));
            // Warm up lazily initialised state (tracing callsites, the timer wheel, the
            // scheduler's lists).
            count(&mut layered, requests(false), false).await;
            count(&mut bare, requests(true), false).await;

            // A request that already carries a deadline: nothing at all.
            let reference =
                best_of_async(0, async || count(&mut bare, requests(true), false).await).await;
            assert_eq!(reference, 0, "the bare backend allocates nothing");
            let carried =
                best_of_async(0, async || count(&mut layered, requests(true), false).await).await;
            assert_eq!(carried, 0, "yields: {yields}");

            // A request with no extensions yet: exactly the first insert of its deadline.
            let inserted =
                best_of_async(0, async || count(&mut bare, requests(false), true).await).await;
            assert!(inserted >= N, "an extension's first insert allocates");
            let layered = best_of_async(inserted, async || {
                count(&mut layered, requests(false), false).await
            })
            .await;
            assert_eq!(layered, inserted, "yields: {yields}");
            println!(
                "yields: {yields}: {} allocations per request, all of them the deadline's insert",
                inserted / N
            );
        }
    });
}
