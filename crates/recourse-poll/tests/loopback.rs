//! The poll layer around hyper-util's client, against the testkit's real servers on
//! 127.0.0.1, with paused time (the servers run on the test's runtime).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use recourse_core::{FinalUri, History, Step};
use recourse_poll::{
    AsyncPoll, AsyncPollLayer, PeekBody, PollInfo, PollOutcome, PollRequestBody, StatusField,
    TimeoutReason, ViolationKind,
};
use recourse_testkit::simulator::{JOB_FAILED_BODY, JOB_SUCCEEDED_BODY, OK_BODY};
use recourse_testkit::{Recorded, Reply, Simulator, TestServer};
use serde_json::json;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

type HttpClient = Client<HttpConnector, PollRequestBody<Full<Bytes>>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn polling(layer: AsyncPollLayer) -> AsyncPoll<HttpClient> {
    layer.layer(client())
}

fn post(uri: Uri) -> Request<Full<Bytes>> {
    Request::post(uri)
        .body(Full::from("data=0123456789012"))
        .expect("valid request")
}

async fn text(res: http::Response<PeekBody<hyper::body::Incoming>>) -> String {
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A handler that records the (paused) time of each request and answers from `replies`
/// in order, repeating the last.
fn timed(replies: Vec<Reply>) -> (Arc<Mutex<Vec<Instant>>>, impl Fn(&Recorded) -> Reply) {
    let times = Arc::new(Mutex::new(Vec::new()));
    let log = times.clone();
    let handler = move |_: &Recorded| {
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        log.push(Instant::now());
        let i = (log.len() - 1).min(replies.len() - 1);
        replies[i].clone()
    };
    (times, handler)
}

fn gaps(times: &Mutex<Vec<Instant>>, t0: Instant) -> Vec<Duration> {
    let times = times.lock().unwrap_or_else(PoisonError::into_inner);
    let mut last = t0;
    times
        .iter()
        .map(|t| {
            let gap = *t - last;
            last = *t;
            gap
        })
        .collect()
}

fn secs(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|s| Duration::from_secs(*s)).collect()
}

#[tokio::test(start_paused = true)]
async fn simulator_job_is_polled_to_completion() {
    let server = Simulator::start().await;
    let res = polling(AsyncPollLayer::new())
        .oneshot(post(server.uri("/barcode/async?polls=3&retry_after=1")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let info = PollInfo::of(&res).unwrap().clone();
    assert_eq!(info.polls(), 4, "three 202s, then the 200");
    assert_eq!(info.waited(), Duration::from_secs(4));
    assert_eq!(info.status_url(), &server.uri("/jobs/1"));
    assert_eq!(info.outcome(), PollOutcome::Succeeded);
    assert_eq!(History::of(&res).unwrap().polls(), 4);
    assert_eq!(text(res).await, JOB_SUCCEEDED_BODY);

    let polls = server.requests_to("/jobs/1");
    assert_eq!(polls.len(), 4);
    assert!(
        polls
            .iter()
            .all(|p| p.method == http::Method::GET && p.body.is_empty())
    );
    // The discarded 202 bodies were drained while waiting: one kept-alive connection.
    let first = server.requests()[0].connection;
    assert!(
        polls.iter().all(|p| p.connection == first),
        "connection reused"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_intervals_are_honoured_exactly() {
    let server = TestServer::start().await;
    let (start_times, start) = timed(vec![
        Reply::status(202)
            .header("location", "/jobs/7")
            .header("retry-after", "2"),
    ]);
    server.handle("/start", start);
    let (times, job) = timed(vec![
        Reply::status(202).header("retry-after", "3"),
        Reply::status(202).header("retry-after", "1"),
        Reply::status(202).header("retry-after", "5"),
        Reply::ok().body("done"),
    ]);
    server.handle("/jobs/7", job);

    let res = polling(AsyncPollLayer::new())
        .oneshot(post(server.uri("/start")))
        .await
        .unwrap();
    assert_eq!(text(res).await, "done");
    let t0 = start_times.lock().unwrap_or_else(PoisonError::into_inner)[0];
    assert_eq!(gaps(&times, t0), secs(&[2, 3, 1, 5]));
}

#[tokio::test(start_paused = true)]
async fn garbage_retry_after_falls_back_to_backoff() {
    let server = TestServer::start().await;
    let (start_times, start) = timed(vec![
        Reply::status(202)
            .header("location", "/jobs/1")
            .header("retry-after", "soon"),
    ]);
    server.handle("/start", start);
    let (times, job) = timed(vec![
        Reply::status(202).header("retry-after", "-5"),
        Reply::status(202).header("retry-after", "Wed, 99 Oct 2015 07:29:00 GMT"),
        Reply::ok(),
    ]);
    server.handle("/jobs/1", job);

    let res = polling(AsyncPollLayer::new())
        .oneshot(post(server.uri("/start")))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let t0 = start_times.lock().unwrap_or_else(PoisonError::into_inner)[0];
    // The backoff: 1 s, doubling.
    assert_eq!(gaps(&times, t0), secs(&[1, 2, 4]));
}

#[tokio::test(start_paused = true)]
async fn see_other_leads_to_the_result() {
    let server = Simulator::start().await;
    let res = polling(AsyncPollLayer::new())
        .oneshot(post(
            server.uri("/barcode/async?polls=1&retry_after=1&outcome=see-other"),
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.result_uri(), Some(&server.uri("/jobs/1/result")));
    assert_eq!(info.polls(), 2);
    assert_eq!(text(res).await, OK_BODY);
    assert_eq!(server.count("/jobs/1/result"), 1);
}

#[tokio::test(start_paused = true)]
async fn completion_from_the_body_field() {
    let server = TestServer::start().await;
    server.script(
        "/start",
        [Reply::status(202)
            .header("operation-location", "/operations/1")
            .header("retry-after", "1")],
    );
    let done = json!({"id": "1", "status": "Succeeded", "barcode": "0123456789012"});
    server.script(
        "/operations/1",
        [
            Reply::ok().json(&json!({"id": "1", "status": "NotStarted"})),
            Reply::ok().json(&json!({"id": "1", "status": "Running"})),
            Reply::ok().json(&done),
        ],
    );
    let res = polling(
        AsyncPollLayer::new()
            .status_headers(["operation-location", "location"])
            .status_field(StatusField::azure()),
    )
    .oneshot(post(server.uri("/start")))
    .await
    .unwrap();
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.polls(), 3);
    assert_eq!(info.field(), Some("Succeeded"));
    assert_eq!(
        text(res).await,
        done.to_string(),
        "body handed over unchanged"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_job() {
    let server = Simulator::start().await;
    let uri = server.uri("/barcode/async?polls=2&retry_after=1&outcome=failed");
    let res = polling(AsyncPollLayer::new().status_field(StatusField::new("status")))
        .oneshot(post(uri))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.outcome(), PollOutcome::Failed);
    assert_eq!(info.field(), Some("failed"));
    assert_eq!(text(res).await, JOB_FAILED_BODY);

    // An unknown job id: the status resource's 404 is the failed final response.
    let server = TestServer::start().await;
    server.script(
        "/start",
        [Reply::status(202).header("location", "/jobs/404")],
    );
    server.script("/jobs/404", [Reply::status(404).body("no such job")]);
    let res = polling(AsyncPollLayer::new())
        .oneshot(post(server.uri("/start")))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(PollInfo::of(&res).unwrap().outcome(), PollOutcome::Failed);
    assert_eq!(text(res).await, "no such job");
}

#[tokio::test(start_paused = true)]
async fn timeout_with_a_resumable_status_url() {
    let server = Simulator::start().await;
    let err = polling(AsyncPollLayer::new().max_polls(3))
        .oneshot(post(server.uri("/barcode/async?polls=6&retry_after=1")))
        .await
        .unwrap_err();
    let timeout = err.into_timeout().unwrap();
    assert_eq!(timeout.reason(), TimeoutReason::MaxPolls(3));
    assert_eq!(timeout.status_url(), &server.uri("/jobs/1"));
    assert_eq!(timeout.last_status(), Some(StatusCode::ACCEPTED));
    assert_eq!(timeout.polls(), 3);
    assert_eq!(server.count("/jobs/1"), 3);

    // Later, the caller resumes the job at its status URL.
    let res = polling(AsyncPollLayer::new())
        .oneshot(timeout.resume_request(Full::default()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(PollInfo::of(&res).unwrap().polls(), 4);
    assert_eq!(text(res).await, JOB_SUCCEEDED_BODY);
    assert_eq!(server.count("/jobs/1"), 7);
    assert_eq!(
        server.count("/barcode/async"),
        1,
        "the job was not started again"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_stops_the_polls() {
    let server = Simulator::start().await;
    let future = polling(AsyncPollLayer::new())
        .oneshot(post(server.uri("/barcode/async?polls=1000&retry_after=1")));
    let cut = tokio::time::timeout(Duration::from_millis(3500), future).await;
    assert!(cut.is_err(), "still polling when dropped");
    assert_eq!(server.count("/jobs/1"), 3);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(server.count("/jobs/1"), 3, "no request after the drop");
}

#[tokio::test(start_paused = true)]
async fn credentials_stay_on_the_original_origin() {
    let api = TestServer::start().await;
    let status = TestServer::start().await;
    api.script(
        "/start",
        [Reply::status(202).header("location", &status.uri("/jobs/1").to_string())],
    );
    api.script("/same", [Reply::status(202).header("location", "/jobs/2")]);
    status.script("/jobs/1", [Reply::ok()]);
    api.script("/jobs/2", [Reply::ok()]);

    for path in ["/start", "/same"] {
        let mut req = post(api.uri(path));
        let h = req.headers_mut();
        h.insert("authorization", "Bearer secret".parse().unwrap());
        h.insert("cookie", "session=s3cr3t".parse().unwrap());
        h.insert("user-agent", "recourse-poll-test".parse().unwrap());
        let res = polling(AsyncPollLayer::new().forward_headers(["user-agent"]))
            .oneshot(req)
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let cross = &status.requests_to("/jobs/1")[0];
    assert_eq!(
        cross.header("authorization"),
        None,
        "no credentials cross-origin"
    );
    assert_eq!(cross.header("cookie"), None);
    assert_eq!(cross.header("user-agent"), Some("recourse-poll-test"));
    let same = &api.requests_to("/jobs/2")[0];
    assert_eq!(same.header("authorization"), Some("Bearer secret"));
    assert_eq!(same.header("cookie"), Some("session=s3cr3t"));
}

#[tokio::test(start_paused = true)]
async fn hostile_status_services_end_in_typed_errors() {
    // Retry-After: 10^12 is clamped to 5 min, which does not fit in a 1 min timeout: the
    // layer stops at once rather than sleeping.
    let server = TestServer::start().await;
    server.script(
        "/start",
        [Reply::status(202)
            .header("location", "/jobs/1")
            .header("retry-after", "1000000000000")],
    );
    let t0 = Instant::now();
    let err = polling(AsyncPollLayer::new().time_limit(Duration::from_secs(60)))
        .oneshot(post(server.uri("/start")))
        .await
        .unwrap_err();
    assert_eq!(Instant::now(), t0);
    let timeout = err.timeout().unwrap();
    assert_eq!(timeout.next_wait(), Some(Duration::from_secs(300)));
    assert_eq!(server.count("/jobs/1"), 0);

    // A status server that accepts the poll and never answers: cut off at the timeout.
    let server = TestServer::start().await;
    server.script(
        "/start",
        [Reply::status(202)
            .header("location", "/jobs/1")
            .header("retry-after", "1")],
    );
    server.script("/jobs/1", [Reply::never()]);
    let t0 = Instant::now();
    let err = polling(AsyncPollLayer::new().time_limit(Duration::from_secs(30)))
        .oneshot(post(server.uri("/start")))
        .await
        .unwrap_err();
    assert_eq!(Instant::now() - t0, Duration::from_secs(30));
    let timeout = err.timeout().unwrap();
    assert_eq!(
        timeout.reason(),
        TimeoutReason::TimeLimit(Duration::from_secs(30))
    );
    assert_eq!(timeout.polls(), 0, "the only poll never completed");

    // A `javascript:` status URL is refused before any poll.
    let server = TestServer::start().await;
    server.script(
        "/start",
        [Reply::status(202).header("location", "javascript:alert(1)")],
    );
    let err = polling(AsyncPollLayer::new())
        .oneshot(post(server.uri("/start")))
        .await
        .unwrap_err();
    assert!(err.is_location(), "{err}");
    assert_eq!(server.total(), 1);
}

#[tokio::test(start_paused = true)]
async fn history_lists_every_poll_with_its_wait() {
    let server = Simulator::start().await;
    let res = polling(AsyncPollLayer::new())
        .oneshot(post(server.uri("/barcode/async?polls=2&retry_after=2")))
        .await
        .unwrap();
    let steps: Vec<_> = History::of(&res)
        .unwrap()
        .steps()
        .iter()
        .map(|s| match s {
            Step::Polled {
                poll,
                status,
                waited,
                uri,
            } => {
                assert_eq!(uri, &server.uri("/jobs/1"));
                (*poll, status.as_u16(), waited.as_secs())
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(steps, [(1, 202, 2), (2, 202, 2), (3, 200, 2)]);
}

// === composition: where the request is now, status monitors, any request body ===

#[tokio::test(start_paused = true)]
async fn a_202_after_a_redirect_below_polls_where_the_job_was_accepted() {
    // What the redirect layer below does after following `/v1/submit` to `/v2/submit`:
    // the request went to `/v2/submit`, and the response says so (`FinalUri`).
    let server = TestServer::start().await;
    server.script(
        "/v2/submit",
        [Reply::status(202).header("location", "status/1")],
    );
    server.script(
        "/v2/status/1",
        [
            Reply::status(202).header("retry-after", "1"),
            Reply::ok().body("done"),
        ],
    );
    let moved = server.uri("/v2/submit");
    let redirected = tower::service_fn(move |mut req: Request<PollRequestBody<Full<Bytes>>>| {
        let client = client();
        let moved = moved.clone();
        async move {
            let followed = req.uri().path() == "/v1/submit";
            if followed {
                *req.uri_mut() = moved.clone();
            }
            let mut res = client.request(req).await?;
            if followed {
                FinalUri::new(moved, None).insert_into(&mut res);
            }
            Ok::<_, hyper_util::client::legacy::Error>(res)
        }
    });
    let res = AsyncPollLayer::new()
        .layer(redirected)
        .oneshot(post(server.uri("/v1/submit")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.status_url(), &server.uri("/v2/status/1"));
    assert_eq!(info.polls(), 2);
    assert_eq!(text(res).await, "done");
    assert_eq!(
        server.count("/v1/status/1"),
        0,
        "not the URI first asked for"
    );
}

#[tokio::test(start_paused = true)]
async fn a_status_monitor_with_the_result_in_the_body() {
    let server = TestServer::start().await;
    server.script(
        "/things",
        [Reply::status(202)
            .header("operation-location", "/operations/1")
            .header("retry-after", "1")],
    );
    server.script(
        "/operations/1",
        [
            Reply::ok().json(&json!({"status": "Running"})),
            Reply::ok().json(&json!({"status": "Succeeded", "resourceLocation": "/things/1"})),
        ],
    );
    server.script("/things/1", [Reply::ok().json(&json!({"id": 1}))]);
    let res = polling(
        AsyncPollLayer::new()
            .status_headers(["operation-location", "location"])
            .status_field(StatusField::azure()),
    )
    .oneshot(post(server.uri("/things")))
    .await
    .unwrap();
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.result_uri().unwrap(), &server.uri("/things/1"));
    assert_eq!(text(res).await, r#"{"id":1}"#);

    // A status monitor that answers an error page with 200: a typed protocol violation.
    let server = TestServer::start().await;
    server.script(
        "/things",
        [Reply::status(202).header("operation-location", "/operations/1")],
    );
    server.script(
        "/operations/1",
        [Reply::ok()
            .header("content-type", "text/html")
            .body("<h1>maintenance</h1>")],
    );
    let err = polling(
        AsyncPollLayer::new()
            .status_headers(["operation-location"])
            .status_field(StatusField::new("status")),
    )
    .oneshot(post(server.uri("/things")))
    .await
    .unwrap_err();
    let violation = err.protocol_violation().expect("a protocol violation");
    assert_eq!(violation.status_url(), &server.uri("/operations/1"));
    assert_eq!(violation.kind(), &ViolationKind::NotJson);
}

#[tokio::test(start_paused = true)]
async fn a_streaming_request_body_without_default_goes_through() {
    let server = TestServer::start().await;
    server.script(
        "/upload",
        [Reply::status(202).header("location", "/jobs/1")],
    );
    server.script("/jobs/1", [Reply::ok().body("stored")]);
    let (tx, body) = recourse_testkit::body::channel(4);
    let client: Client<HttpConnector, PollRequestBody<recourse_testkit::body::ChannelBody>> =
        Client::builder(TokioExecutor::new()).build_http();
    let req = Request::post(server.uri("/upload")).body(body).unwrap();
    let sending = tokio::spawn(async move {
        tx.send(Bytes::from_static(b"part 1, ")).await.unwrap();
        tx.send(Bytes::from_static(b"part 2")).await.unwrap();
    });
    let res = AsyncPollLayer::new()
        .layer(client)
        .oneshot(req)
        .await
        .unwrap();
    sending.await.unwrap();
    assert_eq!(text(res).await, "stored");
    assert_eq!(server.requests_to("/upload")[0].body, "part 1, part 2");
    let poll = &server.requests_to("/jobs/1")[0];
    assert_eq!(poll.method, http::Method::GET);
    assert!(poll.body.is_empty());
}
