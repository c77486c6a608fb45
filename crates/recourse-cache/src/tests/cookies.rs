//! Cookies in a shared cache: one user's `Set-Cookie` never reaches another (RFC 9111
//! §7.3), on any path: hits, `max-stale`, 304 revalidation, `stale-if-error`, HEAD, Vary
//! variants, coalesced requests and entries put in the store by someone else.

use std::io;
use std::time::Duration;

use http::StatusCode;

use super::*;
use crate::{CacheKey, CacheLayer, Entry, EntryParts, Mode};

const URI: &str = "http://origin.test/me";

/// An origin that greets the user named by `x-user` and sets their session cookie; it
/// answers 304 to a matching `If-None-Match` (setting the asking user's cookie again), and
/// 500 once `x-fail` is sent.
fn session_origin(cc: &'static str) -> Origin {
    Origin::new(move |req, _| {
        let user = req
            .headers()
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("anonymous")
            .to_string();
        let cookie = format!("session={user}");
        let seen = format!("seen={user}");
        if req.headers().contains_key("x-fail") {
            return Ok(response(500, &[("set-cookie", cookie.as_str())], "down"));
        }
        if req
            .headers()
            .get("if-none-match")
            .is_some_and(|v| v == "\"v1\"")
        {
            return Ok(response(
                304,
                &[
                    ("etag", "\"v1\""),
                    ("cache-control", cc),
                    ("set-cookie", cookie.as_str()),
                ],
                "",
            ));
        }
        Ok(response(
            200,
            &[
                ("etag", "\"v1\""),
                ("cache-control", cc),
                ("vary", "accept-language"),
                ("set-cookie", cookie.as_str()),
                ("set-cookie2", cookie.as_str()),
                ("set-cookie", seen.as_str()),
            ],
            "the page",
        ))
    })
}

fn as_user(user: &str, extra: &[(&str, &str)]) -> Request<()> {
    let mut headers = vec![("x-user", user)];
    headers.extend_from_slice(extra);
    get_with(URI, &headers)
}

/// The cookie values a response sets.
fn cookies(res: &Fetched) -> Vec<String> {
    ["set-cookie", "set-cookie2"]
        .iter()
        .flat_map(|name| res.headers.get_all(*name))
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn assert_no_cookie_of(res: &Fetched, user: &str, what: &str) {
    let leaked = format!("={user}");
    assert!(
        !cookies(res).iter().any(|c| c.ends_with(&leaked)),
        "{what}: another user's cookie was served: {:?}",
        cookies(res)
    );
}

#[tokio::test(start_paused = true)]
async fn shared_cache_never_hands_a_cookie_to_another_user() {
    // Without `public`, a response that sets a cookie is not stored at all: B (max-stale)
    // and C (after what would have been a 304) each get the origin's answer to them.
    let origin = session_origin("max-age=60");
    let cache = origin.cache_with(CacheLayer::shared());
    let a = cache.fetch(as_user("alice", &[])).await;
    assert_eq!(a.outcome, Some(CacheOutcome::Miss));
    assert!(cookies(&a).contains(&"session=alice".to_string()));
    advance(1).await;
    let b = cache
        .fetch(as_user("bob", &[("cache-control", "max-stale")]))
        .await;
    assert_eq!(b.outcome, Some(CacheOutcome::Miss));
    assert_no_cookie_of(&b, "alice", "max-stale");
    assert!(cookies(&b).contains(&"session=bob".to_string()));
    let c = cache.fetch(as_user("carol", &[])).await;
    assert_eq!(c.outcome, Some(CacheOutcome::Miss));
    assert_no_cookie_of(&c, "alice", "plain request");
    assert!(
        !origin.last().contains_key("if-none-match"),
        "nothing was stored to revalidate"
    );
    assert_eq!(origin.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn public_responses_are_stored_without_their_cookies() {
    let origin = session_origin("public, max-age=1");
    let cache = origin.cache_with(CacheLayer::shared().stale_if_error(Duration::from_secs(600)));
    let a = cache.fetch(as_user("alice", &[])).await;
    assert_eq!(a.outcome, Some(CacheOutcome::Miss));
    assert_eq!(
        cookies(&a),
        ["session=alice", "seen=alice", "session=alice"]
    );

    // Fresh hit, and HEAD answered from the stored GET response.
    let hit = cache.fetch(as_user("bob", &[])).await;
    assert_eq!(hit.outcome, Some(CacheOutcome::Hit));
    assert_eq!(hit.body, "the page");
    assert_eq!(cookies(&hit), Vec::<String>::new());
    let head = cache
        .fetch(Request::head(URI).header("x-user", "bob").body(()).unwrap())
        .await;
    assert_eq!(head.outcome, Some(CacheOutcome::Hit));
    assert_eq!(cookies(&head), Vec::<String>::new());

    // Stale, served without validation to B (max-stale).
    advance(2).await;
    let b = cache
        .fetch(as_user("bob", &[("cache-control", "max-stale")]))
        .await;
    assert_eq!(b.outcome, Some(CacheOutcome::Stale));
    assert_eq!(cookies(&b), Vec::<String>::new());

    // Revalidated for C: the 304 sets C's cookie, and only C gets it.
    let c = cache.fetch(as_user("carol", &[])).await;
    assert_eq!(c.outcome, Some(CacheOutcome::Revalidated));
    assert_eq!(origin.last()["if-none-match"], "\"v1\"");
    assert_eq!(c.body, "the page");
    assert_eq!(cookies(&c), ["session=carol"]);
    let d = cache.fetch(as_user("dave", &[])).await;
    assert_eq!(d.outcome, Some(CacheOutcome::Hit));
    assert_eq!(
        cookies(&d),
        Vec::<String>::new(),
        "the 304's cookie is not stored"
    );

    // Stale again, and the origin fails: stale-if-error serves the stored response.
    advance(2).await;
    let e = cache.fetch(as_user("erin", &[("x-fail", "1")])).await;
    assert_eq!(e.outcome, Some(CacheOutcome::Stale));
    assert_eq!(e.status, StatusCode::OK);
    assert_eq!(cookies(&e), Vec::<String>::new());

    // Another variant (Vary: Accept-Language) is stored the same way.
    let fr = [("accept-language", "fr")];
    let f1 = cache.fetch(as_user("frank", &fr)).await;
    assert_eq!(f1.outcome, Some(CacheOutcome::Miss));
    assert!(cookies(&f1).contains(&"session=frank".to_string()));
    let f2 = cache.fetch(as_user("grace", &fr)).await;
    assert_eq!(f2.outcome, Some(CacheOutcome::Hit));
    assert_eq!(cookies(&f2), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn coalesced_requests_do_not_share_a_cookie() {
    for (cc, bob_stored) in [("max-age=60", false), ("public, max-age=60", true)] {
        let origin = session_origin(cc);
        origin.delay(Duration::from_secs(1));
        let cache = origin.cache_with(CacheLayer::shared());
        let (a, b) = tokio::join!(
            cache.fetch(as_user("alice", &[])),
            cache.fetch(as_user("bob", &[]))
        );
        assert!(cookies(&a).contains(&"session=alice".to_string()), "{cc}");
        assert_no_cookie_of(&b, "alice", cc);
        if bob_stored {
            // Bob waited for Alice's response and got it from storage, cookies removed.
            assert_eq!(b.outcome, Some(CacheOutcome::Hit), "{cc}");
            assert_eq!(cookies(&b), Vec::<String>::new(), "{cc}");
            assert_eq!(origin.calls(), 1);
        } else {
            // Not stored: Bob asked the origin himself.
            assert!(cookies(&b).contains(&"session=bob".to_string()), "{cc}");
            assert_eq!(origin.calls(), 2);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn cookies_found_in_the_store_are_not_served_by_a_shared_cache() {
    // An entry with a cookie, as a private cache sharing the store (or an older version)
    // would have stored it.
    let origin = Origin::new(|_, _| Err(io::Error::other("the origin is not asked")));
    let layer = CacheLayer::shared();
    let mut headers = HeaderMap::new();
    headers.insert("cache-control", "max-age=60".parse().unwrap());
    headers.insert("set-cookie", "session=alice".parse().unwrap());
    headers.insert("set-cookie2", "session=alice".parse().unwrap());
    let now = recourse_core::clock::system_now();
    let entry = Entry::from_parts(EntryParts {
        status: StatusCode::OK,
        headers,
        body: Bytes::from_static(b"stored"),
        selecting: HeaderMap::new(),
        response_time: now,
        initial_age: Duration::ZERO,
        lifetime: Duration::from_secs(60),
    })
    .unwrap();
    let key = CacheKey::from_uri(&URI.parse().unwrap()).unwrap();
    layer
        .get_store()
        .put(&key, std::sync::Arc::new(entry))
        .await
        .unwrap();

    let shared = origin.cache_with(layer.clone());
    let res = shared.get(URI).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Hit));
    assert_eq!(res.body, "stored");
    assert_eq!(cookies(&res), Vec::<String>::new());

    // A private cache is the user's own: it serves what it finds.
    let private = origin.cache_with(layer.mode(Mode::Private));
    let res = private.get(URI).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Hit));
    assert_eq!(cookies(&res), ["session=alice", "session=alice"]);
    assert_eq!(origin.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn private_cache_keeps_cookies() {
    let origin = session_origin("max-age=60");
    let cache = origin.cache();
    cache.fetch(as_user("alice", &[])).await;
    let res = cache.fetch(as_user("alice", &[])).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Hit));
    assert!(cookies(&res).contains(&"session=alice".to_string()));
}
