//! [`OriginBudgets`]: one [`RetryBudget`] per origin, so that one failing host cannot
//! spend the retries of the others.
//!
//! A single budget shared by every request lets one origin in an outage take every retry
//! the budget allows, and the healthy origins that fail now and then get none. Like
//! reqwest's scoped retries and the AWS SDK's retry partitions, [`OriginBudgets`] keeps a
//! budget per origin (scheme, host, port; RFC 6454 §4), each with the same settings, for
//! at most `max_origins` origins (past it, the oldest partition is forgotten and its
//! origin starts afresh with the floor). Requests without an origin (a relative URI)
//! share one partition.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use http::Uri;
//! use recourse_retry::OriginBudgets;
//!
//! // No floor; one retry per request, per origin.
//! let budgets = OriginBudgets::new(Duration::from_secs(10), 0, 1.0, 100).unwrap();
//! let a: Uri = "http://a.example/x".parse().unwrap();
//! let b: Uri = "http://b.example/y".parse().unwrap();
//! budgets.partition(&a).deposit();
//! budgets.partition(&b).deposit();
//! assert!(budgets.partition(&a).withdraw());
//! assert!(!budgets.partition(&a).withdraw(), "a spent its own");
//! assert!(budgets.partition(&b).withdraw(), "b's is untouched");
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use http::Uri;

use crate::budget::{InvalidBudget, RetryBudget};

/// The default number of origins [`OriginBudgets`] keeps a budget for.
pub const DEFAULT_MAX_ORIGINS: usize = 1000;

/// One [`RetryBudget`] per origin, bounded; see the [module docs](self).
pub struct OriginBudgets {
    window: Duration,
    min_per_sec: u32,
    ratio: f64,
    max_origins: usize,
    hasher: RandomState,
    inner: RwLock<Partitions>,
}

struct Partitions {
    /// By the hash of the origin (SipHash with random keys: a collision, which would make
    /// two origins share a budget, is as likely as guessing a 64-bit key).
    map: HashMap<u64, Arc<RetryBudget>>,
    order: VecDeque<u64>,
}

impl OriginBudgets {
    /// Budgets of `window`, `min_per_sec` and `ratio` (see [`RetryBudget::new`]), one per
    /// origin, for at most `max_origins` origins (at least 1).
    ///
    /// # Errors
    ///
    /// [`InvalidBudget`] for settings [`RetryBudget::new`] refuses.
    pub fn new(
        window: Duration,
        min_per_sec: u32,
        ratio: f64,
        max_origins: usize,
    ) -> Result<Self, InvalidBudget> {
        // Validate once, here.
        RetryBudget::new(window, min_per_sec, ratio)?;
        Ok(Self {
            window,
            min_per_sec,
            ratio,
            max_origins: max_origins.max(1),
            hasher: RandomState::new(),
            inner: RwLock::new(Partitions {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
        })
    }

    /// The budget of `uri`'s origin, created on first use. Allocates only then.
    pub fn partition(&self, uri: &Uri) -> Arc<RetryBudget> {
        let mut hasher = self.hasher.build_hasher();
        let key = if recourse_core::origin::hash_origin(uri, &mut hasher) {
            hasher.finish()
        } else {
            0
        };
        {
            let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(budget) = inner.map.get(&key) {
                return Arc::clone(budget);
            }
        }
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(budget) = inner.map.get(&key) {
            return Arc::clone(budget);
        }
        while inner.map.len() >= self.max_origins {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&oldest);
        }
        let budget = match RetryBudget::new(self.window, self.min_per_sec, self.ratio) {
            Ok(budget) => Arc::new(budget),
            // Validated in `new`.
            Err(_) => unreachable!("retry: per-origin budget settings were validated"),
        };
        inner.map.insert(key, Arc::clone(&budget));
        inner.order.push_back(key);
        budget
    }

    /// How many origins have a budget now (at most `max_origins`).
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }

    /// Whether no origin has a budget yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most origins kept.
    pub fn max_origins(&self) -> usize {
        self.max_origins
    }
}

impl Default for OriginBudgets {
    /// The default [`RetryBudget`] (10 s, 10 per second, 20 %) per origin, for up to
    /// [`DEFAULT_MAX_ORIGINS`] origins.
    fn default() -> Self {
        match Self::new(Duration::from_secs(10), 10, 0.2, DEFAULT_MAX_ORIGINS) {
            Ok(budgets) => budgets,
            Err(_) => unreachable!("the default retry budget is valid"),
        }
    }
}

impl fmt::Debug for OriginBudgets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginBudgets")
            .field("window", &self.window)
            .field("min_per_sec", &self.min_per_sec)
            .field("ratio", &self.ratio)
            .field("max_origins", &self.max_origins)
            .field("origins", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn partitions_are_per_origin_and_bounded() {
        let budgets = OriginBudgets::new(Duration::from_secs(10), 0, 1.0, 3).unwrap();
        let a = budgets.partition(&"http://A.example/1".parse().unwrap());
        let same = budgets.partition(&"http://a.example:80/2".parse().unwrap());
        assert!(Arc::ptr_eq(&a, &same));
        let relative = budgets.partition(&"/x".parse().unwrap());
        let relative2 = budgets.partition(&"/y".parse().unwrap());
        assert!(
            Arc::ptr_eq(&relative, &relative2),
            "no origin: one shared partition"
        );
        for n in 0..100 {
            budgets.partition(&format!("http://h{n}.example/").parse().unwrap());
            assert!(budgets.len() <= 3);
        }
        assert_eq!(budgets.max_origins(), 3);
        assert!(!budgets.is_empty());
        assert!(OriginBudgets::new(Duration::ZERO, 0, 1.0, 3).is_err());
        assert!(format!("{budgets:?}").contains("max_origins"));
    }
}
