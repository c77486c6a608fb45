//! [`AsyncPollLayer`]: the layer and its builder.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use recourse_core::backoff::{Backoff, Jitter};
use tower_layer::Layer;

use crate::config::Config;
use crate::progress::PollProgress;
use crate::{AsyncPoll, Credentials, FinalState, Policy, Standard, StatusField};

/// Applies [`AsyncPoll`] to a service: turns a `202 Accepted` into the job's final result.
///
/// Every setting has a builder method that takes and returns the layer. The defaults:
///
/// | Setting | Default |
/// |---|---|
/// | [`status_headers`](Self::status_headers) | `Location` |
/// | [`backoff`](Self::backoff) (no `Retry-After`) | 1 s, doubling, capped at 30 s, no jitter |
/// | [`min_interval`](Self::min_interval) (floor) | 250 ms |
/// | [`max_retry_after`](Self::max_retry_after) | 5 min |
/// | [`time_limit`](Self::time_limit) | 10 min of polling |
/// | [`max_polls`](Self::max_polls) | 100 |
/// | [`status_field`](Self::status_field) | none (status code only) |
/// | [`final_state`](Self::final_state) | [`FinalState::StatusResource`] |
/// | [`fetch_created`](Self::fetch_created) | off |
/// | [`allow_downgrade`](Self::allow_downgrade) | off: `https` to `http` is an error |
/// | [`credentials`](Self::credentials) | [`Credentials::SameOrigin`] |
/// | [`sensitive_headers`](Self::sensitive_headers) | `Authorization`, `Cookie`, `Proxy-Authorization` |
/// | [`forward_headers`](Self::forward_headers) | none |
///
/// # Clone
///
/// The settings live in an `Arc`: cloning the layer or the service is cheap, and every
/// clone shares them. The policy is cloned for each request.
#[derive(Clone, Debug)]
pub struct AsyncPollLayer<P = Standard> {
    pub(crate) config: Arc<Config>,
    pub(crate) policy: P,
}

impl AsyncPollLayer {
    /// A layer with the default settings and the [`Standard`] policy.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config::default()),
            policy: Standard,
        }
    }
}

impl Default for AsyncPollLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> AsyncPollLayer<P> {
    /// A layer with the default settings and the given policy.
    pub fn with_policy(policy: P) -> Self
    where
        P: Policy,
    {
        Self {
            config: Arc::new(Config::default()),
            policy,
        }
    }

    /// Replaces the policy (a closure `FnMut(&JobStatus<'_>) -> Decision + Clone` works).
    pub fn policy<Q: Policy>(self, policy: Q) -> AsyncPollLayer<Q> {
        AsyncPollLayer {
            config: self.config,
            policy,
        }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The response headers that name the status URL, in order of preference (the first
    /// one present wins). Default: `Location`. For Azure services:
    /// `["azure-asyncoperation", "operation-location", "location"]`.
    ///
    /// A header name that is not valid is a programming error and is skipped.
    pub fn status_headers<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: TryInto<HeaderName>,
    {
        self.config().status_headers = names
            .into_iter()
            .filter_map(|n| n.try_into().ok())
            .collect();
        self
    }

    /// Request headers that are copied from the original request to every poll and result
    /// fetch, whatever the origin (for example `User-Agent`, `Accept-Language`). Default:
    /// none. Headers that every request of a client carries are best set by a layer
    /// *below* this one, which then applies to the polls too.
    pub fn forward_headers<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: TryInto<HeaderName>,
    {
        let config = self.config();
        config.forward_headers = names
            .into_iter()
            .filter_map(|n| n.try_into().ok())
            .collect();
        config.rebuild_captured();
        self
    }

    /// Request headers that carry credentials: copied from the original request to polls
    /// and result fetches only as [`credentials`](Self::credentials) allows. Default:
    /// `Authorization`, `Cookie`, `Proxy-Authorization`
    /// ([`CREDENTIAL_HEADERS`](recourse_core::origin::CREDENTIAL_HEADERS)); add API-key
    /// headers here (the list replaces the default: include those three).
    pub fn sensitive_headers<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: TryInto<HeaderName>,
    {
        let config = self.config();
        config.sensitive_headers = names
            .into_iter()
            .filter_map(|n| n.try_into().ok())
            .collect();
        config.rebuild_captured();
        self
    }

    /// When the sensitive headers go to the status URL and result URLs. Default:
    /// [`Credentials::SameOrigin`].
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.config().credentials = credentials;
        self
    }

    /// The wait before poll `n` when the last response has no usable `Retry-After`:
    /// `backoff.delay(n)` (see [`Backoff`]), counting the running responses, the 202
    /// included. Default: 1 s, doubling, capped at 30 s, no jitter.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config().backoff = backoff;
        self
    }

    /// Shorthand for [`backoff`](Self::backoff): `initial`, multiplied by `growth` after
    /// each poll (factors below 1 mean constant), capped at `max`, no jitter.
    pub fn interval(self, initial: Duration, growth: f64, max: Duration) -> Self {
        self.backoff(
            Backoff::exponential(initial, max)
                .with_factor(growth)
                .with_jitter(Jitter::None),
        )
    }

    /// The shortest wait between polls, whatever `Retry-After` or the backoff say
    /// (`Retry-After: 0` from a busy server must not make a tight loop). Default: 250 ms.
    pub fn min_interval(mut self, floor: Duration) -> Self {
        self.config().min_interval = floor;
        self
    }

    /// The longest `Retry-After` honoured as is; longer ones (up to the year that
    /// `recourse_core` clamps to) are shortened to this. Default: 5 min.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.config().max_retry_after = max;
        self
    }

    /// The total time polling may take, from the first 202 to the final response. No
    /// wait that would end past it is started, and a poll in flight when it passes is
    /// abandoned: either way the result is a [`PollTimeout`](crate::PollTimeout).
    /// Default: 10 minutes.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.config().time_limit = Some(limit);
        self
    }

    /// No total polling time (the request's [`Deadline`](recourse_core::Deadline) and
    /// [`max_polls`](Self::max_polls) still apply).
    pub fn no_time_limit(mut self) -> Self {
        self.config().time_limit = None;
        self
    }

    /// The most polls of one status URL before giving up with a
    /// [`PollTimeout`](crate::PollTimeout). Default: 100.
    pub fn max_polls(mut self, max: u32) -> Self {
        self.config().max_polls = max;
        self
    }

    /// Decides the terminal state of 2xx status responses from a JSON body field too.
    pub fn status_field(mut self, field: StatusField) -> Self {
        self.config().field = Some(field);
        self
    }

    /// Where the result of a successful job is. Default: [`FinalState::StatusResource`].
    pub fn final_state(mut self, final_state: FinalState) -> Self {
        self.config().final_state = final_state;
        self
    }

    /// Whether a `201 Created` to the original request is answered with the created
    /// resource: a `GET` of its `Location` (RFC 9110 §15.3.2). Default: off.
    pub fn fetch_created(mut self, fetch: bool) -> Self {
        self.config().fetch_created = fetch;
        self
    }

    /// Whether a status URL or result URL named by a response to an `https` request may
    /// be an `http` URL. Default: off: such a URL is not requested, and the response
    /// future fails with a [`Downgrade`](crate::Downgrade) error
    /// ([`PollError::is_downgrade`](crate::PollError::is_downgrade)), as the redirect
    /// layer does for a redirect from `https` to `http`.
    ///
    /// Following one would carry the job's status and result in clear text, where they
    /// can be read and forged on the path (RFC 9110 §4.2.2; the Fetch standard's
    /// mixed-content rule). Turn this on only for a status service known to be reachable
    /// over `http` alone, on a network you trust. `http` to `https` is always followed.
    pub fn allow_downgrade(mut self, allow: bool) -> Self {
        self.config().allow_downgrade = allow;
        self
    }

    /// Calls `callback` after every poll with its [`PollProgress`] (for every request;
    /// per request, use a [`ProgressSender`](crate::ProgressSender)). The callback runs
    /// inside the response future's `poll`: keep it short and never block.
    pub fn on_progress<F>(mut self, callback: F) -> Self
    where
        F: Fn(&PollProgress) + Send + Sync + 'static,
    {
        self.config().on_progress = Some(Arc::new(callback));
        self
    }
}

impl<S, P: Clone> Layer<S> for AsyncPollLayer<P> {
    type Service = AsyncPoll<S, P>;

    fn layer(&self, inner: S) -> AsyncPoll<S, P> {
        AsyncPoll {
            inner,
            config: self.config.clone(),
            policy: self.policy.clone(),
        }
    }
}
