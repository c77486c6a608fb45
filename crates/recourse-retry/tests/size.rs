//! The response future stays small: it is moved at least once per request, so every byte
//! it carries costs on the pass-through path. What the layer adds to the inner future is
//! what a resend needs (the request's parts, 224 bytes, and the body template), the
//! policy (72 bytes for `Standard`), the shared configuration and a few counters; the
//! rare parts (the per-try timer, the wait, the drain) live behind pointers.

use std::convert::Infallible;
use std::future::{Ready, ready};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Empty, Full};
use recourse_core::body::ReplayBody;
use recourse_retry::RetryLayer;
use tower::{Layer, Service, service_fn};

type Res = Response<Full<Bytes>>;

fn ok(_req: Request<ReplayBody<Empty<Bytes>>>) -> Ready<Result<Res, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
}

/// Bytes the layer's future adds to the inner service's future (432 before the rare
/// parts were boxed).
const MAX_ADDED: usize = 416;

#[test]
fn the_future_adds_little_to_the_inner_future() {
    let mut inner = service_fn(ok);
    let inner_size = std::mem::size_of_val(&inner.call(Request::new(ReplayBody::empty())));
    let mut svc = RetryLayer::new().layer(service_fn(ok));
    let size = std::mem::size_of_val(&svc.call(Request::new(Empty::new())));
    println!("retry future: {size} bytes (inner future {inner_size} bytes)");
    assert!(
        size - inner_size <= MAX_ADDED,
        "the retry future adds {} bytes to the inner future ({size} - {inner_size}), more than {MAX_ADDED}",
        size - inner_size
    );
    // The per-try timeout adds one pointer-sized timer, not a `Sleep`.
    let mut timed = RetryLayer::new()
        .per_try_timeout(std::time::Duration::from_secs(1))
        .layer(service_fn(ok));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let timed_size = rt.block_on(async {
        std::mem::size_of_val(&timed.call(Request::new(Empty::<Bytes>::new())))
    });
    assert_eq!(timed_size, size, "the timer lives behind a pointer");
}
