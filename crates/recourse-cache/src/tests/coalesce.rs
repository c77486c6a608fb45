//! Coalescing concurrent misses.

use std::io;
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::CacheLayer;

const URI: &str = "http://origin.test/c";

async fn concurrently<St: Store>(cache: &TestCache<St>, n: usize) -> Vec<Fetched> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get(URI).await })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_make_one_origin_request() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "once");
    origin.delay(Duration::from_secs(1));
    let cache = origin.cache_with(CacheLayer::new().cache_status("c"));
    let results = concurrently(&cache, 100).await;
    assert_eq!(origin.calls(), 1);
    assert!(results.iter().all(|r| r.body == "once"));
    let misses = results
        .iter()
        .filter(|r| r.outcome == Some(CacheOutcome::Miss))
        .count();
    assert_eq!(misses, 1);
    let collapsed = results
        .iter()
        .filter(|r| {
            r.header("cache-status")
                .is_some_and(|s| s.contains("collapsed"))
        })
        .count();
    assert_eq!(collapsed, 99);
}

#[tokio::test(start_paused = true)]
async fn revalidations_are_coalesced_too() {
    let origin = Origin::new(|req, _| {
        if req.headers().contains_key("if-none-match") {
            not_modified(&[("etag", "\"a\""), ("cache-control", "max-age=60")])
        } else {
            Ok(response(
                200,
                &[("etag", "\"a\""), ("cache-control", "max-age=60")],
                "a",
            ))
        }
    });
    let cache = origin.cache();
    cache.get(URI).await;
    advance(60).await;
    origin.delay(Duration::from_secs(1));
    let results = concurrently(&cache, 20).await;
    assert_eq!(origin.calls(), 2, "one conditional request for all");
    assert!(results.iter().all(|r| r.body == "a"));
}

#[tokio::test(start_paused = true)]
async fn waiters_go_to_the_origin_when_the_response_is_not_storable() {
    let origin = Origin::fixed(&[("cache-control", "no-store")], "private data");
    origin.delay(Duration::from_secs(1));
    let cache = origin.cache();
    let start = Instant::now();
    let results = concurrently(&cache, 5).await;
    assert_eq!(origin.calls(), 5);
    assert!(results.iter().all(|r| r.body == "private data"));
    assert_eq!(
        Instant::now() - start,
        Duration::from_secs(2),
        "one wait, then each on its own"
    );

    // The key is now known uncacheable: concurrent requests no longer wait.
    let start = Instant::now();
    concurrently(&cache, 5).await;
    assert_eq!(origin.calls(), 10);
    assert_eq!(Instant::now() - start, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn waiters_go_to_the_origin_when_the_leader_fails() {
    let origin = Origin::new(|_, n| {
        if n == 1 {
            Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"))
        } else {
            Ok(response(200, &[("cache-control", "max-age=60")], "ok"))
        }
    });
    origin.delay(Duration::from_secs(1));
    let cache = origin.cache();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.send(get(URI)).await.map(|r| r.status()) })
        })
        .collect();
    let mut errors = 0;
    for t in tasks {
        if t.await.unwrap().is_err() {
            errors += 1;
        }
    }
    assert_eq!(errors, 1, "only the leader sees its failure");
    assert!(
        origin.calls() >= 2 && origin.calls() <= 4,
        "{}",
        origin.calls()
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_is_bounded() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "slow");
    origin.delay(Duration::from_secs(100));
    let cache = origin.cache_with(CacheLayer::new().coalesce_timeout(Duration::from_secs(2)));
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get(URI).await })
    };
    settle().await;
    let start = Instant::now();
    let follower = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get(URI).await })
    };
    // After 2 s the follower stops waiting and makes its own request.
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(origin.calls(), 2);
    follower.await.unwrap();
    assert_eq!(Instant::now() - start, Duration::from_secs(102));
    leader.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn coalescing_can_be_turned_off_and_skips_directives() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "x");
    origin.delay(Duration::from_secs(1));
    let cache = origin.cache_with(CacheLayer::new().coalesce(false));
    concurrently(&cache, 3).await;
    assert_eq!(origin.calls(), 3);

    // Requests with their own Cache-Control are not coalesced.
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "x");
    origin.delay(Duration::from_secs(1));
    let cache = origin.cache();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .fetch(get_with(URI, &[("cache-control", "max-age=0")]))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(origin.calls(), 3);
}

/// `Duration::MAX` anywhere in the configuration: no arithmetic overflows, no panic.
#[tokio::test(start_paused = true)]
async fn duration_max_settings_never_panic() {
    let origin = Origin::new(|req, n| {
        if req.uri().path() == "/pass" {
            return Ok(response(200, &[("cache-control", "no-store")], "pass"));
        }
        if n > 5 {
            return Ok(response(503, &[("x", "down")], "down"));
        }
        Ok(response(
            200,
            &[(
                "cache-control",
                "max-age=1, stale-while-revalidate=2147483648",
            )],
            format!("v{n}"),
        ))
    });
    let cache = origin.cache_with(
        CacheLayer::new()
            .uncacheable_ttl(Duration::MAX)
            .coalesce_timeout(Duration::MAX)
            .refresh_timeout(Duration::MAX)
            .stale_if_error(Duration::MAX),
    );
    // Not storable: the URI is exempt from coalescing for as long as can be represented.
    for _ in 0..2 {
        assert_eq!(cache.get("http://origin.test/pass").await.body, "pass");
    }
    let (a, b) = tokio::join!(
        cache.get("http://origin.test/pass"),
        cache.get("http://origin.test/pass")
    );
    assert_eq!((a.body, b.body), ("pass".into(), "pass".into()));
    assert_eq!(origin.calls(), 4, "never coalesced");
    // Stale-while-revalidate with an unbounded refresh timeout, then stale-if-error with
    // an unbounded window.
    assert_eq!(cache.get(URI).await.body, "v5");
    advance(2).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Stale));
    settle().await;
    let res = cache.get(URI).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Stale));
    assert_eq!(
        res.body, "v5",
        "the refresh failed with a 503; the stale response stays"
    );
    assert_eq!(
        cache
            .fetch(get_with(URI, &[("cache-control", "max-age=0")]))
            .await
            .outcome,
        Some(CacheOutcome::Stale),
        "stale-if-error"
    );
}
