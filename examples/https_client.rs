//! The recommended stack around hyper-util's client over TLS (hyper-rustls), HTTP/2 or
//! HTTP/1.1 as ALPN decides: `recourse::https_client()` (feature `rustls`).
//!
//! ```sh
//! cargo run --example https_client                           # the simulator over local TLS
//! cargo run --example https_client -- https://example.com/   # any URL (Mozilla roots)
//! ```
//!
//! Without a URL it starts the barcode simulator on 127.0.0.1 behind a TLS front with a
//! certificate authority made on the spot, offering `h2` and `http/1.1`, and sends a few
//! rows of the table through the stack: every request, retry and redirect goes over one
//! pooled HTTP/2 connection.

use std::error::Error;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use recourse::History;
use recourse::classify::Outcome;
use recourse_testkit::Simulator;
use recourse_testkit::tls::{H2, HTTP11, TestPki, TlsFront};
use tower::ServiceExt;

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if let Some(url) = std::env::args().nth(1) {
        let client = recourse::https_client();
        let req = Request::get(url.as_str()).body(Full::<Bytes>::default())?;
        let res = client.oneshot(req).await?;
        println!(
            "{url}: {:?} {} ({})",
            res.version(),
            res.status(),
            Outcome::of(&res)
        );
        let body = res.into_body().collect().await?.to_bytes();
        println!("{} bytes", body.len());
        return Ok(());
    }

    let server = Simulator::start().await;
    let pki = TestPki::generate();
    let front = TlsFront::start(&server, &pki, &[H2, HTTP11]).await;
    // `https_client()` trusts the Mozilla roots; this one trusts the CA made above.
    let client = recourse::https_client_with(pki.client_config());

    let json = r#"{"Data":"012345678905"}"#;
    let requests = [
        ("GET", "/barcode/ok", ""),
        ("POST", "/barcode/old", json),
        ("GET", "/barcode/maintenance?failures=1", ""),
        ("POST", "/barcode/async?polls=1&retry_after=1", json),
    ];
    println!(
        "{:<5} {:<40} {:<9} {:<6} {:<33} outcome",
        "", "request", "version", "status", "the stack"
    );
    for (method, path, body) in requests {
        let req = Request::builder()
            .method(method)
            .uri(front.uri(path))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(body.as_bytes())))?;
        let res = client.clone().oneshot(req).await?;
        let did = History::of(&res).map_or_else(String::new, |h| {
            format!(
                "{} retries, {} redirects, {} polls",
                h.retries(),
                h.redirects(),
                h.polls()
            )
        });
        println!(
            "{method:<5} {path:<40} {:<9} {:<6} {did:<33} {}",
            format!("{:?}", res.version()),
            res.status().as_u16(),
            Outcome::of(&res)
        );
        res.into_body().collect().await?;
    }
    println!(
        "\nthe server saw {} requests over {} TLS connection(s), ALPN {:?}",
        server.total(),
        front.connections(),
        front
            .alpn()
            .iter()
            .map(|p| p.as_deref().map(String::from_utf8_lossy))
            .collect::<Vec<_>>()
    );
    Ok(())
}
