//! Every row of the response-code table through reqwest: the bare `ReqwestService`, the
//! recommended stack around it, and the reqwest-middleware `RecourseMiddleware`, against
//! the barcode simulator over loopback, with paused time.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use recourse::History;
use recourse_reqwest::{RecourseMiddleware, ReqwestService, client, client_builder, not_sent};
use recourse_testkit::Simulator;
use recourse_testkit::body::channel;
use recourse_testkit::simulator::{OK_BODY, ROWS, UNAVAILABLE_BODY};
use reqwest_middleware::ClientBuilder;
use tower::ServiceExt;

fn reqwest_client() -> reqwest::Client {
    client_builder().build().unwrap()
}

/// What the recommended stack makes of each row's request (sent in order to one simulator).
fn through_the_stack(row_status: u16) -> u16 {
    match row_status {
        202 | 307 => 200, // polled to the result; followed to `/barcode/new`
        other => other,
    }
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
async fn every_row_through_the_stack_around_reqwest() {
    let server = Simulator::start().await;
    let stack = client(reqwest_client());
    for row in ROWS {
        let before = server.total();
        let res = stack.clone().oneshot(row.request(&server)).await.unwrap();
        assert_eq!(
            res.status().as_u16(),
            through_the_stack(row.status),
            "{}",
            row.meaning
        );
        let history = History::of(&res).cloned();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let sent = server.total() - before;
        match row.status {
            202 => assert!(history.unwrap().polls() >= 1, "{}", row.meaning),
            307 => {
                assert_eq!(history.unwrap().redirects(), 1);
                assert_eq!(body, row.body, "the 307 resubmits the same body");
                assert_eq!(sent, 2);
            }
            // GET rows: idempotent, retried up to the default `max_retries` (3).
            500 | 503 => {
                assert_eq!(sent, 4, "{}", row.meaning);
                assert_eq!(history.unwrap().retries(), 3);
            }
            _ => assert_eq!(sent, 1, "{}", row.meaning),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_streamed_post_body_is_followed_through_a_307() {
    let server = Simulator::start().await;
    let (tx, body) = channel(4);
    tokio::spawn(async move {
        for chunk in ["{\"Data\":", "\"012345678905\"", "}"] {
            tx.send(Bytes::from_static(chunk.as_bytes())).await.unwrap();
        }
    });
    let req = Request::post(server.uri("/barcode/old"))
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let res = client(reqwest_client()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(History::of(&res).unwrap().redirects(), 1);
    let seen = server.requests_to("/barcode/new");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, http::Method::POST);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, r#"{"Data":"012345678905"}"#);
}

#[tokio::test(start_paused = true)]
async fn a_keyless_post_is_never_resent() {
    let server = Simulator::start().await;
    let req = Request::post(server.uri("/barcode/down"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let res = client(reqwest_client()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.count("/barcode/down"), 1);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        UNAVAILABLE_BODY
    );
    // The same request as a GET is retried.
    let req = Request::get(server.uri("/barcode/maintenance?failures=2"))
        .body(Full::<Bytes>::default())
        .unwrap();
    let res = client(reqwest_client()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(server.count("/barcode/maintenance"), 3);
}

#[tokio::test(start_paused = true)]
async fn a_connection_refused_is_not_sent_and_is_retried_even_for_a_post() {
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
    let err = client(reqwest_client())
        .oneshot(Request::post(uri).body(Full::<Bytes>::default()).unwrap())
        .await
        .unwrap_err();
    // Retried until the retries ran out, then the connect error itself.
    let inner = err.into_inner().unwrap().into_inner().unwrap();
    let inner = inner.into_inner().unwrap();
    assert!(not_sent(&inner));
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
        assert_eq!(
            res.status().as_u16(),
            through_the_stack(row.status),
            "{}",
            row.meaning
        );
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
