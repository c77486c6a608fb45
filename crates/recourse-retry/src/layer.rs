//! [`RetryLayer`]: the layer, and the configuration of the retry services it builds.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use recourse_core::backoff::{Backoff, RandomSource};
use tower::retry::budget::Budget;
use tower_layer::Layer;

use crate::budget::RetryBudget;
use crate::config::{Config, SharedBudget};
use crate::origin_budget::OriginBudgets;
use crate::policy::Standard;
use crate::service::Retry;
use crate::timeout::{NoTryTimeout, TryTimeout};

/// Builds [`Retry`] services; holds their policy and configuration.
///
/// Every setting has a default that follows the source table and RFC 9110; see each
/// method.
///
/// # Clone
///
/// Cloning is cheap. The configuration, the random source and the retry budget are
/// shared through an `Arc`: every service this layer (or a clone of it) builds, and
/// every clone of those services, draws on one budget. A setter called on a clone gives
/// that clone its own configuration (the budget object stays shared unless replaced).
///
/// # Per-try timeout
///
/// [`per_try_timeout`](Self::per_try_timeout) turns a `RetryLayer<P>` into a
/// `RetryLayer<P, TryTimeout>`, whose services fail with [`RetryError`](crate::RetryError)
/// rather than the inner service's error (see the [`timeout`](crate::timeout) module).
pub struct RetryLayer<P = Standard, T = NoTryTimeout> {
    policy: P,
    config: Arc<Config>,
    mode: PhantomData<fn() -> T>,
}

impl Default for RetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryLayer {
    /// The [`Standard`] policy and the default configuration: up to 3 retries, backoff
    /// from 100 ms to 30 s with full jitter, `Retry-After` honoured up to 30 s, the
    /// default [`RetryBudget`] (10 s window, 10 retries per second, 20 %), a 64 KiB
    /// replay buffer for streamed bodies, and `Idempotency-Key` as the key header.
    pub fn new() -> Self {
        Self::with_policy(Standard::new())
    }

    /// Also retries these statuses (e.g. 429, 502, 504); see [`Standard::retry_on`].
    pub fn retry_on(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.policy = self.policy.retry_on(statuses);
        self
    }
}

impl<P> RetryLayer<P> {
    /// A layer with `policy` and the default configuration.
    pub fn with_policy(policy: P) -> Self {
        Self {
            policy,
            config: Arc::new(Config::default()),
            mode: PhantomData,
        }
    }
}

impl<P, T> RetryLayer<P, T> {
    /// Replaces the policy, keeping the configuration.
    pub fn policy<Q>(self, policy: Q) -> RetryLayer<Q, T> {
        RetryLayer {
            policy,
            config: self.config,
            mode: PhantomData,
        }
    }

    /// Cancels a try that has no response head within `timeout` (no per-try timeout by
    /// default: a try lasts until the request's [`Deadline`](recourse_core::Deadline)).
    ///
    /// Each try is bounded by the smaller of `timeout` and what is left of the request's
    /// deadline. A timed-out try is retried, after the usual wait and within the usual
    /// limits, when the request may be resent: an idempotent method (RFC 9110 §9.2.2), an
    /// idempotency key, an [`Idempotent`](crate::Idempotent) mark or
    /// [`retry_non_idempotent`](Self::retry_non_idempotent). It is not shown to the policy
    /// (there is no response or inner error to show). Otherwise, or when a limit stops
    /// the retries, the request ends with [`RetryError`](crate::RetryError)'s
    /// [`TryTimedOut`](crate::TryTimedOut): a POST that may have been processed is never
    /// resent. The [`History`](recourse_core::History) records each timed-out try as
    /// [`Step::TryTimedOut`](recourse_core::Step::TryTimedOut), and
    /// [`RetryInfo::timeouts`](crate::RetryInfo::timeouts) counts them; a `tracing` debug
    /// event names each one.
    ///
    /// The timer is allocated once per request (and reset for each try).
    pub fn per_try_timeout(self, timeout: Duration) -> RetryLayer<P, TryTimeout> {
        let mut config = self.config;
        Arc::make_mut(&mut config).per_try_timeout = Some(timeout);
        RetryLayer {
            policy: self.policy,
            config,
            mode: PhantomData,
        }
    }

    /// The per-try timeout, if one is set.
    pub fn get_per_try_timeout(&self) -> Option<Duration> {
        self.config.per_try_timeout
    }

    /// The policy.
    pub fn get_policy(&self) -> &P {
        &self.policy
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The maximum number of retries after the first attempt (default 3).
    pub fn max_retries(mut self, max: u32) -> Self {
        self.config().max_retries = max;
        self
    }

    /// The backoff between attempts when the response gives no `Retry-After`
    /// (default: exponential from 100 ms, factor 2, capped at 30 s, full jitter).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config().backoff = backoff;
        self
    }

    /// The random source of the jitter (default: an unseeded [`FastRand`]). Give a seeded
    /// [`FastRand`] or a closure `FnMut() -> f64` to make delays exact in tests.
    ///
    /// [`FastRand`]: recourse_core::backoff::FastRand
    pub fn random_source(mut self, rng: impl RandomSource + Send + 'static) -> Self {
        self.config().rng = Arc::new(std::sync::Mutex::new(Box::new(rng)));
        self
    }

    /// The longest `Retry-After` the layer waits (default 30 s). A longer one, such as
    /// `Retry-After: 1000000000000`, is clamped to it (RFC 9110 §10.2.3 lets the client
    /// decide; a hostile or broken server must not park requests for years).
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.config().max_retry_after = max;
        self
    }

    /// A total time limit for a request's attempts and waits, from the call (default:
    /// none but the request's [`Deadline`](recourse_core::Deadline)). A wait that would
    /// end past it is not taken: the last response is returned with
    /// [`StopReason::TimeLimit`](crate::StopReason::TimeLimit). It does not cut an
    /// attempt in flight (a timeout layer does that).
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.config().time_limit = Some(limit);
        self
    }

    /// A new retry budget for this layer and the services it builds.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.config().budget = Some(SharedBudget::Retry(Arc::new(budget)));
        self.config().origin_budgets = None;
        self
    }

    /// A retry budget shared with others (an `Arc<RetryBudget>`, or any tower budget such
    /// as `tower::retry::budget::TpsBudget`).
    pub fn shared_budget(mut self, budget: Arc<dyn Budget + Send + Sync>) -> Self {
        self.config().budget = Some(SharedBudget::Other(budget));
        self.config().origin_budgets = None;
        self
    }

    /// One retry budget per origin instead of one for all ([`OriginBudgets`]: a failing
    /// host spends only its own retries). Replaces the shared budget. Each request costs
    /// a hash of its origin and a read lock more than with one budget; a new origin
    /// allocates its budget.
    pub fn budget_per_origin(mut self, budgets: OriginBudgets) -> Self {
        self.config().origin_budgets = Some(Arc::new(budgets));
        self.config().budget = None;
        self
    }

    /// No retry budget: only the other limits apply.
    pub fn no_budget(mut self) -> Self {
        self.config().budget = None;
        self.config().origin_budgets = None;
        self
    }

    /// The most bytes of a streamed request body kept for replay (default
    /// [`DEFAULT_REPLAY_LIMIT`](recourse_core::limits::DEFAULT_REPLAY_LIMIT), 64 KiB). A
    /// request whose body streams past it is sent once; bodies already in memory (such as
    /// `Full<Bytes>`) are replayed whatever their size, without a copy.
    pub fn replay_limit(mut self, bytes: usize) -> Self {
        self.config().replay_limit = bytes;
        self
    }

    /// The most bytes read from a failed response body before the next attempt, so that
    /// its connection can be reused (default
    /// [`DEFAULT_DRAIN_LIMIT`](recourse_core::limits::DEFAULT_DRAIN_LIMIT), 64 KiB; 0 drops
    /// the body unread).
    pub fn drain_limit(mut self, bytes: u64) -> Self {
        self.config().drain_limit = bytes;
        self
    }

    /// The longest time spent draining a failed response body (default
    /// [`DEFAULT_DRAIN_TIMEOUT`](recourse_core::limits::DEFAULT_DRAIN_TIMEOUT), 1 s), never
    /// past the request's [`Deadline`](recourse_core::Deadline). The drain runs during the
    /// wait before the next attempt; the attempt starts when both end.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.config().drain_timeout = timeout;
        self
    }

    /// The headers whose presence makes a POST or PATCH safe to resend (default
    /// `Idempotency-Key`). The first one is the name of injected keys.
    pub fn idempotency_key_headers(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.config().key_headers = names.into_iter().collect();
        self
    }

    /// Adds a random `Idempotency-Key` (32 hex digits) to each POST and PATCH that has
    /// none, the same on every attempt, so it may be retried (default off: the server
    /// must deduplicate by that key for this to be safe).
    pub fn inject_idempotency_key(mut self, inject: bool) -> Self {
        if inject {
            self.config().enable_default_keys();
        } else {
            self.config().inject_key = None;
        }
        self
    }

    /// Like [`inject_idempotency_key`](Self::inject_idempotency_key), with keys from
    /// `generate`.
    pub fn idempotency_key_generator(
        mut self,
        generate: impl Fn() -> HeaderValue + Send + Sync + 'static,
    ) -> Self {
        self.config().set_key_generator(generate);
        self
    }

    /// Treats every request as safe to resend, whatever its method (default off). Per
    /// request, insert [`Idempotent`](crate::Idempotent) instead.
    pub fn retry_non_idempotent(mut self, retry: bool) -> Self {
        self.config().retry_non_idempotent = retry;
        self
    }

    /// The request id header named in the warning logged when the layer gives up
    /// (default `x-request-id`; read from the request, else from the response).
    pub fn request_id_header(mut self, name: HeaderName) -> Self {
        self.config().request_id_header = name;
        self
    }

    /// Also marks the first attempt with [`Attempt`](recourse_core::Attempt)`(1)`
    /// (default off: retries carry `Attempt(n)`, n ≥ 2, and the first attempt is sent as
    /// the caller made it, so that the pass-through path inserts nothing and allocates
    /// nothing; no `Attempt` then means the first).
    pub fn tag_first_attempt(mut self, tag: bool) -> Self {
        self.config().tag_first_attempt = tag;
        self
    }

    /// Decides which errors of type `E` prove the request was never sent, so that even a
    /// non-idempotent request may be resent. Replaces the default check
    /// ([`is_connect_error`](crate::is_connect_error) on boxed, I/O and hyper-util errors)
    /// for errors of type `E`; errors of other types keep the default.
    pub fn not_sent_when<E: 'static>(
        mut self,
        check: impl Fn(&E) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config().set_not_sent(check);
        self
    }
}

impl<P: Clone, T> Clone for RetryLayer<P, T> {
    fn clone(&self) -> Self {
        Self {
            policy: self.policy.clone(),
            config: Arc::clone(&self.config),
            mode: PhantomData,
        }
    }
}

impl<P: fmt::Debug, T> fmt::Debug for RetryLayer<P, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("policy", &self.policy)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, P: Clone, T> Layer<S> for RetryLayer<P, T> {
    type Service = Retry<S, P, T>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry {
            inner,
            policy: self.policy.clone(),
            config: Arc::clone(&self.config),
            mode: PhantomData,
        }
    }
}
