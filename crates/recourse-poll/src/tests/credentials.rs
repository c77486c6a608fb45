//! Which headers go along with polls and result fetches, to which origins.

use super::*;

#[tokio::test(start_paused = true)]
async fn credentials_go_only_to_the_same_origin() {
    for (credentials, location, expect_credentials) in [
        (
            Credentials::SameOrigin,
            "http://status.other.test/jobs/1",
            false,
        ),
        (Credentials::SameOrigin, "/jobs/1", true),
        (Credentials::SameOrigin, "https://api.test/jobs/1", false),
        (Credentials::Always, "http://status.other.test/jobs/1", true),
        (Credentials::Never, "/jobs/1", false),
    ] {
        let backend = Backend::new();
        backend.script("/start", [accepted(location)]);
        backend.script("/jobs/1", [r(200)]);
        let svc = AsyncPollLayer::new()
            .credentials(credentials)
            .forward_headers(["user-agent"])
            .layer(backend.service());
        let mut req = post("http://api.test/start");
        let h = req.headers_mut();
        h.insert("authorization", "Bearer secret".parse().unwrap());
        h.append("cookie", "a=1".parse().unwrap());
        h.append("cookie", "b=2".parse().unwrap());
        h.insert("proxy-authorization", "Basic eA==".parse().unwrap());
        h.insert("user-agent", "recourse-test".parse().unwrap());
        h.insert("content-type", "text/plain".parse().unwrap());
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let poll = backend.seen_at("/jobs/1").pop().unwrap();
        assert_eq!(
            poll.headers.contains_key("authorization"),
            expect_credentials,
            "{credentials:?} {location}"
        );
        assert_eq!(
            poll.headers.contains_key("proxy-authorization"),
            expect_credentials
        );
        let cookies: Vec<_> = poll.headers.get_all("cookie").iter().collect();
        assert_eq!(cookies.len(), if expect_credentials { 2 } else { 0 });
        assert_eq!(poll.headers["user-agent"], "recourse-test");
        assert!(!poll.headers.contains_key("content-type"));
    }
}

#[tokio::test(start_paused = true)]
async fn api_key_headers_can_be_declared_sensitive() {
    let backend = Backend::new();
    backend.script("/start", [accepted("http://elsewhere.test/jobs/1")]);
    backend.script("/jobs/1", [r(200)]);
    let svc = AsyncPollLayer::new()
        .sensitive_headers(["authorization", "x-api-key"])
        .forward_headers(["x-request-id"])
        .layer(backend.service());
    let mut req = post("http://api.test/start");
    req.headers_mut().insert("x-api-key", "k".parse().unwrap());
    req.headers_mut()
        .insert("x-request-id", "r1".parse().unwrap());
    req.headers_mut()
        .insert("user-agent", "ua".parse().unwrap());
    svc.oneshot(req).await.unwrap();
    let poll = backend.seen_at("/jobs/1").pop().unwrap();
    assert!(!poll.headers.contains_key("x-api-key"));
    assert_eq!(poll.headers["x-request-id"], "r1");
    assert!(!poll.headers.contains_key("user-agent"));
}

#[tokio::test(start_paused = true)]
async fn a_result_on_another_origin_gets_no_credentials() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [r(303).h("location", "https://cdn.other.test/results/1")],
    );
    backend.script("/results/1", [r(200).body("blob")]);
    let mut req = post("http://api.test/start");
    req.headers_mut()
        .insert("authorization", "Bearer secret".parse().unwrap());
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(text(res).await, "blob");
    assert_eq!(
        backend.seen_at("/jobs/1")[0].headers["authorization"],
        "Bearer secret"
    );
    let fetch = &backend.seen_at("/results/1")[0];
    assert_eq!(fetch.uri, "https://cdn.other.test/results/1");
    assert!(!fetch.headers.contains_key("authorization"));
}
