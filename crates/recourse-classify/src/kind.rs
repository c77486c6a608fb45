//! [`Kind`]: which row of the table a response falls in, without the row's data.

use std::fmt;

use http::StatusCode;
use recourse_core::Class;

/// Which kind of [`Outcome`](crate::Outcome) a response has: one value per row of the
/// response-code table, plus the nearest standard meaning of the codes it lacks.
///
/// A `Kind` is what a [`Policy`](crate::Policy) decides (it is `Copy` and costs nothing to
/// pass around); the layer then builds the [`Outcome`](crate::Outcome) with the data the
/// kind carries (`Location`, `Retry-After`, `Allow`, the body's code or `Errors` block).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// 1xx (RFC 9110 §15.2).
    Informational,
    /// Success: 200 whose body code is 0 (or has none), and other 2xx (RFC 9110 §15.3).
    Success,
    /// The exchange succeeded but the body reports a failure (200 with a non-zero
    /// `Response.Code`).
    ApplicationFailure,
    /// 201 Created (RFC 9110 §15.3.2).
    Created,
    /// 202 Accepted (RFC 9110 §15.3.3).
    Accepted,
    /// 304 Not Modified (RFC 9110 §15.4.5).
    NotModified,
    /// 3xx other than 304 (RFC 9110 §15.4).
    Redirect,
    /// 400 Bad Request (RFC 9110 §15.5.1).
    BadRequest,
    /// 401 Unauthorized (RFC 9110 §15.5.2).
    Unauthorized,
    /// 403 Forbidden (RFC 9110 §15.5.4).
    Forbidden,
    /// 404 Not Found (RFC 9110 §15.5.5).
    NotFound,
    /// 405 Method Not Allowed (RFC 9110 §15.5.6).
    MethodNotAllowed,
    /// 409 Conflict (RFC 9110 §15.5.10).
    Conflict,
    /// 429 Too Many Requests (RFC 6585 §4).
    TooManyRequests,
    /// Any other 4xx (RFC 9110 §15.5).
    ClientError,
    /// A server failure worth resubmitting later: 500 and 503 in the response-code table
    /// (RFC 9110 §15.6.1, §15.6.4), and whatever the table is told to retry.
    Retryable,
    /// Any other 5xx, and status codes above 599 (RFC 9110 §15.6).
    ServerError,
}

impl Kind {
    /// The standard kind of a status code: the response-code table's rows, and the nearest
    /// standard meaning (RFC 9110 §15) of the codes it lacks.
    ///
    /// Its [`class`](Kind::class) always equals [`Class::from_status`]. (A table lookup:
    /// this runs for every response.)
    #[inline]
    pub const fn standard(status: StatusCode) -> Kind {
        let code = status.as_u16() as usize;
        if code >= 100 && code < 100 + STANDARD.len() {
            STANDARD[code - 100]
        } else {
            Kind::ServerError
        }
    }

    const fn compute_standard(code: u16) -> Kind {
        match code {
            100..=199 => Kind::Informational,
            code @ 200..=299 => match code {
                201 => Kind::Created,
                202 => Kind::Accepted,
                _ => Kind::Success,
            },
            code @ 300..=399 => match code {
                304 => Kind::NotModified,
                _ => Kind::Redirect,
            },
            code @ 400..=499 => match code {
                400 => Kind::BadRequest,
                401 => Kind::Unauthorized,
                403 => Kind::Forbidden,
                404 => Kind::NotFound,
                405 => Kind::MethodNotAllowed,
                409 => Kind::Conflict,
                429 => Kind::TooManyRequests,
                _ => Kind::ClientError,
            },
            500 | 503 => Kind::Retryable,
            _ => Kind::ServerError,
        }
    }

    /// The coarse [`Class`] of this kind, which the other layers read.
    #[inline]
    pub const fn class(self) -> Class {
        match self {
            Kind::Informational => Class::Informational,
            Kind::Success | Kind::Created => Class::Success,
            Kind::ApplicationFailure => Class::ApplicationFailure,
            Kind::Accepted => Class::Pending,
            Kind::NotModified => Class::NotModified,
            Kind::Redirect => Class::Redirect,
            Kind::BadRequest
            | Kind::Unauthorized
            | Kind::Forbidden
            | Kind::NotFound
            | Kind::MethodNotAllowed
            | Kind::Conflict
            | Kind::TooManyRequests
            | Kind::ClientError => Class::ClientError,
            Kind::Retryable => Class::Retryable,
            Kind::ServerError => Class::ServerError,
        }
    }

    /// Whether outcomes of this kind carry a `Location`.
    pub(crate) const fn has_location(self) -> bool {
        matches!(self, Kind::Created | Kind::Accepted | Kind::Redirect)
    }

    /// Whether outcomes of this kind carry an `Errors` block.
    pub(crate) const fn has_errors(self) -> bool {
        matches!(self, Kind::BadRequest | Kind::ClientError)
    }

    /// A short human-readable name ("not found", "retryable server failure", ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Informational => "informational",
            Kind::Success => "success",
            Kind::ApplicationFailure => "application failure",
            Kind::Created => "created",
            Kind::Accepted => "accepted",
            Kind::NotModified => "not modified",
            Kind::Redirect => "redirect",
            Kind::BadRequest => "bad request",
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::NotFound => "not found",
            Kind::MethodNotAllowed => "method not allowed",
            Kind::Conflict => "conflict",
            Kind::TooManyRequests => "too many requests",
            Kind::ClientError => "client error",
            Kind::Retryable => "retryable server failure",
            Kind::ServerError => "server failure",
        }
    }
}

/// [`Kind::standard`] of 100..=599 (everything above is a server error).
const STANDARD: [Kind; 500] = {
    let mut table = [Kind::ServerError; 500];
    let mut i = 0;
    while i < table.len() {
        table[i] = Kind::compute_standard(100 + i as u16);
        i += 1;
    }
    table
};

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_kind_agrees_with_core_class_for_every_status() {
        for code in 100..=999u16 {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(
                Kind::standard(status).class(),
                Class::from_status(status),
                "status {code}"
            );
        }
    }

    #[test]
    fn table_rows_have_distinct_kinds() {
        let rows = [
            200, 201, 202, 304, 307, 400, 401, 403, 404, 405, 409, 500, 503,
        ];
        let kinds: Vec<Kind> = rows
            .iter()
            .map(|c| Kind::standard(StatusCode::from_u16(*c).unwrap()))
            .collect();
        // 500 and 503 share "retryable server failure"; every other row has its own kind.
        let mut distinct = kinds.clone();
        distinct.dedup();
        distinct.sort_by_key(|k| k.as_str());
        distinct.dedup();
        assert_eq!(distinct.len(), rows.len() - 1);
        assert_eq!(kinds[11], Kind::Retryable);
        assert_eq!(kinds[12], Kind::Retryable);
    }

    #[test]
    fn nearest_standard_meanings() {
        let k = |c| Kind::standard(StatusCode::from_u16(c).unwrap());
        assert_eq!(k(204), Kind::Success);
        assert_eq!(k(206), Kind::Success);
        assert_eq!(k(301), Kind::Redirect);
        assert_eq!(k(308), Kind::Redirect);
        assert_eq!(k(418), Kind::ClientError);
        assert_eq!(k(429), Kind::TooManyRequests);
        assert_eq!(k(502), Kind::ServerError);
        assert_eq!(k(504), Kind::ServerError);
        assert_eq!(k(101), Kind::Informational);
        assert_eq!(k(799), Kind::ServerError);
        assert_eq!(Kind::Retryable.to_string(), "retryable server failure");
    }
}
