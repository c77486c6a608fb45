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
