//! Storing and freshness (RFC 9111 §3, §4.2), modes, and what a hit looks like.

use http::StatusCode;

use super::*;
use crate::{CacheLayer, MemoryStore, Mode};

const URI: &str = "http://origin.test/item";

#[tokio::test(start_paused = true)]
async fn miss_then_fresh_hit_makes_no_origin_request() {
    let date = date_now();
    let origin = Origin::fixed(
        &[("cache-control", "max-age=60"), ("date", &date)],
        "payload",
    );
    let cache = origin.cache();

    let first = cache.get(URI).await;
    assert_eq!(first.outcome, Some(CacheOutcome::Miss));
    assert_eq!(first.body, "payload");
    assert_eq!(origin.calls(), 1);

    advance(10).await;
    let second = cache.get(URI).await;
    assert_eq!(second.outcome, Some(CacheOutcome::Hit));
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body, "payload");
    assert_eq!(second.age(), Some(10), "Age is generated (RFC 9111 §5.1)");
    assert_eq!(
        second.header("date"),
        Some(date.as_str()),
        "Date is not rewritten"
    );
    assert_eq!(origin.calls(), 1, "a fresh hit makes no origin request");
}

#[tokio::test(start_paused = true)]
async fn hits_share_the_stored_bytes() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "shared bytes");
    let cache = origin.cache();
    cache.get(URI).await;
    let a = cache.get(URI).await;
    let b = cache.get(URI).await;
    assert_eq!(a.outcome, Some(CacheOutcome::Hit));
    assert_eq!(
        a.body.as_ptr(),
        b.body.as_ptr(),
        "a hit clones the Bytes, never the data"
    );
}

#[tokio::test(start_paused = true)]
async fn becomes_stale_after_max_age() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "x");
    let cache = origin.cache();
    cache.get(URI).await;
    advance(59).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Hit));
    advance(1).await;
    let stale = cache.get(URI).await;
    assert_eq!(
        stale.outcome,
        Some(CacheOutcome::Miss),
        "no validator: a full request"
    );
    assert_eq!(origin.calls(), 2);
    // The new response replaced the old one.
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Hit));
    assert_eq!(origin.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn age_header_and_apparent_age_count() {
    // Age: 50 of max-age=60 leaves 10 seconds.
    let origin = Origin::fixed(&[("cache-control", "max-age=60"), ("age", "50")], "x");
    let cache = origin.cache();
    cache.get(URI).await;
    advance(9).await;
    let hit = cache.get(URI).await;
    assert_eq!(hit.outcome, Some(CacheOutcome::Hit));
    assert_eq!(hit.age(), Some(59));
    advance(1).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));

    // A Date 30 s in the past (apparent age, RFC 9111 §4.2.3) leaves 30 s of 60.
    let origin = Origin::new(|_, _| {
        Ok(response(
            200,
            &[("cache-control", "max-age=60"), ("date", &date_in(-30))],
            "y",
        ))
    });
    let cache = origin.cache();
    cache.get(URI).await;
    advance(29).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Hit));
    advance(1).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));
}

#[tokio::test(start_paused = true)]
async fn expires_and_heuristics() {
    let origin = Origin::new(|_, _| {
        Ok(response(
            200,
            &[("date", date_now()), ("expires", date_in(100))],
            "x",
        ))
    });
    let cache = origin.cache();
    cache.get(URI).await;
    advance(99).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Hit));
    advance(1).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));

    // Heuristic freshness: 10% of the time since Last-Modified (RFC 9111 §4.2.2).
    let origin = Origin::new(|_, _| {
        Ok(response(
            200,
            &[("date", date_now()), ("last-modified", date_in(-1000))],
            "x",
        ))
    });
    let cache = origin.cache();
    cache.get(URI).await;
    advance(99).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Hit));
    advance(1).await;
    let next = cache.get(URI).await;
    assert_eq!(next.outcome, Some(CacheOutcome::Miss));
    assert!(
        next.history.is_some(),
        "Last-Modified is a validator: revalidated"
    );
}

#[tokio::test(start_paused = true)]
async fn not_stored() {
    for headers in [
        &[("cache-control", "no-store, max-age=60")][..],
        &[("cache-control", "No-StOrE")],
        &[("cache-control", "max-age=0")],
        &[("cache-control", "max-age=60"), ("vary", "*")],
        &[("expires", "0")],
        &[],
    ] {
        let origin = Origin::fixed(headers, "x");
        let cache = origin.cache();
        cache.get(URI).await;
        advance(1).await;
        let second = cache.get(URI).await;
        assert_eq!(second.outcome, Some(CacheOutcome::Miss), "{headers:?}");
        assert_eq!(origin.calls(), 2, "{headers:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn cache_control_parsing_is_strict() {
    // `max-age` inside a quoted string is not a directive; the real one is 1 s.
    let origin = Origin::fixed(
        &[("cache-control", r#"extension="max-age=100", max-age=1"#)],
        "x",
    );
    let cache = origin.cache();
    cache.get(URI).await;
    advance(2).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));
    // A space before `=` makes the directive invalid.
    let origin = Origin::fixed(&[("cache-control", "max-age =100")], "x");
    let cache = origin.cache();
    cache.get(URI).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));
    // Case does not matter.
    let origin = Origin::fixed(&[("cache-control", "MaX-AgE=100")], "x");
    let cache = origin.cache();
    cache.get(URI).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Hit));
}

#[tokio::test(start_paused = true)]
async fn private_and_shared_modes() {
    // `private`: stored by a private cache only (RFC 9111 §5.2.2.7).
    let private = Origin::fixed(&[("cache-control", "private, max-age=60")], "x");
    let cache = private.cache();
    cache.get(URI).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Hit));
    let cache = private.cache_with(CacheLayer::shared());
    cache.get(URI).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));

    // `s-maxage`: only a shared cache uses it (RFC 9111 §5.2.2.10).
    let origin = Origin::fixed(&[("cache-control", "max-age=60, s-maxage=5")], "x");
    let shared = origin.cache_with(CacheLayer::new().mode(Mode::Shared));
    let private = origin.cache();
    shared.get(URI).await;
    private.get(URI).await;
    advance(5).await;
    assert_eq!(shared.get(URI).await.outcome, Some(CacheOutcome::Miss));
    assert_eq!(private.get(URI).await.outcome, Some(CacheOutcome::Hit));
}

#[tokio::test(start_paused = true)]
async fn authorization_in_a_shared_cache() {
    let auth = |uri| get_with(uri, &[("authorization", "Bearer t")]);
    // Not stored without public / must-revalidate / s-maxage (RFC 9111 §3.5).
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "x");
    let cache = origin.cache_with(CacheLayer::shared());
    cache.fetch(auth(URI)).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));
    // A private cache stores it.
    let cache = origin.cache();
    cache.fetch(auth(URI)).await;
    assert_eq!(
        cache.fetch(auth(URI)).await.outcome,
        Some(CacheOutcome::Hit)
    );
    // `public` allows it.
    let origin = Origin::fixed(&[("cache-control", "max-age=60, public")], "x");
    let cache = origin.cache_with(CacheLayer::shared());
    cache.fetch(auth(URI)).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Hit));
}

#[tokio::test(start_paused = true)]
async fn stored_fields_exclude_hop_by_hop_and_qualified_no_cache() {
    let origin = Origin::fixed(
        &[
            ("cache-control", r#"max-age=60, no-cache="secret""#),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("secret", "s"),
            ("keep", "k"),
        ],
        "x",
    );
    let cache = origin.cache();
    let miss = cache.get(URI).await;
    assert_eq!(
        miss.header("secret"),
        Some("s"),
        "the miss passes the response on as is"
    );
    let hit = cache.get(URI).await;
    assert_eq!(
        hit.outcome,
        Some(CacheOutcome::Hit),
        "qualified no-cache still stores"
    );
    assert_eq!(hit.header("keep"), Some("k"));
    for gone in ["secret", "x-hop", "connection"] {
        assert!(hit.header(gone).is_none(), "{gone}");
    }
}

#[tokio::test(start_paused = true)]
async fn other_statuses_and_methods() {
    // A 404 is cacheable by default, with explicit freshness here.
    let origin = Origin::new(|_, _| Ok(response(404, &[("cache-control", "max-age=60")], "none")));
    let cache = origin.cache();
    cache.get(URI).await;
    let hit = cache.get(URI).await;
    assert_eq!(hit.outcome, Some(CacheOutcome::Hit));
    assert_eq!(hit.status, StatusCode::NOT_FOUND);
    assert_eq!(hit.body, "none");

    // HEAD is answered from the stored GET response, without a body.
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "x");
    let cache = origin.cache();
    let head = || http::Request::head(URI).body(()).unwrap();
    let miss = cache.fetch(head()).await;
    assert_eq!(miss.outcome, Some(CacheOutcome::Miss));
    assert_eq!(origin.methods(), [http::Method::HEAD]);
    // ...and its own response is not stored.
    assert_eq!(cache.fetch(head()).await.outcome, Some(CacheOutcome::Miss));
    cache.get(URI).await;
    let hit = cache.fetch(head()).await;
    assert_eq!(hit.outcome, Some(CacheOutcome::Hit));
    assert!(hit.body.is_empty());
    assert_eq!(hit.status, StatusCode::OK);
    assert_eq!(origin.calls(), 3);
    // OPTIONS goes through untouched.
    let options = cache
        .fetch(http::Request::options(URI).body(()).unwrap())
        .await;
    assert_eq!(options.outcome, Some(CacheOutcome::Bypass));
    assert_eq!(origin.calls(), 4);
    // A request without an authority or Host cannot be keyed: bypass.
    let relative = cache.get("/item").await;
    assert_eq!(relative.outcome, Some(CacheOutcome::Bypass));
}

#[tokio::test(start_paused = true)]
async fn origin_form_requests_are_keyed_by_host() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "x");
    let cache = origin.cache_with(CacheLayer::shared());
    let req = || get_with("/item?q=1", &[("host", "Origin.test")]);
    cache.fetch(req()).await;
    assert_eq!(cache.fetch(req()).await.outcome, Some(CacheOutcome::Hit));
    // The same resource through an absolute URI.
    assert_eq!(
        cache.get("http://origin.test/item?q=1").await.outcome,
        Some(CacheOutcome::Hit)
    );
    assert_eq!(
        cache.get("http://origin.test/item?q=2").await.outcome,
        Some(CacheOutcome::Miss)
    );
}

#[tokio::test(start_paused = true)]
async fn cache_status_field() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "x");
    let cache = origin.cache_with(CacheLayer::shared().cache_status("recourse"));
    let miss = cache.get(URI).await;
    assert_eq!(
        miss.header("cache-status"),
        Some("recourse; fwd=uri-miss; fwd-status=200; stored")
    );
    advance(5).await;
    let hit = cache.get(URI).await;
    assert_eq!(hit.header("cache-status"), Some("recourse; hit; ttl=55"));
    let post = cache
        .fetch(http::Request::post(URI).body(()).unwrap())
        .await;
    assert_eq!(post.header("cache-status"), Some("recourse; fwd=method"));
    assert_eq!(post.outcome, Some(CacheOutcome::Bypass));
}

#[tokio::test(start_paused = true)]
async fn over_the_entry_limit_streams_through() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "0123456789");
    let store = MemoryStore::default().with_max_entry_size(5);
    let cache = origin.cache_with(CacheLayer::new().store(store));
    let first = cache.get(URI).await;
    assert_eq!(first.body, "0123456789");
    let second = cache.get(URI).await;
    assert_eq!(second.outcome, Some(CacheOutcome::Miss));
    assert_eq!(second.body, "0123456789");
    assert_eq!(origin.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_body_is_stored_only_once_complete() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "abc");
    let cache = origin.cache();
    // The caller drops the response without reading the body: nothing is stored.
    drop(cache.send(get(URI)).await.unwrap());
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Hit));
    assert_eq!(origin.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn list_valued_age_and_malformed_dates() {
    // RFC 9111 §5.1: `Age: 7200, 0` is 7200: a response that arrived two hours old is
    // stale for a max-age of one hour.
    let origin = Origin::fixed(
        &[("cache-control", "max-age=3600"), ("age", "7200, 0")],
        "x",
    );
    let cache = origin.cache();
    cache.get(URI).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));
    assert_eq!(origin.calls(), 2);

    // An invalid Age is ignored: fresh.
    let origin = Origin::fixed(&[("cache-control", "max-age=3600"), ("age", "-5")], "x");
    let cache = origin.cache();
    cache.get(URI).await;
    let hit = cache.get(URI).await;
    assert_eq!(hit.outcome, Some(CacheOutcome::Hit));
    assert_eq!(hit.age(), Some(0));

    // RFC 9110 §5.6.7 dates only: two spaces or dashes make Expires invalid, so the
    // response is already expired (RFC 9111 §5.3), never fresh.
    for expires in [
        "Thu, 18  Aug  2050 02:01:18 GMT",
        "Thu, 18-Aug-2050 02:01:18 GMT",
    ] {
        let origin = Origin::fixed(&[("expires", expires), ("etag", "\"e\"")], "x");
        let cache = origin.cache_with(CacheLayer::shared());
        cache.get(URI).await;
        assert_ne!(
            cache.get(URI).await.outcome,
            Some(CacheOutcome::Hit),
            "{expires}"
        );
        assert_eq!(origin.calls(), 2, "{expires}");
    }
    // The obsolete forms are dates: fresh.
    for expires in [
        "Thursday, 18-Aug-50 02:01:18 GMT",
        "Thu Aug 18 02:01:18 2050",
    ] {
        let origin = Origin::fixed(&[("expires", expires)], "x");
        let cache = origin.cache_with(CacheLayer::shared());
        cache.get(URI).await;
        assert_eq!(
            cache.get(URI).await.outcome,
            Some(CacheOutcome::Hit),
            "{expires}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn any_status_with_explicit_freshness_heuristics_only_for_some() {
    for status in [204u16, 299, 400, 404, 410, 499, 500, 502, 503, 504, 599] {
        let origin =
            Origin::new(move |_, _| Ok(response(status, &[("cache-control", "max-age=60")], "")));
        let cache = origin.cache_with(CacheLayer::shared());
        cache.get(URI).await;
        let again = cache.get(URI).await;
        assert_eq!(again.outcome, Some(CacheOutcome::Hit), "{status}");
        assert_eq!(again.status.as_u16(), status);
    }
    // Heuristic freshness (Last-Modified only): a 200 is fresh, a 500 or 302 is not stored.
    for (status, outcome) in [
        (200u16, CacheOutcome::Hit),
        (500, CacheOutcome::Miss),
        (302, CacheOutcome::Miss),
    ] {
        let origin = Origin::new(move |_, _| {
            Ok(response(
                status,
                &[("date", date_now()), ("last-modified", date_in(-1000))],
                "",
            ))
        });
        let cache = origin.cache_with(CacheLayer::shared());
        cache.get(URI).await;
        advance(5).await;
        assert_eq!(cache.get(URI).await.outcome, Some(outcome), "{status}");
    }
}

#[tokio::test(start_paused = true)]
async fn heuristic_fraction_and_cap() {
    let origin = Origin::new(|_, _| {
        Ok(response(
            200,
            &[("date", date_now()), ("last-modified", date_in(-100_000))],
            "x",
        ))
    });
    let cache = origin.cache_with(
        CacheLayer::shared()
            .heuristic_fraction(0.5)
            .heuristic_max(Duration::from_secs(600)),
    );
    let first = cache.get(URI).await;
    assert_eq!(first.outcome, Some(CacheOutcome::Miss));
    advance(599).await;
    let hit = cache.get(URI).await;
    assert_eq!(hit.outcome, Some(CacheOutcome::Hit));
    // RFC 9111 §4.2.3: served with its current age.
    assert_eq!(hit.age(), Some(599));
    advance(1).await;
    assert_ne!(cache.get(URI).await.outcome, Some(CacheOutcome::Hit));
}

#[tokio::test(start_paused = true)]
async fn must_understand_stores_understood_statuses_only() {
    // RFC 9111 §5.2.2.3: understood status: stored despite no-store; otherwise not stored,
    // even with explicit freshness that would store it without must-understand.
    for (status, cc, outcome) in [
        (
            200u16,
            "max-age=60, no-store, must-understand",
            CacheOutcome::Hit,
        ),
        (
            404,
            "max-age=60, no-store, must-understand",
            CacheOutcome::Hit,
        ),
        (
            299,
            "max-age=60, no-store, must-understand",
            CacheOutcome::Miss,
        ),
        (299, "max-age=60, must-understand", CacheOutcome::Miss),
        (500, "max-age=60, must-understand", CacheOutcome::Miss),
        (299, "max-age=60", CacheOutcome::Hit),
    ] {
        let origin = Origin::new(move |_, _| Ok(response(status, &[("cache-control", cc)], "")));
        let cache = origin.cache_with(CacheLayer::shared());
        cache.get(URI).await;
        assert_eq!(cache.get(URI).await.outcome, Some(outcome), "{status} {cc}");
    }
}
