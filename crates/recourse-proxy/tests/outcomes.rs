//! The facade's `recourse.requests` counter, read from the proxy's boxed errors: a
//! redirect the proxy would not follow is `not_followed` and a request body over the
//! limit is `client_error`, not a `transport_error`.
//!
//! Each test listens with its own recorder on its own (current-thread) runtime, which
//! runs the proxy's tasks too.

mod common;

use common::{config_for, start};
use http_body_util::BodyExt;
use recourse_proxy::metrics::Prometheus;
use recourse_testkit::{Reply, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `recourse_requests_total` line for `outcome` in `text`, if any.
fn outcomes(text: &str, outcome: &str) -> Option<f64> {
    let prefix = format!("recourse_requests_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn a_redirect_loop_is_not_followed() {
    let (prometheus, recorder) = Prometheus::build();
    let _listening = metrics::set_default_local_recorder(&recorder);
    let upstream = TestServer::start().await;
    upstream.fallback("/loop", Reply::status(302).header("location", "/loop"));
    let mut config = config_for(&upstream);
    config.follow_redirects = true;
    config.cache = false;
    let proxy = start(config).await;

    let res = common::client().get(proxy.uri("/loop")).await.unwrap();
    assert_eq!(res.status(), 502);
    res.into_body().collect().await.unwrap();
    proxy.stop().await;

    let text = prometheus.render();
    assert_eq!(outcomes(&text, "not_followed"), Some(1.0), "{text}");
    assert_eq!(outcomes(&text, "transport_error"), None, "{text}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_client_error() {
    let (prometheus, recorder) = Prometheus::build();
    let _listening = metrics::set_default_local_recorder(&recorder);
    let upstream = TestServer::start().await;
    upstream.fallback("/echo", Reply::echo());
    let mut config = config_for(&upstream);
    config.max_body = 16;
    let proxy = start(config).await;

    // Chunked, so that the limit is found while the body streams, not from its length.
    let mut conn = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let chunk = "x".repeat(64);
    let req = format!(
        "POST /echo HTTP/1.1\r\nhost: proxy.test\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    proxy.stop().await;

    let text = prometheus.render();
    assert_eq!(outcomes(&text, "client_error"), Some(1.0), "{text}");
    assert_eq!(outcomes(&text, "transport_error"), None, "{text}");
}
