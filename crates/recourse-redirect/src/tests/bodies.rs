//! Streamed request bodies replayed on 307/308 within the replay limit, and never
//! replaced by an empty body past it.

use super::*;

/// A streaming request body: the chunks, one frame per poll, length unknown.
fn streaming(chunks: &[&'static str]) -> Frames {
    Frames::data(chunks.iter().copied())
}

#[tokio::test]
async fn a_streamed_body_within_the_cap_is_replayed() {
    let (svc, log) = backend(|s| match s.uri.path() {
        "/old" => redirect(307, "/new"),
        _ => ok("ok"),
    });
    let req = Request::post("http://a.test/old")
        .body(streaming(&["chunk one, ", "chunk two"]))
        .unwrap();
    let res = RedirectLayer::new()
        .replay_limit(64)
        .layer(svc)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let seen = seen(&log);
    assert_eq!(seen[1].body, "chunk one, chunk two");
    assert_eq!(seen[1].method, Method::POST);
}

#[tokio::test]
async fn a_streamed_body_over_the_cap_is_sent_once_and_the_307_comes_back() {
    let (svc, log) = backend(|s| match s.uri.path() {
        "/old" => redirect(307, "/new"),
        _ => ok("ok"),
    });
    let req = Request::post("http://a.test/old")
        .body(streaming(&["0123456789", "0123456789", "0123456789"]))
        .unwrap();
    let res = RedirectLayer::new()
        .replay_limit(16)
        .layer(svc)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        NotFollowed::of(&res),
        Some(&NotFollowed::BodyNotReplayable(NotReplayable::TooLarge {
            limit: 16
        }))
    );
    let first = seen(&log);
    assert_eq!(first.len(), 1, "the body must be sent once, never empty");
    assert_eq!(first[0].body.len(), 30);

    // A 303 needs no body: it is followed even so.
    let (svc, log) = backend(|s| match s.uri.path() {
        "/old" => redirect(303, "/new"),
        _ => ok("ok"),
    });
    let req = Request::post("http://a.test/old")
        .body(streaming(&["0123456789", "0123456789"]))
        .unwrap();
    let res = RedirectLayer::new()
        .replay_limit(4)
        .layer(svc)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(seen(&log)[1].method, Method::GET);
}
