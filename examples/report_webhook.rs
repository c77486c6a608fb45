//! Reports of failed requests, posted to a webhook.
//!
//! The response-code table says "resubmit the request later. Report the issue" for a 500
//! and "... Report the outage" for a 503. Here the stack's reporter sends each report to
//! a channel, and a task posts it as JSON to a webhook, so that a slow webhook never
//! holds a request back. The barcode simulator and the webhook both run on loopback.
//!
//! ```text
//! cargo run --example report_webhook
//! ```
//!
//! The spans of the same requests reach OpenTelemetry with no more code: add
//! `tracing_opentelemetry::layer().with_tracer(tracer)` to your `tracing_subscriber`
//! registry (the spans carry `otel.name` and `otel.kind`; see `docs/OBSERVE.md`).

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use recourse::ClientStackLayer;
use recourse::report::{Report, Reporting};
use recourse_testkit::{Simulator, TestServer};
use tower::{Layer, ServiceExt};

/// The JSON a webhook gets for a report.
fn json(report: &Report) -> serde_json::Value {
    let attempts: Vec<_> = report
        .attempts
        .iter()
        .map(|a| {
            serde_json::json!({
                "attempt": a.attempt,
                "status": a.status.map(|s| s.as_u16()),
                "waited_ms": a.waited.as_millis() as u64,
                "next": a.next,
            })
        })
        .collect();
    serde_json::json!({
        "request_id": report.request_id,
        "method": report.method.as_str(),
        "origin": report.origin,
        "path": report.path,
        "status": report.status.map(|s| s.as_u16()),
        "body_code": report.body_code,
        "attempts": attempts,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = Simulator::start().await;
    let webhook = TestServer::start().await;
    let hook = webhook.uri("/hooks/recourse");

    // The reporter only hands the report over; the task does the slow part.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Report>();
    let poster = tokio::spawn(async move {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        while let Some(report) = rx.recv().await {
            let req = Request::post(hook.clone())
                .header("content-type", "application/json")
                .body(Full::from(json(&report).to_string()))
                .expect("a valid request");
            if let Err(e) = client.request(req).await {
                eprintln!("webhook: {e}");
            }
        }
    });

    let stack = ClientStackLayer::new()
        .deadline(Duration::from_secs(30))
        .report(Reporting::new(move |report: Report| {
            let _ = tx.send(report);
        }))
        .layer(Client::builder(TokioExecutor::new()).build_http());
    for path in [
        "/barcode/ok",
        "/barcode/maintenance?failures=1",
        "/barcode/broken",
        "/barcode/down",
        "/barcode/bad",
    ] {
        let req = Request::get(server.uri(path)).body(Full::<Bytes>::default())?;
        let res = stack.clone().oneshot(req).await?;
        println!("GET {path:<34} -> {}", res.status());
    }
    drop(stack);
    poster.await?;

    println!("\nThe webhook received:");
    for posted in webhook.requests_to("/hooks/recourse") {
        println!("  {}", String::from_utf8_lossy(&posted.body));
    }
    Ok(())
}
