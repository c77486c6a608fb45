//! The demo: every row of the barcode service's response-code table, end to end.
//!
//! Starts the testkit's simulator of the barcode service (its response-code table is in
//! `docs/BEHAVIOUR.md`) on 127.0.0.1, sends requests for each row of the table through the full Recourse client
//! stack (deadline, poll, redirect, cache, retry, classify) around hyper-util's client,
//! and prints what the server did, what the stack did, and the final outcome.
//!
//! ```text
//! cargo run --example barcode
//! cargo run --example barcode -- --trace     # and the span tree of each request
//! cargo run --example barcode -- --metrics   # and the metrics the stack recorded
//! ```
//!
//! The spans and metrics are those of `docs/OBSERVE.md`: with `--trace` a capturing
//! `tracing` layer (the testkit's `Spans`) prints each request's `recourse.request` span
//! and its `recourse.attempt` spans; with `--metrics` `metrics-util`'s debugging recorder
//! prints every counter, gauge and histogram count at the end. With
//! `tracing-opentelemetry` installed as a layer instead, the same spans become
//! OpenTelemetry client spans (`otel.name`, `otel.kind` are set), with no other code.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use recourse::cache::CacheOutcome;
use recourse::classify::Outcome;
use recourse::{Class, ClientStackLayer, History, Step};
use recourse_testkit::Simulator;
use recourse_testkit::spans::Spans;
use tower::{Layer, ServiceExt};

/// One request of the demo: the row it shows, and how to make it.
struct Case {
    row: &'static str,
    note: &'static str,
    method: Method,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
}

const JSON: &[(&str, &str)] = &[("content-type", "application/json")];
const BODY: &str = r#"{"Data":"012345678905","Symbology":"UPC-A"}"#;

fn case(row: &'static str, note: &'static str, method: Method, path: &'static str) -> Case {
    let (headers, body) = if method == Method::GET {
        (&[][..], "")
    } else {
        (JSON, BODY)
    };
    Case {
        row,
        note,
        method,
        path,
        headers,
        body,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case("200", "Response.Code 0", Method::POST, "/barcode/ok"),
        case("200", "Response.Code 7", Method::POST, "/barcode/app-error"),
        case("201", "created", Method::POST, "/barcode"),
        case(
            "202",
            "job, 2 polls",
            Method::POST,
            "/barcode/async?polls=2&retry_after=1",
        ),
        case("304", "1st GET: stored", Method::GET, "/barcode/cached"),
        Case {
            headers: &[("cache-control", "max-age=0")],
            ..case(
                "304",
                "2nd GET: must revalidate",
                Method::GET,
                "/barcode/cached",
            )
        },
        case("304", "3rd GET: fresh", Method::GET, "/barcode/cached"),
        case("307", "POST with a body", Method::POST, "/barcode/old"),
        case("400", "Errors block", Method::POST, "/barcode/bad"),
        case("401", "", Method::GET, "/barcode/unauthorized"),
        case("403", "", Method::GET, "/barcode/forbidden"),
        case("404", "", Method::GET, "/barcode/missing"),
        case("405", "POST to GET-only", Method::POST, "/barcode/get-only"),
        case("409", "", Method::POST, "/barcode/conflict"),
        case(
            "500",
            "fails twice",
            Method::GET,
            "/barcode/flaky?failures=2",
        ),
        case(
            "503",
            "Retry-After: 1, twice",
            Method::GET,
            "/barcode/maintenance?failures=2",
        ),
    ]
}

/// What the layers did, from the response's extensions.
fn stack_did<B>(res: &http::Response<B>) -> String {
    let mut parts = Vec::new();
    if let Some(history) = History::of(res) {
        let retries: Vec<_> = history
            .steps()
            .iter()
            .filter_map(|s| match s {
                Step::Retried { waited, .. } => Some(waited.as_millis()),
                _ => None,
            })
            .collect();
        if !retries.is_empty() {
            let waits: Vec<String> = retries.iter().map(|ms| format!("{ms} ms")).collect();
            parts.push(format!(
                "retried {}x after {}",
                retries.len(),
                waits.join(", ")
            ));
        }
        for step in history.steps() {
            if let Step::Redirected { status, to, .. } = step {
                parts.push(format!("followed {} to {}", status.as_u16(), to.path()));
            }
        }
        if history.polls() > 0 {
            parts.push(format!(
                "polled {}x, waited {} ms",
                history.polls(),
                history.waited().as_millis()
            ));
        }
        if history
            .steps()
            .iter()
            .any(|s| matches!(s, Step::Revalidated { .. }))
        {
            parts.push("revalidated".to_owned());
        }
    }
    match CacheOutcome::of(res) {
        Some(CacheOutcome::Hit) => parts.push("cache hit".to_owned()),
        Some(CacheOutcome::Revalidated) => parts.push("304 -> stored copy".to_owned()),
        Some(CacheOutcome::Miss) if res.status() == 200 && res.headers().contains_key("etag") => {
            parts.push("stored".to_owned())
        }
        _ => {}
    }
    if parts.is_empty() {
        "passed on".to_owned()
    } else {
        parts.join("; ")
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let trace = std::env::args().any(|a| a == "--trace");
    let show_metrics = std::env::args().any(|a| a == "--metrics");
    // The current-thread runtime polls every layer's future on this thread.
    let spans = trace.then(Spans::install);
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = show_metrics.then(|| metrics::set_default_local_recorder(&recorder));
    let mut trees = String::new();
    let server = Simulator::start().await;
    let hyper_client = Client::builder(TokioExecutor::new()).build_http();
    let stack = ClientStackLayer::new()
        .deadline(Duration::from_secs(30))
        .layer(hyper_client);

    println!(
        "Recourse demo: the barcode service's response codes, over loopback at {}\n",
        server.base()
    );
    let mut table = String::new();
    writeln!(
        table,
        "{:<4} {:<25} {:<44} {:<25} {:<44} {:<6} outcome",
        "row", "case", "request", "server saw", "the stack", "status"
    )?;
    writeln!(table, "{}", "-".repeat(170))?;
    let mut failures = 0;
    for case in cases() {
        let mut req = Request::builder()
            .method(case.method.clone())
            .uri(server.uri(case.path));
        for (name, value) in case.headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(Bytes::from_static(case.body.as_bytes())))?;
        let before = server.requests();
        let res = stack.clone().oneshot(req).await;
        let after = server.requests();
        let seen: Vec<String> = after[before.len()..]
            .iter()
            .map(|r| {
                let conditional = r.headers.contains_key("if-none-match")
                    || r.headers.contains_key("if-modified-since");
                format!("{}{}", r.method, if conditional { "(cond)" } else { "" })
            })
            .collect();
        let seen = if seen.is_empty() {
            "no request".to_owned()
        } else {
            format!("{} req: {}", seen.len(), seen.join(","))
        };
        let request = format!("{} {}", case.method, case.path);
        if let Some((spans, _)) = &spans {
            let _ = writeln!(
                trees,
                "{} {}:\n{}",
                case.row,
                case.note,
                Spans::tree(&spans.take())
            );
        }
        match res {
            Ok(res) => {
                let did = stack_did(&res);
                let status = res.status().as_u16();
                let outcome = format!("{:?}: {}", Class::of(&res), Outcome::of(&res));
                let _ = res.into_body().collect().await?;
                writeln!(
                    table,
                    "{:<4} {:<25} {:<44} {:<25} {:<44} {:<6} {}",
                    case.row, case.note, request, seen, did, status, outcome
                )?;
            }
            Err(e) => {
                failures += 1;
                writeln!(
                    table,
                    "{:<4} {:<25} {:<44} {:<25} {:<44} {:<6} error: {e}",
                    case.row, case.note, request, seen, "", "-"
                )?;
            }
        }
    }
    print!("{table}");
    println!("\n{} requests reached the server.", server.total());
    if trace {
        println!("\nSpans (recourse.request, and a recourse.attempt per request sent):\n\n{trees}");
    }
    if show_metrics {
        println!("\nMetrics recorded (docs/OBSERVE.md):\n");
        let mut lines: Vec<String> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let (_, key) = key.into_parts();
                let labels: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                let value = match value {
                    metrics_util::debugging::DebugValue::Counter(n) => n.to_string(),
                    metrics_util::debugging::DebugValue::Gauge(v) => format!("{} (gauge)", v),
                    metrics_util::debugging::DebugValue::Histogram(v) => {
                        let sum: f64 = v.iter().map(|x| x.into_inner()).sum();
                        format!("{} observations, {:.3} s in all", v.len(), sum)
                    }
                };
                format!("{} {{{}}} {}", key.name(), labels.join(","), value)
            })
            .collect();
        lines.sort();
        for line in lines {
            println!("  {line}");
        }
    }
    server.shutdown().await;
    if failures > 0 {
        return Err(format!("{failures} cases ended in an error").into());
    }
    Ok(())
}
