//! Invalidation by unsafe methods (RFC 9111 §4.4).

use http::Method;

use super::*;

fn fresh_origin() -> Origin {
    Origin::new(|req, _| {
        if req.method() == Method::GET {
            return Ok(response(200, &[("cache-control", "max-age=600")], "stored"));
        }
        let status = req
            .headers()
            .get("x-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(200);
        let mut headers = Vec::new();
        for name in ["location", "content-location"] {
            if let Some(v) = req.headers().get(format!("x-{name}")) {
                headers.push((name, v.to_str().unwrap().to_owned()));
            }
        }
        Ok(response(status, &headers, "done"))
    })
}

fn unsafe_request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

async fn is_cached<St: crate::Store>(cache: &TestCache<St>, uri: &str) -> bool {
    cache
        .fetch(get_with(uri, &[("cache-control", "only-if-cached")]))
        .await
        .status
        == http::StatusCode::OK
}

#[tokio::test(start_paused = true)]
async fn successful_unsafe_methods_invalidate_the_target() {
    for method in ["POST", "PUT", "PATCH", "DELETE", "M-SEARCH"] {
        let origin = fresh_origin();
        let cache = origin.cache();
        let uri = "http://origin.test/thing";
        cache.get(uri).await;
        assert!(is_cached(&cache, uri).await);
        let res = cache.fetch(unsafe_request(method, uri, &[])).await;
        assert_eq!(res.outcome, Some(CacheOutcome::Bypass));
        assert_eq!(res.body, "done");
        assert!(!is_cached(&cache, uri).await, "{method}");
    }
}

#[tokio::test(start_paused = true)]
async fn failed_unsafe_methods_do_not_invalidate() {
    let origin = fresh_origin();
    let cache = origin.cache();
    let uri = "http://origin.test/thing";
    cache.get(uri).await;
    cache
        .fetch(unsafe_request("POST", uri, &[("x-status", "500")]))
        .await;
    assert!(is_cached(&cache, uri).await);
    cache
        .fetch(unsafe_request("POST", uri, &[("x-status", "404")]))
        .await;
    assert!(is_cached(&cache, uri).await);
    // A redirect is not an error.
    cache
        .fetch(unsafe_request("POST", uri, &[("x-status", "303")]))
        .await;
    assert!(!is_cached(&cache, uri).await);
}

#[tokio::test(start_paused = true)]
async fn location_and_content_location_on_the_same_origin() {
    let origin = fresh_origin();
    let cache = origin.cache();
    let a = "http://origin.test/a";
    let b = "http://origin.test/dir/b";
    let other = "http://elsewhere.test/c";
    for uri in [a, b, other] {
        cache.get(uri).await;
    }
    cache
        .fetch(unsafe_request(
            "POST",
            "http://origin.test/dir/form",
            &[("x-location", "/a"), ("x-content-location", "b")],
        ))
        .await;
    assert!(
        !is_cached(&cache, a).await,
        "Location, resolved against the target"
    );
    assert!(!is_cached(&cache, b).await, "Content-Location, relative");

    cache
        .fetch(unsafe_request(
            "PUT",
            "http://origin.test/x",
            &[("x-location", other)],
        ))
        .await;
    assert!(
        is_cached(&cache, other).await,
        "another origin is never invalidated"
    );
}

#[tokio::test(start_paused = true)]
async fn invalidation_of_origin_form_requests_uses_host() {
    let origin = fresh_origin();
    let cache = origin.cache_with(crate::CacheLayer::shared());
    let get = || get_with("/p", &[("host", "origin.test")]);
    cache.fetch(get()).await;
    assert_eq!(cache.fetch(get()).await.outcome, Some(CacheOutcome::Hit));
    cache
        .fetch(unsafe_request("DELETE", "/p", &[("host", "origin.test")]))
        .await;
    assert_eq!(cache.fetch(get()).await.outcome, Some(CacheOutcome::Miss));
}

#[tokio::test(start_paused = true)]
async fn conflicting_locations_invalidate_nothing_they_name() {
    let origin = Origin::new(|req, _| {
        if req.method() == Method::GET {
            return Ok(response(200, &[("cache-control", "max-age=600")], "stored"));
        }
        let headers: Vec<(&str, &str)> = match req.uri().path() {
            // Two different values: which one the origin meant is unknown
            // (`recourse_core::headers::location_value`).
            "/conflict" => vec![("location", "/a"), ("location", "/b")],
            // The same value twice is one value.
            _ => vec![("content-location", "/c"), ("content-location", "/c")],
        };
        Ok(response(201, &headers, "done"))
    });
    let cache = origin.cache();
    let [a, b, c] = ["a", "b", "c"].map(|p| format!("http://origin.test/{p}"));
    for uri in [&a, &b, &c] {
        cache.get(uri).await;
    }
    cache
        .fetch(unsafe_request("POST", "http://origin.test/conflict", &[]))
        .await;
    assert!(is_cached(&cache, &a).await);
    assert!(is_cached(&cache, &b).await);
    cache
        .fetch(unsafe_request("POST", "http://origin.test/same", &[]))
        .await;
    assert!(!is_cached(&cache, &c).await);
}

/// An origin whose POST answers carry the headers the request names in `x-res-*`.
fn post_origin() -> Origin {
    Origin::new(|req, _| {
        if req.method() == Method::GET {
            return Ok(response(
                200,
                &[("cache-control", "max-age=600")],
                "from get",
            ));
        }
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                k.as_str()
                    .strip_prefix("x-res-")
                    .map(|name| (name.to_owned(), v.to_str().unwrap().to_owned()))
            })
            .collect();
        Ok(response(200, &headers, "from post"))
    })
}

#[tokio::test(start_paused = true)]
async fn a_fresh_self_located_post_response_answers_later_gets() {
    const URI: &str = "http://origin.test/doc";
    // RFC 9111 §4.2.1, RFC 9110 §9.3.3: explicit freshness and Content-Location = URI.
    for (headers, stored) in [
        (
            &[
                ("x-res-cache-control", "max-age=60"),
                ("x-res-content-location", "/doc"),
            ][..],
            true,
        ),
        (
            &[
                ("x-res-expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
                ("x-res-content-location", "http://origin.test/doc"),
            ][..],
            true,
        ),
        // No Content-Location, another one, no explicit freshness, Vary, no-store.
        (&[("x-res-cache-control", "max-age=60")][..], false),
        (
            &[
                ("x-res-cache-control", "max-age=60"),
                ("x-res-content-location", "/other"),
            ][..],
            false,
        ),
        (
            &[
                ("x-res-last-modified", "Thu, 01 Jan 2000 00:00:00 GMT"),
                ("x-res-content-location", "/doc"),
            ][..],
            false,
        ),
        (
            &[
                ("x-res-cache-control", "max-age=60"),
                ("x-res-content-location", "/doc"),
                ("x-res-vary", "accept"),
            ][..],
            false,
        ),
        (
            &[
                ("x-res-cache-control", "max-age=60, no-store"),
                ("x-res-content-location", "/doc"),
            ][..],
            false,
        ),
    ] {
        let origin = post_origin();
        let cache = origin.cache_with(crate::CacheLayer::shared());
        cache.get(URI).await;
        let post = cache.fetch(unsafe_request("POST", URI, headers)).await;
        assert_eq!(post.body, "from post");
        let get = cache.get(URI).await;
        if stored {
            assert_eq!(get.outcome, Some(CacheOutcome::Hit), "{headers:?}");
            assert_eq!(get.body, "from post");
        } else {
            // The POST invalidated the stored GET response: a miss.
            assert_eq!(get.outcome, Some(CacheOutcome::Miss), "{headers:?}");
            assert_eq!(get.body, "from get");
        }
    }
    // A shared cache and a POST with Authorization: only when public (RFC 9111 §3.5).
    let origin = post_origin();
    let cache = origin.cache_with(crate::CacheLayer::shared());
    cache
        .fetch(unsafe_request(
            "POST",
            URI,
            &[
                ("authorization", "Basic x"),
                ("x-res-cache-control", "max-age=60"),
                ("x-res-content-location", "/doc"),
            ],
        ))
        .await;
    assert_eq!(cache.get(URI).await.outcome, Some(CacheOutcome::Miss));
}
