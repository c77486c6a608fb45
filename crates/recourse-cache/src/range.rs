//! Range requests answered from a complete stored response (RFC 9110 §14, RFC 9111 §3.4).
//!
//! A `GET` with a single byte range and no `If-Range` is answered from a fresh, complete
//! stored 200 response with a 206 and `Content-Range`; any other range request (several
//! ranges, an unsatisfiable range, another unit, a stale or missing response) is forwarded
//! with its `Range` untouched and its response passed on unstored. Partial (206)
//! responses are never stored, so a stored response is always complete.

use http::HeaderValue;

/// The one byte range of a `Range` value (RFC 9110 §14.1.2), as inclusive `(first, last)`
/// positions within a representation of `len` bytes; `None` when it is not exactly one
/// satisfiable byte range.
pub(crate) fn single(value: &HeaderValue, len: usize) -> Option<(usize, usize)> {
    let text = value.as_bytes().trim_ascii();
    let (unit, spec) = split_once(text, b'=')?;
    if !unit.eq_ignore_ascii_case(b"bytes") || spec.contains(&b',') || len == 0 {
        return None;
    }
    let (first, last) = split_once(spec.trim_ascii(), b'-')?;
    let number = |digits: &[u8]| -> Option<usize> {
        if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    if first.is_empty() {
        // A suffix range: the last n bytes.
        let n = number(last)?;
        return (n > 0).then(|| (len.saturating_sub(n), len - 1));
    }
    let first = number(first)?;
    let last = if last.is_empty() {
        len - 1
    } else {
        number(last)?
    };
    (first <= last && first < len).then(|| (first, last.min(len - 1)))
}

/// `Content-Range: bytes first-last/len` (RFC 9110 §14.4).
pub(crate) fn content_range(first: usize, last: usize, len: usize) -> HeaderValue {
    HeaderValue::from_str(&format!("bytes {first}-{last}/{len}"))
        .unwrap_or_else(|_| HeaderValue::from_static("bytes */0"))
}

fn split_once(s: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|b| *b == at)?;
    Some((&s[..i], &s[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &'static str, len: usize) -> Option<(usize, usize)> {
        single(&HeaderValue::from_static(v), len)
    }

    #[test]
    fn single_byte_ranges() {
        assert_eq!(r("bytes=0-4", 10), Some((0, 4)));
        assert_eq!(r("bytes=5-", 10), Some((5, 9)));
        assert_eq!(r("bytes=-3", 10), Some((7, 9)));
        assert_eq!(r("bytes=-30", 10), Some((0, 9)));
        assert_eq!(r("bytes=8-100", 10), Some((8, 9)));
        assert_eq!(r("Bytes = 2-3", 10), None, "no whitespace around `=`");
        assert_eq!(r("BYTES=2-3", 10), Some((2, 3)));
        assert_eq!(r(" bytes=2-3 ", 10), Some((2, 3)));
        for bad in [
            "bytes=0-1,3-4",
            "bytes=10-",
            "bytes=5-4",
            "bytes=-0",
            "bytes=-",
            "bytes=a-b",
            "bytes=1",
            "items=0-1",
            "bytes=99999999999999999999-",
            "",
        ] {
            assert_eq!(r(bad, 10), None, "{bad}");
        }
        assert_eq!(r("bytes=0-0", 0), None);
        assert_eq!(content_range(0, 4, 10), "bytes 0-4/10");
    }
}
