//! Policies other than the standard one, and the layer's builders and accessors.

use super::*;

#[tokio::test]
async fn same_origin_only_returns_cross_origin_redirects() {
    let (svc, log) = backend(|s| match s.uri.path() {
        "/1" => redirect(302, "/2"),
        "/2" => redirect(302, "https://a.test/3"),
        _ => ok("never"),
    });
    let res = Redirect::with_policy(svc, crate::Standard::default().and(SameOriginOnly))
        .oneshot(get("http://a.test/1"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(NotFollowed::of(&res), Some(&NotFollowed::CrossOrigin));
    assert_eq!(FinalUri::of(&res).unwrap().uri(), "http://a.test/2");
    assert_eq!(seen(&log).len(), 2);
}

#[tokio::test]
async fn closure_policies_stop_or_fail() {
    let route = |s: &Seen| match s.uri.path() {
        "/1" => redirect(302, "/2"),
        _ => ok("2"),
    };
    let (svc, log) = backend(route);
    let res = Redirect::with_policy(svc, policy_fn(|_| Action::stop()))
        .oneshot(get("http://a.test/1"))
        .await
        .unwrap();
    assert_eq!(NotFollowed::of(&res), Some(&NotFollowed::Stopped));
    assert_eq!(seen(&log).len(), 1);

    let (svc, _) = backend(route);
    let err = RedirectLayer::new()
        .policy(policy_fn(|a| {
            if a.location().path() == "/2" {
                Action::error("no /2 for you")
            } else {
                Action::follow()
            }
        }))
        .layer(svc)
        .oneshot(get("http://a.test/1"))
        .await
        .unwrap_err();
    assert!(err.is_policy_error());
    assert_eq!(err.chain().len(), 1);
    assert!(err.to_string().contains("no /2 for you"), "{err}");
}

#[test]
fn builders_and_accessors() {
    let layer = RedirectLayer::new()
        .max_redirects(4)
        .return_last_redirect(true)
        .remove_on_origin_change(HeaderName::from_static("x-token"))
        .drain_limit(10)
        .drain_timeout(Duration::from_millis(5))
        .replay_limit(100)
        .keep_post(true)
        .detect_loops(false);
    let limited = layer.get_policy().get_limited();
    assert_eq!(limited.max(), 4);
    assert!(limited.returns_last());
    assert_eq!(
        layer
            .get_policy()
            .get_filter_credentials()
            .extra_headers()
            .len(),
        1
    );
    let mut svc = tower::Layer::layer(&layer, 7u8);
    assert_eq!(*svc.get_ref(), 7);
    *svc.get_mut() = 8;
    assert_eq!(svc.config.replay_limit, 100);
    assert!(svc.config.keep_post);
    assert!(!svc.config.detect_loops);
    let svc = Redirect::with_policy(svc.into_inner(), SameOriginOnly);
    assert_eq!(svc.get_policy(), &SameOriginOnly);
    assert_eq!(svc.into_inner(), 8);
    let _ = Redirect::<u8>::layer().policy(SameOriginOnly);
}
