//! The pass-through path allocates nothing: a response that starts no job costs the same
//! allocations as the bare service (zero with this backend). Its own test binary, so that
//! the counting allocator sees only this test.

use std::alloc::System;
use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use recourse_poll::AsyncPollLayer;
use recourse_testkit::alloc::{INSTRUMENTED_SYSTEM, StatsAlloc, best_of_async, count_async};
use tower::{Layer, Service, ServiceExt, service_fn};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

static BODY: &[u8] = b"{\"Response\":{\"Code\":0}}";

async fn backend<B>(_req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

fn requests(n: usize) -> Vec<Request<Full<Bytes>>> {
    (0..n)
        .map(|i| {
            let uri: http::Uri = format!("http://api.test/items/{i}?q=1").parse().unwrap();
            Request::get(uri)
                .header("accept", "application/json")
                .header("x-request-id", "abc")
                .body(Full::new(Bytes::from_static(b"")))
                .unwrap()
        })
        .collect()
}

/// Allocations made while sending `reqs` through `svc` and reading the bodies.
async fn count<S, B>(mut svc: S, reqs: Vec<Request<Full<Bytes>>>) -> usize
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut total = 0;
    for req in reqs {
        let stats = count_async(GLOBAL, async {
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
fn pass_through_allocates_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        // Warm up lazily initialised state (tracing callsites, thread locals).
        let warm = AsyncPollLayer::new().layer(service_fn(backend));
        count(warm, requests(4)).await;

        // The counter is global to the process: keep the best of up to five rounds (see
        // `recourse_testkit::alloc`).
        let bare = best_of_async(0, async || count(service_fn(backend), requests(100)).await).await;
        let layered = best_of_async(0, async || {
            count(
                AsyncPollLayer::new().layer(service_fn(backend)),
                requests(100),
            )
            .await
        })
        .await;
        assert_eq!(bare, 0, "the baseline itself allocates");
        assert_eq!(layered, 0, "the poll layer allocated on pass-through");

        // A request's credentials are kept for possible polls: inline, so a value that
        // shares its bytes (static, or parsed by hyper) costs nothing...
        let mut with_auth = requests(10);
        for req in &mut with_auth {
            req.headers_mut()
                .insert("authorization", http::HeaderValue::from_static("Bearer t"));
        }
        let layered = count(AsyncPollLayer::new().layer(service_fn(backend)), with_auth).await;
        assert_eq!(layered, 0, "credentials kept inline");
        // ...and one built from a `&str` pays the first clone of its bytes (`Bytes`
        // promotes a unique buffer to a shared one), nothing more.
        let mut with_auth = requests(1);
        with_auth[0]
            .headers_mut()
            .insert("authorization", "Bearer t".parse().unwrap());
        let one = count(AsyncPollLayer::new().layer(service_fn(backend)), with_auth).await;
        assert_eq!(one, 1, "allocations for a request with parsed credentials");
    });
}
