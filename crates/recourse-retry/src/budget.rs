//! The retry budget: retries as a fraction of recent requests, plus a floor per second.
//!
//! A budget keeps an outage from multiplying the load on a struggling server: with
//! `max_retries = 3` and no budget, a fully failing upstream receives four times its
//! usual traffic. [`RetryBudget`] allows, over a sliding window, `ratio` retries per request
//! plus `min_per_sec` retries per second, whichever requests they come from (the model of
//! Finagle's `RetryBudget` and tower's `TpsBudget`, with the same defaults: a 10 s window,
//! 10 retries per second and 20 %).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use recourse_retry::RetryBudget;
//!
//! // No floor; one retry for every two requests.
//! let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5).unwrap();
//! assert!(!budget.withdraw());
//! budget.deposit();
//! budget.deposit();
//! assert!(budget.withdraw());
//! assert!(!budget.withdraw());
//!
//! // Deposits older than the window no longer count.
//! budget.deposit();
//! budget.deposit();
//! tokio::time::advance(Duration::from_secs(11)).await;
//! assert!(!budget.withdraw());
//! # }
//! ```
//!
//! # Why not tower's `TpsBudget`
//!
//! The layer accepts any [`tower::retry::budget::Budget`] (so `TpsBudget` plugs in with
//! `RetryLayer::shared_budget`), and [`RetryBudget`] implements that trait too. It is
//! not the default because the retry layer deposits on every request, on the
//! pass-through path that must cost under 50 ns: `TpsBudget::deposit` locks a mutex and
//! reads the clock on every call (a clock read alone is about 25 ns on the machines we
//! measure), whereas [`RetryBudget::deposit`] is one atomic increment and reads the clock
//! once every 64 deposits. `TpsBudget` also panics on an out-of-range configuration (we
//! return [`InvalidBudget`]), rounds the ratio to the reciprocal of an integer (0.3 acts
//! as 0.333), and expires idle slots one window at a time, in a loop that grows with the
//! idle time.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Slots the window is divided into.
const SLOTS: usize = 10;
/// The clock is read (and the window moved) once every this many deposits.
const ROTATE_EVERY: u64 = 64;
/// Tokens of one retry; a deposit earns `ratio * UNIT` tokens.
const UNIT: u64 = 1000;

/// The shortest window a [`RetryBudget`] accepts.
pub const MIN_WINDOW: Duration = Duration::from_millis(100);
/// The longest window a [`RetryBudget`] accepts.
pub const MAX_WINDOW: Duration = Duration::from_secs(3600);
/// The largest ratio of retries to requests a [`RetryBudget`] accepts.
pub const MAX_RATIO: f64 = 1000.0;

/// Why a [`RetryBudget`] configuration was refused.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum InvalidBudget {
    /// The window is shorter than [`MIN_WINDOW`] or longer than [`MAX_WINDOW`].
    Window(Duration),
    /// The ratio is negative, NaN or above [`MAX_RATIO`].
    Ratio(f64),
}

impl fmt::Display for InvalidBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidBudget::Window(w) => write!(
                f,
                "retry budget window {w:?} is out of range ({MIN_WINDOW:?} to {MAX_WINDOW:?})"
            ),
            InvalidBudget::Ratio(r) => write!(
                f,
                "retry budget ratio {r} is out of range (0 to {MAX_RATIO} retries per request)"
            ),
        }
    }
}

impl std::error::Error for InvalidBudget {}

/// A retry budget over a sliding window; see the [module docs](self).
///
/// Thread-safe; share it with an `Arc` (the retry layer does: every service built from
/// one [`RetryLayer`](crate::RetryLayer), and every clone of those, draws on the same
/// budget).
pub struct RetryBudget {
    /// Deposits ever made.
    deposits: AtomicU64,
    ring: Mutex<Ring>,
    slot_len: Duration,
    window: Duration,
    min_per_sec: u32,
    /// Tokens earned per deposit.
    per_deposit: u64,
    /// Tokens available per window whatever the deposits.
    reserve: u64,
}

/// The window: for absolute slot `k`, `starts[k % SLOTS]` is the deposit count when slot
/// `k` began and `withdrawn[k % SLOTS]` the retries taken during it.
#[derive(Debug)]
struct Ring {
    origin: Instant,
    current: u64,
    starts: [u64; SLOTS],
    withdrawn: [u64; SLOTS],
}

impl Ring {
    /// Moves the window to `now`. Deposits made since the last move are attributed to the
    /// slot of that move, so they expire no later than they should: a late move can only
    /// make the budget stricter.
    fn rotate(&mut self, now: Instant, slot_len: Duration, deposits: u64) {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        let slot = elapsed / slot_len.as_nanos().max(1);
        let slot = u64::try_from(slot).unwrap_or(u64::MAX);
        if slot <= self.current {
            return;
        }
        let passed = slot - self.current;
        if passed >= SLOTS as u64 {
            self.starts = [deposits; SLOTS];
            self.withdrawn = [0; SLOTS];
        } else {
            for k in self.current + 1..=slot {
                let i = (k % SLOTS as u64) as usize;
                self.starts[i] = deposits;
                self.withdrawn[i] = 0;
            }
        }
        self.current = slot;
    }

    /// The slot that began the window: the one after the current slot in the ring.
    fn oldest(&self) -> usize {
        ((self.current + 1) % SLOTS as u64) as usize
    }
}

fn lock(ring: &Mutex<Ring>) -> MutexGuard<'_, Ring> {
    ring.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RetryBudget {
    /// A budget allowing, over any `window`, `min_per_sec` retries per second of the window
    /// plus `ratio` retries for each request deposited during it.
    ///
    /// `ratio` is kept to three decimals (0.2 means one retry per five requests; 2.0 two
    /// retries per request).
    ///
    /// # Errors
    ///
    /// [`InvalidBudget`] when `window` is outside [`MIN_WINDOW`]..=[`MAX_WINDOW`] or
    /// `ratio` is negative, NaN or above [`MAX_RATIO`].
    pub fn new(window: Duration, min_per_sec: u32, ratio: f64) -> Result<Self, InvalidBudget> {
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) {
            return Err(InvalidBudget::Window(window));
        }
        if ratio.is_nan() || !(0.0..=MAX_RATIO).contains(&ratio) {
            return Err(InvalidBudget::Ratio(ratio));
        }
        // Both are bounded above, so the products cannot overflow a u64.
        let per_deposit = (ratio * UNIT as f64).round() as u64;
        let reserve = u64::from(min_per_sec) * window.as_millis() as u64 * UNIT / 1000;
        Ok(Self {
            deposits: AtomicU64::new(0),
            ring: Mutex::new(Ring {
                origin: Instant::now(),
                current: 0,
                starts: [0; SLOTS],
                withdrawn: [0; SLOTS],
            }),
            slot_len: window / SLOTS as u32,
            window,
            min_per_sec,
            per_deposit,
            reserve,
        })
    }

    /// Records one request. Cheap: one relaxed atomic increment, and a clock read every
    /// 64 calls.
    #[inline]
    pub fn deposit(&self) {
        let n = self.deposits.fetch_add(1, Ordering::Relaxed);
        if (n + 1).is_multiple_of(ROTATE_EVERY) {
            self.rotate_after(n + 1);
        }
    }

    /// Moves the window (every [`ROTATE_EVERY`] deposits), unless another thread is.
    #[cold]
    #[inline(never)]
    fn rotate_after(&self, deposits: u64) {
        if let Ok(mut ring) = self.ring.try_lock() {
            ring.rotate(Instant::now(), self.slot_len, deposits);
        }
    }

    /// Takes one retry from the budget; `false` if the budget is exhausted.
    pub fn withdraw(&self) -> bool {
        let mut ring = lock(&self.ring);
        let deposits = self.deposits.load(Ordering::Relaxed);
        ring.rotate(Instant::now(), self.slot_len, deposits);
        if self.balance_of(&ring, deposits) >= UNIT {
            let current = (ring.current % SLOTS as u64) as usize;
            ring.withdrawn[current] += 1;
            true
        } else {
            false
        }
    }

    /// How many retries the budget would allow right now.
    pub fn available(&self) -> u64 {
        let mut ring = lock(&self.ring);
        let deposits = self.deposits.load(Ordering::Relaxed);
        ring.rotate(Instant::now(), self.slot_len, deposits);
        self.balance_of(&ring, deposits) / UNIT
    }

    fn balance_of(&self, ring: &Ring, deposits: u64) -> u64 {
        let recent = deposits.saturating_sub(ring.starts[ring.oldest()]);
        let earned = recent.saturating_mul(self.per_deposit);
        let spent = ring.withdrawn.iter().sum::<u64>().saturating_mul(UNIT);
        self.reserve.saturating_add(earned).saturating_sub(spent)
    }

    /// The sliding window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The retries allowed per second whatever the traffic.
    pub fn min_per_sec(&self) -> u32 {
        self.min_per_sec
    }

    /// Retries allowed per request, as configured (to three decimals).
    pub fn ratio(&self) -> f64 {
        self.per_deposit as f64 / UNIT as f64
    }
}

impl Default for RetryBudget {
    /// A 10 s window, 10 retries per second, 20 % of requests (Finagle's defaults).
    fn default() -> Self {
        match Self::new(Duration::from_secs(10), 10, 0.2) {
            Ok(budget) => budget,
            // The constants above are in range.
            Err(_) => unreachable!("the default retry budget is valid"),
        }
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("window", &self.window)
            .field("min_per_sec", &self.min_per_sec)
            .field("ratio", &self.ratio())
            .field("deposits", &self.deposits.load(Ordering::Relaxed))
            .finish()
    }
}

impl tower::retry::budget::Budget for RetryBudget {
    fn deposit(&self) {
        RetryBudget::deposit(self)
    }

    fn withdraw(&self) -> bool {
        RetryBudget::withdraw(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::advance;

    fn budget(window_secs: u64, min: u32, ratio: f64) -> RetryBudget {
        RetryBudget::new(Duration::from_secs(window_secs), min, ratio).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn empty_budget_refuses() {
        let b = budget(10, 0, 0.2);
        assert!(!b.withdraw());
        assert_eq!(b.available(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn ratio_is_exact() {
        let b = budget(10, 0, 0.3);
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(b.available(), 3);
        let taken = (0..10).filter(|_| b.withdraw()).count();
        assert_eq!(taken, 3);
        let b = budget(10, 0, 2.0);
        b.deposit();
        assert_eq!(b.available(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn floor_per_second_over_the_window() {
        let b = budget(2, 5, 0.0);
        let taken = (0..100).filter(|_| b.withdraw()).count();
        assert_eq!(taken, 10, "5 per second over a 2 s window");
        // Withdrawals expire with the window, and the floor comes back.
        advance(Duration::from_millis(2100)).await;
        assert_eq!(b.available(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_slide_out_of_the_window() {
        let b = budget(1, 0, 1.0);
        for _ in 0..64 {
            b.deposit();
        }
        advance(Duration::from_millis(500)).await;
        assert_eq!(b.available(), 64);
        for _ in 0..64 {
            b.deposit();
        }
        advance(Duration::from_millis(300)).await;
        assert_eq!(b.available(), 128);
        // The first batch's slot leaves the window after 1 s; the second stays.
        advance(Duration::from_millis(300)).await;
        assert_eq!(b.available(), 64);
        advance(Duration::from_secs(3)).await;
        assert_eq!(b.available(), 0);
        assert!(!b.withdraw());
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_between_window_moves_expire_early_never_late() {
        // Two deposits with no window move between them are dated to the earlier move:
        // the budget errs on the strict side.
        let b = budget(1, 0, 1.0);
        b.deposit();
        advance(Duration::from_millis(500)).await;
        b.deposit();
        advance(Duration::from_millis(300)).await;
        assert_eq!(b.available(), 2);
        advance(Duration::from_millis(300)).await;
        assert_eq!(b.available(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn long_idle_does_not_loop_or_credit_old_deposits() {
        let b = budget(10, 0, 1.0);
        for _ in 0..63 {
            b.deposit();
        }
        // Days later, deposits never seen by a rotation are not credited as recent.
        advance(Duration::from_secs(5 * 24 * 3600)).await;
        assert_eq!(b.available(), 0);
        b.deposit();
        assert_eq!(b.available(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn periodic_rotation_keeps_recent_deposits() {
        let b = budget(10, 0, 0.5);
        // 640 deposits spread over 8 s: the window moves every 64 of them.
        for _ in 0..80 {
            for _ in 0..8 {
                b.deposit();
            }
            advance(Duration::from_millis(100)).await;
        }
        let available = b.available();
        assert!(
            (288..=320).contains(&available),
            "about half of 640 recent deposits, got {available}"
        );
    }

    #[test]
    fn invalid_configurations_are_typed_errors() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let _guard = rt.enter();
        assert_eq!(
            RetryBudget::new(Duration::ZERO, 1, 0.1).unwrap_err(),
            InvalidBudget::Window(Duration::ZERO)
        );
        assert!(RetryBudget::new(Duration::from_secs(7200), 1, 0.1).is_err());
        assert!(matches!(
            RetryBudget::new(Duration::from_secs(1), 1, f64::NAN),
            Err(InvalidBudget::Ratio(_))
        ));
        assert!(RetryBudget::new(Duration::from_secs(1), 1, -0.1).is_err());
        let err = RetryBudget::new(Duration::from_secs(1), 1, 1e9).unwrap_err();
        assert!(err.to_string().contains("ratio"));
        // Extremes inside the range do not overflow.
        let b = RetryBudget::new(MAX_WINDOW, u32::MAX, MAX_RATIO).unwrap();
        b.deposit();
        assert!(b.withdraw());
    }

    #[tokio::test(start_paused = true)]
    async fn usable_as_a_tower_budget() {
        use tower::retry::budget::Budget;
        let b: std::sync::Arc<dyn Budget + Send + Sync> = std::sync::Arc::new(budget(1, 0, 1.0));
        b.deposit();
        assert!(b.withdraw());
        assert!(!b.withdraw());
    }
}
