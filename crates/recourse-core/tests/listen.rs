//! A global `metrics` recorder installed after the layers were built is seen by the next
//! check (its own test binary: the global recorder cannot be removed once set).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use recourse_core::observe::{Stopwatch, metrics_enabled};

/// Counts what is recorded into its histograms.
#[derive(Default)]
struct Counting {
    recorded: Arc<AtomicU64>,
}

struct Count(Arc<AtomicU64>);

impl HistogramFn for Count {
    fn record(&self, _value: f64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Recorder for Counting {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Count(self.recorded.clone())))
    }
}

#[tokio::test(start_paused = true)]
async fn a_global_recorder_installed_later_is_seen_by_the_next_check() {
    // Before: whatever the build answers for the no-op recorder, a stopwatch that did not
    // start has nothing to record.
    let before = Stopwatch::start();
    assert_eq!(before.is_running(), metrics_enabled());

    let recorder = Counting::default();
    let recorded = recorder.recorded.clone();
    metrics::set_global_recorder(recorder).expect("the only global recorder of this binary");

    assert!(metrics_enabled());
    let watch = Stopwatch::start();
    assert!(watch.is_running());
    tokio::time::advance(Duration::from_millis(40)).await;
    let elapsed = watch.elapsed().expect("started");
    assert_eq!(elapsed, Duration::from_millis(40));
    recourse_core::metric_with!(histogram, "demo.duration", "k" => "a"; ["a"])
        .record(elapsed.as_secs_f64());
    assert_eq!(recorded.load(Ordering::Relaxed), 1);
}
