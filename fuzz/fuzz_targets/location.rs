//! `Location` resolution (RFC 9110 §10.2.2, RFC 3986 §5): never panics; what it accepts is
//! an absolute `http`/`https` URI with a host and no fragment, that resolves to itself
//! again (a fixpoint), whose origin is well defined; what it refuses gets a typed error
//! with a message.
//!
//! Input: an optional base URI, a NUL byte, an optional base fragment, a NUL byte, then
//! the header value. Without NULs, the whole input is the value and the base is fixed.

#![no_main]

use http::Uri;
use http::header::HeaderValue;
use libfuzzer_sys::fuzz_target;
use recourse_core::headers::{
    LocationError, origin, resolve_location, resolve_location_with_fragment, same_origin,
};

const DEFAULT_BASE: &str = "http://example.com:8080/a/b/c?q=1";

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let (base, fragment, value) = match (parts.next(), parts.next(), parts.next()) {
        (Some(base), Some(fragment), Some(value)) => (base, Some(fragment), value),
        (Some(value), None, None) => (&b""[..], None, value),
        (Some(base), Some(value), None) => (base, None, value),
        _ => return,
    };
    let base: Uri = std::str::from_utf8(base)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Uri::from_static(DEFAULT_BASE));
    let fragment = fragment.and_then(|f| std::str::from_utf8(f).ok());
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };

    let resolved = match resolve_location_with_fragment(&base, fragment, &value) {
        Ok(resolved) => resolved,
        Err(error) => {
            assert!(!error.to_string().is_empty());
            if std::str::from_utf8(value.as_bytes()).is_err() {
                assert_eq!(error, LocationError::NotUtf8);
            }
            // Without the fragment, the same answer.
            assert_eq!(resolve_location(&base, &value).err(), Some(error));
            return;
        }
    };
    let uri = resolved.uri();
    assert!(matches!(uri.scheme_str(), Some("http" | "https")), "{uri}");
    assert!(uri.host().is_some_and(|h| !h.is_empty()), "{uri}");
    assert!(!uri.to_string().contains('#'), "{uri} has a fragment");
    assert!(origin(uri).is_some(), "{uri}");
    assert!(same_origin(uri, uri));
    assert_eq!(same_origin(&base, uri), same_origin(uri, &base));
    if resolved.fragment().is_none() {
        assert!(fragment.is_none() || value.to_str().is_ok_and(|v| v.contains('#')));
    }

    // The result is a fixpoint: resolving its text again, against the base or against
    // itself, gives the same URI.
    let text = uri.to_string();
    let again = HeaderValue::from_str(&text).expect("a URI is a valid header value");
    let from_base = resolve_location(&base, &again).expect("a resolved URI resolves again");
    assert_eq!(from_base.uri(), uri, "not a fixpoint against the base");
    let from_self = resolve_location(uri, &again).expect("a resolved URI resolves again");
    assert_eq!(from_self.uri(), uri, "not a fixpoint against itself");

    // And the url crate reads it as the same absolute URL.
    let url = url::Url::parse(&text).expect("the url crate parses a resolved URI");
    assert_eq!(url.as_str(), text);
});
