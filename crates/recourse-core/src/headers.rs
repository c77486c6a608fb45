//! Parsing of the response headers that tell a client what to do next.
//!
//! - [`retry_after`] / [`parse_retry_after`]: `Retry-After` as delay-seconds or an
//!   HTTP-date (RFC 9110 §10.2.3), relative to a given "now", clamped, never panicking.
//! - [`resolve_location`]: `Location` (RFC 9110 §10.2.2) resolved against the request URI
//!   with the [`url`] crate (RFC 3986 §5 reference resolution), with a typed
//!   [`LocationError`] for what cannot be followed.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use http::{HeaderValue, Uri};
//! use recourse_core::headers::{parse_retry_after, resolve_location};
//!
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
//! assert_eq!(parse_retry_after(&HeaderValue::from_static("120"), now), Some(Duration::from_secs(120)));
//! assert_eq!(
//!     parse_retry_after(&HeaderValue::from_static("Wed, 21 Oct 2015 07:29:00 GMT"), now),
//!     Some(Duration::from_secs(60)),
//! );
//! assert_eq!(parse_retry_after(&HeaderValue::from_static("soon"), now), None);
//!
//! let base: Uri = "http://example.com/a/b?x=1".parse().unwrap();
//! let next = resolve_location(&base, &HeaderValue::from_static("../c")).unwrap();
//! assert_eq!(next.uri(), "http://example.com/c");
//! ```

use std::fmt;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Uri, header};

/// The largest delay [`parse_retry_after`] returns: one year. Larger values are clamped to
/// it; layers clamp further with their own configurable maximum.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Parses a `Retry-After` value (RFC 9110 §10.2.3) into a delay from `now`.
///
/// - `delay-seconds` (`1*DIGIT`): that many seconds; values beyond [`MAX_RETRY_AFTER`]
///   (including ones that overflow any integer) are clamped to it.
/// - `HTTP-date` (IMF-fixdate, and the obsolete RFC 850 and asctime forms): the time from
///   `now` until then; a date in the past gives [`Duration::ZERO`].
/// - Anything else (negative or fractional numbers, garbage, bytes that are not ASCII)
///   gives `None`.
pub fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        // Accumulate with saturation: 10^40 seconds is as good as "a year" here.
        let mut secs: u64 = 0;
        for b in text.bytes() {
            secs = secs.saturating_mul(10).saturating_add(u64::from(b - b'0'));
        }
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(
        date.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// The `Retry-After` of a response's headers, relative to `now`.
///
/// With several `Retry-After` fields (a malformed response), the first one that parses
/// wins.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers
        .get_all(header::RETRY_AFTER)
        .iter()
        .find_map(|v| parse_retry_after(v, now))
}

/// Why a `Location` could not be resolved into a URI to follow.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocationError {
    /// The base (request) URI is not absolute (it has no scheme or no authority), so a
    /// relative reference cannot be resolved against it.
    RelativeBase,
    /// The header value is empty.
    Empty,
    /// The header value is not valid UTF-8.
    NotUtf8,
    /// The value is not a valid URI reference.
    Invalid(String),
    /// The target's scheme is not `http` or `https` (for example `javascript:`, `file:`,
    /// `data:`); only those two are ever followed.
    UnsupportedScheme(String),
    /// The target has no host.
    NoHost,
    /// The resolved URI does not fit in an [`http::Uri`] (for example it is longer than the
    /// 64 KiB `http` allows).
    TooLong,
    /// The response carries several `Location` fields with different values, so which one
    /// the server meant cannot be known (RFC 9110 §10.2.2 allows one URI reference).
    Conflicting,
}

impl fmt::Display for LocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocationError::RelativeBase => {
                f.write_str("cannot resolve Location: the request URI is not absolute")
            }
            LocationError::Empty => f.write_str("the Location header is empty"),
            LocationError::NotUtf8 => f.write_str("the Location header is not valid UTF-8"),
            LocationError::Invalid(why) => {
                write!(f, "the Location header is not a valid URI: {why}")
            }
            LocationError::UnsupportedScheme(scheme) => write!(
                f,
                "the Location header names scheme `{scheme}`; only http and https are followed"
            ),
            LocationError::NoHost => f.write_str("the Location header names no host"),
            LocationError::TooLong => f.write_str("the resolved Location is too long for a URI"),
            LocationError::Conflicting => {
                f.write_str("the response has several Location fields with different values")
            }
        }
    }
}

impl std::error::Error for LocationError {}

/// A `Location` resolved against the URI of the request that received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedLocation {
    uri: Uri,
    fragment: Option<String>,
}

impl ResolvedLocation {
    /// The absolute URI to request next (fragments are never sent, so it has none).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Takes the URI out.
    pub fn into_uri(self) -> Uri {
        self.uri
    }

    /// The fragment of the target, without `#`: the Location's own, or, when it has none,
    /// the fragment inherited from the base as RFC 9110 §10.2.2 requires.
    pub fn fragment(&self) -> Option<&str> {
        self.fragment.as_deref()
    }
}

/// The one value of the `Location` field of `headers` (or of another field that names a
/// URI, such as a status monitor's), by the rule every layer follows: no field is
/// `Ok(None)`; repeated fields with identical values are one value; repeated fields with
/// different values are [`LocationError::Conflicting`], never a guess at the first.
///
/// ```
/// use http::{HeaderMap, header::LOCATION};
/// use recourse_core::headers::{LocationError, location_value};
///
/// let mut h = HeaderMap::new();
/// assert_eq!(location_value(&h, &LOCATION), Ok(None));
/// h.append(LOCATION, "/a".parse().unwrap());
/// h.append(LOCATION, "/a".parse().unwrap());
/// assert_eq!(location_value(&h, &LOCATION).unwrap().unwrap(), "/a");
/// h.append(LOCATION, "/b".parse().unwrap());
/// assert_eq!(location_value(&h, &LOCATION), Err(LocationError::Conflicting));
/// ```
///
/// # Errors
///
/// [`LocationError::Conflicting`] when the values differ.
pub fn location_value<'h>(
    headers: &'h HeaderMap,
    name: &header::HeaderName,
) -> Result<Option<&'h HeaderValue>, LocationError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.any(|other| other != first) {
        return Err(LocationError::Conflicting);
    }
    Ok(Some(first))
}

/// Resolves a `Location` header value against the request URI `base`.
///
/// Relative references, absolute URIs, scheme-relative (`//host/path`) references, dot
/// segments, queries and fragments are handled per RFC 3986 §5 by the [`url`] crate.
/// Only `http` and `https` targets are accepted. The base's fragment is not known to an
/// [`http::Uri`]; use [`resolve_location_with_fragment`] to carry one along.
///
/// # Errors
///
/// A [`LocationError`] says why the value cannot be followed.
pub fn resolve_location(
    base: &Uri,
    location: &HeaderValue,
) -> Result<ResolvedLocation, LocationError> {
    resolve_location_with_fragment(base, None, location)
}

/// Like [`resolve_location`], with the fragment of the base URI (without `#`), which the
/// target inherits when the `Location` has no fragment of its own (RFC 9110 §10.2.2).
///
/// # Errors
///
/// A [`LocationError`] says why the value cannot be followed.
pub fn resolve_location_with_fragment(
    base: &Uri,
    base_fragment: Option<&str>,
    location: &HeaderValue,
) -> Result<ResolvedLocation, LocationError> {
    let text = std::str::from_utf8(location.as_bytes()).map_err(|_| LocationError::NotUtf8)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(LocationError::Empty);
    }
    if base.scheme().is_none() || base.authority().is_none() {
        return Err(LocationError::RelativeBase);
    }
    let base_url = url::Url::parse(&base.to_string())
        .map_err(|e| LocationError::Invalid(format!("base URI: {e}")))?;
    let mut target = base_url
        .join(text)
        .map_err(|e| LocationError::Invalid(e.to_string()))?;
    match target.scheme() {
        "http" | "https" => {}
        other => return Err(LocationError::UnsupportedScheme(other.to_owned())),
    }
    if target.host_str().is_none_or(str::is_empty) {
        return Err(LocationError::NoHost);
    }
    let fragment = match target.fragment() {
        Some(own) => Some(own.to_owned()),
        None => base_fragment.map(str::to_owned),
    };
    target.set_fragment(None);
    let uri = Uri::try_from(target.as_str()).map_err(|e| {
        if target.as_str().len() >= usize::from(u16::MAX) - 1 {
            LocationError::TooLong
        } else {
            LocationError::Invalid(e.to_string())
        }
    })?;
    Ok(ResolvedLocation { uri, fragment })
}

// Moved to `crate::origin`; re-exported here while the layers move over.
#[doc(hidden)]
pub use crate::origin::{origin, same_origin};

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        // Wed, 21 Oct 2015 07:28:00 GMT
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    fn ra(v: &str) -> Option<Duration> {
        parse_retry_after(&HeaderValue::from_str(v).unwrap(), now())
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(ra("0"), Some(Duration::ZERO));
        assert_eq!(ra("5"), Some(Duration::from_secs(5)));
        assert_eq!(ra(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(ra("007"), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_huge_values_clamp() {
        assert_eq!(ra("1000000000000"), Some(MAX_RETRY_AFTER));
        assert_eq!(ra(&"9".repeat(400)), Some(MAX_RETRY_AFTER));
        assert_eq!(ra("Fri, 31 Dec 9999 23:59:59 GMT"), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn retry_after_dates() {
        assert_eq!(
            ra("Wed, 21 Oct 2015 07:29:00 GMT"),
            Some(Duration::from_secs(60))
        );
        // RFC 850 and asctime forms (RFC 9110 §5.6.7).
        assert_eq!(
            ra("Wednesday, 21-Oct-15 07:28:30 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            ra("Wed Oct 21 07:28:10 2015"),
            Some(Duration::from_secs(10))
        );
        // In the past: retry now.
        assert_eq!(ra("Wed, 21 Oct 2015 07:00:00 GMT"), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_garbage() {
        for v in [
            "",
            " ",
            "-1",
            "1.5",
            "+3",
            "soon",
            "0x10",
            "Wed, 99 Oct 2015 07:29:00 GMT",
            "1 2",
        ] {
            assert_eq!(ra(v), None, "{v:?}");
        }
        let not_ascii = HeaderValue::from_bytes(b"\xff\xfe").unwrap();
        assert_eq!(parse_retry_after(&not_ascii, now()), None);
    }

    #[test]
    fn retry_after_from_headers_skips_bad_fields() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now()), None);
        h.append(header::RETRY_AFTER, HeaderValue::from_static("nope"));
        h.append(header::RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(3)));
    }

    fn loc(base: &str, v: &str) -> Result<ResolvedLocation, LocationError> {
        resolve_location(&base.parse().unwrap(), &HeaderValue::from_str(v).unwrap())
    }

    #[test]
    fn location_relative_forms() {
        let base = "http://a.test:8080/b/c/d;p?q";
        let cases = [
            ("g", "http://a.test:8080/b/c/g"),
            ("./g", "http://a.test:8080/b/c/g"),
            ("g/", "http://a.test:8080/b/c/g/"),
            ("/g", "http://a.test:8080/g"),
            ("?y", "http://a.test:8080/b/c/d;p?y"),
            ("g?y", "http://a.test:8080/b/c/g?y"),
            ("..", "http://a.test:8080/b/"),
            ("../g", "http://a.test:8080/b/g"),
            ("../../../../g", "http://a.test:8080/g"),
            ("/./g", "http://a.test:8080/g"),
            ("g;x=1/../y", "http://a.test:8080/b/c/y"),
            ("//other.test/x", "http://other.test/x"),
            ("https://secure.test/", "https://secure.test/"),
            ("HTTP://UPPER.test/P", "http://upper.test/P"),
        ];
        for (v, want) in cases {
            assert_eq!(loc(base, v).unwrap().uri(), want, "{v}");
        }
    }

    #[test]
    fn location_fragments() {
        let base: Uri = "http://a.test/x".parse().unwrap();
        let own = resolve_location_with_fragment(
            &base,
            Some("top"),
            &HeaderValue::from_static("/y#frag"),
        )
        .unwrap();
        assert_eq!(own.uri(), "http://a.test/y");
        assert_eq!(own.fragment(), Some("frag"));
        let inherited =
            resolve_location_with_fragment(&base, Some("top"), &HeaderValue::from_static("/y"))
                .unwrap();
        assert_eq!(inherited.fragment(), Some("top"));
        assert_eq!(loc("http://a.test/x", "/y").unwrap().fragment(), None);
    }

    #[test]
    fn location_errors() {
        assert_eq!(loc("http://a.test/", ""), Err(LocationError::Empty));
        assert_eq!(loc("http://a.test/", "   "), Err(LocationError::Empty));
        assert_eq!(loc("/relative", "/x"), Err(LocationError::RelativeBase));
        assert_eq!(
            loc("http://a.test/", "javascript:alert(1)"),
            Err(LocationError::UnsupportedScheme("javascript".into()))
        );
        assert_eq!(
            loc("http://a.test/", "file:///etc/passwd"),
            Err(LocationError::UnsupportedScheme("file".into()))
        );
        assert!(matches!(
            loc("http://a.test/", "http://[::1"),
            Err(LocationError::Invalid(_))
        ));
        assert!(matches!(
            loc("http://a.test/", "http://"),
            Err(LocationError::Invalid(_) | LocationError::NoHost)
        ));
        let not_utf8 = HeaderValue::from_bytes(b"/caf\xe9").unwrap();
        assert_eq!(
            resolve_location(&"http://a.test/".parse().unwrap(), &not_utf8),
            Err(LocationError::NotUtf8)
        );
        let huge = format!("/{}", "a".repeat(70_000));
        assert_eq!(loc("http://a.test/", &huge), Err(LocationError::TooLong));
    }

    #[test]
    fn location_percent_encodes_spaces_and_unicode() {
        let r = resolve_location(
            &"http://a.test/".parse().unwrap(),
            &HeaderValue::from_bytes("/caf\u{e9} au lait".as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(r.uri(), "http://a.test/caf%C3%A9%20au%20lait");
    }
}
