//! Hostile upstreams: the full recommended stack (deadline, poll, redirect, cache, retry,
//! classify) around hyper-util's legacy client, against testkit servers on 127.0.0.1 that
//! try to leak credentials, loop, lie in their headers, never finish, or never stop
//! talking. Each case must end within its limits in a typed outcome, never a panic.
//!
//! Every test runs with paused tokio time, so the limits (deadlines, Retry-After clamps,
//! polling timeouts) are checked exactly and cost no real time.

mod support;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE, HeaderValue, LOCATION, PROXY_AUTHORIZATION};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use recourse::cache::{CacheLayer, CacheOutcome, MemoryStore};
use recourse::classify::{BodyCodes, ClassifyLayer, Outcome};
use recourse::core::headers::LocationError;
use recourse::poll::{AsyncPollLayer, TimeoutReason};
use recourse::redirect::{NotFollowed, RedirectHistory, RedirectLayer};
use recourse::retry::RetryInfo;
use recourse::{Class, ClientStackLayer, History, Step};
use recourse_testkit::{Reply, TestServer};
use support::{ErrorKind, HANG, full_stack, get, kind, mib, rss_bytes, stack_with, text};
use tokio::time::{Instant, timeout};
use tower::ServiceExt;

/// Tests that measure the process's memory run one at a time (each on its own runtime with
/// paused time), so that one's 100 MiB stream does not count against another's bound.
static MEMORY: Mutex<()> = Mutex::new(());

fn run_alone<F: Future>(test: F) -> F::Output {
    let _alone = MEMORY.lock().unwrap_or_else(PoisonError::into_inner);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a tokio runtime")
        .block_on(test)
}

/// Sends `req` through `stack`, failing the test if the stack takes longer than [`HANG`]
/// (tokio time) to answer.
async fn send<S>(stack: S, req: Request<Full<Bytes>>) -> Result<S::Response, S::Error>
where
    S: tower::Service<Request<Full<Bytes>>>,
{
    match timeout(HANG, stack.oneshot(req)).await {
        Ok(result) => result,
        Err(_) => panic!("the stack did not answer within {HANG:?}"),
    }
}

fn with_credentials(method: Method, uri: http::Uri, body: &'static str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(AUTHORIZATION, "Bearer top-secret")
        .header(COOKIE, "session=top-secret")
        .header(PROXY_AUTHORIZATION, "Basic dG9wOnNlY3JldA==")
        .body(Full::from(body))
        .expect("valid request")
}

fn assert_no_credentials(server: &TestServer, what: &str) {
    let requests = server.requests();
    assert!(
        !requests.is_empty(),
        "{what}: the other origin was never asked"
    );
    for r in requests {
        for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
            assert!(
                !r.headers.contains_key(&name),
                "{what}: {} {} carried {name}",
                r.method,
                r.uri
            );
        }
    }
}

// === credentials ===

#[tokio::test(start_paused = true)]
async fn a_redirect_to_another_origin_never_collects_credentials() {
    let home = TestServer::start().await;
    // Another port on 127.0.0.1 is another origin (RFC 6454 §4).
    let collector = TestServer::start().await;
    collector.handle_prefix("/", |_| Reply::ok().body("collected"));

    for status in [301u16, 302, 303, 307, 308] {
        let path = format!("/go/{status}");
        let target = collector.uri(&format!("/collect/{status}")).to_string();
        home.script(&path, [Reply::status(status).header("location", &target)]);
        for method in [Method::GET, Method::POST] {
            let req = with_credentials(method.clone(), home.uri(&path), "amount=10");
            let res = send(full_stack(), req)
                .await
                .expect("followed to the collector");
            assert_eq!(res.status(), StatusCode::OK, "{method} {status}");
            assert_eq!(text(res).await.unwrap(), "collected");
        }
    }
    assert_no_credentials(&collector, "redirect");
    // The first origin did receive them: the requests were built with credentials.
    let home_requests = home.requests();
    assert_eq!(home_requests.len(), 10);
    assert!(
        home_requests
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer top-secret"))
    );

    // A chain that leaves and comes back: once removed, credentials stay removed.
    collector.script(
        "/bounce",
        [Reply::status(307).header("location", &home.uri("/back").to_string())],
    );
    home.script(
        "/leave",
        [Reply::status(307).header("location", &collector.uri("/bounce").to_string())],
    );
    home.script("/back", [Reply::ok().body("home again")]);
    let res = send(
        full_stack(),
        with_credentials(Method::GET, home.uri("/leave"), ""),
    )
    .await
    .unwrap();
    assert_eq!(text(res).await.unwrap(), "home again");
    let back = home.requests_to("/back");
    assert_eq!(back.len(), 1);
    assert!(back[0].header("authorization").is_none());
    assert!(back[0].header("cookie").is_none());
    assert_no_credentials(&collector, "redirect and back");
}

#[tokio::test(start_paused = true)]
async fn a_status_url_on_another_origin_never_collects_credentials() {
    let home = TestServer::start().await;
    let collector = TestServer::start().await;
    home.script(
        "/jobs",
        [Reply::status(202)
            .header("location", &collector.uri("/status/1").to_string())
            .header("retry-after", "1")],
    );
    collector.script(
        "/status/1",
        [
            Reply::status(202).header("retry-after", "1"),
            Reply::ok().body("done"),
        ],
    );
    let req = with_credentials(Method::POST, home.uri("/jobs"), "{}");
    let res = send(full_stack(), req).await.expect("polled to the end");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await.unwrap(), "done");
    assert_eq!(collector.count("/status/1"), 2);
    assert_no_credentials(&collector, "poll");
}

#[tokio::test(start_paused = true)]
async fn an_https_to_http_redirect_is_refused() {
    // The testkit speaks plain HTTP, so this one runs the full stack over a service_fn
    // that plays an https origin redirecting to http.
    let asked = Arc::new(Mutex::new(Vec::new()));
    let backend = {
        let asked = asked.clone();
        tower::service_fn(move |req: Request<support::WireBody>| {
            asked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(req.uri().clone());
            let res = http::Response::builder()
                .status(StatusCode::PERMANENT_REDIRECT)
                .header("location", "http://api.test/pay")
                .body(Full::<Bytes>::default());
            async move { res }
        })
    };
    let req = with_credentials(Method::POST, "https://api.test/pay".parse().unwrap(), "x");
    let err = timeout(HANG, recourse::client(backend).oneshot(req))
        .await
        .expect("answers")
        .expect_err("refused");
    let redirect = err.into_inner().unwrap().into_inner().unwrap();
    assert!(redirect.is_downgrade(), "{redirect}");
    assert_eq!(
        redirect.downgrade().unwrap().to(),
        &"http://api.test/pay".parse::<http::Uri>().unwrap()
    );
    let asked = asked.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(
        asked.len(),
        1,
        "the http URL was never requested: {asked:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_started_over_https_is_never_polled_over_http() {
    // A service_fn plays the https origin: /render names an http status URL; /render2
    // an https one whose 303 names an http result.
    let asked = Arc::new(Mutex::new(Vec::new()));
    let backend = {
        let asked = asked.clone();
        tower::service_fn(move |req: Request<support::WireBody>| {
            asked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(req.uri().to_string());
            let res = match req.uri().path() {
                "/render" => http::Response::builder()
                    .status(StatusCode::ACCEPTED)
                    .header("location", "http://api.test/jobs/1"),
                "/render2" => http::Response::builder()
                    .status(StatusCode::ACCEPTED)
                    .header("location", "/jobs/2")
                    .header("retry-after", "1"),
                "/jobs/2" => http::Response::builder()
                    .status(StatusCode::SEE_OTHER)
                    .header("location", "http://api.test/result"),
                _ => http::Response::builder(),
            };
            let res = res.body(Full::<Bytes>::from("forged?"));
            async move { res }
        })
    };
    let stack = recourse::client(backend);
    // The status URL itself is the poll layer's to refuse; the 303 from the status
    // resource reaches the redirect layer below it first, which refuses it the same way.
    for (path, refused_by, requests) in [
        ("/render", ErrorKind::PollDowngrade, 1),
        ("/render2", ErrorKind::Downgrade, 2),
    ] {
        asked.lock().unwrap_or_else(PoisonError::into_inner).clear();
        let uri = format!("https://api.test{path}").parse().unwrap();
        let req = with_credentials(Method::POST, uri, "{}");
        let err = timeout(HANG, stack.clone().oneshot(req))
            .await
            .expect("answers")
            .expect_err("refused");
        assert_eq!(kind(&err), refused_by, "{path}: {err}");
        let poll = err.into_inner().unwrap();
        if let Some(downgrade) = poll.downgrade() {
            assert_eq!(downgrade.to(), "http://api.test/jobs/1");
        } else {
            assert_eq!(
                poll.status_url(),
                Some(&"https://api.test/jobs/2".parse().unwrap())
            );
        }
        let asked = asked.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(asked.len(), requests, "{path}: {asked:?}");
        assert!(
            asked.iter().all(|uri| uri.starts_with("https://")),
            "{asked:?}"
        );
    }
}

// === redirect chains ===

/// `/hop/N` redirects to `/hop/N+1` up to `/hop/1000`, which answers.
fn thousand_hops(server: &TestServer) {
    server.handle_prefix("/hop/", |req| {
        let n: u32 = req.path["/hop/".len()..].parse().unwrap_or(0);
        if n < 1000 {
            Reply::status(302).header("location", &format!("/hop/{}", n + 1))
        } else {
            Reply::ok().body("the end")
        }
    });
}

#[tokio::test(start_paused = true)]
async fn a_chain_of_a_thousand_redirects_stops_at_the_limit() {
    let server = TestServer::start().await;
    thousand_hops(&server);

    let err = send(full_stack(), get(server.uri("/hop/0")))
        .await
        .expect_err("the default limit is 10");
    assert_eq!(kind(&err), ErrorKind::TooManyRedirects, "{err}");
    let redirect = err.into_inner().unwrap().into_inner().unwrap();
    let too_many = redirect.too_many_redirects().unwrap();
    assert_eq!(too_many.limit(), 10);
    assert_eq!(
        too_many.chain().len(),
        11,
        "every 3xx received, the refused one last"
    );
    assert_eq!(too_many.chain()[10].to(), &server.uri("/hop/11"));
    assert_eq!(server.total(), 11, "no request past the limit");

    // A limit above the chain follows all of it, in bounded memory and time.
    let stack =
        stack_with(ClientStackLayer::new().redirect(RedirectLayer::new().max_redirects(1000)));
    let started = Instant::now();
    let res = send(stack, get(server.uri("/hop/0"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(RedirectHistory::of(&res).unwrap().len(), 1000);
    let steps = History::of(&res).unwrap().steps();
    assert_eq!(
        steps
            .iter()
            .filter(|s| matches!(s, Step::Redirected { .. }))
            .count(),
        1000
    );
    assert_eq!(text(res).await.unwrap(), "the end");
    assert_eq!(server.total(), 11 + 1001);
    assert!(Instant::now() - started < Duration::from_secs(60));

    // One short of the chain: the limit error, after exactly limit + 1 requests.
    let stack =
        stack_with(ClientStackLayer::new().redirect(RedirectLayer::new().max_redirects(999)));
    let err = send(stack, get(server.uri("/hop/0"))).await.unwrap_err();
    assert_eq!(kind(&err), ErrorKind::TooManyRedirects);
    assert_eq!(server.total(), 11 + 1001 + 1000);
}

// === Location values ===

#[tokio::test(start_paused = true)]
async fn hostile_location_values_are_not_followed() {
    let server = TestServer::start().await;
    let other = TestServer::start().await;
    other.handle_prefix("/", |_| Reply::ok().body("reached"));

    let huge = format!("/{}", "a".repeat(100_000));
    let cases: Vec<(&str, HeaderValue, NotFollowed)> = vec![
        (
            "huge",
            HeaderValue::from_str(&huge).unwrap(),
            NotFollowed::Location(LocationError::TooLong),
        ),
        (
            "not-utf8",
            HeaderValue::from_bytes(b"/caf\xe9/\xff\xfe").unwrap(),
            NotFollowed::Location(LocationError::NotUtf8),
        ),
        (
            "javascript",
            HeaderValue::from_static("javascript:alert(document.cookie)"),
            NotFollowed::Location(LocationError::UnsupportedScheme("javascript".into())),
        ),
        (
            "file",
            HeaderValue::from_static("file:///etc/passwd"),
            NotFollowed::Location(LocationError::UnsupportedScheme("file".into())),
        ),
        (
            "data",
            HeaderValue::from_static("data:text/html,<script>alert(1)</script>"),
            NotFollowed::Location(LocationError::UnsupportedScheme("data".into())),
        ),
        (
            "ftp",
            HeaderValue::from_static("ftp://127.0.0.1/x"),
            NotFollowed::Location(LocationError::UnsupportedScheme("ftp".into())),
        ),
        (
            "blank",
            HeaderValue::from_static("   "),
            NotFollowed::Location(LocationError::Empty),
        ),
        (
            "no-host",
            HeaderValue::from_static("http://"),
            NotFollowed::Location(LocationError::Invalid("empty host".into())),
        ),
        (
            "bad-port",
            HeaderValue::from_static("http://127.0.0.1:99999/"),
            NotFollowed::Location(LocationError::Invalid("invalid port number".into())),
        ),
        (
            "credentials",
            HeaderValue::from_str(&format!(
                "http://user:pass@127.0.0.1:{}/steal",
                other.addr().port()
            ))
            .unwrap(),
            NotFollowed::CredentialsInLocation,
        ),
    ];
    for (name, location, expected) in &cases {
        let path = format!("/loc/{name}");
        server.script(
            &path,
            [Reply::status(307)
                .typed_header(LOCATION, location.clone())
                .body("see elsewhere")],
        );
        let res = send(full_stack(), get(server.uri(&path)))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT, "{name}");
        assert_eq!(NotFollowed::of(&res), Some(expected), "{name}");
        assert_eq!(Class::of(&res), Class::Redirect, "{name}");
        assert_eq!(text(res).await.unwrap(), "see elsewhere", "{name}");
        assert_eq!(server.count(&path), 1, "{name}: not resent");
    }
    // Two different Locations: neither is picked.
    server.script(
        "/loc/two",
        [Reply::status(302)
            .header("location", "/a")
            .header("location", "/b")],
    );
    let res = send(full_stack(), get(server.uri("/loc/two")))
        .await
        .unwrap();
    assert_eq!(
        NotFollowed::of(&res),
        Some(&NotFollowed::ConflictingLocations)
    );
    assert_eq!(server.total(), cases.len() + 1, "nothing was followed");
    assert_eq!(other.total(), 0, "the credentials URL was never requested");

    // A long Location that still fits in a URI is followed: the limit is the URI's.
    let long = format!("/{}", "b".repeat(60_000));
    server.script("/loc/long", [Reply::status(307).header("location", &long)]);
    server.fallback(&long, Reply::ok().body("long way"));
    let res = send(full_stack(), get(server.uri("/loc/long")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await.unwrap(), "long way");
}

// === Retry-After ===

#[tokio::test(start_paused = true)]
async fn a_retry_after_of_a_trillion_seconds_is_clamped() {
    let server = TestServer::start().await;
    let hostile = || {
        Reply::status(503)
            .header("retry-after", "1000000000000")
            .body("down")
    };
    server.script("/down", [hostile(), Reply::ok().body("up")]);
    let started = Instant::now();
    let res = send(full_stack(), get(server.uri("/down"))).await.unwrap();
    // The retry layer's 30 s maximum, within the stack's 60 s deadline.
    assert_eq!(Instant::now() - started, Duration::from_secs(30));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await.unwrap(), "up");

    // With a 20 s deadline even the clamped wait does not fit: no wait, the 503 returned.
    server.script("/down", [hostile(), Reply::ok().body("up")]);
    let stack = stack_with(ClientStackLayer::new().deadline(Duration::from_secs(20)));
    let started = Instant::now();
    let res = send(stack, get(server.uri("/down"))).await.unwrap();
    assert_eq!(Instant::now(), started);
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(RetryInfo::of(&res).unwrap().stopped().is_some());
    assert_eq!(text(res).await.unwrap(), "down");

    // An HTTP-date at the end of time is clamped the same way.
    server.script(
        "/down",
        [
            Reply::status(503).header("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"),
            Reply::ok().body("up"),
        ],
    );
    let started = Instant::now();
    let res = send(full_stack(), get(server.uri("/down"))).await.unwrap();
    assert_eq!(Instant::now() - started, Duration::from_secs(30));
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_garbage_retry_after_falls_back_to_the_backoff() {
    let server = TestServer::start().await;
    let garbage: Vec<HeaderValue> = [
        &b"soon"[..],
        b"-1",
        b"1.5",
        b"1e3",
        b"0x10",
        b"+5",
        b"Wed, 99 Foo 2015 25:61:61 GMT",
        b"\xff\xfe\xfd",
        b"99999999999999999999999999999999999999999999999999",
        &[b'9'; 4000],
    ]
    .iter()
    .map(|bytes| HeaderValue::from_bytes(bytes).unwrap())
    .collect();
    for (i, value) in garbage.iter().enumerate() {
        let path = format!("/garbage/{i}");
        server.script(
            &path,
            [
                Reply::status(503).typed_header(http::header::RETRY_AFTER, value.clone()),
                Reply::ok().body("up"),
            ],
        );
        let started = Instant::now();
        let res = send(full_stack(), get(server.uri(&path))).await.unwrap();
        let waited = Instant::now() - started;
        assert_eq!(res.status(), StatusCode::OK, "{value:?}");
        let history = History::of(&res).unwrap();
        let Step::Retried { waited: w, .. } = history.steps()[0] else {
            panic!("{value:?}: expected a retry, got {history:?}");
        };
        if i >= 8 {
            // Digits only: a (huge) number of seconds, clamped to 30 s.
            assert_eq!(w, Duration::from_secs(30), "{value:?}");
        } else {
            // Not a Retry-After at all: the first backoff step, at most 100 ms with jitter.
            assert!(w <= Duration::from_millis(100), "{value:?}: waited {w:?}");
        }
        // Tokio's timers have millisecond resolution: the wait ends on the next tick.
        assert!(
            waited >= w && waited <= w + Duration::from_millis(1),
            "{value:?}: {waited:?} vs {w:?}"
        );
        assert_eq!(server.count(&path), 2);
    }
}

// === 202 that never finishes ===

#[tokio::test(start_paused = true)]
async fn a_job_that_never_finishes_ends_in_a_poll_timeout_with_its_status_url() {
    let server = TestServer::start().await;
    server.script(
        "/render",
        [Reply::status(202)
            .header("location", "/jobs/7")
            .header("retry-after", "1")],
    );
    server.fallback("/jobs/7", Reply::status(202).header("retry-after", "1"));

    // The poll layer's own timeout.
    let stack = stack_with(
        ClientStackLayer::new().poll(AsyncPollLayer::new().time_limit(Duration::from_secs(20))),
    );
    let started = Instant::now();
    let err = send(
        stack,
        Request::post(server.uri("/render"))
            .body(Full::from("{}"))
            .unwrap(),
    )
    .await
    .expect_err("never finishes");
    assert!(Instant::now() - started <= Duration::from_secs(20));
    assert_eq!(kind(&err), ErrorKind::PollTimeout, "{err}");
    let poll = err.into_inner().unwrap();
    let timeout = poll.timeout().unwrap();
    assert_eq!(timeout.status_url(), &server.uri("/jobs/7"));
    assert_eq!(
        timeout.reason(),
        TimeoutReason::TimeLimit(Duration::from_secs(20))
    );
    assert_eq!(timeout.last_status(), Some(StatusCode::ACCEPTED));
    assert!(timeout.polls() >= 10, "{timeout}");
    assert_eq!(server.count("/jobs/7") as u32, timeout.polls());
    assert_eq!(server.count("/render"), 1);
    let resume: Request<Full<Bytes>> = timeout.resume_request(Full::default());
    assert_eq!(resume.uri(), &server.uri("/jobs/7"));

    // The default stack: the 60 s deadline stops polling first, with the same typed error.
    server.script(
        "/render",
        [Reply::status(202)
            .header("location", "/jobs/7")
            .header("retry-after", "0")],
    );
    let started = Instant::now();
    let err = send(
        full_stack(),
        Request::post(server.uri("/render"))
            .body(Full::from("{}"))
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert!(Instant::now() - started <= Duration::from_secs(60));
    assert_eq!(kind(&err), ErrorKind::PollTimeout, "{err}");
    let poll = err.into_inner().unwrap();
    assert_eq!(poll.status_url(), Some(&server.uri("/jobs/7")));
}

#[tokio::test(start_paused = true)]
async fn a_job_with_a_trillion_second_retry_after_is_bounded() {
    let server = TestServer::start().await;
    server.script(
        "/render",
        [Reply::status(202)
            .header("location", "/jobs/8")
            .header("retry-after", "1000000000000")],
    );
    server.fallback("/jobs/8", Reply::ok().body("done"));
    // 10^12 s are clamped to the poll layer's 5 minutes, which do not fit in the stack's
    // 60 s deadline: a typed timeout naming the job at once, without sleeping.
    let started = Instant::now();
    let err = send(
        full_stack(),
        Request::post(server.uri("/render"))
            .body(Full::from("{}"))
            .unwrap(),
    )
    .await
    .expect_err("the clamped wait does not fit");
    assert_eq!(Instant::now(), started, "no wait was started");
    assert_eq!(kind(&err), ErrorKind::PollTimeout, "{err}");
    let poll = err.into_inner().unwrap();
    let timeout = poll.timeout().unwrap();
    assert_eq!(timeout.status_url(), &server.uri("/jobs/8"));
    assert_eq!(timeout.reason(), TimeoutReason::Deadline);
    assert_eq!(timeout.next_wait(), Some(Duration::from_secs(300)));
    assert_eq!(server.count("/jobs/8"), 0);

    // With room for it, the clamped wait is taken, and no more.
    server.script(
        "/render",
        [Reply::status(202)
            .header("location", "/jobs/8")
            .header("retry-after", "1000000000000")],
    );
    let stack = stack_with(ClientStackLayer::new().deadline(Duration::from_secs(600)));
    let started = Instant::now();
    let res = send(
        stack,
        Request::post(server.uri("/render"))
            .body(Full::from("{}"))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(Instant::now() - started, Duration::from_secs(300));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await.unwrap(), "done");
}

// === bodies ===

/// A syntactically valid JSON document of exactly `total` bytes whose `Response.Code`
/// (3) comes last, as shared chunks: the test holds one 64 KiB chunk, not `total` bytes.
fn long_json(total: usize) -> Vec<Bytes> {
    const CHUNK: usize = 64 * 1024;
    let head = br#"{"pad":""#;
    let tail = br#"","Response":{"Code":3,"Message":"finally"}}"#;
    let mut first = head.to_vec();
    first.resize(CHUNK, b'x');
    let middle = Bytes::from(vec![b'x'; CHUNK]);
    let mut chunks = vec![Bytes::from(first)];
    let mut sent = CHUNK;
    while total - sent > CHUNK + tail.len() {
        chunks.push(middle.clone());
        sent += CHUNK;
    }
    let mut last = vec![b'x'; total - sent - tail.len()];
    last.extend_from_slice(tail);
    chunks.push(Bytes::from(last));
    chunks
}

/// Reads a body to its end, counting bytes and sampling the process's RSS; returns the
/// byte count and the highest RSS seen.
async fn drain_counting<B>(mut body: B, stop_after: Option<u64>) -> (u64, u64)
where
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Display,
{
    let mut bytes = 0u64;
    let mut peak = rss_bytes().unwrap_or(0);
    let mut frames = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap_or_else(|e| panic!("body error after {bytes} bytes: {e}"));
        if let Ok(data) = frame.into_data() {
            bytes += bytes::Buf::remaining(&data) as u64;
        }
        frames += 1;
        if frames.is_multiple_of(64) {
            peak = peak.max(rss_bytes().unwrap_or(0));
        }
        if stop_after.is_some_and(|stop| bytes >= stop) {
            break;
        }
    }
    (bytes, peak.max(rss_bytes().unwrap_or(0)))
}

#[test]
fn a_hundred_megabyte_json_body_is_classified_from_a_bounded_prefix() {
    run_alone(hundred_megabytes());
}

async fn hundred_megabytes() {
    const TOTAL: usize = 100 * 1024 * 1024;
    let server = TestServer::start().await;
    server.script(
        "/huge",
        [Reply::ok()
            .header("content-type", "application/json")
            .header("cache-control", "max-age=600")
            .chunked(long_json(TOTAL), Duration::ZERO)],
    );
    let store = MemoryStore::new(8 * 1024 * 1024);
    let stack = stack_with(ClientStackLayer::new().cache(CacheLayer::new().store(store.clone())));
    let before = rss_bytes();
    let res = send(stack, get(server.uri("/huge"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The code sits after 100 MB: past the 64 KiB bound the status decides.
    assert_eq!(Class::of(&res), Class::Success);
    assert_eq!(Outcome::of(&res), Outcome::Success);
    let (bytes, peak) = drain_counting(res.into_body(), None).await;
    assert_eq!(bytes, TOTAL as u64, "every byte reached the caller");
    // Past the store's 1 MiB entry limit, nothing was kept.
    assert_eq!(store.entry_count(), 0);
    if let Some(before) = before {
        let grew = peak.saturating_sub(before);
        assert!(
            grew < 48 * 1024 * 1024,
            "RSS grew by {:.1} MiB while 100 MiB streamed through the stack",
            mib(grew)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn json_nested_a_hundred_thousand_deep_is_harmless() {
    const DEPTH: usize = 100_000;
    let server = TestServer::start().await;
    let deep_code = format!(
        r#"{{"Response":{}{}}}"#,
        "[".repeat(DEPTH),
        "]".repeat(DEPTH)
    );
    // Deep nesting beside the path, and the code after it.
    let deep_sibling = format!(
        r#"{{"skip":{}{},"Response":{{"Code":5}}}}"#,
        "[".repeat(DEPTH),
        "]".repeat(DEPTH)
    );
    let deep_objects = format!(r#"{}1{}"#, r#"{"a":"#.repeat(DEPTH), "}".repeat(DEPTH));
    let unclosed = "[".repeat(DEPTH);
    let json = |body: String| {
        Reply::ok()
            .header("content-type", "application/json")
            .body(body)
    };
    let bodies = [deep_code, deep_sibling, deep_objects, unclosed];
    for (i, body) in bodies.iter().enumerate() {
        server.fallback(&format!("/deep/{i}"), json(body.clone()));
    }

    // Default bound (64 KiB): all four are longer; the status decides, no parse at all.
    for (i, body) in bodies.iter().enumerate() {
        let res = send(full_stack(), get(server.uri(&format!("/deep/{i}"))))
            .await
            .unwrap();
        assert_eq!(Class::of(&res), Class::Success, "deep/{i}");
        assert_eq!(text(res).await.unwrap().len(), body.len());
    }

    // A 1 MiB bound: the parser sees every byte and must neither recurse nor panic.
    let stack = stack_with(
        ClientStackLayer::new()
            .classify(ClassifyLayer::new().body_codes(BodyCodes::new().peek_limit(1024 * 1024))),
    );
    let expected = [
        Outcome::Success,
        Outcome::ApplicationFailure {
            code: 5,
            message: None,
        },
        Outcome::Success,
        Outcome::Success,
    ];
    for (i, body) in bodies.iter().enumerate() {
        let res = send(stack.clone(), get(server.uri(&format!("/deep/{i}"))))
            .await
            .unwrap();
        assert_eq!(Outcome::of(&res), expected[i], "deep/{i}");
        assert_eq!(
            text(res).await.unwrap().as_ref(),
            body.as_bytes(),
            "deep/{i}"
        );
    }
}

#[test]
fn a_body_that_never_ends_reaches_the_caller_who_can_stop_reading() {
    run_alone(never_ending_body());
}

async fn never_ending_body() {
    let server = TestServer::start().await;
    server.fallback("/endless", Reply::ok().endless());
    server.fallback(
        "/endless-json",
        Reply::ok()
            .header("content-type", "application/json")
            .header("cache-control", "max-age=600")
            .endless_with(Bytes::from("[1,".repeat(2731)), Duration::ZERO),
    );
    let store = MemoryStore::new(8 * 1024 * 1024);
    let stack = stack_with(ClientStackLayer::new().cache(CacheLayer::new().store(store.clone())));
    let before = rss_bytes();
    for path in ["/endless", "/endless-json"] {
        let res = send(stack.clone(), get(server.uri(path))).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(Class::of(&res), Class::Success, "{path}");
        // Read 16 MiB, then stop: dropping the body ends the exchange.
        let (bytes, peak) = drain_counting(res.into_body(), Some(16 * 1024 * 1024)).await;
        assert!(bytes >= 16 * 1024 * 1024, "{path}");
        if let Some(before) = before {
            let grew = peak.saturating_sub(before);
            assert!(
                grew < 32 * 1024 * 1024,
                "{path}: RSS grew by {:.1} MiB while 16 MiB streamed",
                mib(grew)
            );
        }
    }
    // A body that did not end was never stored, so the next request goes to the origin.
    assert_eq!(store.entry_count(), 0);
    let res = send(stack.clone(), get(server.uri("/endless-json")))
        .await
        .unwrap();
    assert_eq!(CacheOutcome::of(&res), Some(CacheOutcome::Miss));
    assert_eq!(server.count("/endless-json"), 2);
}

#[test]
fn a_json_body_dribbled_byte_by_byte_is_not_hoarded() {
    run_alone(dribbled_body());
}

async fn dribbled_body() {
    // One byte per chunk, 1 ms apart: hyper yields each as its own frame, pointing into a
    // read buffer of its own. Before the classify layer capped the frames of its prefix,
    // one such response held about 270 MiB at the 64 KiB bound.
    let server = TestServer::start().await;
    let mut json = br#"{"Response":{"Code":4},"pad":""#.to_vec();
    json.resize(100_000, b'p');
    json.extend_from_slice(br#""}"#);
    let chunks: Vec<Bytes> = json.iter().map(|b| Bytes::from(vec![*b])).collect();
    server.fallback(
        "/dribble",
        Reply::ok()
            .header("content-type", "application/json")
            .chunked(chunks, Duration::from_millis(1)),
    );
    let before = rss_bytes();
    let started = Instant::now();
    let res = send(full_stack(), get(server.uri("/dribble")))
        .await
        .unwrap();
    // The head came back after a bounded number of frames, not after 64 KiB of them.
    assert!(Instant::now() - started < Duration::from_secs(1));
    assert_eq!(Outcome::of(&res), Outcome::Success, "not inspected");
    if let (Some(before), Some(now)) = (before, rss_bytes()) {
        let grew = now.saturating_sub(before);
        assert!(
            grew < 16 * 1024 * 1024,
            "RSS grew by {:.1} MiB for one dribbled response",
            mib(grew)
        );
    }
    // The caller still gets the whole body, and may stop whenever it likes.
    let (bytes, _) = drain_counting(res.into_body(), Some(2_000)).await;
    assert!(bytes >= 2_000);
}

#[test]
fn a_cacheable_body_dribbled_byte_by_byte_is_not_hoarded() {
    run_alone(dribbled_cacheable_body());
}

async fn dribbled_cacheable_body() {
    // The cache records a storable response while it streams to the caller. It used to
    // keep every frame, and each 1-byte frame from hyper pins a read buffer: about
    // 400 MiB for these 100,000 bytes, under the store's 1 MiB entry limit.
    const BYTES: usize = 100_000;
    let server = TestServer::start().await;
    let one = Bytes::from_static(b"x");
    server.fallback(
        "/dribble",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .chunked(vec![one; BYTES], Duration::from_millis(1)),
    );
    let store = MemoryStore::new(8 * 1024 * 1024);
    let stack = stack_with(
        ClientStackLayer::new()
            .deadline(Duration::from_secs(3600))
            .cache(CacheLayer::new().store(store.clone())),
    );
    let before = rss_bytes();
    let res = send(stack.clone(), get(server.uri("/dribble")))
        .await
        .unwrap();
    let (bytes, peak) = drain_counting(res.into_body(), None).await;
    assert_eq!(bytes, BYTES as u64);
    if let Some(before) = before {
        let grew = peak.saturating_sub(before);
        assert!(
            grew < 32 * 1024 * 1024,
            "RSS grew by {:.1} MiB while the cache recorded 100,000 1-byte frames",
            mib(grew)
        );
    }
    // And it was stored whole: the next request is a hit with the same bytes.
    let res = send(stack, get(server.uri("/dribble"))).await.unwrap();
    assert_eq!(CacheOutcome::of(&res), Some(CacheOutcome::Hit));
    assert_eq!(text(res).await.unwrap().len(), BYTES);
    assert_eq!(server.count("/dribble"), 1);
}

#[tokio::test(start_paused = true)]
async fn endless_bodies_on_discarded_responses_are_drained_within_bounds() {
    let server = TestServer::start().await;
    // A 503, a 307 and a 202 whose bodies never end: each layer that discards one drains
    // a bounded amount and moves on.
    server.script(
        "/retry",
        [
            Reply::status(503).header("retry-after", "1").endless(),
            Reply::ok().body("retried"),
        ],
    );
    server.script(
        "/redirect",
        [Reply::status(307)
            .header("location", "/redirected")
            .endless()],
    );
    server.fallback("/redirected", Reply::ok().body("redirected"));
    server.script(
        "/job",
        [Reply::status(202)
            .header("location", "/job/status")
            .header("retry-after", "1")
            .endless()],
    );
    server.script(
        "/job/status",
        [
            Reply::status(202).header("retry-after", "1").endless(),
            Reply::ok().body("polled"),
        ],
    );
    let started = Instant::now();
    for (method, path, expected) in [
        (Method::GET, "/retry", "retried"),
        (Method::POST, "/redirect", "redirected"),
        (Method::POST, "/job", "polled"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(server.uri(path))
            .body(Full::from("x"))
            .unwrap();
        let res = send(full_stack(), req)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(text(res).await.unwrap(), expected, "{path}");
    }
    assert!(Instant::now() - started < Duration::from_secs(60));
}

// === Cache-Control ===

#[tokio::test(start_paused = true)]
async fn garbage_cache_control_is_survived() {
    let server = TestServer::start().await;
    let values: Vec<(&str, HeaderValue, bool)> = vec![
        // (name, Cache-Control, whether a second GET is served fresh from the cache)
        (
            "huge-max-age",
            HeaderValue::from_static("max-age=99999999999999999999999999999"),
            true,
        ),
        ("negative", HeaderValue::from_static("max-age=-5"), false),
        ("letters", HeaderValue::from_static("max-age=abc"), false),
        ("empty-value", HeaderValue::from_static("max-age="), false),
        ("no-value", HeaderValue::from_static("max-age"), false),
        (
            "punctuation",
            HeaderValue::from_static("=,;,;=,,\"\",=\""),
            false,
        ),
        (
            "unterminated",
            HeaderValue::from_static("no-cache=\"set-cookie, max-age=60"),
            false,
        ),
        (
            "not-utf8",
            HeaderValue::from_bytes(b"max-age=60, \xff\xfe=\xfd").unwrap(),
            true,
        ),
        (
            "no-store-wins",
            HeaderValue::from_static("max-age=60, no-store"),
            false,
        ),
        (
            "commas",
            HeaderValue::from_str(&",".repeat(20_000)).unwrap(),
            false,
        ),
        (
            "many-directives",
            HeaderValue::from_str(&"x=1, ".repeat(5_000)).unwrap(),
            false,
        ),
    ];
    for (name, value, fresh) in &values {
        let path = format!("/cc/{name}");
        server.fallback(
            &path,
            Reply::ok()
                .typed_header(http::header::CACHE_CONTROL, value.clone())
                .body(format!("body of {name}")),
        );
        let stack = full_stack();
        for round in 0..2 {
            let res = send(stack.clone(), get(server.uri(&path)))
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(res.status(), StatusCode::OK, "{name}");
            assert_eq!(
                text(res).await.unwrap(),
                format!("body of {name}"),
                "{name} #{round}"
            );
        }
        let expected = if *fresh { 1 } else { 2 };
        assert_eq!(server.count(&path), expected, "{name}: {value:?}");
    }

    // Garbage in the other freshness fields beside a valid max-age.
    let others: [(&str, &str, &str, bool); 4] = [
        ("age", "age", "99999999999999999999999", false),
        ("age-letters", "age", "old", true),
        ("expires", "expires", "the day after never", true),
        ("date", "date", "yesterday", true),
    ];
    for (name, field, value, fresh) in others {
        let path = format!("/fields/{name}");
        server.fallback(
            &path,
            Reply::ok()
                .header("cache-control", "max-age=600")
                .header(field, value)
                .body(format!("body of {name}")),
        );
        let stack = full_stack();
        for round in 0..2 {
            let res = send(stack.clone(), get(server.uri(&path)))
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(res.status(), StatusCode::OK, "{name}");
            assert_eq!(
                text(res).await.unwrap(),
                format!("body of {name}"),
                "{name} #{round}"
            );
        }
        let expected = if fresh { 1 } else { 2 };
        assert_eq!(server.count(&path), expected, "{name}: {field}: {value}");
    }

    // Garbage in the request's Cache-Control: served, never a panic.
    server.fallback(
        "/cc-request",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .body("fresh"),
    );
    let stack = full_stack();
    for value in [
        &b"max-stale=99999999999999999999999"[..],
        b"min-fresh=99999999999999999999999",
        b"max-age=-1",
        b"min-fresh=abc, max-stale",
        b"only-if-cached=\"",
        b"\xff\xff",
    ] {
        let mut req = get(server.uri("/cc-request"));
        req.headers_mut().insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_bytes(value).unwrap(),
        );
        let res = send(stack.clone(), req).await.unwrap();
        let status = res.status();
        assert!(
            status == StatusCode::OK || status == StatusCode::GATEWAY_TIMEOUT,
            "{value:?}: {status}"
        );
        let _ = text(res).await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_shared_cache_never_serves_what_belongs_to_one_user() {
    let server = TestServer::start().await;
    server.fallback(
        "/private",
        Reply::ok()
            .header("cache-control", "private, max-age=600")
            .body("alice's statement"),
    );
    server.fallback(
        "/authorized",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .body("alice's profile"),
    );
    server.fallback(
        "/per-cookie",
        Reply::ok()
            .header("cache-control", "public, max-age=600")
            .header("vary", "Cookie")
            .body("per session"),
    );
    server.fallback(
        "/public",
        Reply::ok()
            .header("cache-control", "public, max-age=600")
            .body("for everyone"),
    );
    let stack = stack_with(ClientStackLayer::new().cache(CacheLayer::shared()));
    let as_user = |path: &str, user: &str| {
        let mut req = get(server.uri(path));
        req.headers_mut().insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {user}")).unwrap(),
        );
        req.headers_mut().insert(
            COOKIE,
            HeaderValue::from_str(&format!("session={user}")).unwrap(),
        );
        req
    };
    for path in ["/private", "/authorized", "/per-cookie", "/public"] {
        for user in ["alice", "bob"] {
            let res = send(stack.clone(), as_user(path, user)).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{path} as {user}");
            let from_cache = CacheOutcome::of(&res).is_some_and(CacheOutcome::is_from_cache);
            let _ = text(res).await.unwrap();
            if user == "bob" && path != "/public" {
                assert!(!from_cache, "{path}: bob was served alice's response");
            }
        }
    }
    // Only the public response, to a request whose Authorization it allows, was shared.
    assert_eq!(server.count("/private"), 2);
    assert_eq!(server.count("/authorized"), 2);
    assert_eq!(server.count("/per-cookie"), 2);
    assert_eq!(server.count("/public"), 1);
}

// === silence ===

#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_is_ended_by_the_deadline() {
    let server = TestServer::start().await;
    server.fallback("/silent", Reply::never());
    let started = Instant::now();
    let err = send(full_stack(), get(server.uri("/silent")))
        .await
        .expect_err("never answers");
    assert_eq!(kind(&err), ErrorKind::Deadline, "{err}");
    assert!(err.is_elapsed());
    assert_eq!(Instant::now() - started, recourse::DEFAULT_DEADLINE);
    assert_eq!(
        server.count("/silent"),
        1,
        "not resent: the first attempt never ended"
    );

    // The same behind a redirect and inside a poll: one deadline bounds the whole request.
    server.script(
        "/to-silent",
        [Reply::status(307).header("location", "/silent")],
    );
    server.script(
        "/job-silent",
        [Reply::status(202)
            .header("location", "/silent")
            .header("retry-after", "1")],
    );
    let stack = stack_with(ClientStackLayer::new().deadline(Duration::from_secs(5)));
    for (path, expected) in [
        ("/to-silent", ErrorKind::Deadline),
        // The poll layer cuts its poll off at the deadline itself, naming the job.
        ("/job-silent", ErrorKind::PollTimeout),
    ] {
        let started = Instant::now();
        let err = send(
            stack.clone(),
            Request::post(server.uri(path))
                .body(Full::from("x"))
                .unwrap(),
        )
        .await
        .expect_err("never answers");
        assert_eq!(Instant::now() - started, Duration::from_secs(5), "{path}");
        assert_eq!(kind(&err), expected, "{path}: {err}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stalls_after_the_headers_leaves_the_caller_in_control() {
    let server = TestServer::start().await;
    server.fallback(
        "/stall",
        Reply::ok().chunked(
            vec![Bytes::from_static(b"first"), Bytes::from_static(b"never")],
            Duration::from_secs(24 * 3600),
        ),
    );
    let res = send(full_stack(), get(server.uri("/stall"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "first");
    // The deadline covers the response head; the caller bounds the body read.
    let started = Instant::now();
    let next = timeout(Duration::from_secs(10), body.frame()).await;
    assert!(next.is_err(), "the second chunk is a day away");
    assert_eq!(Instant::now() - started, Duration::from_secs(10));
}

// === reuse after hostility ===

#[tokio::test(start_paused = true)]
async fn the_stack_keeps_working_after_every_hostile_case() {
    // One stack (one connection pool, one cache, one retry budget) through a series of
    // hostile answers, then ordinary ones: nothing is left broken.
    let server = TestServer::start().await;
    server.fallback("/ok", Reply::ok().body("fine"));
    server.fallback("/silent", Reply::never());
    server.fallback("/reset", Reply::reset());
    server.fallback("/close", Reply::close());
    server.fallback("/endless", Reply::ok().endless());
    server.fallback(
        "/js",
        Reply::status(302).header("location", "javascript:void(0)"),
    );
    let stack = stack_with(ClientStackLayer::new().deadline(Duration::from_secs(5)));
    let errors = Arc::new(AtomicU64::new(0));
    for round in 0..3 {
        for path in ["/silent", "/reset", "/close", "/endless", "/js", "/ok"] {
            match send(stack.clone(), get(server.uri(path))).await {
                Ok(res) => {
                    let mut body = res.into_body();
                    // Read one frame at most of the endless body, then drop it.
                    let _ = timeout(Duration::from_secs(1), body.frame()).await;
                }
                Err(err) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    let k = kind(&err);
                    assert!(
                        matches!(k, ErrorKind::Deadline | ErrorKind::Transport),
                        "round {round} {path}: {err}"
                    );
                }
            }
        }
        let res = send(stack.clone(), get(server.uri("/ok"))).await.unwrap();
        assert_eq!(text(res).await.unwrap(), "fine", "round {round}");
    }
    // silent, reset and close fail each round (GETs are retried after a reset or close,
    // until the budget or the attempts run out).
    assert_eq!(errors.load(Ordering::Relaxed), 9);
}
