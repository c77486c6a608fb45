//! Serving stale: stale-while-revalidate and stale-if-error (RFC 5861, RFC 9111 §4.2.4).

use std::io;
use std::time::Duration;

use http::StatusCode;

use super::*;
use crate::{CacheLayer, Mode};

const URI: &str = "http://origin.test/s";

#[tokio::test(start_paused = true)]
async fn stale_while_revalidate_serves_stale_and_refreshes_once() {
    let origin = Origin::new(|_, n| {
        Ok(response(
            200,
            &[
                ("cache-control", "max-age=10, stale-while-revalidate=60"),
                ("x-n", &n.to_string()),
            ],
            format!("v{n}"),
        ))
    });
    let cache = origin.cache();
    cache.get(URI).await;
    advance(15).await;
    // The refresh takes a while: every request meanwhile gets the stale response at once,
    // and only one refresh runs.
    origin.delay(Duration::from_secs(5));
    for _ in 0..5 {
        let res = cache.get(URI).await;
        assert_eq!(res.outcome, Some(CacheOutcome::Stale));
        assert_eq!(res.body, "v1");
        settle().await;
    }
    assert_eq!(origin.calls(), 2, "one background refresh");
    advance(5).await;
    settle().await;
    let res = cache.get(URI).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Hit));
    assert_eq!(res.body, "v2", "the refreshed response was stored");
    assert_eq!(origin.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn stale_while_revalidate_uses_validators_and_window() {
    let origin = Origin::new(|req, _| {
        if req.headers().contains_key("if-none-match") {
            not_modified(&[
                ("etag", "\"a\""),
                ("cache-control", "max-age=10, stale-while-revalidate=30"),
            ])
        } else {
            Ok(response(
                200,
                &[
                    ("etag", "\"a\""),
                    ("cache-control", "max-age=10, stale-while-revalidate=30"),
                ],
                "a",
            ))
        }
    });
    let cache = origin.cache();
    cache.get(URI).await;
    advance(20).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Stale));
    settle().await;
    assert_eq!(origin.last()["if-none-match"], "\"a\"");
    // The 304 refreshed it.
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Hit));
    // Past the window: a foreground revalidation.
    advance(10 + 31).await;
    assert_eq!(
        cache.get(URI).await.outcome,
        Some(CacheOutcome::Revalidated)
    );
}

#[tokio::test(start_paused = true)]
async fn stale_while_revalidate_can_be_turned_off() {
    let origin = Origin::fixed(
        &[("cache-control", "max-age=1, stale-while-revalidate=60")],
        "x",
    );
    let cache = origin.cache_with(CacheLayer::new().stale_while_revalidate(false));
    cache.get(URI).await;
    advance(2).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));
}

fn failing_after_first(cc: &'static str, failure: fn() -> Reply) -> Origin {
    Origin::new(move |_, n| {
        if n == 1 {
            Ok(response(200, &[("cache-control", cc)], "good"))
        } else {
            failure()
        }
    })
}

fn server_error() -> Reply {
    Ok(response(503, &[] as &[(&str, &str)], "down"))
}

fn transport_error() -> Reply {
    Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
}

#[tokio::test(start_paused = true)]
async fn stale_if_error_on_a_5xx_and_a_transport_error() {
    for (failure, status) in [
        (
            server_error as fn() -> Reply,
            "c; fwd=stale; fwd-status=503; ttl=-20; detail=stale-if-error",
        ),
        (
            transport_error,
            "c; fwd=stale; ttl=-20; detail=origin-unreachable",
        ),
    ] {
        let origin = failing_after_first("max-age=10, stale-if-error=60", failure);
        let cache = origin.cache_with(CacheLayer::new().cache_status("c"));
        cache.get(URI).await;
        advance(30).await;
        let res = cache.get(URI).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body, "good");
        assert_eq!(res.outcome, Some(CacheOutcome::Stale));
        assert_eq!(res.header("cache-status"), Some(status));
        // Beyond the window the failure reaches the caller.
        advance(41).await;
        let res = cache.send(get(URI)).await;
        match res {
            Ok(res) => assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn stale_if_error_from_the_request_and_the_layer() {
    let origin = failing_after_first("max-age=10", server_error);
    let cache = origin.cache();
    cache.get(URI).await;
    advance(20).await;
    assert_eq!(cache.get(URI).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let res = cache
        .fetch(get_with(URI, &[("cache-control", "stale-if-error=15")]))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.outcome, Some(CacheOutcome::Stale));
    let res = cache
        .fetch(get_with(URI, &[("cache-control", "stale-if-error=5")]))
        .await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);

    let origin = failing_after_first("max-age=10", transport_error);
    let cache = origin.cache_with(CacheLayer::new().stale_if_error(Duration::from_secs(100)));
    cache.get(URI).await;
    advance(50).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Stale));
}

#[tokio::test(start_paused = true)]
async fn never_stale_against_the_response() {
    for (mode, cc) in [
        (
            Mode::Private,
            "max-age=2, stale-if-error=600, must-revalidate",
        ),
        (Mode::Private, "max-age=2, stale-if-error=600, no-cache"),
        (
            Mode::Shared,
            "max-age=2, stale-if-error=600, proxy-revalidate",
        ),
        (Mode::Shared, "s-maxage=2, stale-if-error=600"),
    ] {
        let origin = failing_after_first(cc, server_error);
        let cache = origin.cache_with(
            CacheLayer::new()
                .mode(mode)
                .stale_if_error(Duration::from_secs(600)),
        );
        cache.get(URI).await;
        advance(3).await;
        assert_eq!(
            cache.get(URI).await.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{cc}"
        );
    }
    // proxy-revalidate binds shared caches only.
    let origin = failing_after_first(
        "max-age=2, stale-if-error=600, proxy-revalidate",
        server_error,
    );
    let cache = origin.cache();
    cache.get(URI).await;
    advance(3).await;
    assert_eq!(cache.get(URI).await.status, StatusCode::OK);
}

/// An origin that answers with its request count; `delay` makes it hang.
fn hanging_refresh_origin() -> Origin {
    Origin::new(|_, n| {
        Ok(response(
            200,
            &[
                ("cache-control", "max-age=1, stale-while-revalidate=5"),
                ("etag", &format!("\"v{n}\"")),
            ],
            format!("v{n}"),
        ))
    })
}

#[tokio::test(start_paused = true)]
async fn a_hung_refresh_times_out_and_frees_the_uri() {
    let origin = hanging_refresh_origin();
    let cache = origin.cache();
    cache.get(URI).await;
    advance(2).await;
    // Stale: served at once, and a refresh starts that never gets an answer.
    origin.delay(Duration::from_secs(1_000_000));
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Stale));
    settle().await;
    assert_eq!(origin.calls(), 2);
    origin.delay(Duration::ZERO);
    // The refresh times out after the default 10 s; past the stale-while-revalidate
    // window, the next request leads a new origin request at once, without waiting
    // for the abandoned refresh.
    advance(10).await;
    settle().await;
    let start = tokio::time::Instant::now();
    let res = cache.get(URI).await;
    assert_eq!(
        tokio::time::Instant::now(),
        start,
        "no wait for the hung refresh"
    );
    assert_eq!(res.outcome, Some(CacheOutcome::Miss));
    assert_eq!(res.body, "v3");
    assert_eq!(origin.calls(), 3);
    // Stored, and refreshed again when stale.
    advance(2).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Stale));
    settle().await;
    assert_eq!(origin.calls(), 4, "a new background refresh");
    assert_eq!(cache.get(URI).await.body, "v4");
}

#[tokio::test(start_paused = true)]
async fn refresh_timeout_and_deadline_bound_the_refresh() {
    let origin = hanging_refresh_origin();
    let cache = origin.cache_with(CacheLayer::new().refresh_timeout(Duration::from_secs(2)));
    cache.get(URI).await;
    advance(2).await;
    origin.delay(Duration::from_secs(1_000_000));
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Stale));
    settle().await;
    assert_eq!(origin.calls(), 2);
    // Within the window, while the refresh runs, stale hits start no other refresh.
    advance(1).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Stale));
    settle().await;
    assert_eq!(origin.calls(), 2);
    // After the configured 2 s, the next stale hit starts a new refresh.
    advance(1).await;
    settle().await;
    let mut req = get(URI);
    recourse_core::Deadline::after(Duration::from_millis(500)).insert_into(&mut req);
    assert_eq!(cache.fetch(req).await.outcome, Some(CacheOutcome::Stale));
    settle().await;
    assert_eq!(origin.calls(), 3);
    // That one was bounded by the request's deadline (500 ms), not by the 2 s timeout.
    tokio::time::advance(Duration::from_millis(500)).await;
    settle().await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Stale));
    settle().await;
    assert_eq!(origin.calls(), 4);
    // A request whose deadline has passed starts no refresh at all.
    advance(1).await;
    settle().await;
    let mut req = get(URI);
    recourse_core::Deadline::after(Duration::ZERO).insert_into(&mut req);
    assert_eq!(cache.fetch(req).await.outcome, Some(CacheOutcome::Stale));
    settle().await;
    assert_eq!(origin.calls(), 4);
}

/// The background refresh resends the caller's fields; in a shared cache its answer is
/// stored only if a shared cache may store a response to that request (RFC 9111 §3.5).
#[tokio::test(start_paused = true)]
async fn a_shared_refresh_with_authorization_stores_only_what_may_be_shared() {
    for (cc, stored) in [
        ("max-age=1, stale-while-revalidate=60", false),
        ("public, max-age=1, stale-while-revalidate=60", true),
    ] {
        let origin =
            Origin::new(move |_, n| Ok(response(200, &[("cache-control", cc)], format!("v{n}"))));
        let cache = origin.cache_with(CacheLayer::shared());
        cache.get(URI).await;
        advance(2).await;
        let res = cache
            .fetch(get_with(
                URI,
                &[("authorization", "Bearer bob"), ("cookie", "id=bob")],
            ))
            .await;
        assert_eq!(res.outcome, Some(CacheOutcome::Stale));
        assert_eq!(res.body, "v1");
        settle().await;
        assert_eq!(origin.calls(), 2);
        assert_eq!(origin.last()["authorization"], "Bearer bob");
        assert_eq!(origin.last()["cookie"], "id=bob");
        let res = cache.get(URI).await;
        if stored {
            assert_eq!(res.outcome, Some(CacheOutcome::Hit), "{cc}");
            assert_eq!(res.body, "v2");
        } else {
            // Bob's answer was not stored (and superseded the stale one, RFC 9111 §4.3.3).
            assert_eq!(res.outcome, Some(CacheOutcome::Miss), "{cc}");
            assert_eq!(res.body, "v3");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn stale_if_unreachable_serves_stale_on_transport_errors_only() {
    let layer = || {
        CacheLayer::shared()
            .cache_status("c")
            .stale_if_unreachable(Duration::from_secs(3600))
    };
    // No stale-if-error anywhere: a transport error gets the stale response...
    let origin = failing_after_first("max-age=10", transport_error);
    let cache = origin.cache_with(layer());
    cache.get(URI).await;
    advance(30).await;
    let res = cache.get(URI).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, "good");
    assert_eq!(res.outcome, Some(CacheOutcome::Stale));
    assert_eq!(
        res.header("cache-status"),
        Some("c; fwd=stale; ttl=-20; detail=origin-unreachable")
    );
    assert_eq!(res.age(), Some(30));
    // ...but not beyond the window: the error is passed on.
    advance(3600).await;
    assert!(cache.send(get(URI)).await.is_err());

    // A 5xx is the origin's answer: passed on (RFC 9111 §4.2.4).
    let origin = failing_after_first("max-age=10", server_error);
    let cache = origin.cache_with(layer());
    cache.get(URI).await;
    advance(30).await;
    assert_eq!(cache.get(URI).await.status, StatusCode::SERVICE_UNAVAILABLE);

    // Never against directives that forbid serving stale in a shared cache.
    for cc in [
        "max-age=10, must-revalidate",
        "max-age=10, proxy-revalidate",
        "max-age=10, no-cache",
        "s-maxage=10",
    ] {
        let origin = failing_after_first(cc, transport_error);
        let cache = origin.cache_with(layer());
        cache.get(URI).await;
        advance(30).await;
        let sent = cache.send(get(URI)).await;
        assert!(sent.is_err(), "{cc}");
    }
    // Off by default.
    let origin = failing_after_first("max-age=10", transport_error);
    let cache = origin.cache_with(CacheLayer::shared());
    cache.get(URI).await;
    advance(30).await;
    assert!(cache.send(get(URI)).await.is_err());
}
