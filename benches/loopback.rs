//! Section 4 of `benches/RESULTS.md`: the full stack (deadline, poll, redirect, cache,
//! retry, classify) around hyper-util's legacy `Client`, next to the bare client, against
//! a recourse-testkit server on 127.0.0.1 (recording off), in interleaved rounds.
//!
//! Each round runs both clients for a fixed time (in alternating order) at each
//! concurrency level and counts completed requests (bodies read to the end). The server's
//! reply is a small uncacheable 200 (`Cache-Control: no-store`): the stack passes it
//! through.
//!
//! `cargo bench --bench loopback`; `RECOURSE_BENCH_ROUNDS` (default 7) and
//! `RECOURSE_BENCH_LOOPBACK_MS` (time per client per round and level, default 1000).

use std::fmt::Debug;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::Body;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use recourse_testkit::{Reply, TestServer};
use tokio::runtime::Runtime;
use tokio::time::Instant;
use tower::{Service, ServiceExt};

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

/// Sends requests one after the other until `end`; returns how many completed.
async fn worker<S, R>(mut svc: S, uri: Uri, end: Instant) -> u64
where
    S: Service<Request<Empty<Bytes>>, Response = Response<R>>,
    S::Error: Debug,
    R: Body,
    R::Error: Debug,
{
    let mut done = 0;
    while Instant::now() < end {
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

/// Requests per second of `concurrency` workers sharing `svc` (cloned) for `time`.
fn throughput<S, R>(rt: &Runtime, svc: &S, uri: &Uri, concurrency: usize, time: Duration) -> f64
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
        let start = Instant::now();
        let end = start + time;
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| tokio::spawn(worker(svc.clone(), uri.clone(), end)))
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("a worker panicked");
        }
        total as f64 / start.elapsed().as_secs_f64()
    })
}

fn main() {
    let rounds = env_u64("RECOURSE_BENCH_ROUNDS", 7) as usize;
    let time = Duration::from_millis(env_u64("RECOURSE_BENCH_LOOPBACK_MS", 1000));
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

    let bare = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let stack = common::full_stack(Client::builder(TokioExecutor::new()).build_http());

    // Warm up: connections, pools, caches.
    for &c in &levels {
        throughput(&rt, &bare, &uri, c, time / 4);
        throughput(&rt, &stack, &uri, c, time / 4);
    }
    // samples[level][0 = bare, 1 = stack]
    let mut samples = vec![[Vec::new(), Vec::new()]; levels.len()];
    for round in 0..rounds {
        for (l, &c) in levels.iter().enumerate() {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let rps = if which == 0 {
                    throughput(&rt, &bare, &uri, c, time)
                } else {
                    throughput(&rt, &stack, &uri, c, time)
                };
                samples[l][which].push(rps);
            }
        }
        eprintln!("round {}/{rounds} done", round + 1);
    }
    println!(
        "{rounds} interleaved rounds of {} ms per client and level; requests/s, median over \
         the rounds (min–max); ratio = median(stack) / median(bare); paired = median over \
         the rounds of stack/bare in the same round.\n",
        time.as_millis()
    );
    println!(
        "| concurrency | bare Client (req/s) | full stack + Client (req/s) | ratio | paired | per request: bare / stack | goal ≥ 0.95 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (l, &c) in levels.iter().enumerate() {
        let [bare_s, stack_s] = &samples[l];
        let range = |s: &Vec<f64>| {
            let min = s.iter().copied().fold(f64::INFINITY, f64::min);
            let max = s.iter().copied().fold(0.0, f64::max);
            format!("{min:.0}–{max:.0}")
        };
        let mut ratios: Vec<f64> = stack_s.iter().zip(bare_s).map(|(s, b)| s / b).collect();
        let paired = median(&mut ratios);
        let b = median(&mut bare_s.clone());
        let s = median(&mut stack_s.clone());
        let ratio = s / b;
        let met = if ratio >= 0.95 {
            format!("met (+{:.3})", ratio - 0.95)
        } else {
            format!("**not met** ({:.3} short)", 0.95 - ratio)
        };
        println!(
            "| {c} | {b:.0} ({}) | {s:.0} ({}) | {ratio:.3} | {paired:.3} | {:.1} µs / {:.1} µs | {met} |",
            range(bare_s),
            range(stack_s),
            1e6 * c as f64 / b,
            1e6 * c as f64 / s,
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nmachine: {} CPUs, load average at the end: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    rt.block_on(server.shutdown());
}
