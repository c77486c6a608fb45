//! The breaker's settings and their defaults.

use std::time::Duration;

/// Default: consecutive failures that open the circuit (Envoy's `consecutive_5xx`, 5).
pub const DEFAULT_CONSECUTIVE_FAILURES: u32 = 5;
/// Default: the failure ratio over the sampling window that opens the circuit (Polly's
/// `FailureRatio`; Polly defaults to 0.1, which opens on a tenth of requests failing;
/// half is a less jumpy start for clients of one service).
pub const DEFAULT_FAILURE_RATIO: f64 = 0.5;
/// Default: the fewest requests in the sampling window before the ratio is judged
/// (Polly's `MinimumThroughput`, Envoy's `failure_percentage_request_volume`).
pub const DEFAULT_MINIMUM_THROUGHPUT: u32 = 20;
/// Default: the sliding window over which the ratio is computed (Polly's
/// `SamplingDuration`, 30 s).
pub const DEFAULT_SAMPLING_DURATION: Duration = Duration::from_secs(30);
/// Default: how long the circuit stays open the first time (Polly's `BreakDuration`, 5 s).
pub const DEFAULT_BREAK_DURATION: Duration = Duration::from_secs(5);
/// Default: the longest the break grows to while probes keep failing (it doubles, as
/// Envoy's ejection time grows with each ejection).
pub const DEFAULT_MAX_BREAK_DURATION: Duration = Duration::from_secs(60);
/// Default: probes let through at once while half-open (Polly lets one through).
pub const DEFAULT_PROBES: u32 = 1;
/// Default: the clamp on a `Retry-After` that closes an origin: 30 s, the retry layer's
/// clamp, so that in a stack the breaker never holds a request longer than the retry
/// layer would wait.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Default: how many origins the breaker keeps state for; past it, the oldest quiet
/// origin is forgotten.
pub const DEFAULT_MAX_ORIGINS: usize = 10_000;

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) circuit: bool,
    pub(crate) consecutive_failures: u32,
    /// Failures per 1000 requests.
    pub(crate) failure_ratio_permille: u64,
    pub(crate) failure_ratio: f64,
    pub(crate) minimum_throughput: u32,
    pub(crate) sampling_duration: Duration,
    pub(crate) break_duration: Duration,
    pub(crate) max_break_duration: Duration,
    pub(crate) probes: u32,
    pub(crate) max_retry_after: Duration,
    pub(crate) gate_on_503: bool,
    pub(crate) gate_on_429: bool,
    pub(crate) wait: bool,
    pub(crate) max_origins: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            circuit: true,
            consecutive_failures: DEFAULT_CONSECUTIVE_FAILURES,
            failure_ratio_permille: ratio_permille(DEFAULT_FAILURE_RATIO),
            failure_ratio: DEFAULT_FAILURE_RATIO,
            minimum_throughput: DEFAULT_MINIMUM_THROUGHPUT,
            sampling_duration: DEFAULT_SAMPLING_DURATION,
            break_duration: DEFAULT_BREAK_DURATION,
            max_break_duration: DEFAULT_MAX_BREAK_DURATION,
            probes: DEFAULT_PROBES,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            gate_on_503: true,
            gate_on_429: true,
            wait: true,
            max_origins: DEFAULT_MAX_ORIGINS,
        }
    }
}

/// A ratio in 0..=1 as failures per 1000 (NaN and out-of-range values are clamped: NaN
/// never opens on the ratio).
pub(crate) fn ratio_permille(ratio: f64) -> u64 {
    if ratio.is_nan() {
        return 1001;
    }
    (ratio.clamp(0.0, 1.0) * 1000.0).round() as u64
}
