//! [`RedirectLayer`]: wraps services in [`Redirect`], and holds their settings.

use std::time::Duration;

use http::header::HeaderName;
use tower_layer::Layer;

use crate::config::Config;
use crate::policy::Standard;
use crate::service::Redirect;

/// Applies [`Redirect`] to services; see the [crate docs](crate).
///
/// Every setting is made here (the service is built from the layer and not configured
/// after that).
#[derive(Clone, Debug)]
pub struct RedirectLayer<P = Standard> {
    pub(crate) policy: P,
    pub(crate) config: Config,
}

impl RedirectLayer {
    /// A layer with the [`Standard`] policy.
    pub fn new() -> Self {
        Self::with_policy(Standard::default())
    }

    /// Follow at most `max` redirects per request (10 by default); the next one fails
    /// with [`TooManyRedirects`](crate::TooManyRedirects) ([`Standard::max_redirects`]).
    pub fn max_redirects(mut self, max: u32) -> Self {
        self.policy = self.policy.max_redirects(max);
        self
    }

    /// At the limit, return the last 3xx response (with
    /// [`NotFollowed::LimitReached`](crate::NotFollowed::LimitReached) in its extensions)
    /// instead of failing with [`TooManyRedirects`](crate::TooManyRedirects)
    /// ([`Standard::return_last_redirect`]).
    pub fn return_last_redirect(mut self, enable: bool) -> Self {
        self.policy = self.policy.return_last_redirect(enable);
        self
    }

    /// Also remove `name` from requests when a redirect changes the origin, besides
    /// `Authorization`, `Cookie` and `Proxy-Authorization`
    /// ([`Standard::remove_on_origin_change`]).
    pub fn remove_on_origin_change(mut self, name: HeaderName) -> Self {
        self.policy = self.policy.remove_on_origin_change(name);
        self
    }
}

impl Default for RedirectLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> RedirectLayer<P> {
    /// A layer with the given policy (which replaces [`Standard`] entirely; combine them
    /// with [`PolicyExt::and`](crate::policy::PolicyExt::and) to keep its protections).
    pub fn with_policy(policy: P) -> Self {
        Self {
            policy,
            config: Config::default(),
        }
    }

    /// Replaces the policy, keeping the other settings.
    pub fn policy<Q>(self, policy: Q) -> RedirectLayer<Q> {
        RedirectLayer {
            policy,
            config: self.config,
        }
    }

    /// The policy.
    pub fn get_policy(&self) -> &P {
        &self.policy
    }

    /// The most bytes of a streamed request body kept to resend it on 307/308
    /// ([`DEFAULT_REPLAY_LIMIT`](recourse_core::limits::DEFAULT_REPLAY_LIMIT) by default).
    /// Past it the body is sent once and a 307/308 is returned as it is, with
    /// [`NotFollowed::BodyNotReplayable`](crate::NotFollowed::BodyNotReplayable) in its
    /// extensions. Bodies already in memory (`Full<Bytes>`, `String`) are never copied and
    /// not subject to the limit.
    pub fn replay_limit(mut self, bytes: usize) -> Self {
        self.config.replay_limit = bytes;
        self
    }

    /// How many bytes of a 3xx body to read and discard before following it, so that its
    /// HTTP/1.1 connection goes back to the pool
    /// ([`DEFAULT_DRAIN_LIMIT`](recourse_core::limits::DEFAULT_DRAIN_LIMIT) by default). A
    /// longer body is dropped unread past that point. 0 never drains (and needs no timer).
    pub fn drain_limit(mut self, bytes: u64) -> Self {
        self.config.drain_limit = bytes;
        self
    }

    /// How long to spend draining a 3xx body before following anyway
    /// ([`DEFAULT_DRAIN_TIMEOUT`](recourse_core::limits::DEFAULT_DRAIN_TIMEOUT) by
    /// default), never past the request's [`Deadline`](recourse_core::Deadline).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.config.drain_timeout = timeout;
        self
    }

    /// Keep POST (and its body) on 301 and 302 instead of switching to GET without a body,
    /// as RFC 9110 §15.4.2 and §15.4.3 allow and the Fetch standard does not (off by
    /// default). 303 always switches to GET.
    pub fn keep_post(mut self, enable: bool) -> Self {
        self.config.keep_post = enable;
        self
    }

    /// Fail with [`RedirectLoop`](crate::RedirectLoop) as soon as a redirect leads back to
    /// a request (same method and URI) the chain already made (on by default). Turn it off
    /// when a layer below changes requests between hops (a cookie jar answering a "set
    /// cookie and redirect to self" flow); the limit still applies.
    pub fn detect_loops(mut self, enable: bool) -> Self {
        self.config.detect_loops = enable;
        self
    }
}

impl<S, P: Clone> Layer<S> for RedirectLayer<P> {
    type Service = Redirect<S, P>;

    fn layer(&self, inner: S) -> Redirect<S, P> {
        Redirect {
            inner,
            policy: self.policy.clone(),
            config: self.config,
        }
    }
}
