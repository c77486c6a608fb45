//! Sections 1 to 3 of `benches/RESULTS.md`, measured in interleaved rounds: every round
//! times one batch (about 2 ms, shorter than a scheduler time slice) of every variant, in a
//! rotating order, so that the noise of a shared machine falls on all variants alike. Prints Markdown tables of the medians
//! over the rounds, the overhead over the bare baseline measured in the same rounds, and
//! the goals of issue 9.
//!
//! `cargo bench --bench interleaved [-- FILTER]`; `RECOURSE_BENCH_ROUNDS` (default 201) and
//! `RECOURSE_BENCH_BATCH_MS` (default 2) tune the run. `RECOURSE_BENCH_ONLY=NAME` (and
//! `RECOURSE_BENCH_ITERS`, default 10000) runs one variant and exits, for profilers;
//! `RECOURSE_BENCH_LIST=1` prints each variant's name and baseline.

use std::collections::HashMap;
use std::time::Duration;

mod common;

use common::{Section, Variant, Who, median};

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

/// How many requests make a batch of about `target`.
fn calibrate(v: &mut Variant, rt: &tokio::runtime::Runtime, target: Duration) -> u64 {
    let mut iters = 1u64;
    loop {
        let took = v.run(rt, iters);
        if took >= target / 4 || iters >= 1 << 24 {
            let per = took.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per.max(1e-9)) as u64).clamp(1, 1 << 26);
        }
        iters *= 2;
    }
}

struct Row {
    median: f64,
    p25: f64,
    p75: f64,
    samples: Vec<f64>,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn fmt_ns(ns: f64) -> String {
    if ns.abs() >= 10_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else if ns.abs() >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let rounds = env_u64("RECOURSE_BENCH_ROUNDS", 201) as usize;
    let target = Duration::from_millis(env_u64("RECOURSE_BENCH_BATCH_MS", 2));
    let rt = common::runtime();
    if std::env::var_os("RECOURSE_BENCH_LIST").is_some() {
        // For benches/instructions.sh: each variant's name and baseline.
        for v in common::all(&rt) {
            println!("{}\t{}", v.name, v.baseline.unwrap_or(""));
        }
        return;
    }
    if let Ok(only) = std::env::var("RECOURSE_BENCH_ONLY") {
        // Profiling mode (e.g. under valgrind): one variant, a fixed number of requests.
        let iters = env_u64("RECOURSE_BENCH_ITERS", 10_000);
        let Some(mut v) = common::all(&rt).into_iter().find(|v| v.name == only) else {
            eprintln!("RECOURSE_BENCH_ONLY={only:?}: no such variant");
            std::process::exit(2);
        };
        let took = v.run(&rt, iters);
        println!("{only}: {iters} requests in {took:?}");
        return;
    }
    let mut variants: Vec<Variant> = common::all(&rt)
        .into_iter()
        .filter(|v| match &filter {
            // A filtered run keeps the baselines its variants are compared with.
            Some(f) => v.name.contains(f.as_str()) || v.who == Who::Baseline,
            None => true,
        })
        .collect();
    let n = variants.len();
    eprintln!(
        "calibrating {n} variants ({} ms batches)...",
        target.as_millis()
    );
    let iters: Vec<u64> = variants
        .iter_mut()
        .map(|v| calibrate(v, &rt, target))
        .collect();
    let mut samples = vec![Vec::with_capacity(rounds); n];
    eprintln!("{rounds} rounds...");
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..n).collect();
        order.rotate_left(round % n);
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let took = variants[i].run(&rt, iters[i]);
            samples[i].push(took.as_secs_f64() * 1e9 / iters[i] as f64);
        }
    }
    let rows: Vec<Row> = samples
        .iter()
        .map(|s| {
            let mut sorted = s.clone();
            let median = median(&mut sorted);
            Row {
                median,
                p25: quantile(&sorted, 0.25),
                p75: quantile(&sorted, 0.75),
                samples: s.clone(),
            }
        })
        .collect();
    let index: HashMap<&str, usize> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| (v.name, i))
        .collect();

    println!(
        "{rounds} interleaved rounds, batches of ~{} ms; per request: median over the rounds \
         (p25–p75). Overhead = median(variant) − median(baseline); paired = median over \
         the rounds of (variant − baseline) in the same round.\n",
        target.as_millis()
    );
    for (section, title) in [
        (
            Section::PassThrough,
            "Pass-through (200 from an in-memory service_fn)",
        ),
        (Section::CacheHit, "Cache hits (body collected)"),
        (
            Section::RetryBody,
            "One retry after a 503, in-memory request body",
        ),
    ] {
        let members: Vec<usize> = (0..n).filter(|&i| variants[i].section == section).collect();
        if members.is_empty() {
            continue;
        }
        println!("### {title}\n");
        println!(
            "| variant | by | per request | p25–p75 | baseline | overhead | paired | goal | met |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for &i in &members {
            let v = &variants[i];
            let r = &rows[i];
            let who = match v.who {
                Who::Baseline => "—",
                Who::Recourse => "recourse",
                Who::Peer => "peer",
            };
            let base = v.baseline.and_then(|b| index.get(b).copied());
            let (base_s, over_s, paired_s, over) = match base {
                Some(b) => {
                    let over = r.median - rows[b].median;
                    let mut diffs: Vec<f64> = r
                        .samples
                        .iter()
                        .zip(&rows[b].samples)
                        .map(|(x, y)| x - y)
                        .collect();
                    let paired = median(&mut diffs);
                    (
                        format!("{} ({})", v.baseline.unwrap_or(""), fmt_ns(rows[b].median)),
                        fmt_ns(over),
                        fmt_ns(paired),
                        Some(over),
                    )
                }
                None => ("—".into(), "—".into(), "—".into(), None),
            };
            // Every goal is on the cost added to the bare backend measured in the same
            // rounds (for a hit: to a backend that returns the same body).
            let (goal_s, met_s) = match (v.goal_ns, over) {
                (Some(goal), Some(x)) if x <= goal => (
                    format!("≤ {}", fmt_ns(goal)),
                    format!("yes ({} under)", fmt_ns(goal - x)),
                ),
                (Some(goal), Some(x)) => (
                    format!("≤ {}", fmt_ns(goal)),
                    format!("**no** (+{}, {:.1}×)", fmt_ns(x - goal), x / goal),
                ),
                _ => ("—".into(), "—".into()),
            };
            println!(
                "| {} | {who} | {} | {}–{} | {base_s} | {over_s} | {paired_s} | {goal_s} | {met_s} |",
                v.name,
                fmt_ns(r.median),
                fmt_ns(r.p25),
                fmt_ns(r.p75),
            );
        }
        println!();
    }

    // Does a retry's cost grow with the request body?
    let pair = |a: &str, b: &str| Some((*index.get(a)?, *index.get(b)?));
    for (small, large) in [
        ("retry: 503 then 200, 1 KiB", "retry: 503 then 200, 1 MiB"),
        (
            "tower Retry: 503 then 200, 1 KiB",
            "tower Retry: 503 then 200, 1 MiB",
        ),
        ("cache hit 4 KiB", "cache hit 64 KiB"),
        ("http-cache-tower hit 4 KiB", "http-cache-tower hit 64 KiB"),
    ] {
        if let Some((s, l)) = pair(small, large) {
            println!(
                "- {large} vs {small}: {} vs {} ({:+.1} %)",
                fmt_ns(rows[l].median),
                fmt_ns(rows[s].median),
                (rows[l].median / rows[s].median - 1.0) * 100.0
            );
        }
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
}
