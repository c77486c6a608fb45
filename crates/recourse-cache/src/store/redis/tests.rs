//! Tests of the Redis store: settings, expiry, faults and garbage.

use super::*;
use crate::entry::EntryParts;
use http::StatusCode;
use http::header::{HeaderMap, HeaderValue};
use recourse_testkit::redis::RedisServer;

fn entry(headers: &[(&'static str, &'static str)], lifetime: u64) -> Entry {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.append(*k, HeaderValue::from_static(v));
    }
    Entry::from_parts(EntryParts {
        status: StatusCode::OK,
        headers: h,
        body: Bytes::from_static(b"body"),
        selecting: HeaderMap::new(),
        response_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        initial_age: Duration::ZERO,
        lifetime: Duration::from_secs(lifetime),
    })
    .unwrap()
}

fn store() -> RedisStore {
    RedisStore::new("redis://127.0.0.1:1/").unwrap()
}

#[test]
fn ttl_from_freshness_windows_and_bounds() {
    let s = store().with_revalidation_window(Duration::from_secs(100));
    let e = entry(&[("cache-control", "max-age=60, stale-if-error=30")], 60);
    let t0 = e.response_time();
    assert_eq!(s.ttl(&e, t0), Duration::from_secs(90));
    assert_eq!(
        s.ttl(&e, t0 + Duration::from_secs(50)),
        Duration::from_secs(40)
    );
    // Past every window: the floor.
    assert_eq!(
        s.ttl(&e, t0 + Duration::from_secs(999)),
        Duration::from_secs(1)
    );
    let s = s
        .with_stale_window(Duration::from_secs(5))
        .with_min_ttl(Duration::ZERO);
    assert_eq!(s.ttl(&e, t0), Duration::from_secs(95));
    assert_eq!(
        s.ttl(&e, t0 + Duration::from_secs(999)),
        Duration::from_millis(1)
    );
    // A validator adds the revalidation window; the ceiling bounds it all.
    let v = entry(&[("cache-control", "max-age=60"), ("etag", "\"a\"")], 60);
    assert_eq!(s.ttl(&v, t0), Duration::from_secs(165));
    assert_eq!(
        s.ttl(&v, t0 + Duration::from_secs(100)),
        Duration::from_secs(65)
    );
    let s = s.with_max_ttl(Duration::from_secs(10));
    assert_eq!(s.ttl(&v, t0), Duration::from_secs(10));
}

#[test]
fn construction_is_lazy_and_settings_are_kept() {
    assert!(matches!(
        RedisStore::new("nope://x"),
        Err(RedisStoreError::InvalidUrl(_))
    ));
    let s = store()
        .with_prefix("p:")
        .with_timeout(Duration::ZERO)
        .with_max_variants(0)
        .with_max_entry_size(10)
        .with_retry_delay(Duration::from_secs(3));
    assert_eq!(s.get_prefix(), "p:");
    assert_eq!(s.get_timeout(), Duration::from_millis(1));
    assert_eq!(s.max_entry_size(), 10);
    assert!(s.conn.manager.get().is_none(), "no connection before use");
    let debug = format!("{s:?}");
    assert!(debug.contains("127.0.0.1:1") && debug.contains("max_variants: 1"));
    let key = CacheKey::from_uri(&"http://a.test/x?y".parse().unwrap()).unwrap();
    let (h, z) = s.keys(&key);
    assert_eq!(h, b"p:v:http://a.test/x?y");
    assert_eq!(z, b"p:o:http://a.test/x?y");
}

#[tokio::test]
async fn oversized_entries_are_not_sent() {
    let s = store().with_max_entry_size(3);
    let key = CacheKey::from_uri(&"http://a.test/".parse().unwrap()).unwrap();
    // No Redis at port 1: anything sent would fail.
    s.put(&key, Arc::new(entry(&[], 60))).await.unwrap();
    assert!(s.conn.manager.get().is_none());
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_then_backs_off() {
    let s = store().with_retry_delay(Duration::from_secs(3600));
    let key = CacheKey::from_uri(&"http://a.test/".parse().unwrap()).unwrap();
    let err = s.get(&key).await.unwrap_err().into_inner();
    let err = err.downcast::<RedisStoreError>().unwrap();
    assert!(err.is_unreachable(), "{err}");
    assert!(!matches!(*err, RedisStoreError::Unavailable { .. }));
    // Within the retry delay: not tried.
    let err = s.remove(&key).await.unwrap_err().into_inner();
    let err = err.downcast::<RedisStoreError>().unwrap();
    assert!(matches!(*err, RedisStoreError::Unavailable { .. }), "{err}");
    assert!(s.ping().await.unwrap_err().is_unreachable());
}

#[tokio::test(start_paused = true)]
async fn a_retry_delay_of_duration_max_does_not_panic() {
    let s = store().with_retry_delay(Duration::MAX);
    let key = CacheKey::from_uri(&"http://a.test/".parse().unwrap()).unwrap();
    let err = s.get(&key).await.unwrap_err().into_inner();
    assert!(err.downcast::<RedisStoreError>().unwrap().is_unreachable());
    // Failed for as long as can be represented: not tried again.
    let err = s.get(&key).await.unwrap_err().into_inner();
    let err = err.downcast::<RedisStoreError>().unwrap();
    assert!(matches!(*err, RedisStoreError::Unavailable { .. }), "{err}");
}

/// Garbage found by a read is deleted later; whatever replaced it meanwhile stays.
#[tokio::test]
async fn garbage_is_deleted_only_while_unchanged() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let store = RedisStore::new(&redis.url()).unwrap();
    let mut c = redis.connection().await;
    let k = CacheKey::from_uri(&"http://a.test/g".parse().unwrap()).unwrap();
    let keys = store.keys(&k);
    let (h, z) = (keys.0.clone(), keys.1.clone());
    let valid = codec::encode(entry(&[], 60).parts()).unwrap();
    let hset = |field: &[u8], value: &[u8]| {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(&h).arg(field).arg(value);
        cmd
    };
    let q = |cmd: redis::Cmd, mut c: redis::aio::MultiplexedConnection| async move {
        cmd.query_async::<Value>(&mut c).await.unwrap()
    };
    // Read as junk: "" and "x". Then "" is replaced by a valid entry.
    q(hset(b"", b"junk"), c.clone()).await;
    q(hset(b"x", b"junk"), c.clone()).await;
    q(hset(b"", &valid), c.clone()).await;
    let junk = Bytes::from_static(b"junk");
    let read = vec![
        (Bytes::new(), junk.clone()),
        (Bytes::from_static(b"x"), junk),
    ];
    store.delete_malformed(keys.clone(), Malformed::Fields(read));
    let mut gone = false;
    for _ in 0..100 {
        let exists: i64 = redis::cmd("HEXISTS")
            .arg(&h)
            .arg("x")
            .query_async(&mut c)
            .await
            .unwrap();
        if exists == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "the unchanged junk is deleted");
    let stored: Vec<u8> = redis::cmd("HGET")
        .arg(&h)
        .arg("")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(stored, valid, "the replacement stays");

    // Keys of another type are deleted, unless a put has made them right meanwhile.
    q(redis::cmd("SET").arg(&z).arg("junk").to_owned(), c.clone()).await;
    store.delete_malformed(keys.clone(), Malformed::WrongType);
    let mut gone = false;
    for _ in 0..100 {
        let kind: String = redis::cmd("TYPE")
            .arg(&z)
            .query_async(&mut c)
            .await
            .unwrap();
        if kind == "none" {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "a string under the order key is deleted");
    let kind: String = redis::cmd("TYPE")
        .arg(&h)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(kind, "hash", "the hash is kept");
}

#[test]
fn replies_are_read_as_pairs() {
    let b = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    assert!(pairs(Value::Nil).unwrap().is_empty());
    let p = pairs(Value::Array(vec![b("f"), b("v")])).unwrap();
    assert_eq!(p, vec![(Bytes::from("f"), Bytes::from("v"))]);
    let p = pairs(Value::Map(vec![(b("f"), b("v"))])).unwrap();
    assert_eq!(p.len(), 1);
    assert!(pairs(Value::Array(vec![b("f")])).is_err());
    assert!(pairs(Value::Array(vec![b("f"), Value::Int(1)])).is_err());
    assert!(pairs(Value::Okay).is_err());
}

#[test]
fn variants_must_match_their_field() {
    let e = entry(&[("vary", "accept")], 60);
    let value = Bytes::from(codec::encode(e.parts()).unwrap());
    assert!(decode_variant(e.variant_id(), value.clone()).is_ok());
    assert_eq!(
        decode_variant(b"other", value).unwrap_err(),
        MalformedEntry::VariantMismatch
    );
    let mut parts = e.into_parts();
    parts.status = StatusCode::NOT_MODIFIED;
    let value = Bytes::from(codec::encode(&parts).unwrap());
    assert!(matches!(
        decode_variant(b"", value),
        Err(MalformedEntry::Entry(_))
    ));
}
