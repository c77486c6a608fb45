//! The retry layer around hyper-util's legacy client, against the testkit's real servers
//! on 127.0.0.1, with paused time.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{self, Client};
use hyper_util::rt::TokioExecutor;
use recourse_core::backoff::Backoff;
use recourse_core::body::{NotReplayable, ReplayBody};
use recourse_core::{Attempt, Deadline, History, Step, clock};
use recourse_retry::{RetryBudget, RetryInfo, RetryLayer, StopReason};
use recourse_testkit::body::{ChannelBody, channel};
use recourse_testkit::{Reply, TestServer, refused_uri};
use tokio::time::Instant;
use tower::{Layer, ServiceExt, service_fn};

type Body = ReplayBody<Full<Bytes>>;

fn client<B>() -> Client<HttpConnector, ReplayBody<B>>
where
    ReplayBody<B>: hyper::body::Body + Send + 'static,
    <ReplayBody<B> as hyper::body::Body>::Data: Send,
    <ReplayBody<B> as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Client::builder(TokioExecutor::new()).build_http()
}

/// Exact delays: the jitter draws the full ceiling.
fn layer() -> RetryLayer {
    RetryLayer::new().random_source(|| 1.0)
}

fn get(uri: Uri) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::default()).unwrap()
}

fn post(uri: Uri, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(uri).body(Full::from(body)).unwrap()
}

async fn text(res: Response<Incoming>) -> Bytes {
    res.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test(start_paused = true)]
async fn retries_500_and_503_then_returns_the_success() {
    let server = TestServer::start().await;
    let date = httpdate::fmt_http_date(clock::system_now() + Duration::from_secs(3));
    server.script(
        "/flaky",
        [
            Reply::status(503).header("retry-after", "2"),
            Reply::status(503).header("retry-after", &date),
            Reply::status(500),
            Reply::ok().body("done"),
        ],
    );
    let svc = layer().layer(client::<Full<Bytes>>());
    let res = svc.oneshot(get(server.uri("/flaky"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(server.count("/flaky"), 4);
    let info = *RetryInfo::of(&res).unwrap();
    assert_eq!((info.attempts(), info.stopped()), (4, None));
    let waits: Vec<_> = History::of(&res)
        .unwrap()
        .steps()
        .iter()
        .map(|s| match s {
            Step::Retried { status, waited, .. } => (status.unwrap().as_u16(), *waited),
            other => panic!("unexpected step {other:?}"),
        })
        .collect();
    assert_eq!(waits[0], (503, Duration::from_secs(2)));
    // The HTTP-date had whole seconds, and 2 s went by: a wait within (0, 1] s.
    assert_eq!(waits[1].0, 503);
    assert!(waits[1].1 > Duration::ZERO && waits[1].1 <= Duration::from_secs(1));
    // Then the backoff of the third retry: 400 ms.
    assert_eq!(waits[2], (500, Duration::from_millis(400)));
    assert_eq!(text(res).await, "done");
}

#[tokio::test(start_paused = true)]
async fn a_huge_retry_after_is_clamped_and_checked_against_the_deadline() {
    let server = TestServer::start().await;
    let hostile = || {
        Reply::status(503)
            .header("retry-after", "1000000000000")
            .body("down")
    };
    server.script("/maintenance", [hostile(), Reply::ok()]);
    // 10^12 s are clamped to the 30 s maximum, which does not fit a 20 s deadline.
    let mut req = get(server.uri("/maintenance"));
    Deadline::after(Duration::from_secs(20)).insert_into(&mut req);
    let started = Instant::now();
    let res = layer().layer(client()).oneshot(req).await.unwrap();
    assert_eq!(Instant::now(), started, "no wait was started");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.count("/maintenance"), 1);
    assert_eq!(
        RetryInfo::of(&res).unwrap().stopped(),
        Some(StopReason::Deadline {
            wait: Duration::from_secs(30),
            remaining: Duration::from_secs(20)
        })
    );
    assert_eq!(
        text(res).await,
        "down",
        "the last response is returned as it is"
    );

    // Without a deadline, the clamped wait is taken.
    server.script("/maintenance", [hostile(), Reply::ok()]);
    let res = layer()
        .max_retry_after(Duration::from_secs(5))
        .layer(client())
        .oneshot(get(server.uri("/maintenance")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(Instant::now() - started, Duration::from_secs(5));
    assert_eq!(server.count("/maintenance"), 3);
}

#[tokio::test(start_paused = true)]
async fn post_without_a_key_reaches_the_server_once() {
    let server = TestServer::start().await;
    server.script("/charge", [Reply::status(503), Reply::ok()]);
    let res = layer()
        .layer(client())
        .oneshot(post(server.uri("/charge"), "amount=10"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.count("/charge"), 1);
    assert_eq!(
        RetryInfo::of(&res).unwrap().stopped(),
        Some(StopReason::NotIdempotent)
    );
}

#[tokio::test(start_paused = true)]
async fn post_with_a_key_is_resent_byte_for_byte() {
    let server = TestServer::start().await;
    server.script(
        "/charge",
        [
            Reply::status(503),
            Reply::status(500),
            Reply::status(201).body("created"),
        ],
    );
    let body: Bytes = (0..=255u8).cycle().take(100_000).collect::<Vec<_>>().into();
    let mut req = Request::post(server.uri("/charge"))
        .header("idempotency-key", "order-77")
        .body(Full::new(body.clone()))
        .unwrap();
    req.headers_mut()
        .insert("content-type", "application/octet-stream".parse().unwrap());
    let res = layer().layer(client()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let recorded = server.requests_to("/charge");
    assert_eq!(recorded.len(), 3);
    for r in &recorded {
        assert_eq!(r.method, http::Method::POST);
        assert_eq!(r.header("idempotency-key"), Some("order-77"));
        assert_eq!(r.body, body, "byte-identical body on every attempt");
    }
}

#[tokio::test(start_paused = true)]
async fn injected_keys_stay_the_same_across_attempts() {
    let server = TestServer::start().await;
    server.script("/orders", [Reply::status(503), Reply::ok()]);
    let svc = layer().inject_idempotency_key(true).layer(client());
    let res = svc
        .oneshot(post(server.uri("/orders"), "{}"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let keys: Vec<_> = server
        .requests_to("/orders")
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);
}

/// A client that sends the first attempt to an address where nothing listens.
fn refused_first(
    target: Uri,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Incoming>,
    Error = legacy::Error,
    Future = impl Send,
> + Clone {
    let client = client::<Full<Bytes>>();
    let refused = refused_uri();
    service_fn(move |mut req: Request<Body>| {
        *req.uri_mut() = if req.extensions().get::<Attempt>().is_none() {
            refused.clone()
        } else {
            target.clone()
        };
        let client = client.clone();
        async move { client.request(req).await }
    })
}

#[tokio::test(start_paused = true)]
async fn connection_refused_is_retried_even_for_post() {
    let server = TestServer::start().await;
    server.script("/charge", [Reply::ok().body("charged")]);
    let svc = layer().layer(refused_first(server.uri("/charge")));
    let res = svc
        .oneshot(post(server.uri("/charge"), "amount=10"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        server.count("/charge"),
        1,
        "sent once: the first attempt never left"
    );
    let steps = History::of(&res).unwrap().steps().to_vec();
    assert_eq!(
        steps,
        [Step::Retried {
            attempt: 2,
            status: None,
            waited: Duration::from_millis(100)
        }]
    );
    assert_eq!(text(res).await, "charged");
}

#[tokio::test(start_paused = true)]
async fn connection_refused_every_time_returns_the_connect_error() {
    let svc = layer().max_retries(2).layer(client::<Full<Bytes>>());
    let started = Instant::now();
    let err = svc.oneshot(get(refused_uri())).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(
        Instant::now() - started,
        Duration::from_millis(300),
        "waited 100 + 200 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reset_after_sending_is_not_retried_for_post_but_is_for_get() {
    let server = TestServer::start().await;
    server.script("/pay", [Reply::reset(), Reply::ok()]);
    let err = layer()
        .layer(client())
        .oneshot(post(server.uri("/pay"), "amount=10"))
        .await
        .unwrap_err();
    assert!(!err.is_connect(), "{err:?}");
    assert_eq!(
        server.count("/pay"),
        1,
        "the POST reached the server: not resent"
    );

    server.script("/item", [Reply::reset(), Reply::ok().body("item")]);
    let res = layer()
        .layer(client())
        .oneshot(get(server.uri("/item")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(server.count("/item"), 2);
    assert_eq!(text(res).await, "item");
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_over_the_cap_is_sent_once() {
    let server = TestServer::start().await;
    server.script("/upload", [Reply::status(503), Reply::ok()]);
    let (tx, body) = channel(4);
    tokio::spawn(async move {
        for _ in 0..8 {
            if tx.send(Bytes::from(vec![b'u'; 1024])).await.is_err() {
                break;
            }
        }
    });
    let req = Request::put(server.uri("/upload")).body(body).unwrap();
    let svc = layer().replay_limit(4096).layer(client::<ChannelBody>());
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.count("/upload"), 1);
    assert_eq!(server.requests_to("/upload")[0].body.len(), 8 * 1024);
    assert_eq!(
        RetryInfo::of(&res).unwrap().stopped(),
        Some(StopReason::NotReplayable(NotReplayable::TooLarge {
            limit: 4096
        }))
    );
}

#[tokio::test(start_paused = true)]
async fn the_failed_body_is_drained_so_the_connection_is_reused() {
    let server = TestServer::start().await;
    // A body that trickles in: hyper alone gives up on it and closes the connection.
    let failing = || {
        Reply::status(503).chunked(
            vec![Bytes::from(vec![b'e'; 1024]); 8],
            Duration::from_millis(10),
        )
    };
    server.script("/drained", [failing(), Reply::ok()]);
    let res = layer()
        .layer(client())
        .oneshot(get(server.uri("/drained")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let conns: Vec<_> = server
        .requests_to("/drained")
        .iter()
        .map(|r| r.connection)
        .collect();
    assert_eq!(conns.len(), 2);
    assert_eq!(
        conns[0], conns[1],
        "the retry reused the drained connection"
    );

    // Without draining, the unread body costs the connection.
    server.script("/dropped", [failing(), Reply::ok()]);
    let res = layer()
        .drain_limit(0)
        .layer(client())
        .oneshot(get(server.uri("/dropped")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let conns: Vec<_> = server
        .requests_to("/dropped")
        .iter()
        .map(|r| r.connection)
        .collect();
    assert_ne!(conns[0], conns[1]);
}

#[tokio::test(start_paused = true)]
async fn the_budget_bounds_extra_attempts_under_an_outage() {
    let server = TestServer::start().await;
    server.fallback("/down", Reply::status(503).body("overloaded"));
    // The default budget: 10 retries per second over 10 s, plus 20 % of requests.
    let budget = Arc::new(RetryBudget::default());
    let svc = layer()
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .shared_budget(budget.clone())
        .layer(client());
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..10 {
        let svc = svc.clone();
        let uri = server.uri("/down");
        workers.push(tokio::spawn(async move {
            let mut stopped_by_budget = 0;
            for _ in 0..100 {
                let res = svc.clone().oneshot(get(uri.clone())).await.unwrap();
                assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
                if RetryInfo::of(&res).and_then(|i| i.stopped()) == Some(StopReason::Budget) {
                    stopped_by_budget += 1;
                }
                text(res).await;
            }
            stopped_by_budget
        }));
    }
    let mut stopped_by_budget = 0;
    for w in workers {
        stopped_by_budget += w.await.unwrap();
    }
    let elapsed = Instant::now() - started;
    assert!(
        elapsed < Duration::from_secs(10),
        "all inside one window: {elapsed:?}"
    );
    let extra = server.count("/down") - 1000;
    // Without a budget: 3,000 extra attempts. With it: at most 100 + 200.
    assert!(extra <= 300, "{extra} extra attempts");
    assert!(extra >= 290, "the budget was used: {extra}");
    assert!(stopped_by_budget >= 900, "{stopped_by_budget}");
}
