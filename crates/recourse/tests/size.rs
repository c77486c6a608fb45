//! The response futures stay small: every request moves its future at least once (out of
//! `call`, into the caller's task), so each byte the outermost layer keeps costs on every
//! request, and the whole stack's future is the sum of every layer's. The deadline layer
//! keeps its timer, its span and two pointers (the report's bookkeeping and the excerpt
//! being read, both only when a reporter is set) beside the inner future.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Empty, Full};
use recourse::report::Reporting;
use recourse::{ClientStackLayer, SetDeadlineLayer};
use tower::{Layer, Service, service_fn};

type Res = Response<Full<Bytes>>;

fn ok<B>(_req: Request<B>) -> Ready<Result<Res, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
}

/// What the deadline layer adds to its inner future, at most: a `tokio::time::Sleep`
/// (armed only when the inner future is pending), the `recourse.request` span, two
/// pointers and flags.
const DEADLINE_OVERHEAD: usize = 192;

#[tokio::test]
async fn the_deadline_future_is_the_inner_future_and_a_timer() {
    let mut bare = service_fn(ok::<Empty<Bytes>>);
    let inner = std::mem::size_of_val(&bare.call(Request::new(Empty::new())));
    let sleep = std::mem::size_of::<tokio::time::Sleep>();

    let mut svc = SetDeadlineLayer::new(Duration::from_secs(30)).layer(service_fn(ok));
    let fut = svc.call(Request::new(Empty::<Bytes>::new()));
    let size = std::mem::size_of_val(&fut);
    drop(fut);
    // A reporter changes nothing in the future's size: its bookkeeping is behind a pointer.
    let mut reported = SetDeadlineLayer::new(Duration::from_secs(30))
        .report(Reporting::new(|_| {}))
        .layer(service_fn(ok));
    let fut = reported.call(Request::new(Empty::<Bytes>::new()));
    let with_reporter = std::mem::size_of_val(&fut);
    drop(fut);

    println!(
        "deadline future: {size} bytes (inner future {inner} bytes, tokio Sleep {sleep} bytes)"
    );
    assert_eq!(with_reporter, size);
    assert!(
        size - inner <= DEADLINE_OVERHEAD,
        "the deadline layer adds {} bytes to its inner future",
        size - inner
    );
}

#[tokio::test]
async fn the_full_stack_future_size() {
    let mut stack = ClientStackLayer::new().layer(service_fn(ok));
    let fut = stack.call(Request::new(Full::<Bytes>::default()));
    let size = std::mem::size_of_val(&fut);
    drop(fut);
    println!("full stack future: {size} bytes");
    // The outermost layer's share of it, measured on the stack without it.
    let mut below = {
        recourse::poll::AsyncPollLayer::new().layer(
            recourse::redirect::RedirectLayer::new().layer(
                recourse::cache::CacheLayer::new().layer(
                    recourse::retry::RetryLayer::new().layer(
                        recourse::breaker::BreakerLayer::new()
                            .circuit_breaking(false)
                            .layer(recourse::classify::ClassifyLayer::new().layer(service_fn(ok))),
                    ),
                ),
            ),
        )
    };
    let fut = below.call(Request::new(Full::<Bytes>::default()));
    let inner = std::mem::size_of_val(&fut);
    drop(fut);
    println!("below the deadline layer: {inner} bytes");
    assert!(
        size - inner <= DEADLINE_OVERHEAD,
        "the deadline layer adds {} bytes to the stack's future",
        size - inner
    );
}
