//! The cost of the retry layer on a response it does not retry, next to a bare
//! `service_fn` and to tower's `Retry` (with a policy that never retries), and the cost of
//! one retry with a 1 KiB and a 1 MiB request body (which must not grow with the size).
//!
//! `cargo bench -p recourse-retry --bench pass_through`

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{Empty, Full};
use recourse_core::body::ReplayBody;
use recourse_retry::RetryLayer;
use tower::{Layer, Service, service_fn};

/// Polls a future that completes without waiting.
fn now<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the benchmarked future must not wait"),
    }
}

fn ok<B>(_req: Request<B>) -> Ready<Result<Response<Empty<Bytes>>, Infallible>> {
    ready(Ok(Response::new(Empty::new())))
}

/// tower's Retry with a policy that never retries (the peer's pass-through).
#[derive(Clone)]
struct Never;

impl<B: Clone, Res, E> tower::retry::Policy<Request<B>, Res, E> for Never {
    type Future = Ready<()>;
    fn retry(&mut self, _: &mut Request<B>, _: &mut Result<Res, E>) -> Option<Ready<()>> {
        None
    }
    fn clone_request(&mut self, req: &Request<B>) -> Option<Request<B>> {
        Some(req.clone())
    }
}

fn pass_through(c: &mut Criterion) {
    let uri: Uri = "http://example.com/items?page=2".parse().unwrap();
    let req = || {
        Request::get(uri.clone())
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let mut group = c.benchmark_group("pass-through");
    let mut bare = service_fn(ok::<Empty<Bytes>>);
    group.bench_function("service_fn", |b| b.iter(|| now(bare.call(req())).unwrap()));
    let mut retry = RetryLayer::new().layer(service_fn(ok::<ReplayBody<Empty<Bytes>>>));
    group.bench_function("recourse-retry", |b| {
        b.iter(|| now(retry.call(req())).unwrap())
    });
    let mut tower_retry =
        tower::retry::RetryLayer::new(Never).layer(service_fn(ok::<Empty<Bytes>>));
    group.bench_function("tower-retry", |b| {
        b.iter(|| now(tower_retry.call(req())).unwrap())
    });
    group.finish();
}

fn one_retry(c: &mut Criterion) {
    let uri: Uri = "http://example.com/blob".parse().unwrap();
    let mut group = c.benchmark_group("one retry");
    for size in [1024usize, 1024 * 1024] {
        let body = Bytes::from(vec![7u8; size]);
        // 503 on every other call: each request is sent twice.
        let flip = Arc::new(AtomicBool::new(false));
        let backend = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
            let fail = !flip.fetch_xor(true, Ordering::Relaxed);
            let mut res = Response::new(Empty::<Bytes>::new());
            if fail {
                *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            }
            ready(Ok::<_, Infallible>(res))
        });
        let mut retry = RetryLayer::new()
            .no_budget()
            .backoff(recourse_core::backoff::Backoff::constant(Duration::ZERO))
            .layer(backend);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        group.bench_function(format!("{} KiB body", size / 1024), |b| {
            b.iter(|| {
                let req = Request::put(uri.clone())
                    .body(Full::new(body.clone()))
                    .unwrap();
                let res = rt.block_on(retry.call(req)).unwrap();
                assert_eq!(res.status(), StatusCode::OK);
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = pass_through, one_retry
}
criterion_main!(benches);
