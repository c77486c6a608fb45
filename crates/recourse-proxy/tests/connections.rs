//! Client connections over real loopback sockets: the proxy's own protocol version, slow
//! and idle clients, the connection limit.

mod common;

use std::time::Duration;

use common::{client, config_for, no_layers, start};
use recourse_testkit::{Reply, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An upstream that answers every request in HTTP/1.0 and closes the connection.
async fn http10_upstream() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        for _ in 0..16 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
                .await;
            let _ = stream.shutdown().await;
        }
    });
    (addr, task)
}

/// Reads one response with a `Content-Length` body from `stream`; returns the head.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            return head;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before a response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn http11_client_is_answered_in_http11_when_the_upstream_speaks_http10() {
    let (upstream, task) = http10_upstream().await;
    let config = no_layers(recourse_proxy::Config::for_upstream(
        recourse_proxy::Upstream::parse(&format!("http://{upstream}")).unwrap(),
    ));
    let proxy = start(config).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    for _ in 0..2 {
        // Two requests on one connection: keep-alive survives the HTTP/1.0 upstream.
        stream
            .write_all(b"GET /x HTTP/1.1\r\nHost: proxy.test\r\n\r\n")
            .await
            .unwrap();
        let head = tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream))
            .await
            .unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        // The upstream's hop is recorded as HTTP/1.0 in Via (RFC 9110 §7.6.3).
        assert!(head.contains("1.0 recourse"), "{head}");
    }
    // And with hyper's client.
    let res = client().get(proxy.uri("/y")).await.unwrap();
    assert_eq!(res.version(), http::Version::HTTP_11);
    assert_eq!(res.status(), 200);
    proxy.stop().await;
    task.abort();
}

#[tokio::test]
async fn half_sent_headers_are_closed_in_time_while_requests_are_served() {
    let upstream = TestServer::start().await;
    upstream.fallback("/ok", Reply::ok().body("fine"));
    let mut config = no_layers(config_for(&upstream));
    config.header_read_timeout = Duration::from_millis(500);
    config.idle_timeout = Duration::from_secs(30);
    let proxy = start(config).await;
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    // Normal requests are served while the slow ones hang.
    let client = client();
    for _ in 0..5 {
        let res = client.get(proxy.uri("/ok")).await.unwrap();
        assert_eq!(res.status(), 200);
    }
    // Every half-sent header is closed by the proxy (a 408 or a plain close), well
    // before the test's bound; none got its request through.
    for mut s in slow {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a half-sent header is still open");
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }
    assert_eq!(upstream.count("/ok"), 5);
    proxy.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let upstream = TestServer::start().await;
    upstream.fallback("/ok", Reply::ok().body("fine"));
    let mut config = no_layers(config_for(&upstream));
    config.idle_timeout = Duration::from_millis(300);
    config.header_read_timeout = Duration::from_secs(60);
    let proxy = start(config).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(b"GET /ok HTTP/1.1\r\nHost: proxy.test\r\n\r\n")
        .await
        .unwrap();
    let head = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Then silence: the proxy closes the connection (end of stream), long before the
    // header read timeout would.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the idle connection is still open");
    assert!(rest.is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn a_request_waiting_for_a_slow_upstream_is_not_idle() {
    let upstream = TestServer::start().await;
    upstream.fallback(
        "/slow",
        Reply::ok().delay(Duration::from_millis(800)).body("late"),
    );
    let mut config = no_layers(config_for(&upstream));
    config.idle_timeout = Duration::from_millis(200);
    let proxy = start(config).await;
    let res = client().get(proxy.uri("/slow")).await.unwrap();
    assert_eq!(res.status(), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn at_the_connection_limit_new_connections_wait() {
    let upstream = TestServer::start().await;
    upstream.fallback("/ok", Reply::ok().body("fine"));
    let mut config = no_layers(config_for(&upstream));
    config.max_connections = 2;
    let proxy = start(config).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let head = read_response(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        held.push(s);
    }
    // The third connection is left in the backlog: its request is not answered...
    let mut third = TcpStream::connect(proxy.addr).await.unwrap();
    third
        .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(300), read_response(&mut third)).await;
    assert!(waiting.is_err(), "a connection over the limit was served");
    // ...until one of the others closes.
    drop(held.pop());
    let head = tokio::time::timeout(Duration::from_secs(10), read_response(&mut third))
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    proxy.stop().await;
}
