//! Validation (RFC 9111 §4.3).

use http::StatusCode;
use recourse_core::Step;

use super::*;

const URI: &str = "http://origin.test/doc";

/// An origin with an ETag that answers 304 to a matching If-None-Match.
fn etag_origin(version: &'static str, extra: &'static [(&'static str, &'static str)]) -> Origin {
    Origin::new(move |req, _| {
        let tag = format!("\"{version}\"");
        if req
            .headers()
            .get("if-none-match")
            .is_some_and(|v| v.as_bytes() == tag.as_bytes())
        {
            let mut headers = vec![
                ("etag", tag.clone()),
                ("cache-control", "max-age=10".into()),
            ];
            headers.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            Ok(response(304, &headers, ""))
        } else {
            Ok(response(
                200,
                &[
                    ("etag", tag.as_str()),
                    ("cache-control", "max-age=10"),
                    ("x-version", version),
                ],
                version,
            ))
        }
    })
}

#[tokio::test(start_paused = true)]
async fn stale_entry_is_revalidated_with_if_none_match() {
    let origin = etag_origin("v1", &[("x-refreshed", "yes")]);
    let cache = origin.cache();
    cache.get(URI).await;
    advance(10).await;

    let res = cache.get(URI).await;
    assert_eq!(origin.calls(), 2, "one conditional request");
    assert_eq!(origin.last()["if-none-match"], "\"v1\"");
    assert_eq!(res.outcome, Some(CacheOutcome::Revalidated));
    assert_eq!(
        res.status,
        StatusCode::OK,
        "a 304 returns the stored response"
    );
    assert_eq!(res.body, "v1");
    assert_eq!(res.header("x-version"), Some("v1"));
    assert_eq!(
        res.header("x-refreshed"),
        Some("yes"),
        "fields of the 304 are added (§3.2)"
    );
    assert_eq!(
        res.history.as_ref().unwrap().steps(),
        &[Step::Revalidated {
            status: StatusCode::NOT_MODIFIED
        }]
    );

    // The 304 refreshed the entry: fresh again, with the new field stored.
    let hit = cache.get(URI).await;
    assert_eq!(hit.outcome, Some(CacheOutcome::Hit));
    assert_eq!(hit.header("x-refreshed"), Some("yes"));
    assert_eq!(origin.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn last_modified_is_sent_as_if_modified_since() {
    let lm = date_in(-3600);
    let origin = Origin::last_modified(&lm, &[("cache-control", "max-age=5")], "body");
    let cache = origin.cache();
    cache.get(URI).await;
    advance(5).await;
    let res = cache.get(URI).await;
    assert_eq!(origin.last()["if-modified-since"], lm.as_str());
    assert_eq!(res.outcome, Some(CacheOutcome::Revalidated));
    assert_eq!(res.body, "body");
}

#[tokio::test(start_paused = true)]
async fn a_200_replaces_the_entry() {
    let origin = etag_origin("v1", &[]);
    let cache = origin.cache();
    cache.get(URI).await;
    advance(10).await;
    // The resource changed: the conditional request gets a full response.
    let o = origin.clone();
    o.set(|_, _| {
        Ok(response(
            200,
            &[("etag", "\"v2\""), ("cache-control", "max-age=10")],
            "v2",
        ))
    });
    let res = cache.get(URI).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Miss));
    assert_eq!(res.body, "v2");
    assert_eq!(
        res.history.as_ref().unwrap().steps(),
        &[Step::Revalidated {
            status: StatusCode::OK
        }]
    );
    let hit = cache.get(URI).await;
    assert_eq!(hit.outcome, Some(CacheOutcome::Hit));
    assert_eq!(hit.body, "v2");
    assert_eq!(origin.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn updated_fields_replace_all_lines_but_not_content_length() {
    let origin = Origin::new(|req, _| {
        if req.headers().contains_key("if-none-match") {
            not_modified(&[
                ("etag", "\"a\""),
                ("link", "<c>"),
                ("content-length", "0"),
                ("cache-control", "max-age=100"),
            ])
        } else {
            Ok(response(
                200,
                &[
                    ("etag", "\"a\""),
                    ("link", "<a>"),
                    ("link", "<b>"),
                    ("cache-control", "max-age=1"),
                    ("content-length", "4"),
                ],
                "body",
            ))
        }
    });
    let cache = origin.cache();
    cache.get(URI).await;
    advance(1).await;
    let res = cache.get(URI).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Revalidated));
    assert_eq!(
        res.headers.get_all("link").iter().collect::<Vec<_>>(),
        ["<c>"]
    );
    assert_eq!(res.header("content-length"), Some("4"));
    assert_eq!(res.header("cache-control"), Some("max-age=100"));
    advance(99).await;
    assert_eq!(
        cache.get(URI).await.outcome,
        Some(CacheOutcome::Hit),
        "the 304's freshness applies"
    );
}

#[tokio::test(start_paused = true)]
async fn a_304_for_another_representation_does_not_update() {
    let origin = Origin::new(|req, _| {
        if req.headers().contains_key("if-none-match") {
            not_modified(&[
                ("etag", "\"other\""),
                ("cache-control", "max-age=100"),
                ("x-new", "1"),
            ])
        } else {
            Ok(response(
                200,
                &[("etag", "\"mine\""), ("cache-control", "max-age=1")],
                "mine",
            ))
        }
    });
    let cache = origin.cache();
    cache.get(URI).await;
    advance(1).await;
    let res = cache.get(URI).await;
    assert_eq!(res.body, "mine");
    assert!(
        res.header("x-new").is_none(),
        "not updated (RFC 9111 §4.3.4)"
    );
    // Still stale, so the next request revalidates again.
    cache.get(URI).await;
    assert_eq!(origin.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_304_adding_no_store_is_served_and_the_entry_dropped() {
    let origin = Origin::new(|req, _| {
        if req.headers().contains_key("if-none-match") {
            not_modified(&[("etag", "\"a\""), ("cache-control", "no-store")])
        } else {
            Ok(response(
                200,
                &[("etag", "\"a\""), ("cache-control", "max-age=1")],
                "a",
            ))
        }
    });
    let cache = origin.cache();
    cache.get(URI).await;
    advance(1).await;
    let res = cache.get(URI).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Revalidated));
    assert_eq!(res.body, "a");
    let next = cache.get(URI).await;
    assert_eq!(next.outcome, Some(CacheOutcome::Miss));
    assert!(next.history.is_none(), "nothing stored to revalidate");
}

#[tokio::test(start_paused = true)]
async fn callers_validators_get_a_304_from_a_fresh_entry() {
    let origin = etag_origin("v1", &[]);
    let cache = origin.cache();
    cache.get(URI).await;

    let res = cache
        .fetch(get_with(URI, &[("if-none-match", "\"v1\"")]))
        .await;
    assert_eq!(res.status, StatusCode::NOT_MODIFIED, "RFC 9111 §4.3.2");
    assert_eq!(res.outcome, Some(CacheOutcome::Hit));
    assert_eq!(res.header("etag"), Some("\"v1\""));
    assert!(res.body.is_empty());
    // A list with the tag, and a weak comparison.
    let res = cache
        .fetch(get_with(URI, &[("if-none-match", "\"x\", W/\"v1\"")]))
        .await;
    assert_eq!(res.status, StatusCode::NOT_MODIFIED);
    // No match: the stored 200.
    let res = cache
        .fetch(get_with(URI, &[("if-none-match", "\"v0\"")]))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, "v1");
    // Invalid entity-tags (unquoted, `w/`, `*` in a list): the field is ignored, the
    // stored 200 is served, nothing panics (RFC 9110 §8.8.3, §13.1.2).
    for invalid in ["v1", "w/\"v1\"", "*, \"v1\"", "\"v1", "\""] {
        let res = cache
            .fetch(get_with(URI, &[("if-none-match", invalid)]))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{invalid}");
    }
    assert_eq!(origin.calls(), 1);

    // If-Modified-Since against Date when there is no Last-Modified.
    let res = cache
        .fetch(get_with(URI, &[("if-modified-since", &date_in(10))]))
        .await;
    assert_eq!(res.status, StatusCode::NOT_MODIFIED);
    let res = cache
        .fetch(get_with(URI, &[("if-modified-since", &date_in(-10))]))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(origin.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn callers_validators_are_forwarded_when_stale_or_missing() {
    let origin = etag_origin("v1", &[]);
    let cache = origin.cache();
    // Nothing stored: forwarded as is; the 304 goes back to the caller.
    let res = cache
        .fetch(get_with(URI, &[("if-none-match", "\"v1\"")]))
        .await;
    assert_eq!(res.status, StatusCode::NOT_MODIFIED);
    assert_eq!(origin.last()["if-none-match"], "\"v1\"");
    assert_eq!(res.outcome, Some(CacheOutcome::Miss));

    cache.get(URI).await;
    advance(10).await;
    // Stale: forwarded with the caller's validators; the 304 passes through and the
    // stored response is freshened by it.
    let res = cache
        .fetch(get_with(URI, &[("if-none-match", "\"v1\"")]))
        .await;
    assert_eq!(res.status, StatusCode::NOT_MODIFIED);
    assert_eq!(res.outcome, Some(CacheOutcome::Revalidated));
    let hit = cache.get(URI).await;
    assert_eq!(hit.outcome, Some(CacheOutcome::Hit));
    assert_eq!(origin.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn origin_only_preconditions_bypass() {
    let origin = Origin::fixed(
        &[("cache-control", "max-age=60"), ("etag", "\"a\"")],
        "full",
    );
    let cache = origin.cache();
    cache.get(URI).await;
    // (A lone `Range` is answered from the cache: see tests/range.rs.)
    for (name, value) in [
        ("if-range", "\"a\""),
        ("if-match", "\"a\""),
        ("if-unmodified-since", "Tue, 15 Nov 1994 12:45:26 GMT"),
    ] {
        let res = cache.fetch(get_with(URI, &[(name, value)])).await;
        assert_eq!(res.outcome, Some(CacheOutcome::Bypass), "{name}");
        assert!(origin.last().contains_key(name));
    }
    assert_eq!(origin.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn no_cache_response_always_revalidates() {
    let origin = Origin::new(|req, _| {
        if req.headers().contains_key("if-none-match") {
            not_modified(&[("etag", "\"a\"")])
        } else {
            Ok(response(
                200,
                &[
                    ("etag", "\"a\""),
                    ("cache-control", "max-age=600, no-cache"),
                ],
                "a",
            ))
        }
    });
    let cache = origin.cache();
    cache.get(URI).await;
    for n in 2..5 {
        let res = cache.get(URI).await;
        assert_eq!(res.outcome, Some(CacheOutcome::Revalidated));
        assert_eq!(origin.calls(), n);
    }
}

#[tokio::test(start_paused = true)]
async fn callers_validators_apply_to_2xx_only() {
    let origin = Origin::new(|_, _| {
        Ok(response(
            404,
            &[("etag", "\"gone\""), ("cache-control", "max-age=60")],
            "missing",
        ))
    });
    let cache = origin.cache();
    cache.get(URI).await;
    // RFC 9110 §13.2.1: no 304 for a response that would not be a 2xx.
    let res = cache
        .fetch(get_with(URI, &[("if-none-match", "\"gone\"")]))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.body, "missing");
    assert_eq!(res.outcome, Some(CacheOutcome::Hit));
}

#[tokio::test(start_paused = true)]
async fn must_understand_overrides_no_store_for_known_statuses() {
    let origin = Origin::fixed(
        &[("cache-control", "max-age=60, no-store, must-understand")],
        "mu",
    );
    let cache = origin.cache();
    cache.get(URI).await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Hit));
    assert_eq!(origin.calls(), 1);
}

/// RFC 9111 §4.3.3: a full response to a validation request that may not be stored
/// removes the stored response, which is then never served again, not even stale.
#[tokio::test(start_paused = true)]
async fn an_unstorable_full_response_removes_the_stored_one() {
    for background in [false, true] {
        let cc = if background {
            "max-age=1, stale-if-error=600, stale-while-revalidate=600"
        } else {
            "max-age=1, stale-if-error=600"
        };
        let origin = Origin::new(move |_, n| match n {
            1 => Ok(response(
                200,
                &[("etag", "\"v1\""), ("cache-control", cc)],
                "v1",
            )),
            // The validation request gets a new response that may not be stored.
            2 => Ok(response(200, &[("cache-control", "no-store")], "v2")),
            _ => Ok(response(503, &[("x", "down")], "down")),
        });
        let cache = origin.cache();
        cache.get(URI).await;
        advance(2).await;
        let res = cache.get(URI).await;
        settle().await;
        assert_eq!(origin.calls(), 2);
        assert_eq!(origin.last()["if-none-match"], "\"v1\"");
        if background {
            assert_eq!(res.outcome, Some(CacheOutcome::Stale));
            assert_eq!(res.body, "v1");
        } else {
            assert_eq!(res.outcome, Some(CacheOutcome::Miss));
            assert_eq!(res.body, "v2");
        }
        // Nothing stored any more: max-stale and stale-if-error find nothing to serve.
        let res = cache
            .fetch(get_with(URI, &[("cache-control", "max-stale")]))
            .await;
        assert_eq!(
            res.outcome,
            Some(CacheOutcome::Miss),
            "background: {background}"
        );
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(origin.calls(), 3);
        assert!(
            !origin.last().contains_key("if-none-match"),
            "nothing left to validate"
        );
    }
}

/// A 5xx to a validation request leaves the stored response for stale-if-error (RFC 9111
/// §4.3.3 lets a cache act as if the server had not answered).
#[tokio::test(start_paused = true)]
async fn a_server_error_keeps_the_stored_response() {
    let origin = Origin::new(|_, n| match n {
        1 => Ok(response(
            200,
            &[("etag", "\"v1\""), ("cache-control", "max-age=1")],
            "v1",
        )),
        _ => Ok(response(500, &[("x", "down")], "down")),
    });
    let cache = origin.cache();
    cache.get(URI).await;
    advance(2).await;
    assert_eq!(
        cache.get(URI).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let res = cache
        .fetch(get_with(URI, &[("cache-control", "max-stale")]))
        .await;
    assert_eq!(res.outcome, Some(CacheOutcome::Stale));
    assert_eq!(res.body, "v1");
}

fn head(uri: &str) -> Request<()> {
    Request::head(uri).body(()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_head_response_refreshes_or_invalidates_the_stored_get() {
    // RFC 9111 §4.3.5. The GET response is stored for 10 s; the HEAD response says 100 s.
    let origin = Origin::new(|req, _| {
        let cc = if req.method() == http::Method::HEAD {
            "max-age=100"
        } else {
            "max-age=10"
        };
        Ok(response(
            200,
            &[
                ("etag", "\"v1\""),
                ("cache-control", cc),
                ("x-from", req.method().as_str()),
            ],
            "body",
        ))
    });
    let cache = origin.cache();
    cache.get(URI).await;
    advance(11).await;
    let res = cache.fetch(head(URI)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(origin.calls(), 2);
    assert!(
        !origin.last().contains_key("if-none-match"),
        "a HEAD is not made conditional"
    );
    // The stored GET response was refreshed by the HEAD's fields: fresh for 100 s more,
    // body and Content-Length unchanged.
    advance(50).await;
    let hit = cache.get(URI).await;
    assert_eq!(hit.outcome, Some(CacheOutcome::Hit));
    assert_eq!(hit.body, "body");
    assert_eq!(hit.header("x-from"), Some("HEAD"));
    assert_eq!(hit.header("cache-control"), Some("max-age=100"));
    assert_eq!(origin.calls(), 2);

    // A HEAD response with another ETag invalidates it.
    origin.set(|_, _| {
        Ok(response(
            200,
            &[("etag", "\"v2\""), ("cache-control", "max-age=100")],
            "body2",
        ))
    });
    advance(100).await;
    cache.fetch(head(URI)).await;
    let next = cache.get(URI).await;
    assert_eq!(next.outcome, Some(CacheOutcome::Miss));
    assert_eq!(next.body, "body2");
}
