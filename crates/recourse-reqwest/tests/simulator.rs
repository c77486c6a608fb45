//! Every row of the response-code table through reqwest: the bare `ReqwestService`, the
//! recommended stack around it, and the reqwest-middleware `RecourseMiddleware`, against
//! the barcode simulator over loopback, with paused time.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use recourse_reqwest::{RecourseMiddleware, ReqwestService, client_builder, not_sent};
use recourse_testkit::Simulator;
use recourse_testkit::body::channel;
use recourse_testkit::simulator::{OK_BODY, ROWS};
use reqwest_middleware::ClientBuilder;
use tower::ServiceExt;

fn reqwest_client() -> reqwest::Client {
    client_builder().build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn every_row_gets_its_status_through_the_bare_service() {
    let server = Simulator::start().await;
    let service = ReqwestService::new(reqwest_client());
    for row in ROWS {
        let res = service.clone().oneshot(row.request(&server)).await.unwrap();
        assert_eq!(res.status().as_u16(), row.status, "{}", row.meaning);
    }
    // Nothing is followed or retried: one request per row.
    assert_eq!(server.total(), ROWS.len());
}

#[tokio::test(start_paused = true)]
async fn a_connection_refused_is_not_sent() {
    let uri = recourse_testkit::refused_uri();
    let err = ReqwestService::new(reqwest_client())
        .oneshot(
            Request::post(uri.clone())
                .body(Full::<Bytes>::default())
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(not_sent(&err), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn every_row_through_the_middleware() {
    let server = Simulator::start().await;
    let client = ClientBuilder::new(reqwest_client())
        .with(RecourseMiddleware::new())
        .build();
    for row in ROWS {
        let before = server.total();
        let mut builder = client
            .request(row.method.clone(), server.uri(row.path).to_string())
            .body(row.body);
        for (name, value) in row.headers {
            builder = builder.header(*name, *value);
        }
        let res = builder.send().await.unwrap();
        // The layers poll the 202 to its result and follow the 307 to `/barcode/new`.
        let expected = if matches!(row.status, 202 | 307) {
            200
        } else {
            row.status
        };
        assert_eq!(res.status().as_u16(), expected, "{}", row.meaning);
        let sent = server.total() - before;
        let body = res.bytes().await.unwrap();
        match row.status {
            307 => {
                assert_eq!(body, row.body);
                assert_eq!(sent, 2);
            }
            500 | 503 => assert_eq!(sent, 4, "{}", row.meaning),
            202 => assert!(sent >= 2),
            _ => assert_eq!(sent, 1, "{}", row.meaning),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_middleware_follows_a_streamed_307_and_never_resends_a_keyless_post() {
    let server = Simulator::start().await;
    let client = ClientBuilder::new(reqwest_client())
        .with(RecourseMiddleware::new())
        .build();
    let (tx, body) = channel(4);
    tokio::spawn(async move {
        for chunk in ["strea", "med"] {
            tx.send(Bytes::from_static(chunk.as_bytes())).await.unwrap();
        }
    });
    let res = client
        .post(server.uri("/barcode/old").to_string())
        .body(reqwest::Body::wrap(body))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "streamed");

    let res = client
        .post(server.uri("/barcode/down").to_string())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(server.count("/barcode/down"), 1);

    let res = client
        .get(server.uri("/barcode/flaky?failures=2").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap(), OK_BODY);
    assert_eq!(server.count("/barcode/flaky"), 3);
}

#[tokio::test(start_paused = true)]
async fn the_middleware_ends_a_request_at_its_deadline() {
    let server = Simulator::start().await;
    let client = ClientBuilder::new(reqwest_client())
        .with(RecourseMiddleware::new().deadline(std::time::Duration::from_secs(1)))
        .build();
    let err = client
        .get(server.uri("/barcode/slow?ms=5000").to_string())
        .send()
        .await
        .unwrap_err();
    let reqwest_middleware::Error::Middleware(err) = err else {
        panic!("expected the deadline, got {err:?}");
    };
    assert!(err.is::<recourse_reqwest::DeadlineElapsed>(), "{err:?}");
}
