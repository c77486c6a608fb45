//! A bounded soak of the full recommended stack (deadline, poll, redirect, cache, retry,
//! classify) around hyper-util's legacy client, against a testkit server on 127.0.0.1
//! that injects 30 % 503s, 5 % connection resets, random delays, redirects and 202 jobs.
//!
//! [`REQUESTS`] requests, [`IN_FLIGHT`] at a time, on one paused-time runtime (every
//! delay, Retry-After, backoff and poll interval is virtual). The server decides each
//! answer from a seeded hash of (path, attempt number), so the mix of faults each request
//! meets is the same on every run whatever the interleaving. It checks:
//!
//! - every request ends, within a bound, in a response or a typed error, and none is lost
//!   (one outcome per request; every call the stack made reached the server);
//! - a POST without an idempotency key never reaches the server twice;
//! - retries stay inside the retry budget (20 % of requests, no floor), and no request is
//!   sent more than `1 + max_retries` times;
//! - every 200 carries its own body, byte for byte (never another's, never empty);
//! - memory stays bounded: the cache's store under its capacity, the process's RSS flat
//!   between the first quarter and the end.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use recourse::cache::{CacheLayer, CacheOutcome, MemoryStore};
use recourse::retry::{RetryBudget, RetryLayer};
use recourse::{Attempt, ClientStackLayer};
use recourse_testkit::{Recorded, Reply, TestServer};
use support::{ErrorKind, HyperClient, StackError, hyper_client, kind, mib, rss_bytes, text};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};
use tower::{Layer, Service, ServiceExt};

/// Requests sent in all.
const REQUESTS: u64 = 20_000;
/// Requests in flight at once.
const IN_FLIGHT: usize = 64;
/// The seed of every decision.
const SEED: u64 = 0x5eed_2026;
/// The retry budget: retries per request, over a window longer than the whole soak.
const BUDGET_RATIO: f64 = 0.2;
const MAX_RETRIES: u32 = 3;
/// The cache's capacity, far below what the cacheable responses add up to.
const CACHE_CAPACITY: u64 = 256 * 1024;
/// Distinct cacheable URIs and the size of each body.
const CACHED_URIS: u64 = 200;
const CACHED_BODY: usize = 4 * 1024;
/// How long any one request may take before the test calls it hung (tokio time).
const HANG: Duration = Duration::from_secs(120);

// === decisions ===

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(SEED, |h, b| splitmix(h ^ u64::from(b)))
}

/// What kind of request number `i` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    /// GET /g/i: 200 "g i".
    Get,
    /// POST /p/i without an idempotency key.
    Post,
    /// POST /k/i with an idempotency key.
    KeyedPost,
    /// GET /c/(i mod 200): cacheable, 4 KiB, max-age=5, revalidated with its ETag.
    Cached,
    /// GET /r/i: 307 to /g/i.
    Redirect,
    /// POST /jobs/i: 202, polled at /jobs/i/status until done.
    Job,
}

fn kind_of(i: u64) -> Kind {
    match splitmix(SEED ^ i) % 100 {
        0..40 => Kind::Get,
        40..55 => Kind::Post,
        55..70 => Kind::KeyedPost,
        70..80 => Kind::Cached,
        80..90 => Kind::Redirect,
        _ => Kind::Job,
    }
}

fn request(i: u64, base: &TestServer) -> (Request<Full<Bytes>>, String) {
    let (method, path, body, key) = match kind_of(i) {
        Kind::Get => (Method::GET, format!("/g/{i}"), "", false),
        Kind::Post => (Method::POST, format!("/p/{i}"), "charge", false),
        Kind::KeyedPost => (Method::POST, format!("/k/{i}"), "charge", true),
        Kind::Cached => (Method::GET, format!("/c/{}", i % CACHED_URIS), "", false),
        Kind::Redirect => (Method::GET, format!("/r/{i}"), "", false),
        Kind::Job => (Method::POST, format!("/jobs/{i}"), "{}", false),
    };
    let mut req = Request::builder()
        .method(method)
        .uri(base.uri(&path))
        .header("x-request-id", i.to_string());
    if key {
        req = req.header("idempotency-key", format!("key-{i}"));
    }
    let req = req
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("a valid request");
    (req, path)
}

/// The body a 200 for request `i` must carry.
fn expected_body(i: u64) -> Option<Bytes> {
    match kind_of(i) {
        Kind::Get | Kind::Redirect => Some(Bytes::from(format!("g {i}"))),
        Kind::Post => Some(Bytes::from(format!("p {i}"))),
        Kind::KeyedPost => Some(Bytes::from(format!("k {i}"))),
        Kind::Cached => Some(cached_body(i % CACHED_URIS)),
        Kind::Job => Some(Bytes::from(format!("job {i} done"))),
    }
}

fn cached_body(k: u64) -> Bytes {
    let mut body = format!("c {k} ").into_bytes();
    body.resize(CACHED_BODY, b'.');
    Bytes::from(body)
}

// === the server ===

#[derive(Default)]
struct ServerState {
    /// Arrivals per path (the query ignored).
    arrivals: HashMap<String, u32>,
    /// Status answers (not faults) given per job.
    job_answers: HashMap<u64, u32>,
    faults: BTreeMap<&'static str, u64>,
}

fn route(state: &Mutex<ServerState>, req: &Recorded) -> Reply {
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    let n = {
        let count = state.arrivals.entry(req.path.clone()).or_insert(0);
        *count += 1;
        *count
    };
    let draw = splitmix(hash_str(&req.path) ^ u64::from(n));
    let delay = Duration::from_millis(splitmix(draw) % 40);
    let fault = draw % 100;
    let mut segments = req.path.trim_start_matches('/').split('/');
    let (first, id) = (segments.next().unwrap_or(""), segments.next());
    let id: Option<u64> = id.and_then(|s| s.parse().ok());
    let status_poll = segments.next() == Some("status");
    let reply = if fault < 30 {
        *state.faults.entry("503").or_insert(0) += 1;
        match fault % 3 {
            0 => Reply::status(503).header("retry-after", "1"),
            1 => Reply::status(503).header("retry-after", "soon"),
            _ => Reply::status(503),
        }
        .body("overloaded")
    } else if fault < 35 {
        *state.faults.entry("reset").or_insert(0) += 1;
        Reply::reset()
    } else {
        match (first, id, status_poll) {
            ("g", Some(i), false) => Reply::ok().body(format!("g {i}")),
            ("p", Some(i), false) if req.method == Method::POST => {
                Reply::ok().body(format!("p {i}"))
            }
            ("k", Some(i), false) if req.method == Method::POST => {
                Reply::ok().body(format!("k {i}"))
            }
            ("c", Some(k), false) => {
                let etag = format!("\"c{k}\"");
                if req.header("if-none-match") == Some(etag.as_str()) {
                    Reply::status(304)
                        .header("etag", &etag)
                        .header("cache-control", "max-age=5")
                } else {
                    Reply::ok()
                        .header("etag", &etag)
                        .header("cache-control", "max-age=5")
                        .body(cached_body(k))
                }
            }
            ("r", Some(i), false) => Reply::status(307).header("location", &format!("/g/{i}")),
            ("jobs", Some(i), false) if req.method == Method::POST => Reply::status(202)
                .header("location", &format!("/jobs/{i}/status"))
                .header("retry-after", "1"),
            ("jobs", Some(i), true) => {
                let need = 1 + u32::try_from(splitmix(SEED ^ i) % 3).unwrap_or(0);
                let answered = state.job_answers.entry(i).or_insert(0);
                *answered += 1;
                if *answered >= need {
                    Reply::ok().body(format!("job {i} done"))
                } else {
                    Reply::status(202).header("retry-after", "1")
                }
            }
            _ => Reply::status(404).body("no such route"),
        }
    };
    reply.delay(delay)
}

// === the client side ===

/// Counts what the stack hands the HTTP client: every call, and the retries among them
/// (the retry layer tags them with `Attempt(n)`, n ≥ 2).
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    calls: Arc<AtomicU64>,
    retries: Arc<AtomicU64>,
}

impl<S, B> Service<Request<B>> for Counted<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> S::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if req.extensions().get::<Attempt>().is_some_and(|a| a.0 >= 2) {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.call(req)
    }
}

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum End {
    Status(u16),
    Error(ErrorKind),
}

async fn one<S>(
    stack: S,
    i: u64,
    req: Request<Full<Bytes>>,
) -> Result<(End, Option<CacheOutcome>), String>
where
    S: Service<
            Request<Full<Bytes>>,
            Response = http::Response<support::StackBody>,
            Error = StackError,
        >,
{
    let res = match stack.oneshot(req).await {
        Ok(res) => res,
        Err(e) => return Ok((End::Error(kind(&e)), None)),
    };
    let status = res.status();
    let cache = CacheOutcome::of(&res);
    let body = text(res).await?;
    if status == StatusCode::OK {
        let expected = expected_body(i).ok_or("no body expected")?;
        if body != expected {
            return Err(format!(
                "request {i} ({:?}): 200 with the wrong body: {:?}",
                kind_of(i),
                String::from_utf8_lossy(&body[..body.len().min(64)])
            ));
        }
    } else if status == StatusCode::SERVICE_UNAVAILABLE && body != "overloaded" {
        return Err(format!("request {i}: 503 with body {body:?}"));
    }
    Ok((End::Status(status.as_u16()), cache))
}

#[tokio::test(start_paused = true)]
async fn soak_the_full_stack_through_faults() {
    let server = TestServer::start().await;
    // Keep counts only: twenty thousand recorded requests would be memory of the test's.
    server.set_recording(false);
    let state = Arc::new(Mutex::new(ServerState::default()));
    {
        let state = state.clone();
        server.handle_prefix("/", move |req| route(&state, req));
    }

    let store = MemoryStore::new(CACHE_CAPACITY);
    let budget =
        RetryBudget::new(Duration::from_secs(3600), 0, BUDGET_RATIO).expect("valid budget");
    let calls = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let client: Counted<HyperClient> = Counted {
        inner: hyper_client(),
        calls: calls.clone(),
        retries: retries.clone(),
    };
    let stack = ClientStackLayer::new()
        .cache(CacheLayer::new().store(store.clone()))
        .retry(RetryLayer::new().max_retries(MAX_RETRIES).budget(budget))
        // Every tenth answer is a 503 with `Retry-After: 1` from the one origin: with the
        // breaker's gate on, every request waits for it (as it should), virtual time runs
        // past the cached entries' max-age and the soak would see no cache hits. The gate
        // is tested in `breaker.rs` and in recourse-breaker.
        .breaker(
            recourse::breaker::BreakerLayer::new()
                .circuit_breaking(false)
                .gate_on_503(false),
        )
        .layer(client);

    let started_virtual = Instant::now();
    let rss_start = rss_bytes();
    let mut rss_quarter = None;
    let mut max_store = 0u64;
    let mut outcomes: Vec<Option<End>> = vec![None; REQUESTS as usize];
    let mut tasks = JoinSet::new();
    let mut next = 0u64;
    let mut done = 0u64;
    let mut failures: Vec<String> = Vec::new();
    let mut from_cache: BTreeMap<String, u64> = BTreeMap::new();
    loop {
        while next < REQUESTS && tasks.len() < IN_FLIGHT {
            let i = next;
            next += 1;
            let (req, _path) = request(i, &server);
            let stack = stack.clone();
            tasks.spawn(async move {
                let started = Instant::now();
                let end = timeout(HANG, one(stack, i, req)).await;
                (i, end, Instant::now() - started)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (i, end, took) = joined.expect("a request task panicked");
        done += 1;
        match end {
            Err(_) => failures.push(format!("request {i} ({:?}) hung for {took:?}", kind_of(i))),
            Ok(Err(e)) => failures.push(e),
            Ok(Ok((end, cache))) => {
                if outcomes[i as usize].replace(end).is_some() {
                    failures.push(format!("request {i} ended twice"));
                }
                if let Some(cache) = cache {
                    *from_cache.entry(format!("{cache:?}")).or_insert(0) += 1;
                }
            }
        }
        if done.is_multiple_of(1000) {
            max_store = max_store.max(store.weighted_size());
        }
        if done == REQUESTS / 4 {
            rss_quarter = rss_bytes();
        }
    }
    let virtual_elapsed = Instant::now() - started_virtual;
    let rss_end = rss_bytes();
    max_store = max_store.max(store.weighted_size());

    // Every request ended once, in a response or a typed error.
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(done, REQUESTS);
    let mut tally: BTreeMap<(Kind, End), u64> = BTreeMap::new();
    for (i, end) in outcomes.iter().enumerate() {
        let end = end.unwrap_or_else(|| panic!("request {i} has no outcome"));
        *tally.entry((kind_of(i as u64), end)).or_insert(0) += 1;
    }
    for ((kind, end), n) in &tally {
        let allowed = matches!(
            end,
            End::Status(200 | 503) | End::Error(ErrorKind::Transport)
        );
        assert!(allowed, "{n} {kind:?} requests ended in {end:?}");
    }

    // No request was lost between the stack and the server, and none went out more often
    // than the retry limit allows.
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    let calls = calls.load(Ordering::Relaxed);
    let retries = retries.load(Ordering::Relaxed);
    let arrivals: u64 = state.arrivals.values().map(|n| u64::from(*n)).sum();
    assert_eq!(
        arrivals, calls,
        "every call the stack made reached the server, and nothing else did"
    );
    assert_eq!(server.total() as u64, arrivals);
    for (path, n) in &state.arrivals {
        if path.starts_with("/p/") {
            assert_eq!(
                *n, 1,
                "{path}: a POST without a key reached the server {n} times"
            );
        } else if !path.starts_with("/c/") && !path.ends_with("/status") {
            assert!(*n <= 1 + MAX_RETRIES, "{path}: sent {n} times");
        }
    }
    for i in 0..REQUESTS {
        if kind_of(i) == Kind::Post && matches!(outcomes[i as usize], Some(End::Status(_))) {
            assert_eq!(state.arrivals.get(&format!("/p/{i}")), Some(&1), "/p/{i}");
        }
    }

    // Seen from the server: paths requested once by design (all but the cached URIs and
    // the job status URLs, which are asked again on purpose) got their extra arrivals
    // only from retries, so those extras cannot exceed the retries the stack counted.
    let server_extra: u64 = state
        .arrivals
        .iter()
        .filter(|(path, _)| !path.starts_with("/c/") && !path.ends_with("/status"))
        .map(|(_, n)| u64::from(n.saturating_sub(1)))
        .sum();
    assert!(
        server_extra <= retries,
        "the server saw {server_extra} repeats, the stack counted {retries} retries"
    );

    // Retries within the budget: 20 % of the requests the retry layer saw (each first
    // attempt deposits), and the window spans the whole soak.
    assert!(virtual_elapsed < Duration::from_secs(3600));
    let first_attempts = calls - retries;
    let allowed = (first_attempts as f64 * BUDGET_RATIO).floor() as u64;
    assert!(
        retries <= allowed,
        "{retries} retries for {first_attempts} requests: over the {BUDGET_RATIO} budget"
    );
    // And the budget was used: the faults asked for far more.
    assert!(
        retries * 10 > allowed * 9,
        "{retries} retries of {allowed} allowed"
    );

    // The cache took part: fresh hits and 304 revalidations.
    assert!(
        from_cache.get("Hit").is_some_and(|n| *n > 0),
        "{from_cache:?}"
    );
    assert!(
        from_cache.get("Revalidated").is_some_and(|n| *n > 0),
        "{from_cache:?}"
    );

    // Bounded memory.
    assert!(
        max_store <= CACHE_CAPACITY,
        "the store held {max_store} bytes, over its {CACHE_CAPACITY}"
    );
    if let (Some(quarter), Some(end)) = (rss_quarter, rss_end) {
        let grew = end.saturating_sub(quarter);
        assert!(
            grew < 16 * 1024 * 1024,
            "RSS grew by {:.1} MiB over the last 15,000 requests",
            mib(grew)
        );
    }

    let ok = tally
        .iter()
        .filter(|((_, e), _)| *e == End::Status(200))
        .map(|(_, n)| n)
        .sum::<u64>();
    println!(
        "soak: {REQUESTS} requests ({ok} answered 200), {calls} calls to the server \
         ({first_attempts} first attempts, {retries} retries, {allowed} allowed by the budget, \
         {server_extra} repeats of single-use paths seen by the server), \
         faults injected {:?}, cache outcomes {from_cache:?}, {:?} of tokio time, \
         store peak {max_store} of {CACHE_CAPACITY} bytes, \
         RSS {:.1} MiB at start, {:.1} MiB after a quarter, {:.1} MiB at the end",
        state.faults,
        virtual_elapsed,
        mib(rss_start.unwrap_or(0)),
        mib(rss_quarter.unwrap_or(0)),
        mib(rss_end.unwrap_or(0)),
    );
    for ((kind, end), n) in &tally {
        println!("  {kind:?} -> {end:?}: {n}");
    }
}
