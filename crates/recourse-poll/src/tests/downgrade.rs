//! A job started over `https` never continues over `http` (unless allowed).

use super::*;

/// Whether the backend ever saw an `http` request (the tests below send only `https`).
fn saw_clear_text(backend: &Backend) -> bool {
    backend
        .seen()
        .iter()
        .any(|s| s.uri.scheme_str() != Some("https"))
}

#[tokio::test(start_paused = true)]
async fn an_https_status_url_on_http_is_refused_unpolled() {
    for location in [
        "http://api.test/jobs/1",
        "HTTP://api.test/jobs/1",
        "http://api.test:443/jobs/1",
        "http://elsewhere.test/jobs/1",
    ] {
        let backend = Backend::new();
        backend.script("/start", [accepted(location)]);
        backend.script("/jobs/1", [r(200).body("forged")]);
        let err = AsyncPollLayer::new()
            .layer(backend.service())
            .oneshot(post("https://api.test/start"))
            .await
            .unwrap_err();
        assert!(err.is_downgrade(), "{location}: {err}");
        assert!(!err.is_location() && !err.is_inner() && !err.is_timeout());
        let downgrade = err.downgrade().unwrap();
        assert_eq!(downgrade.from(), "https://api.test/start");
        assert_eq!(downgrade.to().scheme_str(), Some("http"), "{location}");
        assert_eq!(downgrade.header(), http::header::LOCATION);
        assert!(err.status_url().is_none(), "polling never started");
        let msg = err.to_string();
        assert!(msg.contains("https to http"), "{msg}");
        assert!(msg.contains("https://api.test/start -> http://"), "{msg}");
        assert_eq!(backend.seen().len(), 1, "{location}: nothing polled");
    }

    // From another status header too, reported under that header's name.
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202).h("operation-location", "http://api.test/ops/1")],
    );
    let err = AsyncPollLayer::new()
        .status_headers(["operation-location", "location"])
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    assert_eq!(
        err.downgrade().unwrap().header().as_str(),
        "operation-location"
    );
    assert!(err.to_string().contains("`operation-location`"), "{err}");
    assert_eq!(backend.seen().len(), 1);

    // A 201's Location with `fetch_created`.
    let backend = Backend::new();
    backend.script(
        "/things",
        [r(201).h("location", "http://api.test/things/1")],
    );
    let err = AsyncPollLayer::new()
        .fetch_created(true)
        .layer(backend.service())
        .oneshot(post("https://api.test/things"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    assert_eq!(backend.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn https_results_and_moved_status_urls_on_http_are_refused() {
    // A 303 from an https status resource to an http result.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [
            r(202).h("retry-after", "1"),
            r(303).h("location", "http://cdn.test/results/1"),
        ],
    );
    backend.script("/results/1", [r(200).body("forged")]);
    let err = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    let downgrade = err.downgrade().unwrap();
    assert_eq!(downgrade.from(), "https://api.test/jobs/1");
    assert_eq!(downgrade.to(), "http://cdn.test/results/1");
    assert_eq!(err.status_url().unwrap(), "https://api.test/jobs/1");
    assert_eq!(backend.seen_at("/jobs/1").len(), 2);
    assert!(backend.seen_at("/results/1").is_empty());
    assert!(!saw_clear_text(&backend));

    // A running 202 that moves the status URL to http.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [accepted("http://api.test/jobs/2")]);
    backend.script("/jobs/2", [r(200)]);
    let err = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    assert_eq!(err.downgrade().unwrap().to(), "http://api.test/jobs/2");
    assert!(backend.seen_at("/jobs/2").is_empty());
    assert!(!saw_clear_text(&backend));

    // FinalState::StatusLocation: the successful status response's Location.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(200).h("location", "http://api.test/made/1")]);
    let err = AsyncPollLayer::new()
        .final_state(FinalState::StatusLocation)
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    assert!(backend.seen_at("/made/1").is_empty());
    assert!(!saw_clear_text(&backend));

    // FinalState::InitialLocation: the original 202's Location, next to an https
    // Operation-Location.
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202)
            .h("operation-location", "/ops/1")
            .h("location", "http://api.test/made/2")],
    );
    backend.script("/ops/1", [r(200)]);
    let err = AsyncPollLayer::new()
        .status_headers(["operation-location", "location"])
        .final_state(FinalState::InitialLocation)
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    assert_eq!(
        err.downgrade().unwrap().from(),
        "https://api.test/start",
        "named by the response to the original request"
    );
    assert_eq!(backend.seen_at("/ops/1").len(), 1);
    assert!(backend.seen_at("/made/2").is_empty());
    assert!(!saw_clear_text(&backend));
}

#[tokio::test(start_paused = true)]
async fn same_scheme_and_upgrades_are_followed() {
    // https all the way, across origins.
    let backend = Backend::new();
    backend.script("/start", [accepted("https://jobs.test/jobs/1")]);
    backend.script(
        "/jobs/1",
        [r(303).h("location", "https://cdn.test/results/1")],
    );
    backend.script("/results/1", [r(200).body("result")]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap();
    assert_eq!(
        PollInfo::of(&res).unwrap().result_uri().unwrap(),
        "https://cdn.test/results/1"
    );
    assert_eq!(text(res).await, "result");

    // http to https (an upgrade), then https to https.
    let backend = Backend::new();
    backend.script("/start", [accepted("https://api.test/jobs/1")]);
    backend.script("/jobs/1", [r(303).h("location", "/results/1")]);
    backend.script("/results/1", [r(200).body("upgraded")]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(
        PollInfo::of(&res).unwrap().result_uri().unwrap(),
        "https://api.test/results/1"
    );
    assert_eq!(text(res).await, "upgraded");
    let schemes: Vec<_> = backend
        .seen()
        .iter()
        .map(|s| s.uri.scheme_str().map(str::to_owned))
        .collect();
    assert_eq!(
        schemes,
        [
            Some("http".into()),
            Some("https".into()),
            Some("https".into())
        ]
    );

    // http to http is not a downgrade.
    let backend = Backend::new();
    backend.script("/start", [accepted("http://other.test/jobs/1")]);
    backend.script("/jobs/1", [r(200).body("plain")]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "plain");
}

#[tokio::test(start_paused = true)]
async fn allow_downgrade_follows_https_to_http() {
    let backend = Backend::new();
    backend.script("/start", [accepted("http://api.test/jobs/1")]);
    backend.script(
        "/jobs/1",
        [
            r(202).h("retry-after", "1"),
            r(303).h("location", "/results/1"),
        ],
    );
    backend.script("/results/1", [r(200).body("in clear text")]);
    let res = AsyncPollLayer::new()
        .allow_downgrade(true)
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap();
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.status_url(), "http://api.test/jobs/1");
    assert_eq!(info.polls(), 2);
    assert_eq!(info.result_uri().unwrap(), "http://api.test/results/1");
    assert_eq!(text(res).await, "in clear text");
    // Another origin (http, not https): no credentials went along by default.
    assert_eq!(backend.seen_at("/jobs/1").len(), 2);

    // An https status resource's 303 to http, allowed.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [r(303).h("location", "http://cdn.test/results/1")],
    );
    backend.script("/results/1", [r(200).body("allowed")]);
    let res = AsyncPollLayer::new()
        .allow_downgrade(true)
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "allowed");

    // Turned back off: refused again.
    let backend = Backend::new();
    backend.script("/start", [accepted("http://api.test/jobs/1")]);
    let err = AsyncPollLayer::new()
        .allow_downgrade(true)
        .allow_downgrade(false)
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
}
