//! Allocations on the pass-through path, counted by a global allocator: with no `tracing`
//! subscriber and no `metrics` recorder, the attempt span is disabled and the duration
//! histogram's key is static, so classifying a response allocates nothing (issue 15).
//!
//! One test function only: the counter is global, and other test threads would pollute it.

use std::alloc::System;
use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use recourse_classify::Classify;
use recourse_testkit::alloc::{
    INSTRUMENTED_SYSTEM, StatsAlloc, best_of, count, parsed_gets as requests, ready as now,
};
use tower::Service;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Calls `svc` once per request and returns how many allocations that made.
fn allocations<S, B>(svc: &mut S, requests: Vec<Request<Empty<Bytes>>>) -> usize
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
{
    let mut responses = Vec::with_capacity(requests.len());
    let allocated = count(GLOBAL, || {
        for req in requests {
            now(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
            responses.push(now(svc.call(req)).unwrap());
        }
    })
    .allocations;
    for res in &responses {
        assert!(res.status() == StatusCode::OK || res.status() == StatusCode::SERVICE_UNAVAILABLE);
    }
    allocated
}

#[test]
fn classifying_without_a_subscriber_or_recorder_allocates_nothing() {
    let ok = || {
        tower::service_fn(|_req: Request<Empty<Bytes>>| {
            std::future::ready(Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new())))
        })
    };
    let unavailable = tower::service_fn(|_req: Request<Empty<Bytes>>| {
        let mut res = Response::new(Empty::<Bytes>::new());
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        std::future::ready(Ok::<_, Infallible>(res))
    });
    let mut bare = ok();
    let mut classify = Classify::new(ok());
    let mut failing = Classify::new(unavailable);

    allocations(&mut bare, requests(10));
    allocations(&mut classify, requests(10));
    allocations(&mut failing, requests(10));
    let baseline = best_of(0, || allocations(&mut bare, requests(1000)));
    assert_eq!(baseline, 0, "the bare service_fn allocates nothing");
    let layered = best_of(0, || allocations(&mut classify, requests(1000)));
    assert_eq!(
        layered, 0,
        "classify allocated {layered} times for 1000 200s"
    );
    // A 503 records its class in the histogram's labels too: still a static key.
    let failures = best_of(0, || allocations(&mut failing, requests(1000)));
    assert_eq!(
        failures, 0,
        "classify allocated {failures} times for 1000 503s"
    );

    // The counter does see allocations: spans, once a subscriber listens.
    let subscriber = recourse_testkit::spans::Spans::install();
    assert!(allocations(&mut classify, requests(10)) >= 10);
    drop(subscriber);
}
