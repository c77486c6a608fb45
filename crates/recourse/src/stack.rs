//! The recommended client stack, ready-made.

use std::time::Duration;

use tower_layer::Layer;

#[cfg(feature = "breaker")]
use crate::breaker::{Breaker, BreakerLayer};
use crate::cache::{Cache, CacheLayer, MemoryStore, Store};
use crate::classify::{Classify, ClassifyLayer, StatusTable};
use crate::deadline::{SetDeadline, SetDeadlineLayer};
use crate::poll::{AsyncPoll, AsyncPollLayer};
use crate::redirect::{Redirect, RedirectLayer};
use crate::report::Reporting;
use crate::retry::{Retry, RetryLayer};

/// The default deadline of [`ClientStackLayer`]: 60 seconds for the whole request, polls,
/// hops and retries included.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

/// The recommended client stack around `S`, outermost first:
///
/// ```text
/// deadline   one Deadline for the whole request, enforced
/// poll       202 -> poll Location; its polls go through everything below
/// redirect   307 -> resubmit; each hop goes through the cache
/// cache      fresh hit -> no request; stale -> conditional request; 304 -> stored body
/// retry      500/503 -> resubmit later, inside the budget and the deadline
/// breaker    per origin: Retry-After holds everyone back (and, when on, a failing origin is cut off)
/// classify   every raw response gets its Class (innermost: it sees each attempt)
/// S          the HTTP client (hyper-util's legacy Client, or any Service<Request<B>>)
/// ```
///
/// The breaker (feature `breaker`) sits below the retry layer: its refusals are errors
/// that prove the request was not sent, so the retry layer may try again (even a POST)
/// within the deadline, and every retry meets the breaker's state (a retry storm meets an
/// open circuit, not the origin). It sits above classify, whose verdict it reads.
#[cfg(feature = "breaker")]
pub type ClientStack<
    S,
    PP = crate::poll::Standard,
    RP = crate::redirect::Standard,
    St = MemoryStore,
    TP = crate::retry::Standard,
    CP = StatusTable,
> = SetDeadline<AsyncPoll<Redirect<Cache<Retry<Breaker<Classify<S, CP>>, TP>, St>, RP>, PP>>;

/// The recommended client stack around `S` (without the feature `breaker`), outermost
/// first: deadline, poll, redirect, cache, retry, classify, `S`.
#[cfg(not(feature = "breaker"))]
pub type ClientStack<
    S,
    PP = crate::poll::Standard,
    RP = crate::redirect::Standard,
    St = MemoryStore,
    TP = crate::retry::Standard,
    CP = StatusTable,
> = SetDeadline<AsyncPoll<Redirect<Cache<Retry<Classify<S, CP>, TP>, St>, RP>, PP>>;

/// A [`Layer`] that builds the recommended [`ClientStack`], each part configurable.
///
/// # One user per client
///
/// The default cache is a *private* cache (RFC 9111 §1): it stores `Cache-Control: private`
/// responses and responses to requests with `Authorization`, keyed by URL, because it
/// assumes that everything sent through this client is for one user. A process that sends
/// requests on behalf of many users (a backend-for-frontend, a multi-tenant worker) must
/// not share one private cache between them: give each user their own stack, or use a
/// shared cache (`.cache(CacheLayer::shared())`), which never stores or serves what
/// belongs to one user.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use recourse::{ClientStackLayer, retry::RetryLayer};
/// use tower::Layer;
///
/// let layer = ClientStackLayer::new()
///     .deadline(Duration::from_secs(20))
///     .retry(RetryLayer::new().max_retries(2));
/// # let backend = tower::service_fn(|_req: http::Request<http_body_util::Full<bytes::Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::<bytes::Bytes>::default()))
/// # });
/// let client = layer.layer(backend);
/// # let _ = client;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ClientStackLayer<
    PP = crate::poll::Standard,
    RP = crate::redirect::Standard,
    St = MemoryStore,
    TP = crate::retry::Standard,
    CP = StatusTable,
> {
    deadline: Duration,
    poll: AsyncPollLayer<PP>,
    redirect: RedirectLayer<RP>,
    cache: CacheLayer<St>,
    retry: RetryLayer<TP>,
    #[cfg(feature = "breaker")]
    breaker: BreakerLayer,
    classify: ClassifyLayer<CP>,
    report: Option<Reporting>,
}

impl ClientStackLayer {
    /// Every layer with its defaults, a private cache in memory, and a 60 s deadline. The
    /// breaker keeps only its `Retry-After` gate (circuit breaking changes what callers
    /// get back, typed refusals instead of the origin's failures, so it is a choice:
    /// `.breaker(BreakerLayer::new())` turns it on).
    pub fn new() -> Self {
        Self {
            deadline: DEFAULT_DEADLINE,
            poll: AsyncPollLayer::new(),
            redirect: RedirectLayer::new(),
            cache: CacheLayer::new(),
            retry: RetryLayer::new(),
            #[cfg(feature = "breaker")]
            breaker: BreakerLayer::new().circuit_breaking(false),
            classify: ClassifyLayer::new(),
            report: None,
        }
    }
}

impl Default for ClientStackLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<PP, RP, St, TP, CP> ClientStackLayer<PP, RP, St, TP, CP> {
    /// Sets the deadline of the whole request.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Reports the requests whose final answer is a failure `reporting` asks for (by
    /// default 500 and 503 once the retries ran out) to its [`Reporter`](crate::report::Reporter):
    /// see [`report`](crate::report). None by default (the retry layer already logs a
    /// warning when it gives up); [`WarnReporter`](crate::report::WarnReporter) writes
    /// one structured `warn` event per report.
    pub fn report(mut self, reporting: Reporting) -> Self {
        self.report = Some(reporting);
        self
    }

    /// Replaces the poll layer.
    pub fn poll<Q>(self, poll: AsyncPollLayer<Q>) -> ClientStackLayer<Q, RP, St, TP, CP> {
        ClientStackLayer {
            deadline: self.deadline,
            poll,
            redirect: self.redirect,
            cache: self.cache,
            retry: self.retry,
            #[cfg(feature = "breaker")]
            breaker: self.breaker,
            classify: self.classify,
            report: self.report,
        }
    }

    /// Replaces the redirect layer.
    pub fn redirect<Q>(self, redirect: RedirectLayer<Q>) -> ClientStackLayer<PP, Q, St, TP, CP> {
        ClientStackLayer {
            deadline: self.deadline,
            poll: self.poll,
            redirect,
            cache: self.cache,
            retry: self.retry,
            #[cfg(feature = "breaker")]
            breaker: self.breaker,
            classify: self.classify,
            report: self.report,
        }
    }

    /// Replaces the cache layer (for example with a shared cache, or another store).
    pub fn cache<Q>(self, cache: CacheLayer<Q>) -> ClientStackLayer<PP, RP, Q, TP, CP> {
        ClientStackLayer {
            deadline: self.deadline,
            poll: self.poll,
            redirect: self.redirect,
            cache,
            retry: self.retry,
            #[cfg(feature = "breaker")]
            breaker: self.breaker,
            classify: self.classify,
            report: self.report,
        }
    }

    /// Replaces the retry layer.
    pub fn retry<Q>(self, retry: RetryLayer<Q>) -> ClientStackLayer<PP, RP, St, Q, CP> {
        ClientStackLayer {
            deadline: self.deadline,
            poll: self.poll,
            redirect: self.redirect,
            cache: self.cache,
            retry,
            #[cfg(feature = "breaker")]
            breaker: self.breaker,
            classify: self.classify,
            report: self.report,
        }
    }

    /// Replaces the breaker layer (for example with other thresholds, or
    /// `BreakerLayer::new().wait(false)` to fail fast rather than wait for a
    /// `Retry-After`). Keep its [`handle`](BreakerLayer::handle) to read or reset the
    /// state per origin.
    #[cfg(feature = "breaker")]
    pub fn breaker(mut self, breaker: BreakerLayer) -> Self {
        self.breaker = breaker;
        self
    }

    /// Replaces the classify layer.
    pub fn classify<Q>(self, classify: ClassifyLayer<Q>) -> ClientStackLayer<PP, RP, St, TP, Q> {
        ClientStackLayer {
            deadline: self.deadline,
            poll: self.poll,
            redirect: self.redirect,
            cache: self.cache,
            retry: self.retry,
            #[cfg(feature = "breaker")]
            breaker: self.breaker,
            classify,
            report: self.report,
        }
    }
}

impl<S, PP, RP, St, TP, CP> Layer<S> for ClientStackLayer<PP, RP, St, TP, CP>
where
    PP: Clone,
    RP: Clone,
    St: Store,
    TP: Clone,
    CP: Clone,
{
    type Service = ClientStack<S, PP, RP, St, TP, CP>;

    fn layer(&self, inner: S) -> Self::Service {
        let service = self.classify.layer(inner);
        #[cfg(feature = "breaker")]
        let service = self.breaker.layer(service);
        let service = self.retry.layer(service);
        let service = self.cache.layer(service);
        let service = self.redirect.layer(service);
        let service = self.poll.layer(service);
        let mut deadline = SetDeadlineLayer::new(self.deadline);
        if let Some(reporting) = &self.report {
            deadline = deadline.report(reporting.clone());
        }
        deadline.layer(service)
    }
}

/// Wraps `inner` in the recommended [`ClientStack`] with every default.
pub fn client<S>(inner: S) -> ClientStack<S>
where
    ClientStackLayer: Layer<S, Service = ClientStack<S>>,
{
    ClientStackLayer::new().layer(inner)
}
