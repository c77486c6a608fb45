//! One deadline for the whole request, honoured by every layer.
//!
//! A [`Deadline`] placed in a request's extensions bounds the total time that redirect hops,
//! retries and polls may spend together. A layer never starts a wait that would end past
//! it: the retry layer returns the last response instead of sleeping, the poll layer stops
//! with a typed timeout, and so on.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use recourse_core::Deadline;
//!
//! let mut req = http::Request::new(());
//! Deadline::after(Duration::from_secs(5)).insert_into(&mut req);
//!
//! let deadline = Deadline::of(&req).unwrap();
//! assert!(deadline.allows(Duration::from_secs(4)));
//! assert!(!deadline.allows(Duration::from_secs(6)));
//! # }
//! ```

use std::time::Duration;

use tokio::time::Instant;

/// The instant by which the whole request, with all its retries, hops and polls, must end.
///
/// Stored as a request extension. Time is read from [`tokio::time`], so tests can drive it
/// with paused time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// A deadline at the given instant.
    pub fn at(at: Instant) -> Self {
        Self { at }
    }

    /// A deadline `timeout` from now. A timeout too large to represent means "far away"
    /// (about 30 years), never a panic.
    pub fn after(timeout: Duration) -> Self {
        let now = Instant::now();
        let at = now
            .checked_add(timeout)
            .or_else(|| now.checked_add(Duration::from_secs(30 * 365 * 24 * 3600)))
            .unwrap_or(now);
        Self { at }
    }

    /// The instant of the deadline.
    pub fn instant(&self) -> Instant {
        self.at
    }

    /// Time left until the deadline; zero once it has passed.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Whether a wait of `wait`, started now, would end no later than the deadline.
    pub fn allows(&self, wait: Duration) -> bool {
        wait <= self.remaining() && !self.is_expired()
    }

    /// The earlier of two deadlines.
    pub fn min(self, other: Deadline) -> Deadline {
        if other.at < self.at { other } else { self }
    }

    /// The deadline in a request's extensions, if any.
    pub fn of<B>(req: &http::Request<B>) -> Option<Deadline> {
        req.extensions().get::<Deadline>().copied()
    }

    /// Stores this deadline in a request's extensions. If the request already carries an
    /// earlier deadline, that one is kept: a deadline can only be tightened.
    pub fn insert_into<B>(self, req: &mut http::Request<B>) {
        let effective = match Deadline::of(req) {
            Some(existing) => existing.min(self),
            None => self,
        };
        req.extensions_mut().insert(effective);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn remaining_and_expiry() {
        let d = Deadline::after(Duration::from_secs(10));
        assert_eq!(d.remaining(), Duration::from_secs(10));
        assert!(d.allows(Duration::from_secs(10)));
        assert!(!d.allows(Duration::from_millis(10_001)));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(d.is_expired());
        assert_eq!(d.remaining(), Duration::ZERO);
        assert!(!d.allows(Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn huge_timeout_does_not_panic() {
        let d = Deadline::after(Duration::MAX);
        assert!(d.remaining() > Duration::from_secs(365 * 24 * 3600));
    }

    #[tokio::test(start_paused = true)]
    async fn insert_only_tightens() {
        let mut req = http::Request::new(());
        Deadline::after(Duration::from_secs(5)).insert_into(&mut req);
        Deadline::after(Duration::from_secs(50)).insert_into(&mut req);
        assert_eq!(
            Deadline::of(&req).unwrap().remaining(),
            Duration::from_secs(5)
        );
        Deadline::after(Duration::from_secs(1)).insert_into(&mut req);
        assert_eq!(
            Deadline::of(&req).unwrap().remaining(),
            Duration::from_secs(1)
        );
    }
}
