//! [`BreakerLayer`]: the layer, and the settings of the breaker it builds.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::config::{Config, ratio_permille};
use crate::handle::BreakerHandle;
use crate::service::Breaker;
use crate::state::Registry;

/// Builds [`Breaker`] services; holds the settings and the state of every origin.
///
/// Every service this layer builds, and every clone of the layer or of those services,
/// shares one state per origin: a `Retry-After` one request learns closes the origin for
/// all. A setter starts a new, empty state (call setters before building services, and
/// [`handle`](Self::handle) after the last setter).
#[derive(Clone)]
pub struct BreakerLayer {
    registry: Arc<Registry>,
}

impl Default for BreakerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl BreakerLayer {
    /// The default settings: a 503 or 429 with `Retry-After` closes its origin until then
    /// (at most 30 s), and requests that fit in their deadline wait for it; the circuit
    /// opens after 5 consecutive failures, or when at least half of at least 20 requests
    /// in a sliding 30 s window failed; it stays open 5 s, doubling up to 60 s while
    /// probes fail; half-open lets 1 probe through; state is kept for up to 10,000
    /// origins. (Polly's `FailureRatio`, `MinimumThroughput`, `SamplingDuration` and
    /// `BreakDuration`; Envoy's `consecutive_5xx` and growing ejection time.)
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    fn with_config(config: Config) -> Self {
        Self {
            registry: Arc::new(Registry::new(config)),
        }
    }

    fn set(self, f: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.registry.config().clone();
        f(&mut config);
        Self::with_config(config)
    }

    /// Whether failures open the circuit (default on). Off, the breaker keeps only the
    /// `Retry-After` gate: an origin that asked for a pause is given it by every request,
    /// and nothing else is refused.
    pub fn circuit_breaking(self, on: bool) -> Self {
        self.set(|c| c.circuit = on)
    }

    /// Consecutive failures that open the circuit (default 5; 0 turns this rule off).
    pub fn consecutive_failures(self, n: u32) -> Self {
        self.set(|c| c.consecutive_failures = n)
    }

    /// The failure ratio (0.0 to 1.0) over the sampling window that opens the circuit
    /// (default 0.5; out-of-range values are clamped, NaN turns this rule off).
    pub fn failure_ratio(self, ratio: f64) -> Self {
        self.set(|c| {
            c.failure_ratio = ratio;
            c.failure_ratio_permille = ratio_permille(ratio);
        })
    }

    /// The fewest requests in the window before the ratio is judged (default 20).
    pub fn minimum_throughput(self, n: u32) -> Self {
        self.set(|c| c.minimum_throughput = n)
    }

    /// The sliding window of the ratio (default 30 s).
    pub fn sampling_duration(self, window: Duration) -> Self {
        self.set(|c| c.sampling_duration = window)
    }

    /// How long the circuit stays open the first time (default 5 s).
    pub fn break_duration(self, d: Duration) -> Self {
        self.set(|c| c.break_duration = d)
    }

    /// The longest break, to which it doubles while probes keep failing (default 60 s).
    pub fn max_break_duration(self, d: Duration) -> Self {
        self.set(|c| c.max_break_duration = d)
    }

    /// Probes let through at once while half-open, and successes needed to close
    /// (default 1).
    pub fn probes(self, n: u32) -> Self {
        self.set(|c| c.probes = n.max(1))
    }

    /// The longest a `Retry-After` closes an origin (default 30 s): a longer one is
    /// clamped to it (RFC 9110 §10.2.3 lets the client decide).
    pub fn max_retry_after(self, max: Duration) -> Self {
        self.set(|c| c.max_retry_after = max)
    }

    /// Whether a 429 with `Retry-After` closes its origin too (default on; RFC 6585 §4).
    pub fn gate_on_429(self, gate: bool) -> Self {
        self.set(|c| c.gate_on_429 = gate)
    }

    /// Whether a 503 with `Retry-After` closes its origin to new requests until then
    /// (default on; RFC 9110 §15.6.4). Off together with
    /// [`gate_on_429`](Self::gate_on_429), no `Retry-After` is shared between requests.
    pub fn gate_on_503(self, gate: bool) -> Self {
        self.set(|c| c.gate_on_503 = gate)
    }

    /// Whether a request to an origin closed by `Retry-After` waits for the opening when
    /// that fits in its [`Deadline`](recourse_core::Deadline) (default on), or fails fast
    /// with [`Overloaded`](crate::Overloaded).
    pub fn wait(self, wait: bool) -> Self {
        self.set(|c| c.wait = wait)
    }

    /// How many origins the breaker keeps state for (default 10,000). Past it, the oldest
    /// origin that is closed and not gated is forgotten (or, if none of the oldest is,
    /// the oldest).
    pub fn max_origins(self, n: usize) -> Self {
        self.set(|c| c.max_origins = n.max(1))
    }

    /// A handle to read and reset the state of every origin.
    pub fn handle(&self) -> BreakerHandle {
        BreakerHandle {
            registry: Arc::clone(&self.registry),
        }
    }

    /// The consecutive failures that open the circuit.
    pub fn get_consecutive_failures(&self) -> u32 {
        self.registry.config().consecutive_failures
    }

    /// The failure ratio that opens the circuit.
    pub fn get_failure_ratio(&self) -> f64 {
        self.registry.config().failure_ratio
    }

    /// The first break duration.
    pub fn get_break_duration(&self) -> Duration {
        self.registry.config().break_duration
    }
}

impl fmt::Debug for BreakerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerLayer")
            .field("registry", &self.registry)
            .finish()
    }
}

impl<S> Layer<S> for BreakerLayer {
    type Service = Breaker<S>;

    fn layer(&self, inner: S) -> Breaker<S> {
        Breaker {
            inner,
            registry: Arc::clone(&self.registry),
            last: None,
            registered: false,
        }
    }
}
