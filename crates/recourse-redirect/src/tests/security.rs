//! No downgrade from `https` to `http`, credentials kept on their origin, `Host`.

use super::*;

#[tokio::test]
async fn https_to_http_is_refused_by_default() {
    let route = |s: &Seen| match s.uri.scheme_str() {
        Some("https") => redirect(302, "http://a.test/plain"),
        _ => ok("plain"),
    };
    let (svc, log) = backend(route);
    let err = Redirect::new(svc)
        .oneshot(get("https://a.test/secure"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    assert_eq!(err.downgrade().unwrap().from(), "https://a.test/secure");
    assert_eq!(err.downgrade().unwrap().to(), "http://a.test/plain");
    assert_eq!(seen(&log).len(), 1);

    // A policy without the refusal follows it.
    let (svc, log) = backend(route);
    let res = Redirect::with_policy(svc, Limited::default().and(FilterCredentials::new()))
        .oneshot(get("https://a.test/secure"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(seen(&log).len(), 2);
}

#[tokio::test]
async fn credentials_are_removed_on_origin_change_and_stay_removed() {
    let (svc, log) = backend(|s| match (s.uri.host(), s.uri.path()) {
        (Some("a.test"), "/1") => redirect(302, "http://b.test/2"),
        (Some("b.test"), "/2") => redirect(307, "/3"),
        (Some("b.test"), "/3") => redirect(308, "http://a.test/4"),
        _ => ok("back home"),
    });
    let req = Request::post("http://a.test/1")
        .header(AUTHORIZATION, "Bearer secret")
        .header(COOKIE, "session=1")
        .header(PROXY_AUTHORIZATION, "Basic cHJveHk6cHc=")
        .header("x-api-key", "k-123")
        .header(HOST, "a.test")
        .header(ACCEPT, "*/*")
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let res = RedirectLayer::new()
        .remove_on_origin_change(HeaderName::from_static("x-api-key"))
        .layer(svc)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(text(res).await, "back home");
    let seen = seen(&log);
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0].headers[AUTHORIZATION], "Bearer secret");
    for later in &seen[1..] {
        for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
            assert!(
                !later.headers.contains_key(&name),
                "{name} sent to {}",
                later.uri
            );
        }
        assert!(!later.headers.contains_key("x-api-key"), "{}", later.uri);
        assert_eq!(later.headers[ACCEPT], "*/*");
    }
    // The 302 turned the POST into a GET; the 307/308 kept that (bodiless) GET.
    assert_eq!(seen[3].method, Method::GET);
    // The Host header the caller set follows the target.
    let hosts: Vec<&str> = seen
        .iter()
        .map(|s| s.headers[HOST].to_str().unwrap())
        .collect();
    assert_eq!(hosts, ["a.test", "b.test", "b.test", "a.test"]);
}

#[tokio::test]
async fn no_host_header_is_added() {
    let (svc, log) = backend(|s| match s.uri.host() {
        Some("a.test") => redirect(302, "http://b.test:8080/"),
        _ => ok("b"),
    });
    Redirect::new(svc)
        .oneshot(get("http://a.test/"))
        .await
        .unwrap();
    assert!(seen(&log).iter().all(|s| !s.headers.contains_key(HOST)));
}
