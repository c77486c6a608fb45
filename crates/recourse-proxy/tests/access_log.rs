//! The access log lines carry the fields of the `recourse.request` span, read from a JSON
//! subscriber writing to a buffer, over real loopback connections.
//!
//! The subscriber is this thread's default; a current-thread runtime runs the proxy on
//! this thread too. This binary holds this one test.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use common::{client, config_for, start};
use recourse_proxy::{Config, Upstream};
use recourse_testkit::{Reply, TestServer};
use serde_json::Value;

/// A `MakeWriter` that appends to a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

impl Buffer {
    /// The JSON lines logged so far whose message is `message`.
    fn lines(&self, message: &str) -> Vec<Value> {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["fields"]["message"] == message)
            .collect()
    }
}

#[tokio::test]
async fn access_lines_carry_the_span_fields() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_writer(buffer.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let upstream = TestServer::start().await;
    upstream.fallback(
        "/page",
        Reply::ok().header("cache-control", "max-age=60").body("x"),
    );
    upstream.fallback("/gone", Reply::status(404));
    let proxy = start(config_for(&upstream)).await;
    let client = client();
    for path in ["/page?token=secret", "/page?token=secret", "/gone"] {
        let res = client.get(proxy.uri(path)).await.unwrap();
        drop(res);
    }
    let port = upstream.addr().port();
    let done = buffer.lines("done");
    assert_eq!(done.len(), 3, "one access line per request");
    for (line, status, cache, error) in [
        (&done[0], 200, "miss", None),
        (&done[1], 200, "hit", None),
        (&done[2], 404, "miss", Some("404")),
    ] {
        let span = &line["span"];
        assert_eq!(span["name"], "request");
        assert_eq!(span["http.request.method"], "GET");
        let path = if status == 404 { "/gone" } else { "/page" };
        assert_eq!(
            span["url.full"],
            format!("http://127.0.0.1:{port}{path}"),
            "url.full has no query: {line}"
        );
        assert_eq!(span["server.address"], "127.0.0.1");
        assert_eq!(span["server.port"], port);
        assert_eq!(span["client.address"], "127.0.0.1");
        let fields = &line["fields"];
        assert_eq!(fields["http.response.status_code"], status);
        assert_eq!(fields["recourse.cache.status"], cache);
        assert_eq!(fields["error.type"].as_str(), error, "{line}");
    }
    assert!(
        !buffer.0.lock().unwrap().windows(6).any(|w| w == b"secret"),
        "the query never reaches the log"
    );
    proxy.stop().await;

    // The proxy's own answer to an upstream it cannot reach: error.type is the kind.
    let dead = recourse_testkit::refused_uri();
    let mut config = Config::for_upstream(
        Upstream::parse(&format!("http://{}", dead.authority().unwrap())).unwrap(),
    );
    config.retry = false;
    config.cache = false;
    let proxy = start(config).await;
    let res = client.get(proxy.uri("/x")).await.unwrap();
    assert_eq!(res.status(), 502);
    let done = buffer.lines("done");
    let last = done.last().unwrap();
    assert_eq!(last["fields"]["http.response.status_code"], 502);
    assert_eq!(last["fields"]["error.type"], "connect", "{last}");
    assert!(last["fields"].get("recourse.cache.status").is_none());
    let failed = buffer.lines("upstream request failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["fields"]["error.type"], "connect");
    assert_eq!(
        failed[0]["span"]["url.full"],
        format!("http://{}/x", dead.authority().unwrap())
    );
    proxy.stop().await;
}
