//! `recourse.poll.outcomes`: one count per poll job, by how it ended, checked with
//! `metrics-util`'s debugging recorder around the poll layer and hyper-util's client,
//! against the testkit's real servers on 127.0.0.1 (paused time).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use recourse_poll::{AsyncPoll, AsyncPollLayer, PollRequestBody, StatusField};
use recourse_testkit::{Reply, Simulator, TestServer};
use tower::{Layer, ServiceExt};

type HttpClient = Client<HttpConnector, PollRequestBody<Full<Bytes>>>;

fn polling(layer: AsyncPollLayer) -> AsyncPoll<HttpClient> {
    layer.layer(Client::builder(TokioExecutor::new()).build_http())
}

fn post(uri: Uri) -> Request<Full<Bytes>> {
    Request::post(uri)
        .body(Full::from("data=1"))
        .expect("valid request")
}

/// Adds the `recourse.poll.outcomes` counters since the last snapshot (a snapshot resets
/// them) to `out`, by their `outcome` label, and returns the totals.
fn outcomes(snapshotter: &Snapshotter, out: &mut BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let (_, key) = key.into_parts();
        if key.name() != "recourse.poll.outcomes" {
            continue;
        }
        let labels: Vec<_> = key.labels().map(|l| (l.key(), l.value())).collect();
        assert_eq!(labels.len(), 1, "one label: {labels:?}");
        assert_eq!(labels[0].0, "outcome");
        let DebugValue::Counter(n) = value else {
            panic!("a counter");
        };
        if n > 0 {
            *out.entry(labels[0].1.to_owned()).or_default() += n;
        }
    }
    out.clone()
}

#[tokio::test(start_paused = true)]
async fn each_job_is_counted_once_by_how_it_ended() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let mut totals = BTreeMap::new();
    let server = Simulator::start().await;

    // Succeeded after three polls: one count, not one per poll.
    let res = polling(AsyncPollLayer::new())
        .oneshot(post(server.uri("/barcode/async?polls=3&retry_after=1")))
        .await
        .expect("the job's result");
    assert_eq!(res.status(), 200);
    res.into_body().collect().await.expect("the body");
    assert_eq!(
        outcomes(&snapshotter, &mut totals),
        BTreeMap::from([("succeeded".into(), 1)])
    );

    // Failed (the status field says so).
    let failed = server.uri("/barcode/async?polls=2&retry_after=1&outcome=failed");
    let res = polling(AsyncPollLayer::new().status_field(StatusField::new("status")))
        .oneshot(post(failed))
        .await
        .expect("the failed status response");
    res.into_body().collect().await.expect("the body");
    // Stopped by the maximum number of polls.
    let err = polling(AsyncPollLayer::new().max_polls(2))
        .oneshot(post(server.uri("/barcode/async?polls=6&retry_after=1")))
        .await
        .expect_err("stopped on the limit");
    assert!(err.is_timeout(), "{err}");

    let other = TestServer::start().await;
    // A response that starts no job counts nothing.
    other.script("/plain", [Reply::ok()]);
    let res = polling(AsyncPollLayer::new())
        .oneshot(post(other.uri("/plain")))
        .await
        .expect("a response");
    res.into_body().collect().await.expect("the body");
    // A status URL that cannot be followed, refused before any poll.
    other.script(
        "/start",
        [Reply::status(202).header("location", "javascript:alert(1)")],
    );
    let err = polling(AsyncPollLayer::new())
        .oneshot(post(other.uri("/start")))
        .await
        .expect_err("refused");
    assert!(err.is_location(), "{err}");
    // A time limit that the first wait does not fit in.
    other.script(
        "/slow",
        [Reply::status(202)
            .header("location", "/jobs/1")
            .header("retry-after", "120")],
    );
    let err = polling(AsyncPollLayer::new().time_limit(Duration::from_secs(60)))
        .oneshot(post(other.uri("/slow")))
        .await
        .expect_err("stopped on the time limit");
    assert!(err.is_timeout(), "{err}");
    // The status server goes away: the inner service's error on a poll.
    let gone = TestServer::start().await;
    gone.script(
        "/start",
        [Reply::status(202)
            .header("location", &recourse_testkit::refused_uri().to_string())
            .header("retry-after", "1")],
    );
    let err = polling(AsyncPollLayer::new())
        .oneshot(post(gone.uri("/start")))
        .await
        .expect_err("the poll cannot connect");
    assert!(err.is_inner(), "{err}");

    assert_eq!(
        outcomes(&snapshotter, &mut totals),
        BTreeMap::from([
            ("error".into(), 1),
            ("failed".into(), 1),
            ("location".into(), 1),
            ("max_polls".into(), 1),
            ("succeeded".into(), 1),
            ("time_limit".into(), 1),
        ])
    );
}
