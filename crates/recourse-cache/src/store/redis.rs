//! A store in Redis: one cache shared by many processes (feature `redis`).

mod codec;
mod connection;
mod error;
mod scripts;
#[cfg(test)]
mod tests;

pub use error::{MalformedEntry, RedisStoreError};

use std::fmt;
use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use recourse_core::clock::system_now;
use redis::aio::ConnectionManager;
use redis::{Client, RedisResult, Value};

use super::{Store, StoreError, Variants};
use crate::entry::Entry;
use crate::key::CacheKey;

use connection::Connection;
use scripts::{DELETE_FIELDS, DELETE_WRONG_TYPES, PUT};

/// The future of every [`RedisStore`] operation.
pub type RedisFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// A [`Store`] in Redis, so that several processes (proxies, workers, clients) share one
/// cache: a response stored through one is a hit through all the others.
///
/// # Memory or Redis
///
/// Choose [`MemoryStore`](crate::MemoryStore) (the default) for one process: a hit costs a
/// reference count, nothing is copied or decoded, and nothing can fail. Choose
/// `RedisStore` when several processes serve the same resources and the origin should
/// see each response once rather than once per process, or when the cache should survive
/// a restart of the process. A hit then costs a round trip to Redis and a decode (the body
/// is not copied), and Redis becomes a dependency that can fail: when it does, requests
/// go to the origin (see *Faults*).
///
/// # Example
///
/// Two caches (think two processes) on one Redis:
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::convert::Infallible;
/// use std::time::Duration;
/// use http::{Request, Response};
/// use http_body_util::BodyExt;
/// use recourse_cache::{CacheLayer, CacheOutcome, RedisStore};
/// use tower::{Layer, ServiceExt};
///
/// let origin = tower::service_fn(|_req: Request<()>| async {
///     let res = Response::builder().header("cache-control", "max-age=60");
///     Ok::<_, Infallible>(res.body(String::from("barcode")).unwrap())
/// });
/// // No I/O here: the store connects on first use, so a proxy starts while Redis is down.
/// // Each process builds its own store on the same URL and prefix.
/// let store = |url: &str| -> Result<RedisStore, recourse_cache::RedisStoreError> {
///     Ok(RedisStore::new(url)?.with_prefix("barcodes:").with_timeout(Duration::from_millis(100)))
/// };
/// let one = CacheLayer::shared().store(store("redis://127.0.0.1:6379/0")?).layer(origin.clone());
/// let two = CacheLayer::shared().store(store("redis://127.0.0.1:6379/0")?).layer(origin);
///
/// let get = || Request::get("http://api.test/barcode/1").body(()).unwrap();
/// let res = one.oneshot(get()).await?;
/// assert_eq!(CacheOutcome::of(&res), Some(CacheOutcome::Miss));
/// // The response is stored when its body has been read to the end.
/// res.into_body().collect().await?;
///
/// let res = two.oneshot(get()).await?;
/// assert_eq!(CacheOutcome::of(&res), Some(CacheOutcome::Hit));
/// # Ok(())
/// # }
/// ```
///
/// Building a store does no I/O and needs no runtime:
///
/// ```
/// use std::time::Duration;
/// use recourse_cache::{CacheLayer, RedisStore, Store};
///
/// let store = RedisStore::new("redis://127.0.0.1:6379/2")
///     .unwrap()
///     .with_max_entry_size(4 * 1024 * 1024)
///     .with_max_ttl(Duration::from_secs(3600));
/// assert_eq!(store.max_entry_size(), 4 * 1024 * 1024);
/// assert!(RedisStore::new("http://not-redis").is_err());
/// let layer = CacheLayer::shared().store(store);
/// # drop(layer);
/// ```
///
/// # Layout
///
/// Each URI ([`CacheKey`]) is two Redis keys: a hash `{prefix}v:{uri}` with one field per
/// variant (RFC 9111 §4.1: the field name is [`Entry::variant_id`], the value the encoded
/// entry), and a sorted set `{prefix}o:{uri}` ranking the variants by response time. A Lua
/// script stores a variant, drops the oldest beyond
/// [`with_max_variants`](RedisStore::with_max_variants) and sets the expiry, atomically, so
/// concurrent puts from many processes never lose or corrupt the structure. The prefix
/// (default `recourse:`) keeps the store's keys apart from anything else in the database;
/// everything under it belongs to the store.
///
/// # Format
///
/// An entry is written in a compact binary format: magic bytes `rc`, a version byte (1),
/// the status, the response time, initial age and freshness lifetime, the header fields,
/// the request's selecting fields (`Vary`), and the body last, with varint lengths. A value
/// that does not decode (another version, another program's data, corruption) is a
/// [`MalformedEntry`]: the lookup is a miss and the value is deleted.
///
/// # Expiry
///
/// A stored response is useless once it is neither fresh nor within a window where the
/// cache may serve it stale, so each key gets a time to live ([`RedisStore::ttl`]): the
/// rest of the freshness lifetime (RFC 9111 §4.2), plus the longer of the response's
/// `stale-while-revalidate` and `stale-if-error` (RFC 5861), plus
/// [`with_stale_window`](RedisStore::with_stale_window), plus, for a response with a
/// validator, [`with_revalidation_window`](RedisStore::with_revalidation_window) (so that
/// it can still be revalidated with a 304 rather than fetched again), bounded by
/// [`with_min_ttl`](RedisStore::with_min_ttl) and [`with_max_ttl`](RedisStore::with_max_ttl).
/// Redis expires keys, not hash fields, so a key lives as long as its longest-lived
/// variant. Redis's own `maxmemory` policy (`allkeys-lru` or `volatile-lru`) bounds the
/// total size.
///
/// # Faults
///
/// Every operation is bounded by [`with_timeout`](RedisStore::with_timeout) (default
/// 250 ms), connecting included, and returns a [`StoreError`] wrapping a
/// [`RedisStoreError`] when Redis is down, slow, or holds garbage: the cache logs it and
/// goes to the origin; nothing panics. After a connection error or a timeout, the store
/// fails at once with [`RedisStoreError::Unavailable`] for
/// [`with_retry_delay`](RedisStore::with_retry_delay) (default 1 s), so that requests do
/// not each wait for the timeout while Redis is away; then it tries again, and recovers
/// as soon as Redis answers. The connection (a `redis` [`ConnectionManager`], one
/// multiplexed connection shared by every clone) is made on first use and remade when it
/// breaks.
///
/// Entries whose body exceeds [`with_max_entry_size`](RedisStore::with_max_entry_size)
/// (default 1 MiB) are not stored; the cache streams them through.
///
/// # Clone
///
/// Clones share the connection and its state; a builder method called on one changes
/// only that one's settings. Operations need a tokio runtime (they are awaited by the
/// cache, which runs on one).
#[derive(Clone)]
pub struct RedisStore {
    settings: Arc<Settings>,
    conn: Arc<Connection>,
}

#[derive(Clone, Debug)]
struct Settings {
    prefix: Box<str>,
    timeout: Duration,
    retry_delay: Duration,
    max_entry_size: usize,
    max_variants: usize,
    min_ttl: Duration,
    max_ttl: Duration,
    stale_window: Duration,
    revalidation_window: Duration,
}

/// The longest expiry sent to Redis (about a century, in milliseconds): Redis and its Lua
/// numbers hold it exactly, whatever `with_max_ttl` says.
const MAX_TTL_MS: u64 = 100 * 365 * 24 * 60 * 60 * 1000;

/// What to delete after a read found garbage.
enum Malformed {
    /// Keys of another Redis type.
    WrongType,
    /// Variants that do not decode: field and value.
    Fields(Vec<(Bytes, Bytes)>),
}

// === impl RedisStore ===

impl RedisStore {
    /// The default key prefix: `recourse:`.
    pub const DEFAULT_PREFIX: &'static str = "recourse:";
    /// The default bound on each Redis operation: 250 ms.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
    /// The default pause after Redis failed: 1 s.
    pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
    /// The default per-entry limit: 1 MiB.
    pub const DEFAULT_MAX_ENTRY_SIZE: usize = 1024 * 1024;
    /// The default number of variants kept per URI: 16.
    pub const DEFAULT_MAX_VARIANTS: usize = 16;
    /// The default shortest time to live: 1 s.
    pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(1);
    /// The default longest time to live: 24 hours.
    pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);
    /// The default time a response with a validator is kept for revalidation: 10 minutes.
    pub const DEFAULT_REVALIDATION_WINDOW: Duration = Duration::from_secs(10 * 60);

    /// A store on the Redis at `url`: `redis://[[user]:password@]host[:port][/db]`,
    /// `redis+unix:///path/to/socket[?db=N]` or `unix:///path[?db=N]`.
    ///
    /// Nothing is sent: the connection is made by the first operation.
    ///
    /// # Errors
    ///
    /// [`RedisStoreError::InvalidUrl`] when `url` is not a Redis URL the `redis` crate
    /// accepts (TLS `rediss://` URLs need a TLS feature of `redis` that this crate does not
    /// enable).
    pub fn new(url: &str) -> Result<RedisStore, RedisStoreError> {
        let client = Client::open(url).map_err(RedisStoreError::InvalidUrl)?;
        Ok(RedisStore::from_client(client))
    }

    /// A store on a `redis` [`Client`] configured by the caller.
    pub fn from_client(client: Client) -> RedisStore {
        RedisStore {
            settings: Arc::new(Settings {
                prefix: Self::DEFAULT_PREFIX.into(),
                timeout: Self::DEFAULT_TIMEOUT,
                retry_delay: Self::DEFAULT_RETRY_DELAY,
                max_entry_size: Self::DEFAULT_MAX_ENTRY_SIZE,
                max_variants: Self::DEFAULT_MAX_VARIANTS,
                min_ttl: Self::DEFAULT_MIN_TTL,
                max_ttl: Self::DEFAULT_MAX_TTL,
                stale_window: Duration::ZERO,
                revalidation_window: Self::DEFAULT_REVALIDATION_WINDOW,
            }),
            conn: Arc::new(Connection::new(client)),
        }
    }

    /// Sets the prefix of every key the store writes (default `recourse:`). Stores with
    /// the same prefix on the same database share their entries; give caches that must
    /// not share (different modes, different tenants) different prefixes.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> RedisStore {
        Arc::make_mut(&mut self.settings).prefix = prefix.into().into_boxed_str();
        self
    }

    /// Bounds every operation, connecting included (default 250 ms, at least 1 ms).
    pub fn with_timeout(mut self, timeout: Duration) -> RedisStore {
        Arc::make_mut(&mut self.settings).timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long the store fails at once, without trying Redis, after a connection error
    /// or a timeout (default 1 s; zero tries on every operation).
    pub fn with_retry_delay(mut self, delay: Duration) -> RedisStore {
        Arc::make_mut(&mut self.settings).retry_delay = delay;
        self
    }

    /// Sets the largest body stored (default 1 MiB); larger responses stream through.
    pub fn with_max_entry_size(mut self, bytes: usize) -> RedisStore {
        Arc::make_mut(&mut self.settings).max_entry_size = bytes;
        self
    }

    /// Sets how many variants (`Vary`) are kept per URI (default 16, at least 1); the
    /// oldest go first.
    pub fn with_max_variants(mut self, variants: usize) -> RedisStore {
        Arc::make_mut(&mut self.settings).max_variants = variants.max(1);
        self
    }

    /// The shortest time to live of a stored response (default 1 s, at least 1 ms).
    pub fn with_min_ttl(mut self, ttl: Duration) -> RedisStore {
        Arc::make_mut(&mut self.settings).min_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// The longest time to live of a stored response (default 24 hours).
    pub fn with_max_ttl(mut self, ttl: Duration) -> RedisStore {
        Arc::make_mut(&mut self.settings).max_ttl = ttl;
        self
    }

    /// Time added to every stored response's time to live, for the stale windows the
    /// cache grants beyond the response's own: set it to the layer's
    /// [`CacheLayer::stale_if_error`](crate::CacheLayer::stale_if_error) (default zero).
    pub fn with_stale_window(mut self, window: Duration) -> RedisStore {
        Arc::make_mut(&mut self.settings).stale_window = window;
        self
    }

    /// Time added to the time to live of a response with a validator (`ETag` or
    /// `Last-Modified`), during which a request revalidates it (RFC 9111 §4.3) and a 304
    /// spares the origin sending the body again (default 10 minutes).
    pub fn with_revalidation_window(mut self, window: Duration) -> RedisStore {
        Arc::make_mut(&mut self.settings).revalidation_window = window;
        self
    }

    /// The key prefix (set with [`with_prefix`](RedisStore::with_prefix)).
    pub fn get_prefix(&self) -> &str {
        &self.settings.prefix
    }

    /// The bound on each operation (set with [`with_timeout`](RedisStore::with_timeout)).
    pub fn get_timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// The time to live this store gives `entry` when it stores it at `now` (see
    /// *Expiry* above).
    pub fn ttl(&self, entry: &Entry, now: SystemTime) -> Duration {
        let s = &self.settings;
        // Every window starts when freshness ends: what has passed of them is gone (the
        // hint counts the response's own windows whole).
        let stale_for = entry.age(now).saturating_sub(entry.freshness_lifetime());
        let mut ttl = entry.ttl_hint(now).saturating_add(s.stale_window);
        if entry.has_validators() {
            ttl = ttl.saturating_add(s.revalidation_window);
        }
        ttl.saturating_sub(stale_for).min(s.max_ttl).max(s.min_ttl)
    }

    /// Sends `PING`: whether Redis answers within the timeout. A proxy can call it at
    /// start to log whether its shared cache is reachable; the store works either way.
    ///
    /// # Errors
    ///
    /// What any operation returns when Redis is unreachable or slow.
    pub async fn ping(&self) -> Result<(), RedisStoreError> {
        let _: String = self
            .run(|mut c| async move { redis::cmd("PING").query_async(&mut c).await })
            .await?;
        Ok(())
    }

    fn keys(&self, key: &CacheKey) -> (Vec<u8>, Vec<u8>) {
        let name = |kind: &[u8]| {
            let prefix = self.settings.prefix.as_bytes();
            let mut k = Vec::with_capacity(prefix.len() + 2 + key.as_str().len());
            k.extend_from_slice(prefix);
            k.extend_from_slice(kind);
            k.extend_from_slice(key.as_str().as_bytes());
            k
        };
        (name(b"v:"), name(b"o:"))
    }

    /// Runs `op` on the connection, bounded by the timeout, minding the retry delay.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, RedisStoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let s = &self.settings;
        self.conn.run(s.timeout, s.retry_delay, op).await
    }

    /// Deletes malformed values in the background, only if they are still there (a put
    /// since the read has replaced them, and stays).
    fn delete_malformed(&self, keys: (Vec<u8>, Vec<u8>), malformed: Malformed) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut invocation = match &malformed {
            Malformed::WrongType => DELETE_WRONG_TYPES.prepare_invoke(),
            Malformed::Fields(_) => DELETE_FIELDS.prepare_invoke(),
        };
        invocation.key(keys.0).key(keys.1);
        if let Malformed::Fields(fields) = malformed {
            for (field, value) in fields {
                invocation.arg(&field[..]).arg(&value[..]);
            }
        }
        let this = self.clone();
        runtime.spawn(async move {
            let invocation = &invocation;
            let result = this
                .run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
                .await;
            if let Err(error) = result {
                tracing::debug!(%error, "could not delete a malformed cache entry from Redis");
            }
        });
    }

    async fn get_variants(self, key: CacheKey) -> Result<Option<Variants>, RedisStoreError> {
        let keys = self.keys(&key);
        let h = &keys.0;
        let reply = self
            .run(|mut c| async move {
                redis::cmd("HGETALL")
                    .arg(h)
                    .query_async::<Value>(&mut c)
                    .await
            })
            .await;
        let pairs = match reply.and_then(pairs) {
            Ok(pairs) => pairs,
            Err(RedisStoreError::Malformed(m)) => {
                tracing::warn!(%key, reason = %m, "malformed cache entry in Redis; deleting it");
                self.delete_malformed(keys, Malformed::WrongType);
                return Err(RedisStoreError::Malformed(m));
            }
            Err(e) => return Err(e),
        };
        if pairs.is_empty() {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(pairs.len());
        let mut bad = Vec::new();
        let mut reason = None;
        for (field, value) in pairs {
            match decode_variant(&field, value.clone()) {
                Ok(entry) => entries.push(Arc::new(entry)),
                Err(m) => {
                    reason.get_or_insert(m);
                    bad.push((field, value));
                }
            }
        }
        if let Some(reason) = reason {
            tracing::warn!(
                %key,
                %reason,
                count = bad.len(),
                "malformed cache entries in Redis; deleting them"
            );
            self.delete_malformed(keys, Malformed::Fields(bad));
            if entries.is_empty() {
                return Err(RedisStoreError::Malformed(reason));
            }
        }
        Ok(Some(Variants::new(entries)))
    }
}

/// The field-value pairs of an `HGETALL` reply (an array in RESP2, a map in RESP3).
fn pairs(reply: Value) -> Result<Vec<(Bytes, Bytes)>, RedisStoreError> {
    fn bulk(v: Value) -> Result<Bytes, RedisStoreError> {
        match v {
            Value::BulkString(b) => Ok(Bytes::from(b)),
            _ => Err(unexpected()),
        }
    }
    fn unexpected() -> RedisStoreError {
        RedisStoreError::Redis(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "unexpected reply to HGETALL",
        )))
    }
    match reply {
        Value::Nil => Ok(Vec::new()),
        Value::Array(items) if items.len() % 2 == 0 => {
            let mut out = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(f), Some(v)) = (items.next(), items.next()) {
                out.push((bulk(f)?, bulk(v)?));
            }
            Ok(out)
        }
        Value::Map(items) => items
            .into_iter()
            .map(|(f, v)| Ok((bulk(f)?, bulk(v)?)))
            .collect(),
        _ => Err(unexpected()),
    }
}

/// Decodes one stored variant and checks that it is stored under its own id.
fn decode_variant(field: &[u8], value: Bytes) -> Result<Entry, MalformedEntry> {
    let parts = codec::decode(value)?;
    let entry = Entry::from_parts(parts).map_err(MalformedEntry::Entry)?;
    if entry.variant_id() != field {
        return Err(MalformedEntry::VariantMismatch);
    }
    Ok(entry)
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.conn.client.get_connection_info();
        let s = &self.settings;
        f.debug_struct("RedisStore")
            .field("addr", &format_args!("{}", info.addr()))
            .field("db", &info.redis_settings().db())
            .field("prefix", &s.prefix)
            .field("timeout", &s.timeout)
            .field("retry_delay", &s.retry_delay)
            .field("max_entry_size", &s.max_entry_size)
            .field("max_variants", &s.max_variants)
            .field("min_ttl", &s.min_ttl)
            .field("max_ttl", &s.max_ttl)
            .field("stale_window", &s.stale_window)
            .field("revalidation_window", &s.revalidation_window)
            .finish()
    }
}

impl Store for RedisStore {
    type GetFuture = RedisFuture<Option<Variants>>;
    type PutFuture = RedisFuture<()>;
    type RemoveFuture = RedisFuture<()>;

    fn get(&self, key: &CacheKey) -> Self::GetFuture {
        let fut = self.clone().get_variants(key.clone());
        Box::pin(async move { fut.await.map_err(StoreError::new) })
    }

    fn put(&self, key: &CacheKey, entry: Arc<Entry>) -> Self::PutFuture {
        if entry.body().len() > self.settings.max_entry_size {
            return Box::pin(ready(Ok(())));
        }
        let Ok(value) = codec::encode(entry.parts()) else {
            return Box::pin(ready(Err(StoreError::new(RedisStoreError::Unencodable))));
        };
        let ttl = self.ttl(&entry, system_now());
        // Redis takes expiry times as signed 64-bit milliseconds from now: a ceiling of
        // about a century keeps `with_max_ttl(Duration::MAX)` within them.
        let ttl_ms = u64::try_from(ttl.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_TTL_MS);
        // Encoding succeeded, so the response time is after the epoch.
        let score = entry
            .response_time()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let (h, z) = self.keys(key);
        let mut invocation = PUT.prepare_invoke();
        invocation
            .key(h)
            .key(z)
            .arg(entry.variant_id())
            .arg(value)
            .arg(score)
            .arg(self.settings.max_variants)
            .arg(ttl_ms);
        let this = self.clone();
        Box::pin(async move {
            let invocation = &invocation;
            this.run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
                .await
                .map(drop)
                .map_err(StoreError::new)
        })
    }

    fn remove(&self, key: &CacheKey) -> Self::RemoveFuture {
        let keys = self.keys(key);
        let this = self.clone();
        Box::pin(async move {
            let (h, z) = (&keys.0, &keys.1);
            this.run(|mut c| async move {
                redis::cmd("DEL")
                    .arg(h)
                    .arg(z)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
            .map_err(StoreError::new)
        })
    }

    fn max_entry_size(&self) -> usize {
        self.settings.max_entry_size
    }
}
