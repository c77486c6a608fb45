//! The breaker over loopback (real hyper servers on 127.0.0.1, hyper-util's client, paused
//! time): a maintenance window announced by `503 Retry-After: 30`, an origin failing half
//! its requests, and a healthy origin next to them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{self, Client};
use hyper_util::rt::TokioExecutor;
use recourse_breaker::{BreakerError, BreakerHandle, BreakerInfo, BreakerLayer, BreakerState};
use recourse_core::Deadline;
use recourse_core::body::ReplayBody;
use recourse_retry::RetryLayer;
use recourse_testkit::{Reply, TestServer};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

/// hyper-util's client, sending bodies of type `B` (the caller's, or the retry layer's
/// `ReplayBody`).
fn client<B>() -> Client<HttpConnector, B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<recourse_core::BoxError>,
{
    Client::builder(TokioExecutor::new()).build_http()
}

fn get(uri: Uri, deadline: Duration) -> Request<Empty<Bytes>> {
    let mut req = Request::get(uri).body(Empty::new()).unwrap();
    Deadline::after(deadline).insert_into(&mut req);
    req
}

const WINDOW: Duration = Duration::from_secs(30);

/// A server in maintenance for 30 s from now: `503 Retry-After: 30` until then, 200 after.
/// Returns how many requests arrived during the window.
fn maintenance(server: &TestServer) -> Arc<AtomicUsize> {
    let until = Instant::now() + WINDOW;
    let during = Arc::new(AtomicUsize::new(0));
    let count = during.clone();
    server.handle("/items", move |_| {
        if Instant::now() < until {
            count.fetch_add(1, Ordering::SeqCst);
            Reply::status(503).header("retry-after", "30")
        } else {
            Reply::ok().body("items")
        }
    });
    during
}

/// Lets the runtime run (loopback I/O included) until `done`, without moving paused time.
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..1_000_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the condition never held");
}

async fn first_request_meets_the_maintenance<S>(
    svc: &S,
    server: &TestServer,
    handle: &BreakerHandle,
) where
    S: Service<Request<Empty<Bytes>>, Response = Response<Incoming>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug + Send,
{
    // The first request goes alone, and its 503 closes the origin for everyone.
    let first = tokio::spawn(
        svc.clone()
            .oneshot(get(server.uri("/items"), Duration::from_secs(60))),
    );
    let origin = server.uri("/");
    until(|| handle.gated_until(&origin).is_some()).await;
    let res = first.await.unwrap().unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(start_paused = true)]
async fn a_maintenance_window_holds_a_hundred_requests_until_the_origin_reopens() {
    let server = TestServer::start().await;
    let during = maintenance(&server);
    let layer = BreakerLayer::new();
    let handle = layer.handle();
    // The recommended order: retry above the breaker.
    let svc = RetryLayer::new().layer(layer.layer(client::<ReplayBody<Empty<Bytes>>>()));
    let start = Instant::now();
    let first = tokio::spawn(
        svc.clone()
            .oneshot(get(server.uri("/items"), Duration::from_secs(60))),
    );
    let origin = server.uri("/");
    until(|| handle.gated_until(&origin).is_some()).await;

    // 99 more, all at once, while the origin is closed: they wait.
    let others: Vec<_> = (0..99)
        .map(|_| {
            tokio::spawn(
                svc.clone()
                    .oneshot(get(server.uri("/items"), Duration::from_secs(60))),
            )
        })
        .collect();
    let mut results = vec![first.await.unwrap()];
    for task in others {
        results.push(task.await.unwrap());
    }
    assert_eq!(results.len(), 100);
    for res in results {
        assert_eq!(res.unwrap().status(), StatusCode::OK);
    }
    // During the 30 s the origin saw exactly one request: the first.
    assert_eq!(during.load(Ordering::SeqCst), 1);
    assert_eq!(
        server.count("/items"),
        101,
        "the first twice (503, then its retry), 99 once"
    );
    assert_eq!(start.elapsed(), WINDOW, "all done when the window ended");
}

#[tokio::test(start_paused = true)]
async fn requests_that_cannot_wait_fail_fast_with_the_reopening_time() {
    let server = TestServer::start().await;
    let during = maintenance(&server);
    let layer = BreakerLayer::new();
    let handle = layer.handle();
    let svc = layer.layer(client::<Empty<Bytes>>());
    first_request_meets_the_maintenance(&svc, &server, &handle).await;
    let reopens = handle.gated_until(&server.uri("/")).unwrap();

    // A 10 s deadline does not fit the 30 s wait: refused at once, with the time, unsent.
    let start = Instant::now();
    let mut refused = 0;
    for _ in 0..99 {
        match svc
            .clone()
            .oneshot(get(server.uri("/items"), Duration::from_secs(10)))
            .await
        {
            Err(err) => {
                let o = err.overloaded().expect("an Overloaded refusal");
                assert_eq!(o.until(), reopens);
                assert_eq!(
                    o.origin(),
                    format!("http://127.0.0.1:{}", server.addr().port())
                );
                refused += 1;
            }
            Ok(res) => panic!("sent during the window: {}", res.status()),
        }
    }
    assert_eq!(refused, 99);
    assert_eq!(start.elapsed(), Duration::ZERO, "failed fast");
    assert_eq!(during.load(Ordering::SeqCst), 1);

    // Once it reopens, everything goes through.
    tokio::time::sleep_until(reopens).await;
    for _ in 0..10 {
        let res = svc
            .clone()
            .oneshot(get(server.uri("/items"), Duration::from_secs(10)))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(during.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn an_origin_failing_half_its_requests_is_cut_off_and_probes_bring_it_back() {
    let sick = TestServer::start().await;
    let healthy = TestServer::start().await;
    // Half of the sick origin's answers fail, alternately (never two in a row).
    let n = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    {
        let (n, failing) = (n.clone(), failing.clone());
        sick.handle("/x", move |_| {
            let i = n.fetch_add(1, Ordering::SeqCst);
            if failing.load(Ordering::SeqCst) && i % 2 == 0 {
                Reply::status(500)
            } else {
                Reply::ok()
            }
        });
    }
    healthy.fallback("/x", Reply::ok());
    let layer = BreakerLayer::new(); // 50 % of at least 20 requests in 30 s
    let handle = layer.handle();
    let svc = layer.layer(client::<Empty<Bytes>>());
    let deadline = Duration::from_secs(10);
    let send = |uri: Uri| svc.clone().oneshot(get(uri, deadline));

    let mut opened_at = None;
    for i in 0..30 {
        let res = send(healthy.uri("/x")).await.unwrap();
        assert!(
            BreakerInfo::of(&res).is_none(),
            "the healthy origin is never touched"
        );
        match send(sick.uri("/x")).await {
            Ok(res) => {
                if let Some(info) = BreakerInfo::of(&res)
                    && info.state() == BreakerState::Open
                {
                    opened_at.get_or_insert(i);
                }
            }
            Err(err) => {
                assert!(err.is_circuit_open(), "{err:?}");
                assert!(opened_at.is_some());
            }
        }
    }
    // The ratio is judged on a failure once 20 requests are in the window: the 21st
    // answer (0-based 20) is the 11th failure of 21.
    assert_eq!(opened_at, Some(20));
    assert_eq!(
        sick.count("/x"),
        21,
        "nothing sent after the circuit opened"
    );
    assert_eq!(healthy.count("/x"), 30);
    let err = send(sick.uri("/x")).await.unwrap_err();
    let wait = circuit_wait(&err);
    assert!(wait <= Duration::from_secs(5));

    // The origin recovers; after the break one probe goes through and closes the circuit.
    failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(wait).await;
    let res = send(sick.uri("/x")).await.unwrap();
    let info = BreakerInfo::of(&res).unwrap();
    assert!(info.was_probe());
    assert_eq!(info.transitioned_from(), Some(BreakerState::HalfOpen));
    assert_eq!(handle.state(&sick.uri("/")), Some(BreakerState::Closed));
    for _ in 0..10 {
        assert_eq!(send(sick.uri("/x")).await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(handle.state(&healthy.uri("/")), Some(BreakerState::Closed));
}

fn circuit_wait(err: &BreakerError<legacy::Error>) -> Duration {
    err.circuit_open()
        .and_then(|o| o.retry_after())
        .expect("an open circuit with its time")
}

#[tokio::test(start_paused = true)]
async fn a_refused_post_is_resent_by_the_retry_layer_above_since_it_was_not_sent() {
    let server = TestServer::start().await;
    server.script("/gate", [Reply::status(503).header("retry-after", "1")]);
    server.fallback("/charge", Reply::ok().body("charged"));
    // Fail fast in the breaker; the retry layer above does the waiting (100, 200, 400,
    // 800 ms of backoff: the fourth retry comes after the 1 s gate).
    let breaker = BreakerLayer::new().wait(false).circuit_breaking(false);
    let handle = breaker.handle();
    let svc = RetryLayer::new()
        .max_retries(5)
        .random_source(|| 1.0)
        .layer(breaker.layer(client::<ReplayBody<Empty<Bytes>>>()));
    let res = svc
        .clone()
        .oneshot(get(server.uri("/gate"), Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "retried, still 503"
    );
    assert!(handle.gated_until(&server.uri("/")).is_some());
    let before = server.count("/gate");

    // A POST without an idempotency key: refusals prove it was not sent, so it is resent.
    let mut post = Request::post(server.uri("/charge"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    Deadline::after(Duration::from_secs(60)).insert_into(&mut post);
    let res = svc.clone().oneshot(post).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        server.count("/charge"),
        1,
        "sent once, when the gate opened"
    );
    let history = recourse_core::History::of(&res).unwrap();
    assert!(history.retries() >= 1, "{history:?}");
    assert_eq!(server.count("/gate"), before);
}
