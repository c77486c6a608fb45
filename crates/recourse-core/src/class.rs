//! The coarse verdict on a response, shared by every layer.
//!
//! The classify layer (`recourse-classify`) stores a [`Class`] in each response's
//! extensions; retry, poll, cache and metrics read it with [`Class::of`] instead of deciding
//! again. When the classify layer is absent, [`Class::of`] falls back to
//! [`Class::from_status`], the standard meaning of the status code as the project's
//! response-code table (`docs/BEHAVIOUR.md` in the repository) and RFC 9110 §15 give it.
//!
//! ```
//! use http::{Response, StatusCode};
//! use recourse_core::Class;
//!
//! let res = Response::builder().status(503).body(()).unwrap();
//! assert_eq!(Class::of(&res), Class::Retryable);
//!
//! // A classifier upstream may decide otherwise (say, a 200 whose body reports a failure).
//! let mut res = Response::new(());
//! res.extensions_mut().insert(Class::ApplicationFailure);
//! assert_eq!(Class::of(&res), Class::ApplicationFailure);
//! assert!(Class::of(&res).is_failure());
//! ```

use http::StatusCode;

/// A coarse verdict on a response: what a client should do next, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Class {
    /// 1xx: an interim response (RFC 9110 §15.2).
    Informational,
    /// The request succeeded (2xx, and whatever a classifier maps to success).
    Success,
    /// The HTTP exchange succeeded but the body reports an application-level failure
    /// (a 200 whose `Response.Code` is not 0, in the source table).
    ApplicationFailure,
    /// The request is still being processed; the status can be polled (202, RFC 9110 §15.3.3).
    Pending,
    /// 3xx other than 304: the resource is elsewhere (RFC 9110 §15.4).
    Redirect,
    /// 304: the cached copy is still valid (RFC 9110 §15.4.5).
    NotModified,
    /// 4xx: the request is wrong and resending it unchanged will not help (RFC 9110 §15.5).
    ClientError,
    /// A failure that may go away if the same request is resubmitted later
    /// (500 and 503 in the source table; 429, 502, 504 when configured).
    Retryable,
    /// A server failure that resending is not expected to fix.
    ServerError,
}

impl Class {
    /// The standard verdict for a status code, with no other information.
    ///
    /// 500 and 503 are [`Class::Retryable`], as the source table says ("resubmit the
    /// request later"); other 5xx are [`Class::ServerError`]. 202 is [`Class::Pending`].
    /// Status codes outside 100..=599 are treated by their first digit where it fits, and
    /// as [`Class::ServerError`] otherwise.
    pub const fn from_status(status: StatusCode) -> Class {
        match status.as_u16() {
            202 => Class::Pending,
            304 => Class::NotModified,
            500 | 503 => Class::Retryable,
            100..=199 => Class::Informational,
            200..=299 => Class::Success,
            300..=399 => Class::Redirect,
            400..=499 => Class::ClientError,
            _ => Class::ServerError,
        }
    }

    /// The verdict on a response: the [`Class`] a classifier stored in its extensions, or
    /// else [`Class::from_status`].
    pub fn of<B>(res: &http::Response<B>) -> Class {
        match res.extensions().get::<Class>() {
            Some(class) => *class,
            None => Class::from_status(res.status()),
        }
    }

    /// Whether resubmitting the same request later may succeed.
    pub const fn is_retryable(self) -> bool {
        matches!(self, Class::Retryable)
    }

    /// Whether the request succeeded ([`Class::Success`] or [`Class::NotModified`]).
    pub const fn is_success(self) -> bool {
        matches!(self, Class::Success | Class::NotModified)
    }

    /// Whether the response reports a failure of any kind.
    pub const fn is_failure(self) -> bool {
        matches!(
            self,
            Class::ApplicationFailure | Class::ClientError | Class::Retryable | Class::ServerError
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows() {
        let cases = [
            (200, Class::Success),
            (201, Class::Success),
            (202, Class::Pending),
            (204, Class::Success),
            (304, Class::NotModified),
            (307, Class::Redirect),
            (400, Class::ClientError),
            (401, Class::ClientError),
            (403, Class::ClientError),
            (404, Class::ClientError),
            (405, Class::ClientError),
            (409, Class::ClientError),
            (429, Class::ClientError),
            (500, Class::Retryable),
            (502, Class::ServerError),
            (503, Class::Retryable),
            (101, Class::Informational),
            (999, Class::ServerError),
        ];
        for (code, class) in cases {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(Class::from_status(status), class, "status {code}");
        }
    }

    #[test]
    fn extension_wins() {
        let mut res = http::Response::builder().status(200).body(()).unwrap();
        assert_eq!(Class::of(&res), Class::Success);
        res.extensions_mut().insert(Class::ApplicationFailure);
        assert_eq!(Class::of(&res), Class::ApplicationFailure);
        assert!(Class::ApplicationFailure.is_failure());
        assert!(!Class::ApplicationFailure.is_success());
        assert!(Class::Retryable.is_retryable());
        assert!(Class::NotModified.is_success());
    }
}
