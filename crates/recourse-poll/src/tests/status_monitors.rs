//! Status monitors in the wild: strict status fields, result URLs in the body, conflicting
//! status headers.

use super::*;

#[tokio::test(start_paused = true)]
async fn a_status_body_that_does_not_decide_is_a_protocol_violation() {
    let big = format!(r#"{{"status":"running","pad":"{}"}}"#, "x".repeat(100_000));
    for (body, kind) in [
        ("<html>busy</html>", ViolationKind::NotJson),
        (r#"{"id":"1"}"#, ViolationKind::MissingField),
        (
            r#"{"status":"Paused"}"#,
            ViolationKind::UnknownValue("Paused".into()),
        ),
        (big.as_str(), ViolationKind::TooLarge(DEFAULT_PEEK_LIMIT)),
    ] {
        let backend = Backend::new();
        backend.script("/start", [accepted("/jobs/1")]);
        backend.script("/jobs/1", [r(200).body(body)]);
        let err = send(
            AsyncPollLayer::new().status_field(StatusField::new("status")),
            &backend,
            "http://api.test/start",
        )
        .await
        .unwrap_err();
        assert!(err.is_protocol_violation(), "{err}");
        assert_eq!(err.status_url().unwrap(), "http://api.test/jobs/1");
        let violation = err.protocol_violation().unwrap();
        assert_eq!(violation.status_url(), "http://api.test/jobs/1");
        assert_eq!(violation.status(), StatusCode::OK);
        assert_eq!(violation.field().to_string(), "status");
        assert_eq!(violation.kind(), &kind);
        assert!(err.to_string().contains("http://api.test/jobs/1"), "{err}");
    }

    // A failure verdict of the classify layer decides: the failed response is returned.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [r(200)
            .body("no status here")
            .class(Class::ApplicationFailure)],
    );
    let res = send(
        AsyncPollLayer::new().status_field(StatusField::new("status")),
        &backend,
        "http://api.test/start",
    )
    .await
    .unwrap();
    assert_eq!(PollInfo::of(&res).unwrap().outcome(), PollOutcome::Failed);

    // A 202 says "running" by itself, whatever its body; the presets' leniencies decide
    // before strictness does.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [
            r(202).body("queued"),
            r(200).body(r#"{"status":"Updating"}"#),
            r(200).body(r#"{"status":"Succeeded"}"#),
        ],
    );
    let res = send(
        AsyncPollLayer::new().status_field(StatusField::azure()),
        &backend,
        "http://api.test/start",
    )
    .await
    .unwrap();
    assert_eq!(PollInfo::of(&res).unwrap().polls(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_result_url_can_come_from_a_body_field() {
    let backend = Backend::new();
    backend.script(
        "/v1/things",
        [r(202)
            .h("azure-asyncoperation", "operations/9")
            .h("location", "/v1/things/9")
            .final_uri("https://api.test/v2/things")],
    );
    backend.script(
        "/v2/operations/9",
        [
            r(200).body(r#"{"status":"InProgress"}"#),
            r(200).body(r#"{"status":"Succeeded","resourceLocation":"../things/9"}"#),
        ],
    );
    backend.script("/v2/things/9", [r(200).body("thing 9")]);
    let res = send(
        AsyncPollLayer::new()
            .status_headers(["azure-asyncoperation", "operation-location", "location"])
            .status_field(StatusField::azure()),
        &backend,
        "https://api.test/v1/things",
    )
    .await
    .unwrap();
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.status_url(), "https://api.test/v2/operations/9");
    assert_eq!(info.result_uri().unwrap(), "https://api.test/v2/things/9");
    assert_eq!(text(res).await, "thing 9");

    // A custom path, and an http result URL from an https status is refused.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [r(200).body(r#"{"job":{"state":"done","output":"http://api.test/out"}}"#)],
    );
    let err = send(
        AsyncPollLayer::new()
            .status_field(StatusField::new("job.state").result_field("job.output")),
        &backend,
        "https://api.test/start",
    )
    .await
    .unwrap_err();
    let downgrade = err.downgrade().unwrap();
    assert_eq!(downgrade.to(), "http://api.test/out");
    assert_eq!(downgrade.header().as_str(), "job.output");
    assert!(backend.seen_at("/out").is_empty());
}

#[tokio::test(start_paused = true)]
async fn conflicting_status_urls_are_typed_errors() {
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202).h("location", "/jobs/1").h("location", "/jobs/2")],
    );
    let err = send(AsyncPollLayer::new(), &backend, "http://api.test/start")
        .await
        .unwrap_err();
    assert!(err.is_location(), "{err}");
    assert_eq!(
        err.location().unwrap().0,
        &recourse_core::headers::LocationError::Conflicting
    );
    assert!(backend.seen_at("/jobs/1").is_empty());

    // Repeats of one value are that value.
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202).h("location", "/jobs/1").h("location", "/jobs/1")],
    );
    backend.script("/jobs/1", [r(200)]);
    let res = send(AsyncPollLayer::new(), &backend, "http://api.test/start")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
