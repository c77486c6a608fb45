//! The report the table asks for (issue 15): the reporter is called exactly once for a
//! 500 or a 503 whose retries ran out, never for a success, a retried-then-successful
//! request or a 4xx; reports sent to a channel are posted to a webhook by another task
//! (a real HTTP request to a loopback server).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use recourse::ClientStackLayer;
use recourse::report::{Report, Reporting};
use recourse_testkit::simulator::ROWS;
use recourse_testkit::{Simulator, TestServer};
use support::{HANG, get, stack_with, text};
use tokio::time::timeout;
use tower::ServiceExt;

/// A stack whose reports land in the returned list.
fn reporting_stack() -> (support::Stack, Arc<Mutex<Vec<Report>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let layer = ClientStackLayer::new().report(Reporting::new(move |r: Report| {
        sink.lock().unwrap().push(r)
    }));
    (stack_with(layer), seen)
}

async fn send(stack: &support::Stack, req: Request<Full<Bytes>>) -> StatusCode {
    let res = timeout(HANG, stack.clone().oneshot(req))
        .await
        .expect("in time")
        .expect("a response");
    let status = res.status();
    text(res).await.expect("the body");
    status
}

#[tokio::test(start_paused = true)]
async fn a_503_whose_retries_ran_out_is_reported_once_with_its_attempts() {
    let server = Simulator::start().await;
    let (stack, seen) = reporting_stack();
    let mut req = get(server.uri("/barcode/down?token=secret"));
    req.headers_mut()
        .insert("x-request-id", "req-42".parse().unwrap());
    assert_eq!(send(&stack, req).await, StatusCode::SERVICE_UNAVAILABLE);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    let report = &seen[0];
    assert_eq!(report.request_id, "req-42");
    assert_eq!(report.method, http::Method::GET);
    assert_eq!(report.origin, server.base().trim_end_matches('/'));
    assert_eq!(report.path, "/barcode/down", "no query");
    assert_eq!(report.status, Some(StatusCode::SERVICE_UNAVAILABLE));
    // The first send and three retries (the default), each 503, each after Retry-After: 1.
    assert_eq!(report.attempts.len(), 4, "{report:#?}");
    assert_eq!(report.attempts.len(), server.total());
    for (i, attempt) in report.attempts.iter().enumerate() {
        assert_eq!(attempt.attempt, i as u32 + 1);
        assert_eq!(attempt.status, Some(StatusCode::SERVICE_UNAVAILABLE));
        let expected = if i == 0 { 0 } else { 1 };
        assert_eq!(attempt.waited, Duration::from_secs(expected));
        let next = if i < 3 { Some("503") } else { None };
        assert_eq!(attempt.next, next);
    }
}

#[tokio::test(start_paused = true)]
async fn only_the_500_and_503_rows_are_reported_and_a_request_id_is_made_up() {
    let server = Simulator::start().await;
    let (stack, seen) = reporting_stack();
    for row in ROWS {
        send(&stack, row.request(&server)).await;
    }
    // A retried-then-successful request, and a success.
    send(&stack, get(server.uri("/barcode/maintenance?failures=2"))).await;
    send(&stack, get(server.uri("/barcode/flaky?failures=1"))).await;
    let seen = seen.lock().unwrap();
    let statuses: Vec<_> = seen.iter().map(|r| r.status.map(|s| s.as_u16())).collect();
    assert_eq!(statuses, [Some(500), Some(503)], "{seen:#?}");
    assert_eq!(
        seen[0].request_id.len(),
        16,
        "made up: {}",
        seen[0].request_id
    );
    assert_ne!(seen[0].request_id, seen[1].request_id);
}

#[tokio::test(start_paused = true)]
async fn other_classes_are_reported_when_configured() {
    let server = Simulator::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let layer = ClientStackLayer::new().report(
        Reporting::new(move |r: Report| sink.lock().unwrap().push(r))
            .class(recourse::Class::ClientError)
            .with_query(true),
    );
    let stack = stack_with(layer);
    send(&stack, get(server.uri("/barcode/missing?x=1"))).await;
    send(&stack, get(server.uri("/barcode/ok"))).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].status, Some(StatusCode::NOT_FOUND));
    assert_eq!(seen[0].path, "/barcode/missing?x=1");
}

#[tokio::test(start_paused = true)]
async fn reports_sent_to_a_channel_are_posted_to_a_webhook() {
    let server = Simulator::start().await;
    let webhook = TestServer::start().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Report>();
    let layer = ClientStackLayer::new().report(Reporting::new(move |r: Report| {
        let _ = tx.send(r);
    }));
    let stack = stack_with(layer);
    let hook = webhook.uri("/hooks/recourse");
    let poster = tokio::spawn(async move {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        while let Some(report) = rx.recv().await {
            let body = serde_json::json!({
                "request_id": report.request_id,
                "method": report.method.as_str(),
                "origin": report.origin,
                "path": report.path,
                "status": report.status.map(|s| s.as_u16()),
                "attempts": report.attempts.len(),
            });
            let req = Request::post(hook.clone())
                .header("content-type", "application/json")
                .body(Full::from(body.to_string()))
                .unwrap();
            client.request(req).await.expect("the webhook answered");
        }
    });
    send(&stack, get(server.uri("/barcode/broken"))).await;
    send(&stack, get(server.uri("/barcode/ok"))).await;
    drop(stack);
    timeout(HANG, poster).await.expect("in time").unwrap();
    let posted = webhook.requests_to("/hooks/recourse");
    assert_eq!(posted.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&posted[0].body).unwrap();
    assert_eq!(body["status"], 500);
    assert_eq!(body["path"], "/barcode/broken");
    assert_eq!(body["attempts"], 4);
    assert_eq!(posted[0].method, http::Method::POST);
}
