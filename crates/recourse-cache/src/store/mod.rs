//! Where stored responses live: the [`Store`] trait, [`MemoryStore`] and, with the
//! `redis` feature, `RedisStore`.
//!
//! # Memory or Redis
//!
//! [`MemoryStore`] (the default) serves one process: a hit clones an `Arc` and the body's
//! `Bytes`, nothing is decoded and nothing can fail. `RedisStore` serves many: several
//! proxies or workers share one cache, so the origin sees each response once rather than
//! once per process, and the cache outlives a restart; a hit costs a round trip and a
//! decode, and Redis can fail (the request then goes to the origin, within a bounded
//! timeout).

mod memory;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "redis")]
pub use self::redis::{MalformedEntry, RedisFuture, RedisStore, RedisStoreError};
pub use memory::MemoryStore;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use recourse_core::BoxError;

use crate::entry::Entry;
use crate::key::CacheKey;

/// An asynchronous store of responses, keyed by [`CacheKey`], each key holding one or more
/// variants (RFC 9111 §4.1).
///
/// The cache never fails a request because of its store: an error from any method is
/// logged with `tracing` and the request goes to the origin (or, for `put`, the response
/// is served without being stored).
///
/// # Implementing
///
/// - [`get`](Store::get) returns every variant stored for the key (the cache selects one
///   by `Vary`), or `None`.
/// - [`put`](Store::put) stores an entry as a variant of the key, replacing a stored
///   variant with the same [`Entry::variant_id`] and keeping the others; a store may bound
///   the variants per key by dropping the oldest.
/// - [`remove`](Store::remove) deletes every variant of the key (invalidation, RFC 9111
///   §4.4).
/// - [`max_entry_size`](Store::max_entry_size) is the largest body the cache will collect
///   for this store; larger responses stream through unstored.
///
/// A store that serialises entries (to another process or a disk) keeps the plain
/// [`EntryParts`](crate::EntryParts) and rebuilds with [`Entry::from_parts`]; the futures
/// are `'static` so that they can own what they need.
pub trait Store: Clone + Send + Sync + 'static {
    /// The future of [`get`](Store::get).
    type GetFuture: Future<Output = Result<Option<Variants>, StoreError>> + Send + 'static;
    /// The future of [`put`](Store::put).
    type PutFuture: Future<Output = Result<(), StoreError>> + Send + 'static;
    /// The future of [`remove`](Store::remove).
    type RemoveFuture: Future<Output = Result<(), StoreError>> + Send + 'static;

    /// Every variant stored under `key`.
    fn get(&self, key: &CacheKey) -> Self::GetFuture;

    /// Stores `entry` as a variant of `key`.
    fn put(&self, key: &CacheKey, entry: Arc<Entry>) -> Self::PutFuture;

    /// Removes every variant of `key`.
    fn remove(&self, key: &CacheKey) -> Self::RemoveFuture;

    /// The largest body, in bytes, worth storing.
    fn max_entry_size(&self) -> usize;
}

/// The variants stored under one key: cheap to clone (one reference count).
#[derive(Clone, Default)]
pub struct Variants(Arc<[Arc<Entry>]>);

impl Variants {
    /// Variants from a list of entries.
    pub fn new(entries: Vec<Arc<Entry>>) -> Variants {
        Variants(entries.into())
    }

    /// A single variant.
    pub fn one(entry: Arc<Entry>) -> Variants {
        Variants(Arc::from([entry]))
    }

    /// The entries.
    pub fn entries(&self) -> &[Arc<Entry>] {
        &self.0
    }

    /// How many variants there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These variants with `entry` added: a variant with the same
    /// [`Entry::variant_id`] is replaced, and when more than `max` (at least 1) remain the
    /// oldest (by [`Entry::response_time`]) are dropped.
    pub fn with(&self, entry: Arc<Entry>, max: usize) -> Variants {
        let mut entries: Vec<Arc<Entry>> = self
            .0
            .iter()
            .filter(|e| e.variant_id() != entry.variant_id())
            .cloned()
            .collect();
        entries.push(entry);
        let max = max.max(1);
        if entries.len() > max {
            entries.sort_by_key(|e| std::cmp::Reverse(e.response_time()));
            entries.truncate(max);
        }
        Variants(entries.into())
    }

    /// The approximate memory held, for size-bounded stores.
    pub fn weight(&self) -> usize {
        self.0.iter().map(|e| e.weight()).sum()
    }
}

impl fmt::Debug for Variants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

/// An error from a [`Store`].
#[derive(Debug)]
pub struct StoreError {
    inner: BoxError,
}

impl StoreError {
    /// Wraps the store's own error.
    pub fn new(error: impl Into<BoxError>) -> StoreError {
        StoreError {
            inner: error.into(),
        }
    }

    /// The store's own error.
    pub fn into_inner(self) -> BoxError {
        self.inner
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cache store error: {}", self.inner)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::tests::entry;
    use crate::entry::{Entry, EntryParts};
    use std::time::Duration;

    fn variant(value: &str, offset: u64) -> Arc<Entry> {
        let mut parts: EntryParts = entry(&[("vary", "foo")], &[("foo", value)], 60).into_parts();
        parts.response_time += Duration::from_secs(offset);
        Arc::new(Entry::from_parts(parts).unwrap())
    }

    #[test]
    fn with_replaces_same_variant_and_bounds() {
        let v = Variants::one(variant("1", 0));
        let v = v.with(variant("2", 1), 8);
        assert_eq!(v.len(), 2);
        let newer = variant("1", 5);
        let v = v.with(newer.clone(), 8);
        assert_eq!(v.len(), 2);
        assert!(v.entries().iter().any(|e| Arc::ptr_eq(e, &newer)));
        let v = v.with(variant("3", 6), 2);
        assert_eq!(v.len(), 2);
        assert!(v.entries().iter().all(|e| e.variant_id() != b"foo=2"));
        assert!(v.weight() > 0);
        assert!(!v.is_empty());
        assert!(Variants::default().is_empty());
        assert_eq!(Variants::new(vec![newer]).len(), 1);
        assert!(format!("{v:?}").contains("Entry"));
    }

    #[test]
    fn store_error_wraps() {
        let e = StoreError::new("boom");
        assert_eq!(e.to_string(), "cache store error: boom");
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(e.into_inner().to_string(), "boom");
    }
}
