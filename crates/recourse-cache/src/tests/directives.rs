//! Request directives (RFC 9111 §5.2.1).

use http::StatusCode;

use super::*;

const URI: &str = "http://origin.test/r";

fn cc(value: &str) -> Request<()> {
    get_with(URI, &[("cache-control", value)])
}

fn validating_origin() -> Origin {
    Origin::new(|req, _| {
        if req.headers().contains_key("if-none-match") {
            not_modified(&[("etag", "\"e\""), ("cache-control", "max-age=100")])
        } else {
            Ok(response(
                200,
                &[("etag", "\"e\""), ("cache-control", "max-age=100")],
                "e",
            ))
        }
    })
}

#[tokio::test(start_paused = true)]
async fn no_cache_validates_a_fresh_response() {
    let origin = validating_origin();
    let cache = origin.cache();
    cache.get(URI).await;
    let res = cache.fetch(cc("no-cache")).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Revalidated));
    assert_eq!(origin.calls(), 2);
    assert_eq!(origin.last()["if-none-match"], "\"e\"");
    // Pragma: no-cache without Cache-Control counts as no-cache (RFC 9111 §5.4).
    cache.fetch(get_with(URI, &[("pragma", "no-cache")])).await;
    assert_eq!(origin.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn max_age() {
    let origin = validating_origin();
    let cache = origin.cache();
    cache.get(URI).await;
    // max-age=0 always validates.
    assert_eq!(
        cache.fetch(cc("max-age=0")).await.outcome,
        Some(CacheOutcome::Revalidated)
    );
    assert_eq!(origin.calls(), 2);
    advance(30).await;
    assert_eq!(
        cache.fetch(cc("max-age=60")).await.outcome,
        Some(CacheOutcome::Hit)
    );
    assert_eq!(
        cache.fetch(cc("max-age=20")).await.outcome,
        Some(CacheOutcome::Revalidated)
    );
    assert_eq!(origin.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn min_fresh() {
    let origin = validating_origin();
    let cache = origin.cache();
    cache.get(URI).await;
    advance(50).await;
    assert_eq!(
        cache.fetch(cc("min-fresh=50")).await.outcome,
        Some(CacheOutcome::Hit)
    );
    assert_eq!(
        cache.fetch(cc("min-fresh=51")).await.outcome,
        Some(CacheOutcome::Revalidated)
    );
}

#[tokio::test(start_paused = true)]
async fn max_stale() {
    let origin = Origin::fixed(&[("cache-control", "max-age=10")], "old");
    let cache = origin.cache();
    cache.get(URI).await;
    advance(40).await;
    let res = cache.fetch(cc("max-stale=30")).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Stale));
    assert_eq!(res.body, "old");
    assert_eq!(res.age(), Some(40));
    assert_eq!(
        cache.fetch(cc("max-stale")).await.outcome,
        Some(CacheOutcome::Stale)
    );
    assert_eq!(origin.calls(), 1);
    assert_eq!(
        cache.fetch(cc("max-stale=29")).await.outcome,
        Some(CacheOutcome::Miss)
    );
    assert_eq!(origin.calls(), 2);

    // must-revalidate forbids it (RFC 9111 §5.2.2.2).
    let origin = Origin::fixed(&[("cache-control", "max-age=10, must-revalidate")], "x");
    let cache = origin.cache();
    cache.get(URI).await;
    advance(11).await;
    assert_eq!(
        cache.fetch(cc("max-stale")).await.outcome,
        Some(CacheOutcome::Miss)
    );
}

#[tokio::test(start_paused = true)]
async fn no_store_request() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "x");
    let cache = origin.cache();
    // The response to a no-store request is not stored...
    cache.fetch(cc("no-store")).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));
    // ...but a stored response may still answer one (RFC 9111 §5.2.1.5).
    assert_eq!(
        cache.fetch(cc("no-store")).await.outcome,
        Some(CacheOutcome::Hit)
    );
    assert_eq!(origin.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn only_if_cached() {
    let origin = Origin::fixed(&[("cache-control", "max-age=10")], "x");
    let cache = origin.cache_with(crate::CacheLayer::new().cache_status("c"));
    let res = cache.fetch(cc("only-if-cached")).await;
    assert_eq!(res.status, StatusCode::GATEWAY_TIMEOUT, "RFC 9111 §5.2.1.7");
    assert_eq!(res.outcome, Some(CacheOutcome::Miss));
    assert_eq!(res.header("cache-status"), Some("c; detail=only-if-cached"));
    assert_eq!(origin.calls(), 0);

    cache.get(URI).await;
    assert_eq!(
        cache.fetch(cc("only-if-cached")).await.outcome,
        Some(CacheOutcome::Hit)
    );
    advance(10).await;
    // Stale and not allowed: 504 rather than a request.
    let res = cache.fetch(cc("only-if-cached")).await;
    assert_eq!(res.status, StatusCode::GATEWAY_TIMEOUT);
    // Unless max-stale allows it.
    let res = cache.fetch(cc("only-if-cached, max-stale=60")).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.outcome, Some(CacheOutcome::Stale));
    assert_eq!(origin.calls(), 1);
}
