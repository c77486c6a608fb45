//! Which responses are followed, and how each redirect status rewrites the next
//! request (RFC 9110 §15.4.2-§15.4.9, the Fetch standard's HTTP-redirect fetch).

use super::*;

#[tokio::test]
async fn pass_through_adds_nothing() {
    let (svc, log) = backend(|_| ok("plain"));
    let res = Redirect::new(svc)
        .oneshot(get("http://a.test/x"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.extensions().is_empty(), "{:?}", res.extensions());
    assert_eq!(text(res).await, "plain");
    assert_eq!(seen(&log).len(), 1);
}

#[tokio::test]
async fn non_redirect_3xx_statuses_are_returned() {
    for status in [300, 304, 305, 306] {
        let (svc, log) = backend(move |_| redirect(status, "/elsewhere"));
        let res = Redirect::new(svc)
            .oneshot(get("http://a.test/"))
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status);
        assert!(NotFollowed::of(&res).is_none());
        assert_eq!(seen(&log).len(), 1);
    }
}

#[tokio::test]
async fn temporary_and_permanent_redirects_resend_method_headers_and_body() {
    for status in [307, 308] {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let (svc, log) = backend(move |s| match s.uri.path() {
                "/old" => redirect(status, "/new"),
                _ => ok("done"),
            });
            let mut req = post("http://a.test/old", "amount=10&currency=EUR");
            *req.method_mut() = method.clone();
            let res = Redirect::new(svc).oneshot(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let seen = seen(&log);
            assert_eq!(seen.len(), 2);
            let (first, second) = (&seen[0], &seen[1]);
            assert_eq!(second.method, method, "{status} {method}");
            assert_eq!(second.uri, "http://a.test/new");
            assert_eq!(second.body, "amount=10&currency=EUR");
            assert_eq!(second.body, first.body);
            assert_eq!(second.headers, first.headers, "{status} {method}");

            let history = History::of(&res).unwrap();
            assert_eq!(
                history.steps(),
                [Step::Redirected {
                    status: StatusCode::from_u16(status).unwrap(),
                    from: Uri::from_static("http://a.test/old"),
                    to: Uri::from_static("http://a.test/new"),
                }]
            );
            let hops = RedirectHistory::of(&res).unwrap();
            assert_eq!(hops.len(), 1);
            assert_eq!(hops.hops()[0].method(), method);
            assert_eq!(hops.original_uri().unwrap(), "http://a.test/old");
            assert_eq!(FinalUri::of(&res).unwrap().uri(), "http://a.test/new");
        }
    }
}

#[tokio::test]
async fn see_other_turns_everything_but_head_into_get_without_body() {
    for (method, expected) in [
        (Method::POST, Method::GET),
        (Method::PUT, Method::GET),
        (Method::DELETE, Method::GET),
        (Method::GET, Method::GET),
        (Method::HEAD, Method::HEAD),
    ] {
        let (svc, log) = backend(|s| match s.uri.path() {
            "/submit" => redirect(303, "/result"),
            _ => ok("result"),
        });
        let mut req = post("http://a.test/submit", "name=value");
        *req.method_mut() = method.clone();
        req.headers_mut()
            .insert(AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        let res = Redirect::new(svc).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let seen = seen(&log);
        assert_eq!(seen.len(), 2);
        let next = &seen[1];
        assert_eq!(next.method, expected, "303 after {method}");
        if method == Method::GET || method == Method::HEAD {
            // Fetch §4.4 step 12 leaves GET and HEAD requests as they are.
            assert_eq!(next.headers, seen[0].headers);
            continue;
        }
        assert!(
            next.body.is_empty(),
            "303 after {method} must drop the body"
        );
        for name in crate::PAYLOAD_HEADERS {
            assert!(!next.headers.contains_key(&name), "{name} after {method}");
        }
        // Headers that do not describe the content stay (same origin).
        assert_eq!(next.headers[ACCEPT], "application/json");
        assert_eq!(next.headers[AUTHORIZATION], "Bearer t");
    }
}

#[tokio::test]
async fn moved_and_found_turn_only_post_into_get() {
    for status in [301, 302] {
        let route = move |s: &Seen| match s.uri.path() {
            "/a" => redirect(status, "/b"),
            _ => ok("b"),
        };
        // POST becomes GET without body or payload headers.
        let (svc, log) = backend(route);
        Redirect::new(svc)
            .oneshot(post("http://a.test/a", "x=1"))
            .await
            .unwrap();
        let next = &seen(&log)[1];
        assert_eq!(next.method, Method::GET);
        assert!(next.body.is_empty());
        assert!(!next.headers.contains_key(CONTENT_TYPE));
        assert!(!next.headers.contains_key(CONTENT_LENGTH));

        // Other methods keep their method and body.
        let (svc, log) = backend(route);
        let mut req = post("http://a.test/a", "x=2");
        *req.method_mut() = Method::PUT;
        Redirect::new(svc).oneshot(req).await.unwrap();
        let next = &seen(&log)[1];
        assert_eq!(next.method, Method::PUT);
        assert_eq!(next.body, "x=2");
        assert_eq!(
            next.headers[CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );

        // The option keeps POST.
        let (svc, log) = backend(route);
        RedirectLayer::new()
            .keep_post(true)
            .layer(svc)
            .oneshot(post("http://a.test/a", "x=3"))
            .await
            .unwrap();
        let next = &seen(&log)[1];
        assert_eq!(next.method, Method::POST);
        assert_eq!(next.body, "x=3");
    }
}
