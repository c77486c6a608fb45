//! Unit tests of the retry service on `tower::service_fn` backends, with paused time.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full};
use recourse_core::backoff::{Backoff, FastRand};
use recourse_core::body::{NotReplayable, ReplayBody};
use recourse_core::{Attempt, BoxError, Class, Deadline, History, Step, clock};
use recourse_testkit::body::{Endless, Stalled, channel};
use tokio::time::Instant;
use tower::{Service, ServiceExt, service_fn};

use crate::policy::{Attempted, Policy};
use crate::{Idempotent, RetryBudget, RetryInfo, RetryLayer, StopReason};

// === A scripted backend ===

/// What the backend answers, one per attempt.
#[derive(Clone)]
enum Reply {
    Status(u16, Vec<(&'static str, String)>),
    Error(io::ErrorKind),
}

fn status(code: u16) -> Reply {
    Reply::Status(code, Vec::new())
}

fn with_header(code: u16, name: &'static str, value: impl Into<String>) -> Reply {
    Reply::Status(code, vec![(name, value.into())])
}

/// One request as the backend saw it.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    method: Method,
    headers: HeaderMap,
    attempt: Option<u32>,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Backend {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Backend {
    fn new(replies: impl IntoIterator<Item = Reply>) -> Self {
        Self {
            replies: Arc::new(Mutex::new(replies.into_iter().collect())),
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The gaps between consecutive attempts.
    fn gaps(&self) -> Vec<Duration> {
        let seen = self.seen();
        seen.windows(2).map(|w| w[1].at - w[0].at).collect()
    }

    /// A service answering with the script; the last reply repeats.
    fn service<B>(
        &self,
    ) -> impl Service<Request<ReplayBody<B>>, Response = Response<Full<Bytes>>, Error = BoxError>
    + Clone
    + Send
    + use<B>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let this = self.clone();
        service_fn(move |req: Request<ReplayBody<B>>| {
            let this = this.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await?.to_bytes();
                this.seen.lock().unwrap().push(Seen {
                    at: Instant::now(),
                    method: parts.method,
                    headers: parts.headers,
                    attempt: parts.extensions.get::<Attempt>().map(|a| a.0),
                    body,
                });
                let reply = {
                    let mut replies = this.replies.lock().unwrap();
                    if replies.len() > 1 {
                        replies.pop_front()
                    } else {
                        replies.front().cloned()
                    }
                };
                match reply.unwrap_or(status(200)) {
                    Reply::Status(code, headers) => {
                        let mut res = Response::builder().status(code);
                        for (name, value) in headers {
                            res = res.header(name, value);
                        }
                        Ok(res.body(Full::new(Bytes::from_static(b"reply body")))?)
                    }
                    Reply::Error(kind) => Err(BoxError::from(io::Error::from(kind))),
                }
            }
        })
    }
}

/// A layer with exact delays: no jitter draw below the ceiling.
fn exact() -> RetryLayer {
    RetryLayer::new().random_source(|| 1.0)
}

fn get() -> Request<Empty<Bytes>> {
    Request::get("http://example.com/r")
        .body(Empty::new())
        .unwrap()
}

fn post(body: &'static str) -> Request<Full<Bytes>> {
    Request::post("http://example.com/charge")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

async fn send<P, B>(
    layer: &RetryLayer<P>,
    backend: &Backend,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, BoxError>
where
    P: Policy<Full<Bytes>, BoxError> + Clone,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    tower::Layer::layer(layer, backend.service::<B>())
        .oneshot(req)
        .await
}

fn info<B>(res: &Response<B>) -> RetryInfo {
    *RetryInfo::of(res).expect("RetryInfo")
}

fn retried_steps<B>(res: &Response<B>) -> Vec<(u32, Option<u16>, Duration)> {
    History::of(res)
        .map(|h| {
            h.steps()
                .iter()
                .filter_map(|s| match s {
                    Step::Retried {
                        attempt,
                        status,
                        waited,
                    } => Some((*attempt, status.map(|s| s.as_u16()), *waited)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

const MS: Duration = Duration::from_millis(1);

fn ceil_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_nanos().div_ceil(1_000_000) as u64)
}

// === When ===

#[tokio::test(start_paused = true)]
async fn exact_backoff_delays_then_the_last_response() {
    let backend = Backend::new([status(503)]);
    let res = send(&exact(), &backend, get()).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(backend.calls(), 4);
    assert_eq!(backend.gaps(), [100 * MS, 200 * MS, 400 * MS]);
    assert_eq!(
        info(&res),
        RetryInfo {
            attempts: 4,
            stopped: Some(StopReason::MaxRetries { max: 3 })
        }
    );
    assert_eq!(
        retried_steps(&res),
        [
            (2, Some(503), 100 * MS),
            (3, Some(503), 200 * MS),
            (4, Some(503), 400 * MS)
        ]
    );
    // The last response is returned as it is, body included.
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "reply body"
    );
}

#[tokio::test(start_paused = true)]
async fn seeded_full_jitter_is_reproducible() {
    let backend = Backend::new([status(500), status(500), status(500), status(200)]);
    let layer = RetryLayer::new().random_source(FastRand::seeded(42));
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    let mut rng = FastRand::seeded(42);
    let expected: Vec<_> = (1..=3)
        .map(|n| Backoff::default().delay(n, &mut rng))
        .collect();
    let waited: Vec<_> = retried_steps(&res).iter().map(|s| s.2).collect();
    assert_eq!(waited, expected);
    // tokio's timer has a millisecond resolution: each sleep ends on the next millisecond.
    assert_eq!(
        backend.gaps(),
        expected.iter().map(|d| ceil_ms(*d)).collect::<Vec<_>>()
    );
    for (n, gap) in expected.iter().enumerate() {
        let ceiling = Backoff::default().ceiling(n as u32 + 1);
        assert!(*gap <= ceiling, "full jitter never exceeds the ceiling");
    }
    assert_eq!(
        info(&res),
        RetryInfo {
            attempts: 4,
            stopped: None
        }
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_cap_applies_before_jitter() {
    let backend = Backend::new([status(503)]);
    let layer = exact().max_retries(6).backoff(Backoff::exponential(
        Duration::from_secs(1),
        Duration::from_secs(5),
    ));
    send(&layer, &backend, get()).await.unwrap();
    let secs: Vec<_> = backend.gaps().iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [1, 2, 4, 5, 5, 5]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_in_seconds() {
    let backend = Backend::new([with_header(503, "retry-after", "3"), status(200)]);
    let res = send(&exact(), &backend, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(backend.gaps(), [Duration::from_secs(3)]);
    assert_eq!(
        retried_steps(&res),
        [(2, Some(503), Duration::from_secs(3))]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date() {
    // HTTP-dates have whole seconds: the wait is the time until that second.
    let date = httpdate::fmt_http_date(clock::system_now() + Duration::from_secs(5));
    let expected = httpdate::parse_http_date(&date)
        .unwrap()
        .duration_since(clock::system_now())
        .unwrap();
    let backend = Backend::new([with_header(503, "retry-after", date), status(200)]);
    let res = send(&exact(), &backend, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(retried_steps(&res), [(2, Some(503), expected)]);
    assert_eq!(backend.gaps(), [ceil_ms(expected)]);
    assert!(expected > Duration::from_secs(4) && expected <= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn huge_or_garbage_retry_after_is_clamped_or_ignored() {
    let backend = Backend::new([
        with_header(503, "retry-after", "1000000000000"),
        with_header(503, "retry-after", "soon, maybe"),
        with_header(503, "retry-after", "-5"),
        status(200),
    ]);
    let layer = exact().max_retry_after(Duration::from_secs(10));
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    // Clamped to the maximum; then the backoff, as if there were no header.
    assert_eq!(
        backend.gaps(),
        [Duration::from_secs(10), 200 * MS, 400 * MS]
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_past_the_deadline_is_not_taken() {
    let backend = Backend::new([with_header(503, "retry-after", "5"), status(200)]);
    let mut req = get();
    Deadline::after(Duration::from_secs(2)).insert_into(&mut req);
    let started = Instant::now();
    let res = send(&exact(), &backend, req).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(backend.calls(), 1);
    assert_eq!(Instant::now(), started, "returned at once, without waiting");
    assert_eq!(
        info(&res).stopped,
        Some(StopReason::Deadline {
            wait: Duration::from_secs(5),
            remaining: Duration::from_secs(2)
        })
    );
    // A wait that fits is taken.
    let backend = Backend::new([with_header(503, "retry-after", "1"), status(200)]);
    let mut req = get();
    Deadline::after(Duration::from_secs(2)).insert_into(&mut req);
    assert_eq!(send(&exact(), &backend, req).await.unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn the_time_limit_bounds_the_waits() {
    let backend = Backend::new([status(503)]);
    let layer = exact()
        .max_retries(10)
        .backoff(Backoff::constant(Duration::from_millis(600)))
        .time_limit(Duration::from_secs(1));
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(backend.calls(), 2, "a second wait would end at 1.2 s");
    assert_eq!(
        info(&res).stopped,
        Some(StopReason::TimeLimit {
            wait: Duration::from_millis(600),
            limit: Duration::from_secs(1)
        })
    );
}

// === Which responses ===

#[tokio::test(start_paused = true)]
async fn only_retryable_responses_are_retried() {
    for code in [200, 201, 202, 304, 400, 404, 409, 429, 501, 502, 504] {
        let backend = Backend::new([status(code)]);
        let res = send(&exact(), &backend, get()).await.unwrap();
        assert_eq!(res.status(), code);
        assert_eq!(backend.calls(), 1, "{code} is not retried by default");
        assert!(RetryInfo::of(&res).is_none());
        assert!(History::of(&res).is_none());
    }
}

#[tokio::test(start_paused = true)]
async fn configured_statuses_are_retried() {
    let layer = exact().retry_on([
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::BAD_GATEWAY,
        StatusCode::GATEWAY_TIMEOUT,
    ]);
    let backend = Backend::new([
        with_header(429, "retry-after", "2"),
        status(502),
        status(504),
        status(200),
    ]);
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(backend.gaps(), [Duration::from_secs(2), 200 * MS, 400 * MS]);
}

#[tokio::test(start_paused = true)]
async fn the_classify_verdict_wins_over_the_status() {
    let classified = |class: Class, code: u16| {
        let calls = Arc::new(Mutex::new(0));
        let counter = calls.clone();
        let svc = service_fn(move |_req: Request<ReplayBody<Empty<Bytes>>>| {
            *counter.lock().unwrap() += 1;
            let mut res = Response::builder()
                .status(code)
                .body(Empty::<Bytes>::new())
                .unwrap();
            // Only the first response carries the verdict.
            if *counter.lock().unwrap() == 1 {
                res.extensions_mut().insert(class);
            }
            async move { Ok::<_, Infallible>(res) }
        });
        (calls, svc)
    };
    let (calls, svc) = classified(Class::Retryable, 200);
    let res = tower::Layer::layer(&exact(), svc)
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!((*calls.lock().unwrap(), res.status().as_u16()), (2, 200));
    let (calls, svc) = classified(Class::ServerError, 503);
    let res = tower::Layer::layer(&exact(), svc)
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!((*calls.lock().unwrap(), res.status().as_u16()), (1, 503));
}

#[tokio::test(start_paused = true)]
async fn closures_are_policies() {
    // Retry only 404s (an eventually consistent read), at most twice.
    let layer = exact()
        .max_retries(2)
        .policy(|a: &Attempted<'_, Full<Bytes>, BoxError>| {
            a.status() == Some(StatusCode::NOT_FOUND)
        });
    let backend = Backend::new([status(404), status(503)]);
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(backend.calls(), 2);
    assert_eq!(
        info(&res),
        RetryInfo {
            attempts: 2,
            stopped: None
        }
    );
}

// === Which requests ===

#[tokio::test(start_paused = true)]
async fn post_without_a_key_is_sent_once() {
    let backend = Backend::new([status(503), status(200)]);
    let res = send(&exact(), &backend, post("amount=10")).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(backend.calls(), 1);
    assert_eq!(
        info(&res),
        RetryInfo {
            attempts: 1,
            stopped: Some(StopReason::NotIdempotent)
        }
    );
    let backend = Backend::new([status(503), status(200)]);
    let patch = Request::patch("http://example.com/x")
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(send(&exact(), &backend, patch).await.unwrap().status(), 503);
    assert_eq!(backend.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn post_with_a_key_is_resent_with_the_same_key_and_body() {
    let backend = Backend::new([status(503), status(500), status(201)]);
    let mut req = post("amount=10&currency=EUR");
    req.headers_mut()
        .insert("idempotency-key", "k-123".parse().unwrap());
    let res = send(&exact(), &backend, req).await.unwrap();
    assert_eq!(res.status(), 201);
    let seen = backend.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.method, Method::POST);
        assert_eq!(s.headers["idempotency-key"], "k-123");
        assert_eq!(s.body, "amount=10&currency=EUR");
    }
}

#[tokio::test(start_paused = true)]
async fn opt_ins_and_key_injection() {
    // Per request.
    let backend = Backend::new([status(503), status(200)]);
    let mut req = post("x");
    req.extensions_mut().insert(Idempotent);
    assert_eq!(send(&exact(), &backend, req).await.unwrap().status(), 200);
    // For the whole layer.
    let backend = Backend::new([status(503), status(200)]);
    let layer = exact().retry_non_idempotent(true);
    assert_eq!(
        send(&layer, &backend, post("x")).await.unwrap().status(),
        200
    );
    // Other key header names.
    let backend = Backend::new([status(503), status(200)]);
    let layer = exact().idempotency_key_headers([http::HeaderName::from_static("x-dedupe")]);
    let mut req = post("x");
    req.headers_mut().insert("x-dedupe", "1".parse().unwrap());
    assert_eq!(send(&layer, &backend, req).await.unwrap().status(), 200);
    // An injected key, the same on every attempt.
    let backend = Backend::new([status(503), status(503), status(200)]);
    let layer = exact().inject_idempotency_key(true);
    assert_eq!(
        send(&layer, &backend, post("x")).await.unwrap().status(),
        200
    );
    let keys: Vec<_> = backend
        .seen()
        .iter()
        .map(|s| s.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| *k == keys[0]));
    assert_eq!(keys[0].len(), 32);
}

#[tokio::test(start_paused = true)]
async fn attempts_are_numbered_on_retries() {
    let backend = Backend::new([status(503), status(503), status(200)]);
    send(&exact(), &backend, get()).await.unwrap();
    let attempts: Vec<_> = backend.seen().iter().map(|s| s.attempt).collect();
    assert_eq!(attempts, [None, Some(2), Some(3)]);
    let backend = Backend::new([status(503), status(200)]);
    send(&exact().tag_first_attempt(true), &backend, get())
        .await
        .unwrap();
    let attempts: Vec<_> = backend.seen().iter().map(|s| s.attempt).collect();
    assert_eq!(attempts, [Some(1), Some(2)]);
}

// === Transport errors ===

#[tokio::test(start_paused = true)]
async fn errors_after_sending_are_retried_only_when_idempotent() {
    let reset = || Reply::Error(io::ErrorKind::ConnectionReset);
    let backend = Backend::new([reset(), status(200)]);
    assert_eq!(send(&exact(), &backend, get()).await.unwrap().status(), 200);
    assert_eq!(backend.calls(), 2);

    let backend = Backend::new([reset(), status(200)]);
    let err = send(&exact(), &backend, post("x")).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<io::Error>().unwrap().kind(),
        io::ErrorKind::ConnectionReset
    );
    assert_eq!(backend.calls(), 1, "the POST may have been processed");
}

#[tokio::test(start_paused = true)]
async fn errors_before_sending_are_retried_for_any_method() {
    let refused = || Reply::Error(io::ErrorKind::ConnectionRefused);
    let backend = Backend::new([refused(), refused(), status(200)]);
    let res = send(&exact(), &backend, post("amount=10")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(backend.calls(), 3);
    assert_eq!(
        retried_steps(&res),
        [(2, None, 100 * MS), (3, None, 200 * MS)]
    );

    // Exhausted: the last error comes back as it is.
    let backend = Backend::new([refused()]);
    let err = send(&exact().max_retries(1), &backend, get())
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<io::Error>().is_some());
    assert_eq!(backend.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_custom_not_sent_check() {
    #[derive(Debug)]
    struct MyError {
        before_send: bool,
    }
    let calls = Arc::new(Mutex::new(0u32));
    let counter = calls.clone();
    let svc = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
        let n = {
            let mut c = counter.lock().unwrap();
            *c += 1;
            *c
        };
        async move {
            if n == 1 {
                Err(MyError { before_send: true })
            } else {
                Ok(Response::new(Empty::<Bytes>::new()))
            }
        }
    });
    let layer = exact().not_sent_when(|e: &MyError| e.before_send);
    let res = tower::Layer::layer(&layer, svc)
        .oneshot(post("x"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(*calls.lock().unwrap(), 2);
}

// === How many ===

#[tokio::test(start_paused = true)]
async fn an_exhausted_budget_stops_retries() {
    let budget = Arc::new(RetryBudget::new(Duration::from_secs(10), 0, 0.5).unwrap());
    let layer = exact().shared_budget(budget.clone());
    // Each request deposits half a retry: the first request's retry is refused...
    let backend = Backend::new([status(503)]);
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(backend.calls(), 1);
    assert_eq!(info(&res).stopped, Some(StopReason::Budget));
    // ...the second request completes a token and makes one retry.
    let backend = Backend::new([status(503)]);
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(backend.calls(), 2);
    assert_eq!(info(&res).stopped, Some(StopReason::Budget));
    assert_eq!(budget.available(), 0);
}

#[tokio::test(start_paused = true)]
async fn clones_share_the_budget() {
    let budget = Arc::new(RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap());
    let layer = exact().max_retries(1).shared_budget(budget.clone());
    let backend = Backend::new([status(503)]);
    let svc = tower::Layer::layer(&layer, backend.service::<Empty<Bytes>>());
    let other = tower::Layer::layer(&layer.clone(), backend.service::<Empty<Bytes>>());
    for _ in 0..3 {
        svc.clone().oneshot(get()).await.unwrap();
        other.clone().oneshot(get()).await.unwrap();
    }
    // Six requests, one retry each: the budget gave exactly what they deposited.
    assert_eq!(backend.calls(), 12);
    assert_eq!(budget.available(), 0);
}

#[tokio::test(start_paused = true)]
async fn no_budget_and_zero_retries() {
    let backend = Backend::new([status(503)]);
    let layer = exact().no_budget().max_retries(0);
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(backend.calls(), 1);
    assert_eq!(info(&res).stopped, Some(StopReason::MaxRetries { max: 0 }));
}

// === Bodies ===

#[tokio::test(start_paused = true)]
async fn a_large_in_memory_body_is_resent_without_a_copy() {
    let data = Bytes::from(vec![b'x'; 1024 * 1024]);
    let original = data.as_ptr() as usize;
    let pointers = Arc::new(Mutex::new(Vec::new()));
    let seen = pointers.clone();
    let svc = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
        let seen = seen.clone();
        async move {
            let mut body = req.into_body();
            let mut total = 0;
            while let Some(frame) = body.frame().await {
                let data = frame?.into_data().unwrap_or_default();
                total += data.len();
                seen.lock().unwrap().push(data.as_ptr() as usize);
            }
            assert_eq!(total, 1024 * 1024);
            let code = if seen.lock().unwrap().len() < 3 {
                503
            } else {
                200
            };
            Ok::<_, BoxError>(
                Response::builder()
                    .status(code)
                    .body(Empty::<Bytes>::new())?,
            )
        }
    });
    let req = Request::put("http://example.com/blob")
        .body(Full::new(data))
        .unwrap();
    let res = tower::Layer::layer(&exact(), svc)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // One frame per attempt, each pointing into the caller's buffer.
    assert_eq!(*pointers.lock().unwrap(), [original; 3]);
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_over_the_cap_is_sent_once() {
    let (tx, body) = channel(8);
    tokio::spawn(async move {
        for _ in 0..4 {
            let _ = tx.send(Bytes::from(vec![b'y'; 1024])).await;
        }
    });
    let backend = Backend::new([status(503), status(200)]);
    let mut req = Request::put("http://example.com/upload")
        .body(body)
        .unwrap();
    req.headers_mut()
        .insert("x-request-id", "req-9".parse().unwrap());
    let layer = exact().replay_limit(2048);
    let res = send(&layer, &backend, req).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(backend.calls(), 1);
    assert_eq!(
        backend.seen()[0].body.len(),
        4096,
        "the one attempt got the whole body"
    );
    assert_eq!(
        info(&res).stopped,
        Some(StopReason::NotReplayable(NotReplayable::TooLarge {
            limit: 2048
        }))
    );
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_under_the_cap_is_replayed() {
    let (tx, body) = channel(8);
    tokio::spawn(async move {
        for chunk in ["part one, ", "part two"] {
            let _ = tx.send(Bytes::from_static(chunk.as_bytes())).await;
        }
    });
    let backend = Backend::new([status(500), status(200)]);
    let req = Request::put("http://example.com/upload")
        .body(body)
        .unwrap();
    let res = send(&exact(), &backend, req).await.unwrap();
    assert_eq!(res.status(), 200);
    let bodies: Vec<_> = backend.seen().iter().map(|s| s.body.clone()).collect();
    assert_eq!(bodies, ["part one, part two", "part one, part two"]);
}

#[tokio::test(start_paused = true)]
async fn failed_bodies_are_drained_within_bounds() {
    // A body that never ends is read up to the byte limit, then dropped.
    let read = Arc::new(AtomicU64::new(0));
    let counter = read.clone();
    let calls = Arc::new(Mutex::new(0));
    let n = calls.clone();
    let svc = service_fn(move |_req: Request<ReplayBody<Empty<Bytes>>>| {
        *n.lock().unwrap() += 1;
        let code = if *n.lock().unwrap() == 1 { 503 } else { 200 };
        let res = Response::builder()
            .status(code)
            .body(Endless::counting(counter.clone()))
            .unwrap();
        async move { Ok::<_, Infallible>(res) }
    });
    let layer = exact().drain_limit(10 * 1024);
    let res = tower::Layer::layer(&layer, svc)
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        read.load(Ordering::SeqCst),
        11 * 1024,
        "read just past the limit, then stopped"
    );

    // A body that stalls is given up after the drain timeout; the retry waits for it.
    let calls2 = Arc::new(Mutex::new(Vec::new()));
    let seen = calls2.clone();
    let svc = service_fn(move |_req: Request<ReplayBody<Empty<Bytes>>>| {
        seen.lock().unwrap().push(Instant::now());
        let code = if seen.lock().unwrap().len() == 1 {
            503
        } else {
            200
        };
        let res = Response::builder()
            .status(code)
            .body(Stalled::after("x"))
            .unwrap();
        async move { Ok::<_, Infallible>(res) }
    });
    let layer = exact().drain_timeout(Duration::from_millis(700));
    let res = tower::Layer::layer(&layer, svc)
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let at = calls2.lock().unwrap().clone();
    assert_eq!(
        at[1] - at[0],
        700 * MS,
        "the drain timeout, longer than the 100 ms wait"
    );
    let _ = calls;
}

// === After the last attempt ===

#[tokio::test(start_paused = true)]
async fn inner_history_is_kept_in_order() {
    let n = Arc::new(Mutex::new(0u16));
    let counter = n.clone();
    let svc = service_fn(move |_req: Request<ReplayBody<Empty<Bytes>>>| {
        let attempt = {
            let mut n = counter.lock().unwrap();
            *n += 1;
            *n
        };
        let code = if attempt < 3 { 503 } else { 200 };
        let mut res = Response::builder()
            .status(code)
            .body(Empty::<Bytes>::new())
            .unwrap();
        // An inner layer records a step on every response.
        History::record(
            &mut res,
            Step::Revalidated {
                status: StatusCode::from_u16(code).unwrap(),
            },
        );
        async move { Ok::<_, Infallible>(res) }
    });
    let res = tower::Layer::layer(&exact(), svc)
        .oneshot(get())
        .await
        .unwrap();
    let steps = History::of(&res).unwrap().steps().to_vec();
    let s503 = StatusCode::SERVICE_UNAVAILABLE;
    assert_eq!(
        steps,
        [
            Step::Revalidated { status: s503 },
            Step::Retried {
                attempt: 2,
                status: Some(s503),
                waited: 100 * MS
            },
            Step::Revalidated { status: s503 },
            Step::Retried {
                attempt: 3,
                status: Some(s503),
                waited: 200 * MS
            },
            Step::Revalidated {
                status: StatusCode::OK
            },
        ]
    );
}

/// Captures formatted `tracing` output.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn giving_up_is_reported_at_warn_with_the_request_id() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let backend = Backend::new([status(503)]);
            let mut req = get();
            req.headers_mut()
                .insert("x-request-id", "req-42".parse().unwrap());
            send(&exact().max_retries(2), &backend, req).await.unwrap();
            // A success after retries is not a failure to report.
            let backend = Backend::new([status(503), status(200)]);
            let mut req = get();
            req.headers_mut()
                .insert("x-request-id", "req-43".parse().unwrap());
            send(&exact(), &backend, req).await.unwrap();
            // The request id header name is configurable; a POST refused is reported too.
            let backend = Backend::new([status(500)]);
            let mut req = post("x");
            req.headers_mut()
                .insert("x-correlation-id", "corr-7".parse().unwrap());
            let layer =
                exact().request_id_header(http::HeaderName::from_static("x-correlation-id"));
            send(&layer, &backend, req).await.unwrap();
        })
    });
    let out = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let first = lines[0];
    for needle in [
        "WARN",
        "method=GET",
        "uri=http://example.com/r",
        "attempts=3",
        "last=503 Service Unavailable",
        "request_id=\"req-42\"",
        "all 2 retries were spent",
    ] {
        assert!(first.contains(needle), "{needle:?} missing from {first}");
    }
    assert!(
        lines[1].contains("method=POST") && lines[1].contains("corr-7"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("not idempotent"), "{}", lines[1]);
    assert!(!out.contains("req-43"));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_cancels_the_wait() {
    let backend = Backend::new([with_header(503, "retry-after", "10"), status(200)]);
    let svc = tower::Layer::layer(&exact(), backend.service::<Empty<Bytes>>());
    let fut = svc.oneshot(get());
    let timed = tokio::time::timeout(Duration::from_secs(1), fut).await;
    assert!(timed.is_err());
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(backend.calls(), 1, "no attempt after the caller gave up");
}

#[tokio::test(start_paused = true)]
async fn tower_budgets_plug_in() {
    use tower::retry::budget::TpsBudget;
    // One retry per request deposited, no floor.
    let budget = Arc::new(TpsBudget::new(Duration::from_secs(1), 0, 1.0));
    let layer = exact().max_retries(3).shared_budget(budget);
    let backend = Backend::new([status(503)]);
    let res = send(&layer, &backend, get()).await.unwrap();
    assert_eq!(
        backend.calls(),
        2,
        "the deposit of the request pays for one retry"
    );
    assert_eq!(info(&res).stopped, Some(StopReason::Budget));
}

#[tokio::test(start_paused = true)]
async fn the_service_mirrors_the_layer() {
    let backend = Backend::new([status(503), status(200)]);
    let mut svc = crate::Retry::new(backend.service::<Empty<Bytes>>());
    let _ = svc.get_ref();
    let _ = svc.get_mut();
    assert_eq!(*svc.get_policy(), crate::Standard::new());
    let res = svc.clone().oneshot(get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(backend.calls(), 2);
    let _inner = svc.into_inner();
    let custom = crate::Retry::with_policy((), crate::Standard::new().retry_errors(false));
    assert!(format!("{custom:?}").contains("Retry"));
    assert!(format!("{:?}", crate::Retry::<()>::layer()).contains("max_retries: 3"));
}
