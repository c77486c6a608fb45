//! [`BreakerError`]: the inner service's error, or a refusal ([`Overloaded`],
//! [`CircuitOpen`]).

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use recourse_core::BoxError;
use recourse_core::sent::Sent;
use tokio::time::Instant;

use crate::handle::BreakerState;

/// A request refused because the origin's `Retry-After` (on a 503, or a 429) has not
/// passed, and waiting for it would not fit in the request's
/// [`Deadline`](recourse_core::Deadline) (or the layer does not wait). The request was
/// not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overloaded {
    pub(crate) origin: String,
    pub(crate) until: Instant,
}

impl Overloaded {
    /// The origin, as `scheme://host:port`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// When the origin takes requests again.
    pub fn until(&self) -> Instant {
        self.until
    }

    /// How long from now until then (zero once it has passed).
    pub fn retry_after(&self) -> Duration {
        self.until.saturating_duration_since(Instant::now())
    }
}

impl fmt::Display for Overloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} asked for no requests for {:?} more (Retry-After), longer than the request may wait; not sent",
            self.origin,
            self.retry_after()
        )
    }
}

impl StdError for Overloaded {}

/// A request refused because the origin's circuit is open (or half-open with every probe
/// slot taken). The request was not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CircuitOpen {
    pub(crate) origin: String,
    pub(crate) until: Option<Instant>,
    pub(crate) state: BreakerState,
}

impl CircuitOpen {
    /// The origin, as `scheme://host:port`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// When the break ends and probes are let through; `None` while half-open (a probe
    /// is in flight and decides).
    pub fn until(&self) -> Option<Instant> {
        self.until
    }

    /// The circuit state that refused ([`BreakerState::Open`] or [`BreakerState::HalfOpen`]).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// How long from now until the break ends, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.until
            .map(|until| until.saturating_duration_since(Instant::now()))
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retry_after() {
            Some(wait) => write!(
                f,
                "the circuit of {} is {} for {wait:?} more; not sent",
                self.origin, self.state
            ),
            None => write!(
                f,
                "the circuit of {} is {} and its probes are in flight; not sent",
                self.origin, self.state
            ),
        }
    }
}

impl StdError for CircuitOpen {}

/// The error of a [`Breaker`](crate::Breaker): the inner service's error, kept by value,
/// or a refusal. A refused request was never sent.
pub struct BreakerError<E> {
    kind: Kind<E>,
}

// The refusals are boxed (they allocate their origin's name anyway), so that the error,
// and the future's output, are no larger than the inner service's error.
enum Kind<E> {
    Inner(E),
    Overloaded(Box<Overloaded>),
    CircuitOpen(Box<CircuitOpen>),
}

impl<E> BreakerError<E> {
    pub(crate) fn inner_error(e: E) -> Self {
        Self {
            kind: Kind::Inner(e),
        }
    }

    pub(crate) fn from_overloaded(o: Overloaded) -> Self {
        Self {
            kind: Kind::Overloaded(Box::new(o)),
        }
    }

    pub(crate) fn from_circuit_open(o: CircuitOpen) -> Self {
        Self {
            kind: Kind::CircuitOpen(Box::new(o)),
        }
    }

    /// What this error says about its request having been sent (see
    /// [`recourse_core::sent`]): a refusal was not sent, and hands over why (the
    /// [`Overloaded`] or [`CircuitOpen`]); an inner error may know.
    pub(crate) fn sent(&self) -> Sent<'_>
    where
        E: 'static,
    {
        match &self.kind {
            Kind::Inner(e) => Sent::Inner(e),
            Kind::Overloaded(o) => Sent::Refused(&**o),
            Kind::CircuitOpen(c) => Sent::Refused(&**c),
        }
    }

    /// Whether the inner service failed.
    pub fn is_inner(&self) -> bool {
        matches!(self.kind, Kind::Inner(_))
    }

    /// The inner service's error, if that is what this is.
    pub fn inner(&self) -> Option<&E> {
        match &self.kind {
            Kind::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// The inner service's error, or this error back when it is not one.
    pub fn into_inner(self) -> Result<E, Self> {
        match self.kind {
            Kind::Inner(e) => Ok(e),
            kind => Err(Self { kind }),
        }
    }

    /// Whether the origin's `Retry-After` refused the request.
    pub fn is_overloaded(&self) -> bool {
        matches!(self.kind, Kind::Overloaded(_))
    }

    /// The refusal by `Retry-After`, if that is what this is.
    pub fn overloaded(&self) -> Option<&Overloaded> {
        match &self.kind {
            Kind::Overloaded(o) => Some(&**o),
            _ => None,
        }
    }

    /// Whether the open circuit refused the request.
    pub fn is_circuit_open(&self) -> bool {
        matches!(self.kind, Kind::CircuitOpen(_))
    }

    /// The refusal by the open circuit, if that is what this is.
    pub fn circuit_open(&self) -> Option<&CircuitOpen> {
        match &self.kind {
            Kind::CircuitOpen(o) => Some(&**o),
            _ => None,
        }
    }

    /// Whether the breaker refused the request (it was not sent).
    pub fn is_refused(&self) -> bool {
        !self.is_inner()
    }

    /// How long the caller should wait before trying the origin again, for a refusal
    /// (what a proxy puts in `Retry-After`): the time left until the gate opens or the
    /// break ends; `None` for an inner error, or while half-open.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            Kind::Overloaded(o) => Some(o.retry_after()),
            Kind::CircuitOpen(o) => o.retry_after(),
            Kind::Inner(_) => None,
        }
    }

    /// A boxed error: the inner service's own error (not wrapped again), or the refusal.
    pub fn into_box_error(self) -> BoxError
    where
        E: Into<BoxError>,
    {
        match self.kind {
            Kind::Inner(e) => e.into(),
            Kind::Overloaded(o) => o,
            Kind::CircuitOpen(o) => o,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for BreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Inner(e) => f.debug_tuple("Inner").field(e).finish(),
            Kind::Overloaded(o) => f.debug_tuple("Overloaded").field(&**o).finish(),
            Kind::CircuitOpen(o) => f.debug_tuple("CircuitOpen").field(&**o).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for BreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Inner(e) => fmt::Display::fmt(e, f),
            Kind::Overloaded(o) => fmt::Display::fmt(&**o, f),
            Kind::CircuitOpen(o) => fmt::Display::fmt(&**o, f),
        }
    }
}

impl<E: StdError + 'static> StdError for BreakerError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.kind {
            Kind::Inner(e) => Some(e),
            Kind::Overloaded(o) => Some(&**o),
            Kind::CircuitOpen(o) => Some(&**o),
        }
    }
}
