//! Settings shared by [`RedirectLayer`](crate::RedirectLayer) and [`Redirect`](crate::Redirect).

use std::time::Duration;

use recourse_core::limits::{DEFAULT_DRAIN_LIMIT, DEFAULT_DRAIN_TIMEOUT, DEFAULT_REPLAY_LIMIT};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) replay_limit: usize,
    pub(crate) drain_limit: u64,
    pub(crate) drain_timeout: Duration,
    pub(crate) keep_post: bool,
    pub(crate) detect_loops: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            replay_limit: DEFAULT_REPLAY_LIMIT,
            drain_limit: DEFAULT_DRAIN_LIMIT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            keep_post: false,
            detect_loops: true,
        }
    }
}

/// Builder methods common to the layer and the service (`$ty` has a `config` field).
macro_rules! config_methods {
    () => {
        /// The most bytes of a streamed request body kept to resend it on 307/308
        /// ([`DEFAULT_REPLAY_LIMIT`](recourse_core::limits::DEFAULT_REPLAY_LIMIT) by default). Past it the
        /// body is sent once and a 307/308 is returned as it is, with
        /// [`NotFollowed::BodyNotReplayable`](crate::NotFollowed::BodyNotReplayable) in its
        /// extensions. Bodies already in memory (`Full<Bytes>`, `String`) are never copied
        /// and not subject to the cap.
        pub fn max_replay_bytes(mut self, bytes: usize) -> Self {
            self.config.replay_limit = bytes;
            self
        }

        /// How many bytes of a 3xx body to read and discard before following it, so that
        /// its HTTP/1.1 connection goes back to the pool
        /// ([`DEFAULT_DRAIN_LIMIT`](recourse_core::limits::DEFAULT_DRAIN_LIMIT) by default). A longer body
        /// is dropped unread past that point. 0 never drains (and needs no timer).
        pub fn drain_limit(mut self, bytes: u64) -> Self {
            self.config.drain_limit = bytes;
            self
        }

        /// How long to spend draining a 3xx body before following anyway
        /// ([`DEFAULT_DRAIN_TIMEOUT`](recourse_core::limits::DEFAULT_DRAIN_TIMEOUT) by default), never past
        /// the request's [`Deadline`](recourse_core::Deadline).
        pub fn drain_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.config.drain_timeout = timeout;
            self
        }

        /// Keep POST (and its body) on 301 and 302 instead of switching to GET without a
        /// body, as RFC 9110 §15.4.2 and §15.4.3 allow and the Fetch standard does not
        /// (off by default). 303 always switches to GET.
        pub fn keep_post(mut self, enable: bool) -> Self {
            self.config.keep_post = enable;
            self
        }

        /// Fail with [`RedirectLoop`](crate::RedirectLoop) as soon as a redirect leads back
        /// to a request (same method and URI) the chain already made (on by default).
        /// Turn it off when a layer below changes requests between hops (a cookie jar
        /// answering a "set cookie and redirect to self" flow); the limit still applies.
        pub fn detect_loops(mut self, enable: bool) -> Self {
            self.config.detect_loops = enable;
            self
        }
    };
}

pub(crate) use config_methods;

/// Builder methods for the [`Standard`](crate::policy::Standard) policy.
macro_rules! standard_methods {
    () => {
        /// Follow at most `max` redirects per request (10 by default); the next one fails
        /// with [`TooManyRedirects`](crate::TooManyRedirects).
        pub fn max_redirects(mut self, max: usize) -> Self {
            let limited = self.policy.first_mut().first_mut();
            *limited = crate::policy::Limited::new(max).return_last(limited.returns_last());
            self
        }

        /// At the limit, return the last 3xx response (with
        /// [`NotFollowed::LimitReached`](crate::NotFollowed::LimitReached) in its
        /// extensions) instead of failing with
        /// [`TooManyRedirects`](crate::TooManyRedirects).
        pub fn return_last_redirect(mut self, enable: bool) -> Self {
            let limited = self.policy.first_mut().first_mut();
            *limited = limited.return_last(enable);
            self
        }

        /// Also remove `name` from requests when a redirect changes the origin, besides
        /// `Authorization`, `Cookie` and `Proxy-Authorization`.
        pub fn remove_on_origin_change(mut self, name: http::header::HeaderName) -> Self {
            let filter = std::mem::take(self.policy.first_mut().second_mut());
            *self.policy.first_mut().second_mut() = filter.also_remove(name);
            self
        }
    };
}

pub(crate) use standard_methods;
