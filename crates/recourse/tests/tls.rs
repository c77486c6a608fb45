//! `recourse::https_client_with` over real TLS on loopback, with a CA generated here
//! (rcgen): HTTP/2 and HTTP/1.1 by ALPN, a 307 with a body, a 503 retried on one HTTP/2
//! connection with its body replayed, and an HTTP/2 stream refused before processing
//! (`REFUSED_STREAM`, RFC 9113 §8.7) retried even for a POST without an idempotency key.
//!
//! Real time: tokio's paused clock jumps ahead while a TLS connection waits for the other
//! thread's bytes, so these tests run unpaused and wait for nothing (the 503s here say
//! `Retry-After: 0`; the refused stream's retry waits one backoff, about 100 ms). The
//! delays themselves are tested with paused time in recourse-retry.
//!
//! The TLS server is the testkit's `TlsFront` before the barcode simulator: every simulator
//! route over `https`, in the protocol ALPN picked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use recourse::History;
use recourse_testkit::body::channel;
use recourse_testkit::simulator::{OK_BODY, UNAVAILABLE_BODY};
use recourse_testkit::tls::{H2, HTTP11 as H1, TestPki, TlsFront};
use recourse_testkit::{Reply, Simulator, TestServer};
use tokio::net::TcpListener;
use tower::ServiceExt;

async fn simulator_over_tls(alpn: &[&[u8]]) -> (TestServer, TlsFront, TestPki) {
    let server = Simulator::start().await;
    let pki = TestPki::generate();
    let front = TlsFront::start(&server, &pki, alpn).await;
    (server, front, pki)
}

#[tokio::test]
async fn a_307_with_a_body_is_followed_over_http2_and_http11() {
    for (alpn, version) in [(H2, Version::HTTP_2), (H1, Version::HTTP_11)] {
        let (server, front, pki) = simulator_over_tls(&[alpn]).await;
        let client = recourse::https_client_with(pki.client_config());
        let req = Request::post(front.uri("/barcode/old"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(br#"{"Data":"012345678905"}"#)))
            .unwrap();
        let res = client.oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.version(), version);
        assert_eq!(History::of(&res).unwrap().redirects(), 1);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, r#"{"Data":"012345678905"}"#);
        let hops = server.requests_to("/barcode/new");
        assert_eq!(hops.len(), 1);
        assert_eq!(hops[0].method, http::Method::POST);
        assert_eq!(front.alpn(), [Some(alpn.to_vec())]);
    }
}

#[tokio::test]
async fn alpn_picks_http2_when_the_server_offers_both() {
    let (_server, front, pki) = simulator_over_tls(&[H2, H1]).await;
    let client = recourse::https_client_with(pki.client_config());
    let req = Request::get(front.uri("/barcode/ok"))
        .body(Full::<Bytes>::default())
        .unwrap();
    let res = client.oneshot(req).await.unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), OK_BODY);
}

#[tokio::test]
async fn a_503_is_retried_over_http2_on_one_pooled_connection_with_its_streamed_body_replayed() {
    let (server, front, pki) = simulator_over_tls(&[H2, H1]).await;
    let client = recourse::https_client_with(pki.client_config());
    let (tx, body) = channel(4);
    tokio::spawn(async move {
        for chunk in ["{\"Data\":", "\"012345678905\"}"] {
            tx.send(Bytes::from_static(chunk.as_bytes())).await.unwrap();
        }
    });
    server.script(
        "/busy",
        [
            Reply::status(503).header("retry-after", "0"),
            Reply::status(503).header("retry-after", "0"),
            Reply::echo(),
        ],
    );
    let req = Request::post(front.uri("/busy"))
        .header("idempotency-key", "order-42")
        .body(body)
        .unwrap();
    let res = client.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(History::of(&res).unwrap().retries(), 2);
    let echoed = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(echoed, r#"{"Data":"012345678905"}"#);
    let seen = server.requests_to("/busy");
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.body, r#"{"Data":"012345678905"}"#);
    }
    // Three streams, one TLS connection: the pool hands the h2 connection to every try.
    assert_eq!(front.connections(), 1);

    // A keyless POST is not resent, over HTTP/2 as over HTTP/1.1.
    let req = Request::post(front.uri("/barcode/down"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let res = recourse::https_client_with(pki.client_config())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(server.count("/barcode/down"), 1);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, UNAVAILABLE_BODY);
}

/// An HTTP/2 server over TLS that refuses the first `refuse` streams with
/// `RST_STREAM(REFUSED_STREAM)` before reading them, then answers 200 with the request body.
async fn refusing_h2_server(pki: &TestPki, refuse: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = pki.acceptor(&[H2]);
    let streams = Arc::new(AtomicUsize::new(0));
    let seen = streams.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut conn) = h2::server::handshake(tls).await else {
                    return;
                };
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    if n < refuse {
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                        continue;
                    }
                    tokio::spawn(async move {
                        let mut body = req.into_body();
                        let mut bytes = Vec::new();
                        while let Some(Ok(chunk)) = body.data().await {
                            let _ = body.flow_control().release_capacity(chunk.len());
                            bytes.extend_from_slice(&chunk);
                        }
                        let res = http::Response::new(());
                        if let Ok(mut send) = respond.send_response(res, false) {
                            let _ = send.send_data(Bytes::from(bytes), true);
                        }
                    });
                }
            });
        }
    });
    (addr, streams)
}

#[tokio::test]
async fn a_refused_http2_stream_is_not_sent_so_even_a_keyless_post_is_retried() {
    let pki = TestPki::generate();
    let (addr, streams) = refusing_h2_server(&pki, 1).await;
    let client = recourse::https_client_with(pki.client_config());
    let req = Request::post(format!("https://localhost:{}/orders", addr.port()))
        .body(Full::new(Bytes::from_static(b"one order")))
        .unwrap();
    let res = client.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(History::of(&res).unwrap().retries(), 1);
    assert_eq!(streams.load(Ordering::SeqCst), 2);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "one order"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_an_error_not_a_panic() {
    let (server, front, _pki) = simulator_over_tls(&[H2, H1]).await;
    // Trusts another CA.
    let client = recourse::https_client_with(TestPki::generate().client_config());
    let req = Request::get(front.uri("/barcode/ok"))
        .body(Full::<Bytes>::default())
        .unwrap();
    assert!(client.oneshot(req).await.is_err());
    assert_eq!(server.total(), 0);
}
