//! `Age` values (RFC 9111 §5.1) for responses served from storage.

use http::HeaderValue;

/// The digits of 000 to 999, for `Age` values that need no allocation.
static DIGITS: [u8; 3000] = {
    let mut out = [0u8; 3000];
    let mut n = 0;
    while n < 1000 {
        out[3 * n] = b'0' + (n / 100) as u8;
        out[3 * n + 1] = b'0' + ((n / 10) % 10) as u8;
        out[3 * n + 2] = b'0' + (n % 10) as u8;
        n += 1;
    }
    out
};

/// An `Age` value: ages under 1000 s borrow static digits (no allocation on a hit).
pub(crate) fn age_value(secs: u64) -> HeaderValue {
    if let Ok(n) = usize::try_from(secs)
        && n < 1000
    {
        let len = if n < 10 {
            1
        } else if n < 100 {
            2
        } else {
            3
        };
        let digits: &'static [u8] = &DIGITS[3 * n + 3 - len..3 * n + 3];
        if let Ok(text) = std::str::from_utf8(digits) {
            return HeaderValue::from_static(text);
        }
    }
    HeaderValue::from(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_values() {
        for n in [0u64, 7, 10, 42, 99, 100, 999, 1000, 123_456, u64::MAX] {
            assert_eq!(age_value(n), n.to_string().as_str());
        }
    }
}
