//! Allocations per request of every variant of sections 1 to 3 (see `benches/common`),
//! counted by a global allocator, next to the bare baseline each is compared with.
//! Prints a Markdown table (with the size of each service's response future, which every
//! request moves) and exits 0.
//!
//! `cargo bench --bench alloc [-- FILTER]`; `RECOURSE_BENCH_JSON=PATH` also writes the
//! counts as JSON.

use std::alloc::System;
use std::collections::HashMap;

use recourse_testkit::alloc::{INSTRUMENTED_SYSTEM, StatsAlloc, count};

mod common;

use common::Who;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The variants that must not allocate more than their baseline: the pass-through of
/// redirect, retry, status-only classify (issue 9), poll, the breaker and a cache hit
/// (issue 19).
const ZERO_GOAL: [&str; 7] = [
    "redirect",
    "retry",
    "classify (status only)",
    "poll",
    "breaker",
    "cache hit 4 KiB",
    "cache hit 64 KiB",
];

/// Requests per measurement: enough that the batch's own fixed cost (entering the
/// runtime) rounds away.
const REQUESTS: u64 = 4000;

struct Count {
    allocs: f64,
    reallocs: f64,
    bytes: f64,
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let rt = common::runtime();
    let mut variants = common::all(&rt);
    let mut counts = Vec::with_capacity(variants.len());
    for v in &mut variants {
        // Warm up: lazily built state (the runtime's timer wheel, caches' first entries).
        v.run(&rt, 200);
        let change = count(GLOBAL, || {
            v.run(&rt, REQUESTS);
        });
        counts.push(Count {
            allocs: change.allocations as f64 / REQUESTS as f64,
            reallocs: change.reallocations as f64 / REQUESTS as f64,
            bytes: change.bytes_allocated as f64 / REQUESTS as f64,
        });
    }
    let index: HashMap<&str, usize> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| (v.name, i))
        .collect();

    println!("Heap allocations per request ({REQUESTS} requests after 200 of warm-up).\n");
    println!(
        "| variant | by | allocations | reallocations | bytes | baseline | extra allocations | extra bytes | goal | future size |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut json = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        if filter
            .as_ref()
            .is_some_and(|f| !v.name.contains(f.as_str()))
        {
            continue;
        }
        let c = &counts[i];
        let who = match v.who {
            Who::Baseline => "—",
            Who::Recourse => "recourse",
            Who::Peer => "peer",
        };
        let (base, extra, extra_bytes, goal) = match v.baseline.and_then(|b| index.get(b)) {
            Some(&b) => {
                let extra = c.allocs - counts[b].allocs;
                let goal = if !ZERO_GOAL.contains(&v.name) {
                    "—".to_string()
                } else if extra.abs() < 0.005 {
                    "0: met".to_string()
                } else {
                    format!("0: **not met** (+{extra:.2})")
                };
                (
                    v.baseline.unwrap_or(""),
                    format!("{extra:.2}"),
                    format!("{:.0}", c.bytes - counts[b].bytes),
                    goal,
                )
            }
            None => ("—", "—".into(), "—".into(), "—".into()),
        };
        println!(
            "| {} | {who} | {:.2} | {:.2} | {:.0} | {base} | {extra} | {extra_bytes} | {goal} | {} B |",
            v.name, c.allocs, c.reallocs, c.bytes, v.future_bytes
        );
        let base = v.baseline.and_then(|b| index.get(b)).map(|&b| &counts[b]);
        let r2 = |x: f64| (x * 100.0).round() / 100.0;
        json.push(serde_json::json!({
            "name": v.name,
            "by": who,
            "baseline": v.baseline,
            "allocations": r2(c.allocs),
            "reallocations": r2(c.reallocs),
            "bytes": c.bytes.round(),
            "extra_allocations": base.map(|b| r2(c.allocs - b.allocs)),
            "extra_bytes": base.map(|b| (c.bytes - b.bytes).round()),
            "goal_extra_allocations": ZERO_GOAL.contains(&v.name).then_some(0),
            "future_bytes": v.future_bytes,
        }));
    }
    if let Ok(path) = std::env::var("RECOURSE_BENCH_JSON") {
        let command = common::command_line("alloc", filter.as_deref(), &["RECOURSE_BENCH_JSON"]);
        let mut facts = common::run_facts(&command);
        facts["requests"] = REQUESTS.into();
        common::write_json(
            &path,
            &serde_json::json!({ "bench": "alloc", "run": facts, "variants": json }),
        );
    }
}
