//! Requests marked [`Live`]: the origin's current state, never a stored response alone
//! (treated as `Cache-Control: no-cache`, RFC 9111 §5.2.1.4).

use std::time::Duration;

use http::StatusCode;
use recourse_core::{Live, Step};

use super::*;

const URI: &str = "http://origin.test/v2/status/1";
const IN_PROGRESS: &str = r#"{"status":"InProgress"}"#;

fn live(mut req: Request<()>) -> Request<()> {
    Live.insert_into(&mut req);
    req
}

/// A status resource with only `Last-Modified` (heuristically fresh, RFC 9111 §4.2.2),
/// answering 304 to a matching `If-Modified-Since`.
fn status_resource() -> (Origin, String) {
    let lm = date_in(-10_000);
    (Origin::last_modified(&lm, &[], IN_PROGRESS), lm)
}

/// An origin whose `max-age=60` answer names the request's number.
fn numbered(body: fn(usize) -> String) -> Origin {
    Origin::new(move |_, n| Ok(response(200, &[("cache-control", "max-age=60")], body(n))))
}

#[tokio::test(start_paused = true)]
async fn a_live_request_is_revalidated_every_time() {
    let (origin, lm) = status_resource();
    let cache = origin.cache();
    for n in 1..=3 {
        let res = cache.fetch(live(get(URI))).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body, IN_PROGRESS);
        assert_eq!(origin.calls(), n, "every live request reaches the origin");
        if n == 1 {
            assert_eq!(res.outcome, Some(CacheOutcome::Miss));
            assert!(!origin.last().contains_key("if-modified-since"));
        } else {
            // Conditional: the stored validators are sent and the 304 returns the
            // stored body.
            assert_eq!(origin.last()["if-modified-since"], lm.as_str());
            assert_eq!(res.outcome, Some(CacheOutcome::Revalidated));
            let history = res.history.expect("a history");
            assert!(
                history.steps().iter().any(|s| matches!(
                    s,
                    Step::Revalidated {
                        status: StatusCode::NOT_MODIFIED
                    }
                )),
                "{history:?}"
            );
        }
        advance(1).await;
    }
}

#[tokio::test(start_paused = true)]
async fn without_live_the_same_requests_are_hits() {
    let (origin, _) = status_resource();
    let cache = origin.cache();
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));
    for _ in 0..2 {
        advance(1).await;
        let res = cache.get(URI).await;
        assert_eq!(res.outcome, Some(CacheOutcome::Hit));
        assert_eq!(res.body, IN_PROGRESS);
    }
    assert_eq!(origin.calls(), 1, "heuristically fresh: hits");
}

#[tokio::test(start_paused = true)]
async fn a_live_request_without_validators_is_forwarded() {
    let origin = numbered(|n| format!(r#"{{"n":{n}}}"#));
    let cache = origin.cache();
    for n in 1..=3 {
        let res = cache.fetch(live(get(URI))).await;
        assert_eq!(
            res.body,
            format!(r#"{{"n":{n}}}"#),
            "the origin's current state"
        );
        assert_eq!(res.outcome, Some(CacheOutcome::Miss));
        assert!(!origin.last().contains_key("if-none-match"));
    }
    assert_eq!(origin.calls(), 3);
    // An explicit freshness lifetime is still stored: a request without `Live` is a hit.
    let res = cache.get(URI).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Hit));
    assert_eq!(res.body, r#"{"n":3}"#);
    assert_eq!(origin.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_live_request_never_joins_an_earlier_flight() {
    let origin = numbered(|n| format!("answer {n}"));
    origin.delay(Duration::from_secs(1));
    let cache = origin.cache();
    // A plain request is in flight...
    let first = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get(URI).await })
    };
    settle().await;
    assert_eq!(origin.calls(), 1);
    // ...and a live request arriving now makes its own: what began before it may
    // predate the state it must see.
    let second = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.fetch(live(get(URI))).await })
    };
    settle().await;
    assert_eq!(origin.calls(), 2);
    assert_eq!(first.await.unwrap().body, "answer 1");
    let second = second.await.unwrap();
    assert_eq!(second.body, "answer 2");
    assert_eq!(second.outcome, Some(CacheOutcome::Miss));
}

#[tokio::test(start_paused = true)]
async fn a_failing_origin_is_not_hidden_by_a_stored_response() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60, stale-if-error=600")], "ok");
    let cache = origin.cache();
    cache.get(URI).await;
    origin.set(|_, _| Ok(response(503, &[] as &[(&str, &str)], "down")));
    let res = cache.fetch(live(get(URI))).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(origin.calls(), 2);
}
