//! Turning origin responses into stored entries: recording a body into the store, and
//! updating an entry from a 304.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response, header};

use crate::body::{Recorder, Sink};
use crate::config::Config;
use crate::entry::{Entry, EntryParts};
use crate::flight::FlightGuard;
use crate::key::CacheKey;
use crate::semantics::{self, Exchange};
use crate::store::Store;

/// Stores a recorded body as an entry, then ends the flight (if it leads one).
pub(crate) struct StoreSink<St> {
    pub(crate) store: St,
    pub(crate) key: CacheKey,
    pub(crate) parts: EntryParts,
    pub(crate) guard: Option<FlightGuard>,
}

impl<St: Store> Sink for StoreSink<St> {
    fn finish(self: Box<Self>, body: Bytes) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let StoreSink {
            store,
            key,
            mut parts,
            guard,
        } = *self;
        parts.body = body;
        match Entry::from_parts(parts) {
            Ok(entry) => {
                let put = store.put(&key, Arc::new(entry));
                Box::pin(async move {
                    if let Err(error) = put.await {
                        tracing::warn!(%error, %key, "cache store failed to store a response");
                    }
                    drop(guard);
                })
            }
            Err(error) => {
                tracing::warn!(%error, %key, "response not stored");
                drop(guard);
                Box::pin(std::future::ready(()))
            }
        }
    }
}

/// Whether a response's declared length already exceeds `limit`.
pub(crate) fn declared_too_large<B>(res: &Response<B>, limit: usize) -> bool {
    res.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|len| len > limit as u64)
}

/// A recorder that stores the body under `key` when it completes.
pub(crate) fn recorder<St: Store>(
    store: &St,
    key: &CacheKey,
    parts: EntryParts,
    guard: Option<FlightGuard>,
) -> Recorder {
    Recorder::new(
        store.max_entry_size(),
        Box::new(StoreSink {
            store: store.clone(),
            key: key.clone(),
            parts,
            guard,
        }),
    )
}

/// The entry after a 304 that selected `entry` (RFC 9111 §4.3.4): the stored fields
/// updated per §3.2, freshness recomputed from them, the stored body kept. `Err` with the
/// merged fields when the updated response may not be stored (say the 304 added
/// `no-store`): it is then served once and the old entry removed.
pub(crate) fn revalidated(
    config: &Config,
    ex: &Exchange<'_>,
    request_no_store: bool,
    entry: &Entry,
    not_modified: &HeaderMap,
) -> Result<Entry, HeaderMap> {
    let merged = semantics::merge_304(entry.headers(), not_modified, ex.response_time);
    match semantics::prepare(config, ex, entry.status(), &merged, request_no_store) {
        Ok(mut parts) => {
            parts.body = entry.body().clone();
            Entry::from_parts(parts).map_err(|_| merged)
        }
        Err(_) => Err(merged),
    }
}
