//! The scriptable server, exercised with a real hyper-util client over loopback.

mod common;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{call, client, find_source, get, h2_client, header, request, send};
use http::{Method, Version};
use http_body_util::BodyExt;
use recourse_testkit::{Reply, TestServer, refused_uri};
use tokio::time::{Instant, timeout};

#[tokio::test]
async fn script_then_last_reply_repeats() {
    let server = TestServer::start().await;
    server.script(
        "/s",
        [
            Reply::status(503).header("retry-after", "1"),
            Reply::ok().body("done"),
        ],
    );
    let client = client();

    let first = get(&client, server.uri("/s")).await;
    assert_eq!(first.status(), 503);
    assert_eq!(header(&first, "retry-after"), "1");
    assert!(first.body().is_empty());

    for _ in 0..3 {
        let next = get(&client, server.uri("/s")).await;
        assert_eq!(next.status(), 200);
        assert_eq!(next.body(), "done");
    }
    assert_eq!(server.count("/s"), 4);
}

#[tokio::test]
async fn script_then_fallback() {
    let server = TestServer::start().await;
    server.script("/s", [Reply::status(500), Reply::status(502)]);
    server.fallback("/s", Reply::status(204));
    let client = client();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&client, server.uri("/s")).await.status().as_u16());
    }
    assert_eq!(statuses, [500, 502, 204, 204]);
}

#[tokio::test]
async fn rescripting_replaces_pending_replies() {
    let server = TestServer::start().await;
    server.script("/s", [Reply::status(500), Reply::status(501)]);
    let client = client();
    assert_eq!(get(&client, server.uri("/s")).await.status(), 500);
    server.script("/s", [Reply::status(202)]);
    assert_eq!(get(&client, server.uri("/s")).await.status(), 202);
    assert_eq!(get(&client, server.uri("/s")).await.status(), 202);
}

#[tokio::test]
async fn unknown_paths_are_404_and_recorded() {
    let server = TestServer::start().await;
    server.script("/known", [Reply::ok()]);
    let response = get(&client(), server.uri("/unknown?x=1")).await;
    assert_eq!(response.status(), 404);
    assert!(
        String::from_utf8_lossy(response.body()).contains("/unknown"),
        "{:?}",
        response.body()
    );
    assert_eq!(server.count("/unknown"), 1);
    assert_eq!(server.count("/known"), 0);
    assert_eq!(server.total(), 1);
}

#[tokio::test]
async fn an_empty_script_without_fallback_is_404() {
    let server = TestServer::start().await;
    server.script("/empty", []);
    assert_eq!(get(&client(), server.uri("/empty")).await.status(), 404);
}

#[tokio::test]
async fn records_method_uri_headers_and_body() {
    let server = TestServer::start().await;
    server.fallback("/r", Reply::status(201));
    let client = client();
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let response = send(
        &client,
        request(
            "PUT",
            server.uri("/r?a=1&b=two"),
            body.clone(),
            &[
                ("x-custom", "one"),
                ("content-type", "application/octet-stream"),
            ],
        ),
    )
    .await
    .expect("PUT");
    assert_eq!(response.status(), 201);
    call(&client, "DELETE", server.uri("/r"), Bytes::new()).await;

    let recorded = server.requests_to("/r");
    assert_eq!(recorded.len(), 2);
    let first = &recorded[0];
    assert_eq!(first.method, Method::PUT);
    assert_eq!(first.uri, "/r?a=1&b=two");
    assert_eq!(first.path, "/r");
    assert_eq!(first.query(), Some("a=1&b=two"));
    assert_eq!(first.query_param("b"), Some("two"));
    assert_eq!(first.header("x-custom"), Some("one"));
    assert_eq!(first.headers["content-type"], "application/octet-stream");
    assert_eq!(first.body, body);
    assert_eq!(first.version, Version::HTTP_11);
    assert_eq!(recorded[1].method, Method::DELETE);
    assert!(recorded[1].body.is_empty());
    // Keep-alive: both requests came on the same connection.
    assert_eq!(first.connection, recorded[1].connection);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn counts_are_exact_under_concurrency() {
    let server = Arc::new(TestServer::start().await);
    const N: usize = 64;
    server.script("/c", (0..N).map(|i| Reply::ok().body(i.to_string())));
    server.fallback("/c", Reply::status(410));
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..N {
        let client = client.clone();
        let uri = server.uri("/c");
        tasks.spawn(async move { get(&client, uri).await });
    }
    let mut seen = [false; N];
    while let Some(response) = tasks.join_next().await {
        let response = response.expect("task");
        assert_eq!(response.status(), 200);
        let index: usize = std::str::from_utf8(response.body())
            .expect("utf8")
            .parse()
            .expect("index");
        assert!(!seen[index], "reply {index} served twice");
        seen[index] = true;
    }
    assert!(seen.iter().all(|s| *s));
    assert_eq!(server.count("/c"), N);
    assert_eq!(server.total(), N);
    assert_eq!(get(&client, server.uri("/c")).await.status(), 410);
}

#[tokio::test]
async fn handler_sees_the_request_and_keeps_state() {
    let server = TestServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    server.handle("/h", move |req| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        Reply::ok().header("x-call", &n.to_string()).body(format!(
            "{} {}",
            req.method,
            req.body.len()
        ))
    });
    let client = client();
    let first = call(&client, "POST", server.uri("/h"), "abc").await;
    assert_eq!(first.body(), "POST 3");
    assert_eq!(header(&first, "x-call"), "0");
    let second = get(&client, server.uri("/h")).await;
    assert_eq!(second.body(), "GET 0");
    assert_eq!(header(&second, "x-call"), "1");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn script_runs_before_handler() {
    let server = TestServer::start().await;
    server.script("/h", [Reply::status(503)]);
    server.handle("/h", |_| Reply::status(200));
    let client = client();
    assert_eq!(get(&client, server.uri("/h")).await.status(), 503);
    assert_eq!(get(&client, server.uri("/h")).await.status(), 200);
    assert_eq!(get(&client, server.uri("/h")).await.status(), 200);
}

#[tokio::test]
async fn a_panicking_handler_answers_500() {
    let server = TestServer::start().await;
    server.handle("/p", |_| panic!("handler bug"));
    let client = client();
    let response = get(&client, server.uri("/p")).await;
    assert_eq!(response.status(), 500);
    assert!(String::from_utf8_lossy(response.body()).contains("panicked"));
    // The server keeps working.
    server.fallback("/ok", Reply::ok());
    assert_eq!(get(&client, server.uri("/ok")).await.status(), 200);
}

#[tokio::test]
async fn prefix_routes_longest_first_exact_wins() {
    let server = TestServer::start().await;
    server.handle_prefix("/", |_| Reply::status(299));
    server.handle_prefix("/a/", |req| Reply::ok().body(req.path.clone()));
    server.fallback("/a/exact", Reply::status(202));
    let client = client();
    let response = get(&client, server.uri("/a/b/c")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "/a/b/c");
    assert_eq!(get(&client, server.uri("/a/exact")).await.status(), 202);
    assert_eq!(get(&client, server.uri("/other")).await.status(), 299);
}

#[tokio::test]
async fn json_body_and_headers() {
    let server = TestServer::start().await;
    server.fallback(
        "/j",
        Reply::status(400)
            .json(&serde_json::json!({"Errors": [{"Code": "E1"}]}))
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2"),
    );
    let response = get(&client(), server.uri("/j")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(header(&response, "content-type"), "application/json");
    assert_eq!(response.body(), r#"{"Errors":[{"Code":"E1"}]}"#);
    let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(header(&response, "content-length"), "26");
}

#[tokio::test]
async fn echo_returns_method_and_body_byte_for_byte() {
    let server = TestServer::start().await;
    server.fallback("/e", Reply::echo());
    let client = client();
    let body: Vec<u8> = (0..=255u8).rev().cycle().take(70_000).collect();
    let response = call(&client, "PATCH", server.uri("/e"), body.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-echo-method"), "PATCH");
    assert_eq!(response.body(), &body[..]);
}

#[tokio::test(start_paused = true)]
async fn delay_holds_the_reply_until_time_advances() {
    let server = TestServer::start().await;
    server.fallback(
        "/slow",
        Reply::ok().body("late").delay(Duration::from_secs(10)),
    );
    let client = client();
    let start = Instant::now();
    let uri = server.uri("/slow");
    let pending = tokio::spawn(async move { get(&client, uri).await });

    // The request is recorded at once; the reply waits for the delay.
    assert!(server.wait_for(1, Duration::from_secs(1)).await);
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(!pending.is_finished(), "replied before the delay elapsed");
    let response = pending.await.expect("task");
    assert_eq!(response.body(), "late");
    assert!(
        start.elapsed() >= Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn chunked_body_streams_with_gaps() {
    let server = TestServer::start().await;
    let chunks = vec![
        Bytes::from("one,"),
        Bytes::from("two,"),
        Bytes::from("three"),
    ];
    server.fallback("/c", Reply::ok().chunked(chunks, Duration::from_secs(2)));
    let client = client();
    let start = Instant::now();
    let response = client.get(server.uri("/c")).await.expect("GET");
    assert_eq!(header_of(&response, "transfer-encoding"), "chunked");
    assert!(response.headers().get("content-length").is_none());
    let mut body = response.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            frames.push((data, start.elapsed()));
        }
    }
    let text: Vec<u8> = frames.iter().flat_map(|(d, _)| d.to_vec()).collect();
    assert_eq!(text, b"one,two,three");
    // The last chunk came only after two gaps.
    let (_, last_at) = frames.last().expect("frames");
    assert!(*last_at >= Duration::from_secs(4), "{last_at:?}");
}

fn header_of<B>(response: &http::Response<B>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn endless_body_never_ends() {
    let server = TestServer::start().await;
    server.fallback("/forever", Reply::ok().endless());
    server.fallback("/ok", Reply::ok());
    let client = client();
    let response = client.get(server.uri("/forever")).await.expect("GET");
    let mut body = response.into_body();
    let mut received = 0usize;
    let limit = 2 * 1024 * 1024;
    let mut frames = 0;
    while received < limit {
        frames += 1;
        assert!(frames < 100_000, "bounded loop");
        let frame = body
            .frame()
            .await
            .expect("the endless body ended")
            .expect("frame");
        if let Ok(data) = frame.into_data() {
            received += data.len();
        }
    }
    assert!(received >= limit);
    drop(body);
    // The server still answers.
    assert_eq!(get(&client, server.uri("/ok")).await.status(), 200);
}

#[tokio::test]
async fn close_drops_the_connection_without_answering() {
    let server = TestServer::start().await;
    server.script("/x", [Reply::close(), Reply::ok()]);
    let client = client();
    let err = send(&client, request("POST", server.uri("/x"), "payload", &[]))
        .await
        .expect_err("the connection was closed");
    let hyper_err = find_source::<hyper::Error>(&err).expect("a hyper error");
    assert!(hyper_err.is_incomplete_message(), "{hyper_err:?}");
    // The request was read and recorded before the close.
    assert_eq!(server.count("/x"), 1);
    assert_eq!(server.requests_to("/x")[0].body, "payload");
    // The next request gets a fresh connection and an answer.
    assert_eq!(get(&client, server.uri("/x")).await.status(), 200);
}

#[tokio::test]
async fn reset_aborts_the_connection_with_rst() {
    let server = TestServer::start().await;
    server.script("/x", [Reply::reset(), Reply::ok()]);
    let client = client();
    let err = send(&client, request("GET", server.uri("/x"), Bytes::new(), &[]))
        .await
        .expect_err("the connection was reset");
    let io_err = find_source::<io::Error>(&err).expect("an io error");
    assert_eq!(io_err.kind(), io::ErrorKind::ConnectionReset, "{io_err:?}");
    assert_eq!(server.count("/x"), 1);
    assert_eq!(get(&client, server.uri("/x")).await.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn never_keeps_the_client_waiting() {
    let server = TestServer::start().await;
    server.fallback("/n", Reply::never());
    let client = client();
    let start = Instant::now();
    let result = timeout(Duration::from_secs(30), get(&client, server.uri("/n"))).await;
    assert!(result.is_err(), "a reply arrived");
    assert!(start.elapsed() >= Duration::from_secs(30));
    assert_eq!(server.count("/n"), 1);
}

#[tokio::test(start_paused = true)]
async fn delayed_close_waits_then_closes() {
    let server = TestServer::start().await;
    server.fallback("/x", Reply::close().delay(Duration::from_secs(3)));
    let start = Instant::now();
    let err = send(
        &client(),
        request("GET", server.uri("/x"), Bytes::new(), &[]),
    )
    .await
    .expect_err("closed");
    assert!(start.elapsed() >= Duration::from_secs(3));
    assert!(find_source::<hyper::Error>(&err).is_some_and(|e| e.is_incomplete_message()));
}

#[tokio::test]
async fn refused_uri_refuses() {
    let uri = refused_uri();
    assert_eq!(uri.host(), Some("127.0.0.1"));
    let err = send(&client(), request("GET", uri, Bytes::new(), &[]))
        .await
        .expect_err("nothing listens");
    assert!(err.is_connect(), "{err:?}");
    let io_err = find_source::<io::Error>(&err).expect("an io error");
    assert_eq!(io_err.kind(), io::ErrorKind::ConnectionRefused);
}

#[tokio::test(start_paused = true)]
async fn wait_for_is_bounded() {
    let server = TestServer::start().await;
    server.fallback("/w", Reply::ok());
    assert!(!server.wait_for(1, Duration::from_secs(5)).await);
    let client = client();
    let uri = server.uri("/w");
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        get(&client, uri).await
    });
    assert!(server.wait_for(1, Duration::from_secs(5)).await);
    assert!(server.wait_for_path("/w", 1, Duration::from_secs(1)).await);
    assert!(
        !server
            .wait_for_path("/other", 1, Duration::from_secs(1))
            .await
    );
    assert_eq!(task.await.expect("task").status(), 200);
}

#[tokio::test]
async fn http2_prior_knowledge() {
    let server = TestServer::start().await;
    server.fallback("/h2", Reply::echo());
    let response = call(&h2_client(), "POST", server.uri("/h2"), "over h2").await;
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.body(), "over h2");
    let recorded = &server.requests_to("/h2")[0];
    assert_eq!(recorded.version, Version::HTTP_2);
    assert_eq!(recorded.path, "/h2");
}

#[tokio::test(start_paused = true)]
async fn shutdown_finishes_in_flight_replies_then_refuses() {
    let server = Arc::new(TestServer::start().await);
    server.fallback(
        "/slow",
        Reply::ok().body("finished").delay(Duration::from_secs(1)),
    );
    server.fallback("/hang", Reply::never());
    let client = client();
    let slow = tokio::spawn({
        let (client, uri) = (client.clone(), server.uri("/slow"));
        async move { get(&client, uri).await }
    });
    let hang = tokio::spawn({
        let (client, uri) = (common::client(), server.uri("/hang"));
        async move { send(&client, request("GET", uri, Bytes::new(), &[])).await }
    });
    assert!(server.wait_for(2, Duration::from_secs(1)).await);

    let start = Instant::now();
    server.shutdown().await;
    // The hung connection was dropped at once rather than waited for.
    assert!(start.elapsed() < recourse_testkit::SHUTDOWN_GRACE);
    assert_eq!(slow.await.expect("task").body(), "finished");
    assert!(hang.await.expect("task").is_err());

    let err = send(
        &common::client(),
        request("GET", server.uri("/slow"), Bytes::new(), &[]),
    )
    .await
    .expect_err("no longer listening");
    assert!(err.is_connect(), "{err:?}");
    server.shutdown().await; // idempotent
}

#[tokio::test]
async fn drop_stops_accepting() {
    let server = TestServer::start().await;
    let addr = server.addr();
    assert_eq!(server.base(), format!("http://{addr}"));
    drop(server);
    let mut refused = false;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        match tokio::net::TcpStream::connect(addr).await {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => {}
        }
    }
    assert!(refused, "the listener is still open after drop");
}

#[tokio::test]
async fn uri_helpers() {
    let server = TestServer::start().await;
    let uri = server.uri("p?q=1");
    assert_eq!(uri.path(), "/p");
    assert_eq!(uri.query(), Some("q=1"));
    assert_eq!(uri.port_u16(), Some(server.addr().port()));
    assert!(server.try_uri("/bad path").is_err());
}

#[tokio::test]
async fn response_trailers_follow_the_body() {
    let server = TestServer::start().await;
    server.fallback(
        "/t",
        Reply::ok().body("payload").trailer("x-checksum", "abc123"),
    );
    // hyper sends HTTP/1.1 trailers only to a client that accepts them.
    let response = client()
        .request(request(
            "GET",
            server.uri("/t"),
            Bytes::new(),
            &[("te", "trailers")],
        ))
        .await
        .expect("GET");
    assert_eq!(header_of(&response, "trailer"), "x-checksum");
    assert!(response.headers().get("content-length").is_none());
    let collected = response.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned().expect("trailers");
    assert_eq!(trailers["x-checksum"], "abc123");
    assert_eq!(collected.to_bytes(), "payload");
}

#[tokio::test]
async fn request_trailers_are_recorded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start().await;
    server.fallback("/t", Reply::status(204));
    let mut stream = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("connect");
    stream
        .write_all(
            b"POST /t HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\
              connection: close\r\n\r\n5\r\nhello\r\n0\r\nx-sum: 42\r\n\r\n",
        )
        .await
        .expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    assert!(answer.starts_with(b"HTTP/1.1 204"), "{answer:?}");
    let recorded = &server.requests_to("/t")[0];
    assert_eq!(recorded.body, "hello");
    let trailers = recorded.trailers.as_ref().expect("trailers");
    assert_eq!(trailers["x-sum"], "42");
}

#[tokio::test]
async fn recording_can_be_turned_off_and_taken() {
    let server = TestServer::start().await;
    server.fallback("/r", Reply::ok());
    let client = client();
    get(&client, server.uri("/r")).await;
    server.set_recording(false);
    get(&client, server.uri("/r")).await;
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.count("/r"), 2);
    assert_eq!(server.total(), 2);
    server.set_recording(true);
    get(&client, server.uri("/r?third")).await;
    let taken = server.take_requests();
    assert_eq!(taken.len(), 2);
    assert_eq!(taken[1].uri, "/r?third");
    assert!(server.requests().is_empty());
    assert_eq!(server.count("/r"), 3);
}

#[tokio::test(start_paused = true)]
async fn a_body_over_the_cap_is_refused_unread() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start().await;
    server.fallback("/big", Reply::ok());
    let mut stream = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("connect");
    let head = format!(
        "POST /big HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\n\r\nsome",
        recourse_testkit::MAX_REQUEST_BODY + 1
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = vec![0u8; 12];
    timeout(Duration::from_secs(10), stream.read_exact(&mut answer))
        .await
        .expect("answered without reading the body")
        .expect("read");
    assert_eq!(&answer, b"HTTP/1.1 413");
    assert_eq!(server.total(), 0);
    assert_eq!(server.count("/big"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_on_a_multi_thread_runtime() {
    let server = Arc::new(TestServer::start().await);
    server.script("/m", [Reply::status(503), Reply::status(503)]);
    server.fallback("/m", Reply::echo());
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let (client, uri) = (client.clone(), server.uri("/m"));
        tasks.spawn(async move { call(&client, "POST", uri, format!("body {i}")).await });
    }
    let mut unavailable = 0;
    while let Some(response) = tasks.join_next().await {
        let response = response.expect("task");
        match response.status().as_u16() {
            503 => unavailable += 1,
            200 => assert!(response.body().starts_with(b"body ")),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(unavailable, 2);
    assert_eq!(server.count("/m"), 32);
    server.shutdown().await;
}
