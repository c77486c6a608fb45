//! `Retry-After` parsing (RFC 9110 §10.2.3): never panics, never exceeds the clamp, and
//! agrees with an independent reading of the two forms (delay-seconds, HTTP-date).
//!
//! Input: 8 bytes of "now" (seconds since the epoch, little-endian, up to year 9999),
//! then the header value.

#![no_main]

use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use libfuzzer_sys::fuzz_target;
use recourse_core::headers::{MAX_RETRY_AFTER, parse_retry_after, retry_after};

/// 9999-12-31T23:59:59Z, the last second an HTTP-date can name.
const LAST_SECOND: u64 = 253_402_300_799;

fuzz_target!(|data: &[u8]| {
    let Some((clock, value)) = data.split_first_chunk::<8>() else {
        return;
    };
    let now =
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from_le_bytes(*clock) % LAST_SECOND);
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let got = parse_retry_after(&value, now);

    if let Some(wait) = got {
        assert!(
            wait <= MAX_RETRY_AFTER,
            "{value:?}: {wait:?} is over the clamp"
        );
    }
    let expected = match value.to_str().map(str::trim) {
        // Bytes that are not visible ASCII are never a Retry-After.
        Err(_) => None,
        Ok("") => None,
        Ok(text) if text.bytes().all(|b| b.is_ascii_digit()) => {
            // delay-seconds of any length: too large for u64 means "clamped".
            let secs = text.parse::<u64>().unwrap_or(u64::MAX);
            Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
        }
        Ok(text) => httpdate::parse_http_date(text).ok().map(|date| {
            date.duration_since(now)
                .unwrap_or(Duration::ZERO)
                .min(MAX_RETRY_AFTER)
        }),
    };
    assert_eq!(got, expected, "{value:?} at {now:?}");

    // The header-map form: the first value that parses wins.
    let mut headers = HeaderMap::new();
    headers.append(RETRY_AFTER, HeaderValue::from_static("soon"));
    headers.append(RETRY_AFTER, value.clone());
    assert_eq!(retry_after(&headers, now), got);
});
