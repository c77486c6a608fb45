//! [`BreakerHandle`]: reading and resetting the state of each origin from outside.

use std::fmt;
use std::sync::Arc;

use http::Uri;
use tokio::time::Instant;

use crate::state::{Registry, View};

/// The state of an origin's circuit (Polly's and Envoy's terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Requests go through; outcomes are counted.
    Closed,
    /// Requests are refused until the break ends.
    Open,
    /// A bounded number of probe requests go through; their success closes the circuit,
    /// a failure opens it again for a longer break.
    HalfOpen,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        })
    }
}

/// Reads and resets the breaker's state per origin; get it from
/// [`BreakerLayer::handle`](crate::BreakerLayer::handle). Cheap to clone: every clone,
/// and every service of the layer, shares one state.
#[derive(Clone)]
pub struct BreakerHandle {
    pub(crate) registry: Arc<Registry>,
}

impl BreakerHandle {
    /// The circuit state of `uri`'s origin (scheme, host, port), or `None` when the breaker
    /// holds nothing for it (never seen, forgotten, or a URI without an origin).
    pub fn state(&self, uri: &Uri) -> Option<BreakerState> {
        let view = View::of(uri)?;
        self.registry.get(&view).map(|o| o.state())
    }

    /// Until when a `Retry-After` keeps `uri`'s origin closed to new requests, if it does.
    pub fn gated_until(&self, uri: &Uri) -> Option<Instant> {
        let view = View::of(uri)?;
        let origin = self.registry.get(&view)?;
        origin.gated_until()
    }

    /// Forgets everything about `uri`'s origin (closed, no gate, no counts). Returns
    /// whether there was anything to forget.
    pub fn reset(&self, uri: &Uri) -> bool {
        View::of(uri).is_some_and(|view| self.registry.reset(&view))
    }

    /// Forgets every origin.
    pub fn reset_all(&self) {
        self.registry.reset_all();
    }

    /// How many origins the breaker holds state for (at most its `max_origins`).
    pub fn origins(&self) -> usize {
        self.registry.len()
    }
}

impl fmt::Debug for BreakerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerHandle")
            .field("origins", &self.registry.len())
            .finish()
    }
}
