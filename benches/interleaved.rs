//! Sections 1 to 3 of `benches/RESULTS.md`, measured in interleaved rounds: every round
//! times one batch (about 2 ms, shorter than a scheduler time slice) of every variant, in a
//! rotating order, so that the noise of a shared machine falls on all variants alike.
//! Prints Markdown tables of the medians over the rounds, the overhead over the bare
//! baseline measured in the same rounds, and the goals of issue 19; then issue 19's table
//! (each Recourse row next to its peer, `common::ISSUE19`).
//!
//! `cargo bench --bench interleaved [-- FILTER]`; `RECOURSE_BENCH_ROUNDS` (default 201) and
//! `RECOURSE_BENCH_BATCH_MS` (default 2) tune the run. `RECOURSE_BENCH_JSON=PATH` also
//! writes the results as JSON (every variant; issue 19's rows with median and paired
//! overheads of ours and the peer's, their ratio, the goal), which `benches/chart.py`
//! draws. `RECOURSE_BENCH_ONLY=NAME` (and `RECOURSE_BENCH_ITERS`, default 10000) runs one
//! variant and exits, for profilers; `RECOURSE_BENCH_LIST=1` prints each variant's name,
//! baseline, who wrote it, and for issue 19's rows the peer, the goal, the row's name and
//! its place in the table (tab-separated; `benches/instructions.sh` reads it).

use std::collections::HashMap;
use std::time::Duration;

mod common;

use common::{ISSUE19, Section, Variant, Who, median};

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
    /// Over the baseline, for the variants that have one.
    over: Option<Over>,
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
        // For benches/instructions.sh: name, baseline, who, then for issue 19's rows the
        // peer, whether it is only a reference, the goal, the row's name and its place.
        for v in common::all(&rt) {
            let row = common::issue19_row(v.name);
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                v.name,
                v.baseline.unwrap_or(""),
                who_str(v.who),
                row.and_then(|r| r.peer).unwrap_or(""),
                row.map_or("", |r| if r.reference { "reference" } else { "peer" }),
                row.map_or(String::new(), |r| r.goal_ns.to_string()),
                row.map_or("", |r| r.what),
                ISSUE19
                    .iter()
                    .position(|r| r.ours == v.name)
                    .map_or(String::new(), |i| i.to_string()),
            );
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
    // A filtered run keeps the peers of the Recourse variants it keeps, and the baselines.
    let keep = |name: &str| match &filter {
        Some(f) => {
            name.contains(f.as_str())
                || ISSUE19
                    .iter()
                    .any(|r| r.peer == Some(name) && r.ours.contains(f.as_str()))
        }
        None => true,
    };
    let mut variants: Vec<Variant> = common::all(&rt)
        .into_iter()
        .filter(|v| v.who == Who::Baseline || keep(v.name))
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
    let index: HashMap<&str, usize> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| (v.name, i))
        .collect();
    let rows: Vec<Row> = samples
        .iter()
        .map(|s| {
            let mut sorted = s.clone();
            let median = median(&mut sorted);
            Row {
                median,
                p25: quantile(&sorted, 0.25),
                p75: quantile(&sorted, 0.75),
                over: None,
            }
        })
        .collect();
    // Overheads, once the baselines' medians are known.
    let overs: Vec<Option<Over>> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let b = *index.get(v.baseline?)?;
            let mut diffs: Vec<f64> = samples[i]
                .iter()
                .zip(&samples[b])
                .map(|(x, y)| x - y)
                .collect();
            Some(Over {
                baseline: b,
                median: rows[i].median - rows[b].median,
                paired: median(&mut diffs),
            })
        })
        .collect();
    let rows: Vec<Row> = rows
        .into_iter()
        .zip(overs)
        .map(|(r, over)| Row { over, ..r })
        .collect();

    println!(
        "{rounds} interleaved rounds, batches of ~{} ms; per request: median over the rounds \
         (p25–p75). Overhead = median(variant) − median(baseline); paired = median over \
         the rounds of (variant − baseline) in the same round. Goals: issue 19.\n",
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
            let (base_s, over_s, paired_s) = match &r.over {
                Some(o) => (
                    format!(
                        "{} ({})",
                        variants[o.baseline].name,
                        fmt_ns(rows[o.baseline].median)
                    ),
                    fmt_ns(o.median),
                    fmt_ns(o.paired),
                ),
                None => ("—".into(), "—".into(), "—".into()),
            };
            // Every goal is on the cost added to the bare backend measured in the same
            // rounds (for a hit: to a backend that returns the same body).
            let (goal_s, met_s) = goal_met(v.goal_ns, r.over.as_ref().map(|o| o.median));
            println!(
                "| {} | {} | {} | {}–{} | {base_s} | {over_s} | {paired_s} | {goal_s} | {met_s} |",
                v.name,
                match v.who {
                    Who::Baseline => "—",
                    who => who_str(who),
                },
                fmt_ns(r.median),
                fmt_ns(r.p25),
                fmt_ns(r.p75),
            );
        }
        println!();
    }

    // Issue 19's table: each Recourse row next to its peer, measured in the same rounds.
    let issue19: Vec<Issue19Result<'_>> = ISSUE19
        .iter()
        .filter_map(|row| {
            let ours = *index.get(row.ours)?;
            let peer = row.peer.and_then(|p| index.get(p).copied());
            Some(Issue19Result {
                row,
                ours: rows[ours].over.as_ref()?,
                peer: peer.and_then(|p| rows[p].over.as_ref()),
            })
        })
        .collect();
    if !issue19.is_empty() {
        println!("### Issue 19: each layer next to its peer (overhead over the same baseline)\n");
        println!(
            "| what | ours (paired) | peer in the same run (paired) | ours / peer | goal | met? |"
        );
        println!("|---|---|---|---|---|---|");
        for r in &issue19 {
            let peer_s = match (r.row.peer, r.peer) {
                (Some(name), Some(p)) => format!(
                    "{name}{} {} ({})",
                    if r.row.reference { " (reference)" } else { "" },
                    fmt_signed(p.median),
                    fmt_ns(p.paired)
                ),
                (Some(name), None) => format!("{name}: not measured"),
                (None, _) => "—".into(),
            };
            // Three decimals below 0.1: a cache hit is a hundredth of its peer's.
            let ratio_s = r.ratio().map_or("—".into(), |x| {
                if x < 0.1 {
                    format!("{x:.3}")
                } else {
                    format!("{x:.2}")
                }
            });
            let (goal_s, met_s) = goal_met(Some(r.row.goal_ns), Some(r.ours.median));
            println!(
                "| {} | {} ({}) | {peer_s} | {ratio_s} | {goal_s} | {met_s} |",
                r.row.what,
                fmt_signed(r.ours.median),
                fmt_ns(r.ours.paired),
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
    let load = common::load_average();
    println!(
        "\nmachine: {} CPUs, load average at the end: {load}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    if let Ok(path) = std::env::var("RECOURSE_BENCH_JSON") {
        let command =
            common::command_line("interleaved", filter.as_deref(), &["RECOURSE_BENCH_JSON"]);
        let mut facts = common::run_facts(&command);
        facts["rounds"] = rounds.into();
        facts["batch_ms"] = (target.as_millis() as u64).into();
        let variants_json: Vec<serde_json::Value> = variants
            .iter()
            .zip(&rows)
            .map(|(v, r)| {
                serde_json::json!({
                    "name": v.name,
                    "section": format!("{:?}", v.section),
                    "by": who_str(v.who),
                    "baseline": v.baseline,
                    "median_ns": r1(r.median),
                    "p25_ns": r1(r.p25),
                    "p75_ns": r1(r.p75),
                    "overhead_ns": r.over.as_ref().map(|o| r1(o.median)),
                    "paired_ns": r.over.as_ref().map(|o| r1(o.paired)),
                    "goal_ns": v.goal_ns,
                    "future_bytes": v.future_bytes,
                })
            })
            .collect();
        let rows_json: Vec<serde_json::Value> = issue19
            .iter()
            .map(|r| {
                serde_json::json!({
                    "what": r.row.what,
                    "ours": r.row.ours,
                    "ours_overhead_ns": r1(r.ours.median),
                    "ours_paired_ns": r1(r.ours.paired),
                    "peer": r.row.peer,
                    "peer_is_reference": r.row.reference,
                    "peer_overhead_ns": r.peer.map(|p| r1(p.median)),
                    "peer_paired_ns": r.peer.map(|p| r1(p.paired)),
                    "ratio": r.ratio().map(|x| (x * 1000.0).round() / 1000.0),
                    "goal_ns": r.row.goal_ns,
                    "met": r.ours.median <= r.row.goal_ns,
                })
            })
            .collect();
        common::write_json(
            &path,
            &serde_json::json!({
                "bench": "interleaved",
                "run": facts,
                "issue19": rows_json,
                "variants": variants_json,
            }),
        );
    }
}

/// A variant's cost over its baseline.
#[derive(Clone, Copy)]
struct Over {
    /// Index of the baseline.
    baseline: usize,
    /// median(variant) − median(baseline).
    median: f64,
    /// Median over the rounds of (variant − baseline) in the same round.
    paired: f64,
}

struct Issue19Result<'a> {
    row: &'static common::Issue19Row,
    ours: &'a Over,
    peer: Option<&'a Over>,
}

impl Issue19Result<'_> {
    /// Our overhead over the peer's (both over the same baseline); `None` without a peer
    /// or when the peer's overhead is not positive (a ratio to it means nothing).
    fn ratio(&self) -> Option<f64> {
        let peer = self.peer?.median;
        (peer > 0.0).then(|| self.ours.median / peer)
    }
}

fn who_str(who: Who) -> &'static str {
    match who {
        Who::Baseline => "baseline",
        Who::Recourse => "recourse",
        Who::Peer => "peer",
    }
}

/// The goal and whether `over` meets it, as table cells.
fn goal_met(goal: Option<f64>, over: Option<f64>) -> (String, String) {
    match (goal, over) {
        (Some(goal), Some(x)) if x <= goal => (
            format!("≤ {}", fmt_ns(goal)),
            format!("yes ({} under)", fmt_ns(goal - x)),
        ),
        (Some(goal), Some(x)) => (
            format!("≤ {}", fmt_ns(goal)),
            format!("**no** (+{}, {:.1}×)", fmt_ns(x - goal), x / goal),
        ),
        _ => ("—".into(), "—".into()),
    }
}

/// Rounded to 0.1 ns (the JSON's figures; finer digits are noise).
fn r1(ns: f64) -> f64 {
    (ns * 10.0).round() / 10.0
}

/// `+N ns` (or `−N ns`).
fn fmt_signed(ns: f64) -> String {
    if ns < 0.0 {
        format!("−{}", fmt_ns(-ns))
    } else {
        format!("+{}", fmt_ns(ns))
    }
}
