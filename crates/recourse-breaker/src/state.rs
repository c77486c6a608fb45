//! The state of each origin, in a bounded registry.
//!
//! The pass-through path (an origin already known, closed, not gated) reads two atomics
//! and bumps a counter: no lock but a read lock on the registry (skipped when the service
//! saw the same origin last), no clock read, no allocation.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use http::Uri;
use recourse_core::Deadline;
use recourse_core::origin::hash_lowercase;
use tokio::time::Instant;

use crate::config::Config;
use crate::handle::BreakerState;

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// Slots of the sampling window.
const SLOTS: usize = 10;
/// Successes between two moves of the window on the success path.
const ROTATE_EVERY: u64 = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// === Keys ===

/// An origin (scheme, host, port; RFC 6454 §4), compared ASCII-case-insensitively and
/// looked up without building one.
pub(crate) trait KeyView {
    fn parts(&self) -> (&str, &str, u16);
}

/// A stored origin key, lowercased.
#[derive(Clone)]
pub(crate) struct Key {
    scheme: Box<str>,
    host: Box<str>,
    port: u16,
}

/// A borrowed origin, from a request URI.
pub(crate) struct View<'a> {
    scheme: &'a str,
    host: &'a str,
    port: u16,
}

impl<'a> View<'a> {
    pub(crate) fn of(uri: &'a Uri) -> Option<Self> {
        let (scheme, host, port) = recourse_core::origin::origin(uri)?;
        Some(Self { scheme, host, port })
    }

    fn to_key(&self) -> Key {
        Key {
            scheme: self.scheme.to_ascii_lowercase().into(),
            host: self.host.to_ascii_lowercase().into(),
            port: self.port,
        }
    }
}

impl KeyView for Key {
    fn parts(&self) -> (&str, &str, u16) {
        (&self.scheme, &self.host, self.port)
    }
}

impl KeyView for View<'_> {
    fn parts(&self) -> (&str, &str, u16) {
        (self.scheme, self.host, self.port)
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for Key {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (scheme, host, port) = self.parts();
        hash_lowercase(scheme, state);
        hash_lowercase(host, state);
        state.write_u16(port);
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.parts(), other.parts());
        a.2 == b.2 && a.0.eq_ignore_ascii_case(b.0) && a.1.eq_ignore_ascii_case(b.1)
    }
}

impl Eq for dyn KeyView + '_ {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn KeyView).hash(state)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        (self as &dyn KeyView) == (other as &dyn KeyView)
    }
}

impl Eq for Key {}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

// === One origin ===

/// The sampling window: for absolute slot `k`, `starts[k % SLOTS]` is the success count
/// when slot `k` began and `failures[k % SLOTS]` the failures recorded during it.
///
/// Successes are counted without reading the clock; the window moves on every failure
/// and every 64 successes. Successes counted between two moves are dated to the earliest
/// slot after the first move that is still in the window: they stay in the window at
/// most one window too long, never leave it early (so a burst of failures after a quiet
/// spell is weighed against the successes before it, not against nothing).
struct Ring {
    origin: Instant,
    current: u64,
    starts: [u64; SLOTS],
    failures: [u64; SLOTS],
    /// The success count at the last move.
    seen: u64,
}

impl Ring {
    /// Moves the window to `now`.
    fn rotate(&mut self, now: Instant, slot_len: Duration, successes: u64) {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        let slot = u64::try_from(elapsed / slot_len.as_nanos().max(1)).unwrap_or(u64::MAX);
        if slot > self.current {
            if slot - self.current >= SLOTS as u64 {
                self.starts = [self.seen; SLOTS];
                self.failures = [0; SLOTS];
            } else {
                for k in self.current + 1..=slot {
                    let i = (k % SLOTS as u64) as usize;
                    self.starts[i] = self.seen;
                    self.failures[i] = 0;
                }
            }
            self.current = slot;
        }
        self.seen = successes;
    }

    fn reset(&mut self, now: Instant, successes: u64) {
        self.origin = now;
        self.current = 0;
        self.starts = [successes; SLOTS];
        self.failures = [0; SLOTS];
        self.seen = successes;
    }

    /// (requests, failures) in the window.
    fn totals(&self, successes: u64) -> (u64, u64) {
        let oldest = ((self.current + 1) % SLOTS as u64) as usize;
        let ok = successes.saturating_sub(self.starts[oldest]);
        let failed: u64 = self.failures.iter().sum();
        (ok + failed, failed)
    }
}

struct Circuit {
    ring: Ring,
    open_until: Instant,
    break_for: Duration,
    probes: u32,
    probe_successes: u32,
}

/// The settings and the time base, shared by the registry and every origin's state (so
/// that recording an outcome needs the origin's state alone).
pub(crate) struct Rules {
    pub(crate) config: Config,
    base: Instant,
}

impl Rules {
    fn instant(&self, gate: u64) -> Instant {
        self.base + Duration::from_nanos(gate.saturating_sub(1))
    }

    fn slot_len(&self) -> Duration {
        (self.config.sampling_duration / SLOTS as u32).max(Duration::from_millis(1))
    }
}

/// The state of one origin.
pub(crate) struct Origin {
    key: Key,
    rules: Arc<Rules>,
    /// Nanoseconds after the rules' base, plus one, until which a `Retry-After`
    /// closes the origin; 0 when it does not.
    gate: AtomicU64,
    mode: AtomicU8,
    evicted: AtomicBool,
    successes: AtomicU64,
    consecutive: AtomicU32,
    circuit: Mutex<Circuit>,
}

/// A change of state, for events and the response extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Transition {
    pub(crate) from: BreakerState,
    pub(crate) to: BreakerState,
}

fn state_of(mode: u8) -> BreakerState {
    match mode {
        OPEN => BreakerState::Open,
        HALF_OPEN => BreakerState::HalfOpen,
        _ => BreakerState::Closed,
    }
}

/// What the breaker does with a request.
pub(crate) enum Admit {
    /// Send it (as a probe when half-open).
    Go {
        probe: bool,
    },
    /// Wait until the origin's `Retry-After` has passed, then ask again.
    Wait(Instant),
    /// Refuse it now: gated past the deadline (`gated`), or the circuit is open.
    Overloaded(Instant),
    Open(Option<Instant>),
}

impl Origin {
    pub(crate) fn key(&self) -> &Key {
        &self.key
    }

    pub(crate) fn config(&self) -> &Config {
        &self.rules.config
    }

    pub(crate) fn state(&self) -> BreakerState {
        state_of(self.mode.load(Ordering::Acquire))
    }

    fn is_quiet(&self) -> bool {
        self.mode.load(Ordering::Relaxed) == CLOSED && self.gate.load(Ordering::Relaxed) == 0
    }

    /// Whether this state is still the registry's for its origin (not forgotten).
    #[inline]
    pub(crate) fn is_current(&self) -> bool {
        !self.evicted.load(Ordering::Relaxed)
    }

    /// Whether a request goes straight through: the circuit is closed and no
    /// `Retry-After` gate is set (two loads; [`admit`](Self::admit) decides otherwise).
    #[inline]
    pub(crate) fn is_open_door(&self) -> bool {
        // Acquire: a request admitted after a gate or a circuit change sees what the
        // request that made it wrote.
        self.gate.load(Ordering::Acquire) == 0 && self.mode.load(Ordering::Acquire) == CLOSED
    }

    /// When this origin's `Retry-After` gate opens, if it is closed now.
    pub(crate) fn gated_until(&self) -> Option<Instant> {
        let gate = self.gate.load(Ordering::Acquire);
        if gate == 0 {
            return None;
        }
        let until = self.rules.instant(gate);
        (until > Instant::now()).then_some(until)
    }

    /// Whether a request may go to this origin now.
    pub(crate) fn admit(&self, deadline: Option<Deadline>) -> Admit {
        if self.is_open_door() {
            return Admit::Go { probe: false };
        }
        self.admit_slow(deadline)
    }

    #[cold]
    fn admit_slow(&self, deadline: Option<Deadline>) -> Admit {
        let gate = self.gate.load(Ordering::Acquire);
        let mode = self.mode.load(Ordering::Acquire);
        let now = Instant::now();
        let config = &self.rules.config;
        if gate != 0 {
            let until = self.rules.instant(gate);
            if until > now {
                let wait = until - now;
                // A wait that ends at the deadline leaves no time for the request.
                let fits = deadline.is_none_or(|d| wait < d.remaining());
                return if config.wait && fits {
                    Admit::Wait(until)
                } else {
                    Admit::Overloaded(until)
                };
            }
            if self
                .gate
                .compare_exchange(gate, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                tracing::info!(origin = %self.key, "breaker: Retry-After has passed, the origin takes requests again");
            }
        }
        if mode == CLOSED {
            return Admit::Go { probe: false };
        }
        let mut circuit = lock(&self.circuit);
        match self.mode.load(Ordering::Acquire) {
            CLOSED => Admit::Go { probe: false },
            OPEN if now < circuit.open_until => Admit::Open(Some(circuit.open_until)),
            _ => {
                if self.mode.swap(HALF_OPEN, Ordering::AcqRel) == OPEN {
                    circuit.probes = 0;
                    circuit.probe_successes = 0;
                    tracing::info!(origin = %self.key, "breaker: half-open, letting probes through");
                }
                if circuit.probes < config.probes.max(1) {
                    circuit.probes += 1;
                    Admit::Go { probe: true }
                } else {
                    Admit::Open(None)
                }
            }
        }
    }

    /// A probe that ended without an outcome (cancelled): its slot is free again.
    #[cold]
    pub(crate) fn release_probe(&self) {
        let mut circuit = lock(&self.circuit);
        circuit.probes = circuit.probes.saturating_sub(1);
    }

    /// Records a success: one atomic increment, the window moved every
    /// [`ROTATE_EVERY`] successes.
    #[inline]
    pub(crate) fn success(&self, probe: bool) -> Option<Transition> {
        let n = self.successes.fetch_add(1, Ordering::Relaxed) + 1;
        if self.consecutive.load(Ordering::Relaxed) != 0 {
            self.consecutive.store(0, Ordering::Relaxed);
        }
        if n.is_multiple_of(ROTATE_EVERY) {
            self.rotate_on_success(n);
        }
        if !probe {
            return None;
        }
        self.probe_succeeded()
    }

    #[cold]
    fn rotate_on_success(&self, n: u64) {
        if let Ok(mut circuit) = self.circuit.try_lock() {
            circuit
                .ring
                .rotate(Instant::now(), self.rules.slot_len(), n);
        }
    }

    #[cold]
    fn probe_succeeded(&self) -> Option<Transition> {
        let config = &self.rules.config;
        let mut circuit = lock(&self.circuit);
        circuit.probes = circuit.probes.saturating_sub(1);
        circuit.probe_successes += 1;
        if self.mode.load(Ordering::Acquire) != HALF_OPEN
            || circuit.probe_successes < config.probes.max(1)
        {
            return None;
        }
        let successes = self.successes.load(Ordering::Relaxed);
        circuit.ring.reset(Instant::now(), successes);
        circuit.break_for = config.break_duration;
        self.consecutive.store(0, Ordering::Relaxed);
        self.mode.store(CLOSED, Ordering::Release);
        tracing::info!(origin = %self.key, "breaker: probes succeeded, circuit closed");
        Some(Transition {
            from: BreakerState::HalfOpen,
            to: BreakerState::Closed,
        })
    }

    /// Records a failure, and a `Retry-After` gate when the response set one.
    #[cold]
    pub(crate) fn failure(&self, probe: bool, retry_after: Option<Duration>) -> Option<Transition> {
        let now = Instant::now();
        let config = &self.rules.config;
        if let Some(wait) = retry_after {
            let until = now + wait.min(config.max_retry_after);
            let value = u64::try_from(until.saturating_duration_since(self.rules.base).as_nanos())
                .unwrap_or(u64::MAX - 1)
                + 1;
            let before = self.gate.fetch_max(value, Ordering::AcqRel);
            if before < value {
                tracing::info!(origin = %self.key, wait = ?wait.min(config.max_retry_after), "breaker: Retry-After closes the origin to new requests");
            }
        }
        let mut circuit = lock(&self.circuit);
        let successes = self.successes.load(Ordering::Relaxed);
        circuit.ring.rotate(now, self.rules.slot_len(), successes);
        let current = (circuit.ring.current % SLOTS as u64) as usize;
        circuit.ring.failures[current] += 1;
        let consecutive = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        let mode = self.mode.load(Ordering::Acquire);
        let open = |circuit: &mut Circuit, break_for: Duration| {
            circuit.break_for = break_for;
            circuit.open_until = now + break_for;
            circuit.probes = 0;
            circuit.probe_successes = 0;
            self.mode.store(OPEN, Ordering::Release);
        };
        if probe {
            circuit.probes = circuit.probes.saturating_sub(1);
            if mode == HALF_OPEN {
                let grown = circuit
                    .break_for
                    .saturating_mul(2)
                    .min(config.max_break_duration.max(config.break_duration));
                open(&mut circuit, grown);
                tracing::warn!(origin = %self.key, break_for = ?grown, "breaker: a probe failed, circuit open again");
                return Some(Transition {
                    from: BreakerState::HalfOpen,
                    to: BreakerState::Open,
                });
            }
            return None;
        }
        if mode != CLOSED || !config.circuit {
            return None;
        }
        let (total, failed) = circuit.ring.totals(successes);
        let by_count =
            config.consecutive_failures > 0 && consecutive >= config.consecutive_failures;
        let by_ratio = total >= u64::from(config.minimum_throughput.max(1))
            && failed * 1000 >= config.failure_ratio_permille * total;
        if !(by_count || by_ratio) {
            return None;
        }
        let break_for = config.break_duration;
        open(&mut circuit, break_for);
        tracing::warn!(
            origin = %self.key,
            consecutive,
            requests = total,
            failures = failed,
            ?break_for,
            "breaker: circuit open"
        );
        Some(Transition {
            from: BreakerState::Closed,
            to: BreakerState::Open,
        })
    }
}

// === The registry ===

struct Inner {
    map: HashMap<Key, Arc<Origin>>,
    /// Insertion order, for eviction.
    order: VecDeque<Arc<Origin>>,
}

/// Every origin's state, bounded to `max_origins`, and the settings.
pub(crate) struct Registry {
    rules: Arc<Rules>,
    inner: RwLock<Inner>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("config", &self.rules.config)
            .field("origins", &self.len())
            .finish()
    }
}

impl Registry {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            rules: Arc::new(Rules {
                config,
                base: Instant::now(),
            }),
            inner: RwLock::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.rules.config
    }

    pub(crate) fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }

    pub(crate) fn get(&self, view: &View<'_>) -> Option<Arc<Origin>> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.map.get(view as &dyn KeyView).cloned()
    }

    /// The state of `view`'s origin, created if new (evicting the oldest quiet origin
    /// when the registry is full).
    pub(crate) fn origin(&self, view: &View<'_>) -> Arc<Origin> {
        if let Some(origin) = self.get(view) {
            return origin;
        }
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(origin) = inner.map.get(view as &dyn KeyView) {
            return Arc::clone(origin);
        }
        let max = self.rules.config.max_origins.max(1);
        while inner.map.len() >= max {
            Self::evict(&mut inner);
        }
        let now = Instant::now();
        let origin = Arc::new(Origin {
            key: view.to_key(),
            rules: Arc::clone(&self.rules),
            gate: AtomicU64::new(0),
            mode: AtomicU8::new(CLOSED),
            evicted: AtomicBool::new(false),
            successes: AtomicU64::new(0),
            consecutive: AtomicU32::new(0),
            circuit: Mutex::new(Circuit {
                ring: Ring {
                    origin: now,
                    current: 0,
                    starts: [0; SLOTS],
                    failures: [0; SLOTS],
                    seen: 0,
                },
                open_until: now,
                break_for: self.rules.config.break_duration,
                probes: 0,
                probe_successes: 0,
            }),
        });
        inner.map.insert(origin.key.clone(), Arc::clone(&origin));
        inner.order.push_back(Arc::clone(&origin));
        origin
    }

    /// Forgets one origin: the oldest quiet one among the first few, else the oldest.
    fn evict(inner: &mut Inner) {
        let mut victim = None;
        for _ in 0..16.min(inner.order.len()) {
            let Some(candidate) = inner.order.pop_front() else {
                break;
            };
            if candidate.is_quiet() {
                victim = Some(candidate);
                break;
            }
            inner.order.push_back(candidate);
        }
        let victim = victim.or_else(|| inner.order.pop_front());
        if let Some(victim) = victim {
            victim.evicted.store(true, Ordering::Relaxed);
            inner.map.remove(&victim.key);
        } else {
            inner.map.clear();
        }
    }

    pub(crate) fn reset(&self, view: &View<'_>) -> bool {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let Some(origin) = inner.map.remove(view as &dyn KeyView) else {
            return false;
        };
        origin.evicted.store(true, Ordering::Relaxed);
        inner.order.retain(|o| !Arc::ptr_eq(o, &origin));
        tracing::info!(origin = %origin.key, "breaker: origin reset");
        true
    }

    pub(crate) fn reset_all(&self) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        for origin in inner.order.drain(..) {
            origin.evicted.store(true, Ordering::Relaxed);
        }
        inner.map.clear();
        tracing::info!("breaker: every origin reset");
    }
}
