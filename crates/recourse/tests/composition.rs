//! Where the layers meet: the full recommended stack (deadline, poll, redirect, cache,
//! retry, classify) around hyper-util's legacy client, against testkit servers on
//! 127.0.0.1, in the cases that only hold when the layers share their facts:
//!
//! - a relative `Location` of a 201, 202 or 303, and a status URL, resolves against the
//!   URI that answered after redirects (RFC 9110 §10.2.2), not the URI first asked for;
//! - polls observe the origin's current state, even with a cache below them;
//! - credentials follow the rules of where the request is now;
//! - retries, redirects and the cache compose on one request;
//! - the stack takes any request body type (hyper's `Incoming`, a streaming body).
//!
//! Every test runs with paused tokio time: waits cost nothing and are exact.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, LOCATION};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use recourse::classify::Outcome;
use recourse::poll::{AsyncPollLayer, StatusField};
use recourse::{ClientStackLayer, History};
use recourse_testkit::{Reply, TestServer};
use serde_json::json;
use support::{HANG, full_stack, get, stack_with, text};
use tokio::time::timeout;
use tower::{Layer, ServiceExt};

/// Sends `req` through `stack`, failing the test if it takes longer than [`HANG`].
async fn send<S, B>(stack: S, req: Request<B>) -> Result<S::Response, S::Error>
where
    S: tower::Service<Request<B>>,
{
    match timeout(HANG, stack.oneshot(req)).await {
        Ok(result) => result,
        Err(_) => panic!("the stack did not answer within {HANG:?}"),
    }
}

fn post(uri: http::Uri, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .body(Full::from(body))
        .expect("a POST with a parsed URI is valid")
}

/// A status resource that says "running" `running` times, then "Succeeded".
fn job(server: &TestServer, path: &str, running: usize) {
    let mut replies: Vec<Reply> = (0..running)
        .map(|_| Reply::ok().json(&json!({"status": "InProgress"})))
        .collect();
    replies.push(Reply::ok().json(&json!({"status": "Succeeded", "id": 1})));
    server.script(path, replies);
}

/// The full stack with Azure's status field: `{"status": "InProgress"}` means running.
fn azure_stack() -> support::Stack {
    stack_with(
        ClientStackLayer::new().poll(AsyncPollLayer::new().status_field(StatusField::azure())),
    )
}

#[tokio::test(start_paused = true)]
async fn a_202_after_a_307_polls_the_status_url_relative_to_where_it_was_accepted() {
    let server = TestServer::start().await;
    server.fallback(
        "/v1/submit",
        Reply::status(307).header("location", "../v2/submit"),
    );
    server.fallback(
        "/v2/submit",
        Reply::status(202)
            .header("location", "status/1")
            .header("retry-after", "1"),
    );
    job(&server, "/v2/status/1", 1);

    let stack = stack_with(
        ClientStackLayer::new().poll(AsyncPollLayer::new().status_field(StatusField::azure())),
    );
    let res = send(stack, post(server.uri("/v1/submit"), "order=7"))
        .await
        .expect("the job finishes");
    assert_eq!(res.status(), StatusCode::OK);
    let body = text(res).await.unwrap();
    assert_eq!(body, r#"{"id":1,"status":"Succeeded"}"#);

    // The 307 resent the same method and body to v2; the job was polled there.
    let submitted = server.requests_to("/v2/submit");
    assert_eq!(submitted.len(), 1);
    assert_eq!(submitted[0].method, Method::POST);
    assert_eq!(submitted[0].body, "order=7");
    assert_eq!(
        server.count("/v2/status/1"),
        2,
        "one running poll, one final"
    );
    assert_eq!(
        server.count("/v1/status/1"),
        0,
        "never the URI first asked for"
    );
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_201_after_a_307_names_and_fetches_the_created_resource_where_it_was_created() {
    let server = TestServer::start().await;
    server.fallback(
        "/v1/items",
        Reply::status(307).header("location", "/v2/items"),
    );
    server.fallback(
        "/v2/items",
        Reply::status(201).header("location", "items/9"),
    );
    server.fallback("/v2/items/9", Reply::ok().body("item nine"));

    // The verdict on the 201 carries the resolved Location...
    let stack = full_stack();
    let res = send(stack, post(server.uri("/v1/items"), "name=nine"))
        .await
        .expect("a 201");
    assert_eq!(res.status(), StatusCode::CREATED);
    let outcome = Outcome::of(&res);
    let location = outcome.location().expect("a 201 names its resource");
    assert_eq!(
        location.resolved().map(ToString::to_string),
        Ok(server.uri("/v2/items/9").to_string())
    );

    // ...and fetch_created fetches it there.
    let stack = stack_with(ClientStackLayer::new().poll(AsyncPollLayer::new().fetch_created(true)));
    let res = send(stack, post(server.uri("/v1/items"), "name=nine"))
        .await
        .expect("the created resource");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await.unwrap(), "item nine");
    assert_eq!(server.count("/v2/items/9"), 1);
    assert_eq!(server.count("/v1/items/9"), 0);
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_303_result_resolves_against_the_status_url_that_answered() {
    let server = TestServer::start().await;
    server.fallback(
        "/v1/jobs",
        Reply::status(307).header("location", "/v2/jobs"),
    );
    server.fallback("/v2/jobs", Reply::status(202).header("location", "jobs/1"));
    server.script(
        "/v2/jobs/1",
        [
            Reply::ok().json(&json!({"status": "InProgress"})),
            Reply::status(303).header("location", "1/result"),
        ],
    );
    server.fallback("/v2/jobs/1/result", Reply::ok().body("the result"));

    let res = send(azure_stack(), post(server.uri("/v1/jobs"), "x"))
        .await
        .expect("the result");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await.unwrap(), "the result");
    assert_eq!(server.count("/v2/jobs/1/result"), 1);
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_status_url_that_redirects_is_followed_and_later_urls_resolve_where_it_went() {
    let server = TestServer::start().await;
    server.fallback("/jobs", Reply::status(202).header("location", "/jobs/1"));
    // The status resource moved; its own result Location is relative to the new place.
    server.fallback(
        "/jobs/1",
        Reply::status(307).header("location", "/v2/jobs/1"),
    );
    server.script(
        "/v2/jobs/1",
        [
            Reply::ok().json(&json!({"status": "InProgress"})),
            Reply::status(303).header("location", "1/result"),
        ],
    );
    server.fallback("/v2/jobs/1/result", Reply::ok().body("moved result"));

    let res = send(azure_stack(), post(server.uri("/jobs"), "x"))
        .await
        .expect("the result");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await.unwrap(), "moved result");
    assert_eq!(server.count("/v2/jobs/1"), 2);
    assert_eq!(server.count("/jobs/1/result"), 0);
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn polls_reach_the_origin_even_when_the_status_is_heuristically_cacheable() {
    let server = TestServer::start().await;
    server.fallback("/jobs", Reply::status(202).header("location", "/jobs/1"));
    // Only Last-Modified: a private cache could hold this for 10 % of its age (days).
    let stale_date = "Mon, 01 Jan 2024 00:00:00 GMT";
    let mut replies: Vec<Reply> = (0..3)
        .map(|_| {
            Reply::ok()
                .header("last-modified", stale_date)
                .json(&json!({"status": "InProgress"}))
        })
        .collect();
    replies.push(
        Reply::ok()
            .header("last-modified", stale_date)
            .json(&json!({"status": "Succeeded"})),
    );
    server.script("/jobs/1", replies);

    let stack = stack_with(
        ClientStackLayer::new().poll(
            AsyncPollLayer::new()
                .status_field(StatusField::azure())
                .time_limit(Duration::from_secs(300)),
        ),
    );
    let res = send(stack, post(server.uri("/jobs"), "x"))
        .await
        .expect("the job finishes: every poll saw the origin");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await.unwrap(), r#"{"status":"Succeeded"}"#);
    assert_eq!(
        server.count("/jobs/1"),
        4,
        "three running polls and the final one"
    );
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_307_to_a_target_that_answers_503_then_200_is_retried_there() {
    let server = TestServer::start().await;
    server.fallback("/a", Reply::status(307).header("location", "/b"));
    server.script(
        "/b",
        [
            Reply::status(503).header("retry-after", "2"),
            Reply::ok().body("stored"),
        ],
    );
    let req = Request::put(server.uri("/a"))
        .body(Full::from("the document"))
        .unwrap();
    let res = send(full_stack(), req).await.expect("a 200 in the end");
    assert_eq!(res.status(), StatusCode::OK);
    let history = History::of(&res).cloned().unwrap_or_default();
    assert_eq!(history.redirects(), 1, "{history:?}");
    assert_eq!(history.retries(), 1, "{history:?}");
    assert_eq!(text(res).await.unwrap(), "stored");
    let at_b = server.requests_to("/b");
    assert_eq!(at_b.len(), 2);
    for r in &at_b {
        assert_eq!(r.method, Method::PUT);
        assert_eq!(r.body, "the document", "the same body on every attempt");
    }
    assert_eq!(
        server.count("/a"),
        1,
        "the retry went to where the request is now"
    );
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_cached_redirect_target_is_served_without_asking_again() {
    let server = TestServer::start().await;
    server.fallback("/old", Reply::status(307).header("location", "/new"));
    server.fallback(
        "/new",
        Reply::ok()
            .header(CACHE_CONTROL.as_str(), "max-age=60")
            .body("fresh"),
    );
    let stack = full_stack();
    for round in 0..3 {
        let res = send(stack.clone(), get(server.uri("/old")))
            .await
            .expect("a 200");
        assert_eq!(res.status(), StatusCode::OK, "round {round}");
        assert_eq!(text(res).await.unwrap(), "fresh", "round {round}");
    }
    assert_eq!(
        server.count("/new"),
        1,
        "the target came from the cache after the first time"
    );
    assert_eq!(
        server.count("/old"),
        3,
        "a 307 without freshness is asked every time"
    );
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn after_a_cross_origin_307_the_job_is_polled_at_the_new_origin_without_credentials() {
    let first = TestServer::start().await;
    let second = TestServer::start().await;
    let target = second.uri("/submit").to_string();
    first.fallback("/submit", Reply::status(307).header("location", &target));
    second.fallback("/submit", Reply::status(202).header("location", "status/1"));
    job(&second, "/status/1", 1);

    let stack = stack_with(
        ClientStackLayer::new().poll(AsyncPollLayer::new().status_field(StatusField::azure())),
    );
    let req = Request::post(first.uri("/submit"))
        .header(AUTHORIZATION, "Bearer for-the-first-origin")
        .body(Full::from("payload"))
        .unwrap();
    let res = send(stack, req).await.expect("the job finishes");
    assert_eq!(res.status(), StatusCode::OK);
    text(res).await.unwrap();

    assert_eq!(
        first.requests_to("/submit")[0].header("authorization"),
        Some("Bearer for-the-first-origin")
    );
    assert_eq!(
        second.count("/status/1"),
        2,
        "polled at the origin it is at now"
    );
    assert_eq!(first.count("/status/1"), 0);
    for r in second.requests() {
        assert!(
            !r.headers.contains_key(AUTHORIZATION),
            "{} {} carried the first origin's credentials",
            r.method,
            r.uri
        );
    }
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn same_origin_credentials_follow_the_job_to_its_status_url() {
    let server = TestServer::start().await;
    server.fallback(
        "/v1/submit",
        Reply::status(307).header("location", "/v2/submit"),
    );
    server.fallback(
        "/v2/submit",
        Reply::status(202).header(LOCATION.as_str(), "status/1"),
    );
    job(&server, "/v2/status/1", 0);
    let stack = stack_with(
        ClientStackLayer::new().poll(AsyncPollLayer::new().status_field(StatusField::azure())),
    );
    let req = Request::post(server.uri("/v1/submit"))
        .header(AUTHORIZATION, "Bearer same-origin")
        .body(Full::from("payload"))
        .unwrap();
    let res = send(stack, req).await.expect("the job finishes");
    text(res).await.unwrap();
    let polls = server.requests_to("/v2/status/1");
    assert_eq!(polls.len(), 1);
    assert_eq!(polls[0].header("authorization"), Some("Bearer same-origin"));
    server.shutdown().await;
}

// === any request body type ===

#[tokio::test(start_paused = true)]
async fn a_streaming_body_without_default_goes_through_a_307_and_a_202() {
    let server = TestServer::start().await;
    server.fallback(
        "/upload",
        Reply::status(307).header("location", "/v2/upload"),
    );
    server.fallback(
        "/v2/upload",
        Reply::status(202).header("location", "status/1"),
    );
    job(&server, "/v2/status/1", 0);

    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let stack = ClientStackLayer::new()
        .poll(AsyncPollLayer::new().status_field(StatusField::azure()))
        .layer(client);
    // A body streamed from a channel: no `Default`, not `Clone`, not in memory.
    let (tx, body) = recourse_testkit::body::channel(4);
    tokio::spawn(async move {
        for part in ["part one, ", "part two"] {
            if tx.send(Bytes::from(part)).await.is_err() {
                break;
            }
        }
    });
    let req = Request::post(server.uri("/upload")).body(body).unwrap();
    let res = send(stack, req).await.expect("the job finishes");
    assert_eq!(res.status(), StatusCode::OK);
    res.into_body().collect().await.unwrap();
    assert_eq!(
        server.requests_to("/v2/upload")[0].body,
        "part one, part two"
    );
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn hyper_incoming_bodies_go_through_the_stack_unboxed() {
    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let origin = TestServer::start().await;
    origin.fallback("/in", Reply::status(307).header("location", "/stored"));
    origin.fallback("/stored", Reply::echo());

    // A front server hands each `Request<Incoming>` to the stack as it is: the stack's
    // request body type is hyper's own.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let stack = ClientStackLayer::new().layer(client);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = listener.local_addr().unwrap();
    let base = origin.uri("/");
    tokio::spawn(async move {
        let (io, _) = listener.accept().await.unwrap();
        let service = service_fn(move |mut req: Request<Incoming>| {
            let stack = stack.clone();
            let path = req.uri().path_and_query().map(|p| p.as_str().to_owned());
            *req.uri_mut() = format!(
                "http://{}{}",
                base.authority().unwrap(),
                path.as_deref().unwrap_or("/")
            )
            .parse()
            .unwrap();
            async move {
                let res = stack.oneshot(req).await.map_err(|e| e.to_string())?;
                let (parts, body) = res.into_parts();
                let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
                Ok::<_, String>(http::Response::from_parts(parts, Full::new(bytes)))
            }
        });
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .await;
    });

    let plain = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let req = Request::post(format!("http://{front}/in"))
        .body(Full::from("through hyper's own body"))
        .unwrap();
    let res = timeout(HANG, plain.request(req)).await.unwrap().unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let echoed = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        echoed, "through hyper's own body",
        "the 307 replayed hyper's body"
    );
    assert_eq!(origin.count("/stored"), 1);
    origin.shutdown().await;
}
