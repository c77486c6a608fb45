//! Range requests (RFC 9110 §14, RFC 9111 §3.3, §3.4).

use http::StatusCode;

use super::*;
use crate::CacheLayer;

const URI: &str = "http://origin.test/file";

/// An origin that answers a Range request with a 206 (`bytes 0-1`) and anything else
/// with the whole body.
fn ranged_origin() -> Origin {
    Origin::new(|req, _| {
        if req.headers().contains_key("range") {
            Ok(response(
                206,
                &[
                    ("cache-control", "max-age=60"),
                    ("content-range", "bytes 0-1/10"),
                    ("etag", "\"r\""),
                ],
                "01",
            ))
        } else {
            Ok(response(
                200,
                &[("cache-control", "max-age=60"), ("etag", "\"r\"")],
                "0123456789",
            ))
        }
    })
}

fn range(value: &str) -> Request<()> {
    get_with(URI, &[("range", value)])
}

#[tokio::test(start_paused = true)]
async fn a_single_range_is_served_from_a_complete_stored_response() {
    let origin = ranged_origin();
    let cache = origin.cache_with(CacheLayer::shared());
    cache.get(URI).await;
    for (asked, content_range, body) in [
        ("bytes=2-5", "bytes 2-5/10", "2345"),
        ("bytes=7-", "bytes 7-9/10", "789"),
        ("bytes=-2", "bytes 8-9/10", "89"),
        ("bytes=9-100", "bytes 9-9/10", "9"),
    ] {
        let res = cache.fetch(range(asked)).await;
        assert_eq!(res.status, StatusCode::PARTIAL_CONTENT, "{asked}");
        assert_eq!(res.header("content-range"), Some(content_range));
        assert_eq!(
            res.header("content-length"),
            Some(body.len().to_string().as_str())
        );
        assert_eq!(res.body, body);
        assert_eq!(res.outcome, Some(CacheOutcome::Hit));
        assert!(res.age().is_some());
    }
    assert_eq!(origin.calls(), 1);
    // The client's own matching If-None-Match comes first (RFC 9110 §13.2.2): a 304.
    let res = cache
        .fetch(get_with(
            URI,
            &[("range", "bytes=0-1"), ("if-none-match", "\"r\"")],
        ))
        .await;
    assert_eq!(res.status, StatusCode::NOT_MODIFIED);
    assert_eq!(origin.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn other_range_requests_are_forwarded_untouched_and_206_never_stored() {
    let origin = ranged_origin();
    let cache = origin.cache_with(CacheLayer::shared());
    // Nothing stored: forwarded with its Range; the 206 is passed on, not stored.
    let res = cache.fetch(range("bytes=0-1")).await;
    assert_eq!(res.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(origin.last()["range"], "bytes=0-1");
    assert!(!origin.last().contains_key("if-none-match"));
    // ...so a later full request is a miss, never the partial body as a full one.
    let full = cache.get(URI).await;
    assert_eq!(full.outcome, Some(CacheOutcome::Miss));
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.body, "0123456789");
    assert_eq!(origin.calls(), 2);
    // Stored now: several ranges, an unsatisfiable range, another unit, If-Range: forwarded
    // untouched.
    for (name, value) in [
        ("range", "bytes=0-1, 4-5"),
        ("range", "bytes=10-"),
        ("range", "items=0-1"),
    ] {
        let before = origin.calls();
        let res = cache.fetch(get_with(URI, &[(name, value)])).await;
        assert_eq!(origin.calls(), before + 1, "{value}");
        assert_eq!(origin.last()["range"], value);
        assert_eq!(res.status, StatusCode::PARTIAL_CONTENT);
    }
    let before = origin.calls();
    cache
        .fetch(get_with(
            URI,
            &[("range", "bytes=0-1"), ("if-range", "\"r\"")],
        ))
        .await;
    assert_eq!(origin.calls(), before + 1);
    // The stored full response is intact.
    let full = cache.get(URI).await;
    assert_eq!(full.outcome, Some(CacheOutcome::Hit));
    assert_eq!(full.body, "0123456789");
    // Stale: forwarded untouched too (no validators added to a range request).
    advance(61).await;
    let before = origin.calls();
    let res = cache.fetch(range("bytes=2-3")).await;
    assert_eq!(origin.calls(), before + 1);
    assert!(!origin.last().contains_key("if-none-match"));
    assert_eq!(res.status, StatusCode::PARTIAL_CONTENT);
    // A HEAD ignores Range (RFC 9110 §14.2): the stored headers once refreshed.
    cache.get(URI).await;
    let head = cache
        .fetch(
            Request::head(URI)
                .header("range", "bytes=0-1")
                .body(())
                .unwrap(),
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
}
