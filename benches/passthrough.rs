//! Criterion benches of sections 1 to 3 of `benches/RESULTS.md`: pass-through overhead per
//! layer next to the peers and a bare `service_fn`, cache hits, and retries with large
//! request bodies. Each group holds the baselines it is compared with, measured in the
//! same run; `benches/interleaved.rs` measures the same variants in interleaved rounds
//! (the figures of RESULTS.md).
//!
//! `cargo bench --bench passthrough [-- FILTER]`

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

mod common;

use common::Section;

fn bench_section(c: &mut Criterion, section: Section, group: &str) {
    let rt = common::runtime();
    let mut variants: Vec<_> = common::all(&rt)
        .into_iter()
        .filter(|v| v.section == section)
        .collect();
    let mut g = c.benchmark_group(group);
    for v in &mut variants {
        g.bench_function(v.name, |b| b.iter_custom(|iters| v.run(&rt, iters)));
    }
    g.finish();
}

fn passthrough(c: &mut Criterion) {
    bench_section(c, Section::PassThrough, "passthrough");
}

fn cache_hit(c: &mut Criterion) {
    bench_section(c, Section::CacheHit, "cache_hit");
}

fn retry_body(c: &mut Criterion) {
    bench_section(c, Section::RetryBody, "retry_body");
}

fn config() -> Criterion {
    // About 1.5 s per variant: the whole binary stays near a minute on 2 cores.
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .noise_threshold(0.05)
}

criterion_group! {
    name = benches;
    config = config();
    targets = passthrough, cache_hit, retry_body
}
criterion_main!(benches);
