//! Terminal states and results: status codes, the body field, 303, 201, `FinalState`, policies.

use super::*;

#[tokio::test(start_paused = true)]
async fn see_other_fetches_the_result() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "1")]);
    backend.script(
        "/jobs/1",
        [
            r(202).h("retry-after", "1"),
            r(303).h("location", "/results/1"),
        ],
    );
    backend.script("/results/1", [r(200).body("result body")]);
    let svc = AsyncPollLayer::new().layer(backend.service());
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.polls(), 2);
    assert_eq!(info.result_uri().unwrap(), "http://api.test/results/1");
    assert_eq!(History::of(&res).unwrap().polls(), 2);
    assert_eq!(text(res).await, "result body");
    let fetch = &backend.seen_at("/results/1")[0];
    assert_eq!(fetch.method, Method::GET);

    // A 303 without a Location cannot be followed: a typed error with the status URL.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(303)]);
    let err = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_location(), "{err}");
    assert_eq!(err.status_url().unwrap(), "http://api.test/jobs/1");
}

#[tokio::test(start_paused = true)]
async fn completion_from_the_body_field_with_the_body_unchanged() {
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202)
            .h("operation-location", "http://api.test/operations/9")
            .h("retry-after", "2")],
    );
    let done = r#"{"id":"9","status":"Succeeded","result":{"barcode":"0123"}}"#;
    backend.script(
        "/operations/9",
        [
            r(200).body(r#"{"id":"9","status":"NotStarted"}"#),
            r(200).body(r#"{"id":"9","status":"InProgress"}"#),
            r(200).body(done),
        ],
    );
    let svc = AsyncPollLayer::new()
        .status_headers(["operation-location", "location"])
        .status_field(StatusField::azure())
        .min_interval(Duration::from_secs(1))
        .layer(backend.service());
    let t0 = Instant::now();
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    // 2 s from the 202's Retry-After, then the backoff: its second and third steps.
    assert_eq!(gaps(&backend, "/operations/9", t0), secs(&[2, 2, 4]));
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.field(), Some("Succeeded"));
    assert_eq!(info.outcome(), PollOutcome::Succeeded);
    assert!(res.body().is_peeked());
    assert_eq!(text(res).await, done);
}

#[tokio::test(start_paused = true)]
async fn a_failed_job_returns_the_failed_status_response() {
    // By the body field...
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    let failed = r#"{"status":"failed","error":{"code":"E13"}}"#;
    backend.script(
        "/jobs/1",
        [r(200).body(r#"{"status":"running"}"#), r(200).body(failed)],
    );
    let svc = AsyncPollLayer::new()
        .status_field(StatusField::new("status"))
        .layer(backend.service());
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.outcome(), PollOutcome::Failed);
    assert_eq!(info.polls(), 2);
    assert_eq!(text(res).await, failed);

    // ...by the status code...
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(202), r(500).body("boom")]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(PollInfo::of(&res).unwrap().outcome(), PollOutcome::Failed);
    assert_eq!(text(res).await, "boom");

    // ...and by the classify layer's verdict in the extensions.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(200).class(Class::ApplicationFailure)]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(PollInfo::of(&res).unwrap().outcome(), PollOutcome::Failed);
}

#[tokio::test(start_paused = true)]
async fn responses_that_start_no_job_pass_through() {
    let backend = Backend::new();
    backend.script("/ok", [r(200).body("plain")]);
    backend.script("/created", [r(201).h("location", "/things/1")]);
    backend.script("/accepted-nowhere", [r(202).body("queued")]);
    let mut svc = AsyncPollLayer::new().layer(backend.service());
    for (path, status, body) in [
        ("/ok", 200, "plain"),
        ("/created", 201, ""),
        ("/accepted-nowhere", 202, "queued"),
    ] {
        let res = svc
            .ready()
            .await
            .unwrap()
            .call(post(&format!("http://api.test{path}")))
            .await
            .unwrap();
        assert_eq!(res.status(), status);
        assert!(PollInfo::of(&res).is_none());
        assert!(!res.body().is_peeked());
        assert_eq!(text(res).await, body);
    }
    assert_eq!(backend.seen().len(), 3, "no request of the layer's own");
}

#[tokio::test(start_paused = true)]
async fn fetch_created_gets_the_new_resource() {
    let backend = Backend::new();
    backend.script("/things", [r(201).h("location", "/things/1")]);
    backend.script("/things/1", [r(200).body("thing 1")]);
    let svc = AsyncPollLayer::new()
        .fetch_created(true)
        .layer(backend.service());
    let res = svc.oneshot(post("http://api.test/things")).await.unwrap();
    assert_eq!(res.status(), 200);
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.polls(), 0);
    assert_eq!(info.result_uri().unwrap(), "http://api.test/things/1");
    assert_eq!(text(res).await, "thing 1");
}

#[tokio::test(start_paused = true)]
async fn final_state_via_locations() {
    // The successful status response's Location.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(200).h("location", "/made/1")]);
    backend.script("/made/1", [r(200).body("made")]);
    let res = AsyncPollLayer::new()
        .final_state(FinalState::StatusLocation)
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "made");

    // The initial 202's Location, the status URL coming from Operation-Location.
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202)
            .h("operation-location", "/ops/1")
            .h("location", "/made/2")],
    );
    backend.script("/ops/1", [r(200).body(r#"{"status":"succeeded"}"#)]);
    backend.script("/made/2", [r(200).body("made 2")]);
    let res = AsyncPollLayer::new()
        .status_headers(["operation-location", "location"])
        .final_state(FinalState::InitialLocation)
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(
        PollInfo::of(&res).unwrap().status_url(),
        "http://api.test/ops/1"
    );
    assert_eq!(text(res).await, "made 2");

    // No Location to fetch: the status response itself.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(200).body("status")]);
    let res = AsyncPollLayer::new()
        .final_state(FinalState::StatusLocation)
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "status");
}

#[tokio::test(start_paused = true)]
async fn closure_policy_and_moving_status_url() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    // The first poll moves the job to another status URL.
    backend.script("/jobs/1", [r(202).h("location", "/jobs/1b")]);
    backend.script(
        "/jobs/1b",
        [
            r(200).h("x-state", "working"),
            r(200).h("x-state", "done").body("ok"),
        ],
    );
    let svc = AsyncPoll::with_policy(backend.service(), |job: &JobStatus<'_>| {
        match job.headers().get("x-state").map(|v| v.as_bytes()) {
            Some(b"working") => Decision::Running,
            Some(b"done") => Decision::Succeeded,
            _ => job.standard(),
        }
    });
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.polls(), 3);
    assert_eq!(info.status_url(), "http://api.test/jobs/1b");
    assert_eq!(text(res).await, "ok");
    assert_eq!(backend.seen_at("/jobs/1b").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn bodies_over_the_limit_or_malformed_leave_it_to_the_status() {
    let big = format!(r#"{{"status":"running","pad":"{}"}}"#, "x".repeat(100_000));
    for body in [big.as_str(), "{not json", r#"{"status":"running""#] {
        let backend = Backend::new();
        backend.script("/start", [accepted("/jobs/1")]);
        backend.script("/jobs/1", [r(200).body(body)]);
        // Not strict: the status code decides (strict, the default, is tested below).
        let res = AsyncPollLayer::new()
            .status_field(StatusField::new("status").strict(false))
            .layer(backend.service())
            .oneshot(post("http://api.test/start"))
            .await
            .unwrap();
        let info = PollInfo::of(&res).unwrap();
        assert_eq!(info.outcome(), PollOutcome::Succeeded);
        assert_eq!(info.polls(), 1);
        assert_eq!(info.field(), None);
        assert_eq!(text(res).await, body, "handed over unchanged");
    }
}

#[tokio::test(start_paused = true)]
async fn only_a_202_moves_the_status_url() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [
            r(200)
                .h("location", "/results/1")
                .body(r#"{"status":"running"}"#),
            r(200)
                .h("location", "/results/1")
                .body(r#"{"status":"succeeded"}"#),
        ],
    );
    let res = AsyncPollLayer::new()
        .status_field(StatusField::new("status"))
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(PollInfo::of(&res).unwrap().polls(), 2);
    assert_eq!(backend.seen_at("/jobs/1").len(), 2);
    assert!(backend.seen_at("/results/1").is_empty());
}

#[tokio::test(start_paused = true)]
async fn policy_hooks_adjust_poll_requests_and_start() {
    /// Signs every poll and treats a 200 with `x-async: 1` as the start of a job.
    #[derive(Clone)]
    struct Signing;

    impl crate::Policy for Signing {
        fn decide(&mut self, job: &JobStatus<'_>) -> Decision {
            job.standard()
        }
        fn start(&mut self, status: StatusCode, headers: &HeaderMap) -> bool {
            status == StatusCode::ACCEPTED || headers.contains_key("x-async")
        }
        fn on_request(&mut self, uri: &Uri, headers: &mut HeaderMap) {
            let signature = format!("sig:{}", uri.path());
            headers.insert("x-signature", signature.parse().expect("ascii"));
        }
    }

    let backend = Backend::new();
    backend.script(
        "/start",
        [r(200).h("x-async", "1").h("location", "/jobs/1")],
    );
    backend.script("/jobs/1", [r(202), r(200).body("done")]);
    let res = AsyncPollLayer::new()
        .policy(Signing)
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "done");
    let polls = backend.seen_at("/jobs/1");
    assert_eq!(polls.len(), 2);
    assert!(
        polls
            .iter()
            .all(|p| p.headers["x-signature"] == "sig:/jobs/1")
    );
}
