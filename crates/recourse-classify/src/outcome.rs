//! [`Outcome`]: the detailed verdict on a response, and how it is stored and read back.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, Method, Response, StatusCode, Uri, header};
use recourse_core::headers::{LocationError, location_value, resolve_location};
use recourse_core::{Class, clock};

use crate::errors::Errors;
use crate::kind::Kind;

/// The detailed verdict on a response: one variant per row of the response-code table,
/// carrying what that row tells the client to act on.
///
/// Read it with [`Outcome::of`]. The coarse [`Class`] that the other layers read is
/// [`Outcome::class`] (and [`Class::of`] on the response gives the same answer).
///
/// # Storage
///
/// To keep the common path free of allocations, the classify layer stores an `Outcome`
/// in the response extensions only when it cannot be derived again from the status and
/// headers alone: when the [`Policy`](crate::Policy) chose a kind other than
/// [`Kind::standard`], when the body gave a code or an `Errors` block, or when a
/// `Location` was resolved against the request URI. [`Outcome::of`] reads the stored value,
/// or derives the standard outcome from the status and headers; both give the same answer
/// the layer decided. A derived `Retry-After` given as an HTTP-date is measured from the
/// time of the call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// 1xx (RFC 9110 §15.2).
    Informational {
        /// The status code.
        status: StatusCode,
    },
    /// The request succeeded: a 200 whose `Response.Code` is 0 (or that has none), any
    /// other 2xx without a row of its own, or whatever the table maps to success.
    Success,
    /// The server processed the request but its body reports a failure: a 200 whose
    /// `Response.Code` is not 0.
    ApplicationFailure {
        /// The body's code (`Response.Code` by default). When a policy calls a response an
        /// application failure without a body code, the status code stands in for it.
        code: i64,
        /// The body's message (`Response.Message` by default), when it has one.
        message: Option<String>,
    },
    /// 201 Created: a new resource at `Location` (RFC 9110 §15.3.2).
    Created {
        /// The new resource, when the response names one.
        location: Option<Location>,
    },
    /// 202 Accepted: still processing; the status can be queried at `Location`
    /// (RFC 9110 §15.3.3).
    Accepted {
        /// The status resource, when the response names one.
        location: Option<Location>,
        /// How long the server asks the client to wait before asking (RFC 9110 §10.2.3).
        retry_after: Option<Duration>,
    },
    /// 304 Not Modified: the cached copy is still valid (RFC 9110 §15.4.5).
    NotModified,
    /// 3xx other than 304: resubmit to `Location` (RFC 9110 §15.4).
    Redirect {
        /// The redirect status (307 in the response-code table).
        status: StatusCode,
        /// Where to resubmit, when the response says.
        location: Option<Location>,
    },
    /// 400 Bad Request, with the body's `Errors` block (RFC 9110 §15.5.1).
    BadRequest {
        /// The parsed `Errors` block: `None` when the body has none or was not inspected
        /// (not JSON, over the bound, malformed).
        errors: Option<Errors>,
    },
    /// 401 Unauthorized (RFC 9110 §15.5.2).
    Unauthorized,
    /// 403 Forbidden (RFC 9110 §15.5.4).
    Forbidden,
    /// 404 Not Found (RFC 9110 §15.5.5).
    NotFound,
    /// 405 Method Not Allowed, with the methods the `Allow` header lists
    /// (RFC 9110 §15.5.6, §10.2.1).
    MethodNotAllowed {
        /// The allowed methods, in order, without duplicates; unparsable entries are
        /// skipped, and an absent or empty `Allow` gives an empty list.
        allow: Vec<Method>,
    },
    /// 409 Conflict (RFC 9110 §15.5.10).
    Conflict,
    /// 429 Too Many Requests (RFC 6585 §4), unless the table makes it retryable.
    TooManyRequests {
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Any other 4xx (RFC 9110 §15.5).
    ClientError {
        /// The status code.
        status: StatusCode,
        /// The body's `Errors` block, when the status is configured to carry one.
        errors: Option<Errors>,
    },
    /// A failure that resubmitting later may fix: 500 and 503 in the response-code table, and
    /// whatever the table makes retryable (429, 502, 504, ...).
    Retryable {
        /// The status code.
        status: StatusCode,
        /// The server's `Retry-After` (RFC 9110 §10.2.3).
        retry_after: Option<Duration>,
    },
    /// Any other server failure: 5xx not made retryable, and codes above 599.
    ServerError {
        /// The status code.
        status: StatusCode,
    },
}

// === impl Outcome ===

impl Outcome {
    /// The outcome of a response: the one the classify layer stored, or else the standard
    /// outcome derived from its status and headers (see [Storage](Outcome#storage)).
    ///
    /// ```
    /// use http::Response;
    /// use recourse_classify::Outcome;
    ///
    /// let res = Response::builder().status(405).header("allow", "GET, HEAD").body(()).unwrap();
    /// assert_eq!(
    ///     Outcome::of(&res),
    ///     Outcome::MethodNotAllowed { allow: vec![http::Method::GET, http::Method::HEAD] },
    /// );
    /// ```
    pub fn of<B>(res: &Response<B>) -> Outcome {
        match res.extensions().get::<Outcome>() {
            Some(outcome) => outcome.clone(),
            None => Outcome::from_head(res.status(), res.headers()),
        }
    }

    /// The [`Kind`] of a response's outcome, without building the outcome (no allocation).
    pub fn kind_of<B>(res: &Response<B>) -> Kind {
        match res.extensions().get::<Outcome>() {
            Some(outcome) => outcome.kind(),
            None => Kind::standard(res.status()),
        }
    }

    /// The standard outcome of a status and headers, with no body and no request URI.
    pub fn from_head(status: StatusCode, headers: &HeaderMap) -> Outcome {
        Outcome::build(
            Kind::standard(status),
            status,
            headers,
            None,
            BodyFindings::default(),
        )
    }

    /// Builds the outcome of `kind` from the response head and what the body gave.
    pub(crate) fn build(
        kind: Kind,
        status: StatusCode,
        headers: &HeaderMap,
        base: Option<&Uri>,
        found: BodyFindings,
    ) -> Outcome {
        let location = || Location::from_headers(headers, base);
        let retry_after = || recourse_core::headers::retry_after(headers, clock::system_now());
        match kind {
            Kind::Informational => Outcome::Informational { status },
            Kind::Success => Outcome::Success,
            Kind::ApplicationFailure => Outcome::ApplicationFailure {
                // A policy may call a response an application failure with no body code;
                // the status code then stands in for it.
                code: found.code.unwrap_or(i64::from(status.as_u16())),
                message: found.message,
            },
            Kind::Created => Outcome::Created {
                location: location(),
            },
            Kind::Accepted => Outcome::Accepted {
                location: location(),
                retry_after: retry_after(),
            },
            Kind::NotModified => Outcome::NotModified,
            Kind::Redirect => Outcome::Redirect {
                status,
                location: location(),
            },
            Kind::BadRequest => Outcome::BadRequest {
                errors: found.errors,
            },
            Kind::Unauthorized => Outcome::Unauthorized,
            Kind::Forbidden => Outcome::Forbidden,
            Kind::NotFound => Outcome::NotFound,
            Kind::MethodNotAllowed => Outcome::MethodNotAllowed {
                allow: parse_allow(headers),
            },
            Kind::Conflict => Outcome::Conflict,
            Kind::TooManyRequests => Outcome::TooManyRequests {
                retry_after: retry_after(),
            },
            Kind::ClientError => Outcome::ClientError {
                status,
                errors: found.errors,
            },
            Kind::Retryable => Outcome::Retryable {
                status,
                retry_after: retry_after(),
            },
            Kind::ServerError => Outcome::ServerError { status },
        }
    }

    /// The kind of this outcome.
    pub fn kind(&self) -> Kind {
        match self {
            Outcome::Informational { .. } => Kind::Informational,
            Outcome::Success => Kind::Success,
            Outcome::ApplicationFailure { .. } => Kind::ApplicationFailure,
            Outcome::Created { .. } => Kind::Created,
            Outcome::Accepted { .. } => Kind::Accepted,
            Outcome::NotModified => Kind::NotModified,
            Outcome::Redirect { .. } => Kind::Redirect,
            Outcome::BadRequest { .. } => Kind::BadRequest,
            Outcome::Unauthorized => Kind::Unauthorized,
            Outcome::Forbidden => Kind::Forbidden,
            Outcome::NotFound => Kind::NotFound,
            Outcome::MethodNotAllowed { .. } => Kind::MethodNotAllowed,
            Outcome::Conflict => Kind::Conflict,
            Outcome::TooManyRequests { .. } => Kind::TooManyRequests,
            Outcome::ClientError { .. } => Kind::ClientError,
            Outcome::Retryable { .. } => Kind::Retryable,
            Outcome::ServerError { .. } => Kind::ServerError,
        }
    }

    /// The coarse [`Class`] of this outcome.
    pub fn class(&self) -> Class {
        self.kind().class()
    }

    /// Whether the outcome reports a failure of any kind (application, client or server).
    pub fn is_failure(&self) -> bool {
        self.class().is_failure()
    }

    /// Whether the request succeeded (success, created, not modified).
    pub fn is_success(&self) -> bool {
        self.class().is_success()
    }

    /// Whether resubmitting the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.class().is_retryable()
    }

    /// The `Location` the outcome carries (created, accepted, redirect).
    pub fn location(&self) -> Option<&Location> {
        match self {
            Outcome::Created { location }
            | Outcome::Accepted { location, .. }
            | Outcome::Redirect { location, .. } => location.as_ref(),
            _ => None,
        }
    }

    /// The `Retry-After` the outcome carries (accepted, too many requests, retryable).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Outcome::Accepted { retry_after, .. }
            | Outcome::TooManyRequests { retry_after }
            | Outcome::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The `Errors` block the outcome carries (bad request, other client errors).
    pub fn errors(&self) -> Option<&Errors> {
        match self {
            Outcome::BadRequest { errors } | Outcome::ClientError { errors, .. } => errors.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::ApplicationFailure { code, message } => {
                write!(f, "application failure (code {code}")?;
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                f.write_str(")")
            }
            Outcome::BadRequest {
                errors: Some(errors),
            } if !errors.is_empty() => write!(f, "bad request ({errors})"),
            Outcome::ClientError {
                status,
                errors: Some(errors),
            } if !errors.is_empty() => write!(f, "client error {status} ({errors})"),
            Outcome::ClientError { status, .. } => write!(f, "client error {status}"),
            Outcome::Retryable { status, .. } => write!(f, "retryable server failure {status}"),
            Outcome::ServerError { status } => write!(f, "server failure {status}"),
            Outcome::Informational { status } => write!(f, "informational {status}"),
            Outcome::Redirect {
                status,
                location: Some(location),
            } => write!(f, "redirect {status} to {location}"),
            Outcome::MethodNotAllowed { allow } if !allow.is_empty() => {
                f.write_str("method not allowed (allowed: ")?;
                for (i, method) in allow.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(method.as_str())?;
                }
                f.write_str(")")
            }
            other => f.write_str(other.kind().as_str()),
        }
    }
}

/// What the body prefix gave: the code, message and `Errors` block it found.
#[derive(Debug, Default)]
pub(crate) struct BodyFindings {
    pub(crate) code: Option<i64>,
    pub(crate) message: Option<String>,
    pub(crate) errors: Option<Errors>,
}

// === Location ===

/// A `Location` header (RFC 9110 §10.2.2): the raw value, and the URI it resolves to.
///
/// The classify layer resolves it against the URI that answered (the response's
/// [`FinalUri`](recourse_core::FinalUri) if a redirect layer inside it recorded one, else
/// the request URI) when the request URI is absolute (see
/// [`ClassifyLayer::resolve_locations`](crate::ClassifyLayer::resolve_locations));
/// otherwise only an absolute `Location` resolves.
///
/// The field is read by the rule every Recourse layer follows
/// ([`recourse_core::headers::location_value`]): repeated fields with one value are that
/// value; repeated fields with **different** values name no location (RFC 9110 §10.2.2
/// allows one URI reference). Such a response still has a `Location` in its
/// [`Outcome`], so that the conflict is visible, but it resolves to nothing:
/// [`uri`](Location::uri) is `None`, [`resolved`](Location::resolved) is
/// `Err(`[`LocationError::Conflicting`]`)`, and [`raw`](Location::raw) is the first of
/// the values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    raw: http::HeaderValue,
    resolved: Result<Uri, LocationError>,
}

impl Location {
    /// Reads the `Location` of `headers` (see the type docs for repeated fields), resolving
    /// it against `base`.
    fn from_headers(headers: &HeaderMap, base: Option<&Uri>) -> Option<Location> {
        match location_value(headers, &header::LOCATION) {
            Ok(raw) => raw.map(|raw| Location::new(raw.clone(), base)),
            Err(conflict) => headers.get(&header::LOCATION).map(|first| Location {
                raw: first.clone(),
                resolved: Err(conflict),
            }),
        }
    }

    /// A location from a raw header value, resolved against `base` when given, or on its
    /// own when it is an absolute URI.
    pub fn new(raw: http::HeaderValue, base: Option<&Uri>) -> Location {
        let resolved = match base {
            Some(base) => resolve_location(base, &raw),
            None => match raw.to_str().ok().and_then(|s| s.trim().parse::<Uri>().ok()) {
                // An absolute value is its own base: resolution then only normalizes and
                // checks it (scheme http or https, a host).
                Some(own) if own.scheme().is_some() && own.authority().is_some() => {
                    resolve_location(&own, &raw)
                }
                _ => Err(LocationError::RelativeBase),
            },
        }
        .map(|r| r.into_uri());
        Location { raw, resolved }
    }

    /// The header value as the server sent it.
    pub fn raw(&self) -> &http::HeaderValue {
        &self.raw
    }

    /// The absolute URI the location resolves to, if it could be resolved.
    pub fn uri(&self) -> Option<&Uri> {
        self.resolved.as_ref().ok()
    }

    /// The resolved URI, or why the location could not be resolved
    /// ([`LocationError::RelativeBase`] when it is relative and the request URI was not
    /// known or not absolute, [`LocationError::Conflicting`] when the response has several
    /// `Location` fields with different values).
    pub fn resolved(&self) -> Result<&Uri, &LocationError> {
        self.resolved.as_ref()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resolved {
            Ok(uri) => write!(f, "{uri}"),
            Err(LocationError::Conflicting) => f.write_str("(conflicting Location fields)"),
            Err(_) => write!(f, "{}", String::from_utf8_lossy(self.raw.as_bytes())),
        }
    }
}

// === Allow ===

/// Parses every `Allow` field (RFC 9110 §10.2.1: `#method`): comma-separated tokens with
/// optional whitespace; entries that are not valid methods are skipped, duplicates dropped.
pub(crate) fn parse_allow(headers: &HeaderMap) -> Vec<Method> {
    let mut allow = Vec::new();
    for value in headers.get_all(&header::ALLOW) {
        for item in value.as_bytes().split(|b| *b == b',') {
            let token = item.trim_ascii();
            if token.is_empty() {
                continue;
            }
            if let Ok(method) = Method::from_bytes(token)
                && !allow.contains(&method)
            {
                allow.push(method);
            }
        }
    }
    allow
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        h
    }

    #[test]
    fn allow_is_tolerant() {
        let h = headers(&[
            ("allow", b" GET ,HEAD,, \t"),
            ("allow", b"G ET, POST, get, GET, \xff\xfe, PATCH"),
        ]);
        assert_eq!(
            parse_allow(&h),
            vec![
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::from_bytes(b"get").unwrap(),
                Method::PATCH
            ]
        );
        assert!(parse_allow(&HeaderMap::new()).is_empty());
        assert!(parse_allow(&headers(&[("allow", b"")])).is_empty());
    }

    #[test]
    fn location_resolution() {
        let base: Uri = "http://a.test/x/y".parse().unwrap();
        let rel = Location::new(HeaderValue::from_static("../z"), Some(&base));
        assert_eq!(rel.uri().unwrap(), "http://a.test/z");
        assert_eq!(rel.raw(), "../z");
        assert_eq!(rel.to_string(), "http://a.test/z");

        let unresolved = Location::new(HeaderValue::from_static("/z"), None);
        assert_eq!(unresolved.uri(), None);
        assert_eq!(unresolved.resolved(), Err(&LocationError::RelativeBase));
        assert_eq!(unresolved.to_string(), "/z");

        let absolute = Location::new(HeaderValue::from_static("HTTP://B.test/p"), None);
        assert_eq!(absolute.uri().unwrap(), "http://b.test/p");

        let bad = Location::new(HeaderValue::from_static("javascript:alert(1)"), Some(&base));
        assert!(matches!(
            bad.resolved(),
            Err(LocationError::UnsupportedScheme(_))
        ));
    }

    #[test]
    fn repeated_locations_follow_the_core_rule() {
        let base: Uri = "http://a.test/x/y".parse().unwrap();
        // The same value twice is one value.
        let same = headers(&[("location", b"/j/1"), ("location", b"/j/1")]);
        let location = Location::from_headers(&same, Some(&base)).unwrap();
        assert_eq!(location.uri().unwrap(), "http://a.test/j/1");
        // Different values name no location, and nothing panics.
        let conflict = headers(&[("location", b"/j/1"), ("location", b"/j/2")]);
        let location = Location::from_headers(&conflict, Some(&base)).unwrap();
        assert_eq!(location.uri(), None);
        assert_eq!(location.resolved(), Err(&LocationError::Conflicting));
        assert_eq!(location.raw(), "/j/1");
        assert_eq!(location.to_string(), "(conflicting Location fields)");
        let accepted = Outcome::from_head(StatusCode::ACCEPTED, &conflict);
        assert_eq!(accepted.location().unwrap().uri(), None);
        assert!(Location::from_headers(&HeaderMap::new(), Some(&base)).is_none());
    }

    #[test]
    fn derived_outcomes() {
        let h = headers(&[("retry-after", b"7"), ("location", b"http://c.test/j/1")]);
        let s = |c| StatusCode::from_u16(c).unwrap();
        assert_eq!(
            Outcome::from_head(s(503), &h),
            Outcome::Retryable {
                status: s(503),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        let accepted = Outcome::from_head(s(202), &h);
        assert_eq!(accepted.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(
            accepted.location().unwrap().uri().unwrap(),
            "http://c.test/j/1"
        );
        assert_eq!(
            Outcome::from_head(s(429), &h),
            Outcome::TooManyRequests {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            Outcome::from_head(s(502), &h),
            Outcome::ServerError { status: s(502) }
        );
        assert_eq!(
            Outcome::from_head(s(418), &h),
            Outcome::ClientError {
                status: s(418),
                errors: None
            }
        );
    }

    #[test]
    fn display() {
        let failure = Outcome::ApplicationFailure {
            code: 7,
            message: Some("Unsupported symbology".into()),
        };
        assert_eq!(
            failure.to_string(),
            "application failure (code 7: Unsupported symbology)"
        );
        assert_eq!(Outcome::NotFound.to_string(), "not found");
        assert_eq!(
            Outcome::MethodNotAllowed {
                allow: vec![Method::GET, Method::HEAD]
            }
            .to_string(),
            "method not allowed (allowed: GET, HEAD)"
        );
        assert_eq!(
            Outcome::Retryable {
                status: StatusCode::SERVICE_UNAVAILABLE,
                retry_after: None
            }
            .to_string(),
            "retryable server failure 503 Service Unavailable"
        );
    }
}
