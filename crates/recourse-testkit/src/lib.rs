//! A real HTTP server on `127.0.0.1:0` for Recourse's integration tests, examples and
//! benchmarks (not published), and a simulator of the barcode service whose
//! response-code table Recourse implements (`docs/BEHAVIOUR.md` in the repository).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use http_body_util::{BodyExt, Full};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use recourse_testkit::{Reply, TestServer};
//!
//! let server = TestServer::start().await;
//! // Two scripted replies for /charge, then the fallback for every later request.
//! server.script(
//!     "/charge",
//!     [Reply::status(503).header("retry-after", "1"), Reply::ok().body("done")],
//! );
//! server.fallback("/charge", Reply::status(409));
//!
//! let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
//! let mut statuses = Vec::new();
//! for _ in 0..3 {
//!     let request = http::Request::post(server.uri("/charge?id=7"))
//!         .body(Full::from("amount=10"))?;
//!     let response = client.request(request).await?;
//!     statuses.push(response.status().as_u16());
//!     response.into_body().collect().await?;
//! }
//! assert_eq!(statuses, [503, 200, 409]);
//!
//! // Every request was recorded, body included.
//! assert_eq!(server.count("/charge"), 3);
//! let first = &server.requests_to("/charge")[0];
//! assert_eq!(first.method, http::Method::POST);
//! assert_eq!(first.uri, "/charge?id=7");
//! assert_eq!(first.body, "amount=10");
//!
//! // Nothing answers on an unknown path but a 404.
//! let response = client.get(server.uri("/nope")).await?;
//! assert_eq!(response.status(), 404);
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # The server
//!
//! [`TestServer::start`] binds `127.0.0.1:0` and serves HTTP/1.1 (with keep-alive) and
//! HTTP/2 with prior knowledge, on tasks spawned on the caller's tokio runtime: a test
//! with `#[tokio::test(start_paused = true)]` controls every delay of the server.
//!
//! Each request is read completely (up to [`MAX_REQUEST_BODY`]; a larger body gets 413
//! and is not recorded), recorded as a [`Recorded`], then answered by its route:
//!
//! 1. the exact route of its path (query ignored): the next reply of its
//!    [script](TestServer::script), else its [fallback](TestServer::fallback) or
//!    [handler](TestServer::handle), else the last scripted reply again;
//! 2. else the longest [prefix route](TestServer::handle_prefix) that matches;
//! 3. else `404 Not Found` with a plain-text body.
//!
//! Recording and picking the reply happen under one lock, so [`TestServer::count`],
//! [`TestServer::total`] and script positions are exact even with concurrent requests.
//!
//! # Replies and faults
//!
//! A [`Reply`] answers with a status, headers and a body ([`Reply::body`],
//! [`Reply::json`], streamed with [`Reply::chunked`], never-ending with
//! [`Reply::endless`], the request echoed with [`Reply::echo`]), optionally after a
//! [`Reply::delay`]; or it misbehaves after reading the request: [`Reply::close`] closes
//! the connection, [`Reply::reset`] resets it with a TCP RST, [`Reply::never`] keeps it
//! open without answering. [`refused_uri`] gives an address where nothing listens.
//!
//! # The simulator
//!
//! [`Simulator::start`] starts a server with the routes of the [`simulator`] module: one
//! (or more) per row of the response-code table (200 with `Response.Code` 0 and not 0,
//! 201, 202 and its job, 304, 307, 400, 401, 403, 404, 405, 409, 500, 503), every body
//! an exact constant of that module. [`simulator::ROWS`] holds one ready request per row
//! with the status it gets.
//!
//! # Helpers for the layers' own tests
//!
//! - [`body`]: streaming bodies ([`body::Frames`], [`body::ChannelBody`],
//!   [`body::Stalled`], [`body::Endless`]);
//! - [`redis`]: a real `redis-server` on a free port ([`redis::RedisServer`]), skipped
//!   loudly when not installed, except under `CI=true` where that fails;
//! - [`tls`]: a CA made on the spot ([`tls::TestPki`]) and a TLS front for a test server
//!   ([`tls::TlsFront`]), HTTP/2 and HTTP/1.1 by ALPN;
//! - [`spans`]: a capturing `tracing` layer ([`spans::Spans`]) and the span tree it saw;
//! - [`alloc`]: counting allocations with a global allocator and the round rule of the
//!   zero-allocation tests.

pub mod alloc;
pub mod body;
mod conn;
mod recorded;
pub mod redis;
mod reply;
mod respond;
mod server;
pub mod simulator;
pub mod spans;
mod state;
pub mod tls;

pub use recorded::Recorded;
pub use reply::{ENDLESS_CHUNK_LEN, InvalidReply, Reply};
pub use server::{ECHO_METHOD_HEADER, MAX_REQUEST_BODY, SHUTDOWN_GRACE, TestServer};
pub use simulator::Simulator;

/// An `http://127.0.0.1:PORT/` URI where nothing listens, for connection-refused tests.
///
/// It binds `127.0.0.1:0`, reads the port and closes the listener. Another process could
/// take the port in between, which is unlikely on loopback right after the close.
///
/// # Panics
///
/// Panics if no loopback port can be bound at all.
pub fn refused_uri() -> http::Uri {
    let port = match std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
    {
        Ok(addr) => addr.port(),
        Err(e) => panic!("testkit: cannot bind 127.0.0.1:0 to find a free port: {e}"),
    };
    let uri = format!("http://127.0.0.1:{port}/");
    match uri.parse() {
        Ok(uri) => uri,
        Err(e) => panic!("testkit: {uri} did not parse: {e}"),
    }
}
