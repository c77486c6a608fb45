//! The settings a [`RedirectLayer`](crate::RedirectLayer) gives the services it builds.

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
