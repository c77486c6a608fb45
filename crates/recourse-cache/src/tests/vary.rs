//! Variants (RFC 9111 §4.1).

use super::*;
use crate::{CacheLayer, MemoryStore};

const URI: &str = "http://origin.test/v";

/// An origin varying on Accept-Language, echoing it in the body.
fn language_origin() -> Origin {
    Origin::new(|req, _| {
        let lang = req
            .headers()
            .get("accept-language")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_else(|| "none".into());
        Ok(response(
            200,
            &[("cache-control", "max-age=60"), ("vary", "Accept-Language")],
            lang,
        ))
    })
}

fn lang(value: &str) -> Request<()> {
    get_with(URI, &[("accept-language", value)])
}

#[tokio::test(start_paused = true)]
async fn several_variants_per_uri() {
    let origin = language_origin();
    let cache = origin.cache();
    assert_eq!(
        cache.fetch(lang("en")).await.outcome,
        Some(CacheOutcome::Miss)
    );
    let de = cache.fetch(lang("de")).await;
    assert_eq!(de.outcome, Some(CacheOutcome::Miss));
    assert_eq!(origin.calls(), 2);

    let en = cache.fetch(lang("en")).await;
    assert_eq!(
        en.outcome,
        Some(CacheOutcome::Hit),
        "the second variant did not evict the first"
    );
    assert_eq!(en.body, "en");
    let de = cache.fetch(lang("de")).await;
    assert_eq!(de.outcome, Some(CacheOutcome::Hit));
    assert_eq!(de.body, "de");
    // Absent is a value of its own.
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));
    assert_eq!(cache.get(URI).await.body, "none");
    assert_eq!(origin.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn selecting_values_are_normalised() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60"), ("vary", "Foo")], "x");
    let cache = origin.cache();
    cache.fetch(get_with(URI, &[("foo", "1, 2")])).await;
    let combined = Request::get(URI)
        .header("foo", "1")
        .header("foo", "2")
        .body(())
        .unwrap();
    assert_eq!(cache.fetch(combined).await.outcome, Some(CacheOutcome::Hit));
    assert_eq!(
        cache
            .fetch(get_with(URI, &[("foo", " 1,2 ")]))
            .await
            .outcome,
        Some(CacheOutcome::Hit)
    );
    assert_eq!(
        cache.fetch(get_with(URI, &[("foo", "2, 1")])).await.outcome,
        Some(CacheOutcome::Miss)
    );
    // Fields not named by Vary do not matter.
    assert_eq!(
        cache
            .fetch(get_with(URI, &[("foo", "1, 2"), ("other", "z")]))
            .await
            .outcome,
        Some(CacheOutcome::Hit)
    );
}

#[tokio::test(start_paused = true)]
async fn vary_miss_is_reported() {
    let origin = language_origin();
    let cache = origin.cache_with(CacheLayer::new().cache_status("c"));
    cache.fetch(lang("en")).await;
    let fr = cache.fetch(lang("fr")).await;
    assert_eq!(
        fr.header("cache-status"),
        Some("c; fwd=vary-miss; fwd-status=200; stored")
    );
}

#[tokio::test(start_paused = true)]
async fn revalidation_sends_the_selecting_fields() {
    let origin = Origin::new(|req, _| {
        if req.headers().contains_key("if-none-match") {
            not_modified(&[("etag", "\"a\""), ("vary", "Abc")])
        } else {
            Ok(response(
                200,
                &[
                    ("etag", "\"a\""),
                    ("cache-control", "max-age=1"),
                    ("vary", "Abc"),
                ],
                "a",
            ))
        }
    });
    let cache = origin.cache();
    cache.fetch(get_with(URI, &[("abc", "123")])).await;
    advance(1).await;
    let res = cache.fetch(get_with(URI, &[("abc", "123")])).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Revalidated));
    assert_eq!(origin.last()["abc"], "123");
    // Another value does not revalidate the stored variant: a plain request.
    cache.fetch(get_with(URI, &[("abc", "456")])).await;
    assert!(!origin.last().contains_key("if-none-match"));
}

#[tokio::test(start_paused = true)]
async fn variants_per_uri_are_bounded() {
    let origin = language_origin();
    let store = MemoryStore::default().with_max_variants(2);
    let cache = origin.cache_with(CacheLayer::new().store(store));
    for l in ["a", "b", "c"] {
        cache.fetch(lang(l)).await;
        advance(1).await;
    }
    // The oldest ("a") was dropped.
    assert_eq!(
        cache.fetch(lang("c")).await.outcome,
        Some(CacheOutcome::Hit)
    );
    assert_eq!(
        cache.fetch(lang("b")).await.outcome,
        Some(CacheOutcome::Hit)
    );
    assert_eq!(
        cache.fetch(lang("a")).await.outcome,
        Some(CacheOutcome::Miss)
    );
}

#[tokio::test(start_paused = true)]
async fn accept_language_variants_differing_in_order_case_or_whitespace_are_one() {
    let origin = language_origin();
    let cache = origin.cache_with(CacheLayer::shared());
    cache.fetch(lang("en-GB, fr;q=0.5")).await;
    for same in [
        "fr;q=0.5, en-GB",
        "EN-gb,FR;q=0.5",
        "  en-gb ,  fr ; q=0.5 ",
    ] {
        let res = cache.fetch(lang(same)).await;
        assert_eq!(res.outcome, Some(CacheOutcome::Hit), "{same}");
        assert_eq!(res.body, "en-GB, fr;q=0.5");
    }
    assert_eq!(origin.calls(), 1);
    let other = cache.fetch(lang("en-GB, fr;q=0.6")).await;
    assert_eq!(other.outcome, Some(CacheOutcome::Miss));
}
