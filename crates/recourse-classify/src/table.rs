//! [`StatusTable`]: the response-code table as a policy, with builder methods to remap codes.

use std::ops::RangeInclusive;
use std::sync::Arc;

use http::StatusCode;
use recourse_core::Class;

use crate::kind::Kind;
use crate::policy::{Head, Policy};

/// The default [`Policy`]: the response-code table's rows and the standard meaning of the
/// other codes ([`Kind::standard`], RFC 9110 §15), with any remapping the builder methods
/// add.
///
/// Later mappings win over earlier ones, so a range can be mapped and then a code inside
/// it mapped back.
///
/// ```
/// use http::StatusCode;
/// use recourse_classify::{Kind, StatusTable};
///
/// let table = StatusTable::new()
///     .retryable([
///         StatusCode::TOO_MANY_REQUESTS,
///         StatusCode::BAD_GATEWAY,
///         StatusCode::GATEWAY_TIMEOUT,
///     ])
///     .success([StatusCode::NOT_FOUND]);
/// assert_eq!(table.kind(StatusCode::BAD_GATEWAY), Kind::Retryable);
/// assert_eq!(table.kind(StatusCode::NOT_FOUND), Kind::Success);
/// assert_eq!(table.kind(StatusCode::SERVICE_UNAVAILABLE), Kind::Retryable);
/// assert_eq!(table.kind(StatusCode::NOT_IMPLEMENTED), Kind::ServerError);
/// ```
///
/// # Clone
///
/// The unmodified table holds nothing; a remapped one shares its mappings in an [`Arc`],
/// so a clone (one per request) is at most a reference-count increment.
#[derive(Clone, Debug, Default)]
pub struct StatusTable {
    overrides: Option<Arc<Vec<Override>>>,
}

#[derive(Clone, Copy, Debug)]
struct Override {
    codes: (u16, u16),
    kind: Kind,
}

impl StatusTable {
    /// The response-code table with no remapping.
    pub fn new() -> Self {
        StatusTable::default()
    }

    /// Maps one status code to `kind`.
    pub fn map(self, status: StatusCode, kind: Kind) -> Self {
        self.map_range(status..=status, kind)
    }

    /// Maps every status code in `range` to `kind`; an empty range maps nothing.
    ///
    /// ```
    /// use http::StatusCode;
    /// use recourse_classify::{Kind, StatusTable};
    ///
    /// // Every 5xx is worth resubmitting, except 501 Not Implemented.
    /// let first = StatusCode::INTERNAL_SERVER_ERROR;
    /// let last = StatusCode::from_u16(599).unwrap();
    /// let table = StatusTable::new()
    ///     .map_range(first..=last, Kind::Retryable)
    ///     .map(StatusCode::NOT_IMPLEMENTED, Kind::ServerError);
    /// assert_eq!(table.kind(StatusCode::BAD_GATEWAY), Kind::Retryable);
    /// assert_eq!(table.kind(StatusCode::NOT_IMPLEMENTED), Kind::ServerError);
    /// ```
    pub fn map_range(mut self, range: RangeInclusive<StatusCode>, kind: Kind) -> Self {
        let (start, end) = range.into_inner();
        let (start, end) = (start.as_u16(), end.as_u16());
        if start <= end {
            Arc::make_mut(self.overrides.get_or_insert_with(Default::default)).push(Override {
                codes: (start, end),
                kind,
            });
        }
        self
    }

    /// Makes these codes retryable ([`Kind::Retryable`]): for example 429, 502 and 504,
    /// which the response-code table does not list but often pass if resubmitted later.
    pub fn retryable(self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        statuses
            .into_iter()
            .fold(self, |table, code| table.map(code, Kind::Retryable))
    }

    /// Treats these codes as success ([`Kind::Success`]): for example 404 for a `DELETE`
    /// that only has to make sure a resource is gone.
    pub fn success(self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        statuses
            .into_iter()
            .fold(self, |table, code| table.map(code, Kind::Success))
    }

    /// Treats these codes as server failures that are not worth resubmitting
    /// ([`Kind::ServerError`]): for example 500 for a service known to fail for good.
    pub fn not_retryable(self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        statuses
            .into_iter()
            .fold(self, |table, code| table.map(code, Kind::ServerError))
    }

    /// The kind of a status code in this table.
    #[inline]
    pub fn kind(&self, status: StatusCode) -> Kind {
        if let Some(overrides) = &self.overrides {
            let code = status.as_u16();
            if let Some(o) = overrides
                .iter()
                .rev()
                .find(|o| o.codes.0 <= code && code <= o.codes.1)
            {
                return o.kind;
            }
        }
        Kind::standard(status)
    }

    /// The coarse class of a status code in this table.
    pub fn class(&self, status: StatusCode) -> Class {
        self.kind(status).class()
    }
}

impl Policy for StatusTable {
    #[inline]
    fn classify(&mut self, head: &Head<'_>) -> Kind {
        self.kind(head.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn default_is_standard() {
        let table = StatusTable::new();
        for code in 100..=999 {
            assert_eq!(table.kind(s(code)), Kind::standard(s(code)));
        }
    }

    #[test]
    fn remapping() {
        let table = StatusTable::new()
            .retryable([s(429), s(502), s(504)])
            .success([s(404)])
            .not_retryable([s(500)])
            .map_range(s(520)..=s(529), Kind::Retryable)
            .map(s(525), Kind::ServerError);
        // An empty range maps nothing.
        let (hi, lo) = (s(110), s(101));
        let empty = StatusTable::new().map_range(hi..=lo, Kind::Success);
        assert!(empty.overrides.is_none());
        assert_eq!(table.kind(s(429)), Kind::Retryable);
        assert_eq!(table.class(s(429)), Class::Retryable);
        assert_eq!(table.kind(s(502)), Kind::Retryable);
        assert_eq!(table.kind(s(504)), Kind::Retryable);
        assert_eq!(table.kind(s(404)), Kind::Success);
        assert_eq!(table.kind(s(500)), Kind::ServerError);
        assert_eq!(table.kind(s(503)), Kind::Retryable);
        assert_eq!(table.kind(s(522)), Kind::Retryable);
        assert_eq!(table.kind(s(525)), Kind::ServerError);
        assert_eq!(table.kind(s(200)), Kind::Success);
        assert_eq!(table.kind(s(403)), Kind::Forbidden);
        // The original is untouched by a clone's changes.
        let base = StatusTable::new().retryable([s(429)]);
        let more = base.clone().success([s(429)]);
        assert_eq!(base.kind(s(429)), Kind::Retryable);
        assert_eq!(more.kind(s(429)), Kind::Success);
    }
}
