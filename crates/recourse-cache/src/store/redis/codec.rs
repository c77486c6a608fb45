//! The binary form of an entry in Redis (format version 1).
//!
//! ```text
//! magic     "rc"                       2 bytes
//! version   1                          1 byte
//! status    u16, big-endian            2 bytes
//! times     response time (since the Unix epoch), initial age, freshness lifetime:
//!           each as varint seconds + varint nanoseconds
//! headers   varint count, then per field line: varint name length, name,
//!           varint value length, value
//! selecting the same, for the request's selecting fields (Vary)
//! body      varint length, bytes (the last thing in the value)
//! ```
//!
//! Varints are unsigned LEB128 (at most 10 bytes). Decoding never trusts a length: each is
//! checked against the bytes that remain before anything is allocated, and the body and
//! field values are slices of the value read from Redis (no copy).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::error::MalformedEntry;
use crate::entry::EntryParts;

const MAGIC: [u8; 2] = *b"rc";
/// The format version written.
pub(super) const VERSION: u8 = 1;

/// Why an entry cannot be encoded: its response time precedes the Unix epoch.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BeforeEpoch;

/// Encodes `parts` (one allocation of the exact size).
pub(super) fn encode(parts: &EntryParts) -> Result<Vec<u8>, BeforeEpoch> {
    let since_epoch = parts
        .response_time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| BeforeEpoch)?;
    let fields_len = |h: &HeaderMap| {
        varint_len(h.len() as u64)
            + h.iter()
                .map(|(n, v)| {
                    varint_len(n.as_str().len() as u64)
                        + n.as_str().len()
                        + varint_len(v.len() as u64)
                        + v.len()
                })
                .sum::<usize>()
    };
    let duration_len =
        |d: Duration| varint_len(d.as_secs()) + varint_len(u64::from(d.subsec_nanos()));
    let len = MAGIC.len()
        + 1
        + 2
        + duration_len(since_epoch)
        + duration_len(parts.initial_age)
        + duration_len(parts.lifetime)
        + fields_len(&parts.headers)
        + fields_len(&parts.selecting)
        + varint_len(parts.body.len() as u64)
        + parts.body.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&parts.status.as_u16().to_be_bytes());
    for d in [since_epoch, parts.initial_age, parts.lifetime] {
        put_varint(&mut out, d.as_secs());
        put_varint(&mut out, u64::from(d.subsec_nanos()));
    }
    for fields in [&parts.headers, &parts.selecting] {
        put_varint(&mut out, fields.len() as u64);
        for (name, value) in fields {
            put_bytes(&mut out, name.as_str().as_bytes());
            put_bytes(&mut out, value.as_bytes());
        }
    }
    put_bytes(&mut out, &parts.body);
    debug_assert_eq!(out.len(), len);
    Ok(out)
}

/// Decodes what [`encode`] wrote; any other input is refused with the reason.
pub(super) fn decode(value: Bytes) -> Result<EntryParts, MalformedEntry> {
    let mut r = Reader { buf: value, pos: 0 };
    if r.take(MAGIC.len()).map_err(|_| MalformedEntry::Magic)? != MAGIC[..] {
        return Err(MalformedEntry::Magic);
    }
    let version = r.byte()?;
    if version != VERSION {
        return Err(MalformedEntry::Version(version));
    }
    let status = u16::from_be_bytes([r.byte()?, r.byte()?]);
    let status = StatusCode::from_u16(status).map_err(|_| MalformedEntry::Status(status))?;
    let response_time = SystemTime::UNIX_EPOCH
        .checked_add(r.duration()?)
        .ok_or(MalformedEntry::Time)?;
    let initial_age = r.duration()?;
    let lifetime = r.duration()?;
    let headers = r.fields()?;
    let selecting = r.fields()?;
    let body_len = r.len()?;
    let body = r.take(body_len)?;
    if r.pos != r.buf.len() {
        return Err(MalformedEntry::TrailingBytes);
    }
    Ok(EntryParts {
        status,
        headers,
        body,
        selecting,
        response_time,
        initial_age,
        lifetime,
    })
}

fn varint_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, MalformedEntry> {
        let b = *self.buf.get(self.pos).ok_or(MalformedEntry::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, MalformedEntry> {
        let mut n: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            // The tenth byte may only carry the 64th bit.
            if i == 9 && bits > 1 {
                return Err(MalformedEntry::Overflow);
            }
            n |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(MalformedEntry::Overflow)
    }

    /// A length, which must fit in what remains.
    fn len(&mut self) -> Result<usize, MalformedEntry> {
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => Err(MalformedEntry::Truncated),
        }
    }

    fn take(&mut self, n: usize) -> Result<Bytes, MalformedEntry> {
        if n > self.remaining() {
            return Err(MalformedEntry::Truncated);
        }
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    fn duration(&mut self) -> Result<Duration, MalformedEntry> {
        let secs = self.varint()?;
        let nanos = self.varint()?;
        match u32::try_from(nanos) {
            // Below one second: `Duration::new` cannot overflow.
            Ok(nanos) if nanos < 1_000_000_000 => Ok(Duration::new(secs, nanos)),
            _ => Err(MalformedEntry::Time),
        }
    }

    fn fields(&mut self) -> Result<HeaderMap, MalformedEntry> {
        let count = self.varint()?;
        // Each field line takes at least two bytes (two empty lengths).
        let count = match usize::try_from(count) {
            Ok(c) if c <= self.remaining() / 2 => c,
            _ => return Err(MalformedEntry::Truncated),
        };
        let mut map = HeaderMap::new();
        map.try_reserve(count.min(64))
            .map_err(|_| MalformedEntry::Overflow)?;
        for _ in 0..count {
            let len = self.len()?;
            let name = self.take(len)?;
            let name = HeaderName::from_bytes(&name).map_err(|_| MalformedEntry::Field)?;
            let len = self.len()?;
            let value = self.take(len)?;
            let value = HeaderValue::from_maybe_shared(value).map_err(|_| MalformedEntry::Field)?;
            map.try_append(name, value)
                .map_err(|_| MalformedEntry::Overflow)?;
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> EntryParts {
        let mut headers = HeaderMap::new();
        headers.insert("cache-control", HeaderValue::from_static("max-age=60"));
        headers.insert("vary", HeaderValue::from_static("accept-language"));
        headers.append("set-thing", HeaderValue::from_static("a"));
        headers.append("set-thing", HeaderValue::from_static("b"));
        headers.insert("x-opaque", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let mut selecting = HeaderMap::new();
        selecting.insert("accept-language", HeaderValue::from_static("fr"));
        EntryParts {
            status: StatusCode::OK,
            headers,
            body: Bytes::from(vec![7u8; 300]),
            selecting,
            response_time: SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            initial_age: Duration::new(5, 1),
            lifetime: Duration::from_secs(60),
        }
    }

    #[test]
    fn round_trips_exactly() {
        let p = parts();
        let bytes = encode(&p).unwrap();
        assert_eq!(&bytes[..3], b"rc\x01");
        assert_eq!(decode(Bytes::from(bytes)).unwrap(), p);

        // Empty everything, odd statuses, extreme durations.
        let empty = EntryParts {
            status: StatusCode::from_u16(599).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            selecting: HeaderMap::new(),
            response_time: SystemTime::UNIX_EPOCH,
            initial_age: Duration::ZERO,
            lifetime: Duration::new(u64::MAX, 999_999_999),
        };
        let bytes = encode(&empty).unwrap();
        assert_eq!(bytes.len(), 3 + 2 + 2 + 2 + (10 + 5) + 1 + 1 + 1);
        assert_eq!(decode(Bytes::from(bytes)).unwrap(), empty);
    }

    #[test]
    fn body_and_values_are_not_copied() {
        let bytes = Bytes::from(encode(&parts()).unwrap());
        let range = bytes.as_ptr_range();
        let decoded = decode(bytes.clone()).unwrap();
        assert!(range.contains(&decoded.body.as_ptr()));
    }

    #[test]
    fn before_the_epoch_is_not_encoded() {
        let mut p = parts();
        p.response_time = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(encode(&p), Err(BeforeEpoch));
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = encode(&parts()).unwrap();
        for cut in 0..bytes.len() {
            let r = decode(Bytes::copy_from_slice(&bytes[..cut]));
            assert!(r.is_err(), "a value cut at {cut} decoded");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode(Bytes::from(longer)),
            Err(MalformedEntry::TrailingBytes)
        );
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let good = encode(&parts()).unwrap();
        let with = |i: usize, b: u8| {
            let mut v = good.clone();
            v[i] = b;
            decode(Bytes::from(v))
        };
        assert_eq!(decode(Bytes::new()), Err(MalformedEntry::Magic));
        assert_eq!(
            decode(Bytes::from_static(b"hello world")),
            Err(MalformedEntry::Magic)
        );
        assert_eq!(with(2, 2), Err(MalformedEntry::Version(2)));
        // Status 1000 and 0.
        assert_eq!(with(3, 0x04), Err(MalformedEntry::Status(0x04c8)));
        assert_eq!(
            decode(Bytes::from_static(b"rc\x01\x00\x00")),
            Err(MalformedEntry::Status(0))
        );
        // Nanoseconds of 10^9.
        let mut v = b"rc\x01\x00\xc8\x00".to_vec();
        put_varint(&mut v, 1_000_000_000);
        assert_eq!(decode(Bytes::from(v)), Err(MalformedEntry::Time));
        // A varint of eleven bytes, and one whose tenth byte overflows.
        let v = [b"rc\x01\x00\xc8".as_slice(), &[0xff; 11]].concat();
        assert_eq!(decode(Bytes::from(v)), Err(MalformedEntry::Overflow));
        let v = [b"rc\x01\x00\xc8".as_slice(), &[0xff; 9], &[0x02]].concat();
        assert_eq!(decode(Bytes::from(v)), Err(MalformedEntry::Overflow));
        // A response time past what SystemTime holds.
        let mut v = b"rc\x01\x00\xc8".to_vec();
        put_varint(&mut v, u64::MAX);
        put_varint(&mut v, 0);
        assert_eq!(decode(Bytes::from(v)), Err(MalformedEntry::Time));
    }

    /// The head of a value up to its header count, for hand-made field lists.
    fn head() -> Vec<u8> {
        let mut v = b"rc\x01\x00\xc8".to_vec();
        for _ in 0..6 {
            put_varint(&mut v, 0);
        }
        v
    }

    #[test]
    fn bad_fields_and_huge_counts_are_refused() {
        // A field name with a space.
        let mut v = head();
        put_varint(&mut v, 1);
        put_bytes(&mut v, b"bad name");
        put_bytes(&mut v, b"v");
        assert_eq!(decode(Bytes::from(v)), Err(MalformedEntry::Field));
        // A value with a newline.
        let mut v = head();
        put_varint(&mut v, 1);
        put_bytes(&mut v, b"x");
        put_bytes(&mut v, b"a\nb");
        assert_eq!(decode(Bytes::from(v)), Err(MalformedEntry::Field));
        // A count of u64::MAX fields, and a body longer than the value: no allocation.
        let mut v = head();
        put_varint(&mut v, u64::MAX);
        assert_eq!(decode(Bytes::from(v)), Err(MalformedEntry::Truncated));
        let mut v = head();
        put_varint(&mut v, 0);
        put_varint(&mut v, 0);
        put_varint(&mut v, 1 << 40);
        assert_eq!(decode(Bytes::from(v)), Err(MalformedEntry::Truncated));
    }

    #[test]
    fn random_mutations_never_panic() {
        let good = encode(&parts()).unwrap();
        // xorshift64*: deterministic, no dependency.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |below: usize| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % below.max(1)
        };
        let mut decoded = 0;
        for _ in 0..20_000 {
            let mut v = good.clone();
            for _ in 0..1 + next(3) {
                let i = next(v.len());
                v[i] = next(256) as u8;
            }
            if next(2) == 0 {
                v.truncate(next(v.len() + 1));
            }
            // Any outcome but a panic; what decodes re-encodes (varints canonically, so
            // never longer).
            if let Ok(p) = decode(Bytes::from(v.clone())) {
                decoded += 1;
                assert!(encode(&p).unwrap().len() <= v.len());
            }
        }
        // Mutated header values and body bytes still decode.
        assert!(decoded > 0);
        for _ in 0..5_000 {
            let v: Vec<u8> = (0..next(64)).map(|_| next(256) as u8).collect();
            assert!(decode(Bytes::from(v)).is_err());
        }
    }
}
