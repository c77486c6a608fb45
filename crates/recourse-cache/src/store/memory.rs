//! An in-memory store on `moka`, bounded by total size.

use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;

use moka::sync::Cache as Moka;

use super::{Store, StoreError, Variants};
use crate::entry::Entry;
use crate::key::{BuildKeyHasher, CacheKey};

/// An in-process [`Store`] on [`moka`]: bounded by the total size of what it holds (a
/// weigher counts bodies, header fields and keys), evicting the least useful entries
/// (TinyLFU) when full, with a per-entry size limit.
///
/// Operations complete synchronously (the futures are [`Ready`]); a hit clones an `Arc`
/// and, when served, the body's [`Bytes`](bytes::Bytes): no copy, no decoding.
///
/// # Clone
///
/// Clones share the same storage.
///
/// ```
/// use recourse_cache::{CacheLayer, MemoryStore};
///
/// let store = MemoryStore::new(256 * 1024 * 1024).with_max_entry_size(8 * 1024 * 1024);
/// let layer = CacheLayer::new().store(store.clone());
/// assert_eq!(store.entry_count(), 0);
/// # drop(layer);
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    cache: Moka<CacheKey, Variants, BuildKeyHasher>,
    max_entry_size: usize,
    max_variants: usize,
}

impl MemoryStore {
    /// The capacity of [`MemoryStore::default`]: 64 MiB.
    pub const DEFAULT_CAPACITY: u64 = 64 * 1024 * 1024;
    /// The default per-entry limit: 1 MiB.
    pub const DEFAULT_MAX_ENTRY_SIZE: usize = 1024 * 1024;
    /// The default number of variants kept per key: 16.
    pub const DEFAULT_MAX_VARIANTS: usize = 16;

    /// A store holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> MemoryStore {
        let cache = Moka::builder()
            .max_capacity(capacity)
            .weigher(|key: &CacheKey, variants: &Variants| {
                let weight = key.len().saturating_add(variants.weight());
                u32::try_from(weight).unwrap_or(u32::MAX)
            })
            .build_with_hasher(BuildKeyHasher::default());
        MemoryStore {
            cache,
            max_entry_size: Self::DEFAULT_MAX_ENTRY_SIZE,
            max_variants: Self::DEFAULT_MAX_VARIANTS,
        }
    }

    /// Sets the largest body stored (default 1 MiB); larger responses stream through.
    pub fn with_max_entry_size(mut self, bytes: usize) -> MemoryStore {
        self.max_entry_size = bytes;
        self
    }

    /// Sets how many variants (`Vary`) are kept per URI (default 16, at least 1); the
    /// oldest go first.
    pub fn with_max_variants(mut self, variants: usize) -> MemoryStore {
        self.max_variants = variants.max(1);
        self
    }

    /// How many keys are stored (approximate: eviction runs in batches).
    pub fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// The total weight (approximate bytes) stored.
    pub fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }

    /// Removes everything.
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(Self::DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &self.cache.policy().max_capacity())
            .field("max_entry_size", &self.max_entry_size)
            .field("max_variants", &self.max_variants)
            .finish()
    }
}

impl Store for MemoryStore {
    type GetFuture = Ready<Result<Option<Variants>, StoreError>>;
    type PutFuture = Ready<Result<(), StoreError>>;
    type RemoveFuture = Ready<Result<(), StoreError>>;

    fn get(&self, key: &CacheKey) -> Self::GetFuture {
        ready(Ok(self.cache.get(key)))
    }

    fn put(&self, key: &CacheKey, entry: Arc<Entry>) -> Self::PutFuture {
        if entry.body().len() <= self.max_entry_size {
            let max = self.max_variants;
            self.cache
                .entry(key.clone())
                .and_upsert_with(|old| match old {
                    Some(old) => old.into_value().with(entry, max),
                    None => Variants::one(entry),
                });
        }
        ready(Ok(()))
    }

    fn remove(&self, key: &CacheKey) -> Self::RemoveFuture {
        self.cache.invalidate(key);
        ready(Ok(()))
    }

    fn max_entry_size(&self) -> usize {
        self.max_entry_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::tests::entry;
    use crate::entry::{Entry, EntryParts};
    use bytes::Bytes;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    fn now<F: Future + Unpin>(mut f: F) -> F::Output {
        match std::pin::Pin::new(&mut f).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("memory store futures are ready"),
        }
    }

    fn key(s: &str) -> CacheKey {
        CacheKey::from_uri(&s.parse().unwrap()).unwrap()
    }

    fn sized(len: usize) -> Arc<Entry> {
        let mut parts: EntryParts = entry(&[], &[], 60).into_parts();
        parts.body = Bytes::from(vec![b'x'; len]);
        Arc::new(Entry::from_parts(parts).unwrap())
    }

    #[test]
    fn put_get_remove() {
        let store = MemoryStore::default();
        let k = key("http://a.test/");
        assert!(now(store.get(&k)).unwrap().is_none());
        now(store.put(&k, sized(10))).unwrap();
        let got = now(store.get(&k)).unwrap().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got.entries()[0].body().len(), 10);
        // Same variant id: replaced.
        now(store.put(&k, sized(20))).unwrap();
        let got = now(store.get(&k)).unwrap().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got.entries()[0].body().len(), 20);
        now(store.remove(&k)).unwrap();
        assert!(now(store.get(&k)).unwrap().is_none());
        assert!(format!("{store:?}").contains("MemoryStore"));
    }

    #[test]
    fn per_entry_limit() {
        let store = MemoryStore::default().with_max_entry_size(100);
        assert_eq!(store.max_entry_size(), 100);
        let k = key("http://a.test/");
        now(store.put(&k, sized(101))).unwrap();
        assert!(now(store.get(&k)).unwrap().is_none());
        now(store.put(&k, sized(100))).unwrap();
        assert!(now(store.get(&k)).unwrap().is_some());
    }

    #[test]
    fn bounded_by_total_size() {
        let store = MemoryStore::new(50_000).with_max_entry_size(100_000);
        for i in 0..100 {
            now(store.put(&key(&format!("http://a.test/{i}")), sized(5_000))).unwrap();
        }
        assert!(store.weighted_size() <= 50_000, "{}", store.weighted_size());
        assert!(store.entry_count() <= 10);
        store.clear();
        assert_eq!(store.entry_count(), 0);
    }

    #[test]
    fn shares_between_clones() {
        let a = MemoryStore::default().with_max_variants(0);
        let b = a.clone();
        let k = key("http://a.test/x");
        now(a.put(&k, sized(1))).unwrap();
        assert!(now(b.get(&k)).unwrap().is_some());
    }
}
