//! Where the request is now (`FinalUri`, the credentials and downgrade rules from there),
//! `Live` status polls, and request bodies of any type.

use super::*;

#[tokio::test(start_paused = true)]
async fn a_202_after_a_redirect_resolves_against_the_uri_that_answered() {
    let backend = Backend::new();
    // A redirect layer below followed `/v1/submit` to `/v2/submit`.
    backend.script(
        "/v1/submit",
        [accepted("status/1").final_uri("http://api.test/v2/submit")],
    );
    backend.script("/v2/status/1", [r(202), r(200).body("done")]);
    let svc = AsyncPollLayer::new().layer(backend.service());
    let res = svc
        .oneshot(post("http://api.test/v1/submit"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        PollInfo::of(&res).unwrap().status_url(),
        "http://api.test/v2/status/1"
    );
    assert_eq!(text(res).await, "done");
    assert_eq!(backend.seen_at("/v2/status/1").len(), 2);
    assert!(backend.seen_at("/v1/status/1").is_empty(), "not the 404");
}

#[tokio::test(start_paused = true)]
async fn a_201_after_a_redirect_fetches_the_resource_where_it_was_created() {
    let backend = Backend::new();
    backend.script(
        "/v1/things",
        [r(201)
            .h("location", "things/1")
            .final_uri("http://api.test/v2/things")],
    );
    backend.script("/v2/things/1", [r(200).body("thing 1")]);
    let svc = AsyncPollLayer::new()
        .fetch_created(true)
        .layer(backend.service());
    let res = svc
        .oneshot(post("http://api.test/v1/things"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.result_uri().unwrap(), "http://api.test/v2/things/1");
    assert_eq!(text(res).await, "thing 1");
    let fetch = &backend.seen_at("/v2/things/1")[0];
    assert!(!fetch.live, "a result fetch may be answered by a cache");
}

#[tokio::test(start_paused = true)]
async fn urls_in_a_redirected_status_response_resolve_where_it_came_from() {
    // The status URL itself redirects (`/v1/jobs/1` -> `/v2/jobs/1`): a relative 303
    // `Location` and a relative moved status URL resolve against `/v2/jobs/1`.
    let backend = Backend::new();
    backend.script("/start", [accepted("/v1/jobs/1")]);
    backend.script(
        "/v1/jobs/1",
        [r(303)
            .h("location", "../results/1")
            .final_uri("http://api.test/v2/jobs/1")],
    );
    backend.script("/v2/results/1", [r(200).body("result")]);
    let res = send(AsyncPollLayer::new(), &backend, "http://api.test/start")
        .await
        .unwrap();
    assert_eq!(
        PollInfo::of(&res).unwrap().result_uri().unwrap(),
        "http://api.test/v2/results/1"
    );
    assert_eq!(text(res).await, "result");

    let backend = Backend::new();
    backend.script("/start", [accepted("/v1/jobs/1")]);
    backend.script(
        "/v1/jobs/1",
        [accepted("2").final_uri("http://api.test/v2/jobs/1")],
    );
    backend.script("/v2/jobs/2", [r(200).body("done")]);
    let res = send(AsyncPollLayer::new(), &backend, "http://api.test/start")
        .await
        .unwrap();
    assert_eq!(
        PollInfo::of(&res).unwrap().status_url(),
        "http://api.test/v2/jobs/2"
    );

    // `FinalState::StatusLocation` too.
    let backend = Backend::new();
    backend.script("/start", [accepted("/v1/jobs/1")]);
    backend.script(
        "/v1/jobs/1",
        [r(200)
            .h("location", "out/1")
            .final_uri("http://api.test/v2/jobs/1")],
    );
    backend.script("/v2/jobs/out/1", [r(200).body("out")]);
    let res = send(
        AsyncPollLayer::new().final_state(FinalState::StatusLocation),
        &backend,
        "http://api.test/start",
    )
    .await
    .unwrap();
    assert_eq!(text(res).await, "out");
}

#[tokio::test(start_paused = true)]
async fn credentials_follow_the_origin_the_request_is_at_now() {
    // (where the 202 came from, status URL, whether the credentials go along)
    for (answered_at, location, expect_credentials) in [
        // Redirected within the origin: still the origin they were given for.
        ("https://api.test/v2/submit", "status/1", true),
        // Redirected to another origin: the redirect layer dropped them there, and a status
        // URL on the new origin does not get them back.
        ("https://other.test/submit", "status/1", false),
        // Nor does a URL back on the first origin named by the other one.
        (
            "https://other.test/submit",
            "https://api.test/status/1",
            false,
        ),
    ] {
        let backend = Backend::new();
        backend.script("/v1/submit", [accepted(location).final_uri(answered_at)]);
        backend.script("/status/1", [r(200)]);
        backend.script("/v2/status/1", [r(200)]);
        let mut req = post("https://api.test/v1/submit");
        req.headers_mut()
            .insert("authorization", "Bearer secret".parse().unwrap());
        let res = AsyncPollLayer::new()
            .layer(backend.service())
            .oneshot(req)
            .await
            .unwrap();
        let status_url = PollInfo::of(&res).unwrap().status_url().clone();
        let poll = backend.seen_at(status_url.path()).pop().unwrap();
        assert_eq!(poll.uri, status_url);
        assert_eq!(
            poll.headers.contains_key("authorization"),
            expect_credentials,
            "{answered_at} {location}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_downgrade_check_starts_where_the_request_is_now() {
    // Asked over http, redirected to https below: an http status URL is a downgrade.
    let backend = Backend::new();
    backend.script(
        "/submit",
        [accepted("http://api.test/status/1").final_uri("https://api.test/v2/submit")],
    );
    let err = send(AsyncPollLayer::new(), &backend, "http://api.test/submit")
        .await
        .unwrap_err();
    let downgrade = err.downgrade().unwrap();
    assert_eq!(downgrade.from(), "https://api.test/v2/submit");
    assert_eq!(downgrade.to(), "http://api.test/status/1");
    assert!(backend.seen_at("/status/1").is_empty());
}

#[tokio::test(start_paused = true)]
async fn status_polls_are_live_and_result_fetches_are_not() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(202), r(303).h("location", "/results/1")]);
    backend.script("/results/1", [r(200)]);
    send(AsyncPollLayer::new(), &backend, "http://api.test/start")
        .await
        .unwrap();
    assert!(!backend.seen_at("/start")[0].live, "the caller's request");
    let polls = backend.seen_at("/jobs/1");
    assert_eq!(polls.len(), 2);
    assert!(polls.iter().all(|p| p.live && p.body_empty));
    assert!(!backend.seen_at("/results/1")[0].live);

    // A resumed job's polls too.
    let backend = Backend::new();
    backend.script("/jobs/1", [r(200)]);
    AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(crate::Resume::request(
            "http://api.test/jobs/1".parse().unwrap(),
            Full::<Bytes>::default(),
        ))
        .await
        .unwrap();
    assert!(backend.seen_at("/jobs/1")[0].live);
}

/// A request body with no `Default`, streaming, like `hyper::body::Incoming`.
struct Streaming(Option<Bytes>);

impl http_body::Body for Streaming {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.take().map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[tokio::test(start_paused = true)]
async fn any_request_body_type_goes_through() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let svc = service_fn(move |req: Request<PollRequestBody<Streaming>>| {
        let log = log.clone();
        async move {
            let path = req.uri().path().to_owned();
            let own = req.body().is_empty();
            let body = req.into_body().collect().await?.to_bytes();
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((path.clone(), own, body));
            let res = match path.as_str() {
                "/start" => Response::builder()
                    .status(202)
                    .header("location", "/jobs/1")
                    .body(Full::<Bytes>::default()),
                _ => Response::builder().body(Full::from("done")),
            };
            Ok::<_, BoxError>(res?)
        }
    });
    let req = Request::post("http://api.test/start")
        .body(Streaming(Some(Bytes::from_static(b"upload"))))
        .unwrap();
    let res = AsyncPollLayer::new().layer(svc).oneshot(req).await.unwrap();
    assert_eq!(text(res).await, "done");
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(
        seen,
        [
            ("/start".to_owned(), false, Bytes::from_static(b"upload")),
            ("/jobs/1".to_owned(), true, Bytes::new()),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_303_followed_below_is_the_result_not_a_status_document() {
    // A redirect layer below followed the status monitor's `303 See Other` to the result:
    // the response poll receives is the result itself (not JSON, no status field), and a
    // strict status field must not call it a protocol violation.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [
            r(200).body(r#"{"status":"InProgress"}"#),
            r(200)
                .body("the result")
                .step(Step::Redirected {
                    status: StatusCode::SEE_OTHER,
                    from: "http://api.test/jobs/1".parse().unwrap(),
                    to: "http://api.test/results/1".parse().unwrap(),
                })
                .final_uri("http://api.test/results/1"),
        ],
    );
    let layer = AsyncPollLayer::new().status_field(StatusField::azure());
    let res = send(layer, &backend, "http://api.test/start")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.polls(), 2);
    assert_eq!(info.result_uri().unwrap(), "http://api.test/results/1");
    let history = History::of(&res).unwrap();
    assert!(
        history.steps().iter().any(|s| matches!(
            s,
            Step::Polled { status, .. } if *status == StatusCode::SEE_OTHER
        )),
        "{history:?}"
    );
    assert_eq!(text(res).await, "the result");

    // A status URL that merely moved (307) is still a status document.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [r(200)
            .body("<html>moved status page</html>")
            .step(Step::Redirected {
                status: StatusCode::TEMPORARY_REDIRECT,
                from: "http://api.test/jobs/1".parse().unwrap(),
                to: "http://api.test/v2/jobs/1".parse().unwrap(),
            })
            .final_uri("http://api.test/v2/jobs/1")],
    );
    let layer = AsyncPollLayer::new().status_field(StatusField::azure());
    let err = send(layer, &backend, "http://api.test/start")
        .await
        .unwrap_err();
    assert!(err.is_protocol_violation(), "{err}");
}
