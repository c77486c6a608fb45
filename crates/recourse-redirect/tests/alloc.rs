//! Allocations on the pass-through path, counted by a global allocator.
//!
//! One test function only: the counter is global, and other test threads would pollute it.

use std::alloc::System;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use recourse_redirect::{Redirect, RedirectBody};
use recourse_testkit::alloc::{INSTRUMENTED_SYSTEM, StatsAlloc, best_of, count};
use tower::Service;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Polls a future that is ready at once (no runtime, so nothing else allocates).
fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the in-memory backend is always ready"),
    }
}

fn requests(n: usize) -> Vec<Request<Empty<Bytes>>> {
    (0..n)
        .map(|i| {
            // Parsed (not static) URIs, as a real client builds them.
            let uri: http::Uri = format!("http://api.test/items/{i}?q=1").parse().unwrap();
            Request::get(uri).body(Empty::new()).unwrap()
        })
        .collect()
}

/// Calls `svc` once per request and returns how many allocations that made.
fn allocations<S>(svc: &mut S, requests: Vec<Request<Empty<Bytes>>>) -> usize
where
    S: Service<Request<Empty<Bytes>>, Response = Response<Empty<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    let mut responses = Vec::with_capacity(requests.len());
    let allocated = count(GLOBAL, || {
        for req in requests {
            now(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
            let res = now(svc.call(req)).unwrap();
            responses.push(res);
        }
    })
    .allocations;
    for res in &responses {
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.extensions().is_empty(),
            "nothing inserted on pass-through"
        );
    }
    allocated
}

#[test]
fn pass_through_allocates_nothing() {
    let backend = tower::service_fn(|_req: Request<RedirectBody<Empty<Bytes>>>| {
        std::future::ready(Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new())))
    });
    let mut bare = tower::service_fn(|_req: Request<Empty<Bytes>>| {
        std::future::ready(Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new())))
    });
    let mut redirect = Redirect::new(backend);

    // Warm up (lazy initialisations, if any), then measure.
    allocations(&mut bare, requests(10));
    allocations(&mut redirect, requests(10));
    // The counter is global to the process: keep the best of up to five rounds (see
    // `recourse_testkit::alloc`).
    let baseline = best_of(0, || allocations(&mut bare, requests(1000)));
    let layered = best_of(0, || allocations(&mut redirect, requests(1000)));
    assert_eq!(baseline, 0, "the bare service_fn allocates nothing");
    assert_eq!(
        layered, 0,
        "the redirect layer allocated {layered} times for 1000 pass-through requests"
    );

    // The counter does see allocations: headers are cloned to be able to resend them.
    let with_headers = requests(10)
        .into_iter()
        .map(|mut req| {
            req.headers_mut()
                .insert(http::header::ACCEPT, "application/json".parse().unwrap());
            req
        })
        .collect();
    assert!(allocations(&mut redirect, with_headers) >= 10);
}
