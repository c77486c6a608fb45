//! Whether anyone listens: what a layer checks before paying for a measurement nobody
//! records. Re-exported from [`observe`](crate::observe).

use std::time::Duration;

use metrics::{NoopRecorder, Recorder};
use tokio::time::Instant;

/// Whether a `metrics` recorder may record what a layer reports: `false` only when the
/// recorder in effect on this thread (a local one, else the global one) is known to be the
/// `metrics` crate's no-op recorder, the one it uses while none is installed.
///
/// The answer is read again on every call (a thread-local read, an atomic load and a
/// comparison): a recorder installed after the stack was built, globally or locally
/// (`metrics::set_default_local_recorder`, `metrics::with_local_recorder`), is seen by the
/// next request. It never answers `false` for a recorder that records. It may answer
/// `true` for the no-op recorder: the no-op recorder is recognized by its vtable, and the
/// compiler may make two copies of a vtable in two codegen units (in practice: in debug
/// builds). A `true` only costs the measurement nobody records.
///
#[inline(never)]
pub fn metrics_enabled() -> bool {
    // `with_recorder` hands out `&NoopRecorder` as a `&dyn Recorder` when no recorder is
    // installed; its vtable is compared with the one made here.
    metrics::with_recorder(|recorder| !is_noop(recorder))
}

/// Whether `recorder` is [`NoopRecorder`]: zero-sized, with the same vtable. Two types
/// share a vtable only when every entry is the same code, so a `true` is never wrong; two
/// copies of the same vtable make a `false` that is merely conservative.
#[inline(always)]
fn is_noop(recorder: &dyn Recorder) -> bool {
    const NOOP: &dyn Recorder = &NoopRecorder;
    if size_of_val(recorder) != 0 {
        return false;
    }
    let recorder = recorder as *const dyn Recorder;
    // The same address for both, so that only the vtables are compared.
    let noop = (NOOP as *const dyn Recorder).with_addr(recorder.addr());
    std::ptr::eq(recorder, noop)
}

/// The duration of an operation, measured on tokio's clock (so paused-time tests control
/// it), and only when someone records it: [`start`](Stopwatch::start) reads the clock only
/// when [`metrics_enabled`] says a recorder listens, so that a layer whose only use of the
/// clock is a duration histogram reads no clock when no recorder is installed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use recourse_core::observe::Stopwatch;
///
/// // Without a recorder (in an optimized build), the clock is not read and there is no
/// // duration to record.
/// let watch = Stopwatch::start();
/// assert_eq!(watch.is_running(), watch.elapsed().is_some());
///
/// let watch = Stopwatch::start_if(true);
/// tokio::time::advance(Duration::from_millis(250)).await;
/// assert_eq!(watch.elapsed(), Some(Duration::from_millis(250)));
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    start: Option<Instant>,
}

impl Stopwatch {
    /// Starts when a `metrics` recorder listens ([`metrics_enabled`]); otherwise reads no
    /// clock and [`elapsed`](Stopwatch::elapsed) answers `None`. An operation that started
    /// before a recorder was installed has no duration.
    #[inline]
    pub fn start() -> Self {
        Stopwatch::start_if(metrics_enabled())
    }

    /// Starts (reads tokio's clock) when `needed`, for a caller that also wants the
    /// duration for something else than a metric.
    #[inline]
    pub fn start_if(needed: bool) -> Self {
        Stopwatch {
            start: needed.then(Instant::now),
        }
    }

    /// A stopwatch that never started: [`elapsed`](Stopwatch::elapsed) answers `None`.
    pub const fn stopped() -> Self {
        Stopwatch { start: None }
    }

    /// Whether it started.
    pub const fn is_running(&self) -> bool {
        self.start.is_some()
    }

    /// The time since it started, or `None` if it did not.
    #[inline]
    pub fn elapsed(&self) -> Option<Duration> {
        self.start.map(|start| start.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use metrics::{
        Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString,
        Unit,
    };

    use super::*;

    /// Sums what is recorded into its histograms, in a static: a recorder that records,
    /// yet is zero-sized like the no-op recorder.
    struct ZeroSized;

    static RECORDED: AtomicU64 = AtomicU64::new(0);

    struct Sum;

    impl HistogramFn for Sum {
        fn record(&self, value: f64) {
            RECORDED.fetch_add(value as u64, Ordering::Relaxed);
        }
    }

    impl CounterFn for Sum {
        fn increment(&self, value: u64) {
            RECORDED.fetch_add(value, Ordering::Relaxed);
        }

        fn absolute(&self, value: u64) {
            RECORDED.store(value, Ordering::Relaxed);
        }
    }

    impl Recorder for ZeroSized {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(std::sync::Arc::new(Sum))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(std::sync::Arc::new(Sum))
        }
    }

    /// A recorder with a field: what every exporter looks like.
    struct Sized {
        registered: AtomicU64,
    }

    impl Recorder for Sized {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            self.registered.fetch_add(1, Ordering::Relaxed);
            Counter::noop()
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            self.registered.fetch_add(1, Ordering::Relaxed);
            Histogram::noop()
        }
    }

    // No test of this binary installs a global recorder: each sees only its own local one.

    /// What the benches rely on: in an optimized build with no recorder installed, nothing
    /// is measured. (Debug builds may keep two copies of the vtable and answer `true`,
    /// which is only conservative; run with `cargo test --release -p recourse-core --lib`.)
    #[cfg(not(debug_assertions))]
    #[test]
    fn an_optimized_build_without_a_recorder_measures_nothing() {
        assert!(!metrics_enabled());
        assert!(!Stopwatch::start().is_running());
    }

    #[test]
    fn the_no_op_recorder_is_recognized_by_its_vtable_only() {
        // `is_noop` of a `&dyn Recorder` made in the same function (one vtable): exact.
        assert!(is_noop(&NoopRecorder));
        // Another zero-sized recorder, with other methods, is not the no-op one.
        assert!(!is_noop(&ZeroSized));
        let sized = Sized {
            registered: AtomicU64::new(0),
        };
        assert!(!is_noop(&sized));
        // `metrics_enabled()` compares with the vtable `metrics` hands out; whatever it
        // answers without a recorder, a stopwatch runs exactly when it says `true`.
        let watch = Stopwatch::start();
        assert_eq!(watch.elapsed().is_some(), watch.is_running());
        assert_eq!(Stopwatch::stopped().elapsed(), None);
    }

    #[test]
    fn a_local_recorder_is_seen_and_so_is_its_removal() {
        let recorder = Sized {
            registered: AtomicU64::new(0),
        };
        {
            let _guard = metrics::set_default_local_recorder(&recorder);
            assert!(metrics_enabled());
            assert!(Stopwatch::start().is_running());
        }
        assert!(metrics::with_local_recorder(&recorder, metrics_enabled));
        // Each check registered nothing.
        assert_eq!(recorder.registered.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_zero_sized_recorder_that_records_is_enabled() {
        assert_eq!(size_of::<ZeroSized>(), 0);
        let enabled = metrics::with_local_recorder(&ZeroSized, || {
            crate::metric_with!(counter, "zero_sized", "k" => "a"; ["a"]).increment(7);
            metrics_enabled()
        });
        assert!(
            enabled,
            "a zero-sized recorder that records is not the no-op one"
        );
        assert_eq!(RECORDED.load(Ordering::Relaxed), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn the_stopwatch_reads_tokio_time() {
        let recorder = Sized {
            registered: AtomicU64::new(0),
        };
        let watch = metrics::with_local_recorder(&recorder, Stopwatch::start);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(watch.elapsed(), Some(Duration::from_secs(3)));
        let forced = Stopwatch::start_if(true);
        tokio::time::advance(Duration::from_millis(5)).await;
        assert_eq!(forced.elapsed(), Some(Duration::from_millis(5)));
        assert_eq!(Stopwatch::start_if(false).elapsed(), None);
    }
}
