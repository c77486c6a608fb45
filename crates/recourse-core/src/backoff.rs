//! Exponential backoff with jitter, shared by the retry and poll layers.
//!
//! The delay before retry `n` (1-based) is `min(cap, base * factor^(n-1))`, computed without
//! overflow for any `n`, and then jittered: with [`Jitter::Full`] (the default, as in the
//! AWS architecture blog's "full jitter") a uniform draw from `[0, delay]`. The cap applies
//! before the jitter, so a jittered delay never exceeds the cap. The random source is
//! injectable ([`RandomSource`]) so tests can be exact.
//!
//! ```
//! use std::time::Duration;
//! use recourse_core::backoff::{Backoff, Jitter};
//!
//! let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(30))
//!     .with_jitter(Jitter::None);
//! assert_eq!(backoff.delay(1, &mut || 0.5), Duration::from_millis(100));
//! assert_eq!(backoff.delay(4, &mut || 0.5), Duration::from_millis(800));
//! assert_eq!(backoff.delay(u32::MAX, &mut || 0.5), Duration::from_secs(30));
//!
//! // Full jitter draws from [0, delay]; a fixed source makes it exact.
//! let jittered = backoff.with_jitter(Jitter::Full);
//! assert_eq!(jittered.delay(4, &mut || 0.25), Duration::from_millis(200));
//! ```

use std::fmt;
use std::time::Duration;

/// A source of uniform random numbers in `[0, 1)`.
///
/// Closures `FnMut() -> f64` are sources; [`FastRand`] is the default. Values outside
/// `[0, 1]` (or NaN) are clamped into range by the users of the source, never trusted.
pub trait RandomSource {
    /// The next number in `[0, 1)`.
    fn next_f64(&mut self) -> f64;
}

impl<F: FnMut() -> f64> RandomSource for F {
    fn next_f64(&mut self) -> f64 {
        self()
    }
}

/// The default [`RandomSource`]: a [`fastrand::Rng`], seedable for reproducible runs.
#[derive(Clone, Debug)]
pub struct FastRand(fastrand::Rng);

impl FastRand {
    /// A generator seeded from the thread's generator.
    pub fn new() -> Self {
        Self(fastrand::Rng::new())
    }

    /// A generator with a fixed seed: the same seed gives the same sequence.
    pub fn seeded(seed: u64) -> Self {
        Self(fastrand::Rng::with_seed(seed))
    }
}

impl Default for FastRand {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomSource for FastRand {
    fn next_f64(&mut self) -> f64 {
        self.0.f64()
    }
}

/// How a computed delay is randomised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: the capped exponential delay itself.
    None,
    /// Uniform in `[0, delay]` (spreads retries the most; the default).
    #[default]
    Full,
    /// Uniform in `[delay / 2, delay]` (never retries immediately).
    Equal,
}

/// An exponential backoff schedule: base, growth factor, cap and jitter.
#[derive(Clone, Copy, PartialEq)]
pub struct Backoff {
    base: Duration,
    factor: f64,
    cap: Duration,
    jitter: Jitter,
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("base", &self.base)
            .field("factor", &self.factor)
            .field("cap", &self.cap)
            .field("jitter", &self.jitter)
            .finish()
    }
}

impl Default for Backoff {
    /// Base 100 ms, factor 2, cap 30 s, full jitter.
    fn default() -> Self {
        Self::exponential(Duration::from_millis(100), Duration::from_secs(30))
    }
}

impl Backoff {
    /// Doubling from `base` up to `cap`, with full jitter.
    pub fn exponential(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            factor: 2.0,
            cap,
            jitter: Jitter::Full,
        }
    }

    /// The same delay every time (no growth, no jitter).
    pub fn constant(delay: Duration) -> Self {
        Self {
            base: delay,
            factor: 1.0,
            cap: delay,
            jitter: Jitter::None,
        }
    }

    /// Sets the growth factor. Factors below 1 (and NaN) are treated as 1.
    pub fn with_factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_nan() || factor < 1.0 {
            1.0
        } else {
            factor
        };
        self
    }

    /// Sets the jitter.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the cap.
    pub fn with_cap(mut self, cap: Duration) -> Self {
        self.cap = cap;
        self
    }

    /// The base delay.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The cap.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The capped delay before retry `attempt` (1-based), before jitter.
    ///
    /// Attempt 0 is treated as 1. Never overflows: large attempts give the cap.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1);
        let cap = self.cap.as_secs_f64();
        let mut delay = self.base.as_secs_f64();
        // Multiply step by step and stop at the cap: no powi overflow, bounded work.
        let mut i = 0;
        while i < exp && delay < cap && self.factor > 1.0 {
            delay *= self.factor;
            i += 1;
        }
        if !delay.is_finite() || delay >= cap {
            self.cap
        } else {
            Duration::try_from_secs_f64(delay.max(0.0)).map_or(self.cap, |d| d.min(self.cap))
        }
    }

    /// The jittered delay before retry `attempt` (1-based), drawing from `rng`.
    pub fn delay(&self, attempt: u32, rng: &mut dyn RandomSource) -> Duration {
        let ceiling = self.ceiling(attempt);
        let draw = |rng: &mut dyn RandomSource| {
            let x = rng.next_f64();
            if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
        };
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => scale(ceiling, draw(rng)),
            Jitter::Equal => {
                let half = ceiling / 2;
                half.saturating_add(scale(ceiling - half, draw(rng)))
            }
        }
    }
}

/// `d * f` for `f` in `[0, 1]`, never above `d` and never panicking (`Duration::mul_f64`
/// panics when rounding carries `Duration::MAX * 1.0` past the largest duration).
fn scale(d: Duration, f: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * f).map_or(d, |scaled| scaled.min(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(30))
            .with_jitter(Jitter::None);
        let got: Vec<_> = (1..=11).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(
            got,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000
            ]
        );
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn extreme_configs_do_not_panic() {
        let b = Backoff::exponential(Duration::MAX, Duration::MAX).with_factor(f64::MAX);
        assert_eq!(b.ceiling(u32::MAX), Duration::MAX);
        assert!(b.delay(3, &mut || 0.5) <= Duration::MAX);
        // "No cap" spelled Duration::MAX, with every draw a source may give.
        let uncapped = Backoff::exponential(Duration::from_secs(1), Duration::MAX);
        for draw in [0.0, 0.5, 0.999_999, 1.0, 2.0, f64::NAN, f64::INFINITY, -1.0] {
            for jitter in [Jitter::None, Jitter::Full, Jitter::Equal] {
                for attempt in [1, 64, 100, u32::MAX] {
                    let d = uncapped.with_jitter(jitter).delay(attempt, &mut || draw);
                    assert!(d <= Duration::MAX);
                }
            }
        }
        assert_eq!(
            uncapped.with_jitter(Jitter::Full).delay(100, &mut || 1.0),
            Duration::MAX
        );
        let zero = Backoff::exponential(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(zero.delay(50, &mut || 0.9), Duration::ZERO);
        let nan = Backoff::default().with_factor(f64::NAN);
        assert_eq!(nan.ceiling(10), Duration::from_millis(100));
    }

    #[test]
    fn jitter_is_bounded_by_the_cap() {
        let b = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(5));
        assert_eq!(b.delay(10, &mut || 1.0), Duration::from_secs(5));
        assert_eq!(b.delay(10, &mut || 0.0), Duration::ZERO);
        assert_eq!(
            b.delay(10, &mut || 7.0),
            Duration::from_secs(5),
            "out-of-range draws clamp"
        );
        assert_eq!(b.delay(10, &mut || f64::NAN), Duration::ZERO);
        let eq = b.with_jitter(Jitter::Equal);
        assert_eq!(eq.delay(2, &mut || 0.0), Duration::from_secs(1));
        assert_eq!(eq.delay(2, &mut || 1.0), Duration::from_secs(2));
    }

    #[test]
    fn seeded_source_repeats() {
        let b = Backoff::default();
        let mut r1 = FastRand::seeded(7);
        let mut r2 = FastRand::seeded(7);
        let a: Vec<_> = (1..6).map(|n| b.delay(n, &mut r1)).collect();
        let c: Vec<_> = (1..6).map(|n| b.delay(n, &mut r2)).collect();
        assert_eq!(a, c);
    }

    #[test]
    fn constant() {
        let b = Backoff::constant(Duration::from_secs(2));
        assert_eq!(b.delay(1, &mut || 0.1), Duration::from_secs(2));
        assert_eq!(b.delay(9, &mut || 0.1), Duration::from_secs(2));
    }
}
