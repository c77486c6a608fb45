//! Counting heap allocations, for the tests that prove a pass-through path allocates
//! nothing.
//!
//! The counting allocator is [`stats_alloc`]'s (no unsafe code of ours). A global
//! allocator must be declared by each test binary itself, so every allocation test
//! declares the same static, then measures with [`count`] (or [`count_async`]) and keeps
//! the best of a few rounds with [`best_of`] (or [`best_of_async`]):
//!
//! ```
//! use std::alloc::System;
//! use recourse_testkit::alloc::{INSTRUMENTED_SYSTEM, StatsAlloc, best_of, count};
//!
//! #[global_allocator]
//! static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;
//!
//! let mut numbers = Vec::with_capacity(8);
//! let stats = best_of(0, || {
//!     numbers.clear();
//!     count(GLOBAL, || numbers.extend(0..8))
//! });
//! assert_eq!(stats.allocations, 0);
//! ```
//!
//! # The round rule
//!
//! The counter is global to the process: a stray allocation elsewhere (the test harness,
//! a moment of heavy load) can land in one round, but a per-request allocation shows up
//! in every round. So a measurement runs up to [`ROUNDS`] times, stops as soon as a round
//! meets the expected count, and keeps the round with the fewest allocations. Each
//! allocation test is also its own test binary with a single test function, so that no
//! other test allocates concurrently.

use std::alloc::System;
use std::future::Future;

pub use stats_alloc::{INSTRUMENTED_SYSTEM, Region, Stats, StatsAlloc};

/// How many rounds a measurement gets at most (see [the round rule](self#the-round-rule)).
pub const ROUNDS: usize = 5;

/// The allocations a measurement counted: what [`best_of`] compares.
pub trait Allocations {
    /// How many allocations were counted.
    fn allocations(&self) -> usize;
}

impl Allocations for usize {
    fn allocations(&self) -> usize {
        *self
    }
}

impl Allocations for Stats {
    fn allocations(&self) -> usize {
        self.allocations
    }
}

/// What `counter` counted (allocations, reallocations, bytes) while `f` ran.
pub fn count(counter: &StatsAlloc<System>, f: impl FnOnce()) -> Stats {
    let region = Region::new(counter);
    f();
    region.change()
}

/// What `counter` counted (allocations, reallocations, bytes) while `future` was awaited,
/// including whatever else ran on the runtime meanwhile.
pub async fn count_async(counter: &StatsAlloc<System>, future: impl Future<Output = ()>) -> Stats {
    let region = Region::new(counter);
    future.await;
    region.change()
}

/// Runs `round` up to [`ROUNDS`] times, until one counts `expected` allocations, and
/// returns the round with the fewest (the first to meet `expected`, if one does).
pub fn best_of<M: Allocations>(expected: usize, mut round: impl FnMut() -> M) -> M {
    let mut best = round();
    for _ in 1..ROUNDS {
        if best.allocations() == expected {
            break;
        }
        let next = round();
        if next.allocations() == expected || next.allocations() < best.allocations() {
            best = next;
        }
    }
    best
}

/// [`best_of`] for a round that awaits.
pub async fn best_of_async<M: Allocations>(
    expected: usize,
    mut round: impl AsyncFnMut() -> M,
) -> M {
    let mut best = round().await;
    for _ in 1..ROUNDS {
        if best.allocations() == expected {
            break;
        }
        let next = round().await;
        if next.allocations() == expected || next.allocations() < best.allocations() {
            best = next;
        }
    }
    best
}

/// Polls a future that must be ready at once (an in-memory backend; no runtime, so that
/// nothing else allocates), and returns its output.
///
/// # Panics
///
/// If the future is pending.
pub fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the in-memory backend is always ready"),
    }
}

/// `n` GET requests with empty bodies to parsed (not static) URIs
/// `http://api.test/items/{i}?q=1`, as a real client builds them.
pub fn parsed_gets(n: usize) -> Vec<http::Request<http_body_util::Empty<bytes::Bytes>>> {
    (0..n)
        .map(|i| {
            let uri: http::Uri = format!("http://api.test/items/{i}?q=1")
                .parse()
                .expect("a valid URI");
            http::Request::get(uri)
                .body(http_body_util::Empty::new())
                .expect("a valid request")
        })
        .collect()
}
