//! A stored response.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::directives::ResponseDirectives;
use crate::vary;

/// A stored response: status, header fields and body, with what the cache needs to judge
/// its freshness and to select it among the variants of its URI.
///
/// An entry is built by the cache when a response is storable. Stores keep it as they
/// like: [`MemoryStore`](crate::MemoryStore) keeps the entry itself (a hit clones the
/// body's [`Bytes`], never the data); a store that serialises entries keeps the plain
/// [`EntryParts`] (status, fields, body, times and durations) and rebuilds the entry with
/// [`Entry::from_parts`].
///
/// Freshness follows RFC 9111 §4.2: the entry records its freshness lifetime (computed
/// when stored or revalidated) and its corrected initial age
/// (§4.2.3); its current age is that plus the time it has been resident.
#[derive(Clone)]
pub struct Entry {
    parts: EntryParts,
    /// The stored fields plus an `Age` placeholder, cloned for each hit.
    served: HeaderMap,
    vary: Box<[HeaderName]>,
    variant: Box<[u8]>,
    directives: ResponseDirectives,
    validators: bool,
    /// Whether the stored fields set a cookie (never in entries a shared cache stored).
    sets_cookie: bool,
}

/// The plain data of an [`Entry`]: what a store must keep to rebuild it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryParts {
    /// The response status.
    pub status: StatusCode,
    /// The stored header fields: hop-by-hop fields, `Age` and fields listed by a qualified
    /// `no-cache` (or, in a shared cache, `private`) are already removed, and `Date` is
    /// present (RFC 9111 §3.1, RFC 9110 §6.6.1).
    pub headers: HeaderMap,
    /// The complete response content.
    pub body: Bytes,
    /// The request's values of the fields the response's `Vary` nominates, normalised
    /// (RFC 9111 §4.1). Absent fields are absent here too.
    pub selecting: HeaderMap,
    /// When the response was received (`response_time` of RFC 9111 §4.2.3).
    pub response_time: SystemTime,
    /// The corrected initial age (`corrected_initial_age` of RFC 9111 §4.2.3).
    pub initial_age: Duration,
    /// The freshness lifetime (RFC 9111 §4.2.1).
    pub lifetime: Duration,
}

/// Why [`Entry::from_parts`] refused its input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidEntry {
    /// The stored `Vary` contains `*` or an invalid field name, so the entry could never
    /// match a request (RFC 9111 §4.1).
    Vary,
    /// The status is informational (1xx), 206 or 304, which are never stored.
    Status(StatusCode),
}

impl fmt::Display for InvalidEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidEntry::Vary => f.write_str("the stored Vary field can never match a request"),
            InvalidEntry::Status(s) => write!(f, "a {s} response is never stored"),
        }
    }
}

impl std::error::Error for InvalidEntry {}

impl Entry {
    /// Rebuilds an entry from its plain data (as a store that serialises entries must).
    ///
    /// # Errors
    ///
    /// [`InvalidEntry`] when the parts describe a response the cache would never have
    /// stored (garbage in a store).
    pub fn from_parts(parts: EntryParts) -> Result<Entry, InvalidEntry> {
        if parts.status.is_informational()
            || parts.status == StatusCode::PARTIAL_CONTENT
            || parts.status == StatusCode::NOT_MODIFIED
        {
            return Err(InvalidEntry::Status(parts.status));
        }
        let names = vary::nominated(&parts.headers).map_err(|()| InvalidEntry::Vary)?;
        let variant = vary::variant_id(&names, &parts.selecting).into_boxed_slice();
        let directives = ResponseDirectives::parse(&parts.headers);
        let validators = parts.headers.contains_key(header::ETAG)
            || parts.headers.contains_key(header::LAST_MODIFIED);
        let sets_cookie = crate::semantics::sets_cookie(&parts.headers);
        // Room for one more field than it holds: `HeaderMap::insert` makes room for a new
        // field before it looks for the old one, so a map that is full would grow (and
        // allocate) on every hit when `Age` is replaced; its clones keep this capacity.
        let mut served = HeaderMap::with_capacity(parts.headers.len() + 2);
        for (name, value) in &parts.headers {
            served.append(name.clone(), value.clone());
        }
        served.insert(header::AGE, HeaderValue::from_static("0"));
        Ok(Entry {
            served,
            parts,
            vary: names.into_boxed_slice(),
            variant,
            directives,
            validators,
            sets_cookie,
        })
    }

    /// The plain data, for serialisation.
    pub fn parts(&self) -> &EntryParts {
        &self.parts
    }

    /// Takes the plain data out.
    pub fn into_parts(self) -> EntryParts {
        self.parts
    }

    /// The stored status.
    pub fn status(&self) -> StatusCode {
        self.parts.status
    }

    /// The stored header fields (without `Age`).
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// The stored content.
    pub fn body(&self) -> &Bytes {
        &self.parts.body
    }

    /// The identity of this variant among the responses stored for its URI: the
    /// nominated field names and the request's values for them. A store replaces a
    /// stored variant with a new entry of the same id.
    pub fn variant_id(&self) -> &[u8] {
        &self.variant
    }

    /// When the response was received.
    pub fn response_time(&self) -> SystemTime {
        self.parts.response_time
    }

    /// The freshness lifetime (RFC 9111 §4.2.1).
    pub fn freshness_lifetime(&self) -> Duration {
        self.parts.lifetime
    }

    /// The current age at `now` (RFC 9111 §4.2.3).
    pub fn age(&self, now: SystemTime) -> Duration {
        let resident = now
            .duration_since(self.parts.response_time)
            .unwrap_or(Duration::ZERO);
        self.parts.initial_age.saturating_add(resident)
    }

    /// Whether the entry is fresh at `now` (RFC 9111 §4.2).
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.parts.lifetime > self.age(now)
    }

    /// How long, from `now`, the entry remains useful without its validators: the rest of
    /// its freshness lifetime plus the longer of its `stale-while-revalidate` and
    /// `stale-if-error` windows (RFC 5861). A store with expiry can use it as a time to
    /// live; an entry with validators stays useful for revalidation after that.
    pub fn ttl_hint(&self, now: SystemTime) -> Duration {
        let remaining = self.parts.lifetime.saturating_sub(self.age(now));
        let window = self
            .directives
            .stale_while_revalidate
            .max(self.directives.stale_if_error)
            .unwrap_or(0);
        remaining.saturating_add(Duration::from_secs(window))
    }

    /// Whether the entry has a validator (`ETag` or `Last-Modified`) for a conditional
    /// request (RFC 9111 §4.3.1).
    pub fn has_validators(&self) -> bool {
        self.validators
    }

    /// The approximate memory the entry holds, for stores bounded by size.
    pub fn weight(&self) -> usize {
        let fields = |h: &HeaderMap| {
            h.iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 16)
                .sum::<usize>()
        };
        self.parts.body.len()
            + fields(&self.parts.headers)
            + fields(&self.parts.selecting)
            + self.variant.len()
            + 128
    }

    /// The fields to serve: the stored ones and an `Age` to overwrite.
    pub(crate) fn served_headers(&self) -> &HeaderMap {
        &self.served
    }

    /// Whether the stored fields include `Set-Cookie` or `Set-Cookie2`.
    pub(crate) fn sets_cookie(&self) -> bool {
        self.sets_cookie
    }

    pub(crate) fn directives(&self) -> &ResponseDirectives {
        &self.directives
    }

    /// Whether this entry was stored for a request like `request` (the `Vary` match of
    /// RFC 9111 §4.1).
    pub(crate) fn matches(&self, request: &HeaderMap) -> bool {
        self.vary
            .iter()
            .all(|name| vary::field_matches(request, name, self.parts.selecting.get(name)))
    }

    /// The stale time at `now`: how long ago freshness ran out (zero while fresh).
    pub(crate) fn staleness(&self, now: SystemTime) -> Duration {
        self.age(now).saturating_sub(self.parts.lifetime)
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("status", &self.parts.status)
            .field("headers", &self.parts.headers)
            .field("body_len", &self.parts.body.len())
            .field("selecting", &self.parts.selecting)
            .field("response_time", &self.parts.response_time)
            .field("initial_age", &self.parts.initial_age)
            .field("lifetime", &self.parts.lifetime)
            .finish()
    }
}

/// Picks the most recent stored response that matches the request (RFC 9111 §4.1: "If
/// multiple selected responses are available, the most recent one is used").
pub(crate) fn select<'a>(
    variants: &'a [Arc<Entry>],
    request: &HeaderMap,
) -> Option<&'a Arc<Entry>> {
    let mut best: Option<&Arc<Entry>> = None;
    for entry in variants {
        if entry.matches(request)
            && best.is_none_or(|b| entry.parts.response_time > b.parts.response_time)
        {
            best = Some(entry);
        }
    }
    best
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn entry(
        headers: &[(&str, &str)],
        selecting: &[(&str, &str)],
        lifetime: u64,
    ) -> Entry {
        let e = entry_with_status(200, headers, lifetime).into_parts();
        let mut s = HeaderMap::new();
        for (k, v) in selecting {
            s.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Entry::from_parts(EntryParts { selecting: s, ..e }).unwrap()
    }

    pub(crate) fn entry_with_status(status: u16, headers: &[(&str, &str)], lifetime: u64) -> Entry {
        let selecting: &[(&str, &str)] = &[];
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let mut s = HeaderMap::new();
        for (k, v) in selecting {
            s.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Entry::from_parts(EntryParts {
            status: StatusCode::from_u16(status).unwrap(),
            headers: h,
            body: Bytes::from_static(b"body"),
            selecting: s,
            response_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1000),
            initial_age: Duration::from_secs(5),
            lifetime: Duration::from_secs(lifetime),
        })
        .unwrap()
    }

    #[test]
    fn ages_and_freshness() {
        let e = entry(
            &[("cache-control", "max-age=60, stale-if-error=30")],
            &[],
            60,
        );
        let t0 = e.response_time();
        assert_eq!(e.age(t0), Duration::from_secs(5));
        assert_eq!(e.age(t0 - Duration::from_secs(9)), Duration::from_secs(5));
        assert!(e.is_fresh(t0 + Duration::from_secs(54)));
        assert!(!e.is_fresh(t0 + Duration::from_secs(55)));
        assert_eq!(
            e.staleness(t0 + Duration::from_secs(65)),
            Duration::from_secs(10)
        );
        assert_eq!(e.ttl_hint(t0), Duration::from_secs(85));
        assert_eq!(
            e.ttl_hint(t0 + Duration::from_secs(1000)),
            Duration::from_secs(30)
        );
        assert!(!e.has_validators());
        assert!(e.weight() > 4);
    }

    #[test]
    fn invalid_parts() {
        let mut parts = entry(&[], &[], 1).into_parts();
        parts.status = StatusCode::NOT_MODIFIED;
        assert_eq!(
            Entry::from_parts(parts.clone()).unwrap_err(),
            InvalidEntry::Status(StatusCode::NOT_MODIFIED)
        );
        parts.status = StatusCode::OK;
        parts
            .headers
            .insert(header::VARY, HeaderValue::from_static("*"));
        assert_eq!(Entry::from_parts(parts).unwrap_err(), InvalidEntry::Vary);
        assert!(!InvalidEntry::Vary.to_string().is_empty());
    }

    #[test]
    fn selects_most_recent_match() {
        let a = Arc::new(entry(
            &[("vary", "foo"), ("etag", "\"a\"")],
            &[("foo", "1")],
            60,
        ));
        let mut b_parts =
            entry(&[("vary", "foo"), ("etag", "\"b\"")], &[("foo", "2")], 60).into_parts();
        b_parts.response_time += Duration::from_secs(1);
        let b = Arc::new(Entry::from_parts(b_parts).unwrap());
        let mut c_parts = entry(&[("etag", "\"c\"")], &[], 60).into_parts();
        c_parts.response_time -= Duration::from_secs(1);
        let c = Arc::new(Entry::from_parts(c_parts).unwrap());
        let all = vec![a.clone(), b.clone(), c.clone()];
        let mut req = HeaderMap::new();
        req.insert("foo", HeaderValue::from_static("1"));
        // a matches and is newer than c (which has no Vary and matches anything).
        assert!(Arc::ptr_eq(select(&all, &req).unwrap(), &a));
        req.insert("foo", HeaderValue::from_static("2"));
        assert!(Arc::ptr_eq(select(&all, &req).unwrap(), &b));
        req.insert("foo", HeaderValue::from_static("3"));
        assert!(Arc::ptr_eq(select(&all, &req).unwrap(), &c));
        assert!(select(&all[..2], &req).is_none());
        assert_eq!(a.variant_id(), b"foo=1");
        assert!(a.has_validators());
    }
}
