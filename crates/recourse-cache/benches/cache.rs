//! The cost of the cache layer next to a bare `service_fn`: a response it cannot store
//! (pass-through), and hits on 4 KiB and 64 KiB bodies (which must cost the same: a hit
//! clones the stored `Bytes`, it never copies or decodes the body). Bodies are read to the
//! end in every case.
//!
//! The futures are polled by hand with a no-op waker (every one completes at once), inside
//! a tokio runtime context as in an application.
//!
//! `cargo bench -p recourse-cache --bench cache`

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, Uri};
use http_body::Body;
use http_body_util::{Empty, Full};
use recourse_cache::CacheLayer;
use tower::{Layer, Service};

/// Polls a future that completes without waiting.
fn now<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the benchmarked future must not wait"),
    }
}

/// Reads a body to the end without waiting; returns its length.
fn drain<B: Body + Unpin>(mut body: B) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut len = 0;
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    len += bytes::Buf::remaining(data);
                }
            }
            Poll::Ready(None) => return len,
            Poll::Ready(Some(Err(_))) => panic!("body error"),
            Poll::Pending => panic!("the benchmarked body must not wait"),
        }
    }
}

/// An origin answering at once with a fixed body and `Cache-Control`.
#[derive(Clone)]
struct Origin {
    cache_control: &'static str,
    body: Bytes,
}

impl Service<Request<Empty<Bytes>>> for Origin {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<Empty<Bytes>>) -> Self::Future {
        ready(Ok(Response::builder()
            .header("cache-control", self.cache_control)
            .header("content-type", "application/json")
            .body(Full::new(self.body.clone()))
            .unwrap()))
    }
}

fn origin(cache_control: &'static str, body: Bytes) -> Origin {
    Origin {
        cache_control,
        body,
    }
}

fn bench(c: &mut Criterion) {
    // Inside a runtime context (the layer coalesces misses only there), polled by hand.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _context = runtime.enter();
    let uri: Uri = "http://example.com/items?page=2".parse().unwrap();
    let req = || {
        Request::get(uri.clone())
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let small = Bytes::from(vec![b'x'; 4 * 1024]);
    let large = Bytes::from(vec![b'x'; 64 * 1024]);

    let mut group = c.benchmark_group("cache");
    let mut bare = origin("no-store", small.clone());
    group.bench_function("service_fn", |b| {
        b.iter(|| drain(now(bare.call(req())).unwrap().into_body()))
    });
    let mut pass = CacheLayer::new().layer(origin("no-store", small.clone()));
    group.bench_function("pass-through (no-store)", |b| {
        b.iter(|| drain(now(pass.call(req())).unwrap().into_body()))
    });
    let mut plain = CacheLayer::new().layer(origin("private=\"x\", no-transform", small.clone()));
    group.bench_function("pass-through (no freshness, no validator)", |b| {
        b.iter(|| drain(now(plain.call(req())).unwrap().into_body()))
    });
    for (name, body) in [("hit 4 KiB", small.clone()), ("hit 64 KiB", large.clone())] {
        let mut hit = CacheLayer::new().layer(origin("max-age=3600", body));
        drain(now(hit.call(req())).unwrap().into_body());
        group.bench_function(name, |b| {
            b.iter(|| drain(now(hit.call(req())).unwrap().into_body()))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
