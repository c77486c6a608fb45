//! Every row of the response-code table through the recommended stack around reqwest
//! (`recourse::reqwest_client`, feature `reqwest`), against the barcode simulator over
//! loopback with paused time; a streamed POST followed through a 307, a keyless POST never
//! resent.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use recourse::History;
use recourse::reqwest::client_builder;
use recourse_testkit::Simulator;
use recourse_testkit::body::channel;
use recourse_testkit::simulator::{ROWS, UNAVAILABLE_BODY};
use tower::ServiceExt;

/// The stack under test: `recourse::reqwest_client` around a client from `client_builder`.
fn stack() -> recourse::ClientStack<recourse::reqwest::ReqwestService> {
    recourse::reqwest_client(client_builder().build().unwrap())
}

#[tokio::test(start_paused = true)]
async fn every_row_through_the_stack_around_reqwest() {
    let server = Simulator::start().await;
    let stack = stack();
    for row in ROWS {
        let before = server.total();
        let res = stack.clone().oneshot(row.request(&server)).await.unwrap();
        assert_eq!(
            res.status().as_u16(),
            // 202: polled to the result; 307: followed to `/barcode/new`.
            if matches!(row.status, 202 | 307) {
                200
            } else {
                row.status
            },
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
    let res = stack().oneshot(req).await.unwrap();
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
    let res = stack().oneshot(req).await.unwrap();
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
    let res = stack().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(server.count("/barcode/maintenance"), 3);
}
