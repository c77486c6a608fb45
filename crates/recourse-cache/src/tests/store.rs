//! Stores: a failing store never fails a request; custom stores plug in.

use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::{CacheKey, CacheLayer, Entry, EntryParts, MemoryStore, StoreError, Variants};

const URI: &str = "http://origin.test/st";

/// A store whose every operation fails.
#[derive(Clone, Default)]
struct Broken {
    calls: Arc<AtomicUsize>,
}

impl Store for Broken {
    type GetFuture = Ready<Result<Option<Variants>, StoreError>>;
    type PutFuture = Ready<Result<(), StoreError>>;
    type RemoveFuture = Ready<Result<(), StoreError>>;

    fn get(&self, _: &CacheKey) -> Self::GetFuture {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ready(Err(StoreError::new("connection refused")))
    }
    fn put(&self, _: &CacheKey, _: Arc<Entry>) -> Self::PutFuture {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ready(Err(StoreError::new("connection refused")))
    }
    fn remove(&self, _: &CacheKey) -> Self::RemoveFuture {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ready(Err(StoreError::new("connection refused")))
    }
    fn max_entry_size(&self) -> usize {
        1 << 20
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_never_fails_a_request() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "fine");
    let store = Broken::default();
    let cache = origin.cache_with(CacheLayer::new().store(store.clone()));
    for _ in 0..3 {
        let res = cache.get(URI).await;
        assert_eq!(res.status, http::StatusCode::OK);
        assert_eq!(res.body, "fine");
        assert_eq!(res.outcome, Some(CacheOutcome::Miss));
    }
    assert_eq!(origin.calls(), 3);
    let post = cache.fetch(Request::post(URI).body(()).unwrap()).await;
    assert_eq!(post.body, "fine");
    assert!(
        store.calls.load(Ordering::SeqCst) >= 7,
        "get and put each time, then remove"
    );
}

/// A store that keeps plain parts, as a serialising store would, and rebuilds entries.
#[derive(Clone, Default)]
struct Serialising {
    data: Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<EntryParts>>>>,
}

impl Store for Serialising {
    type GetFuture = Ready<Result<Option<Variants>, StoreError>>;
    type PutFuture = Ready<Result<(), StoreError>>;
    type RemoveFuture = Ready<Result<(), StoreError>>;

    fn get(&self, key: &CacheKey) -> Self::GetFuture {
        let data = self.data.lock().unwrap();
        let Some(parts) = data.get(key.as_str()) else {
            return ready(Ok(None));
        };
        let entries: Result<Vec<_>, _> = parts
            .iter()
            .map(|p| Entry::from_parts(p.clone()).map(Arc::new))
            .collect();
        ready(
            entries
                .map(|e| Some(Variants::new(e)))
                .map_err(StoreError::new),
        )
    }
    fn put(&self, key: &CacheKey, entry: Arc<Entry>) -> Self::PutFuture {
        let mut data = self.data.lock().unwrap();
        let list = data.entry(key.as_str().to_owned()).or_default();
        let id = entry.variant_id().to_vec();
        list.retain(|p| {
            Entry::from_parts(p.clone())
                .map(|e| e.variant_id() != id)
                .unwrap_or(false)
        });
        list.push(entry.parts().clone());
        ready(Ok(()))
    }
    fn remove(&self, key: &CacheKey) -> Self::RemoveFuture {
        self.data.lock().unwrap().remove(key.as_str());
        ready(Ok(()))
    }
    fn max_entry_size(&self) -> usize {
        1 << 20
    }
}

#[tokio::test(start_paused = true)]
async fn entries_rebuilt_from_plain_parts_behave_the_same() {
    let origin = Origin::new(|req, _| {
        if req.headers().contains_key("if-none-match") {
            not_modified(&[("etag", "\"p\"")])
        } else {
            Ok(response(
                200,
                &[
                    ("etag", "\"p\""),
                    ("cache-control", "max-age=10"),
                    ("vary", "x"),
                ],
                "parts",
            ))
        }
    });
    let store = Serialising::default();
    let cache = origin.cache_with(CacheLayer::new().store(store.clone()));
    cache.fetch(get_with(URI, &[("x", "1")])).await;
    cache.fetch(get_with(URI, &[("x", "2")])).await;
    assert_eq!(store.data.lock().unwrap()[URI].len(), 2);
    let hit = cache.fetch(get_with(URI, &[("x", "1")])).await;
    assert_eq!(hit.outcome, Some(CacheOutcome::Hit));
    assert_eq!(hit.body, "parts");
    advance(10).await;
    let res = cache.fetch(get_with(URI, &[("x", "2")])).await;
    assert_eq!(res.outcome, Some(CacheOutcome::Revalidated));
    assert_eq!(store.data.lock().unwrap()[URI].len(), 2);
}

#[tokio::test(start_paused = true)]
async fn clients_from_one_layer_share_the_store() {
    let origin = Origin::fixed(&[("cache-control", "max-age=60")], "x");
    let store = MemoryStore::default();
    let layer = CacheLayer::new().store(store.clone());
    let a = origin.cache_with(layer.clone());
    let b = origin.cache_with(layer);
    a.get(URI).await;
    assert_eq!(b.get(URI).await.outcome, Some(CacheOutcome::Hit));
    assert_eq!(store.entry_count(), 1);
    assert_eq!(a.get_store().entry_count(), 1);
    assert_eq!(a.inner.get_mode(), crate::Mode::Private);
}
