//! What every bench binary shares: the in-memory backends, the variants (one service
//! under test each, with the request it sends), and the loop that times a batch.
//!
//! Every variant is a monomorphised loop behind one `Box<dyn FnMut>` per *batch*, so the
//! dynamic dispatch is paid once per batch, never per request. A request is
//! `GET http://bench.test/items/1` with an empty body and no header (its URI is static: no
//! allocation); the response body is read frame by frame to its end.

#![allow(dead_code)] // each bench binary uses its own part of this module

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::poll_fn;
use std::hint::black_box;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full};
use recourse::SetDeadlineLayer;
use recourse::breaker::BreakerLayer;
use recourse::cache::CacheLayer;
use recourse::classify::ClassifyLayer;
use recourse::poll::AsyncPollLayer;
use recourse::redirect::RedirectLayer;
use recourse::retry::RetryLayer;
use recourse_core::Attempt;
use recourse_core::backoff::Backoff;
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

/// The URI every pass-through request asks for.
pub(crate) const URI: &str = "http://bench.test/items/1";

/// A single-threaded runtime with timers: what the layers need, and nothing that runs
/// beside the measured loop.
pub(crate) fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

// === backends ===

/// A canned response: the in-memory backend builds one per request from it.
#[derive(Debug)]
pub(crate) struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    /// `200 OK`, body `ok`, no header: building it allocates nothing.
    pub(crate) fn ok() -> Self {
        Reply {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"ok"),
        }
    }

    pub(crate) fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn header(mut self, name: http::HeaderName, value: &'static str) -> Self {
        self.headers.append(name, HeaderValue::from_static(value));
        self
    }

    pub(crate) fn body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }

    /// Lives for the whole run: the backend's closure is `Copy`, so cloning the backend
    /// (as retry, redirect and the caches do) costs nothing.
    pub(crate) fn leak(self) -> &'static Reply {
        Box::leak(Box::new(self))
    }

    pub(crate) fn build(&self) -> Response<Full<Bytes>> {
        let mut res = Response::new(Full::new(self.body.clone()));
        *res.status_mut() = self.status;
        if !self.headers.is_empty() {
            *res.headers_mut() = self.headers.clone();
        }
        res
    }
}

/// The in-memory backend: a `tower::service_fn` that drops the request and answers
/// `reply` at once, for any request body type.
pub(crate) fn backend<B>(
    reply: &'static Reply,
) -> impl Service<
    Request<B>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static
where
    B: Send + 'static,
{
    tower::service_fn(move |req: Request<B>| async move {
        drop(req);
        Ok::<_, Infallible>(reply.build())
    })
}

/// As [`backend`], but the response future yields to the runtime once before answering,
/// as a real client's does: layers that arm timers or wakers when the inner future is
/// pending pay for it here.
pub(crate) fn yielding_backend<B>(
    reply: &'static Reply,
) -> impl Service<
    Request<B>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static
where
    B: Send + 'static,
{
    tower::service_fn(move |req: Request<B>| async move {
        drop(req);
        tokio::task::yield_now().await;
        Ok::<_, Infallible>(reply.build())
    })
}

/// A backend that reads the whole request body (frame by frame, no copy), then answers
/// `503` to the first attempt and `200` to the next ones (the retry layer marks retries
/// with [`Attempt`]; tower's `Retry` peer with a header).
pub(crate) fn flaky_backend<B>()
-> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static
where
    B: Body + Send + 'static,
    B::Error: Debug,
{
    tower::service_fn(move |req: Request<B>| async move {
        let retry = req.extensions().get::<Attempt>().is_some()
            || req.headers().contains_key("x-bench-retry");
        black_box(read_body(req.into_body()).await);
        let mut res = Response::new(Full::new(Bytes::from_static(b"ok")));
        if !retry {
            *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        }
        Ok::<_, Infallible>(res)
    })
}

/// Reads a body to its end, frame by frame, without collecting (no allocation, no copy);
/// returns the number of data bytes.
pub(crate) async fn read_body<B>(body: B) -> usize
where
    B: Body,
    B::Error: Debug,
{
    let mut body = pin!(body);
    let mut len = 0;
    while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.expect("the bench bodies do not fail");
        if let Some(data) = frame.data_ref() {
            len += bytes::Buf::remaining(data);
        }
        black_box(&frame);
    }
    len
}

// === requests ===

/// `GET http://bench.test/items/1`, empty body, no header.
pub(crate) fn get() -> Request<Empty<Bytes>> {
    let mut req = Request::new(Empty::new());
    *req.uri_mut() = Uri::from_static(URI);
    req
}

/// A fresh URI per request (for cache misses); the baseline builds the same requests.
pub(crate) fn unique_get() -> impl FnMut() -> Request<Empty<Bytes>> {
    let mut n = 0u64;
    move || {
        n += 1;
        let mut req = Request::new(Empty::new());
        *req.uri_mut() = Uri::try_from(format!("http://bench.test/miss/{n}")).expect("a valid URI");
        req
    }
}

/// `PUT http://bench.test/items/1` with an in-memory body of `body.len()` bytes (the
/// `Bytes` are shared: building the request does not copy them).
pub(crate) fn put(body: &Bytes) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(body.clone()));
    *req.method_mut() = Method::PUT;
    *req.uri_mut() = Uri::from_static(URI);
    req
}

// === timing ===

/// Sends `iters` requests made by `make` through `svc`, one after the other, reading each
/// response body to its end.
pub(crate) async fn drive<S, B, R, F>(svc: &mut S, make: &mut F, iters: u64)
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Error: Debug,
    R: Body,
    R::Error: Debug,
    F: FnMut() -> Request<B>,
{
    for _ in 0..iters {
        let ready = svc
            .ready()
            .await
            .expect("the bench services are always ready");
        let res = ready
            .call(make())
            .await
            .expect("the bench services do not fail");
        black_box(read_body(res.into_body()).await);
    }
}

/// As [`drive`], collecting each body into one `Bytes` (what a client does with it).
pub(crate) async fn drive_collect<S, B, R, F>(svc: &mut S, make: &mut F, iters: u64)
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Error: Debug,
    R: Body,
    R::Error: Debug,
    F: FnMut() -> Request<B>,
{
    for _ in 0..iters {
        let ready = svc
            .ready()
            .await
            .expect("the bench services are always ready");
        let res = ready
            .call(make())
            .await
            .expect("the bench services do not fail");
        let body = res
            .into_body()
            .collect()
            .await
            .expect("the bench bodies do not fail")
            .to_bytes();
        black_box(body);
    }
}

// === variants ===

/// Which table of RESULTS.md a variant belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    PassThrough,
    CacheHit,
    RetryBody,
}

/// Who wrote the service under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Who {
    /// A bare backend: what the other variants are compared with.
    Baseline,
    Recourse,
    Peer,
}

type Batch = Box<dyn FnMut(&Runtime, u64) -> Duration>;

/// One service under test with the requests it sends.
pub(crate) struct Variant {
    pub(crate) name: &'static str,
    pub(crate) section: Section,
    pub(crate) who: Who,
    /// The baseline variant measured in the same run that this one is compared with.
    pub(crate) baseline: Option<&'static str>,
    /// The goal in ns added to the baseline (from [`ISSUE19`]).
    pub(crate) goal_ns: Option<f64>,
    /// `size_of` the service's response future: it is moved at least once per request.
    pub(crate) future_bytes: usize,
    batch: Batch,
}

impl Debug for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variant").field("name", &self.name).finish()
    }
}

impl Variant {
    fn new<S, B, R, F>(
        name: &'static str,
        section: Section,
        who: Who,
        baseline: Option<&'static str>,
        mut svc: S,
        mut make: F,
    ) -> Variant
    where
        S: Service<Request<B>, Response = Response<R>> + 'static,
        S::Error: Debug,
        R: Body,
        R::Error: Debug,
        F: FnMut() -> Request<B> + 'static,
        B: 'static,
    {
        let collect = section == Section::CacheHit;
        Variant {
            name,
            section,
            who,
            baseline,
            goal_ns: issue19_row(name).map(|r| r.goal_ns),
            future_bytes: std::mem::size_of::<S::Future>(),
            batch: Box::new(move |rt: &Runtime, iters: u64| {
                rt.block_on(async {
                    let start = tokio::time::Instant::now();
                    if collect {
                        drive_collect(&mut svc, &mut make, iters).await;
                    } else {
                        drive(&mut svc, &mut make, iters).await;
                    }
                    start.elapsed()
                })
            }),
        }
    }

    /// Times `iters` requests.
    pub(crate) fn run(&mut self, rt: &Runtime, iters: u64) -> Duration {
        (self.batch)(rt, iters)
    }
}

// === the rows of issue 19 ===

/// One row of issue 19's table: a Recourse variant, the variant measured next to it in
/// the same run, and the goal on the Recourse variant's overhead.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Issue19Row {
    /// The row as the issue names it.
    pub(crate) what: &'static str,
    /// The Recourse variant.
    pub(crate) ours: &'static str,
    /// The peer variant (same baseline), if there is one.
    pub(crate) peer: Option<&'static str>,
    /// The peer does not do the same job (a layer that does little, for scale): shown,
    /// but a ratio to it is not a goal.
    pub(crate) reference: bool,
    /// The goal on the overhead, in ns over the baseline.
    pub(crate) goal_ns: f64,
}

const fn row(
    what: &'static str,
    ours: &'static str,
    peer: Option<&'static str>,
    goal_ns: f64,
) -> Issue19Row {
    Issue19Row {
        what,
        ours,
        peer,
        reference: false,
        goal_ns,
    }
}

const fn reference(
    what: &'static str,
    ours: &'static str,
    peer: &'static str,
    goal_ns: f64,
) -> Issue19Row {
    Issue19Row {
        what,
        ours,
        peer: Some(peer),
        reference: true,
        goal_ns,
    }
}

/// The rows of issue 19's table in its order (plus the breaker, goal of issue 16), each
/// with its peer and goal: the one place the benches, `benches/instructions.sh` (through
/// `RECOURSE_BENCH_LIST`) and `benches/chart.py` (through the JSON) take them from. The
/// loopback row (≥ 0.95 of the bare client) is in `benches/loopback.rs`.
pub(crate) const ISSUE19: &[Issue19Row] = &[
    row(
        "retry pass-through",
        "retry",
        Some("tower Retry (never retries, clones)"),
        40.0,
    ),
    row(
        "one retry after a 503, 1 KiB body",
        "retry: 503 then 200, 1 KiB",
        Some("tower Retry: 503 then 200, 1 KiB"),
        294.0,
    ),
    row(
        "one retry after a 503, 1 MiB body",
        "retry: 503 then 200, 1 MiB",
        Some("tower Retry: 503 then 200, 1 MiB"),
        294.0,
    ),
    reference(
        "classify, status only",
        "classify (status only)",
        "tower-http TraceLayer (no-op callbacks)",
        20.0,
    ),
    row("poll pass-through", "poll", None, 40.0),
    row(
        "redirect pass-through",
        "redirect",
        Some("tower-http FollowRedirect"),
        40.0,
    ),
    reference(
        "deadline, inner future pending once",
        "deadline (pending once)",
        "tower Timeout (pending once)",
        100.0,
    ),
    row(
        "cache, uncacheable response",
        "cache (uncacheable: no-store)",
        Some("http-cache-tower (uncacheable: no-store)"),
        300.0,
    ),
    row(
        "cache hit, 4 KiB",
        "cache hit 4 KiB",
        Some("http-cache-tower hit 4 KiB"),
        300.0,
    ),
    row(
        "cache hit, 64 KiB",
        "cache hit 64 KiB",
        Some("http-cache-tower hit 64 KiB"),
        300.0,
    ),
    row(
        "full stack, 200 without cache headers",
        "full stack (200 without cache headers)",
        None,
        500.0,
    ),
    row(
        "breaker pass-through (issue 16)",
        "breaker",
        Some("tower ConcurrencyLimit"),
        50.0,
    ),
];

/// The row of [`ISSUE19`] whose Recourse variant is `name`.
pub(crate) fn issue19_row(name: &str) -> Option<&'static Issue19Row> {
    ISSUE19.iter().find(|r| r.ours == name)
}

// === run facts, for the machine-readable output ===

/// What a machine-readable result says about its run: when (UTC), on which commit (from
/// `git describe --always --dirty`, run in the current directory; `null` outside a
/// checkout), the command, the machine's CPUs and load average.
pub(crate) fn run_facts(command: &str) -> serde_json::Value {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let commit = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=10"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string());
    serde_json::json!({
        "date_utc": utc(unix),
        "unix_time": unix,
        "commit": commit,
        "command": command,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "load_average": load_average(),
    })
}

/// The first three fields of `/proc/loadavg` (empty where there is none).
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `YYYY-MM-DD HH:MM` (UTC) of a Unix time (days to civil date: H. Hinnant's algorithm).
fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// The command that reproduces this run: the `RECOURSE_BENCH_*` settings given (those in
/// `skip` aside), then `cargo bench --bench NAME`, then the filter.
pub(crate) fn command_line(bench: &str, filter: Option<&str>, skip: &[&str]) -> String {
    let mut vars: Vec<String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("RECOURSE_BENCH_") && !skip.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    vars.sort();
    let mut cmd = vars.join(" ");
    if !cmd.is_empty() {
        cmd.push(' ');
    }
    cmd.push_str("cargo bench --bench ");
    cmd.push_str(bench);
    if let Some(f) = filter {
        cmd.push_str(" -- ");
        cmd.push_str(f);
    }
    cmd
}

/// Writes `value` as pretty JSON to `path`, creating its directory.
pub(crate) fn write_json(path: &str, value: &serde_json::Value) {
    let path = std::path::Path::new(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).expect("the JSON output's directory");
    }
    let text = serde_json::to_string_pretty(value).expect("JSON");
    std::fs::write(path, text + "\n").expect("the JSON output");
    eprintln!("wrote {}", path.display());
}

// === peers' configuration ===

/// tower's `Retry` with a policy that never retries but clones every request (what a
/// retry policy must do to be able to retry).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NeverRetry;

/// tower's `Retry` with a policy that retries once after a 503, cloning the request
/// (`Full<Bytes>` clones without copying).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryOnce {
    used: bool,
}

fn clone_request<B: Clone>(req: &Request<B>) -> Request<B> {
    let mut clone = Request::new(req.body().clone());
    *clone.method_mut() = req.method().clone();
    *clone.uri_mut() = req.uri().clone();
    *clone.version_mut() = req.version();
    *clone.headers_mut() = req.headers().clone();
    *clone.extensions_mut() = req.extensions().clone();
    clone
}

impl<B: Clone, R, E> tower::retry::Policy<Request<B>, Response<R>, E> for NeverRetry {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _req: &mut Request<B>,
        _result: &mut Result<Response<R>, E>,
    ) -> Option<Self::Future> {
        None
    }

    fn clone_request(&mut self, req: &Request<B>) -> Option<Request<B>> {
        Some(clone_request(req))
    }
}

impl<B: Clone, R, E> tower::retry::Policy<Request<B>, Response<R>, E> for RetryOnce {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        req: &mut Request<B>,
        result: &mut Result<Response<R>, E>,
    ) -> Option<Self::Future> {
        match result {
            Ok(res) if res.status() == StatusCode::SERVICE_UNAVAILABLE && !self.used => {
                self.used = true;
                req.headers_mut()
                    .insert("x-bench-retry", HeaderValue::from_static("1"));
                Some(std::future::ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &Request<B>) -> Option<Request<B>> {
        Some(clone_request(req))
    }
}

/// tower-http's `TraceLayer` with every callback a no-op and no span: what remains is its
/// classification plumbing.
macro_rules! noop_trace {
    () => {
        tower_http::trace::TraceLayer::new_for_http()
            .make_span_with(|_: &Request<Empty<Bytes>>| tracing::Span::none())
            .on_request(())
            .on_response(())
            .on_body_chunk(())
            .on_eos(())
            .on_failure(())
    };
}

/// http-cache-tower with its moka manager and default options.
fn http_cache_tower() -> http_cache_tower::HttpCacheLayer<http_cache::MokaManager> {
    http_cache_tower::HttpCacheLayer::new(http_cache::MokaManager::default())
}

/// A 1 KiB JSON body with `Response.Code` 0 (a success the classify layer must read).
pub(crate) fn json_1k() -> Bytes {
    let head = r#"{"Response":{"Code":0,"Message":"OK"},"Data":{"Items":["#;
    let tail = r#"]}}"#;
    let mut body = String::from(head);
    let mut i = 0;
    while body.len() + tail.len() + 16 < 1024 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!("\"item-{i:04}\""));
        i += 1;
    }
    body.push_str(tail);
    while body.len() < 1024 {
        body.insert(body.len() - tail.len(), ' ');
    }
    debug_assert_eq!(body.len(), 1024);
    Bytes::from(body)
}

/// The full recommended stack (outermost first): deadline, poll, redirect, cache, retry,
/// classify.
pub(crate) fn full_stack<S, B, R>(
    inner: S,
) -> impl Service<
    Request<B>,
    Response = Response<impl Body<Error: Debug> + Send>,
    Error: Debug,
    Future: Send,
> + Clone
+ Send
+ 'static
where
    S: Service<
            Request<
                recourse::ReplayBody<
                    recourse::redirect::RedirectBody<recourse::poll::PollRequestBody<B>>,
                >,
            >,
            Response = Response<R>,
            Error: Debug + Send + 'static,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static,
    R: Body<Data = Bytes, Error: Debug + Send> + Send + 'static,
    B: Body<Data = Bytes, Error = Infallible> + Default + Send + 'static,
{
    ServiceBuilder::new()
        .layer(SetDeadlineLayer::new(Duration::from_secs(30)))
        .layer(AsyncPollLayer::new())
        .layer(RedirectLayer::new())
        .layer(CacheLayer::new())
        .layer(RetryLayer::new())
        .layer(ClassifyLayer::new())
        .service(inner)
}

fn pass(
    name: &'static str,
    who: Who,
    baseline: &'static str,
    svc: impl Service<
        Request<Empty<Bytes>>,
        Response = Response<impl Body<Error: Debug> + 'static>,
        Error: Debug,
    > + 'static,
    make: impl FnMut() -> Request<Empty<Bytes>> + 'static,
) -> Variant {
    Variant::new(name, Section::PassThrough, who, Some(baseline), svc, make)
}

/// Section 1: one 200 through each layer, next to the peers and the bare backends.
pub(crate) fn pass_through() -> Vec<Variant> {
    let ok = Reply::ok().leak();
    let json = Reply::ok()
        .header(CONTENT_TYPE, "application/json")
        .body(json_1k())
        .leak();
    let no_store = Reply::ok().header(CACHE_CONTROL, "no-store").leak();
    let max_age = Reply::ok().header(CACHE_CONTROL, "max-age=3600").leak();

    use Who::{Baseline, Peer, Recourse};
    let base = |name, reply, make: fn() -> Request<Empty<Bytes>>| {
        Variant::new(
            name,
            Section::PassThrough,
            Baseline,
            None,
            backend::<Empty<Bytes>>(reply),
            make,
        )
    };
    vec![
        base("baseline", ok, get),
        base("baseline: JSON 1 KiB", json, get),
        base("baseline: no-store", no_store, get),
        Variant::new(
            "baseline: unique URIs, max-age",
            Section::PassThrough,
            Baseline,
            None,
            backend::<Empty<Bytes>>(max_age),
            unique_get(),
        ),
        // Recourse
        pass(
            "classify (status only)",
            Recourse,
            "baseline",
            ClassifyLayer::new().layer(backend(ok)),
            get,
        ),
        pass(
            "classify (JSON 1 KiB, Code 0)",
            Recourse,
            "baseline: JSON 1 KiB",
            ClassifyLayer::new().layer(backend(json)),
            get,
        ),
        pass(
            "redirect",
            Recourse,
            "baseline",
            RedirectLayer::new().layer(backend(ok)),
            get,
        ),
        pass(
            "retry",
            Recourse,
            "baseline",
            RetryLayer::new().layer(backend(ok)),
            get,
        ),
        pass(
            "breaker",
            Recourse,
            "baseline",
            BreakerLayer::new().layer(backend(ok)),
            get,
        ),
        pass(
            "cache (uncacheable: no-store)",
            Recourse,
            "baseline: no-store",
            CacheLayer::new().layer(backend(no_store)),
            get,
        ),
        pass(
            "cache (200 without cache headers)",
            Recourse,
            "baseline",
            CacheLayer::new().layer(backend(ok)),
            get,
        ),
        pass(
            "cache (miss, stored)",
            Recourse,
            "baseline: unique URIs, max-age",
            CacheLayer::new().layer(backend(max_age)),
            unique_get(),
        ),
        pass(
            "poll",
            Recourse,
            "baseline",
            AsyncPollLayer::new().layer(backend(ok)),
            get,
        ),
        pass(
            "full stack (no-store)",
            Recourse,
            "baseline: no-store",
            full_stack(backend(no_store)),
            get,
        ),
        pass(
            "full stack (200 without cache headers)",
            Recourse,
            "baseline",
            full_stack(backend(ok)),
            get,
        ),
        // The backend's future pending once (as over a network).
        Variant::new(
            "baseline: pending once, no-store",
            Section::PassThrough,
            Baseline,
            None,
            yielding_backend::<Empty<Bytes>>(no_store),
            get,
        ),
        pass(
            "deadline (pending once)",
            Recourse,
            "baseline: pending once, no-store",
            SetDeadlineLayer::new(Duration::from_secs(30)).layer(yielding_backend(no_store)),
            get,
        ),
        pass(
            "full stack (no-store, pending once)",
            Recourse,
            "baseline: pending once, no-store",
            full_stack(yielding_backend(no_store)),
            get,
        ),
        // Peers
        pass(
            "tower-http FollowRedirect",
            Peer,
            "baseline",
            tower_http::follow_redirect::FollowRedirectLayer::new().layer(backend(ok)),
            get,
        ),
        pass(
            "tower Retry (never retries, clones)",
            Peer,
            "baseline",
            tower::retry::RetryLayer::new(NeverRetry).layer(backend(ok)),
            get,
        ),
        pass(
            "tower-http TraceLayer (no-op callbacks)",
            Peer,
            "baseline",
            noop_trace!().layer(backend(ok)),
            get,
        ),
        // A limit that never binds: a permit of a shared semaphore per request (the
        // breaker's peer: per-request shared state in front of the service).
        pass(
            "tower ConcurrencyLimit",
            Peer,
            "baseline",
            tower::limit::ConcurrencyLimitLayer::new(1 << 20).layer(backend(ok)),
            get,
        ),
        // A timer per request (the deadline's reference: it arms a `Sleep` on every call).
        pass(
            "tower Timeout (pending once)",
            Peer,
            "baseline: pending once, no-store",
            tower::timeout::TimeoutLayer::new(Duration::from_secs(30))
                .layer(yielding_backend(no_store)),
            get,
        ),
        pass(
            "http-cache-tower (uncacheable: no-store)",
            Peer,
            "baseline: no-store",
            http_cache_tower().layer(backend(no_store)),
            get,
        ),
        pass(
            "http-cache-tower (200 without cache headers)",
            Peer,
            "baseline",
            http_cache_tower().layer(backend(ok)),
            get,
        ),
        pass(
            "http-cache-tower (miss, stored)",
            Peer,
            "baseline: unique URIs, max-age",
            http_cache_tower().layer(backend(max_age)),
            unique_get(),
        ),
    ]
}

/// A body of `len` bytes.
pub(crate) fn payload(len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>())
}

/// Sends one request through `svc` so that the next ones are hits, and checks that the
/// next one is a hit (by `is_hit`) with the whole body: a bench of hits that were not
/// would measure something else.
fn primed<S, R>(rt: &Runtime, mut svc: S, len: usize, is_hit: fn(&Response<R>) -> bool) -> S
where
    S: Service<Request<Empty<Bytes>>, Response = Response<R>, Error: Debug>,
    R: Body<Error: Debug>,
{
    rt.block_on(async {
        for attempt in 0..2 {
            let res = svc
                .ready()
                .await
                .expect("ready")
                .call(get())
                .await
                .expect("the priming request");
            let hit = is_hit(&res);
            assert_eq!(read_body(res.into_body()).await, len, "the whole body");
            assert!(attempt == 0 || hit, "the second request must be a hit");
        }
    });
    svc
}

fn recourse_hit<B>(res: &Response<B>) -> bool {
    recourse::cache::CacheOutcome::of(res) == Some(recourse::cache::CacheOutcome::Hit)
}

fn http_cache_tower_hit<B>(res: &Response<B>) -> bool {
    res.headers()
        .get(http_cache::XCACHE)
        .is_some_and(|v| v == "HIT")
}

/// Section 2: fresh hits of 4 KiB and 64 KiB, body collected.
pub(crate) fn cache_hits(rt: &Runtime) -> Vec<Variant> {
    let small = Reply::ok()
        .header(CACHE_CONTROL, "max-age=3600")
        .body(payload(4 * 1024))
        .leak();
    let large = Reply::ok()
        .header(CACHE_CONTROL, "max-age=3600")
        .body(payload(64 * 1024))
        .leak();
    let hit = |name, who, baseline: Option<&'static str>, svc| {
        Variant::new(name, Section::CacheHit, who, baseline, svc, get)
    };
    vec![
        Variant::new(
            "baseline: 4 KiB",
            Section::CacheHit,
            Who::Baseline,
            None,
            backend::<Empty<Bytes>>(small),
            get,
        ),
        Variant::new(
            "baseline: 64 KiB",
            Section::CacheHit,
            Who::Baseline,
            None,
            backend::<Empty<Bytes>>(large),
            get,
        ),
        hit(
            "cache hit 4 KiB",
            Who::Recourse,
            Some("baseline: 4 KiB"),
            primed(
                rt,
                CacheLayer::new().layer(backend(small)),
                4096,
                recourse_hit,
            ),
        ),
        hit(
            "cache hit 64 KiB",
            Who::Recourse,
            Some("baseline: 64 KiB"),
            primed(
                rt,
                CacheLayer::new().layer(backend(large)),
                65536,
                recourse_hit,
            ),
        ),
        Variant::new(
            "http-cache-tower hit 4 KiB",
            Section::CacheHit,
            Who::Peer,
            Some("baseline: 4 KiB"),
            primed(
                rt,
                http_cache_tower().layer(backend(small)),
                4096,
                http_cache_tower_hit,
            ),
            get,
        ),
        Variant::new(
            "http-cache-tower hit 64 KiB",
            Section::CacheHit,
            Who::Peer,
            Some("baseline: 64 KiB"),
            primed(
                rt,
                http_cache_tower().layer(backend(large)),
                65536,
                http_cache_tower_hit,
            ),
            get,
        ),
    ]
}

/// Sends one request made by `make` through `svc` and checks its response with `ok`.
fn checked<S, B, R>(
    rt: &Runtime,
    mut svc: S,
    make: &mut impl FnMut() -> Request<B>,
    ok: fn(&Response<R>) -> bool,
    what: &str,
) -> S
where
    S: Service<Request<B>, Response = Response<R>, Error: Debug>,
    R: Body<Error: Debug>,
{
    rt.block_on(async {
        let res = svc
            .ready()
            .await
            .expect("ready")
            .call(make())
            .await
            .expect("the checked request");
        assert!(ok(&res), "{what}: unexpected {}", res.status());
        read_body(res.into_body()).await;
    });
    svc
}

/// Section 3: one retry after a 503 with a 1 KiB and a 1 MiB in-memory request body.
pub(crate) fn retry_bodies(rt: &Runtime) -> Vec<Variant> {
    let mut out = Vec::new();
    for (size, label) in [(1024, "1 KiB"), (1024 * 1024, "1 MiB")] {
        let body = payload(size);
        let names: [&'static str; 3] = match label {
            "1 KiB" => [
                "baseline: one 503, 1 KiB",
                "retry: 503 then 200, 1 KiB",
                "tower Retry: 503 then 200, 1 KiB",
            ],
            _ => [
                "baseline: one 503, 1 MiB",
                "retry: 503 then 200, 1 MiB",
                "tower Retry: 503 then 200, 1 MiB",
            ],
        };
        let mut make = {
            let body = body.clone();
            move || put(&body)
        };
        let bare = checked(
            rt,
            flaky_backend::<Full<Bytes>>(),
            &mut make,
            |res| res.status() == StatusCode::SERVICE_UNAVAILABLE,
            names[0],
        );
        out.push(Variant::new(
            names[0],
            Section::RetryBody,
            Who::Baseline,
            None,
            bare,
            make.clone(),
        ));
        let ours = checked(
            rt,
            RetryLayer::new()
                .no_budget()
                .backoff(Backoff::constant(Duration::ZERO))
                .layer(flaky_backend()),
            &mut make,
            |res| {
                res.status() == StatusCode::OK
                    && recourse::retry::RetryInfo::of(res).is_some_and(|i| i.attempts() == 2)
            },
            names[1],
        );
        out.push(Variant::new(
            names[1],
            Section::RetryBody,
            Who::Recourse,
            Some(names[0]),
            ours,
            make.clone(),
        ));
        let tower = checked(
            rt,
            tower::retry::RetryLayer::new(RetryOnce { used: false }).layer(flaky_backend()),
            &mut make,
            |res| res.status() == StatusCode::OK,
            names[2],
        );
        out.push(Variant::new(
            names[2],
            Section::RetryBody,
            Who::Peer,
            Some(names[0]),
            tower,
            make,
        ));
    }
    out
}

/// Every variant of sections 1 to 3.
pub(crate) fn all(rt: &Runtime) -> Vec<Variant> {
    let mut v = pass_through();
    v.extend(cache_hits(rt));
    v.extend(retry_bodies(rt));
    v
}

/// The median of `xs` (sorted in place).
pub(crate) fn median(xs: &mut [f64]) -> f64 {
    assert!(!xs.is_empty(), "median of nothing");
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}
