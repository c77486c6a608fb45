//! `RedisStore` against a real `redis-server` (started by each test on a free port on
//! 127.0.0.1 and killed after), behind the cache in front of hyper-util's client and real
//! testkit servers.
//!
//! These tests run on real time: the store's timeouts guard real sockets, and paused time
//! would fire them while the runtime waits for Redis. Outer `tokio::time::timeout`s only
//! prove that nothing hangs; no test asserts how long anything took.
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use recourse_cache::{
    Cache, CacheKey, CacheLayer, CacheOutcome, Entry, EntryParts, RedisStore, RedisStoreError,
    Store,
};
use recourse_testkit::redis::RedisServer;
use recourse_testkit::{Recorded, Reply, TestServer};
use redis::aio::MultiplexedConnection;
use tower::{Layer, ServiceExt};

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// A store on `redis` that tries again quickly after a failure (so that recovery shows
/// within a bounded loop).
fn store(redis: &RedisServer) -> RedisStore {
    RedisStore::new(&redis.url())
        .expect("a valid URL")
        .with_retry_delay(Duration::from_millis(50))
}

/// A proxy's cache (shared mode) on `store`, in front of hyper-util's client.
fn cache(store: RedisStore) -> Cache<HttpClient, RedisStore> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    CacheLayer::shared().store(store).layer(client)
}

struct Fetched {
    status: StatusCode,
    outcome: Option<CacheOutcome>,
    body: Bytes,
}

async fn fetch_with(cache: &Cache<HttpClient, RedisStore>, req: Request<Empty<Bytes>>) -> Fetched {
    let fetch = async {
        let res = cache.clone().oneshot(req).await.expect("a response");
        let outcome = CacheOutcome::of(&res);
        let status = res.status();
        // Read to the end: a miss is stored when its body ends.
        let body = res.into_body().collect().await.expect("a body").to_bytes();
        Fetched {
            status,
            outcome,
            body,
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fetch)
        .await
        .expect("a request through the cache never hangs on Redis")
}

async fn fetch(cache: &Cache<HttpClient, RedisStore>, uri: &Uri) -> Fetched {
    fetch_with(cache, Request::get(uri).body(Empty::new()).unwrap()).await
}

/// The Redis keys the store uses for `uri` (its documented layout, default prefix).
fn keys(uri: &Uri) -> (String, String) {
    let key = CacheKey::from_uri(uri).expect("an absolute URI");
    (
        format!("recourse:v:{}", key.as_str()),
        format!("recourse:o:{}", key.as_str()),
    )
}

async fn query<T: redis::FromRedisValue>(c: &mut MultiplexedConnection, cmd: &redis::Cmd) -> T {
    cmd.query_async(c).await.expect("a Redis command")
}

fn cmd(name: &str, args: &[&[u8]]) -> redis::Cmd {
    let mut c = redis::cmd(name);
    for a in args {
        c.arg(*a);
    }
    c
}

/// Repeats `uri` through `cache` until it is a hit (at most 100 times, 50 ms apart).
async fn until_hit(cache: &Cache<HttpClient, RedisStore>, uri: &Uri) -> bool {
    for _ in 0..100 {
        let f = fetch(cache, uri).await;
        assert_eq!(f.status, StatusCode::OK);
        if f.outcome == Some(CacheOutcome::Hit) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn entry(
    vary: Option<&str>,
    selecting: &[(&'static str, &'static str)],
    offset: u64,
) -> Arc<Entry> {
    let mut headers = HeaderMap::new();
    headers.insert("cache-control", HeaderValue::from_static("max-age=60"));
    headers.insert("etag", HeaderValue::from_static("\"e1\""));
    headers.append("x-multi", HeaderValue::from_static("one"));
    headers.append("x-multi", HeaderValue::from_static("two"));
    if let Some(vary) = vary {
        headers.insert("vary", HeaderValue::from_str(vary).unwrap());
    }
    let mut sel = HeaderMap::new();
    for (k, v) in selecting {
        sel.insert(*k, HeaderValue::from_static(v));
    }
    Arc::new(
        Entry::from_parts(EntryParts {
            status: StatusCode::OK,
            headers,
            body: Bytes::from(format!("body {selecting:?}")),
            selecting: sel,
            response_time: recourse_core::clock::system_now() + Duration::from_secs(offset),
            initial_age: Duration::from_millis(1500),
            lifetime: Duration::from_secs(60),
        })
        .expect("a storable entry"),
    )
}

fn key(s: &str) -> CacheKey {
    CacheKey::from_uri(&s.parse().unwrap()).unwrap()
}

fn redis_error(e: recourse_cache::StoreError) -> Box<RedisStoreError> {
    e.into_inner()
        .downcast::<RedisStoreError>()
        .expect("a RedisStoreError")
}

#[tokio::test]
async fn a_hit_is_served_from_redis_without_the_origin() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.fallback(
        "/fresh",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .body("fresh body"),
    );
    let uri = server.uri("/fresh");
    let cache = cache(store(&redis));

    let f = fetch(&cache, &uri).await;
    assert_eq!(f.outcome, Some(CacheOutcome::Miss));
    assert_eq!(f.body, "fresh body");
    for _ in 0..3 {
        let f = fetch(&cache, &uri).await;
        assert_eq!(f.status, StatusCode::OK);
        assert_eq!(f.outcome, Some(CacheOutcome::Hit));
        assert_eq!(f.body, "fresh body");
    }
    assert_eq!(server.count("/fresh"), 1);

    let mut c = redis.connection().await;
    let (h, z) = keys(&uri);
    let kind: String = query(&mut c, &cmd("TYPE", &[h.as_bytes()])).await;
    assert_eq!(kind, "hash");
    let kind: String = query(&mut c, &cmd("TYPE", &[z.as_bytes()])).await;
    assert_eq!(kind, "zset");

    // A successful POST invalidates (RFC 9111 §4.4): both keys are deleted.
    let post = fetch_with(&cache, Request::post(&uri).body(Empty::new()).unwrap()).await;
    assert_eq!(post.status, StatusCode::OK);
    let exists: i64 = query(&mut c, &cmd("EXISTS", &[h.as_bytes(), z.as_bytes()])).await;
    assert_eq!(exists, 0);
    let f = fetch(&cache, &uri).await;
    assert_eq!(f.outcome, Some(CacheOutcome::Miss));
    assert_eq!(server.count("/fresh"), 3);
    server.shutdown().await;
}

#[tokio::test]
async fn the_store_round_trips_entries_exactly() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let store = store(&redis).with_prefix("t:");
    store.ping().await.expect("PING");
    let k = key("http://a.test/round?trip");
    assert!(store.get(&k).await.unwrap().is_none());

    let fr = entry(Some("accept-language"), &[("accept-language", "fr")], 0);
    let en = entry(Some("accept-language"), &[("accept-language", "en")], 1);
    store.put(&k, fr.clone()).await.unwrap();
    store.put(&k, en.clone()).await.unwrap();
    let got = store.get(&k).await.unwrap().expect("stored");
    assert_eq!(got.len(), 2);
    for want in [&fr, &en] {
        let found = got
            .entries()
            .iter()
            .find(|e| e.variant_id() == want.variant_id())
            .expect("both variants");
        assert_eq!(found.parts(), want.parts(), "exact round trip");
    }
    // The prefix is used.
    let mut c = redis.connection().await;
    let n: i64 = query(&mut c, &cmd("HLEN", &[b"t:v:http://a.test/round?trip"])).await;
    assert_eq!(n, 2);

    store.remove(&k).await.unwrap();
    assert!(store.get(&k).await.unwrap().is_none());
}

#[tokio::test]
async fn two_caches_on_one_redis_share_their_entries() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let server = TestServer::start().await;
    for path in ["/one", "/two"] {
        server.fallback(
            path,
            Reply::ok()
                .header("cache-control", "max-age=600")
                .body(format!("shared {path}")),
        );
    }
    // Two stores, two connections: as two processes would have.
    let first = cache(store(&redis));
    let second = cache(store(&redis));

    let f = fetch(&first, &server.uri("/one")).await;
    assert_eq!(f.outcome, Some(CacheOutcome::Miss));
    let f = fetch(&second, &server.uri("/one")).await;
    assert_eq!(f.outcome, Some(CacheOutcome::Hit));
    assert_eq!(f.body, "shared /one");

    let f = fetch(&second, &server.uri("/two")).await;
    assert_eq!(f.outcome, Some(CacheOutcome::Miss));
    let f = fetch(&first, &server.uri("/two")).await;
    assert_eq!(f.outcome, Some(CacheOutcome::Hit));
    assert_eq!(f.body, "shared /two");

    assert_eq!(server.count("/one"), 1);
    assert_eq!(server.count("/two"), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn vary_variants_are_stored_side_by_side() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.handle("/greeting", |req: &Recorded| {
        let lang = req.header("accept-language").unwrap_or("none").to_owned();
        Reply::ok()
            .header("cache-control", "max-age=600")
            .header("vary", "Accept-Language")
            .body(format!("hello in {lang}"))
    });
    let uri = server.uri("/greeting");
    let get = |lang: &str| {
        Request::get(&uri)
            .header("accept-language", lang)
            .body(Empty::new())
            .unwrap()
    };
    let first = cache(store(&redis));
    let second = cache(store(&redis));
    for lang in ["fr", "en"] {
        let f = fetch_with(&first, get(lang)).await;
        assert_eq!(f.outcome, Some(CacheOutcome::Miss));
    }
    for lang in ["fr", "en"] {
        let f = fetch_with(&second, get(lang)).await;
        assert_eq!(f.outcome, Some(CacheOutcome::Hit), "{lang}");
        assert_eq!(f.body, format!("hello in {lang}"));
    }
    let f = fetch_with(&second, get("de")).await;
    assert_eq!(f.outcome, Some(CacheOutcome::Miss));
    assert_eq!(server.count("/greeting"), 3);

    let mut c = redis.connection().await;
    let (h, z) = keys(&uri);
    let fields: i64 = query(&mut c, &cmd("HLEN", &[h.as_bytes()])).await;
    let ranked: i64 = query(&mut c, &cmd("ZCARD", &[z.as_bytes()])).await;
    assert_eq!((fields, ranked), (3, 3));
    server.shutdown().await;
}

#[tokio::test]
async fn variants_are_bounded_oldest_first() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let store = store(&redis).with_max_variants(2);
    let k = key("http://a.test/bounded");
    let vary = Some("x-v");
    store
        .put(&k, entry(vary, &[("x-v", "1")], 0))
        .await
        .unwrap();
    store
        .put(&k, entry(vary, &[("x-v", "2")], 1))
        .await
        .unwrap();
    store
        .put(&k, entry(vary, &[("x-v", "3")], 2))
        .await
        .unwrap();
    // The same variant again replaces, it does not add.
    store
        .put(&k, entry(vary, &[("x-v", "3")], 3))
        .await
        .unwrap();
    let got = store.get(&k).await.unwrap().expect("stored");
    let mut ids: Vec<_> = got
        .entries()
        .iter()
        .map(|e| e.variant_id().to_vec())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![b"x-v=2".to_vec(), b"x-v=3".to_vec()]);

    let mut c = redis.connection().await;
    let fields: i64 = query(&mut c, &cmd("HLEN", &[b"recourse:v:http://a.test/bounded"])).await;
    let ranked: i64 = query(
        &mut c,
        &cmd("ZCARD", &[b"recourse:o:http://a.test/bounded"]),
    )
    .await;
    assert_eq!((fields, ranked), (2, 2));
}

#[tokio::test]
async fn concurrent_puts_from_two_stores_keep_every_variant() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let stores = [store(&redis), store(&redis)];
    let k = key("http://a.test/concurrent");
    const VALUES: [&str; 24] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x",
    ];
    let puts = VALUES.iter().enumerate().map(|(i, v)| {
        let store = stores[i % 2].clone().with_max_variants(32);
        let entry = entry(Some("x-v"), &[("x-v", v)], i as u64);
        let k = k.clone();
        tokio::spawn(async move { store.put(&k, entry).await })
    });
    for put in futures_join(puts).await {
        put.expect("task").expect("put");
    }
    let got = stores[0].get(&k).await.unwrap().expect("stored");
    assert_eq!(got.len(), 24);
    let mut c = redis.connection().await;
    let fields: i64 = query(
        &mut c,
        &cmd("HLEN", &[b"recourse:v:http://a.test/concurrent"]),
    )
    .await;
    let ranked: i64 = query(
        &mut c,
        &cmd("ZCARD", &[b"recourse:o:http://a.test/concurrent"]),
    )
    .await;
    assert_eq!((fields, ranked), (24, 24));
}

/// Awaits every handle (in order).
async fn futures_join<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let handles: Vec<_> = handles.collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await);
    }
    out
}

#[tokio::test]
async fn each_key_expires_with_the_freshness_and_stale_windows() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.fallback(
        "/windows",
        Reply::ok()
            .header("cache-control", "max-age=100, stale-while-revalidate=50")
            .body("w"),
    );
    server.fallback(
        "/validated",
        Reply::ok()
            .header("cache-control", "max-age=10")
            .header("etag", "\"v\"")
            .body("v"),
    );
    server.fallback(
        "/stale-if-error",
        Reply::ok()
            .header("cache-control", "max-age=20, stale-if-error=300")
            .body("s"),
    );
    let cache = cache(
        store(&redis)
            .with_revalidation_window(Duration::from_secs(60))
            .with_stale_window(Duration::from_secs(5)),
    );
    let mut c = redis.connection().await;
    // (path, the expected time to live in seconds)
    for (path, secs) in [
        ("/windows", 100 + 50 + 5),
        ("/validated", 10 + 60 + 5),
        ("/stale-if-error", 20 + 300 + 5),
    ] {
        let uri = server.uri(path);
        let f = fetch(&cache, &uri).await;
        assert_eq!(f.outcome, Some(CacheOutcome::Miss));
        let (h, z) = keys(&uri);
        let pttl: i64 = query(&mut c, &cmd("PTTL", &[h.as_bytes()])).await;
        let max = secs * 1000;
        // Up to a couple of seconds of age (the Date field has a one-second resolution).
        assert!(
            pttl <= max && pttl > max - 3000,
            "{path}: PTTL {pttl} ms, want ~{max}"
        );
        let order_pttl: i64 = query(&mut c, &cmd("PTTL", &[z.as_bytes()])).await;
        // Set from the hash's expiry inside the PUT script, where Redis's clock can read a
        // millisecond or two behind the one PTTL used above.
        assert!(
            order_pttl > 0 && order_pttl <= pttl + 5,
            "{path}: {order_pttl} ms, hash {pttl} ms"
        );
    }
    server.shutdown().await;
}

/// `Duration::MAX` settings store entries with the longest expiry Redis takes (about a
/// century), never a panic nor an expiry Redis rejects.
#[tokio::test]
async fn duration_max_settings_are_bounded() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.fallback(
        "/forever",
        Reply::ok()
            .header("cache-control", "max-age=100")
            .header("etag", "\"f\"")
            .body("f"),
    );
    let store = store(&redis)
        .with_max_ttl(Duration::MAX)
        .with_stale_window(Duration::MAX)
        .with_revalidation_window(Duration::MAX);
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let cache = CacheLayer::shared()
        .store(store)
        .uncacheable_ttl(Duration::MAX)
        .coalesce_timeout(Duration::MAX)
        .refresh_timeout(Duration::MAX)
        .stale_if_error(Duration::MAX)
        .layer(client);
    let uri = server.uri("/forever");
    assert_eq!(fetch(&cache, &uri).await.outcome, Some(CacheOutcome::Miss));
    assert!(
        until_hit(&cache, &uri).await,
        "stored despite the huge expiry"
    );
    let (h, _) = keys(&uri);
    let mut c = redis.connection().await;
    let pttl: i64 = query(&mut c, &cmd("PTTL", &[h.as_bytes()])).await;
    let century: i64 = 100 * 365 * 24 * 60 * 60 * 1000;
    assert!(pttl > century - 60_000 && pttl <= century, "PTTL {pttl}");
    server.shutdown().await;
}

#[tokio::test]
async fn entries_over_the_size_limit_are_not_stored() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.fallback(
        "/big",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .body(vec![b'x'; 1000]),
    );
    server.fallback(
        "/small",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .body(vec![b'y'; 100]),
    );
    let store = store(&redis).with_max_entry_size(100);
    let cache = cache(store.clone());
    for _ in 0..2 {
        let f = fetch(&cache, &server.uri("/big")).await;
        assert_eq!(f.outcome, Some(CacheOutcome::Miss));
        assert_eq!(f.body.len(), 1000);
    }
    assert_eq!(server.count("/big"), 1 + 1);
    let mut c = redis.connection().await;
    let (h, _) = keys(&server.uri("/big"));
    let exists: i64 = query(&mut c, &cmd("EXISTS", &[h.as_bytes()])).await;
    assert_eq!(exists, 0);
    // Through the store itself too.
    let k = key("http://a.test/direct");
    let mut parts = entry(None, &[], 0).as_ref().clone().into_parts();
    parts.body = Bytes::from(vec![0u8; 101]);
    store
        .put(&k, Arc::new(Entry::from_parts(parts).unwrap()))
        .await
        .unwrap();
    assert!(store.get(&k).await.unwrap().is_none());

    // At the limit: stored.
    fetch(&cache, &server.uri("/small")).await;
    let f = fetch(&cache, &server.uri("/small")).await;
    assert_eq!(f.outcome, Some(CacheOutcome::Hit));
    assert_eq!(f.body.len(), 100);
    server.shutdown().await;
}

#[tokio::test]
async fn garbage_under_our_keys_is_a_miss_then_replaced() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let server = TestServer::start().await;
    for path in ["/string", "/version", "/field"] {
        server.fallback(
            path,
            Reply::ok()
                .header("cache-control", "max-age=600")
                .body("good"),
        );
    }
    let store = store(&redis);
    let cache = cache(store.clone());
    let mut c = redis.connection().await;

    // A string where the store keeps a hash.
    let uri = server.uri("/string");
    let (h, _) = keys(&uri);
    let _: () = query(&mut c, &cmd("SET", &[h.as_bytes(), b"raw junk"])).await;
    let err = store
        .get(&CacheKey::from_uri(&uri).unwrap())
        .await
        .unwrap_err();
    assert!(redis_error(err).is_malformed());
    let f = fetch(&cache, &uri).await;
    assert_eq!(
        (f.status, f.outcome),
        (StatusCode::OK, Some(CacheOutcome::Miss))
    );
    assert_eq!(f.body, "good");
    assert!(until_hit(&cache, &uri).await, "the junk is replaced");
    let kind: String = query(&mut c, &cmd("TYPE", &[h.as_bytes()])).await;
    assert_eq!(kind, "hash");

    // A value in another format version, under the variant's own field (no Vary: "").
    let uri = server.uri("/version");
    let (h, _) = keys(&uri);
    let _: () = query(&mut c, &cmd("HSET", &[h.as_bytes(), b"", b"rc\x02future"])).await;
    let f = fetch(&cache, &uri).await;
    assert_eq!(f.outcome, Some(CacheOutcome::Miss));
    assert_eq!(f.body, "good");
    let f = fetch(&cache, &uri).await;
    assert_eq!(f.outcome, Some(CacheOutcome::Hit));

    // A junk field next to a good variant: the good one is served, the junk deleted.
    let uri = server.uri("/field");
    fetch(&cache, &uri).await;
    let (h, _) = keys(&uri);
    let _: () = query(
        &mut c,
        &cmd("HSET", &[h.as_bytes(), b"x-junk=1", b"\xff\x00"]),
    )
    .await;
    let f = fetch(&cache, &uri).await;
    assert_eq!(f.outcome, Some(CacheOutcome::Hit));
    let mut deleted = false;
    for _ in 0..100 {
        let exists: i64 = query(&mut c, &cmd("HEXISTS", &[h.as_bytes(), b"x-junk=1"])).await;
        if exists == 0 {
            deleted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(deleted, "the malformed field is deleted");
    assert_eq!(server.count("/string"), 1);
    assert_eq!(server.count("/version"), 1);
    assert_eq!(server.count("/field"), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn redis_killed_mid_run_then_restarted() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.fallback(
        "/doc",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .body("document"),
    );
    let uri = server.uri("/doc");
    let store = store(&redis);
    let cache = cache(store.clone());
    assert_eq!(fetch(&cache, &uri).await.outcome, Some(CacheOutcome::Miss));
    assert_eq!(fetch(&cache, &uri).await.outcome, Some(CacheOutcome::Hit));

    redis.kill();
    for _ in 0..3 {
        let f = fetch(&cache, &uri).await;
        assert_eq!(f.status, StatusCode::OK);
        assert_eq!(f.outcome, Some(CacheOutcome::Miss), "served by the origin");
        assert_eq!(f.body, "document");
    }
    assert_eq!(server.count("/doc"), 4);
    let err = store
        .get(&CacheKey::from_uri(&uri).unwrap())
        .await
        .unwrap_err();
    assert!(redis_error(err).is_unreachable());

    // Back, empty: the store reconnects, stores again, and serves hits.
    redis.restart().await;
    assert!(until_hit(&cache, &uri).await, "the store recovers");
    store.ping().await.expect("PING after the restart");
    server.shutdown().await;
}

#[tokio::test]
async fn redis_down_at_start() {
    let Some(mut redis) = RedisServer::not_started() else {
        return;
    };
    let server = TestServer::start().await;
    server.fallback(
        "/early",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .body("early"),
    );
    let uri = server.uri("/early");
    // Building the store and the cache needs no Redis.
    let store = store(&redis);
    let cache = cache(store.clone());
    assert!(store.ping().await.unwrap_err().is_unreachable());
    for _ in 0..2 {
        let f = fetch(&cache, &uri).await;
        assert_eq!(
            (f.status, f.outcome),
            (StatusCode::OK, Some(CacheOutcome::Miss))
        );
    }
    redis.restart().await;
    assert!(
        until_hit(&cache, &uri).await,
        "the store connects once Redis is up"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_paused_redis_is_cut_off_by_the_timeout() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.fallback(
        "/slow",
        Reply::ok()
            .header("cache-control", "max-age=600")
            .body("slow"),
    );
    let uri = server.uri("/slow");
    let store = store(&redis).with_timeout(Duration::from_millis(200));
    let cache = cache(store.clone());
    assert_eq!(fetch(&cache, &uri).await.outcome, Some(CacheOutcome::Miss));
    assert_eq!(fetch(&cache, &uri).await.outcome, Some(CacheOutcome::Hit));

    // Frozen: the connection stays open and nothing answers.
    redis.pause();
    let k = CacheKey::from_uri(&uri).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), store.get(&k))
        .await
        .expect("the store's own timeout ends the call")
        .unwrap_err();
    let err = redis_error(err);
    assert!(err.is_timeout(), "{err}");
    assert!(matches!(*err, RedisStoreError::Timeout(t) if t == Duration::from_millis(200)));
    for _ in 0..3 {
        let f = fetch(&cache, &uri).await;
        assert_eq!(
            (f.status, f.outcome),
            (StatusCode::OK, Some(CacheOutcome::Miss))
        );
        assert_eq!(f.body, "slow");
    }

    redis.resume();
    assert!(until_hit(&cache, &uri).await, "the store recovers");
    server.shutdown().await;
}
