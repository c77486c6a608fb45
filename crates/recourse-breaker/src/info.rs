//! [`BreakerInfo`]: what the breaker did for a response, as an extension.

use std::time::Duration;

use crate::handle::BreakerState;

/// What the breaker did for one response, in its extensions: present when the request
/// waited for a `Retry-After`, was a half-open probe, or its outcome changed the
/// circuit's state. A response that simply passed through carries none (so the
/// pass-through path inserts nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerInfo {
    pub(crate) state: BreakerState,
    pub(crate) previous: Option<BreakerState>,
    pub(crate) waited: Duration,
    pub(crate) probe: bool,
}

impl BreakerInfo {
    /// The breaker information of a response, if the breaker left any.
    pub fn of<B>(res: &http::Response<B>) -> Option<&BreakerInfo> {
        res.extensions().get::<BreakerInfo>()
    }

    /// The origin's circuit state after this response.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// The state before, when this response changed it.
    pub fn transitioned_from(&self) -> Option<BreakerState> {
        self.previous
    }

    /// How long the request waited for the origin's `Retry-After` to pass.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Whether the request was a half-open probe.
    pub fn was_probe(&self) -> bool {
        self.probe
    }
}
