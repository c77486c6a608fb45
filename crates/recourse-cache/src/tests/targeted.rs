//! Targeted cache control (RFC 9213): `CDN-Cache-Control` and configured fields.

use http::HeaderName;

use super::*;
use crate::{CacheLayer, Mode};

const URI: &str = "http://origin.test/t";

fn fixed(headers: &'static [(&'static str, &'static str)]) -> Origin {
    Origin::fixed(headers, "t")
}

/// Whether a second request within 30 s is a hit.
async fn hit_after(cache: &TestCache, secs: u64) -> bool {
    cache.get(URI).await;
    advance(secs).await;
    cache.get(URI).await.outcome == Some(CacheOutcome::Hit)
}

#[tokio::test(start_paused = true)]
async fn the_targeted_field_takes_precedence_over_cache_control() {
    // Cache-Control says no-store; CDN-Cache-Control gives this cache 60 s.
    let origin = fixed(&[
        ("cache-control", "no-store"),
        ("cdn-cache-control", "max-age=60"),
    ]);
    let cache = origin.cache_with(CacheLayer::shared());
    assert!(hit_after(&cache, 59).await);
    let hit = cache.get(URI).await;
    // Passed on unchanged, Cache-Control too, for the caches downstream.
    assert_eq!(hit.header("cdn-cache-control"), Some("max-age=60"));
    assert_eq!(hit.header("cache-control"), Some("no-store"));
    advance(2).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));

    // The reverse: Cache-Control allows, the targeted field forbids.
    for cdn in ["no-store", "private", "max-age=0", "no-cache"] {
        let origin = Origin::new(move |_, _| {
            Ok(response(
                200,
                &[("cache-control", "max-age=600"), ("cdn-cache-control", cdn)],
                "t",
            ))
        });
        let cache = origin.cache_with(CacheLayer::shared());
        assert!(!hit_after(&cache, 1).await, "{cdn}");
    }
    // The other Cache-Control directives are ignored: its s-maxage does not apply.
    let origin = fixed(&[
        ("cache-control", "s-maxage=5, max-age=5"),
        ("cdn-cache-control", "max-age=60"),
    ]);
    let cache = origin.cache_with(CacheLayer::shared());
    assert!(hit_after(&cache, 30).await);
}

#[tokio::test(start_paused = true)]
async fn an_invalid_targeted_field_is_ignored_as_a_whole() {
    for cdn in ["max-age=60,", "Max-Age=60", "max-age=\"60\" x", ""] {
        let origin = Origin::new(move |_, _| {
            Ok(response(
                200,
                &[("cache-control", "max-age=5"), ("cdn-cache-control", cdn)],
                "t",
            ))
        });
        let cache = origin.cache_with(CacheLayer::shared());
        // Cache-Control's 5 s apply.
        assert!(hit_after(&cache, 4).await, "{cdn}");
        advance(2).await;
        assert_eq!(
            cache.get(URI).await.outcome,
            Some(CacheOutcome::Miss),
            "{cdn}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn private_caches_and_other_lists() {
    let headers: &'static [(&'static str, &'static str)] = &[
        ("cache-control", "max-age=5"),
        ("cdn-cache-control", "max-age=60"),
        ("recourse-cache-control", "max-age=30"),
    ];
    // A private cache is not a CDN: Cache-Control.
    let cache = fixed(headers).cache_with(CacheLayer::new().mode(Mode::Private));
    assert!(!hit_after(&cache, 10).await);
    // A configured list, first match first.
    let mine = HeaderName::from_static("recourse-cache-control");
    let cache = fixed(headers).cache_with(
        CacheLayer::shared().targeted_fields([mine, HeaderName::from_static("cdn-cache-control")]),
    );
    assert!(hit_after(&cache, 29).await);
    advance(2).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));
    // Turned off.
    let cache = fixed(headers).cache_with(CacheLayer::shared().targeted_fields([]));
    assert!(!hit_after(&cache, 10).await);
}

#[tokio::test(start_paused = true)]
async fn targeted_directives_govern_serving_stale() {
    // Cache-Control forbids serving stale; the targeted field allows stale-if-error.
    let origin = Origin::new(|_, n| {
        if n == 1 {
            Ok(response(
                200,
                &[
                    ("cache-control", "max-age=10, must-revalidate"),
                    ("cdn-cache-control", "max-age=10, stale-if-error=60"),
                ],
                "t",
            ))
        } else {
            Ok(response(503, &[] as &[(&str, &str)], ""))
        }
    });
    let cache = origin.cache_with(CacheLayer::shared());
    cache.get(URI).await;
    advance(20).await;
    let res = cache.get(URI).await;
    assert_eq!(res.status, http::StatusCode::OK);
    assert_eq!(res.outcome, Some(CacheOutcome::Stale));
}
