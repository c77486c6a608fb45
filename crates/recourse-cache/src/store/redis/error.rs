//! The errors of [`RedisStore`](super::RedisStore).

use std::fmt;
use std::time::Duration;

use crate::entry::InvalidEntry;

/// An error from a [`RedisStore`](super::RedisStore).
///
/// The cache never fails a request because of it: it arrives wrapped in a
/// [`StoreError`](crate::StoreError), is logged, and the request goes to the origin. Take it
/// back with `StoreError::into_inner` and `downcast::<RedisStoreError>()`.
#[derive(Debug)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// The connection URL (or client settings) was refused; nothing was sent.
    InvalidUrl(redis::RedisError),
    /// Redis answered with an error, or the connection failed (refused, reset, closed).
    Redis(redis::RedisError),
    /// Redis did not answer within the store's timeout
    /// ([`RedisStore::with_timeout`](super::RedisStore::with_timeout)).
    Timeout(Duration),
    /// Redis failed recently (a connection error or a timeout), and the store does not try
    /// again before its retry delay
    /// ([`RedisStore::with_retry_delay`](super::RedisStore::with_retry_delay)) has passed:
    /// the request goes to the origin at once instead of waiting for a timeout.
    Unavailable {
        /// How long until the store tries Redis again.
        retry_in: Duration,
    },
    /// What is stored under the store's key is not an entry this store wrote (another
    /// program's data, a different format, or corruption). The store deletes it.
    Malformed(MalformedEntry),
    /// The entry cannot be written in the store's format: its response time is before the
    /// Unix epoch.
    Unencodable,
}

impl RedisStoreError {
    /// Whether Redis could not be reached or did not answer in time (as opposed to
    /// answering with an error or holding garbage).
    pub fn is_unreachable(&self) -> bool {
        match self {
            RedisStoreError::Timeout(_) | RedisStoreError::Unavailable { .. } => true,
            RedisStoreError::Redis(e) => is_connection_error(e),
            _ => false,
        }
    }

    /// Whether this is a [`Timeout`](RedisStoreError::Timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self, RedisStoreError::Timeout(_))
    }

    /// Whether this is a [`Malformed`](RedisStoreError::Malformed) entry.
    pub fn is_malformed(&self) -> bool {
        matches!(self, RedisStoreError::Malformed(_))
    }
}

impl fmt::Display for RedisStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisStoreError::InvalidUrl(e) => write!(f, "invalid Redis URL: {e}"),
            RedisStoreError::Redis(e) => write!(f, "Redis: {e}"),
            RedisStoreError::Timeout(t) => write!(f, "Redis did not answer within {t:?}"),
            RedisStoreError::Unavailable { retry_in } => {
                write!(f, "Redis failed recently; next attempt in {retry_in:?}")
            }
            RedisStoreError::Malformed(m) => write!(f, "malformed entry in Redis: {m}"),
            RedisStoreError::Unencodable => {
                f.write_str("entry not stored: its response time is before the Unix epoch")
            }
        }
    }
}

impl std::error::Error for RedisStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisStoreError::InvalidUrl(e) | RedisStoreError::Redis(e) => Some(e),
            RedisStoreError::Malformed(m) => Some(m),
            _ => None,
        }
    }
}

/// Whether a Redis error means the connection is unusable (so the store backs off).
pub(super) fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

/// Why bytes read from Redis are not an entry a [`RedisStore`](super::RedisStore) wrote.
///
/// Decoding checks every length against the bytes that remain, every field against HTTP's
/// rules and every time against what [`SystemTime`](std::time::SystemTime) can hold, so
/// garbage is refused with one of these, never a panic or a large allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedEntry {
    /// The key holds another Redis type than the store uses (a string, a list, ...).
    WrongType,
    /// The value does not start with the format's magic bytes.
    Magic,
    /// The value was written in a format version this store does not read.
    Version(u8),
    /// The value ends before what its lengths announce.
    Truncated,
    /// A number does not fit (a varint longer than 64 bits, or too many fields).
    Overflow,
    /// Not a valid HTTP status code.
    Status(u16),
    /// A field name or value that HTTP does not allow.
    Field,
    /// A time or duration out of range (nanoseconds of a second at or above 10⁹, or past
    /// what the platform's clock can represent).
    Time,
    /// Bytes follow the body.
    TrailingBytes,
    /// The entry is stored under another variant than its own `Vary` selects.
    VariantMismatch,
    /// The decoded parts describe a response the cache never stores.
    Entry(InvalidEntry),
}

impl fmt::Display for MalformedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedEntry::WrongType => f.write_str("the key holds another Redis type"),
            MalformedEntry::Magic => f.write_str("not in the store's format (bad magic bytes)"),
            MalformedEntry::Version(v) => write!(f, "unknown format version {v}"),
            MalformedEntry::Truncated => f.write_str("truncated"),
            MalformedEntry::Overflow => f.write_str("a number is out of range"),
            MalformedEntry::Status(s) => write!(f, "invalid status code {s}"),
            MalformedEntry::Field => f.write_str("invalid header field"),
            MalformedEntry::Time => f.write_str("time out of range"),
            MalformedEntry::TrailingBytes => f.write_str("bytes after the body"),
            MalformedEntry::VariantMismatch => {
                f.write_str("stored under another variant than its own")
            }
            MalformedEntry::Entry(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for MalformedEntry {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MalformedEntry::Entry(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn messages_and_kinds() {
        let t = RedisStoreError::Timeout(Duration::from_millis(250));
        assert!(t.is_timeout() && t.is_unreachable() && !t.is_malformed());
        assert_eq!(t.to_string(), "Redis did not answer within 250ms");
        let u = RedisStoreError::Unavailable {
            retry_in: Duration::from_millis(10),
        };
        assert!(u.is_unreachable());
        assert!(u.to_string().contains("10ms"));
        let m = RedisStoreError::Malformed(MalformedEntry::Version(9));
        assert!(m.is_malformed() && !m.is_unreachable());
        assert_eq!(
            m.to_string(),
            "malformed entry in Redis: unknown format version 9"
        );
        assert!(m.source().is_some());
        let refused =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let r = RedisStoreError::Redis(refused);
        assert!(r.is_unreachable());
        assert!(r.source().is_some());
        let wrong = redis::RedisError::from((redis::ErrorKind::Client, "nope"));
        assert!(!RedisStoreError::Redis(wrong).is_unreachable());
        assert!(!RedisStoreError::Unencodable.to_string().is_empty());
        let e = MalformedEntry::Entry(InvalidEntry::Vary);
        assert!(e.source().is_some());
        for m in [
            MalformedEntry::WrongType,
            MalformedEntry::Magic,
            MalformedEntry::Truncated,
            MalformedEntry::Overflow,
            MalformedEntry::Status(1000),
            MalformedEntry::Field,
            MalformedEntry::Time,
            MalformedEntry::TrailingBytes,
            MalformedEntry::VariantMismatch,
        ] {
            assert!(!m.to_string().is_empty());
            assert!(m.source().is_none());
        }
    }
}
