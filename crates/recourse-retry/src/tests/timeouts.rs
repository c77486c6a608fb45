//! The per-try timeout: a try with no response head in time is cancelled, retried when the
//! request may be resent, and otherwise ends in a typed error; every try is bounded by the
//! request's deadline too.

use super::*;

use crate::{RetryError, TryTimeout};

const TRY: Duration = Duration::from_secs(2);

/// When each call started, and the `Attempt` it carried.
type Started = Arc<Mutex<Vec<(Instant, Option<u32>)>>>;

/// A backend whose `n`th call (0-based) reads the whole request body, then answers 200
/// after `delays[n]` (`None`: never answers). Records when each call started.
#[derive(Clone, Default)]
struct Slow {
    delays: Arc<Vec<Option<Duration>>>,
    started: Started,
    bodies: Arc<Mutex<Vec<Bytes>>>,
}

impl Slow {
    fn new(delays: impl IntoIterator<Item = Option<Duration>>) -> Self {
        Self {
            delays: Arc::new(delays.into_iter().collect()),
            ..Self::default()
        }
    }

    fn calls(&self) -> usize {
        self.started.lock().unwrap().len()
    }

    fn service<B>(
        &self,
    ) -> impl Service<Request<ReplayBody<B>>, Response = Response<Empty<Bytes>>, Error = BoxError>
    + Clone
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
                let n = {
                    let mut started = this.started.lock().unwrap();
                    let attempt = req.extensions().get::<Attempt>().map(|a| a.0);
                    started.push((Instant::now(), attempt));
                    started.len() - 1
                };
                let body = req.into_body().collect().await?.to_bytes();
                this.bodies.lock().unwrap().push(body);
                match this.delays.get(n).copied().flatten() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => std::future::pending::<()>().await,
                }
                Ok(Response::new(Empty::new()))
            }
        })
    }
}

async fn send_timed<B>(
    layer: &RetryLayer<crate::Standard, TryTimeout>,
    backend: &Slow,
    req: Request<B>,
) -> Result<Response<Empty<Bytes>>, RetryError<BoxError>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    tower::Layer::layer(layer, backend.service::<B>())
        .oneshot(req)
        .await
}

fn timed() -> RetryLayer<crate::Standard, TryTimeout> {
    exact().per_try_timeout(TRY)
}

#[tokio::test(start_paused = true)]
async fn a_get_that_times_out_is_retried_and_the_history_says_so() {
    let backend = Slow::new([None, Some(MS)]);
    let start = Instant::now();
    let res = send_timed(&timed(), &backend, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(backend.calls(), 2);
    let started = backend.started.lock().unwrap().clone();
    assert_eq!(
        started[1].0 - start,
        TRY + 100 * MS,
        "cancelled at 2 s, resent after the first backoff"
    );
    assert_eq!(started[1].1, Some(2));
    let info = info(&res);
    assert_eq!(
        (info.attempts(), info.timeouts(), info.stopped()),
        (2, 1, None)
    );
    let history = History::of(&res).unwrap();
    assert_eq!(
        history.steps(),
        [
            Step::TryTimedOut {
                attempt: 1,
                after: TRY
            },
            Step::Retried {
                attempt: 2,
                status: None,
                waited: 100 * MS
            }
        ]
    );
    assert_eq!(history.timeouts(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_response_within_the_timeout_passes_untouched() {
    let backend = Slow::new([Some(TRY - MS)]);
    let res = send_timed(&timed(), &backend, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(backend.calls(), 1);
    assert!(RetryInfo::of(&res).is_none());
    assert!(History::of(&res).is_none());
}

#[tokio::test(start_paused = true)]
async fn a_post_without_a_key_that_times_out_is_never_resent() {
    let backend = Slow::new([None, Some(MS)]);
    let err = send_timed(&timed(), &backend, post("amount=10"))
        .await
        .unwrap_err();
    assert_eq!(backend.calls(), 1, "the POST may have been processed");
    assert!(err.is_try_timed_out() && !err.is_inner());
    let timed_out = *err.try_timed_out().unwrap();
    assert_eq!(
        (timed_out.attempts(), timed_out.after(), timed_out.stopped()),
        (1, TRY, StopReason::NotIdempotent)
    );
    assert!(err.to_string().contains("not sent again"), "{err}");
    let err = err.into_inner().unwrap_err();
    let boxed = err.into_box_error();
    assert!(boxed.downcast_ref::<crate::TryTimedOut>().is_some());

    // With an idempotency key it is resent.
    let backend = Slow::new([None, Some(MS)]);
    let mut req = post("amount=10");
    req.headers_mut()
        .insert("idempotency-key", "k-1".parse().unwrap());
    let res = send_timed(&timed(), &backend, req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(backend.calls(), 2);
    assert_eq!(info(&res).timeouts(), 1);
}

#[tokio::test(start_paused = true)]
async fn each_try_is_bounded_by_what_is_left_of_the_deadline() {
    let backend = Slow::new([None, None, None]);
    let mut req = get();
    Deadline::after(Duration::from_secs(3)).insert_into(&mut req);
    let start = Instant::now();
    let err = send_timed(&timed(), &backend, req).await.unwrap_err();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(3),
        "never past the deadline"
    );
    assert_eq!(backend.calls(), 2);
    let timed_out = err.try_timed_out().unwrap();
    assert_eq!(timed_out.attempts(), 2);
    // 2 s for the first try, 100 ms of backoff, then the 900 ms that were left.
    assert_eq!(timed_out.after(), 900 * MS);
    assert!(
        matches!(timed_out.stopped(), StopReason::Deadline { .. }),
        "{:?}",
        timed_out.stopped()
    );
}

#[tokio::test(start_paused = true)]
async fn timed_out_tries_count_against_max_retries() {
    let backend = Slow::new([None, None, None]);
    let err = send_timed(&timed().max_retries(1), &backend, get())
        .await
        .unwrap_err();
    assert_eq!(backend.calls(), 2);
    let timed_out = err.try_timed_out().unwrap();
    assert_eq!(timed_out.attempts(), 2);
    assert_eq!(timed_out.stopped(), StopReason::MaxRetries { max: 1 });
}

#[tokio::test(start_paused = true)]
async fn the_inner_error_is_kept_by_value() {
    let backend = Backend::new([Reply::Error(io::ErrorKind::ConnectionReset)]);
    let svc = tower::Layer::layer(&timed(), backend.service::<Full<Bytes>>());
    let err = svc.oneshot(post("x")).await.unwrap_err();
    assert!(err.is_inner());
    assert_eq!(
        err.inner()
            .unwrap()
            .downcast_ref::<io::Error>()
            .unwrap()
            .kind(),
        io::ErrorKind::ConnectionReset
    );
    let boxed = err.into_box_error();
    assert!(
        boxed.downcast_ref::<io::Error>().is_some(),
        "not wrapped twice"
    );
}

#[tokio::test(start_paused = true)]
async fn a_try_that_times_out_while_its_body_is_still_being_sent() {
    // The first half of the body goes at once; the rest only at 3 s, after the first try
    // was cancelled at 2 s. The retry replays the buffered half and then the rest.
    let (tx, body) = channel(8);
    tx.send(Bytes::from_static(b"first half;")).await.unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let _ = tx.send(Bytes::from_static(b"second half")).await;
    });
    let backend = Slow::new([Some(MS), Some(MS)]);
    let req = Request::put("http://example.com/upload")
        .body(body)
        .unwrap();
    let res = send_timed(&timed(), &backend, req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(backend.calls(), 2);
    assert_eq!(
        *backend.bodies.lock().unwrap(),
        [Bytes::from_static(b"first half;second half")],
        "only the second try got to the end of the body"
    );
    assert_eq!(info(&res).timeouts(), 1);

    // A POST whose body is still being sent when its try times out is not resent.
    let (tx, body) = channel(8);
    tx.send(Bytes::from_static(b"partial")).await.unwrap();
    let backend = Slow::new([Some(MS), Some(MS)]);
    let req = Request::post("http://example.com/upload")
        .body(body)
        .unwrap();
    let err = send_timed(&timed(), &backend, req).await.unwrap_err();
    assert_eq!(backend.calls(), 1);
    assert!(backend.bodies.lock().unwrap().is_empty());
    assert_eq!(
        err.try_timed_out().unwrap().stopped(),
        StopReason::NotIdempotent
    );
    drop(tx);
}

#[tokio::test(start_paused = true)]
async fn without_a_per_try_timeout_a_slow_try_is_awaited() {
    let backend = Slow::new([Some(Duration::from_secs(600))]);
    let svc = tower::Layer::layer(&exact(), backend.service::<Empty<Bytes>>());
    let res: Result<_, BoxError> = svc.oneshot(get()).await;
    assert_eq!(res.unwrap().status(), 200);
    assert_eq!(backend.calls(), 1);
    assert_eq!(exact().get_per_try_timeout(), None);
    assert_eq!(timed().get_per_try_timeout(), Some(TRY));
}
