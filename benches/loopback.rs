//! Section 4 of `benches/RESULTS.md`: the full stack (deadline, poll, redirect, cache,
//! retry, classify) around hyper-util's legacy `Client`, next to the bare client, against
//! a recourse-testkit server on 127.0.0.1 (recording off), in interleaved rounds.
//!
//! Each round runs both clients for a fixed time (in alternating order) at each
//! concurrency level and counts completed requests (bodies read to the end). The server's
//! reply is a small uncacheable 200 (`Cache-Control: no-store`): the stack passes it
//! through.
//!
//! `cargo bench --bench loopback`; `RECOURSE_BENCH_ROUNDS` (default 15) and
//! `RECOURSE_BENCH_LOOPBACK_MS` (time per client per round and level, default 500);
//! `RECOURSE_BENCH_LOOPBACK_LAYERS=1` also measures each layer alone (diagnosis);
//! `RECOURSE_BENCH_LOOPBACK_ONLY=NAME` with `RECOURSE_BENCH_LOOPBACK_REQUESTS=N` (diagnosis
//! under callgrind) runs only the client named NAME (`bare Client`, `full stack + Client`
//! or a layer's name of the LAYERS mode): a warm-up of 200 requests, then N requests one
//! after the other, and exits; two runs (N and 2N) give the instructions of one request;
//! `RECOURSE_BENCH_JSON=PATH` also writes the results as JSON (per concurrency level and
//! client: requests/s, ratio and paired ratio to the bare client, CPU per request and CPU
//! ratio; the full stack's goal, ≥ 0.95 of the bare client, and whether it is met), which
//! `benches/chart.py` draws.

use std::fmt::Debug;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::Body;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use recourse::SetDeadlineLayer;
use recourse::cache::CacheLayer;
use recourse::classify::ClassifyLayer;
use recourse::poll::AsyncPollLayer;
use recourse::redirect::RedirectLayer;
use recourse::retry::RetryLayer;
use recourse_testkit::{Reply, TestServer};
use tokio::runtime::Runtime;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

mod common;

use common::median;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => match v.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("{name}={v:?} is not a positive integer; using {default}");
                default
            }
        },
        Err(_) => default,
    }
}

/// Sends requests one after the other until `end` or `limit` requests; returns how many
/// completed.
async fn worker<S, R>(mut svc: S, uri: Uri, end: Instant, limit: u64) -> u64
where
    S: Service<Request<Empty<Bytes>>, Response = Response<R>>,
    S::Error: Debug,
    R: Body,
    R::Error: Debug,
{
    let mut done = 0;
    while done < limit && Instant::now() < end {
        let mut req = Request::new(Empty::new());
        *req.uri_mut() = uri.clone();
        let res = svc
            .ready()
            .await
            .expect("the client is ready")
            .call(req)
            .await
            .expect("the loopback request succeeds");
        assert!(res.status().is_success(), "unexpected {}", res.status());
        common::read_body(res.into_body()).await;
        done += 1;
    }
    done
}

/// CPU time used so far by every thread of this process (client, layers and server alike),
/// from `/proc/self/task/*/schedstat`; `None` where that is not available.
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// One measurement: requests per second, and CPU time per request (µs).
#[derive(Clone, Copy, Debug)]
struct Sample {
    rps: f64,
    cpu_us: Option<f64>,
}

/// `concurrency` workers sharing `svc` (cloned) for `time` (or `limit` requests each).
fn throughput<S, R>(
    rt: &Runtime,
    svc: &S,
    uri: &Uri,
    concurrency: usize,
    time: Duration,
    limit: u64,
) -> Sample
where
    S: Service<Request<Empty<Bytes>>, Response = Response<R>, Future: Send>
        + Clone
        + Send
        + 'static,
    S::Error: Debug,
    R: Body + Send + 'static,
    R::Error: Debug,
{
    rt.block_on(async {
        let cpu_before = process_cpu_ns();
        let start = Instant::now();
        let end = start + time;
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| tokio::spawn(worker(svc.clone(), uri.clone(), end, limit)))
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("a worker panicked");
        }
        let elapsed = start.elapsed();
        let cpu_us = match (cpu_before, process_cpu_ns()) {
            (Some(a), Some(b)) if total > 0 => {
                Some(b.saturating_sub(a) as f64 / 1e3 / total as f64)
            }
            _ => None,
        };
        Sample {
            rps: total as f64 / elapsed.as_secs_f64(),
            cpu_us,
        }
    })
}

/// Diagnosis: `requests` requests one after the other (concurrency 1), counted rather than
/// timed.
fn run_requests(rt: &Runtime, run: &Measure, uri: &Uri, requests: u64) {
    run(rt, uri, 1, Duration::from_secs(3600), requests);
}

/// Runs one client: requests/s at a concurrency for a time (or a number of requests per
/// worker).
type Measure = Box<dyn Fn(&Runtime, &Uri, usize, Duration, u64) -> Sample>;

fn measure<S, R>(svc: S) -> Measure
where
    S: Service<Request<Empty<Bytes>>, Response = Response<R>, Future: Send>
        + Clone
        + Send
        + 'static,
    S::Error: Debug,
    R: Body + Send + 'static,
    R::Error: Debug,
{
    Box::new(move |rt, uri, concurrency, time, limit| {
        if limit != u64::MAX {
            // Diagnosis (ONLY mode): what each request moves around.
            eprintln!(
                "service {} B, response future {} B, response body {} B",
                std::mem::size_of::<S>(),
                std::mem::size_of::<S::Future>(),
                std::mem::size_of::<R>()
            );
        }
        throughput(rt, &svc, uri, concurrency, time, limit)
    })
}

/// Diagnosis: hyper-util's `Client` (304 bytes, several `Arc`s) behind one `Arc`, so that
/// the layers that keep a clone of the inner service per request copy 8 bytes and touch one
/// counter.
struct SharedClient<B>(
    std::sync::Arc<Client<hyper_util::client::legacy::connect::HttpConnector, B>>,
);

impl<B> Clone for SharedClient<B> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<B> Service<Request<B>> for SharedClient<B>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<hyper::body::Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = hyper_util::client::legacy::ResponseFuture;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.0.request(req)
    }
}

/// Issue 19's goal: the full stack's throughput at least this fraction of the bare
/// client's.
const GOAL: f64 = 0.95;

fn main() {
    let rounds = env_u64("RECOURSE_BENCH_ROUNDS", 15) as usize;
    let time = Duration::from_millis(env_u64("RECOURSE_BENCH_LOOPBACK_MS", 500));
    let levels = [1usize, 16];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let server = rt.block_on(TestServer::start());
    server.set_recording(false);
    server.fallback(
        "/bench",
        Reply::ok()
            .header("cache-control", "no-store")
            .header("content-type", "text/plain")
            .body("hello from the testkit"),
    );
    let uri = server.uri("/bench");

    let client = || Client::builder(TokioExecutor::new());
    let mut clients: Vec<(&str, Measure)> = vec![
        (
            "bare Client",
            measure(client().build_http::<Empty<Bytes>>()),
        ),
        (
            "full stack + Client",
            measure(common::full_stack(client().build_http())),
        ),
    ];
    let only = std::env::var("RECOURSE_BENCH_LOOPBACK_ONLY").ok();
    if std::env::var_os("RECOURSE_BENCH_LOOPBACK_LAYERS").is_some() || only.is_some() {
        // Diagnosis: each layer alone around its own client.
        clients.extend([
            (
                "full stack + Arc<Client>",
                measure(common::full_stack(SharedClient(std::sync::Arc::new(
                    client().build_http(),
                )))),
            ),
            (
                "deadline",
                measure(
                    SetDeadlineLayer::new(Duration::from_secs(30)).layer(client().build_http()),
                ),
            ),
            (
                "poll",
                measure(AsyncPollLayer::new().layer(client().build_http())),
            ),
            (
                "redirect",
                measure(RedirectLayer::new().layer(client().build_http())),
            ),
            (
                "cache (shared)",
                measure(CacheLayer::shared().layer(client().build_http())),
            ),
            (
                "retry",
                measure(RetryLayer::new().layer(client().build_http())),
            ),
            (
                "classify",
                measure(ClassifyLayer::new().layer(client().build_http())),
            ),
        ]);
    }
    if let Some(only) = only {
        let requests = env_u64("RECOURSE_BENCH_LOOPBACK_REQUESTS", 1000);
        let Some((_, run)) = clients.iter().find(|(name, _)| *name == only) else {
            eprintln!("RECOURSE_BENCH_LOOPBACK_ONLY={only:?}: no such client");
            std::process::exit(2);
        };
        type Inner = recourse::ReplayBody<
            recourse::redirect::RedirectBody<recourse::poll::PollRequestBody<Empty<Bytes>>>,
        >;
        eprintln!(
            "request to the bare Client {} B, request the full stack sends it {} B (body {} B)",
            std::mem::size_of::<Request<Empty<Bytes>>>(),
            std::mem::size_of::<Request<Inner>>(),
            std::mem::size_of::<Inner>()
        );
        run_requests(&rt, run, &uri, 200);
        run_requests(&rt, run, &uri, requests);
        rt.block_on(server.shutdown());
        return;
    }
    let n = clients.len();

    // Warm up: connections, pools, caches.
    for &c in &levels {
        for (_, run) in &clients {
            run(&rt, &uri, c, time / 4, u64::MAX);
        }
    }
    // samples[level][client]
    let mut samples = vec![vec![Vec::new(); n]; levels.len()];
    for round in 0..rounds {
        for (l, &c) in levels.iter().enumerate() {
            let mut order: Vec<usize> = (0..n).collect();
            order.rotate_left(round % n);
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                samples[l][i].push(clients[i].1(&rt, &uri, c, time, u64::MAX));
            }
        }
        eprintln!("round {}/{rounds} done", round + 1);
    }
    println!(
        "{rounds} interleaved rounds of {} ms per client and level. Requests/s: median over \
         the rounds (min–max); ratio = median(client) / median(bare Client); paired = median \
         over the rounds of client/bare in the same round. CPU: CPU time of the whole process \
         (client, layers and server) per request, median over the rounds; CPU ratio = \
         CPU(bare) / CPU(client), the throughput ratio a CPU-bound run would show, which \
         other processes' load disturbs much less than wall-clock throughput.\n",
        time.as_millis()
    );
    println!(
        "| concurrency | client | requests/s | ratio to bare | paired | CPU per request | CPU ratio | goal ≥ 0.95 (full stack, on the ratio) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut levels_json = Vec::new();
    let med = |xs: &[Sample], f: &dyn Fn(&Sample) -> Option<f64>| {
        let mut v: Vec<f64> = xs.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| median(&mut v))
    };
    for (l, &c) in levels.iter().enumerate() {
        let mut clients_json = Vec::new();
        let base = &samples[l][0];
        let bare = med(base, &|s| Some(s.rps)).unwrap_or(f64::NAN);
        let bare_cpu = med(base, &|s| s.cpu_us);
        for (i, (name, _)) in clients.iter().enumerate() {
            let s = &samples[l][i];
            let min = s.iter().map(|x| x.rps).fold(f64::INFINITY, f64::min);
            let max = s.iter().map(|x| x.rps).fold(0.0, f64::max);
            let rps = med(s, &|x| Some(x.rps)).unwrap_or(f64::NAN);
            let mut ratios: Vec<f64> = s.iter().zip(base).map(|(x, b)| x.rps / b.rps).collect();
            let paired = median(&mut ratios);
            let ratio = rps / bare;
            let cpu = med(s, &|x| x.cpu_us);
            let (cpu_s, cpu_ratio_s) = match (cpu, bare_cpu) {
                (Some(cpu), Some(bare_cpu)) => {
                    (format!("{cpu:.1} µs"), format!("{:.3}", bare_cpu / cpu))
                }
                _ => ("—".into(), "—".into()),
            };
            let goal = match i {
                0 => "—".to_string(),
                1 if ratio >= GOAL => format!("met (+{:.3})", ratio - GOAL),
                1 => format!("**not met** ({:.3} short)", GOAL - ratio),
                _ => String::new(),
            };
            println!(
                "| {c} | {name} | {rps:.0} ({min:.0}–{max:.0}) | {ratio:.3} | {paired:.3} | {cpu_s} | {cpu_ratio_s} | {goal} |"
            );
            let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
            clients_json.push(serde_json::json!({
                "client": name,
                "requests_per_s": rps.round(),
                "min_requests_per_s": min.round(),
                "max_requests_per_s": max.round(),
                "ratio": r3(ratio),
                "paired_ratio": r3(paired),
                "cpu_us_per_request": cpu.map(|x| (x * 100.0).round() / 100.0),
                "cpu_ratio": cpu.zip(bare_cpu).map(|(cpu, bare)| r3(bare / cpu)),
                "goal_ratio": (i == 1).then_some(GOAL),
                "met": (i == 1).then_some(ratio >= GOAL),
            }));
        }
        levels_json.push(serde_json::json!({ "concurrency": c, "clients": clients_json }));
    }
    println!(
        "\nmachine: {} CPUs, load average at the end: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        common::load_average()
    );
    rt.block_on(server.shutdown());
    if let Ok(path) = std::env::var("RECOURSE_BENCH_JSON") {
        let command = common::command_line("loopback", None, &["RECOURSE_BENCH_JSON"]);
        let mut facts = common::run_facts(&command);
        facts["rounds"] = rounds.into();
        facts["ms_per_client_and_level"] = (time.as_millis() as u64).into();
        common::write_json(
            &path,
            &serde_json::json!({
                "bench": "loopback",
                "run": facts,
                "goal_ratio": GOAL,
                "levels": levels_json,
            }),
        );
    }
}
