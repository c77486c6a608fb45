//! How many: the retry budget shared by clones, `max_retries`.

use super::*;

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

/// 503 from `sick.example` always; from any other host, 503 on the first attempt only.
/// Also returns the count of requests `sick.example` received.
#[allow(clippy::type_complexity)]
fn by_host() -> (
    impl Service<Request<ReplayBody<Empty<Bytes>>>, Response = Response<Empty<Bytes>>, Error = BoxError>
    + Clone,
    Arc<AtomicU64>,
) {
    let sick_calls = Arc::new(AtomicU64::new(0));
    let counter = sick_calls.clone();
    let svc = service_fn(move |req: Request<ReplayBody<Empty<Bytes>>>| {
        let sick = req.uri().host() == Some("sick.example");
        if sick {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let first = req.extensions().get::<Attempt>().is_none();
        let code = if sick || first { 503 } else { 200 };
        async move { Ok::<_, BoxError>(Response::builder().status(code).body(Empty::new())?) }
    });
    (svc, sick_calls)
}

fn get_from(host: &str) -> Request<Empty<Bytes>> {
    Request::get(format!("http://{host}/r"))
        .body(Empty::new())
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn one_failing_origin_cannot_spend_the_others_budget() {
    // A floor of 1 retry per second over 10 s, nothing per request: 10 retries a window.
    let window = Duration::from_secs(10);
    let shared = exact().budget(RetryBudget::new(window, 1, 0.0).unwrap());
    let per_origin =
        exact().budget_per_origin(crate::OriginBudgets::new(window, 1, 0.0, 100).unwrap());
    let mut healthy_status = Vec::new();
    for layer in [shared, per_origin] {
        let (backend, sick_calls) = by_host();
        let svc = tower::Layer::layer(&layer, backend);
        for _ in 0..20 {
            let res = svc.clone().oneshot(get_from("sick.example")).await.unwrap();
            assert_eq!(res.status(), 503);
        }
        // The sick origin got its first attempts and 10 retries, whichever budget.
        assert_eq!(sick_calls.load(Ordering::Relaxed), 30);
        let res = svc
            .clone()
            .oneshot(get_from("healthy.example"))
            .await
            .unwrap();
        healthy_status.push(res.status().as_u16());
    }
    assert_eq!(
        healthy_status,
        [503, 200],
        "one budget: the sick origin spent it all; one per origin: the healthy one has its own"
    );
}
