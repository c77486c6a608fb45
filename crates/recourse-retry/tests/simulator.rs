//! The source table's 500 and 503 rows, end to end: the barcode simulator over loopback
//! behind hyper-util's client and the retry layer, with paused time.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use recourse_core::body::ReplayBody;
use recourse_core::{History, Step};
use recourse_retry::{RetryInfo, RetryLayer, StopReason};
use recourse_testkit::Simulator;
use recourse_testkit::simulator::{OK_BODY, UNAVAILABLE_BODY};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

fn retrying() -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = http::Response<hyper::body::Incoming>,
    Error = hyper_util::client::legacy::Error,
> + Clone {
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    RetryLayer::new().random_source(|| 1.0).layer(client)
}

fn waits<B>(res: &http::Response<B>) -> Vec<(u16, Duration)> {
    History::of(res)
        .map(|h| {
            h.steps()
                .iter()
                .filter_map(|s| match s {
                    Step::Retried { status, waited, .. } => {
                        Some((status.map_or(0, |s| s.as_u16()), *waited))
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn the_500_row_is_resubmitted_with_backoff_until_it_succeeds() {
    let server = Simulator::start().await;
    let req = Request::get(server.uri("/barcode/flaky?failures=2"))
        .body(Full::default())
        .unwrap();
    let res = retrying().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(server.count("/barcode/flaky"), 3);
    assert_eq!(
        waits(&res),
        [
            (500, Duration::from_millis(100)),
            (500, Duration::from_millis(200))
        ]
    );
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), OK_BODY);
}

#[tokio::test(start_paused = true)]
async fn the_503_row_is_resubmitted_after_its_retry_after() {
    let server = Simulator::start().await;
    let req = Request::get(server.uri("/barcode/maintenance?failures=2"))
        .body(Full::default())
        .unwrap();
    let started = Instant::now();
    let res = retrying().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(Instant::now() - started, Duration::from_secs(2));
    assert_eq!(
        waits(&res),
        [(503, Duration::from_secs(1)), (503, Duration::from_secs(1))]
    );
    assert_eq!(RetryInfo::of(&res).unwrap().attempts(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_service_that_stays_down_gets_the_last_503_back() {
    let server = Simulator::start().await;
    let req = Request::get(server.uri("/barcode/down"))
        .header("x-request-id", "scan-1")
        .body(Full::default())
        .unwrap();
    let res = retrying().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.count("/barcode/down"), 4);
    let info = RetryInfo::of(&res).unwrap();
    assert_eq!(
        (info.attempts(), info.stopped()),
        (4, Some(StopReason::MaxRetries { max: 3 }))
    );
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        UNAVAILABLE_BODY
    );
}

#[tokio::test(start_paused = true)]
async fn other_rows_are_not_retried() {
    let server = Simulator::start().await;
    for (path, status) in [
        ("/barcode/ok", 200),
        ("/barcode/app-error", 200),
        ("/barcode/bad", 400),
        ("/barcode/unauthorized", 401),
        ("/barcode/forbidden", 403),
        ("/barcode/missing", 404),
        ("/barcode/conflict", 409),
        ("/barcode/old", 307),
    ] {
        let req = Request::get(server.uri(path))
            .body(Full::default())
            .unwrap();
        let res = retrying().oneshot(req).await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        assert!(RetryInfo::of(&res).is_none(), "{path}");
        assert_eq!(server.count(path), 1, "{path}");
    }
}
