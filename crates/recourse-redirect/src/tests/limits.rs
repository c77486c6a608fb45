//! The redirect limit and loop detection (RFC 9110 §15.4).

use super::*;

/// `/n` redirects to `/n+1`, for ever.
fn endless(s: &Seen) -> Result<Response<ResBody>, BoxError> {
    let n: u64 = s.uri.path()[1..].parse()?;
    redirect(302, &format!("/{}", n + 1))
}

#[tokio::test]
async fn the_limit_is_a_typed_error_carrying_the_chain() {
    let (svc, log) = backend(endless);
    let err = Redirect::new(svc)
        .oneshot(get("http://a.test/0"))
        .await
        .unwrap_err();
    assert!(err.is_too_many_redirects(), "{err}");
    let details = err.too_many_redirects().unwrap();
    assert_eq!(details.limit(), 10);
    assert_eq!(details.chain().len(), 11);
    assert_eq!(details.chain()[10].to(), "http://a.test/11");
    assert_eq!(seen(&log).len(), 11);
    assert!(err.to_string().contains("too many redirects"));

    let (svc, log) = backend(endless);
    let err = RedirectLayer::new()
        .max_redirects(3)
        .layer(svc)
        .oneshot(get("http://a.test/0"))
        .await
        .unwrap_err();
    assert_eq!(err.too_many_redirects().unwrap().limit(), 3);
    assert_eq!(seen(&log).len(), 4);
}

#[tokio::test]
async fn at_the_limit_the_last_redirect_can_be_returned() {
    let (svc, log) = backend(endless);
    let res = RedirectLayer::new()
        .return_last_redirect(true)
        .layer(svc)
        .oneshot(get("http://a.test/0"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        NotFollowed::of(&res),
        Some(&NotFollowed::LimitReached { limit: 10 })
    );
    assert_eq!(RedirectHistory::of(&res).unwrap().len(), 10);
    assert_eq!(History::of(&res).unwrap().redirects(), 10);
    assert_eq!(FinalUri::of(&res).unwrap().uri(), "http://a.test/10");
    assert_eq!(text(res).await, "moved");
    assert_eq!(seen(&log).len(), 11);
}

#[tokio::test]
async fn a_loop_fails_at_once() {
    let route = |s: &Seen| match s.uri.path() {
        "/a" => redirect(302, "/b"),
        _ => redirect(302, "/a"),
    };
    let (svc, log) = backend(route);
    let err = Redirect::new(svc)
        .oneshot(get("http://a.test/a"))
        .await
        .unwrap_err();
    assert!(err.is_redirect_loop(), "{err}");
    let details = err.redirect_loop().unwrap();
    assert_eq!(details.uri(), "http://a.test/a");
    assert_eq!(details.method(), Method::GET);
    assert_eq!(details.chain().len(), 2);
    assert_eq!(seen(&log).len(), 2);

    // Without detection, the limit ends it.
    let (svc, log) = backend(route);
    let err = RedirectLayer::new()
        .detect_loops(false)
        .layer(svc)
        .oneshot(get("http://a.test/a"))
        .await
        .unwrap_err();
    assert!(err.is_too_many_redirects());
    assert_eq!(seen(&log).len(), 11);

    // A redirect to itself is a loop too.
    let (svc, log) = backend(|_| redirect(307, "/self"));
    let err = Redirect::new(svc)
        .oneshot(get("http://a.test/self"))
        .await
        .unwrap_err();
    assert!(err.is_redirect_loop());
    assert_eq!(seen(&log).len(), 1);
}

#[tokio::test]
async fn a_post_redirected_to_itself_as_get_is_not_a_loop() {
    let (svc, log) = backend(|s| match s.method {
        Method::POST => redirect(303, "/form"),
        _ => ok("the form"),
    });
    let res = Redirect::new(svc)
        .oneshot(post("http://a.test/form", "x"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "the form");
    assert_eq!(seen(&log).len(), 2);
}
