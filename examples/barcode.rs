//! The demo: every row of the barcode service's response-code table, end to end.
//!
//! Starts the testkit's simulator of the service in `seeds/response-codes.txt` on
//! 127.0.0.1, sends one request per row of the table through the Recourse stack over
//! loopback, and prints what the server said and what the stack made of it.
//!
//! ```text
//! cargo run --example barcode
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use recourse_classify::{ClassifyLayer, Outcome};
use recourse_core::Class;
use recourse_testkit::Simulator;
use recourse_testkit::simulator::ROWS;
use tower::{ServiceBuilder, ServiceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = Simulator::start().await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let stack = ServiceBuilder::new().layer(ClassifyLayer::new()).service(client);

    println!("Recourse demo: the barcode service's response codes, over loopback at {}\n", server.base());
    let mut table = String::new();
    writeln!(table, "{:<5} {:<52} {:<28} {:<6} {:<19} verdict", "row", "what the server means", "request", "status", "class")?;
    writeln!(table, "{}", "-".repeat(140))?;
    let mut mismatches = 0;
    for row in ROWS {
        let req = row.request(&server);
        let request = format!("{} {}", row.method, row.path);
        let res = tokio::time::timeout(Duration::from_secs(10), stack.clone().oneshot(req)).await??;
        let status = res.status().as_u16();
        let class = Class::of(&res);
        let outcome = Outcome::of(&res);
        // Drain the body so the connection goes back to the pool.
        let _ = res.into_body().collect().await?;
        if status != row.status {
            mismatches += 1;
        }
        writeln!(
            table,
            "{:<5} {:<52} {:<28} {:<6} {:<19} {}",
            row.status,
            row.meaning,
            request,
            status,
            format!("{class:?}"),
            outcome
        )?;
    }
    print!("{table}");
    println!("\n{} rows, {} requests to the server.", ROWS.len(), server.total());
    server.shutdown().await;
    if mismatches > 0 {
        return Err(format!("{mismatches} rows got a status other than the table's").into());
    }
    Ok(())
}
