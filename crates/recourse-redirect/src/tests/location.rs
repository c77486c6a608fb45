//! `Location`: resolution, inherited fragments (RFC 9110 §10.2.2), values that cannot
//! be followed, repeated fields.

use super::*;

#[tokio::test]
async fn relative_locations_resolve_and_fragments_are_inherited() {
    let (svc, log) = backend(|s| match s.uri.path() {
        "/a/b" => redirect(302, "c?x=1#section"),
        "/a/c" => redirect(301, "//cdn.test/final"),
        "/final" => redirect(307, "../last"),
        _ => ok("there"),
    });
    let res = Redirect::new(svc)
        .oneshot(get("http://a.test/a/b"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let uris: Vec<String> = seen(&log).iter().map(|s| s.uri.to_string()).collect();
    assert_eq!(
        uris,
        [
            "http://a.test/a/b",
            "http://a.test/a/c?x=1",
            "http://cdn.test/final",
            "http://cdn.test/last"
        ]
    );
    let last = FinalUri::of(&res).unwrap();
    assert_eq!(last.uri(), "http://cdn.test/last");
    // RFC 9110 §10.2.2: the fragment of the first Location is inherited down the chain.
    assert_eq!(last.fragment(), Some("section"));
    let hops = RedirectHistory::of(&res).unwrap().hops();
    assert_eq!(hops.len(), 3);
    assert_eq!(hops[1].status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(hops[1].from(), "http://a.test/a/c?x=1");
    assert_eq!(hops[1].to(), "http://cdn.test/final");
    assert!(hops[0].to_string().contains("302"));
}

#[tokio::test]
async fn unusable_locations_return_the_redirect_as_is() {
    let not_utf8 = HeaderValue::from_bytes(b"/caf\xe9").unwrap();
    let huge = HeaderValue::from_str(&format!("/{}", "a".repeat(70_000))).unwrap();
    let cases: Vec<(Vec<HeaderValue>, NotFollowed)> = vec![
        (vec![], NotFollowed::MissingLocation),
        (
            vec![HeaderValue::from_static("")],
            NotFollowed::Location(LocationError::Empty),
        ),
        (
            vec![HeaderValue::from_static("javascript:alert(1)")],
            NotFollowed::Location(LocationError::UnsupportedScheme("javascript".into())),
        ),
        (
            vec![HeaderValue::from_static("file:///etc/passwd")],
            NotFollowed::Location(LocationError::UnsupportedScheme("file".into())),
        ),
        (
            vec![not_utf8],
            NotFollowed::Location(LocationError::NotUtf8),
        ),
        (vec![huge], NotFollowed::Location(LocationError::TooLong)),
        (
            vec![
                HeaderValue::from_static("/one"),
                HeaderValue::from_static("/two"),
            ],
            NotFollowed::ConflictingLocations,
        ),
        (
            vec![HeaderValue::from_static("http://user:pw@evil.test/")],
            NotFollowed::CredentialsInLocation,
        ),
    ];
    for (values, reason) in cases {
        let for_route = values.clone();
        let (svc, log) = backend(move |_| {
            let mut res = Response::builder()
                .status(StatusCode::FOUND)
                .body(full("the 3xx body"))?;
            for v in &for_route {
                res.headers_mut().append(LOCATION, v.clone());
            }
            Ok(res)
        });
        let res = Redirect::new(svc)
            .oneshot(get("http://a.test/"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(NotFollowed::of(&res), Some(&reason));
        assert!(!reason.to_string().is_empty());
        assert!(FinalUri::of(&res).is_none());
        assert_eq!(text(res).await, "the 3xx body", "{reason:?}");
        assert_eq!(seen(&log).len(), 1);
    }
    // Garbage that the URI parser rejects.
    let (svc, _) = backend(|_| redirect(302, "http://[::1"));
    let res = Redirect::new(svc)
        .oneshot(get("http://a.test/"))
        .await
        .unwrap();
    assert!(matches!(
        NotFollowed::of(&res),
        Some(NotFollowed::Location(LocationError::Invalid(_)))
    ));
}

#[tokio::test]
async fn identical_repeated_locations_are_followed() {
    let (svc, log) = backend(|s| match s.uri.path() {
        "/" => Ok(Response::builder()
            .status(302)
            .header(LOCATION, "/x")
            .header(LOCATION, "/x")
            .body(full(""))?),
        _ => ok("x"),
    });
    let res = Redirect::new(svc)
        .oneshot(get("http://a.test/"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(seen(&log).len(), 2);
}
