//! The helpers for the layers' own tests: bodies, the round rule, the Redis harness.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use recourse_testkit::alloc::{Allocations, ROUNDS, best_of, best_of_async};
use recourse_testkit::body::{Endless, Frames, Stalled, channel};
use recourse_testkit::redis::RedisServer;

/// What polling a body once gives.
type Polled<B> = Poll<Option<Result<Frame<<B as Body>::Data>, <B as Body>::Error>>>;

/// Polls `body` once, with a waker that does nothing.
fn poll_once<B: Body + Unpin>(body: &mut B) -> Polled<B> {
    Pin::new(body).poll_frame(&mut Context::from_waker(Waker::noop()))
}

#[tokio::test]
async fn frames_yield_their_script_in_order_one_per_poll() {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-t", "1".parse().unwrap());
    let mut body = Frames::new([
        Ok(Frame::data(Bytes::from_static(b"ab"))),
        Ok(Frame::trailers(trailers)),
        Err("boom"),
    ]);
    assert!(!body.is_end_stream());
    assert_eq!(body.size_hint().exact(), None, "length unknown");
    let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(data, "ab");
    let trailers = body
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_trailers()
        .unwrap();
    assert_eq!(trailers["x-t"], "1");
    assert_eq!(body.frame().await.unwrap().unwrap_err(), "boom");
    assert!(body.frame().await.is_none());

    let chunk = Bytes::from(vec![7; 64]);
    let body = Frames::data([chunk.clone(), chunk.slice(0..1)]);
    assert_eq!(body.collect().await.unwrap().to_bytes().len(), 65);
}

#[tokio::test]
async fn a_channel_body_yields_what_is_sent_and_ends_with_the_senders() {
    let (tx, mut body) = channel(0);
    assert!(poll_once(&mut body).is_pending(), "nothing sent yet");
    tx.send(Bytes::from_static(b"one")).await.unwrap();
    let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(data, "one");
    let more = tx.clone();
    drop(tx);
    more.send(Bytes::from_static(b"two")).await.unwrap();
    drop(more);
    assert_eq!(body.collect().await.unwrap().to_bytes(), "two");
}

#[test]
fn stalled_bodies_never_end() {
    let mut body = Stalled::new();
    for _ in 0..3 {
        assert!(poll_once(&mut body).is_pending());
    }
    let mut body = Stalled::after("x");
    match poll_once(&mut body) {
        Poll::Ready(Some(Ok(frame))) => assert_eq!(frame.into_data().unwrap(), "x"),
        other => panic!("the first chunk, not {other:?}"),
    }
    assert!(poll_once(&mut body).is_pending());
    assert!(!body.is_end_stream());
}

#[test]
fn endless_bodies_count_what_is_read() {
    let read = Arc::new(AtomicU64::new(0));
    let mut bodies = [
        Endless::counting(read.clone()),
        Endless::counting(read.clone()),
    ];
    for body in &mut bodies {
        for _ in 0..3 {
            match poll_once(body) {
                Poll::Ready(Some(Ok(frame))) => {
                    assert_eq!(frame.into_data().unwrap().len(), Endless::CHUNK);
                }
                other => panic!("a chunk, not {other:?}"),
            }
        }
    }
    assert_eq!(read.load(Ordering::SeqCst), 6 * Endless::CHUNK as u64);
    assert!(poll_once(&mut Endless::new()).is_ready());
}

#[test]
fn best_of_stops_at_the_expected_count_or_keeps_the_fewest() {
    let mut rounds = [3usize, 0, 5].into_iter();
    let mut ran = 0;
    let best = best_of(0, || {
        ran += 1;
        rounds.next().unwrap()
    });
    assert_eq!(
        (best, ran),
        (0, 2),
        "stops at the first round that meets it"
    );

    let mut ran = 0;
    let best = best_of(0, || {
        ran += 1;
        [4usize, 2, 9, 3, 7][ran - 1]
    });
    assert_eq!((best, ran), (2, ROUNDS), "the fewest of every round");

    // A non-zero expectation is met exactly, even after a round that counted fewer.
    let mut rounds = [9usize, 1, 4].into_iter();
    assert_eq!(best_of(4, || rounds.next().unwrap()), 4);
    assert_eq!(7usize.allocations(), 7);
}

#[test]
fn best_of_async_follows_the_same_rule() {
    let mut counts = vec![6usize, 1, 0, 8];
    let best = {
        let future = pin!(best_of_async(0, async || counts.remove(0)));
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(best) => best,
            Poll::Pending => panic!("nothing to wait for"),
        }
    };
    assert_eq!(best, 0);
    assert_eq!(
        counts,
        [8],
        "no round after the one that met the expectation"
    );
}

#[tokio::test]
async fn a_redis_server_starts_stops_and_restarts() {
    let Some(mut redis) = RedisServer::not_started() else {
        return;
    };
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/0", redis.port()));
    let addr = (std::net::Ipv4Addr::LOCALHOST, redis.port());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "not started"
    );
    redis.restart().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    redis.kill();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "killed"
    );

    let redis = RedisServer::start()
        .await
        .expect("installed: checked above");
    let addr = (std::net::Ipv4Addr::LOCALHOST, redis.port());
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    drop(redis);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "killed on drop"
    );
}
